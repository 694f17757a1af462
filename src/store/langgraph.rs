//! LangGraph's tables: each job's thread per server, and the remote run of each of our runs.

use rusqlite::{Connection, OptionalExtension, params};

use super::SqlResult;

/// A remote run as recorded: (our run id, server, thread, remote run id).
pub type RemoteRunRow = (i64, String, String, String);

/// The thread `job` keeps on `server`.
pub fn thread(conn: &Connection, job: &str, server: &str) -> SqlResult<Option<String>> {
    conn.prepare_cached(
        "SELECT thread_id FROM langgraph_threads WHERE job_id = ?1 AND server = ?2",
    )?
    .query_row([job, server], |row| row.get(0))
    .optional()
}

pub fn set_thread(conn: &Connection, job: &str, server: &str, thread: &str) -> SqlResult<()> {
    conn.prepare_cached(
        "INSERT INTO langgraph_threads (job_id, server, thread_id) VALUES (?1, ?2, ?3) \
         ON CONFLICT (job_id, server) DO UPDATE SET thread_id = excluded.thread_id",
    )?
    .execute([job, server, thread])
    .map(drop)
}

/// Records the remote run of our run `run_id`, as soon as the server gave its id.
pub fn record_run(
    conn: &Connection,
    run_id: i64,
    server: &str,
    thread: &str,
    remote: &str,
) -> SqlResult<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO langgraph_runs (run_id, server, thread_id, remote_run_id, done) \
         VALUES (?1, ?2, ?3, ?4, 0)",
    )?
    .execute(params![run_id, server, thread, remote])
    .map(drop)
}

/// Our run has ended and the remote one with it (finished or cancelled).
pub fn mark_done(conn: &Connection, run_id: i64) -> SqlResult<()> {
    conn.prepare_cached("UPDATE langgraph_runs SET done = 1 WHERE run_id = ?1")?
        .execute([run_id])
        .map(drop)
}

/// Remote runs whose run of ours did not end normally, among `runs` (the ones a crash left).
pub fn open_among(conn: &Connection, runs: &[i64]) -> SqlResult<Vec<RemoteRunRow>> {
    let mut found = Vec::new();
    let mut query = conn.prepare_cached(
        "SELECT run_id, server, thread_id, remote_run_id FROM langgraph_runs \
         INDEXED BY langgraph_runs_open WHERE run_id = ?1 AND done = 0",
    )?;
    for run in runs {
        if let Some(row) = query
            .query_row([run], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .optional()?
        {
            found.push(row);
        }
    }
    Ok(found)
}

/// The remote thread and run of our run, for its page.
pub fn remote_of(conn: &Connection, run_id: i64) -> SqlResult<Option<(String, String, String)>> {
    conn.prepare_cached(
        "SELECT server, thread_id, remote_run_id FROM langgraph_runs WHERE run_id = ?1",
    )?
    .query_row([run_id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
    .optional()
}
