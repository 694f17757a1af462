//! A card as proposed by a generator and as kept: question, answer, where it came from.

use serde::{Deserialize, Serialize};

/// Anki's two note types we write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A question on the front, the answer on the back.
    Basic,
    /// One text with `{{c1::deletions}}`; the back is extra context (may be empty).
    Cloze,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Basic => "basic",
            Kind::Cloze => "cloze",
        }
    }

    pub fn parse(text: &str) -> Kind {
        if text == "cloze" {
            Kind::Cloze
        } else {
            Kind::Basic
        }
    }
}

/// What a generator proposes, before the gates.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub kind: Kind,
    pub front: String,
    pub back: String,
    pub tags: Vec<String>,
    /// The messages (registry ids) the card is made from.
    pub message_ids: Vec<i64>,
    /// Words of a cited message that support the answer.
    pub quote: String,
    pub session_id: String,
}

/// How a review went, Anki's four buttons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    Again,
    Hard,
    Good,
    Easy,
}

impl Grade {
    /// FSRS's rating: 1 Again … 4 Easy.
    pub fn rating(self) -> u32 {
        match self {
            Grade::Again => 1,
            Grade::Hard => 2,
            Grade::Good => 3,
            Grade::Easy => 4,
        }
    }

    /// `1`-`4` or the name, as a person types it.
    pub fn parse(text: &str) -> Option<Grade> {
        match text.trim().to_lowercase().as_str() {
            "1" | "again" => Some(Grade::Again),
            "2" | "hard" => Some(Grade::Hard),
            "3" | "good" => Some(Grade::Good),
            "4" | "easy" => Some(Grade::Easy),
            _ => None,
        }
    }
}

/// Where a card stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Never reviewed.
    New,
    /// Reviewed and due again within minutes (learning or relearning).
    Learning,
    /// Scheduled in days by FSRS.
    Review,
    /// Kept, not shown, until unsuspended.
    Suspended,
    /// Rejected by the person: never shown, never proposed again.
    Rejected,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Learning => "learning",
            State::Review => "review",
            State::Suspended => "suspended",
            State::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> State {
        match text {
            "learning" => State::Learning,
            "review" => State::Review,
            "suspended" => State::Suspended,
            "rejected" => State::Rejected,
            _ => State::New,
        }
    }
}

/// The question as shown: a cloze's deletions become `[...]` (or `[hint]`).
pub fn question_text(kind: Kind, front: &str) -> String {
    match kind {
        Kind::Basic => front.to_string(),
        Kind::Cloze => replace_deletions(front, |_, hint| match hint {
            Some(hint) => format!("[{hint}]"),
            None => "[...]".to_string(),
        }),
    }
}

/// The answer as shown: a cloze's text with its deletions filled in (and its extra).
pub fn answer_text(kind: Kind, front: &str, back: &str) -> String {
    match kind {
        Kind::Basic => back.to_string(),
        Kind::Cloze => {
            let filled = replace_deletions(front, |answer, _| answer.to_string());
            if back.trim().is_empty() {
                filled
            } else {
                format!("{filled}\n{back}")
            }
        }
    }
}

/// `text` with each `{{cN::answer::hint}}` replaced by `with(answer, hint)`; malformed markup
/// stays as it is (the gates refuse it before a card is kept).
fn replace_deletions(text: &str, with: impl Fn(&str, Option<&str>) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{c") {
        let after = &rest[start + 3..];
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        let Some(body) = after[digits..].strip_prefix("::").filter(|_| digits > 0) else {
            out.push_str(&rest[..start + 3]);
            rest = after;
            continue;
        };
        let Some(end) = body.find("}}") else {
            break;
        };
        let inner = &body[..end];
        let (answer, hint) = match inner.split_once("::") {
            Some((answer, hint)) => (answer, Some(hint)),
            None => (inner, None),
        };
        out.push_str(&rest[..start]);
        out.push_str(&with(answer, hint));
        rest = &body[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloze_questions_hide_and_answers_fill() {
        let front = "Run {{c1::cargo test}} to test, {{c2::cargo fmt::a formatter}} to format.";
        assert_eq!(
            question_text(Kind::Cloze, front),
            "Run [...] to test, [a formatter] to format."
        );
        assert_eq!(
            answer_text(Kind::Cloze, front, ""),
            "Run cargo test to test, cargo fmt to format."
        );
        assert_eq!(question_text(Kind::Basic, "What is X?"), "What is X?");
        assert_eq!(Grade::parse(" Good "), Some(Grade::Good));
        assert_eq!(Grade::parse("5"), None);
    }
}
