//! Words and positions for job-file errors: which key an offset is in, the parser's messages
//! in plain words, where nesting got too deep, and "did you mean" for time zones.

/// The dotted key on the line at `offset` (`agent.prompt`), so that a type error from the
/// TOML stage names its field like the checks of stage two do.
pub(super) fn field_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset.min(text.len()))?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    if key.is_empty() || key.starts_with('[') || key.starts_with('#') {
        return None;
    }
    let section = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    Some(match section {
        Some(section) => format!("{section}.{key}"),
        None => key.to_string(),
    })
}

/// TOML's messages speak Rust (`expected i64`); ours speak TOML.
pub(super) fn humanize(message: &str) -> String {
    if message.contains("recursion") || message.contains("recurse") {
        return TOO_DEEP.into();
    }
    message
        .trim()
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number")
        .replace("expected a boolean", "expected true or false")
        .replace("expected struct RawAgent", "expected a table [agent]")
}

/// What the parser's recursion limit means to the person who hit it.
pub(super) const TOO_DEEP: &str =
    "tables or arrays nest too deeply; a job file needs only a few levels";

/// Where nesting first gets deeper than any job file needs (brackets and braces outside
/// strings, or dots in a key), for the parser's recursion error, which has no position.
pub(super) fn too_deep_at(text: &str) -> usize {
    const DEEP: usize = 32;
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut dots = 0usize;
    for (offset, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            (None, '.') => dots += 1,
            (None, '\n' | '=') => dots = 0,
            _ => {}
        }
        if c == '\n' {
            quote = None;
        }
        if depth > DEEP || dots > DEEP {
            return offset;
        }
    }
    0
}

/// The IANA zone name closest to a misspelt one, for a "did you mean" hint.
pub(super) fn closest_zone(input: &str) -> Option<&'static str> {
    let lower = input.to_ascii_lowercase();
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| {
            (
                tz.name(),
                edit_distance(&lower, &tz.name().to_ascii_lowercase()),
            )
        })
        .filter(|(_, distance)| *distance <= 3)
        .min_by_key(|(_, distance)| *distance)
        .map(|(name, _)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}
