//! How times, commits and messages are shown to people: shared by the command line and the
//! status site so both say the same thing the same way.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

/// `2026-11-26 Thu 07:00 KST` in the job's zone.
pub fn local_time(at: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    at.with_timezone(&zone)
        .format("%Y-%m-%d %a %H:%M:%S %Z")
        .to_string()
}

/// `2026-11-25 22:00 UTC`.
pub fn utc_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `in 3h 12m`, `5m ago`.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (at - now).num_seconds();
    if seconds == 0 {
        return "just now".into();
    }
    let magnitude = crate::duration::format(std::time::Duration::from_secs(seconds.unsigned_abs()));
    let coarse = coarsen(&magnitude);
    if seconds >= 0 {
        format!("in {coarse}")
    } else {
        format!("{coarse} ago")
    }
}

/// A run's duration for people: `850 ms`, `12.3 s`, `3m12s`.
pub fn duration_ms(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => coarsen(&crate::duration::format(std::time::Duration::from_millis(
            ms.unsigned_abs(),
        ))),
    }
}

/// A file size for people: `812 B`, `45 KB`, `48.3 MB`.
pub fn size(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{} KB", bytes / 1_000),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

/// Keeps the two largest units of a duration string (`1d2h3m4s` → `1d2h`).
fn coarsen(text: &str) -> String {
    let mut units = 0;
    let mut out = String::new();
    for c in text.chars() {
        out.push(c);
        if c.is_ascii_alphabetic() {
            units += 1;
            if units == 2 {
                break;
            }
        }
    }
    out
}

/// A short commit id.
pub fn short(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}

/// The first line of `text`, at most `limit` characters.
pub fn one_line(text: &str, limit: usize) -> String {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    if line.chars().count() > limit {
        format!("{}…", line.chars().take(limit).collect::<String>())
    } else {
        line.to_string()
    }
}

/// Text from outside (commit messages, model answers, server errors) made safe to print on a
/// terminal. Control characters other than newline and tab could move the cursor, rewrite
/// earlier lines, retitle the window or hide text; each is shown as a visible symbol instead
/// (ESC as `␛`, carriage return as `␍`), and bidirectional overrides as `�`.
pub fn terminal(text: &str) -> Cow<'_, str> {
    replace_chars(text, terminal_symbol)
}

/// What [`terminal`] shows instead of `c`, when it must not reach a terminal as it is.
fn terminal_symbol(c: char) -> Option<char> {
    match c {
        '\n' | '\t' => None,
        '\0'..='\x1f' => char::from_u32(0x2400 + c as u32),
        '\x7f' => Some('\u{2421}'),
        '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
            Some(char::REPLACEMENT_CHARACTER)
        }
        _ => None,
    }
}

/// A log line made safe for a terminal or a log viewer: as [`terminal`], but ESC stays,
/// since tracing colours lines with it (and escapes the ESC in values it logs).
pub fn log_line(text: &str) -> Cow<'_, str> {
    replace_chars(text, |c| {
        if c == '\x1b' {
            None
        } else {
            terminal_symbol(c)
        }
    })
}

/// Text made valid in XML 1.0 (and so in HTML): the characters XML forbids (C0 controls but
/// tab, newline and carriage return; U+FFFE and U+FFFF) become `�`. One `\x01` in a commit
/// message would otherwise make the whole feed unreadable to every feed reader.
pub fn xml_safe(text: &str) -> Cow<'_, str> {
    replace_chars(text, |c| match c {
        '\t' | '\n' | '\r' => None,
        '\0'..='\x1f' | '\u{fffe}' | '\u{ffff}' => Some(char::REPLACEMENT_CHARACTER),
        _ => None,
    })
}

/// `text` with each character `replace` maps to `Some` replaced; borrowed when none is.
fn replace_chars(text: &str, replace: impl Fn(char) -> Option<char>) -> Cow<'_, str> {
    if !text.chars().any(|c| replace(c).is_some()) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().map(|c| replace(c).unwrap_or(c)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_text_cannot_carry_escape_sequences() {
        assert_eq!(
            terminal("ok\x1b]0;pwned\x07 \x1b[2J\rdone\u{9b}31m\n\tnext 회의"),
            "ok␛]0;pwned␇ ␛[2J␍done�31m\n\tnext 회의"
        );
        assert!(matches!(terminal("plain 한국어\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn xml_text_has_no_forbidden_characters() {
        assert_eq!(
            xml_safe("fix\x01 bug\x0b\u{ffff}\r\n\tok"),
            "fix� bug��\r\n\tok"
        );
        assert!(matches!(xml_safe("<fine> & dandy"), Cow::Borrowed(_)));
    }

    #[test]
    fn relative_times_read_naturally() {
        let now = Utc::now();
        assert_eq!(
            relative(now + chrono::Duration::seconds(3 * 3600 + 720 + 5), now),
            "in 3h12m"
        );
        assert_eq!(
            relative(now - chrono::Duration::seconds(300), now),
            "5m ago"
        );
        assert_eq!(one_line("\n  first line\nsecond", 5), "first…");
    }
}
