//! When a card comes back: FSRS-6 (the `fsrs` crate, behind [`MemoryModel`]) gives stability,
//! difficulty and the ideal interval; we own what Anki also owns on top of it: learning
//! steps in minutes for new and forgotten cards, whole days, a cap, and fuzz so cards made
//! together do not stay due together forever.

use chrono::{DateTime, Duration, Utc};

use super::card::{Grade, State};

/// A card's memory, as FSRS models it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Memory {
    /// Days until recall falls to 90%.
    pub stability: f64,
    /// 1 (easy) to 10 (hard).
    pub difficulty: f64,
}

/// What the memory model says after a review: the new memory and the ideal interval (days).
pub trait MemoryModel: Send + Sync {
    fn next(
        &self,
        memory: Option<Memory>,
        elapsed_days: u32,
        retention: f64,
        grade: Grade,
    ) -> Result<(Memory, f64), String>;
}

/// FSRS-6 with its default parameters.
#[derive(Default)]
pub struct Fsrs(fsrs::FSRS);

impl Fsrs {
    /// FSRS with `parameters` (0, 17, 19 or 21 of them; none means the defaults).
    pub fn with_parameters(parameters: &[f32]) -> Result<Fsrs, String> {
        fsrs::FSRS::new(parameters)
            .map(Fsrs)
            .map_err(|e| e.to_string())
    }
}

impl MemoryModel for Fsrs {
    fn next(
        &self,
        memory: Option<Memory>,
        elapsed_days: u32,
        retention: f64,
        grade: Grade,
    ) -> Result<(Memory, f64), String> {
        let current = memory.map(|m| fsrs::MemoryState {
            stability: m.stability as f32,
            difficulty: m.difficulty as f32,
        });
        let states = self
            .0
            .next_states(current, retention as f32, elapsed_days)
            .map_err(|e| e.to_string())?;
        let state = match grade {
            Grade::Again => states.again,
            Grade::Hard => states.hard,
            Grade::Good => states.good,
            Grade::Easy => states.easy,
        };
        Ok((
            Memory {
                stability: f64::from(state.memory.stability),
                difficulty: f64::from(state.memory.difficulty),
            },
            f64::from(state.interval),
        ))
    }
}

/// Where a card is before a review.
#[derive(Debug, Clone, Copy)]
pub struct Before {
    pub state: State,
    pub memory: Option<Memory>,
    pub last_review: Option<DateTime<Utc>>,
    /// Reviews so far: seeds the fuzz with the card id.
    pub reps: u32,
}

/// Where it is after.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct After {
    pub state: State,
    pub memory: Memory,
    pub due: DateTime<Utc>,
    /// Forgotten after it had graduated.
    pub lapse: bool,
    pub elapsed_days: f64,
}

/// Longest interval, in days (a hundred years).
const MAX_DAYS: f64 = 36_500.0;

/// Schedules the review of `card_id`, graded `grade` at `now`.
pub fn review(
    model: &dyn MemoryModel,
    card_id: &str,
    before: &Before,
    grade: Grade,
    now: DateTime<Utc>,
    retention: f64,
) -> Result<After, String> {
    let elapsed = before.last_review.map_or(0.0, |at| {
        ((now - at).num_seconds().max(0) as f64) / 86_400.0
    });
    let (memory, ideal) = model.next(before.memory, elapsed.floor() as u32, retention, grade)?;
    let minutes = |n: i64| now + Duration::minutes(n);
    let days = |ideal: f64| {
        let whole = fuzz(ideal.round().clamp(1.0, MAX_DAYS), card_id, before.reps);
        now + Duration::days(whole as i64)
    };
    let (state, due, lapse) = match (before.state, grade) {
        (State::Review, Grade::Again) => (State::Learning, minutes(10), true),
        (State::Review, _) => (State::Review, days(ideal), false),
        (_, Grade::Again) => (State::Learning, minutes(1), false),
        (_, Grade::Hard) => (State::Learning, minutes(6), false),
        (State::New, Grade::Good) => (State::Learning, minutes(10), false),
        (_, Grade::Good | Grade::Easy) => (State::Review, days(ideal), false),
    };
    Ok(After {
        state,
        memory,
        due,
        lapse,
        elapsed_days: elapsed,
    })
}

/// `days` moved by up to Anki's fuzz (15% of what lies in 2.5-7 days, 10% of 7-20, 5% beyond),
/// by a hash of the card and its review count: the same review always lands on the same day.
pub fn fuzz(days: f64, card_id: &str, reps: u32) -> f64 {
    if days < 2.5 {
        return days;
    }
    let mut delta = 1.0;
    for (start, end, factor) in [(2.5, 7.0, 0.15), (7.0, 20.0, 0.1), (20.0, f64::MAX, 0.05)] {
        delta += factor * (days.min(end) - start).max(0.0);
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in card_id.bytes().chain(reps.to_le_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let unit = (hash >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
    (days + (unit * 2.0 - 1.0) * delta)
        .round()
        .clamp(2.0, MAX_DAYS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-4
    }

    #[test]
    fn new_cards_start_from_the_default_parameters() {
        // The crate's documented new-card values (w0-w3 as initial stability).
        let model = Fsrs::default();
        for (grade, stability) in [
            (Grade::Again, 0.212),
            (Grade::Hard, 1.2931),
            (Grade::Good, 2.3065),
            (Grade::Easy, 8.2956),
        ] {
            let (memory, interval) = model.next(None, 0, 0.9, grade).expect("fsrs");
            assert!(close(memory.stability, stability), "{grade:?}: {memory:?}");
            assert!(
                close(interval, stability),
                "at 90% the interval is the stability"
            );
        }
        let (good, _) = model.next(None, 0, 0.9, Grade::Good).expect("fsrs");
        assert!(close(good.difficulty, 2.118104), "{good:?}");
    }

    #[test]
    fn intervals_match_the_crates_own_test_values() {
        // fsrs 6.6.2 `test_next_states`: its 19 parameters, ratings 1,3,3,3 at 0,1,3,8 days,
        // then the next states 21 days later.
        let model = Fsrs::with_parameters(&[
            0.6845422,
            1.6790825,
            4.7349424,
            10.042885,
            7.4410233,
            0.64219797,
            1.071918,
            0.0025195254,
            1.432437,
            0.1544,
            0.8692766,
            2.0696752,
            0.0953,
            0.2975,
            2.4691248,
            0.19542035,
            3.201072,
            0.18046261,
            0.121442534,
        ])
        .expect("parameters");
        let mut memory = None;
        for (grade, elapsed) in [
            (Grade::Again, 0),
            (Grade::Good, 1),
            (Grade::Good, 3),
            (Grade::Good, 8),
        ] {
            memory = Some(model.next(memory, elapsed, 0.9, grade).expect("fsrs").0);
        }
        for (grade, stability, difficulty) in [
            (Grade::Again, 2.9691455, 8.000659),
            (Grade::Hard, 17.091452, 7.6913934),
            (Grade::Good, 31.722992, 7.382128),
            (Grade::Easy, 71.7502, 7.0728626),
        ] {
            let (next, interval) = model.next(memory, 21, 0.9, grade).expect("fsrs");
            assert!(
                (next.stability - stability).abs() < 1e-3
                    && (next.difficulty - difficulty).abs() < 1e-3,
                "{grade:?}: {next:?}"
            );
            assert!((interval - stability).abs() < 1e-3);
        }
    }

    #[test]
    fn learning_steps_then_days_and_a_lapse_relearns() {
        let model = Fsrs::default();
        let now: DateTime<Utc> = "2026-12-01T09:00:00Z".parse().expect("time");
        let new = Before {
            state: State::New,
            memory: None,
            last_review: None,
            reps: 0,
        };
        let first = review(&model, "c_1", &new, Grade::Good, now, 0.9).expect("review");
        assert_eq!(
            (first.state, first.due),
            (State::Learning, now + Duration::minutes(10))
        );
        let later = first.due;
        let second = review(
            &model,
            "c_1",
            &Before {
                state: first.state,
                memory: Some(first.memory),
                last_review: Some(now),
                reps: 1,
            },
            Grade::Good,
            later,
            0.9,
        )
        .expect("review");
        assert_eq!(second.state, State::Review);
        assert!(second.due >= later + Duration::days(1), "{second:?}");
        let lapse = review(
            &model,
            "c_1",
            &Before {
                state: State::Review,
                memory: Some(second.memory),
                last_review: Some(later),
                reps: 2,
            },
            Grade::Again,
            second.due,
            0.9,
        )
        .expect("review");
        assert!(lapse.lapse && lapse.state == State::Learning);
        assert_eq!(lapse.due, second.due + Duration::minutes(10));
    }

    #[test]
    fn fuzz_is_bounded_and_repeatable() {
        assert_eq!(fuzz(2.0, "c", 0), 2.0);
        for days in [3.0, 10.0, 100.0] {
            let moved = fuzz(days, "c_abc", 3);
            assert_eq!(moved, fuzz(days, "c_abc", 3));
            assert!(
                (moved - days).abs() <= 1.0 + 0.15 * 4.5 + 0.1 * 13.0 + 0.05 * days,
                "{days}: {moved}"
            );
        }
        let spread: std::collections::BTreeSet<i64> = (0..20)
            .map(|i| fuzz(30.0, &format!("c_{i}"), 0) as i64)
            .collect();
        assert!(spread.len() > 1, "cards made together spread out");
    }
}
