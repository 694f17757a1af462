//! Issue 8's benchmarks: `cargo bench --bench hardening`.
//!
//! 1. `/status.json` answer time while 8 clients have asked for a large page and never read
//!    it (target p99 ≤ 50 ms), beside the same requests with no stalled client.
//! 2. Validation time of 1 MB job files, the largest a commit may hold: one that is mostly
//!    comments, one whose prompt is as crowded as the template limits allow, one with a long
//!    description and deep tables (target ≤ 50 ms each).

#[path = "common.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use backoffice::catalog::{MAX_FILE_BYTES, SourceContent, SourceFile, load_file};
use backoffice::site::server::SiteServer;
use backoffice::template::{MAX_LEN, MAX_TAGS};
use common::{ms, percentiles};

fn main() {
    stalled_clients();
    validation();
}

/// One `GET /status.json` on a new connection; the time until the whole answer is in.
fn status_json(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .write_all(b"GET /status.json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read");
    assert!(answer.starts_with(b"HTTP/1.1 200"), "status.json answered");
    started.elapsed()
}

fn stalled_clients() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).expect("mkdir");
    // A run page with a long answer and error history: larger than any socket buffer.
    std::fs::write(site.join("big.html"), vec![b'x'; 32 << 20]).expect("write");
    std::fs::write(site.join("status.json"), vec![b' '; 8 << 10]).expect("write");
    let server = SiteServer::start("127.0.0.1:0", &site, &[]).expect("server");
    let addr = server.addr();
    let measure = |label: &str| {
        let mut samples: Vec<Duration> = (0..500).map(|_| status_json(addr)).collect();
        let (p50, p99, max) = percentiles(&mut samples);
        println!(
            "  {label:<34} p50 {}  p99 {}  max {}",
            ms(p50),
            ms(p99),
            ms(max)
        );
    };
    println!("/status.json (8 KB), 500 requests each, new connection per request:");
    measure("no other client");
    let stalled: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut stream = TcpStream::connect(addr).expect("connect");
            stream
                .write_all(b"GET /big.html HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .expect("send");
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    measure("8 clients stalled on a 32 MB page");
    drop(stalled);
    server.stop();
}

/// Best of 20 validations of `text`, and whether it was a job.
fn validate(label: &str, text: String) {
    assert!(
        text.len() <= MAX_FILE_BYTES,
        "{label}: {} bytes",
        text.len()
    );
    let file = SourceFile {
        path: "jobs/big.toml".into(),
        id: "big".into(),
        content: SourceContent::from_bytes(text.clone().into_bytes()),
    };
    let mut samples: Vec<Duration> = (0..20)
        .map(|_| {
            let started = Instant::now();
            let _ = load_file(&file);
            started.elapsed()
        })
        .collect();
    let outcome = match load_file(&file) {
        Ok(_) => "valid".to_string(),
        Err(invalid) => format!("invalid: {}", invalid.errors[0].message),
    };
    let (p50, _, max) = percentiles(&mut samples);
    let outcome: String = outcome.chars().take(70).collect();
    println!(
        "  {label:<40} {:>7} bytes  median {}  max {}  ({outcome})",
        text.len(),
        ms(p50),
        ms(max)
    );
}

fn validation() {
    let head =
        "name = \"Big\"\nkind = \"agent\"\nschedule = \"0 7 * * *\"\ntimezone = \"Asia/Seoul\"\n";
    let fill = |text: &mut String, line: &str| {
        while text.len() + line.len() < 1_000_000 {
            text.push_str(line);
        }
    };
    println!("validating one job file (1 MB), 20 runs each:");

    let mut comments = format!("{head}[agent]\nprompt = \"Stand-up for {{{{date}}}}\"\n");
    fill(
        &mut comments,
        "# 회의록 notes, kept in the file for reference ..........................\n",
    );
    validate("mostly comments", comments);

    // The worst template the limits allow, twice (prompt and system), then padding.
    let per_tag = MAX_LEN / MAX_TAGS;
    let crowded: String = (0..MAX_TAGS)
        .map(|_| format!("{}{{{{date}}}}", "x".repeat(per_tag - 9)))
        .collect();
    let mut worst =
        format!("{head}[agent]\nprompt = \"\"\"{crowded}\"\"\"\nsystem = \"\"\"{crowded}\"\"\"\n");
    fill(
        &mut worst,
        "# padding ...........................................................\n",
    );
    validate("prompt and system at the template limits", worst);

    let mut over = format!("{head}[agent]\nprompt = \"\"\"");
    fill(&mut over, "{{date}} ");
    over.push_str("\"\"\"\n");
    validate("a 1 MB prompt of {{date}}", over);

    let description = "설명 ".repeat(120_000);
    let deep = format!(
        "{head}description = \"{description}\"\n[agent]\nprompt = \"x\"\nsources = {}1{}\n",
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    validate("long description, 5,000 nested arrays", deep);
}
