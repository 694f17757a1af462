//! Executors: what running a job means, per kind. The runner knows nothing of LLMs; it calls
//! [`execute`] and gets an [`Outcome`] or a [`RunError`]. New kinds (briefing, LangGraph,
//! knowledge cards) add a variant to `Task` and an arm here.

mod agent;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::connectors::Connectors;
use crate::job::{Job, Task};
use crate::run_error::RunError;

/// What a successful attempt produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// The text shown as the run's result.
    pub result: String,
    /// URLs the run produced (a Notion page, a thread).
    pub links: Vec<String>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

/// Everything one attempt needs.
#[derive(Debug, Clone)]
pub struct Context {
    pub job: Arc<Job>,
    pub scheduled_for: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub connectors: Arc<Connectors>,
}

/// Runs one attempt of the job in `context`.
pub async fn execute(context: &Context) -> Result<Outcome, RunError> {
    match &context.job.task {
        Task::Llm(task) => agent::run_llm(task, context).await,
    }
}
