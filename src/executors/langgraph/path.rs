//! Paths into a graph's final state (`messages[-1].content`): parsed when the job file is
//! checked, followed when the run ends.

use serde_json::Value;

/// One step of a state path: a key, or an index (negative counts from the end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(i64),
}

/// `messages[-1].content` → `[Key(messages), Index(-1), Key(content)]`.
pub fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    let path = path.trim();
    let bad = |why: &str| {
        Err(format!(
            "`{path}` is not a state path ({why}); write keys with dots and indexes in brackets, e.g. \"messages[-1].content\""
        ))
    };
    if path.is_empty() || path.len() > 200 {
        return bad("empty or too long");
    }
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(open) => (&part[..open], &part[open..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            if !key
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
            {
                return bad("a key may hold letters, digits, '_' and '-'");
            }
            steps.push(Step::Key(key.to_string()));
        } else if rest.is_empty() {
            return bad("an empty key");
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let Some(close) = inner.find(']') else {
                return bad("a '[' without ']'");
            };
            match inner[..close].trim().parse::<i64>() {
                Ok(index) => steps.push(Step::Index(index)),
                Err(_) => return bad("an index must be a whole number"),
            }
            rest = &inner[close + 1..];
        }
        if !rest.is_empty() {
            return bad("text after ']'");
        }
    }
    Ok(steps)
}

/// The value at `steps` in `state`, if there is one.
pub fn follow<'a>(state: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    let mut here = state;
    for step in steps {
        here = match step {
            Step::Key(key) => here.get(key)?,
            Step::Index(index) => {
                let list = here.as_array()?;
                let at = if *index < 0 {
                    list.len()
                        .checked_sub(usize::try_from(index.unsigned_abs()).ok()?)?
                } else {
                    usize::try_from(*index).ok()?
                };
                list.get(at)?
            }
        };
    }
    Some(here)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_followed_from_either_end() {
        let state = serde_json::json!({"messages": [{"content": "a"}, {"content": "b"}]});
        let last = parse_path("messages[-1].content").expect("path");
        assert_eq!(follow(&state, &last), Some(&serde_json::json!("b")));
        let first = parse_path("messages[0].content").expect("path");
        assert_eq!(follow(&state, &first), Some(&serde_json::json!("a")));
        assert_eq!(
            follow(&state, &parse_path("messages[-3]").expect("path")),
            None
        );
        assert_eq!(follow(&state, &parse_path("nope").expect("path")), None);
    }

    #[test]
    fn state_paths_are_keys_and_indexes() {
        assert_eq!(
            parse_path("messages[-1].content"),
            Ok(vec![
                Step::Key("messages".into()),
                Step::Index(-1),
                Step::Key("content".into())
            ])
        );
        assert_eq!(
            parse_path("notion_url"),
            Ok(vec![Step::Key("notion_url".into())])
        );
        for bad in ["", "a..b", "a[x]", "a[1", "a[1]b", "a b"] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }
}
