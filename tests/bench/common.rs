//! Shared helpers for the benchmarks: git repositories full of job files, and percentiles.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Runs git in `dir` and panics with its stderr on failure.
pub fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A job file with the given schedule.
pub fn job_text(index: usize, schedule: &str) -> String {
    format!(
        "name = \"Job {index}\"\nkind = \"agent\"\nschedule = \"{schedule}\"\ntimezone = \"Asia/Seoul\"\n[agent]\nprompt = \"Report {index} for {{{{date}}}}\"\n"
    )
}

/// A work tree with `count` jobs committed on `main`, pushed into a bare `origin.git` beside
/// it. Returns (work tree, bare repository).
pub fn repo_with_jobs(root: &Path, count: usize, schedule: &str) -> (PathBuf, PathBuf) {
    let work = root.join("work");
    let bare = root.join("origin.git");
    std::fs::create_dir_all(work.join("jobs")).expect("mkdir");
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["config", "user.name", "Bench"]);
    git(&work, &["config", "user.email", "bench@example.com"]);
    for index in 0..count {
        let folder = work.join("jobs").join(format!("group{:03}", index / 100));
        std::fs::create_dir_all(&folder).expect("mkdir");
        std::fs::write(
            folder.join(format!("job{index:05}.toml")),
            job_text(index, schedule),
        )
        .expect("write");
    }
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "--allow-empty", "-m", "jobs"]);
    git(root, &["init", "-q", "--bare", "-b", "main", "origin.git"]);
    git(
        &work,
        &["remote", "add", "origin", bare.to_str().expect("path")],
    );
    git(&work, &["push", "-q", "origin", "main"]);
    (work, bare)
}

/// p50, p99 and max of `samples`, which it sorts.
pub fn percentiles(samples: &mut [Duration]) -> (Duration, Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99), *samples.last().expect("samples"))
}

pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// The Python that runs the APScheduler peer (`BENCH_PEER_PYTHON`, else `target/bench-venv`),
/// or `None` after a loud note saying how to install it.
pub fn peer_python() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("BENCH_PEER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/bench-venv/bin/python"));
    let usable = Command::new(&python)
        .args(["-c", "import apscheduler, psutil"])
        .output()
        .is_ok_and(|o| o.status.success());
    if usable {
        Some(python)
    } else {
        println!(
            "\n!!!! APScheduler is not installed at {}: python3 -m venv target/bench-venv && target/bench-venv/bin/pip install 'apscheduler==3.11.*' psutil !!!!",
            python.display()
        );
        None
    }
}

/// Runs `tests/bench/peers/apscheduler_bench.py` with `args` and returns its JSON report.
pub fn apscheduler_report(python: &Path, args: &[&str]) -> serde_json::Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::NamedTempFile::new().expect("temp file");
    let status = Command::new(python)
        .arg(root.join("tests/bench/peers/apscheduler_bench.py"))
        .args(args)
        .arg("--json-out")
        .arg(out.path())
        .status()
        .expect("run apscheduler_bench.py");
    assert!(status.success(), "apscheduler_bench.py failed");
    serde_json::from_slice(&std::fs::read(out.path()).expect("json")).expect("json")
}

/// The `fields` of each run in the report's `part`, by the run's job count.
pub fn report_figures(
    raw: &serde_json::Value,
    part: &str,
    fields: &[&str],
) -> Vec<(usize, Vec<f64>)> {
    raw[part]
        .as_array()
        .map(|runs| {
            runs.iter()
                .filter_map(|run| {
                    let n = usize::try_from(run["n"].as_u64()?).ok()?;
                    let figures = fields
                        .iter()
                        .map(|field| run[*field].as_f64())
                        .collect::<Option<Vec<f64>>>()?;
                    Some((n, figures))
                })
                .collect()
        })
        .unwrap_or_default()
}
