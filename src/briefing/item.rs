//! What the collectors produce: items with stable ids and links built from those ids, and a
//! health report per source.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an item came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Slack,
    Gmail,
    Notion,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Slack => "Slack",
            Source::Gmail => "Gmail",
            Source::Notion => "Notion",
        }
    }

    /// The letter of the short ids the model cites (`S3`, `G1`, `N2`).
    pub fn letter(self) -> char {
        match self {
            Source::Slack => 'S',
            Source::Gmail => 'G',
            Source::Notion => 'N',
        }
    }
}

/// Whether the person has seen this item in an earlier briefing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Freshness {
    #[default]
    New,
    /// Briefed before and changed since (a thread with new replies, an edited page).
    Updated,
}

/// What ranking looks at, decided by the collector from the source's own fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    /// Mentions the person (`<@U…>` in Slack) or is addressed to them.
    pub mentions_me: bool,
    /// Asks something (a question mark, "?" in Korean too, or a request word).
    pub question: bool,
    /// Replies in its thread.
    pub replies: u32,
    /// Gmail: unread or marked important.
    pub flagged: bool,
}

/// One thing that happened: a Slack message or thread, a mail, an edited page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Stable across runs: `slack:C123:1717300000.000100`, `gmail:<id>`, `notion:<uuid>`.
    pub id: String,
    pub source: Source,
    /// Built from the ids, never taken from model text.
    pub url: String,
    /// `#dev`, a mail's subject, a page's title.
    pub title: String,
    pub author: String,
    pub at: DateTime<Utc>,
    /// What the model may see, as the source's `content` setting allows.
    pub text: String,
    /// Characters of the whole text before `content` cut it: what "raw tokens" counts.
    pub raw_chars: usize,
    /// Changes when the item changes (a new reply, an edit); the ledger compares it.
    pub version: String,
    pub signals: Signals,
    #[serde(default)]
    pub freshness: Freshness,
}

/// How a source fared in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Ok,
    /// Some of it failed (one channel, some pages): the rest is in the briefing.
    Partial,
    Failed,
    /// Not configured in the job file.
    Skipped,
}

/// One source's report, stored with the run and shown on the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceReport {
    pub source: Source,
    pub status: Health,
    /// Items it produced.
    pub items: usize,
    /// What went wrong and how to fix it, when something did.
    pub error: Option<String>,
    /// Caps that cut the source, in words ("#dev: 200 of 612+ messages").
    pub note: Option<String>,
    pub requests: u32,
    pub rate_limited: u32,
    pub ms: u64,
}
