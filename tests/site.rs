//! The status site: pages rendered from a real `runs.db` with real runs of every outcome,
//! checked for structure, escaping, paging and incremental updates; then served over HTTP.

use std::path::Path;

use backoffice::job_file::FileError;
use backoffice::site::Site;
use backoffice::store::deployments::{self, Deployment, DeploymentOutcome};
use backoffice::store::jobs::DeployedRow;
use backoffice::store::runs::{self, NewRun, RunFinish, RunStatus, Trigger};
use backoffice::store::{Store, claims};
use chrono::{DateTime, Duration, Utc};

pub const HOSTILE: &str = "<script>alert(1)</script>\"><img src=x onerror=alert(1)>";

fn job_source(name: &str, schedule: &str, extra: &str) -> String {
    format!(
        "name = {name:?}\nkind = \"agent\"\nschedule = \"{schedule}\"\ntimezone = \"Asia/Seoul\"\n{extra}\n[agent]\nprompt = \"Write the stand-up for {{{{date}}}}\"\n"
    )
}

fn row(id: &str, source: String, invalid: Vec<FileError>) -> DeployedRow {
    DeployedRow {
        id: id.into(),
        file: format!("jobs/{id}.toml"),
        source,
        definition_hash: format!("hash-{id}"),
        commit_id: "0123456789abcdef0123456789abcdef01234567".into(),
        deployed_at: Utc::now(),
        invalid_errors: invalid,
        invalid_commit: None,
        cursor: None,
    }
}

/// A run of `job` scheduled `minutes_ago`, ended with `status`.
pub struct RunSpec<'a> {
    pub job: &'a str,
    pub minutes_ago: i64,
    pub status: RunStatus,
    pub error: Option<String>,
    pub result: Option<String>,
    pub links: Vec<String>,
}

impl<'a> RunSpec<'a> {
    pub fn new(job: &'a str, minutes_ago: i64, status: RunStatus) -> RunSpec<'a> {
        RunSpec {
            job,
            minutes_ago,
            status,
            error: None,
            result: None,
            links: Vec::new(),
        }
    }
}

/// Records one run the way the runner does: a claim, then its end.
pub fn record_run(store: &Store, spec: RunSpec<'_>, now: DateTime<Utc>) -> i64 {
    let at = now - Duration::minutes(spec.minutes_ago);
    let ends_later = matches!(
        spec.status,
        RunStatus::Succeeded | RunStatus::Failed | RunStatus::TimedOut | RunStatus::Interrupted
    );
    let claim = NewRun {
        job_id: spec.job.into(),
        trigger: Trigger::Schedule,
        scheduled_for: at,
        attempt: 1,
        status: if ends_later {
            RunStatus::Running
        } else {
            spec.status
        },
        started_at: ends_later.then_some(at),
        error: if ends_later { None } else { spec.error.clone() },
        definition: Some(
            store
                .with(|conn| claims::register_definition(conn, "0123456789abcdef", "h"))
                .expect("definition"),
        ),
        owner: Some(
            store
                .with(|conn| claims::register_owner(conn, "test"))
                .expect("owner"),
        ),
    };
    let id = store
        .with(|conn| claims::claim(conn, &[claim]))
        .expect("claim")[0]
        .expect("new run");
    if ends_later {
        let end = RunFinish {
            status: spec.status,
            finished_at: at + Duration::seconds(3 + spec.minutes_ago % 7),
            error: spec.error,
            result: spec.result,
            links: spec.links,
            prompt_tokens: Some(120),
            completion_tokens: Some(340),
        };
        store
            .with(|conn| runs::finish(conn, id, &end))
            .expect("finish");
    }
    id
}

/// A database with four jobs (one with a hostile name, one suspended, one whose file is now
/// invalid) and runs of every outcome.
pub fn history(dir: &Path, now: DateTime<Utc>) -> Store {
    let store = Store::open(&dir.join("runs.db")).expect("store");
    let broken = FileError {
        file: "jobs/broken.toml".into(),
        line: 3,
        column: 12,
        field: Some("schedule".into()),
        message: "`0 25 * * *` is not a valid cron expression: hour 25 is out of range 0-23".into(),
    };
    let rows = vec![
        row(
            "standup",
            job_source("Daily stand-up", "0 9 * * 1-5", ""),
            vec![],
        ),
        row("team/xss", job_source(HOSTILE, "0 7 * * *", ""), vec![]),
        row(
            "paused",
            job_source("Paused report", "0 8 * * *", "enabled = false"),
            vec![],
        ),
        row(
            "broken",
            job_source("Broken job", "0 6 * * *", ""),
            vec![broken.clone()],
        ),
    ];
    let deployment = Deployment {
        id: 0,
        commit_id: "0123456789abcdef0123456789abcdef01234567".into(),
        author: "Kim Minji <minji@example.com>".into(),
        message: format!("Retry policy {HOSTILE}"),
        committed_at: now - Duration::minutes(30),
        deployed_at: now - Duration::minutes(29),
        outcome: DeploymentOutcome::Applied,
        added: vec!["standup".into(), "team/xss".into()],
        changed: vec!["paused".into()],
        removed: vec![],
        errors: vec![broken.to_string()],
    };
    store
        .with(|conn| deployments::record(conn, "/srv/jobs.git (main)", &deployment, &rows))
        .expect("deploy");
    let long_error: String = (1..=60)
        .map(|i| format!("line {i} of a long failure: connection reset by peer\n"))
        .collect();
    let with_error = |job, minutes_ago, status, error: &str| RunSpec {
        error: Some(error.to_string()),
        ..RunSpec::new(job, minutes_ago, status)
    };
    let specs = vec![
        RunSpec {
            result: Some("오늘의 스탠드업: 배포 완료".into()),
            links: vec![
                "https://www.notion.so/Briefing-0123".into(),
                "javascript:alert(1)".into(),
            ],
            ..RunSpec::new("standup", 300, RunStatus::Succeeded)
        },
        with_error("standup", 200, RunStatus::Failed, &long_error),
        with_error(
            "standup",
            100,
            RunStatus::TimedOut,
            "timed out after 10m (timeout = \"10m\")",
        ),
        with_error(
            "standup",
            90,
            RunStatus::Skipped,
            "skipped: a run of this job was still in progress (overlap = \"skip\")",
        ),
        with_error(
            "standup",
            80,
            RunStatus::Missed,
            "missed: backoffice was not running when this came due",
        ),
        with_error(
            "standup",
            70,
            RunStatus::Interrupted,
            "interrupted: the process running it stopped",
        ),
        RunSpec {
            error: Some(format!("LLM said {HOSTILE}")),
            result: Some(format!("answer {HOSTILE}")),
            links: vec!["https://example.com/\"><script>x</script>".to_string()],
            ..RunSpec::new("team/xss", 60, RunStatus::Failed)
        },
    ];
    for spec in specs {
        record_run(&store, spec, now);
    }
    store
}

/// Checks that every element is closed in order (void elements aside) and nothing from the
/// data became markup; returns the tag names seen.
pub fn assert_well_formed(html: &str, name: &str) -> Vec<String> {
    const VOID: &[&str] = &["meta", "link", "br", "img", "hr", "input", "source", "wbr"];
    let mut stack: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        if let Some(after) = rest.strip_prefix("<!--") {
            let end = after
                .find("-->")
                .unwrap_or_else(|| panic!("{name}: unclosed comment"));
            rest = &after[end + 3..];
            continue;
        }
        let end = rest
            .find('>')
            .unwrap_or_else(|| panic!("{name}: unclosed tag at {}", &rest[..rest.len().min(80)]));
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') || tag.starts_with('?') {
            continue;
        }
        if let Some(closing) = tag.strip_prefix('/') {
            let open = stack
                .pop()
                .unwrap_or_else(|| panic!("{name}: </{closing}> without an opening tag"));
            assert_eq!(open, closing, "{name}: <{open}> closed by </{closing}>");
            continue;
        }
        let element: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
            .to_ascii_lowercase();
        assert!(!element.is_empty(), "{name}: stray `<` before {tag:?}");
        assert!(
            !matches!(element.as_str(), "script" | "iframe" | "object" | "embed"),
            "{name}: active element <{element}>"
        );
        assert!(
            !tag.contains(" onerror") && !tag.contains(" onload"),
            "{name}: handler in <{tag}>"
        );
        seen.push(element.clone());
        if !tag.ends_with('/') && !VOID.contains(&element.as_str()) {
            stack.push(element);
        }
    }
    assert!(stack.is_empty(), "{name}: unclosed {stack:?}");
    seen
}

fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn generate(dir: &Path, store: &Store, now: DateTime<Utc>) -> Site {
    let mut site = Site::new(&dir.join("site"), None, &dir.join("registry.db")).expect("site");
    site.generate_all(&store.reader().expect("reader"), now)
        .expect("generate");
    site
}

/// The site of [`history`], generated; returns the temp folder (keep it) and the site folder.
fn generated_history() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = Utc::now();
    let store = history(dir.path(), now);
    generate(dir.path(), &store, now);
    let site = dir.path().join("site");
    (dir, site)
}

#[test]
fn pages_show_every_outcome_and_stay_well_formed() {
    let (_dir, site) = generated_history();
    for path in [
        "index.html",
        "jobs/index.html",
        "jobs/standup.html",
        "jobs/team/xss.html",
        "jobs/paused.html",
        "jobs/broken.html",
        "history/standup/1.html",
        "deployments.html",
    ] {
        let html = read(&site, path);
        let tags = assert_well_formed(&html, path);
        assert_eq!(
            tags.iter().filter(|t| *t == "h1").count(),
            1,
            "{path}: one h1"
        );
        assert!(tags.contains(&"main".to_string()) && tags.contains(&"nav".to_string()));
        if tags.contains(&"table".to_string()) {
            assert!(
                tags.contains(&"th".to_string()),
                "{path}: tables have headers"
            );
        }
        assert!(
            !html.contains("http://") || !html.contains("src=\"http"),
            "{path}: external load"
        );
    }
    let dashboard = read(&site, "index.html");
    assert!(dashboard.contains("2 failing jobs"), "{dashboard}");
    assert!(
        dashboard.contains("jobs/broken.toml:3:12:")
            && dashboard.contains("is not a valid cron expression"),
        "invalid file with file:line:column on the dashboard"
    );
    assert!(dashboard.contains("Kim Minji"));

    let jobs = read(&site, "jobs/index.html");
    assert!(
        jobs.contains("on weekdays at 09:00 Asia/Seoul"),
        "schedule in words"
    );
    assert!(jobs.contains("<code>0 9 * * 1-5</code>"));
    assert!(jobs.contains(">suspended<"), "suspended job marked");
    assert!(jobs.contains("invalid file"), "invalid job marked");
    assert!(jobs.contains("class=\"spark\""), "duration sparkline");

    let standup = read(&site, "jobs/standup.html");
    for status in [
        "succeeded",
        "failed",
        "timed_out",
        "skipped",
        "missed",
        "interrupted",
    ] {
        assert!(
            standup.contains(&format!("class=\"status {status}\"")),
            "{status} shown"
        );
    }
    assert!(standup.contains("<details"), "runs expand");
    assert!(
        standup.contains("href=\"https://www.notion.so/Briefing-0123\""),
        "Notion link"
    );
    assert!(!standup.contains("javascript:"), "only web links");
    assert!(standup.contains("line 20 of a long failure"));
    assert!(
        !standup.contains("line 21 of a long failure"),
        "long error cut in the list"
    );
    assert!(standup.contains("오늘의 스탠드업"));
    assert!(standup.contains("class=\"chart\""), "duration chart");
    // Every failed run has a page of its own (notifications link there); the long one's
    // holds the whole error.
    let run_pages: Vec<String> = standup
        .split("href=\"../runs/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|link| read(&site, &format!("runs/{link}")))
        .collect();
    assert!(!run_pages.is_empty(), "links to the runs' own pages");
    for page in &run_pages {
        assert_well_formed(page, "run page");
    }
    assert!(
        run_pages
            .iter()
            .any(|page| page.contains("line 60 of a long failure")),
        "whole error on the run page"
    );

    let status: serde_json::Value =
        serde_json::from_str(&read(&site, "status.json")).expect("status.json parses");
    assert_eq!(status["overall"]["level"], "bad");
    assert_eq!(status["active"], 3);
    assert_eq!(status["suspended"], 1);
    assert_eq!(status["last_day"]["succeeded"], 1);
    assert_eq!(
        status["last_day"]["failed"], 4,
        "failed, timed out, interrupted, xss"
    );
    assert_eq!(status["last_day"]["skipped"], 1);
    assert_eq!(status["last_day"]["missed"], 1);
    assert_eq!(status["sync"]["applied"]["short"], "0123456789");
    assert_eq!(status["jobs"].as_array().map(Vec::len), Some(4));
    assert!(status["next_runs"][0]["next_utc"].is_string());
    let job: serde_json::Value =
        serde_json::from_str(&read(&site, "jobs/standup.json")).expect("job json parses");
    assert_eq!(job["total_runs"], 6);
    assert_eq!(job["runs"][0]["status"], "interrupted", "newest first");

    let feed = read(&site, "feed.xml");
    assert!(
        feed.starts_with("<?xml") && feed.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">")
    );
    assert!(feed.contains("standup timed_out") && feed.contains("deploy 0123456789"));
    assert!(
        !feed.contains("standup succeeded"),
        "the feed is failures and deploys"
    );
    let badge = read(&site, "badges/standup.svg");
    assert!(badge.starts_with("<svg") && badge.contains("interrupted"));
}

#[test]
fn anything_from_outside_comes_out_inert() {
    let (_dir, site) = generated_history();
    for path in [
        "index.html",
        "jobs/index.html",
        "jobs/team/xss.html",
        "deployments.html",
        "feed.xml",
    ] {
        let text = read(&site, path);
        assert!(!text.contains("<script"), "{path} has a live script");
        assert!(!text.contains("<img src=x"), "{path} has an injected image");
        assert!(
            text.contains("&lt;script&gt;"),
            "{path} shows the text escaped"
        );
    }
    let xss = read(&site, "jobs/team/xss.html");
    assert_well_formed(&xss, "xss page");
    assert!(
        !xss.contains("href=\"https://example.com/\"><script"),
        "link attribute escaped"
    );
    let json: serde_json::Value =
        serde_json::from_str(&read(&site, "jobs/team/xss.json")).expect("json");
    assert_eq!(json["job"]["name"], HOSTILE, "JSON keeps the text as it is");
}

#[test]
fn history_is_paged_and_a_run_rewrites_only_what_it_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = Utc::now();
    let store = history(dir.path(), now);
    for minute in 0..120 {
        record_run(
            &store,
            RunSpec::new("standup", 2000 - minute, RunStatus::Succeeded),
            now,
        );
    }
    let mut site = generate(dir.path(), &store, now);
    let root = dir.path().join("site");
    // 126 runs: the main page shows the newest 50, three archive pages hold them all.
    let main = read(&root, "jobs/standup.html");
    assert_eq!(main.matches("<tr id=\"run-").count(), 50);
    assert!(main.contains("runs 101–126") && main.contains("runs 1–50"));
    let oldest = read(&root, "history/standup/1.html");
    assert_eq!(oldest.matches("<tr id=\"run-").count(), 50);
    assert_well_formed(&oldest, "archive page");
    assert!(
        read(&root, "history/standup/3.html")
            .matches("<tr id=\"run-")
            .count()
            == 26
    );
    assert!(!root.join("history/standup/4.html").exists());

    let other_before = std::fs::metadata(root.join("jobs/paused.html"))
        .expect("meta")
        .modified()
        .expect("mtime");
    let old_archive = read(&root, "history/standup/1.html");
    let id = record_run(
        &store,
        RunSpec {
            error: Some("HTTP 429 from the LLM endpoint; retrying in 30s".into()),
            ..RunSpec::new("standup", 0, RunStatus::Failed)
        },
        now,
    );
    let report = site
        .runs_changed(
            &store.reader().expect("reader"),
            &[("standup".into(), id)],
            now,
        )
        .expect("update");
    assert!(
        report.written <= 10,
        "a run rewrites a handful of files, wrote {}",
        report.written
    );
    let page = read(&root, "jobs/standup.html");
    assert!(page.contains("HTTP 429 from the LLM endpoint"));
    assert!(
        page.contains("<h1>Daily stand-up"),
        "the job keeps its name after an update"
    );
    assert!(page.contains("on weekdays at 09:00 Asia/Seoul") && page.contains(">active<"));
    assert!(read(&root, "jobs/index.html").contains("on weekdays at 09:00 Asia/Seoul"));
    assert!(read(&root, "history/standup/3.html").contains(&format!("id=\"run-{id}\"")));
    assert_eq!(
        read(&root, "history/standup/1.html"),
        old_archive,
        "old pages untouched"
    );
    let other_after = std::fs::metadata(root.join("jobs/paused.html"))
        .expect("meta")
        .modified()
        .expect("mtime");
    assert_eq!(other_before, other_after, "other jobs' pages untouched");
    let status: serde_json::Value =
        serde_json::from_str(&read(&root, "status.json")).expect("json");
    assert_eq!(status["last_day"]["failed"], 5);
}

#[test]
fn own_templates_replace_the_built_in_ones_and_typos_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = Utc::now();
    let store = history(dir.path(), now);
    let templates = dir.path().join("my-templates");
    std::fs::create_dir_all(&templates).expect("mkdir");
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    for entry in std::fs::read_dir(&repository).expect("templates") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), templates.join(entry.file_name())).expect("copy");
    }
    let layout = std::fs::read_to_string(templates.join("layout.hbs")).expect("layout");
    std::fs::write(
        templates.join("layout.hbs"),
        layout.replace("<main>", "<main class=\"ours\">"),
    )
    .expect("write");
    let mut site = Site::new(
        &dir.path().join("site"),
        Some(&templates),
        &dir.path().join("registry.db"),
    )
    .expect("own templates");
    site.generate_all(&store.reader().expect("reader"), now)
        .expect("generate");
    assert!(read(&dir.path().join("site"), "index.html").contains("<main class=\"ours\">"));

    std::fs::write(
        templates.join("dashboard.hbs"),
        "{{#> layout}}{{overal.text}}{{/layout}}",
    )
    .expect("write");
    let mut site = Site::new(
        &dir.path().join("site2"),
        Some(&templates),
        &dir.path().join("registry.db"),
    )
    .expect("compiles");
    let error = site
        .generate_all(&store.reader().expect("reader"), now)
        .expect_err("strict mode catches the typo")
        .to_string();
    assert!(
        error.contains("dashboard") && error.contains("overal"),
        "{error}"
    );

    std::fs::remove_file(templates.join("jobs.hbs")).expect("remove");
    let error = Site::new(
        &dir.path().join("site3"),
        Some(&templates),
        &dir.path().join("registry.db"),
    )
    .err()
    .expect("missing template")
    .to_string();
    assert!(error.contains("jobs.hbs"), "{error}");
}

#[test]
fn a_deployment_of_many_jobs_lists_the_first_hundred_and_counts_them_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = Utc::now();
    let store = Store::open(&dir.path().join("runs.db")).expect("store");
    let ids: Vec<String> = (0..250).map(|i| format!("job-{i:03}")).collect();
    let rows: Vec<DeployedRow> = ids
        .iter()
        .map(|id| row(id, job_source(id, "0 7 * * *", ""), vec![]))
        .collect();
    let deployment = Deployment {
        id: 0,
        commit_id: "0123456789abcdef0123456789abcdef01234567".into(),
        author: "Kim Minji <minji@example.com>".into(),
        message: "All the jobs".into(),
        committed_at: now,
        deployed_at: now,
        outcome: DeploymentOutcome::Applied,
        added: ids,
        changed: vec![],
        removed: vec![],
        errors: vec![],
    };
    store
        .with(|conn| deployments::record(conn, "/srv/jobs.git (main)", &deployment, &rows))
        .expect("deploy");
    generate(dir.path(), &store, now);
    let site = dir.path().join("site");
    let page = read(&site, "deployments.html");
    assert!(page.contains(">+250</span>"), "{page}");
    assert!(page.contains("<li>+ job-099</li>"), "{page}");
    assert!(!page.contains("job-100"), "{page}");
    assert!(page.contains("… and 150 more"), "{page}");
    let feed = read(&site, "feed.xml");
    assert!(feed.contains("All the jobs: +250 ~0 −0"), "{feed}");
}

#[test]
fn the_site_command_writes_everything_without_a_daemon() {
    let dir = tempfile::tempdir().expect("tempdir");
    history(dir.path(), Utc::now());
    let output = crate::support::run(crate::support::backoffice(dir.path()).arg("site"));
    assert!(
        output.status.success(),
        "{}",
        crate::support::stderr(&output)
    );
    assert!(crate::support::stdout(&output).contains("site/index.html"));
    let dashboard = read(&dir.path().join("site"), "index.html");
    assert!(dashboard.contains("2 failing jobs"));

    let empty = tempfile::tempdir().expect("tempdir");
    let output = crate::support::run(crate::support::backoffice(empty.path()).arg("site"));
    assert!(!output.status.success());
    assert!(
        crate::support::stderr(&output).contains("backoffice serve"),
        "says what to do: {}",
        crate::support::stderr(&output)
    );
}

#[test]
fn the_dashboard_shows_the_context_registry_when_it_exists() {
    use backoffice::registry::Registry;
    use backoffice::registry::store::{self as registry_store, LogRequest, NewMessage, Role};

    let dir = tempfile::tempdir().expect("tempdir");
    let now = Utc::now();
    let store = history(dir.path(), now);
    generate(dir.path(), &store, now);
    let site = dir.path().join("site");
    assert!(
        !read(&site, "index.html").contains("Context Registry"),
        "no registry, no tile"
    );

    let registry = Registry::open(&dir.path().join("registry.db")).expect("registry");
    for (channel, text) in [
        ("cursor", "재시도 정책은 지수 백오프로"),
        ("claude-desktop", "retry policy <b>decided</b>"),
    ] {
        let request = LogRequest {
            session_id: None,
            channel: channel.into(),
            title: Some(format!("Retry policy ({channel})")),
            workspace: None,
            messages: vec![NewMessage {
                role: Role::User,
                content: text.into(),
                at: None,
                key: None,
            }],
        };
        registry
            .with(|conn| registry_store::log(conn, &request))
            .expect("log");
    }
    generate(dir.path(), &store, now);
    let dashboard = read(&site, "index.html");
    assert_well_formed(&dashboard, "dashboard with registry");
    assert!(dashboard.contains("Context Registry"));
    assert!(
        dashboard.contains("cursor: 1 session, 1 message"),
        "{dashboard}"
    );
    assert!(dashboard.contains("claude-desktop: 1 session"));
    let status: serde_json::Value =
        serde_json::from_str(&read(&site, "status.json")).expect("json");
    assert_eq!(status["registry"]["sessions"], 2);
    assert_eq!(status["registry"]["messages"], 2);
}
