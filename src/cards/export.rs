//! Anki's text import format: tab-separated, with the header lines Anki reads (separator,
//! HTML, the note type, deck, tags and GUID columns, and `if matches:update current`, since
//! Anki otherwise reuses whatever the person last chose in its import dialog). Basic and
//! Cloze notes share the file; each GUID is made from our card id, never its text, so
//! importing again updates the notes in place and keeps their review history.

use std::io::Write;

use super::card::Kind;
use super::store::CardRow;

/// The deck when `--deck` names none.
pub const DEFAULT_DECK: &str = "Backoffice::Knowledge Cards";

/// The header lines. Anki wants no space after the colon.
pub fn header(out: &mut impl Write) -> std::io::Result<()> {
    out.write_all(
        b"#separator:tab\n#html:true\n#guid column:1\n#notetype column:2\n#deck column:3\n#tags column:6\n#if matches:update current\n",
    )
}

/// One card as one line: guid, note type, deck, the two fields, tags.
pub fn line(out: &mut impl Write, card: &CardRow, deck: &str) -> std::io::Result<()> {
    let (notetype, first, second) = match card.kind {
        Kind::Basic => (
            "Basic",
            html(&card.front),
            format!("{}{}", html(&card.back), source(card)),
        ),
        Kind::Cloze => (
            "Cloze",
            html(&card.front),
            format!("{}{}", html(&card.back), source(card)),
        ),
    };
    let mut tags: Vec<String> = card
        .tags
        .iter()
        .map(|t| tag(t))
        .filter(|t| !t.is_empty())
        .collect();
    tags.push("backoffice".into());
    tags.dedup();
    let fields = [
        guid(&card.id),
        notetype.to_string(),
        deck.to_string(),
        first,
        second,
        tags.join(" "),
    ];
    let quoted: Vec<String> = fields.iter().map(|f| field(f)).collect();
    out.write_all(quoted.join("\t").as_bytes())?;
    out.write_all(b"\n")
}

/// The GUID of a card: our id, prefixed so it cannot collide with Anki's own.
pub fn guid(id: &str) -> String {
    format!("bo1:{id}")
}

/// The quote and the conversation, under the answer.
fn source(card: &CardRow) -> String {
    let mut out = String::new();
    if !card.quote.trim().is_empty() {
        out.push_str(&format!("<br><br><i>“{}”</i>", html(&card.quote)));
    }
    let session = match (&card.session_title, &card.channel) {
        (Some(title), Some(channel)) => format!("{} ({})", html(title), html(channel)),
        (None, Some(channel)) => html(channel),
        (Some(title), None) => html(title),
        (None, None) => String::new(),
    };
    if !session.is_empty() {
        out.push_str(&format!("<br><small>{session}</small>"));
    }
    out
}

/// Text for an HTML field: escaped, newlines as `<br>`. Cloze markup survives (braces and
/// colons are not HTML).
fn html(text: &str) -> String {
    text.trim()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace("\r\n", "\n")
        .replace('\n', "<br>")
}

/// A field as the CSV reader expects it: quoted when it holds a quote, tab or newline.
fn field(text: &str) -> String {
    let text = text.replace('\t', " ");
    if text.contains('"') || text.contains('\n') {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// An Anki tag: no spaces, no quotes.
fn tag(text: &str) -> String {
    text.trim()
        .chars()
        .map(|c| {
            if c.is_whitespace() || c == '"' {
                '_'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cards::card::State;

    fn card(kind: Kind, front: &str, back: &str) -> CardRow {
        CardRow {
            id: "c_0123456789abcdef".into(),
            job_id: "cards".into(),
            session_id: "s_1".into(),
            message_ids: vec![1],
            kind,
            front: front.into(),
            back: back.into(),
            quote: "A mutex is a \"lock\".".into(),
            tags: vec!["definition".into(), "claude desktop".into()],
            generator: "offline".into(),
            model: None,
            retention: 0.9,
            state: State::New,
            reason: None,
            created_at: chrono::Utc::now(),
            due_at: chrono::Utc::now(),
            stability: None,
            difficulty: None,
            reps: 0,
            lapses: 0,
            last_review: None,
            session_title: Some("Locks <and> threads".into()),
            channel: Some("cursor".into()),
        }
    }

    #[test]
    fn lines_carry_the_guid_type_deck_fields_and_tags() {
        let mut out = Vec::new();
        header(&mut out).expect("header");
        line(
            &mut out,
            &card(Kind::Basic, "What is a mutex?", "a lock\nfor threads"),
            DEFAULT_DECK,
        )
        .expect("line");
        line(
            &mut out,
            &card(Kind::Cloze, "Run {{c1::cargo test}} to test.", ""),
            "Rust",
        )
        .expect("line");
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "#separator:tab");
        assert!(lines.contains(&"#if matches:update current"));
        let basic: Vec<&str> = lines[7].split('\t').collect();
        assert_eq!(
            &basic[..4],
            [
                "bo1:c_0123456789abcdef",
                "Basic",
                "Backoffice::Knowledge Cards",
                "What is a mutex?"
            ]
        );
        assert!(
            basic[4]
                .starts_with("\"a lock<br>for threads<br><br><i>“A mutex is a \"\"lock\"\".”</i>"),
            "{}",
            basic[4]
        );
        assert!(basic[4].contains("Locks &lt;and&gt; threads (cursor)"));
        assert_eq!(basic[5], "definition claude_desktop backoffice");
        let cloze: Vec<&str> = lines[8].split('\t').collect();
        assert_eq!(
            (cloze[1], cloze[2], cloze[3]),
            ("Cloze", "Rust", "Run {{c1::cargo test}} to test.")
        );
    }
}
