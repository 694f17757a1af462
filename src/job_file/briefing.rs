//! Stage two for `orchestrator = "briefing"`: sources, publishers and the model budget.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{Checker, DEFAULT_TEMPERATURE, RawAgent};
use crate::briefing::spec::{
    BriefingTask, Content, DEFAULT_CONTEXT_TOKENS, DEFAULT_LOOKBACK, DEFAULT_MAX_TOKENS,
    DEFAULT_TITLE, GmailSource, NotionPublish, NotionSource, SlackPublish, SlackSource, notion_id,
};
use crate::job::Task;

/// Default caps per source: what a morning's reading holds, and what the model can take.
const SLACK_MAX_ITEMS: u32 = 200;
const GMAIL_MAX_ITEMS: u32 = 100;
const NOTION_MAX_ITEMS: u32 = 50;
/// No source may ask for more than this: the collectors page through it within the timeout.
const MAX_ITEMS_CAP: i64 = 2000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSources {
    slack: Option<Spanned<RawSlack>>,
    gmail: Option<Spanned<RawGmail>>,
    notion: Option<Spanned<RawNotion>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlack {
    channels: Option<Spanned<Vec<Spanned<String>>>>,
    threads: Option<Spanned<bool>>,
    content: Option<Spanned<String>>,
    max_items: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGmail {
    query: Option<Spanned<String>>,
    content: Option<Spanned<String>>,
    max_items: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotion {
    data_sources: Option<Spanned<Vec<Spanned<String>>>>,
    content: Option<Spanned<String>>,
    max_items: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPublish {
    notion: Option<Spanned<RawNotionPublish>>,
    slack: Option<Spanned<RawSlackPublish>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotionPublish {
    parent_page: Option<Spanned<String>>,
    title: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlackPublish {
    channel: Option<Spanned<String>>,
}

/// Validates the `[agent]` section of a briefing job.
pub(super) fn validate(checker: &mut Checker<'_>, agent: &RawAgent, at: usize) -> Option<Task> {
    let prompt = checker.required(&agent.prompt, "agent.prompt");
    if let Some(prompt) = prompt {
        if prompt.get_ref().trim().is_empty() {
            checker.error(
                prompt.span().start,
                Some("agent.prompt"),
                "must not be empty",
            );
        }
        checker.template(prompt, "agent.prompt");
    }
    let model = super::model(checker, &agent.model);
    let temperature = super::temperature(checker, &agent.temperature);
    let max_tokens = super::max_tokens(checker, &agent.max_tokens).unwrap_or(DEFAULT_MAX_TOKENS);
    let lookback = checker.duration(
        &agent.lookback,
        "agent.lookback",
        DEFAULT_LOOKBACK,
        (
            Duration::from_secs(3600),
            Duration::from_secs(14 * 24 * 3600),
        ),
    );
    let context_tokens = agent.context_tokens.as_ref().and_then(|value| {
        match u32::try_from(*value.get_ref()) {
            Ok(n) if (1024..=1_048_576).contains(&n) && n > max_tokens * 2 => Some(n),
            _ => {
                checker.error(
                    value.span().start,
                    Some("agent.context_tokens"),
                    format!(
                        "`{}` is out of range: use 1024 to 1048576, and more than twice `agent.max_tokens` ({max_tokens}); default {DEFAULT_CONTEXT_TOKENS}",
                        value.get_ref()
                    ),
                );
                None
            }
        }
    });
    let (slack, gmail, notion) = match &agent.sources {
        Some(sources) => {
            let raw = sources.get_ref();
            if raw.slack.is_none() && raw.gmail.is_none() && raw.notion.is_none() {
                checker.error(
                    sources.span().start,
                    Some("agent.sources"),
                    "names no source; add [agent.sources.slack], [agent.sources.gmail] or [agent.sources.notion]",
                );
            }
            (
                raw.slack.as_ref().and_then(|s| slack(checker, s)),
                raw.gmail.as_ref().map(|g| gmail(checker, g.get_ref())),
                raw.notion.as_ref().map(|n| notion(checker, n.get_ref())),
            )
        }
        None => {
            checker.error(
                at,
                Some("agent.sources"),
                "a briefing needs at least one source: add [agent.sources.slack], [agent.sources.gmail] or [agent.sources.notion]",
            );
            (None, None, None)
        }
    };
    let (publish_notion, publish_slack) = match &agent.publish {
        Some(publish) => {
            let raw = publish.get_ref();
            (
                raw.notion.as_ref().and_then(|n| notion_publish(checker, n)),
                raw.slack.as_ref().and_then(|s| slack_publish(checker, s)),
            )
        }
        None => (None, None),
    };
    Some(Task::Briefing(Box::new(BriefingTask {
        model,
        prompt: prompt?.get_ref().clone(),
        temperature: temperature.unwrap_or(DEFAULT_TEMPERATURE),
        max_tokens,
        lookback,
        context_tokens,
        slack,
        gmail,
        notion,
        publish_notion,
        publish_slack,
    })))
}

fn content(
    checker: &mut Checker<'_>,
    value: &Option<Spanned<String>>,
    field: &str,
    default: Content,
) -> Content {
    checker.choice(
        value,
        field,
        default,
        &[
            ("metadata", Content::Metadata),
            ("snippet", Content::Snippet),
            ("full", Content::Full),
        ],
    )
}

fn max_items(
    checker: &mut Checker<'_>,
    value: &Option<Spanned<i64>>,
    field: &str,
    default: u32,
) -> u32 {
    let Some(value) = value else { return default };
    match u32::try_from(*value.get_ref()) {
        Ok(n) if n >= 1 && i64::from(n) <= MAX_ITEMS_CAP => n,
        _ => {
            checker.error(
                value.span().start,
                Some(field),
                format!(
                    "`{}` is out of range: use 1 to {MAX_ITEMS_CAP}",
                    value.get_ref()
                ),
            );
            default
        }
    }
}

fn slack(checker: &mut Checker<'_>, raw: &Spanned<RawSlack>) -> Option<SlackSource> {
    let section = raw.span().start;
    let raw = raw.get_ref();
    let mut channels = Vec::new();
    match &raw.channels {
        None => checker.error(
            section,
            Some("agent.sources.slack.channels"),
            "missing required field `channels`: list the channels to read, e.g. channels = [\"general\", \"dev\"]",
        ),
        Some(list) if list.get_ref().is_empty() => checker.error(
            list.span().start,
            Some("agent.sources.slack.channels"),
            "must name at least one channel, e.g. channels = [\"general\", \"dev\"]",
        ),
        Some(list) => {
            for channel in list.get_ref() {
                let name = channel.get_ref().trim().trim_start_matches('#');
                let valid = !name.is_empty()
                    && name.chars().count() <= 80
                    && name
                        .chars()
                        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
                if !valid {
                    checker.error(
                        channel.span().start,
                        Some("agent.sources.slack.channels"),
                        format!(
                            "`{}` is not a Slack channel name or id (letters, digits, '-', '_' and '.', at most 80)",
                            channel.get_ref()
                        ),
                    );
                } else if channels.iter().any(|c| c == name) {
                    checker.error(
                        channel.span().start,
                        Some("agent.sources.slack.channels"),
                        format!("`{name}` is listed twice"),
                    );
                } else {
                    channels.push(name.to_string());
                }
            }
        }
    }
    let source = SlackSource {
        channels,
        threads: raw.threads.as_ref().is_none_or(|t| *t.get_ref()),
        content: content(
            checker,
            &raw.content,
            "agent.sources.slack.content",
            Content::Full,
        ),
        max_items: max_items(
            checker,
            &raw.max_items,
            "agent.sources.slack.max_items",
            SLACK_MAX_ITEMS,
        ),
    };
    (!source.channels.is_empty()).then_some(source)
}

fn gmail(checker: &mut Checker<'_>, raw: &RawGmail) -> GmailSource {
    let query = raw.query.as_ref().map_or(String::new(), |q| {
        let text = q.get_ref().trim();
        if text.contains("after:") || text.contains("before:") || text.contains("newer_than:") || text.contains("older_than:") {
            checker.error(
                q.span().start,
                Some("agent.sources.gmail.query"),
                "leave the time out of the query: the window (after:/before:) is added from the last briefing",
            );
        }
        if text.chars().count() > 1000 || text.chars().any(char::is_control) {
            checker.error(
                q.span().start,
                Some("agent.sources.gmail.query"),
                "must be one line of at most 1000 characters",
            );
        }
        text.to_string()
    });
    GmailSource {
        query,
        content: content(
            checker,
            &raw.content,
            "agent.sources.gmail.content",
            Content::Snippet,
        ),
        max_items: max_items(
            checker,
            &raw.max_items,
            "agent.sources.gmail.max_items",
            GMAIL_MAX_ITEMS,
        ),
    }
}

fn notion(checker: &mut Checker<'_>, raw: &RawNotion) -> NotionSource {
    let mut data_sources = Vec::new();
    if let Some(list) = &raw.data_sources {
        for id in list.get_ref() {
            match notion_id(id.get_ref()) {
                Some(id) => data_sources.push(id),
                None => checker.error(
                    id.span().start,
                    Some("agent.sources.notion.data_sources"),
                    format!(
                        "`{}` is not a Notion id: copy the 32-character id from the data source's URL",
                        id.get_ref()
                    ),
                ),
            }
        }
    }
    NotionSource {
        data_sources,
        content: content(
            checker,
            &raw.content,
            "agent.sources.notion.content",
            Content::Snippet,
        ),
        max_items: max_items(
            checker,
            &raw.max_items,
            "agent.sources.notion.max_items",
            NOTION_MAX_ITEMS,
        ),
    }
}

fn notion_publish(
    checker: &mut Checker<'_>,
    raw: &Spanned<RawNotionPublish>,
) -> Option<NotionPublish> {
    let section = raw.span().start;
    let raw = raw.get_ref();
    let title = match &raw.title {
        Some(title) => {
            if title.get_ref().trim().is_empty() {
                checker.error(
                    title.span().start,
                    Some("agent.publish.notion.title"),
                    "must not be empty",
                );
            }
            checker.template(title, "agent.publish.notion.title");
            let compact: String = title
                .get_ref()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            if !compact.contains("{{date}}") {
                checker.error(
                    title.span().start,
                    Some("agent.publish.notion.title"),
                    "must contain {{date}}: the page of each day is found again by its title",
                );
            }
            title.get_ref().clone()
        }
        None => DEFAULT_TITLE.to_string(),
    };
    let Some(parent) = &raw.parent_page else {
        checker.error(
            section,
            Some("agent.publish.notion.parent_page"),
            "missing required field `parent_page`: the id of the Notion page the briefings go under (shared with the integration)",
        );
        return None;
    };
    let Some(parent_page) = notion_id(parent.get_ref()) else {
        checker.error(
            parent.span().start,
            Some("agent.publish.notion.parent_page"),
            format!(
                "`{}` is not a Notion page id: copy the 32-character id at the end of the page's URL",
                parent.get_ref()
            ),
        );
        return None;
    };
    Some(NotionPublish { parent_page, title })
}

fn slack_publish(
    checker: &mut Checker<'_>,
    raw: &Spanned<RawSlackPublish>,
) -> Option<SlackPublish> {
    let section = raw.span().start;
    match &raw.get_ref().channel {
        None => {
            checker.error(
                section,
                Some("agent.publish.slack.channel"),
                "missing required field `channel`, e.g. channel = \"#briefings\"",
            );
            None
        }
        Some(channel) => {
            let name = channel.get_ref().trim();
            let bare = name.trim_start_matches('#');
            if bare.is_empty()
                || !bare
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                checker.error(
                    channel.span().start,
                    Some("agent.publish.slack.channel"),
                    format!("`{name}` is not a Slack channel name or id"),
                );
                return None;
            }
            Some(SlackPublish {
                channel: bare.to_string(),
            })
        }
    }
}
