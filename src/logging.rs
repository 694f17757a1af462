//! Logs go to stderr (stdout belongs to command output and, for `mcp`, to the protocol).
//! `BACKOFFICE_LOG` sets the level: error, warn, info (default), debug, trace.

use tracing::level_filters::LevelFilter;

pub fn init() {
    let level = std::env::var("BACKOFFICE_LOG")
        .ok()
        .and_then(|value| value.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .try_init();
}
