//! The git side: resolve the tracked ref, read `jobs/**/*.toml` from the committed tree (never
//! the working tree), and in remote mode fetch into a mirror under `state/`.
//!
//! Everything git is in this module. Files are read as blobs from the tree, so a symlink is
//! reported as one and never followed, and uncommitted edits never deploy.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};
use serde::Serialize;

use crate::catalog::SourceContent;
use crate::connectors::redact_url;

mod fetch;

/// The folder, at the root of the tree, that holds job files.
pub const JOBS_DIR: &str = "jobs";

/// A git failure, naming the repository and what we tried.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("cannot open git repository {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("{path}: HEAD is not on a branch; pass --branch NAME")]
    Detached { path: PathBuf },
    #[error("{path}: cannot resolve `{reference}`: {message}")]
    Resolve {
        path: PathBuf,
        reference: String,
        message: String,
    },
    #[error("{path}: cannot read commit {commit}: {message}")]
    Read {
        path: PathBuf,
        commit: String,
        message: String,
    },
    #[error("cannot fetch branch `{branch}` from {url}: {message}")]
    Fetch {
        url: String,
        branch: String,
        message: String,
    },
}

/// Who committed what, for deployment records.
#[derive(Debug, Clone, Serialize)]
pub struct CommitInfo {
    pub id: String,
    pub author: String,
    /// The first line of the message.
    pub message: String,
    pub time: DateTime<Utc>,
}

/// A `.toml` file under `jobs/` in a tree.
#[derive(Debug, Clone)]
pub struct TreeFile {
    /// `jobs/team/standup.toml`
    pub path: String,
    /// `team/standup`
    pub id: String,
    pub blob: Oid,
    pub is_symlink: bool,
}

/// An open repository.
pub struct Repo {
    inner: Repository,
    path: PathBuf,
}

impl Repo {
    /// Opens the repository at `path` (bare or with a work tree, or any folder inside one).
    pub fn open(path: &Path) -> Result<Repo, RepoError> {
        let inner = Repository::discover(path).map_err(|error| RepoError::Open {
            path: path.to_path_buf(),
            message: error.message().to_string(),
        })?;
        Ok(Repo {
            path: path.to_path_buf(),
            inner,
        })
    }

    /// Opens the bare mirror at `path`, creating it when missing (remote mode).
    pub fn open_mirror(path: &Path) -> Result<Repo, RepoError> {
        let inner = Repository::open_bare(path)
            .or_else(|_| Repository::init_bare(path))
            .map_err(|error| RepoError::Open {
                path: path.to_path_buf(),
                message: error.message().to_string(),
            })?;
        Ok(Repo {
            path: path.to_path_buf(),
            inner,
        })
    }

    /// Lets go of the pack files libgit2 mapped while reading: it keeps them mapped for as
    /// long as the repository is open, and a daemon reads git only when a ref moves. Measured
    /// with 10,000 jobs: 1 MB of idle resident memory (the pack and its index). Reopening is
    /// all it takes; should that fail, the open repository is kept.
    pub fn release_packs(&mut self) {
        if let Ok(fresh) = Repository::open(self.inner.path()) {
            self.inner = fresh;
        }
    }

    /// The folder whose files change when a ref moves (shared by all worktrees): the one to watch.
    pub fn git_dir(&self) -> PathBuf {
        self.inner.commondir().to_path_buf()
    }

    /// The folder the user named.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The branch HEAD points at.
    pub fn current_branch(&self) -> Result<String, RepoError> {
        let head = self
            .inner
            .find_reference("HEAD")
            .ok()
            .and_then(|head| head.symbolic_target().ok().flatten().map(str::to_string));
        head.and_then(|target| target.strip_prefix("refs/heads/").map(str::to_string))
            .ok_or_else(|| RepoError::Detached {
                path: self.path.clone(),
            })
    }

    /// Resolves a branch name, a full ref, a remote-tracking name or a commit id to a commit.
    pub fn resolve(&self, reference: &str) -> Result<Oid, RepoError> {
        let fail = |message: String| RepoError::Resolve {
            path: self.path.clone(),
            reference: reference.to_string(),
            message,
        };
        let candidates = [format!("refs/heads/{reference}"), reference.to_string()];
        for candidate in &candidates {
            if let Ok(object) = self.inner.revparse_single(candidate) {
                return object
                    .peel_to_commit()
                    .map(|commit| commit.id())
                    .map_err(|error| fail(error.message().to_string()));
            }
        }
        Err(fail("no such branch, ref or commit".into()))
    }

    /// Author, summary and time of a commit.
    pub fn commit_info(&self, oid: Oid) -> Result<CommitInfo, RepoError> {
        let commit = self
            .inner
            .find_commit(oid)
            .map_err(|e| self.read_error(oid, e))?;
        let author = commit.author();
        let name = author.name().unwrap_or("unknown");
        let author = match author.email() {
            Ok(email) if !email.is_empty() => format!("{name} <{email}>"),
            _ => name.to_string(),
        };
        Ok(CommitInfo {
            id: oid.to_string(),
            author,
            message: commit.summary().ok().flatten().unwrap_or("").to_string(),
            time: DateTime::from_timestamp(commit.time().seconds(), 0).unwrap_or_default(),
        })
    }

    /// Every `*.toml` under `jobs/` in the commit's tree, with its blob id.
    pub fn job_files(&self, oid: Oid) -> Result<Vec<TreeFile>, RepoError> {
        let commit = self
            .inner
            .find_commit(oid)
            .map_err(|e| self.read_error(oid, e))?;
        let tree = commit.tree().map_err(|e| self.read_error(oid, e))?;
        let Ok(entry) = tree.get_path(Path::new(JOBS_DIR)) else {
            return Ok(Vec::new());
        };
        if entry.kind() != Some(ObjectType::Tree) {
            return Ok(Vec::new());
        }
        let jobs = self
            .inner
            .find_tree(entry.id())
            .map_err(|e| self.read_error(oid, e))?;
        let mut files = Vec::new();
        jobs.walk(TreeWalkMode::PreOrder, |folder, entry| {
            let Ok(name) = entry.name() else {
                return TreeWalkResult::Ok;
            };
            let is_file = entry.kind() == Some(ObjectType::Blob);
            if let (true, Some(stem)) = (is_file, name.strip_suffix(".toml")) {
                files.push(TreeFile {
                    path: format!("{JOBS_DIR}/{folder}{name}"),
                    id: format!("{folder}{stem}"),
                    blob: entry.id(),
                    is_symlink: entry.filemode() == 0o120000,
                });
            }
            TreeWalkResult::Ok
        })
        .map_err(|e| self.read_error(oid, e))?;
        Ok(files)
    }

    /// The content of a job file's blob.
    pub fn read(&self, file: &TreeFile) -> Result<SourceContent, RepoError> {
        if file.is_symlink {
            return Ok(SourceContent::Symlink);
        }
        let blob = self
            .inner
            .find_blob(file.blob)
            .map_err(|e| self.read_error(file.blob, e))?;
        Ok(SourceContent::from_bytes(blob.content().to_vec()))
    }

    /// Fetches `branch` from `url` into this mirror (with the `git` program, see [`fetch`])
    /// and returns the fetched commit.
    pub fn fetch(&self, url: &str, branch: &str) -> Result<Oid, RepoError> {
        let fail = |message: String| RepoError::Fetch {
            url: redact_url(url),
            branch: branch.to_string(),
            message,
        };
        fetch::fetch(&self.git_dir(), url, branch, fetch::FETCH_TIMEOUT).map_err(fail)?;
        let tracking = format!("refs/remotes/origin/{branch}");
        self.inner
            .refname_to_id(&tracking)
            .map_err(|_| fail(format!("the remote has no branch `{branch}`")))
    }

    fn read_error(&self, oid: Oid, error: git2::Error) -> RepoError {
        RepoError::Read {
            path: self.path.clone(),
            commit: oid.to_string(),
            message: error.message().to_string(),
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let status = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(dir)
            .status()
            .expect("git on PATH");
        assert!(status.success(), "git {args:?}");
    }

    /// Whether this process has a file of the folder `packs` mapped.
    fn mapped(packs: &Path) -> bool {
        let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
        maps.contains(&*packs.to_string_lossy())
    }

    #[test]
    fn reading_a_packed_commit_maps_its_pack_until_the_packs_are_released() {
        let dir = tempfile::tempdir().expect("tempdir");
        git(dir.path(), &["init", "-q"]);
        std::fs::create_dir(dir.path().join("jobs")).expect("jobs");
        std::fs::write(dir.path().join("jobs/a.toml"), "name = \"a\"\n").expect("write");
        git(dir.path(), &["add", "."]);
        git(dir.path(), &["commit", "-qm", "a"]);
        git(dir.path(), &["repack", "-adq"]);
        let packs = dir.path().join(".git/objects/pack");
        let mut repo = Repo::open(dir.path()).expect("open");
        let head = repo.resolve("HEAD").expect("head");
        let files = repo.job_files(head).expect("files");
        assert!(matches!(repo.read(&files[0]), Ok(SourceContent::Text(_))));
        assert!(mapped(&packs), "reading did not map the pack");
        repo.release_packs();
        assert!(!mapped(&packs), "the pack is still mapped");
        // The reopened repository reads as before.
        assert_eq!(repo.job_files(head).expect("files again").len(), 1);
    }
}
