//! Secrets: values from the environment that must never be stored, logged, shown or printed.
//!
//! A [`Secret`] never prints itself, but that only covers our own formatting. A server can
//! echo a key back ("You sent: Bearer sk-…"), a URL can carry a token, a model can repeat
//! what it saw. So every secret value the process knows is also kept here, and [`scrub`]
//! replaces each of them in any text from outside before it is stored (`runs.db`,
//! `registry.db`), logged or printed: run errors and results, log lines, command errors.
//! One list ([`SECRET_VARS`]) names every variable we read as a secret; a connector that
//! reads a new one adds it there, and the canary test in `tests/secrets.rs` puts a canary in
//! each.

use std::borrow::Cow;
use std::fmt;
use std::sync::RwLock;

/// Every environment variable Backoffice reads as a secret, now and in the connectors to come.
pub const SECRET_VARS: &[&str] = &[
    "BACKOFFICE_LLM_API_KEY",
    "BACKOFFICE_MCP_TOKEN",
    "BACKOFFICE_GIT_TOKEN",
    "NOTION_TOKEN",
    "SLACK_TOKEN",
    "GMAIL_CLIENT_SECRET",
    "GMAIL_REFRESH_TOKEN",
    "LANGGRAPH_API_KEY",
];

/// Variables whose names start with one of these hold secrets too (a webhook URL is one).
const SECRET_PREFIXES: &[&str] = &["BACKOFFICE_WEBHOOK_"];

/// URLs that may carry a password (`https://user:pass@host/`): the password is a secret.
const URL_VARS: &[&str] = &["BACKOFFICE_LLM_URL", "BACKOFFICE_REMOTE", "LANGGRAPH_URL"];

/// Variables whose names end with one of these are treated as secrets as well: a
/// `GITHUB_TOKEN` in a remote URL, a proxy's password. Scrubbing one too many is harmless.
const SECRET_SUFFIXES: &[&str] = &["_TOKEN", "_API_KEY", "_SECRET", "_PASSWORD"];

/// Values of the variables in [`SECRET_VARS`] shorter than this are not searched for (they
/// would match ordinary words); `register_env` warns about them instead.
pub const MIN_SECRET_LEN: usize = 4;
/// The same for variables only guessed to be secrets by their names, which are more often
/// short harmless values.
const MIN_GUESSED_LEN: usize = 8;

/// A secret from the environment; `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value obtained elsewhere (tests, a future secrets file); it is scrubbed from
    /// every text from now on.
    pub fn new(name: &str, value: impl Into<String>) -> Secret {
        let value = value.into();
        register(name, &value, MIN_SECRET_LEN);
        Secret(value)
    }

    /// Reads `name` from the environment; empty counts as unset.
    pub fn from_env(name: &str) -> Option<Secret> {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
            .map(|value| Secret::new(name, value))
    }

    /// The value, for a request header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// One known secret: the variable it came from and the spellings it may come back in.
struct Known {
    name: String,
    forms: Vec<String>,
}

/// Every secret this process has read, longest first so that a secret containing another
/// is replaced whole.
static KNOWN: RwLock<Vec<Known>> = RwLock::new(Vec::new());

/// Remembers `value` (from variable `name`) so that [`scrub`] removes it, when it has at
/// least `min_len` characters; returns whether it does.
fn register(name: &str, value: &str, min_len: usize) -> bool {
    let value = value.trim();
    if value.chars().count() < min_len {
        return false;
    }
    let mut forms = vec![value.to_string()];
    // As a server might echo it: inside a JSON string, or percent-encoded in a URL.
    let json = serde_json::to_string(value).unwrap_or_default();
    let json = json.trim_matches('"');
    let encoded = percent_encode(value);
    for form in [json, encoded.as_str()] {
        if !forms.iter().any(|known| known == form) {
            forms.push(form.to_string());
        }
    }
    let mut known = KNOWN
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !known.iter().any(|k| k.forms[0] == value) {
        known.push(Known {
            name: name.to_string(),
            forms,
        });
        known.sort_by_key(|k| std::cmp::Reverse(k.forms[0].len()));
    }
    true
}

/// Registers the credentials in `url` (`https://user:token@host/…`, or a token alone as the
/// user name), as given in variable or flag `name`.
pub fn register_url(name: &str, url: &str) {
    let Some((_, rest)) = url.split_once("://") else {
        return;
    };
    let authority = rest.split('/').next().unwrap_or("");
    let Some((userinfo, _)) = authority.rsplit_once('@') else {
        return;
    };
    match userinfo.split_once(':') {
        Some((_, password)) => register(name, password, MIN_SECRET_LEN),
        None => register(name, userinfo, MIN_GUESSED_LEN),
    };
}

/// Registers every secret variable set in the environment; called once at start, before
/// anything from outside is read, so that even a variable no connector has read yet is
/// scrubbed. Returns the names of secrets too short to scrub, for a warning.
pub fn register_env() -> Vec<String> {
    let mut too_short = Vec::new();
    // `vars()` would panic on a variable that is not Unicode; such a one is no secret of ours.
    let vars = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)));
    for (name, value) in vars {
        let named = SECRET_VARS.contains(&name.as_str())
            || SECRET_PREFIXES.iter().any(|p| name.starts_with(p));
        let guessed = SECRET_SUFFIXES.iter().any(|s| name.ends_with(s));
        if named && !value.trim().is_empty() && !register(&name, &value, MIN_SECRET_LEN) {
            too_short.push(name.clone());
        } else if guessed {
            register(&name, &value, MIN_GUESSED_LEN);
        }
        if URL_VARS.contains(&name.as_str()) {
            register_url(&name, &value);
        }
    }
    too_short
}

/// `text` with every known secret replaced by `[redacted NAME]`.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let known = KNOWN
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut out = Cow::Borrowed(text);
    for secret in known.iter() {
        for form in &secret.forms {
            if out.contains(form.as_str()) {
                let replaced = out.replace(form.as_str(), &format!("[redacted {}]", secret.name));
                out = Cow::Owned(replaced);
            }
        }
    }
    out
}

/// [`scrub`] for an owned string, without copying when nothing matches.
pub fn scrub_owned(text: String) -> String {
    match scrub(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(scrubbed) => scrubbed,
    }
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
pub(crate) fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let secret = Secret::new("TEST_UNIT_PRINT", "sk-very-secret");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
    }

    #[test]
    fn known_values_are_scrubbed_in_every_spelling() {
        register("TEST_UNIT_KEY", "sk-unit/abc+def\"q", MIN_SECRET_LEN);
        let echoed = "401: You sent: Bearer sk-unit/abc+def\"q; url ?k=sk-unit%2Fabc%2Bdef%22q; \
                      json {\"auth\":\"sk-unit/abc+def\\\"q\"}";
        let scrubbed = scrub(echoed);
        assert!(!scrubbed.contains("sk-unit"), "{scrubbed}");
        assert_eq!(scrubbed.matches("[redacted TEST_UNIT_KEY]").count(), 3);
        assert!(matches!(scrub("nothing to hide"), Cow::Borrowed(_)));
    }

    #[test]
    fn short_values_are_not_searched_for() {
        assert!(!register("TEST_UNIT_SHORT", "abc", MIN_SECRET_LEN));
        assert_eq!(scrub("abc def"), "abc def");
    }

    #[test]
    fn credentials_in_urls_are_registered() {
        register_url(
            "--remote",
            "https://bot:pw-unit-9f2c@git.example.com/jobs.git",
        );
        register_url(
            "--remote",
            "https://ghp_unitTokenAsUser01@github.com/a/b.git",
        );
        let scrubbed = scrub("fetch failed: pw-unit-9f2c ghp_unitTokenAsUser01");
        assert_eq!(
            scrubbed,
            "fetch failed: [redacted --remote] [redacted --remote]"
        );
    }
}
