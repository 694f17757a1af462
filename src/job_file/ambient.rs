//! Stage two for `kind = "ambient"`: the `[ambient]` table of a Knowledge Cards job.

use serde::Deserialize;
use toml::Spanned;

use super::Checker;
use crate::cards::spec::{
    CardsTask, DEFAULT_DAILY_NEW, DEFAULT_MAX_CARDS, DEFAULT_RETENTION, Generator,
};
use crate::job::Task;
use crate::registry::channel;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAmbient {
    task: Option<Spanned<String>>,
    channels: Option<Spanned<Vec<Spanned<String>>>>,
    workspaces: Option<Spanned<Vec<Spanned<String>>>>,
    max_cards: Option<Spanned<i64>>,
    daily_new_limit: Option<Spanned<i64>>,
    generator: Option<Spanned<String>>,
    model: Option<Spanned<String>>,
    desired_retention: Option<Spanned<f64>>,
}

/// Validates `[ambient]`; `at` is where `kind` is, for errors about the table as a whole.
pub(super) fn validate(checker: &mut Checker<'_>, raw: &RawAmbient, at: usize) -> Option<Task> {
    match &raw.task {
        None => {
            checker.error(
                at,
                Some("ambient.task"),
                "missing required field `task`; use task = \"knowledge-cards\"",
            );
            return None;
        }
        Some(task) if task.get_ref() != "knowledge-cards" => {
            checker.error(
                task.span().start,
                Some("ambient.task"),
                format!(
                    "`{}` is not an ambient task; use \"knowledge-cards\"",
                    task.get_ref()
                ),
            );
            return None;
        }
        Some(_) => {}
    }
    let channels = raw.channels.as_ref().map_or_else(Vec::new, |list| {
        let mut names = Vec::new();
        for name in list.get_ref() {
            match channel::normalize(name.get_ref()) {
                Ok(name) if !names.contains(&name) => names.push(name),
                Ok(_) => {}
                Err(error) => checker.error(
                    name.span().start,
                    Some("ambient.channels"),
                    error.to_string(),
                ),
            }
        }
        if names.is_empty() && checker.errors.is_empty() {
            checker.error(
                list.span().start,
                Some("ambient.channels"),
                "is empty: list channels such as \"cursor\", or leave it out for all",
            );
        }
        names
    });
    let workspaces = raw.workspaces.as_ref().map_or_else(Vec::new, |list| {
        list.get_ref()
            .iter()
            .filter_map(|w| {
                let text = w.get_ref().trim();
                if text.is_empty() {
                    checker.error(
                        w.span().start,
                        Some("ambient.workspaces"),
                        "must not be empty",
                    );
                    None
                } else {
                    Some(text.to_string())
                }
            })
            .collect()
    });
    let max_cards = bounded(
        checker,
        &raw.max_cards,
        "ambient.max_cards",
        DEFAULT_MAX_CARDS,
        1,
        100,
    );
    let daily_new_limit = bounded(
        checker,
        &raw.daily_new_limit,
        "ambient.daily_new_limit",
        DEFAULT_DAILY_NEW,
        1,
        500,
    );
    let generator = checker.choice(
        &raw.generator,
        "ambient.generator",
        Generator::Llm,
        &[("llm", Generator::Llm), ("offline", Generator::Offline)],
    );
    let model = raw.model.as_ref().map(|model| {
        let text = model.get_ref().trim();
        if text.is_empty() {
            checker.error(
                model.span().start,
                Some("ambient.model"),
                "must not be empty; leave it out to use BACKOFFICE_LLM_MODEL",
            );
        } else if generator == Generator::Offline {
            checker.error(
                model.span().start,
                Some("ambient.model"),
                "only used by generator = \"llm\"; remove it for \"offline\"",
            );
        }
        text.to_string()
    });
    let desired_retention = match &raw.desired_retention {
        None => DEFAULT_RETENTION,
        Some(value) if (0.7..=0.99).contains(value.get_ref()) => *value.get_ref(),
        Some(value) => {
            checker.error(
                value.span().start,
                Some("ambient.desired_retention"),
                format!(
                    "`{}` is out of range: use 0.7 to 0.99 (0.9 means nine reviews in ten are remembered)",
                    value.get_ref()
                ),
            );
            DEFAULT_RETENTION
        }
    };
    Some(Task::Cards(Box::new(CardsTask {
        channels,
        workspaces,
        max_cards,
        daily_new_limit,
        generator,
        model,
        desired_retention,
    })))
}

fn bounded(
    checker: &mut Checker<'_>,
    value: &Option<Spanned<i64>>,
    field: &str,
    default: u32,
    min: u32,
    max: u32,
) -> u32 {
    let Some(value) = value else { return default };
    match u32::try_from(*value.get_ref()) {
        Ok(n) if (min..=max).contains(&n) => n,
        _ => {
            checker.error(
                value.span().start,
                Some(field),
                format!("`{}` is out of range: use {min} to {max}", value.get_ref()),
            );
            default
        }
    }
}
