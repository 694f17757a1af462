//! `backoffice doctor` against the fake servers: every check ✓ when the setup is right, and
//! each ✗ with its fix when it is not (a missing token, a rejected one, a model not pulled,
//! a LangGraph server that is down, a taken port). Only what the jobs use is checked.

use std::net::TcpListener;

use chrono::Utc;
use serde_json::Value;

use crate::fakes::gmail::FakeGmail;
use crate::fakes::llm::FakeLlm;
use crate::fakes::notion::{FakeNotion, PageSeed};
use crate::fakes::slack::FakeSlack;
use crate::support::{TestRepo, backoffice, job, run, stdout};

const PARENT: &str = "2f1e5c0b8d9a4e7f9b3c1a2d4e6f8a0b";

struct Fakes {
    llm: FakeLlm,
    slack: FakeSlack,
    notion: FakeNotion,
    gmail: FakeGmail,
}

fn fakes() -> Fakes {
    let notion = FakeNotion::start("ntn_doctor_token_1234");
    notion.add_page(PageSeed {
        id: PARENT.into(),
        title: "Briefings".into(),
        parent_page_id: None,
        last_edited: Utc::now(),
        blocks: Vec::new(),
    });
    notion.add_shared_parent(PARENT);
    Fakes {
        llm: FakeLlm::start(),
        slack: FakeSlack::start("xoxb-doctor-token-1234"),
        notion,
        gmail: FakeGmail::start("doctor-client", "doctor-secret-1234", "doctor-refresh-1234"),
    }
}

fn briefing_job(model: &str) -> String {
    format!(
        "name = \"B\"\nkind = \"agent\"\nschedule = \"0 7 * * *\"\n[agent]\norchestrator = \"briefing\"\n\
         model = \"{model}\"\nprompt = \"p\"\n[agent.sources.slack]\nchannels = [\"dev\"]\n\
         [agent.sources.gmail]\n[agent.sources.notion]\n[agent.publish.notion]\nparent_page = \"{PARENT}\"\n"
    )
}

/// Runs doctor on `repo` with the fakes' variables plus `env` (a `None` value unsets one).
fn doctor(
    repo: &TestRepo,
    fakes: &Fakes,
    listen: &str,
    env: &[(&str, Option<&str>)],
) -> (i32, Vec<Value>, String) {
    let mut command = backoffice(&repo.state());
    command
        .args(["doctor", "--format", "json", "--listen", listen, "--repo"])
        .arg(&repo.work)
        .env("BACKOFFICE_LLM_URL", fakes.llm.url())
        .env("SLACK_TOKEN", "xoxb-doctor-token-1234")
        .env("SLACK_BASE_URL", fakes.slack.base_url())
        .env("NOTION_TOKEN", "ntn_doctor_token_1234")
        .env("NOTION_BASE_URL", fakes.notion.base_url())
        .env("GMAIL_CLIENT_ID", "doctor-client")
        .env("GMAIL_CLIENT_SECRET", "doctor-secret-1234")
        .env("GMAIL_REFRESH_TOKEN", "doctor-refresh-1234")
        .env("GMAIL_BASE_URL", fakes.gmail.base_url())
        .env("GOOGLE_TOKEN_URL", fakes.gmail.token_url());
    for (name, value) in env {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let output = run(&mut command);
    let findings: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap_or_default();
    (
        output.status.code().unwrap_or(-1),
        findings,
        stdout(&output),
    )
}

fn finding<'a>(findings: &'a [Value], check: &str) -> &'a Value {
    findings
        .iter()
        .find(|f| f["check"].as_str().is_some_and(|c| c.starts_with(check)))
        .unwrap_or_else(|| panic!("no `{check}` check in {findings:#?}"))
}

fn free_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").to_string()
}

#[test]
fn a_good_setup_is_all_ticks_and_only_what_the_jobs_use_is_checked() {
    let fakes = fakes();
    let repo = TestRepo::new();
    repo.write("jobs/briefing.toml", &briefing_job("llama3.1:8b"));
    repo.commit("briefing");
    let (code, findings, text) = doctor(&repo, &fakes, &free_address(), &[]);
    assert_eq!(code, 0, "{text}");
    for check in [
        "git source",
        "state folder",
        "status site address",
        "model server",
        "model llama3.1:8b",
        "Slack",
        "Notion",
        "Notion page",
        "Gmail",
    ] {
        assert_eq!(finding(&findings, check)["ok"], true, "{check}: {text}");
    }
    assert!(
        !findings.iter().any(|f| f["check"]
            .as_str()
            .is_some_and(|c| c.starts_with("LangGraph"))),
        "no LangGraph job, no LangGraph check"
    );

    // Text: one line each, ✓ first.
    let output = run(backoffice(&repo.state())
        .args(["doctor", "--listen", &free_address(), "--repo"])
        .arg(&repo.work)
        .env("BACKOFFICE_LLM_URL", fakes.llm.url()));
    let text = stdout(&output);
    assert!(
        text.lines().any(|l| l.starts_with("✓ model server")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("✗ Slack: SLACK_TOKEN is not set — set SLACK_TOKEN")),
        "{text}"
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn each_problem_is_a_cross_with_its_fix() {
    let fakes = fakes();
    let repo = TestRepo::new();
    repo.write("jobs/briefing.toml", &briefing_job("mistral:7b"));
    repo.write(
        "jobs/graph.toml",
        "name = \"G\"\nkind = \"agent\"\nschedule = \"0 7 * * *\"\n[agent]\norchestrator = \"langgraph\"\nassistant_id = \"agent\"\nurl = \"http://127.0.0.1:9\"\nprompt = \"p\"\n",
    );
    repo.commit("jobs");
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("addr").to_string();
    let (code, findings, text) = doctor(
        &repo,
        &fakes,
        &address,
        &[
            ("SLACK_TOKEN", None),
            ("NOTION_TOKEN", Some("ntn_wrong_token_9999")),
            ("GMAIL_REFRESH_TOKEN", Some("revoked-refresh-0000")),
        ],
    );
    assert_eq!(code, 1, "{text}");
    let fix = |check: &str| {
        let f = finding(&findings, check);
        assert_eq!(f["ok"], false, "{check}: {f}");
        format!(
            "{} {}",
            f["detail"].as_str().unwrap_or(""),
            f["fix"].as_str().unwrap_or("")
        )
    };
    assert!(fix("Slack").contains("set SLACK_TOKEN"), "{text}");
    assert!(fix("Notion").contains("NOTION_TOKEN rejected"), "{text}");
    assert!(fix("Gmail").contains("invalid_grant"), "{text}");
    assert!(
        fix("model mistral:7b").contains("ollama pull mistral:7b"),
        "{text}"
    );
    assert!(fix("LangGraph").contains("langgraph dev"), "{text}");
    assert!(fix("status site address").contains(&address), "{text}");
    assert_eq!(finding(&findings, "model server")["ok"], true);
    drop(taken);

    // No model server at all.
    let (_, findings, text) = doctor(
        &repo,
        &fakes,
        &free_address(),
        &[("BACKOFFICE_LLM_URL", Some("http://127.0.0.1:9/v1"))],
    );
    let server = finding(&findings, "model server");
    assert_eq!(server["ok"], false, "{text}");
    assert!(
        server["fix"]
            .as_str()
            .is_some_and(|f| f.contains("ollama serve")),
        "{text}"
    );
}

#[test]
fn notifications_need_their_webhook_variable_and_slack() {
    let fakes = fakes();
    let repo = TestRepo::new();
    repo.write(
        "jobs/_defaults.toml",
        "[notify]\nwebhook = \"DOCTOR_HOOK\"\n",
    )
    .write(
        "jobs/plain.toml",
        &job("Plain", "0 9 * * *", "[notify]\nslack = \"#ops\"\n"),
    )
    .write(
        "jobs/silent.toml",
        &job(
            "Silent",
            "0 9 * * *",
            "[notify]\non = []\nwebhook = \"NEVER_USED\"\n",
        ),
    );
    repo.commit("notifications");
    let (code, findings, text) = doctor(&repo, &fakes, &free_address(), &[("DOCTOR_HOOK", None)]);
    assert_eq!(code, 1, "{text}");
    let hook = finding(&findings, "notification webhook DOCTOR_HOOK");
    assert_eq!(hook["ok"], false, "{text}");
    assert!(
        hook["fix"]
            .as_str()
            .is_some_and(|f| f.contains("export DOCTOR_HOOK=")),
        "{text}"
    );
    assert_eq!(
        finding(&findings, "Slack")["ok"],
        true,
        "Slack is checked for #ops: {text}"
    );
    assert!(
        !text.contains("NEVER_USED"),
        "a job that notifies nobody needs no webhook: {text}"
    );
    let (code, findings, text) = doctor(
        &repo,
        &fakes,
        &free_address(),
        &[(
            "DOCTOR_HOOK",
            Some("https://hooks.example/T0/B0/secret-part"),
        )],
    );
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        finding(&findings, "notification webhook DOCTOR_HOOK")["ok"],
        true
    );
    assert!(
        !text.contains("secret-part"),
        "the URL is never printed: {text}"
    );
}
