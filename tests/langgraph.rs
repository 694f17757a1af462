//! `orchestrator = "langgraph"` against a real `langgraph dev` (the in-memory LangGraph
//! server from `langgraph-cli[inmem]`, in the venv `.ci/run` makes: `target/langgraph-venv`)
//! serving the model-free graphs of `tests/langgraph/graphs.py`. Without that venv these
//! tests say so loudly and skip, except under CI (`BACKOFFICE_CI`), where they fail. What the
//! dev server cannot be made to do (500, 429, a body that is not JSON) is a small fake here.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use crate::fakes::http::read_request;
use crate::support::{Daemon, TestRepo, backoffice, run, stderr, stdout, wait_until};

/// The shared server's base URL, started once per test process, or `None` (skip).
fn server() -> Option<&'static str> {
    static SERVER: OnceLock<Option<String>> = OnceLock::new();
    SERVER.get_or_init(start_server).as_deref()
}

fn start_server() -> Option<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let binary = root.join("target/langgraph-venv/bin/langgraph");
    if !binary.exists() {
        let message = format!(
            "no `langgraph` at {}: run .ci/run once (it installs langgraph-cli[inmem] there)",
            binary.display()
        );
        assert!(std::env::var_os("BACKOFFICE_CI").is_none(), "{message}");
        eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let log = std::env::temp_dir().join(format!("backoffice-langgraph-{port}.log"));
    let (started, up) = std::sync::mpsc::channel();
    // A copy of the graphs: the server writes its state into .langgraph_api/ where it starts.
    let folder = std::env::temp_dir().join(format!("backoffice-langgraph-{port}"));
    std::fs::create_dir_all(&folder).expect("server folder");
    for file in ["graphs.py", "langgraph.json"] {
        std::fs::copy(root.join("tests/langgraph").join(file), folder.join(file))
            .expect("copy graphs");
    }
    // The server is started from a thread that lives as long as the test process, with
    // PDEATHSIG, so it dies with the process however the tests end.
    std::thread::spawn(move || {
        let mut command = Command::new(&binary);
        command
            .args(["dev", "--no-browser", "--no-reload", "--host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .current_dir(folder)
            .env("LANGSMITH_TRACING", "false")
            .env("LANGGRAPH_CLI_NO_ANALYTICS", "1")
            .env("LANGGRAPH_NO_VERSION_CHECK", "true")
            .env_remove("LANGSMITH_API_KEY")
            .env_remove("LANGCHAIN_API_KEY")
            .env_remove("LANGGRAPH_API_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"));
        // SAFETY: prctl in the child between fork and exec touches no shared state.
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command.spawn();
        let _ = started.send(child.is_ok());
        if let Ok(mut child) = child {
            let _ = child.wait();
        }
    });
    assert!(up.recv().unwrap_or(false), "cannot start langgraph dev");
    let ready = wait_until(Duration::from_secs(90), || {
        http("GET", &format!("{url}/ok"), None).0 == 200
    });
    assert!(ready, "langgraph dev did not answer /ok within 90 s");
    Some(url)
}

/// A tiny HTTP client for checking the server's side: (status, JSON body).
fn http(method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let Ok(mut stream) = std::net::TcpStream::connect(host) else {
        return (0, Value::Null);
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let payload = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, Value::Null);
    }
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut stream, &mut answer);
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // Chunked bodies: the JSON is between the first size line and the terminating 0.
    let json = body
        .find(['{', '['])
        .and_then(|start| body.rfind(['}', ']']).map(|end| &body[start..=end]))
        .unwrap_or("");
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

/// A job file for graph `assistant` on `url`.
fn job_file(assistant: &str, url: &str, top: &str, agent: &str) -> String {
    format!(
        "name = \"LG {assistant}\"\nkind = \"agent\"\nschedule = \"0 7 * * *\"\ntimezone = \"Asia/Seoul\"\n{top}\n\
         [agent]\norchestrator = \"langgraph\"\nassistant_id = \"{assistant}\"\nurl = \"{url}\"\n\
         prompt = \"Good morning, it is {{{{weekday}}}}\"\n{agent}\n"
    )
}

/// Commits `files` and runs `job` in-process; returns every run row of it (JSON), oldest first.
fn run_job(repo: &TestRepo, job: &str) -> (std::process::Output, Value) {
    let output = run(backoffice(&repo.state())
        .args(["run", job, "--wait", "--format", "json", "--repo"])
        .arg(&repo.work));
    let row = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output, row)
}

fn repo_with(files: &[(&str, String)]) -> TestRepo {
    let repo = TestRepo::new();
    for (path, text) in files {
        repo.write(path, text);
    }
    repo.commit("jobs");
    repo
}

/// Our run's remote (thread, run) ids as recorded.
fn remote_of(state: &Path, run_id: i64) -> Option<(String, String)> {
    let conn = crate::support::runs_db(state);
    conn.query_row(
        "SELECT thread_id, remote_run_id FROM langgraph_runs WHERE run_id = ?1",
        [run_id],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .ok()
}

#[test]
fn the_answer_the_link_the_tokens_and_the_metadata_come_back() {
    let Some(url) = server() else { return };
    let repo = repo_with(&[(
        "jobs/echo.toml",
        job_file("echo", url, "", "links = [\"notion_url\"]"),
    )]);
    let (output, row) = run_job(&repo, "echo");
    assert!(output.status.success(), "{row:#}\n{}", stderr(&output));
    assert_eq!(row["status"], "succeeded");
    let result = row["result"].as_str().expect("result");
    assert!(result.starts_with("echo: Good morning, it is "), "{result}");
    let links: Vec<&str> = row["links"]
        .as_array()
        .expect("links")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        links,
        ["https://www.notion.so/backoffice/Daily-Briefing-0123456789abcdef0123456789abcdef"]
    );
    assert!(
        row["prompt_tokens"].as_u64().is_some_and(|n| n > 0),
        "{row:#}"
    );
    let run_id = row["id"].as_i64().expect("id");
    let (thread, remote) = remote_of(&repo.state(), run_id).expect("remote ids recorded");
    let (status, remote_run) = http(
        "GET",
        &format!("{url}/threads/{thread}/runs/{remote}"),
        None,
    );
    assert_eq!(status, 200, "{remote_run}");
    assert_eq!(remote_run["status"], "success");
    let metadata = &remote_run["metadata"];
    assert_eq!(metadata["backoffice_job"], "echo");
    assert_eq!(metadata["backoffice_run"], run_id);
    assert!(
        metadata["scheduled_for"].as_str().is_some() && metadata["commit"].as_str().is_some(),
        "{metadata}"
    );
}

#[test]
fn a_job_thread_keeps_state_across_runs_and_a_run_thread_does_not() {
    let Some(url) = server() else { return };
    let repo = repo_with(&[
        ("jobs/kept.toml", job_file("state", url, "", "")),
        (
            "jobs/fresh.toml",
            job_file("state", url, "", "thread = \"run\""),
        ),
        (
            "jobs/stateless.toml",
            job_file("state", url, "", "thread = \"none\""),
        ),
    ]);
    let answers = |job: &str| -> Vec<String> {
        (0..2)
            .map(|_| {
                let (output, row) = run_job(&repo, job);
                assert!(output.status.success(), "{row:#}\n{}", stderr(&output));
                row["result"].as_str().unwrap_or("").to_string()
            })
            .collect()
    };
    assert_eq!(answers("kept"), ["count: 1", "count: 2"]);
    assert_eq!(answers("fresh"), ["count: 1", "count: 1"]);
    assert_eq!(answers("stateless"), ["count: 1", "count: 1"]);
    // A stateless run's thread is deleted afterwards.
    let conn = crate::support::runs_db(&repo.state());
    let thread: String = conn
        .query_row(
            "SELECT l.thread_id FROM langgraph_runs l JOIN runs r ON r.id = l.run_id WHERE r.job_id = 'stateless' LIMIT 1",
            [],
            |row| row.get(0),
        )
        .expect("thread");
    assert_eq!(http("GET", &format!("{url}/threads/{thread}"), None).0, 404);
}

#[test]
fn failures_are_told_apart_and_only_the_retryable_ones_retried() {
    let Some(url) = server() else { return };
    let repo = repo_with(&[
        (
            "jobs/fail.toml",
            job_file("fail", url, "retries = 2\nretry_delay = \"1s\"", ""),
        ),
        (
            "jobs/custom.toml",
            job_file(
                "fail",
                url,
                "",
                "[agent.input]\nerror = \"custom\"\nmessages = [{role = \"user\", content = \"x\"}]",
            ),
        ),
        ("jobs/nope.toml", job_file("nope", url, "", "")),
        ("jobs/ask.toml", job_file("ask", url, "", "")),
        (
            "jobs/down.toml",
            job_file(
                "echo",
                "http://127.0.0.1:9",
                "retries = 1\nretry_delay = \"1s\"",
                "",
            ),
        ),
    ]);
    let error = |job: &str| {
        let (output, row) = run_job(&repo, job);
        assert!(!output.status.success(), "{job}: {row:#}");
        assert_eq!(row["status"], "failed", "{job}: {row:#}");
        (
            row["error"].as_str().unwrap_or("").to_string(),
            row["attempt"].as_u64().unwrap_or(0),
        )
    };
    let (fail, attempt) = error("fail");
    assert!(fail.contains("ValueError: boom"), "{fail}");
    assert_eq!(attempt, 1, "a graph's own failure is not retried");
    let (custom, _) = error("custom");
    assert!(
        custom.contains("BriefingError"),
        "the type name is kept: {custom}"
    );
    let (nope, _) = error("nope");
    assert!(
        nope.contains("nope") && nope.contains("echo") && nope.contains("state"),
        "names the registered graphs: {nope}"
    );
    let (ask, _) = error("ask");
    assert!(
        ask.contains("interrupt") && ask.contains("Approve?"),
        "{ask}"
    );
    let (down, attempt) = error("down");
    assert!(down.contains("is `langgraph dev` running"), "{down}");
    assert_eq!(attempt, 2, "unreachable is retried");
}

#[test]
fn a_timed_out_run_is_cancelled_on_the_server() {
    let Some(url) = server() else { return };
    let repo = repo_with(&[(
        "jobs/slow.toml",
        job_file(
            "slow",
            url,
            "timeout = \"2s\"",
            "[agent.context]\nseconds = 60",
        ),
    )]);
    let (output, row) = run_job(&repo, "slow");
    assert_eq!(row["status"], "timed_out", "{row:#}\n{}", stderr(&output));
    let (thread, remote) =
        remote_of(&repo.state(), row["id"].as_i64().expect("id")).expect("remote ids");
    let cancelled = wait_until(Duration::from_secs(15), || {
        http(
            "GET",
            &format!("{url}/threads/{thread}/runs/{remote}"),
            None,
        )
        .1["status"]
            == "interrupted"
    });
    assert!(cancelled, "the remote run was left running");
    let (_, busy) = http(
        "POST",
        &format!("{url}/threads/search"),
        Some(&serde_json::json!({"status": "busy", "limit": 100})),
    );
    let busy_ids: Vec<&str> = busy
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["thread_id"].as_str())
        .collect();
    assert!(
        !busy_ids.contains(&thread.as_str()),
        "thread still busy: {busy}"
    );
}

/// A stand-in server for the answers `langgraph dev` never gives: each connection gets the
/// next of `replies` (status, headers, body), the last one repeating.
fn fake(replies: Vec<(u16, &'static str, &'static str)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().flatten().enumerate() {
            let Some(_) = read_request(&stream) else {
                continue;
            };
            let (status, headers, body) = replies[n.min(replies.len() - 1)];
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn server_errors_rate_limits_and_garbage_say_what_happened() {
    let cases = [
        (
            fake(vec![(500, "", "{\"detail\":\"database is locked\"}")]),
            "HTTP 500",
            "database is locked",
        ),
        (
            fake(vec![(
                429,
                "Retry-After: 1\r\n",
                "{\"detail\":\"slow down\"}",
            )]),
            "HTTP 429",
            "slow down",
        ),
        (
            fake(vec![(200, "", "<html>proxy</html>")]),
            "not JSON",
            "<html>proxy</html>",
        ),
        (
            fake(vec![(401, "", "{\"detail\":\"Invalid API key\"}")]),
            "LANGGRAPH_API_KEY",
            "Invalid API key",
        ),
    ];
    for (url, first, second) in &cases {
        let repo = repo_with(&[("jobs/x.toml", job_file("echo", url, "", ""))]);
        let (output, row) = run_job(&repo, "x");
        assert!(!output.status.success());
        let error = row["error"].as_str().unwrap_or("");
        assert!(
            error.contains(first) && error.contains(second),
            "{url}: {error}"
        );
    }
}

#[test]
fn check_names_the_mistakes_of_a_langgraph_job() {
    let repo = TestRepo::new();
    let base = |agent: &str| {
        format!(
            "name = \"x\"\nkind = \"agent\"\nschedule = \"0 7 * * *\"\n[agent]\norchestrator = \"langgraph\"\nprompt = \"p\"\n{agent}\n"
        )
    };
    repo.write("jobs/no-assistant.toml", &base(""));
    repo.write(
        "jobs/bad-url.toml",
        &base("assistant_id = \"agent\"\nurl = \"ftp://x\""),
    );
    repo.write(
        "jobs/bad-thread.toml",
        &base("assistant_id = \"agent\"\nthread = \"forever\""),
    );
    repo.write(
        "jobs/llm-field.toml",
        &base("assistant_id = \"agent\"\ntemperature = 0.3"),
    );
    repo.write(
        "jobs/bad-output.toml",
        &base("assistant_id = \"agent\"\noutput = \"messages[x]\""),
    );
    repo.write("jobs/both.toml", &base("assistant_id = \"agent\"\n[agent.config.configurable]\nmodel = \"m\"\n[agent.context]\nmodel = \"m\""));
    let output = run(backoffice(&repo.state())
        .arg("check")
        .arg(repo.work.join("jobs")));
    let text = stdout(&output);
    for expected in [
        "jobs/no-assistant.toml:5:16: `agent.assistant_id`: missing required field",
        "jobs/bad-url.toml:8:7: `agent.url`: `ftp://x` is not an http(s) URL",
        "jobs/bad-thread.toml:8:10: `agent.thread`",
        "jobs/llm-field.toml:8:15: `agent.temperature`: only used by orchestrator = \"llm\" or orchestrator = \"briefing\"",
        "jobs/bad-output.toml:8:10: `agent.output`",
        "`agent.context`: LangGraph refuses `config.configurable` and `context` together",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn through_serve_the_run_page_shows_the_answer_the_thread_and_the_link() {
    let Some(url) = server() else { return };
    let repo = TestRepo::new();
    repo.write(
        "jobs/echo.toml",
        &job_file("echo", url, "", "links = [\"notion_url\"]"),
    );
    let commit = repo.commit("a LangGraph job");
    let daemon = Daemon::start(
        &repo.state(),
        &["--repo", &repo.work.display().to_string()],
        &[],
    );
    assert!(daemon.wait_applied(&commit), "{}", daemon.log_text());
    let output = run(backoffice(&repo.state()).args(["run", "echo", "--wait", "--format", "json"]));
    let row: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    assert_eq!(row["status"], "succeeded", "{row:#}\n{}", daemon.log_text());
    let id = row["id"].as_i64().expect("id");
    let page = repo.state().join(format!("site/runs/{id}.html"));
    let shown = wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&page)
            .is_ok_and(|html| html.contains("succeeded") && html.contains("notion.so"))
    });
    assert!(shown, "the run page with its link:\n{}", daemon.log_text());
    let html = std::fs::read_to_string(&page).expect("page");
    let (thread, remote) = remote_of(&repo.state(), id).expect("remote ids");
    assert!(html.contains("echo: Good morning"), "the answer");
    assert!(
        html.contains(&thread) && html.contains(&remote),
        "the thread and run ids"
    );
    drop(daemon);
}

/// Starts `serve` on `repo`, runs `job` through it without waiting, and returns the daemon
/// with our run's remote (thread, run) once the server has it (the open one: earlier runs
/// of the test are done).
fn started_remote(
    repo: &TestRepo,
    commit: &str,
    job: &str,
    args: &[&str],
) -> (Daemon, String, String) {
    let mut serve_args = vec!["--repo".to_string(), repo.work.display().to_string()];
    serve_args.extend(args.iter().map(|a| a.to_string()));
    let serve_args: Vec<&str> = serve_args.iter().map(String::as_str).collect();
    let daemon = Daemon::start(&repo.state(), &serve_args, &[]);
    assert!(daemon.wait_applied(commit), "{}", daemon.log_text());
    let output = run(backoffice(&repo.state()).args(["run", job, "--format", "json"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let mut remote = None;
    wait_until(Duration::from_secs(20), || {
        let conn = crate::support::runs_db(&repo.state());
        remote = conn
            .query_row(
                "SELECT thread_id, remote_run_id FROM langgraph_runs WHERE done = 0 ORDER BY run_id DESC LIMIT 1",
                [],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
            )
            .ok();
        remote.is_some()
    });
    let (thread, run_id) =
        remote.unwrap_or_else(|| panic!("no remote run:\n{}", daemon.log_text()));
    (daemon, thread, run_id)
}

#[test]
fn a_shutdown_or_a_crash_leaves_nothing_running_on_the_server() {
    let Some(url) = server() else { return };
    let status = |thread: &str, run: &str| {
        http("GET", &format!("{url}/threads/{thread}/runs/{run}"), None).1["status"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let repo = TestRepo::new();
    repo.write(
        "jobs/slow.toml",
        &job_file(
            "slow",
            url,
            "timeout = \"5m\"",
            "[agent.context]\nseconds = 120",
        ),
    );
    let commit = repo.commit("a slow graph");

    // A graceful shutdown cuts the run off after its grace, and cancels it remotely.
    let (daemon, thread, run) = started_remote(&repo, &commit, "slow", &["--grace", "1s"]);
    assert!(
        wait_until(Duration::from_secs(15), || status(&thread, &run)
            == "running"),
        "the remote run starts"
    );
    let exit = daemon.stop();
    assert!(exit.success());
    assert_eq!(
        status(&thread, &run),
        "interrupted",
        "cancelled before serve exited"
    );

    // SIGKILL: the server cancels the run when the join's connection drops, and the next
    // start marks our interrupted run's remote run as dealt with.
    let (mut daemon, thread, run) = started_remote(&repo, &commit, "slow", &[]);
    assert!(wait_until(Duration::from_secs(15), || status(
        &thread, &run
    ) == "running"));
    daemon.signal("KILL");
    let _ = daemon.child.wait();
    assert!(
        wait_until(Duration::from_secs(15), || status(&thread, &run)
            == "interrupted"),
        "the crash left the remote run going: {}",
        status(&thread, &run)
    );
    let restarted = Daemon::start(
        &repo.state(),
        &["--repo", &repo.work.display().to_string()],
        &[],
    );
    let settled = wait_until(Duration::from_secs(15), || {
        crate::support::runs_db(&repo.state())
            .query_row(
                "SELECT count(*) FROM langgraph_runs WHERE done = 0",
                [],
                |row| row.get::<_, i64>(0),
            )
            .is_ok_and(|open| open == 0)
    });
    assert!(
        settled,
        "the restart dealt with the crashed run's remote run:\n{}",
        restarted.log_text()
    );
    drop(restarted);
}

/// `LANGGRAPH_API_KEY` goes only into the `X-Api-Key` header: a server that quotes it back
/// in an error leaves no trace of it in the run, runs.db or the output.
#[test]
fn a_server_echoing_the_api_key_leaks_nothing() {
    const KEY: &str = "lsv2_canary_langgraph_key_5e1f";
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let Some(request) = read_request(&stream) else {
                continue;
            };
            let sent = request.header("x-api-key").unwrap_or("none").to_string();
            let body = format!("{{\"detail\":\"Invalid API key: {sent}\"}}");
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let repo = repo_with(&[("jobs/x.toml", job_file("echo", &url, "", ""))]);
    let output = run(backoffice(&repo.state())
        .args(["run", "x", "--wait", "--format", "json", "--repo"])
        .arg(&repo.work)
        .env("LANGGRAPH_API_KEY", KEY));
    let row: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    let error = row["error"].as_str().unwrap_or("");
    assert!(
        error.contains("Invalid API key: [redacted LANGGRAPH_API_KEY]"),
        "the server got the key, the error does not show it: {error}"
    );
    assert!(error.contains("LANGGRAPH_API_KEY"), "{error}");
    let printed = format!("{}{}", stdout(&output), stderr(&output));
    assert!(!printed.contains(KEY), "{printed}");
    for (place, bytes) in crate::secrets::files(&repo.state()) {
        assert!(
            !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "the key is in {place}"
        );
    }
}
