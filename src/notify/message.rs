//! What a notification says: one line naming the job and what happened, the error's first
//! line, and a link to the run. Pure: the notifier decides when, this decides what.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::settings::Event;
use crate::connectors::secret::scrub;

/// Longest error line a message carries; the run page has the rest.
const ERROR_CHARS: usize = 300;

/// What happened, as the notifier knows it.
#[derive(Debug, Clone)]
pub struct Happening {
    pub job_id: String,
    pub job_name: String,
    pub event: Event,
    /// The final attempt's run, or `None` for missed occurrences.
    pub run_id: Option<i64>,
    /// `failed`, `timed_out`, `succeeded` or `missed`.
    pub status: String,
    pub attempts: u32,
    pub error: Option<String>,
    /// For missed occurrences: how many, and the latest.
    pub missed: Option<(usize, DateTime<Utc>)>,
}

/// A message ready for every target: Slack-formatted text and the webhook's JSON.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Message {
    /// Slack mrkdwn: `&`, `<` and `>` escaped, so a job name or an error cannot mention
    /// `@channel` or forge a link.
    pub text: String,
    pub job: String,
    pub name: String,
    pub event: String,
    pub status: String,
    pub run_id: Option<i64>,
    pub attempts: u32,
    /// The error's first line, as plain text.
    pub error: Option<String>,
    /// The run's page (or the job's, for missed runs) when `--public-url` is set.
    pub url: Option<String>,
}

/// Composes the message for `happening`; `public_url` is the site's address as people reach
/// it, without a trailing slash.
pub fn compose(happening: &Happening, public_url: Option<&str>) -> Message {
    let error = happening.error.as_deref().map(first_line);
    // A failed run has a page of its own with the whole error; other news links the job.
    let url = public_url.map(|base| match (happening.event, happening.run_id) {
        (Event::Failure, Some(run)) => format!("{base}/runs/{run}.html"),
        _ => format!("{base}/jobs/{}.html", happening.job_id),
    });
    let who = format!("{} ({})", plain(&happening.job_name), happening.job_id);
    let what = match happening.event {
        Event::Failure => {
            let verb = if happening.status == "timed_out" {
                "timed out"
            } else {
                "failed"
            };
            let after = if happening.attempts > 1 {
                format!(" after {} attempts", happening.attempts)
            } else {
                String::new()
            };
            format!("❌ {who} {verb}{after}")
        }
        Event::Recovery => format!("✅ {who} recovered: this run succeeded after a failure"),
        Event::Success => format!("✅ {who} succeeded"),
        Event::Missed => match happening.missed {
            Some((count, latest)) => format!(
                "⚠️ {who} missed {count} run{} while Backoffice was not running (latest due {})",
                if count == 1 { "" } else { "s" },
                latest.format("%Y-%m-%d %H:%M UTC")
            ),
            None => format!("⚠️ {who} missed a run while Backoffice was not running"),
        },
    };
    let mut text = slack_escape(&what);
    if let Some(error) = error
        .as_deref()
        .filter(|_| happening.event == Event::Failure)
    {
        text.push_str(": ");
        text.push_str(&slack_escape(error));
    }
    if let Some(url) = &url {
        text.push('\n');
        text.push_str(&slack_escape(url));
    }
    Message {
        text,
        job: happening.job_id.clone(),
        name: plain(&happening.job_name),
        event: happening.event.name().to_string(),
        status: happening.status.clone(),
        run_id: happening.run_id,
        attempts: happening.attempts,
        error,
        url,
    }
}

/// The first non-empty line, scrubbed of secrets and control characters, cut to length.
fn first_line(error: &str) -> String {
    let line = error
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or_default();
    let cleaned = plain(&scrub(line));
    if cleaned.chars().count() > ERROR_CHARS {
        let cut: String = cleaned.chars().take(ERROR_CHARS).collect();
        format!("{cut}…")
    } else {
        cleaned
    }
}

/// Text without control characters (a terminal escape in a job name stays inert), and with
/// mentions that ping a whole channel (`@channel`, `@here`, `@all`, `@everyone`) broken by a
/// zero-width space: chat tools behind a webhook read them in plain text.
pub(super) fn plain(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out = String::with_capacity(cleaned.len());
    let mut rest = cleaned.as_str();
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let word: String = rest.chars().take_while(|c| c.is_alphanumeric()).collect();
        if ["channel", "here", "all", "everyone"].contains(&word.to_lowercase().as_str()) {
            out.push('\u{200b}');
        }
    }
    out.push_str(rest);
    out
}

/// Slack's three escapes for message text.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure() -> Happening {
        Happening {
            job_id: "daily-briefing".into(),
            job_name: "아침 <브리핑> & news".into(),
            event: Event::Failure,
            run_id: Some(42),
            status: "failed".into(),
            attempts: 3,
            error: Some("\nSLACK_TOKEN rejected: invalid_auth <!channel>\nsecond line".into()),
            missed: None,
        }
    }

    #[test]
    fn a_failure_names_the_job_the_error_and_the_run() {
        let message = compose(&failure(), Some("https://status.example"));
        assert_eq!(
            message.text,
            "❌ 아침 &lt;브리핑&gt; &amp; news (daily-briefing) failed after 3 attempts: SLACK_TOKEN rejected: invalid_auth &lt;!channel&gt;\nhttps://status.example/runs/42.html"
        );
        assert_eq!(
            message.error.as_deref(),
            Some("SLACK_TOKEN rejected: invalid_auth <!channel>")
        );
        assert_eq!(
            message.url.as_deref(),
            Some("https://status.example/runs/42.html")
        );
        assert_eq!(
            (message.event.as_str(), message.run_id),
            ("failure", Some(42))
        );
    }

    #[test]
    fn recovery_timeout_and_missed_say_what_happened() {
        let recovery = compose(
            &Happening {
                event: Event::Recovery,
                status: "succeeded".into(),
                error: None,
                attempts: 1,
                ..failure()
            },
            None,
        );
        assert!(recovery.text.contains("recovered"), "{}", recovery.text);
        assert_eq!(recovery.url, None);
        let linked = compose(
            &Happening {
                event: Event::Recovery,
                status: "succeeded".into(),
                ..failure()
            },
            Some("https://s.example"),
        );
        assert_eq!(
            linked.url.as_deref(),
            Some("https://s.example/jobs/daily-briefing.html"),
            "only a failed run has a page of its own"
        );
        let loud = compose(
            &Happening {
                error: Some("deploy failed @channel @here @Everyone me@example.com".into()),
                ..failure()
            },
            None,
        );
        assert!(!loud.text.contains("@channel") && !loud.text.contains("@here"));
        assert!(loud.text.contains("me@example.com"), "{}", loud.text);
        let timed_out = compose(
            &Happening {
                status: "timed_out".into(),
                attempts: 1,
                ..failure()
            },
            None,
        );
        assert!(
            timed_out.text.contains("(daily-briefing) timed out: SLACK"),
            "{}",
            timed_out.text
        );
        let at = "2026-12-01T22:00:00Z".parse().expect("time");
        let missed = compose(
            &Happening {
                event: Event::Missed,
                run_id: None,
                status: "missed".into(),
                missed: Some((2, at)),
                ..failure()
            },
            Some("https://s.example"),
        );
        assert!(
            missed.text.contains("missed 2 runs") && missed.text.contains("2026-12-01 22:00 UTC")
        );
        assert_eq!(
            missed.url.as_deref(),
            Some("https://s.example/jobs/daily-briefing.html")
        );
        assert!(
            !missed.text.contains("SLACK_TOKEN"),
            "only failures carry the error"
        );
    }

    #[test]
    fn a_long_error_is_cut_and_control_characters_dropped() {
        let long = compose(
            &Happening {
                error: Some(format!("\u{1b}[31m{}", "x".repeat(1000))),
                ..failure()
            },
            None,
        );
        let error = long.error.expect("error");
        assert!(!error.contains('\u{1b}'));
        assert_eq!(error.chars().count(), ERROR_CHARS + 1);
    }
}
