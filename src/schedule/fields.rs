//! The fields of a cron expression checked one by one, so an error names the field, what was
//! written and what is allowed; and classic cron's day-of-week, which the `cron` crate
//! numbers differently.

use super::ScheduleError;

/// Day names in the `cron` crate's dialect, indexed by classic cron's day number (0 = Sunday).
pub(super) const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// What one cron field may hold, so an error can say what the user wrote and what is allowed
/// (the `cron` crate's own messages name its internal six-field form and are off by one).
#[derive(Clone, Copy)]
pub(super) struct FieldRule {
    name: &'static str,
    low: u32,
    high: u32,
    /// Names accepted for values, `names[0]` standing for `low`.
    names: &'static [&'static str],
}

impl FieldRule {
    pub(super) const SECOND: FieldRule = FieldRule::numeric("second", 0, 59);
    pub(super) const MINUTE: FieldRule = FieldRule::numeric("minute", 0, 59);
    pub(super) const HOUR: FieldRule = FieldRule::numeric("hour", 0, 23);
    pub(super) const DAY_OF_MONTH: FieldRule = FieldRule::numeric("day-of-month", 1, 31);
    pub(super) const MONTH: FieldRule = FieldRule {
        name: "month",
        low: 1,
        high: 12,
        names: &[
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ],
    };

    const fn numeric(name: &'static str, low: u32, high: u32) -> FieldRule {
        FieldRule {
            name,
            low,
            high,
            names: &[],
        }
    }

    fn value(self, text: &str) -> Result<u32, String> {
        if let Some(index) = self
            .names
            .iter()
            .position(|name| name.eq_ignore_ascii_case(text))
        {
            return Ok(self.low + index as u32);
        }
        let allowed = match self.names {
            [] => format!("{}-{}", self.low, self.high),
            [first, .., last] => format!("{}-{} or {first}-{last}", self.low, self.high),
            [only] => format!("{}-{} or {only}", self.low, self.high),
        };
        match text.parse::<u32>() {
            Ok(value) if (self.low..=self.high).contains(&value) => Ok(value),
            Ok(_) => Err(format!("`{text}` is out of range; use {allowed}")),
            Err(_) => Err(format!("`{text}` is not a number; use {allowed}")),
        }
    }
}

/// Checks one field's lists, ranges and steps against `rule`.
pub(super) fn check_field(rule: FieldRule, field: &str) -> Result<(), ScheduleError> {
    let fail = |reason: String| ScheduleError::Field {
        name: rule.name,
        field: field.to_string(),
        reason,
    };
    if field == "?" && rule.name == "day-of-month" {
        return Ok(());
    }
    for part in field.split(',') {
        let range = match part.split_once('/') {
            Some((range, step)) => {
                match step.parse::<u32>() {
                    Ok(step) if step > 0 => {}
                    _ => return Err(fail(format!("step `{step}` must be a positive number"))),
                }
                range
            }
            None => part,
        };
        if range == "*" {
            continue;
        }
        if range.is_empty() {
            return Err(fail("an empty list item".into()));
        }
        let (low, high) = match range.split_once('-') {
            Some((a, b)) => (rule.value(a).map_err(fail)?, rule.value(b).map_err(fail)?),
            None => {
                let value = rule.value(range).map_err(fail)?;
                (value, value)
            }
        };
        if low > high {
            return Err(fail(format!("range `{range}` goes backwards")));
        }
    }
    Ok(())
}

/// Classic day-of-week field → which days (index 0 = Sunday) it selects.
pub(super) fn parse_day_of_week(field: &str) -> Result<[bool; 7], ScheduleError> {
    let fail = |reason: String| ScheduleError::DayOfWeek {
        field: field.to_string(),
        reason,
    };
    let mut days = [false; 7];
    if field == "?" {
        return Ok([true; 7]);
    }
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: usize = step
                    .parse()
                    .ok()
                    .filter(|&s| s > 0)
                    .ok_or_else(|| fail(format!("step `{step}` must be a positive number")))?;
                (range, Some(step))
            }
            None => (part, None),
        };
        let (low, high) = if range == "*" {
            (0, 6)
        } else if let Some((a, b)) = range.split_once('-') {
            (day_number(a).map_err(&fail)?, day_number(b).map_err(&fail)?)
        } else {
            let day = day_number(range).map_err(&fail)?;
            (day, if step.is_some() { 6 } else { day })
        };
        if low > high {
            return Err(fail(format!("range `{range}` goes backwards")));
        }
        let mut day = low;
        while day <= high {
            days[day % 7] = true;
            day += step.unwrap_or(1);
        }
    }
    Ok(days)
}

/// `0`–`7` (0 and 7 are Sunday) or a three-letter English name.
fn day_number(text: &str) -> Result<usize, String> {
    if let Ok(number) = text.parse::<usize>() {
        return if number <= 7 {
            Ok(number)
        } else {
            Err(format!("`{text}` is out of range 0-7 (0 and 7 are Sunday)"))
        };
    }
    DAY_NAMES
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
        .ok_or_else(|| {
            format!("`{text}` is not a day; use 0-7 or SUN, MON, TUE, WED, THU, FRI, SAT")
        })
}
