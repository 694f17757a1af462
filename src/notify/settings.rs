//! Who hears about a job, as job files and `jobs/_defaults.toml` say it: the events, a Slack
//! channel and a webhook. Pure data; the job file parser builds it, the notifier reads it.

use serde::Serialize;

/// What can happen to a job that someone may want to hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The last attempt of a run failed or timed out (retries are one failure).
    Failure,
    /// The first success after a failure.
    Recovery,
    /// Every success.
    Success,
    /// Occurrences that came due while Backoffice was not running.
    Missed,
}

impl Event {
    /// Every event, as job files spell them.
    pub const ALL: [(&'static str, Event); 4] = [
        ("failure", Event::Failure),
        ("recovery", Event::Recovery),
        ("success", Event::Success),
        ("missed", Event::Missed),
    ];

    /// The name job files and webhook payloads use.
    pub fn name(self) -> &'static str {
        match self {
            Event::Failure => "failure",
            Event::Recovery => "recovery",
            Event::Success => "success",
            Event::Missed => "missed",
        }
    }
}

/// The events heard about when a `[notify]` table names a target but no `on`.
pub const DEFAULT_EVENTS: [Event; 2] = [Event::Failure, Event::Recovery];

/// A `[notify]` table as one file writes it. Keys left out are taken from the defaults file,
/// key by key, so a job can change only the channel and keep the team's events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NotifySettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on: Option<Vec<Event>>,
    /// A Slack channel: `#ops`, or an id such as `C0123456789`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack: Option<String>,
    /// The name of the environment variable that holds the webhook's URL: the URL itself is
    /// a secret (anyone holding it can post), so it never sits in git.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
}

impl NotifySettings {
    /// Whether the table sets nothing (then it is left out of the job's definition, so
    /// jobs without notifications keep the definition hashes they had before).
    pub fn is_empty(&self) -> bool {
        self.on.is_none() && self.slack.is_none() && self.webhook.is_none()
    }

    /// These settings with what they leave out taken from `defaults`.
    pub fn over(&self, defaults: &NotifySettings) -> Recipients {
        let on = self
            .on
            .clone()
            .or_else(|| defaults.on.clone())
            .unwrap_or_else(|| DEFAULT_EVENTS.to_vec());
        Recipients {
            on,
            slack: self.slack.clone().or_else(|| defaults.slack.clone()),
            webhook: self.webhook.clone().or_else(|| defaults.webhook.clone()),
        }
    }
}

/// Where one job's notifications go, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipients {
    pub on: Vec<Event>,
    pub slack: Option<String>,
    pub webhook: Option<String>,
}

impl Recipients {
    /// Whether `event` is wanted and there is somewhere to send it.
    pub fn wants(&self, event: Event) -> bool {
        self.on.contains(&event) && !self.targets().is_empty()
    }

    /// Every place a message goes.
    pub fn targets(&self) -> Vec<Target> {
        let slack = self.slack.iter().map(|c| Target::Slack(c.clone()));
        let webhook = self.webhook.iter().map(|v| Target::Webhook(v.clone()));
        slack.chain(webhook).collect()
    }
}

/// One place a message goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `chat.postMessage` to this channel with `SLACK_TOKEN`.
    Slack(String),
    /// A JSON POST to the URL held by this environment variable.
    Webhook(String),
}

impl Target {
    /// How the database keeps it: names only, never a URL.
    pub fn key(&self) -> String {
        match self {
            Target::Slack(channel) => format!("slack:{channel}"),
            Target::Webhook(variable) => format!("webhook:{variable}"),
        }
    }

    /// The inverse of [`Target::key`].
    pub fn from_key(key: &str) -> Option<Target> {
        match key.split_once(':')? {
            ("slack", channel) => Some(Target::Slack(channel.to_string())),
            ("webhook", variable) => Some(Target::Webhook(variable.to_string())),
            _ => None,
        }
    }

    /// For people: `Slack #ops`, `webhook BACKOFFICE_WEBHOOK_OPS`.
    pub fn shown(&self) -> String {
        match self {
            Target::Slack(channel) => format!("Slack {channel}"),
            Target::Webhook(variable) => format!("webhook {variable}"),
        }
    }
}

/// What every job shares, from `jobs/_defaults.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defaults {
    pub notify: NotifySettings,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_overrides_the_defaults_key_by_key() {
        let defaults = NotifySettings {
            on: Some(vec![Event::Failure]),
            slack: Some("#ops".into()),
            webhook: Some("HOOK".into()),
        };
        let job = NotifySettings {
            slack: Some("#team".into()),
            ..NotifySettings::default()
        };
        let resolved = job.over(&defaults);
        assert_eq!(resolved.on, [Event::Failure]);
        assert_eq!(resolved.slack.as_deref(), Some("#team"));
        assert_eq!(resolved.webhook.as_deref(), Some("HOOK"));
        let opted_out = NotifySettings {
            on: Some(Vec::new()),
            ..NotifySettings::default()
        }
        .over(&defaults);
        assert!(!opted_out.wants(Event::Failure));
    }

    #[test]
    fn nothing_is_wanted_without_a_target() {
        let resolved = NotifySettings::default().over(&NotifySettings::default());
        assert_eq!(resolved.on, DEFAULT_EVENTS);
        assert!(!resolved.wants(Event::Failure));
    }

    #[test]
    fn target_keys_round_trip_and_hold_no_url() {
        for target in [
            Target::Slack("#ops".into()),
            Target::Webhook("BACKOFFICE_WEBHOOK_OPS".into()),
        ] {
            assert_eq!(Target::from_key(&target.key()), Some(target.clone()));
        }
        assert_eq!(Target::from_key("mail:x"), None);
    }
}
