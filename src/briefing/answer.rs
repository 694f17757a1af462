//! Reading the model's answer: JSON (fences and `<think>` blocks tolerated), sections of
//! bullets that must cite collected items. A bullet citing nothing we collected is dropped
//! and counted; links come from the cited items, never from the model's text.

use std::collections::HashMap;

use serde_json::Value;

use super::item::{Freshness, Item};
use super::prompt::SECTIONS;
use super::record::{Bullet, Link, Section};

/// Characters of one bullet's text kept: a bullet is a sentence, not an essay.
const BULLET_CHARS: usize = 400;

/// What an answer gave.
#[derive(Debug, Default, PartialEq)]
pub struct Reading {
    pub sections: Vec<Section>,
    pub dropped: usize,
}

/// Parses `answer`; `ids` maps the short ids shown to the model (`S1`) to items. `Err` says
/// why the answer is not usable at all (then it is worth one repair request).
pub fn read(answer: &str, ids: &HashMap<String, &Item>) -> Result<Reading, String> {
    let json = json_part(answer).ok_or("the answer holds no JSON object")?;
    let value: Value = serde_json::from_str(json)
        .map_err(|error| format!("the answer is not valid JSON: {error}"))?;
    let object = value.as_object().ok_or("the answer is not a JSON object")?;
    if !SECTIONS.iter().any(|(key, _)| object.contains_key(*key)) {
        return Err("the answer has none of the sections decisions, to_answer, updates".into());
    }
    let mut reading = Reading::default();
    for (key, heading) in SECTIONS {
        let mut bullets = Vec::new();
        for entry in object
            .get(*key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match bullet(entry, ids) {
                Some(bullet) => bullets.push(bullet),
                None => reading.dropped += 1,
            }
        }
        reading.sections.push(Section {
            key: (*key).to_string(),
            heading: (*heading).to_string(),
            bullets,
        });
    }
    Ok(reading)
}

/// The JSON object in an answer: after any `<think>` block, inside any code fence.
fn json_part(answer: &str) -> Option<&str> {
    let answer = match answer.rfind("</think>") {
        Some(end) => &answer[end + "</think>".len()..],
        None => answer,
    };
    let start = answer.find('{')?;
    let end = answer.rfind('}')?;
    (end > start).then(|| &answer[start..=end])
}

fn bullet(entry: &Value, ids: &HashMap<String, &Item>) -> Option<Bullet> {
    let text = entry["text"].as_str().map(clean)?;
    if text.is_empty() {
        return None;
    }
    let cited: Vec<&str> = match &entry["ids"] {
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        Value::String(one) => one.split([',', ' ']).collect(),
        _ => Vec::new(),
    };
    let mut items: Vec<&Item> = Vec::new();
    for id in cited {
        let id = id.trim().trim_matches(['[', ']']);
        if let Some(item) = ids.get(id)
            && !items.iter().any(|known| known.id == item.id)
        {
            items.push(item);
        }
    }
    if items.is_empty() {
        return None;
    }
    Some(Bullet {
        text,
        update: items.iter().any(|i| i.freshness == Freshness::Updated),
        links: items.iter().map(|item| link(item)).collect(),
        items: items.iter().map(|i| i.id.clone()).collect(),
    })
}

/// The link to an item, labelled so a reader knows where it goes.
pub fn link(item: &Item) -> Link {
    let label: String = item.title.chars().take(60).collect();
    Link {
        label: format!("{}: {label}", item.source.name()),
        url: item.url.clone(),
    }
}

/// One line of model text: no URLs (links are ours), no citations in brackets, no control
/// characters, at most [`BULLET_CHARS`].
fn clean(text: &str) -> String {
    let words: Vec<&str> = text
        .split_whitespace()
        .filter(|w| !w.contains("://"))
        .filter(|w| {
            let inner = w.trim_matches(|c: char| !c.is_alphanumeric());
            // Only our own citations ([S1], [G12]): ASCII, so the slice is on a boundary.
            let citation = inner.len() >= 2
                && inner.starts_with(['S', 'G', 'N'])
                && inner
                    .get(1..)
                    .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()));
            !(w.starts_with('[') && citation)
        })
        .collect();
    let joined = words.join(" ");
    let cut: String = joined
        .chars()
        .filter(|c| !c.is_control())
        .take(BULLET_CHARS)
        .collect();
    cut.trim_end_matches([',', ';', ' ']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::briefing::item::{Signals, Source};

    fn item(id: &str) -> Item {
        Item {
            id: id.into(),
            source: Source::Slack,
            url: format!("https://t.slack.com/{id}"),
            title: "#dev".into(),
            author: String::new(),
            at: chrono::DateTime::default(),
            text: String::new(),
            raw_chars: 0,
            version: String::new(),
            signals: Signals::default(),
            freshness: Freshness::New,
        }
    }

    #[test]
    fn bullets_citing_nothing_collected_are_dropped_and_links_are_ours() {
        let (a, b) = (item("slack:C1:1"), item("slack:C1:2"));
        let ids: HashMap<String, &Item> = [("S1".to_string(), &a), ("S2".to_string(), &b)].into();
        assert_eq!(
            clean("[공지] 배포 [S1] 일정 [확인]"),
            "[공지] 배포 일정 [확인]"
        );
        let answer = "<think>hmm {}</think>```json\n{\"decisions\":[{\"ids\":[\"S1\",\"[S2]\"],\"text\":\"Approve the release [S1] https://evil.example/x\"}],\
            \"to_answer\":[{\"ids\":[\"S9\"],\"text\":\"Invented\"},{\"ids\":[],\"text\":\"No source\"}],\"updates\":[]}\n```";
        let reading = read(answer, &ids).expect("usable");
        assert_eq!(reading.dropped, 2);
        let bullet = &reading.sections[0].bullets[0];
        assert_eq!(bullet.text, "Approve the release");
        assert_eq!(bullet.items, ["slack:C1:1", "slack:C1:2"]);
        assert_eq!(bullet.links[0].url, "https://t.slack.com/slack:C1:1");
        assert!(reading.sections[1].bullets.is_empty());
    }

    #[test]
    fn unusable_answers_say_why() {
        let ids = HashMap::new();
        assert!(read("Sure! Here is your briefing.", &ids).is_err());
        assert!(read("{\"decisions\": [", &ids).is_err());
        assert!(read("{\"title\": \"x\"}", &ids).is_err());
    }
}
