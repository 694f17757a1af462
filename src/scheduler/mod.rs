//! The scheduler: one task holding every deployed job's next firing in an earliest-first
//! queue. It sleeps until the earliest one (at most [`MAX_WAIT`], so a wall-clock jump or a
//! suspended laptop is noticed within a minute), or until a deploy or a "run now" arrives. It
//! never polls.
//!
//! Each job carries a cursor, the last occurrence handled, persisted right after each claim
//! (a cursor left behind by a crash only makes occurrences be looked at again; their run
//! rows' uniqueness keeps each from running twice). On each wake the occurrences between
//! cursor and now are due; those older than [`ON_TIME`] came due while we were not running
//! (or asleep) and go through the job's `catchup` rule.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot, watch};

use crate::job::{Catchup, Job, JobId};
use crate::runner::{Admission, Occurrence, Runner};
use crate::store::StoreError;
use crate::store::claims::Definition;
use crate::store::runs::{NewRun, RunStatus, Trigger};

mod clock;

pub use clock::Clock;

/// Longest sleep: how soon a wall-clock jump is noticed.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// An occurrence this late is still "on time" (the scheduler was busy, not down).
const ON_TIME: chrono::Duration = chrono::Duration::seconds(60);
/// At most this many occurrences of one job are looked at per wake (a per-second job after a
/// week offline would otherwise be 600,000).
const MAX_ENUMERATED: usize = 10_000;
/// At most this many `missed` rows are written per job per wake; the oldest says how many more.
const MAX_MISSED_ROWS: usize = 100;
/// With `catchup = "all"`, at most this many late occurrences run; older ones are missed.
pub const MAX_CATCHUP_RUNS: usize = 24;

/// A deployed job as the scheduler needs it.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub job: Arc<Job>,
    pub commit: Arc<str>,
    /// The commit and definition by number, as run rows name them (`runs.db`'s `definitions`).
    pub definition: Option<Definition>,
    /// Last occurrence handled; `None` for a job never scheduled.
    pub cursor: Option<DateTime<Utc>>,
}

/// Requests to the scheduler task.
#[derive(Debug)]
pub enum Command {
    /// Replace the deployed set.
    Deploy(Vec<Deployed>),
    /// Run a job now; `force` ignores `overlap`.
    RunNow {
        job: String,
        force: bool,
        reply: oneshot::Sender<Result<Admission, String>>,
    },
}

/// Where due occurrences go: the [`Runner`] in production, a recorder in tests.
pub trait Dispatch: Send + Sync + 'static {
    /// See [`Runner::submit`].
    fn submit(
        &self,
        batch: Vec<Occurrence>,
        records: Vec<NewRun>,
        cursors: Vec<(JobId, DateTime<Utc>)>,
        force: bool,
    ) -> impl Future<Output = Result<Vec<Admission>, StoreError>> + Send;

    /// `count` occurrences of `job` were missed, the latest due at `latest` (they are in
    /// the `records` of a submit too): for notifications. Nothing by default.
    fn missed(&self, job: &Arc<Job>, count: usize, latest: DateTime<Utc>) {
        let _ = (job, count, latest);
    }
}

impl Dispatch for Runner {
    fn missed(&self, job: &Arc<Job>, count: usize, latest: DateTime<Utc>) {
        Runner::missed(self, job, count, latest);
    }

    fn submit(
        &self,
        batch: Vec<Occurrence>,
        records: Vec<NewRun>,
        cursors: Vec<(JobId, DateTime<Utc>)>,
        force: bool,
    ) -> impl Future<Output = Result<Vec<Admission>, StoreError>> + Send {
        Runner::submit(self, batch, records, cursors, force)
    }
}

struct Entry {
    job: Arc<Job>,
    commit: Arc<str>,
    definition: Option<Definition>,
    cursor: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
    /// The firing after `next`, computed ahead so that the common case at a firing (one
    /// occurrence due, on time) costs no cron arithmetic before the hand-over.
    following: Option<DateTime<Utc>>,
}

impl Entry {
    fn new(deployed: Deployed, cursor: DateTime<Utc>) -> Entry {
        let Deployed {
            job,
            commit,
            definition,
            ..
        } = deployed;
        let next = next_firing(&job, cursor);
        let following = next.and_then(|at| next_firing(&job, at));
        Entry {
            job,
            commit,
            definition,
            cursor,
            next,
            following,
        }
    }

    /// Moves on to `following` after `next` was handed over on time.
    fn advance(&mut self) {
        self.next = self.following;
        self.following = self.next.and_then(|at| next_firing(&self.job, at));
    }
}

/// The scheduling loop's state.
pub struct Scheduler<D: Dispatch = Runner> {
    runner: D,
    clock: Clock,
    entries: HashMap<JobId, Entry>,
    queue: BTreeSet<(DateTime<Utc>, JobId)>,
    /// The hand-over for the earliest firing, built while waiting for it; dropped whenever the
    /// queue changes.
    prepared: Option<Prepared>,
}

/// Every occurrence due at one instant, ready to hand over the moment it arrives.
struct Prepared {
    at: DateTime<Utc>,
    batch: Vec<Occurrence>,
    cursors: Vec<(JobId, DateTime<Utc>)>,
    /// The earliest second firing among these jobs: woken at or after it, some job has two
    /// occurrences due and the general path must decide.
    valid_until: DateTime<Utc>,
}

/// What to do with the occurrences of one job that are due.
#[derive(Debug, Default, PartialEq)]
pub struct DuePlan {
    pub run: Vec<(DateTime<Utc>, Trigger)>,
    pub missed: Vec<DateTime<Utc>>,
    /// Occurrences beyond the enumeration cap, missed without a row each.
    pub uncounted: bool,
}

impl<D: Dispatch> Scheduler<D> {
    pub fn new(runner: D, clock: Clock) -> Scheduler<D> {
        Scheduler {
            runner,
            clock,
            entries: HashMap::new(),
            queue: BTreeSet::new(),
            prepared: None,
        }
    }

    /// Runs until `shutdown` turns true or the command channel closes.
    pub async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            let now = self.clock.now();
            let earliest = self.queue.first().map(|(at, _)| *at);
            if earliest.is_some_and(|at| at <= now) {
                self.fire(now).await;
                continue;
            }
            if let Some(at) = earliest
                && self.prepared.as_ref().is_none_or(|p| p.at != at)
            {
                self.prepare(at);
            }
            let now = self.clock.now();
            let wait = earliest
                .and_then(|at| (at - now).to_std().ok())
                .unwrap_or(MAX_WAIT)
                .min(MAX_WAIT);
            // tokio's timer wakes in whole milliseconds, late; it takes us to just short of
            // the instant, and the clock's own precise wait does the rest.
            let (coarse, precise) = match earliest {
                Some(at) if wait < MAX_WAIT => self.clock.split_wait(wait, at),
                _ => (wait, None),
            };
            tokio::select! {
                biased;
                _ = shutdown.changed() => {}
                command = commands.recv() => match command {
                    Some(command) => self.handle(command).await,
                    None => break,
                },
                () = tokio::time::sleep(coarse) => {
                    if let Some(at) = precise {
                        self.clock.wait_until(at);
                    }
                }
            }
        }
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Deploy(set) => {
                let now = self.clock.now();
                self.deploy(set, now);
            }
            Command::RunNow { job, force, reply } => {
                let result = self.run_now(&job, force).await;
                let _ = reply.send(result);
            }
        }
    }

    /// Replaces the deployed set. Unchanged jobs keep their place; changed ones are
    /// rescheduled from now; removed ones leave the queue (a run in progress finishes).
    pub fn deploy(&mut self, set: Vec<Deployed>, now: DateTime<Utc>) {
        self.prepared = None;
        let mut entries = HashMap::with_capacity(set.len());
        for deployed in set {
            let id = deployed.job.id.clone();
            let previous = self.entries.remove(&id);
            let entry = match previous {
                Some(mut entry)
                    if entry.job.definition_hash() == deployed.job.definition_hash() =>
                {
                    entry.commit = deployed.commit;
                    entry.definition = deployed.definition;
                    entry
                }
                Some(entry) => {
                    self.unqueue(&entry);
                    Entry::new(deployed, entry.cursor.max(now))
                }
                None => {
                    let cursor = deployed.cursor.unwrap_or(now);
                    Entry::new(deployed, cursor)
                }
            };
            if let Some(at) = entry.next {
                self.queue.insert((at, id.clone()));
            }
            entries.insert(id, entry);
        }
        for (_, gone) in self.entries.drain() {
            self.queue
                .remove(&(gone.next.unwrap_or_default(), gone.job.id.clone()));
        }
        self.entries = entries;
        tracing::debug!(
            jobs = self.entries.len(),
            queued = self.queue.len(),
            "schedule updated"
        );
    }

    fn unqueue(&mut self, entry: &Entry) {
        if let Some(at) = entry.next {
            self.queue.remove(&(at, entry.job.id.clone()));
        }
    }

    /// The next firing of each scheduled job.
    pub fn upcoming(&self) -> Vec<(DateTime<Utc>, JobId)> {
        self.queue.iter().cloned().collect()
    }

    /// Builds the hand-over for the jobs firing at `at`, the earliest instant in the queue.
    fn prepare(&mut self, at: DateTime<Utc>) {
        let mut prepared = Prepared {
            at,
            batch: Vec::new(),
            cursors: Vec::new(),
            valid_until: DateTime::<Utc>::MAX_UTC,
        };
        for (_, id) in self.queue.iter().take_while(|(when, _)| *when == at) {
            let Some(entry) = self.entries.get(id) else {
                continue;
            };
            prepared.batch.push(Occurrence {
                job: Arc::clone(&entry.job),
                commit: Arc::clone(&entry.commit),
                definition: entry.definition,
                scheduled_for: at,
                trigger: Trigger::Schedule,
            });
            prepared.cursors.push((id.clone(), at));
            if let Some(following) = entry.following {
                prepared.valid_until = prepared.valid_until.min(following);
            }
        }
        self.prepared = Some(prepared);
    }

    /// Handles every job whose next firing is at or before `now`.
    ///
    /// The common case, every job at the earliest instant due once and on time, hands over
    /// the batch [`Self::prepare`] built while waiting, and does the queue upkeep afterwards:
    /// with 10,000 jobs firing in the same second, the last one would otherwise wait for the
    /// cron arithmetic and queue updates of all the others.
    pub async fn fire(&mut self, now: DateTime<Utc>) {
        if let Some(prepared) = self.prepared.take() {
            let earliest = self.queue.first().map(|(at, _)| *at);
            if earliest == Some(prepared.at)
                && now < prepared.valid_until
                && now - prepared.at <= ON_TIME
            {
                let at = prepared.at;
                let ids: Vec<JobId> = prepared.cursors.iter().map(|(id, _)| id.clone()).collect();
                self.submit(prepared.batch, Vec::new(), prepared.cursors)
                    .await;
                for id in ids {
                    self.queue.remove(&(at, id.clone()));
                    if let Some(entry) = self.entries.get_mut(&id) {
                        entry.cursor = at;
                        entry.advance();
                        if let Some(next) = entry.next {
                            self.queue.insert((next, id));
                        }
                    }
                }
                return;
            }
        }
        let mut batch = Vec::new();
        let mut records = Vec::new();
        let mut cursors = Vec::new();
        while let Some((at, id)) = self.queue.pop_first() {
            if at > now {
                self.queue.insert((at, id));
                break;
            }
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            let (plan, cursor, next) = due(&entry.job, entry.cursor, now);
            for (scheduled_for, trigger) in &plan.run {
                batch.push(Occurrence {
                    job: Arc::clone(&entry.job),
                    commit: Arc::clone(&entry.commit),
                    definition: entry.definition,
                    scheduled_for: *scheduled_for,
                    trigger: *trigger,
                });
            }
            records.extend(missed_rows(&entry.job, entry.definition, &plan));
            if let Some(latest) = plan.missed.last() {
                self.runner.missed(&entry.job, plan.missed.len(), *latest);
            }
            entry.cursor = cursor;
            entry.next = next;
            entry.following = next.and_then(|at| next_firing(&entry.job, at));
            cursors.push((id.clone(), cursor));
            if let Some(next) = next {
                self.queue.insert((next, id));
            }
        }
        self.submit(batch, records, cursors).await;
    }

    async fn submit(
        &self,
        batch: Vec<Occurrence>,
        records: Vec<NewRun>,
        cursors: Vec<(JobId, DateTime<Utc>)>,
    ) {
        if let Err(error) = self.runner.submit(batch, records, cursors, false).await {
            tracing::error!("cannot record due runs: {error}");
        }
    }

    async fn run_now(&mut self, job: &str, force: bool) -> Result<Admission, String> {
        let Some(entry) = self.entries.values().find(|e| e.job.id.as_str() == job) else {
            let mut known: Vec<&str> = self.entries.keys().map(JobId::as_str).collect();
            known.sort_unstable();
            return Err(format!(
                "no deployed job `{job}`; deployed: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        };
        let occurrence = Occurrence {
            job: Arc::clone(&entry.job),
            commit: Arc::clone(&entry.commit),
            definition: entry.definition,
            scheduled_for: self.clock.now(),
            trigger: Trigger::Manual,
        };
        let admissions = self
            .runner
            .submit(vec![occurrence], vec![], vec![], force)
            .await
            .map_err(|e| e.to_string())?;
        admissions
            .first()
            .copied()
            .ok_or_else(|| "the run was not admitted".to_string())
    }
}

/// The first firing after `cursor` of an enabled job.
fn next_firing(job: &Job, cursor: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if job.enabled {
        job.schedule.next_after(cursor)
    } else {
        None
    }
}

/// Splits the occurrences in `(cursor, now]` into runs and misses under the job's catchup
/// rule; returns the plan, the new cursor and the next firing. Pure, for table tests.
pub fn due(
    job: &Job,
    cursor: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (DuePlan, DateTime<Utc>, Option<DateTime<Utc>>) {
    let mut occurrences = Vec::new();
    let mut next = job.schedule.next_after(cursor);
    let mut plan = DuePlan::default();
    while let Some(at) = next.filter(|at| *at <= now) {
        if occurrences.len() == MAX_ENUMERATED {
            plan.uncounted = true;
            next = job.schedule.next_after(now);
            break;
        }
        occurrences.push(at);
        next = job.schedule.next_after(at);
    }
    let new_cursor = if plan.uncounted {
        now
    } else {
        occurrences.last().copied().unwrap_or(cursor)
    };
    let (on_time, late): (Vec<_>, Vec<_>) =
        occurrences.into_iter().partition(|at| now - *at <= ON_TIME);
    let window = chrono::Duration::from_std(job.catchup_window).unwrap_or_default();
    let (catchable, too_old): (Vec<_>, Vec<_>) =
        late.into_iter().partition(|at| now - *at <= window);
    plan.missed.extend(too_old);
    match job.catchup {
        Catchup::Skip => plan.missed.extend(catchable),
        Catchup::Latest => {
            let mut catchable = catchable;
            // An on-time occurrence supersedes any late one.
            let latest = if on_time.is_empty() {
                catchable.pop()
            } else {
                None
            };
            plan.missed.extend(catchable);
            plan.run.extend(latest.map(|at| (at, Trigger::Catchup)));
        }
        Catchup::All => {
            let keep_from = catchable.len().saturating_sub(MAX_CATCHUP_RUNS);
            plan.missed.extend(&catchable[..keep_from]);
            plan.run.extend(
                catchable[keep_from..]
                    .iter()
                    .map(|at| (*at, Trigger::Catchup)),
            );
        }
    }
    plan.run
        .extend(on_time.into_iter().map(|at| (at, Trigger::Schedule)));
    plan.missed.sort();
    (plan, new_cursor, next)
}

fn missed_rows(job: &Job, definition: Option<Definition>, plan: &DuePlan) -> Vec<NewRun> {
    let total = plan.missed.len();
    let skip = total.saturating_sub(MAX_MISSED_ROWS);
    let policy = match job.catchup {
        Catchup::Skip => "catchup = \"skip\"",
        Catchup::Latest => "catchup = \"latest\" runs only the most recent",
        Catchup::All => "catchup = \"all\" runs at most the last 24",
    };
    plan.missed[skip..]
        .iter()
        .enumerate()
        .map(|(index, at)| {
            let mut error = format!(
                "missed: backoffice was not running when this came due ({policy}, catchup_window = \"{}\")",
                crate::duration::format(job.catchup_window)
            );
            if index == 0 && (skip > 0 || plan.uncounted) {
                error.push_str(&format!(
                    "; {} earlier occurrence(s) were missed as well{}",
                    skip,
                    if plan.uncounted { ", and more not counted" } else { "" }
                ));
            }
            NewRun {
                job_id: job.id.shared(),
                trigger: Trigger::Schedule,
                scheduled_for: *at,
                attempt: 1,
                status: RunStatus::Missed,
                started_at: None,
                error: Some(error),
                definition,
                owner: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{SourceContent, SourceFile, load_file};

    fn job(schedule: &str, extra: &str) -> Arc<Job> {
        let text = format!(
            "name = \"t\"\nkind = \"agent\"\nschedule = \"{schedule}\"\n{extra}\n[agent]\nprompt = \"hi\"\n"
        );
        load_file(&SourceFile {
            path: "jobs/t.toml".into(),
            id: "t".into(),
            content: SourceContent::Text(text),
        })
        .expect("valid job")
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("instant")
            .to_utc()
    }

    #[test]
    fn an_on_time_occurrence_runs_on_schedule() {
        let job = job("0 * * * *", "");
        let (plan, cursor, next) = due(
            &job,
            at("2026-11-25T09:00:00Z"),
            at("2026-11-25T10:00:00.002Z"),
        );
        assert_eq!(
            plan.run,
            vec![(at("2026-11-25T10:00:00Z"), Trigger::Schedule)]
        );
        assert!(plan.missed.is_empty());
        assert_eq!(cursor, at("2026-11-25T10:00:00Z"));
        assert_eq!(next, Some(at("2026-11-25T11:00:00Z")));
    }

    #[test]
    fn latest_runs_the_most_recent_late_one_within_the_window() {
        let job = job("0 * * * *", "catchup_window = \"3h\"");
        // Down from 04:30 to 09:30: 05..09 came due; 05 and 06 are outside the 3 h window.
        let (plan, _, _) = due(&job, at("2026-11-25T04:30:00Z"), at("2026-11-25T09:30:00Z"));
        assert_eq!(
            plan.run,
            vec![(at("2026-11-25T09:00:00Z"), Trigger::Catchup)]
        );
        assert_eq!(plan.missed.len(), 4);
    }

    #[test]
    fn skip_runs_nothing_late_and_all_runs_each_within_the_window() {
        let skip = job("0 * * * *", "catchup = \"skip\"");
        let (plan, _, _) = due(
            &skip,
            at("2026-11-25T04:30:00Z"),
            at("2026-11-25T09:30:00Z"),
        );
        assert!(plan.run.is_empty());
        assert_eq!(plan.missed.len(), 5);

        let all = job("0 * * * *", "catchup = \"all\"\ncatchup_window = \"3h\"");
        let (plan, _, _) = due(&all, at("2026-11-25T04:30:00Z"), at("2026-11-25T09:30:00Z"));
        let runs: Vec<_> = plan.run.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            runs,
            vec![
                at("2026-11-25T07:00:00Z"),
                at("2026-11-25T08:00:00Z"),
                at("2026-11-25T09:00:00Z")
            ]
        );
        assert_eq!(
            plan.missed,
            vec![at("2026-11-25T05:00:00Z"), at("2026-11-25T06:00:00Z")]
        );
    }

    #[test]
    fn all_is_capped() {
        let all = job("* * * * *", "catchup = \"all\"\ncatchup_window = \"1d\"");
        let (plan, _, _) = due(&all, at("2026-11-25T00:00:00Z"), at("2026-11-25T02:00:30Z"));
        let catchup = plan
            .run
            .iter()
            .filter(|(_, t)| *t == Trigger::Catchup)
            .count();
        assert_eq!(catchup, MAX_CATCHUP_RUNS);
        assert_eq!(
            plan.run.len(),
            MAX_CATCHUP_RUNS + 1,
            "plus the on-time 02:00"
        );
        assert_eq!(plan.run.len() + plan.missed.len(), 120);
    }

    #[test]
    fn a_long_outage_is_bounded() {
        let job = job("* * * * * *", "catchup = \"skip\"");
        let (plan, cursor, next) =
            due(&job, at("2026-11-20T00:00:00Z"), at("2026-11-25T00:00:00Z"));
        assert!(plan.uncounted);
        assert_eq!(cursor, at("2026-11-25T00:00:00Z"));
        assert_eq!(next, Some(at("2026-11-25T00:00:01Z")));
        let definition = Some(Definition::numbered(7));
        let rows = missed_rows(&job, definition, &plan);
        assert_eq!(rows.len(), MAX_MISSED_ROWS);
        assert!(rows.iter().all(|row| row.definition == definition));
        assert!(
            rows[0]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("more not counted"))
        );
    }

    /// When it was dispatched, job id, scheduled instant, trigger.
    type Fired = (DateTime<Utc>, String, DateTime<Utc>, Trigger);

    /// Records what the scheduler dispatches, and when (by the scheduler's clock).
    #[derive(Clone, Default)]
    struct Recorder {
        fired: Arc<std::sync::Mutex<Vec<Fired>>>,
        clock: Arc<std::sync::Mutex<Option<Clock>>>,
    }

    impl Dispatch for Recorder {
        fn submit(
            &self,
            batch: Vec<Occurrence>,
            _records: Vec<NewRun>,
            _cursors: Vec<(JobId, DateTime<Utc>)>,
            _force: bool,
        ) -> impl Future<Output = Result<Vec<Admission>, StoreError>> + Send {
            let now = self
                .clock
                .lock()
                .expect("clock")
                .as_ref()
                .map(Clock::now)
                .unwrap_or_default();
            let mut fired = self.fired.lock().expect("fired");
            for occurrence in &batch {
                fired.push((
                    now,
                    occurrence.job.id.to_string(),
                    occurrence.scheduled_for,
                    occurrence.trigger,
                ));
            }
            std::future::ready(Ok(batch.iter().map(|_| Admission::Started(1)).collect()))
        }
    }

    fn named(id: &str, schedule: &str, zone: &str) -> Arc<Job> {
        let text = format!(
            "name = \"{id}\"\nkind = \"agent\"\nschedule = \"{schedule}\"\ntimezone = \"{zone}\"\n[agent]\nprompt = \"hi\"\n"
        );
        load_file(&SourceFile {
            path: format!("jobs/{id}.toml"),
            id: id.into(),
            content: SourceContent::Text(text),
        })
        .expect("valid job")
    }

    #[tokio::test(start_paused = true)]
    async fn fires_each_occurrence_on_time_by_the_paused_clock() {
        let clock = Clock::from_tokio(at("2026-11-25T21:59:00Z"));
        let recorder = Recorder::default();
        *recorder.clock.lock().expect("clock") = Some(clock.clone());
        let mut scheduler = Scheduler::new(recorder.clone(), clock.clone());
        let deployed = |job: Arc<Job>| Deployed {
            job,
            commit: "c1".into(),
            definition: None,
            cursor: None,
        };
        scheduler.deploy(
            vec![
                deployed(named("briefing", "0 7 * * *", "Asia/Seoul")),
                deployed(named("ticker", "*/20 * * * * *", "UTC")),
            ],
            clock.now(),
        );
        let (commands, queue) = mpsc::channel(8);
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(scheduler.run(queue, stopped));

        tokio::time::sleep(Duration::from_secs(90)).await;
        // Replace the ticker with a slower one mid-way; the briefing stays as it is.
        commands
            .send(Command::Deploy(vec![
                deployed(named("briefing", "0 7 * * *", "Asia/Seoul")),
                deployed(named("ticker", "*/30 * * * * *", "UTC")),
            ]))
            .await
            .expect("deploy");
        let (reply, answer) = oneshot::channel();
        commands
            .send(Command::RunNow {
                job: "nope".into(),
                force: false,
                reply,
            })
            .await
            .expect("run now");
        let refused = answer.await.expect("answer").expect_err("unknown job");
        assert!(refused.contains("deployed: briefing, ticker"), "{refused}");
        tokio::time::sleep(Duration::from_secs(61)).await;
        stop.send(true).expect("stop");
        task.await.expect("scheduler ends");

        let fired = recorder.fired.lock().expect("fired").clone();
        let briefing: Vec<_> = fired.iter().filter(|f| f.1 == "briefing").collect();
        assert_eq!(briefing.len(), 1, "{fired:?}");
        assert_eq!(briefing[0].2, at("2026-11-25T22:00:00Z"), "07:00 in Seoul");
        let ticks: Vec<DateTime<Utc>> = fired
            .iter()
            .filter(|f| f.1 == "ticker")
            .map(|f| f.2)
            .collect();
        let expected: Vec<DateTime<Utc>> = [
            "21:59:20", "21:59:40", "22:00:00",
            "22:00:20", // every 20 s until the deploy at 22:00:30
            "22:01:00", "22:01:30", // then every 30 s
        ]
        .iter()
        .map(|t| at(&format!("2026-11-25T{t}Z")))
        .collect();
        assert_eq!(ticks, expected);
        for (dispatched, _, scheduled, trigger) in &fired {
            assert_eq!(dispatched, scheduled, "dispatched late");
            assert_eq!(*trigger, Trigger::Schedule);
        }
    }

    /// A scheduler recording into a fresh [`Recorder`], with one hourly UTC job deployed.
    fn hourly(clock: &Clock, cursor: Option<DateTime<Utc>>) -> (Recorder, Scheduler<Recorder>) {
        let recorder = Recorder::default();
        *recorder.clock.lock().expect("clock") = Some(clock.clone());
        let mut scheduler = Scheduler::new(recorder.clone(), clock.clone());
        scheduler.deploy(
            vec![Deployed {
                job: named("hourly", "0 * * * *", "UTC"),
                commit: "c".into(),
                definition: None,
                cursor,
            }],
            clock.now(),
        );
        (recorder, scheduler)
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_wake_goes_through_catchup() {
        // The cursor says the last handled occurrence was three hours ago: the daemon was down.
        let clock = Clock::from_tokio(at("2026-11-25T12:00:30Z"));
        let (recorder, mut scheduler) = hourly(&clock, Some(at("2026-11-25T09:00:00Z")));
        scheduler.fire(clock.now()).await;
        let fired = recorder.fired.lock().expect("fired").clone();
        // 10:00 and 11:00 are late (missed, latest supersedes); 12:00 is on time.
        let runs: Vec<_> = fired.iter().map(|f| (f.2, f.3)).collect();
        assert_eq!(runs, vec![(at("2026-11-25T12:00:00Z"), Trigger::Schedule)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wall_clock_jump_while_waiting_bypasses_the_prepared_batch() {
        // The batch for 10:00 is prepared while waiting; then the laptop sleeps for three
        // hours. On waking, 10:00 to 12:00 are late and only 13:00 runs.
        let jump = Arc::new(std::sync::atomic::AtomicI64::new(0));
        let base = Clock::from_tokio(at("2026-11-25T09:59:59Z"));
        let offset = Arc::clone(&jump);
        let clock = Clock::from_fn(move || {
            base.now() + chrono::Duration::seconds(offset.load(std::sync::atomic::Ordering::SeqCst))
        });
        let (recorder, scheduler) = hourly(&clock, None);
        let (_commands, queue) = mpsc::channel(1);
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(scheduler.run(queue, stopped));
        tokio::time::sleep(Duration::from_millis(500)).await;
        jump.store(3 * 3600, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.send(true).expect("stop");
        task.await.expect("scheduler ends");
        let fired = recorder.fired.lock().expect("fired").clone();
        let runs: Vec<_> = fired.iter().map(|f| (f.2, f.3)).collect();
        assert_eq!(runs, vec![(at("2026-11-25T13:00:00Z"), Trigger::Schedule)]);
    }

    #[test]
    fn disabled_jobs_are_not_queued() {
        let job = job("* * * * *", "enabled = false");
        assert_eq!(next_firing(&job, at("2026-11-25T00:00:00Z")), None);
    }
}
