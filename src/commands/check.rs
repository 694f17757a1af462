//! `backoffice check`: validate job files from the working tree, for pull-request CI.

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::{CommandError, local_time, print_json, utc_time};
use crate::catalog::{self, SourceContent, SourceFile};
use crate::cli::{CheckArgs, CheckFormat};
use crate::job_file::FileError;

#[derive(Serialize)]
struct Report {
    valid: bool,
    jobs: Vec<JobReport>,
    errors: Vec<FileError>,
}

#[derive(Serialize)]
struct JobReport {
    id: String,
    file: String,
    name: String,
    schedule: String,
    timezone: String,
    enabled: bool,
    next: Vec<Firing>,
    warnings: Vec<String>,
}

/// One upcoming firing: RFC 3339 in JSON (as every command prints times for machines), the
/// words people read in text.
#[derive(Serialize)]
struct Firing {
    /// In the job's zone, with its offset: `2027-03-14T16:00:00+09:00`.
    local: String,
    /// `2027-03-14T07:00:00Z`.
    utc: DateTime<Utc>,
    #[serde(skip)]
    local_text: String,
}

pub(super) fn execute(args: &CheckArgs) -> Result<ExitCode, CommandError> {
    let mut files = Vec::new();
    for path in &args.paths {
        collect(path, &mut files)?;
    }
    let catalog = catalog::load(&files);
    let now = Utc::now();
    let year = now + chrono::Duration::days(366);
    let jobs: Vec<JobReport> = catalog
        .jobs
        .values()
        .map(|job| {
            let zone = job.schedule.timezone();
            JobReport {
                id: job.id.to_string(),
                file: job.file.clone(),
                name: job.name.clone(),
                schedule: job.schedule.expression().to_string(),
                timezone: zone.name().to_string(),
                enabled: job.enabled,
                next: job
                    .schedule
                    .upcoming(now, args.count)
                    .into_iter()
                    .map(|at| Firing {
                        local: at
                            .with_timezone(&zone)
                            .to_rfc3339_opts(SecondsFormat::AutoSi, false),
                        utc: at,
                        local_text: local_time(at, zone),
                    })
                    .collect(),
                warnings: job.schedule.dst_notes(now, year),
            }
        })
        .collect();
    let report = Report {
        valid: catalog.invalid.is_empty(),
        jobs,
        errors: catalog.errors().cloned().collect(),
    };
    match args.format {
        CheckFormat::Json => print_json(&report)?,
        CheckFormat::Text => print_text(&report, files.len()),
        CheckFormat::Github => print_github(&report, &files),
    }
    Ok(if report.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_text(report: &Report, file_count: usize) {
    for error in &report.errors {
        say!("error: {error}");
    }
    if !report.errors.is_empty() {
        say!();
    }
    for job in &report.jobs {
        let suspended = if job.enabled {
            ""
        } else {
            "  [suspended: enabled = false]"
        };
        say!(
            "ok  {}  ({})  \"{}\" at {} {}{suspended}",
            job.id,
            job.file,
            job.name,
            job.schedule,
            job.timezone
        );
        for firing in &job.next {
            say!("      {}   = {}", firing.local_text, utc_time(firing.utc));
        }
        for warning in &job.warnings {
            say!("    warning: daylight saving: {warning}");
        }
    }
    let invalid_files: std::collections::BTreeSet<&str> =
        report.errors.iter().map(|e| e.file.as_str()).collect();
    if file_count == 0 {
        say!("no job files (*.toml) found");
    } else {
        say!(
            "\n{} job file(s): {} valid, {} invalid",
            file_count,
            report.jobs.len(),
            invalid_files.len()
        );
    }
}

/// GitHub Actions workflow commands: `::error` on each error's line and column, `::warning`
/// on the `schedule` line for daylight-saving notes, then the summary as a plain line.
fn print_github(report: &Report, files: &[SourceFile]) {
    for error in &report.errors {
        let title = match &error.field {
            Some(field) => format!("backoffice check: {field}"),
            None => "backoffice check".to_string(),
        };
        println!(
            "::error file={},line={},col={},title={}::{}",
            property(&error.file),
            error.line,
            error.column,
            property(&title),
            data(&error.message)
        );
    }
    for job in &report.jobs {
        let line = files
            .iter()
            .find(|f| f.path == job.file)
            .and_then(|f| match &f.content {
                SourceContent::Text(text) => schedule_line(text),
                _ => None,
            })
            .unwrap_or(1);
        for warning in &job.warnings {
            println!(
                "::warning file={},line={line},title={}::{}",
                property(&job.file),
                property("daylight saving"),
                data(warning)
            );
        }
    }
    let invalid: std::collections::BTreeSet<&str> =
        report.errors.iter().map(|e| e.file.as_str()).collect();
    println!(
        "{} job file(s): {} valid, {} invalid",
        files.len(),
        report.jobs.len(),
        invalid.len()
    );
}

/// The line of the top-level `schedule = …` key, 1-based.
fn schedule_line(text: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.starts_with("schedule") && l["schedule".len()..].trim_start().starts_with('=')
        })
        .map(|i| i + 1)
}

/// A workflow command's message: `%`, CR and LF escaped, so no text from a job file can end
/// the command or start another (terminal control characters are dropped too).
fn data(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A workflow command's property value: as [`data`], plus `:` and `,`.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Adds the job files at `path` (a file, or a folder searched recursively).
fn collect(path: &Path, files: &mut Vec<SourceFile>) -> Result<(), CommandError> {
    let meta = std::fs::symlink_metadata(path).map_err(|source| CommandError::Io {
        context: format!("cannot read {}", path.display()),
        source,
    })?;
    if meta.is_dir() {
        let root = path.to_path_buf();
        walk(&root, &root, files)
    } else {
        files.push(source_file(
            path,
            path.parent().unwrap_or(Path::new("")),
            meta.file_type().is_symlink(),
        )?);
        Ok(())
    }
}

fn walk(root: &Path, folder: &Path, files: &mut Vec<SourceFile>) -> Result<(), CommandError> {
    let io = |source| CommandError::Io {
        context: format!("cannot list {}", folder.display()),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(io)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        let meta = std::fs::symlink_metadata(&entry).map_err(io)?;
        if meta.is_dir() {
            walk(root, &entry, files)?;
        } else if entry.extension().is_some_and(|e| e == "toml") {
            files.push(source_file(&entry, root, meta.file_type().is_symlink())?);
        }
    }
    Ok(())
}

/// Reads one file; its id is its path below the nearest `jobs` folder (as in git), else below
/// the folder it was found in.
fn source_file(path: &Path, root: &Path, is_symlink: bool) -> Result<SourceFile, CommandError> {
    let components: Vec<Component<'_>> = path.components().collect();
    let after_jobs = components
        .iter()
        .rposition(|c| c.as_os_str() == "jobs")
        .map(|index| components[index + 1..].iter().collect::<PathBuf>());
    let relative = after_jobs
        .or_else(|| path.strip_prefix(root).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf());
    let id = relative
        .with_extension("")
        .to_string_lossy()
        .replace('\\', "/");
    let content = if is_symlink {
        SourceContent::Symlink
    } else {
        let bytes = std::fs::read(path).map_err(|source| CommandError::Io {
            context: format!("cannot read {}", path.display()),
            source,
        })?;
        SourceContent::from_bytes(bytes)
    };
    Ok(SourceFile {
        path: path.display().to_string(),
        id,
        content,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_cannot_be_broken_out_of() {
        assert_eq!(
            data("50% done\n::error::x\r\u{1b}[31m"),
            "50%25 done%0A::error::x%0D[31m"
        );
        assert_eq!(property("jobs/a,b:c.toml"), "jobs/a%2Cb%3Ac.toml");
        assert_eq!(
            schedule_line("name = \"x\"\n  schedule = \"0 7 * * *\""),
            Some(2)
        );
        assert_eq!(schedule_line("schedules = 1"), None);
    }
}
