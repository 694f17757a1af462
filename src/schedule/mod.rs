//! Cron schedules evaluated in a job's own time zone, with our daylight-saving rules on top of
//! the `cron` crate.
//!
//! Why a layer of our own: evaluated with `chrono-tz`, the `cron` crate skips a local time that
//! does not exist (02:30 on a spring-forward day) and fires a local time that occurs twice
//! (01:30 on a fall-back day) twice. We want instead:
//!
//! * a fixed local time that falls in a gap runs once, at the first instant after the gap;
//! * a fixed local time that occurs twice runs once, at its first occurrence;
//! * a schedule with `*` or `*/n` in the hour field follows real elapsed time: it skips the
//!   hour that does not exist and runs in both copies of the hour that repeats.
//!
//! We also speak classic (Vixie) cron where the `cron` crate differs: day-of-week `0`–`7` with
//! Sunday as 0 or 7 (the crate counts 1 = Sunday), and "day-of-month OR day-of-week" when both
//! are restricted (the crate requires both). To do that we translate the expression into the
//! crate's dialect and walk candidate *wall-clock* times, mapping each to instants ourselves.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

mod fields;

use fields::{DAY_NAMES, FieldRule, check_field, parse_day_of_week};

/// Largest daylight-saving shift we account for when a wall-clock time can map to an instant
/// earlier than its neighbours (real zones shift by at most two hours).
const FOLD: Duration = Duration::hours(3);

/// Why a schedule expression was refused; shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "`{expression}` has {count} fields; use 5 (minute hour day-of-month month day-of-week), \
         6 with seconds first, or one of @hourly, @daily, @weekly, @monthly, @yearly"
    )]
    FieldCount { expression: String, count: usize },
    #[error("unknown macro `{0}`; use one of @hourly, @daily, @weekly, @monthly, @yearly")]
    UnknownMacro(String),
    #[error("day-of-week `{field}` is not valid: {reason}")]
    DayOfWeek { field: String, reason: String },
    #[error("{name} `{field}` is not valid: {reason}")]
    Field {
        name: &'static str,
        field: String,
        reason: String,
    },
    #[error("`{expression}` is not a valid cron expression: {reason}")]
    Cron { expression: String, reason: String },
    #[error("`{expression}` never fires: no calendar date matches it")]
    NeverFires { expression: String },
}

/// A validated cron expression bound to an IANA time zone.
#[derive(Clone)]
pub struct Schedule {
    expression: String,
    timezone: Tz,
    /// One crate schedule, or two whose union is classic cron's "day-of-month OR day-of-week";
    /// shared by every job with the same fields (see [`compiled`]).
    parts: Arc<[cron::Schedule]>,
    /// `*` or `*/n` in the hour field: the schedule follows real elapsed time across DST changes.
    follows_elapsed_time: bool,
}

/// Compiled schedules by their field texts, held weakly: the jobs own them.
type Compiled = HashMap<Vec<String>, Weak<[cron::Schedule]>>;

/// The crate schedules for these field texts, compiled once and shared while any job uses
/// them. A compiled schedule holds every allowed value of every field (131 years, 31 days,
/// ...), about 2 KB; 10,000 jobs at "0 7 * * *" share one instead of holding 10,000.
fn compiled(texts: Vec<String>) -> Result<Arc<[cron::Schedule]>, String> {
    static SHARED: LazyLock<Mutex<Compiled>> = LazyLock::new(|| Mutex::new(HashMap::new()));
    let mut shared = SHARED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(parts) = shared.get(&texts).and_then(Weak::upgrade) {
        return Ok(parts);
    }
    let parts: Arc<[cron::Schedule]> = texts
        .iter()
        .map(|text| cron::Schedule::from_str(text).map_err(|error| error.to_string()))
        .collect::<Result<Vec<_>, _>>()?
        .into();
    // Forget the schedules no job uses any more, now and then.
    if shared.len() >= 1024 {
        shared.retain(|_, parts| parts.strong_count() > 0);
    }
    shared.insert(texts, Arc::downgrade(&parts));
    Ok(parts)
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Schedule({:?} in {})",
            self.expression,
            self.timezone.name()
        )
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.expression == other.expression && self.timezone == other.timezone
    }
}

impl Schedule {
    /// Parses `expression` (5 fields, 6 with seconds first, or a macro) for `timezone`.
    pub fn parse(expression: &str, timezone: Tz) -> Result<Self, ScheduleError> {
        let trimmed = expression.trim();
        let expanded = expand_macro(trimmed)?;
        let mut fields: Vec<&str> = expanded.split_whitespace().collect();
        let seconds_given = fields.len() == 6;
        match fields.len() {
            5 => fields.insert(0, "0"),
            6 => {}
            count => {
                return Err(ScheduleError::FieldCount {
                    expression: trimmed.to_string(),
                    count,
                });
            }
        }
        let (second, minute, hour, day_of_month, month, day_of_week) = (
            fields[0], fields[1], fields[2], fields[3], fields[4], fields[5],
        );
        if seconds_given {
            check_field(FieldRule::SECOND, second)?;
        }
        for (rule, field) in [
            (FieldRule::MINUTE, minute),
            (FieldRule::HOUR, hour),
            (FieldRule::DAY_OF_MONTH, day_of_month),
            (FieldRule::MONTH, month),
        ] {
            check_field(rule, field)?;
        }
        let days = parse_day_of_week(day_of_week)?;
        let weekday_names = if days.iter().all(|&d| d) {
            "*".to_string()
        } else {
            let names: Vec<&str> = (0..7).filter(|&d| days[d]).map(|d| DAY_NAMES[d]).collect();
            names.join(",")
        };
        let text = |dom: &str, dow: &str| format!("{second} {minute} {hour} {dom} {month} {dow}");
        // Vixie cron: a field counts as unrestricted when it starts with `*`.
        let dom_star = day_of_month.starts_with('*') || day_of_month == "?";
        let dow_star = day_of_week.starts_with('*') || day_of_week == "?";
        let texts = if dom_star || dow_star {
            vec![text(day_of_month, &weekday_names)]
        } else {
            vec![text(day_of_month, "*"), text("*", &weekday_names)]
        };
        let parts = compiled(texts).map_err(|reason| ScheduleError::Cron {
            expression: trimmed.to_string(),
            reason,
        })?;
        let schedule = Schedule {
            expression: trimmed.to_string(),
            timezone,
            parts,
            follows_elapsed_time: hour.starts_with('*'),
        };
        let reference = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single();
        let fires =
            reference.is_some_and(|start| schedule.candidates(start.naive_utc()).next().is_some());
        if !fires {
            return Err(ScheduleError::NeverFires {
                expression: trimmed.to_string(),
            });
        }
        Ok(schedule)
    }

    /// The expression as written in the job file.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The IANA zone the expression is evaluated in.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The first firing strictly after `after`, or `None` when the schedule has no more.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.timezone).naive_local();
        // Only near a fold can a later instant carry an earlier wall-clock time.
        let start = if self.offset_changes_near(after) {
            local - FOLD
        } else {
            local
        };
        // Once a firing is found, later wall-clock times can only beat it when it sits near a
        // clock change; elsewhere the first match is the answer.
        let mut best: Option<(DateTime<Utc>, NaiveDateTime)> = None;
        for candidate in self.candidates(start) {
            if let Some((_, horizon)) = best
                && candidate > horizon
            {
                break;
            }
            for instant in self.instants(candidate).into_iter().flatten() {
                if instant > after && best.is_none_or(|(current, _)| instant < current) {
                    let margin = if self.offset_changes_near(instant) {
                        FOLD
                    } else {
                        Duration::zero()
                    };
                    best = Some((instant, candidate + margin));
                }
            }
        }
        best.map(|(instant, _)| instant)
    }

    /// The next `count` firings after `after`.
    pub fn upcoming(&self, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(count);
        let mut cursor = after;
        while out.len() < count {
            match self.next_after(cursor) {
                Some(next) => {
                    out.push(next);
                    cursor = next;
                }
                None => break,
            }
        }
        out
    }

    /// Human notes about firings that daylight-saving changes move, skip or double between
    /// `from` and `until` (one note per clock change that touches this schedule).
    pub fn dst_notes(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<String> {
        let mut notes = Vec::new();
        for transition in transitions(self.timezone, from, until) {
            if let Some(note) = self.note_for(&transition) {
                notes.push(note);
            }
        }
        notes
    }

    fn note_for(&self, change: &Transition) -> Option<String> {
        let wall_before = change.at.naive_utc() + Duration::seconds(i64::from(change.before));
        let wall_after = change.at.naive_utc() + Duration::seconds(i64::from(change.after));
        let (low, high) = if wall_before < wall_after {
            (wall_before, wall_after)
        } else {
            (wall_after, wall_before)
        };
        let affected: Vec<NaiveDateTime> = self
            .candidates(low - Duration::seconds(1))
            .take_while(|c| *c < high)
            .take(10_000)
            .collect();
        let first = *affected.first()?;
        let zone = self.timezone.name();
        let date = first.format("%Y-%m-%d");
        let times = describe_times(&affected);
        let jump = format!(
            "{} jump from {} to {}",
            zone,
            wall_before.format("%H:%M"),
            wall_after.format("%H:%M")
        );
        let note = match (wall_before < wall_after, self.follows_elapsed_time) {
            (true, false) => format!(
                "{date}: {times} does not exist ({jump}); runs once at {}",
                wall_after.format("%H:%M")
            ),
            (true, true) => format!(
                "{date}: {times} does not exist ({jump}); skipped, the schedule keeps real elapsed time"
            ),
            (false, false) => {
                format!("{date}: {times} occurs twice ({jump}); runs once, at the first")
            }
            (false, true) => format!(
                "{date}: {times} occurs twice ({jump}); runs in both, the schedule keeps real elapsed time"
            ),
        };
        Some(note)
    }

    /// Wall-clock times matching the expression, ascending, strictly after `after`.
    fn candidates(&self, after: NaiveDateTime) -> impl Iterator<Item = NaiveDateTime> + '_ {
        let start = Utc.from_utc_datetime(&after);
        let mut streams: Vec<_> = self
            .parts
            .iter()
            .map(|part| part.after(&start).map(|t| t.naive_utc()).peekable())
            .collect();
        std::iter::from_fn(move || {
            let smallest = streams
                .iter_mut()
                .filter_map(|stream| stream.peek().copied())
                .min()?;
            for stream in &mut streams {
                if stream.peek() == Some(&smallest) {
                    stream.next();
                }
            }
            Some(smallest)
        })
    }

    /// The instants a wall-clock time fires at, under our DST rules.
    fn instants(&self, local: NaiveDateTime) -> [Option<DateTime<Utc>>; 2] {
        match self.timezone.from_local_datetime(&local) {
            LocalResult::Single(t) => [Some(t.to_utc()), None],
            LocalResult::Ambiguous(a, b) => {
                let (first, second) = if a < b { (a, b) } else { (b, a) };
                if self.follows_elapsed_time {
                    [Some(first.to_utc()), Some(second.to_utc())]
                } else {
                    [Some(first.to_utc()), None]
                }
            }
            LocalResult::None if self.follows_elapsed_time => [None, None],
            LocalResult::None => [Some(self.end_of_gap(local)), None],
        }
    }

    /// The first instant whose wall-clock time is at or after `local` (which lies in a gap).
    fn end_of_gap(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let target = local.and_utc().timestamp();
        let mut low = target - 26 * 3_600;
        let mut high = target + 26 * 3_600;
        while high - low > 1 {
            let middle = low + (high - low) / 2;
            if wall_seconds(self.timezone, middle) >= target {
                high = middle;
            } else {
                low = middle;
            }
        }
        DateTime::from_timestamp(high, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    fn offset_changes_near(&self, at: DateTime<Utc>) -> bool {
        offset_seconds(self.timezone, at - FOLD) != offset_seconds(self.timezone, at + FOLD)
    }
}

fn expand_macro(expression: &str) -> Result<&str, ScheduleError> {
    if !expression.starts_with('@') {
        return Ok(expression);
    }
    match expression.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => Ok("0 0 0 1 1 *"),
        "@monthly" => Ok("0 0 0 1 * *"),
        "@weekly" => Ok("0 0 0 * * 0"),
        "@daily" | "@midnight" => Ok("0 0 0 * * *"),
        "@hourly" => Ok("0 0 * * * *"),
        _ => Err(ScheduleError::UnknownMacro(expression.to_string())),
    }
}

fn offset_seconds(timezone: Tz, at: DateTime<Utc>) -> i32 {
    timezone
        .offset_from_utc_datetime(&at.naive_utc())
        .fix()
        .local_minus_utc()
}

fn wall_seconds(timezone: Tz, timestamp: i64) -> i64 {
    let at = DateTime::from_timestamp(timestamp, 0).unwrap_or_default();
    timestamp + i64::from(offset_seconds(timezone, at))
}

/// A change of UTC offset in a zone.
struct Transition {
    at: DateTime<Utc>,
    before: i32,
    after: i32,
}

/// Offset changes of `timezone` between `from` and `until`, found by daily probes and then
/// bisected to the second.
fn transitions(timezone: Tz, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<Transition> {
    let mut found = Vec::new();
    let step = Duration::hours(6);
    let mut probe = from;
    let mut offset = offset_seconds(timezone, probe);
    while probe < until {
        let next = probe + step;
        let next_offset = offset_seconds(timezone, next);
        if next_offset != offset {
            let (mut low, mut high) = (probe.timestamp(), next.timestamp());
            while high - low > 1 {
                let middle = low + (high - low) / 2;
                let at = DateTime::from_timestamp(middle, 0).unwrap_or_default();
                if offset_seconds(timezone, at) == offset {
                    low = middle;
                } else {
                    high = middle;
                }
            }
            found.push(Transition {
                at: DateTime::from_timestamp(high, 0).unwrap_or_default(),
                before: offset,
                after: next_offset,
            });
        }
        probe = next;
        offset = next_offset;
    }
    found
}

fn describe_times(times: &[NaiveDateTime]) -> String {
    match times {
        [] => String::new(),
        [only] => only
            .format("%H:%M:%S")
            .to_string()
            .trim_end_matches(":00")
            .to_string(),
        [first, .., last] => format!(
            "{} firings from {} to {}",
            times.len(),
            first.format("%H:%M:%S"),
            last.format("%H:%M:%S")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("test instant")
            .to_utc()
    }

    fn schedule(expression: &str, zone: &str) -> Schedule {
        Schedule::parse(expression, zone.parse().expect("zone")).expect("valid schedule")
    }

    #[test]
    fn jobs_with_the_same_fields_share_one_compiled_schedule() {
        let seoul = schedule("0 7 * * *", "Asia/Seoul");
        let utc_too = schedule("0 7 * * *", "UTC");
        let spelled = schedule(" 0 7 * * * ", "Asia/Seoul");
        assert!(Arc::ptr_eq(&seoul.parts, &utc_too.parts));
        assert!(Arc::ptr_eq(&seoul.parts, &spelled.parts));
        let other = schedule("0 8 * * *", "Asia/Seoul");
        assert!(!Arc::ptr_eq(&seoul.parts, &other.parts));
        // Sharing changes nothing about when each fires.
        assert_ne!(
            seoul.next_after(utc("2026-12-01T00:00:00Z")),
            utc_too.next_after(utc("2026-12-01T00:00:00Z"))
        );
    }

    /// (expression, zone, after, expected firings in UTC)
    const TABLE: &[(&str, &str, &str, &[&str])] = &[
        // 07:00 in Seoul is 22:00 UTC the day before; Seoul has no DST.
        (
            "0 7 * * *",
            "Asia/Seoul",
            "2026-11-25T00:00:00Z",
            &["2026-11-25T22:00:00Z", "2026-11-26T22:00:00Z"],
        ),
        // Spring forward in New York: 02:30 does not exist on 2027-03-14 → 03:00 EDT (07:00Z).
        (
            "30 2 * * *",
            "America/New_York",
            "2027-03-13T00:00:00Z",
            &[
                "2027-03-13T07:30:00Z",
                "2027-03-14T07:00:00Z",
                "2027-03-15T06:30:00Z",
            ],
        ),
        // Fall back in New York: 01:30 occurs twice on 2027-11-07 → only the first (EDT, 05:30Z).
        (
            "30 1 * * *",
            "America/New_York",
            "2027-11-06T12:00:00Z",
            &["2027-11-07T05:30:00Z", "2027-11-08T06:30:00Z"],
        ),
        // Hourly across fall back: real elapsed time, 01:00 EDT and 01:00 EST both fire.
        (
            "0 * * * *",
            "America/New_York",
            "2027-11-07T03:30:00Z",
            &[
                "2027-11-07T04:00:00Z",
                "2027-11-07T05:00:00Z",
                "2027-11-07T06:00:00Z",
                "2027-11-07T07:00:00Z",
            ],
        ),
        // Hourly across spring forward: 02:00 does not exist and is skipped.
        (
            "0 * * * *",
            "America/New_York",
            "2027-03-14T05:30:00Z",
            &[
                "2027-03-14T06:00:00Z",
                "2027-03-14T07:00:00Z",
                "2027-03-14T08:00:00Z",
            ],
        ),
        // Berlin spring forward 2027-03-28: 02:15 → 03:00 CEST (01:00Z).
        (
            "15 2 * * *",
            "Europe/Berlin",
            "2027-03-27T12:00:00Z",
            &["2027-03-28T01:00:00Z", "2027-03-29T00:15:00Z"],
        ),
        // Berlin fall back 2027-10-31: 02:30 twice → first, CEST (00:30Z).
        (
            "30 2 * * *",
            "Europe/Berlin",
            "2027-10-30T12:00:00Z",
            &["2027-10-31T00:30:00Z", "2027-11-01T01:30:00Z"],
        ),
        // Sydney spring forward 2027-10-03 02:00 → 03:00 AEDT (16:00Z the day before).
        (
            "30 2 * * *",
            "Australia/Sydney",
            "2027-10-01T12:00:00Z",
            &[
                "2027-10-01T16:30:00Z",
                "2027-10-02T16:00:00Z",
                "2027-10-03T15:30:00Z",
            ],
        ),
        // Sydney fall back 2027-04-04 03:00 → 02:00: 02:30 twice → first (AEDT, 15:30Z).
        (
            "30 2 * * *",
            "Australia/Sydney",
            "2027-04-02T12:00:00Z",
            &[
                "2027-04-02T15:30:00Z",
                "2027-04-03T15:30:00Z",
                "2027-04-04T16:30:00Z",
            ],
        ),
        // Every 30 minutes across Sydney's fall back: elapsed time, the repeated hour runs twice.
        (
            "*/30 * * * *",
            "Australia/Sydney",
            "2027-04-03T15:10:00Z",
            &[
                "2027-04-03T15:30:00Z",
                "2027-04-03T16:00:00Z",
                "2027-04-03T16:30:00Z",
            ],
        ),
        // Feb 29 only in leap years.
        (
            "0 0 29 2 *",
            "UTC",
            "2026-01-01T00:00:00Z",
            &["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"],
        ),
        // Six fields, seconds first.
        (
            "*/20 * * * * *",
            "UTC",
            "2026-01-01T00:00:05Z",
            &[
                "2026-01-01T00:00:20Z",
                "2026-01-01T00:00:40Z",
                "2026-01-01T00:01:00Z",
            ],
        ),
        // Classic weekdays: 1-5 is Monday to Friday. 2026-11-27 is a Friday.
        (
            "0 9 * * 1-5",
            "Asia/Seoul",
            "2026-11-27T01:00:00Z",
            &["2026-11-30T00:00:00Z"],
        ),
        // Sunday as 0 and as 7.
        (
            "0 0 * * 0",
            "UTC",
            "2026-11-25T00:00:00Z",
            &["2026-11-29T00:00:00Z"],
        ),
        (
            "0 0 * * 7",
            "UTC",
            "2026-11-25T00:00:00Z",
            &["2026-11-29T00:00:00Z"],
        ),
        // Day-of-month OR day-of-week when both are restricted: the 1st, or any Monday.
        (
            "0 0 1 * MON",
            "UTC",
            "2026-11-25T00:00:00Z",
            &[
                "2026-11-30T00:00:00Z",
                "2026-12-01T00:00:00Z",
                "2026-12-07T00:00:00Z",
            ],
        ),
        // Macros.
        (
            "@daily",
            "Asia/Seoul",
            "2026-11-25T16:00:00Z",
            &["2026-11-26T15:00:00Z"],
        ),
        (
            "@weekly",
            "UTC",
            "2026-11-25T00:00:00Z",
            &["2026-11-29T00:00:00Z"],
        ),
        (
            "@hourly",
            "UTC",
            "2026-11-25T00:10:00Z",
            &["2026-11-25T01:00:00Z"],
        ),
        (
            "@monthly",
            "UTC",
            "2026-11-25T00:00:00Z",
            &["2026-12-01T00:00:00Z"],
        ),
        (
            "@yearly",
            "UTC",
            "2026-11-25T00:00:00Z",
            &["2027-01-01T00:00:00Z"],
        ),
    ];

    #[test]
    fn next_after_table() {
        for (expression, zone, after, expected) in TABLE {
            let schedule = schedule(expression, zone);
            let got: Vec<String> = schedule
                .upcoming(utc(after), expected.len())
                .iter()
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .collect();
            assert_eq!(&got, expected, "{expression} in {zone} after {after}");
        }
    }

    #[test]
    fn gap_firings_collapse_into_one() {
        // 02:00 and 02:30 both fall in the gap; 03:00 exists. All three are one firing at 03:00 EDT.
        let schedule = schedule("0,30 2,3 * * *", "America/New_York");
        let got = schedule.upcoming(utc("2027-03-14T06:00:00Z"), 3);
        assert_eq!(
            got,
            vec![
                utc("2027-03-14T07:00:00Z"),
                utc("2027-03-14T07:30:00Z"),
                utc("2027-03-15T06:00:00Z")
            ]
        );
    }

    #[test]
    fn refuses_bad_expressions_with_reasons() {
        let seoul: Tz = "Asia/Seoul".parse().expect("zone");
        let cases = [
            ("0 7 * *", "has 4 fields"),
            ("0 0 7 * * * 2027", "has 7 fields"),
            ("@sometimes", "unknown macro"),
            ("0 7 * * 8", "out of range"),
            ("0 7 * * FUNDAY", "is not a day"),
            ("0 7 * * 5-1", "goes backwards"),
            (
                "99 7 * * *",
                "minute `99` is not valid: `99` is out of range; use 0-59",
            ),
            ("0 99 7 * * *", "minute `99` is not valid"),
            ("60 0 7 * * *", "second `60` is not valid"),
            (
                "0 24 * * *",
                "hour `24` is not valid: `24` is out of range; use 0-23",
            ),
            ("0 7 0 * *", "day-of-month `0` is not valid"),
            ("0 7 1 13 *", "use 1-12 or JAN-DEC"),
            ("0 7 * FOO *", "`FOO` is not a number"),
            ("*/0 7 * * *", "step `0` must be a positive number"),
            ("0 7-5 * * *", "range `7-5` goes backwards"),
            ("0 0 30 2 *", "never fires"),
        ];
        for (expression, expected) in cases {
            let error = Schedule::parse(expression, seoul).expect_err(expression);
            assert!(
                error.to_string().contains(expected),
                "{expression}: {error}"
            );
        }
    }

    #[test]
    fn dst_notes_name_moved_and_doubled_times() {
        let from = utc("2027-01-01T00:00:00Z");
        let until = utc("2028-01-01T00:00:00Z");
        let daily = schedule("30 2 * * *", "America/New_York").dst_notes(from, until);
        assert_eq!(daily.len(), 1, "{daily:?}");
        assert!(
            daily[0].starts_with("2027-03-14: 02:30 does not exist"),
            "{daily:?}"
        );
        assert!(daily[0].contains("runs once at 03:00"), "{daily:?}");

        let early = schedule("30 1 * * *", "America/New_York").dst_notes(from, until);
        assert_eq!(early.len(), 1, "{early:?}");
        assert!(
            early[0].contains("2027-11-07: 01:30 occurs twice"),
            "{early:?}"
        );

        let hourly = schedule("0 * * * *", "America/New_York").dst_notes(from, until);
        assert_eq!(hourly.len(), 2, "{hourly:?}");
        assert!(hourly[0].contains("skipped"), "{hourly:?}");
        assert!(hourly[1].contains("runs in both"), "{hourly:?}");

        assert!(
            schedule("0 7 * * *", "Asia/Seoul")
                .dst_notes(from, until)
                .is_empty()
        );
        assert!(
            schedule("0 7 * * *", "America/New_York")
                .dst_notes(from, until)
                .is_empty()
        );
    }
}
