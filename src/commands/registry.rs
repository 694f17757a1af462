//! `backoffice registry stats|import`: the Context Registry from the command line.

use std::path::Path;
use std::process::ExitCode;

use super::{CommandError, print_json, relative};
use crate::cli::{Format, ImportArgs, ImportSource, RegistryCommand, RegistryStatsArgs};
use crate::registry::{self, Registry, import, stats};

pub(super) fn execute(state: &Path, command: &RegistryCommand) -> Result<ExitCode, CommandError> {
    match command {
        RegistryCommand::Stats(args) => show_stats(state, args),
        RegistryCommand::Import(args) => run_import(state, args),
    }
}

fn show_stats(state: &Path, args: &RegistryStatsArgs) -> Result<ExitCode, CommandError> {
    let path = registry::path_in(state);
    let figures = stats::read_stats(&path)?;
    if args.format == Format::Json {
        print_json(&figures)?;
        return Ok(ExitCode::SUCCESS);
    }
    let now = chrono::Utc::now();
    let ago = |at: Option<chrono::DateTime<chrono::Utc>>| {
        at.map_or("-".to_string(), |at| relative(at, now))
    };
    say!(
        "{}: {} sessions, {} messages, {}, last activity {}",
        path.display(),
        figures.sessions,
        figures.messages,
        crate::display::size(figures.db_bytes),
        ago(figures.last_activity)
    );
    if !figures.channels.is_empty() {
        say!(
            "\n{:<20} {:>9} {:>10}  LAST ACTIVITY",
            "CHANNEL",
            "SESSIONS",
            "MESSAGES"
        );
        for channel in &figures.channels {
            say!(
                "{:<20} {:>9} {:>10}  {}",
                channel.channel,
                channel.sessions,
                channel.messages,
                ago(channel.last_activity)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_import(state: &Path, args: &ImportArgs) -> Result<ExitCode, CommandError> {
    let ImportSource::ClaudeCode = args.source;
    let path = match &args.path {
        Some(path) => path.clone(),
        None => import::default_path().ok_or_else(|| {
            CommandError::Message("HOME is not set: give the transcripts folder as PATH".into())
        })?,
    };
    let registry = Registry::open(&registry::path_in(state))?;
    let report = import::import_claude_code(&registry, &path)?;
    match args.format {
        Format::Json => print_json(&report)?,
        Format::Text => say!(
            "{}: {} files, {} sessions, {} messages added, {} already there, {} records skipped",
            path.display(),
            report.files,
            report.sessions,
            report.messages_added,
            report.messages_already_there,
            report.records_skipped
        ),
    }
    Ok(ExitCode::SUCCESS)
}
