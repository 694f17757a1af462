//! Human durations in job files: `"90s"`, `"15m"`, `"2h"`, `"1d"`, `"1h30m"`.
//!
//! Kept tiny and strict on purpose: a typo such as `"15 min"` must be an error that says what is
//! allowed, never a silently different number.

use std::time::Duration;

/// Why a duration string was refused; the message is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not a duration: use a number followed by s, m, h or d, such as \"90s\", \"15m\", \"2h\" or \"1h30m\""
)]
pub struct DurationError {
    input: String,
}

/// Parses a sequence of `<integer><unit>` parts; units are `ms`, `s`, `m`, `h`, `d`.
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    let err = || DurationError {
        input: input.to_string(),
    };
    let text = input.trim();
    if text.is_empty() {
        return Err(err());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit_millis: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(err()),
        };
        rest = &rest[unit_len..];
        let part = number.checked_mul(unit_millis).ok_or_else(err)?;
        total = total
            .checked_add(Duration::from_millis(part))
            .ok_or_else(err)?;
    }
    Ok(total)
}

/// Formats a duration the way job files write it, largest units first (`5400s` → `"1h30m"`).
pub fn format(duration: Duration) -> String {
    let mut millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if millis >= size {
            out.push_str(&format!("{}{unit}", millis / size));
            millis %= size;
        }
    }
    if millis > 0 {
        out.push_str(&format!("{millis}ms"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit_and_compounds() {
        let cases = [
            ("90s", 90),
            ("15m", 900),
            ("2h", 7_200),
            ("1d", 86_400),
            ("1h30m", 5_400),
            (" 45s ", 45),
        ];
        for (text, secs) in cases {
            assert_eq!(parse(text), Ok(Duration::from_secs(secs)), "{text}");
        }
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for text in [
            "",
            "15",
            "m",
            "15 min",
            "1.5h",
            "-5m",
            "5w",
            "1h 30m",
            "99999999999999999999d",
        ] {
            let error = parse(text).expect_err(text);
            assert!(error.to_string().contains("is not a duration"), "{error}");
        }
    }

    #[test]
    fn formats_largest_units_first() {
        assert_eq!(format(Duration::from_secs(5_400)), "1h30m");
        assert_eq!(format(Duration::from_secs(30 * 60)), "30m");
        assert_eq!(format(Duration::from_millis(1_500)), "1s500ms");
        assert_eq!(format(Duration::ZERO), "0s");
    }
}
