//! The status site's registry page at scale, and what counting tool calls costs `extract`.
//!
//! `cargo bench --bench registry_page`; `REGISTRY_PAGE_SESSIONS` (default 50,000) sessions of
//! `REGISTRY_PAGE_PER_SESSION` (default 20) messages over three channels and 60 days, logged
//! through `store::log` as clients would. Then:
//! - regeneration: reading the figures (stats, 30 days per channel, tool calls, the 1,000
//!   most recent sessions) and rendering every registry page and `registry.json`, as the
//!   site does once a minute at most (target ≤ 100 ms);
//! - `extract` p50/p95 on the blocking pool, alone and with each call's count written in the
//!   background as `backoffice mcp` does (target: p95 unchanged within noise).

use std::time::{Duration, Instant};

use backoffice::registry::Registry;
use backoffice::registry::search::{self, ExtractQuery};
use backoffice::registry::store::{self, LogRequest, NewMessage, Role};
use backoffice::registry::{activity, stats};
use backoffice::site::registry::{LISTED, pages};
use backoffice::site::render::Renderer;
use chrono::{Duration as Days, Utc};

const CHANNELS: [&str; 3] = ["cursor", "claude-desktop", "claude-code"];
const WORDS: [&str; 12] = [
    "재시도",
    "정책",
    "배포",
    "서버",
    "retry",
    "policy",
    "deploy",
    "cache",
    "로그",
    "latency",
    "schema",
    "migration",
];

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let sessions = env_number("REGISTRY_PAGE_SESSIONS", 50_000);
    let per_session = env_number("REGISTRY_PAGE_PER_SESSION", 20);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("registry.db");
    let registry = Registry::open(&path).expect("open");
    let now = Utc::now();
    let started = Instant::now();
    for s in 0..sessions {
        let channel = CHANNELS[s % CHANNELS.len()];
        let at = now - Days::minutes(((sessions - s) * 60 * 24 * 60 / sessions) as i64);
        let request = LogRequest {
            session_id: None,
            channel: channel.into(),
            title: Some(format!("{channel} session {s}")),
            workspace: Some(format!("/work/project-{}", s % 40)),
            messages: (0..per_session)
                .map(|m| NewMessage {
                    role: if m % 2 == 0 {
                        Role::User
                    } else {
                        Role::Assistant
                    },
                    content: format!(
                        "{} {} {} message {m} of session {s}",
                        WORDS[(s + m) % WORDS.len()],
                        WORDS[(s * 7 + m) % WORDS.len()],
                        WORDS[(s * 3 + m * 5) % WORDS.len()]
                    ),
                    at: Some(at + Days::seconds(m as i64)),
                    key: None,
                })
                .collect(),
        };
        registry.with(|c| store::log(c, &request)).expect("log");
    }
    // Every channel read every other's conversations on most days.
    registry
        .with(|c| {
            for day in 0..30 {
                for caller in CHANNELS {
                    for served in CHANNELS {
                        for tool in ["extract", "get_session"] {
                            store::count_call(
                                c,
                                now - Days::days(day),
                                tool,
                                caller,
                                &[served.to_string()],
                            )?;
                        }
                    }
                }
            }
            Ok(())
        })
        .expect("counts");
    println!(
        "registry of {} messages in {sessions} sessions built in {:.1} s",
        sessions * per_session,
        started.elapsed().as_secs_f64()
    );

    let renderer = Renderer::new(None).expect("templates");
    let mut took = Vec::new();
    let mut files = 0;
    for _ in 0..12 {
        let started = Instant::now();
        let figures = stats::read_stats(&path).expect("stats");
        let recent = activity::read_activity(&path, Utc::now(), LISTED).expect("activity");
        let (pages, json) = pages(&figures, &recent, true, Utc::now());
        files = pages.len() + 1;
        for (_, page) in &pages {
            std::hint::black_box(renderer.render("registry", page).expect("render"));
        }
        std::hint::black_box(serde_json::to_string_pretty(&json).expect("json"));
        took.push(started.elapsed());
    }
    took.sort();
    println!(
        "regeneration ({files} files): p50 {:.1} ms, max {:.1} ms (target <= 100 ms)",
        ms(took[took.len() / 2]),
        ms(took[took.len() - 1])
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let rounds = 600;
    for round in 0..2 {
        for counting in [false, true] {
            let latencies = runtime.block_on(extracts(&registry, rounds, counting));
            println!(
                "extract{} (round {}): p50 {:.2} ms, p95 {:.2} ms over {rounds} calls",
                if counting { " + count" } else { "        " },
                round + 1,
                ms(latencies[rounds / 2]),
                ms(latencies[rounds * 95 / 100])
            );
        }
    }
}

/// `rounds` extracts one after another, each (with `counting`) followed by its count written
/// in the background as the MCP server does.
async fn extracts(registry: &Registry, rounds: usize, counting: bool) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let query = ExtractQuery {
            text: format!(
                "{} {}",
                WORDS[i % WORDS.len()],
                WORDS[(i * 5 + 1) % WORDS.len()]
            ),
            channel: None,
            session_id: None,
            workspace: None,
            since: None,
            until: None,
            limit: 10,
            offset: 0,
        };
        let started = Instant::now();
        let page = registry
            .call(move |conn| search::extract(conn, &query, Utc::now()))
            .await
            .expect("extract");
        latencies.push(started.elapsed());
        if counting {
            let served: Vec<String> = page.hits.iter().map(|h| h.channel.clone()).collect();
            let registry = registry.clone();
            tokio::spawn(async move {
                let _ = registry
                    .call(move |conn| {
                        store::count_call(conn, Utc::now(), "extract", "cursor", &served)
                    })
                    .await;
            });
        }
    }
    latencies.sort();
    latencies
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
