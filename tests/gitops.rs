use std::time::Duration;

use crate::support::{Daemon, TestRepo, backoffice, job, run, stderr, wait_until};

fn job_ids(status: &serde_json::Value) -> Vec<String> {
    status["jobs"]
        .as_array()
        .map(|jobs| {
            jobs.iter()
                .filter_map(|j| j["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn schedule_of(status: &serde_json::Value, id: &str) -> Option<String> {
    status["jobs"]
        .as_array()?
        .iter()
        .find(|j| j["id"] == id)
        .and_then(|j| j["schedule"].as_str().map(String::from))
}

#[test]
fn a_push_into_the_watched_bare_repository_deploys_within_a_second() {
    let repo = TestRepo::new();
    repo.write("jobs/standup.toml", &job("Stand-up", "0 9 * * 1-5", ""));
    let first = repo.commit("first job");
    let bare = repo.bare();
    let daemon = Daemon::start(
        &repo.state(),
        &["--repo", bare.to_str().expect("path")],
        &[],
    );
    assert!(daemon.wait_applied(&first), "{}", daemon.log_text());
    assert_eq!(job_ids(&daemon.status()), ["standup"]);

    repo.write("jobs/standup.toml", &job("Stand-up", "15 9 * * 1-5", ""));
    repo.write("jobs/team/retro.toml", &job("Retro", "30 17 * * 5", ""));
    let second = repo.commit("move stand-up, add retro");
    let pushed = std::time::Instant::now();
    repo.push();
    assert!(daemon.wait_applied(&second), "{}", daemon.log_text());
    assert!(
        pushed.elapsed() < Duration::from_secs(2),
        "took {:?}",
        pushed.elapsed()
    );
    let status = daemon.status();
    assert_eq!(job_ids(&status), ["standup", "team/retro"]);
    assert_eq!(
        schedule_of(&status, "standup").as_deref(),
        Some("15 9 * * 1-5")
    );
    assert_eq!(status["applied"]["message"], "move stand-up, add retro");
    assert_eq!(
        status["applied"]["author"],
        "Ji-woo Park <jiwoo@example.com>"
    );
    assert_eq!(
        status["applied"]["added"],
        serde_json::json!(["team/retro"])
    );
    assert_eq!(status["applied"]["changed"], serde_json::json!(["standup"]));
}

#[test]
fn commits_and_resets_in_a_working_clone_deploy_and_uncommitted_edits_do_not() {
    let repo = TestRepo::new();
    repo.write("jobs/a.toml", &job("A", "0 7 * * *", ""));
    let first = repo.commit("a");
    let daemon = Daemon::start(
        &repo.state(),
        &["--repo", repo.work.to_str().expect("path")],
        &[],
    );
    assert!(daemon.wait_applied(&first), "{}", daemon.log_text());

    // An edit in the working tree is not a deployment.
    repo.write("jobs/a.toml", &job("A", "0 8 * * *", ""));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        schedule_of(&daemon.status(), "a").as_deref(),
        Some("0 7 * * *")
    );

    let second = repo.commit("a at 8");
    assert!(daemon.wait_applied(&second), "{}", daemon.log_text());
    assert_eq!(
        schedule_of(&daemon.status(), "a").as_deref(),
        Some("0 8 * * *")
    );

    repo.git(&["reset", "-q", "--hard", &first]);
    assert!(
        daemon.wait_applied(&first),
        "reset not deployed: {}",
        daemon.log_text()
    );
    assert_eq!(
        schedule_of(&daemon.status(), "a").as_deref(),
        Some("0 7 * * *")
    );
}

#[test]
fn an_invalid_file_keeps_its_last_good_version_and_never_stops_the_others() {
    let repo = TestRepo::new();
    repo.write("jobs/a.toml", &job("A", "0 7 * * *", ""));
    repo.write("jobs/b.toml", &job("B", "0 8 * * *", ""));
    let first = repo.commit("two jobs");
    let daemon = Daemon::start(
        &repo.state(),
        &["--repo", repo.work.to_str().expect("path")],
        &[],
    );
    assert!(daemon.wait_applied(&first), "{}", daemon.log_text());

    repo.write(
        "jobs/a.toml",
        &job("A", "0 7 * * *", "").replace("Asia/Seoul", "Mars/Olympus"),
    );
    repo.write("jobs/b.toml", &job("B", "0 10 * * *", ""));
    repo.write("jobs/new.toml", "name = ");
    let second = repo.commit("break a, move b, add a broken file");
    assert!(daemon.wait_applied(&second), "{}", daemon.log_text());
    let status = daemon.status();
    assert_eq!(
        job_ids(&status),
        ["a", "b"],
        "the broken new file deploys nothing"
    );
    assert_eq!(
        schedule_of(&status, "a").as_deref(),
        Some("0 7 * * *"),
        "last good version"
    );
    assert_eq!(
        schedule_of(&status, "b").as_deref(),
        Some("0 10 * * *"),
        "valid change applied"
    );
    let a = status["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .find(|j| j["id"] == "a")
        .expect("a")
        .clone();
    let invalid = a["invalid"][0].as_str().expect("invalid mark");
    assert!(
        invalid.starts_with("jobs/a.toml:4:12: `timezone`: unknown time zone `Mars/Olympus`"),
        "{invalid}"
    );
    assert_eq!(
        a["commit"].as_str(),
        Some(first.as_str()),
        "runs keep the commit they came from"
    );
    let errors = status["applied"]["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2, "{errors:?}");

    // Kept again by the next deploy: the last good text comes back from the database.
    repo.write("jobs/b.toml", &job("B", "0 11 * * *", ""));
    let still_broken = repo.commit("move b again, a still broken");
    assert!(daemon.wait_applied(&still_broken), "{}", daemon.log_text());
    let status = daemon.status();
    assert_eq!(schedule_of(&status, "a").as_deref(), Some("0 7 * * *"));
    assert_eq!(schedule_of(&status, "b").as_deref(), Some("0 11 * * *"));

    // Fixing the file clears the mark.
    repo.write("jobs/a.toml", &job("A", "0 6 * * *", ""));
    repo.remove("jobs/new.toml");
    let third = repo.commit("fix a");
    assert!(daemon.wait_applied(&third), "{}", daemon.log_text());
    let status = daemon.status();
    assert_eq!(schedule_of(&status, "a").as_deref(), Some("0 6 * * *"));
    assert!(
        status["jobs"][0]["invalid"]
            .as_array()
            .expect("list")
            .is_empty()
    );
}

#[test]
fn only_deleting_a_file_removes_its_job_and_deleting_all_is_held() {
    let repo = TestRepo::new();
    repo.write("jobs/a.toml", &job("A", "0 7 * * *", ""));
    repo.write("jobs/b.toml", &job("B", "0 8 * * *", ""));
    let first = repo.commit("two");
    let daemon = Daemon::start(
        &repo.state(),
        &["--repo", repo.work.to_str().expect("path")],
        &[],
    );
    assert!(daemon.wait_applied(&first), "{}", daemon.log_text());

    repo.remove("jobs/b.toml");
    let second = repo.commit("drop b");
    assert!(daemon.wait_applied(&second), "{}", daemon.log_text());
    assert_eq!(job_ids(&daemon.status()), ["a"]);

    repo.remove("jobs");
    let third = repo.commit("drop everything");
    let held = wait_until(Duration::from_secs(10), || {
        daemon.status()["sync"]["attempted_commit"].as_str() == Some(third.as_str())
    });
    assert!(held, "{}", daemon.log_text());
    let status = daemon.status();
    assert_eq!(
        status["sync"]["applied_commit"].as_str(),
        Some(second.as_str())
    );
    assert!(
        status["sync"]["attempt_error"]
            .as_str()
            .expect("error")
            .contains("would remove every job")
    );
    assert_eq!(job_ids(&status), ["a"], "held: the job keeps running");
}

#[test]
fn symlinks_are_never_followed_and_subfolders_become_ids() {
    let repo = TestRepo::new();
    repo.write("secret.toml", &job("Secret", "0 7 * * *", ""));
    repo.write("jobs/team/ops/backup.toml", &job("Backup", "0 3 * * *", ""));
    std::os::unix::fs::symlink("../secret.toml", repo.work.join("jobs/link.toml"))
        .expect("symlink");
    let first = repo.commit("symlink and subfolder");
    let daemon = Daemon::start(
        &repo.state(),
        &["--repo", repo.work.to_str().expect("path")],
        &[],
    );
    assert!(daemon.wait_applied(&first), "{}", daemon.log_text());
    let status = daemon.status();
    assert_eq!(job_ids(&status), ["team/ops/backup"]);
    let errors = status["applied"]["errors"].as_array().expect("errors");
    assert!(
        errors[0]
            .as_str()
            .expect("text")
            .starts_with("jobs/link.toml:1:1: is a symbolic link"),
        "{errors:?}"
    );
}

#[test]
fn remote_mode_fetches_on_its_poll_interval() {
    let repo = TestRepo::new();
    repo.write("jobs/a.toml", &job("A", "0 7 * * *", ""));
    let first = repo.commit("a");
    let bare = repo.bare();
    let url = format!("file://{}", bare.display());
    let daemon = Daemon::start(&repo.state(), &["--remote", &url, "--poll", "1s"], &[]);
    assert!(daemon.wait_applied(&first), "{}", daemon.log_text());
    assert!(daemon.status()["sync"]["last_fetch_at"].is_string());
    repo.write("jobs/b.toml", &job("B", "0 8 * * *", ""));
    let second = repo.commit("b");
    repo.push();
    assert!(daemon.wait_applied(&second), "{}", daemon.log_text());
    assert_eq!(job_ids(&daemon.status()), ["a", "b"]);
}

#[test]
fn an_unreachable_remote_is_reported_and_the_deployed_jobs_keep_running() {
    let repo = TestRepo::new();
    repo.write("jobs/a.toml", &job("A", "0 7 * * *", ""));
    let first = repo.commit("a");
    let bare = repo.bare();
    let url = format!("file://{}", bare.display());
    let state = repo.state();
    let daemon = Daemon::start(&state, &["--remote", &url, "--poll", "1s"], &[]);
    assert!(daemon.wait_applied(&first), "{}", daemon.log_text());
    drop(daemon);
    // Restart against a remote that is gone: the deployed job stays, the error shows.
    let gone = format!("file://{}/missing.git", repo.dir.path().display());
    let daemon = Daemon::start(&state, &["--remote", &gone, "--poll", "1s"], &[]);
    let reported = wait_until(Duration::from_secs(10), || {
        daemon.status()["sync"]["attempt_error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot fetch branch `main`"))
    });
    assert!(reported, "{}", daemon.log_text());
    assert_eq!(job_ids(&daemon.status()), ["a"]);
    assert_eq!(
        daemon.status()["sync"]["applied_commit"].as_str(),
        Some(first.as_str())
    );
}

#[test]
fn remote_mode_without_git_on_the_path_says_so() {
    let repo = TestRepo::new();
    repo.write("jobs/a.toml", &job("A", "0 7 * * *", ""));
    repo.commit("a");
    let url = format!("file://{}", repo.bare().display());
    let empty = tempfile::tempdir().expect("temp dir");
    let path = empty.path().display().to_string();
    let daemon = Daemon::start(
        &repo.state(),
        &["--remote", &url, "--poll", "1s"],
        &[("PATH", &path)],
    );
    let reported = wait_until(Duration::from_secs(10), || {
        daemon.status()["sync"]["attempt_error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot run `git` (remote mode needs it on PATH)"))
    });
    assert!(reported, "{}", daemon.log_text());
}

#[test]
fn a_second_daemon_on_the_same_state_is_refused() {
    let repo = TestRepo::new();
    repo.write("jobs/a.toml", &job("A", "0 7 * * *", ""));
    repo.commit("a");
    let daemon = Daemon::start(
        &repo.state(),
        &["--repo", repo.work.to_str().expect("path")],
        &[],
    );
    let output = crate::support::run(
        crate::support::backoffice(&repo.state())
            .args(["serve", "--repo"])
            .arg(&repo.work),
    );
    assert_eq!(output.status.code(), Some(2));
    let text = crate::support::stderr(&output);
    assert!(
        text.contains("another `backoffice serve` is already using"),
        "{text}"
    );
    assert!(
        text.contains(&format!("pid {}", daemon.child.id())),
        "{text}"
    );
}

#[test]
fn a_run_asked_for_while_serve_starts_waits_for_the_first_deploy() {
    let repo = TestRepo::new();
    // Enough files that the first deploy is still going when the control socket is up.
    for index in 0..1_500 {
        repo.write(
            &format!("jobs/bulk/job{index:04}.toml"),
            &job(&format!("Bulk {index}"), "0 7 * * *", ""),
        );
    }
    repo.write("jobs/standup.toml", &job("Stand-up", "0 9 * * 1-5", ""));
    repo.commit("many jobs");
    let state = repo.state();
    let daemon = Daemon::start(&state, &["--repo", repo.work.to_str().expect("path")], &[]);
    let output = run(backoffice(&state).args(["run", "standup"]));
    assert!(
        output.status.success(),
        "a run asked for right after start: {}\n{}",
        stderr(&output),
        daemon.log_text()
    );
}
