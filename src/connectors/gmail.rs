//! Gmail (read-only) and Google's OAuth token endpoint: an access token from the refresh
//! token, cached until shortly before it expires; message ids for a query; each message's
//! headers and snippet, or its plain-text body.

use crate::connectors::HttpClient;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use super::call::{self, ApiError, Meter};
use super::{Secret, excerpt, redact_url};

pub const DEFAULT_URL: &str = "https://gmail.googleapis.com/gmail/v1";
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// A cached access token is refreshed this long before Google says it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// Ids per list page (the API allows 500).
const PAGE: usize = 500;

#[derive(Debug, Clone)]
pub struct GmailConfig {
    pub base_url: String,
    pub token_url: String,
    /// `GMAIL_CLIENT_ID`: not a secret, but needed with the two that are.
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub refresh_token: Option<Secret>,
    /// The access token and when to stop using it, shared by every run of the process. An
    /// async lock, held across a refresh, so that concurrent requests that all met a 401
    /// make one refresh, not one each.
    pub cache: Arc<tokio::sync::Mutex<Option<(Secret, Instant)>>>,
}

impl GmailConfig {
    pub fn from_env() -> GmailConfig {
        GmailConfig {
            base_url: super::base_url_from_env("GMAIL_BASE_URL", DEFAULT_URL),
            token_url: super::base_url_from_env("GOOGLE_TOKEN_URL", DEFAULT_TOKEN_URL),
            client_id: std::env::var("GMAIL_CLIENT_ID")
                .ok()
                .map(|id| id.trim().to_string())
                .filter(|id| !id.is_empty()),
            client_secret: Secret::from_env("GMAIL_CLIENT_SECRET"),
            refresh_token: Secret::from_env("GMAIL_REFRESH_TOKEN"),
            cache: Arc::default(),
        }
    }
}

/// One message's facts.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub id: String,
    pub thread_id: String,
    pub subject: String,
    pub from: String,
    /// Epoch milliseconds.
    pub internal_date: i64,
    /// HTML entities decoded.
    pub snippet: String,
    pub labels: Vec<String>,
    /// The text/plain part, when asked for.
    pub body: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct TokenError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct ListPage {
    #[serde(default)]
    messages: Vec<IdPair>,
    #[serde(rename = "nextPageToken", default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct IdPair {
    id: String,
}

#[derive(Deserialize)]
struct WireMessage {
    id: String,
    #[serde(rename = "threadId", default)]
    thread_id: String,
    #[serde(rename = "labelIds", default)]
    label_ids: Vec<String>,
    #[serde(default)]
    snippet: String,
    /// Epoch ms as a JSON string.
    #[serde(rename = "internalDate", default)]
    internal_date: Option<String>,
    #[serde(default)]
    payload: Value,
}

/// A Gmail client for one run.
pub struct Gmail<'a> {
    http: &'a reqwest::Client,
    config: &'a GmailConfig,
    client_id: &'a str,
    client_secret: &'a Secret,
    refresh_token: &'a Secret,
    shown: String,
    deadline: Instant,
    pub meter: Meter,
}

impl<'a> Gmail<'a> {
    pub fn new(
        http: &'a HttpClient,
        config: &'a GmailConfig,
        deadline: Instant,
    ) -> Result<Gmail<'a>, ApiError> {
        let missing: Vec<&str> = [
            ("GMAIL_CLIENT_ID", config.client_id.is_none()),
            ("GMAIL_CLIENT_SECRET", config.client_secret.is_none()),
            ("GMAIL_REFRESH_TOKEN", config.refresh_token.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, absent)| absent.then_some(name))
        .collect();
        let (Some(client_id), Some(client_secret), Some(refresh_token)) = (
            config.client_id.as_deref(),
            config.client_secret.as_ref(),
            config.refresh_token.as_ref(),
        ) else {
            return Err(ApiError::permanent(format!(
                "{} not set: create an OAuth client (Desktop app) with the gmail.readonly scope and \
                 export its id, secret and a refresh token",
                if missing.len() == 1 {
                    format!("{} is", missing[0])
                } else {
                    format!("{} are", missing.join(", "))
                }
            )));
        };
        Ok(Gmail {
            http: http.get()?,
            config,
            client_id,
            client_secret,
            refresh_token,
            shown: format!("Gmail at {}", redact_url(&config.base_url)),
            deadline,
            meter: Meter::default(),
        })
    }

    /// The cached access token, or a new one when it is missing, expiring, or the one that
    /// was just refused (`stale`). A token other than `stale` in the cache is another
    /// request's fresh refresh, and is used.
    async fn token(&self, stale: Option<&str>) -> Result<Secret, ApiError> {
        let mut cache = self.config.cache.lock().await;
        if let Some((token, until)) = cache.as_ref()
            && Instant::now() < *until
            && stale != Some(token.expose())
        {
            return Ok(token.clone());
        }
        let shown = format!(
            "Google's token endpoint at {}",
            redact_url(&self.config.token_url)
        );
        let form = [
            ("client_id", self.client_id),
            ("client_secret", self.client_secret.expose()),
            ("refresh_token", self.refresh_token.expose()),
            ("grant_type", "refresh_token"),
        ];
        let answer = call::send(&shown, self.deadline, &self.meter, true, || {
            self.http.post(&self.config.token_url).form(&form)
        })
        .await?;
        if answer.status != 200 {
            let refusal = serde_json::from_str::<TokenError>(&answer.body).ok();
            let code = refusal.as_ref().map_or("", |r| r.error.as_str());
            let detail = refusal
                .as_ref()
                .and_then(|r| r.error_description.clone())
                .unwrap_or_else(|| excerpt(&answer.body, 160));
            return Err(match code {
                "invalid_grant" => ApiError::permanent(format!(
                    "GMAIL_REFRESH_TOKEN rejected: invalid_grant ({detail}); make a new refresh token \
                     (tokens of OAuth apps in Testing expire after 7 days)"
                )),
                "invalid_client" | "unauthorized_client" => ApiError::permanent(format!(
                    "GMAIL_CLIENT_ID or GMAIL_CLIENT_SECRET rejected: {code} ({detail})"
                )),
                _ if answer.status == 429 || answer.status >= 500 => ApiError::retryable(format!(
                    "{shown} failed (HTTP {}): {detail}",
                    answer.status
                )),
                _ => ApiError::permanent(format!(
                    "{shown} refused the refresh token (HTTP {} {code}): {detail}",
                    answer.status
                )),
            });
        }
        let parsed: TokenAnswer = serde_json::from_str(&answer.body).map_err(|_| {
            ApiError::permanent(format!(
                "{shown} answered without an access token: {}",
                excerpt(&answer.body, 160)
            ))
        })?;
        // Registered before anything else sees it, so it is scrubbed from every text.
        let token = Secret::new("GMAIL_ACCESS_TOKEN", parsed.access_token);
        // Google says about an hour; a larger figure (a hostile or broken endpoint) is capped.
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(3600).min(24 * 3600));
        let until = Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN);
        *cache = Some((token.clone(), until));
        Ok(token)
    }

    /// Refreshes the access token now, whatever the cache holds: what `doctor` checks.
    pub async fn refresh(&self) -> Result<(), ApiError> {
        let stale = self
            .config
            .cache
            .lock()
            .await
            .as_ref()
            .map(|(t, _)| t.clone());
        self.token(Some(stale.as_ref().map_or("", Secret::expose)))
            .await
            .map(drop)
    }

    /// GETs `path` with `query`; a 401 refreshes the token once and tries again.
    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<String, ApiError> {
        let url = format!("{}{path}", self.config.base_url);
        let mut refused: Option<Secret> = None;
        loop {
            let token = self.token(refused.as_ref().map(Secret::expose)).await?;
            let answer = call::send(&self.shown, self.deadline, &self.meter, true, || {
                self.http.get(&url).bearer_auth(token.expose()).query(query)
            })
            .await?;
            match answer.status {
                200..=299 => return Ok(answer.body),
                401 if refused.is_none() => refused = Some(token),
                status => return Err(self.refusal(status, &answer)),
            }
        }
    }

    fn refusal(&self, status: u16, answer: &call::Answer) -> ApiError {
        let error = serde_json::from_str::<Value>(&answer.body).unwrap_or_default();
        let message = error["error"]["message"]
            .as_str()
            .map_or_else(|| excerpt(&answer.body, 160), str::to_string);
        let reason = error["error"]["errors"][0]["reason"].as_str().unwrap_or("");
        let mut refusal = match (status, reason) {
            (401, _) => ApiError::permanent(format!(
                "Gmail rejected a fresh access token: {message}; check that the refresh token was made with the gmail.readonly scope"
            )),
            (403, "dailyLimitExceeded" | "userRateLimitExceeded" | "rateLimitExceeded")
            | (429, _) => {
                ApiError::retryable(format!("{} kept rate limiting: {message}", self.shown))
            }
            (403, _) => ApiError::permanent(format!(
                "Gmail refused: {message} (is the Gmail API enabled for the OAuth client's project, with the gmail.readonly scope?)"
            )),
            (500..=599, _) => {
                ApiError::retryable(format!("{} failed (HTTP {status}): {message}", self.shown))
            }
            _ => ApiError::permanent(format!(
                "{} rejected the request (HTTP {status}): {message}",
                self.shown
            )),
        };
        if refusal.retryable {
            refusal.retry_after = answer.retry_after;
        }
        refusal
    }

    /// Ids of the messages matching `query`, newest first, at most `cap`; the flag says
    /// whether more matched.
    pub async fn list(&self, query: &str, cap: usize) -> Result<(Vec<String>, bool), ApiError> {
        let mut ids = Vec::new();
        let mut page_token: Option<String> = None;
        let mut read = 0;
        loop {
            let mut args = vec![
                ("q", query.to_string()),
                ("maxResults", PAGE.min(cap + 1).to_string()),
            ];
            if let Some(token) = &page_token {
                args.push(("pageToken", token.clone()));
            }
            let body = self.get("/users/me/messages", &args).await?;
            let page: ListPage = serde_json::from_str(&body).map_err(|error| {
                ApiError::permanent(format!(
                    "{} answered the message list in an unexpected shape ({error}): {}",
                    self.shown,
                    excerpt(&body, 160)
                ))
            })?;
            ids.extend(page.messages.into_iter().map(|m| m.id));
            if ids.len() > cap {
                ids.truncate(cap);
                return Ok((ids, true));
            }
            let next = page.next_page_token.filter(|t| !t.is_empty());
            match call::next_page(next, page_token.as_ref(), &mut read) {
                Some(token) if ids.len() < cap => page_token = Some(token),
                Some(_) => return Ok((ids, true)),
                None => return Ok((ids, false)),
            }
        }
    }

    /// One message: headers and snippet, plus the plain-text body when `full`.
    pub async fn message(&self, id: &str, full: bool) -> Result<Mail, ApiError> {
        let mut args = vec![("format", if full { "full" } else { "metadata" }.to_string())];
        if !full {
            for header in ["Subject", "From", "Date"] {
                args.push(("metadataHeaders", header.to_string()));
            }
        }
        let body = self.get(&format!("/users/me/messages/{id}"), &args).await?;
        let wire: WireMessage = serde_json::from_str(&body).map_err(|error| {
            ApiError::permanent(format!(
                "{} answered message {id} in an unexpected shape ({error})",
                self.shown
            ))
        })?;
        let header = |name: &str| {
            wire.payload["headers"]
                .as_array()
                .and_then(|headers| {
                    headers.iter().find(|h| {
                        h["name"]
                            .as_str()
                            .is_some_and(|n| n.eq_ignore_ascii_case(name))
                    })
                })
                .and_then(|h| h["value"].as_str())
                .unwrap_or("")
                .to_string()
        };
        Ok(Mail {
            subject: header("Subject"),
            from: header("From"),
            internal_date: wire
                .internal_date
                .as_deref()
                .and_then(|d| d.trim().parse().ok())
                .unwrap_or(0),
            snippet: decode_entities(&wire.snippet),
            labels: wire.label_ids,
            body: full.then(|| plain_body(&wire.payload)).flatten(),
            id: wire.id,
            thread_id: wire.thread_id,
        })
    }
}

/// The first `text/plain` part of a payload, decoded (base64url, with or without padding).
fn plain_body(payload: &Value) -> Option<String> {
    if payload["mimeType"].as_str() == Some("text/plain")
        && let Some(data) = payload["body"]["data"].as_str()
    {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(data.trim_end_matches('='))
            .ok()?;
        return Some(String::from_utf8_lossy(&bytes).into_owned());
    }
    payload["parts"]
        .as_array()?
        .iter()
        .take(50)
        .find_map(plain_body)
}

/// Gmail snippets carry HTML entities (`&#39;`, `&amp;`); the model and the page want text.
pub fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let decoded = tail.find(';').filter(|end| *end <= 10).and_then(|end| {
            let entity = &tail[1..end];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            }?;
            Some((c, end + 1))
        });
        match decoded {
            Some((c, used)) => {
                out.push(c);
                rest = &tail[used..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_lose_their_entities() {
        assert_eq!(
            decode_entities("Tom&#39;s &amp; Jerry&#x27;s &lt;b&gt; &bogus; & 회의"),
            "Tom's & Jerry's <b> &bogus; & 회의"
        );
    }

    #[test]
    fn the_plain_part_is_found_and_decoded() {
        let data = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("안녕하세요, team");
        let payload = serde_json::json!({
            "mimeType": "multipart/alternative",
            "parts": [
                {"mimeType": "text/html", "body": {"data": "PGI-"}},
                {"mimeType": "text/plain", "body": {"data": data}}
            ]
        });
        assert_eq!(plain_body(&payload).as_deref(), Some("안녕하세요, team"));
    }
}
