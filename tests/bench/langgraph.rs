//! The LangGraph orchestrator's per-run overhead (issue 10), beside the official Python SDK
//! (`langgraph-sdk`) on the same `langgraph dev` and graph, in one run: time from submit to
//! result for 100 runs each, p50 / p95. Ours is the whole executor (thread lookup in
//! runs.db, rendering, start, join, status, recording the remote run); the SDK's is
//! `runs.create` + `runs.join` on a thread. The dev server's own queue wait is in both.
//!
//! `cargo bench --bench langgraph` (needs target/langgraph-venv: `tests/langgraph/setup.sh`).
//! Not pass/fail: the figures go in the session note.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backoffice::catalog::{SourceContent, SourceFile, load_file};
use backoffice::connectors::Connectors;
use backoffice::executors::{self, Context};
use backoffice::store::Store;

const RUNS: usize = 100;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target/langgraph-venv/bin");
    assert!(
        venv.join("langgraph").exists(),
        "run tests/langgraph/setup.sh first"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let folder = tempfile::tempdir().expect("tempdir");
    for file in ["graphs.py", "langgraph.json"] {
        std::fs::copy(
            root.join("tests/langgraph").join(file),
            folder.path().join(file),
        )
        .expect("copy");
    }
    let mut server = Command::new(venv.join("langgraph"))
        .args([
            "dev",
            "--no-browser",
            "--no-reload",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .current_dir(folder.path())
        .env("LANGSMITH_TRACING", "false")
        .env("LANGGRAPH_CLI_NO_ANALYTICS", "1")
        .env("LANGGRAPH_NO_VERSION_CHECK", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("langgraph dev");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let http = reqwest::Client::new();
    let up = runtime.block_on(async {
        for _ in 0..180 {
            if http
                .get(format!("{url}/ok"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        false
    });
    assert!(up, "langgraph dev did not start");

    let job = load_file(&SourceFile {
        path: "jobs/echo.toml".into(),
        id: "echo".into(),
        content: SourceContent::Text(format!(
            "name = \"Echo\"\nkind = \"agent\"\nschedule = \"0 7 * * *\"\n[agent]\norchestrator = \"langgraph\"\n\
             assistant_id = \"echo\"\nurl = \"{url}\"\nprompt = \"Good morning, {{{{weekday}}}}\"\n"
        )),
    })
    .expect("job");
    let state = tempfile::tempdir().expect("state");
    let store = Store::open(&state.path().join("runs.db")).expect("store");
    let connectors = Arc::new(Connectors::from_env());
    let ours: Vec<f64> = runtime.block_on(async {
        let mut times = Vec::with_capacity(RUNS);
        for n in 0..=RUNS {
            let now = chrono::Utc::now();
            let context = Context {
                job: Arc::clone(&job),
                scheduled_for: now,
                started_at: now,
                connectors: Arc::clone(&connectors),
                store: store.clone(),
                run_id: n as i64 + 1,
                commit: Arc::from("bench"),
            };
            let started = Instant::now();
            let outcome = executors::execute(&context).await.expect("run");
            assert!(outcome.result.starts_with("echo:"), "{}", outcome.result);
            if n > 0 {
                // The first run creates the job's thread; it is not a steady-state run.
                times.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
        times
    });

    let script = format!(
        r#"
import asyncio, time, json
from langgraph_sdk import get_client
async def main():
    client = get_client(url="{url}")
    thread = await client.threads.create()
    times = []
    for n in range({RUNS} + 1):
        started = time.perf_counter()
        run = await client.runs.create(thread["thread_id"], "echo", input={{"messages": [{{"role": "user", "content": "Good morning"}}]}})
        state = await client.runs.join(thread["thread_id"], run["run_id"])
        assert state["messages"][-1]["content"].startswith("echo:")
        if n > 0:
            times.append((time.perf_counter() - started) * 1000)
    print(json.dumps(times))
asyncio.run(main())
"#
    );
    let output = Command::new(venv.join("python"))
        .args(["-c", &script])
        .output()
        .expect("python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sdk: Vec<f64> = serde_json::from_slice(&output.stdout).expect("times");
    let _ = server.kill();
    let _ = server.wait();

    let stats = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
        (at(0.5), at(0.95))
    };
    let (ours50, ours95) = stats(ours);
    let (sdk50, sdk95) = stats(sdk);
    println!(
        "LangGraph per-run time, submit to result, {RUNS} runs each, same langgraph dev and graph (echo)\n"
    );
    println!("| client | p50 ms | p95 ms |");
    println!("|---|---|---|");
    println!("| backoffice executor | {ours50:.1} | {ours95:.1} |");
    println!("| langgraph-sdk (Python) | {sdk50:.1} | {sdk95:.1} |");
    println!(
        "\ndifference at p50: {:+.1} ms (ours minus the SDK's)",
        ours50 - sdk50
    );
}
