//! Reading a graph's final state: its failure, its interrupt, or its answer, tokens and links.

use serde_json::Value;

use super::path;
use crate::connectors::langgraph::{LangGraph, RemoteRun};
use crate::executors::Outcome;
use crate::job::LangGraphTask;
use crate::run_error::RunError;

/// Characters of a JSON answer kept as the run's result.
const RESULT_CHARS: usize = 20_000;

/// What the final state says: a failure of the graph, an interrupt, or the answer.
pub(super) async fn outcome(
    task: &LangGraphTask,
    client: &LangGraph,
    run: &RemoteRun,
    state: &Value,
    status: &str,
) -> Result<Outcome, RunError> {
    let place = format!("thread {}, run {}", run.thread_id, run.run_id);
    if let Some(error) = state.get("__error__") {
        return Err(RunError::permanent(format!(
            "the graph failed on {}: {}: {} ({place})",
            client.shown(),
            error["error"].as_str().unwrap_or("Error"),
            error["message"].as_str().unwrap_or("no message")
        )));
    }
    if status == "error" || status == "timeout" {
        return Err(RunError::permanent(format!(
            "the graph's run ended with status `{status}` on {} ({place})",
            client.shown()
        )));
    }
    if let Some(interrupts) = state.get("__interrupt__").filter(|i| !is_empty(i)) {
        let waits: Vec<String> = interrupts
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|i| compact(i.get("value").unwrap_or(i)))
                    .collect()
            })
            .unwrap_or_else(|| vec![compact(interrupts)]);
        return Err(RunError::permanent(format!(
            "the graph stopped at an interrupt and waits for a person: {} ({place}; resume it in LangGraph Studio)",
            waits.join("; ")
        )));
    }
    if status != "success" {
        // Cancelled (by us or on the server), or still going when the join came back: the
        // state is not this run's answer.
        return Err(RunError::retryable(format!(
            "the graph's run ended with status `{status}` on {}, not `success` ({place})",
            client.shown()
        )));
    }
    let answer = match &task.output {
        Some(output) => path::parse_path(output)
            .ok()
            .and_then(|steps| path::follow(state, &steps).cloned())
            .ok_or_else(|| {
                RunError::permanent(format!(
                    "the graph's final state has nothing at `agent.output = \"{output}\"`; its keys: {}",
                    keys(state)
                ))
            })?,
        None => last_ai_content(state).unwrap_or_else(|| state.clone()),
    };
    let result = text_of(&answer);
    let mut links: Vec<String> = Vec::new();
    for key in &task.links {
        if let Some(value) = path::parse_path(key)
            .ok()
            .and_then(|steps| path::follow(state, &steps).cloned())
        {
            collect_urls(&value, &mut links);
        }
    }
    for word in result.split_whitespace() {
        let word = word.trim_matches(|c: char| {
            matches!(
                c,
                '(' | ')' | '<' | '>' | '"' | '\'' | ',' | '.' | '[' | ']'
            )
        });
        if crate::site::views::is_web_link(word) && !links.iter().any(|l| l == word) {
            links.push(word.to_string());
        }
    }
    let (prompt_tokens, completion_tokens) = usage(state);
    Ok(Outcome {
        result,
        links,
        prompt_tokens,
        completion_tokens,
    })
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn compact(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => crate::connectors::excerpt(&other.to_string(), 500),
    }
}

fn keys(state: &Value) -> String {
    state
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| "none".into())
}

/// The content of the last AI message in `messages`, the usual answer of a chat graph.
fn last_ai_content(state: &Value) -> Option<Value> {
    state["messages"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["type"] == "ai" || m["role"] == "assistant")
        .map(|m| m["content"].clone())
}

/// Text as the run's result: a string as it is, text parts joined, anything else as JSON.
fn text_of(answer: &Value) -> String {
    match answer {
        Value::String(text) => text.clone(),
        Value::Array(parts) if parts.iter().all(|p| p["type"] == "text" || p.is_string()) => parts
            .iter()
            .filter_map(|p| p.as_str().or(p["text"].as_str()))
            .collect::<Vec<_>>()
            .join(""),
        other => {
            let pretty = serde_json::to_string_pretty(other).unwrap_or_default();
            crate::connectors::excerpt(&pretty, RESULT_CHARS)
        }
    }
}

fn collect_urls(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(url) if crate::site::views::is_web_link(url) && !out.contains(url) => {
            out.push(url.clone());
        }
        Value::Array(items) => items.iter().for_each(|v| collect_urls(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_urls(v, out)),
        _ => {}
    }
}

/// Tokens the graph's AI messages report (`usage_metadata`), summed; `None` when none do.
fn usage(state: &Value) -> (Option<u64>, Option<u64>) {
    let mut input = None;
    let mut output = None;
    for message in state["messages"].as_array().into_iter().flatten() {
        let usage = &message["usage_metadata"];
        if let Some(n) = usage["input_tokens"].as_u64() {
            *input.get_or_insert(0) += n;
        }
        if let Some(n) = usage["output_tokens"].as_u64() {
            *output.get_or_insert(0) += n;
        }
    }
    (input, output)
}
