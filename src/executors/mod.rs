//! Executors: what running a job means, per kind. The runner knows nothing of LLMs; it calls
//! [`execute`] and gets an [`Outcome`] or a [`RunError`]. New kinds (briefing, LangGraph,
//! knowledge cards) add a variant to `Task` and an arm here; the briefing lives in
//! [`crate::briefing`].

mod agent;
pub mod langgraph;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::briefing;
use crate::connectors::Connectors;
use crate::job::{Job, Task};
use crate::run_error::RunError;
use crate::store::Store;

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
#[derive(Clone)]
pub struct Context {
    pub job: Arc<Job>,
    pub scheduled_for: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub connectors: Arc<Connectors>,
    /// For executors that keep state of their own (the briefing's ledger and pages).
    pub store: Store,
    /// The run row of this attempt.
    pub run_id: i64,
    /// The commit the job's definition came from.
    pub commit: Arc<str>,
}

/// Runs one attempt of the job in `context`.
pub async fn execute(context: &Context) -> Result<Outcome, RunError> {
    match &context.job.task {
        Task::Llm(task) => agent::run_llm(task, context).await,
        Task::Briefing(task) => {
            let remaining = context.job.timeout.saturating_sub(
                (Utc::now() - context.started_at)
                    .to_std()
                    .unwrap_or_default(),
            );
            let occasion = briefing::Occasion {
                job: &context.job,
                task,
                scheduled_for: context.scheduled_for,
                started_at: context.started_at,
                deadline: tokio::time::Instant::now() + remaining,
            };
            briefing::run(
                &occasion,
                &context.connectors,
                &context.store,
                context.run_id,
            )
            .await
        }
        Task::LangGraph(task) => langgraph::run(task, context).await,
        Task::Cards(task) => crate::cards::run(task, context).await,
    }
}
