//! Stage two for `orchestrator = "langgraph"`: the assistant, the server, the thread policy,
//! and what goes in and comes out of the graph.

use serde_json::Value;

use super::{Checker, RawAgent};
use crate::executors::langgraph::path::parse_path;
use crate::job::{LangGraphTask, Task, ThreadMode};
use crate::template;

/// Validates the `[agent]` section of a LangGraph job.
pub(super) fn validate(checker: &mut Checker<'_>, agent: &RawAgent, at: usize) -> Option<Task> {
    let prompt = checker.required(&agent.prompt, "agent.prompt");
    if let Some(prompt) = prompt {
        checker.template(prompt, "agent.prompt");
    }
    let assistant_id = match &agent.assistant_id {
        None => {
            checker.error(
                at,
                Some("agent.assistant_id"),
                "missing required field `assistant_id`: the assistant or graph id to run (a graph id from langgraph.json, e.g. \"agent\", works)",
            );
            None
        }
        Some(id) => {
            let text = id.get_ref().trim();
            let valid = !text.is_empty()
                && text.len() <= 200
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
            if !valid {
                checker.error(
                    id.span().start,
                    Some("agent.assistant_id"),
                    format!(
                        "`{}` is not an assistant or graph id (letters, digits, '-', '_', '.' and ':')",
                        id.get_ref()
                    ),
                );
            }
            Some(text.to_string())
        }
    };
    let url = agent.url.as_ref().map(|url| {
        let text = url.get_ref().trim().trim_end_matches('/');
        let lower = text.to_ascii_lowercase();
        let host = lower
            .strip_prefix("http://")
            .or_else(|| lower.strip_prefix("https://"));
        if !host.is_some_and(|h| !h.is_empty() && !h.starts_with('/')) {
            checker.error(
                url.span().start,
                Some("agent.url"),
                format!(
                    "`{}` is not an http(s) URL; use e.g. \"http://127.0.0.1:2024\" (or leave it out for LANGGRAPH_URL)",
                    url.get_ref()
                ),
            );
        } else if text.contains('@') {
            checker.error(
                url.span().start,
                Some("agent.url"),
                "must not carry credentials: set LANGGRAPH_API_KEY instead",
            );
        }
        text.to_string()
    });
    let thread = checker.choice(
        &agent.thread,
        "agent.thread",
        ThreadMode::Job,
        &[
            ("job", ThreadMode::Job),
            ("run", ThreadMode::Run),
            ("none", ThreadMode::None),
        ],
    );
    let input = agent.input.as_ref().map(|table| {
        let value = json(table.get_ref());
        templates(checker, &value, "agent.input", table.span().start);
        value
    });
    let config = agent.config.as_ref().map(|t| json(t.get_ref()));
    let context = agent.context.as_ref().map(|t| json(t.get_ref()));
    if let (Some(config), Some(context)) = (&config, &agent.context)
        && config.get("configurable").is_some()
    {
        checker.error(
            context.span().start,
            Some("agent.context"),
            "LangGraph refuses `config.configurable` and `context` together (HTTP 400): keep one",
        );
    }
    let output = agent.output.as_ref().map(|output| {
        if let Err(problem) = parse_path(output.get_ref()) {
            checker.error(output.span().start, Some("agent.output"), problem);
        }
        output.get_ref().trim().to_string()
    });
    let mut links = Vec::new();
    for key in agent.links.iter().flat_map(|l| l.get_ref()) {
        match parse_path(key.get_ref()) {
            Ok(_) => links.push(key.get_ref().trim().to_string()),
            Err(problem) => checker.error(key.span().start, Some("agent.links"), problem),
        }
    }
    Some(Task::LangGraph(Box::new(LangGraphTask {
        assistant_id: assistant_id?,
        prompt: prompt?.get_ref().clone(),
        url,
        thread,
        input,
        config,
        context,
        output,
        links,
    })))
}

/// Checks every string in `value` as a template, naming its path.
fn templates(checker: &mut Checker<'_>, value: &Value, path: &str, offset: usize) {
    match value {
        Value::String(text) => {
            if let Err(error) = template::validate(text) {
                checker.error(offset, Some(path), error.to_string());
            }
        }
        Value::Array(items) => {
            for (n, item) in items.iter().enumerate() {
                templates(checker, item, &format!("{path}[{n}]"), offset);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                templates(checker, item, &format!("{path}.{key}"), offset);
            }
        }
        _ => {}
    }
}

/// A TOML table as JSON (dates become their TOML text).
fn json(table: &toml::Table) -> Value {
    fn convert(value: &toml::Value) -> Value {
        match value {
            toml::Value::String(s) => Value::String(s.clone()),
            toml::Value::Integer(i) => Value::from(*i),
            toml::Value::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
            }
            toml::Value::Boolean(b) => Value::Bool(*b),
            toml::Value::Datetime(d) => Value::String(d.to_string()),
            toml::Value::Array(items) => Value::Array(items.iter().map(convert).collect()),
            toml::Value::Table(t) => {
                Value::Object(t.iter().map(|(k, v)| (k.clone(), convert(v))).collect())
            }
        }
    }
    Value::Object(table.iter().map(|(k, v)| (k.clone(), convert(v))).collect())
}
