//! `backoffice connect CLIENT [--write]`: the config entry for a client, with this binary's
//! and the state folder's absolute paths filled in.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::CommandError;
use crate::cli::ConnectArgs;
use crate::registry::connect::{self, Client};

pub(super) fn execute(state: &Path, args: &ConnectArgs) -> Result<ExitCode, CommandError> {
    let binary = std::env::current_exe().map_err(|source| CommandError::Io {
        context: "cannot tell where this binary is".into(),
        source,
    })?;
    let state = absolute(state)?;
    let entry = connect::entry(args.client, &binary, &state);
    let path = match &args.config {
        Some(path) => path.clone(),
        None => args.client.config_path()?,
    };
    if args.write {
        let backup = connect::write(&path, &args.name, &entry)?;
        println!("added `{}` to {}", args.name, path.display());
        if let Some(backup) = backup {
            println!("the previous file is saved as {}", backup.display());
        }
        println!("restart {} to load it", args.client.label());
        return Ok(ExitCode::SUCCESS);
    }
    let snippet = serde_json::to_string_pretty(&connect::snippet(&args.name, &entry))
        .map_err(|error| CommandError::Message(error.to_string()))?;
    println!("{snippet}");
    eprintln!(
        "\nPut the entry above into {} ({}), or run this command again with --write to merge it.",
        path.display(),
        args.client.label()
    );
    if args.client == Client::ClaudeCode {
        eprintln!(
            "Or let Claude Code add it:\n  {}",
            connect::claude_mcp_add(&args.name, &binary, &state)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `path` made absolute against the current folder (it need not exist yet).
fn absolute(path: &Path) -> Result<PathBuf, CommandError> {
    std::path::absolute(path).map_err(|source| CommandError::Io {
        context: format!("cannot resolve {}", path.display()),
        source,
    })
}
