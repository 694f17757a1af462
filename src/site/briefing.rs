//! A briefing run on the status site: its sections with their source links, and the health
//! of each source, read from the record stored with the run. Links pass the same http(s)
//! check as run links; everything else is text, escaped by the templates.

use serde::Serialize;

use super::views::is_web_link;
use crate::briefing::record::Briefing;
use crate::briefing::render::{source_lines, window_line};

#[derive(Debug, Clone, Serialize)]
pub struct BriefingView {
    pub title: String,
    pub window: String,
    pub degraded: Option<String>,
    pub page: Option<String>,
    pub sections: Vec<SectionView>,
    pub sources: Vec<String>,
    /// "3 claims dropped · 2 calls · strategy single · prompt 1a2b…".
    pub figures: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SectionView {
    pub heading: String,
    pub bullets: Vec<BulletView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BulletView {
    pub text: String,
    pub update: bool,
    pub links: Vec<LinkView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    pub label: String,
    pub url: String,
}

/// The view of a stored record, or `None` when it cannot be read (an older or damaged one
/// is left off the page rather than failing the site).
pub fn view(record: &str, zone: chrono_tz::Tz) -> Option<BriefingView> {
    let briefing: Briefing = serde_json::from_str(record).ok()?;
    let stats = &briefing.stats;
    Some(BriefingView {
        title: briefing.title.clone(),
        window: window_line(&briefing, zone),
        degraded: briefing.degraded_reason.clone(),
        page: briefing
            .page
            .as_ref()
            .map(|p| p.url.clone())
            .filter(|u| is_web_link(u)),
        sections: briefing
            .sections
            .iter()
            .filter(|s| !s.bullets.is_empty())
            .map(|s| SectionView {
                heading: s.heading.clone(),
                bullets: s
                    .bullets
                    .iter()
                    .map(|b| BulletView {
                        text: b.text.clone(),
                        update: b.update,
                        links: b
                            .links
                            .iter()
                            .filter(|l| is_web_link(&l.url))
                            .map(|l| LinkView {
                                label: l.label.clone(),
                                url: l.url.clone(),
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
        sources: source_lines(&briefing),
        figures: format!(
            "{} claims dropped · {} model calls ({}) · {} of {} raw tokens sent · context {} ({}) · prompt {}",
            stats.claims_dropped,
            stats.calls.len(),
            stats.strategy,
            stats.sent_tokens,
            stats.raw_tokens,
            stats.context_tokens,
            stats.context_source,
            stats.prompt_hash
        ),
    })
}
