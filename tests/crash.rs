use std::time::Duration;

use crate::fakes::llm::{FakeLlm, Reply};
use crate::support::{Daemon, TestRepo, backoffice, job, runs_db, stderr, stdout, wait_until};

fn count(state: &std::path::Path, sql: &str) -> i64 {
    runs_db(state)
        .query_row(sql, [], |r| r.get(0))
        .unwrap_or(-1)
}

#[test]
fn sigkill_during_a_run_leaves_it_interrupted_and_nothing_fires_twice() {
    let fake = FakeLlm::start();
    fake.set_default(Reply::Stall(Duration::from_secs(60)));
    let repo = TestRepo::new();
    // Every two seconds; a run takes a minute, so every later occurrence is skipped.
    repo.write(
        "jobs/tick.toml",
        &job("Tick", "*/2 * * * * *", "catchup = \"skip\""),
    );
    let commit = repo.commit("tick");
    let state = repo.state();
    let url = fake.url();
    let env = [("BACKOFFICE_LLM_URL", url.as_str())];
    let args = ["--repo", repo.work.to_str().expect("path")];
    let daemon = Daemon::start(&state, &args, &env);
    assert!(daemon.wait_applied(&commit), "{}", daemon.log_text());
    let running = wait_until(Duration::from_secs(10), || {
        count(&state, "SELECT count(*) FROM runs WHERE status = 'running'") == 1
    });
    assert!(running, "{}", daemon.log_text());
    let victim: i64 = runs_db(&state)
        .query_row(
            "SELECT scheduled_for FROM runs WHERE status = 'running'",
            [],
            |r| r.get(0),
        )
        .expect("running run");
    daemon.signal("KILL");
    drop(daemon);
    assert_eq!(
        count(&state, "SELECT count(*) FROM runs WHERE status = 'running'"),
        1,
        "left behind"
    );

    let daemon = Daemon::start(&state, &args, &env);
    let recovered = wait_until(Duration::from_secs(10), || {
        count(
            &state,
            &format!(
                "SELECT count(*) FROM runs WHERE scheduled_for = {victim} AND status = 'interrupted'"
            ),
        ) == 1
    });
    assert!(recovered, "{}", daemon.log_text());
    let error: String = runs_db(&state)
        .query_row(
            &format!("SELECT error FROM runs WHERE scheduled_for = {victim}"),
            [],
            |r| r.get(0),
        )
        .expect("error");
    assert!(error.contains("stopped before it finished"), "{error}");
    // The scheduler carries on from its cursor: a new occurrence starts after the restart.
    let resumed = wait_until(Duration::from_secs(10), || {
        count(
            &state,
            &format!(
                "SELECT count(*) FROM runs WHERE status = 'running' AND scheduled_for > {victim}"
            ),
        ) == 1
    });
    assert!(resumed, "{}", daemon.log_text());
    assert_eq!(
        count(
            &state,
            &format!("SELECT count(*) FROM runs WHERE scheduled_for = {victim}")
        ),
        1,
        "the interrupted occurrence was not fired again"
    );
    assert_eq!(
        count(
            &state,
            "SELECT count(*) FROM (SELECT 1 FROM runs GROUP BY job_id, scheduled_for, attempt HAVING count(*) > 1)"
        ),
        0
    );
}

#[test]
fn sigterm_gives_running_jobs_a_grace_period_then_records_them_cancelled() {
    let fake = FakeLlm::start();
    fake.set_default(Reply::Stall(Duration::from_secs(60)));
    let repo = TestRepo::new();
    repo.write("jobs/slow.toml", &job("Slow", "0 7 * * *", ""));
    let commit = repo.commit("slow");
    let state = repo.state();
    let url = fake.url();
    let daemon = Daemon::start(
        &state,
        &["--repo", repo.work.to_str().expect("path"), "--grace", "1s"],
        &[("BACKOFFICE_LLM_URL", url.as_str())],
    );
    assert!(daemon.wait_applied(&commit), "{}", daemon.log_text());
    let output = crate::support::run(backoffice(&state).args(["run", "slow"]));
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(wait_until(Duration::from_secs(5), || count(
        &state,
        "SELECT count(*) FROM runs WHERE status = 'running'"
    ) == 1));
    let started = std::time::Instant::now();
    let log = daemon.log.clone();
    let status = daemon.stop();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    let error: String = runs_db(&state)
        .query_row(
            "SELECT error FROM runs WHERE status = 'cancelled'",
            [],
            |r| r.get(0),
        )
        .expect("cancelled run");
    assert!(
        error.contains("did not finish within the 1s grace period"),
        "{error}"
    );
    assert!(!state.join("backoffice.sock").exists(), "socket removed");
}

#[test]
fn several_processes_write_the_same_database_and_nothing_is_lost() {
    let fake = FakeLlm::start();
    fake.set_default(Reply::Answer("ok".into()));
    let repo = TestRepo::new();
    for i in 0..6 {
        repo.write(
            &format!("jobs/j{i}.toml"),
            &job(&format!("J{i}"), "0 7 * * *", ""),
        );
    }
    repo.commit("six jobs");
    let state = repo.state();
    let children: Vec<_> = (0..6)
        .map(|i| {
            backoffice(&state)
                .args(["run", &format!("j{i}"), "--repo"])
                .arg(&repo.work)
                .env("BACKOFFICE_LLM_URL", fake.url())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn run")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("wait");
        assert!(
            output.status.success(),
            "{}{}",
            stdout(&output),
            stderr(&output)
        );
        assert!(!stderr(&output).contains("locked"), "{}", stderr(&output));
    }
    assert_eq!(
        count(
            &state,
            "SELECT count(DISTINCT job_id) FROM runs WHERE status = 'succeeded'"
        ),
        6
    );
}
