//! The read-only status site: static files under `state/site/`, regenerated after every run,
//! every deployment and once a minute, and served by [`server`] to the hosts [`hosts`] allows.
//!
//! [`data`] reads the databases, [`views`] turns that into display structs, [`render`] fills
//! the templates, [`write`] puts files in place atomically. [`Site`] keeps the last
//! [`data::Snapshot`] so that a finished run rewrites only the pages it changes: its job's
//! page, the history page holding the run, the run's own page, the dashboard, the jobs table
//! and the machine-readable twins.

pub mod briefing;
pub mod cards;
pub mod data;
pub mod hosts;
pub mod live;
pub mod notices;
pub mod paths;
pub mod registry;
pub mod render;
pub mod server;
pub mod svg;
pub mod views;
pub mod words;
pub mod write;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;

use crate::store::{history, jobs, runs};
use data::{JobSummary, Snapshot};
use render::{RenderError, Renderer};
use views::PAGE_SIZE;
use write::{WriteError, Writer};

/// Why the site could not be (re)generated.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("reading the run history: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("serializing {what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

/// How often the once-a-minute refresh re-reads every job's success rates and durations.
const RELOAD: chrono::Duration = chrono::Duration::minutes(10);

/// What one regeneration did.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    pub written: usize,
    pub took: Duration,
}

/// The site generator of one state folder.
pub struct Site {
    renderer: Renderer,
    writer: Writer,
    snapshot: Snapshot,
    /// When every job's figures were last read.
    loaded_at: Option<DateTime<Utc>>,
    registry_db: PathBuf,
    /// Whether the registry page shows session titles (`--site-registry`).
    registry_titles: bool,
    /// When the registry page was last written, and the registry's files then.
    registry_written: Option<(Instant, RegistryFiles)>,
}

/// Sizes and modification times of `registry.db` and its log: they move when it changes.
type RegistryFiles = [Option<(u64, std::time::SystemTime)>; 2];

/// The registry page is rewritten at most this often ...
const REGISTRY_MIN: Duration = Duration::from_secs(60);
/// ... and at least this often while it is unchanged (its relative times move on).
const REGISTRY_MAX: Duration = Duration::from_secs(600);

impl Site {
    /// A generator writing into `dir`, with the embedded templates or those in `templates`.
    pub fn new(
        dir: &Path,
        templates: Option<&Path>,
        registry_db: &Path,
    ) -> Result<Site, SiteError> {
        Ok(Site {
            renderer: Renderer::new(templates)?,
            writer: Writer::new(dir),
            snapshot: Snapshot::default(),
            loaded_at: None,
            registry_db: registry_db.to_path_buf(),
            registry_titles: true,
            registry_written: None,
        })
    }

    /// Whether the registry page shows session titles and workspaces (by default it does);
    /// without them it shows counts only.
    pub fn show_registry_titles(&mut self, titles: bool) {
        self.registry_titles = titles;
    }

    pub fn dir(&self) -> &Path {
        self.writer.root()
    }

    /// Writes every page from the databases: on start, and for `backoffice site`.
    pub fn generate_all(
        &mut self,
        conn: &Connection,
        now: DateTime<Utc>,
    ) -> Result<Report, SiteError> {
        let started = self.start();
        self.load(conn, now)?;
        self.writer
            .write("style.css", self.renderer.style().as_bytes())?;
        let ids: Vec<Arc<str>> = self.snapshot.jobs.keys().cloned().collect();
        for id in &ids {
            self.write_job(conn, id, &[], true, now)?;
        }
        self.write_overview(conn, now, None)?;
        self.write_deployments(now)?;
        Ok(self.finish(started))
    }

    /// After runs of these jobs started or ended: `(job, run id)` each.
    pub fn runs_changed(
        &mut self,
        conn: &Connection,
        changed: &[(String, i64)],
        now: DateTime<Utc>,
    ) -> Result<Report, SiteError> {
        let started = self.start();
        let mut by_job: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for (job, run) in changed {
            by_job.entry(job.as_str()).or_default().push(*run);
        }
        self.snapshot.refresh_last_day(conn, now)?;
        let mut touched = BTreeSet::new();
        for (job, runs) in by_job {
            if self.snapshot.refresh_job(conn, job, now)? {
                self.write_job(conn, job, &runs, false, now)?;
                touched.insert(job.to_string());
            }
        }
        // A Knowledge Cards run changed the cards: their page is due now, not in a minute.
        let cards_ran = touched.iter().any(|id| {
            self.snapshot
                .jobs
                .get(id.as_str())
                .and_then(|summary| summary.job.as_ref())
                .is_some_and(|job| job.kind == "ambient/knowledge-cards")
        });
        if cards_ran {
            self.registry_written = None;
        }
        self.write_overview(conn, now, Some(&touched))?;
        Ok(self.finish(started))
    }

    /// After a deployment: everything but the histories of unchanged jobs.
    pub fn deployed(&mut self, conn: &Connection, now: DateTime<Utc>) -> Result<Report, SiteError> {
        let started = self.start();
        let previous = std::mem::take(&mut self.snapshot.jobs);
        self.load(conn, now)?;
        let ids: Vec<Arc<str>> = self
            .snapshot
            .jobs
            .iter()
            .filter(|(id, now_deployed)| {
                previous.get(*id).is_none_or(|before| {
                    before.row.definition != now_deployed.row.definition
                        || before.row.commit_id != now_deployed.row.commit_id
                        || before.row.invalid_errors.len() != now_deployed.row.invalid_errors.len()
                })
            })
            .map(|(id, _)| Arc::clone(id))
            .collect();
        for id in &ids {
            self.write_job(conn, id, &[], false, now)?;
        }
        self.write_overview(conn, now, None)?;
        self.write_deployments(now)?;
        Ok(self.finish(started))
    }

    /// Once a minute: relative times and next runs move on, and "generated at" shows the
    /// daemon lives. Every [`RELOAD`] the per-job figures are re-read too, as their windows
    /// slide (with a million runs that read takes a second or two, too much for every minute).
    pub fn tick(&mut self, conn: &Connection, now: DateTime<Utc>) -> Result<Report, SiteError> {
        let started = self.start();
        if self.loaded_at.is_none_or(|at| now - at >= RELOAD) {
            self.load(conn, now)?;
        } else {
            self.snapshot.refresh_sync(conn, now)?;
        }
        self.write_overview(conn, now, None)?;
        Ok(self.finish(started))
    }

    fn load(&mut self, conn: &Connection, now: DateTime<Utc>) -> Result<(), SiteError> {
        self.snapshot = Snapshot::load(conn, now)?;
        self.loaded_at = Some(now);
        Ok(())
    }

    fn start(&mut self) -> Instant {
        self.writer.changed = 0;
        Instant::now()
    }

    fn finish(&self, started: Instant) -> Report {
        Report {
            written: self.writer.changed,
            took: started.elapsed(),
        }
    }

    /// Dashboard, jobs table, `status.json` and the feed. With `only`, just the table pages
    /// holding those jobs are rewritten; otherwise every page is, which the once-a-minute
    /// refresh does to bring relative times up to date. The rows are computed for the
    /// occasion and dropped after: kept, they were a kilobyte a job for the daemon's life.
    fn write_overview(
        &mut self,
        conn: &Connection,
        now: DateTime<Utc>,
        only: Option<&BTreeSet<String>>,
    ) -> Result<(), SiteError> {
        let rows: Vec<views::JobRow> = self
            .snapshot
            .jobs
            .values()
            .map(|summary| views::job_row(summary, now))
            .collect();
        let registry = self.registry(now);
        let mut out = Output {
            renderer: &self.renderer,
            writer: &mut self.writer,
        };
        let rows: Vec<&views::JobRow> = rows.iter().collect();
        let mut dashboard = views::dashboard(&self.snapshot, &rows, registry, now);
        dashboard.notifications = notices::failing(conn, now)?;
        out.page("index.html", "dashboard", &dashboard)?;
        out.json(
            "status.json",
            &StatusJson {
                dashboard: &dashboard,
                jobs: rows.iter().map(|row| views::JobBrief::from(*row)).collect(),
            },
        )?;
        let touched: Option<BTreeSet<usize>> = only.map(|ids| {
            rows.iter()
                .enumerate()
                .filter(|(_, row)| ids.contains(&row.id))
                .map(|(index, _)| index / views::JOBS_PER_PAGE)
                .collect()
        });
        for (index, (path, page)) in views::jobs_pages(&rows, now).into_iter().enumerate() {
            if touched.as_ref().is_none_or(|pages| pages.contains(&index)) {
                out.page(&path, "jobs", &page)?;
            }
        }
        let failures = history::recent_failures(conn, 50)?;
        let feed = views::feed(&self.snapshot, &failures, now);
        out.page("feed.xml", "feed", &feed)?;
        self.write_registry(now)
    }

    /// The registry's pages, when the registry changed since they were written (at most
    /// once a minute: clients log all day) or ten minutes went by.
    fn write_registry(&mut self, now: DateTime<Utc>) -> Result<(), SiteError> {
        if !self.registry_db.exists() {
            return Ok(());
        }
        let files = registry_files(&self.registry_db);
        let due = self.registry_written.as_ref().is_none_or(|(at, before)| {
            let age = at.elapsed();
            age >= REGISTRY_MAX || (age >= REGISTRY_MIN && *before != files)
        });
        if !due {
            return Ok(());
        }
        let read = crate::registry::stats::read_stats(&self.registry_db).and_then(|stats| {
            let activity =
                crate::registry::activity::read_activity(&self.registry_db, now, registry::LISTED)?;
            Ok((stats, activity))
        });
        let (stats, activity) = match read {
            Ok(read) => read,
            Err(error) => {
                tracing::warn!("status site: cannot read the Context Registry: {error}");
                return Ok(());
            }
        };
        let cards_page =
            cards::page(&self.registry_db, self.registry_titles, now).unwrap_or_else(|error| {
                tracing::warn!("status site: cannot read the Knowledge Cards: {error}");
                None
            });
        let (mut pages, json) = registry::pages(&stats, &activity, self.registry_titles, now);
        for (path, page) in &mut pages {
            page.cards = cards_page.is_some();
            self.page(path, "registry", page)?;
        }
        self.json("registry.json", &json)?;
        if let Some(page) = &cards_page {
            self.page("cards.html", "cards", page)?;
        }
        // The files as they were before reading: a write that landed during the read shows as
        // a change next time.
        self.registry_written = Some((Instant::now(), files));
        Ok(())
    }

    fn write_deployments(&mut self, now: DateTime<Utc>) -> Result<(), SiteError> {
        let page = views::deployments_page(&self.snapshot, now);
        self.page("deployments.html", "deployments", &page)
    }

    /// A job's page, JSON twin and badge; the history pages holding `runs` (or, with
    /// `all_history`, every history page) and the pages of runs cut short in the lists.
    fn write_job(
        &mut self,
        conn: &Connection,
        id: &str,
        run_ids: &[i64],
        all_history: bool,
        now: DateTime<Utc>,
    ) -> Result<(), SiteError> {
        let Some(summary) = self.snapshot.jobs.get(id).cloned() else {
            return Ok(());
        };
        let definition = jobs::source(conn, id)?.unwrap_or_default();
        let total = history::job_run_count(conn, id, None)?;
        let newest = history::recent(conn, Some(id), PAGE_SIZE as usize)?;
        let mut page = views::job_page(&summary, &definition, &newest, total, None, now);
        if let Some(record) = crate::store::briefings::latest_record(conn, id)?
            && let Ok(briefing) = serde_json::from_str(&record)
        {
            page.sources = crate::briefing::render::source_lines(&briefing);
        }
        self.write_run_pages(conn, &summary, &newest, &mut page.runs, now)?;
        self.page(&views::job_path(id), "job", &page)?;
        self.json(
            &format!("jobs/{id}.json"),
            &JobJson {
                job: &page.job,
                definition: &page.definition,
                total_runs: total,
                runs: &page.runs,
            },
        )?;
        self.writer.write(
            &format!("badges/{id}.svg"),
            views::badge(&summary).as_bytes(),
        )?;
        let mut archive_pages = BTreeSet::new();
        if all_history {
            archive_pages.extend(1..=total.div_ceil(PAGE_SIZE));
        }
        for run in run_ids {
            let position = history::job_run_count(conn, id, Some(*run))?;
            archive_pages.insert(position.div_ceil(PAGE_SIZE).max(1));
        }
        for number in archive_pages {
            let rows =
                history::job_runs_oldest_first(conn, id, (number - 1) * PAGE_SIZE, PAGE_SIZE)?;
            let mut newest_first = rows;
            newest_first.reverse();
            let mut page = views::job_page(
                &summary,
                &definition,
                &newest_first,
                total,
                Some(number),
                now,
            );
            if all_history {
                self.write_run_pages(conn, &summary, &newest_first, &mut page.runs, now)?;
            }
            self.page(&views::archive_path(id, number), "job", &page)?;
        }
        Ok(())
    }

    /// Own pages of the runs whose error or result the list cut, of every failed run (a
    /// notification links there), of every briefing run (its page shows the briefing itself)
    /// and of every LangGraph run (its page names the thread).
    fn write_run_pages(
        &mut self,
        conn: &Connection,
        summary: &JobSummary,
        rows: &[runs::RunRow],
        shown: &mut [views::RunView],
        now: DateTime<Utc>,
    ) -> Result<(), SiteError> {
        let kind = summary.job.as_ref().map(|job| job.kind);
        for (row, view) in rows.iter().zip(shown.iter_mut()) {
            // Only the jobs that keep such records are asked: this runs for every run listed.
            let briefing = match kind {
                Some("agent/briefing") => crate::store::briefings::record(conn, row.id)?,
                _ => None,
            };
            let remote = match kind {
                Some("agent/langgraph") => crate::store::langgraph::remote_of(conn, row.id)?.map(
                    |(server, thread, run)| views::RemoteView {
                        server: crate::connectors::redact_url(&server),
                        thread,
                        run,
                    },
                ),
                _ => None,
            };
            // A failed run has its own page: notifications link to it.
            let failed = matches!(
                row.status,
                runs::RunStatus::Failed | runs::RunStatus::TimedOut
            );
            if view.truncated || failed || briefing.is_some() || remote.is_some() {
                let page = views::run_page(Some(summary), row, briefing.as_deref(), remote, now);
                self.page(&views::run_path(row.id), "run", &page)?;
                view.truncated = true;
            }
        }
        Ok(())
    }

    /// The Context Registry's figures, when its database exists. A registry that cannot be
    /// read (a newer schema, a damaged file) is logged and left off the page: the jobs'
    /// status matters more than the tile.
    fn registry(&self, now: DateTime<Utc>) -> Option<views::RegistryView> {
        if !self.registry_db.exists() {
            return None;
        }
        match crate::registry::stats::read_stats(&self.registry_db) {
            Ok(stats) => Some(views::registry_view(&stats, now)),
            Err(error) => {
                tracing::warn!("status site: cannot read the Context Registry: {error}");
                None
            }
        }
    }

    fn page(&mut self, path: &str, template: &str, data: &impl Serialize) -> Result<(), SiteError> {
        self.output().page(path, template, data)
    }

    fn json(&mut self, path: &str, data: &impl Serialize) -> Result<(), SiteError> {
        self.output().json(path, data)
    }

    fn output(&mut self) -> Output<'_> {
        Output {
            renderer: &self.renderer,
            writer: &mut self.writer,
        }
    }
}

fn registry_files(db: &Path) -> RegistryFiles {
    let of = |path: &Path| {
        std::fs::metadata(path)
            .ok()
            .and_then(|m| Some((m.len(), m.modified().ok()?)))
    };
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    [of(db), of(Path::new(&wal))]
}

/// Renders and writes files; borrows only the renderer and the writer, so the rest of the
/// site's state can be read while writing.
struct Output<'a> {
    renderer: &'a Renderer,
    writer: &'a mut Writer,
}

impl Output<'_> {
    fn page(&mut self, path: &str, template: &str, data: &impl Serialize) -> Result<(), SiteError> {
        let html = self.renderer.render(template, data)?;
        self.writer.write(path, html.as_bytes())?;
        Ok(())
    }

    fn json(&mut self, path: &str, data: &impl Serialize) -> Result<(), SiteError> {
        let text = serde_json::to_string_pretty(data).map_err(|source| SiteError::Json {
            what: path.to_string(),
            source,
        })?;
        self.writer.write(path, text.as_bytes())?;
        Ok(())
    }
}

/// `status.json`: the dashboard's data and every job's row.
#[derive(Serialize)]
struct StatusJson<'a> {
    #[serde(flatten)]
    dashboard: &'a views::Dashboard,
    jobs: Vec<views::JobBrief>,
}

/// `jobs/<id>.json`.
#[derive(Serialize)]
struct JobJson<'a> {
    job: &'a views::JobRow,
    definition: &'a str,
    total_runs: u64,
    runs: &'a [views::RunView],
}
