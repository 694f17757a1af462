//! Resident memory of an idle `backoffice serve` (scheduler, status site and its HTTP server)
//! with 1,000 and 10,000 jobs deployed, read from /proc once the deployment is applied and the
//! daemon has used no CPU for two seconds; beside APScheduler 3.11 holding the same number of
//! idle daily cron jobs (`tests/bench/peers/apscheduler_bench.py --only rss`, in the venv
//! `target/bench-venv` or `BENCH_PEER_PYTHON`), printed side by side.
//!
//! `MEMORY_BENCH_SMAPS=1` also lists the mappings holding the most memory.

#[path = "common.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MIB: f64 = 1024.0 * 1024.0;

fn main() {
    println!("memory of an idle `serve` (release build)");
    let ours: Vec<(usize, f64)> = [0usize, 1_000, 10_000]
        .into_iter()
        .map(|count| (count, measure(count)))
        .collect();
    let theirs = apscheduler();
    println!("\nside by side, idle resident memory (this machine, this run):");
    println!(
        "  {:>6}  {:>18}  {:>18}",
        "jobs", "APScheduler 3.11", "ours"
    );
    for (count, rss) in ours {
        let peer = theirs
            .iter()
            .find(|(n, _)| *n == count)
            .map_or("not measured".to_string(), |(_, mib)| {
                format!("{mib:.1} MiB")
            });
        println!(
            "  {count:>6}  {peer:>18}  {:>18}",
            format!("{:.1} MiB", rss / MIB)
        );
    }
}

/// APScheduler's (jobs, idle RSS in MiB) with 1,000 and 10,000 daily cron jobs, or nothing
/// when it is not installed.
fn apscheduler() -> Vec<(usize, f64)> {
    let Some(python) = common::peer_python() else {
        return Vec::new();
    };
    println!("APScheduler 3.11, the same number of idle daily cron jobs:");
    let raw = common::apscheduler_report(
        &python,
        &["--only", "rss", "--repeats", "1", "--rss-n", "1000,10000"],
    );
    common::report_figures(&raw, "rss", &["rss_idle_with_jobs_mib"])
        .into_iter()
        .map(|(n, figures)| (n, figures[0]))
        .collect()
}

/// Our idle resident size in bytes with `count` jobs deployed.
fn measure(count: usize) -> f64 {
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
        "  {count:>6} jobs: resident {} (heap and stacks {}, mapped files {}), peak {}",
        field("VmRSS:"),
        field("RssAnon:"),
        field("RssFile:"),
        field("VmHWM:")
    );
    if std::env::var_os("MEMORY_BENCH_SMAPS").is_some() {
        let smaps =
            std::fs::read_to_string(format!("/proc/{}/smaps", child.id())).unwrap_or_default();
        print_mappings(&smaps);
    }
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    let kb: f64 = field("VmRSS:")
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap_or(0.0);
    kb * 1024.0
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

/// The mappings holding the most resident memory, for `MEMORY_BENCH_SMAPS=1`.
fn print_mappings(smaps: &str) {
    let mut mappings: Vec<(u64, String)> = Vec::new();
    let mut name = String::new();
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("Rss:") => {
                let kb = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                mappings.push((kb, name.clone()));
            }
            Some(first)
                if first.contains('-') && first.contains(|c: char| c.is_ascii_hexdigit()) =>
            {
                let perms = words.next().unwrap_or("");
                name = format!("{perms} {}", words.nth(3).unwrap_or("[anon]"));
            }
            _ => {}
        }
    }
    mappings.sort_by_key(|m| std::cmp::Reverse(m.0));
    for (kb, name) in mappings.iter().take(12) {
        println!("          {kb:>7} kB  {name}");
    }
}
