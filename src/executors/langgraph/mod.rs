//! `agent` jobs with `orchestrator = "langgraph"`: the prompt goes to a graph on a LangGraph
//! server as a background run on the job's thread, which we join within the attempt's
//! timeout. Backoffice keeps the schedule, retries and history; LangGraph runs the graph.
//!
//! A run we stop waiting for is cancelled on the server (a timeout, `overlap = "replace"`,
//! a shutdown: the attempt's future is dropped, and [`Remote`]'s `Drop` sends the cancel;
//! after a crash, [`cancel_orphans`] does on the next start). `langgraph dev` runs one
//! background run at a time, so an orphan would block every later run.

mod answer;
pub mod path;
mod remote;

use remote::Remote;
pub use remote::{cancel_orphans, settle};

use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Context, Outcome};
use crate::connectors::call::ApiError;
use crate::connectors::langgraph::LangGraph;
use crate::job::{LangGraphTask, ThreadMode};
use crate::run_error::RunError;
use crate::store::langgraph as records;
use crate::template::{self, TemplateContext};

/// Runs one attempt.
pub(crate) async fn run(task: &LangGraphTask, context: &Context) -> Result<Outcome, RunError> {
    let job = &context.job;
    let variables = job.template_context(context.scheduled_for, context.started_at);
    let prompt = template::render(&task.prompt, &variables)
        .map_err(|error| RunError::permanent(format!("{}: `agent.prompt`: {error}", job.file)))?;
    let input = match &task.input {
        Some(input) => render_strings(input, &variables).map_err(|error| {
            RunError::permanent(format!("{}: `agent.input`: {error}", job.file))
        })?,
        None => json!({"messages": [{"role": "user", "content": prompt}]}),
    };
    let server = task
        .url
        .clone()
        .unwrap_or_else(|| context.connectors.langgraph.default_url.clone());
    let remaining = job.timeout.saturating_sub(
        (chrono::Utc::now() - context.started_at)
            .to_std()
            .unwrap_or_default(),
    );
    let client = LangGraph::new(
        &context.connectors.http,
        &server,
        context.connectors.langgraph.api_key.as_ref(),
        Instant::now() + remaining,
    );
    // Stored and shown without credentials (LANGGRAPH_URL may carry a user:password).
    let stored = crate::connectors::redact_url(&server);
    let thread = thread_for(task, context, &client, &stored).await?;
    let mut body = json!({
        "assistant_id": task.assistant_id,
        "input": input,
        "metadata": {
            "backoffice_job": job.id.as_str(),
            "backoffice_run": context.run_id,
            "scheduled_for": context.scheduled_for.to_rfc3339(),
            "commit": context.commit.as_ref(),
        },
    });
    if let Some(config) = &task.config {
        body["config"] = config.clone();
    }
    if let Some(values) = &task.context {
        body["context"] = values.clone();
    }
    let started = match client.start_run(&thread, &body).await {
        Ok(run) => run,
        Err(error) if error.message.contains("HTTP 422") || error.message.contains("HTTP 404") => {
            return Err(unknown_assistant(&client, task, error).await);
        }
        Err(error) => return Err(error.into()),
    };
    let remote = Remote::new(
        client.clone(),
        started.clone(),
        context.store.clone(),
        context.run_id,
        &stored,
    );
    remote.record().await;
    let state = client.join(&started).await?;
    let status = client
        .status(&started)
        .await
        .unwrap_or_else(|_| "unknown".into());
    remote.finished().await;
    if task.thread == ThreadMode::None {
        let _ = client.delete_thread(&thread).await;
    }
    answer::outcome(task, &client, &started, &state, &status).await
}

/// The thread this run uses: the job's kept one (made again if the server lost it), or a new one.
async fn thread_for(
    task: &LangGraphTask,
    context: &Context,
    client: &LangGraph,
    server: &str,
) -> Result<String, RunError> {
    let job = context.job.id.to_string();
    let metadata = json!({"backoffice_job": job});
    if task.thread != ThreadMode::Job {
        return Ok(client.create_thread(&metadata).await?);
    }
    let (key_job, key_server) = (job.clone(), server.to_string());
    let kept = context
        .store
        .call(move |conn| records::thread(conn, &key_job, &key_server))
        .await
        .map_err(|e| {
            RunError::retryable(format!(
                "cannot read the job's LangGraph thread from runs.db: {e}"
            ))
        })?;
    if let Some(thread) = kept
        && client.thread_exists(&thread).await?
    {
        return Ok(thread);
    }
    let thread = client.create_thread(&metadata).await?;
    let (key_server, id) = (server.to_string(), thread.clone());
    context
        .store
        .call(move |conn| records::set_thread(conn, &job, &key_server, &id))
        .await
        .map_err(|e| {
            RunError::retryable(format!(
                "cannot record the job's LangGraph thread in runs.db: {e}"
            ))
        })?;
    Ok(thread)
}

async fn unknown_assistant(client: &LangGraph, task: &LangGraphTask, error: ApiError) -> RunError {
    let known = client.assistants().await.unwrap_or_default();
    let listed = if known.is_empty() {
        "it lists none".to_string()
    } else {
        format!("it has: {}", known.join(", "))
    };
    RunError::permanent(format!(
        "{}; is `agent.assistant_id = \"{}\"` right? {listed}",
        error.message, task.assistant_id
    ))
}

/// Strings in `value` rendered as templates.
fn render_strings(
    value: &Value,
    variables: &TemplateContext,
) -> Result<Value, template::TemplateError> {
    Ok(match value {
        Value::String(text) => Value::String(template::render(text, variables)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_strings(v, variables))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_strings(v, variables)?)))
                .collect::<Result<_, template::TemplateError>>()?,
        ),
        other => other.clone(),
    })
}
