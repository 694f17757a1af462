//! The `[notify]` table of a job file and of `jobs/_defaults.toml`: events, a Slack channel,
//! and the name of a variable holding a webhook URL (never the URL: it is a secret).

use serde::Deserialize;
use toml::Spanned;

use super::{Checker, FileError};
use crate::notify::settings::{Defaults, Event, NotifySettings};

/// The defaults file's path under `jobs/`, without `.toml`. It is never a job.
pub const DEFAULTS_ID: &str = "_defaults";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    on: Option<Spanned<Vec<Spanned<String>>>>,
    slack: Option<Spanned<String>>,
    webhook: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    notify: Option<Spanned<RawNotify>>,
}

/// Validates a `[notify]` table; every problem is reported under `notify.<key>`.
pub(super) fn validate(checker: &mut Checker<'_>, raw: &RawNotify) -> NotifySettings {
    let on = raw.on.as_ref().map(|events| {
        let mut chosen = Vec::new();
        for event in events.get_ref() {
            match Event::ALL.iter().find(|(name, _)| *name == event.get_ref()) {
                Some((_, event)) if chosen.contains(event) => {}
                Some((_, event)) => chosen.push(*event),
                None => checker.error(
                    event.span().start,
                    Some("notify.on"),
                    format!(
                        "`{}` is not an event; use \"failure\", \"recovery\", \"success\" or \"missed\"",
                        event.get_ref()
                    ),
                ),
            }
        }
        chosen
    });
    let slack = raw.slack.as_ref().map(|channel| {
        let text = channel.get_ref().trim();
        if text.contains("://") {
            // Never echoed: a Slack webhook URL pasted here is a secret.
            checker.error(
                channel.span().start,
                Some("notify.slack"),
                "is a URL: `slack` takes a channel (\"#ops\") and posts with SLACK_TOKEN; for a webhook URL use `webhook` with the name of an environment variable holding it",
            );
        } else if !is_slack_channel(text) {
            checker.error(
                channel.span().start,
                Some("notify.slack"),
                format!(
                    "`{}` is not a Slack channel: write its name with `#` (\"#ops\") or its id (\"C0123456789\")",
                    channel.get_ref()
                ),
            );
        }
        text.to_string()
    });
    let webhook = raw.webhook.as_ref().map(|variable| {
        let text = variable.get_ref().trim();
        if text.contains("://") {
            checker.error(
                variable.span().start,
                Some("notify.webhook"),
                "is a URL, and a webhook URL is a secret (anyone holding it can post): put it in an environment variable, e.g. BACKOFFICE_WEBHOOK_OPS=https://..., and write that variable's name here",
            );
        } else if !is_variable_name(text) {
            // Not echoed either: it may be a URL without its scheme.
            checker.error(
                variable.span().start,
                Some("notify.webhook"),
                "is not an environment variable name (letters, digits and `_`, not starting with a digit), e.g. \"BACKOFFICE_WEBHOOK_OPS\"",
            );
        }
        text.to_string()
    });
    NotifySettings { on, slack, webhook }
}

/// `#name` (Slack's rules: lowercase letters in any script, digits, `-`, `_`, `.`, at most
/// 80) or an id.
fn is_slack_channel(text: &str) -> bool {
    match text.strip_prefix('#') {
        Some(name) => {
            !name.is_empty()
                && name.chars().count() <= 80
                && name.chars().all(|c| {
                    (c.is_alphanumeric() && !c.is_uppercase()) || matches!(c, '-' | '_' | '.')
                })
        }
        None => {
            (9..=16).contains(&text.len())
                && text.starts_with(['C', 'G', 'D'])
                && text
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        }
    }
}

fn is_variable_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && text.len() <= 128
}

/// Parses and validates `jobs/_defaults.toml`: what every job takes unless it says otherwise.
pub fn parse_defaults(file: &str, text: &str) -> Result<Defaults, Vec<FileError>> {
    let mut checker = Checker {
        file,
        text,
        errors: Vec::new(),
    };
    let Some(raw) = checker.toml::<RawDefaults>() else {
        return Err(checker.errors);
    };
    let notify = raw
        .notify
        .as_ref()
        .map(|table| validate(&mut checker, table.get_ref()))
        .unwrap_or_default();
    if checker.errors.is_empty() {
        Ok(Defaults { notify })
    } else {
        Err(checker.errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        parse_defaults("jobs/_defaults.toml", text)
            .err()
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_good_defaults_file() {
        let defaults = parse_defaults(
            "jobs/_defaults.toml",
            "[notify]\non = [\"failure\", \"missed\", \"failure\"]\nslack = \"#ops\"\nwebhook = \"BACKOFFICE_WEBHOOK_OPS\"\n",
        )
        .expect("valid");
        assert_eq!(
            defaults.notify.on,
            Some(vec![Event::Failure, Event::Missed])
        );
        assert_eq!(defaults.notify.slack.as_deref(), Some("#ops"));
        assert_eq!(
            parse_defaults("jobs/_defaults.toml", "# nothing yet\n").expect("empty"),
            Defaults::default()
        );
    }

    #[test]
    fn each_bad_value_is_named_with_its_place() {
        let found = errors(
            "[notify]\non = [\"failure\", \"crash\"]\nslack = \"ops\"\nwebhook = \"https://hooks.example/T0/B0/xyz\"\n",
        );
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(found[0].starts_with("jobs/_defaults.toml:2:18: `notify.on`: `crash`"));
        assert!(found[1].contains("`notify.slack`: `ops` is not a Slack channel"));
        assert!(found[2].contains("`notify.webhook`: is a URL"));
        assert!(!found[2].contains("hooks.example"), "the URL is not echoed");
        let unknown = errors("[notify]\nemail = \"me@example.com\"\n");
        assert!(unknown[0].contains("email"), "{unknown:?}");
        let not_defaults = errors("name = \"x\"\n");
        assert!(not_defaults[0].contains("name"), "{not_defaults:?}");
    }

    #[test]
    fn channels_and_variables() {
        for good in ["#ops", "#팀-알림", "C0123456789", "G01ABCDEF2"] {
            assert!(is_slack_channel(good), "{good}");
        }
        for bad in ["ops", "#", "#Ops", "c0123", "#a b"] {
            assert!(!is_slack_channel(bad), "{bad}");
        }
        assert!(is_variable_name("BACKOFFICE_WEBHOOK_OPS"));
        assert!(!is_variable_name("1HOOK") && !is_variable_name("MY-HOOK"));
    }
}
