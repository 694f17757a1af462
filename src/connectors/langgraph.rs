//! A LangGraph server (`langgraph dev`, LangGraph Platform): threads, background runs that we
//! join and can cancel, run status, thread state (for interrupts) and the assistants it has.
//! Request errors are FastAPI's `{"detail": …}`; a graph's own failure is a 200 whose body
//! carries `__error__`, so callers read the run's status, not the HTTP code.

use crate::connectors::HttpClient;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::call::{self, ApiError, Meter};
use super::{Secret, excerpt, redact_url};

/// What `langgraph dev` binds by default.
pub const DEFAULT_URL: &str = "http://127.0.0.1:2024";

#[derive(Debug, Clone)]
pub struct LangGraphConfig {
    /// `LANGGRAPH_URL`, else [`DEFAULT_URL`]; a job's `url` wins over both.
    pub default_url: String,
    /// `LANGGRAPH_API_KEY`, sent as `X-Api-Key` (deployed servers need it, `langgraph dev` not).
    pub api_key: Option<Secret>,
}

impl LangGraphConfig {
    pub fn from_env() -> LangGraphConfig {
        LangGraphConfig {
            default_url: super::base_url_from_env("LANGGRAPH_URL", DEFAULT_URL),
            api_key: Secret::from_env("LANGGRAPH_API_KEY"),
        }
    }
}

/// A run as the server reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteRun {
    pub thread_id: String,
    pub run_id: String,
    /// `pending`, `running`, `success`, `error`, `timeout`, `interrupted`.
    pub status: String,
}

/// A client of one server for one run.
#[derive(Clone)]
pub struct LangGraph {
    http: HttpClient,
    base: String,
    key: Option<Secret>,
    shown: String,
    deadline: Instant,
}

impl LangGraph {
    pub fn new(
        http: &HttpClient,
        base: &str,
        key: Option<&Secret>,
        deadline: Instant,
    ) -> LangGraph {
        let base = base.trim_end_matches('/').to_string();
        LangGraph {
            http: http.clone(),
            shown: format!("the LangGraph server at {}", redact_url(&base)),
            base,
            key: key.cloned(),
            deadline,
        }
    }

    /// Where the server is, for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The same client with a new deadline (cancelling after the run's time is up).
    pub fn with_deadline(&self, deadline: Instant) -> LangGraph {
        LangGraph {
            deadline,
            ..self.clone()
        }
    }

    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        idempotent: bool,
        longest: Duration,
    ) -> Result<(u16, Value), ApiError> {
        let url = format!("{}{path}", self.base);
        let http = self.http.get()?;
        let meter = Meter::default();
        let answer = call::send_within(
            &self.shown,
            self.deadline,
            &meter,
            idempotent,
            longest,
            || {
                let mut request = http.request(method.clone(), &url);
                if let Some(key) = &self.key {
                    request = request.header("X-Api-Key", key.expose());
                }
                match body {
                    Some(body) => request.json(body),
                    None => request,
                }
            },
        )
        .await
        .map_err(|error| self.unreachable(error))?;
        if answer.body.trim().is_empty() {
            return Ok((answer.status, Value::Null));
        }
        let value: Value = serde_json::from_str(&answer.body).map_err(|_| {
            let problem = format!(
                "{} answered {path} with HTTP {} and a body that is not JSON: {}",
                self.shown,
                answer.status,
                excerpt(&answer.body, 200)
            );
            if answer.status >= 500 || answer.status == 429 {
                ApiError::retryable(problem)
            } else {
                ApiError::permanent(problem)
            }
        })?;
        if !(200..300).contains(&answer.status) {
            return Err(self.refusal(path, answer.status, &value, answer.retry_after));
        }
        Ok((answer.status, value))
    }

    fn unreachable(&self, error: ApiError) -> ApiError {
        if error.message.starts_with("cannot reach") {
            ApiError {
                message: format!(
                    "{} (is `langgraph dev` running there? start it in your graph's folder, or set LANGGRAPH_URL / agent.url)",
                    error.message
                ),
                ..error
            }
        } else {
            error
        }
    }

    fn refusal(
        &self,
        path: &str,
        status: u16,
        body: &Value,
        retry_after: Option<Duration>,
    ) -> ApiError {
        let detail = match &body["detail"] {
            Value::String(text) => text.clone(),
            Value::Null => excerpt(&body.to_string(), 300),
            other => excerpt(&other.to_string(), 300),
        };
        match status {
            429 => ApiError {
                retry_after,
                ..ApiError::retryable(format!(
                    "{} is rate limiting (HTTP 429): {detail}",
                    self.shown
                ))
            },
            500..=599 => ApiError {
                retry_after,
                ..ApiError::retryable(format!(
                    "{} failed on {path} (HTTP {status}): {detail}",
                    self.shown
                ))
            },
            401 | 403 => ApiError::permanent(format!(
                "{} refused {path} (HTTP {status}): {detail}; check LANGGRAPH_API_KEY",
                self.shown
            )),
            _ => ApiError::permanent(format!(
                "{} rejected {path} (HTTP {status}): {detail}",
                self.shown
            )),
        }
    }

    /// Creates a thread carrying `metadata`; returns its id.
    pub async fn create_thread(&self, metadata: &Value) -> Result<String, ApiError> {
        let (_, value) = self
            .request(
                reqwest::Method::POST,
                "/threads",
                Some(&json!({"metadata": metadata})),
                false,
                Duration::from_secs(30),
            )
            .await?;
        value["thread_id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::permanent(format!(
                    "{} created a thread without a thread_id",
                    self.shown
                ))
            })
    }

    /// Whether a thread still exists (a server restart, `langgraph dev` in memory, loses them).
    pub async fn thread_exists(&self, thread: &str) -> Result<bool, ApiError> {
        match self
            .request(
                reqwest::Method::GET,
                &format!("/threads/{thread}"),
                None,
                true,
                Duration::from_secs(30),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(error) if !error.retryable && error.message.contains("HTTP 404") => Ok(false),
            Err(error) => Err(error),
        }
    }

    pub async fn delete_thread(&self, thread: &str) -> Result<(), ApiError> {
        self.request(
            reqwest::Method::DELETE,
            &format!("/threads/{thread}"),
            None,
            true,
            Duration::from_secs(30),
        )
        .await
        .map(drop)
    }

    /// Starts a background run on `thread`.
    pub async fn start_run(&self, thread: &str, body: &Value) -> Result<RemoteRun, ApiError> {
        let (_, value) = self
            .request(
                reqwest::Method::POST,
                &format!("/threads/{thread}/runs"),
                Some(body),
                false,
                Duration::from_secs(30),
            )
            .await?;
        run_of(&value, thread).ok_or_else(|| {
            ApiError::permanent(format!(
                "{} started a run without a run_id: {}",
                self.shown,
                excerpt(&value.to_string(), 200)
            ))
        })
    }

    /// Waits for the run to end; the final state values (also for a failed or cancelled run).
    pub async fn join(&self, run: &RemoteRun) -> Result<Value, ApiError> {
        // A little past the run's deadline: the runner's timeout, which cancels the run and
        // records it as timed out, must come first.
        let late = self.with_deadline(self.deadline + Duration::from_secs(5));
        let longest = late.deadline.saturating_duration_since(Instant::now());
        // If we go away (a crash), the server cancels the run itself: no orphan keeps the
        // one worker of `langgraph dev` busy.
        let path = format!(
            "/threads/{}/runs/{}/join?cancel_on_disconnect=true",
            run.thread_id, run.run_id
        );
        // Not retried: with cancel_on_disconnect, a dropped join has cancelled the run, and a
        // second join would answer with the thread's state, not this run's.
        late.request(reqwest::Method::GET, &path, None, false, longest)
            .await
            .map(|(_, value)| value)
    }

    /// The run's status now.
    pub async fn status(&self, run: &RemoteRun) -> Result<String, ApiError> {
        let path = format!("/threads/{}/runs/{}", run.thread_id, run.run_id);
        let (_, value) = self
            .request(
                reqwest::Method::GET,
                &path,
                None,
                true,
                Duration::from_secs(30),
            )
            .await?;
        Ok(value["status"].as_str().unwrap_or("unknown").to_string())
    }

    /// Cancels the run (it stops at the next step boundary; its status becomes `interrupted`).
    pub async fn cancel(&self, thread: &str, run: &str) -> Result<(), ApiError> {
        let path = format!("/threads/{thread}/runs/{run}/cancel?action=interrupt");
        match self
            .request(
                reqwest::Method::POST,
                &path,
                None,
                true,
                Duration::from_secs(30),
            )
            .await
        {
            // Already over (it finished, or the server cancelled it when our join went away).
            Err(error) if error.message.contains("HTTP 404") => Ok(()),
            other => other.map(drop),
        }
    }

    /// The thread's state: what an interrupted graph waits for is in its tasks' `interrupts`.
    pub async fn thread_state(&self, thread: &str) -> Result<Value, ApiError> {
        self.request(
            reqwest::Method::GET,
            &format!("/threads/{thread}/state"),
            None,
            true,
            Duration::from_secs(30),
        )
        .await
        .map(|(_, value)| value)
    }

    /// Whether the server answers `GET /ok`.
    pub async fn ok(&self) -> Result<(), ApiError> {
        self.request(
            reqwest::Method::GET,
            "/ok",
            None,
            true,
            Duration::from_secs(10),
        )
        .await
        .map(drop)
    }

    /// Whether `id` is an assistant id or a graph id the server has.
    pub async fn has_assistant(&self, id: &str) -> Result<bool, ApiError> {
        let (_, value) = self
            .request(
                reqwest::Method::POST,
                "/assistants/search",
                Some(&json!({"limit": 1000, "offset": 0})),
                true,
                Duration::from_secs(30),
            )
            .await?;
        Ok(value.as_array().is_some_and(|list| {
            list.iter()
                .any(|a| a["assistant_id"] == id || a["graph_id"] == id)
        }))
    }

    /// `graph_id (assistant_id)` of every assistant the server has, for an error message.
    pub async fn assistants(&self) -> Result<Vec<String>, ApiError> {
        let (_, value) = self
            .request(
                reqwest::Method::POST,
                "/assistants/search",
                Some(&json!({"limit": 100, "offset": 0})),
                true,
                Duration::from_secs(30),
            )
            .await?;
        Ok(value
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|a| {
                        format!(
                            "{} ({})",
                            a["graph_id"].as_str().unwrap_or("?"),
                            a["assistant_id"].as_str().unwrap_or("?")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}

fn run_of(value: &Value, thread: &str) -> Option<RemoteRun> {
    Some(RemoteRun {
        run_id: value["run_id"].as_str()?.to_string(),
        thread_id: value["thread_id"].as_str().unwrap_or(thread).to_string(),
        status: value["status"].as_str().unwrap_or("pending").to_string(),
    })
}
