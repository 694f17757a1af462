//! The briefing as Markdown (the run's result, `--dry-run`, the Slack post) and as Notion
//! blocks (headings, bulleted items with links, rich text split under Notion's limits).

use chrono_tz::Tz;
use serde_json::{Value, json};

use super::item::Health;
use super::record::{Briefing, Bullet};

/// Notion rejects a rich-text item over 2,000 characters; whether it counts UTF-16 units or
/// code points is not documented, so pieces are cut at 1,900 UTF-16 units (the larger count).
const RICH_TEXT_UNITS: usize = 1900;
/// Links per bullet: Notion allows 100 rich-text items per block, readers fewer.
const LINKS_PER_BULLET: usize = 8;

/// The briefing in Markdown, times in `zone`.
pub fn markdown(briefing: &Briefing, zone: Tz) -> String {
    let mut out = format!("# {}\n\n", one_line(&briefing.title));
    out.push_str(&format!("{}\n", window_line(briefing, zone)));
    if let Some(reason) = &briefing.degraded_reason {
        out.push_str(&format!("\n> Degraded: {}\n", one_line(reason)));
    }
    let mut any = false;
    for section in briefing.sections.iter().filter(|s| !s.bullets.is_empty()) {
        any = true;
        out.push_str(&format!("\n## {}\n\n", section.heading));
        for bullet in &section.bullets {
            out.push_str(&format!("- {}\n", bullet_markdown(bullet)));
        }
    }
    if !any {
        out.push_str("\nNothing new since the last briefing.\n");
    }
    out.push_str("\n## Sources\n\n");
    for line in source_lines(briefing) {
        out.push_str(&format!("- {line}\n"));
    }
    out
}

fn bullet_markdown(bullet: &Bullet) -> String {
    let links: Vec<String> = bullet
        .links
        .iter()
        .take(LINKS_PER_BULLET)
        .map(|l| {
            format!(
                "[{}]({})",
                l.label.replace(['[', ']'], ""),
                l.url.replace([' ', ')'], "")
            )
        })
        .collect();
    let update = if bullet.update { "Update: " } else { "" };
    format!("{update}{} ({})", one_line(&bullet.text), links.join(", "))
}

/// "Window: 11-30 07:00 – 12-01 07:00 (Asia/Seoul)".
pub fn window_line(briefing: &Briefing, zone: Tz) -> String {
    let format =
        |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&zone).format("%m-%d %H:%M").to_string();
    let capped = if briefing.window.capped {
        " (capped by lookback)"
    } else {
        ""
    };
    format!(
        "Window: {} – {} ({zone}){capped} · {} · model {}",
        format(briefing.window.start),
        format(briefing.window.end),
        items(briefing.stats.items_new + briefing.stats.items_updated),
        briefing.stats.model
    )
}

/// One line per source: its health, items, caps and what to fix.
pub fn source_lines(briefing: &Briefing) -> Vec<String> {
    briefing
        .sources
        .iter()
        .map(|report| {
            let status = match report.status {
                Health::Ok => "ok",
                Health::Partial => "partly failed",
                Health::Failed => "FAILED",
                Health::Skipped => "not configured",
            };
            let mut line = format!(
                "{}: {status}, {}",
                report.source.name(),
                items(report.items)
            );
            if let Some(note) = &report.note {
                line.push_str(&format!(" ({})", one_line(note)));
            }
            if let Some(error) = &report.error {
                line.push_str(&format!(" — {}", one_line(error)));
            }
            line
        })
        .chain(
            briefing
                .warnings
                .iter()
                .map(|w| format!("Warning: {}", one_line(w))),
        )
        .collect()
}

/// "1 item", "3 items".
fn items(n: usize) -> String {
    if n == 1 {
        "1 item".into()
    } else {
        format!("{n} items")
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The page's blocks: a warning when degraded, one heading and its bullets per section, the
/// sources at the end.
pub fn notion_blocks(briefing: &Briefing, zone: Tz) -> Vec<Value> {
    let mut blocks = vec![block("paragraph", rich(&window_line(briefing, zone), None))];
    if let Some(reason) = &briefing.degraded_reason {
        blocks.push(json!({
            "object": "block", "type": "callout",
            "callout": {"rich_text": rich(&format!("Degraded: {reason}"), None), "icon": {"type": "emoji", "emoji": "⚠️"}}
        }));
    }
    let mut any = false;
    for section in briefing.sections.iter().filter(|s| !s.bullets.is_empty()) {
        any = true;
        blocks.push(block("heading_2", rich(&section.heading, None)));
        for bullet in &section.bullets {
            let update = if bullet.update { "Update: " } else { "" };
            let mut text = rich(&format!("{update}{} ", one_line(&bullet.text)), None);
            for (n, link) in bullet.links.iter().take(LINKS_PER_BULLET).enumerate() {
                if n > 0 {
                    text.extend(rich(", ", None));
                }
                let url = (link.url.len() <= 2000).then_some(link.url.as_str());
                text.extend(rich(&link.label, url));
            }
            blocks.push(block("bulleted_list_item", text));
        }
    }
    if !any {
        blocks.push(block(
            "paragraph",
            rich("Nothing new since the last briefing.", None),
        ));
    }
    blocks.push(block("heading_3", rich("Sources", None)));
    for line in source_lines(briefing) {
        blocks.push(block("bulleted_list_item", rich(&line, None)));
    }
    blocks
}

fn block(kind: &str, rich_text: Vec<Value>) -> Value {
    json!({"object": "block", "type": kind, kind: {"rich_text": rich_text}})
}

/// Rich-text items for `text`, cut into pieces Notion accepts, each linked to `url` if given.
pub fn rich(text: &str, url: Option<&str>) -> Vec<Value> {
    pieces(text, RICH_TEXT_UNITS)
        .into_iter()
        .map(|piece| match url {
            Some(url) => json!({"type": "text", "text": {"content": piece, "link": {"url": url}}}),
            None => json!({"type": "text", "text": {"content": piece}}),
        })
        .collect()
}

/// `text` cut into pieces of at most `units` UTF-16 code units, never inside a character.
fn pieces(text: &str, units: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut used = 0;
    for c in text.chars() {
        if used + c.len_utf16() > units {
            out.push(std::mem::take(&mut current));
            used = 0;
        }
        used += c.len_utf16();
        current.push(c);
    }
    if !current.is_empty() || out.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_under_notions_limit_without_splitting_characters() {
        let text = format!("{}{}", "가".repeat(1899), "😀".repeat(3));
        let parts = pieces(&text, RICH_TEXT_UNITS);
        assert_eq!(parts.len(), 2);
        assert!(
            parts
                .iter()
                .all(|p| p.encode_utf16().count() <= RICH_TEXT_UNITS)
        );
        assert_eq!(parts.concat(), text);
        assert_eq!(pieces("", 10), [""]);
    }
}
