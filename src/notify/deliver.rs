//! Sends one message to one target: Slack's `chat.postMessage`, or a JSON POST to a webhook
//! whose URL is read from the environment at the moment of sending (and scrubbed from
//! everything after, as every secret is).

use crate::connectors::HttpClient;
use std::time::Duration;

use tokio::time::Instant;

use super::message::Message;
use super::settings::Target;
use crate::connectors::call::{ApiError, describe};
use crate::connectors::slack::Slack;
use crate::connectors::{Connectors, Secret, excerpt, read_body};

/// How long one attempt may take.
const ATTEMPT: Duration = Duration::from_secs(20);

/// Why an attempt failed, and whether another could succeed.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryError {
    pub message: String,
    pub retryable: bool,
    /// What the server asked to wait (`Retry-After` on a 429).
    pub retry_after: Option<Duration>,
}

impl From<ApiError> for DeliveryError {
    fn from(error: ApiError) -> DeliveryError {
        DeliveryError {
            message: error.message,
            retryable: error.retryable,
            retry_after: error.retry_after,
        }
    }
}

/// One attempt to deliver `message` to `target`.
pub async fn send(
    connectors: &Connectors,
    target: &Target,
    message: &Message,
) -> Result<(), DeliveryError> {
    match target {
        Target::Slack(channel) => {
            if connectors.slack.token.is_none() {
                return Err(DeliveryError {
                    message: "SLACK_TOKEN is not set: export a Slack bot token with the chat:write scope (and invite the bot to the channel)".into(),
                    retryable: false,
                    retry_after: None,
                });
            }
            let slack = Slack::new(
                &connectors.http,
                &connectors.slack,
                Instant::now() + ATTEMPT,
            )?;
            slack.post(channel, &message.text).await?;
            Ok(())
        }
        Target::Webhook(variable) => webhook(&connectors.http, variable, message).await,
    }
}

async fn webhook(
    http: &HttpClient,
    variable: &str,
    message: &Message,
) -> Result<(), DeliveryError> {
    let Some(url) = Secret::from_env(variable) else {
        return Err(DeliveryError {
            message: format!("{variable} is not set: export the webhook's URL in it"),
            retryable: false,
            retry_after: None,
        });
    };
    let shown = format!("webhook {variable}");
    let response = http
        .get()?
        .post(url.expose())
        .timeout(ATTEMPT)
        .json(message)
        .send()
        .await
        .map_err(|error| DeliveryError {
            // Never the URL: reqwest's message would name it.
            message: crate::connectors::secret::scrub_owned(format!(
                "{shown}: {}",
                describe(&error.without_url())
            )),
            retryable: true,
            retry_after: None,
        })?;
    let status = response.status();
    let retry_after = crate::connectors::call::retry_after(response.headers());
    if status.is_success() {
        return Ok(());
    }
    let body = read_body(response).await.unwrap_or_default();
    Err(DeliveryError {
        message: crate::connectors::secret::scrub_owned(format!(
            "{shown} answered HTTP {}: {}",
            status.as_u16(),
            excerpt(&body, 160)
        )),
        retryable: status.as_u16() == 429 || status.is_server_error(),
        retry_after,
    })
}
