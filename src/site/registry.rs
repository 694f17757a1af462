//! The Context Registry's page (`registry.html`, its pages of sessions, `registry.json`):
//! per channel sessions, messages and 30 days of activity; which clients read which
//! clients' conversations; the most recently active sessions. Titles and counts only, never
//! a message; with `--site-registry counts`, not even titles.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::svg;
use super::views::{Layout, PageLink, registry_view};
use crate::display::{relative, size};
use crate::registry::activity::{Activity, CallCount, DAYS};
use crate::registry::stats::RegistryStats;

/// Sessions per page.
pub const PER_PAGE: usize = 50;
/// Sessions listed at most (older ones are a `list_sessions` call away).
pub const LISTED: usize = 1000;

/// Site path of sessions page `n` (1 is `registry.html`).
pub fn page_path(n: usize) -> String {
    if n <= 1 {
        "registry.html".into()
    } else {
        format!("registry/{n}.html")
    }
}

/// One channel's row.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelRow {
    pub channel: String,
    pub sessions: u64,
    pub messages: u64,
    pub last_activity: Option<String>,
    /// Messages in the last 30 days.
    pub month: u64,
    /// `1 message`, `12 messages`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub month_text: String,
    pub chart: String,
    /// Oldest first, for `registry.json`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<DayCount>,
}

/// Messages on one UTC day.
#[derive(Debug, Clone, Serialize)]
pub struct DayCount {
    pub day: String,
    pub messages: u64,
}

/// How often one client used another client's conversations.
#[derive(Debug, Clone, Serialize)]
pub struct SharedRow {
    pub caller: String,
    pub served: String,
    /// `get_session` calls that read a conversation of `served`.
    pub reads_week: u64,
    pub reads_month: u64,
    /// `extract` calls whose hits included conversations of `served`.
    pub finds_week: u64,
    pub finds_month: u64,
    /// "claude-desktop continued cursor conversations 12 times this week".
    pub sentence: String,
}

/// Calls of one tool by one channel.
#[derive(Debug, Clone, Serialize)]
pub struct ToolRow {
    pub tool: String,
    pub caller: String,
    pub week: u64,
    pub month: u64,
}

/// One session: title (unless hidden), channel, workspace, counts and times.
#[derive(Debug, Clone, Serialize)]
pub struct SessionRow {
    pub session_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub channel: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    pub messages: u64,
    pub first_activity: Option<String>,
    pub last_activity: Option<String>,
}

/// The page's data; `registry.json` is the same without the layout, charts and paging.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryPage {
    pub layout: Layout,
    pub sessions: u64,
    pub messages: u64,
    pub size: String,
    pub last_activity: Option<String>,
    pub titles: bool,
    pub channels: Vec<ChannelRow>,
    pub shared: Vec<SharedRow>,
    pub tools: Vec<ToolRow>,
    pub recent: Vec<SessionRow>,
    pub listed: usize,
    pub pages: Vec<PageLink>,
    pub page: usize,
    /// Whether `cards.html` exists (some card was made).
    pub cards: bool,
}

/// `registry.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryJson {
    pub generated_at: DateTime<Utc>,
    pub titles: bool,
    pub sessions: u64,
    pub messages: u64,
    pub db_bytes: u64,
    pub channels: Vec<ChannelRow>,
    pub cross_client: Vec<SharedRow>,
    pub tool_calls: Vec<CallCount>,
    pub recent: Vec<SessionRow>,
}

/// Every sessions page, with its path, and the JSON twin.
pub fn pages(
    stats: &RegistryStats,
    activity: &Activity,
    titles: bool,
    now: DateTime<Utc>,
) -> (Vec<(String, RegistryPage)>, RegistryJson) {
    let day_names: Vec<String> = (0..DAYS)
        .map(|back| {
            (now - Duration::days((DAYS - 1 - back) as i64))
                .format("%Y-%m-%d")
                .to_string()
        })
        .collect();
    let tile = registry_view(stats, now);
    let channels: Vec<ChannelRow> = stats
        .channels
        .iter()
        .zip(&tile.channels)
        .map(|(channel, shown)| {
            let counts = activity
                .daily
                .get(&channel.channel)
                .cloned()
                .unwrap_or_else(|| vec![0; DAYS]);
            ChannelRow {
                channel: channel.channel.clone(),
                sessions: channel.sessions,
                messages: channel.messages,
                last_activity: shown.last_activity.clone(),
                month: counts.iter().sum(),
                month_text: match counts.iter().sum::<u64>() {
                    1 => "1 message".into(),
                    n => format!("{n} messages"),
                },
                chart: svg::day_bars(&counts, &day_names, "messages", "in the last"),
                days: day_names
                    .iter()
                    .zip(&counts)
                    .map(|(day, messages)| DayCount {
                        day: day.clone(),
                        messages: *messages,
                    })
                    .collect(),
            }
        })
        .collect();
    let shared = shared_rows(&activity.calls);
    let tools = tool_rows(&activity.calls);
    let recent: Vec<SessionRow> = activity
        .recent
        .iter()
        .map(|s| SessionRow {
            session_id: s.session_id.clone(),
            title: s.title.clone().filter(|_| titles),
            channel: s.channel.clone(),
            workspace: s.workspace.clone().filter(|_| titles),
            messages: s.message_count,
            first_activity: s.first_activity.as_deref().map(|at| shown_time(at, now)),
            last_activity: s.last_activity.as_deref().map(|at| shown_time(at, now)),
        })
        .collect();
    let count = recent.len().div_ceil(PER_PAGE).max(1);
    let links = |current: usize| -> Vec<PageLink> {
        if count == 1 {
            return Vec::new();
        }
        (1..=count)
            .map(|n| PageLink {
                href: page_path(n),
                label: format!(
                    "{}–{}",
                    (n - 1) * PER_PAGE + 1,
                    (n * PER_PAGE).min(recent.len())
                ),
                current: n == current,
            })
            .collect()
    };
    let pages = (1..=count)
        .map(|n| {
            let path = page_path(n);
            let page = RegistryPage {
                layout: Layout::new("Context Registry", &path, "registry", now),
                sessions: stats.sessions,
                messages: stats.messages,
                size: size(stats.db_bytes),
                last_activity: stats.last_activity.map(|at| relative(at, now)),
                titles,
                channels: channels
                    .iter()
                    .map(|c| ChannelRow {
                        days: Vec::new(),
                        ..c.clone()
                    })
                    .collect(),
                shared: shared.clone(),
                tools: tools.clone(),
                recent: recent
                    .iter()
                    .skip((n - 1) * PER_PAGE)
                    .take(PER_PAGE)
                    .cloned()
                    .collect(),
                listed: recent.len(),
                pages: links(n),
                page: n,
                cards: false,
            };
            (path, page)
        })
        .collect();
    let json = RegistryJson {
        generated_at: now,
        titles,
        sessions: stats.sessions,
        messages: stats.messages,
        db_bytes: stats.db_bytes,
        channels: channels
            .into_iter()
            .map(|c| ChannelRow {
                chart: String::new(),
                month_text: String::new(),
                ..c
            })
            .collect(),
        cross_client: shared,
        tool_calls: activity.calls.clone(),
        recent,
    };
    (pages, json)
}

/// Cross-client figures: calls where a client got another client's conversations.
fn shared_rows(calls: &[CallCount]) -> Vec<SharedRow> {
    let mut rows: Vec<SharedRow> = Vec::new();
    for call in calls.iter().filter(|c| c.caller != c.served) {
        let index = match rows
            .iter()
            .position(|r| r.caller == call.caller && r.served == call.served)
        {
            Some(index) => index,
            None => {
                rows.push(SharedRow {
                    caller: call.caller.clone(),
                    served: call.served.clone(),
                    reads_week: 0,
                    reads_month: 0,
                    finds_week: 0,
                    finds_month: 0,
                    sentence: String::new(),
                });
                rows.len() - 1
            }
        };
        let row = &mut rows[index];
        match call.tool.as_str() {
            "get_session" => {
                row.reads_week += call.week;
                row.reads_month += call.month;
            }
            "extract" => {
                row.finds_week += call.week;
                row.finds_month += call.month;
            }
            _ => {}
        }
    }
    rows.retain(|r| r.reads_month + r.finds_month > 0);
    for row in &mut rows {
        let mut parts = Vec::new();
        if row.reads_month > 0 {
            parts.push(format!(
                "continued {} conversations {} this week ({} in {DAYS} days)",
                row.served,
                times(row.reads_week),
                row.reads_month
            ));
        }
        if row.finds_month > 0 {
            parts.push(format!(
                "found them in searches {} this week ({} in {DAYS} days)",
                times(row.finds_week),
                row.finds_month
            ));
        }
        if row.reads_month == 0 {
            // "them" needs its noun when there were only searches.
            if let Some(first) = parts.first_mut() {
                *first = first.replacen("them", &format!("{} conversations", row.served), 1);
            }
        }
        row.sentence = format!("{} {}", row.caller, parts.join(", and "));
    }
    rows.sort_by(|a, b| {
        (b.reads_month + b.finds_month)
            .cmp(&(a.reads_month + a.finds_month))
            .then_with(|| a.caller.cmp(&b.caller))
            .then_with(|| a.served.cmp(&b.served))
    });
    rows
}

/// Calls per tool and calling channel, whatever they were served.
fn tool_rows(calls: &[CallCount]) -> Vec<ToolRow> {
    let mut rows: Vec<ToolRow> = Vec::new();
    for call in calls {
        match rows
            .iter_mut()
            .find(|r| r.tool == call.tool && r.caller == call.caller)
        {
            Some(row) => {
                row.week += call.week;
                row.month += call.month;
            }
            None => rows.push(ToolRow {
                tool: call.tool.clone(),
                caller: call.caller.clone(),
                week: call.week,
                month: call.month,
            }),
        }
    }
    rows.sort_by(|a, b| b.month.cmp(&a.month).then_with(|| a.tool.cmp(&b.tool)));
    rows
}

fn times(count: u64) -> String {
    match count {
        0 => "not once".into(),
        1 => "once".into(),
        n => format!("{n} times"),
    }
}

/// An RFC 3339 time as `2026-12-01 09:30 UTC (3 hours ago)`.
fn shown_time(at: &str, now: DateTime<Utc>) -> String {
    match DateTime::parse_from_rfc3339(at) {
        Ok(parsed) => {
            let utc = parsed.with_timezone(&Utc);
            format!(
                "{} ({})",
                utc.format("%Y-%m-%d %H:%M UTC"),
                relative(utc, now)
            )
        }
        Err(_) => at.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(tool: &str, caller: &str, served: &str, week: u64, month: u64) -> CallCount {
        CallCount {
            tool: tool.into(),
            caller: caller.into(),
            served: served.into(),
            week,
            month,
        }
    }

    #[test]
    fn cross_client_use_leaves_out_a_client_reading_its_own() {
        let calls = [
            call("get_session", "claude-desktop", "cursor", 12, 30),
            call("extract", "claude-desktop", "cursor", 1, 4),
            call("get_session", "cursor", "cursor", 50, 90),
            call("conversation_log", "cursor", "cursor", 70, 100),
        ];
        let shared = shared_rows(&calls);
        assert_eq!(shared.len(), 1);
        assert_eq!((shared[0].reads_week, shared[0].finds_month), (12, 4));
        assert!(
            shared[0]
                .sentence
                .starts_with("claude-desktop continued cursor conversations 12 times this week"),
            "{}",
            shared[0].sentence
        );
        let tools = tool_rows(&calls);
        assert_eq!(tools[0].tool, "conversation_log");
        assert_eq!(tools.len(), 4);
    }

    #[test]
    fn sessions_are_paged_and_titles_can_be_hidden() {
        let now = Utc::now();
        let stats = RegistryStats {
            sessions: 120,
            messages: 240,
            channels: Vec::new(),
            db_bytes: 1,
            last_activity: None,
        };
        let activity = Activity {
            recent: (0..120)
                .map(|i| crate::registry::store::SessionSummary {
                    session_id: format!("s{i}"),
                    channel: "cursor".into(),
                    title: Some(format!("secret plan {i}")),
                    workspace: Some("/home/me/project".into()),
                    first_activity: None,
                    last_activity: Some(now.to_rfc3339()),
                    message_count: 2,
                })
                .collect(),
            ..Activity::default()
        };
        let (pages, json) = super::pages(&stats, &activity, false, now);
        let paths: Vec<&str> = pages.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            ["registry.html", "registry/2.html", "registry/3.html"]
        );
        assert_eq!(pages[2].1.recent.len(), 20);
        assert_eq!(pages[1].1.layout.root, "../");
        let text = serde_json::to_string(&json).expect("json");
        assert!(
            !text.contains("secret plan") && !text.contains("/home/me"),
            "{text}"
        );
        let (shown, _) = super::pages(&stats, &activity, true, now);
        assert_eq!(shown[0].1.recent[0].title.as_deref(), Some("secret plan 0"));
    }
}
