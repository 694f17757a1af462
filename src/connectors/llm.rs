//! OpenAI-compatible chat completions: Ollama, llama.cpp's `llama-server`, vLLM, or a hosted
//! API. Non-streaming, with `temperature` always sent (Ollama's endpoint defaults to 1.0).

use crate::connectors::HttpClient;
use std::time::Duration;

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use super::{Secret, call, excerpt, read_body, redact_url};
use crate::run_error::RunError;

/// Ollama's OpenAI-compatible endpoint on its default port.
pub const DEFAULT_URL: &str = "http://127.0.0.1:11434/v1";
/// The model used when neither the job nor `BACKOFFICE_LLM_MODEL` names one.
pub const DEFAULT_MODEL: &str = "llama3.1:8b";

/// Where the model server is and how to authenticate.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// Base URL ending in `/v1`, from `BACKOFFICE_LLM_URL`.
    pub base_url: String,
    /// From `BACKOFFICE_LLM_API_KEY`; local servers need none.
    pub api_key: Option<Secret>,
    /// From `BACKOFFICE_LLM_MODEL`, else [`DEFAULT_MODEL`].
    pub default_model: String,
}

impl LlmConfig {
    pub fn from_env() -> LlmConfig {
        let url = std::env::var("BACKOFFICE_LLM_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_URL.to_string());
        LlmConfig {
            base_url: url.trim().trim_end_matches('/').to_string(),
            api_key: Secret::from_env("BACKOFFICE_LLM_API_KEY"),
            default_model: std::env::var("BACKOFFICE_LLM_MODEL")
                .ok()
                .filter(|m| !m.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_MODEL.to_string()),
        }
    }
}

/// One chat message.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub role: &'static str,
    pub content: String,
}

/// A chat-completions request.
#[derive(Debug, Clone, Serialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    pub temperature: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    pub stream: bool,
    /// `{"type": "json_schema", "json_schema": {...}}`: the nested OpenAI form, which both
    /// Ollama and llama.cpp's server apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<serde_json::Value>,
}

/// The answer and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub finish_reason: Option<String>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct WireResponse {
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: WireMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct WireErrorBody {
    error: WireError,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(default)]
    message: Option<String>,
}

/// Sends one chat-completions request and returns the first choice's text.
pub async fn complete(
    http: &HttpClient,
    config: &LlmConfig,
    request: &ChatRequest,
) -> Result<Completion, RunError> {
    let http = http.get()?;
    let url = format!("{}/chat/completions", config.base_url);
    let shown = redact_url(&config.base_url);
    // Ollama ignores the key but some proxies in front of it insist on the header.
    let key = config.api_key.as_ref().map_or("ollama", Secret::expose);
    let response = http
        .post(&url)
        .bearer_auth(key)
        .json(request)
        .send()
        .await
        .map_err(|error| unreachable(&shown, &error))?;
    let status = response.status();
    let retry_after = call::retry_after(response.headers());
    let body = read_body(response).await.map_err(|error| {
        RunError::retryable(format!(
            "the LLM server at {shown} dropped the connection while answering: {}",
            call::describe(&error)
        ))
    })?;
    if !status.is_success() {
        return Err(http_error(
            status,
            &body,
            &shown,
            &request.model,
            retry_after,
        ));
    }
    let parsed: WireResponse = serde_json::from_str(&body).map_err(|error| {
        RunError::permanent(format!(
            "the LLM server at {shown} answered HTTP {status} with something that is not a chat completion ({error}): {}",
            excerpt(&body, 200)
        ))
    })?;
    let usage = parsed.usage;
    let Some(choice) = parsed.choices.into_iter().next() else {
        return Err(RunError::permanent(format!(
            "the LLM server at {shown} answered with no choices"
        )));
    };
    let text = choice.message.content.unwrap_or_default();
    if text.trim().is_empty() {
        return Err(RunError::permanent(format!(
            "model `{}` returned an empty answer (finish_reason: {})",
            request.model,
            choice.finish_reason.as_deref().unwrap_or("none")
        )));
    }
    Ok(Completion {
        text,
        finish_reason: choice.finish_reason,
        prompt_tokens: usage.as_ref().and_then(|u| u.prompt_tokens),
        completion_tokens: usage.as_ref().and_then(|u| u.completion_tokens),
    })
}

fn unreachable(shown: &str, error: &reqwest::Error) -> RunError {
    let hint = if shown.contains(":11434") {
        " (is Ollama running? start it with `ollama serve`, or point BACKOFFICE_LLM_URL elsewhere)"
    } else {
        " (check BACKOFFICE_LLM_URL)"
    };
    RunError::retryable(format!(
        "cannot reach the LLM server at {shown}: {}{hint}",
        call::describe(error)
    ))
}

fn http_error(
    status: StatusCode,
    body: &str,
    shown: &str,
    model: &str,
    retry_after: Option<Duration>,
) -> RunError {
    let detail = serde_json::from_str::<WireErrorBody>(body)
        .ok()
        .and_then(|b| b.error.message)
        .unwrap_or_else(|| excerpt(body, 200));
    let code = status.as_u16();
    match code {
        429 => RunError::retryable(format!(
            "the LLM server at {shown} is rate limiting (HTTP 429){}: {detail}",
            retry_after.map_or(String::new(), |d| format!(", retry after {}s", d.as_secs()))
        ))
        .with_retry_after(retry_after),
        500..=599 => RunError::retryable(format!(
            "the LLM server at {shown} failed (HTTP {code}): {detail}"
        ))
        .with_retry_after(retry_after),
        401 | 403 => RunError::permanent(format!(
            "the LLM server at {shown} refused the request (HTTP {code}): {detail}; check BACKOFFICE_LLM_API_KEY"
        )),
        404 => RunError::permanent(format!(
            "the LLM server at {shown} does not know model `{model}` or the endpoint (HTTP 404): {detail}; \
             with Ollama run `ollama pull {model}`, or set `agent.model` / BACKOFFICE_LLM_MODEL"
        )),
        _ => RunError::permanent(format!(
            "the LLM server at {shown} rejected the request (HTTP {code}): {detail}"
        )),
    }
}

/// The model ids the server lists (`GET /models`), or why it could not be asked.
pub async fn models(http: &HttpClient, config: &LlmConfig) -> Result<Vec<String>, String> {
    let http = http.get().map_err(|error| error.message)?;
    let shown = redact_url(&config.base_url);
    let key = config.api_key.as_ref().map_or("ollama", Secret::expose);
    let response = http
        .get(format!("{}/models", config.base_url))
        .bearer_auth(key)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|error| unreachable(&shown, &error).message)?;
    let status = response.status();
    let body = read_body(response)
        .await
        .map_err(|e| format!("{shown} dropped the connection: {}", call::describe(&e)))?;
    if !status.is_success() {
        return Err(format!(
            "{shown} answered GET /models with HTTP {status}: {}",
            excerpt(&body, 160)
        ));
    }
    let list: serde_json::Value = serde_json::from_str(&body).map_err(|_| {
        format!(
            "{shown} answered GET /models with something that is not JSON: {}",
            excerpt(&body, 160)
        )
    })?;
    Ok(list["data"]
        .as_array()
        .map(|models| {
            models
                .iter()
                .filter_map(|m| m["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// Whether `wanted` is among `listed` (`llama3.1` is `llama3.1:latest`).
pub fn has_model(listed: &[String], wanted: &str) -> bool {
    let wanted = normalise_model(wanted);
    listed.iter().any(|m| normalise_model(m) == wanted)
}

/// Where a context size came from, for the run record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextSource {
    /// llama.cpp's `GET /props` (`default_generation_settings.n_ctx`).
    LlamaCpp,
    /// Ollama's `GET /api/ps` for the loaded model (`context_length`).
    Ollama,
}

/// How long asking for the context size may take: it is a hint, never worth a slow run.
const CONTEXT_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The context size the server actually allocated for `model`, when it says. The
/// OpenAI-compatible endpoint cannot set it and Ollama cuts longer prompts silently, so the
/// briefing budgets against this rather than the model's advertised size.
pub async fn context_size(
    http: &HttpClient,
    config: &LlmConfig,
    model: &str,
) -> Option<(u32, ContextSource)> {
    let http = http.get().ok()?;
    let root = config.base_url.trim_end_matches("/v1");
    let fetch = |path: &'static str| {
        let url = format!("{root}{path}");
        async move {
            let response = http
                .get(url)
                .timeout(CONTEXT_PROBE_TIMEOUT)
                .send()
                .await
                .ok()?;
            if !response.status().is_success() {
                return None;
            }
            let body = read_body(response).await.ok()?;
            serde_json::from_str::<serde_json::Value>(&body).ok()
        }
    };
    if let Some(props) = fetch("/props").await
        && let Some(n) = props["default_generation_settings"]["n_ctx"].as_u64()
    {
        return u32::try_from(n).ok().map(|n| (n, ContextSource::LlamaCpp));
    }
    let ps = fetch("/api/ps").await?;
    let wanted = normalise_model(model);
    ps["models"]
        .as_array()?
        .iter()
        .find(|m| {
            m["name"]
                .as_str()
                .or(m["model"].as_str())
                .map(normalise_model)
                == Some(wanted.clone())
        })
        .and_then(|m| m["context_length"].as_u64())
        .and_then(|n| u32::try_from(n).ok())
        .map(|n| (n, ContextSource::Ollama))
}

/// `llama3.1` and `llama3.1:latest` are one model to Ollama.
fn normalise_model(name: &str) -> String {
    if name.contains(':') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}
