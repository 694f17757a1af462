//! The Context Registry through real clients: the official MCP Python and TypeScript SDKs (and raw JSON-RPC
//! lines) against the real `backoffice mcp` and `serve --mcp-listen`, plus the command-line
//! parts (`connect`, `registry import`, `registry stats`).
//!
//! The Python scripts live in `tests/mcp/`; they need a Python with the `mcp` package, found
//! in `BACKOFFICE_TEST_PYTHON` or the venv `.ci/run` makes (`target/mcp-venv`). Without it
//! these tests say so loudly and skip, except under CI (`BACKOFFICE_CI` set, as `.ci/run` does), where they fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{Daemon, TestRepo, backoffice, job, run, stderr, stdout, wait_until};

/// The Python that has the MCP SDK, or `None` (after a loud note) when there is none here.
fn python() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidate = std::env::var_os("BACKOFFICE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/mcp-venv/bin/python"));
    let usable = Command::new(&candidate)
        .args(["-c", "import mcp"])
        .output()
        .is_ok_and(|o| o.status.success());
    if usable {
        return Some(candidate);
    }
    let message = format!(
        "no Python with the `mcp` package at {}: run .ci/run once (it makes target/mcp-venv) or set BACKOFFICE_TEST_PYTHON",
        candidate.display()
    );
    assert!(std::env::var_os("BACKOFFICE_CI").is_none(), "{message}");
    eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
    None
}

/// Runs `tests/mcp/<script>` against the binary; fails with its output when a case fails.
fn python_script(script: &str, env: &[(&str, &str)]) {
    let Some(python) = python() else { return };
    client_script(&python, script, env);
}

/// Runs `program tests/mcp/<script>` with the binary's path in `BACKOFFICE_BIN`; every
/// script ends with "N passed, M failed".
fn client_script(program: &Path, script: &str, env: &[(&str, &str)]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(program)
        .arg(root.join("tests/mcp").join(script))
        .env("BACKOFFICE_BIN", crate::support::binary())
        .envs(env.iter().copied())
        .current_dir(root)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && out.contains(" passed, 0 failed"),
        "{script}:\n{out}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_registry_page_shows_channels_sharing_and_no_message_content() {
    let state = tempfile::tempdir().expect("state");
    let state = state.path();
    let folder = state.to_str().expect("path").to_string();
    let Some(python) = python() else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(&python)
        .arg(root.join("tests/mcp/fill_registry.py"))
        .arg(&folder)
        .env("BACKOFFICE_BIN", crate::support::binary())
        .current_dir(root)
        .output()
        .expect("python");
    assert!(
        output.status.success(),
        "fill_registry.py:\n{}\n{}",
        stdout_of(&output.stdout),
        stdout_of(&output.stderr)
    );
    let repo = TestRepo::new();
    repo.write("jobs/a.toml", &job("A", "0 3 1 1 *", ""));
    repo.commit("a job");
    let work = repo.work.to_str().expect("path");
    let site = state.join("site");
    let daemon = Daemon::start(state, &["--repo", work, "--no-http"], &[]);
    assert!(
        wait_until(Duration::from_secs(20), || site
            .join("registry.json")
            .exists()),
        "registry page not written:\n{}",
        daemon.log_text()
    );
    daemon.stop();
    let page = std::fs::read_to_string(site.join("registry.html")).expect("registry.html");
    for expected in [
        "cursor",
        "claude-code",
        "claude-desktop",
        "Cursor plan 59",
        "claude-desktop continued cursor conversations 3 times this week",
        "found them in searches once this week",
        "registry/2.html",
        "<svg class=\"chart days\"",
    ] {
        assert!(
            page.contains(expected),
            "registry.html lacks {expected:?}:\n{page}"
        );
    }
    assert!(
        !page.contains("claude-desktop continued claude-desktop"),
        "reading its own conversations is not sharing"
    );
    let second = std::fs::read_to_string(site.join("registry/2.html")).expect("page 2");
    assert!(second.contains("Cursor plan 09") && second.contains("href=\"../style.css\""));
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(site.join("registry.json")).expect("registry.json"),
    )
    .expect("json");
    assert_eq!(json["sessions"], 63);
    assert_eq!(json["messages"], 123);
    let cursor = json["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .find(|c| c["channel"] == "cursor")
        .expect("cursor");
    assert_eq!(cursor["sessions"], 60);
    assert_eq!(cursor["days"].as_array().expect("days").len(), 30);
    let shared = &json["cross_client"][0];
    assert_eq!(
        (&shared["caller"], &shared["served"], &shared["reads_week"]),
        (&"claude-desktop".into(), &"cursor".into(), &3.into())
    );
    let index = std::fs::read_to_string(site.join("index.html")).expect("index");
    assert!(
        index.contains("href=\"registry.html\""),
        "the dashboard tile links the page"
    );
    for (file, bytes) in crate::secrets::files(&site) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("MESSAGE-BODY-7f3a") && !text.contains("재시도 정책 1"),
            "message content in {file}"
        );
    }

    // `--site-registry counts`: not even titles or workspaces.
    let daemon = Daemon::start(
        state,
        &["--repo", work, "--site-registry", "counts", "--no-http"],
        &[],
    );
    assert!(
        wait_until(Duration::from_secs(20), || {
            std::fs::read_to_string(site.join("registry.json"))
                .is_ok_and(|t| t.contains("\"titles\": false"))
        }),
        "counts-only page not written:\n{}",
        daemon.log_text()
    );
    for (file, bytes) in crate::secrets::files(&site) {
        let text = String::from_utf8_lossy(&bytes);
        if file.contains("registry") {
            assert!(
                !text.contains("Cursor plan") && !text.contains("/work/app"),
                "a title or workspace in {file}"
            );
        }
    }
    daemon.stop();
}

fn stdout_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn protocol_framing_handshakes_and_shutdown() {
    python_script("test_protocol.py", &[]);
}

#[test]
fn every_tool_and_error_path_through_the_sdk() {
    python_script("test_tools.py", &[]);
}

#[test]
fn korean_english_and_hostile_searches() {
    python_script("test_search.py", &[]);
}

#[test]
fn three_processes_log_at_once_and_lose_nothing() {
    python_script("test_concurrency.py", &[]);
}

/// `node` and the TypeScript MCP SDK (`BACKOFFICE_TS_SDK`, or the `target/mcp-ts` that `.ci/run`
/// fills), or `None` (after a loud note) when either is missing here.
fn node_with_ts_sdk() -> Option<(PathBuf, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let node = std::env::var_os("BACKOFFICE_TEST_NODE")
        .map_or_else(|| PathBuf::from("node"), PathBuf::from);
    let modules = std::env::var_os("BACKOFFICE_TS_SDK")
        .map_or_else(|| root.join("target/mcp-ts/node_modules"), PathBuf::from);
    let mut missing = Vec::new();
    if !Command::new(&node)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        missing.push(format!("`{}`", node.display()));
    }
    if !modules
        .join("@modelcontextprotocol/sdk/package.json")
        .exists()
    {
        missing.push(format!(
            "@modelcontextprotocol/sdk under {}",
            modules.display()
        ));
    }
    if missing.is_empty() {
        return Some((node, modules));
    }
    let message = format!(
        "the TypeScript SDK test needs {}: run .ci/run once (it installs the SDK into target/mcp-ts) or set BACKOFFICE_TEST_NODE / BACKOFFICE_TS_SDK",
        missing.join(" and ")
    );
    assert!(std::env::var_os("BACKOFFICE_CI").is_none(), "{message}");
    eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
    None
}

/// The SDK desktop clients are built on validates our output schemas with ajv: it must
/// accept them without a warning (schemars' `uint64` formats made sixteen per session).
#[test]
fn the_typescript_sdk_sees_every_tool_with_schemas_it_accepts_silently() {
    let Some((node, modules)) = node_with_ts_sdk() else {
        return;
    };
    let modules = modules.to_string_lossy();
    client_script(&node, "ts_client.mjs", &[("BACKOFFICE_TS_SDK", &modules)]);
}

#[test]
fn streamable_http_in_serve_checks_origin_host_and_token() {
    let repo = TestRepo::new();
    repo.write("jobs/standup.toml", &job("Standup", "0 9 * * *", ""));
    repo.commit("a job");
    let state = repo.state();
    let args = [
        "--repo",
        repo.work.to_str().expect("path"),
        "--mcp-listen",
        "127.0.0.1:0",
    ];
    let daemon = Daemon::start(&state, &args, &[("BACKOFFICE_MCP_TOKEN", "s3cret-token")]);
    let mut url = String::new();
    let found = wait_until(Duration::from_secs(10), || {
        let log = daemon.log_text();
        match log.split("Context Registry over MCP at ").nth(1) {
            Some(rest) => {
                url = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                true
            }
            None => false,
        }
    });
    assert!(found, "no MCP address in the log:\n{}", daemon.log_text());
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    python_script(
        "test_http.py",
        &[("MCP_URL", url.as_str()), ("MCP_TOKEN", "s3cret-token")],
    );
    let status = daemon.stop();
    assert!(status.success(), "serve did not stop cleanly: {status:?}");
}

#[test]
fn registry_stats_counts_what_was_imported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let output = run(backoffice(&state).args(["registry", "stats", "--format", "json"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let empty: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(empty["sessions"], 0);
    assert!(
        !state.join("registry.db").exists(),
        "stats must not create the registry"
    );

    let projects = dir.path().join("home/.claude/projects/-work-app");
    std::fs::create_dir_all(projects.join("abc/subagents")).expect("mkdir");
    std::fs::write(projects.join("abc.jsonl"), CLAUDE_CODE_TRANSCRIPT).expect("write");
    std::fs::write(
        projects.join("abc/subagents/agent-1.jsonl"),
        r#"{"type":"user","isSidechain":true,"sessionId":"abc","uuid":"x1","message":{"role":"user","content":"side chain"}}"#,
    )
    .expect("write");
    let import = |state: &Path| {
        run(backoffice(state)
            .args(["registry", "import", "claude-code", "--format", "json"])
            .env("HOME", dir.path().join("home")))
    };
    let first = import(&state);
    assert!(first.status.success(), "{}", stderr(&first));
    let report: serde_json::Value = serde_json::from_str(&stdout(&first)).expect("json");
    assert_eq!(
        (&report["files"], &report["messages_added"]),
        (&1.into(), &3.into())
    );
    let again: serde_json::Value = serde_json::from_str(&stdout(&import(&state))).expect("json");
    assert_eq!(
        (&again["messages_added"], &again["messages_already_there"]),
        (&0.into(), &3.into())
    );

    let output = run(backoffice(&state).args(["registry", "stats", "--format", "json"]));
    let stats: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(
        (&stats["sessions"], &stats["messages"]),
        (&1.into(), &3.into())
    );
    assert_eq!(stats["channels"][0]["channel"], "claude-code");
    assert!(stats["db_bytes"].as_u64().expect("bytes") > 0);
    let text = stdout(&run(backoffice(&state).args(["registry", "stats"])));
    assert!(
        text.contains("1 sessions, 3 messages") && text.contains("claude-code"),
        "{text}"
    );
}

const CLAUDE_CODE_TRANSCRIPT: &str = r#"{"type":"summary","summary":"Nightly backup job","leafUuid":"a3"}
{"parentUuid":null,"isSidechain":false,"cwd":"/work/app","sessionId":"abc","version":"2.1.1","type":"user","message":{"role":"user","content":"백업 잡을 매일 밤 2시에 돌리자"},"uuid":"a1","timestamp":"2026-11-24T17:00:00.000Z"}
{"parentUuid":"a1","isSidechain":false,"cwd":"/work/app","sessionId":"abc","type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"jobs/backup.toml with schedule 0 2 * * * in Asia/Seoul."},{"type":"tool_use","id":"t","name":"Write","input":{}}]},"uuid":"a2","timestamp":"2026-11-24T17:00:09.000Z"}
{"type":"system","subtype":"compact_boundary","sessionId":"abc","uuid":"s1"}
{"parentUuid":"a2","isSidechain":false,"cwd":"/work/app","sessionId":"abc","type":"user","message":{"role":"user","content":[{"type":"text","text":"좋아, 커밋해 줘"}]},"uuid":"a3","timestamp":"2026-11-24T17:01:00.000Z"}
"#;

#[test]
fn connect_prints_an_entry_and_write_merges_with_a_backup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let home = dir.path().join("home");
    let printed = run(backoffice(&state)
        .args(["connect", "claude-desktop"])
        .env("HOME", &home));
    assert!(printed.status.success(), "{}", stderr(&printed));
    let entry: serde_json::Value = serde_json::from_str(&stdout(&printed)).expect("json");
    let server = &entry["mcpServers"]["context-registry"];
    assert_eq!(server["command"], crate::support::binary());
    assert_eq!(server["args"], serde_json::json!(["mcp"]));
    assert_eq!(server["env"]["BACKOFFICE_CHANNEL"], "claude-desktop");
    assert_eq!(
        server["env"]["BACKOFFICE_STATE"],
        state.to_str().expect("path")
    );

    let code = run(backoffice(&state)
        .args(["connect", "claude-code"])
        .env("HOME", &home));
    assert!(stderr(&code).contains("claude mcp add --scope user"));

    let config = home.join(".cursor/mcp.json");
    std::fs::create_dir_all(config.parent().expect("parent")).expect("mkdir");
    let before = r#"{"mcpServers": {"github": {"command": "gh-mcp", "env": {"TOKEN": "x"}}}, "other": [1, 2]}"#;
    std::fs::write(&config, before).expect("write");
    let written = run(backoffice(&state)
        .args(["connect", "cursor", "--write"])
        .env("HOME", &home));
    assert!(written.status.success(), "{}", stderr(&written));
    let merged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).expect("read")).expect("json");
    assert_eq!(merged["mcpServers"]["github"]["env"]["TOKEN"], "x");
    assert_eq!(merged["other"], serde_json::json!([1, 2]));
    assert_eq!(
        merged["mcpServers"]["context-registry"]["env"]["BACKOFFICE_CHANNEL"],
        "cursor"
    );
    let backups: Vec<_> = std::fs::read_dir(config.parent().expect("parent"))
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("mcp.json.bak-"))
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(
        std::fs::read_to_string(backups[0].path()).expect("backup"),
        before
    );

    std::fs::write(&config, "{broken").expect("write");
    let refused = run(backoffice(&state)
        .args(["connect", "cursor", "--write"])
        .env("HOME", &home));
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("not a JSON object"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(std::fs::read_to_string(&config).expect("read"), "{broken");
}

#[test]
fn mcp_logs_to_a_file_too_and_keeps_stdout_for_the_protocol() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("mcp.log");
    let mut child = backoffice(&dir.path().join("state"))
        .args(["mcp", "--log-file"])
        .arg(&log)
        .env("BACKOFFICE_LOG", "debug")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn mcp");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"2025-06-18","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#
    )
    .expect("write");
    drop(stdin);
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<String> = stdout(&output).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let reply: serde_json::Value = serde_json::from_str(&lines[0]).expect("json");
    assert_eq!(reply["id"], 0);
    let logged = std::fs::read_to_string(&log).expect("log file");
    assert!(logged.contains("initialized"), "{logged}");
    assert!(!stderr(&output).is_empty());
}

#[test]
fn serve_refuses_an_mcp_address_that_is_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let repo = TestRepo::new();
    repo.write("jobs/standup.toml", &job("Standup", "0 9 * * *", ""));
    repo.commit("a job");
    let mut child = backoffice(&repo.state())
        .args(["serve", "--repo", repo.work.to_str().expect("path")])
        .args(["--mcp-listen", &addr])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let exited = wait_until(Duration::from_secs(15), || {
        child.try_wait().expect("try_wait").is_some()
    });
    if !exited {
        let _ = child.kill();
    }
    assert!(exited, "serve kept running on a taken MCP port");
    let output = child.wait_with_output().expect("output");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&format!("cannot listen for MCP on {addr}")),
        "{}",
        stderr(&output)
    );
}

/// Every client starts its own server: a dozen opening a new `registry.db` at the same moment
/// all get it (one switching the file to WAL made the others fail with "database is locked").
#[test]
fn a_dozen_servers_opening_a_new_registry_at_once_all_start() {
    for round in 0..20 {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        let children: Vec<_> = (0..12)
            .map(|_| {
                backoffice(&state)
                    .arg("mcp")
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn mcp")
            })
            .collect();
        for child in children {
            let output = child.wait_with_output().expect("wait");
            // With no client on stdin, each ends at the handshake: past opening the file.
            let err = String::from_utf8_lossy(&output.stderr);
            assert!(
                err.contains("handshake failed") && !err.contains("database"),
                "round {round}: {err}"
            );
        }
    }
}
