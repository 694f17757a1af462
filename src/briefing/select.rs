//! Before the model: drop noise, drop what earlier briefings already covered, rank the rest.
//! All pure, so the rules are tested without any server.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::item::{Freshness, Item};

/// What selection did, for the run record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selection {
    pub noise_dropped: usize,
    pub repeated: usize,
    pub new: usize,
    pub updated: usize,
}

/// Keeps the items worth briefing, best first. `ledger` maps item ids briefed before to the
/// version they had then: an unchanged one is dropped, a changed one is marked updated.
pub fn select(
    items: Vec<Item>,
    ledger: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> (Vec<Item>, Selection) {
    let mut counts = Selection::default();
    let mut kept = Vec::with_capacity(items.len());
    for mut item in items {
        if is_noise(&item) {
            counts.noise_dropped += 1;
            continue;
        }
        match ledger.get(&item.id) {
            Some(version) if *version == item.version => {
                counts.repeated += 1;
                continue;
            }
            Some(_) => {
                item.freshness = Freshness::Updated;
                counts.updated += 1;
            }
            None => counts.new += 1,
        }
        kept.push(item);
    }
    kept.sort_by(|a, b| {
        score(b, now)
            .total_cmp(&score(a, now))
            .then_with(|| b.at.cmp(&a.at))
            .then_with(|| a.id.cmp(&b.id))
    });
    (kept, counts)
}

/// Items with nothing a person would read: empty texts, join notices, automatic replies.
fn is_noise(item: &Item) -> bool {
    let text = item.text.trim();
    let title = item.title.trim();
    if text.is_empty() && title.is_empty() {
        return true;
    }
    let lower = text.to_lowercase();
    const NOTICES: &[&str] = &[
        "has joined the channel",
        "has left the channel",
        "set the channel topic",
        "set the channel description",
        "님이 채널에 참여했습니다",
        "automatic reply",
        "out of office",
        "자동 회신",
    ];
    NOTICES.iter().any(|n| lower.contains(n)) && text.chars().count() < 300
}

/// Higher is more urgent: addressed to the person, asking something, busy, flagged, recent.
fn score(item: &Item, now: DateTime<Utc>) -> f64 {
    let signals = &item.signals;
    let age_hours = (now - item.at).num_minutes().max(0) as f64 / 60.0;
    let recency = 1.0 / (1.0 + age_hours / 12.0);
    f64::from(u8::from(signals.mentions_me)) * 5.0
        + f64::from(u8::from(signals.question)) * 2.0
        + f64::from(u8::from(signals.flagged)) * 2.0
        + f64::from(signals.replies.min(10)) * 0.3
        + recency
}

/// A mail's own words: quoted replies (`> …`, "On … wrote:", "-----Original Message-----",
/// Korean clients' "…님이 작성:") and the signature (after "-- ") removed.
pub fn own_words(body: &str) -> String {
    let mut kept = Vec::new();
    for line in body.lines() {
        let trimmed = line.trim();
        let quoted_header = (trimmed.starts_with("On ") && trimmed.ends_with("wrote:"))
            || trimmed.ends_with("작성:")
            || trimmed.starts_with("-----Original Message-----")
            || trimmed.starts_with("----- Original Message -----");
        if trimmed == "--" || line == "-- " || quoted_header {
            break;
        }
        if trimmed.starts_with('>') {
            continue;
        }
        kept.push(trimmed);
    }
    collapse_blank_lines(&kept)
}

fn collapse_blank_lines(lines: &[&str]) -> String {
    let mut out = String::new();
    let mut blank = false;
    for line in lines {
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if blank {
            out.push('\n');
            blank = false;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(line);
    }
    out
}

/// Whether a text asks something of its reader, in English or Korean.
pub fn asks(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.contains('?')
        || lower.contains('？')
        || [
            "please",
            "can you",
            "could you",
            "need your",
            "review",
            "approve",
            "부탁",
            "해주세요",
            "해 주세요",
            "확인 부탁",
            "검토",
            "승인",
            "할까요",
            "어떨까요",
        ]
        .iter()
        .any(|w| lower.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::briefing::item::{Signals, Source};

    fn item(id: &str, text: &str, version: &str, signals: Signals) -> Item {
        Item {
            id: id.into(),
            source: Source::Slack,
            url: format!("https://x/{id}"),
            title: "#dev".into(),
            author: "egon".into(),
            at: "2026-12-01T06:00:00Z".parse().expect("time"),
            text: text.into(),
            raw_chars: text.len(),
            version: version.into(),
            signals,
            freshness: Freshness::New,
        }
    }

    #[test]
    fn repeats_go_changes_stay_marked_and_the_urgent_lead() {
        let now = "2026-12-01T07:00:00Z".parse().expect("time");
        let ledger: HashMap<String, String> = [
            ("slack:a".to_string(), "1".to_string()),
            ("slack:b".to_string(), "1".to_string()),
        ]
        .into();
        let asked = Signals {
            mentions_me: true,
            question: true,
            ..Signals::default()
        };
        let items = vec![
            item("slack:a", "same as yesterday", "1", Signals::default()),
            item(
                "slack:b",
                "new reply in the thread",
                "2",
                Signals::default(),
            ),
            item("slack:c", "fyi, deployed", "1", Signals::default()),
            item("slack:d", "<@me> can you approve?", "1", asked),
            item(
                "slack:e",
                "egon has joined the channel",
                "1",
                Signals::default(),
            ),
        ];
        let (kept, counts) = select(items, &ledger, now);
        let ids: Vec<&str> = kept.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids[0], "slack:d");
        assert!(!ids.contains(&"slack:a") && !ids.contains(&"slack:e"));
        assert_eq!(
            counts,
            Selection {
                noise_dropped: 1,
                repeated: 1,
                new: 2,
                updated: 1
            }
        );
        let updated = kept.iter().find(|i| i.id == "slack:b").expect("b");
        assert_eq!(updated.freshness, Freshness::Updated);
    }

    #[test]
    fn quoted_replies_and_signatures_are_not_the_senders_words() {
        let body = "Numbers are in.\n\nSee the sheet.\n> old quote\n-- \nJane CFO\n+82 10";
        assert_eq!(own_words(body), "Numbers are in.\n\nSee the sheet.");
        let korean =
            "확인했습니다.\n2026년 12월 1일 (화) 오전 9:00, 김철수 님이 작성:\n> 예전 내용";
        assert_eq!(own_words(korean), "확인했습니다.");
    }

    #[test]
    fn questions_are_recognised_in_both_languages() {
        assert!(asks("Can you review PR 12"));
        assert!(asks("배포는 내일로 할까요"));
        assert!(!asks("Deployed v2 to staging."));
    }
}
