//! Resident memory of an idle `backoffice serve` (scheduler, status site and its HTTP server)
//! with 1,000 and 10,000 jobs deployed, read from /proc once the deployment is applied and the
//! daemon has settled.

#[path = "common.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    println!("memory of an idle `serve` (release build)");
    for count in [0usize, 1_000, 10_000] {
        measure(count);
    }
}

fn measure(count: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_work, bare) = common::repo_with_jobs(dir.path(), count, "0 7 * * *");
    let state = dir.path().join("state");
    let mut child = Command::new(env!("CARGO_BIN_EXE_backoffice"))
        .arg("--state")
        .arg(&state)
        .arg("serve")
        .arg("--repo")
        .arg(&bare)
        .args(["--listen", "127.0.0.1:0"])
        .env("BACKOFFICE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let output = Command::new(env!("CARGO_BIN_EXE_backoffice"))
            .arg("--state")
            .arg(&state)
            .args(["status", "--format", "json"])
            .output()
            .expect("status");
        let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        if status["jobs"]
            .as_array()
            .is_some_and(|jobs| jobs.len() == count)
            && status["sync"]["applied_commit"].is_string()
        {
            break;
        }
        assert!(Instant::now() < deadline, "not deployed in time");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    let proc_status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).expect("proc");
    let field = |name: &str| {
        proc_status
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l[name.len()..].trim().to_string())
            .unwrap_or_default()
    };
    println!(
        "  {count:>6} jobs: resident {} (peak {})",
        field("VmRSS:"),
        field("VmHWM:")
    );
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}
