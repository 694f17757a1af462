//! `backoffice site`: writes the whole status site once, from the databases, without a daemon
//! (to look at history on a machine where the daemon is stopped, or after changing templates).

use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;

use super::{CommandError, existing_store};
use crate::cli::SiteArgs;
use crate::site::Site;

pub(super) fn execute(state: &Path, args: &SiteArgs) -> Result<ExitCode, CommandError> {
    let Some(store) = existing_store(state)? else {
        return Err(CommandError::Message(format!(
            "no run history in {}: start the daemon with `backoffice serve` first (or pass --state)",
            state.display()
        )));
    };
    let dir = state.join("site");
    let mut site = Site::new(
        &dir,
        args.templates.templates.as_deref(),
        &crate::registry::path_in(state),
    )
    .map_err(|e| CommandError::Message(e.to_string()))?;
    site.show_registry_titles(args.site_registry == crate::cli::SiteRegistry::Titles);
    let report = site
        .generate_all(&store.reader()?, Utc::now())
        .map_err(|e| CommandError::Message(e.to_string()))?;
    println!(
        "wrote {} file(s) in {:.0?}: open {}",
        report.written,
        report.took,
        dir.join("index.html").display()
    );
    Ok(ExitCode::SUCCESS)
}
