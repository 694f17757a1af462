//! Reading one job file: raw TOML (unknown keys rejected) → validated [`Job`], two stages.
//!
//! Stage one is serde with `deny_unknown_fields`, every value wrapped in `Spanned` so stage two
//! can point at it. Stage two checks every field and collects *all* problems of the file, so a
//! pull request sees them at once. Every error names file, line, column and field.

use std::time::Duration;

use chrono_tz::Tz;
use serde::Deserialize;
use serde::Serialize;
use toml::Spanned;

use crate::duration;
use crate::job::{Catchup, Job, JobId, LlmTask, Overlap, Task};
use crate::location::line_column;
use crate::schedule::Schedule;
use crate::template;

mod ambient;
mod briefing;
mod hints;
mod langgraph;
pub mod notify;

use hints::{TOO_DEEP, closest_zone, field_at, humanize, too_deep_at};

/// Sampling temperature sent when a job sets none: Ollama would otherwise use 1.0.
pub const DEFAULT_TEMPERATURE: f64 = 0.2;

/// One problem in one job file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The TOML key the problem is about (`agent.prompt`), when there is one.
    pub field: Option<String>,
    pub message: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if let Some(field) = &self.field {
            write!(f, "`{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: Option<Spanned<String>>,
    description: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    schedule: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    enabled: Option<Spanned<bool>>,
    timeout: Option<Spanned<String>>,
    overlap: Option<Spanned<String>>,
    catchup: Option<Spanned<String>>,
    catchup_window: Option<Spanned<String>>,
    retries: Option<Spanned<i64>>,
    retry_delay: Option<Spanned<String>>,
    agent: Option<Spanned<RawAgent>>,
    ambient: Option<Spanned<ambient::RawAmbient>>,
    notify: Option<Spanned<notify::RawNotify>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    orchestrator: Option<Spanned<String>>,
    model: Option<Spanned<String>>,
    system: Option<Spanned<String>>,
    prompt: Option<Spanned<String>>,
    temperature: Option<Spanned<f64>>,
    max_tokens: Option<Spanned<i64>>,
    lookback: Option<Spanned<String>>,
    assistant_id: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    thread: Option<Spanned<String>>,
    input: Option<Spanned<toml::Table>>,
    config: Option<Spanned<toml::Table>>,
    context: Option<Spanned<toml::Table>>,
    output: Option<Spanned<String>>,
    links: Option<Spanned<Vec<Spanned<String>>>>,
    context_tokens: Option<Spanned<i64>>,
    sources: Option<Spanned<briefing::RawSources>>,
    publish: Option<Spanned<briefing::RawPublish>>,
}

/// Collects the errors of one file while validating it.
struct Checker<'a> {
    file: &'a str,
    text: &'a str,
    errors: Vec<FileError>,
}

impl Checker<'_> {
    fn error(&mut self, offset: usize, field: Option<&str>, message: impl Into<String>) {
        let (line, column) = line_column(self.text, offset);
        self.errors.push(FileError {
            file: self.file.to_string(),
            line,
            column,
            field: field.map(str::to_string),
            message: message.into(),
        });
    }

    fn required<'v, T>(
        &mut self,
        value: &'v Option<Spanned<T>>,
        field: &str,
    ) -> Option<&'v Spanned<T>> {
        if value.is_none() {
            self.error(0, Some(field), format!("missing required field `{field}`"));
        }
        value.as_ref()
    }

    fn duration(
        &mut self,
        value: &Option<Spanned<String>>,
        field: &str,
        default: Duration,
        range: (Duration, Duration),
    ) -> Duration {
        let Some(value) = value else { return default };
        match duration::parse(value.get_ref()) {
            Ok(parsed) if parsed >= range.0 && parsed <= range.1 => parsed,
            Ok(_) => {
                self.error(
                    value.span().start,
                    Some(field),
                    format!(
                        "`{}` is out of range: use between {} and {}",
                        value.get_ref(),
                        duration::format(range.0),
                        duration::format(range.1)
                    ),
                );
                default
            }
            Err(error) => {
                self.error(value.span().start, Some(field), error.to_string());
                default
            }
        }
    }

    fn choice<T: Copy>(
        &mut self,
        value: &Option<Spanned<String>>,
        field: &str,
        default: T,
        options: &[(&str, T)],
    ) -> T {
        let Some(value) = value else { return default };
        if let Some((_, choice)) = options.iter().find(|(name, _)| *name == value.get_ref()) {
            return *choice;
        }
        let allowed: Vec<String> = options
            .iter()
            .map(|(name, _)| format!("\"{name}\""))
            .collect();
        self.error(
            value.span().start,
            Some(field),
            format!(
                "`{}` is not allowed; use one of {}",
                value.get_ref(),
                allowed.join(", ")
            ),
        );
        default
    }

    /// Stage one: the file's TOML into `T`, or the error where it happened.
    fn toml<T: serde::de::DeserializeOwned>(&mut self) -> Option<T> {
        match toml::from_str(self.text) {
            Ok(raw) => Some(raw),
            Err(error) => {
                let message = humanize(error.message());
                match error.span() {
                    Some(span) => {
                        let field = field_at(self.text, span.start);
                        self.error(span.start, field.as_deref(), message);
                    }
                    None if message == TOO_DEEP => {
                        let at = too_deep_at(self.text);
                        self.error(at, None, TOO_DEEP);
                    }
                    None => self.error(0, None, message),
                }
                None
            }
        }
    }

    fn template(&mut self, value: &Spanned<String>, field: &str) {
        if let Err(error) = template::validate(value.get_ref()) {
            self.error(value.span().start, Some(field), error.to_string());
        }
    }
}

/// Parses and validates one job file. `file` is its path as shown to people (`jobs/x.toml`).
pub fn parse(file: &str, id: JobId, text: &str) -> Result<Job, Vec<FileError>> {
    let mut checker = Checker {
        file,
        text,
        errors: Vec::new(),
    };
    let Some(raw) = checker.toml::<RawJob>() else {
        return Err(checker.errors);
    };
    let job = validate(&mut checker, id, raw);
    match job {
        Some(job) if checker.errors.is_empty() => Ok(job),
        _ => Err(checker.errors),
    }
}

fn validate(checker: &mut Checker<'_>, id: JobId, raw: RawJob) -> Option<Job> {
    let name = checker.required(&raw.name, "name").map(|n| {
        let trimmed = n.get_ref().trim().to_string();
        (trimmed, n.span().start)
    });
    if let Some((name, offset)) = &name
        && (name.is_empty() || name.chars().count() > 200)
    {
        checker.error(
            *offset,
            Some("name"),
            "must be between 1 and 200 characters",
        );
    }
    let timezone = match &raw.timezone {
        None => Some(Tz::UTC),
        Some(zone) => match zone.get_ref().parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                let hint = closest_zone(zone.get_ref())
                    .map(|z| format!(" (did you mean \"{z}\"?)"))
                    .unwrap_or_default();
                checker.error(
                    zone.span().start,
                    Some("timezone"),
                    format!(
                        "unknown time zone `{}`{hint}; use an IANA name such as \"Asia/Seoul\", \"America/New_York\" or \"UTC\"",
                        zone.get_ref()
                    ),
                );
                None
            }
        },
    };
    let schedule = checker
        .required(&raw.schedule, "schedule")
        .and_then(|expr| {
            let zone = timezone?;
            match Schedule::parse(expr.get_ref(), zone) {
                Ok(schedule) => Some(schedule),
                Err(error) => {
                    checker.error(expr.span().start, Some("schedule"), error.to_string());
                    None
                }
            }
        });
    let timeout = checker.duration(
        &raw.timeout,
        "timeout",
        Duration::from_secs(30 * 60),
        (Duration::from_secs(1), Duration::from_secs(24 * 3600)),
    );
    let catchup_window = checker.duration(
        &raw.catchup_window,
        "catchup_window",
        Duration::from_secs(6 * 3600),
        (Duration::ZERO, Duration::from_secs(7 * 24 * 3600)),
    );
    let retry_delay = checker.duration(
        &raw.retry_delay,
        "retry_delay",
        Duration::from_secs(60),
        (Duration::from_secs(1), Duration::from_secs(3600)),
    );
    let overlap = checker.choice(
        &raw.overlap,
        "overlap",
        Overlap::Skip,
        &[
            ("skip", Overlap::Skip),
            ("allow", Overlap::Allow),
            ("replace", Overlap::Replace),
            ("queue_one", Overlap::QueueOne),
        ],
    );
    let catchup = checker.choice(
        &raw.catchup,
        "catchup",
        Catchup::Latest,
        &[
            ("latest", Catchup::Latest),
            ("skip", Catchup::Skip),
            ("all", Catchup::All),
        ],
    );
    let retries = match &raw.retries {
        None => 0,
        Some(value) => match u32::try_from(*value.get_ref()) {
            Ok(n) if n <= 10 => n,
            _ => {
                checker.error(
                    value.span().start,
                    Some("retries"),
                    format!("`{}` is out of range: use 0 to 10", value.get_ref()),
                );
                0
            }
        },
    };
    let task = validate_task(checker, &raw);
    let notify = raw
        .notify
        .as_ref()
        .map(|table| notify::validate(checker, table.get_ref()))
        .unwrap_or_default();
    Some(Job {
        id,
        file: checker.file.to_string(),
        name: name?.0,
        description: raw
            .description
            .map(|d| d.into_inner().trim().to_string())
            .unwrap_or_default(),
        schedule: schedule?,
        enabled: raw.enabled.is_none_or(|e| *e.get_ref()),
        timeout,
        overlap,
        catchup,
        catchup_window,
        retries,
        retry_delay,
        task: task?,
        notify,
        hash: std::sync::OnceLock::new(),
    })
}

fn validate_task(checker: &mut Checker<'_>, raw: &RawJob) -> Option<Task> {
    let kind = checker.required(&raw.kind, "kind")?;
    match kind.get_ref().as_str() {
        "agent" => {
            if let Some(ambient) = &raw.ambient {
                checker.error(
                    ambient.span().start,
                    Some("ambient"),
                    "section [ambient] does not match kind = \"agent\"; use [agent]",
                );
            }
            let Some(agent) = &raw.agent else {
                checker.error(
                    kind.span().start,
                    Some("agent"),
                    "kind = \"agent\" needs an [agent] section with at least `prompt`",
                );
                return None;
            };
            validate_agent(checker, agent.get_ref())
        }
        "ambient" => {
            if let Some(agent) = &raw.agent {
                checker.error(
                    agent.span().start,
                    Some("agent"),
                    "section [agent] does not match kind = \"ambient\"; use [ambient]",
                );
            }
            let Some(ambient) = &raw.ambient else {
                checker.error(
                    kind.span().start,
                    Some("ambient"),
                    "kind = \"ambient\" needs an [ambient] section with task = \"knowledge-cards\"",
                );
                return None;
            };
            ambient::validate(checker, ambient.get_ref(), kind.span().start)
        }
        other => {
            checker.error(
                kind.span().start,
                Some("kind"),
                format!("`{other}` is not a job kind; use \"agent\" or \"ambient\""),
            );
            None
        }
    }
}

fn validate_agent(checker: &mut Checker<'_>, agent: &RawAgent) -> Option<Task> {
    let orchestrator = agent
        .orchestrator
        .as_ref()
        .map_or("llm", |o| o.get_ref().as_str());
    let offset = agent.orchestrator.as_ref().map_or(0, |o| o.span().start);
    match orchestrator {
        "llm" => {}
        "briefing" | "langgraph" => {}
        other => {
            checker.error(
                offset,
                Some("agent.orchestrator"),
                format!(
                    "`{other}` is not an orchestrator; use \"llm\", \"briefing\" or \"langgraph\""
                ),
            );
            return None;
        }
    }
    foreign_fields(checker, agent, orchestrator);
    match orchestrator {
        "briefing" => return briefing::validate(checker, agent, offset),
        "langgraph" => return langgraph::validate(checker, agent, offset),
        _ => {}
    }
    let prompt = checker.required(&agent.prompt, "agent.prompt");
    if let Some(prompt) = prompt {
        if prompt.get_ref().trim().is_empty() {
            checker.error(
                prompt.span().start,
                Some("agent.prompt"),
                "must not be empty",
            );
        }
        checker.template(prompt, "agent.prompt");
    }
    if let Some(system) = &agent.system {
        checker.template(system, "agent.system");
    }
    let temperature = temperature(checker, &agent.temperature).unwrap_or(DEFAULT_TEMPERATURE);
    let max_tokens = max_tokens(checker, &agent.max_tokens);
    let model = model(checker, &agent.model);
    Some(Task::Llm(LlmTask {
        model,
        system: agent.system.as_ref().map(|s| s.get_ref().clone()),
        prompt: prompt?.get_ref().clone(),
        temperature,
        max_tokens,
    }))
}

/// Errors for the `[agent]` fields another orchestrator uses, naming it: a field that does
/// nothing must not pass review looking like it does something.
fn foreign_fields(checker: &mut Checker<'_>, agent: &RawAgent, orchestrator: &str) {
    let at = |value: Option<std::ops::Range<usize>>| value.map(|span| span.start);
    let fields: [(&str, Option<usize>, &[&str]); 16] = [
        (
            "agent.system",
            at(agent.system.as_ref().map(Spanned::span)),
            &["llm"],
        ),
        (
            "agent.model",
            at(agent.model.as_ref().map(Spanned::span)),
            &["llm", "briefing"],
        ),
        (
            "agent.temperature",
            at(agent.temperature.as_ref().map(Spanned::span)),
            &["llm", "briefing"],
        ),
        (
            "agent.max_tokens",
            at(agent.max_tokens.as_ref().map(Spanned::span)),
            &["llm", "briefing"],
        ),
        (
            "agent.lookback",
            at(agent.lookback.as_ref().map(Spanned::span)),
            &["briefing"],
        ),
        (
            "agent.sources",
            at(agent.sources.as_ref().map(Spanned::span)),
            &["briefing"],
        ),
        (
            "agent.publish",
            at(agent.publish.as_ref().map(Spanned::span)),
            &["briefing"],
        ),
        (
            "agent.context_tokens",
            at(agent.context_tokens.as_ref().map(Spanned::span)),
            &["briefing"],
        ),
        (
            "agent.assistant_id",
            at(agent.assistant_id.as_ref().map(Spanned::span)),
            &["langgraph"],
        ),
        (
            "agent.url",
            at(agent.url.as_ref().map(Spanned::span)),
            &["langgraph"],
        ),
        (
            "agent.thread",
            at(agent.thread.as_ref().map(Spanned::span)),
            &["langgraph"],
        ),
        (
            "agent.input",
            at(agent.input.as_ref().map(Spanned::span)),
            &["langgraph"],
        ),
        (
            "agent.config",
            at(agent.config.as_ref().map(Spanned::span)),
            &["langgraph"],
        ),
        (
            "agent.context",
            at(agent.context.as_ref().map(Spanned::span)),
            &["langgraph"],
        ),
        (
            "agent.output",
            at(agent.output.as_ref().map(Spanned::span)),
            &["langgraph"],
        ),
        (
            "agent.links",
            at(agent.links.as_ref().map(Spanned::span)),
            &["langgraph"],
        ),
    ];
    for (field, offset, owners) in fields {
        let Some(offset) = offset else { continue };
        if owners.contains(&orchestrator) {
            continue;
        }
        let owner = owners
            .iter()
            .map(|o| format!("orchestrator = \"{o}\""))
            .collect::<Vec<_>>()
            .join(" or ");
        checker.error(
            offset,
            Some(field),
            format!("only used by {owner}; remove it for \"{orchestrator}\""),
        );
    }
}

/// `agent.model`: trimmed, not empty.
fn model(checker: &mut Checker<'_>, value: &Option<Spanned<String>>) -> Option<String> {
    let model = value.as_ref()?;
    if model.get_ref().trim().is_empty() {
        checker.error(
            model.span().start,
            Some("agent.model"),
            "must not be empty; leave it out to use BACKOFFICE_LLM_MODEL",
        );
    }
    Some(model.get_ref().trim().to_string())
}

/// `agent.temperature` in 0.0–2.0.
fn temperature(checker: &mut Checker<'_>, value: &Option<Spanned<f64>>) -> Option<f64> {
    let t = value.as_ref()?;
    if (0.0..=2.0).contains(t.get_ref()) {
        Some(*t.get_ref())
    } else {
        checker.error(
            t.span().start,
            Some("agent.temperature"),
            format!("`{}` is out of range: use 0.0 to 2.0", t.get_ref()),
        );
        None
    }
}

/// `agent.max_tokens` in 1–1,000,000.
fn max_tokens(checker: &mut Checker<'_>, value: &Option<Spanned<i64>>) -> Option<u32> {
    let value = value.as_ref()?;
    match u32::try_from(*value.get_ref()) {
        Ok(n) if (1..=1_000_000).contains(&n) => Some(n),
        _ => {
            checker.error(
                value.span().start,
                Some("agent.max_tokens"),
                format!("`{}` is out of range: use 1 to 1000000", value.get_ref()),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Job, Vec<FileError>> {
        parse("jobs/test.toml", JobId::new("test").expect("id"), text)
    }

    const GOOD: &str = r#"
name = "Stand-up"
kind = "agent"
schedule = "0 9 * * 1-5"
timezone = "Asia/Seoul"
timeout = "5m"
overlap = "queue_one"
retries = 2
[agent]
orchestrator = "llm"
model = "llama3.1:8b"
prompt = "Plan for {{date}} ({{weekday}})"
"#;

    #[test]
    fn a_good_file_becomes_a_job_with_defaults() {
        let job = parse_text(GOOD).expect("valid");
        assert_eq!(job.name, "Stand-up");
        assert_eq!(job.timeout, Duration::from_secs(300));
        assert_eq!(job.overlap, Overlap::QueueOne);
        assert_eq!(job.catchup, Catchup::Latest);
        assert_eq!(job.catchup_window, Duration::from_secs(6 * 3600));
        assert_eq!(job.retry_delay, Duration::from_secs(60));
        assert!(job.enabled);
        let Task::Llm(llm) = &job.task else {
            panic!("an llm task")
        };
        assert_eq!(llm.temperature, DEFAULT_TEMPERATURE);
        assert_eq!(llm.model.as_deref(), Some("llama3.1:8b"));
    }

    #[test]
    fn comments_do_not_change_the_definition_hash() {
        let a = parse_text(GOOD).expect("valid");
        let b = parse_text(&format!("# a comment\n{GOOD}")).expect("valid");
        assert_eq!(a.definition_hash(), b.definition_hash());
        let c = parse_text(&GOOD.replace("5m", "6m")).expect("valid");
        assert_ne!(a.definition_hash(), c.definition_hash());
    }

    /// Each bad input, and (line, column, field, words the message must contain).
    #[test]
    fn each_problem_names_line_column_and_field() {
        type Case<'a> = (&'a str, &'a str, (usize, usize), Option<&'a str>, &'a str);
        let ambient_only = GOOD
            .replace("\"agent\"", "\"ambient\"")
            .split("[agent]")
            .next()
            .unwrap_or_default()
            .to_string();
        let cases: &[Case<'_>] = &[
            (
                "syntax",
                "name = \"x\nkind = \"agent\"",
                (1, 10),
                Some("name"),
                "invalid basic string",
            ),
            (
                "unknown key",
                "name = \"x\"\nscheduel = \"0 7 * * *\"",
                (2, 1),
                Some("scheduel"),
                "unknown field `scheduel`",
            ),
            (
                "wrong type",
                "name = \"x\"\nretries = \"two\"",
                (2, 11),
                Some("retries"),
                "expected an integer",
            ),
            (
                "wrong type in section",
                "name = \"x\"\n[agent]\ntemperature = \"hot\"",
                (3, 15),
                Some("agent.temperature"),
                "expected a number",
            ),
            (
                "bad cron",
                &GOOD.replace("0 9 * * 1-5", "0 9 * *"),
                (4, 12),
                Some("schedule"),
                "has 4 fields",
            ),
            (
                "bad zone",
                &GOOD.replace("Asia/Seoul", "Asia/Seol"),
                (5, 12),
                Some("timezone"),
                "did you mean \"Asia/Seoul\"",
            ),
            (
                "bad duration",
                &GOOD.replace("\"5m\"", "\"5 min\""),
                (6, 11),
                Some("timeout"),
                "is not a duration",
            ),
            (
                "duration out of range",
                &GOOD.replace("\"5m\"", "\"2d\""),
                (6, 11),
                Some("timeout"),
                "out of range",
            ),
            (
                "bad overlap",
                &GOOD.replace("queue_one", "queue"),
                (7, 11),
                Some("overlap"),
                "\"queue_one\"",
            ),
            (
                "retries",
                &GOOD.replace("retries = 2", "retries = 50"),
                (8, 11),
                Some("retries"),
                "0 to 10",
            ),
            (
                "bad template",
                &GOOD.replace("{{date}}", "{{dat}}"),
                (12, 10),
                Some("agent.prompt"),
                "unknown variable `dat`",
            ),
            (
                "ambient without its table",
                &ambient_only,
                (3, 8),
                Some("ambient"),
                "needs an [ambient] section",
            ),
            (
                "unknown ambient task",
                &format!("{ambient_only}[ambient]\ntask = \"dreaming\"\n"),
                (10, 8),
                Some("ambient.task"),
                "not an ambient task",
            ),
            (
                "bad kind",
                &GOOD.replace("\"agent\"", "\"robot\""),
                (3, 8),
                Some("kind"),
                "not a job kind",
            ),
            (
                "field of another orchestrator",
                &GOOD.replace("\"llm\"", "\"langgraph\""),
                (11, 9),
                Some("agent.model"),
                "only used by orchestrator = \"llm\" or orchestrator = \"briefing\"",
            ),
            (
                "missing name",
                &GOOD.replace("name = \"Stand-up\"", ""),
                (1, 1),
                Some("name"),
                "missing required field",
            ),
            (
                "missing prompt",
                &GOOD.replace("prompt = \"Plan for {{date}} ({{weekday}})\"", ""),
                (1, 1),
                Some("agent.prompt"),
                "missing",
            ),
            (
                "sources on llm",
                &format!("{GOOD}[agent.sources.slack]\nchannels = [\"dev\"]\n"),
                (13, 8),
                Some("agent.sources"),
                "briefing",
            ),
            (
                "ambient section",
                &format!("{GOOD}[ambient]\ntask = \"x\"\n"),
                (13, 1),
                Some("ambient"),
                "does not match",
            ),
        ];
        for (label, text, (line, column), field, words) in cases {
            let errors = parse_text(text).expect_err(label);
            let error = &errors[0];
            assert_eq!(
                (error.line, error.column),
                (*line, *column),
                "{label}: {error}"
            );
            assert_eq!(error.field.as_deref(), *field, "{label}: {error}");
            assert!(error.message.contains(words), "{label}: {error}");
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("jobs/test.toml:{line}:{column}: ")),
                "{label}"
            );
        }
    }

    #[test]
    fn all_problems_of_a_file_are_reported_together() {
        let text = GOOD
            .replace("Asia/Seoul", "Mars/Olympus")
            .replace("\"5m\"", "\"soon\"")
            .replace("queue_one", "pile");
        let errors = parse_text(&text).expect_err("three problems");
        let fields: Vec<_> = errors.iter().filter_map(|e| e.field.as_deref()).collect();
        assert_eq!(fields, ["timezone", "timeout", "overlap"]);
    }
}
