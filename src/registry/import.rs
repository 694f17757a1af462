//! `registry import claude-code`: Claude Code's own transcripts into the registry, so its
//! conversations are kept even when the model never calls `conversation_log`.
//!
//! Claude Code writes one JSONL file per session under `~/.claude/projects/<encoded cwd>/`
//! (`<session uuid>.jsonl`; subagents under `<uuid>/subagents/`). Each line is a record with a
//! `type`: `user` and `assistant` carry `message.content` (a string, or blocks of which we keep
//! the `text` ones: tool calls, tool results and thinking are not conversation), with `uuid`,
//! `sessionId`, `timestamp` and `cwd`; `summary` records carry a title. Everything else
//! (`system`, `file-history-snapshot`, `queue-operation`, types yet to come) is skipped, as
//! are meta records (`isMeta`) and subagent side chains (`isSidechain`). Each message is keyed
//! by its record `uuid`, so importing again adds only what is new.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::store::{self, LogRequest, NewMessage, Role};
use super::{Registry, RegistryError};

/// The channel imported sessions belong to.
pub const CHANNEL: &str = "claude-code";

/// Why an import stopped (a bad line only skips that line).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub files: u64,
    pub sessions: u64,
    pub messages_added: u64,
    pub messages_already_there: u64,
    /// Lines that were not JSON, or records of a kind we do not keep.
    pub records_skipped: u64,
}

/// Claude Code's transcripts folder: `~/.claude/projects`.
pub fn default_path() -> Option<PathBuf> {
    std::env::home_dir().map(|home| home.join(".claude").join("projects"))
}

/// Imports every `*.jsonl` under `path` (a file or a folder, searched recursively; subagent
/// folders are skipped).
pub fn import_claude_code(registry: &Registry, path: &Path) -> Result<ImportReport, ImportError> {
    let mut files = Vec::new();
    collect(path, &mut files)?;
    files.sort();
    let mut report = ImportReport::default();
    for file in files {
        let parsed = parse_file(&file)?;
        report.files += 1;
        report.records_skipped += parsed.skipped;
        for (session, transcript) in parsed.sessions {
            let outcome = registry.with(|conn| {
                store::create_session(conn, &registry_id(&session), CHANNEL, Utc::now(), None)?;
                store::log(conn, &transcript.into_request(&session))
            })?;
            if let Some(outcome) = outcome {
                report.sessions += 1;
                report.messages_added += outcome.added as u64;
                report.messages_already_there += outcome.duplicates as u64;
            }
        }
    }
    Ok(report)
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) -> Result<(), ImportError> {
    let read = |source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(read)?;
    if metadata.is_file() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(path).map_err(read)? {
        let entry = entry.map_err(read)?;
        let child = entry.path();
        let kind = entry.file_type().map_err(read)?;
        if kind.is_dir() && entry.file_name() != "subagents" {
            collect(&child, files)?;
        } else if kind.is_file() && child.extension().is_some_and(|e| e == "jsonl") {
            files.push(child);
        }
    }
    Ok(())
}

/// A Claude Code session's registry id: stable, so a second import finds the same session.
fn registry_id(claude_session: &str) -> String {
    let digest = Sha256::digest(format!("claude-code\0{claude_session}").as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("s_{hex}")
}

/// The parts of a record we read; unknown fields and record types are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    #[serde(rename = "type")]
    kind: Option<String>,
    session_id: Option<String>,
    uuid: Option<String>,
    timestamp: Option<String>,
    cwd: Option<String>,
    #[serde(default)]
    is_meta: bool,
    #[serde(default)]
    is_sidechain: bool,
    message: Option<RecordMessage>,
    summary: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RecordMessage {
    role: Option<String>,
    content: Option<serde_json::Value>,
}

#[derive(Debug, Default)]
struct Transcript {
    title: Option<String>,
    workspace: Option<String>,
    messages: Vec<NewMessage>,
}

impl Transcript {
    fn into_request(self, claude_session: &str) -> LogRequest {
        LogRequest {
            session_id: Some(registry_id(claude_session)),
            channel: CHANNEL.into(),
            title: self.title,
            workspace: self.workspace,
            messages: self.messages,
        }
    }
}

struct ParsedFile {
    sessions: BTreeMap<String, Transcript>,
    skipped: u64,
}

fn parse_file(path: &Path) -> Result<ParsedFile, ImportError> {
    let file = std::fs::File::open(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let fallback_session = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut parsed = ParsedFile {
        sessions: BTreeMap::new(),
        skipped: 0,
    };
    let mut summaries = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|source| ImportError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let Ok(record) = serde_json::from_str::<Record>(&line) else {
            parsed.skipped += 1;
            continue;
        };
        if record.kind.as_deref() == Some("summary") {
            summaries.extend(record.summary);
            continue;
        }
        match message_of(&record) {
            Some(message) => {
                let session = record
                    .session_id
                    .clone()
                    .unwrap_or_else(|| fallback_session.clone());
                let transcript = parsed.sessions.entry(session).or_default();
                if transcript.workspace.is_none() {
                    transcript.workspace = record.cwd.clone();
                }
                transcript.messages.push(message);
            }
            None => parsed.skipped += 1,
        }
    }
    // A summary names the conversation it sits in; with one session per file, that one.
    if let (Some(title), 1) = (summaries.pop(), parsed.sessions.len()) {
        for transcript in parsed.sessions.values_mut() {
            transcript.title = Some(title.clone());
        }
    }
    Ok(parsed)
}

/// The message a record carries, if it is conversation.
fn message_of(record: &Record) -> Option<NewMessage> {
    let role = match record.kind.as_deref()? {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        _ => return None,
    };
    if record.is_meta || record.is_sidechain {
        return None;
    }
    let message = record.message.as_ref()?;
    if message.role.as_deref().is_some_and(|r| r != role.as_str()) {
        return None;
    }
    let content = text_of(message.content.as_ref()?);
    if content.trim().is_empty() {
        return None;
    }
    let at = record
        .timestamp
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc());
    Some(NewMessage {
        role,
        content,
        at,
        key: record.uuid.clone(),
    })
}

/// A string, or the `text` blocks of a block list joined by blank lines.
fn text_of(content: &serde_json::Value) -> String {
    match content {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(|t| t.as_str()) == Some("text"))
            .filter_map(|b| b.get("text").and_then(|t| t.as_str()))
            .collect::<Vec<_>>()
            .join("\n\n"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRANSCRIPT: &str = r#"{"type":"summary","summary":"Retry policy for the LLM connector","leafUuid":"u3"}
{"parentUuid":null,"isSidechain":false,"userType":"external","cwd":"/work/app","sessionId":"abc-123","version":"2.1.1","type":"user","message":{"role":"user","content":"재시도 정책을 정하자"},"uuid":"u1","timestamp":"2026-11-25T09:00:00.000Z"}
{"parentUuid":"u1","isSidechain":false,"cwd":"/work/app","sessionId":"abc-123","type":"assistant","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"thinking","thinking":"hmm"},{"type":"text","text":"Exponential backoff, capped at 1h."},{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls"}}]},"uuid":"u2","timestamp":"2026-11-25T09:00:05.000Z"}
{"parentUuid":"u2","isSidechain":false,"cwd":"/work/app","sessionId":"abc-123","type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"}]},"uuid":"u3","timestamp":"2026-11-25T09:00:06.000Z"}
{"type":"file-history-snapshot","messageId":"u1","snapshot":{}}
{"type":"queue-operation","operation":"enqueue"}
{"type":"user","isMeta":true,"sessionId":"abc-123","message":{"role":"user","content":"<command-name>/clear</command-name>"},"uuid":"u4"}
not json at all
{"type":"future-kind","sessionId":"abc-123","uuid":"u5"}
"#;

    #[test]
    fn keeps_conversation_text_and_is_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = dir.path().join("projects/-work-app");
        std::fs::create_dir_all(&project).expect("mkdir");
        std::fs::write(project.join("abc-123.jsonl"), TRANSCRIPT).expect("write");
        let registry = Registry::open(&dir.path().join("registry.db")).expect("open");
        let first = import_claude_code(&registry, &dir.path().join("projects")).expect("import");
        assert_eq!(
            (first.files, first.sessions, first.messages_added),
            (1, 1, 2)
        );
        assert_eq!(first.records_skipped, 6);
        let again = import_claude_code(&registry, &dir.path().join("projects")).expect("import");
        assert_eq!((again.messages_added, again.messages_already_there), (0, 2));
        let transcript = registry
            .with(|c| store::transcript(c, &registry_id("abc-123"), store::Window::After(0), 100))
            .expect("read")
            .expect("session");
        assert_eq!(transcript.summary.channel, "claude-code");
        assert_eq!(
            transcript.summary.title.as_deref(),
            Some("Retry policy for the LLM connector")
        );
        assert_eq!(transcript.summary.workspace.as_deref(), Some("/work/app"));
        assert_eq!(
            transcript.messages[1].content,
            "Exponential backoff, capped at 1h."
        );
        assert_eq!(transcript.messages[0].at, "2026-11-25T09:00:00Z");
    }
}
