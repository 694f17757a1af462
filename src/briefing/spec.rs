//! What a briefing job's file asks for, validated: sources, publishers and the model budget.
//! Built by `job_file::briefing`; serialised into the job's definition (so a change to any
//! of it is a change of the job).

use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::duration;

/// The window's cap when the job file sets no `lookback`.
pub const DEFAULT_LOOKBACK: Duration = Duration::from_secs(36 * 3600);
/// The model server's context size assumed when it cannot be asked and the job sets none.
pub const DEFAULT_CONTEXT_TOKENS: u32 = 8192;
/// Tokens the model may write per call when the job sets no `max_tokens`.
pub const DEFAULT_MAX_TOKENS: u32 = 1200;
/// The page title when `[agent.publish.notion]` sets none.
pub const DEFAULT_TITLE: &str = "Daily Briefing {{date}}";

/// What of an item may reach the model (and is kept with the run for replays).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Content {
    /// Who, where and when, and the title; no body text.
    Metadata,
    /// The first few hundred characters.
    Snippet,
    /// The whole text (still within the model budget, which says when it cuts).
    Full,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlackSource {
    /// Channel names (without `#`) or ids, as written.
    pub channels: Vec<String>,
    pub threads: bool,
    pub content: Content,
    /// Messages per channel.
    pub max_items: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GmailSource {
    /// Gmail search terms; the window (`after:` / `before:`) is added by us.
    pub query: String,
    pub content: Content,
    pub max_items: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotionSource {
    /// Data sources (tables) to query as well as the workspace search; ids with dashes.
    pub data_sources: Vec<String>,
    pub content: Content,
    pub max_items: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotionPublish {
    /// The page the briefings are created under, as a dashed UUID.
    pub parent_page: String,
    /// A template like the prompt.
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlackPublish {
    /// A channel name (`#ops` or `ops`) or id.
    pub channel: String,
}

/// `kind = "agent"`, `orchestrator = "briefing"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BriefingTask {
    /// `None` means `BACKOFFICE_LLM_MODEL`, else the built-in default.
    pub model: Option<String>,
    /// The user's instructions, a template.
    pub prompt: String,
    pub temperature: f64,
    pub max_tokens: u32,
    #[serde(serialize_with = "serialize_duration")]
    pub lookback: Duration,
    /// The server's context size when the server cannot be asked.
    pub context_tokens: Option<u32>,
    pub slack: Option<SlackSource>,
    pub gmail: Option<GmailSource>,
    pub notion: Option<NotionSource>,
    pub publish_notion: Option<NotionPublish>,
    pub publish_slack: Option<SlackPublish>,
}

fn serialize_duration<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&duration::format(*value))
}

/// A Notion id in the form the API returns (8-4-4-4-12, lower case), from what a person
/// copies: a bare 32-digit id, a dashed one, or a page URL ending in the id.
pub fn notion_id(text: &str) -> Option<String> {
    let text = text.trim();
    let tail = text
        .split(['?', '#'])
        .next()
        .unwrap_or(text)
        .trim_end_matches('/');
    let tail = tail.rsplit(['/', '-']).next().unwrap_or(tail);
    let candidate: String = if tail.len() == 32 {
        tail.to_string()
    } else {
        text.chars().filter(|c| *c != '-').collect()
    };
    if candidate.len() != 32 || !candidate.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let hex = candidate.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

#[cfg(test)]
mod tests {
    use super::notion_id;

    #[test]
    fn notion_ids_are_read_in_every_form_people_paste() {
        let dashed = "2f1e5c0b-8d9a-4e7f-9b3c-1a2d4e6f8a0b";
        for form in [
            "2f1e5c0b8d9a4e7f9b3c1a2d4e6f8a0b",
            "2F1E5C0B-8D9A-4E7F-9B3C-1A2D4E6F8A0B",
            "https://www.notion.so/team/Briefings-2f1e5c0b8d9a4e7f9b3c1a2d4e6f8a0b",
            "https://www.notion.so/Briefings-2f1e5c0b8d9a4e7f9b3c1a2d4e6f8a0b?pvs=4",
        ] {
            assert_eq!(notion_id(form).as_deref(), Some(dashed), "{form}");
        }
        for bad in [
            "",
            "2f1e5c0b",
            "zz1e5c0b8d9a4e7f9b3c1a2d4e6f8a0b",
            "https://www.notion.so/Briefings",
        ] {
            assert_eq!(notion_id(bad), None, "{bad}");
        }
    }
}
