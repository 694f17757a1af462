//! The window a briefing covers: from where the last successful briefing of the job ended,
//! so a missed day is covered rather than dropped, but never further back than `lookback`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// True when `lookback` cut the window short of the last briefing (or there was none).
    pub capped: bool,
}

/// The window ending at `end`. `last_end` is where the previous successful briefing's window
/// ended; a value at or after `end` (a clock step, a replayed run) counts as none.
pub fn compute(last_end: Option<DateTime<Utc>>, end: DateTime<Utc>, lookback: Duration) -> Window {
    let cap = chrono::Duration::from_std(lookback).unwrap_or(chrono::Duration::days(1));
    let earliest = end - cap;
    match last_end.filter(|last| *last < end) {
        Some(last) if last >= earliest => Window {
            start: last,
            end,
            capped: false,
        },
        _ => Window {
            start: earliest,
            end,
            capped: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("time")
    }

    #[test]
    fn the_window_starts_where_the_last_good_briefing_ended_within_the_cap() {
        let end = at("2026-12-02T22:00:00Z");
        let day = Duration::from_secs(36 * 3600);
        let normal = compute(Some(at("2026-12-01T22:00:00Z")), end, day);
        assert_eq!(
            (normal.start, normal.capped),
            (at("2026-12-01T22:00:00Z"), false)
        );
        // A missed day: the cap wins, and says so.
        let missed = compute(Some(at("2026-11-30T22:00:00Z")), end, day);
        assert_eq!(
            (missed.start, missed.capped),
            (at("2026-12-01T10:00:00Z"), true)
        );
        let first = compute(None, end, day);
        assert_eq!(first.start, at("2026-12-01T10:00:00Z"));
        let future = compute(Some(at("2026-12-03T00:00:00Z")), end, day);
        assert!(future.capped);
    }
}
