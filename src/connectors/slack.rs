//! The Slack Web API: `auth.test`, `conversations.list`, `conversations.history`,
//! `conversations.replies`, `users.info` to read, `chat.postMessage` to post. Every answer is
//! HTTP 200 with `ok`, so errors are read from the body, not the status.

use crate::connectors::HttpClient;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::call::{self, ApiError, Meter};
use super::{Secret, excerpt, redact_url};

/// The real API; `SLACK_BASE_URL` points tests at a fake.
pub const DEFAULT_URL: &str = "https://slack.com/api";
/// Messages per history page: Tier 3 allows up to 999, 200 keeps answers small.
const PAGE: u32 = 200;

#[derive(Debug, Clone)]
pub struct SlackConfig {
    pub base_url: String,
    /// `SLACK_TOKEN`: a bot (`xoxb-`) or user (`xoxp-`) token.
    pub token: Option<Secret>,
}

impl SlackConfig {
    pub fn from_env() -> SlackConfig {
        SlackConfig {
            base_url: super::base_url_from_env("SLACK_BASE_URL", DEFAULT_URL),
            token: Secret::from_env("SLACK_TOKEN"),
        }
    }
}

/// Who the token is, and the workspace URL permalinks are built on.
#[derive(Debug, Clone, Deserialize)]
pub struct Identity {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub team: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Channel {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub is_member: bool,
    #[serde(default)]
    pub is_private: bool,
}

/// One message as the API sends it; `ts` is its id within the channel.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub ts: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub bot_id: Option<String>,
    #[serde(default)]
    pub subtype: Option<String>,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub thread_ts: Option<String>,
    #[serde(default)]
    pub reply_count: Option<u32>,
    #[serde(default)]
    pub latest_reply: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub real_name: Option<String>,
    #[serde(default)]
    pub is_bot: bool,
    #[serde(default)]
    pub profile: Option<Profile>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Profile {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub real_name: Option<String>,
}

impl User {
    /// The name people see: display name, then real name, then the handle.
    pub fn shown_name(&self) -> String {
        let profile = self.profile.as_ref();
        [
            profile.and_then(|p| p.display_name.clone()),
            profile.and_then(|p| p.real_name.clone()),
            self.real_name.clone(),
        ]
        .into_iter()
        .flatten()
        .find(|n| !n.trim().is_empty())
        .unwrap_or_else(|| self.name.clone())
    }
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    needed: Option<String>,
    #[serde(default)]
    response_metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct ChannelsPage {
    #[serde(default)]
    channels: Vec<Channel>,
}

#[derive(Deserialize)]
struct MessagesPage {
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    has_more: bool,
}

#[derive(Deserialize)]
struct UserAnswer {
    user: User,
}

#[derive(Deserialize)]
struct Posted {
    #[serde(default)]
    ts: String,
}

/// A Slack client for one run: its deadline and its request count.
pub struct Slack<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    token: &'a Secret,
    shown: String,
    deadline: Instant,
    pub meter: Meter,
}

impl<'a> Slack<'a> {
    /// `Err` names the variable to set when there is no token.
    pub fn new(
        http: &'a HttpClient,
        config: &'a SlackConfig,
        deadline: Instant,
    ) -> Result<Slack<'a>, ApiError> {
        let token = config.token.as_ref().ok_or_else(|| {
            ApiError::permanent(
                "SLACK_TOKEN is not set: create a Slack app with channels:history, channels:read, \
                 groups:history, groups:read and users:read, install it, and export its bot token",
            )
        })?;
        Ok(Slack {
            http: http.get()?,
            base: &config.base_url,
            token,
            shown: format!("Slack at {}", redact_url(&config.base_url)),
            deadline,
            meter: Meter::default(),
        })
    }

    /// Calls `method` with `args` (query string) and returns the page and its next cursor.
    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        args: &[(&str, String)],
    ) -> Result<(T, Option<String>), ApiError> {
        let url = format!("{}/{method}", self.base);
        let answer = call::send(&self.shown, self.deadline, &self.meter, true, || {
            self.http
                .get(&url)
                .bearer_auth(self.token.expose())
                .query(args)
        })
        .await?;
        let envelope: Envelope = serde_json::from_str(&answer.body).map_err(|_| {
            let problem = format!(
                "{} answered {method} with HTTP {} and something that is not Slack's JSON: {}",
                self.shown,
                answer.status,
                excerpt(&answer.body, 160)
            );
            if answer.status == 429 || answer.status >= 500 {
                ApiError::retryable(problem)
            } else {
                ApiError::permanent(problem)
            }
        })?;
        if !envelope.ok {
            return Err(self.refusal(method, &envelope, answer.status));
        }
        let page: T = serde_json::from_str(&answer.body).map_err(|error| {
            ApiError::permanent(format!(
                "{} answered {method} in an unexpected shape ({error})",
                self.shown
            ))
        })?;
        let next = envelope
            .response_metadata
            .and_then(|m| m.next_cursor)
            .filter(|c| !c.is_empty());
        Ok((page, next))
    }

    fn refusal(&self, method: &str, envelope: &Envelope, status: u16) -> ApiError {
        let code = envelope.error.as_deref().unwrap_or("unknown_error");
        match code {
            "invalid_auth" | "not_authed" | "token_revoked" | "token_expired"
            | "account_inactive" => ApiError::permanent(format!(
                "SLACK_TOKEN rejected: {code} (check the token, or reinstall the Slack app)"
            )),
            "missing_scope" => ApiError::permanent(format!(
                "SLACK_TOKEN lacks a scope for {method}: add {} to the Slack app and reinstall it",
                envelope
                    .needed
                    .as_deref()
                    .unwrap_or("the scope Slack names")
            )),
            "ratelimited" => ApiError::retryable(format!(
                "{} kept rate limiting {method} (HTTP {status}); try again later",
                self.shown
            )),
            "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
                ApiError::retryable(format!("{} failed on {method}: {code}", self.shown))
            }
            other => ApiError::permanent(format!("{} refused {method}: {other}", self.shown)),
        }
    }

    pub async fn identity(&self) -> Result<Identity, ApiError> {
        Ok(self.call::<Identity>("auth.test", &[]).await?.0)
    }

    /// Every channel the token can see (public and private), paged.
    pub async fn channels(&self) -> Result<Vec<Channel>, ApiError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        let mut read = 0;
        loop {
            let mut args = vec![
                ("types", "public_channel,private_channel".to_string()),
                ("exclude_archived", "true".to_string()),
                ("limit", "1000".to_string()),
            ];
            if let Some(cursor) = &cursor {
                args.push(("cursor", cursor.clone()));
            }
            let (page, next) = self
                .call::<ChannelsPage>("conversations.list", &args)
                .await?;
            all.extend(page.channels);
            match call::next_page(next, cursor.as_ref(), &mut read) {
                Some(next) => cursor = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Top-level messages of `channel` in `(oldest, latest]`, newest first, at most `cap`;
    /// the flag says whether more were there.
    pub async fn history(
        &self,
        channel: &str,
        oldest: &str,
        latest: &str,
        cap: usize,
    ) -> Result<(Vec<Message>, bool), ApiError> {
        self.paged("conversations.history", channel, None, oldest, latest, cap)
            .await
    }

    /// A thread: its parent first, then the replies in `(oldest, latest]`.
    pub async fn replies(
        &self,
        channel: &str,
        thread: &str,
        oldest: &str,
        latest: &str,
        cap: usize,
    ) -> Result<(Vec<Message>, bool), ApiError> {
        self.paged(
            "conversations.replies",
            channel,
            Some(thread),
            oldest,
            latest,
            cap,
        )
        .await
    }

    async fn paged(
        &self,
        method: &str,
        channel: &str,
        thread: Option<&str>,
        oldest: &str,
        latest: &str,
        cap: usize,
    ) -> Result<(Vec<Message>, bool), ApiError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        let mut read = 0;
        loop {
            let mut args = vec![
                ("channel", channel.to_string()),
                ("oldest", oldest.to_string()),
                ("latest", latest.to_string()),
                ("limit", PAGE.to_string()),
            ];
            if let Some(thread) = thread {
                args.push(("ts", thread.to_string()));
            }
            if let Some(cursor) = &cursor {
                args.push(("cursor", cursor.clone()));
            }
            let (page, next) = self.call::<MessagesPage>(method, &args).await?;
            all.extend(page.messages);
            if all.len() >= cap {
                let more = all.len() > cap || next.is_some() || page.has_more;
                all.truncate(cap);
                return Ok((all, more));
            }
            match call::next_page(next, cursor.as_ref(), &mut read) {
                Some(next) => cursor = Some(next),
                None => return Ok((all, false)),
            }
        }
    }

    pub async fn user(&self, id: &str) -> Result<User, ApiError> {
        Ok(self
            .call::<UserAnswer>("users.info", &[("user", id.to_string())])
            .await?
            .0
            .user)
    }

    /// Posts `text` to `channel` (a name or an id); returns the message's `ts`.
    pub async fn post(&self, channel: &str, text: &str) -> Result<String, ApiError> {
        let url = format!("{}/chat.postMessage", self.base);
        let body = serde_json::json!({"channel": channel, "text": text, "unfurl_links": false});
        let answer = call::send(&self.shown, self.deadline, &self.meter, false, || {
            self.http
                .post(&url)
                .bearer_auth(self.token.expose())
                .json(&body)
        })
        .await?;
        let envelope: Envelope = serde_json::from_str(&answer.body).map_err(|_| {
            ApiError::retryable(format!(
                "{} answered chat.postMessage with HTTP {}: {}",
                self.shown,
                answer.status,
                excerpt(&answer.body, 160)
            ))
        })?;
        if !envelope.ok {
            return Err(self.refusal("chat.postMessage", &envelope, answer.status));
        }
        Ok(serde_json::from_str::<Posted>(&answer.body)
            .map(|p| p.ts)
            .unwrap_or_default())
    }
}
