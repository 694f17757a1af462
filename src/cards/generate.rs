//! One generation: read what was said since the watermark, propose cards (model or rules),
//! check each against the gates, its quote, every card ever made and the review budget, keep
//! what passes, and say what was dropped and why.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;

use super::card::Proposal;
use super::source::Exchange;
use super::spec::CardsTask;
use super::store::{self, NewCard};
use super::{dedup, gates};

/// How many reviews a day a person is asked for at most, per new card allowed a day: with
/// the default 20 new cards, no new card is added once 200 reviews are due tomorrow.
pub const REVIEW_CAP_PER_NEW: u64 = 10;

/// Why proposals were dropped, as the run's result and the generation record count them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Dropped {
    /// Reason → count; reasons are "duplicate", "failed gate: …", "unsupported quote",
    /// "cites no message", "budget", "invalid answer".
    pub reasons: BTreeMap<String, usize>,
}

impl Dropped {
    pub fn add(&mut self, reason: impl Into<String>) {
        *self.reasons.entry(reason.into()).or_default() += 1;
    }

    pub fn total(&self) -> usize {
        self.reasons.values().sum()
    }
}

/// A card kept by this run.
#[derive(Debug, Clone, Serialize)]
pub struct Made {
    pub id: String,
    pub question: String,
}

/// What the budget allows this run.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub allowed: usize,
    /// Why it is smaller than `max_cards`, when it is.
    pub limited_by: Option<&'static str>,
}

/// How many new cards may be made now: at most `max_cards`, what is left of the day's
/// `daily_new_limit`, and nothing while tomorrow's reviews exceed the review cap.
pub fn budget(task: &CardsTask, made_today: u64, due_by_tomorrow: u64) -> Budget {
    let daily = u64::from(task.daily_new_limit);
    let cap = daily * REVIEW_CAP_PER_NEW;
    let left_today = daily.saturating_sub(made_today);
    let room = cap.saturating_sub(due_by_tomorrow);
    let allowed = u64::from(task.max_cards).min(left_today).min(room);
    let limited_by = if allowed == u64::from(task.max_cards) {
        None
    } else if room < left_today.min(u64::from(task.max_cards)) {
        Some("reviews already due")
    } else {
        Some("daily_new_limit")
    };
    Budget {
        allowed: allowed as usize,
        limited_by,
    }
}

/// The outcome of judging a run's proposals.
#[derive(Debug, Default)]
pub struct Judged {
    pub kept: Vec<Proposal>,
    pub dropped: Dropped,
    /// The first message a budget-dropped proposal came from: the watermark stops before
    /// it, so those messages are read again when there is room.
    pub first_deferred: Option<i64>,
}

/// Judges `proposals` in order against the gates, their sources, the cards in `conn` and
/// each other, and the budget.
pub fn judge(
    conn: &Connection,
    proposals: Vec<Proposal>,
    exchanges: &[Exchange],
    budget: Budget,
) -> rusqlite::Result<Judged> {
    let mut judged = Judged::default();
    let texts: BTreeMap<i64, &str> = exchanges
        .iter()
        .flat_map(Exchange::messages)
        .map(|m| (m.id, m.content.as_str()))
        .collect();
    let mut seen_norms: HashSet<String> = HashSet::new();
    let mut seen_terms: Vec<HashSet<String>> = Vec::new();
    for proposal in proposals {
        if let Err(why) = gates::check(&proposal) {
            judged.dropped.add(format!("failed gate: {why}"));
            continue;
        }
        let cited: Vec<&str> = proposal
            .message_ids
            .iter()
            .filter_map(|id| texts.get(id).copied())
            .collect();
        if cited.is_empty() {
            judged.dropped.add("cites no message");
            continue;
        }
        let quote = dedup::normalise(&proposal.quote);
        if quote.chars().count() < 4
            || !cited
                .iter()
                .any(|text| dedup::normalise(text).contains(&quote))
        {
            judged.dropped.add("unsupported quote");
            continue;
        }
        let norm = dedup::key(&proposal.front, &proposal.back);
        let terms = dedup::terms(&format!("{} {}", proposal.front, proposal.back));
        let near_kept = store::similar(conn, &format!("{} {}", proposal.front, proposal.back), 50)?
            .iter()
            .any(|(front, back)| {
                dedup::similarity(&terms, &dedup::terms(&format!("{front} {back}"))) >= dedup::NEAR
            });
        let near_batch = seen_terms
            .iter()
            .any(|other| dedup::similarity(&terms, other) >= dedup::NEAR);
        if seen_norms.contains(&norm) || store::has_norm(conn, &norm)? || near_kept || near_batch {
            judged.dropped.add("duplicate");
            continue;
        }
        if judged.kept.len() >= budget.allowed {
            judged.dropped.add("budget");
            let first = proposal.message_ids.iter().min().copied();
            judged.first_deferred = match (judged.first_deferred, first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            continue;
        }
        seen_norms.insert(norm);
        seen_terms.push(terms);
        judged.kept.push(proposal);
    }
    Ok(judged)
}

/// Keeps the judged cards and records the generation, in one transaction with the new
/// watermark.
#[allow(clippy::too_many_arguments)]
pub fn keep(
    conn: &mut Connection,
    job: &str,
    retention: f64,
    generator: &str,
    model: Option<&str>,
    judged: &Judged,
    messages: usize,
    watermark: i64,
    now: DateTime<Utc>,
) -> rusqlite::Result<Vec<Made>> {
    let tx = conn.transaction()?;
    let mut made = Vec::new();
    for card in &judged.kept {
        let id = store::insert(
            &tx,
            &NewCard {
                job_id: job.to_string(),
                session_id: card.session_id.clone(),
                message_ids: card.message_ids.clone(),
                kind: card.kind,
                front: card.front.trim().to_string(),
                back: card.back.trim().to_string(),
                quote: card.quote.trim().to_string(),
                tags: card.tags.clone(),
                norm: dedup::key(&card.front, &card.back),
                generator: generator.to_string(),
                model: model.map(str::to_string),
                retention,
            },
            now,
        )?;
        made.push(Made {
            id,
            question: super::card::question_text(card.kind, &card.front),
        });
    }
    let dropped = serde_json::to_value(&judged.dropped.reasons).unwrap_or_default();
    store::record_generation(
        &tx,
        &store::Generation {
            job,
            generator,
            model,
            messages,
            made: made.len(),
            dropped: &dropped,
        },
        now,
    )?;
    store::set_watermark(&tx, job, watermark)?;
    tx.commit()?;
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cards::spec::Generator;

    fn task(max_cards: u32, daily: u32) -> CardsTask {
        CardsTask {
            channels: Vec::new(),
            workspaces: Vec::new(),
            max_cards,
            daily_new_limit: daily,
            generator: Generator::Offline,
            model: None,
            desired_retention: 0.9,
        }
    }

    #[test]
    fn the_budget_takes_the_smallest_limit() {
        assert_eq!(budget(&task(10, 20), 0, 0).allowed, 10);
        let day = budget(&task(10, 20), 15, 0);
        assert_eq!((day.allowed, day.limited_by), (5, Some("daily_new_limit")));
        let load = budget(&task(10, 20), 0, 199);
        assert_eq!(
            (load.allowed, load.limited_by),
            (1, Some("reviews already due"))
        );
        assert_eq!(budget(&task(10, 20), 0, 500).allowed, 0);
    }

    /// A month of a heavy user: every 30 minutes more candidate cards than the budget allows,
    /// every evening each due card reviewed (a fixed mix of grades). New cards per day stay
    /// within `daily_new_limit`, and the reviews due on any day stay within the review cap.
    #[test]
    fn the_budget_holds_over_a_simulated_month() {
        use crate::cards::card::{Grade, Kind};
        use crate::cards::schedule::Fsrs;
        let dir = tempfile::tempdir().expect("tempdir");
        let registry =
            crate::registry::Registry::open(&dir.path().join("registry.db")).expect("open");
        let task = task(10, 20);
        let cap = u64::from(task.daily_new_limit) * REVIEW_CAP_PER_NEW;
        let start: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().expect("time");
        let model = Fsrs::default();
        let mut serial = 0;
        for day in 0..30 {
            let midnight = start + chrono::Duration::days(day);
            let mut made_today = 0u64;
            for slot in 0..48 {
                let now = midnight + chrono::Duration::minutes(30 * slot);
                let (made, due) = registry
                    .with(|c| {
                        Ok((
                            store::made_since(c, "job", midnight)?,
                            store::due_before(c, now + chrono::Duration::days(1))?,
                        ))
                    })
                    .expect("counts");
                let allowed = budget(&task, made, due).allowed;
                registry
                    .with(|c| {
                        for _ in 0..allowed {
                            serial += 1;
                            store::insert(
                                c,
                                &NewCard {
                                    job_id: "job".into(),
                                    session_id: "s".into(),
                                    message_ids: vec![serial],
                                    kind: Kind::Basic,
                                    front: format!("What is fact {serial}?"),
                                    back: format!("answer {serial}"),
                                    quote: format!("answer {serial}"),
                                    tags: Vec::new(),
                                    norm: format!("fact {serial}"),
                                    generator: "offline".into(),
                                    model: None,
                                    retention: 0.9,
                                },
                                now,
                            )?;
                        }
                        Ok(())
                    })
                    .expect("insert");
                made_today += allowed as u64;
            }
            assert!(
                made_today <= u64::from(task.daily_new_limit),
                "day {day}: {made_today} new cards"
            );
            let evening = midnight + chrono::Duration::hours(21);
            let due = registry
                .with(|c| store::due(c, evening, 10_000))
                .expect("due");
            assert!(
                (due.len() as u64) <= cap + u64::from(task.daily_new_limit),
                "day {day}: {} due",
                due.len()
            );
            for (index, card) in due.iter().enumerate() {
                let grade = [
                    Grade::Good,
                    Grade::Good,
                    Grade::Easy,
                    Grade::Hard,
                    Grade::Again,
                ][index % 5];
                registry
                    .with(|c| {
                        Ok(crate::cards::review::answer(
                            c, &model, &card.id, grade, evening,
                        ))
                    })
                    .expect("store")
                    .expect("review");
            }
        }
        let total = registry
            .with(|c| store::made_since(c, "job", start))
            .expect("total");
        assert!(
            total >= 400,
            "the budget still lets cards in: {total} in 30 days"
        );
    }
}
