//! Prompt and title templates: handlebars in strict mode, so `{{dat}}` is an error at `check`
//! time instead of an empty string in a prompt at 07:00.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use handlebars::Handlebars;
use serde::Serialize;

mod limits;

pub use limits::{MAX_DEPTH, MAX_LEN, MAX_TAGS};

/// The variables a template may use, all in the job's time zone.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateContext {
    /// `2026-11-26`
    pub date: String,
    /// `Thursday`
    pub weekday: String,
    /// When the run started, RFC 3339 with the zone's offset.
    pub now: String,
    /// The occurrence this run is for, RFC 3339 with the zone's offset.
    pub scheduled_for: String,
    pub job: JobFacts,
}

/// What a template may know about its job.
#[derive(Debug, Clone, Serialize)]
pub struct JobFacts {
    pub id: String,
    pub name: String,
    pub description: String,
}

impl TemplateContext {
    pub fn new(
        job: JobFacts,
        timezone: Tz,
        scheduled_for: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Self {
        let local = scheduled_for.with_timezone(&timezone);
        TemplateContext {
            date: local.format("%Y-%m-%d").to_string(),
            weekday: local.format("%A").to_string(),
            now: now.with_timezone(&timezone).to_rfc3339(),
            scheduled_for: local.to_rfc3339(),
            job,
        }
    }
}

/// A template that did not compile or used a variable that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

/// Renders `template` with `context`; unknown variables are errors, nothing is HTML-escaped.
/// The limits are checked here too: a run must not trust that its job went through `check`.
pub fn render(template: &str, context: &TemplateContext) -> Result<String, TemplateError> {
    limits::check(template)?;
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(handlebars::no_escape);
    registry
        .render_template(template, context)
        .map_err(|error| TemplateError(describe(&error)))
}

/// Checks a template against sample values, as `check` and deploys do. The limits are
/// checked first, so no template can reach the (recursive) parser deep enough to overflow
/// a stack or big enough to take seconds.
pub fn validate(template: &str) -> Result<(), TemplateError> {
    limits::check(template)?;
    let sample = TemplateContext::new(
        JobFacts {
            id: "sample".into(),
            name: "Sample".into(),
            description: String::new(),
        },
        Tz::UTC,
        DateTime::UNIX_EPOCH,
        DateTime::UNIX_EPOCH,
    );
    render(template, &sample).map(|_| ())
}

fn describe(error: &handlebars::RenderError) -> String {
    let reason = match error.reason() {
        handlebars::RenderErrorReason::MissingVariable(Some(name)) => format!(
            "unknown variable `{name}`; available: date, weekday, now, scheduled_for, job.id, job.name, job.description"
        ),
        handlebars::RenderErrorReason::TemplateError(inner) => {
            format!("template syntax error: {}", inner.reason())
        }
        other => other.to_string(),
    };
    match (error.line_no, error.column_no) {
        (Some(line), Some(column)) => format!("{reason} (template line {line}, column {column})"),
        _ => reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> TemplateContext {
        let at = DateTime::parse_from_rfc3339("2026-11-25T22:00:00Z")
            .expect("instant")
            .to_utc();
        TemplateContext::new(
            JobFacts {
                id: "standup".into(),
                name: "Stand-up <daily>".into(),
                description: String::new(),
            },
            "Asia/Seoul".parse().expect("zone"),
            at,
            at,
        )
    }

    #[test]
    fn renders_in_the_jobs_zone_without_escaping() {
        let text = render(
            "{{date}} {{weekday}} {{job.name}} {{scheduled_for}}",
            &context(),
        )
        .expect("renders");
        assert_eq!(
            text,
            "2026-11-26 Thursday Stand-up <daily> 2026-11-26T07:00:00+09:00"
        );
    }

    #[test]
    fn unknown_variables_and_bad_syntax_are_errors() {
        let missing = render("Hello {{dat}}", &context()).expect_err("strict");
        assert!(
            missing.to_string().contains("unknown variable `dat`"),
            "{missing}"
        );
        let syntax = validate("{{#if date}}open").expect_err("unclosed");
        assert!(syntax.to_string().contains("syntax"), "{syntax}");
        assert!(validate("{{date}} ({{weekday}})").is_ok());
    }
}
