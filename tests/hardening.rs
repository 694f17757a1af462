//! Issue 8, each defect as it was seen from outside: a committed template bomb, a stalled
//! client, a rebinding `Host`, control characters in a commit message or a model answer,
//! hostile stdio lines for `backoffice mcp`, and command-line manners. Named `r8_…` after the
//! issue, as ripgrep names its regression tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::time::Duration;

use backoffice::site::server::{HEADER_TIMEOUT, SiteServer};

use crate::fakes::llm::{FakeLlm, Reply};
use crate::support::{Daemon, TestRepo, backoffice, job, run, stderr, stdout, wait_until};

/// A job whose prompt nests `depth` `{{#if}}` blocks.
fn template_bomb(depth: usize) -> String {
    format!(
        "name = \"Bomb\"\nkind = \"agent\"\nschedule = \"0 9 * * *\"\n[agent]\nprompt = \"\"\"{}x{}\"\"\"\n",
        "{{#if date}}".repeat(depth),
        "{{/if}}".repeat(depth)
    )
}

#[test]
fn r8_a_committed_template_bomb_is_an_invalid_file_not_a_dead_daemon() {
    let repo = TestRepo::new();
    repo.write("jobs/standup.toml", &job("Stand-up", "0 9 * * *", ""))
        .write("jobs/bomb.toml", &template_bomb(2_000))
        .write(
            "jobs/deep.toml",
            &format!(
                "name = \"Deep\"\nkind = \"agent\"\nschedule = \"@daily\"\n[agent]\nprompt = \"x\"\n[agent.sources.{}]\n",
                vec!["a"; 50_000].join(".")
            ),
        );
    let commit = repo.commit("a prompt of 2,000 nested blocks and 50,000 nested tables");
    let state = repo.state();
    for start in ["first start", "restart"] {
        let daemon = Daemon::start(&state, &["--repo", repo.work.to_str().expect("path")], &[]);
        assert!(
            daemon.wait_applied(&commit),
            "{start}: {}",
            daemon.log_text()
        );
        let status = daemon.status();
        let jobs = status["jobs"].as_array().expect("jobs");
        assert!(
            jobs.iter().any(|j| j["id"] == "standup"),
            "{start}: the good job is deployed: {status}"
        );
        let errors = status["applied"]["errors"].to_string();
        assert!(
            errors.contains("jobs/bomb.toml:5:10: `agent.prompt`: blocks nest deeper than 32")
                && errors.contains("jobs/deep.toml:6:")
                && errors.contains("nest too deeply"),
            "{start}: both files are reported: {errors}"
        );
        let mut daemon = daemon;
        assert!(
            daemon.child.try_wait().expect("wait").is_none(),
            "{start}: serve is alive:\n{}",
            daemon.log_text()
        );
        assert!(daemon.stop().success());
    }

    // `check` refuses it with file:line:column, quickly, even at 5,000 levels.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("bomb.toml"), template_bomb(5_000)).expect("write");
    std::fs::write(
        dir.path().join("many.toml"),
        template_bomb(0).replace("x\"\"\"", &format!("{}\"\"\"", "{{date}}".repeat(50_000))),
    )
    .expect("write");
    let output = run(backoffice(&state).arg("check").arg(dir.path()));
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}{}", stderr(&output));
    assert!(
        text.contains("bomb.toml:5:10: `agent.prompt`: blocks nest deeper than 32 levels (template line 1, column 385)"),
        "{text}"
    );
    assert!(
        text.contains("many.toml:5:10: `agent.prompt`: the template has more than 100 `{{…}}` tags (template line 1, column 801)"),
        "{text}"
    );
}

#[test]
fn r8_check_names_what_was_written_and_where() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("cron.toml"), job("Cron", "99 7 * * *", "")).expect("write");
    let mut bytes = job("Bytes", "0 7 * * *", "").into_bytes();
    let line_four = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(2)
        .map(|(i, _)| i + 1)
        .expect("three lines");
    bytes.splice(line_four..line_four, b"# caf\xe9\n".iter().copied());
    std::fs::write(dir.path().join("bytes.toml"), bytes).expect("write");
    let output = run(backoffice(&dir.path().join("state"))
        .arg("check")
        .arg(dir.path()));
    let text = stdout(&output);
    assert!(
        text.contains(
            "cron.toml:3:12: `schedule`: minute `99` is not valid: `99` is out of range; use 0-59"
        ),
        "{text}"
    );
    assert!(
        !text.contains("0 99 7"),
        "no internal six-field form: {text}"
    );
    assert!(
        text.contains("bytes.toml:4:6: is not UTF-8 text here"),
        "{text}"
    );
}

#[test]
fn r8_a_closed_pipe_ends_a_command_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("often.toml"), job("Often", "* * * * *", "")).expect("write");
    let mut child = backoffice(&dir.path().join("state"))
        .args(["check", "--format", "json", "--count", "100000"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    assert_eq!(first.trim(), "{");
    // The reader is gone now, as with `| head -1`.
    let output = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    use std::os::unix::process::ExitStatusExt;
    assert!(
        output.status.success() || output.status.signal() == Some(libc::SIGPIPE),
        "{:?}",
        output.status
    );
}

/// A request for `path` with `host`; returns the status code.
fn status_for(addr: SocketAddr, path: &str, host: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[test]
fn r8_stalled_clients_do_not_freeze_the_site_and_foreign_hosts_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).expect("mkdir");
    std::fs::write(site.join("big.html"), vec![b'x'; 16 << 20]).expect("write");
    std::fs::write(site.join("status.json"), "{\"ok\":true}").expect("write");
    let server =
        SiteServer::start("127.0.0.1:0", &site, &["status.example.com".into()]).expect("start");
    let addr = server.addr();

    // Eight clients ask for a 16 MB page and never read it.
    let stalled: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut stream = TcpStream::connect(addr).expect("connect");
            stream
                .write_all(b"GET /big.html HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .expect("send");
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..20 {
        assert_eq!(
            status_for(addr, "/status.json", "localhost"),
            200,
            "status.json answers while eight clients stall"
        );
    }

    // DNS rebinding: a name that is not ours is refused; ours and a configured one are not.
    let port = addr.port();
    assert_eq!(
        status_for(
            addr,
            "/status.json",
            &format!("rebind.attacker.example:{port}")
        ),
        403
    );
    assert_eq!(status_for(addr, "/status.json", "10.1.2.3"), 403);
    assert_eq!(
        status_for(addr, "/status.json", &format!("127.0.0.1:{port}")),
        200
    );
    assert_eq!(status_for(addr, "/status.json", "status.example.com"), 200);
    drop(stalled);
    server.stop();
}

#[test]
fn r8_a_silent_client_is_closed_and_the_site_keeps_accepting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).expect("mkdir");
    std::fs::write(site.join("status.json"), "{}").expect("write");
    let server = SiteServer::start("127.0.0.1:0", &site, &[]).expect("start");
    let addr = server.addr();
    // Connects, sends half a request line, then nothing.
    let mut silent = TcpStream::connect(addr).expect("connect");
    silent.write_all(b"GET /status.json HT").expect("send");
    silent
        .set_read_timeout(Some(HEADER_TIMEOUT * 3))
        .expect("timeout");
    let mut rest = Vec::new();
    let closed = silent.read_to_end(&mut rest);
    assert!(
        closed.is_ok(),
        "the server closed the silent connection itself: {closed:?}"
    );
    // Nothing arrived for longer than a read timeout: the server still accepts.
    assert_eq!(status_for(addr, "/status.json", "localhost"), 200);
    server.stop();
}

#[test]
fn r8_control_characters_from_commits_and_models_stay_harmless() {
    let fake = FakeLlm::start();
    fake.set_default(Reply::Answer(
        "\u{1b}]0;pwned\u{7}\u{1b}[2J\rNotes\u{1}: ship it".into(),
    ));
    let repo = TestRepo::new();
    repo.write("jobs/standup.toml", &job("Stand-up", "0 9 * * *", ""));
    let commit = repo.commit("fix\u{1} the \u{1b}[31mbuild\u{1b}[0m");
    let url = fake.url();
    let daemon = Daemon::start(
        &repo.state(),
        &["--repo", repo.work.to_str().expect("path")],
        &[("BACKOFFICE_LLM_URL", url.as_str())],
    );
    assert!(daemon.wait_applied(&commit), "{}", daemon.log_text());
    let state = repo.state();
    let waited = run(backoffice(&state).args(["run", "standup", "--wait"]));
    assert!(waited.status.success(), "{}", stdout(&waited));
    let feed = state.join("site/feed.xml");
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read_to_string(&feed)
            .is_ok_and(|f| f.contains("the"))),
        "feed written"
    );
    let feed = std::fs::read(&feed).expect("feed");
    let forbidden = |b: &u8| *b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r');
    assert!(
        !feed.iter().any(forbidden),
        "feed.xml holds characters XML 1.0 forbids: {}",
        String::from_utf8_lossy(&feed)
    );
    for page in ["site/index.html", "site/deployments.html"] {
        let html = std::fs::read(state.join(page)).expect("page");
        assert!(!html.iter().any(forbidden), "{page}");
    }
    let outputs = [
        waited,
        run(backoffice(&state).arg("status")),
        run(backoffice(&state).arg("runs")),
    ];
    for output in &outputs {
        let text = stdout(output);
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\r'),
            "{text:?}"
        );
    }
    assert!(
        stdout(&outputs[0]).contains("␛]0;pwned␇"),
        "{}",
        stdout(&outputs[0])
    );
    daemon.stop();
}

/// `backoffice mcp` with raw pipes: write lines (any bytes), read reply lines.
pub(crate) struct RawMcp {
    child: std::process::Child,
    replies: std::sync::mpsc::Receiver<serde_json::Value>,
}

impl RawMcp {
    pub(crate) fn start(state: &std::path::Path) -> RawMcp {
        RawMcp::start_with(state, &[])
    }

    /// With extra environment variables.
    pub(crate) fn start_with(state: &std::path::Path, env: &[(&str, &str)]) -> RawMcp {
        let mut child = backoffice(state)
            .arg("mcp")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mcp");
        let stdout = child.stdout.take().expect("stdout");
        let (send, replies) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line).unwrap_or(serde_json::Value::Null);
                if send.send(value).is_err() {
                    break;
                }
            }
        });
        RawMcp { child, replies }
    }

    pub(crate) fn send(&mut self, line: &[u8]) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(line).expect("write");
        stdin.write_all(b"\n").expect("write");
        stdin.flush().expect("flush");
    }

    pub(crate) fn reply(&self) -> serde_json::Value {
        self.replies
            .recv_timeout(Duration::from_secs(10))
            .expect("a reply within 10 s")
    }
}

impl Drop for RawMcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn r8_mcp_answers_hostile_lines_and_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut mcp = RawMcp::start(&dir.path().join("state"));
    mcp.send(br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#);
    assert_eq!(mcp.reply()["id"], 1);
    mcp.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);

    mcp.send(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"x\":\"\xff\xfe\"}");
    let parse = mcp.reply();
    assert_eq!(parse["error"]["code"], -32700, "{parse}");
    assert_eq!(parse.get("id"), Some(&serde_json::Value::Null), "{parse}");

    mcp.send(br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#);
    let null_id = mcp.reply();
    assert_eq!(
        null_id.get("id"),
        Some(&serde_json::Value::Null),
        "{null_id}"
    );
    assert_eq!(null_id["error"]["code"], -32600, "{null_id}");

    for (id, params) in [
        (3, r#"{"name":"extract","arguments":"blue-green"}"#),
        (4, r#"{"name":"extract","arguments":[1,2]}"#),
        (5, r#"{"name":"extract"}"#),
    ] {
        mcp.send(
            format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{params}}}"#)
                .as_bytes(),
        );
        let reply = mcp.reply();
        assert_eq!(
            (reply["id"].clone(), reply["error"]["code"].clone()),
            (serde_json::json!(id), serde_json::json!(-32602)),
            "{params}: {reply}"
        );
    }
    mcp.send(
        br#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"list_sessions"}}"#,
    );
    let listed = mcp.reply();
    assert_eq!(listed["id"], 6);
    assert_eq!(listed["result"]["isError"], false, "{listed}");
    mcp.send(br#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#);
    assert_eq!(mcp.reply()["id"], 7, "still serving");
}

#[test]
fn r8_a_lower_case_bearer_scheme_is_accepted_over_http() {
    let repo = TestRepo::new();
    repo.write("jobs/standup.toml", &job("Standup", "0 9 * * *", ""));
    repo.commit("a job");
    let state = repo.state();
    let daemon = Daemon::start(
        &state,
        &[
            "--repo",
            repo.work.to_str().expect("path"),
            "--mcp-listen",
            "127.0.0.1:0",
        ],
        &[("BACKOFFICE_MCP_TOKEN", "lower-case-token")],
    );
    let mut addr = String::new();
    assert!(wait_until(Duration::from_secs(10), || {
        let log = daemon.log_text();
        log.split("Context Registry over MCP at http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .map(|found| addr = found.to_string())
            .is_some()
    }));
    let status = |authorization: &str| {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
        let mut stream = TcpStream::connect(&addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        write!(
            stream,
            "POST /mcp HTTP/1.1\r\nHost: localhost\r\n{authorization}Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let mut head = String::new();
        BufReader::new(stream)
            .read_line(&mut head)
            .expect("status line");
        head.split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(status("authorization: bearer lower-case-token\r\n"), "200");
    assert_eq!(status("Authorization: BEARER lower-case-token\r\n"), "200");
    assert_eq!(status("Authorization: Bearer wrong-token\r\n"), "401");
    assert_eq!(status(""), "401");
    daemon.stop();
}
