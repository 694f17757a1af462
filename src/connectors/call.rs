//! One request to an outside API under the rules every one of them shares: a deadline no
//! retry may pass, `Retry-After` honoured on 429, backoff on 5xx and dropped connections,
//! bodies scrubbed of secrets, and a count of what was sent (the briefing reports it).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::read_body;
use crate::run_error::RunError;

/// Longest one request may take, deadline permitting: a stalled server costs this, not the run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts per request for network errors and 5xx.
const SERVER_ATTEMPTS: u32 = 3;
/// Attempts per request while the server answers 429.
const RATE_LIMIT_ATTEMPTS: u32 = 5;
/// First backoff; doubles per attempt.
const BACKOFF: Duration = Duration::from_millis(500);
/// A `Retry-After` longer than this is not waited for within one request.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// A failed call, in words for the person reading the briefing or the run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub message: String,
    /// Another attempt of the run could succeed (network, 429, 5xx).
    pub retryable: bool,
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn permanent(message: impl Into<String>) -> ApiError {
        ApiError {
            message: super::secret::scrub_owned(message.into()),
            retryable: false,
            retry_after: None,
        }
    }

    pub fn retryable(message: impl Into<String>) -> ApiError {
        ApiError {
            message: super::secret::scrub_owned(message.into()),
            retryable: true,
            retry_after: None,
        }
    }
}

impl From<ApiError> for RunError {
    fn from(error: ApiError) -> RunError {
        if error.retryable {
            RunError::retryable(error.message).with_retry_after(error.retry_after)
        } else {
            RunError::permanent(error.message)
        }
    }
}

/// What a server answered, once the retries are spent.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// Scrubbed of every known secret.
    pub body: String,
    pub retry_after: Option<Duration>,
}

/// Requests sent and how many were answered 429, shared by a source's concurrent calls.
#[derive(Debug, Default)]
pub struct Meter {
    requests: AtomicU32,
    rate_limited: AtomicU32,
}

impl Meter {
    pub fn requests(&self) -> u32 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn rate_limited(&self) -> u32 {
        self.rate_limited.load(Ordering::Relaxed)
    }
}

/// Sends the request `build` makes (called again for each retry) until it is answered with
/// something other than 429 or 5xx, the attempts are spent, or the next wait would pass
/// `deadline`. `api` names the server in messages ("Slack at https://slack.com/api").
///
/// A request that is not `idempotent` (creating a page, appending blocks, posting a message)
/// is retried only after a 429, which says it was not processed: after a dropped connection
/// or a 5xx it may have taken effect, and the caller must look before sending it again.
pub async fn send(
    api: &str,
    deadline: Instant,
    meter: &Meter,
    idempotent: bool,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<Answer, ApiError> {
    send_within(api, deadline, meter, idempotent, REQUEST_TIMEOUT, build).await
}

/// [`send`] for a request that may rightly take up to `longest` (joining a graph's run).
pub async fn send_within(
    api: &str,
    deadline: Instant,
    meter: &Meter,
    idempotent: bool,
    longest: Duration,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<Answer, ApiError> {
    let mut server_failures = 0;
    let mut rate_limits = 0;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(ApiError::retryable(format!(
                "{api} did not answer before the run's time for it ran out"
            )));
        }
        meter.requests.fetch_add(1, Ordering::Relaxed);
        let sent = build().timeout(remaining.min(longest)).send().await;
        let wait = match sent {
            Err(error) => {
                server_failures += 1;
                let detail = describe(&error);
                if server_failures >= SERVER_ATTEMPTS || !idempotent {
                    return Err(ApiError::retryable(format!("cannot reach {api}: {detail}")));
                }
                backoff(server_failures)
            }
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = retry_after(response.headers());
                let body = match read_body(response).await {
                    Ok(body) => body,
                    Err(error) => {
                        server_failures += 1;
                        if server_failures >= SERVER_ATTEMPTS || !idempotent {
                            return Err(ApiError::retryable(format!(
                                "{api} dropped the connection while answering: {}",
                                describe(&error)
                            )));
                        }
                        tokio::time::sleep(backoff(server_failures)).await;
                        continue;
                    }
                };
                let answer = Answer {
                    status,
                    body,
                    retry_after,
                };
                match status {
                    429 => {
                        meter.rate_limited.fetch_add(1, Ordering::Relaxed);
                        rate_limits += 1;
                        let wait = retry_after.unwrap_or_else(|| backoff(rate_limits));
                        if rate_limits >= RATE_LIMIT_ATTEMPTS || wait > MAX_RETRY_AFTER {
                            return Ok(answer);
                        }
                        wait
                    }
                    500..=599 => {
                        server_failures += 1;
                        if server_failures >= SERVER_ATTEMPTS || !idempotent {
                            return Ok(answer);
                        }
                        let wait = retry_after.unwrap_or_else(|| backoff(server_failures));
                        if wait > MAX_RETRY_AFTER {
                            return Ok(answer);
                        }
                        wait
                    }
                    _ => return Ok(answer),
                }
            }
        };
        if Instant::now()
            .checked_add(wait)
            .is_none_or(|then| then >= deadline)
        {
            return Err(ApiError::retryable(format!(
                "{api} asked to wait {} s, longer than the run has left",
                wait.as_secs().max(1)
            ))
            .with_retry_after(Some(wait)));
        }
        tokio::time::sleep(wait).await;
    }
}

impl ApiError {
    fn with_retry_after(self, retry_after: Option<Duration>) -> ApiError {
        ApiError {
            retry_after,
            ..self
        }
    }
}

/// Pages one listing may take: a server that repeats its cursor, or sends empty pages with a
/// new cursor for ever, cannot hold a run until its deadline.
pub const MAX_PAGES: usize = 200;

/// The cursor to page on to: `next`, unless it is the one just used or the listing already
/// took [`MAX_PAGES`]. `pages` counts the pages read.
pub fn next_page(
    next: Option<String>,
    current: Option<&String>,
    pages: &mut usize,
) -> Option<String> {
    *pages += 1;
    next.filter(|n| Some(n) != current && *pages < MAX_PAGES)
}

/// `BACKOFF · 2^(n-1)` with up to a quarter of jitter, so concurrent calls spread out.
fn backoff(failures: u32) -> Duration {
    let base = BACKOFF.saturating_mul(2u32.saturating_pow(failures.saturating_sub(1)));
    base + base.mul_f64(fastrand::f64() / 4.0)
}

/// `Retry-After` in whole seconds (the form every API here sends).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// reqwest's message reduced to its root cause ("connection refused"), without the URL,
/// which callers print themselves, redacted.
pub fn describe(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let root = cause.to_string();
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        format!("connection failed: {root}")
    } else {
        root
    }
}
