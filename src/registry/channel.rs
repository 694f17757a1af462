//! Which client platform a conversation came from. The tool argument wins, then
//! `BACKOFFICE_CHANNEL` from the client's config `env` (the reliable way: Claude Desktop and
//! claude.ai both call themselves `claude-ai`), then the client's `clientInfo.name`.

/// The environment variable a client's config sets to name its channel.
pub const ENV: &str = "BACKOFFICE_CHANNEL";
/// When nothing says where a conversation came from.
pub const UNKNOWN: &str = "unknown";

/// Why a channel name was refused; shown to the model as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "channel `{0}` is not valid: use 1-64 letters, digits, `.`, `_` or `-`, such as \"cursor\" or \"claude-desktop\""
)]
pub struct ChannelError(pub String);

/// A channel name, lowercased; letters, digits, `.`, `_`, `-`.
pub fn normalize(name: &str) -> Result<String, ChannelError> {
    let trimmed = name.trim().to_lowercase();
    let valid = !trimmed.is_empty()
        && trimmed.chars().count() <= 64
        && trimmed
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(trimmed)
    } else {
        Err(ChannelError(name.to_string()))
    }
}

/// The channel a client's `clientInfo.name` stands for.
pub fn from_client_name(name: &str) -> String {
    let lower = name.trim().to_lowercase();
    match lower.as_str() {
        "cursor-vscode" | "cursor" => "cursor".into(),
        "claude-ai" | "claude desktop" | "claude-desktop" => "claude-desktop".into(),
        "claude-code" | "claude code" => "claude-code".into(),
        _ => {
            let cleaned: String = lower
                .chars()
                .map(|c| {
                    if c.is_alphanumeric() || matches!(c, '.' | '_') {
                        c
                    } else {
                        '-'
                    }
                })
                .take(64)
                .collect();
            let cleaned = cleaned.trim_matches('-').to_string();
            if cleaned.is_empty() {
                UNKNOWN.into()
            } else {
                cleaned
            }
        }
    }
}

/// The channel of a call: `argument`, else `env` (already normalized), else the client name.
pub fn resolve(
    argument: Option<&str>,
    env: Option<&str>,
    client_name: Option<&str>,
) -> Result<String, ChannelError> {
    if let Some(argument) = argument.filter(|a| !a.trim().is_empty()) {
        return normalize(argument);
    }
    if let Some(env) = env {
        return Ok(env.to_string());
    }
    Ok(client_name.map_or_else(|| UNKNOWN.to_string(), from_client_name))
}

/// `BACKOFFICE_CHANNEL`, normalized; a value that is not a channel name is reported and
/// ignored, so the client's name is used instead.
pub fn from_env() -> Option<String> {
    let value = std::env::var(ENV).ok().filter(|v| !v.trim().is_empty())?;
    match normalize(&value) {
        Ok(channel) => Some(channel),
        Err(error) => {
            tracing::warn!("{ENV}: {error}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_then_env_then_client_name() {
        assert_eq!(
            resolve(Some("Cursor"), Some("x"), Some("claude-ai")),
            Ok("cursor".into())
        );
        assert_eq!(
            resolve(None, Some("claude-desktop"), Some("cursor-vscode")),
            Ok("claude-desktop".into())
        );
        assert_eq!(
            resolve(Some(" "), None, Some("cursor-vscode")),
            Ok("cursor".into())
        );
        assert_eq!(
            resolve(None, None, Some("claude-ai")),
            Ok("claude-desktop".into())
        );
        assert_eq!(
            resolve(None, None, Some("claude-code")),
            Ok("claude-code".into())
        );
        assert_eq!(
            resolve(None, None, Some("My Client/2")),
            Ok("my-client-2".into())
        );
        assert_eq!(resolve(None, None, None), Ok("unknown".into()));
        assert!(resolve(Some("bad channel!"), None, None).is_err());
    }
}
