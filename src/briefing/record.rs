//! The briefing as it is stored with the run, printed by `--format json`, rendered on the
//! run page and turned into Notion blocks. Links in it come from item ids only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::item::SourceReport;
use super::window::Window;
use crate::connectors::llm::ContextSource;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub label: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bullet {
    pub text: String,
    /// Full ids of the items it cites.
    pub items: Vec<String>,
    pub links: Vec<Link>,
    /// It cites an item briefed before that changed since.
    #[serde(default)]
    pub update: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// `decisions`, `to_answer`, `updates`, or `digest` when no model answered.
    pub key: String,
    pub heading: String,
    pub bullets: Vec<Bullet>,
}

/// One model call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub step: String,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    /// Our estimate of what was sent, for budgets and for servers that report no usage.
    pub estimated_tokens: u64,
    pub ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub items_collected: usize,
    pub items_new: usize,
    pub items_updated: usize,
    pub items_repeated: usize,
    pub noise_dropped: usize,
    /// Items whose text was shortened to fit the model's context (never silently).
    pub items_shortened: usize,
    /// Items left out of the model's input because even shortened they did not fit.
    pub items_left_out: usize,
    /// Bullets of the model that cited no collected item.
    pub claims_dropped: usize,
    pub model: String,
    pub context_tokens: u32,
    /// Where `context_tokens` came from: the server, the job file or the default.
    pub context_source: String,
    pub prompt_hash: String,
    /// `single` (one call), `chunked:N`, or `digest` (no model).
    pub strategy: String,
    pub calls: Vec<Call>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// Estimated tokens of the collected items' whole text: what sending everything would cost.
    pub raw_tokens: u64,
    /// Estimated tokens of the items as sent.
    pub sent_tokens: u64,
    pub steps_ms: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageRef {
    pub id: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Briefing {
    pub job: String,
    pub title: String,
    /// The local day it is for, `2026-12-01`.
    pub date: String,
    pub window: Window,
    /// The model gave no usable answer for some or all of it; the rest is a digest in code.
    pub degraded: bool,
    pub degraded_reason: Option<String>,
    pub sections: Vec<Section>,
    pub sources: Vec<SourceReport>,
    pub stats: Stats,
    pub page: Option<PageRef>,
    /// Problems after the page was written (the Slack post), which do not fail the run.
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl Briefing {
    pub fn bullets(&self) -> usize {
        self.sections.iter().map(|s| s.bullets.len()).sum()
    }
}

/// The model's context size as recorded.
pub fn context_label(source: Option<ContextSource>, from_job: bool) -> String {
    match (source, from_job) {
        (Some(ContextSource::LlamaCpp), _) => "server (llama.cpp /props)".into(),
        (Some(ContextSource::Ollama), _) => "server (Ollama /api/ps)".into(),
        (None, true) => "job file (agent.context_tokens)".into(),
        (None, false) => "default (the server did not say; set agent.context_tokens)".into(),
    }
}
