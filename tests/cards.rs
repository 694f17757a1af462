//! Knowledge Cards from outside: conversations saved through `backoffice mcp` (raw JSON-RPC
//! lines, as three clients: cursor, claude-desktop, claude-code; Korean, English and mixed), a
//! committed `kind = "ambient"` job run by the real `serve` (`backoffice run cards --wait`),
//! and then what a person sees: the run's result, `registry.db`'s cards, `cards.html`, the
//! `cards` commands, the MCP card tools (through the official Python SDK,
//! `tests/mcp/test_cards.py`) and Anki's own importer (`tests/anki/import_check.py`).
//!
//! The `llm` generator talks to a fake model defined here: unlike `fakes::llm` it answers
//! from the request, reading the `[m<ID>] role: text` lines of the prompt, as a model citing
//! registry message ids would.
//!
//! Choices these tests make where the brief leaves room:
//! - a run's result is read from runs.db (`runs.result`) and must also be in `run --wait`'s
//!   output; its first line starts "Made N card(s) from M new message(s) (generator: G";
//! - with `generator = "llm"` the model named in the job is what the request asks for and
//!   what the cards record;
//! - `cards.html` is written when `serve` starts (cards made while it runs appear within the
//!   minute; a test restarts `serve` rather than wait);
//! - answers on `cards.html` are inside `<details>`: the page with every `<details>` block
//!   cut out holds no answer;
//! - the planted secrets are stored in `registry.db`'s messages (the registry keeps what
//!   clients send); they must not be in a card, a model request, the site, runs.db, an export
//!   or any command's output;
//! - the budget test only counts what each run makes and that "budget" and "daily_new_limit"
//!   are named; how many deferred messages a later run re-reads is the implementation's.
//!
//! Every job fires on January 1 at 03:00 Seoul time only: never during a test in practice.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::hardening::RawMcp;
use crate::secrets::files;
use crate::support::{Daemon, TestRepo, backoffice, run, stderr, stdout, wait_until};

/// Far from any test run: January 1, 03:00 in Seoul.
const SCHEDULE: &str = "0 3 1 1 *";
/// The job's id: `jobs/cards.toml`.
const JOB: &str = "cards";
/// In every planted secret; must never come out anywhere but the registry's own messages.
const CANARY: &str = "CANARY";
/// The header `backoffice cards export` writes, line by line.
const EXPORT_HEADER: [&str; 7] = [
    "#separator:tab",
    "#html:true",
    "#guid column:1",
    "#notetype column:2",
    "#deck column:3",
    "#tags column:6",
    "#if matches:update current",
];

/// One conversation as a client logs it.
struct Conversation {
    channel: &'static str,
    title: &'static str,
    workspace: &'static str,
    messages: &'static [(&'static str, &'static str)],
}

/// Three clients, Korean, English and mixed; definitions, decisions, a command, an error and
/// its fix; and a conversation that must make no card: a planted secret, a path, a hash, an
/// address, a password, pasted code.
const FIXTURE: &[Conversation] = &[
    Conversation {
        channel: "cursor",
        title: "재시도 정책 설계",
        workspace: "/work/app",
        messages: &[
            ("user", "지수 백오프가 뭐야? 재시도 정책을 정하고 싶어."),
            (
                "assistant",
                "지수 백오프란 실패할 때마다 대기 시간을 두 배로 늘리는 방식이다. 재시도는 최대 1시간까지 하기로 했다.",
            ),
        ],
    },
    Conversation {
        channel: "claude-desktop",
        title: "Rust ownership questions",
        workspace: "/work/app",
        messages: &[
            ("user", "What is a mutex in Rust?"),
            (
                "assistant",
                "A mutex is a lock that lets one thread at a time use a value. Run `cargo test --release` to run the optimised tests.",
            ),
            (
                "user",
                "I get this when building:\nerror[E0382]: borrow of moved value: `config`",
            ),
            (
                "assistant",
                "Use `config.clone()` before the move, or borrow it with `&config`.",
            ),
        ],
    },
    Conversation {
        channel: "claude-code",
        title: "Deploy strategy",
        workspace: "/work/infra",
        messages: &[
            ("user", "Should we do blue-green or rolling deploys?"),
            (
                "assistant",
                "After the load test we decided to use blue-green deploys for the API.",
            ),
        ],
    },
    Conversation {
        channel: "cursor",
        title: "캐시 전략 cache TTL",
        workspace: "/work/app",
        messages: &[
            ("user", "Redis cache의 TTL은 어떻게 정할까?"),
            (
                "assistant",
                "TTL이란 캐시 항목이 만료되기까지의 시간입니다. 기본 TTL은 10분으로 정했습니다.",
            ),
        ],
    },
    Conversation {
        channel: "claude-desktop",
        title: "Staging access",
        workspace: "/work/infra",
        messages: &[
            (
                "user",
                "The staging key is sk-proj-CANARY7f3a9c1e5b2d4f60. Where should it live?",
            ),
            (
                "assistant",
                "The config file is /etc/backoffice/config.toml on the server. The release commit is 3f9a2b7c1d4e5f60a1b2 on main. The gateway address is 10.0.0.12 in staging. The staging login is admin with password: hunter2-CANARY-77 for now.",
            ),
            (
                "user",
                "Here is the code I pasted:\n```rust\n// A guard is a value that unlocks the mutex when dropped.\nlet guard = lock.lock().unwrap();\n```",
            ),
        ],
    },
];

/// Messages in [`FIXTURE`].
const FIXTURE_MESSAGES: usize = 13;

/// The questions the offline rules make from [`FIXTURE`], as the run's result lists them.
const FIXTURE_QUESTIONS: [&str; 8] = [
    "지수 백오프란 무엇인가?",
    "「재시도 정책 설계」에서 무엇을 하기로 했나?",
    "What is a mutex?",
    "Run [...] to run the optimised tests.",
    "How do you fix \"error[E0382]: borrow of moved value: `config`\"?",
    "What was decided in \"Deploy strategy\"?",
    "TTL이란 무엇인가?",
    "「캐시 전략 cache TTL」에서 무엇을 하기로 했나?",
];

/// Parts of the planted secrets, searched for everywhere but the registry's messages.
const SECRETS: [&str; 3] = [CANARY, "hunter2", "sk-proj-"];

/// Words of the no-card conversation that no card, page or export may hold.
const NEVER_IN_A_CARD: [&str; 8] = [
    "CANARY",
    "staging key",
    "/etc/backoffice",
    "3f9a2b7c1d4e5f60a1b2",
    "10.0.0.12",
    "hunter2",
    "guard",
    "staging login",
];

/// A conversation logged after the first run: the next run makes its card and no other.
const SEMAPHORE: Conversation = Conversation {
    channel: "claude-code",
    title: "Async Rust",
    workspace: "/work/app",
    messages: &[
        ("user", "What is a semaphore?"),
        (
            "assistant",
            "A semaphore is a counter that limits how many tasks run at once.",
        ),
    ],
};

// ---------------------------------------------------------------------------------------
// Helpers: MCP clients, the world (repository, serve, runs), registry.db, the export.

/// A client of `backoffice mcp` speaking raw JSON-RPC lines, with its channel set.
struct Client {
    raw: RawMcp,
    next_id: i64,
}

impl Client {
    fn start(state: &Path, channel: &str) -> Client {
        let mut raw = RawMcp::start_with(state, &[("BACKOFFICE_CHANNEL", channel)]);
        let hello = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": channel, "version": "1.0.0"}}});
        raw.send(hello.to_string().as_bytes());
        let reply = raw.reply();
        assert_eq!(reply["id"], 0, "initialize: {reply}");
        raw.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        Client { raw, next_id: 1 }
    }

    /// A tool call: (structured content, whether it is a tool error, its text).
    fn call(&mut self, tool: &str, arguments: Value) -> (Value, bool, String) {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}});
        self.raw.send(request.to_string().as_bytes());
        let reply = loop {
            let reply = self.raw.reply();
            if reply["id"] == id {
                break reply;
            }
        };
        let result = &reply["result"];
        assert!(result.is_object(), "{tool}: no result: {reply}");
        let text: String = result["content"]
            .as_array()
            .map(|parts| {
                parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("")
            })
            .unwrap_or_default();
        let is_error = result["isError"].as_bool().unwrap_or(false);
        (result["structuredContent"].clone(), is_error, text)
    }

    fn ok(&mut self, tool: &str, arguments: Value) -> Value {
        let (structured, is_error, text) = self.call(tool, arguments);
        assert!(!is_error, "{tool} failed: {text}");
        assert!(
            structured.is_object(),
            "{tool}: no structured content: {text}"
        );
        structured
    }
}

/// Logs `conversations` (one `conversation_log` each, from its channel); returns the
/// session ids in order.
fn log(state: &Path, conversations: &[&Conversation]) -> Vec<String> {
    let mut sessions = Vec::new();
    for conversation in conversations {
        let mut client = Client::start(state, conversation.channel);
        let messages: Vec<Value> = conversation
            .messages
            .iter()
            .map(|(role, content)| json!({"role": role, "content": content}))
            .collect();
        let saved = client.ok(
            "conversation_log",
            json!({"title": conversation.title, "workspace": conversation.workspace,
                   "messages": messages}),
        );
        assert_eq!(saved["channel"], conversation.channel, "{saved}");
        assert_eq!(
            saved["added"].as_u64(),
            Some(conversation.messages.len() as u64),
            "every message is new: {saved}"
        );
        sessions.push(
            saved["session_id"]
                .as_str()
                .expect("session id")
                .to_string(),
        );
    }
    sessions
}

fn fixture() -> Vec<&'static Conversation> {
    FIXTURE.iter().collect()
}

/// A Knowledge Cards job file with `extra` lines in its `[ambient]` table.
fn cards_job(extra: &str) -> String {
    format!(
        "name = \"Knowledge Cards\"\nkind = \"ambient\"\nschedule = \"{SCHEDULE}\"\ntimezone = \"Asia/Seoul\"\n[ambient]\ntask = \"knowledge-cards\"\n{extra}"
    )
}

/// A repository with `jobs/cards.toml`, and `serve` over it when started.
struct World {
    repo: TestRepo,
    daemon: Option<Daemon>,
    env: Vec<(String, String)>,
    /// The commit `serve` must have applied before a run.
    commit: String,
}

impl World {
    fn new(job_file: &str) -> World {
        let repo = TestRepo::new();
        repo.write("jobs/cards.toml", job_file);
        let commit = repo.commit("knowledge cards");
        World {
            repo,
            daemon: None,
            env: Vec::new(),
            commit,
        }
    }

    /// Commits a new `jobs/cards.toml` and, with `serve` running, waits until it is applied.
    fn change_job(&mut self, job_file: &str) {
        self.repo.write("jobs/cards.toml", job_file);
        self.commit = self.repo.commit("the cards job changes");
        if let Some(daemon) = &self.daemon {
            assert!(daemon.wait_applied(&self.commit), "{}", daemon.log_text());
        }
    }

    fn state(&self) -> PathBuf {
        self.repo.state()
    }

    /// (Re)starts `serve --repo WORK --no-http ARGS` with the world's environment.
    fn serve(&mut self, args: &[&str]) {
        self.stop();
        let work = self.repo.work.to_str().expect("utf-8 path").to_string();
        let mut all: Vec<&str> = vec!["--repo", work.as_str(), "--no-http"];
        all.extend_from_slice(args);
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let daemon = Daemon::start(&self.state(), &all, &env);
        assert!(daemon.wait_applied(&self.commit), "{}", daemon.log_text());
        self.daemon = Some(daemon);
    }

    fn stop(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            let status = daemon.stop();
            assert!(status.success(), "serve did not stop cleanly: {status:?}");
        }
    }

    fn log_text(&self) -> String {
        self.daemon
            .as_ref()
            .map(Daemon::log_text)
            .unwrap_or_default()
    }

    /// `backoffice run cards --wait` through the daemon: the run must succeed; returns the
    /// run's result (from runs.db, also in the command's output) and the output.
    fn run_cards(&self) -> (String, Output) {
        let output = run(backoffice(&self.state()).args(["run", JOB, "--wait"]));
        let Some((status, result, error)) = last_run(&self.state()) else {
            panic!(
                "no run of {JOB}:\n{}{}\n{}",
                stdout(&output),
                stderr(&output),
                self.log_text()
            );
        };
        assert!(
            output.status.success() && status == "succeeded",
            "run {status}: {error:?}\n{}{}\n{}",
            stdout(&output),
            stderr(&output),
            self.log_text()
        );
        let result = result.unwrap_or_default();
        assert!(
            stdout(&output).contains(result.lines().next().unwrap_or("?")),
            "run --wait prints the result:\n{}\nresult: {result}",
            stdout(&output)
        );
        (result, output)
    }
}

/// (status, result, error) of the job's newest run.
fn last_run(state: &Path) -> Option<(String, Option<String>, Option<String>)> {
    crate::support::runs_db(state)
        .query_row(
            "SELECT status, result, error FROM runs WHERE job_id = ?1 ORDER BY id DESC LIMIT 1",
            [JOB],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .ok()
}

/// Every result and error of runs.db, one per line.
fn runs_text(state: &Path) -> String {
    let db = crate::support::runs_db(state);
    let mut statement = db
        .prepare("SELECT coalesce(result, '') || ' ' || coalesce(error, '') FROM runs")
        .expect("prepare");
    statement
        .query_map([], |row| row.get::<_, String>(0))
        .expect("query")
        .collect::<Result<Vec<_>, _>>()
        .expect("rows")
        .join("\n")
}

/// The first line of a run's result, and the questions it lists (`- ` lines).
fn made_line(result: &str) -> &str {
    result.lines().next().unwrap_or_default()
}

fn listed_questions(result: &str) -> Vec<String> {
    result
        .lines()
        .filter_map(|line| line.strip_prefix("- "))
        .map(str::to_string)
        .collect()
}

fn dropped_line(result: &str) -> String {
    result
        .lines()
        .find(|line| line.starts_with("Dropped "))
        .unwrap_or_default()
        .to_string()
}

fn registry(state: &Path) -> rusqlite::Connection {
    let connection = rusqlite::Connection::open_with_flags(
        state.join("registry.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open registry.db");
    connection
        .busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    connection
}

/// A card as `registry.db` keeps it.
#[derive(Debug, Clone)]
struct Card {
    id: String,
    state: String,
    kind: String,
    front: String,
    back: String,
    quote: String,
    generator: String,
    model: Option<String>,
    session_id: String,
    message_ids: Vec<i64>,
    tags: Vec<String>,
}

impl Card {
    /// Every text the card carries.
    fn text(&self) -> String {
        format!(
            "{} | {} | {} | {}",
            self.front,
            self.back,
            self.quote,
            self.tags.join(" ")
        )
    }
}

/// Every card, oldest first.
fn cards(state: &Path) -> Vec<Card> {
    let db = registry(state);
    let mut statement = db
        .prepare(
            "SELECT id, state, kind, front, back, quote, generator, model, session_id, message_ids, tags
             FROM cards ORDER BY created_at, id",
        )
        .expect("the cards table");
    statement
        .query_map([], |row| {
            let ids: String = row.get(9)?;
            let tags: String = row.get(10)?;
            Ok(Card {
                id: row.get(0)?,
                state: row.get(1)?,
                kind: row.get(2)?,
                front: row.get(3)?,
                back: row.get(4)?,
                quote: row.get(5)?,
                generator: row.get(6)?,
                model: row.get(7)?,
                session_id: row.get(8)?,
                message_ids: serde_json::from_str(&ids).unwrap_or_else(|e| {
                    panic!("message_ids {ids:?} is not a JSON list of ids: {e}")
                }),
                tags: serde_json::from_str(&tags).unwrap_or_default(),
            })
        })
        .expect("query")
        .collect::<Result<Vec<_>, _>>()
        .expect("rows")
}

fn card_with_front(state: &Path, front: &str) -> Card {
    let all = cards(state);
    all.iter()
        .find(|c| c.front == front)
        .cloned()
        .unwrap_or_else(|| panic!("no card {front:?} among {:?}", fronts(&all)))
}

fn fronts(cards: &[Card]) -> Vec<String> {
    cards.iter().map(|c| c.front.clone()).collect()
}

/// A question as listed and shown: a cloze's deletions as `[...]`.
fn question(card: &Card) -> String {
    if card.kind != "cloze" {
        return card.front.clone();
    }
    let mut out = String::new();
    let mut rest = card.front.as_str();
    while let Some(start) = rest.find("{{c") {
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str("[...]");
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// The answer as shown after a review: a Basic card's back, a cloze's text filled in.
fn answer_of(card: &Card) -> String {
    if card.kind != "cloze" {
        return card.back.clone();
    }
    let mut out = String::new();
    let mut rest = card.front.as_str();
    while let Some(start) = rest.find("{{c") {
        let Some(body) = rest[start..].find("::").map(|at| start + at + 2) else {
            break;
        };
        let Some(end) = rest[body..].find("}}").map(|at| body + at) else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(rest[body..end].split("::").next().unwrap_or_default());
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    if !card.back.trim().is_empty() {
        out.push('\n');
        out.push_str(card.back.trim());
    }
    out
}

/// The message's text and session, if it is in the registry.
fn message(state: &Path, id: i64) -> Option<(String, String, String)> {
    registry(state)
        .query_row(
            "SELECT role, content, session_id FROM messages WHERE id = ?1",
            [id],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .ok()
}

fn last_message_id(state: &Path) -> i64 {
    registry(state)
        .query_row("SELECT coalesce(max(id), 0) FROM messages", [], |row| {
            row.get(0)
        })
        .expect("messages")
}

fn watermark(state: &Path) -> Option<i64> {
    registry(state)
        .query_row(
            "SELECT message_id FROM card_watermarks WHERE job_id = ?1",
            [JOB],
            |row| row.get(0),
        )
        .ok()
}

fn review_count(state: &Path, card: &str) -> Vec<i64> {
    let db = registry(state);
    let mut statement = db
        .prepare("SELECT grade FROM card_reviews WHERE card_id = ?1 ORDER BY id")
        .expect("card_reviews");
    statement
        .query_map([card], |row| row.get(0))
        .expect("query")
        .collect::<Result<Vec<_>, _>>()
        .expect("rows")
}

/// A `backoffice cards ARGS` command against `state`.
fn cards_command(state: &Path, args: &[&str]) -> Output {
    run(backoffice(state).arg("cards").args(args))
}

/// `backoffice cards export ARGS`, which must succeed.
fn export(state: &Path, args: &[&str]) -> String {
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    let output = cards_command(state, &all);
    assert!(output.status.success(), "cards export: {}", stderr(&output));
    stdout(&output)
}

/// An export: its header lines and its rows, fields unquoted as Anki's CSV reader does.
struct Export {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Export {
    fn parse(text: &str) -> Export {
        let mut header = Vec::new();
        let mut rows = Vec::new();
        for line in text.lines() {
            if rows.is_empty() && line.starts_with('#') {
                header.push(line.to_string());
            } else if !line.trim().is_empty() {
                rows.push(split_row(line));
            }
        }
        Export { header, rows }
    }

    fn row(&self, card: &str) -> &Vec<String> {
        let guid = format!("bo1:{card}");
        self.rows
            .iter()
            .find(|row| row[0] == guid)
            .unwrap_or_else(|| panic!("no row with GUID {guid}"))
    }
}

/// One tab-separated line; a field in double quotes may hold tabs and `""` for a quote.
fn split_row(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut at_start = true;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if !quoted && c == '\t' {
            fields.push(String::new());
            at_start = true;
            continue;
        }
        if !quoted && at_start && c == '"' {
            quoted = true;
            at_start = false;
            continue;
        }
        at_start = false;
        let field = fields.last_mut().expect("a field");
        if quoted && c == '"' {
            if chars.peek() == Some(&'"') {
                chars.next();
                field.push('"');
            } else {
                quoted = false;
            }
        } else {
            field.push(c);
        }
    }
    fields
}

/// `text` as the status site's templates escape it.
fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `page` with every `<details>…</details>` block cut out, and the blocks.
fn split_details(page: &str) -> (String, Vec<String>) {
    let mut outside = String::new();
    let mut blocks = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find("<details") {
        outside.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("</details>") else {
            rest = "";
            break;
        };
        blocks.push(rest[start..start + end].to_string());
        rest = &rest[start + end + "</details>".len()..];
    }
    outside.push_str(rest);
    (outside, blocks)
}

fn site_file(state: &Path, name: &str) -> String {
    std::fs::read_to_string(state.join("site").join(name)).unwrap_or_default()
}

/// Waits for `cards.html` to satisfy `ready`; returns it.
fn wait_for_cards_page(world: &World, ready: impl Fn(&str) -> bool) -> String {
    let state = world.state();
    let written = wait_until(Duration::from_secs(20), || {
        ready(&site_file(&state, "cards.html"))
    });
    assert!(
        written,
        "cards.html not written as expected:\n{}\n--- log:\n{}",
        site_file(&state, "cards.html"),
        world.log_text()
    );
    site_file(&state, "cards.html")
}

/// Where `needle` is found among the site's files, runs.db's results and errors, the cards'
/// texts and `outputs` (named).
fn places_with(state: &Path, needle: &str, outputs: &[(&str, &[u8])]) -> Vec<String> {
    let holds = |bytes: &[u8]| {
        bytes
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
    };
    let mut found = Vec::new();
    for (path, bytes) in files(&state.join("site")) {
        if holds(bytes.as_slice()) {
            found.push(path);
        }
    }
    if holds(runs_text(state).as_bytes()) {
        found.push("runs.db (a run's result or error)".into());
    }
    for card in cards(state) {
        if holds(card.text().as_bytes()) {
            found.push(format!("card {} ({})", card.id, card.front));
        }
    }
    for (name, bytes) in outputs {
        if holds(bytes) {
            found.push((*name).to_string());
        }
    }
    found
}

/// A state folder with the fixture's eight offline cards, and `serve` still running.
fn offline_world() -> (World, Vec<String>) {
    let mut world = World::new(&cards_job("generator = \"offline\"\n"));
    let sessions = log(&world.state(), &fixture());
    world.serve(&[]);
    let (result, _) = world.run_cards();
    assert!(
        made_line(&result).starts_with("Made 8 cards from 13 new messages"),
        "{result}"
    );
    (world, sessions)
}

// ---------------------------------------------------------------------------------------
// A fake model that answers from the request.

/// How the fake answers one chat request.
enum Answer {
    /// 200 with this assistant text.
    Text(String),
    /// Closes the connection without a word.
    Hangup,
}

type Respond = Arc<dyn Fn(&str) -> Answer + Send + Sync>;

struct ModelShared {
    respond: Respond,
    /// The raw body of every chat request.
    chats: Vec<String>,
}

/// An OpenAI-compatible `/v1/chat/completions` whose answer is computed from the prompt.
#[derive(Clone)]
struct Model {
    port: u16,
    shared: Arc<Mutex<ModelShared>>,
}

impl Model {
    fn start(respond: impl Fn(&str) -> Answer + Send + Sync + 'static) -> Model {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake model");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Mutex::new(ModelShared {
            respond: Arc::new(respond),
            chats: Vec::new(),
        }));
        let serving = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&serving);
                std::thread::spawn(move || answer(stream, &shared));
            }
        });
        Model { port, shared }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    fn set(&self, respond: impl Fn(&str) -> Answer + Send + Sync + 'static) {
        self.shared.lock().expect("model").respond = Arc::new(respond);
    }

    fn chats(&self) -> Vec<String> {
        self.shared.lock().expect("model").chats.clone()
    }
}

fn answer(stream: TcpStream, shared: &Mutex<ModelShared>) {
    let Some(request) = crate::fakes::http::read_request(&stream) else {
        return;
    };
    let mut stream = stream;
    if request.path != "/v1/chat/completions" {
        let body = r#"{"error":{"message":"404 page not found","type":"not_found_error"}}"#;
        let _ = write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        return;
    }
    let body = String::from_utf8_lossy(&request.body).into_owned();
    let respond = {
        let mut shared = shared.lock().expect("model");
        shared.chats.push(body.clone());
        Arc::clone(&shared.respond)
    };
    match respond(&prompt_of(&body)) {
        Answer::Hangup => drop(stream),
        Answer::Text(content) => {
            let completion = json!({
                "id": "chatcmpl-cards", "object": "chat.completion", "created": 1_717_300_000,
                "model": "qwen2.5:7b",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 900, "completion_tokens": 300, "total_tokens": 1200}
            })
            .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{completion}",
                completion.len()
            );
        }
    }
}

/// Every message's content of a chat request, one after the other.
fn prompt_of(body: &str) -> String {
    let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    value["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter_map(|m| m["content"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// The `[m<ID>] role: text` lines of a prompt: (id, "role: text").
fn prompt_messages(prompt: &str) -> Vec<(i64, String)> {
    prompt
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("[m")?;
            let end = rest.find(']')?;
            let id = rest[..end].parse().ok()?;
            Some((id, rest[end + 1..].trim().to_string()))
        })
        .collect()
}

/// The model of the llm test: five cards, one good and four that must be dropped.
fn five_cards(prompt: &str) -> Answer {
    let lines = prompt_messages(prompt);
    let find = |needle: &str| {
        lines
            .iter()
            .find(|(_, text)| text.contains(needle))
            .map(|(id, _)| *id)
    };
    let (Some(backoff), Some(databases)) = (find("지수 백오프란"), find("SQLite, Postgres"))
    else {
        return Answer::Text(r#"{"cards": []}"#.into());
    };
    let unknown = lines.iter().map(|(id, _)| *id).max().unwrap_or(0) + 1000;
    Answer::Text(
        json!({"cards": [
            {"front": "지수 백오프란 무엇인가?", "back": "실패할 때마다 대기 시간을 두 배로 늘리는 방식",
             "kind": "basic", "tags": ["backoff"], "message_ids": [backoff],
             "quote": "대기 시간을 두 배로 늘리는 방식"},
            {"front": "What does the app use for retries?",
             "back": "exponential backoff with a cap of one hour",
             "kind": "basic", "tags": [], "message_ids": [backoff],
             "quote": "retries are capped at one hour"},
            {"front": "지수 백오프는 무엇인가?", "back": "실패할 때마다 대기 시간을 두 배로 늘림",
             "kind": "basic", "tags": [], "message_ids": [backoff],
             "quote": "대기 시간을 두 배로"},
            {"front": "Which databases does the app support?",
             "back": "SQLite, Postgres, MySQL, Oracle and DuckDB",
             "kind": "basic", "tags": [], "message_ids": [databases],
             "quote": "SQLite, Postgres, MySQL, Oracle and DuckDB"},
            {"front": "What is a mutex?", "back": "a lock that lets one thread at a time use a value",
             "kind": "basic", "tags": [], "message_ids": [unknown],
             "quote": "a lock that lets one thread"}
        ]})
        .to_string(),
    )
}

// ---------------------------------------------------------------------------------------
// Python: the MCP SDK's venv and Anki's.

/// A Python for which `import MODULE` works: `env_var`, else `default` under the repository;
/// `None` after a loud note (a failure under CI) when there is none.
fn python_with(module: &str, env_var: &str, default: &str, how: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidate = std::env::var_os(env_var)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(default));
    let usable = Command::new(&candidate)
        .arg("-c")
        .arg(format!("import {module}"))
        .output()
        .is_ok_and(|o| o.status.success());
    if usable {
        return Some(candidate);
    }
    let message = format!(
        "no Python with `{module}` at {}: {how} or set {env_var}",
        candidate.display()
    );
    assert!(std::env::var_os("BACKOFFICE_CI").is_none(), "{message}");
    eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
    None
}

/// Runs `python script args` from the repository root; it must end "N passed, 0 failed".
fn python_script(python: &Path, script: &str, args: &[&Path]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(python)
        .arg(root.join(script))
        .args(args)
        .env("BACKOFFICE_BIN", crate::support::binary())
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", python.display()));
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && out.contains(" passed, 0 failed"),
        "{script}:\n{out}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

// ---------------------------------------------------------------------------------------
// The tests.

#[test]
fn offline_cards_from_three_clients_end_to_end() {
    let mut world = World::new(&cards_job("generator = \"offline\"\n"));
    let state = world.state();
    let sessions = log(&state, &fixture());
    world.serve(&[]);

    // Run 1 reads everything from the beginning.
    let (result, first_output) = world.run_cards();
    assert_eq!(
        made_line(&result),
        format!("Made 8 cards from {FIXTURE_MESSAGES} new messages (generator: offline)."),
        "{result}"
    );
    let mut listed = listed_questions(&result);
    listed.sort();
    let mut expected: Vec<String> = FIXTURE_QUESTIONS.iter().map(|q| q.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected, "{result}");
    for word in NEVER_IN_A_CARD {
        assert!(!result.contains(word), "{word:?} in the result:\n{result}");
    }

    let made = cards(&state);
    assert_eq!(made.len(), 8, "{:?}", fronts(&made));
    for card in &made {
        assert_eq!(
            (
                card.state.as_str(),
                card.generator.as_str(),
                card.model.as_deref()
            ),
            ("new", "offline", None),
            "{card:?}"
        );
        for word in NEVER_IN_A_CARD {
            assert!(!card.text().contains(word), "{word:?} in {card:?}");
        }
        assert!(!card.message_ids.is_empty(), "{card:?} cites no message");
        let cited: Vec<(String, String, String)> = card
            .message_ids
            .iter()
            .map(|id| message(&state, *id).unwrap_or_else(|| panic!("{card:?}: no message {id}")))
            .collect();
        assert!(
            cited
                .iter()
                .any(|(_, content, _)| content.contains(&card.quote)),
            "the quote is words of a cited message: {card:?}"
        );
        assert!(
            cited
                .iter()
                .all(|(_, _, session)| *session == card.session_id),
            "{card:?}"
        );
        assert!(sessions.contains(&card.session_id), "{card:?}");
    }
    let cloze = card_with_front(
        &state,
        "Run {{c1::cargo test --release}} to run the optimised tests.",
    );
    assert_eq!(cloze.kind, "cloze");
    let korean = card_with_front(&state, "지수 백오프란 무엇인가?");
    assert_eq!(korean.back, "실패할 때마다 대기 시간을 두 배로 늘리는 방식");
    assert_eq!(korean.session_id, sessions[0]);
    let english = card_with_front(&state, "What is a mutex?");
    assert_eq!(
        english.back,
        "a lock that lets one thread at a time use a value"
    );
    assert_eq!(
        english.quote,
        "A mutex is a lock that lets one thread at a time use a value."
    );
    let fix = card_with_front(
        &state,
        "How do you fix \"error[E0382]: borrow of moved value: `config`\"?",
    );
    assert!(fix.back.contains("config.clone()"), "{fix:?}");
    assert_eq!(fix.message_ids.len(), 2, "the error and the fix: {fix:?}");
    let decision = card_with_front(&state, "What was decided in \"Deploy strategy\"?");
    assert!(decision.back.contains("blue-green"), "{decision:?}");
    assert_eq!(decision.session_id, sessions[2]);
    assert!(
        made.iter().all(|c| c.session_id != sessions[4]),
        "nothing from the conversation with the secret, the path, the hash and the code"
    );

    // The export parses as Anki reads it: header, one row per card, GUID bo1:<card id>.
    let exported = export(&state, &[]);
    let parsed = Export::parse(&exported);
    assert_eq!(parsed.header, EXPORT_HEADER, "{exported}");
    assert_eq!(parsed.rows.len(), 8, "{exported}");
    for card in &made {
        let row = parsed.row(&card.id);
        assert_eq!(row.len(), 6, "{row:?}");
        let notetype = if card.kind == "cloze" {
            "Cloze"
        } else {
            "Basic"
        };
        assert_eq!(row[1], notetype, "{row:?}");
        assert_eq!(
            row[2], "Backoffice::Knowledge Cards",
            "the default deck: {row:?}"
        );
        assert_eq!(row[3], html_field(&card.front), "{row:?}");
        assert!(row[4].starts_with(&html_field(&card.back)), "{row:?}");
        assert!(
            row[4].contains(&html_field(&card.quote)),
            "the quote under the answer: {row:?}"
        );
        assert!(
            row[5].split(' ').any(|tag| tag == "backoffice"),
            "tagged backoffice: {row:?}"
        );
    }
    for word in NEVER_IN_A_CARD {
        assert!(
            !exported.contains(word),
            "{word:?} in the export:\n{exported}"
        );
    }

    // Run 2: nothing new, nothing made, the watermark holds.
    let mark = watermark(&state).expect("a watermark after a successful run");
    assert_eq!(mark, last_message_id(&state), "run 1 read every message");
    let (result, second_output) = world.run_cards();
    assert!(
        made_line(&result).starts_with("Made 0 cards from 0 new messages"),
        "{result}"
    );
    assert_eq!(cards(&state).len(), 8);
    assert_eq!(watermark(&state), Some(mark));

    // Run 3: a third client's new conversation, and only its card.
    let semaphore_session = log(&state, &[&SEMAPHORE]).remove(0);
    let (result, third_output) = world.run_cards();
    assert_eq!(
        made_line(&result),
        "Made 1 card from 2 new messages (generator: offline).",
        "{result}"
    );
    assert_eq!(
        listed_questions(&result),
        ["What is a semaphore?"],
        "{result}"
    );
    let semaphore = card_with_front(&state, "What is a semaphore?");
    assert_eq!(semaphore.session_id, semaphore_session);
    assert_eq!(cards(&state).len(), 9);
    assert_eq!(watermark(&state), Some(last_message_id(&state)));

    // cards.html, written when serve starts: due count, forecast, questions, answers folded.
    world.serve(&[]);
    let page = wait_for_cards_page(&world, |page| page.contains("9 due now"));
    assert!(page.contains("<svg"), "a forecast chart:\n{page}");
    let (outside, details) = split_details(&page);
    assert_eq!(details.len(), 9, "one <details> per card:\n{page}");
    for shown in [
        "지수 백오프란 무엇인가?",
        "What is a mutex?",
        "TTL이란 무엇인가?",
        "Run [...] to run the optimised tests.",
        "What is a semaphore?",
    ] {
        assert!(outside.contains(shown), "{shown:?} visible:\n{page}");
    }
    for answer in [
        "실패할 때마다 대기 시간을 두 배로 늘리는 방식",
        "a lock that lets one thread at a time use a value",
        "캐시 항목이 만료되기까지의 시간",
        "a counter that limits how many tasks run at once",
        "Run cargo test --release to run the optimised tests.",
    ] {
        assert!(
            details.iter().any(|block| block.contains(answer)),
            "{answer:?} inside <details>:\n{page}"
        );
        assert!(
            !outside.contains(answer),
            "{answer:?} outside <details>:\n{page}"
        );
    }
    for source in [
        "재시도 정책 설계 (cursor)",
        "Rust ownership questions (claude-desktop)",
        "Async Rust (claude-code)",
    ] {
        assert!(
            page.contains(source),
            "the source session {source:?} named:\n{page}"
        );
    }
    assert!(
        page.contains("<td>offline</td>"),
        "acceptance per generator:\n{page}"
    );
    for word in NEVER_IN_A_CARD {
        assert!(!page.contains(word), "{word:?} on cards.html:\n{page}");
    }
    let registry_page = site_file(&state, "registry.html");
    assert!(
        registry_page.contains("href=\"cards.html\""),
        "registry.html links the cards page:\n{registry_page}"
    );

    // `--site-registry counts`: figures only, no card text.
    world.serve(&["--site-registry", "counts"]);
    let counts = wait_for_cards_page(&world, |page| {
        page.contains("9 due now") && !page.contains("What is a mutex?")
    });
    for card in cards(&state) {
        for text in [question(&card), card.back.clone(), card.quote.clone()] {
            if text.chars().count() >= 4 {
                assert!(
                    !counts.contains(&text) && !counts.contains(&html(&text)),
                    "card text {text:?} on the counts-only page:\n{counts}"
                );
            }
        }
    }
    world.stop();

    let outputs = [
        ("run 1", first_output.stdout.as_slice()),
        ("run 2", second_output.stdout.as_slice()),
        ("run 3", third_output.stdout.as_slice()),
        ("the export", exported.as_bytes()),
    ];
    for secret in SECRETS {
        let found = places_with(&state, secret, &outputs);
        assert!(found.is_empty(), "{secret:?} found in {found:?}");
    }
}

/// A text as `cards export` writes it into an HTML field.
fn html_field(text: &str) -> String {
    text.trim()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\n', "<br>")
}

/// The fixture of the llm test: a definition, a list, and secrets beside plain sentences.
const LLM_FIXTURE: &[Conversation] = &[
    Conversation {
        channel: "cursor",
        title: "재시도 정책 설계",
        workspace: "/work/app",
        messages: &[
            ("user", "지수 백오프가 뭐야?"),
            (
                "assistant",
                "지수 백오프란 실패할 때마다 대기 시간을 두 배로 늘리는 방식이다.",
            ),
        ],
    },
    Conversation {
        channel: "claude-desktop",
        title: "Databases",
        workspace: "/work/app",
        messages: &[
            ("user", "Which databases does the app support?"),
            (
                "assistant",
                "The app supports SQLite, Postgres, MySQL, Oracle and DuckDB.",
            ),
        ],
    },
    Conversation {
        channel: "claude-code",
        title: "Staging access",
        workspace: "/work/infra",
        messages: &[
            (
                "user",
                "How do I log in to staging? password: hunter2-CANARY-77",
            ),
            (
                "assistant",
                "Use the key sk-proj-CANARY9f8e7d6c5b4a3210 for the staging API. Ask in #ops if it expires.",
            ),
        ],
    },
];

#[test]
fn the_llm_generator_keeps_only_supported_new_cards_and_never_sends_a_secret() {
    let model = Model::start(five_cards);
    let mut world = World::new(&cards_job(
        "generator = \"llm\"\nmodel = \"qwen2.5:7b\"\nmax_cards = 10\n",
    ));
    world.env = vec![
        ("BACKOFFICE_LLM_URL".to_string(), model.url()),
        (
            "BACKOFFICE_LLM_MODEL".to_string(),
            "llama3.1:8b".to_string(),
        ),
    ];
    let state = world.state();
    let sessions = log(&state, &LLM_FIXTURE.iter().collect::<Vec<_>>());
    world.serve(&[]);

    let (result, first) = world.run_cards();
    let chats = model.chats();
    assert_eq!(chats.len(), 1, "one request per run: {chats:?}");
    let request: Value = serde_json::from_str(&chats[0]).expect("a JSON request");
    assert_eq!(request["model"], "qwen2.5:7b", "the job's model");
    assert_eq!(
        request["response_format"]["type"], "json_schema",
        "held to a JSON schema: {request}"
    );
    let prompt = prompt_of(&chats[0]);
    let listed = prompt_messages(&prompt);
    let backoff = listed
        .iter()
        .find(|(_, text)| text.starts_with("assistant: 지수 백오프란"))
        .map(|(id, _)| *id)
        .unwrap_or_else(|| panic!("no `[m<ID>] assistant: 지수 백오프란` line in:\n{prompt}"));
    let (role, content, session) =
        message(&state, backoff).expect("the id is a registry message id");
    assert_eq!(
        (role.as_str(), session.as_str()),
        ("assistant", sessions[0].as_str())
    );
    assert!(content.starts_with("지수 백오프란"), "{content}");
    assert!(
        listed
            .iter()
            .any(|(_, text)| text.contains("How do I log in to staging?"))
            && listed
                .iter()
                .any(|(_, text)| text.contains("Ask in #ops if it expires.")),
        "the secret messages' other sentences are sent:\n{prompt}"
    );

    assert!(
        made_line(&result).starts_with("Made 1 card from 6 new messages (generator: llm"),
        "{result}"
    );
    let dropped = dropped_line(&result);
    assert!(dropped.starts_with("Dropped 4: "), "{result}");
    for reason in [
        "1 duplicate",
        "1 failed gate: an enumeration of 5 items",
        "1 unsupported quote",
        "1 cites no message",
    ] {
        assert!(
            dropped.contains(reason),
            "{reason:?} in {dropped:?}:\n{result}"
        );
    }
    assert_eq!(
        listed_questions(&result),
        ["지수 백오프란 무엇인가?"],
        "{result}"
    );
    let kept = cards(&state);
    assert_eq!(kept.len(), 1, "{kept:?}");
    let card = &kept[0];
    assert_eq!(
        (card.generator.as_str(), card.model.as_deref()),
        ("llm", Some("qwen2.5:7b")),
        "{card:?}"
    );
    assert_eq!(card.message_ids, [backoff]);
    assert_eq!(card.session_id, sessions[0]);
    assert_eq!(card.quote, "대기 시간을 두 배로 늘리는 방식");
    assert_eq!(card.back, "실패할 때마다 대기 시간을 두 배로 늘리는 방식");

    // Run 2: the model answers prose; that answer counts as dropped and the rules step in.
    model.set(|_| {
        Answer::Text(
            "Sure! Here are some flashcards about semaphores: 1. What is a semaphore? ...".into(),
        )
    });
    log(&state, &[&SEMAPHORE]);
    let (result, second) = world.run_cards();
    assert_eq!(model.chats().len(), 2, "one request for the new messages");
    assert!(
        made_line(&result).starts_with("Made 1 card from 2 new messages (generator: offline"),
        "{result}"
    );
    assert!(
        dropped_line(&result).contains("1 invalid answer"),
        "{result}"
    );
    assert_eq!(
        listed_questions(&result),
        ["What is a semaphore?"],
        "{result}"
    );
    assert_eq!(
        card_with_front(&state, "What is a semaphore?").generator,
        "offline"
    );

    // Run 3: the model hangs up; the rules again, with a note.
    model.set(|_| Answer::Hangup);
    log(
        &state,
        &[&Conversation {
            channel: "claude-desktop",
            title: "Async Rust, part 2",
            workspace: "/work/app",
            messages: &[
                ("user", "What is a future?"),
                (
                    "assistant",
                    "A future is a value that becomes ready after an await point.",
                ),
            ],
        }],
    );
    let (result, third) = world.run_cards();
    assert!(model.chats().len() >= 3, "the model was asked");
    assert!(
        made_line(&result).starts_with("Made 1 card from 2 new messages (generator: offline"),
        "{result}"
    );
    assert!(
        result.lines().any(|line| line.starts_with("Note:")),
        "a note says the model did not answer:\n{result}"
    );
    assert_eq!(listed_questions(&result), ["What is a future?"], "{result}");

    // The site: the llm card and its model, and no secret anywhere.
    world.serve(&[]);
    let page = wait_for_cards_page(&world, |page| page.contains("3 due now"));
    assert!(page.contains("지수 백오프란 무엇인가?"), "{page}");
    assert!(
        page.contains("qwen2.5:7b"),
        "acceptance names the model:\n{page}"
    );
    world.stop();
    let exported = export(&state, &[]);
    assert_eq!(Export::parse(&exported).rows.len(), 3, "{exported}");
    let listed_json = cards_command(&state, &["list", "--format", "json"]);
    assert!(listed_json.status.success(), "{}", stderr(&listed_json));
    let due_json = cards_command(&state, &["due", "--format", "json"]);
    assert!(due_json.status.success(), "{}", stderr(&due_json));
    let bodies = model.chats().join("\n");
    assert!(
        SECRETS.iter().all(|secret| !bodies.contains(secret)),
        "a secret reached the model:\n{bodies}"
    );
    let outputs = [
        ("run 1", first.stdout.as_slice()),
        ("run 2", second.stdout.as_slice()),
        ("run 3", third.stdout.as_slice()),
        ("the export", exported.as_bytes()),
        ("cards list", listed_json.stdout.as_slice()),
        ("cards due", due_json.stdout.as_slice()),
        ("the model's requests", bodies.as_bytes()),
    ];
    for secret in SECRETS {
        let found = places_with(&state, secret, &outputs);
        assert!(found.is_empty(), "{secret:?} found in {found:?}");
    }
}

/// Six definitions, one exchange each, in one Cursor conversation.
const SIX_DEFINITIONS: Conversation = Conversation {
    channel: "cursor",
    title: "Rust concurrency notes",
    workspace: "/work/app",
    messages: &[
        ("user", "What is a mutex?"),
        (
            "assistant",
            "A mutex is a lock that lets one thread at a time use a value.",
        ),
        ("user", "What is a semaphore?"),
        (
            "assistant",
            "A semaphore is a counter that limits how many tasks run at once.",
        ),
        ("user", "What is a channel?"),
        (
            "assistant",
            "A channel is a queue carrying messages between threads.",
        ),
        ("user", "What is a future?"),
        (
            "assistant",
            "A future is a value that becomes ready after an await point.",
        ),
        ("user", "What is a closure?"),
        (
            "assistant",
            "A closure is a function capturing variables from its scope.",
        ),
        ("user", "What is a trait?"),
        (
            "assistant",
            "A trait is a set of methods a type promises to implement.",
        ),
    ],
};

#[test]
fn the_budget_defers_cards_and_later_runs_still_make_them() {
    let mut world = World::new(&cards_job(
        "generator = \"offline\"\nmax_cards = 2\ndaily_new_limit = 3\n",
    ));
    let state = world.state();
    log(&state, &[&SIX_DEFINITIONS]);
    world.serve(&[]);

    let (first, _) = world.run_cards();
    assert!(
        made_line(&first).starts_with("Made 2 cards from 12 new messages"),
        "{first}"
    );
    assert!(dropped_line(&first).contains("budget"), "{first}");
    assert_eq!(cards(&state).len(), 2);

    let (second, _) = world.run_cards();
    assert!(made_line(&second).starts_with("Made 1 card "), "{second}");
    assert!(dropped_line(&second).contains("budget"), "{second}");
    assert!(
        second.contains("daily_new_limit"),
        "the limit is named:\n{second}"
    );
    assert_eq!(cards(&state).len(), 3);

    let (third, _) = world.run_cards();
    assert!(made_line(&third).starts_with("Made 0 cards "), "{third}");
    assert!(dropped_line(&third).contains("budget"), "{third}");
    assert!(third.contains("daily_new_limit"), "{third}");
    assert_eq!(cards(&state).len(), 3);

    // Room again (a new limit stands for the next day): the deferred definitions come.
    world.change_job(&cards_job(
        "generator = \"offline\"\nmax_cards = 10\ndaily_new_limit = 10\n",
    ));
    let (fourth, _) = world.run_cards();
    assert!(made_line(&fourth).starts_with("Made 3 cards "), "{fourth}");
    let mut made = fronts(&cards(&state));
    made.sort();
    assert_eq!(
        made,
        [
            "What is a channel?",
            "What is a closure?",
            "What is a future?",
            "What is a mutex?",
            "What is a semaphore?",
            "What is a trait?",
        ],
        "every definition became a card once"
    );
    assert_eq!(watermark(&state), Some(last_message_id(&state)));
    let (fifth, _) = world.run_cards();
    assert!(
        made_line(&fifth).starts_with("Made 0 cards from 0 new messages"),
        "{fifth}"
    );
    world.stop();
}

/// One bad job file for `check`, and the error it must get.
struct Case {
    file: &'static str,
    content: String,
    line: u64,
    /// 0: any column.
    column: u64,
    /// The error's field starts with this.
    field: &'static str,
    /// Words of the message.
    words: &'static str,
}

#[test]
fn check_reports_bad_ambient_tables_with_file_line_column_and_field() {
    let repo = TestRepo::new();
    let head = "name = \"Cards\"\nkind = \"ambient\"\nschedule = \"0 3 1 1 *\"\ntimezone = \"Asia/Seoul\"\n";
    let with = |body: &str| format!("{head}[ambient]\n{body}");
    let task = "task = \"knowledge-cards\"\n";
    let cases = [
        Case {
            file: "bad-task",
            content: with("task = \"flashcards\"\n"),
            line: 6,
            column: 8,
            field: "ambient.task",
            words: "flashcards",
        },
        Case {
            file: "no-task",
            content: with("max_cards = 5\n"),
            line: 2,
            column: 0,
            field: "ambient.task",
            words: "task",
        },
        Case {
            file: "zero",
            content: with(&format!("{task}max_cards = 0\n")),
            line: 7,
            column: 13,
            field: "ambient.max_cards",
            words: "1 to 100",
        },
        Case {
            file: "many",
            content: with(&format!("{task}max_cards = 101\n")),
            line: 7,
            column: 13,
            field: "ambient.max_cards",
            words: "1 to 100",
        },
        Case {
            file: "daily",
            content: with(&format!("{task}daily_new_limit = 501\n")),
            line: 7,
            column: 19,
            field: "ambient.daily_new_limit",
            words: "1 to 500",
        },
        Case {
            file: "retention",
            content: with(&format!("{task}desired_retention = 0.5\n")),
            line: 7,
            column: 21,
            field: "ambient.desired_retention",
            words: "0.7",
        },
        Case {
            file: "key",
            content: with(&format!("{task}maxcards = 5\n")),
            line: 7,
            column: 0,
            field: "ambient",
            words: "maxcards",
        },
        Case {
            file: "offline-model",
            content: with(&format!(
                "{task}generator = \"offline\"\nmodel = \"llama3.1:8b\"\n"
            )),
            line: 8,
            column: 9,
            field: "ambient.model",
            words: "offline",
        },
        Case {
            file: "generator",
            content: with(&format!("{task}generator = \"gpt-4\"\n")),
            line: 7,
            column: 13,
            field: "ambient.generator",
            words: "gpt-4",
        },
        Case {
            file: "channel",
            content: with(&format!(
                "{task}channels = [\"cursor\", \"bad channel!\"]\n"
            )),
            line: 7,
            column: 23,
            field: "ambient.channels",
            words: "bad channel!",
        },
        Case {
            file: "no-table",
            content: head.to_string(),
            line: 2,
            column: 0,
            field: "ambient",
            words: "[ambient]",
        },
    ];
    for case in &cases {
        repo.write(&format!("jobs/{}.toml", case.file), &case.content);
    }
    repo.write(
        "jobs/good.toml",
        &with(&format!(
            "{task}channels = [\"cursor\", \"claude-desktop\", \"claude-code\"]\nworkspaces = [\"/work/app\"]\nmax_cards = 100\ndaily_new_limit = 500\ngenerator = \"llm\"\nmodel = \"qwen2.5:7b\"\ndesired_retention = 0.99\n"
        )),
    );
    repo.write("jobs/minimal.toml", &with(task));
    let jobs = repo.work.join("jobs");
    let json = run(backoffice(&repo.state())
        .args(["check", "--format", "json"])
        .arg(&jobs));
    let report: Value = serde_json::from_slice(&json.stdout).unwrap_or(Value::Null);
    let text_output = run(backoffice(&repo.state()).arg("check").arg(&jobs));
    let text = format!("{}{}", stdout(&text_output), stderr(&text_output));
    assert_eq!(text_output.status.code(), Some(1), "{text}");
    assert_eq!(report["valid"], false, "{report}");
    let errors = report["errors"].as_array().cloned().unwrap_or_default();
    for Case {
        file,
        line,
        column,
        field,
        words,
        ..
    } in &cases
    {
        let name = format!("jobs/{file}.toml");
        let error = errors
            .iter()
            .find(|e| {
                e["file"].as_str().is_some_and(|f| f.ends_with(&name))
                    && e["field"].as_str().is_some_and(|f| f.starts_with(field))
            })
            .unwrap_or_else(|| panic!("no error on `{field}` in {name}: {report}"));
        assert_eq!(error["line"], *line, "{name}: {error}");
        if *column > 0 {
            assert_eq!(error["column"], *column, "{name}: {error}");
        }
        assert!(
            error["message"].as_str().is_some_and(|m| m.contains(words)),
            "{name}: the message names {words:?}: {error}"
        );
        let at = format!("{}:{line}:", jobs.join(format!("{file}.toml")).display());
        assert!(text.contains(&at), "{at} in the text:\n{text}");
    }
    assert!(text.contains("`ambient.max_cards`"), "{text}");
    assert!(
        text.contains("ok  good "),
        "a full valid [ambient] table:\n{text}"
    );
    assert!(
        text.contains("ok  minimal "),
        "defaults for everything but task:\n{text}"
    );
    assert!(
        text.contains(&format!(
            "{} job file(s): 2 valid, {} invalid",
            cases.len() + 2,
            cases.len()
        )),
        "{text}"
    );
}

#[test]
fn cards_review_on_the_terminal_records_the_review() {
    // No registry yet: a sentence, not a crash.
    let empty = tempfile::tempdir().expect("tempdir");
    let none = cards_command(&empty.path().join("state"), &["due"]);
    assert!(!none.status.success());
    assert!(
        stderr(&none).contains("no Context Registry"),
        "{}",
        stderr(&none)
    );

    let (mut world, _) = offline_world();
    world.stop();
    let state = world.state();

    // `cards due`: questions, never answers.
    let due = cards_command(&state, &["due", "--format", "json"]);
    assert!(due.status.success(), "{}", stderr(&due));
    let due: Value = serde_json::from_slice(&due.stdout).expect("json");
    let due = due.as_array().cloned().unwrap_or_default();
    assert_eq!(due.len(), 8, "{due:?}");
    let all = cards(&state);
    for entry in &due {
        let card = all
            .iter()
            .find(|c| entry["card_id"] == c.id.as_str())
            .unwrap_or_else(|| panic!("{entry} is no card"));
        assert_eq!(entry["question"], question(card).as_str(), "{entry}");
        if card.kind == "basic" {
            assert!(
                !entry.to_string().contains(&card.back),
                "the answer shown: {entry}"
            );
        }
    }
    let text = cards_command(&state, &["due"]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = stdout(&text);
    assert!(text.contains("What is a mutex?"), "{text}");
    assert!(
        !text.contains("a lock that lets one thread at a time use a value"),
        "no answer in `cards due`:\n{text}"
    );

    // Review the first due card: an answer, grade 3, then stop.
    let first = due[0]["card_id"].as_str().expect("card id").to_string();
    let card = all.iter().find(|c| c.id == first).expect("card").clone();
    let reviewed = review(&state, "my answer\n3\nq\n");
    assert!(reviewed.status.success(), "{}", stderr(&reviewed));
    let out = stdout(&reviewed);
    assert!(out.contains(&question(&card)), "the question:\n{out}");
    assert!(
        out.contains(&format!("answer: {}", answer_of(&card))),
        "the reference answer:\n{out}"
    );
    assert!(out.contains(&card.quote), "the source quote:\n{out}");
    assert!(
        out.contains("next: in 10m"),
        "good on a new card: ten minutes:\n{out}"
    );
    assert_eq!(review_count(&state, &first), [3]);
    assert_eq!(card_state(&state, &first), "learning");

    // Enter to see the answer, a wrong grade asked again, then easy.
    let second_id = next_due(&state);
    assert_ne!(
        second_id, first,
        "the reviewed card is not due for ten minutes"
    );
    let again = review(&state, "\nperfect\n4\nq\n");
    assert!(again.status.success(), "{}", stderr(&again));
    let out = stdout(&again);
    assert!(out.contains("type 1, 2, 3 or 4"), "{out}");
    assert!(out.contains("next: in "), "{out}");
    assert_eq!(review_count(&state, &second_id), [4]);
    assert_eq!(card_state(&state, &second_id), "review");

    // `cards list` shows the reviewed cards' states.
    let listed = cards_command(&state, &["list", "--format", "json"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("json");
    let state_of = |id: &str| {
        listed
            .as_array()
            .and_then(|cards| cards.iter().find(|c| c["id"] == id))
            .map(|c| c["state"].clone())
    };
    assert_eq!(state_of(&first), Some(json!("learning")), "{listed}");
    assert_eq!(state_of(&second_id), Some(json!("review")), "{listed}");
}

fn review(state: &Path, input: &str) -> Output {
    let mut child = backoffice(state)
        .args(["cards", "review"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cards review");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    child.wait_with_output().expect("wait")
}

fn card_state(state: &Path, id: &str) -> String {
    registry(state)
        .query_row("SELECT state FROM cards WHERE id = ?1", [id], |row| {
            row.get(0)
        })
        .expect("card")
}

/// The card `cards review` shows next: the first of `cards due`.
fn next_due(state: &Path) -> String {
    let due = cards_command(state, &["due", "--format", "json"]);
    let due: Value = serde_json::from_slice(&due.stdout).expect("json");
    due[0]["card_id"].as_str().expect("a due card").to_string()
}

#[test]
fn a_rejected_card_never_comes_back() {
    let (mut world, _) = offline_world();
    let state = world.state();
    let mutex = card_with_front(&state, "What is a mutex?");
    let mut client = Client::start(&state, "claude-desktop");
    let before = client.ok("cards_due", json!({"limit": 50}));
    assert_eq!(before["due_now"], 8, "{before}");
    let rejected = client.ok(
        "card_feedback",
        json!({"card_id": mutex.id, "action": "reject", "reason": "already know it"}),
    );
    assert_eq!(rejected["state"], "rejected", "{rejected}");
    let after = client.ok("cards_due", json!({"limit": 50}));
    assert_eq!(after["due_now"], 7, "{after}");
    assert!(
        !after.to_string().contains(&mutex.id),
        "a rejected card is not due: {after}"
    );
    let (_, is_error, text) =
        client.call("card_answer", json!({"card_id": mutex.id, "grade": "good"}));
    assert!(is_error && text.contains("rejected"), "{text}");
    drop(client);

    // The same words again from another client, and a paraphrase: no new card.
    log(
        &state,
        &[&Conversation {
            channel: "claude-code",
            title: "Locks again",
            workspace: "/work/other",
            messages: &[
                ("user", "What is a mutex?"),
                (
                    "assistant",
                    "A mutex is a lock that lets one thread at a time use a value.",
                ),
                ("user", "Remind me: what is a mutex, once more?"),
                (
                    "assistant",
                    "A mutex is a lock that lets a single thread at a time use the value.",
                ),
            ],
        }],
    );
    let (result, _) = world.run_cards();
    assert!(
        made_line(&result).starts_with("Made 0 cards from 4 new messages"),
        "{result}"
    );
    assert!(dropped_line(&result).contains("2 duplicate"), "{result}");
    let all = cards(&state);
    assert_eq!(all.len(), 8, "{:?}", fronts(&all));
    assert_eq!(card_state(&state, &mutex.id), "rejected");
    world.stop();

    // Not exported, still listed with its state.
    let exported = Export::parse(&export(&state, &[]));
    assert_eq!(exported.rows.len(), 7);
    assert!(
        exported
            .rows
            .iter()
            .all(|row| row[0] != format!("bo1:{}", mutex.id))
    );
    let listed = cards_command(&state, &["list", "--format", "json"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("json");
    let entry = listed
        .as_array()
        .and_then(|cards| cards.iter().find(|c| c["id"] == mutex.id.as_str()))
        .cloned()
        .unwrap_or_else(|| panic!("the rejected card is listed: {listed}"));
    assert_eq!(entry["state"], "rejected", "{entry}");
    // The state filter (`--only`: `--state` is the state folder of every command).
    let only = cards_command(&state, &["list", "--only", "rejected", "--format", "json"]);
    assert!(only.status.success(), "{}", stderr(&only));
    let only: Value = serde_json::from_slice(&only.stdout).expect("json");
    let ids: Vec<&str> = only
        .as_array()
        .map(|cards| cards.iter().filter_map(|c| c["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, [mutex.id.as_str()], "{only}");
}

/// Secrets as people say them, not only as `password: …`: none becomes a card, while the
/// harmless sentence beside each still does.
#[test]
fn a_secret_said_in_words_never_becomes_a_card() {
    let mut world = World::new(&cards_job("generator = \"offline\"\n"));
    let state = world.state();
    log(
        &state,
        &[
            &Conversation {
                channel: "cursor",
                title: "Staging",
                workspace: "/work/infra",
                messages: &[
                    ("user", "How do I get into the staging admin?"),
                    (
                        "assistant",
                        "The admin password is hunter2-CANARY-41 until Friday. A bastion is a host that stands between the internet and the private network.",
                    ),
                ],
            },
            &Conversation {
                channel: "claude-code",
                title: "스테이징 접속",
                workspace: "/work/infra",
                messages: &[
                    ("user", "스테이징 DB 비밀번호가 뭐였지?"),
                    (
                        "assistant",
                        "스테이징 DB 비밀번호는 hunter2-CANARY-42 입니다. 배스천이란 외부와 내부 네트워크 사이에 두는 접속용 서버이다.",
                    ),
                ],
            },
        ],
    );
    world.serve(&[]);
    let (result, output) = world.run_cards();
    world.stop();
    let made = cards(&state);
    assert!(
        made.iter().any(|c| c.front == "What is a bastion?")
            && made.iter().any(|c| c.front == "배스천이란 무엇인가?"),
        "the harmless definitions are cards: {:?}\n{result}",
        fronts(&made)
    );
    let exported = export(&state, &[]);
    let outputs = [
        ("the run", output.stdout.as_slice()),
        ("the export", exported.as_bytes()),
    ];
    for secret in SECRETS {
        let found = places_with(&state, secret, &outputs);
        assert!(found.is_empty(), "{secret:?} found in {found:?}");
    }
}

#[test]
fn export_names_the_deck_it_is_given() {
    let (mut world, _) = offline_world();
    world.stop();
    let state = world.state();
    for deck in ["Rust::Ownership", "Study \"Rust\" notes"] {
        let text = export(&state, &["--deck", deck]);
        let parsed = Export::parse(&text);
        assert_eq!(parsed.header, EXPORT_HEADER);
        assert_eq!(parsed.rows.len(), 8);
        for row in &parsed.rows {
            assert_eq!(row.len(), 6, "{row:?}");
            assert_eq!(
                row[2], deck,
                "the deck column reads back as given: {row:?}\n{text}"
            );
        }
    }
}

#[test]
fn the_card_tools_through_the_python_sdk() {
    let Some(python) = python_with(
        "mcp",
        "BACKOFFICE_TEST_PYTHON",
        "target/mcp-venv/bin/python",
        "run .ci/run once (it makes target/mcp-venv)",
    ) else {
        return;
    };
    let (mut world, _) = offline_world();
    world.stop();
    let state = world.state();
    let out = python_script(&python, "tests/mcp/test_cards.py", &[state.as_path()]);
    eprintln!("{out}");
    // What the script did is in registry.db: a rejected card, reviews.
    let all = cards(&state);
    assert_eq!(
        all.iter().filter(|c| c.state == "rejected").count(),
        1,
        "{all:?}"
    );
    assert!(all.iter().any(|c| c.state == "review"), "{all:?}");
}

#[test]
fn anki_imports_the_export_and_updates_it_in_place() {
    let Some(python) = python_with(
        "anki.collection",
        "BACKOFFICE_TEST_ANKI_PYTHON",
        "target/anki-venv/bin/python",
        "run tests/anki/setup.sh (.ci/run does)",
    ) else {
        return;
    };
    let (mut world, _) = offline_world();
    let state = world.state();
    let folder = tempfile::tempdir().expect("tempdir");
    let first_file = folder.path().join("cards-1.txt");
    let first = export(&state, &[]);
    std::fs::write(&first_file, &first).expect("write");

    // An edit through card_feedback, and one more card from a new conversation.
    let mutex = card_with_front(&state, "What is a mutex?");
    let new_back = "a lock that lets only one thread at a time touch the value";
    let mut client = Client::start(&state, "cursor");
    let edited = client.ok(
        "card_feedback",
        json!({"card_id": mutex.id, "action": "edit", "back": new_back}),
    );
    assert_eq!(edited["question"], "What is a mutex?", "{edited}");
    drop(client);
    assert_eq!(card_with_front(&state, "What is a mutex?").back, new_back);
    log(&state, &[&SEMAPHORE]);
    let (result, _) = world.run_cards();
    assert!(made_line(&result).starts_with("Made 1 card"), "{result}");
    world.stop();
    let second_file = folder.path().join("cards-2.txt");
    let second = export(&state, &[]);
    std::fs::write(&second_file, &second).expect("write");

    // The same rows, the edited one changed, one more.
    let (one, two) = (Export::parse(&first), Export::parse(&second));
    assert_eq!((one.rows.len(), two.rows.len()), (8, 9));
    for row in &one.rows {
        let now = two
            .rows
            .iter()
            .find(|r| r[0] == row[0])
            .unwrap_or_else(|| panic!("{} kept in the second export", row[0]));
        if row[0] == format!("bo1:{}", mutex.id) {
            assert!(now[4].starts_with(new_back), "{now:?}");
            assert_eq!(now[3], row[3]);
        } else {
            assert_eq!(now, row, "unchanged");
        }
    }

    let out = python_script(
        &python,
        "tests/anki/import_check.py",
        &[first_file.as_path(), second_file.as_path()],
    );
    let counts: Value = out
        .lines()
        .find(|line| line.starts_with('{'))
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no JSON counts in:\n{out}"));
    assert_eq!(counts["notes_1"], 8, "{counts}");
    assert_eq!(counts["notes_2"], 9, "{counts}");
    assert_eq!(counts["import_2"]["updated"], 1, "{counts}");
    assert_eq!(counts["import_2"]["new"], 1, "{counts}");
    assert_eq!(
        counts["reviewed"]["guid"],
        format!("bo1:{}", mutex.id),
        "{counts}"
    );
}
