//! `agent` jobs with `orchestrator = "llm"`: render the prompt, ask the model, keep the answer.

use super::{Context, Outcome};
use crate::connectors::llm::{self, ChatRequest, Message};
use crate::job::LlmTask;
use crate::run_error::RunError;
use crate::template;

pub(super) async fn run_llm(task: &LlmTask, context: &Context) -> Result<Outcome, RunError> {
    let job = &context.job;
    let variables = job.template_context(context.scheduled_for, context.started_at);
    let render = |text: &str, field: &str| {
        template::render(text, &variables)
            .map_err(|error| RunError::permanent(format!("{}: `{field}`: {error}", job.file)))
    };
    let mut messages = Vec::with_capacity(2);
    if let Some(system) = &task.system {
        messages.push(Message {
            role: "system",
            content: render(system, "agent.system")?,
        });
    }
    messages.push(Message {
        role: "user",
        content: render(&task.prompt, "agent.prompt")?,
    });
    let config = &context.connectors.llm;
    let request = ChatRequest {
        model: task
            .model
            .clone()
            .unwrap_or_else(|| config.default_model.clone()),
        messages,
        temperature: task.temperature,
        max_tokens: task.max_tokens,
        stream: false,
        response_format: None,
    };
    let completion = llm::complete(&context.connectors.http, config, &request).await?;
    let mut result = completion.text;
    if completion.finish_reason.as_deref() == Some("length") {
        result.push_str(&format!(
            "\n\n[cut off: the model stopped at its token limit{}]",
            task.max_tokens
                .map_or(String::new(), |n| format!(" (agent.max_tokens = {n})"))
        ));
    }
    Ok(Outcome {
        result,
        links: Vec::new(),
        prompt_tokens: completion.prompt_tokens,
        completion_tokens: completion.completion_tokens,
    })
}
