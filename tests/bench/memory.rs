//! Resident memory of an idle `backoffice serve` (scheduler, status site and its HTTP server)
//! with 1,000 and 10,000 jobs deployed, read from /proc once the deployment is applied and the
//! daemon has used no CPU for two seconds.

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
    // Idle means the site generator has finished too: at 10,000 jobs it keeps writing for
    // seconds after the deployment is recorded, and a sample taken then varies by 15 MB.
    wait_for_idle(child.id());
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

/// Waits until the process has used no CPU for two seconds (at most two minutes).
fn wait_for_idle(pid: u32) {
    let cpu = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name (which may hold spaces): utime and stime are the
        // 12th and 13th of them.
        let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<u64> = rest
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|f| f.parse().ok())
            .collect();
        fields.iter().sum::<u64>()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = cpu();
    let mut quiet = 0;
    while quiet < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let now = cpu();
        quiet = if now == last { quiet + 1 } else { 0 };
        last = now;
    }
}
