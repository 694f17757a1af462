//! The briefing without a model: items by source, best first, each with its link. What the
//! reader gets when no model is reachable or its answers are unusable, marked degraded.

use super::answer::link;
use super::collect::snippet;
use super::item::{Freshness, Item, Source};
use super::record::{Bullet, Section};

/// Items per source in a digest: a morning's glance, not the whole inbox.
const PER_SOURCE: usize = 10;
/// Characters of an item's text in its digest line.
const LINE_CHARS: usize = 160;

/// One `digest` section per source that has items, in ranking order.
pub fn digest(items: &[&Item]) -> Vec<Section> {
    let mut sections = Vec::new();
    for source in [Source::Slack, Source::Gmail, Source::Notion] {
        let bullets: Vec<Bullet> = items
            .iter()
            .filter(|i| i.source == source)
            .take(PER_SOURCE)
            .map(|item| Bullet {
                text: line(item),
                items: vec![item.id.clone()],
                links: vec![link(item)],
                update: item.freshness == Freshness::Updated,
            })
            .collect();
        if !bullets.is_empty() {
            sections.push(Section {
                key: "digest".into(),
                heading: source.name().into(),
                bullets,
            });
        }
    }
    sections
}

fn line(item: &Item) -> String {
    let text = snippet(&item.text.replace('\n', " "), LINE_CHARS);
    let who = if item.author.is_empty() {
        String::new()
    } else {
        format!("{}: ", item.author)
    };
    match item.source {
        Source::Slack if !text.is_empty() => format!("{} {who}{text}", item.title),
        _ if text.is_empty() => format!("{who}{}", item.title),
        _ => format!("{who}{} — {text}", item.title),
    }
}
