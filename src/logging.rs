//! Logs go to stderr (stdout belongs to command output and, for `mcp`, to the protocol).
//! `BACKOFFICE_LOG` sets the level: error, warn, info, debug, trace. The default is `info`
//! for the daemon and `warn` for one-shot commands, whose output already says what happened.
//! Every line is scrubbed of known secrets on its way out ([`Scrubbed`]).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::connectors::secret::scrub;

pub fn init(default: LevelFilter) {
    let level = level(default);
    let _ = tracing_subscriber::fmt()
        .with_writer(Scrubbed(std::io::stderr))
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
        .with_writer(Scrubbed(std::io::stderr.and(Mutex::new(file))))
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

/// Wraps a log writer so that every line has the known secrets replaced before it is
/// written (a log line can quote a server's answer or an error that quoted a URL), and
/// control characters from commit messages shown as symbols.
pub struct Scrubbed<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Scrubbed<M> {
    type Writer = Scrubbed<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Scrubbed(self.0.make_writer())
    }
}

impl<W: Write> Write for Scrubbed<W> {
    /// tracing formats a whole event and writes it at once, so one call holds whole lines.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0
            .write_all(crate::display::log_line(&scrub(&text)).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
