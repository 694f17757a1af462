//! Claiming occurrences: the rows written the moment jobs fire, many at once when many jobs
//! share a schedule, so they are inserted [`ROWS_PER_INSERT`] to a statement.

use std::num::NonZeroU32;
use std::sync::LazyLock;

use chrono::Utc;
use rusqlite::Connection;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use super::SqlResult;
use super::runs::{NewRun, RunStatus};
use super::time::to_db;
use crate::connectors::secret::scrub;

/// Rows per `INSERT` statement when claiming. One statement per row opened a write cursor
/// on the table and each of its seven indexes for every row, and bound and cleared it anew;
/// measured under callgrind with 10,000 claims a second, 50 rows a statement takes a claim
/// from 17,000 to 14,100 instructions. Past 50 the gain is small and the statement longer.
const ROWS_PER_INSERT: usize = 50;

/// The columns a claim writes, in the order [`bind_row`] binds them.
const CLAIM_COLUMNS: &str = "job_id, trigger, scheduled_for, attempt, status, started_at, \
     finished_at, error, definition, owner";
const CLAIM_PARAMS: usize = 10;

/// `INSERT` of `rows` claims; an occurrence claimed already is left as it is. Each inserted
/// row comes back with its claim key, so its id is matched to the row that asked for it.
fn claim_sql(rows: usize) -> String {
    let row = format!("({})", ["?"; CLAIM_PARAMS].join(", "));
    format!(
        "INSERT INTO runs ({CLAIM_COLUMNS}) VALUES {} \
         ON CONFLICT (scheduled_for, job_id, attempt) DO NOTHING \
         RETURNING id, scheduled_for, attempt, job_id",
        vec![row; rows].join(", ")
    )
}

/// The statements [`claim`] uses, written once rather than at every claim: a full group and
/// a single row.
static CLAIM_GROUP: LazyLock<String> = LazyLock::new(|| claim_sql(ROWS_PER_INSERT));
static CLAIM_ONE: LazyLock<String> = LazyLock::new(|| claim_sql(1));

/// Binds `run` as the `slot`th row of a claim statement; `now` is its `finished_at` when
/// it is final the moment it is written (every status but `running`).
fn bind_row(
    insert: &mut rusqlite::Statement<'_>,
    slot: usize,
    run: &NewRun,
    now: i64,
) -> SqlResult<()> {
    let first = slot * CLAIM_PARAMS + 1;
    let finished = (run.status != RunStatus::Running).then_some(now);
    insert.raw_bind_parameter(first, &*run.job_id)?;
    insert.raw_bind_parameter(first + 1, run.trigger.as_str())?;
    insert.raw_bind_parameter(first + 2, to_db(run.scheduled_for))?;
    insert.raw_bind_parameter(first + 3, run.attempt)?;
    insert.raw_bind_parameter(first + 4, run.status.as_str())?;
    insert.raw_bind_parameter(first + 5, run.started_at.map(to_db))?;
    insert.raw_bind_parameter(first + 6, finished)?;
    insert.raw_bind_parameter(first + 7, run.error.as_deref().map(scrub))?;
    insert.raw_bind_parameter(first + 8, run.definition)?;
    insert.raw_bind_parameter(first + 9, run.owner)
}

/// The number run rows know the process with owner token `token` by; registered on first use.
pub fn register_owner(conn: &Connection, token: &str) -> SqlResult<i64> {
    conn.execute(
        "INSERT INTO owners (token) VALUES (?1) ON CONFLICT (token) DO NOTHING",
        [token],
    )?;
    conn.query_row(
        "SELECT owner FROM owners WHERE token = ?1",
        [token],
        |row| row.get(0),
    )
}

/// A deployed version of a job by number: the commit it came from and its definition hash,
/// kept once in `definitions`. Four bytes, as the scheduler holds one for every job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Definition(NonZeroU32);

#[cfg(test)]
impl Definition {
    /// Number `number`, as if registered.
    pub(crate) fn numbered(number: u32) -> Definition {
        Definition(NonZeroU32::new(number).expect("not zero"))
    }
}

impl ToSql for Definition {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(i64::from(self.0.get())))
    }
}

impl FromSql for Definition {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let number = i64::column_result(value)?;
        u32::try_from(number)
            .ok()
            .and_then(NonZeroU32::new)
            .map(Definition)
            .ok_or(FromSqlError::OutOfRange(number))
    }
}

/// The number run rows know the definition `hash` of commit `commit` by; registered on first
/// use. A deployment registers those of every job it deploys in its transaction, so this is
/// for a run of a version never deployed (`backoffice run` outside the daemon).
pub fn register_definition(conn: &Connection, commit: &str, hash: &str) -> SqlResult<Definition> {
    conn.execute(
        "INSERT INTO definitions (commit_id, definition_hash) VALUES (?1, ?2) \
         ON CONFLICT (commit_id, definition_hash) DO NOTHING",
        [commit, hash],
    )?;
    conn.query_row(
        "SELECT definition FROM definitions WHERE commit_id = ?1 AND definition_hash = ?2",
        [commit, hash],
        |row| row.get(0),
    )
}

/// Inserts `runs` in one transaction. Returns each run's id, or `None` where that occurrence
/// was already claimed (by us before a restart, or by another process, or earlier in `runs`).
/// The uniqueness of `(scheduled_for, job_id, attempt)` is what makes a claim exactly-once;
/// the cursors that record how far each job got are moved afterwards
/// ([`super::jobs::move_cursors`]).
pub fn claim(conn: &mut Connection, runs: &[NewRun]) -> SqlResult<Vec<Option<i64>>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut ids = vec![None; runs.len()];
    let now = to_db(Utc::now());
    let full = runs.len() / ROWS_PER_INSERT * ROWS_PER_INSERT;
    if full > 0 {
        let mut insert = tx.prepare_cached(&CLAIM_GROUP)?;
        for (group, group_ids) in runs[..full]
            .chunks(ROWS_PER_INSERT)
            .zip(ids.chunks_mut(ROWS_PER_INSERT))
        {
            for (slot, run) in group.iter().enumerate() {
                bind_row(&mut insert, slot, run, now)?;
            }
            // SQLite returns the rows in the order they were inserted, though it does not
            // promise to: each is looked for from where the last one was found.
            let mut from = 0;
            let mut inserted = insert.raw_query();
            while let Some(row) = inserted.next()? {
                let id: i64 = row.get(0)?;
                let (at, attempt) = (row.get::<_, i64>(1)?, row.get::<_, u32>(2)?);
                let job = row.get_ref(3)?.as_str()?;
                let mine = (from..group.len()).chain(0..from).find(|&slot| {
                    let run = &group[slot];
                    group_ids[slot].is_none()
                        && to_db(run.scheduled_for) == at
                        && run.attempt == attempt
                        && &*run.job_id == job
                });
                if let Some(slot) = mine {
                    group_ids[slot] = Some(id);
                    from = slot + 1;
                }
            }
        }
    }
    let mut insert = tx.prepare_cached(&CLAIM_ONE)?;
    for (run, id) in runs[full..].iter().zip(&mut ids[full..]) {
        bind_row(&mut insert, 0, run, now)?;
        let mut inserted = insert.raw_query();
        if let Some(row) = inserted.next()? {
            *id = Some(row.get(0)?);
        }
    }
    drop(insert);
    tx.commit()?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::history::get;

    #[test]
    fn an_occurrence_is_claimed_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("runs.db")).expect("open");
        let at = Utc::now();
        let first = store
            .with(|c| claim(c, &[NewRun::started("a", at, RunStatus::Running, 1)]))
            .expect("claim");
        let second = store
            .with(|c| {
                claim(
                    c,
                    &[
                        NewRun::started("a", at, RunStatus::Running, 1),
                        NewRun::started("b", at, RunStatus::Skipped, 1),
                    ],
                )
            })
            .expect("claim again");
        assert!(first[0].is_some());
        assert_eq!(second[0], None, "same occurrence claimed twice");
        assert!(second[1].is_some());
    }

    #[test]
    fn a_run_row_shows_the_commit_and_definition_it_was_claimed_with() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("runs.db")).expect("open");
        let at = Utc::now();
        let (first, again, other, owner, owner_again) = store
            .with(|c| {
                Ok((
                    register_definition(c, "c1", "h1")?,
                    register_definition(c, "c1", "h1")?,
                    register_definition(c, "c2", "h1")?,
                    register_owner(c, "123-abc")?,
                    register_owner(c, "123-abc")?,
                ))
            })
            .expect("register");
        assert_eq!((first, owner), (again, owner_again), "registered once");
        assert_ne!(first, other);
        let mut run = NewRun::started("a", at, RunStatus::Running, owner);
        run.definition = Some(other);
        let id = store.with(|c| claim(c, &[run])).expect("claim")[0].expect("id");
        let row = store.with(|c| get(c, id)).expect("get").expect("row");
        assert_eq!(row.commit_id.as_deref(), Some("c2"));
        assert_eq!(row.definition_hash.as_deref(), Some("h1"));
    }

    #[test]
    fn each_row_of_a_large_claim_gets_its_own_id_and_claimed_ones_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("runs.db")).expect("open");
        let at = Utc::now();
        // 120 rows: two full statements and 20 claimed one at a time. Three were claimed
        // before, one in each part.
        let rows: Vec<NewRun> = (0..120)
            .map(|index| NewRun::started(&format!("j{index:03}"), at, RunStatus::Running, 1))
            .collect();
        let earlier = [rows[10].clone(), rows[75].clone(), rows[110].clone()];
        store.with(|c| claim(c, &earlier)).expect("earlier");
        let ids = store.with(|c| claim(c, &rows)).expect("claim");
        assert_eq!(ids.len(), 120);
        for (index, id) in ids.iter().enumerate() {
            match id {
                None => assert!([10, 75, 110].contains(&index), "row {index} not claimed"),
                Some(id) => {
                    assert!(![10, 75, 110].contains(&index), "row {index} claimed twice");
                    let row = store.with(|c| get(c, *id)).expect("get").expect("row");
                    assert_eq!(row.job_id, format!("j{index:03}"), "id of row {index}");
                }
            }
        }
    }

    #[test]
    fn an_occurrence_twice_in_one_statement_is_claimed_by_the_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("runs.db")).expect("open");
        let at = Utc::now();
        let mut rows: Vec<NewRun> = (0..ROWS_PER_INSERT)
            .map(|index| NewRun::started(&format!("j{index:03}"), at, RunStatus::Running, 1))
            .collect();
        rows[40] = rows[3].clone();
        rows[41].status = RunStatus::Skipped;
        rows[41].error = Some("another run was going".into());
        let ids = store.with(|c| claim(c, &rows)).expect("claim");
        assert!(ids[3].is_some());
        assert_eq!(ids[40], None);
        assert_eq!(ids.iter().flatten().count(), ROWS_PER_INSERT - 1);
        let skipped = store
            .with(|c| get(c, ids[41].expect("id")))
            .expect("get")
            .expect("row");
        assert_eq!(skipped.status, RunStatus::Skipped);
        assert!(skipped.finished_at.is_some(), "a skipped row is final");
        assert_eq!(skipped.error.as_deref(), Some("another run was going"));
    }
}
