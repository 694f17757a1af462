//! Logs go to stderr (stdout belongs to command output and, for `mcp`, to the protocol).
//! `BACKOFFICE_LOG` sets the level: error, warn, info, debug, trace. The default is `info`
//! for the daemon and `warn` for one-shot commands, whose output already says what happened.

use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;

pub fn init(default: LevelFilter) {
    let level = std::env::var("BACKOFFICE_LOG")
        .ok()
        .and_then(|value| value.parse::<LevelFilter>().ok())
        .unwrap_or(default);
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_max_level(level)
        .with_target(false)
        .try_init();
}
