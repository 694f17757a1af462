//! `backoffice connect CLIENT`: the config entry that makes a client launch `backoffice mcp`,
//! with absolute paths (clients start servers from an undefined folder with a minimal
//! environment), and with `--write` merged into the client's config file.
//!
//! All three clients read the same shape, `{"mcpServers": {NAME: {command, args, env}}}`:
//! Cursor from `~/.cursor/mcp.json`, Claude Desktop from `claude_desktop_config.json` (its
//! folder depends on the system), Claude Code (user scope) from `~/.claude.json`, a file that
//! holds much else, which is why a merge touches nothing but our one entry.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::channel;

/// The server name used in client configs: short, because Cursor drops tools whose server
/// name plus tool name exceed 60 characters.
pub const DEFAULT_NAME: &str = "context-registry";

/// A client we know how to configure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    Cursor,
    ClaudeDesktop,
    ClaudeCode,
}

/// Why a config could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a JSON object ({reason}); fix or move it, then run connect again")]
    NotAnObject { path: PathBuf, reason: String },
    #[error("cannot tell where {0}'s config is: HOME is not set; pass --config PATH")]
    NoHome(&'static str),
}

impl Client {
    /// The channel its conversations are filed under.
    pub fn channel(self) -> &'static str {
        match self {
            Client::Cursor => "cursor",
            Client::ClaudeDesktop => "claude-desktop",
            Client::ClaudeCode => "claude-code",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Client::Cursor => "Cursor",
            Client::ClaudeDesktop => "Claude Desktop",
            Client::ClaudeCode => "Claude Code",
        }
    }

    /// Its user-wide config file.
    pub fn config_path(self) -> Result<PathBuf, ConnectError> {
        let home = std::env::home_dir().ok_or(ConnectError::NoHome(self.label()))?;
        Ok(match self {
            Client::Cursor => home.join(".cursor").join("mcp.json"),
            Client::ClaudeCode => home.join(".claude.json"),
            Client::ClaudeDesktop if cfg!(target_os = "macos") => {
                home.join("Library/Application Support/Claude/claude_desktop_config.json")
            }
            Client::ClaudeDesktop => match std::env::var_os("APPDATA") {
                Some(app_data) if cfg!(windows) => PathBuf::from(app_data)
                    .join("Claude")
                    .join("claude_desktop_config.json"),
                _ => home.join(".config/Claude/claude_desktop_config.json"),
            },
        })
    }
}

/// The server entry: the binary, `mcp`, and the state folder and channel in `env`.
pub fn entry(client: Client, binary: &Path, state: &Path) -> Value {
    let mut entry = json!({
        "command": binary.display().to_string(),
        "args": ["mcp"],
        "env": {
            "BACKOFFICE_STATE": state.display().to_string(),
            (channel::ENV): client.channel(),
        },
    });
    if client == Client::ClaudeCode
        && let Some(object) = entry.as_object_mut()
    {
        object.insert("type".into(), json!("stdio"));
    }
    entry
}

/// The entry inside a whole config document, as a person pastes it.
pub fn snippet(name: &str, entry: &Value) -> Value {
    json!({ "mcpServers": { name: entry } })
}

/// Claude Code's own command for the same thing.
pub fn claude_mcp_add(name: &str, binary: &Path, state: &Path) -> String {
    format!(
        "claude mcp add --scope user -e BACKOFFICE_STATE={} -e {}=claude-code {name} -- {} mcp",
        shell_quote(&state.display().to_string()),
        channel::ENV,
        shell_quote(&binary.display().to_string()),
    )
}

fn shell_quote(text: &str) -> String {
    if text
        .chars()
        .all(|c| c.is_alphanumeric() || "/._-+:@".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// `existing` (a config file's text, if any) with `mcpServers.<name>` set to `entry` and
/// everything else kept as it was.
pub fn merge(
    existing: Option<&str>,
    name: &str,
    entry: &Value,
    path: &Path,
) -> Result<String, ConnectError> {
    let not_object = |reason: String| ConnectError::NotAnObject {
        path: path.to_path_buf(),
        reason,
    };
    let mut document = match existing.filter(|text| !text.trim().is_empty()) {
        None => Map::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return Err(not_object("its top level is not an object".into())),
            Err(error) => return Err(not_object(error.to_string())),
        },
    };
    let servers = document
        .entry("mcpServers")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(servers) = servers else {
        return Err(not_object("`mcpServers` is not an object".into()));
    };
    servers.insert(name.to_string(), entry.clone());
    let mut text = serde_json::to_string_pretty(&Value::Object(document))
        .map_err(|error| not_object(error.to_string()))?;
    text.push('\n');
    Ok(text)
}

/// Merges `entry` into the config at `path`: a timestamped backup of the old file first, then
/// the new text written beside it and renamed over it (a crash leaves one or the other).
/// Returns the backup's path, if there was a file to back up.
pub fn write(path: &Path, name: &str, entry: &Value) -> Result<Option<PathBuf>, ConnectError> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(ConnectError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let merged = merge(existing.as_deref(), name, entry, path)?;
    let write_error = |source| ConnectError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(write_error)?;
    }
    let backup = match existing {
        Some(_) => {
            let mut name = path.as_os_str().to_owned();
            name.push(format!(
                ".bak-{}",
                chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
            ));
            let backup = PathBuf::from(name);
            std::fs::copy(path, &backup).map_err(write_error)?;
            Some(backup)
        }
        None => None,
    };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".backoffice-tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, merged).map_err(write_error)?;
    std::fs::rename(&temporary, path).map_err(write_error)?;
    Ok(backup)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_other_servers_and_settings() {
        let existing = r#"{"theme": "dark", "mcpServers": {"other": {"command": "x"}, "context-registry": {"command": "old"}}}"#;
        let entry = entry(
            Client::Cursor,
            Path::new("/opt/bin/backoffice"),
            Path::new("/home/a/state"),
        );
        let merged =
            merge(Some(existing), DEFAULT_NAME, &entry, Path::new("mcp.json")).expect("merge");
        let value: Value = serde_json::from_str(&merged).expect("json");
        assert_eq!(value["theme"], "dark");
        assert_eq!(value["mcpServers"]["other"]["command"], "x");
        assert_eq!(
            value["mcpServers"]["context-registry"]["command"],
            "/opt/bin/backoffice"
        );
        assert_eq!(
            value["mcpServers"]["context-registry"]["env"]["BACKOFFICE_CHANNEL"],
            "cursor"
        );
        assert!(merge(Some("[1]"), "n", &entry, Path::new("x")).is_err());
        assert!(merge(Some("{not json"), "n", &entry, Path::new("x")).is_err());
        assert!(merge(Some(r#"{"mcpServers": 3}"#), "n", &entry, Path::new("x")).is_err());
        assert!(merge(None, "n", &entry, Path::new("x")).is_ok());
    }

    #[test]
    fn claude_code_gets_a_type_and_a_quoted_command() {
        let state = Path::new("/home/a/my state");
        assert_eq!(
            entry(Client::ClaudeCode, Path::new("/b"), state)["type"],
            "stdio"
        );
        assert_eq!(
            claude_mcp_add("context-registry", Path::new("/b/backoffice"), state),
            "claude mcp add --scope user -e BACKOFFICE_STATE='/home/a/my state' -e BACKOFFICE_CHANNEL=claude-code context-registry -- /b/backoffice mcp"
        );
    }
}
