//! Cron expressions in words ("every day at 07:00 Asia/Seoul") for people reading the status
//! page on a phone. Covers the shapes people write; anything else is described as a custom
//! schedule and the page shows the expression beside it anyway.

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Describes `expression` (5 or 6 fields, or a macro) running in `zone`.
pub fn describe(expression: &str, zone: &str) -> String {
    let text =
        describe_fields(expression.trim()).unwrap_or_else(|| "on a custom schedule".to_string());
    format!("{text} {zone}")
}

fn describe_fields(expression: &str) -> Option<String> {
    let macro_text = match expression.to_ascii_lowercase().as_str() {
        "@hourly" => Some("every hour at :00"),
        "@daily" | "@midnight" => Some("every day at 00:00"),
        "@weekly" => Some("every Sunday at 00:00"),
        "@monthly" => Some("on day 1 of every month at 00:00"),
        "@yearly" | "@annually" => Some("every year on 1 January at 00:00"),
        _ => None,
    };
    if let Some(text) = macro_text {
        return Some(text.to_string());
    }
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let (second, rest) = match fields.len() {
        5 => ("0", &fields[..]),
        6 => (fields[0], &fields[1..]),
        _ => return None,
    };
    let [minute, hour, day, month, weekday] = rest else {
        return None;
    };
    let time = time_of_day(second, minute, hour)?;
    let days = days(day, month, weekday)?;
    Some(match (days.as_str(), time) {
        ("every day", Time::At(at)) => format!("every day at {at}"),
        ("every day", Time::Repeating(every)) => every,
        (days, Time::At(at)) => format!("{days} at {at}"),
        (days, Time::Repeating(every)) => format!("{every}, {days}"),
    })
}

enum Time {
    /// One or a few fixed times of day: `07:00`, `09:00 and 18:00`.
    At(String),
    /// A repetition within the day: `every 5 minutes`.
    Repeating(String),
}

fn time_of_day(second: &str, minute: &str, hour: &str) -> Option<Time> {
    let seconds = number(second, 59);
    let minutes = number(minute, 59);
    let hours = list(hour, 23);
    match (seconds, minutes, hours) {
        (Some(s), Some(m), Some(hours)) => {
            let times: Vec<String> = hours
                .iter()
                .map(|h| {
                    if s == 0 {
                        format!("{h:02}:{m:02}")
                    } else {
                        format!("{h:02}:{m:02}:{s:02}")
                    }
                })
                .collect();
            Some(Time::At(join_and(&times)))
        }
        (Some(0), Some(m), None) if hour == "*" => {
            Some(Time::Repeating(format!("every hour at :{m:02}")))
        }
        (Some(0), None, None) if hour == "*" => step(minute, "minute").map(Time::Repeating),
        (Some(0), None, Some(_)) => {
            let window = hour_range(hour)?;
            step(minute, "minute").map(|every| Time::Repeating(format!("{every} {window}")))
        }
        (None, None, None) if minute == "*" && hour == "*" => {
            step(second, "second").map(Time::Repeating)
        }
        _ => None,
    }
}

/// `*` → `every minute`, `*/5` → `every 5 minutes`.
fn step(field: &str, unit: &str) -> Option<String> {
    if field == "*" {
        return Some(format!("every {unit}"));
    }
    let every: u32 = field.strip_prefix("*/")?.parse().ok()?;
    Some(match every {
        1 => format!("every {unit}"),
        n => format!("every {n} {unit}s"),
    })
}

/// `9-17` → `from 09:00 to 17:59`.
fn hour_range(field: &str) -> Option<String> {
    let (from, to) = field.split_once('-')?;
    let from: u32 = from.parse().ok().filter(|h| *h <= 23)?;
    let to: u32 = to.parse().ok().filter(|h| *h <= 23 && *h >= from)?;
    Some(format!("from {from:02}:00 to {to:02}:59"))
}

fn days(day: &str, month: &str, weekday: &str) -> Option<String> {
    let in_month = match month {
        "*" => String::new(),
        _ => {
            let months = list(month, 12)?;
            let names: Vec<String> = months
                .iter()
                .filter_map(|m| MONTHS.get((*m as usize).checked_sub(1)?))
                .map(|m| (*m).to_string())
                .collect();
            format!(" in {}", join_and(&names))
        }
    };
    let text = match (day, weekday) {
        ("*" | "?", "*" | "?") => format!("every day{in_month}"),
        (_, "*" | "?") => {
            let days = list(day, 31)?;
            let days: Vec<String> = days.iter().map(ToString::to_string).collect();
            let of = if in_month.is_empty() {
                " of every month".to_string()
            } else {
                in_month.clone()
            };
            return Some(format!("on day {}{of}", join_and(&days)));
        }
        ("*" | "?", _) => weekdays(weekday)? + &in_month,
        _ => return None,
    };
    Some(text)
}

fn weekdays(field: &str) -> Option<String> {
    let mut days: Vec<u32> = list(&weekday_numbers(field), 7)?
        .into_iter()
        .map(|d| d % 7)
        .collect();
    days.sort_unstable();
    days.dedup();
    Some(match days.as_slice() {
        [1, 2, 3, 4, 5] => "on weekdays".to_string(),
        [0, 6] => "on weekends".to_string(),
        [0, 1, 2, 3, 4, 5, 6] => "every day".to_string(),
        [one] => format!("every {}", WEEKDAYS[*one as usize]),
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|d| WEEKDAYS[*d as usize].to_string())
                .collect();
            format!("on {}", join_and(&names))
        }
    })
}

/// Replaces day names (`MON`, `fri`) with their numbers.
fn weekday_numbers(field: &str) -> String {
    let mut out = field.to_ascii_lowercase();
    for (index, name) in WEEKDAYS.iter().enumerate() {
        out = out.replace(&name[..3].to_ascii_lowercase(), &index.to_string());
    }
    out
}

/// A single number no greater than `max`.
fn number(field: &str, max: u32) -> Option<u32> {
    field.parse().ok().filter(|n| *n <= max)
}

/// A list of numbers and ranges (`1-5`, `0,6`, `9,13,18`), expanded; `None` for steps and `*`.
fn list(field: &str, max: u32) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in field.split(',') {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (number(from, max)?, number(to, max)?);
                if from > to {
                    return None;
                }
                out.extend(from..=to);
            }
            None => out.push(number(part, max)?),
        }
    }
    Some(out)
}

/// `a`, `a and b`, `a, b and c`.
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn common_schedules_read_as_words() {
        let cases = [
            ("0 7 * * *", "every day at 07:00 Asia/Seoul"),
            ("0 9 * * 1-5", "on weekdays at 09:00 Asia/Seoul"),
            ("0 9 * * MON-FRI", "on weekdays at 09:00 Asia/Seoul"),
            ("30 17 * * 5", "every Friday at 17:30 Asia/Seoul"),
            ("0 10 * * 0,6", "on weekends at 10:00 Asia/Seoul"),
            ("0 9,18 * * *", "every day at 09:00 and 18:00 Asia/Seoul"),
            ("*/5 * * * *", "every 5 minutes Asia/Seoul"),
            ("* * * * *", "every minute Asia/Seoul"),
            ("15 * * * *", "every hour at :15 Asia/Seoul"),
            (
                "*/10 9-17 * * 1-5",
                "every 10 minutes from 09:00 to 17:59, on weekdays Asia/Seoul",
            ),
            ("0 8 1 * *", "on day 1 of every month at 08:00 Asia/Seoul"),
            ("0 0 1 1 *", "on day 1 in January at 00:00 Asia/Seoul"),
            ("* * * * * *", "every second Asia/Seoul"),
            ("*/15 * * * * *", "every 15 seconds Asia/Seoul"),
            ("30 0 7 * * *", "every day at 07:00:30 Asia/Seoul"),
            ("@daily", "every day at 00:00 Asia/Seoul"),
            ("@weekly", "every Sunday at 00:00 Asia/Seoul"),
            ("0 7 * * 1#2", "on a custom schedule Asia/Seoul"),
            ("0 7 L * *", "on a custom schedule Asia/Seoul"),
        ];
        for (expression, words) in cases {
            assert_eq!(describe(expression, "Asia/Seoul"), words, "{expression}");
        }
    }
}
