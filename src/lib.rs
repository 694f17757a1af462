//! Backoffice: a GitOps scheduler for AI jobs.
//!
//! Jobs are TOML files under `jobs/` in a git repository. What is committed on the tracked
//! branch is deployed into an in-process cron scheduler; every run is recorded in SQLite.
//!
//! Modules, in the order data flows through them:
//!
//! * [`cli`], [`commands`]: the command line; [`app`] composes the daemon (`serve`).
//! * [`repo`] reads the committed tree with git2; [`watch`] notices ref moves with notify.
//! * [`job_file`] turns one TOML file into a validated [`job::Job`] (errors with
//!   file:line:column); [`catalog`] does it for every file; [`schedule`] is cron in a time
//!   zone with our DST rules; [`template`] checks limits and renders prompts; [`duration`],
//!   [`location`] help.
//! * [`reconcile`] plans a catalog against the deployed jobs; [`sync`] applies the plan and
//!   records the deployment.
//! * [`scheduler`] fires due occurrences; [`runner`] applies overlap, timeout and retries and
//!   records runs; [`executors`] do the work through [`connectors`] (HTTP APIs), whose
//!   [`connectors::secret`] scrubs every known secret from what comes back. [`briefing`] is
//!   the Daily Briefing executor's pipeline (sources → model → Notion page). [`notify`]
//!   tells Slack or a webhook when a job fails, recovers, succeeds or missed runs. [`cards`]
//!   is Knowledge Cards: the ambient job making spaced-repetition cards from the registry.
//! * [`store`] is `state/runs.db`; [`owner`] tells a crashed process's runs from live ones;
//!   [`control`] is the daemon's socket for `backoffice run`.
//! * [`site`] writes the read-only status site into `state/site/` and serves it.
//! * [`sqlite`], [`display`], [`logging`], [`memory`] (allocator tuning) and [`run_error`]
//!   are shared plumbing.
//! * [`registry`] is the Context Registry: conversations shared between AI clients over MCP
//!   (`backoffice mcp`, `serve --mcp-listen`), in `state/registry.db`.

pub mod cli;
pub mod commands;

pub mod app;
pub mod control;
pub mod display;
pub mod logging;
pub mod memory;

pub mod repo;
pub mod watch;

pub mod catalog;
pub mod duration;
pub mod job;
pub mod job_file;
pub mod location;
pub mod schedule;
pub mod template;

pub mod reconcile;
pub mod sync;

pub mod briefing;
pub mod cards;
pub mod connectors;
pub mod executors;
pub mod notify;
pub mod run_error;
pub mod runner;
pub mod scheduler;
pub mod site;
pub mod sqlite;

pub mod owner;
pub mod store;

pub mod registry;
