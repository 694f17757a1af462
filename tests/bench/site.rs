//! The status site with 1,000 jobs and 1,000,000 runs in history: full regeneration time, the
//! largest page, the time to update the site after one run ends, then HTTP throughput for a
//! 20 KB page over loopback with 2 connections, and the memory of a process serving it.
//!
//! `BENCH_RUNS` and `BENCH_JOBS` scale the history (defaults 1,000,000 and 1,000).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use backoffice::site::Site;
use backoffice::site::server::SiteServer;
use backoffice::store::deployments::{self, Deployment, DeploymentOutcome};
use backoffice::store::jobs::DeployedRow;
use backoffice::store::runs::{self, NewRun, RunFinish, RunStatus, Trigger};
use backoffice::store::time::to_db;
use backoffice::store::{Store, claims};
use chrono::{Duration as Span, Utc};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let jobs = env_or("BENCH_JOBS", 1_000);
    let total_runs = env_or("BENCH_RUNS", 1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let began = Instant::now();
    let store = fill(dir.path(), jobs, total_runs);
    println!(
        "status site: {jobs} jobs, {total_runs} runs (history written in {:.1?})",
        began.elapsed()
    );

    let mut site = Site::new(
        &dir.path().join("site"),
        None,
        &dir.path().join("registry.db"),
    )
    .expect("site");
    let reader = store.reader().expect("reader");
    let report = site.generate_all(&reader, Utc::now()).expect("generate");
    let (files, bytes, largest, largest_path) = walk(&dir.path().join("site"));
    println!(
        "  full regeneration: {:.2?}, {files} files, {:.1} MB; largest page {} ({:.1} KB)",
        report.took,
        bytes as f64 / 1e6,
        largest_path,
        largest as f64 / 1e3
    );

    let mut took = Vec::new();
    let mut written = 0;
    for index in 0..30 {
        let job = format!("job{:04}", (index * 37) % jobs);
        let id = one_run(&store, &job);
        let report = site
            .runs_changed(&reader, &[(job, id)], Utc::now())
            .expect("update");
        took.push(report.took);
        written = report.written;
    }
    took.sort();
    println!(
        "  update after one run: p50 {:.1?}, max {:.1?} ({written} files rewritten)",
        took[took.len() / 2],
        took[took.len() - 1]
    );
    let tick = site.tick(&reader, Utc::now()).expect("tick");
    let reload = Instant::now();
    backoffice::site::data::Snapshot::load(&reader, Utc::now()).expect("load");
    println!(
        "  once-a-minute refresh: {:.1?}; re-reading every job's figures (every 10 min): {:.1?}",
        tick.took,
        reload.elapsed()
    );

    throughput(&dir.path().join("site"));
}

/// 1,000 deployed jobs and their runs, written straight into runs.db in one transaction.
fn fill(dir: &Path, jobs: usize, total_runs: usize) -> Store {
    let store = Store::open(&dir.join("runs.db")).expect("store");
    let now = Utc::now();
    let rows: Vec<DeployedRow> = (0..jobs)
        .map(|index| DeployedRow {
            id: format!("job{index:04}"),
            file: format!("jobs/job{index:04}.toml"),
            source: format!(
                "name = \"Report {index}\"\nkind = \"agent\"\nschedule = \"{} {} * * *\"\ntimezone = \"Asia/Seoul\"\n[agent]\nprompt = \"Report for {{{{date}}}}\"\n",
                index % 60,
                index % 24
            ),
            definition_hash: format!("h{index}"),
            commit_id: "0123456789abcdef0123456789abcdef01234567".into(),
            deployed_at: now,
            invalid_errors: Vec::new(),
            invalid_commit: None,
            cursor: None,
        })
        .collect();
    let deployment = Deployment {
        id: 0,
        commit_id: "0123456789abcdef0123456789abcdef01234567".into(),
        author: "Bench <bench@example.com>".into(),
        message: "a thousand jobs".into(),
        committed_at: now,
        deployed_at: now,
        outcome: DeploymentOutcome::Applied,
        added: rows.iter().map(|r| r.id.clone()).collect(),
        changed: Vec::new(),
        removed: Vec::new(),
        errors: Vec::new(),
    };
    store
        .with(|conn| deployments::record(conn, "bench (main)", &deployment, &rows))
        .expect("deploy");
    let per_job = total_runs / jobs;
    store
        .with(|conn| {
            let tx = conn.transaction()?;
            {
                let mut insert = tx.prepare(
                    "INSERT INTO runs (job_id, trigger, scheduled_for, attempt, status, started_at, \
                     finished_at, duration_ms, error, result, commit_id) \
                     VALUES (?1, 'schedule', ?2, 1, ?3, ?2, ?4, ?5, ?6, ?7, '0123456789abcdef')",
                )?;
                // Hourly runs going back in time, one in twenty failing.
                for hour in (0..per_job).rev() {
                    for job in 0..jobs {
                        let at = now - Span::hours(hour as i64 + 1) + Span::seconds(job as i64);
                        let failed = (hour + job) % 20 == 0;
                        let duration = 2_000 + ((hour * 7919 + job * 104_729) % 9_000) as i64;
                        insert.execute(rusqlite::params![
                            format!("job{job:04}"),
                            to_db(at),
                            if failed { "failed" } else { "succeeded" },
                            to_db(at + Span::milliseconds(duration)),
                            duration,
                            failed.then_some("the LLM server at http://127.0.0.1:11434/v1 failed (HTTP 500): model crashed"),
                            (!failed).then_some("## 오늘의 요약\n- 배포 완료, 리뷰 2건 대기\n- Retry policy decided: exponential backoff"),
                        ])?;
                    }
                }
            }
            tx.commit()
        })
        .expect("history");
    store
}

fn one_run(store: &Store, job: &str) -> i64 {
    let now = Utc::now();
    let claim = NewRun {
        job_id: job.into(),
        trigger: Trigger::Manual,
        scheduled_for: now,
        attempt: 1,
        status: RunStatus::Running,
        started_at: Some(now),
        error: None,
        definition: Some(
            store
                .with(|conn| claims::register_definition(conn, "0123456789abcdef", "h"))
                .expect("definition"),
        ),
        owner: None,
    };
    let id = store
        .with(|conn| claims::claim(conn, &[claim]))
        .expect("claim")[0]
        .expect("id");
    let end = RunFinish {
        status: RunStatus::Succeeded,
        finished_at: now + Span::seconds(3),
        error: None,
        result: Some("done".into()),
        links: vec!["https://www.notion.so/page".into()],
        prompt_tokens: Some(100),
        completion_tokens: Some(200),
    };
    store
        .with(|conn| runs::finish(conn, id, &end))
        .expect("finish");
    id
}

/// (files, bytes, largest page size, its path) under `dir`.
fn walk(dir: &Path) -> (usize, u64, u64, String) {
    let mut out = (0, 0, 0, String::new());
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).expect("list").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            out.0 += 1;
            out.1 += size;
            if size > out.2 {
                out.2 = size;
                out.3 = path
                    .strip_prefix(dir)
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
            }
        }
    }
    out
}

/// Requests per second for a 20 KB page with 2 keep-alive connections for 5 s, and RSS.
fn throughput(site: &Path) {
    let page = "x".repeat(20 * 1024);
    std::fs::write(site.join("bench.html"), &page).expect("write");
    let server = SiteServer::start("127.0.0.1:0", site, &[]).expect("server");
    let addr = server.addr();
    let deadline = Instant::now() + Duration::from_secs(5);
    let workers: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(addr).expect("connect");
                let mut buffer = vec![0u8; 64 * 1024];
                let mut count = 0u64;
                while Instant::now() < deadline {
                    stream
                        .write_all(b"GET /bench.html HTTP/1.1\r\nHost: localhost\r\n\r\n")
                        .expect("send");
                    let mut received = 0;
                    let mut header_end = None;
                    let mut length = 0;
                    loop {
                        let n = stream.read(&mut buffer[received..]).expect("read");
                        assert!(n > 0, "connection closed");
                        received += n;
                        if header_end.is_none()
                            && let Some(at) =
                                buffer[..received].windows(4).position(|w| w == b"\r\n\r\n")
                        {
                            header_end = Some(at + 4);
                            let head = String::from_utf8_lossy(&buffer[..at]).to_ascii_lowercase();
                            length = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .expect("content-length");
                        }
                        if let Some(end) = header_end
                            && received >= end + length
                        {
                            break;
                        }
                    }
                    count += 1;
                }
                count
            })
        })
        .collect();
    let total: u64 = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.trim_start_matches("VmRSS:").trim().to_string())
        })
        .unwrap_or_default();
    println!(
        "  HTTP: {:.0} requests/s for a 20 KB page, 2 keep-alive connections over loopback; process RSS {rss} (includes the generator's data)",
        total as f64 / 5.0
    );
    server.stop();
}
