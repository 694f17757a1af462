//! The secret canary: every secret variable Backoffice reads holds a unique canary value while
//! the whole product runs (serve, a job whose LLM server echoes the key back, the MCP server
//! over stdio and HTTP, the status site, the command line); then `state/` (databases and WAL
//! files included), the site, the log and every terminal output are searched. Zero hits.
//!
//! A connector that reads a new secret adds its variable to `SECRET_VARS`, and with it to this
//! test; a connector with a fake server adds a step here that makes that server echo it.

use std::path::Path;
use std::time::Duration;

use backoffice::connectors::secret::SECRET_VARS;

use crate::fakes::llm::{FakeLlm, Reply};
use crate::hardening::RawMcp;
use crate::support::{Daemon, TestRepo, backoffice, job, run, stderr, stdout, wait_until};

/// Variable and canary value, for every secret we read plus the name patterns we scrub.
fn canaries() -> Vec<(String, String)> {
    SECRET_VARS
        .iter()
        .map(|name| name.to_string())
        .chain(["BACKOFFICE_WEBHOOK_OPS".into(), "GITHUB_TOKEN".into()])
        .map(|name| {
            let value = format!("canary-{}-7f3a9c1e", name.to_ascii_lowercase());
            (name, value)
        })
        .collect()
}

/// Every file under `dir`, as bytes, with its path.
pub(crate) fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((path.display().to_string(), bytes));
        }
    }
    found
}

/// Each (place, canary variable) where a canary was found.
pub(crate) fn leaks(places: &[(String, Vec<u8>)], canaries: &[(String, String)]) -> Vec<String> {
    let mut hits = Vec::new();
    for (place, bytes) in places {
        for (name, value) in canaries {
            if bytes
                .windows(value.len())
                .any(|window| window == value.as_bytes())
            {
                hits.push(format!("{name} in {place}"));
            }
        }
    }
    hits
}

#[test]
fn no_secret_reaches_the_disk_the_site_the_log_or_the_terminal() {
    let canaries = canaries();
    let env: Vec<(&str, &str)> = canaries
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let key = &canaries
        .iter()
        .find(|(name, _)| name == "BACKOFFICE_LLM_API_KEY")
        .expect("the LLM key is a secret")
        .1;
    let fake = FakeLlm::start();
    fake.set_default(Reply::EchoAuthorization);
    // The endpoint's URL carries a password too, as a proxy in front of a model may need.
    let url_password = "canary-llm-url-password-7f3a9c1e";
    let url = fake
        .url()
        .replace("http://", &format!("http://bot:{url_password}@"));
    let mut env_with_llm = env.clone();
    env_with_llm.push(("BACKOFFICE_LLM_URL", url.as_str()));

    let repo = TestRepo::new();
    repo.write("jobs/standup.toml", &job("Stand-up", "0 9 * * *", ""));
    let commit = repo.commit("stand-up");
    let state = repo.state();
    let daemon = Daemon::start(
        &state,
        &[
            "--repo",
            repo.work.to_str().expect("path"),
            "--mcp-listen",
            "127.0.0.1:0",
        ],
        &env_with_llm,
    );
    assert!(daemon.wait_applied(&commit), "{}", daemon.log_text());
    let mut outputs = Vec::new();
    let waited = run(backoffice(&state)
        .args(["run", "standup", "--wait"])
        .envs(env_with_llm.iter().copied()));
    assert!(!waited.status.success(), "the echoing server fails the run");
    assert_eq!(
        fake.requests()[0].authorization.as_deref(),
        Some(format!("Bearer {key}").as_str()),
        "the key was sent, and so echoed back"
    );
    assert!(
        stdout(&waited).contains("You sent: Bearer [redacted BACKOFFICE_LLM_API_KEY]"),
        "the error keeps its meaning without the key: {}",
        stdout(&waited)
    );
    outputs.push(waited);
    // Once more, forced past the overlap rule.
    outputs.push(run(backoffice(&state)
        .args(["run", "standup", "--force", "--wait"])
        .envs(env_with_llm.iter().copied())));

    // A user pastes a token into a conversation that a client logs.
    let notion = &canaries
        .iter()
        .find(|(name, _)| name == "NOTION_TOKEN")
        .expect("notion")
        .1;
    let mut mcp = RawMcp::start_with(&state, &env);
    mcp.send(br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"cursor","version":"1"}}}"#);
    mcp.reply();
    mcp.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    let log = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
    "name": "conversation_log", "arguments": {"messages": [
        {"role": "user", "content": format!("my notion token is {notion}, why does the page 404?")},
        {"role": "assistant", "content": "The integration is not shared with the page."}
    ]}}});
    mcp.send(log.to_string().as_bytes());
    let logged = mcp.reply();
    assert_eq!(logged["result"]["isError"], false, "{logged}");
    let search = serde_json::json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "extract", "arguments": {"query": "notion token"}}});
    mcp.send(search.to_string().as_bytes());
    let found = mcp.reply();
    let found_text = found.to_string();
    assert!(found_text.contains("redacted NOTION_TOKEN"), "{found_text}");
    drop(mcp);

    // And a Claude Code transcript with a token in it, imported.
    let slack = &canaries
        .iter()
        .find(|(name, _)| name == "SLACK_TOKEN")
        .expect("slack")
        .1;
    let home = repo.dir.path().join("home");
    let projects = home.join(".claude/projects/-work-app");
    std::fs::create_dir_all(&projects).expect("mkdir");
    let line = serde_json::json!({"parentUuid": null, "isSidechain": false, "cwd": "/work/app",
        "sessionId": "tok", "type": "user", "uuid": "u1", "timestamp": "2026-11-24T17:00:00.000Z",
        "message": {"role": "user", "content": format!("슬랙 토큰 {slack} 이 왜 안 돼?")}});
    std::fs::write(projects.join("tok.jsonl"), format!("{line}\n")).expect("write");
    let imported = run(backoffice(&state)
        .args(["registry", "import", "claude-code"])
        .env("HOME", &home)
        .envs(env.iter().copied()));
    assert!(imported.status.success(), "{}", stderr(&imported));
    outputs.push(imported);

    outputs.push(run(backoffice(&state).arg("runs")));
    outputs.push(run(backoffice(&state).args(["runs", "--format", "json"])));
    outputs.push(run(backoffice(&state).arg("status")));
    outputs.push(run(backoffice(&state).args(["site"])));
    let site = state.join("site/jobs/standup.html");
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read_to_string(&site)
            .is_ok_and(|page| page.contains("redacted BACKOFFICE_LLM_API_KEY"))),
        "the run's error is on the site, scrubbed"
    );

    let mut places: Vec<(String, Vec<u8>)> = files(&state);
    for (index, output) in outputs.iter().enumerate() {
        places.push((format!("stdout of command {index}"), output.stdout.clone()));
        places.push((format!("stderr of command {index}"), output.stderr.clone()));
        assert!(
            !stderr(output).contains("panicked"),
            "command {index}: {}",
            stderr(output)
        );
    }
    places.push(("the MCP replies".into(), found_text.into_bytes()));
    let registry = leaks(
        &places,
        &[(
            "the imported token, redacted".into(),
            "[redacted SLACK_TOKEN]".into(),
        )],
    );
    assert!(
        registry.iter().any(|hit| hit.contains("registry.db")),
        "the transcript was imported, its token redacted: {registry:?}"
    );
    let mut canaries = canaries;
    canaries.push(("BACKOFFICE_LLM_URL's password".into(), url_password.into()));
    let running = leaks(&places, &canaries);
    assert!(running.is_empty(), "while running: {running:#?}");

    assert!(daemon.stop().success());
    let stopped = leaks(&files(&state), &canaries);
    assert!(stopped.is_empty(), "after stopping: {stopped:#?}");
}
