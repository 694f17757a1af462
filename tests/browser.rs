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
    );
    repo.commit("three jobs");
    let state = repo.state();
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
