//! Knowledge Cards at scale. `cargo bench --bench cards`; `CARDS_BENCH_MESSAGES` (default
//! 100,000) registry messages in conversations of 20, Korean and English, with definitions,
//! decisions, commands and chatter; `CARDS_BENCH_CARDS` (default 100,000) cards for review.
//!
//! - offline generation of the whole backlog (read → rules → gates → dedup → keep), no budget;
//! - `cards_due` and `card_answer` p50/p95 through MCP (`backoffice mcp` on stdio, JSON-RPC
//!   lines) with 100,000 cards (target p95 ≤ 5 ms);
//! - `backoffice cards export` of 100,000 cards (target ≤ 1 s);
//! - the job's peak RSS: one `backoffice run` of an offline cards job over the registry.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use backoffice::cards::generate::{self, Budget};
use backoffice::cards::{dedup, offline, source, store};
use backoffice::registry::Registry;
use backoffice::registry::store::{LogRequest, NewMessage, Role};
use chrono::Utc;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const TERMS: [&str; 8] = [
    "mutex", "backoff", "cache", "index", "trigger", "webhook", "lease", "quorum",
];

/// A made-up word for `n`: distinct conversations talk about distinct things, as people's do.
fn word(n: usize) -> String {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "ren", "to", "vu", "sa", "qel", "dor", "ni", "pha", "zu", "bel", "cor",
        "ix", "wen",
    ];
    let mut n = n + 17;
    let mut out = String::new();
    while n > 0 {
        out.push_str(SYLLABLES[n % 16]);
        n /= 16;
    }
    out
}

/// A made-up Korean word for `n`.
fn hangul(n: usize) -> String {
    (0..3)
        .map(|k| {
            char::from_u32(0xAC00 + ((n * 7919 + k * 104_729) % 11_172) as u32).unwrap_or('가')
        })
        .collect()
}

fn conversation(n: usize) -> Vec<NewMessage> {
    let term = word(n);
    (0..20)
        .map(|i| {
            let content = match i % 5 {
                0 => format!("What is a {term}? {} 왜 필요한가요? ({i})", hangul(n + i)),
                1 => format!(
                    "A {term} is a {} that keeps every {} in step with the {}.",
                    word(n * 3 + i),
                    word(n * 7 + i),
                    word(n * 11 + i)
                ),
                2 => format!(
                    "{}란 {} 때마다 {}를 두 배로 늘리는 방식이다.",
                    hangul(n * 5 + i),
                    hangul(n * 13 + i),
                    hangul(n * 17 + i)
                ),
                3 => format!(
                    "Run `cargo test --package {}` to check the {term} module.",
                    word(n * 19 + i)
                ),
                _ => format!(
                    "좋아요, {} 설정은 내일 다시 보기로 했다. thanks {i}",
                    hangul(n * 23 + i)
                ),
            };
            NewMessage {
                role: if i % 2 == 0 {
                    Role::User
                } else {
                    Role::Assistant
                },
                content,
                at: None,
                key: None,
            }
        })
        .collect()
}

fn main() {
    let messages = env_number("CARDS_BENCH_MESSAGES", 100_000);
    let cards = env_number("CARDS_BENCH_CARDS", 100_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("state");
    let path = state.join("registry.db");
    let registry = Registry::open(&path).expect("open");
    let started = Instant::now();
    for n in 0..messages / 20 {
        let request = LogRequest {
            session_id: None,
            channel: ["cursor", "claude-desktop", "claude-code"][n % 3].into(),
            title: Some(format!("{} {} design", TERMS[n % TERMS.len()], word(n))),
            workspace: None,
            messages: conversation(n),
        };
        registry
            .with(|c| backoffice::registry::store::log(c, &request))
            .expect("log");
    }
    println!(
        "registry: {messages} messages in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Peak RSS of the job itself, measured first while the registry has no card yet.
    let rss = job_peak_rss(dir.path(), &state);
    println!(
        "one `backoffice run` of an offline cards job: peak RSS {:.1} MB",
        rss as f64 / 1024.0
    );

    let started = Instant::now();
    let mut watermark = 0i64;
    let (mut read, mut made) = (0, 0);
    loop {
        let (batch, last) = registry
            .with(|c| source::read(c, watermark, &[], &[]))
            .expect("read");
        if batch.is_empty() {
            break;
        }
        read += batch.len();
        let exchanges = source::exchanges(batch);
        let proposals = exchanges.iter().flat_map(offline::propose).collect();
        let unlimited = Budget {
            allowed: usize::MAX,
            limited_by: None,
        };
        let judged = registry
            .with(|c| generate::judge(c, proposals, &exchanges, unlimited))
            .expect("judge");
        made += registry
            .with(|c| {
                generate::keep(
                    c,
                    "bench",
                    0.9,
                    "offline",
                    None,
                    &judged,
                    exchanges.len(),
                    last,
                    Utc::now(),
                )
            })
            .expect("keep")
            .len();
        watermark = last;
    }
    println!(
        "offline generation of the backlog: {read} messages → {made} cards in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Top up to `cards` cards, some of them reviewed already.
    let started = Instant::now();
    registry
        .with(|c| {
            let tx = c.transaction()?;
            for i in made..cards {
                store::insert(
                    &tx,
                    &store::NewCard {
                        job_id: "bench".into(),
                        session_id: "s_bench".into(),
                        message_ids: vec![1],
                        kind: backoffice::cards::card::Kind::Basic,
                        front: format!("What is the bench fact number {i}?"),
                        back: format!("fact {i}"),
                        quote: format!("fact {i}"),
                        tags: vec!["bench".into()],
                        norm: dedup::key(&format!("bench {i}"), "x"),
                        generator: "offline".into(),
                        model: None,
                        retention: 0.9,
                    },
                    Utc::now(),
                )?;
            }
            tx.commit()
        })
        .expect("cards");
    println!(
        "{cards} cards in the registry (topped up in {:.1} s)",
        started.elapsed().as_secs_f64()
    );

    mcp_latency(&state);

    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_backoffice"))
        .args(["cards", "export"])
        .env("BACKOFFICE_STATE", &state)
        .output()
        .expect("export");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    println!(
        "export of {} cards: {:.0} ms, {:.1} MB (target <= 1 s)",
        output.stdout.iter().filter(|b| **b == b'\n').count() - 7,
        started.elapsed().as_secs_f64() * 1000.0,
        output.stdout.len() as f64 / 1e6
    );
}

/// `backoffice run cards` (no daemon: the job runs in the command's process) over the
/// registry, from a repository holding one offline cards job; the child's peak RSS in KiB.
fn job_peak_rss(root: &std::path::Path, state: &std::path::Path) -> i64 {
    let repo = root.join("repo");
    std::fs::create_dir_all(repo.join("jobs")).expect("repo");
    std::fs::write(
        repo.join("jobs/cards.toml"),
        "name = \"Cards\"\nkind = \"ambient\"\nschedule = \"0 3 1 1 *\"\n[ambient]\ntask = \"knowledge-cards\"\ngenerator = \"offline\"\nmax_cards = 100\ndaily_new_limit = 500\n",
    )
    .expect("job");
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=b",
            "-c",
            "user.email=b@x",
            "commit",
            "-qm",
            "cards",
        ],
    ] {
        assert!(
            Command::new("git")
                .args(args)
                .current_dir(&repo)
                .status()
                .expect("git")
                .success()
        );
    }
    let status = Command::new(env!("CARGO_BIN_EXE_backoffice"))
        .args(["run", "cards", "--repo"])
        .arg(&repo)
        .env("BACKOFFICE_STATE", state)
        .stdout(Stdio::null())
        .status()
        .expect("run");
    assert!(status.success(), "the cards job failed");
    // SAFETY: getrusage fills the struct we own.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage.ru_maxrss
    }
}

/// Round trips of `cards_due` and `card_answer` through `backoffice mcp` on stdio.
fn mcp_latency(state: &std::path::Path) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_backoffice"))
        .arg("mcp")
        .env("BACKOFFICE_STATE", state)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mcp");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut id = 0;
    let mut call = |method: &str, params: serde_json::Value| -> (serde_json::Value, Duration) {
        id += 1;
        let line =
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let started = Instant::now();
        writeln!(stdin, "{line}").expect("write");
        let mut reply = String::new();
        stdout.read_line(&mut reply).expect("read");
        (
            serde_json::from_str(&reply).expect("json"),
            started.elapsed(),
        )
    };
    call(
        "initialize",
        serde_json::json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}),
    );
    let rounds = 500;
    let mut due = Vec::with_capacity(rounds);
    let mut answer = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let (reply, took) = call(
            "tools/call",
            serde_json::json!({"name": "cards_due", "arguments": {"limit": 5}}),
        );
        due.push(took);
        let card = reply["result"]["structuredContent"]["cards"][0]["card_id"]
            .as_str()
            .map(str::to_string);
        let Some(card) = card else { break };
        let (_, took) = call(
            "tools/call",
            serde_json::json!({"name": "card_answer", "arguments": {"card_id": card, "grade": "easy"}}),
        );
        answer.push(took);
    }
    drop(stdin);
    let _ = child.wait();
    for (name, mut times) in [("cards_due", due), ("card_answer", answer)] {
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{name} through MCP: p50 {:.2} ms, p95 {:.2} ms over {} calls (target p95 <= 5 ms)",
            ms(times[times.len() / 2]),
            ms(times[times.len() * 95 / 100]),
            times.len()
        );
    }
}
