//! `backoffice mcp`: the Context Registry's MCP server on stdio. Stdout carries the protocol
//! and nothing else (logs go to stderr); the process exits 0 when the client closes stdin.

use std::path::Path;
use std::process::ExitCode;

use super::{CommandError, runtime};
use crate::registry::tools::RegistryServer;
use crate::registry::{self, Registry, channel, stdio};

pub(super) fn execute(state: &Path) -> Result<ExitCode, CommandError> {
    let registry = Registry::open(&registry::path_in(state))?;
    let server = RegistryServer::new(registry, channel::from_env());
    runtime()?
        .block_on(stdio::serve(server))
        .map_err(|error| CommandError::Message(error.to_string()))?;
    Ok(ExitCode::SUCCESS)
}
