use std::sync::Arc;
use std::time::{Duration, Instant};

use backoffice::catalog::{SourceContent, SourceFile, load_file};
use backoffice::connectors::gmail::GmailConfig;
use backoffice::connectors::langgraph::LangGraphConfig;
use backoffice::connectors::llm::LlmConfig;
use backoffice::connectors::notion::NotionConfig;
use backoffice::connectors::slack::SlackConfig;
use backoffice::connectors::{Connectors, HttpClient, Secret};
use backoffice::runner::{Admission, Occurrence, Runner};
use backoffice::store::history;
use backoffice::store::runs::{RunRow, RunStatus, Trigger};
use backoffice::store::{Store, claims};
use chrono::Utc;
use tempfile::TempDir;

use crate::fakes::llm::{FakeLlm, Reply};
use crate::support::{Daemon, TestRepo, backoffice, job, run, stdout};

struct Harness {
    _dir: TempDir,
    store: Store,
    runner: Runner,
}

fn harness(base_url: &str, api_key: Option<&str>) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("runs.db")).expect("store");
    let connectors = Connectors {
        http: HttpClient::with(
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(2))
                .build()
                .expect("client"),
        ),
        llm: LlmConfig {
            base_url: base_url.to_string(),
            api_key: api_key.map(|key| Secret::new("BACKOFFICE_LLM_API_KEY", key)),
            default_model: "llama3.1:8b".into(),
        },
        notion: NotionConfig::from_env(),
        slack: SlackConfig::from_env(),
        gmail: GmailConfig::from_env(),
        langgraph: LangGraphConfig::from_env(),
    };
    let owner = store
        .with(|c| claims::register_owner(c, "test-owner"))
        .expect("owner");
    let runner = Runner::new(store.clone(), Arc::new(connectors), owner);
    Harness {
        _dir: dir,
        store,
        runner,
    }
}

fn llm_job(extra: &str, agent_extra: &str) -> Arc<backoffice::job::Job> {
    let text = format!(
        "name = \"T\"\nkind = \"agent\"\nschedule = \"0 7 * * *\"\ntimezone = \"Asia/Seoul\"\n{extra}\n[agent]\nprompt = \"Brief me for {{{{date}}}} ({{{{weekday}}}})\"\n{agent_extra}\n"
    );
    load_file(&SourceFile {
        path: "jobs/t.toml".into(),
        id: "t".into(),
        content: SourceContent::Text(text),
    })
    .expect("valid job")
}

impl Harness {
    /// Submits one manual run and waits for its last attempt; returns every row of the job,
    /// oldest first.
    async fn run(&self, job: Arc<backoffice::job::Job>) -> Vec<RunRow> {
        let mut events = self.runner.subscribe();
        let admission = self
            .runner
            .submit(vec![self.occurrence(job)], vec![], vec![], false)
            .await
            .expect("submit");
        let Admission::Started(chain) = admission[0] else {
            panic!("not started: {admission:?}")
        };
        loop {
            let event = tokio::time::timeout(Duration::from_secs(30), events.recv())
                .await
                .expect("run ends in time")
                .expect("event");
            if event.chain == chain && event.last {
                break;
            }
        }
        self.rows()
    }

    fn rows(&self) -> Vec<RunRow> {
        let mut rows = self
            .store
            .with(|c| history::recent(c, Some("t"), 50))
            .expect("rows");
        rows.reverse();
        rows
    }
}

impl Harness {
    /// A manual occurrence of `job`, deployed from commit `abc123`.
    fn occurrence(&self, job: Arc<backoffice::job::Job>) -> Occurrence {
        let definition = self
            .store
            .with(|c| claims::register_definition(c, "abc123", job.definition_hash()))
            .expect("definition");
        Occurrence {
            job,
            commit: "abc123".into(),
            definition: Some(definition),
            scheduled_for: Utc::now(),
            trigger: Trigger::Manual,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_is_stored_with_tokens_and_the_request_is_explicit() {
    let fake = FakeLlm::start();
    fake.script([Reply::Answer("오늘의 브리핑: all good".into())]);
    let harness = harness(&fake.url(), None);
    let rows = harness.run(llm_job("", "")).await;
    assert_eq!(rows.len(), 1);
    let run = &rows[0];
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    assert_eq!(run.result.as_deref(), Some("오늘의 브리핑: all good"));
    assert_eq!(
        (run.prompt_tokens, run.completion_tokens),
        (Some(812), Some(240))
    );
    assert_eq!(run.commit_id.as_deref(), Some("abc123"));
    assert!(run.definition_hash.is_some());
    let request = &fake.requests()[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.authorization.as_deref(), Some("Bearer ollama"));
    assert_eq!(request.body["model"], "llama3.1:8b");
    assert_eq!(request.body["temperature"], 0.2);
    assert_eq!(request.body["stream"], false);
    let prompt = request.body["messages"][0]["content"]
        .as_str()
        .expect("prompt");
    let today = Utc::now()
        .with_timezone(&chrono_tz::Asia::Seoul)
        .format("%Y-%m-%d")
        .to_string();
    assert!(
        prompt.starts_with(&format!("Brief me for {today} (")),
        "{prompt}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_server_times_out_with_a_clear_error() {
    let fake = FakeLlm::start();
    fake.set_default(Reply::Stall(Duration::from_secs(10)));
    let harness = harness(&fake.url(), None);
    let started = Instant::now();
    let rows = harness.run(llm_job("timeout = \"1s\"", "")).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(rows[0].status, RunStatus::TimedOut);
    assert_eq!(
        rows[0].error.as_deref(),
        Some("timed out after 1s (timeout = \"1s\" in jobs/t.toml)")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn http_429_is_retried_after_retry_after() {
    let fake = FakeLlm::start();
    fake.script([
        Reply::Status {
            code: 429,
            message: "too many requests".into(),
            retry_after: Some(2),
        },
        Reply::Answer("second time lucky".into()),
    ]);
    let harness = harness(&fake.url(), None);
    let started = Instant::now();
    let rows = harness
        .run(llm_job("retries = 1\nretry_delay = \"1s\"", ""))
        .await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After honoured"
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].status, RunStatus::Failed);
    assert_eq!(rows[0].attempt, 1);
    let error = rows[0].error.as_deref().expect("error");
    assert!(
        error.contains("rate limiting (HTTP 429), retry after 2s: too many requests"),
        "{error}"
    );
    assert_eq!(rows[1].status, RunStatus::Succeeded);
    assert_eq!((rows[1].attempt, rows[1].trigger), (2, Trigger::Retry));
    assert_eq!(
        rows[1].scheduled_for, rows[0].scheduled_for,
        "same occurrence"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried_until_retries_run_out() {
    let fake = FakeLlm::start();
    fake.set_default(Reply::Status {
        code: 500,
        message: "model crashed".into(),
        retry_after: None,
    });
    let harness = harness(&fake.url(), None);
    let rows = harness
        .run(llm_job("retries = 1\nretry_delay = \"1s\"", ""))
        .await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.status == RunStatus::Failed));
    assert!(
        rows[1]
            .error
            .as_deref()
            .expect("error")
            .contains("failed (HTTP 500): model crashed")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn permanent_failures_are_not_retried() {
    let cases = [
        (
            Reply::Status {
                code: 404,
                message: "model \"llama3.1:8b\" not found, try pulling it first".into(),
                retry_after: None,
            },
            "ollama pull llama3.1:8b",
        ),
        (
            Reply::Status {
                code: 400,
                message: "invalid temperature".into(),
                retry_after: None,
            },
            "rejected the request (HTTP 400): invalid temperature",
        ),
        (Reply::Garbage, "not a chat completion"),
        (Reply::Empty, "returned an empty answer"),
    ];
    for (reply, expected) in cases {
        let fake = FakeLlm::start();
        fake.set_default(reply);
        let harness = harness(&fake.url(), None);
        let rows = harness
            .run(llm_job("retries = 3\nretry_delay = \"1s\"", ""))
            .await;
        assert_eq!(rows.len(), 1, "{expected}: not retried");
        assert_eq!(rows[0].status, RunStatus::Failed);
        let error = rows[0].error.as_deref().expect("error");
        assert!(error.contains(expected), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_server_is_named_and_retried() {
    let harness = harness("http://127.0.0.1:9/v1", None);
    let rows = harness
        .run(llm_job("retries = 1\nretry_delay = \"1s\"", ""))
        .await;
    assert_eq!(rows.len(), 2);
    let error = rows[0].error.as_deref().expect("error");
    assert!(
        error
            .starts_with("cannot reach the LLM server at http://127.0.0.1:9/v1: connection failed"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_key_is_sent_but_never_stored_or_shown() {
    let fake = FakeLlm::start();
    fake.set_default(Reply::Status {
        code: 401,
        message: "bad key".into(),
        retry_after: None,
    });
    let url = fake.url().replace("http://", "http://alice:hunter2@");
    let harness = harness(&url, Some("sk-live-SECRET"));
    let rows = harness.run(llm_job("", "")).await;
    assert_eq!(
        fake.requests()[0].authorization.as_deref(),
        Some("Bearer sk-live-SECRET")
    );
    let error = rows[0].error.as_deref().expect("error");
    assert!(error.contains("check BACKOFFICE_LLM_API_KEY"), "{error}");
    assert!(error.contains("http://***@127.0.0.1"), "{error}");
    let dump: String = harness
        .store
        .with(|c| {
            c.query_row(
                "SELECT group_concat(coalesce(error, '') || coalesce(result, '')) FROM runs",
                [],
                |r| r.get(0),
            )
        })
        .expect("dump");
    assert!(
        !dump.contains("SECRET") && !dump.contains("hunter2"),
        "{dump}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_cut_off_at_the_token_limit_says_so() {
    let fake = FakeLlm::start();
    fake.script([Reply::CutOff("The first half".into())]);
    let harness = harness(&fake.url(), None);
    let rows = harness.run(llm_job("", "max_tokens = 5")).await;
    assert_eq!(rows[0].status, RunStatus::Succeeded);
    assert_eq!(
        rows[0].result.as_deref(),
        Some(
            "The first half\n\n[cut off: the model stopped at its token limit (agent.max_tokens = 5)]"
        )
    );
    assert_eq!(fake.requests()[0].body["max_tokens"], 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn overlap_rules_decide_what_a_second_occurrence_does() {
    for (overlap, expected) in [
        ("skip", vec![RunStatus::Succeeded, RunStatus::Skipped]),
        ("replace", vec![RunStatus::Cancelled, RunStatus::Succeeded]),
        (
            "queue_one",
            vec![RunStatus::Succeeded, RunStatus::Succeeded],
        ),
        ("allow", vec![RunStatus::Succeeded, RunStatus::Succeeded]),
    ] {
        let fake = FakeLlm::start();
        fake.set_default(Reply::Stall(Duration::from_millis(600)));
        let harness = harness(&fake.url(), None);
        let job = llm_job(&format!("overlap = \"{overlap}\""), "");
        let first = harness
            .runner
            .submit(vec![harness.occurrence(job.clone())], vec![], vec![], false)
            .await
            .expect("first");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second = harness
            .runner
            .submit(vec![harness.occurrence(job)], vec![], vec![], false)
            .await
            .expect("second");
        assert!(matches!(first[0], Admission::Started(_)));
        if overlap == "queue_one" {
            assert_eq!(second[0], Admission::Queued);
        }
        assert!(
            harness.runner.wait_idle(Duration::from_secs(10)).await,
            "{overlap}"
        );
        let statuses: Vec<RunStatus> = harness.rows().iter().map(|r| r.status).collect();
        assert_eq!(statuses, expected, "overlap = {overlap}");
        if overlap == "skip" {
            let skipped = &harness.rows()[1];
            assert!(
                skipped
                    .error
                    .as_deref()
                    .expect("reason")
                    .contains("overlap = \"skip\"")
            );
        }
    }
}

#[test]
fn run_now_through_the_daemon_and_runs_lists_it() {
    let fake = FakeLlm::start();
    fake.set_default(Reply::Answer("Stand-up notes for today".into()));
    let repo = TestRepo::new();
    repo.write("jobs/standup.toml", &job("Stand-up", "0 9 * * 1-5", ""));
    let commit = repo.commit("stand-up");
    let url = fake.url();
    let daemon = Daemon::start(
        &repo.state(),
        &["--repo", repo.work.to_str().expect("path")],
        &[("BACKOFFICE_LLM_URL", url.as_str())],
    );
    assert!(daemon.wait_applied(&commit), "{}", daemon.log_text());
    let output = run(backoffice(&repo.state()).args(["run", "standup", "--wait"]));
    let text = stdout(&output);
    assert!(output.status.success(), "{text}\n{}", daemon.log_text());
    assert!(text.contains("started by the running daemon"), "{text}");
    assert!(text.contains("Stand-up notes for today"), "{text}");
    let output = run(backoffice(&repo.state()).args(["runs", "--format", "json"]));
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(rows[0]["job_id"], "standup");
    assert_eq!(rows[0]["status"], "succeeded");
    assert_eq!(rows[0]["trigger"], "manual");
    assert_eq!(rows[0]["commit_id"].as_str(), Some(commit.as_str()));

    let unknown = run(backoffice(&repo.state()).args(["run", "nope"]));
    assert_eq!(unknown.status.code(), Some(2));
    assert!(crate::support::stderr(&unknown).contains("no deployed job `nope`; deployed: standup"));
}

#[test]
fn run_now_without_a_daemon_runs_the_committed_job_in_process() {
    let fake = FakeLlm::start();
    fake.set_default(Reply::Status {
        code: 503,
        message: "loading model".into(),
        retry_after: None,
    });
    let repo = TestRepo::new();
    repo.write("jobs/standup.toml", &job("Stand-up", "0 9 * * 1-5", ""));
    repo.commit("stand-up");
    let output = run(backoffice(&repo.state())
        .args(["run", "standup", "--repo"])
        .arg(&repo.work)
        .env("BACKOFFICE_LLM_URL", fake.url()));
    let text = stdout(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a failed run exits 1: {text}"
    );
    assert!(
        text.contains("started by this process (no daemon is running)"),
        "{text}"
    );
    assert!(text.contains("failed: the LLM server at"), "{text}");
    assert!(text.contains("(HTTP 503): loading model"), "{text}");
}
