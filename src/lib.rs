//! Backoffice.
pub mod catalog;
pub mod connectors;
pub mod duration;
pub mod executors;
pub mod job;
pub mod job_file;
pub mod location;
pub mod owner;
pub mod reconcile;
pub mod repo;
pub mod run_error;
pub mod runner;
pub mod schedule;
pub mod scheduler;
pub mod store;
pub mod template;
