//! How times, commits and messages are shown to people: shared by the command line and the
//! status site so both say the same thing the same way.

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

#[cfg(test)]
mod tests {
    use super::*;

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
