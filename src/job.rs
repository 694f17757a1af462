//! The validated job: what the scheduler and the runner work from.
//!
//! A `Job` only exists once its file passed every check in `job_file`, so code that holds one
//! never re-validates. Its JSON form is what `plan` compares and what the definition hash covers,
//! so a comment-only edit of a file is not a change.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::briefing::spec::BriefingTask;
use crate::cards::spec::CardsTask;
use crate::duration;
use crate::notify::settings::NotifySettings;
use crate::schedule::Schedule;

/// A job's id: its path under `jobs/` without `.toml` (`jobs/team/standup.toml` → `team/standup`).
///
/// Shared, not copied: the scheduler clones ids on every firing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(Arc<str>);

impl Serialize for JobId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl JobId {
    /// Validates an id: slash-separated segments of letters, digits, `-`, `_` and `.`, so it is
    /// safe in a URL and a file name on every platform.
    pub fn new(id: &str) -> Result<JobId, String> {
        let valid_segment = |segment: &str| {
            !segment.is_empty()
                && !segment.starts_with('.')
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if id == "index" {
            // jobs/index.html is the status site's jobs table.
            Err("`index` is reserved (the status site's jobs table is jobs/index.html): rename jobs/index.toml".to_string())
        } else if id.split('/').all(valid_segment) {
            Ok(JobId(Arc::from(id)))
        } else {
            Err(format!(
                "`{id}` is not a usable job id: use letters, digits, '-', '_' and '.' in file and folder names"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id's text, shared rather than copied (a run row per firing carries it).
    pub fn shared(&self) -> Arc<str> {
        Arc::clone(&self.0)
    }
}

/// Lets maps keyed by id be looked up with a `&str` (the order and hash are the text's).
impl std::borrow::Borrow<str> for JobId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What to do when an occurrence comes due while a run of the same job is still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// Record the new occurrence as `skipped`.
    Skip,
    /// Run both.
    Allow,
    /// Cancel the running one, start the new one.
    Replace,
    /// Start the new one when the current finishes; at most one waits.
    QueueOne,
}

/// What to do with occurrences that came due while the daemon was not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Catchup {
    /// Run the most recent one if it is within the window; the rest are `missed`.
    Latest,
    /// Run none; all are `missed`.
    Skip,
    /// Run each one within the window (up to a cap), oldest first.
    All,
}

/// An `agent` job sending a prompt to a model through an OpenAI-compatible endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlmTask {
    /// `None` means `BACKOFFICE_LLM_MODEL`, else the built-in default.
    pub model: Option<String>,
    pub system: Option<String>,
    pub prompt: String,
    pub temperature: f64,
    pub max_tokens: Option<u32>,
}

/// Which LangGraph thread a job's runs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreadMode {
    /// One thread per job, kept across runs: today's run sees yesterday's state.
    Job,
    /// A new thread for every run.
    Run,
    /// No state: a thread for the run only, deleted after it.
    None,
}

/// An `agent` job handing its prompt to a graph on a LangGraph server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LangGraphTask {
    /// An assistant id or a graph id (`langgraph dev` accepts both).
    pub assistant_id: String,
    pub prompt: String,
    /// `None` means `LANGGRAPH_URL`, else `http://127.0.0.1:2024`.
    pub url: Option<String>,
    pub thread: ThreadMode,
    /// The run's input; strings in it are templates. `None`: one user message, the prompt.
    pub input: Option<serde_json::Value>,
    pub config: Option<serde_json::Value>,
    pub context: Option<serde_json::Value>,
    /// Where the answer is in the final state (`messages[-1].content`, `briefing.text`).
    pub output: Option<String>,
    /// State keys whose URLs become run links.
    pub links: Vec<String>,
}

/// What a job does when it runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "orchestrator", rename_all = "snake_case")]
pub enum Task {
    /// `kind = "agent"`, `orchestrator = "llm"`.
    Llm(LlmTask),
    /// `kind = "agent"`, `orchestrator = "briefing"`: boxed, it is several times an LLM
    /// task's size and most jobs are not briefings.
    Briefing(Box<BriefingTask>),
    /// `kind = "agent"`, `orchestrator = "langgraph"`.
    LangGraph(Box<LangGraphTask>),
    /// `kind = "ambient"`, `task = "knowledge-cards"`.
    Cards(Box<CardsTask>),
}

impl Task {
    /// `kind` and `orchestrator` as the job file spells them, for display.
    pub fn label(&self) -> &'static str {
        match self {
            Task::Llm(_) => "agent/llm",
            Task::Briefing(_) => "agent/briefing",
            Task::LangGraph(_) => "agent/langgraph",
            Task::Cards(_) => "ambient/knowledge-cards",
        }
    }
}

/// A validated job definition.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: JobId,
    /// Path of its file in the repository, `jobs/...toml`.
    pub file: String,
    pub name: String,
    pub description: String,
    #[serde(serialize_with = "serialize_schedule")]
    pub schedule: Schedule,
    pub enabled: bool,
    #[serde(serialize_with = "serialize_duration")]
    pub timeout: Duration,
    pub overlap: Overlap,
    pub catchup: Catchup,
    #[serde(serialize_with = "serialize_duration")]
    pub catchup_window: Duration,
    pub retries: u32,
    #[serde(serialize_with = "serialize_duration")]
    pub retry_delay: Duration,
    pub task: Task,
    /// Its `[notify]` table; what it leaves out comes from `jobs/_defaults.toml`.
    #[serde(skip_serializing_if = "NotifySettings::is_empty")]
    pub notify: NotifySettings,
    /// [`Job::definition_hash`], computed once: deploys compare it for every job.
    #[serde(skip)]
    pub(crate) hash: OnceLock<Arc<str>>,
}

impl Job {
    /// The definition as JSON, the form `plan` diffs and `status --format json` shows.
    pub fn definition(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// A stable hash of the definition (not of the file's bytes: comments do not count).
    pub fn definition_hash(&self) -> &str {
        self.shared_hash()
    }

    /// The variables its templates see for the occurrence `scheduled_for`, run at `now`.
    pub fn template_context(
        &self,
        scheduled_for: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> crate::template::TemplateContext {
        crate::template::TemplateContext::new(
            crate::template::JobFacts {
                id: self.id.to_string(),
                name: self.name.clone(),
                description: self.description.clone(),
            },
            self.schedule.timezone(),
            scheduled_for,
            now,
        )
    }

    /// [`Job::definition_hash`], shared rather than copied (a run row per firing carries it).
    pub fn shared_hash(&self) -> &Arc<str> {
        self.hash.get_or_init(|| {
            let digest = Sha256::digest(self.definition().to_string().as_bytes());
            let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
            Arc::from(hex)
        })
    }
}

fn serialize_duration<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&duration::format(*value))
}

fn serialize_schedule<S: Serializer>(value: &Schedule, serializer: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct View<'a> {
        cron: &'a str,
        timezone: &'a str,
    }
    View {
        cron: value.expression(),
        timezone: value.timezone().name(),
    }
    .serialize(serializer)
}

#[cfg(test)]
mod tests {
    use super::JobId;

    #[test]
    fn ids_are_url_and_file_safe() {
        assert!(JobId::new("team/standup").is_ok());
        assert!(JobId::new("daily-briefing_v2.ko").is_ok());
        assert!(JobId::new("team/index").is_ok());
        for bad in ["", "a//b", "../x", ".hidden", "with space", "회의", "index"] {
            assert!(JobId::new(bad).is_err(), "{bad}");
        }
    }
}
