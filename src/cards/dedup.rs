//! Duplicates: by normalised text (case, punctuation and spacing do not make a new card),
//! and by near-match, through the same Korean/English bigram form as the registry's search,
//! so a paraphrase of a card already proposed (or rejected) is not proposed again.

use std::collections::HashSet;

/// Two cards whose terms overlap this much (Jaccard) are the same card.
pub const NEAR: f64 = 0.6;

/// Lowercase letters and digits of `text`, single-spaced: what makes two texts "the same".
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.extend(c.to_lowercase());
        } else {
            space = true;
        }
    }
    out
}

/// The key a card is kept under: its question and answer, normalised.
pub fn key(front: &str, back: &str) -> String {
    format!("{} | {}", normalise(front), normalise(back))
}

/// Words every question has: they say nothing about which card it is.
const STOP: &[&str] = &[
    "what",
    "is",
    "are",
    "a",
    "an",
    "the",
    "of",
    "to",
    "in",
    "on",
    "for",
    "and",
    "or",
    "how",
    "why",
    "when",
    "which",
    "who",
    "does",
    "do",
    "did",
    "it",
    "this",
    "that",
    "with",
    "by",
    "be",
    "was",
    "무엇",
    "엇인",
    "인가",
    "무엇인가",
    "어떻게",
    "하나",
    "는가",
    "에서",
];

/// The terms the near-match compares: the registry's index form of the text, without
/// punctuation and the words every question shares, so "What is a mutex? a lock" and "What
/// is a latch? a lock" are different cards and a paraphrase is the same one.
pub fn terms(text: &str) -> HashSet<String> {
    crate::registry::tokens::index_form(text)
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|t| t.chars().count() > 1 && !STOP.contains(&t.as_str()))
        .collect()
}

/// Jaccard similarity of two term sets.
pub fn similarity(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let shared = a.intersection(b).count() as f64;
    shared / (a.len() as f64 + b.len() as f64 - shared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_text_ignores_case_punctuation_and_spacing() {
        assert_eq!(normalise("  What is a Mutex?! "), "what is a mutex");
        assert_eq!(
            normalise("지수 백오프란,  무엇인가?"),
            "지수 백오프란 무엇인가"
        );
        assert_eq!(key("Q?", "A."), "q | a");
    }

    #[test]
    fn a_paraphrase_is_near_and_another_card_is_not() {
        let card = terms("What is exponential backoff? Doubling the wait after each failure");
        let paraphrase = terms("What is exponential backoff? The wait doubles after each failure");
        let other = terms("What is a mutex? A lock for one thread at a time");
        assert!(
            similarity(&card, &paraphrase) >= NEAR,
            "{}",
            similarity(&card, &paraphrase)
        );
        assert!(
            similarity(&card, &other) < 0.3,
            "{}",
            similarity(&card, &other)
        );
        let korean = terms("지수 백오프란 무엇인가? 실패할 때마다 대기 시간을 두 배로 늘리는 방식");
        let korean_again = terms("지수 백오프는 무엇인가? 실패할 때마다 대기 시간을 두 배로 늘림");
        assert!(similarity(&korean, &korean_again) >= NEAR);
        let mutex = terms("What is a mutex? a lock");
        let latch = terms("What is a latch? a lock");
        assert!(
            similarity(&mutex, &latch) < NEAR,
            "{}",
            similarity(&mutex, &latch)
        );
    }
}
