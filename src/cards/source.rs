//! What a Knowledge Cards run reads: the registry's messages past the job's watermark, in the
//! chosen channels and workspaces, grouped into exchanges (a user turn and the answers to
//! it), each weighed by what the user was doing: asking, following up, correcting.

use rusqlite::{Connection, params};

/// One message, with its session's facts.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceMessage {
    pub id: i64,
    pub session_id: String,
    pub role: String,
    pub content: String,
    pub channel: String,
    pub title: Option<String>,
    pub workspace: Option<String>,
}

/// A user turn and the assistant turns that answer it (either side may be missing).
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub session_id: String,
    pub title: Option<String>,
    pub channel: String,
    pub asked: Option<SourceMessage>,
    pub answers: Vec<SourceMessage>,
    /// 3 a correction, 2 a question or follow-up, 1 anything else: read in that order.
    pub weight: u8,
}

impl Exchange {
    /// Every message of the exchange, the user's first.
    pub fn messages(&self) -> impl Iterator<Item = &SourceMessage> {
        self.asked.iter().chain(self.answers.iter())
    }
}

/// At most this many messages are read per run; the rest wait for the next.
pub const MAX_READ: usize = 2000;

/// Messages after `after` (a message id), oldest first, in `channels` and `workspaces` (empty:
/// all), at most [`MAX_READ`]; and the last message id looked at, matching or not, which is
/// where the next run goes on (so other channels' messages are not scanned again).
pub fn read(
    conn: &Connection,
    after: i64,
    channels: &[String],
    workspaces: &[String],
) -> rusqlite::Result<(Vec<SourceMessage>, i64)> {
    let mut statement = conn.prepare_cached(
        "SELECT m.id, m.session_id, m.role, m.content, s.channel, s.title, s.workspace
         FROM messages m JOIN sessions s ON s.id = m.session_id
         WHERE m.id > ?1 ORDER BY m.id LIMIT ?2",
    )?;
    let rows = statement.query_map(params![after, (MAX_READ * 4) as i64], |row| {
        Ok(SourceMessage {
            id: row.get(0)?,
            session_id: row.get(1)?,
            role: row.get(2)?,
            content: row.get(3)?,
            channel: row.get(4)?,
            title: row.get(5)?,
            workspace: row.get(6)?,
        })
    })?;
    let mut out = Vec::new();
    let mut scanned = after;
    for row in rows {
        let message = row?;
        scanned = message.id;
        let channel_ok = channels.is_empty() || channels.contains(&message.channel);
        let workspace_ok = workspaces.is_empty()
            || message.workspace.as_ref().is_some_and(|w| {
                workspaces
                    .iter()
                    .any(|want| w == want || w.starts_with(&format!("{want}/")))
            });
        if channel_ok && workspace_ok {
            out.push(message);
            if out.len() == MAX_READ {
                break;
            }
        }
    }
    Ok((out, scanned))
}

/// Groups `messages` (oldest first) into exchanges per session, heaviest first, then oldest.
pub fn exchanges(messages: Vec<SourceMessage>) -> Vec<Exchange> {
    let mut out: Vec<Exchange> = Vec::new();
    let mut open: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for message in messages {
        let session = message.session_id.clone();
        let is_user = message.role == "user";
        match open.get(&session).copied() {
            Some(index) if !is_user => out[index].answers.push(message),
            _ if is_user => {
                let weight = weigh(&message.content);
                open.insert(session.clone(), out.len());
                out.push(Exchange {
                    session_id: session,
                    title: message.title.clone(),
                    channel: message.channel.clone(),
                    asked: Some(message),
                    answers: Vec::new(),
                    weight,
                });
            }
            _ => {
                open.insert(session.clone(), out.len());
                out.push(Exchange {
                    session_id: session,
                    title: message.title.clone(),
                    channel: message.channel.clone(),
                    asked: None,
                    answers: vec![message],
                    weight: 1,
                });
            }
        }
    }
    // Stable: equal weights keep their order, oldest first.
    out.sort_by_key(|e| std::cmp::Reverse(e.weight));
    out
}

/// How much a user turn says "teach me": a correction 3, a question or follow-up 2, else 1.
pub fn weigh(text: &str) -> u8 {
    let lower = text.trim().to_lowercase();
    let corrections = [
        "no,",
        "no.",
        "that's wrong",
        "that is wrong",
        "actually",
        "not quite",
        "incorrect",
        "아니",
        "틀렸",
        "그게 아니라",
        "잘못",
        "아닌데",
    ];
    let questions = [
        "why",
        "how",
        "what",
        "when",
        "which",
        "where",
        "explain",
        "왜",
        "어떻게",
        "무엇",
        "뭐",
        "뭔",
        "언제",
        "어디",
        "그럼",
        "그러면",
        "설명",
        "알려",
    ];
    if corrections
        .iter()
        .any(|c| lower.starts_with(c) || lower.contains(&format!(" {c}")))
    {
        3
    } else if lower.contains('?')
        || questions
            .iter()
            .any(|q| lower.starts_with(q) || lower.contains(q))
    {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: i64, session: &str, role: &str, content: &str) -> SourceMessage {
        SourceMessage {
            id,
            session_id: session.into(),
            role: role.into(),
            content: content.into(),
            channel: "cursor".into(),
            title: None,
            workspace: None,
        }
    }

    #[test]
    fn exchanges_pair_questions_with_answers_and_put_corrections_first() {
        let grouped = exchanges(vec![
            message(1, "a", "user", "please format the file"),
            message(2, "a", "assistant", "Done."),
            message(3, "b", "user", "왜 지수 백오프를 쓰나요?"),
            message(4, "a", "user", "아니, 그게 아니라 탭을 써야 해"),
            message(5, "b", "assistant", "서버 부하를 줄이기 위해서입니다."),
            message(6, "a", "assistant", "Tabs it is."),
        ]);
        let weights: Vec<u8> = grouped.iter().map(|e| e.weight).collect();
        assert_eq!(weights, [3, 2, 1]);
        assert_eq!(grouped[0].answers[0].id, 6);
        assert_eq!(grouped[1].answers[0].id, 5);
        assert_eq!(weigh("Why?"), 2);
        assert_eq!(weigh("그럼 캐시는?"), 2);
    }
}
