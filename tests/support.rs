//! Test helpers: real git repositories in temp folders, the real binary, and waiting.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_backoffice")
}

/// A `backoffice` command with a clean environment: no BACKOFFICE_* from the developer's shell.
pub fn backoffice(state: &Path) -> Command {
    let mut command = Command::new(binary());
    for (name, _) in std::env::vars() {
        if name.starts_with("BACKOFFICE_") {
            command.env_remove(name);
        }
    }
    command.arg("--state").arg(state);
    command.env("BACKOFFICE_LLM_URL", "http://127.0.0.1:9/v1");
    command
}

/// Runs a command and returns its output.
pub fn run(command: &mut Command) -> Output {
    command.output().expect("run backoffice")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Polls `condition` until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A git repository with a work tree in a temp folder, optionally pushed to a bare one.
pub struct TestRepo {
    pub dir: TempDir,
    pub work: PathBuf,
}

impl TestRepo {
    /// `git init -b main` with an identity configured.
    pub fn new() -> TestRepo {
        let dir = tempfile::tempdir().expect("tempdir");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).expect("mkdir");
        let repo = TestRepo { dir, work };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.name", "Ji-woo Park"]);
        repo.git(&["config", "user.email", "jiwoo@example.com"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        repo
    }

    /// Runs git in the work tree and returns its trimmed stdout.
    pub fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git")
            .args(args)
            .current_dir(&self.work)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run git");
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// Writes a file (creating folders).
    pub fn write(&self, path: &str, content: &str) -> &TestRepo {
        let full = self.work.join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, content).expect("write");
        self
    }

    pub fn remove(&self, path: &str) -> &TestRepo {
        self.git(&["rm", "-q", "-r", path]);
        self
    }

    /// Adds everything and commits; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Creates a bare repository beside the work tree, adds it as `origin` and pushes main.
    pub fn bare(&self) -> PathBuf {
        let bare = self.dir.path().join("origin.git");
        let output = Command::new("git")
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&bare)
            .output()
            .expect("git init --bare");
        assert!(output.status.success());
        self.git(&[
            "remote",
            "add",
            "origin",
            bare.to_str().expect("utf-8 path"),
        ]);
        self.push();
        bare
    }

    pub fn push(&self) {
        self.git(&["push", "-q", "origin", "main"]);
    }

    /// A state folder next to the repository.
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
}

/// A job file for the `llm` orchestrator.
pub fn job(name: &str, schedule: &str, extra: &str) -> String {
    format!(
        "name = \"{name}\"\nkind = \"agent\"\nschedule = \"{schedule}\"\ntimezone = \"Asia/Seoul\"\n{extra}\n[agent]\nprompt = \"Say hello for {{{{date}}}}\"\n"
    )
}

/// A running `backoffice serve`; killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub state: PathBuf,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `serve` with `args` (after `serve`) and `env`, and waits until its control socket
    /// answers.
    pub fn start(state: &Path, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        std::fs::create_dir_all(state).expect("state dir");
        let log = state.join("serve.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut command = backoffice(state);
        command.arg("serve").args(args).envs(env.iter().copied());
        if !args.iter().any(|a| *a == "--listen" || *a == "--no-http") {
            // Tests run in parallel: never the default port.
            command.args(["--listen", "127.0.0.1:0"]);
        }
        command.env("BACKOFFICE_LOG", "debug");
        command.stdout(Stdio::null()).stderr(log_file);
        let child = command.spawn().expect("spawn serve");
        let daemon = Daemon {
            child,
            state: state.to_path_buf(),
            log,
        };
        let socket = state.join("backoffice.sock");
        let up = wait_until(Duration::from_secs(15), || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        });
        assert!(up, "serve did not start:\n{}", daemon.log_text());
        daemon
    }

    /// The status site's address, as the daemon logged it (`http://127.0.0.1:PORT`).
    pub fn site_url(&self) -> String {
        let mut found = None;
        wait_until(Duration::from_secs(10), || {
            found = self.log_text().lines().find_map(|line| {
                let at = line.find("status site: http://")?;
                Some(
                    line[at + "status site: ".len()..]
                        .trim()
                        .trim_end_matches('/')
                        .to_string(),
                )
            });
            found.is_some()
        });
        found.unwrap_or_else(|| panic!("no status site address in the log:\n{}", self.log_text()))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `backoffice status --format json` against this daemon's state.
    pub fn status(&self) -> serde_json::Value {
        let output = run(backoffice(&self.state).args(["status", "--format", "json"]));
        serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// Waits until the applied commit is `commit`.
    pub fn wait_applied(&self, commit: &str) -> bool {
        wait_until(Duration::from_secs(10), || {
            self.status()["sync"]["applied_commit"].as_str() == Some(commit)
        })
    }

    /// Sends a signal with `kill`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// SIGTERM and wait for exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.child.wait().expect("wait serve")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens a run database read-only for assertions.
pub fn runs_db(state: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(
        state.join("runs.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open runs.db")
}
