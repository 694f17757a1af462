//! The catalog: every job file of one tree, parsed and validated, with all errors kept.
//!
//! Pure: it gets file contents (from git or from disk) and returns jobs and errors. Where the
//! files came from, and what to do with an invalid one, is for `repo`, `check` and `reconcile`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::job::{Job, JobId};
use crate::job_file::notify::DEFAULTS_ID;
use crate::job_file::{self, FileError};
use crate::notify::settings::Defaults;

/// One file found under `jobs/`.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path shown to people, `jobs/team/standup.toml`.
    pub path: String,
    /// Path relative to the jobs folder, without `.toml`: the job id to be.
    pub id: String,
    pub content: SourceContent,
}

/// What a job file holds, as far as we may read it.
#[derive(Debug, Clone)]
pub enum SourceContent {
    Text(String),
    /// A symlink in the git tree: never followed, so never a job.
    Symlink,
    /// Not UTF-8: where the first byte that is not, so an editor can jump to it.
    NotUtf8 {
        line: usize,
        column: usize,
    },
    /// Larger than [`MAX_FILE_BYTES`]; never parsed.
    TooLarge {
        bytes: usize,
    },
}

/// The largest job file we parse. A real one is a few kilobytes; a limit keeps a hostile
/// commit from making every reconcile read and parse megabytes.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

impl SourceContent {
    /// What `bytes` hold as a job file.
    pub fn from_bytes(bytes: Vec<u8>) -> SourceContent {
        if bytes.len() > MAX_FILE_BYTES {
            return SourceContent::TooLarge { bytes: bytes.len() };
        }
        match String::from_utf8(bytes) {
            Ok(text) => SourceContent::Text(text),
            Err(error) => {
                let valid = error.utf8_error().valid_up_to();
                let bytes = error.as_bytes();
                // The prefix is valid UTF-8 by definition of `valid_up_to`.
                let before = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
                let (line, column) = crate::location::line_column(before, before.len());
                SourceContent::NotUtf8 { line, column }
            }
        }
    }
}

/// A file that did not validate; `id` is the job it would define, when the path gives one.
#[derive(Debug, Clone, Serialize)]
pub struct InvalidFile {
    pub path: String,
    pub id: Option<JobId>,
    pub errors: Vec<FileError>,
}

/// Valid jobs by id and invalid files by path, and what `jobs/_defaults.toml` says.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub jobs: BTreeMap<JobId, Arc<Job>>,
    pub invalid: Vec<InvalidFile>,
    pub defaults: DefaultsFile,
}

/// `jobs/_defaults.toml`, the settings every job shares. Never a job itself.
#[derive(Debug, Clone, Default)]
pub enum DefaultsFile {
    /// No such file: every job's own settings are all there is.
    #[default]
    Absent,
    /// Valid, with its text (the daemon keeps it beside the deployed jobs).
    Valid {
        defaults: Arc<Defaults>,
        text: String,
    },
    /// It has errors, listed with the invalid files; the last good version stays in force.
    Invalid,
}

/// Whether `file` is the defaults file rather than a job.
pub fn is_defaults(file: &SourceFile) -> bool {
    file.id == DEFAULTS_ID
}

/// Parses the defaults file.
pub fn load_defaults(file: &SourceFile) -> Result<DefaultsFile, InvalidFile> {
    let invalid = |errors| InvalidFile {
        path: file.path.clone(),
        id: None,
        errors,
    };
    let whole_file = |message: &str| {
        vec![FileError {
            file: file.path.clone(),
            line: 1,
            column: 1,
            field: None,
            message: message.to_string(),
        }]
    };
    match &file.content {
        SourceContent::Text(text) => job_file::notify::parse_defaults(&file.path, text)
            .map(|defaults| DefaultsFile::Valid {
                defaults: Arc::new(defaults),
                text: text.clone(),
            })
            .map_err(invalid),
        SourceContent::Symlink => Err(invalid(whole_file(
            "is a symbolic link; the defaults file must be a regular file (links are never followed)",
        ))),
        SourceContent::NotUtf8 { .. } | SourceContent::TooLarge { .. } => Err(invalid(whole_file(
            "is not a UTF-8 text file under 1 MiB; save it as UTF-8 text",
        ))),
    }
}

impl Catalog {
    /// Every error of every file, in path order.
    pub fn errors(&self) -> impl Iterator<Item = &FileError> {
        self.invalid.iter().flat_map(|file| file.errors.iter())
    }
}

/// The result of reading one file: a job, or its errors.
pub type FileOutcome = Result<Arc<Job>, InvalidFile>;

/// Parses and validates one file.
pub fn load_file(file: &SourceFile) -> FileOutcome {
    let whole_file = |message: String| FileError {
        file: file.path.clone(),
        line: 1,
        column: 1,
        field: None,
        message,
    };
    let id = match JobId::new(&file.id) {
        Ok(id) => id,
        Err(message) => {
            return Err(InvalidFile {
                path: file.path.clone(),
                id: None,
                errors: vec![whole_file(message)],
            });
        }
    };
    let invalid = |errors| InvalidFile {
        path: file.path.clone(),
        id: Some(id.clone()),
        errors,
    };
    match &file.content {
        SourceContent::Text(text) => job_file::parse(&file.path, id.clone(), text)
            .map(Arc::new)
            .map_err(invalid),
        SourceContent::Symlink => Err(invalid(vec![whole_file(
            "is a symbolic link; job files must be regular files (links are never followed)".into(),
        )])),
        SourceContent::NotUtf8 { line, column } => Err(invalid(vec![FileError {
            line: *line,
            column: *column,
            ..whole_file("is not UTF-8 text here; save the file as UTF-8".into())
        }])),
        SourceContent::TooLarge { bytes } => Err(invalid(vec![whole_file(format!(
            "is {bytes} bytes; a job file may have at most {MAX_FILE_BYTES} (1 MiB)"
        ))])),
    }
}

/// Builds a catalog from per-file outcomes, rejecting ids that differ only by letter case
/// (they would collide on macOS and Windows checkouts and in the site's file names).
pub fn assemble(outcomes: impl IntoIterator<Item = FileOutcome>) -> Catalog {
    let mut catalog = Catalog::default();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut outcomes: Vec<FileOutcome> = outcomes.into_iter().collect();
    outcomes.sort_by(|a, b| path_of(a).cmp(path_of(b)));
    for outcome in outcomes {
        match outcome {
            Ok(job) => {
                let folded = job.id.as_str().to_lowercase();
                if let Some(first) = seen.get(&folded) {
                    catalog.invalid.push(InvalidFile {
                        path: job.file.clone(),
                        id: Some(job.id.clone()),
                        errors: vec![FileError {
                            file: job.file.clone(),
                            line: 1,
                            column: 1,
                            field: None,
                            message: format!(
                                "job id `{}` collides with the job in {first} (ids must differ by more than letter case)",
                                job.id
                            ),
                        }],
                    });
                    continue;
                }
                seen.insert(folded, job.file.clone());
                catalog.jobs.insert(job.id.clone(), job);
            }
            Err(invalid) => catalog.invalid.push(invalid),
        }
    }
    catalog
}

fn path_of(outcome: &FileOutcome) -> &str {
    match outcome {
        Ok(job) => &job.file,
        Err(invalid) => &invalid.path,
    }
}

/// Loads every file, the defaults file apart.
pub fn load(files: &[SourceFile]) -> Catalog {
    let (defaults, jobs): (Vec<&SourceFile>, Vec<&SourceFile>) =
        files.iter().partition(|file| is_defaults(file));
    let mut catalog = assemble(jobs.into_iter().map(load_file));
    if let Some(file) = defaults.first() {
        catalog.set_defaults(load_defaults(file));
    }
    catalog
}

impl Catalog {
    /// Records the defaults file's outcome; its errors join the invalid files.
    pub fn set_defaults(&mut self, outcome: Result<DefaultsFile, InvalidFile>) {
        match outcome {
            Ok(defaults) => self.defaults = defaults,
            Err(invalid) => {
                self.defaults = DefaultsFile::Invalid;
                self.invalid.push(invalid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: SourceContent) -> SourceFile {
        let id = path
            .trim_start_matches("jobs/")
            .trim_end_matches(".toml")
            .to_string();
        SourceFile {
            path: path.into(),
            id,
            content,
        }
    }

    const JOB: &str =
        "name = \"x\"\nkind = \"agent\"\nschedule = \"@daily\"\n[agent]\nprompt = \"hi\"\n";

    #[test]
    fn a_bad_file_does_not_stop_the_others() {
        let catalog = load(&[
            file("jobs/a.toml", SourceContent::Text(JOB.into())),
            file("jobs/b.toml", SourceContent::Text("name = ".into())),
            file("jobs/team/c.toml", SourceContent::Text(JOB.into())),
            file("jobs/link.toml", SourceContent::Symlink),
            file(
                "jobs/bin.toml",
                SourceContent::from_bytes(
                    b"name = \"x\"\nkind = \"agent\"\n\n# caf\xe9\n".to_vec(),
                ),
            ),
            file("jobs/bad name.toml", SourceContent::Text(JOB.into())),
        ]);
        let ids: Vec<&str> = catalog.jobs.keys().map(JobId::as_str).collect();
        assert_eq!(ids, ["a", "team/c"]);
        let messages: Vec<String> = catalog.errors().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 4, "{messages:#?}");
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("jobs/link.toml:1:1: is a symbolic link"))
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("jobs/bin.toml:4:6: is not UTF-8")),
            "{messages:#?}"
        );
        assert!(messages.iter().any(|m| m.starts_with("jobs/bad name.toml:1:1: `bad name` is not a usable job id")));
        assert!(messages.iter().any(|m| m.starts_with("jobs/b.toml:1:")));
    }

    #[test]
    fn the_defaults_file_is_not_a_job_and_its_errors_are_listed() {
        let with_notify = format!("{JOB}[notify]\non = []\n");
        let catalog = load(&[
            file(
                "jobs/_defaults.toml",
                SourceContent::Text("[notify]\nslack = \"#ops\"\n".into()),
            ),
            file("jobs/a.toml", SourceContent::Text(with_notify)),
            file("jobs/team/_defaults.toml", SourceContent::Text(JOB.into())),
        ]);
        let ids: Vec<&str> = catalog.jobs.keys().map(JobId::as_str).collect();
        assert_eq!(
            ids,
            ["a", "team/_defaults"],
            "only the top-level file is the defaults"
        );
        let DefaultsFile::Valid { defaults, .. } = &catalog.defaults else {
            panic!("valid defaults expected: {:?}", catalog.defaults);
        };
        let job = &catalog.jobs[&JobId::new("a").expect("id")];
        assert!(
            !job.notify
                .over(&defaults.notify)
                .wants(crate::notify::settings::Event::Failure)
        );
        let broken = load(&[file(
            "jobs/_defaults.toml",
            SourceContent::Text("[notify]\nwebhook = \"https://hooks.example/x\"\n".into()),
        )]);
        assert!(matches!(broken.defaults, DefaultsFile::Invalid));
        let message = broken.errors().next().expect("error").to_string();
        assert!(
            message.starts_with("jobs/_defaults.toml:2:11: `notify.webhook`"),
            "{message}"
        );
    }

    #[test]
    fn an_oversized_file_is_refused_unparsed() {
        let big = SourceContent::from_bytes(vec![b'#'; MAX_FILE_BYTES + 1]);
        let catalog = load(&[file("jobs/big.toml", big)]);
        let messages: Vec<String> = catalog.errors().map(ToString::to_string).collect();
        assert!(messages[0].contains("at most 1048576"), "{messages:?}");
    }

    #[test]
    fn ids_differing_only_by_case_collide() {
        let catalog = load(&[
            file("jobs/Report.toml", SourceContent::Text(JOB.into())),
            file("jobs/report.toml", SourceContent::Text(JOB.into())),
        ]);
        assert_eq!(catalog.jobs.len(), 1);
        let error = catalog.errors().next().expect("collision");
        assert!(
            error
                .message
                .contains("collides with the job in jobs/Report.toml"),
            "{error}"
        );
    }
}
