//! Slack → items: one item per top-level message in the window, its thread's replies in
//! the window folded into it, names resolved once per run, permalinks built from ids.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream;
use tokio::time::Instant;

use super::{Gathered, concurrency, slack_ts, snippet, snippet_chars};
use crate::briefing::item::{Freshness, Item, Signals, Source};
use crate::briefing::select::asks;
use crate::briefing::spec::{Content, SlackSource};
use crate::briefing::window::Window;
use crate::connectors::Connectors;
use crate::connectors::call::ApiError;
use crate::connectors::slack::{Channel, Message, Slack};

/// Message subtypes that are the system talking, not people.
const NOISE_SUBTYPES: &[&str] = &[
    "channel_join",
    "channel_leave",
    "channel_topic",
    "channel_purpose",
    "channel_name",
    "channel_archive",
    "channel_unarchive",
    "bot_message",
    "bot_add",
    "bot_remove",
    "pinned_item",
    "reminder_add",
];
/// A channel's messages in the window and whether there were more, or why not.
type History = Result<(Vec<Message>, bool), ApiError>;

/// Replies read per thread.
const REPLIES_PER_THREAD: usize = 50;

pub(super) async fn collect(
    source: &SlackSource,
    connectors: &Connectors,
    window: &Window,
    known_threads: &[(String, String)],
    deadline: Instant,
) -> Gathered {
    let slack = match Slack::new(&connectors.http, &connectors.slack, deadline) {
        Ok(slack) => slack,
        Err(error) => return Gathered::failed(error, None),
    };
    let outcome = gather(&slack, source, window, known_threads).await;
    Gathered::metered(outcome, &slack.meter)
}

async fn gather(
    slack: &Slack<'_>,
    source: &SlackSource,
    window: &Window,
    known_threads: &[(String, String)],
) -> Result<Gathered, ApiError> {
    let me = slack.identity().await?;
    let team_url = if me.url.is_empty() {
        "https://app.slack.com/".to_string()
    } else if me.url.ends_with('/') {
        me.url.clone()
    } else {
        format!("{}/", me.url)
    };
    let mut problems = Vec::new();
    let channels = resolve(slack, &source.channels, &mut problems).await?;
    let (oldest, latest) = (slack_ts(window.start), slack_ts(window.end));
    let cap = source.max_items as usize;
    let resolved: HashMap<String, Channel> =
        channels.iter().map(|c| (c.id.clone(), c.clone())).collect();
    let histories: Vec<(Channel, History)> = stream::iter(channels)
        .map(|channel| async {
            let read = slack.history(&channel.id, &oldest, &latest, cap).await;
            (channel, read)
        })
        .buffer_unordered(concurrency())
        .collect()
        .await;
    let mut notes = Vec::new();
    let mut threads = Vec::new();
    let mut messages = Vec::new();
    for (channel, read) in histories {
        match read {
            Ok((list, more)) => {
                if more {
                    notes.push(format!(
                        "#{}: the newest {} messages of more (max_items = {cap})",
                        channel.name,
                        list.len()
                    ));
                }
                for message in list {
                    if is_noise(&message) {
                        continue;
                    }
                    let active_thread = source.threads
                        && message.reply_count.unwrap_or(0) > 0
                        && message
                            .latest_reply
                            .as_deref()
                            .is_none_or(|latest| latest > oldest.as_str());
                    if active_thread {
                        threads.push((channel.id.clone(), message.ts.clone()));
                    }
                    messages.push((channel.clone(), message));
                }
            }
            Err(error) => problems.push(format!("#{}: {}", channel.name, error.message)),
        }
    }
    if source.threads {
        revisit(
            slack,
            known_threads,
            &resolved,
            &oldest,
            &latest,
            &mut messages,
            &mut threads,
        )
        .await;
    }
    let replies: HashMap<(String, String), Vec<Message>> = stream::iter(threads)
        .map(|(channel, ts)| async {
            let read = slack
                .replies(&channel, &ts, &oldest, &latest, REPLIES_PER_THREAD + 1)
                .await;
            ((channel, ts), read)
        })
        .buffer_unordered(concurrency())
        .filter_map(|(key, read)| async {
            match read {
                Ok((list, _)) => {
                    let parent = key.1.clone();
                    Some((
                        key,
                        list.into_iter()
                            .filter(|m| m.ts != parent && !is_noise(m))
                            .collect(),
                    ))
                }
                Err(_) => None,
            }
        })
        .collect()
        .await;
    let names = names(slack, &messages, &replies).await;
    let items = messages
        .into_iter()
        .map(|(channel, message)| {
            let thread = replies
                .get(&(channel.id.clone(), message.ts.clone()))
                .map(Vec::as_slice)
                .unwrap_or_default();
            item(
                &team_url,
                &me.user_id,
                &channel,
                &message,
                thread,
                &names,
                source.content,
            )
        })
        .collect();
    Ok(Gathered {
        items,
        failure: None,
        problems,
        notes,
        requests: 0,
        rate_limited: 0,
    })
}

/// Threads briefed before, whose parents are older than the window (so the history does not
/// list them): those with replies in the window come back as their parent, to be read with
/// the others.
async fn revisit(
    slack: &Slack<'_>,
    known: &[(String, String)],
    channels: &HashMap<String, Channel>,
    oldest: &str,
    latest: &str,
    messages: &mut Vec<(Channel, Message)>,
    threads: &mut Vec<(String, String)>,
) {
    let listed: HashSet<(String, String)> = messages
        .iter()
        .map(|(c, m)| (c.id.clone(), m.ts.clone()))
        .collect();
    let candidates: Vec<(Channel, String)> = known
        .iter()
        .filter(|(channel, ts)| {
            ts.as_str() < oldest && !listed.contains(&(channel.clone(), ts.clone()))
        })
        .filter_map(|(channel, ts)| Some((channels.get(channel)?.clone(), ts.clone())))
        .collect();
    let found: Vec<(Channel, Message)> = stream::iter(candidates)
        .map(|(channel, ts)| async move {
            let read = slack.replies(&channel.id, &ts, oldest, latest, 2).await;
            (channel, ts, read)
        })
        .buffer_unordered(concurrency())
        .filter_map(|(channel, ts, read)| async move {
            let (list, _) = read.ok()?;
            let newest = list
                .iter()
                .filter(|m| m.ts != ts && m.ts.as_str() > oldest)
                .map(|m| m.ts.clone())
                .max()?;
            // The parent as Slack lists it first, or a stand-in when the window hid it.
            let parent = list.into_iter().find(|m| m.ts == ts).unwrap_or(Message {
                ts: ts.clone(),
                user: None,
                bot_id: None,
                subtype: None,
                text: "(a thread from before this window)".into(),
                thread_ts: Some(ts),
                reply_count: None,
                latest_reply: None,
            });
            let parent = Message {
                latest_reply: parent.latest_reply.clone().or(Some(newest)),
                ..parent
            };
            Some((channel, parent))
        })
        .collect()
        .await;
    for (channel, parent) in found {
        threads.push((channel.id.clone(), parent.ts.clone()));
        messages.push((channel, parent));
    }
}

fn is_noise(message: &Message) -> bool {
    message.bot_id.is_some()
        || message
            .subtype
            .as_deref()
            .is_some_and(|s| NOISE_SUBTYPES.contains(&s))
        || message.text.trim().is_empty()
}

/// Channel ids for the names in the job file; a name that does not exist is a problem of
/// the source, not a failure of the run.
async fn resolve(
    slack: &Slack<'_>,
    wanted: &[String],
    problems: &mut Vec<String>,
) -> Result<Vec<Channel>, ApiError> {
    let looks_like_id = |name: &str| {
        name.len() >= 9
            && name.starts_with(['C', 'G'])
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    };
    let by_name: HashMap<String, Channel> = if wanted.iter().all(|w| looks_like_id(w)) {
        HashMap::new()
    } else {
        slack
            .channels()
            .await?
            .into_iter()
            .map(|c| (c.name.clone(), c))
            .collect()
    };
    let mut channels = Vec::new();
    for name in wanted {
        if looks_like_id(name) {
            let known = by_name.values().find(|c| c.id == *name);
            channels.push(known.cloned().unwrap_or(Channel {
                id: name.clone(),
                name: name.clone(),
                is_member: true,
                is_private: false,
            }));
        } else if let Some(channel) = by_name.get(name) {
            channels.push(channel.clone());
        } else {
            problems.push(format!(
                "#{name}: no such channel visible to SLACK_TOKEN (check the name; for a private channel, invite the app)"
            ));
        }
    }
    Ok(channels)
}

/// Display names of every author and mentioned user, one `users.info` each.
async fn names(
    slack: &Slack<'_>,
    messages: &[(Channel, Message)],
    replies: &HashMap<(String, String), Vec<Message>>,
) -> HashMap<String, String> {
    let mut ids = HashSet::new();
    let all = messages
        .iter()
        .map(|(_, m)| m)
        .chain(replies.values().flatten());
    for message in all {
        if let Some(user) = &message.user {
            ids.insert(user.clone());
        }
        ids.extend(mentions(&message.text));
    }
    stream::iter(ids)
        .map(|id| async move {
            let name = slack
                .user(&id)
                .await
                .map(|u| u.shown_name())
                .unwrap_or_else(|_| id.clone());
            (id, name)
        })
        .buffer_unordered(concurrency())
        .collect()
        .await
}

/// User ids mentioned as `<@U123>` or `<@U123|name>`.
fn mentions(text: &str) -> Vec<String> {
    text.split("<@")
        .skip(1)
        .filter_map(|rest| {
            let end = rest.find(['>', '|'])?;
            Some(rest[..end].to_string())
        })
        .collect()
}

/// Slack's markup made readable: `<@U1>` → `@name`, `<url|label>` → `label`, `<#C1|dev>` → `#dev`.
fn readable(text: &str, names: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &rest[start + 1..start + end];
        let (target, label) = inner.split_once('|').unwrap_or((inner, ""));
        if let Some(user) = target.strip_prefix('@') {
            out.push('@');
            out.push_str(names.get(user).map_or(user, String::as_str));
        } else if let Some(channel) = target.strip_prefix('#') {
            out.push('#');
            out.push_str(if label.is_empty() { channel } else { label });
        } else if let Some(special) = target.strip_prefix('!') {
            out.push('@');
            out.push_str(special);
        } else {
            out.push_str(if label.is_empty() { target } else { label });
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn at(ts: &str) -> DateTime<Utc> {
    let (seconds, micros) = ts.split_once('.').unwrap_or((ts, "0"));
    let seconds = seconds.parse().unwrap_or(0);
    let digits: String = micros
        .chars()
        .filter(char::is_ascii_digit)
        .chain(std::iter::repeat('0'))
        .take(6)
        .collect();
    let micros: u32 = digits.parse().unwrap_or(0);
    DateTime::from_timestamp(seconds, micros * 1000).unwrap_or_default()
}

/// `https://team.slack.com/archives/C123/p1717300000000100`: Slack's permalink form.
fn permalink(team_url: &str, channel: &str, ts: &str) -> String {
    format!("{team_url}archives/{channel}/p{}", ts.replace('.', ""))
}

fn item(
    team_url: &str,
    me: &str,
    channel: &Channel,
    message: &Message,
    thread: &[Message],
    names: &HashMap<String, String>,
    content: Content,
) -> Item {
    let author = |m: &Message| {
        m.user
            .as_ref()
            .map(|u| names.get(u).cloned().unwrap_or_else(|| u.clone()))
            .unwrap_or_else(|| "someone".into())
    };
    let mut whole = readable(&message.text, names);
    for reply in thread {
        whole.push_str(&format!(
            "\n↳ {}: {}",
            author(reply),
            readable(&reply.text, names)
        ));
    }
    let raw_chars = whole.chars().count();
    let text = match content {
        Content::Metadata => String::new(),
        Content::Snippet => snippet(&whole, snippet_chars()),
        Content::Full => whole.clone(),
    };
    let mention = format!("<@{me}>");
    let mentions_me = !me.is_empty()
        && (message.text.contains(&mention) || thread.iter().any(|r| r.text.contains(&mention)));
    Item {
        id: format!("slack:{}:{}", channel.id, message.ts),
        source: Source::Slack,
        url: permalink(team_url, &channel.id, &message.ts),
        title: format!("#{}", channel.name),
        author: author(message),
        at: at(thread.last().map_or(&message.ts, |r| &r.ts)),
        text,
        raw_chars,
        // From the message itself, not from the replies this window read: a thread is
        // "changed" only when Slack says a newer reply exists.
        version: message
            .latest_reply
            .clone()
            .unwrap_or_else(|| message.ts.clone()),
        signals: Signals {
            mentions_me,
            question: asks(&whole),
            replies: message.reply_count.unwrap_or(0),
            flagged: false,
        },
        freshness: Freshness::New,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_becomes_words_and_links_are_built_from_ids() {
        let names: HashMap<String, String> = [("U1".to_string(), "egon".to_string())].into();
        assert_eq!(
            readable(
                "<@U1> see <https://x.io|the doc> in <#C9|dev> &amp; <!here>",
                &names
            ),
            "@egon see the doc in #dev & @here"
        );
        assert_eq!(
            permalink("https://t.slack.com/", "C1", "1512085950.000216"),
            "https://t.slack.com/archives/C1/p1512085950000216"
        );
        assert_eq!(at("1512085950.000216").timestamp_subsec_micros(), 216);
        assert_eq!(at("1512085950.2").timestamp_subsec_micros(), 200_000);
        assert_eq!(at("1.00000é").timestamp(), 1, "no panic on a hostile ts");
        assert_eq!(mentions("hi <@U1> and <@U2|bob>"), ["U1", "U2"]);
    }
}
