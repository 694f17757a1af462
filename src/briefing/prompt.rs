//! What the model is asked: a fixed system prompt holding the answer's schema, the user's
//! instructions, and the items as short cited lines, budgeted against the context size.

use serde_json::{Value, json};

use super::item::{Freshness, Item};

/// Section keys in the order of the answer, with their headings.
pub const SECTIONS: &[(&str, &str)] = &[
    ("decisions", "Decisions needed today"),
    ("to_answer", "To answer"),
    ("updates", "Updates"),
];
/// Share of the context kept free: token estimates are estimates.
const MARGIN: f64 = 0.10;
/// No item takes more than this share of an input budget, so one long page cannot crowd
/// out the rest.
const ITEM_SHARE: f64 = 0.25;

/// The system prompt: the task, the rules that keep the answer faithful, and the schema.
pub fn system() -> String {
    format!(
        "You write a short morning briefing from the items below. Each item starts with its \
         id in brackets: [S1] is a Slack message or thread, [G1] a mail, [N1] a Notion page; \
         then where it is, who wrote it and when. Rules:\n\
         - Use only what the items say. Never invent people, dates, numbers or links.\n\
         - Every bullet cites the ids of the items it is based on in \"ids\".\n\
         - \"decisions\": what needs the reader's decision today. \"to_answer\": questions and \
         requests waiting for the reader's reply. \"updates\": other news worth knowing.\n\
         - One short sentence per bullet, at most 8 bullets per section; leave a section empty \
         rather than padding it. Items marked (update) changed since the last briefing.\n\
         - Write in the language of the reader's instructions.\n\
         - Answer with JSON only, matching this schema:\n{}",
        schema()
    )
}

/// The answer's JSON schema; `ids` comes before `text`, so the model commits to its evidence
/// first.
pub fn schema() -> Value {
    let bullets = json!({
        "type": "array",
        "maxItems": 8,
        "items": {
            "type": "object",
            "required": ["ids", "text"],
            "properties": {
                "ids": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "text": {"type": "string"}
            }
        }
    });
    json!({
        "type": "object",
        "required": ["decisions", "to_answer", "updates"],
        "properties": {"decisions": bullets, "to_answer": bullets, "updates": bullets}
    })
}

/// `response_format` for the schema, in the nested form both Ollama and llama.cpp read.
pub fn response_format() -> Value {
    json!({"type": "json_schema", "json_schema": {"name": "briefing", "schema": schema()}})
}

/// A conservative token estimate: about 3.5 ASCII characters per token, and one per other
/// character (Hangul syllables and CJK take one to two tokens in LLaMA's vocabulary; we
/// would rather leave room than be cut).
pub fn tokens(text: &str) -> u64 {
    let (mut ascii, mut other) = (0u64, 0u64);
    for c in text.chars() {
        if c.is_ascii() {
            ascii += 1;
        } else {
            other += 1;
        }
    }
    (ascii * 2).div_ceil(7) + other
}

/// Estimated tokens of `chars` characters of an item's whole text.
pub fn raw_tokens(item: &Item) -> u64 {
    let ratio = if item.raw_chars == 0 || item.text.is_empty() {
        0.3
    } else {
        tokens(&item.text) as f64 / item.text.chars().count() as f64
    };
    (item.raw_chars as f64 * ratio.max(0.29)).ceil() as u64 + tokens(&item.title) + 8
}

/// One line per item, as the model sees it. Nothing in it repeats what the id says (the
/// letter names the source) and the date is left out for items of `today`, in `zone`: a
/// line's overhead is paid hundreds of times per briefing.
pub fn line(short_id: &str, item: &Item, zone: chrono_tz::Tz, today: chrono::NaiveDate) -> String {
    let local = item.at.with_timezone(&zone);
    let when = if local.date_naive() == today {
        local.format("%H:%M")
    } else {
        local.format("%m-%d %H:%M")
    };
    let update = if item.freshness == Freshness::Updated {
        " (update)"
    } else {
        ""
    };
    let by = if item.author.is_empty() {
        String::new()
    } else {
        format!(" {}", item.author)
    };
    let text = item.text.replace('\n', " / ");
    if text.is_empty() {
        format!("[{short_id}] {}{by} {when}{update}", item.title)
    } else {
        format!("[{short_id}] {}{by} {when}{update}: {text}", item.title)
    }
}

/// How many tokens the items of one call may take, given the context size, the answer's
/// budget and the fixed parts of the prompt.
pub fn input_budget(context: u32, max_tokens: u32, fixed: u64) -> u64 {
    let usable = (f64::from(context) * (1.0 - MARGIN)) as u64;
    usable
        .saturating_sub(u64::from(max_tokens))
        .saturating_sub(fixed)
}

/// Items split into calls that each fit `budget`, best-ranked first in every call. An item
/// longer than its share is shortened (and counted); one that does not fit at all even then
/// is left out (and counted). Lines keep the order: best first, then alternating to the end
/// so the most important items sit at both ends of each call (models read the middle worst).
pub struct Plan {
    pub chunks: Vec<Vec<usize>>,
    pub shortened: usize,
    pub left_out: usize,
}

/// Plans the calls for `items` (already ranked), `cost(i)` being item `i`'s line cost.
pub fn plan(items: &mut [Item], budget: u64, max_chunks: usize) -> Plan {
    let share = ((budget as f64) * ITEM_SHARE) as u64;
    let mut shortened = 0;
    for item in items.iter_mut() {
        let cost = tokens(&item.text) + tokens(&item.title) + 12;
        if cost > share.max(64) {
            let keep_chars = (share.max(64).saturating_sub(tokens(&item.title) + 12)) as usize;
            let cut: String = item.text.chars().take(keep_chars).collect();
            item.text = format!("{cut}… [shortened]");
            shortened += 1;
        }
    }
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    let mut used = 0u64;
    let mut left_out = 0;
    for (index, item) in items.iter().enumerate() {
        let cost = tokens(&item.text) + tokens(&item.title) + 12;
        if chunks.is_empty() || used + cost > budget {
            if chunks.len() == max_chunks {
                left_out += 1;
                continue;
            }
            chunks.push(Vec::new());
            used = 0;
        }
        used += cost;
        if let Some(chunk) = chunks.last_mut() {
            chunk.push(index);
        }
    }
    for chunk in &mut chunks {
        *chunk = ends_first(chunk);
    }
    Plan {
        chunks,
        shortened,
        left_out,
    }
}

/// `[1,2,3,4,5]` → `[1,3,5,4,2]`: the best at the start, the next best at the end.
fn ends_first(ranked: &[usize]) -> Vec<usize> {
    let front = ranked.iter().step_by(2).copied();
    let back: Vec<usize> = ranked.iter().skip(1).step_by(2).copied().collect();
    front.chain(back.into_iter().rev()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::briefing::item::{Signals, Source};

    fn item(text: &str) -> Item {
        Item {
            id: "slack:x".into(),
            source: Source::Slack,
            url: String::new(),
            title: "#dev".into(),
            author: String::new(),
            at: chrono::DateTime::default(),
            text: text.into(),
            raw_chars: text.chars().count(),
            version: String::new(),
            signals: Signals::default(),
            freshness: Freshness::New,
        }
    }

    #[test]
    fn estimates_count_korean_dearer_than_english() {
        assert_eq!(tokens("abcdefg"), 2);
        assert_eq!(tokens("회의록"), 3);
    }

    #[test]
    fn items_are_split_into_calls_that_fit_and_nothing_is_cut_silently() {
        let mut items: Vec<Item> = (0..10).map(|i| item(&"word ".repeat(40 + i))).collect();
        items.push(item(&"긴 문서 ".repeat(2000)));
        let plan = plan(&mut items, 400, 3);
        assert_eq!(plan.shortened, 1);
        assert!(items[10].text.ends_with("[shortened]"));
        assert!(plan.chunks.len() <= 3);
        let placed: usize = plan.chunks.iter().map(Vec::len).sum();
        assert_eq!(placed + plan.left_out, 11);
        for chunk in &plan.chunks {
            let cost: u64 = chunk
                .iter()
                .map(|&i| tokens(&items[i].text) + tokens(&items[i].title) + 12)
                .sum();
            assert!(cost <= 400, "{cost}");
        }
        assert_eq!(ends_first(&[1, 2, 3, 4, 5]), [1, 3, 5, 4, 2]);
    }

    #[test]
    fn the_budget_leaves_room_for_the_answer() {
        assert_eq!(input_budget(8192, 1200, 500), 7372 - 1700);
        assert_eq!(input_budget(1024, 1200, 500), 0);
    }
}
