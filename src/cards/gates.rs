//! Quality gates, in code, before anything is stored: one fact per card, the answer not given
//! away by the question, a question that names its subject, cloze markup that Anki reads.
//! Measured LLM cards are mostly unusable; these rules turn away the common failures.

use super::card::{Kind, Proposal};
use super::filter::unusable;

/// Longest answer, in characters: one fact, not a paragraph.
pub const MAX_ANSWER_CHARS: usize = 200;
/// Longest question.
pub const MAX_QUESTION_CHARS: usize = 300;
/// Most cloze deletions on one card.
const MAX_DELETIONS: usize = 3;

/// Why a proposal fails a gate, in words for the run's result.
pub fn check(card: &Proposal) -> Result<(), String> {
    let front = card.front.trim();
    let back = card.back.trim();
    if front.is_empty() || (card.kind == Kind::Basic && back.is_empty()) {
        return Err("empty question or answer".into());
    }
    if front.chars().count() > MAX_QUESTION_CHARS {
        return Err("question too long".into());
    }
    if back.chars().count() > MAX_ANSWER_CHARS {
        return Err("answer too long (more than one fact)".into());
    }
    if let Some(items) = enumeration(back).filter(|n| *n > 3) {
        return Err(format!("an enumeration of {items} items"));
    }
    if let Some(why) = unusable(back)
        .or_else(|| unusable(front))
        .or_else(|| unusable(&card.quote))
    {
        return Err(format!("holds {why}"));
    }
    match card.kind {
        Kind::Basic => {
            if given_away(front, back) {
                return Err("the answer is in the question".into());
            }
            standalone(front)?;
        }
        Kind::Cloze => cloze(front)?,
    }
    Ok(())
}

/// How many items `text` lists, when it lists: lines, bullets, or commas / `and` / `、`.
fn enumeration(text: &str) -> Option<usize> {
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    if lines > 1 {
        return Some(lines);
    }
    let separators = text.matches(", ").count()
        + text.matches('、').count()
        + text.matches("; ").count()
        + usize::from(
            text.contains(" and ")
                || text.contains(" or ")
                || text.contains(" 및 ")
                || text.contains(" 그리고 "),
        );
    (separators >= 2).then_some(separators + 1)
}

/// Whether the (normalised) answer appears inside the question.
fn given_away(front: &str, back: &str) -> bool {
    let answer = super::dedup::normalise(back);
    answer.chars().count() >= 3 && super::dedup::normalise(front).contains(&answer)
}

/// A question a person understands weeks later, without the conversation.
fn standalone(front: &str) -> Result<(), String> {
    let lower = front.to_lowercase();
    let first = lower.split_whitespace().next().unwrap_or_default();
    let pointers = [
        "it", "this", "that", "they", "these", "those", "he", "she", "이것", "그것", "저것",
        "이거", "그거", "위", "아래",
    ];
    let references = [
        "the above",
        "this conversation",
        "the previous",
        "as mentioned",
        "mentioned above",
        "위의",
        "앞서",
        "위에서",
        "이 대화",
    ];
    // What is left once question words, auxiliaries and articles are gone must name
    // something: "What is it?" and "Why does that happen?" do not.
    let asking = [
        "what", "why", "how", "when", "where", "which", "who", "whom", "is", "are", "was", "were",
        "do", "does", "did", "can", "could", "should", "would", "will", "the", "a", "an", "of",
        "mean", "means", "happen", "happens", "work", "works", "for", "in", "to",
    ];
    let content: Vec<String> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !asking.contains(w))
        .map(str::to_string)
        .collect();
    let only_pointers = content.iter().all(|w| pointers.contains(&w.as_str()));
    let korean_pointer = ["이것", "그것", "저것", "이거", "그거"]
        .iter()
        .any(|p| first.starts_with(p));
    if pointers.contains(&first)
        || only_pointers
        || korean_pointer
        || references.iter().any(|r| lower.contains(r))
    {
        return Err("the question does not name its subject".into());
    }
    let asks = front.ends_with('?')
        || front.ends_with('？')
        || ["까", "나요", "가요", "는가", "인가", "니"]
            .iter()
            .any(|e| front.ends_with(e));
    if !asks || front.chars().count() < 8 {
        return Err("the question is not a question that stands on its own".into());
    }
    Ok(())
}

/// `{{cN::text}}` / `{{cN::text::hint}}`, one to three, none nested, text around them.
fn cloze(text: &str) -> Result<(), String> {
    let mut rest = text;
    let mut deletions = 0;
    let mut outside = String::new();
    let mut hidden_words: Vec<String> = Vec::new();
    while let Some(start) = rest.find("{{") {
        outside.push_str(&rest[..start]);
        let body = &rest[start + 2..];
        let end = body
            .find("}}")
            .ok_or("a cloze deletion is not closed with }}")?;
        let inner = &body[..end];
        if inner.contains("{{") {
            return Err("nested cloze deletions".into());
        }
        let digits = inner
            .strip_prefix('c')
            .map(|r| r.chars().take_while(char::is_ascii_digit).count())
            .unwrap_or(0);
        let answer = inner
            .get(1 + digits..)
            .and_then(|r| r.strip_prefix("::"))
            .filter(|_| digits > 0);
        let (hidden, hint) = match answer {
            Some(answer) => {
                let mut parts = answer.splitn(2, "::");
                (
                    parts.next().unwrap_or_default().trim(),
                    parts.next().map(str::trim),
                )
            }
            None => ("", None),
        };
        if hidden.is_empty() {
            return Err(format!(
                "`{{{{{inner}}}}}` is not cloze syntax ({{{{c1::answer}}}})"
            ));
        }
        let hidden_norm = super::dedup::normalise(hidden);
        if hint.is_some_and(|hint| super::dedup::normalise(hint).contains(&hidden_norm)) {
            return Err("the answer is in the question (the hint gives it away)".into());
        }
        hidden_words.push(hidden_norm);
        deletions += 1;
        rest = &body[end + 2..];
    }
    outside.push_str(rest);
    if outside.contains("}}") {
        return Err("a stray }} outside any deletion".into());
    }
    if deletions == 0 {
        return Err("a cloze card without a deletion".into());
    }
    if deletions > MAX_DELETIONS {
        return Err(format!(
            "{deletions} deletions on one card (at most {MAX_DELETIONS})"
        ));
    }
    if outside.split_whitespace().count() < 3 {
        return Err("too little text around the deletion to know what is asked".into());
    }
    let around = super::dedup::normalise(&outside);
    if hidden_words
        .iter()
        .any(|hidden| hidden.chars().count() >= 3 && around.contains(hidden.as_str()))
    {
        return Err("the answer is in the question (the hidden words are also in the text)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(front: &str, back: &str) -> Proposal {
        Proposal {
            kind: Kind::Basic,
            front: front.into(),
            back: back.into(),
            tags: Vec::new(),
            message_ids: vec![1],
            quote: String::new(),
            session_id: "s".into(),
        }
    }

    fn cloze_card(text: &str) -> Proposal {
        Proposal {
            kind: Kind::Cloze,
            ..basic(text, "")
        }
    }

    #[test]
    fn good_cards_pass() {
        for card in [
            basic(
                "What is a mutex?",
                "A lock letting one thread at a time use a value",
            ),
            basic(
                "지수 백오프란 무엇인가?",
                "실패할 때마다 대기 시간을 두 배로 늘리는 방식",
            ),
            cloze_card("Run {{c1::cargo test --release}} to run the optimised tests."),
        ] {
            assert_eq!(check(&card), Ok(()), "{card:?}");
        }
    }

    #[test]
    fn each_failure_is_named() {
        let cases = [
            (
                basic("What are the steps?", &"x".repeat(201)),
                "answer too long",
            ),
            (
                basic(
                    "Which databases do we support?",
                    "SQLite, Postgres, MySQL, Oracle and DuckDB",
                ),
                "enumeration of",
            ),
            (
                basic("What does a mutex lock do?", "a mutex lock"),
                "answer is in the question",
            ),
            (basic("What is it?", "a lock"), "does not name its subject"),
            (
                basic("Explain the above code?", "a loop"),
                "does not name its subject",
            ),
            (basic("Mutex", "a lock"), "not a question"),
            (
                cloze_card("Run {{c1::cargo {{c2::test}}}} now please."),
                "nested",
            ),
            (
                cloze_card("Run {{c1::cargo test to run tests."),
                "not closed",
            ),
            (
                cloze_card("Run {{x1::cargo}} to run tests."),
                "not cloze syntax",
            ),
            (cloze_card("No deletion in this one."), "without a deletion"),
            (cloze_card("{{c1::cargo}}"), "too little text"),
            (
                cloze_card("Run {{c1::cargo test::cargo test}} to run tests."),
                "hint gives it away",
            ),
            (
                cloze_card("Run {{c1::cargo test}} and cargo test runs the tests."),
                "also in the text",
            ),
            (
                basic(
                    "Where is the config file?",
                    "in /etc/backoffice/config.toml",
                ),
                "a file path",
            ),
        ];
        for (card, expected) in cases {
            let error = check(&card).expect_err(&card.front);
            assert!(error.contains(expected), "{}: {error}", card.front);
        }
    }
}
