//! The status site in real headless Chromium: `serve` on a temp repository with runs of a
//! fake LLM, the dashboard and pages loaded at phone and desktop widths with every request
//! outside 127.0.0.1 blocked. Screenshots land in `target/site-screenshots/`.
//!
//! Needs Chromium, Node.js and playwright-core (`.ci/run` installs them). When one is missing
//! the test says so loudly and skips, unless `BACKOFFICE_CI` is set: in CI nothing skips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::fakes::llm::{FakeLlm, Reply};
use crate::support::{Daemon, TestRepo, backoffice, job, run, wait_until};

fn tool(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// The missing tools, described.
fn missing(chromium: &Path, playwright: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    if !chromium.exists() {
        missing.push(format!(
            "Chromium at {} (apt-get install chromium)",
            chromium.display()
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node".into());
    }
    if !playwright.join("package.json").exists() {
        missing.push(format!(
            "playwright-core at {} (npm install --prefix target/browser playwright-core)",
            playwright.display()
        ));
    }
    missing
}

#[test]
fn pages_load_in_chromium_with_nothing_external_and_no_console_error() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chromium = tool("CHROMIUM", "/usr/bin/chromium");
    let playwright = tool(
        "PLAYWRIGHT_CORE",
        &root
            .join("target/browser/node_modules/playwright-core")
            .to_string_lossy(),
    );
    let missing = missing(&chromium, &playwright);
    if !missing.is_empty() {
        let message = format!("browser test needs: {}", missing.join("; "));
        assert!(std::env::var_os("BACKOFFICE_CI").is_none(), "{message}");
        eprintln!("\n!!!!! SKIPPED: {message} !!!!!\n");
        return;
    }

    let llm = FakeLlm::start();
    llm.script([
        Reply::Answer(
            "## 오늘의 스탠드업\n- 배포 완료 (deploy done)\n- 리뷰 대기 <script>alert(1)</script>"
                .into(),
        ),
        Reply::Status {
            code: 500,
            message: "model crashed".into(),
            retry_after: None,
        },
    ]);
    let repo = TestRepo::new();
    repo.write(
        "jobs/standup.toml",
        &job("Daily stand-up", "0 9 * * 1-5", ""),
    )
    .write(
        "jobs/team/retro.toml",
        &job(
            "Weekly retro \\\"><img src=x onerror=alert(1)>",
            "0 17 * * 5",
            "retries = 0",
        ),
    )
    .write(
        "jobs/paused.toml",
        &job("Paused", "0 8 * * *", "enabled = false"),
    )
    .write(
        "jobs/cards.toml",
        "name = \"Knowledge Cards\"\nkind = \"ambient\"\nschedule = \"0 3 1 1 *\"\n[ambient]\ntask = \"knowledge-cards\"\ngenerator = \"offline\"\n",
    );
    repo.commit("three jobs");
    let state = repo.state();
    fill_registry(&state);
    let daemon = Daemon::start(
        &state,
        &["--repo", repo.work.to_str().expect("path")],
        &[("BACKOFFICE_LLM_URL", llm.url().as_str())],
    );
    let url = daemon.site_url();
    assert!(
        run(backoffice(&state).args(["run", "standup", "--wait"]))
            .status
            .success()
    );
    let _ = run(backoffice(&state).args(["run", "team/retro", "--wait"]));
    assert!(
        run(backoffice(&state).args(["run", "cards", "--wait"]))
            .status
            .success()
    );
    repo.write(
        "jobs/broken.toml",
        "name = \"Broken\"\nkind = \"agent\"\nschedule = \"0 25 * * *\"\n[agent]\nprompt = \"x\"\n",
    );
    let broken = repo.commit("a broken job");
    assert!(daemon.wait_applied(&broken));
    let site = state.join("site");
    assert!(
        wait_until(Duration::from_secs(10), || {
            std::fs::read_to_string(site.join("index.html"))
                .is_ok_and(|t| t.contains("jobs/broken.toml"))
                && site.join("cards.html").exists()
                && std::fs::read_to_string(site.join("jobs/team/retro.html"))
                    .is_ok_and(|t| t.contains("status failed"))
        }),
        "site not updated:\n{}",
        daemon.log_text()
    );

    let shots = root.join("target/site-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot folder");
    let output = Command::new("node")
        .arg(root.join("tests/browser/check_site.cjs"))
        .arg(&url)
        .arg(&shots)
        .args([
            "/",
            "/jobs/",
            "/jobs/standup.html",
            "/jobs/team/retro.html",
            "/deployments.html",
            "/registry.html",
            "/cards.html",
        ])
        .env("PLAYWRIGHT_CORE", &playwright)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "browser check failed:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        shots.join("_-375-light.png").exists(),
        "phone screenshot saved"
    );
    eprintln!("{report}screenshots in {}", shots.display());
    daemon.stop();
}

/// Saves a few conversations from two clients through `backoffice mcp` (raw JSON-RPC lines),
/// one reading the other's, so the registry page has channels, a chart and sharing to show.
fn fill_registry(state: &Path) {
    use std::io::Write;
    for (client, title) in [
        (
            "cursor-vscode",
            "재시도 정책 <b>설계</b> — a long title that has to wrap on a phone",
        ),
        ("claude-ai", "Desktop follow-up"),
    ] {
        let mut child = backoffice(state)
            .arg("mcp")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("backoffice mcp");
        let call = serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "conversation_log", "arguments": {
                "title": title,
                "workspace": "/work/app",
                "messages": [
                    {"role": "user", "content": "지수 백오프가 뭐야? exponential backoff"},
                    {"role": "assistant", "content": "지수 백오프란 실패할 때마다 대기 시간을 두 배로 늘리는 방식이다. A mutex is a lock that lets one thread at a time use a value."}]}}});
        let search = serde_json::json!({
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "extract", "arguments": {"query": "백오프"}}});
        let lines = [
            serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": client, "version": "1"}}}),
            serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            call,
            search,
        ];
        let mut stdin = child.stdin.take().expect("stdin");
        for line in lines {
            writeln!(stdin, "{line}").expect("write");
        }
        std::thread::sleep(Duration::from_millis(500));
        drop(stdin);
        assert!(
            child.wait().expect("wait").success(),
            "backoffice mcp failed"
        );
    }
}
