use crate::support::{TestRepo, backoffice, job, run, stdout};

#[test]
fn check_reports_every_error_with_file_line_column_and_keeps_the_good_jobs() {
    let repo = TestRepo::new();
    repo.write("jobs/good.toml", &job("Good", "0 7 * * *", ""));
    repo.write(
        "jobs/team/standup.toml",
        &job("Stand-up", "0 9 * * 1-5", ""),
    );
    repo.write("jobs/syntax.toml", "name = \"x\nkind = \"agent\"\n");
    repo.write(
        "jobs/zone.toml",
        &job("Zone", "0 7 * * *", "").replace("Asia/Seoul", "Asia/Seol"),
    );
    repo.write("jobs/cron.toml", &job("Cron", "0 7 * *", ""));
    repo.write("jobs/key.toml", "name = \"Key\"\nkind = \"agent\"\nschedule = \"@daily\"\nschedual = 1\n[agent]\nprompt = \"x\"\n");
    repo.write("jobs/README.md", "not a job");
    let output = run(backoffice(&repo.state())
        .arg("check")
        .arg(repo.work.join("jobs")));
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let jobs = repo.work.join("jobs");
    let at = |file: &str| format!("{}", jobs.join(file).display());
    assert!(
        text.contains(&format!(
            "error: {}:1:10: `name`: invalid basic string",
            at("syntax.toml")
        )),
        "{text}"
    );
    assert!(text.contains(&format!("error: {}:4:12: `timezone`: unknown time zone `Asia/Seol` (did you mean \"Asia/Seoul\"?)", at("zone.toml"))), "{text}");
    assert!(
        text.contains(&format!(
            "error: {}:3:12: `schedule`: `0 7 * *` has 4 fields",
            at("cron.toml")
        )),
        "{text}"
    );
    assert!(
        text.contains("`schedual`: unknown field `schedual`"),
        "{text}"
    );
    assert!(text.contains("ok  good "), "{text}");
    assert!(text.contains("ok  team/standup "), "{text}");
    assert!(text.contains("6 job file(s): 2 valid, 4 invalid"), "{text}");
}

#[test]
fn check_shows_next_fire_times_in_the_zone_and_utc_and_warns_about_dst() {
    let repo = TestRepo::new();
    repo.write("jobs/briefing.toml", &job("Briefing", "0 7 * * *", ""));
    repo.write(
        "jobs/ny.toml",
        &job("New York", "30 2 * * *", "").replace("Asia/Seoul", "America/New_York"),
    );
    let output = run(backoffice(&repo.state())
        .args(["check", "--format", "json"])
        .arg(repo.work.join("jobs")));
    assert!(output.status.success(), "{}", stdout(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["valid"], true);
    let briefing = &report["jobs"][0];
    assert_eq!(briefing["id"], "briefing");
    let next = briefing["next"].as_array().expect("next");
    assert_eq!(next.len(), 5);
    for firing in next {
        let local = firing["local"].as_str().expect("local");
        let utc = firing["utc"].as_str().expect("utc");
        // RFC 3339, as every command prints times for machines.
        assert!(local.ends_with("T07:00:00+09:00"), "{local}");
        assert!(utc.ends_with("T22:00:00Z"), "{utc}");
        assert!(chrono::DateTime::parse_from_rfc3339(utc).is_ok(), "{utc}");
    }
    assert!(
        briefing["warnings"]
            .as_array()
            .expect("warnings")
            .is_empty()
    );
    let ny = &report["jobs"][1];
    let warnings = ny["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0]
            .as_str()
            .expect("text")
            .contains("02:30 does not exist"),
        "{warnings:?}"
    );
}

#[test]
fn check_refuses_a_missing_path_with_exit_code_two() {
    let repo = TestRepo::new();
    let output = run(backoffice(&repo.state())
        .arg("check")
        .arg(repo.work.join("nope")));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        crate::support::stderr(&output).contains("cannot read"),
        "{}",
        crate::support::stderr(&output)
    );
}

#[test]
fn plan_shows_adds_changes_removals_and_invalid_files_against_the_deployment() {
    let repo = TestRepo::new();
    repo.write("jobs/a.toml", &job("A", "0 7 * * *", ""));
    repo.write("jobs/b.toml", &job("B", "0 8 * * *", ""));
    let first = repo.commit("two jobs");
    // Nothing deployed: everything is an addition.
    let output = run(backoffice(&repo.state())
        .args(["plan", "--repo"])
        .arg(&repo.work));
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("against nothing deployed yet"), "{text}");
    assert!(text.contains("  + a  0 7 * * * Asia/Seoul"), "{text}");
    assert!(
        text.contains("2 to add, 0 to change, 0 to remove"),
        "{text}"
    );

    // Deploy the first commit, then plan a branch that changes a, removes b, breaks c.
    let daemon = crate::support::Daemon::start(
        &repo.state(),
        &["--repo", repo.work.to_str().expect("path")],
        &[],
    );
    assert!(daemon.wait_applied(&first), "{}", daemon.log_text());
    drop(daemon);
    repo.git(&["checkout", "-q", "-b", "pr"]);
    repo.write("jobs/a.toml", &job("A", "0 9 * * *", ""));
    repo.remove("jobs/b.toml");
    repo.write("jobs/c.toml", "name = 3");
    repo.commit("pr");
    repo.git(&["checkout", "-q", "main"]);
    let output = run(backoffice(&repo.state())
        .args(["plan", "--ref", "pr", "--repo"])
        .arg(&repo.work));
    let text = stdout(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "invalid files fail the plan: {text}"
    );
    assert!(
        text.contains(&format!("against deployed {}", &first[..10])),
        "{text}"
    );
    assert!(text.contains("  ~ a  (schedule.cron)"), "{text}");
    assert!(text.contains("  - b"), "{text}");
    assert!(
        text.contains("  ! jobs/c.toml  (invalid: nothing deploys from it)"),
        "{text}"
    );
    assert!(text.contains("jobs/c.toml:1:8: `name`:"), "{text}");
}

/// `check --format github`: every line is a well-formed workflow command (or the summary),
/// errors point at file, line and column, DST notes are warnings on the `schedule` line,
/// and nothing from a file can start a command of its own.
#[test]
fn github_format_puts_errors_on_the_pull_requests_lines() {
    let repo = TestRepo::new();
    repo.write("jobs/good.toml", &job("Good", "0 7 * * *", ""));
    repo.write(
        "jobs/ny.toml",
        &job("New York", "30 2 * * *", "").replace("Asia/Seoul", "America/New_York"),
    );
    repo.write(
        "jobs/bad.toml",
        "name = \"x\"\nkind = \"agent\"\nschedule = \"0 7 * *\"\n[agent]\nprompt = \"p\"\n",
    );
    repo.write("jobs/a,b.toml", &job("Comma", "0 7 * * *", ""));
    let output = run(backoffice(&repo.state())
        .args(["check", "--format", "github"])
        .arg(repo.work.join("jobs")));
    assert_eq!(output.status.code(), Some(1), "invalid files fail the step");
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    let (commands, plain): (Vec<&str>, Vec<&str>) = lines.iter().partition(|l| l.starts_with("::"));
    assert_eq!(plain.len(), 1, "only the summary is plain: {text}");
    assert!(
        plain[0].contains("4 job file(s): 2 valid, 2 invalid"),
        "{text}"
    );
    for command in &commands {
        let (head, message) = command[2..]
            .split_once("::")
            .expect("::kind props::message");
        let (kind, props) = head.split_once(' ').expect("kind and properties");
        assert!(kind == "error" || kind == "warning", "{command}");
        for prop in props.split(',') {
            let (key, value) = prop.split_once('=').expect("key=value");
            assert!(["file", "line", "col", "title"].contains(&key), "{command}");
            assert!(
                !value.contains(':') && !value.contains(','),
                "escaped: {command}"
            );
        }
        assert!(!message.is_empty() && !message.contains('\n'), "{command}");
    }
    let bad = commands
        .iter()
        .find(|c| c.contains("file=") && c.contains("bad.toml"))
        .expect("an error for bad.toml");
    assert!(
        bad.starts_with("::error ") && bad.contains(",line=3,col=12,"),
        "{bad}"
    );
    assert!(bad.contains("title=backoffice check%3A schedule"), "{bad}");
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("::error ") && c.contains("a%2Cb.toml")),
        "the comma in a file name is escaped: {text}"
    );
    let dst = commands
        .iter()
        .find(|c| c.starts_with("::warning ") && c.contains("ny.toml"))
        .expect("a daylight-saving warning");
    assert!(dst.contains(",line=3,"), "on the schedule line: {dst}");
}
