//! One integration test binary (faster to link than one per file). Each module tests one
//! journey against real parts: real git repositories in temp folders, the real binary, real
//! SQLite files, and fake outside servers on 127.0.0.1 speaking the real wire format.

mod fakes;
mod support;

/// The Daily Briefing: Notion, Slack and Gmail fakes → the model → a Notion page, end to end.
mod briefing;
/// The status site in headless Chromium: nothing external, no console error, phone width.
mod browser;
/// Knowledge Cards: ambient jobs over the registry (offline rules, the fake model, budget),
/// `check`, `cards review`/`export`, cards.html, the card tools via the Python SDK, and Anki's importer.
mod cards;
/// `backoffice check` and `plan`: what a pull request sees.
mod check;
/// SIGKILL during a run, graceful shutdown, and several processes on one database.
mod crash;
/// `backoffice doctor` against the fakes: every ✓ and ✗ path.
mod doctor;
/// `serve` end to end: pushes, commits, resets, invalid files, deletions, remote mode.
mod gitops;
/// Issue 8's defects, from outside: template bombs, stalled clients, rebinding hosts,
/// control characters, hostile MCP lines, closed pipes.
mod hardening;
/// Generated job files: a job or errors, never a crash, a stack overflow or a hang.
mod job_file_fuzz;
/// `orchestrator = "langgraph"` against a real `langgraph dev` and a fake for what it cannot do.
mod langgraph;
/// `agent` jobs against the fake OpenAI-compatible server: every failure path.
mod llm;
/// Failure notifications: `[notify]` and `jobs/_defaults.toml`, to fake Slack and webhook servers.
mod notify;
/// The Context Registry: MCP over stdio and HTTP through the official Python SDK, `connect`,
/// `registry import` and `registry stats`.
mod registry;
/// The secret canary over the whole product: no secret value in state/, logs or output.
mod secrets;
/// The status site: rendering from a real database, escaping, paging, incremental updates.
mod site;
/// The status site's HTTP server, and `serve` keeping the site current.
mod site_http;
