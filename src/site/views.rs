//! View structs: what the templates receive, already formatted for display. Built from a
//! [`Snapshot`] and run rows by pure functions, so rendering tests need no daemon and the
//! templates hold no logic beyond `if` and `each`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::data::{JobSummary, ListedDeployment, Snapshot, WINDOWS};
use super::svg::{self, Bar};
use super::words;
use crate::display::{duration_ms, one_line, relative, short, size};
use crate::registry::stats::RegistryStats;
use crate::store::deployments::Deployment;
use crate::store::history::Outcomes;
use crate::store::runs::{RunRow, RunStatus};

/// Failing jobs listed on the dashboard; the jobs table has the rest.
const FAILING_SHOWN: usize = 20;
/// Runs per history page.
pub const PAGE_SIZE: u64 = 50;
/// Errors and results longer than this are cut in lists; the run's own page has them whole.
const LIST_CHARS: usize = 1_200;
const LIST_LINES: usize = 20;

/// What every page's frame needs.
#[derive(Debug, Clone, Serialize)]
pub struct Layout {
    pub title: String,
    /// Relative path from the page to the site root (`""`, `"../"`): pages work from disk.
    pub root: String,
    /// Which navigation entry is current.
    pub section: &'static str,
    pub generated: String,
    pub generated_iso: String,
    pub version: &'static str,
}

impl Layout {
    pub fn new(
        title: impl Into<String>,
        path: &str,
        section: &'static str,
        now: DateTime<Utc>,
    ) -> Layout {
        Layout {
            title: title.into(),
            root: "../".repeat(path.matches('/').count()),
            section,
            generated: now.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            generated_iso: now.to_rfc3339(),
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// Site path of a job's page (`jobs/team/standup.html`).
pub fn job_path(id: &str) -> String {
    format!("jobs/{id}.html")
}

/// Site path of a job's archive page `n` (1 = oldest runs). Archives live in a tree of
/// their own: no job id can collide with them (`jobs/a/1.toml` beside `jobs/a.toml`).
pub fn archive_path(id: &str, page: u64) -> String {
    format!("history/{id}/{page}.html")
}

/// Jobs per page of the jobs table: a thousand jobs must not make a 2 MB page.
pub const JOBS_PER_PAGE: usize = 100;

/// Site path of page `n` of the jobs table (1 = `jobs/index.html`).
pub fn jobs_path(page: usize) -> String {
    match page {
        1 => "jobs/index.html".to_string(),
        n => format!("jobs-{n}.html"),
    }
}

/// Site path of a run's own page.
pub fn run_path(id: i64) -> String {
    format!("runs/{id}.html")
}

/// The one-line verdict at the top of the dashboard.
#[derive(Debug, Clone, Serialize)]
pub struct Overall {
    /// `ok`, `warn` or `bad`: a CSS class.
    pub level: &'static str,
    pub text: String,
}

/// A commit as the site shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CommitView {
    pub id: String,
    pub short: String,
    pub author: String,
    pub message: String,
    pub when: String,
    pub ago: String,
}

/// The sync block.
#[derive(Debug, Clone, Serialize)]
pub struct SyncView {
    pub source: String,
    pub applied: Option<CommitView>,
    pub attempted_commit: Option<String>,
    pub attempted_ago: Option<String>,
    pub attempt_error: Option<String>,
    pub last_fetch: Option<String>,
    /// Every file error at the latest commit seen, `file:line:column: message`.
    pub invalid: Vec<String>,
}

/// A job as the tables show it.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub href: String,
    pub badge: String,
    pub kind: String,
    pub words: String,
    pub cron: String,
    pub timezone: String,
    /// `active`, `suspended` or `invalid` (the last good version keeps running).
    pub state: &'static str,
    pub next_local: Option<String>,
    pub next_utc: Option<String>,
    pub next_ago: Option<String>,
    #[serde(skip)]
    pub next_at: Option<DateTime<Utc>>,
    pub last_status: Option<String>,
    pub last_ago: Option<String>,
    pub last_error: Option<String>,
    pub rates: Vec<Rate>,
    pub sparkline: String,
    pub file: String,
    pub commit: String,
    pub commit_full: String,
    pub invalid: Vec<String>,
}

/// A success rate over one window.
#[derive(Debug, Clone, Serialize)]
pub struct Rate {
    pub window: &'static str,
    /// `97%`, or `–` when nothing ran.
    pub text: String,
    pub runs: u64,
}

/// The dashboard, also written as `status.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    pub layout: Layout,
    pub overall: Overall,
    pub sync: Option<SyncView>,
    pub active: usize,
    pub suspended: usize,
    pub invalid_jobs: usize,
    /// The first [`FAILING_SHOWN`] failing jobs; `failing_total` counts them all.
    pub failing: Vec<JobRow>,
    pub failing_total: usize,
    pub next_runs: Vec<JobRow>,
    pub last_day: Outcomes,
    pub registry: Option<RegistryView>,
    /// Notifications that failed to go out in the last day.
    pub notifications: Vec<super::notices::NoticeView>,
}

/// A job in `status.json`: what a script checking on the jobs needs.
#[derive(Debug, Clone, Serialize)]
pub struct JobBrief {
    pub id: String,
    pub name: String,
    pub state: &'static str,
    pub next: Option<String>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    pub href: String,
}

impl From<&JobRow> for JobBrief {
    fn from(row: &JobRow) -> JobBrief {
        JobBrief {
            id: row.id.clone(),
            name: row.name.clone(),
            state: row.state,
            next: row.next_at.map(|at| at.to_rfc3339()),
            last_status: row.last_status.clone(),
            last_error: row.last_error.clone(),
            href: row.href.clone(),
        }
    }
}

/// Context Registry figures for the dashboard.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryView {
    pub sessions: u64,
    pub messages: u64,
    pub size: String,
    pub last_activity: Option<String>,
    pub channels: Vec<ChannelView>,
}

/// One channel's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelView {
    pub channel: String,
    /// `3 sessions, 1 message`.
    pub summary: String,
    pub sessions: u64,
    pub messages: u64,
    pub last_activity: Option<String>,
}

/// The registry tile, from the registry's own figures.
pub fn registry_view(stats: &RegistryStats, now: DateTime<Utc>) -> RegistryView {
    RegistryView {
        sessions: stats.sessions,
        messages: stats.messages,
        size: size(stats.db_bytes),
        last_activity: stats.last_activity.map(|at| relative(at, now)),
        channels: stats
            .channels
            .iter()
            .map(|c| ChannelView {
                channel: c.channel.clone(),
                summary: format!(
                    "{}, {}",
                    counted(c.sessions, "session"),
                    counted(c.messages, "message")
                ),
                sessions: c.sessions,
                messages: c.messages,
                last_activity: c.last_activity.map(|at| relative(at, now)),
            })
            .collect(),
    }
}

/// `1 session`, `3 sessions`.
fn counted(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// One page of the jobs table.
#[derive(Debug, Clone, Serialize)]
pub struct JobsPage<'a> {
    pub layout: Layout,
    pub jobs: &'a [&'a JobRow],
    pub total: usize,
    /// Every page of the table; empty when there is one.
    pub pages: Vec<PageLink>,
}

/// The jobs table, [`JOBS_PER_PAGE`] rows a page.
pub fn jobs_pages<'a>(rows: &'a [&'a JobRow], now: DateTime<Utc>) -> Vec<(String, JobsPage<'a>)> {
    let chunks: Vec<&[&JobRow]> = if rows.is_empty() {
        vec![&[]]
    } else {
        rows.chunks(JOBS_PER_PAGE).collect()
    };
    let count = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(index, chunk)| {
            let number = index + 1;
            let path = jobs_path(number);
            let pages = if count == 1 {
                Vec::new()
            } else {
                (1..=count)
                    .map(|n| PageLink {
                        href: jobs_path(n),
                        label: format!(
                            "{}–{}",
                            (n - 1) * JOBS_PER_PAGE + 1,
                            (n * JOBS_PER_PAGE).min(rows.len())
                        ),
                        current: n == number,
                    })
                    .collect()
            };
            let page = JobsPage {
                layout: Layout::new("Jobs", &path, "jobs", now),
                jobs: chunk,
                total: rows.len(),
                pages,
            };
            (path, page)
        })
        .collect()
}

/// A run as the history shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    pub id: i64,
    pub status: String,
    pub trigger: String,
    pub attempt: u32,
    pub scheduled: String,
    pub started: Option<String>,
    pub duration: Option<String>,
    pub commit: Option<String>,
    pub error: Option<String>,
    pub result: Option<String>,
    /// The run has its own page (`page`): the list cut its error or result, or the page shows
    /// more (a briefing, a LangGraph thread).
    pub truncated: bool,
    pub page: String,
    pub links: Vec<String>,
    pub tokens: Option<String>,
}

/// A link to another history page.
#[derive(Debug, Clone, Serialize)]
pub struct PageLink {
    pub href: String,
    pub label: String,
    pub current: bool,
}

/// A job's own page (newest runs) or one of its archive pages.
#[derive(Debug, Clone, Serialize)]
pub struct JobPage {
    pub layout: Layout,
    pub job: JobRow,
    pub definition: String,
    pub runs: Vec<RunView>,
    pub chart: String,
    pub total_runs: u64,
    /// Archive pages, newest first.
    pub pages: Vec<PageLink>,
    /// `None` on the job's main page; the range shown on an archive page.
    pub archive: Option<String>,
    /// A briefing job's sources as its latest briefing found them.
    pub sources: Vec<String>,
}

/// One run, whole.
#[derive(Debug, Clone, Serialize)]
pub struct RunPage {
    pub layout: Layout,
    pub job_id: String,
    pub job_name: String,
    pub job_href: String,
    pub run: RunView,
    /// The briefing, for a briefing job's run.
    pub briefing: Option<super::briefing::BriefingView>,
    /// Where a LangGraph job's run ran: server, thread and run ids.
    pub remote: Option<RemoteView>,
}

/// A LangGraph run as its run page names it, so a LangGraph Studio user can find it.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteView {
    pub server: String,
    pub thread: String,
    pub run: String,
}

/// One deployment as listed.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentView {
    pub commit: CommitView,
    pub outcome: String,
    pub deployed: String,
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    /// The full lengths of the three lists, which may be cut.
    pub counts: [usize; 3],
    /// How many ids the cut lists leave out.
    pub unlisted: usize,
    pub errors: Vec<String>,
}

/// The deployments page.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentsPage {
    pub layout: Layout,
    pub deployments: Vec<DeploymentView>,
}

/// One Atom entry.
#[derive(Debug, Clone, Serialize)]
pub struct FeedEntry {
    pub id: String,
    pub title: String,
    pub updated: String,
    pub summary: String,
    pub href: String,
    #[serde(skip)]
    pub at: DateTime<Utc>,
}

/// The Atom feed of failures and deploys.
#[derive(Debug, Clone, Serialize)]
pub struct Feed {
    pub updated: String,
    pub entries: Vec<FeedEntry>,
}

/// Builds the dashboard.
pub fn dashboard(
    snapshot: &Snapshot,
    rows: &[&JobRow],
    registry: Option<RegistryView>,
    now: DateTime<Utc>,
) -> Dashboard {
    let sync = sync_view(snapshot, now);
    let failing: Vec<&JobRow> = rows
        .iter()
        .copied()
        .filter(|r| r.last_status.as_deref().is_some_and(is_failure))
        .collect();
    let mut next_runs: Vec<&JobRow> = rows
        .iter()
        .copied()
        .filter(|r| r.next_at.is_some())
        .collect();
    next_runs.sort_by_key(|r| r.next_at);
    let next_runs: Vec<JobRow> = next_runs.into_iter().take(10).cloned().collect();
    let invalid_jobs = rows.iter().filter(|r| r.state == "invalid").count();
    let suspended = rows.iter().filter(|r| r.state == "suspended").count();
    let degraded = sync
        .as_ref()
        .is_some_and(|s| s.attempt_error.is_some() || !s.invalid.is_empty());
    let overall = match (failing.len(), degraded) {
        (0, false) if snapshot.sync.is_none() => Overall {
            level: "warn",
            text: "Nothing deployed yet: start `backoffice serve` in a repository with jobs/"
                .into(),
        },
        (0, false) => Overall {
            level: "ok",
            text: format!(
                "All good: {} jobs scheduled, none failing",
                rows.len() - suspended
            ),
        },
        (0, true) => Overall {
            level: "warn",
            text: "Sync degraded: the latest commit has errors, the last good jobs keep running"
                .into(),
        },
        (n, degraded) => Overall {
            level: "bad",
            text: format!(
                "{n} failing job{}{}",
                if n == 1 { "" } else { "s" },
                if degraded { "; sync degraded" } else { "" }
            ),
        },
    };
    Dashboard {
        layout: Layout::new("Backoffice", "index.html", "dashboard", now),
        overall,
        sync,
        active: rows.len() - suspended,
        suspended,
        invalid_jobs,
        failing_total: failing.len(),
        failing: failing.into_iter().take(FAILING_SHOWN).cloned().collect(),
        next_runs,
        last_day: snapshot.last_day,
        registry,
        notifications: Vec::new(),
    }
}

fn sync_view(snapshot: &Snapshot, now: DateTime<Utc>) -> Option<SyncView> {
    let sync = snapshot.sync.as_ref()?;
    let latest = snapshot.deployments.first().map(|d| &d.deployment);
    Some(SyncView {
        source: sync.source.clone(),
        applied: snapshot.applied().map(|d| commit_view(d, now)),
        attempted_commit: sync
            .attempted_commit
            .as_deref()
            .map(|c| short(c).to_string()),
        attempted_ago: sync.attempted_at.map(|at| relative(at, now)),
        attempt_error: sync.attempt_error.clone(),
        last_fetch: sync.last_fetch_at.map(|at| relative(at, now)),
        invalid: latest.map(|d| d.errors.clone()).unwrap_or_default(),
    })
}

fn commit_view(deployment: &Deployment, now: DateTime<Utc>) -> CommitView {
    CommitView {
        id: deployment.commit_id.clone(),
        short: short(&deployment.commit_id).to_string(),
        author: deployment.author.clone(),
        message: one_line(&deployment.message, 120),
        when: deployment
            .committed_at
            .format("%Y-%m-%d %H:%M UTC")
            .to_string(),
        ago: relative(deployment.deployed_at, now),
    }
}

fn is_failure(status: &str) -> bool {
    matches!(status, "failed" | "timed_out" | "interrupted")
}

/// A job's row in the tables.
pub fn job_row(summary: &JobSummary, now: DateTime<Utc>) -> JobRow {
    let row = &summary.row;
    let (name, description, kind, cron, zone, enabled) = match &summary.job {
        Some(job) => (
            job.name.clone(),
            job.description.clone(),
            job.kind.to_string(),
            job.expression.to_string(),
            job.timezone,
            job.enabled,
        ),
        None => (
            row.id.to_string(),
            String::new(),
            "?".into(),
            String::new(),
            Tz::UTC,
            false,
        ),
    };
    let next = summary
        .job
        .as_ref()
        .and_then(|job| job.next_after(row.cursor.map_or(now, |c| c.max(now))));
    let state = if !row.invalid_errors.is_empty() {
        "invalid"
    } else if enabled {
        "active"
    } else {
        "suspended"
    };
    let rates = WINDOWS
        .iter()
        .enumerate()
        .map(|(index, (window, _))| rate(window, &summary.window(index)))
        .collect();
    let mut oldest_first = summary.durations.clone();
    oldest_first.reverse();
    JobRow {
        href: job_path(&row.id),
        badge: format!("badges/{}.svg", row.id),
        words: if cron.is_empty() {
            String::new()
        } else {
            words::describe(&cron, zone.name())
        },
        timezone: zone.name().to_string(),
        next_local: next.map(|at| {
            at.with_timezone(&zone)
                .format("%a %Y-%m-%d %H:%M %Z")
                .to_string()
        }),
        next_utc: next.map(|at| at.format("%H:%M UTC").to_string()),
        next_ago: next.map(|at| relative(at, now)),
        next_at: next,
        last_status: summary.last.as_ref().map(|r| r.status.to_string()),
        last_ago: summary.last.as_ref().map(|r| {
            relative(
                r.finished_at.or(r.started_at).unwrap_or(r.scheduled_for),
                now,
            )
        }),
        // Already cut to its first line by the snapshot.
        last_error: summary.last.as_ref().and_then(|r| r.error.clone()),
        rates,
        sparkline: svg::sparkline(&oldest_first),
        file: row.file(),
        commit: short(&row.commit_id).to_string(),
        commit_full: row.commit_id.to_string(),
        invalid: row.invalid_errors.iter().map(ToString::to_string).collect(),
        id: row.id.to_string(),
        name,
        description,
        kind,
        cron,
        state,
    }
}

fn rate(window: &'static str, outcomes: &Outcomes) -> Rate {
    let runs = outcomes.succeeded + outcomes.failed;
    Rate {
        window,
        text: (outcomes.succeeded * 100)
            .checked_div(runs)
            .map_or_else(|| "–".to_string(), |percent| format!("{percent}%")),
        runs,
    }
}

/// A run in a job's history (cut when long) or on its own page (`whole`).
pub fn run_view(run: &RunRow, zone: Tz, whole: bool) -> RunView {
    let local = |at: DateTime<Utc>| {
        at.with_timezone(&zone)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    };
    let (error, error_cut) = clip(run.error.as_deref(), whole);
    let (result, result_cut) = clip(run.result.as_deref(), whole);
    RunView {
        id: run.id,
        status: run.status.to_string(),
        trigger: run.trigger.as_str().to_string(),
        attempt: run.attempt,
        scheduled: local(run.scheduled_for),
        started: run.started_at.map(local),
        duration: run.duration_ms.map(duration_ms),
        commit: run.commit_id.as_deref().map(|c| short(c).to_string()),
        error,
        result,
        truncated: error_cut || result_cut,
        page: run_path(run.id),
        links: run
            .links
            .iter()
            .filter(|l| is_web_link(l))
            .cloned()
            .collect(),
        tokens: match (run.prompt_tokens, run.completion_tokens) {
            (Some(p), Some(c)) => Some(format!("{p} in, {c} out")),
            _ => None,
        },
    }
}

/// Only http(s) URLs become links; anything else (`javascript:`, `data:`) is dropped.
pub fn is_web_link(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The text as a list shows it: at most [`LIST_LINES`] lines and [`LIST_CHARS`] characters.
fn clip(text: Option<&str>, whole: bool) -> (Option<String>, bool) {
    let Some(text) = text else {
        return (None, false);
    };
    if whole {
        return (Some(text.to_string()), false);
    }
    let mut out = String::new();
    for (index, line) in text.lines().enumerate() {
        if index == LIST_LINES || out.chars().count() + line.chars().count() > LIST_CHARS {
            let room = LIST_CHARS.saturating_sub(out.chars().count());
            if index < LIST_LINES {
                out.extend(line.chars().take(room));
            }
            out.push('…');
            return (Some(out), true);
        }
        if index > 0 {
            out.push('\n');
        }
        out.push_str(line);
    }
    (Some(text.to_string()), false)
}

/// A job's page: `runs` newest first; `archive` is `Some(page)` for an archive page.
pub fn job_page(
    summary: &JobSummary,
    definition: &str,
    runs: &[RunRow],
    total_runs: u64,
    archive: Option<u64>,
    now: DateTime<Utc>,
) -> JobPage {
    let job = job_row(summary, now);
    let zone = summary.job.as_ref().map_or(Tz::UTC, |j| j.timezone);
    let path = match archive {
        Some(page) => archive_path(&job.id, page),
        None => job_path(&job.id),
    };
    let pages_total = total_runs.div_ceil(PAGE_SIZE);
    let pages = (1..=pages_total)
        .rev()
        .map(|page| {
            let first = (page - 1) * PAGE_SIZE + 1;
            let last = (page * PAGE_SIZE).min(total_runs);
            PageLink {
                href: archive_path(&job.id, page),
                label: format!("runs {first}–{last}"),
                current: archive == Some(page),
            }
        })
        .collect();
    let bars: Vec<Bar> = runs
        .iter()
        .rev()
        .filter_map(|run| {
            Some(Bar {
                duration_ms: run.duration_ms?,
                status: run.status.to_string(),
                label: format!(
                    "run {}: {} in {}",
                    run.id,
                    run.status,
                    duration_ms(run.duration_ms?)
                ),
            })
        })
        .collect();
    let title = match archive {
        Some(_) => format!("{} — older runs", job.name),
        None => job.name.clone(),
    };
    JobPage {
        layout: Layout::new(title, &path, "jobs", now),
        definition: definition.to_string(),
        runs: runs.iter().map(|r| run_view(r, zone, false)).collect(),
        chart: svg::duration_chart(&bars),
        total_runs,
        pages,
        archive: archive.map(|page| {
            let first = (page - 1) * PAGE_SIZE + 1;
            format!(
                "runs {first}–{} of {total_runs}",
                (page * PAGE_SIZE).min(total_runs)
            )
        }),
        sources: Vec::new(),
        job,
    }
}

/// A run's own page.
pub fn run_page(
    summary: Option<&JobSummary>,
    run: &RunRow,
    briefing: Option<&str>,
    remote: Option<RemoteView>,
    now: DateTime<Utc>,
) -> RunPage {
    let zone = summary
        .and_then(|s| s.job.as_ref())
        .map_or(Tz::UTC, |j| j.timezone);
    let name = summary
        .and_then(|s| s.job.as_ref())
        .map_or_else(|| run.job_id.clone(), |j| j.name.clone());
    RunPage {
        layout: Layout::new(
            format!("{name} — run {}", run.id),
            &run_path(run.id),
            "jobs",
            now,
        ),
        job_id: run.job_id.clone(),
        job_name: name,
        job_href: job_path(&run.job_id),
        run: run_view(run, zone, true),
        briefing: briefing.and_then(|record| super::briefing::view(record, zone)),
        remote,
    }
}

/// The deployments page.
pub fn deployments_page(snapshot: &Snapshot, now: DateTime<Utc>) -> DeploymentsPage {
    DeploymentsPage {
        layout: Layout::new("Deployments", "deployments.html", "deployments", now),
        deployments: snapshot
            .deployments
            .iter()
            .map(|listed| {
                let d = &listed.deployment;
                DeploymentView {
                    commit: commit_view(d, now),
                    outcome: d.outcome.as_str().to_string(),
                    deployed: d.deployed_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                    added: d.added.clone(),
                    changed: d.changed.clone(),
                    removed: d.removed.clone(),
                    counts: [listed.added, listed.changed, listed.removed],
                    unlisted: listed.unlisted(),
                    errors: d.errors.clone(),
                }
            })
            .collect(),
    }
}

/// The Atom feed: failed runs and deployments, newest first.
pub fn feed(snapshot: &Snapshot, failures: &[RunRow], now: DateTime<Utc>) -> Feed {
    let mut entries: Vec<FeedEntry> = failures
        .iter()
        .map(|run| {
            let at = run.finished_at.unwrap_or(run.scheduled_for);
            FeedEntry {
                id: format!("backoffice:run:{}", run.id),
                title: format!("{} {}", run.job_id, run.status),
                updated: at.to_rfc3339(),
                summary: run
                    .error
                    .as_deref()
                    .map(|e| one_line(e, 300))
                    .unwrap_or_default(),
                href: job_path(&run.job_id),
                at,
            }
        })
        .chain(snapshot.deployments.iter().map(deployment_entry))
        .collect();
    entries.sort_by_key(|e| std::cmp::Reverse(e.at));
    entries.truncate(50);
    Feed {
        updated: entries.first().map_or(now, |e| e.at).to_rfc3339(),
        entries,
    }
}

/// The Atom entry of one deployment.
fn deployment_entry(listed: &ListedDeployment) -> FeedEntry {
    let d = &listed.deployment;
    let errors = if d.errors.is_empty() {
        String::new()
    } else {
        format!(", {} error(s)", d.errors.len())
    };
    FeedEntry {
        id: format!("backoffice:deployment:{}", d.id),
        title: format!(
            "deploy {} {}: +{} ~{} −{}{errors}",
            short(&d.commit_id),
            one_line(&d.message, 80),
            listed.added,
            listed.changed,
            listed.removed,
        ),
        updated: d.deployed_at.to_rfc3339(),
        summary: d.errors.join("\n"),
        href: "deployments.html".into(),
        at: d.deployed_at,
    }
}

/// A badge for a job's last outcome.
pub fn badge(summary: &JobSummary) -> String {
    let status = summary
        .last
        .as_ref()
        .map_or("never run".to_string(), |r| r.status.to_string());
    let class = summary.last.as_ref().map_or("", |r| match r.status {
        RunStatus::Succeeded => "succeeded",
        RunStatus::Running => "running",
        RunStatus::Failed | RunStatus::TimedOut | RunStatus::Interrupted => "failed",
        _ => "other",
    });
    svg::badge(&summary.row.id, &status, class)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_in_lists_and_whole_on_its_page() {
        let long: String = (0..50).map(|i| format!("line {i}\n")).collect();
        let (cut, truncated) = clip(Some(&long), false);
        assert!(truncated);
        assert_eq!(cut.as_deref().map(|c| c.lines().count()), Some(20));
        assert!(cut.is_some_and(|c| c.ends_with('…')));
        assert_eq!(clip(Some(&long), true), (Some(long.clone()), false));
        let wide = "가".repeat(2_000);
        let (cut, truncated) = clip(Some(&wide), false);
        assert!(truncated);
        assert_eq!(cut.map(|c| c.chars().count()), Some(LIST_CHARS + 1));
        assert_eq!(clip(Some("short"), false), (Some("short".into()), false));
    }

    #[test]
    fn only_web_links_are_links() {
        assert!(is_web_link("https://www.notion.so/page-1"));
        assert!(is_web_link("HTTP://example.com"));
        assert!(!is_web_link("javascript:alert(1)"));
        assert!(!is_web_link("data:text/html,<script>"));
        assert!(!is_web_link("https://example.com/ onmouseover=alert(1)"));
    }
}
