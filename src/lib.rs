//! Backoffice.
pub mod catalog;
pub mod duration;
pub mod job;
pub mod job_file;
pub mod location;
pub mod reconcile;
pub mod repo;
pub mod schedule;
pub mod store;
pub mod template;
