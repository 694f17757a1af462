//! Failure notifications from outside: `[notify]` in a job file and in `jobs/_defaults.toml`,
//! delivered to the fake Slack (`chat.postMessage`) and to a fake webhook, by the real
//! `serve`, for runs started with `backoffice run JOB --wait` through its control socket.
//! Only the command line, `state/` (runs.db, the site, the log) and the fakes' records are
//! looked at.
//!
//! Choices these tests make where the brief leaves room:
//! - without `--public-url` the webhook's `url` is `null` (with it, the final attempt's run
//!   page, `{URL}/runs/{id}.html`, no slash doubled);
//! - a timed-out final attempt is a "failure" event like a failed one (its text is not
//!   required to say "failed");
//! - "failed" must appear in a failure's text besides the quoted error line (the model
//!   server's own error already says "failed");
//! - the delivery failures are under the top-level `notifications` key of `status.json`,
//!   in whatever shape: the key's JSON text must name each target and its error;
//! - `check` reports `notify.on` / `notify.webhook` as the field, the unknown event at the
//!   array or at the bad element, and an unknown `[notify]` key on its line with a field
//!   starting with `notify`.
//!
//! Every job fires on January 1 at 03:00 Seoul time only: never during a test in practice.

use std::net::TcpListener;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use rusqlite::types::ValueRef;
use serde_json::Value;

use crate::fakes::llm::{FakeLlm, Reply};
use crate::fakes::slack::{Failure, FakeSlack, Post};
use crate::fakes::webhook::{FakeWebhook, Hit};
use crate::secrets::files;
use crate::support::{Daemon, TestRepo, backoffice, job, run, runs_db, stderr, stdout, wait_until};

const SLACK_TOKEN: &str = "xoxb-fake-notify-token-9b2e";
/// The webhook's path: the secret part of its URL, searched for everywhere afterwards.
const HOOK_PATH: &str = "/hooks/T000/CANARY-SECRET-xyz";
/// What must never be found in `state/`, the log or any output (case-insensitively).
const CANARY: &str = "CANARY-SECRET";
const PUBLIC_URL: &str = "https://status.example.com";
/// Far from any test run: January 1, 03:00 in Seoul.
const SCHEDULE: &str = "0 3 1 1 *";
/// How long to keep listening for a message that must not come.
const QUIET: Duration = Duration::from_secs(5);
/// The longest a message may take to arrive after its run ended.
const DELIVERY: Duration = Duration::from_secs(20);
/// The first line of the model server's error, and a second line it must not need.
const MODEL_ERROR: &str = "CUDA out of memory (ERR-7731)";
const MODEL_ERROR_DETAIL: &str = "stack: llama_decode frame 0 at ggml-cuda.cu:1203";

/// A repository, the fakes, and the environment that points `serve` at them.
struct World {
    repo: TestRepo,
    llm: FakeLlm,
    slack: FakeSlack,
    webhook: FakeWebhook,
    env: Vec<(String, String)>,
}

impl World {
    fn new() -> World {
        let llm = FakeLlm::start();
        llm.set_default(Reply::Answer("Everything is fine today.".into()));
        let slack = FakeSlack::start(SLACK_TOKEN);
        slack.add_channel("C0OPS", "ops", true);
        slack.add_channel("C0GENERAL", "general", true);
        let webhook = FakeWebhook::start();
        let env = vec![
            ("BACKOFFICE_LLM_URL".to_string(), llm.url()),
            ("SLACK_TOKEN".to_string(), SLACK_TOKEN.to_string()),
            ("SLACK_BASE_URL".to_string(), slack.base_url()),
            ("BACKOFFICE_WEBHOOK_OPS".to_string(), webhook.url(HOOK_PATH)),
        ];
        World {
            repo: TestRepo::new(),
            llm,
            slack,
            webhook,
            env,
        }
    }

    fn state(&self) -> std::path::PathBuf {
        self.repo.state()
    }

    /// `serve --repo <work> ARGS` with the fakes' environment plus `extra_env`.
    fn serve(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Daemon {
        let work = self.repo.work.to_str().expect("utf-8 path");
        let mut all_args: Vec<&str> = vec!["--repo", work];
        all_args.extend_from_slice(args);
        let mut env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        env.extend_from_slice(extra_env);
        Daemon::start(&self.state(), &all_args, &env)
    }

    /// `backoffice run ID --wait` through the running daemon.
    fn run_now(&self, id: &str) -> Output {
        run(backoffice(&self.state()).args(["run", id, "--wait"]))
    }
}

/// One row of `runs`, as the assertions need it.
#[derive(Debug, Clone)]
struct RunRecord {
    id: i64,
    status: String,
    error: Option<String>,
}

/// Every run of `job`, oldest first.
fn runs_of(state: &Path, job: &str) -> Vec<RunRecord> {
    let db = runs_db(state);
    let mut statement = db
        .prepare("SELECT id, status, error FROM runs WHERE job_id = ?1 ORDER BY id")
        .expect("prepare");
    statement
        .query_map([job], |row| {
            Ok(RunRecord {
                id: row.get(0)?,
                status: row.get(1)?,
                error: row.get(2)?,
            })
        })
        .expect("query")
        .collect::<Result<Vec<_>, _>>()
        .expect("rows")
}

/// Every text and blob value of every table of runs.db, one per line.
fn database_text(state: &Path) -> String {
    let db = runs_db(state);
    let tables: Vec<String> = {
        let mut statement = db
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .expect("tables");
        statement
            .query_map([], |row| row.get::<_, String>(0))
            .expect("tables")
            .collect::<Result<Vec<_>, _>>()
            .expect("tables")
    };
    let mut text = String::new();
    for table in tables {
        let Ok(mut statement) = db.prepare(&format!("SELECT * FROM \"{table}\"")) else {
            continue;
        };
        let columns = statement.column_count();
        let Ok(mut rows) = statement.query([]) else {
            continue;
        };
        while let Ok(Some(row)) = rows.next() {
            for index in 0..columns {
                if let Ok(ValueRef::Text(bytes) | ValueRef::Blob(bytes)) = row.get_ref(index) {
                    text.push_str(&String::from_utf8_lossy(bytes));
                    text.push('\n');
                }
            }
        }
    }
    text
}

/// Where `needle` (case-insensitively) is found: any file under `state/` (the serve log,
/// the site, runs.db and its WAL), any text column of runs.db, any of `outputs`.
fn places_with(state: &Path, needle: &str, outputs: &[&Output]) -> Vec<String> {
    let needle = needle.to_ascii_lowercase();
    let holds = |bytes: &[u8]| {
        bytes
            .to_ascii_lowercase()
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
    };
    let mut found = Vec::new();
    for (path, bytes) in files(state) {
        if holds(bytes.as_slice()) {
            found.push(path);
        }
    }
    if holds(database_text(state).as_bytes()) {
        found.push("a text column of runs.db".to_string());
    }
    for (index, output) in outputs.iter().enumerate() {
        if holds(output.stdout.as_slice()) || holds(output.stderr.as_slice()) {
            found.push(format!("the output of command {index}"));
        }
    }
    found
}

/// `state/site/status.json`, or `Null` while there is none.
fn site_status(state: &Path) -> Value {
    std::fs::read(state.join("site/status.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
}

fn site_page(state: &Path, name: &str) -> String {
    std::fs::read_to_string(state.join("site").join(name)).unwrap_or_default()
}

/// The JSON text of `status.json`'s `notifications`, or `""`.
fn notifications_text(state: &Path) -> String {
    site_status(state)
        .get("notifications")
        .map(Value::to_string)
        .unwrap_or_default()
}

fn first_line(error: &str) -> String {
    error.lines().next().unwrap_or_default().trim().to_string()
}

fn texts(posts: &[Post]) -> Vec<String> {
    posts.iter().map(|post| post.text.clone()).collect()
}

fn bodies(hits: &[Hit]) -> Vec<String> {
    hits.iter()
        .map(|hit| format!("{} {} {}", hit.method, hit.path, hit.body_text()))
        .collect()
}

/// A failure's text: the job id, "failed" (besides the quoted error, which may say it too),
/// the error's first line and, when given, the run link.
fn assert_failure_text(text: &str, job: &str, error_line: &str, link: Option<&str>) {
    assert!(text.contains(job), "names the job `{job}`: {text}");
    assert!(
        text.contains(error_line),
        "quotes the error's first line `{error_line}`: {text}"
    );
    assert!(
        text.replace(error_line, "")
            .to_lowercase()
            .contains("failed"),
        "says the run failed: {text}"
    );
    if let Some(link) = link {
        assert!(text.contains(link), "links to the run page {link}: {text}");
    }
}

#[test]
fn a_failure_after_retries_sends_one_slack_message_and_one_webhook_call() {
    let world = World::new();
    world.llm.set_default(Reply::Status {
        code: 500,
        message: format!("{MODEL_ERROR}\n{MODEL_ERROR_DETAIL}"),
        retry_after: None,
    });
    world.repo.write(
        "jobs/nightly-report.toml",
        &job(
            "Nightly Report",
            SCHEDULE,
            "retries = 2\nretry_delay = \"1s\"\ntimeout = \"20s\"\n\n[notify]\non = [\"failure\", \"recovery\"]\nslack = \"#ops\"\nwebhook = \"BACKOFFICE_WEBHOOK_OPS\"\n",
        ),
    );
    let commit = world.repo.commit("nightly report, with notifications");
    let state = world.state();
    let daemon = world.serve(&["--public-url", PUBLIC_URL], &[]);
    assert!(daemon.wait_applied(&commit), "{}", daemon.log_text());

    let output = world.run_now("nightly-report");
    assert_eq!(
        output.status.code(),
        Some(1),
        "the run fails: {}\n{}\n{}",
        stdout(&output),
        stderr(&output),
        daemon.log_text()
    );
    let attempts = runs_of(&state, "nightly-report");
    assert_eq!(
        attempts.len(),
        3,
        "retries = 2: three attempts: {attempts:?}"
    );
    assert!(
        attempts.iter().all(|attempt| attempt.status == "failed"),
        "{attempts:?}"
    );
    let last = attempts.last().expect("the final attempt").clone();
    let error = last.error.clone().expect("the final attempt's error");
    let error_line = first_line(&error);
    assert!(error_line.contains(MODEL_ERROR), "{error}");
    let link = format!("{PUBLIC_URL}/runs/{}.html", last.id);

    assert!(
        wait_until(DELIVERY, || !world.slack.posts().is_empty()
            && !world.webhook.hits().is_empty()),
        "a message to Slack and to the webhook after the final attempt: posts {:?}, hits {:?}\n{}",
        texts(&world.slack.posts()),
        bodies(&world.webhook.hits()),
        daemon.log_text()
    );
    std::thread::sleep(QUIET);

    let posts = world.slack.posts();
    assert_eq!(
        posts.len(),
        1,
        "one message for the three attempts: {:?}",
        texts(&posts)
    );
    assert_eq!(posts[0].channel, "C0OPS", "posted to #ops");
    assert_failure_text(&posts[0].text, "nightly-report", &error_line, Some(&link));

    let hits = world.webhook.hits();
    assert_eq!(
        hits.len(),
        1,
        "one webhook call for the three attempts: {:?}",
        bodies(&hits)
    );
    let hit = &hits[0];
    assert_eq!(hit.method, "POST");
    assert_eq!(hit.path, HOOK_PATH, "the URL from BACKOFFICE_WEBHOOK_OPS");
    assert!(
        hit.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{:?}",
        hit.headers
    );
    let body = hit.json();
    assert!(body.is_object(), "a JSON object: {}", hit.body_text());
    assert_eq!(body["job"], "nightly-report", "{body}");
    assert_eq!(body["event"], "failure", "{body}");
    assert_eq!(
        body["run_id"].as_i64(),
        Some(last.id),
        "the final attempt: {body}"
    );
    assert_eq!(body["url"].as_str(), Some(link.as_str()), "{body}");
    let text = body["text"].as_str().expect("text");
    assert_failure_text(text, "nightly-report", &error_line, Some(&link));

    // The link leads somewhere: the final attempt's run page is written.
    let page = state.join(format!("site/runs/{}.html", last.id));
    assert!(
        wait_until(Duration::from_secs(10), || page.is_file()),
        "{} exists",
        page.display()
    );

    let found = places_with(&state, CANARY, &[&output]);
    assert!(
        found.is_empty(),
        "the webhook URL is a secret, found in {found:?}"
    );
}

#[test]
fn the_first_success_after_a_failure_sends_one_recovery_message() {
    let world = World::new();
    // The first attempt hangs past its timeout; every later one is answered.
    world.llm.script([Reply::Stall(Duration::from_secs(8))]);
    world.repo.write(
        "jobs/db-backup.toml",
        &job(
            "DB Backup",
            SCHEDULE,
            "timeout = \"2s\"\n\n[notify]\nslack = \"#ops\"\nwebhook = \"BACKOFFICE_WEBHOOK_OPS\"\n",
        ),
    );
    let commit = world.repo.commit("backup, notified by default events");
    let state = world.state();
    // No --public-url: the webhook's `url` is null.
    let daemon = world.serve(&[], &[]);
    assert!(daemon.wait_applied(&commit), "{}", daemon.log_text());

    let timed_out = world.run_now("db-backup");
    assert!(!timed_out.status.success(), "{}", stdout(&timed_out));
    let runs = runs_of(&state, "db-backup");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].status, "timed_out", "{runs:?}");
    assert!(
        wait_until(DELIVERY, || !world.slack.posts().is_empty()
            && !world.webhook.hits().is_empty()),
        "a timed-out run is a failure: posts {:?}, hits {:?}\n{}",
        texts(&world.slack.posts()),
        bodies(&world.webhook.hits()),
        daemon.log_text()
    );

    let recovered = world.run_now("db-backup");
    assert!(
        recovered.status.success(),
        "{}\n{}",
        stdout(&recovered),
        daemon.log_text()
    );
    let runs = runs_of(&state, "db-backup");
    assert_eq!(runs.len(), 2, "{runs:?}");
    let recovery_id = runs[1].id;
    assert!(
        wait_until(DELIVERY, || world.slack.posts().len() >= 2
            && world.webhook.hits().len() >= 2),
        "a recovery message: posts {:?}, hits {:?}\n{}",
        texts(&world.slack.posts()),
        bodies(&world.webhook.hits()),
        daemon.log_text()
    );

    let again = world.run_now("db-backup");
    assert!(again.status.success(), "{}", stdout(&again));
    assert_eq!(runs_of(&state, "db-backup").len(), 3);
    std::thread::sleep(QUIET);

    let posts = world.slack.posts();
    assert_eq!(
        posts.len(),
        2,
        "a failure, a recovery, and nothing for the second success: {:?}",
        texts(&posts)
    );
    assert!(posts[0].text.contains("db-backup"), "{}", posts[0].text);
    assert!(
        !posts[0].text.to_lowercase().contains("recovered"),
        "{}",
        posts[0].text
    );
    assert!(posts[1].text.contains("db-backup"), "{}", posts[1].text);
    assert!(
        posts[1].text.to_lowercase().contains("recovered"),
        "{}",
        posts[1].text
    );

    let hits = world.webhook.hits();
    assert_eq!(hits.len(), 2, "{:?}", bodies(&hits));
    let failure = hits[0].json();
    assert_eq!(failure["event"], "failure", "{failure}");
    assert_eq!(failure["run_id"].as_i64(), Some(runs[0].id), "{failure}");
    let recovery = hits[1].json();
    assert_eq!(recovery["event"], "recovery", "{recovery}");
    assert_eq!(recovery["job"], "db-backup", "{recovery}");
    assert_eq!(recovery["run_id"].as_i64(), Some(recovery_id), "{recovery}");
    assert!(
        recovery["url"].is_null(),
        "no --public-url, no link: {recovery}"
    );
    let text = recovery["text"].as_str().expect("text");
    assert!(text.contains("db-backup"), "{text}");
    assert!(text.to_lowercase().contains("recovered"), "{text}");
}

#[test]
fn a_failed_delivery_is_retried_shown_on_the_dashboard_and_never_fails_the_job() {
    let world = World::new();
    world.webhook.fail_always(500);
    world
        .slack
        .fail_always("chat.postMessage", Failure::error("is_archived"));
    // A second webhook where nothing listens.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let down_url = format!("http://127.0.0.1:{closed}/hooks/T000/CANARY-SECRET-down-4e2b");
    world
        .repo
        .write(
            "jobs/pulse.toml",
            &job(
                "Pulse",
                SCHEDULE,
                "[notify]\non = [\"success\"]\nslack = \"#ops\"\nwebhook = \"BACKOFFICE_WEBHOOK_OPS\"\n",
            ),
        )
        .write(
            "jobs/heartbeat.toml",
            &job(
                "Heartbeat",
                SCHEDULE,
                "[notify]\non = [\"success\"]\nwebhook = \"BACKOFFICE_WEBHOOK_DOWN\"\n",
            ),
        );
    let commit = world.repo.commit("two jobs that report every success");
    let state = world.state();
    let daemon = world.serve(
        &["--public-url", PUBLIC_URL],
        &[("BACKOFFICE_WEBHOOK_DOWN", down_url.as_str())],
    );
    assert!(daemon.wait_applied(&commit), "{}", daemon.log_text());

    let pulse = world.run_now("pulse");
    assert!(
        pulse.status.success(),
        "{}\n{}",
        stdout(&pulse),
        daemon.log_text()
    );
    let heartbeat = world.run_now("heartbeat");
    assert!(
        heartbeat.status.success(),
        "{}\n{}",
        stdout(&heartbeat),
        daemon.log_text()
    );

    // Retried with backoff: a second call to the webhook answering 500.
    assert!(
        wait_until(Duration::from_secs(25), || world.webhook.hits().len() >= 2),
        "the delivery is retried: {:?}\n{}",
        bodies(&world.webhook.hits()),
        daemon.log_text()
    );
    let hits = world.webhook.hits();
    assert!(
        hits.iter()
            .all(|hit| hit.method == "POST" && hit.path == HOOK_PATH),
        "{:?}",
        bodies(&hits)
    );
    assert!(
        world
            .slack
            .requests()
            .iter()
            .any(|request| request.api_method() == "chat.postMessage"),
        "Slack was tried"
    );
    assert!(world.slack.posts().is_empty());

    let shown = wait_until(Duration::from_secs(20), || {
        let notifications = notifications_text(&state);
        let index = site_page(&state, "index.html");
        ["BACKOFFICE_WEBHOOK_OPS", "BACKOFFICE_WEBHOOK_DOWN", "#ops"]
            .iter()
            .all(|target| notifications.contains(target) && index.contains(target))
    });
    assert!(
        shown,
        "the failed deliveries on the dashboard, by target:\nstatus.json notifications: {}\nindex.html: {}\n{}",
        notifications_text(&state),
        site_page(&state, "index.html"),
        daemon.log_text()
    );
    let notifications = notifications_text(&state);
    assert!(
        notifications.contains("500"),
        "the webhook's error: {notifications}"
    );
    assert!(
        notifications.contains("is_archived"),
        "Slack's error: {notifications}"
    );
    assert!(
        daemon.log_text().contains("BACKOFFICE_WEBHOOK_OPS"),
        "the failure is logged, by target:\n{}",
        daemon.log_text()
    );

    // The jobs are not failed by their notifications.
    for id in ["pulse", "heartbeat"] {
        let runs = runs_of(&state, id);
        assert_eq!(runs.len(), 1, "{id}: {runs:?}");
        assert_eq!(runs[0].status, "succeeded", "{id}: {runs:?}");
        let status = site_status(&state);
        let row = status["jobs"]
            .as_array()
            .and_then(|jobs| jobs.iter().find(|j| j["id"] == id).cloned())
            .unwrap_or(Value::Null);
        assert_eq!(row["last_status"], "succeeded", "{id}: {row}");
    }

    let found = places_with(&state, CANARY, &[&pulse, &heartbeat]);
    assert!(
        found.is_empty(),
        "the webhook URLs are secrets, found in {found:?}"
    );
}

#[test]
fn defaults_notify_every_job_that_does_not_opt_out() {
    let world = World::new();
    world.llm.set_default(Reply::Status {
        code: 500,
        message: "model crashed".into(),
        retry_after: None,
    });
    let public = "https://ops.example.org/backoffice";
    world
        .repo
        .write(
            "jobs/_defaults.toml",
            "# Where every job reports, unless it says otherwise.\n[notify]\nslack = \"#ops\"\n",
        )
        .write("jobs/loud.toml", &job("Loud", SCHEDULE, ""))
        .write(
            "jobs/quiet.toml",
            &job("Quiet", SCHEDULE, "[notify]\non = []\n"),
        )
        .write(
            "jobs/cheerful.toml",
            &job("Cheerful", SCHEDULE, "[notify]\non = [\"success\"]\n"),
        );
    let commit = world.repo.commit("defaults for notifications");
    let state = world.state();
    let daemon = world.serve(&[], &[("BACKOFFICE_PUBLIC_URL", public)]);
    assert!(daemon.wait_applied(&commit), "{}", daemon.log_text());

    let quiet = world.run_now("quiet");
    assert!(!quiet.status.success(), "{}", stdout(&quiet));
    let loud = world.run_now("loud");
    assert!(!loud.status.success(), "{}", stdout(&loud));
    assert!(
        wait_until(DELIVERY, || !world.slack.posts().is_empty()),
        "the defaults' Slack channel hears of the failure: {}",
        daemon.log_text()
    );

    // `on` overridden, `slack` still from the defaults.
    world
        .llm
        .set_default(Reply::Answer("Everything is fine today.".into()));
    let cheerful = world.run_now("cheerful");
    assert!(
        cheerful.status.success(),
        "{}\n{}",
        stdout(&cheerful),
        daemon.log_text()
    );
    assert!(
        wait_until(DELIVERY, || world.slack.posts().len() >= 2),
        "the job's own `on` with the defaults' `slack`: {:?}\n{}",
        texts(&world.slack.posts()),
        daemon.log_text()
    );
    std::thread::sleep(QUIET);

    let posts = world.slack.posts();
    assert_eq!(
        posts.len(),
        2,
        "loud's failure and cheerful's success, nothing for quiet: {:?}",
        texts(&posts)
    );
    assert!(
        posts.iter().all(|post| !post.text.contains("quiet")),
        "on = [] opts out: {:?}",
        texts(&posts)
    );
    assert!(posts.iter().all(|post| post.channel == "C0OPS"));
    let loud_run = runs_of(&state, "loud");
    assert_eq!(loud_run.len(), 1);
    let loud_text = &posts[0].text;
    assert!(loud_text.contains("loud"), "{loud_text}");
    assert!(loud_text.to_lowercase().contains("failed"), "{loud_text}");
    assert!(
        loud_text.contains(&format!("{public}/runs/{}.html", loud_run[0].id)),
        "BACKOFFICE_PUBLIC_URL links the run: {loud_text}"
    );
    assert!(posts[1].text.contains("cheerful"), "{}", posts[1].text);

    // `_defaults.toml` is not a job.
    assert!(
        wait_until(Duration::from_secs(10), || site_status(&state)["jobs"]
            .as_array()
            .is_some_and(|jobs| jobs.len() >= 3)),
        "{}",
        site_page(&state, "status.json")
    );
    let status = site_status(&state);
    let mut ids: Vec<String> = status["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["id"].as_str().map(str::to_string))
        .collect();
    ids.sort();
    assert_eq!(ids, ["cheerful", "loud", "quiet"], "{status}");
    let defaults = run(backoffice(&state).args(["run", "_defaults", "--wait"]));
    assert!(
        !defaults.status.success(),
        "_defaults cannot be run: {}",
        stdout(&defaults)
    );
    assert!(runs_of(&state, "_defaults").is_empty());
}

/// `check --format json` and `check` (text) on `repo`'s jobs/.
fn check(repo: &TestRepo) -> (Output, Value, String) {
    let json = run(backoffice(&repo.state())
        .args(["check", "--format", "json"])
        .arg(repo.work.join("jobs")));
    let report = serde_json::from_slice(&json.stdout).unwrap_or(Value::Null);
    let text = run(backoffice(&repo.state())
        .arg("check")
        .arg(repo.work.join("jobs")));
    let text = format!("{}{}", stdout(&text), stderr(&text));
    (json, report, text)
}

/// The errors of a `check --format json` report about `file` (a path ending).
fn errors_in<'a>(report: &'a Value, file: &str) -> Vec<&'a Value> {
    report["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter(|e| e["file"].as_str().is_some_and(|f| f.ends_with(file)))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn check_rejects_bad_notify_tables_with_file_line_and_column() {
    // Every key and event, in a job and in the defaults: valid.
    let good = TestRepo::new();
    good.write(
        "jobs/_defaults.toml",
        "[notify]\non = [\"failure\", \"recovery\", \"missed\"]\nslack = \"#ops\"\nwebhook = \"BACKOFFICE_WEBHOOK_OPS\"\n",
    )
    .write(
        "jobs/full.toml",
        &job(
            "Full",
            SCHEDULE,
            "[notify]\non = [\"failure\", \"recovery\", \"success\", \"missed\"]\nslack = \"#alerts\"\nwebhook = \"BACKOFFICE_WEBHOOK_ALERTS\"\n",
        ),
    )
    .write(
        "jobs/silent.toml",
        &job("Silent", SCHEDULE, "[notify]\non = []\n"),
    );
    let (output, report, text) = check(&good);
    assert!(output.status.success(), "{text}");
    assert_eq!(report["valid"], true, "{report}");
    let mut ids: Vec<&str> = report["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["id"].as_str())
        .collect();
    ids.sort();
    assert_eq!(ids, ["full", "silent"], "_defaults is no job: {report}");

    // An unknown event.
    let bad = TestRepo::new();
    bad.write(
        "jobs/bad-event.toml",
        &job(
            "Bad event",
            SCHEDULE,
            "[notify]\non = [\"failure\", \"exploded\"]\nslack = \"#ops\"\n",
        ),
    );
    let (output, report, text) = check(&bad);
    assert!(!output.status.success(), "{text}");
    let errors = errors_in(&report, "jobs/bad-event.toml");
    let error = errors
        .iter()
        .find(|e| e["field"] == "notify.on")
        .unwrap_or_else(|| panic!("an error on notify.on: {report}"));
    assert_eq!(error["line"], 6, "{error}");
    let column = error["column"].as_u64().expect("column");
    assert!(
        column == 6 || column == 18,
        "at the list or at \"exploded\": {error}"
    );
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("exploded")),
        "{error}"
    );
    let path = bad.work.join("jobs/bad-event.toml");
    let located = format!("{}:6:{column}:", path.display());
    assert!(
        text.lines()
            .any(|line| line.contains(&located) && line.contains("notify.on")),
        "file:line:column and the field: {text}"
    );

    // A URL where the name of a variable belongs.
    let url = TestRepo::new();
    url.write(
        "jobs/hook-url.toml",
        &job(
            "Hook URL",
            SCHEDULE,
            "[notify]\nwebhook = \"https://hooks.slack.com/services/T000/B000/XXXX\"\n",
        ),
    );
    let (output, report, text) = check(&url);
    assert!(!output.status.success(), "{text}");
    let errors = errors_in(&report, "jobs/hook-url.toml");
    let error = errors
        .iter()
        .find(|e| e["field"] == "notify.webhook")
        .unwrap_or_else(|| panic!("an error on notify.webhook: {report}"));
    assert_eq!(error["line"], 6, "{error}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("environment variable")),
        "says to put the URL in an environment variable: {error}"
    );
    let path = url.work.join("jobs/hook-url.toml");
    assert!(text.contains(&format!("{}:6:", path.display())), "{text}");

    // An unknown key in [notify].
    let key = TestRepo::new();
    key.write(
        "jobs/odd-key.toml",
        &job(
            "Odd key",
            SCHEDULE,
            "[notify]\nslack = \"#ops\"\nchannel = \"#ops\"\n",
        ),
    );
    let (output, report, text) = check(&key);
    assert!(!output.status.success(), "{text}");
    let errors = errors_in(&report, "jobs/odd-key.toml");
    let error = errors
        .iter()
        .find(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("unknown") && m.contains("channel"))
        })
        .unwrap_or_else(|| panic!("an error on the unknown key: {report}"));
    assert_eq!(error["line"], 7, "{error}");
    assert!(
        error["field"]
            .as_str()
            .is_some_and(|f| f.starts_with("notify")),
        "{error}"
    );
    let path = key.work.join("jobs/odd-key.toml");
    assert!(text.contains(&format!("{}:7:", path.display())), "{text}");

    // An invalid defaults file is named as itself.
    let defaults = TestRepo::new();
    defaults
        .write(
            "jobs/_defaults.toml",
            "[notify]\non = [\"sometimes\"]\nslack = \"#ops\"\n",
        )
        .write("jobs/fine.toml", &job("Fine", SCHEDULE, ""));
    let (output, report, text) = check(&defaults);
    assert!(!output.status.success(), "{text}");
    let errors = errors_in(&report, "jobs/_defaults.toml");
    let error = errors
        .iter()
        .find(|e| e["field"] == "notify.on")
        .unwrap_or_else(|| panic!("an error in jobs/_defaults.toml: {report}"));
    assert_eq!(error["line"], 2, "{error}");
    assert!(text.contains("jobs/_defaults.toml:2:"), "{text}");
}

#[test]
fn occurrences_missed_while_down_send_one_message_per_job() {
    let world = World::new();
    world.repo.write(
        "jobs/pulse.toml",
        &job(
            "Pulse",
            "0 * * * * *",
            "catchup = \"skip\"\n[notify]\non = [\"missed\"]\nslack = \"#ops\"\n",
        ),
    );
    let commit = world.repo.commit("a job every minute");
    let daemon = world.serve(&["--no-http"], &[]);
    assert!(daemon.wait_applied(&commit), "{}", daemon.log_text());
    daemon.stop();
    assert!(
        world.slack.posts().is_empty(),
        "nothing was missed while it ran"
    );
    // Ten minutes down: the job's cursor is where the daemon left it, ten minutes ago.
    let ten_minutes_ago = (chrono::Utc::now() - chrono::Duration::minutes(10)).timestamp_micros();
    rusqlite::Connection::open(world.state().join("runs.db"))
        .and_then(|db| db.execute("UPDATE deployed_jobs SET cursor = ?1", [ten_minutes_ago]))
        .expect("move the cursor back");
    let daemon = world.serve(&["--no-http"], &[]);
    assert!(
        wait_until(DELIVERY, || !world.slack.posts().is_empty()),
        "no message about the missed runs:\n{}",
        daemon.log_text()
    );
    std::thread::sleep(Duration::from_secs(3));
    let posts = texts(&world.slack.posts());
    assert_eq!(posts.len(), 1, "one message for the whole gap: {posts:?}");
    assert!(
        posts[0].contains("(pulse) missed")
            && posts[0].contains("runs while Backoffice was not running"),
        "{}",
        posts[0]
    );
    let missed = runs_of(&world.state(), "pulse")
        .iter()
        .filter(|r| r.status == "missed")
        .count();
    assert!(
        missed >= 8,
        "the gap's occurrences are recorded as missed: {missed}"
    );
    daemon.stop();
}
