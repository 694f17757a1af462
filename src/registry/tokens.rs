//! What the full-text index sees of a message, and how a person's query becomes an FTS5
//! expression that can never be a syntax error.
//!
//! SQLite's `unicode61` tokenizer keeps Korean particles attached (`게임을` is one token), so
//! `게임` would not find it, and `Cursor와` hides `Cursor`. We index a second form of each
//! message instead: every run of Hangul (and other CJK) characters becomes its overlapping
//! two-character grams (`끝말잇기` → `끝말 말잇 잇기`), split off any Latin or digits around
//! it (`Cursor와` → `Cursor 와`). A query word goes through the same function and is matched
//! as a quoted phrase, so `게임` finds `게임을` and `끝말잇기` finds exactly the three grams in
//! a row. This is Lucene's CJK bigram scheme; bm25 stays meaningful, unlike a `LIKE` scan.

/// Whether `c` is written without spaces between words and so gets bigrams: Hangul
/// syllables and jamo, kana, and CJK ideographs.
fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{AC00}'..='\u{D7A3}'   // Hangul syllables
        | '\u{1100}'..='\u{11FF}' // Hangul jamo
        | '\u{3130}'..='\u{318F}' // Hangul compatibility jamo
        | '\u{3040}'..='\u{30FF}' // Hiragana, Katakana
        | '\u{3400}'..='\u{4DBF}' // CJK extension A
        | '\u{4E00}'..='\u{9FFF}' // CJK unified ideographs
    )
}

/// The indexed form of `text`: CJK runs as bigrams (a lone character stays itself), all
/// other text as it is, with a space wherever the two meet.
pub fn index_form(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut run: Vec<char> = Vec::new();
    for c in text.chars() {
        if is_cjk(c) {
            run.push(c);
        } else {
            flush_run(&mut run, &mut out);
            out.push(c);
        }
    }
    flush_run(&mut run, &mut out);
    out
}

fn flush_run(run: &mut Vec<char>, out: &mut String) {
    if run.is_empty() {
        return;
    }
    out.push(' ');
    if run.len() == 1 {
        out.push(run[0]);
    } else {
        for (index, pair) in run.windows(2).enumerate() {
            if index > 0 {
                out.push(' ');
            }
            out.push(pair[0]);
            out.push(pair[1]);
        }
    }
    out.push(' ');
    run.clear();
}

/// One word of a query: what the user typed, and the phrase it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryWord {
    /// The word as typed, without surrounding punctuation; used to place snippets.
    pub text: String,
    /// The FTS5 expression for this word: a quoted phrase, with a prefix star for a lone
    /// CJK character (`책` also finds `책을` and `책상`).
    pub expression: String,
}

/// How several words combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// Every word must occur (the first try).
    All,
    /// Any word may occur, more is better (when nothing has them all).
    Any,
}

/// The searchable words of `input`, in order, without repeats. Punctuation-only words (`?`,
/// `-`, `*`, `(`) have nothing to search and are dropped; quotes and colons inside a word are
/// escaped, never interpreted as FTS5 syntax.
pub fn query_words(input: &str) -> Vec<QueryWord> {
    let mut words: Vec<QueryWord> = Vec::new();
    for raw in input.split_whitespace() {
        let text = raw.trim_matches(|c: char| !c.is_alphanumeric());
        if text.is_empty() {
            continue;
        }
        let form = index_form(text);
        let phrase = format!("\"{}\"", form.trim().replace('"', "\"\""));
        let lone_cjk = {
            let mut chars = text.chars();
            matches!((chars.next(), chars.next()), (Some(c), None) if is_cjk(c))
        };
        let expression = if lone_cjk {
            format!("{phrase}*")
        } else {
            phrase
        };
        if words.iter().all(|w| w.expression != expression) {
            words.push(QueryWord {
                text: text.to_string(),
                expression,
            });
        }
    }
    words
}

/// The FTS5 MATCH expression for `words` (never empty: callers check `words` first).
pub fn match_expression(words: &[QueryWord], join: Join) -> String {
    let separator = match join {
        Join::All => " AND ",
        Join::Any => " OR ",
    };
    words
        .iter()
        .map(|w| w.expression.as_str())
        .collect::<Vec<_>>()
        .join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hangul_runs_become_bigrams_split_from_latin() {
        assert_eq!(index_form("끝말잇기").trim(), "끝말 말잇 잇기");
        assert_eq!(
            index_form("Cursor와 게임을").trim(),
            "Cursor 와   게임 임을"
        );
        assert_eq!(index_form("책").trim(), "책");
        assert_eq!(index_form("retry policy"), "retry policy");
        assert_eq!(index_form("MCP서버"), "MCP 서버 ");
    }

    #[test]
    fn hostile_words_are_quoted_or_dropped() {
        let words = query_words(r#"e-mail 변경? 설정: "따옴표" * ( ) - say"hi""#);
        let expressions: Vec<&str> = words.iter().map(|w| w.expression.as_str()).collect();
        assert_eq!(
            expressions,
            [
                "\"e-mail\"",
                "\"변경\"",
                "\"설정\"",
                "\"따옴 옴표\"",
                "\"say\"\"hi\"",
            ]
        );
        assert!(query_words("? * ( ) - :").is_empty());
    }

    #[test]
    fn a_lone_syllable_is_a_prefix_and_repeats_collapse() {
        let words = query_words("책 책 Rust");
        assert_eq!(words.len(), 2);
        assert_eq!(words[0].expression, "\"책\"*");
        assert_eq!(match_expression(&words, Join::Any), "\"책\"* OR \"Rust\"");
    }
}
