//! The Knowledge Cards page (`cards.html`): what is due today, the review load of the next
//! 30 days, the newest cards (question shown, answer behind a `<details>`), where each came
//! from, and how many of each generator's cards were kept rather than rejected.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::svg;
use super::views::Layout;
use crate::cards::card::{answer_text, question_text};
use crate::cards::store;
use crate::display::relative;

/// Cards listed.
const SHOWN: usize = 50;
/// Days of forecast.
const DAYS: usize = 30;

#[derive(Debug, Clone, Serialize)]
pub struct CardView {
    pub id: String,
    pub question: String,
    pub answer: String,
    pub quote: String,
    pub source: String,
    pub state: String,
    pub due: String,
    pub generator: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Acceptance {
    pub generator: String,
    pub model: String,
    pub accepted: u64,
    pub rejected: u64,
    /// `93% kept`, or `no feedback yet`.
    pub rate: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CardsPage {
    pub layout: Layout,
    pub due_now: u64,
    pub total: u64,
    pub states: Vec<(String, u64)>,
    pub chart: String,
    pub next_week: u64,
    /// False with `--site-registry counts`: figures only, no card text.
    pub texts: bool,
    pub cards: Vec<CardView>,
    pub acceptance: Vec<Acceptance>,
}

/// The page, or `None` when the registry holds no card (no page, no tile).
pub fn page(
    registry_db: &Path,
    texts: bool,
    now: DateTime<Utc>,
) -> Result<Option<CardsPage>, crate::registry::RegistryError> {
    let wrap = |source| crate::registry::RegistryError::Sqlite {
        path: registry_db.to_path_buf(),
        source,
    };
    let conn = crate::registry::activity::open_read_only(registry_db).map_err(wrap)?;
    let has_cards = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'cards'",
            [],
            |row| row.get::<_, i64>(0),
        )
        .map_err(wrap)?
        > 0;
    if !has_cards {
        return Ok(None);
    }
    let (due_now, states) = store::counts(&conn, now).map_err(wrap)?;
    let total: u64 = states.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return Ok(None);
    }
    let day_start = now - Duration::seconds(i64::from(now.timestamp().rem_euclid(86_400) as i32));
    let forecast = store::forecast(&conn, day_start, DAYS).map_err(wrap)?;
    let labels: Vec<String> = (0..DAYS)
        .map(|d| {
            (day_start + Duration::days(d as i64))
                .format("%Y-%m-%d")
                .to_string()
        })
        .collect();
    let cards = store::recent(&conn, None, SHOWN)
        .map_err(wrap)?
        .into_iter()
        .map(|card| CardView {
            question: question_text(card.kind, &card.front),
            answer: answer_text(card.kind, &card.front, &card.back),
            quote: card.quote.clone(),
            source: match (&card.session_title, &card.channel) {
                (Some(title), Some(channel)) => format!("{title} ({channel})"),
                (None, Some(channel)) => channel.clone(),
                _ => "a conversation no longer in the registry".into(),
            },
            state: card.state.as_str().into(),
            due: relative(card.due_at, now),
            generator: match &card.model {
                Some(model) => format!("{} ({model})", card.generator),
                None => card.generator.clone(),
            },
            id: card.id,
        })
        .collect();
    let acceptance = store::acceptance(&conn)
        .map_err(wrap)?
        .into_iter()
        .map(|row| Acceptance {
            generator: row.generator,
            model: row.model.unwrap_or_else(|| "–".into()),
            rate: if row.rejected == 0 {
                "none rejected".into()
            } else {
                format!(
                    "{}% kept",
                    row.accepted * 100 / (row.accepted + row.rejected)
                )
            },
            accepted: row.accepted,
            rejected: row.rejected,
        })
        .collect();
    Ok(Some(CardsPage {
        layout: Layout::new("Knowledge Cards", "cards.html", "cards", now),
        due_now,
        total,
        states,
        chart: svg::day_bars(&forecast, &labels, "reviews", "in the next"),
        next_week: forecast.iter().take(7).sum(),
        texts,
        cards: if texts { cards } else { Vec::new() },
        acceptance,
    }))
}
