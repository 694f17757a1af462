//! Cards without a model, so a new user sees some on day one: definitions ("X is …",
//! "X란 …이다"), decisions ("we decided to …", "…하기로 했다"), commands in backticks, and
//! error → fix pairs. Each card's quote is the sentence it came from, word for word.

use super::card::{Kind, Proposal};
use super::filter::{sentences, unusable};
use super::source::{Exchange, SourceMessage};

/// Words that make a subject a pointer to something said before, not a subject.
const POINTERS: &[&str] = &[
    "it", "this", "that", "they", "these", "those", "there", "which", "he", "she", "we", "you",
    "i", "here", "what", "who", "so", "then", "also", "one", "이것", "그것", "저것", "이거",
    "그거", "여기", "거기",
];

/// Every card the rules find in `exchange`.
pub fn propose(exchange: &Exchange) -> Vec<Proposal> {
    let mut out = Vec::new();
    for message in exchange.messages() {
        for sentence in sentences(&message.content) {
            if unusable(&sentence).is_some() {
                continue;
            }
            if let Some(card) = definition(&sentence).or_else(|| korean_definition(&sentence)) {
                out.push(finish(card, &sentence, message, "definition"));
            } else if let Some(card) = decision(&sentence, exchange) {
                out.push(finish(card, &sentence, message, "decision"));
            } else if message.role == "assistant"
                && let Some(card) = command(&sentence)
            {
                out.push(finish(card, &sentence, message, "command"));
            }
        }
    }
    if let Some(card) = error_fix(exchange) {
        out.push(card);
    }
    out
}

fn finish(
    (kind, front, back): (Kind, String, String),
    sentence: &str,
    message: &SourceMessage,
    tag: &str,
) -> Proposal {
    Proposal {
        kind,
        front,
        back,
        tags: vec![tag.to_string(), message.channel.clone()],
        message_ids: vec![message.id],
        quote: sentence.to_string(),
        session_id: message.session_id.clone(),
    }
}

/// `X is/are/means/refers to Y.` with X a named subject of one to five words.
fn definition(sentence: &str) -> Option<(Kind, String, String)> {
    let body = sentence.trim_end_matches(['.', '!']);
    for verb in [
        " is a ",
        " is an ",
        " is the ",
        " are ",
        " means ",
        " refers to ",
        " is ",
    ] {
        let Some(at) = body.find(verb) else { continue };
        let subject = body[..at].trim().trim_matches(['`', '"', '*']);
        let rest = body[at + verb.len()..].trim();
        let words: Vec<&str> = subject.split_whitespace().collect();
        let named = !words.is_empty()
            && words.len() <= 5
            && !POINTERS.contains(&words[0].to_lowercase().as_str())
            && subject.chars().next().is_some_and(char::is_alphanumeric)
            && !subject.contains(',');
        if !named || rest.chars().count() < 8 || body.ends_with('?') {
            return None;
        }
        // "A mutex is …" asks "What is a mutex?".
        let subject = match words[0] {
            "A" | "An" | "The" => {
                format!("{}{}", words[0].to_lowercase(), &subject[words[0].len()..])
            }
            _ => subject.to_string(),
        };
        let article = match verb.trim() {
            "is a" => "a ",
            "is an" => "an ",
            "is the" => "the ",
            _ => "",
        };
        let question = if verb.contains("mean") || verb.contains("refers") {
            format!("What does {subject} mean?")
        } else if verb.trim() == "are" {
            format!("What are {subject}?")
        } else {
            format!("What is {subject}?")
        };
        return Some((Kind::Basic, question, format!("{article}{rest}")));
    }
    None
}

/// `X란 Y이다`, `X(이)란 Y를 말한다`, `X는 Y를 뜻한다/의미한다`.
fn korean_definition(sentence: &str) -> Option<(Kind, String, String)> {
    let body = sentence.trim_end_matches(['.', '!', '。']);
    let endings = [
        "을 말한다",
        "를 말한다",
        "을 말합니다",
        "를 말합니다",
        "을 뜻한다",
        "를 뜻한다",
        "을 뜻합니다",
        "를 뜻합니다",
        "을 의미한다",
        "를 의미한다",
        "을 의미합니다",
        "를 의미합니다",
        "이다",
        "입니다",
    ];
    for marker in ["이란 ", "란 ", "(이)란 "] {
        let Some(at) = body.find(marker) else {
            continue;
        };
        let subject = body[..at].trim();
        let rest = body[at + marker.len()..].trim();
        if subject.is_empty()
            || subject.split_whitespace().count() > 3
            || POINTERS.contains(&subject)
        {
            return None;
        }
        let ending = endings.iter().find(|e| rest.ends_with(*e))?;
        let meaning = rest[..rest.len() - ending.len()].trim();
        if meaning.chars().count() < 4 {
            return None;
        }
        return Some((
            Kind::Basic,
            format!("{subject}{marker}무엇인가?"),
            meaning.to_string(),
        ));
    }
    for verb in [
        "를 의미한다",
        "을 의미한다",
        "를 뜻한다",
        "을 뜻한다",
        "를 의미합니다",
        "을 의미합니다",
    ] {
        let Some(meaning_end) = body.strip_suffix(verb) else {
            continue;
        };
        let (subject, meaning) = meaning_end
            .split_once("는 ")
            .or_else(|| meaning_end.split_once("은 "))?;
        let subject = subject.trim();
        if subject.is_empty()
            || subject.split_whitespace().count() > 3
            || POINTERS.contains(&subject)
        {
            return None;
        }
        return Some((
            Kind::Basic,
            format!("{subject}의 뜻은?"),
            meaning.trim().to_string(),
        ));
    }
    None
}

/// A decision, asked about by the session's subject: `…하기로 했다`, `we decided to …`.
fn decision(sentence: &str, exchange: &Exchange) -> Option<(Kind, String, String)> {
    let lower = sentence.to_lowercase();
    let korean = [
        "하기로 했다",
        "하기로 했습니다",
        "하기로 결정했",
        "로 정했",
        "으로 정했",
        "기로 했어",
    ];
    let english = [
        "we decided to ",
        "we decided that ",
        "decided to go with ",
        "let's go with ",
        "we'll go with ",
        "we will use ",
    ];
    let is_decision =
        korean.iter().any(|k| sentence.contains(k)) || english.iter().any(|e| lower.contains(e));
    if !is_decision || sentence.chars().count() > 160 {
        return None;
    }
    let subject = exchange
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.chars().count() <= 80)?;
    let hangul = sentence.chars().any(|c| ('가'..='힣').contains(&c));
    let question = if hangul {
        format!("「{subject}」에서 무엇을 하기로 했나?")
    } else {
        format!("What was decided in \"{subject}\"?")
    };
    Some((Kind::Basic, question, sentence.trim().to_string()))
}

/// A sentence around one backticked command becomes a cloze hiding the command.
fn command(sentence: &str) -> Option<(Kind, String, String)> {
    let parts: Vec<&str> = sentence.split('`').collect();
    // Exactly one code span: text ` code ` text.
    if parts.len() != 3 {
        return None;
    }
    let code = parts[1].trim();
    let first = code.split_whitespace().next()?;
    let tools = [
        "cargo",
        "git",
        "npm",
        "npx",
        "pnpm",
        "yarn",
        "pip",
        "python",
        "python3",
        "uv",
        "docker",
        "kubectl",
        "make",
        "go",
        "rustup",
        "brew",
        "apt",
        "apt-get",
        "curl",
        "ssh",
        "systemctl",
        "journalctl",
        "ollama",
        "backoffice",
        "node",
        "deno",
        "terraform",
        "psql",
        "sqlite3",
    ];
    let words_around =
        (parts[0].split_whitespace().count() + parts[2].split_whitespace().count()) >= 3;
    if !tools.contains(&first) || code.len() > 80 || !words_around || unusable(code).is_some() {
        return None;
    }
    let text = format!("{}{{{{c1::{code}}}}}{}", parts[0], parts[2]);
    Some((Kind::Cloze, text, String::new()))
}

/// An error the user pasted and the assistant's first sentence that fixes it.
fn error_fix(exchange: &Exchange) -> Option<Proposal> {
    let asked = exchange.asked.as_ref()?;
    let error = asked.content.lines().map(str::trim).find(|line| {
        let lower = line.to_lowercase();
        (lower.starts_with("error")
            || lower.contains("error:")
            || lower.contains("exception")
            || line.contains("에러")
            || line.contains("오류"))
            && line.chars().count() <= 120
            && unusable(line).is_none()
    })?;
    let fixes = [
        "add ", "use ", "change ", "remove ", "install ", "set ", "run ", "replace ", "upgrade ",
        "추가", "사용", "바꾸", "설치", "설정", "실행", "제거",
    ];
    for answer in &exchange.answers {
        for sentence in sentences(&answer.content) {
            let lower = sentence.to_lowercase();
            if fixes.iter().any(|f| lower.contains(f))
                && sentence.chars().count() <= 200
                && unusable(&sentence).is_none()
            {
                let hangul = error.chars().any(|c| ('가'..='힣').contains(&c));
                let front = if hangul {
                    format!("오류 「{error}」는 어떻게 고치나?")
                } else {
                    format!("How do you fix \"{error}\"?")
                };
                return Some(Proposal {
                    kind: Kind::Basic,
                    front,
                    back: sentence.clone(),
                    tags: vec!["error-fix".into(), answer.channel.clone()],
                    message_ids: vec![asked.id, answer.id],
                    quote: sentence,
                    session_id: answer.session_id.clone(),
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(user: &str, assistant: &str, title: Option<&str>) -> Exchange {
        let message = |id, role: &str, content: &str| SourceMessage {
            id,
            session_id: "s1".into(),
            role: role.into(),
            content: content.into(),
            channel: "cursor".into(),
            title: title.map(str::to_string),
            workspace: None,
        };
        Exchange {
            session_id: "s1".into(),
            title: title.map(str::to_string),
            channel: "cursor".into(),
            asked: Some(message(1, "user", user)),
            answers: vec![message(2, "assistant", assistant)],
            weight: 2,
        }
    }

    fn fronts(cards: &[Proposal]) -> Vec<(&str, &str)> {
        cards
            .iter()
            .map(|c| (c.front.as_str(), c.back.as_str()))
            .collect()
    }

    #[test]
    fn english_definitions_and_commands() {
        let cards = propose(&exchange(
            "What is a mutex?",
            "A mutex is a lock that lets one thread at a time use a value. It is simple. Run `cargo test --release` to run the optimised tests.",
            None,
        ));
        assert_eq!(
            fronts(&cards),
            [
                (
                    "What is a mutex?",
                    "a lock that lets one thread at a time use a value"
                ),
                (
                    "Run {{c1::cargo test --release}} to run the optimised tests.",
                    ""
                ),
            ]
        );
        assert_eq!(
            cards[0].quote,
            "A mutex is a lock that lets one thread at a time use a value."
        );
        assert_eq!(cards[0].message_ids, [2]);
        assert_eq!(cards[1].kind, Kind::Cloze);
    }

    #[test]
    fn korean_definitions_and_decisions() {
        let cards = propose(&exchange(
            "백오프란 뭐야?",
            "지수 백오프란 실패할 때마다 대기 시간을 두 배로 늘리는 방식이다. 재시도는 최대 1시간까지 하기로 했다.",
            Some("재시도 정책"),
        ));
        assert_eq!(
            fronts(&cards),
            [
                (
                    "지수 백오프란 무엇인가?",
                    "실패할 때마다 대기 시간을 두 배로 늘리는 방식"
                ),
                (
                    "「재시도 정책」에서 무엇을 하기로 했나?",
                    "재시도는 최대 1시간까지 하기로 했다."
                ),
            ]
        );
    }

    #[test]
    fn errors_with_fixes_and_nothing_from_secrets_or_pointers() {
        let cards = propose(&exchange(
            "error[E0382]: borrow of moved value: `config`",
            "Use `config.clone()` before the move, or borrow it with `&config`.",
            None,
        ));
        assert_eq!(cards.len(), 1, "{cards:?}");
        assert!(cards[0].front.starts_with("How do you fix \"error[E0382]"));
        assert_eq!(cards[0].message_ids, [1, 2]);
        let none = propose(&exchange(
            "the key?",
            "It is stored in the vault. The token is sk-proj-abcdefghijklmnop1234 for now.",
            None,
        ));
        assert!(none.is_empty(), "{none:?}");
    }
}
