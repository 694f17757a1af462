//! `backoffice doctor`: one line per thing the deployed (or committed) jobs need, ✓ or ✗ with
//! the fix. Only what some job uses is checked: a setup without a briefing is not told to
//! set SLACK_TOKEN.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::{CommandError, known_defaults, known_jobs, print_json, runtime};
use crate::cli::{DoctorArgs, Format};
use crate::connectors::langgraph::LangGraph;
use crate::connectors::notion::Notion;
use crate::connectors::slack::Slack;
use crate::connectors::{Connectors, gmail::Gmail, llm, redact_url};
use crate::job::{Job, Task};
use crate::notify::settings::{Defaults, Target};
use crate::repo::Repo;

/// How long each outside check may take.
const PROBE_TIME: Duration = Duration::from_secs(15);
/// Free space below which the state folder is a ✗: runs.db and the site must be able to grow.
const MIN_FREE_BYTES: u64 = 200 * 1024 * 1024;

#[derive(Debug, Serialize)]
struct Finding {
    check: String,
    ok: bool,
    detail: String,
    /// What to do, when not ok.
    fix: Option<String>,
}

fn good(check: impl Into<String>, detail: impl Into<String>) -> Finding {
    Finding {
        check: check.into(),
        ok: true,
        detail: detail.into(),
        fix: None,
    }
}

fn bad(check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding {
        check: check.into(),
        ok: false,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

pub(super) fn execute(state: &Path, args: &DoctorArgs) -> Result<ExitCode, CommandError> {
    let mut findings = vec![git_source(args)];
    let jobs: Vec<Arc<Job>> = match known_jobs(state, &args.repo) {
        Ok((known, _)) => known.into_values().map(|k| k.job).collect(),
        Err(_) => Vec::new(),
    };
    let defaults = known_defaults(state, &args.repo).unwrap_or_default();
    findings.push(state_folder(state));
    findings.extend(listen(state, "status site", &args.listen));
    if let Some(mcp) = &args.mcp_listen {
        findings.extend(listen(state, "MCP over HTTP", mcp));
    }
    let connectors = Connectors::from_env();
    findings.extend(runtime()?.block_on(outside(&jobs, &defaults, &connectors)));
    match args.format {
        Format::Json => print_json(&findings)?,
        Format::Text => {
            for finding in &findings {
                let mark = if finding.ok { "✓" } else { "✗" };
                match &finding.fix {
                    Some(fix) => say!("{mark} {}: {} — {fix}", finding.check, finding.detail),
                    None => say!("{mark} {}: {}", finding.check, finding.detail),
                }
            }
        }
    }
    Ok(if findings.iter().all(|f| f.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn git_source(args: &DoctorArgs) -> Finding {
    let check = "git source";
    let shown = args.repo.repo.display().to_string();
    let repo = match Repo::open(&args.repo.repo) {
        Ok(repo) => repo,
        Err(error) => {
            return bad(
                check,
                format!("{shown}: {error}"),
                "run in a clone of your jobs repository, or pass --repo PATH",
            );
        }
    };
    let branch = match &args.repo.branch {
        Some(branch) => branch.clone(),
        None => match repo.current_branch() {
            Ok(branch) => branch,
            Err(error) => return bad(check, format!("{shown}: {error}"), "pass --branch NAME"),
        },
    };
    match repo.resolve(&branch) {
        Ok(oid) => good(
            check,
            format!("{shown}, branch {branch} at {}", &oid.to_string()[..8]),
        ),
        Err(error) => bad(
            check,
            format!("{shown}: {error}"),
            format!("create or push the branch `{branch}`, or pass --branch"),
        ),
    }
}

fn state_folder(state: &Path) -> Finding {
    let check = "state folder";
    let shown = state.display().to_string();
    if let Err(error) = std::fs::create_dir_all(state) {
        return bad(
            check,
            format!("{shown}: {error}"),
            "set --state or BACKOFFICE_STATE to a folder you can write",
        );
    }
    let probe = state.join(".doctor-probe");
    if let Err(error) = std::fs::write(&probe, b"ok").and_then(|()| std::fs::remove_file(&probe)) {
        return bad(
            check,
            format!("{shown} is not writable: {error}"),
            "fix its permissions, or set --state",
        );
    }
    match free_bytes(state) {
        Some(free) if free < MIN_FREE_BYTES => bad(
            check,
            format!("{shown}: only {} MB free", free / 1_000_000),
            "free some disk space: runs.db and the status site grow with every run",
        ),
        Some(free) => good(
            check,
            format!("{shown}, writable, {:.1} GB free", free as f64 / 1e9),
        ),
        None => good(check, format!("{shown}, writable")),
    }
}

/// Free bytes on the file system holding `path`.
fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the struct we own; the path is a valid C string.
    unsafe {
        let mut stats: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(c_path.as_ptr(), &mut stats) == 0).then(|| stats.f_bavail * stats.f_frsize)
    }
}

/// Whether `serve` could bind `address`: free, or already held by the running daemon.
fn listen(state: &Path, what: &str, address: &str) -> Option<Finding> {
    let check = format!("{what} address");
    Some(match std::net::TcpListener::bind(address) {
        Ok(_) => good(check, format!("{address} is free")),
        Err(_) if crate::control::Client::connect(state).is_some() => {
            good(check, format!("{address} is in use by the running daemon"))
        }
        Err(error) => bad(
            check,
            format!("{address}: {error}"),
            "stop what uses it, or pick another with --listen / BACKOFFICE_LISTEN",
        ),
    })
}

/// The outside services the jobs use, checked concurrently.
async fn outside(jobs: &[Arc<Job>], defaults: &Defaults, connectors: &Connectors) -> Vec<Finding> {
    let mut models = BTreeSet::new();
    let (mut slack, mut notion, mut gmail) = (false, false, false);
    let mut webhooks: BTreeSet<String> = BTreeSet::new();
    for job in jobs.iter().filter(|j| j.enabled) {
        let recipients = job.notify.over(&defaults.notify);
        if recipients.on.is_empty() {
            continue;
        }
        for target in recipients.targets() {
            match target {
                Target::Slack(_) => slack = true,
                Target::Webhook(variable) => {
                    webhooks.insert(variable);
                }
            }
        }
    }
    let mut parents = BTreeSet::new();
    let mut graphs: BTreeSet<(String, String)> = BTreeSet::new();
    for job in jobs.iter().filter(|j| j.enabled) {
        match &job.task {
            Task::Llm(task) => {
                models.insert(
                    task.model
                        .clone()
                        .unwrap_or_else(|| connectors.llm.default_model.clone()),
                );
            }
            Task::Briefing(task) => {
                models.insert(
                    task.model
                        .clone()
                        .unwrap_or_else(|| connectors.llm.default_model.clone()),
                );
                slack |= task.slack.is_some() || task.publish_slack.is_some();
                gmail |= task.gmail.is_some();
                notion |= task.notion.is_some() || task.publish_notion.is_some();
                if let Some(publish) = &task.publish_notion {
                    parents.insert(publish.parent_page.clone());
                }
            }
            Task::Cards(task) => {
                if task.generator == crate::cards::spec::Generator::Llm {
                    models.insert(
                        task.model
                            .clone()
                            .unwrap_or_else(|| connectors.llm.default_model.clone()),
                    );
                }
            }
            Task::LangGraph(task) => {
                let url = task
                    .url
                    .clone()
                    .unwrap_or_else(|| connectors.langgraph.default_url.clone());
                graphs.insert((url, task.assistant_id.clone()));
            }
        }
    }
    let deadline = Instant::now() + PROBE_TIME;
    let (model_findings, slack_finding, notion_findings, gmail_finding, graph_findings) = tokio::join!(
        check_models(connectors, &models),
        async {
            if slack {
                Some(check_slack(connectors, deadline).await)
            } else {
                None
            }
        },
        async {
            if notion {
                check_notion(connectors, &parents, deadline).await
            } else {
                Vec::new()
            }
        },
        async {
            if gmail {
                Some(check_gmail(connectors, deadline).await)
            } else {
                None
            }
        },
        check_graphs(connectors, &graphs, deadline),
    );
    let mut findings = model_findings;
    findings.extend(webhooks.iter().map(|variable| check_webhook(variable)));
    findings.extend(slack_finding);
    findings.extend(notion_findings);
    findings.extend(gmail_finding);
    findings.extend(graph_findings);
    if jobs.is_empty() {
        findings.push(bad(
            "jobs",
            "no deployed or committed jobs found",
            "commit job files under jobs/ (see the examples), then run `backoffice serve`",
        ));
    }
    findings
}

/// A notification webhook's variable: set, and an http(s) URL. Nothing is posted: a test
/// message in the team's channel at every `doctor` would be noise.
fn check_webhook(variable: &str) -> Finding {
    let check = format!("notification webhook {variable}");
    let value = std::env::var(variable).unwrap_or_default();
    let value = value.trim();
    if value.is_empty() {
        bad(
            check,
            "not set",
            format!(
                "export {variable}=<the webhook's URL> where `serve` runs (the URL is a secret: never in git)"
            ),
        )
    } else if value.starts_with("https://") || value.starts_with("http://") {
        good(check, "set to an http(s) URL")
    } else {
        bad(
            check,
            "set, but not an http(s) URL",
            format!("set {variable} to the URL your chat tool gave for the webhook"),
        )
    }
}

async fn check_models(connectors: &Connectors, models: &BTreeSet<String>) -> Vec<Finding> {
    if models.is_empty() {
        return Vec::new();
    }
    let server = redact_url(&connectors.llm.base_url);
    let listed = match llm::models(&connectors.http, &connectors.llm).await {
        Ok(listed) => listed,
        Err(error) => {
            return vec![bad(
                "model server",
                error,
                format!(
                    "start it (`ollama serve`), or point BACKOFFICE_LLM_URL at your server (now {server})"
                ),
            )];
        }
    };
    let mut findings = vec![good(
        "model server",
        format!("{server} answers, {} models", listed.len()),
    )];
    for model in models {
        if llm::has_model(&listed, model) {
            let context = llm::context_size(&connectors.http, &connectors.llm, model)
                .await
                .map_or_else(
                    || {
                        "context size not reported (set agent.context_tokens for briefings)"
                            .to_string()
                    },
                    |(n, _)| format!("context {n} tokens"),
                );
            findings.push(good(
                format!("model {model}"),
                format!("available, {context}"),
            ));
        } else {
            findings.push(bad(
                format!("model {model}"),
                format!(
                    "{server} does not list it (it has: {})",
                    if listed.is_empty() {
                        "none".into()
                    } else {
                        listed.join(", ")
                    }
                ),
                format!("ollama pull {model}"),
            ));
        }
    }
    findings
}

async fn check_slack(connectors: &Connectors, deadline: Instant) -> Finding {
    let slack = match Slack::new(&connectors.http, &connectors.slack, deadline) {
        Ok(slack) => slack,
        Err(error) => {
            return missing("Slack", &error.message);
        }
    };
    match slack.identity().await {
        Ok(me) => good("Slack", format!("token works for {} ({})", me.team, me.url)),
        Err(error) => bad(
            "Slack",
            error.message,
            "check SLACK_TOKEN, the app's scopes, and that it is installed",
        ),
    }
}

async fn check_notion(
    connectors: &Connectors,
    parents: &BTreeSet<String>,
    deadline: Instant,
) -> Vec<Finding> {
    let notion = match Notion::new(&connectors.http, &connectors.notion, deadline) {
        Ok(notion) => notion,
        Err(error) => {
            return vec![missing("Notion", &error.message)];
        }
    };
    let mut findings = vec![match notion.me().await {
        Ok(name) => good("Notion", format!("token works ({name})")),
        Err(error) => {
            return vec![bad(
                "Notion",
                error.message,
                "check NOTION_TOKEN (the integration's secret)",
            )];
        }
    }];
    for parent in parents {
        findings.push(match notion.page(parent).await {
            Ok(page) => good(
                format!("Notion page {parent}"),
                format!("readable: {}", page.title()),
            ),
            Err(error) => bad(
                format!("Notion page {parent}"),
                error.message,
                "share the page with the integration (••• → Connections), or fix parent_page",
            ),
        });
    }
    findings
}

async fn check_gmail(connectors: &Connectors, deadline: Instant) -> Finding {
    let gmail = match Gmail::new(&connectors.http, &connectors.gmail, deadline) {
        Ok(gmail) => gmail,
        Err(error) => {
            return missing("Gmail", &error.message);
        }
    };
    match gmail.refresh().await {
        Ok(()) => good("Gmail", "the refresh token gives an access token"),
        Err(error) => bad(
            "Gmail",
            error.message,
            "make a new refresh token with the gmail.readonly scope",
        ),
    }
}

async fn check_graphs(
    connectors: &Connectors,
    graphs: &BTreeSet<(String, String)>,
    deadline: Instant,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (url, assistant) in graphs {
        let client = LangGraph::new(
            &connectors.http,
            url,
            connectors.langgraph.api_key.as_ref(),
            deadline,
        );
        let check = format!("LangGraph {}", redact_url(url));
        if let Err(error) = client.ok().await {
            findings.push(bad(check, error.message, "start it: `langgraph dev --no-browser` in your graph's folder, or fix LANGGRAPH_URL / agent.url"));
            continue;
        }
        findings.push(match client.has_assistant(assistant).await {
            Ok(true) => good(
                check,
                format!("answers; assistant or graph `{assistant}` exists"),
            ),
            Ok(false) => {
                let known = client.assistants().await.unwrap_or_default();
                bad(
                    check,
                    format!(
                        "no assistant or graph `{assistant}` (it has: {})",
                        known.join(", ")
                    ),
                    "fix agent.assistant_id, or add the graph to langgraph.json",
                )
            }
            Err(error) => bad(check, error.message, "check LANGGRAPH_API_KEY"),
        });
    }
    findings
}

/// A connector's "SLACK_TOKEN is not set: create a Slack app …" as a finding: what is
/// missing, and "set SLACK_TOKEN (create a Slack app …)".
fn missing(check: &str, message: &str) -> Finding {
    let (what, how) = message.split_once(": ").unwrap_or((message, ""));
    let variables = what
        .trim_end_matches(" is not set")
        .trim_end_matches(" are not set");
    bad(check, what, format!("set {variables} ({how})"))
}
