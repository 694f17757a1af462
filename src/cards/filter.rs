//! What is never learning material: pasted code, file paths, one-off values (hashes, ids,
//! addresses, long numbers) and anything that looks like a secret. Pure text rules, used on
//! sentences before a generator sees them and on answers before a card is kept.

/// Sentences of `text` worth reading: fenced code blocks and code-looking lines dropped,
/// split after `.`, `?`, `!`, `。` and line ends, trimmed.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence || trimmed.is_empty() || looks_like_code(trimmed) {
            continue;
        }
        let line = trimmed.trim_start_matches(['-', '*', '>', '•', ' ']).trim();
        let mut start = 0;
        let chars: Vec<(usize, char)> = line.char_indices().collect();
        for (index, (at, c)) in chars.iter().enumerate() {
            let next_is_space = chars
                .get(index + 1)
                .is_none_or(|(_, next)| next.is_whitespace());
            let ends = matches!(c, '?' | '!' | '。') || (*c == '.' && next_is_space);
            if ends && next_is_space {
                let sentence = line[start..at + c.len_utf8()].trim();
                if !sentence.is_empty() {
                    out.push(sentence.to_string());
                }
                start = at + c.len_utf8();
            }
        }
        let tail = line[start..].trim();
        if !tail.is_empty() {
            out.push(tail.to_string());
        }
    }
    out
}

/// A line that is code rather than prose: mostly symbols, or shaped like a statement.
pub fn looks_like_code(line: &str) -> bool {
    let symbols = line
        .chars()
        .filter(|c| {
            matches!(
                c,
                '{' | '}' | ';' | '=' | '(' | ')' | '<' | '>' | '[' | ']' | '$' | '|' | '&'
            )
        })
        .count();
    let total = line.chars().filter(|c| !c.is_whitespace()).count().max(1);
    let starts = [
        "fn ", "let ", "pub ", "use ", "import ", "def ", "class ", "const ", "return ",
        "#include", "SELECT ", "$ ", "> ", "//", "/*", "#!",
    ];
    symbols * 6 > total || starts.iter().any(|s| line.starts_with(s)) || line.ends_with(';')
}

/// Why `text` must not be a card's answer or quote, if it must not.
pub fn unusable(text: &str) -> Option<&'static str> {
    if looks_secret(text) {
        Some("looks like a secret")
    } else if has_path(text) {
        Some("a file path")
    } else if has_one_off_value(text) {
        Some("a one-off value")
    } else {
        None
    }
}

/// Keys, tokens and passwords as people paste them.
pub fn looks_secret(text: &str) -> bool {
    let lower = text.to_lowercase();
    let prefixes = [
        "sk-",
        "sk_live_",
        "xoxb-",
        "xoxp-",
        "xapp-",
        "ghp_",
        "gho_",
        "github_pat_",
        "akia",
        "aiza",
        "ntn_",
        "secret_",
        "glpat-",
        "eyj",
    ];
    let words =
        text.split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | ',' | '='));
    let token_like = words.clone().any(|word| {
        let lowered = word.to_lowercase();
        (prefixes.iter().any(|p| lowered.starts_with(p)) && word.len() >= 12)
            || (word.len() >= 24
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/'))
                && word.chars().any(|c| c.is_ascii_digit())
                && word.chars().any(|c| c.is_ascii_alphabetic()))
    });
    let labelled = [
        "password",
        "passwd",
        "passcode",
        "pw is",
        "pw:",
        "비밀번호",
        "암호는",
        "api key",
        "api_key",
        "apikey",
        "token:",
        "token=",
        "token is",
        "secret:",
        "secret is",
        "secret key",
        "private key",
        "-----begin",
        "토큰은",
    ]
    .iter()
    .any(|label| lower.contains(label));
    token_like || labelled || crate::connectors::secret::scrub(text) != text
}

fn has_path(text: &str) -> bool {
    text.split_whitespace().any(|word| {
        let word =
            word.trim_matches(|c: char| matches!(c, '`' | '"' | '\'' | '(' | ')' | ',' | '.'));
        (word.starts_with('/') && word[1..].contains('/'))
            || word.starts_with("./")
            || word.starts_with("../")
            || word.starts_with("~/")
            || (word.len() > 2 && word.as_bytes()[1] == b':' && word.as_bytes()[2] == b'\\')
            || word.matches('/').count() >= 2 && !word.contains("://")
    })
}

fn has_one_off_value(text: &str) -> bool {
    text.split(|c: char| c.is_whitespace() || matches!(c, '`' | '"' | '\'' | ',' | '(' | ')'))
        .any(|word| {
            let hex = word.len() >= 12 && word.chars().all(|c| c.is_ascii_hexdigit());
            let long_number = word.chars().filter(char::is_ascii_digit).count() >= 7;
            let uuid = word.len() == 36 && word.matches('-').count() == 4;
            let address = word.split('.').count() == 4
                && word
                    .split('.')
                    .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()));
            hex || long_number || uuid || address
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_is_split_and_code_is_dropped() {
        let text = "A mutex is a lock. 재시도는 지수 백오프로 하기로 했다.\n```rust\nlet x = 1;\n```\nfn main() { }\n- Why? Because.";
        assert_eq!(
            sentences(text),
            [
                "A mutex is a lock.",
                "재시도는 지수 백오프로 하기로 했다.",
                "Why?",
                "Because."
            ]
        );
    }

    #[test]
    fn secrets_paths_and_one_off_values_are_unusable() {
        for secret in [
            "the key is sk-proj-abcdefghijklmnop1234",
            "password: hunter2hunter2",
            "SLACK xoxb-123456789012-abcdef",
            "The admin password is hunter2-X until Friday.",
            "서버 비밀번호는 1234다",
            "token AbCdEfGhIjKlMnOpQrStUvWx1234",
        ] {
            assert_eq!(unusable(secret), Some("looks like a secret"), "{secret}");
        }
        assert_eq!(unusable("edit /etc/nginx/nginx.conf"), Some("a file path"));
        assert_eq!(unusable("commit 3f9a2b7c1d4e5f60"), Some("a one-off value"));
        assert_eq!(unusable("listen on 10.0.0.12 now"), Some("a one-off value"));
        assert_eq!(
            unusable("A mutex lets one thread at a time use a value."),
            None
        );
        assert_eq!(
            unusable("https://example.com/docs/page is the manual"),
            None
        );
    }
}
