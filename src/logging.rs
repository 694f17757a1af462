//! Logs go to stderr (stdout belongs to command output and, for `mcp`, to the protocol).
//! `BACKOFFICE_LOG` sets the level: error, warn, info, debug, trace. The default is `info`
//! for the daemon and `warn` for one-shot commands, whose output already says what happened.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;

use tracing::level_filters::LevelFilter;

pub fn init(default: LevelFilter) {
    let level = level(default);
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_max_level(level)
        .with_target(false)
        .try_init();
}

/// Like [`init`], and also appends to `file` (for MCP clients that hide a server's stderr).
pub fn init_with_file(default: LevelFilter, file: &Path) -> std::io::Result<()> {
    use tracing_subscriber::fmt::writer::MakeWriterExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr.and(Mutex::new(file)))
        .with_ansi(false)
        .with_max_level(level(default))
        .with_target(false)
        .try_init();
    Ok(())
}

fn level(default: LevelFilter) -> LevelFilter {
    std::env::var("BACKOFFICE_LOG")
        .ok()
        .and_then(|value| value.parse::<LevelFilter>().ok())
        .unwrap_or(default)
}
