//! The Context Registry's storage and search without the protocol: batched `store::log`
//! throughput and `search::extract` latency at growing sizes, on the shared mixed
//! Korean/English workload (`tests/bench/peers/workload.py`). The same figures through MCP and a
//! Python client are `tests/bench/peers/registry_scale.py`; the difference is the protocol.
//!
//! `cargo bench --bench registry_search [-- WORKLOAD.jsonl]`; sizes from
//! `REGISTRY_BENCH_SIZES` (default `100000,1000000`). Without a workload file it runs
//! workload.py (python3) to make one.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use backoffice::registry::Registry;
use backoffice::registry::search::{self, ExtractQuery};
use backoffice::registry::store::{self, LogRequest, NewMessage, Role};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Most messages per `log` call, as a client batching a conversation would send.
const BATCH: usize = 500;

struct Message {
    conversation: String,
    role: Role,
    text: String,
    at: DateTime<Utc>,
}

fn main() {
    let sizes: Vec<usize> = std::env::var("REGISTRY_BENCH_SIZES")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("size"))
        .collect();
    let biggest = *sizes.iter().max().expect("a size");
    let dir = tempfile::tempdir().expect("tempdir");
    let workload = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map_or_else(|| generate(dir.path(), biggest), PathBuf::from);
    let (messages, mut searches) = read(&workload);
    // Beyond the workload: single syllables (prefix queries over many bigrams), a one-letter
    // word, and a long query whose words never occur together (the any-word fallback).
    for edge in ["이", "서", "a", "배포 서버 로그 작업 양자컴퓨터"] {
        searches.push((edge.to_string(), "edge".to_string()));
    }
    assert!(
        messages.len() >= biggest,
        "the workload has {} messages",
        messages.len()
    );
    let registry = Registry::open(&dir.path().join("registry.db")).expect("open");
    let mut sessions: BTreeMap<String, String> = BTreeMap::new();
    let mut done = 0;
    println!("registry storage and search, release build, batches of up to {BATCH}");
    for size in sizes {
        let mut by_conversation: BTreeMap<&str, Vec<&Message>> = BTreeMap::new();
        for m in &messages[done..size] {
            by_conversation.entry(&m.conversation).or_default().push(m);
        }
        let started = Instant::now();
        for (conversation, items) in by_conversation {
            for chunk in items.chunks(BATCH) {
                let request = LogRequest {
                    session_id: sessions.get(conversation).cloned(),
                    channel: "bench".into(),
                    title: Some(conversation.to_string()),
                    workspace: None,
                    messages: chunk
                        .iter()
                        .map(|m| NewMessage {
                            role: m.role,
                            content: m.text.clone(),
                            at: Some(m.at),
                            key: None,
                        })
                        .collect(),
                };
                let outcome = registry
                    .with(|c| store::log(c, &request))
                    .expect("log")
                    .expect("session");
                sessions
                    .entry(conversation.to_string())
                    .or_insert(outcome.session_id);
            }
        }
        let elapsed = started.elapsed();
        println!(
            "  {size:>9} messages: logged {} in {elapsed:.1?} = {:.0} msg/s",
            size - done,
            (size - done) as f64 / elapsed.as_secs_f64()
        );
        done = size;
        let now = Utc::now();
        let mut all = Vec::new();
        let mut by_class: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for (keyword, class) in &searches {
            let query = ExtractQuery {
                text: keyword.clone(),
                limit: 10,
                ..ExtractQuery::default()
            };
            let started = Instant::now();
            let page = registry
                .with(|c| search::extract(c, &query, now))
                .expect("extract");
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            std::hint::black_box(page);
            if class == "edge" {
                println!("      {keyword:?}: {ms:.2} ms");
            }
            all.push(ms);
            by_class.entry(class).or_default().push(ms);
        }
        println!(
            "    extract: p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
            pct(&mut all, 50.0),
            pct(&mut all, 95.0),
            pct(&mut all, 100.0)
        );
        let bytes = std::fs::metadata(registry.path()).map_or(0, |m| m.len())
            + std::fs::metadata(dir.path().join("registry.db-wal")).map_or(0, |m| m.len());
        println!("    database {:.0} MiB", bytes as f64 / (1024.0 * 1024.0));
        for (class, mut values) in by_class {
            println!(
                "      {class:<8} p50 {:.2} ms, p95 {:.2} ms",
                pct(&mut values, 50.0),
                pct(&mut values, 95.0)
            );
        }
    }
}

fn pct(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() - 1) as f64 * p / 100.0).round() as usize;
    values[rank]
}

fn generate(dir: &Path, items: usize) -> PathBuf {
    let out = dir.join("workload.jsonl");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench/peers/workload.py");
    let status = Command::new("python3")
        .arg(script)
        .args(["--items", &items.to_string(), "--searches", "200"])
        .args([
            "--conversations",
            &(items / 200).max(1).to_string(),
            "--out",
        ])
        .arg(&out)
        .status()
        .expect("python3 workload.py");
    assert!(status.success());
    out
}

/// Messages and (keyword, class) searches from workload.py's abstract JSONL.
fn read(path: &Path) -> (Vec<Message>, Vec<(String, String)>) {
    let file = std::fs::File::open(path).expect("workload");
    let (mut messages, mut searches) = (Vec::new(), Vec::new());
    for line in BufReader::new(file).lines() {
        let value: Value = serde_json::from_str(&line.expect("line")).expect("json");
        let text = |key: &str| value[key].as_str().unwrap_or_default().to_string();
        match value["op"].as_str() {
            Some("log_message") => messages.push(Message {
                conversation: text("conversation_id"),
                role: match value["role"].as_str() {
                    Some("assistant") => Role::Assistant,
                    Some("tool") => Role::Tool,
                    Some("system") => Role::System,
                    _ => Role::User,
                },
                text: text("text"),
                at: DateTime::parse_from_rfc3339(&text("ts"))
                    .expect("ts")
                    .to_utc(),
            }),
            Some("search") => searches.push((text("keyword"), text("class"))),
            _ => {}
        }
    }
    (messages, searches)
}
