//! `backoffice cards due|review|list|export`: Knowledge Cards on the terminal.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;

use super::{CommandError, print_json, relative};
use crate::cards::card::{Grade, State, question_text};
use crate::cards::review::{self, DueCard};
use crate::cards::schedule::Fsrs;
use crate::cards::{export, store};
use crate::cli::{
    CardStateArg, CardsCommand, CardsExportArgs, CardsListArgs, CardsReviewArgs, Format,
};
use crate::registry::{self, Registry};

pub(super) fn execute(state: &Path, command: &CardsCommand) -> Result<ExitCode, CommandError> {
    let path = registry::path_in(state);
    if !path.exists() {
        return Err(CommandError::Message(format!(
            "no Context Registry at {}: cards are made from conversations logged through `backoffice mcp` (see `backoffice connect`), by a job with kind = \"ambient\"",
            path.display()
        )));
    }
    let registry = Registry::open(&path)?;
    match command {
        CardsCommand::Due(args) => due(&registry, args),
        CardsCommand::List(args) => list(&registry, args),
        CardsCommand::Review(args) => review_loop(&registry, args),
        CardsCommand::Export(args) => export_all(&registry, args),
    }
}

fn due(registry: &Registry, args: &CardsListArgs) -> Result<ExitCode, CommandError> {
    let now = Utc::now();
    let (cards, total) = registry.with(|conn| {
        Ok((
            store::due(conn, now, usize::from(args.limit))?,
            store::counts(conn, now)?.0,
        ))
    })?;
    let shown: Vec<DueCard> = cards.iter().map(DueCard::from_row).collect();
    if args.format == Format::Json {
        print_json(&shown)?;
        return Ok(ExitCode::SUCCESS);
    }
    if shown.is_empty() {
        say!("Nothing due. {}", next_due_text(registry)?);
        return Ok(ExitCode::SUCCESS);
    }
    say!("{total} card(s) due; `backoffice cards review` to go through them.");
    for card in &shown {
        say!("\n{}  [{}]\n  {}", card.card_id, card.state, card.question);
        if let Some(title) = &card.session_title {
            say!(
                "  from \"{title}\" ({})",
                card.channel.as_deref().unwrap_or("?")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn next_due_text(registry: &Registry) -> Result<String, CommandError> {
    let now = Utc::now();
    let next = registry.with(|conn| {
        conn.query_row(
            "SELECT min(due_at) FROM cards WHERE state IN ('new', 'learning', 'review')",
            [],
            |row| row.get::<_, Option<i64>>(0),
        )
    })?;
    Ok(match next {
        Some(at) => format!(
            "The next card is due {}.",
            relative(crate::store::time::from_db(at), now)
        ),
        None => "No cards yet.".into(),
    })
}

fn list(registry: &Registry, args: &CardsListArgs) -> Result<ExitCode, CommandError> {
    let state = args.only.map(|s| match s {
        CardStateArg::New => State::New,
        CardStateArg::Learning => State::Learning,
        CardStateArg::Review => State::Review,
        CardStateArg::Suspended => State::Suspended,
        CardStateArg::Rejected => State::Rejected,
    });
    let cards = registry.with(|conn| store::recent(conn, state, usize::from(args.limit)))?;
    if args.format == Format::Json {
        print_json(&cards)?;
        return Ok(ExitCode::SUCCESS);
    }
    let now = Utc::now();
    for card in &cards {
        say!(
            "{}  {:<9}  due {:<14}  {}",
            card.id,
            card.state.as_str(),
            relative(card.due_at, now),
            question_text(card.kind, &card.front)
        );
    }
    if cards.is_empty() {
        say!("No cards yet: they come from the knowledge-cards job's runs.");
    }
    Ok(ExitCode::SUCCESS)
}

/// Question, the person's answer, the reference and its source, a grade: until `q`, the
/// limit, or nothing is due. Reads lines, so it also works piped.
fn review_loop(registry: &Registry, args: &CardsReviewArgs) -> Result<ExitCode, CommandError> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let model = Fsrs::default();
    let mut reviewed = 0;
    while reviewed < usize::from(args.limit) {
        let now = Utc::now();
        let Some(card) = registry
            .with(|conn| store::due(conn, now, 1))?
            .into_iter()
            .next()
        else {
            break;
        };
        say!("\n{}", question_text(card.kind, &card.front));
        if let Some(title) = &card.session_title {
            say!(
                "  (from \"{title}\", {})",
                card.channel.as_deref().unwrap_or("?")
            );
        }
        prompt("your answer (Enter to show, q to stop): ")?;
        let Some(Ok(answer)) = lines.next() else {
            break;
        };
        if answer.trim() == "q" {
            break;
        }
        say!(
            "answer: {}",
            crate::cards::card::answer_text(card.kind, &card.front, &card.back)
        );
        if !card.quote.is_empty() {
            say!("source: \"{}\"", card.quote);
        }
        let grade = loop {
            prompt("grade 1 again, 2 hard, 3 good, 4 easy (q to stop): ")?;
            let Some(Ok(line)) = lines.next() else {
                return Ok(ExitCode::SUCCESS);
            };
            if line.trim() == "q" {
                return Ok(ExitCode::SUCCESS);
            }
            match Grade::parse(&line) {
                Some(grade) => break grade,
                None => say!("type 1, 2, 3 or 4"),
            }
        };
        let id = card.id.clone();
        let answered = registry
            .with(|conn| Ok(review::answer(conn, &model, &id, grade, Utc::now())))?
            .map_err(|e| CommandError::Message(e.to_string()))?;
        say!("next: in {} ({})", answered.next_in, answered.next_due);
        reviewed += 1;
    }
    say!(
        "\nReviewed {reviewed} card(s). {}",
        next_due_text(registry)?
    );
    Ok(ExitCode::SUCCESS)
}

fn prompt(text: &str) -> Result<(), CommandError> {
    let mut out = std::io::stdout();
    write!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|source| CommandError::Io {
            context: "cannot write to the terminal".into(),
            source,
        })
}

fn export_all(registry: &Registry, args: &CardsExportArgs) -> Result<ExitCode, CommandError> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let io = |source| CommandError::Io {
        context: "cannot write the export".into(),
        source,
    };
    export::header(&mut out).map_err(io)?;
    let mut failed = None;
    registry.with(|conn| {
        store::exportable(conn, |card| {
            if failed.is_none()
                && let Err(error) = export::line(&mut out, &card, &args.deck)
            {
                failed = Some(error);
            }
        })
    })?;
    if let Some(error) = failed {
        return Err(io(error));
    }
    out.flush().map_err(io)?;
    Ok(ExitCode::SUCCESS)
}
