//! The Daily Briefing's benchmark (issue 9): 500 Slack messages in 5 channels (50 threads),
//! 200 mails, 50 Notion pages of 30 blocks, every fake adding 20 ms per request, through the
//! release binary's `briefing --dry-run`. Prints collection wall time, requests made, tokens
//! sent to the model against the raw text's tokens, the pipeline's own time (select,
//! budgeting, parsing and rendering: everything but the model's answer), and peak RSS.
//!
//! `cargo bench --bench briefing`. Not pass/fail: the figures go in the session note.

#[allow(dead_code)]
#[path = "../fakes/mod.rs"]
mod fakes;

use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};

use fakes::gmail::{FakeGmail, MessageSeed as Mail};
use fakes::llm::{FakeLlm, Reply};
use fakes::notion::{BlockSeed, FakeNotion, PageSeed};
use fakes::slack::{FakeSlack, MessageSeed};

const DELAY: Duration = Duration::from_millis(20);
const PARENT: &str = "2f1e5c0b8d9a4e7f9b3c1a2d4e6f8a0b";

fn main() {
    let now = Utc::now();
    let slack = FakeSlack::start("xoxb-bench-token-0001");
    for u in 0..10 {
        slack.add_user(
            &format!("U{u:04}"),
            &format!("user{u}"),
            &format!("User {u}"),
            &format!("user{u}"),
            false,
        );
    }
    for c in 0..5 {
        let channel = format!("C{c:08}");
        slack.add_channel(&channel, &format!("chan{c}"), true);
        for m in 0..100u32 {
            let at = now - chrono::Duration::minutes(i64::from(m) * 7 + c);
            let ts = format!("{}.{:06}", at.timestamp(), m);
            let text = format!(
                "Message {m} in chan{c}: the release checklist needs one more review before Friday, \
                 see the rollout notes and the dashboards. 배포 전에 확인 부탁드립니다. #{m}"
            );
            slack.add_message(
                &channel,
                MessageSeed::new(&ts, &format!("U{:04}", m % 10), &text),
            );
            // Ten threads per channel, three replies each (not counted in the 500).
            if m % 10 == 0 {
                for r in 1..=3u32 {
                    let reply_at = at + chrono::Duration::minutes(i64::from(r));
                    let reply_ts = format!("{}.{:06}", reply_at.timestamp(), 900 + r);
                    slack.add_message(
                        &channel,
                        MessageSeed::new(
                            &reply_ts,
                            &format!("U{:04}", r),
                            &format!("Reply {r}: agreed, 좋습니다"),
                        )
                        .in_thread(&ts),
                    );
                }
            }
        }
    }
    let gmail = FakeGmail::start(
        "bench-client.apps",
        "bench-client-secret",
        "bench-refresh-token",
    );
    for n in 0..200 {
        let mut mail = Mail::new(
            &format!("18f{n:013x}"),
            &format!("Sender {n} <s{n}@example.com>"),
            &format!("Quarterly numbers, part {n}"),
            now - chrono::Duration::minutes(n * 5),
        );
        mail.snippet = format!(
            "Hi team, the Q{} numbers are in &#8212; revenue is up and costs are flat; details inside",
            n % 4 + 1
        );
        gmail.add_message(mail);
    }
    let notion = FakeNotion::start("ntn_bench_token_0001");
    notion.add_shared_parent(PARENT);
    for p in 0..50 {
        let blocks = (0..30)
            .map(|b| BlockSeed::paragraph(&format!("Page {p} block {b}: decisions, owners and dates for the launch plan; 회의록 정리 {b}.")))
            .collect();
        notion.add_page(PageSeed {
            id: format!("{p:08x}-0000-4000-8000-000000000000"),
            title: format!("Launch plan {p}"),
            parent_page_id: None,
            last_edited: now - chrono::Duration::minutes(p * 11),
            blocks,
        });
    }
    let llm = FakeLlm::start();
    llm.set_default(Reply::Answer(
        json!({"decisions": [{"ids": ["S1"], "text": "Review the release checklist before Friday"}],
               "to_answer": [{"ids": ["G1"], "text": "Reply to the quarterly numbers"}],
               "updates": [{"ids": ["N1"], "text": "The launch plan changed"}]})
        .to_string(),
    ));
    slack.set_delay(DELAY);
    gmail.set_delay(DELAY);
    notion.set_delay(DELAY);

    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("jobs")).expect("jobs");
    std::fs::write(
        repo.join("jobs/bench.toml"),
        format!(
            "name = \"Bench\"\nkind = \"agent\"\nschedule = \"0 7 * * *\"\ntimezone = \"Asia/Seoul\"\n\
             [agent]\norchestrator = \"briefing\"\nprompt = \"Brief me for {{{{date}}}}\"\ncontext_tokens = 32768\n\
             [agent.sources.slack]\nchannels = [\"chan0\", \"chan1\", \"chan2\", \"chan3\", \"chan4\"]\n\
             [agent.sources.gmail]\nmax_items = 200\n[agent.sources.notion]\n\
             [agent.publish.notion]\nparent_page = \"{PARENT}\"\n"
        ),
    )
    .expect("job file");
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("GIT_AUTHOR_NAME", "bench")
            .env("GIT_AUTHOR_EMAIL", "bench@example.com")
            .env("GIT_COMMITTER_NAME", "bench")
            .env("GIT_COMMITTER_EMAIL", "bench@example.com")
            .status()
            .expect("git");
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "bench"]);

    println!(
        "briefing benchmark: 500 Slack messages (5 channels, 50 threads), 200 mails, 50 pages x 30 blocks, +20 ms per request\n"
    );
    for round in 1..=3 {
        let started = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_backoffice"))
            .arg("--state")
            .arg(dir.path().join(format!("state{round}")))
            .args([
                "briefing",
                "bench",
                "--dry-run",
                "--format",
                "json",
                "--repo",
            ])
            .arg(&repo)
            .env("SLACK_TOKEN", "xoxb-bench-token-0001")
            .env("SLACK_BASE_URL", slack.base_url())
            .env("NOTION_TOKEN", "ntn_bench_token_0001")
            .env("NOTION_BASE_URL", notion.base_url())
            .env("GMAIL_CLIENT_ID", "bench-client.apps")
            .env("GMAIL_CLIENT_SECRET", "bench-client-secret")
            .env("GMAIL_REFRESH_TOKEN", "bench-refresh-token")
            .env("GMAIL_BASE_URL", gmail.base_url())
            .env("GOOGLE_TOKEN_URL", gmail.token_url())
            .env("BACKOFFICE_LLM_URL", llm.url())
            .output()
            .expect("run the binary");
        let wall = started.elapsed();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: Value = serde_json::from_slice(&output.stdout).expect("json");
        let stats = &report["stats"];
        let ms = |key: &str| stats["steps_ms"][key].as_u64().unwrap_or(0);
        let model_ms: u64 = stats["calls"]
            .as_array()
            .map(|calls| calls.iter().filter_map(|c| c["ms"].as_u64()).sum())
            .unwrap_or(0);
        let requests: u64 = report["sources"]
            .as_array()
            .map(|s| s.iter().filter_map(|r| r["requests"].as_u64()).sum())
            .unwrap_or(0);
        let per_source: Vec<String> = report["sources"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                format!(
                    "{} {} items/{} req/{} ms",
                    r["source"].as_str().unwrap_or("?"),
                    r["items"],
                    r["requests"],
                    r["ms"]
                )
            })
            .collect();
        let (sent, raw) = (
            stats["sent_tokens"].as_u64().unwrap_or(0),
            stats["raw_tokens"].as_u64().unwrap_or(1),
        );
        println!(
            "round {round}: whole command {:.0} ms",
            wall.as_secs_f64() * 1000.0
        );
        println!(
            "  collection wall time  {} ms  (target <= 2000)  [{}]",
            ms("collect"),
            per_source.join("; ")
        );
        println!("  requests made         {requests}");
        println!(
            "  tokens to the model   {sent} of {raw} raw = {:.0} %  (target <= 60 %)  strategy {}",
            sent as f64 * 100.0 / raw as f64,
            stats["strategy"].as_str().unwrap_or("?")
        );
        println!(
            "  pipeline without model {} ms  (select {} + summarise {} - model {})  (target <= 100)",
            (ms("select") + ms("summarise")).saturating_sub(model_ms),
            ms("select"),
            ms("summarise"),
            model_ms
        );
    }
    // SAFETY: getrusage only writes into the struct it is given.
    let peak_kb = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage.ru_maxrss
    };
    println!(
        "\npeak RSS of the briefing process: {:.1} MB  (target <= 60)",
        peak_kb as f64 / 1024.0
    );
}
