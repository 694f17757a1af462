//! Remote mode's fetch, done by the `git` program rather than by libgit2.
//!
//! Why a child process: libgit2's HTTPS transport starts OpenSSL and loads the CA bundle the
//! moment git2 is first used, even when the repository is local, which cost every daemon
//! about 4 MB resident (issue 13); and libgit2 as built here had no SSH transport. `git`
//! brings the user's own setup, exactly as `git fetch` behaves in their shell: https, SSH
//! with their keys and agent, credential helpers, proxies and `insteadOf` rules.
//!
//! The child can never prompt or hang the syncer: it has no stdin and no controlling
//! terminal (`setsid`, so neither git nor ssh can ask for a password), `GIT_TERMINAL_PROMPT`
//! is off, and past a deadline its whole process group is killed.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::connectors::secret;

/// How long one fetch may take before it is killed and reported.
pub(super) const FETCH_TIMEOUT: Duration = Duration::from_secs(120);

/// The variable holding the password for an HTTPS remote.
const TOKEN_VAR: &str = "BACKOFFICE_GIT_TOKEN";

/// At most this much of git's error output is read.
const MAX_STDERR: usize = 16 * 1024;

/// How long git's error output is waited for once git has exited.
const STDERR_GRACE: Duration = Duration::from_secs(1);

/// At most this much of it goes into the message.
const MAX_MESSAGE: usize = 600;

/// A git credential helper that answers `get` with [`TOKEN_VAR`] as the password and the
/// URL's user name (else `x-access-token`, which is GitHub's). The shell reads the token from
/// the environment, so it never appears on a command line, where `ps` would show it.
const TOKEN_HELPER: &str = concat!(
    "!f() { test \"$1\" = get || return 0; user=x-access-token; ",
    "while IFS= read -r line; do case \"$line\" in username=?*) user=\"${line#username=}\";; esac; done; ",
    "printf 'username=%s\\npassword=%s\\n' \"$user\" \"$BACKOFFICE_GIT_TOKEN\"; }; f"
);

/// The `-c` settings that make the token the only credential tried, when it is set.
/// Otherwise the user's own credential helpers answer, as for their `git fetch`.
pub(super) fn credential_config(token_set: bool) -> Vec<String> {
    if !token_set {
        return Vec::new();
    }
    // The empty value first clears the helpers from the user's config.
    ["-c", "credential.helper=", "-c"]
        .into_iter()
        .map(str::to_string)
        .chain([format!("credential.helper={TOKEN_HELPER}")])
        .collect()
}

/// Fetches `branch` of `url` into the bare repository at `git_dir`, as
/// `refs/remotes/origin/<branch>`. The error is git's own words, scrubbed of secrets.
pub(super) fn fetch(
    git_dir: &Path,
    url: &str,
    branch: &str,
    timeout: Duration,
) -> Result<(), String> {
    let token_set = std::env::var_os(TOKEN_VAR).is_some_and(|v| !v.is_empty());
    let mut command = Command::new("git");
    command
        .args(credential_config(token_set))
        // Housekeeping that git starts after a fetch finishes inside our deadline instead of
        // outliving it in the background.
        .args([
            "-c",
            "gc.autoDetach=false",
            "-c",
            "maintenance.autoDetach=false",
        ])
        .arg("--git-dir")
        .arg(git_dir)
        .args([
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--",
        ])
        .arg(url)
        .arg(format!("+refs/heads/{branch}:refs/remotes/origin/{branch}"))
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: setsid is async-signal-safe and touches nothing of the parent's state; it runs
    // in the forked child before exec.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run `git` (remote mode needs it on PATH): {e}"))?;
    let stderr = child.stderr.take();
    let text = Arc::new(Mutex::new(Vec::new()));
    let (done, finished_reading) = std::sync::mpsc::channel::<()>();
    let collected = Arc::clone(&text);
    std::thread::spawn(move || {
        if let Some(mut stderr) = stderr {
            let mut buffer = [0u8; 4096];
            // Whatever could not be read is simply not in the message.
            while let Ok(read @ 1..) = stderr.read(&mut buffer) {
                let mut text = collected.lock().unwrap_or_else(PoisonError::into_inner);
                let room = MAX_STDERR.saturating_sub(text.len()).min(read);
                text.extend_from_slice(&buffer[..room]);
            }
        }
        let _ = done.send(());
    });
    let finished = wait(&mut child, timeout);
    // A process git left behind (an ssh connection master) may hold the pipe open after
    // git is gone: what git wrote is there by then, and the rest is not worth waiting for.
    let _ = finished_reading.recv_timeout(STDERR_GRACE);
    let stderr = std::mem::take(&mut *text.lock().unwrap_or_else(PoisonError::into_inner));
    match finished {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(message(&stderr, status)),
        Err(WaitError::TimedOut) => Err(format!(
            "git fetch did not finish within {} s and was stopped",
            timeout.as_secs()
        )),
        Err(WaitError::Io(e)) => Err(format!("cannot wait for git fetch: {e}")),
    }
}

enum WaitError {
    TimedOut,
    Io(std::io::Error),
}

/// Waits for `child` until `timeout`, then kills its process group (git's transport helpers
/// and ssh with it) and reaps it.
fn wait(child: &mut Child, timeout: Duration) -> Result<ExitStatus, WaitError> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                if let Ok(pid) = i32::try_from(child.id()) {
                    // SAFETY: kill only sends a signal; the group is the child's own session.
                    unsafe { libc::kill(-pid, libc::SIGKILL) };
                }
                // Reaps it; the group is already dying, so this does not block for long.
                let _ = child.wait();
                return Err(WaitError::TimedOut);
            }
            Ok(None) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(WaitError::Io(e)),
        }
    }
}

/// git's error lines, as one line without control characters, secrets or excess.
fn message(stderr: &[u8], status: ExitStatus) -> String {
    let text = String::from_utf8_lossy(stderr);
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let clean: String = joined.chars().filter(|c| !c.is_control()).collect();
    let clean = secret::scrub(&clean);
    if clean.is_empty() {
        return format!("git fetch failed ({status})");
    }
    match clean.char_indices().nth(MAX_MESSAGE) {
        Some((cut, _)) => format!("{}…", &clean[..cut]),
        None => clean.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    fn bare_repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        git2::Repository::init_bare(dir.path()).unwrap();
        dir
    }

    #[test]
    fn the_token_helper_answers_with_the_token_and_the_urls_user_name() {
        let fill = |input: &str| {
            let mut child = Command::new("git")
                .args(credential_config(true))
                .args(["credential", "fill"])
                .env(TOKEN_VAR, "tok-123 with space")
                .env("GIT_TERMINAL_PROMPT", "0")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("git on PATH");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success());
            String::from_utf8(out.stdout).unwrap()
        };
        let plain = fill("protocol=https\nhost=example.com\n\n");
        assert!(plain.contains("username=x-access-token\n"), "{plain}");
        assert!(plain.contains("password=tok-123 with space\n"), "{plain}");
        let named = fill("protocol=https\nhost=gitlab.com\nusername=oauth2\n\n");
        assert!(named.contains("username=oauth2\n"), "{named}");
        assert!(named.contains("password=tok-123 with space\n"), "{named}");
    }

    #[test]
    fn without_a_token_the_users_helpers_are_left_alone() {
        assert!(credential_config(false).is_empty());
    }

    #[test]
    fn a_missing_branch_is_reported_in_gits_words() {
        let remote = bare_repo();
        let mirror = bare_repo();
        let url = remote.path().display().to_string();
        let error = fetch(mirror.path(), &url, "main", FETCH_TIMEOUT).unwrap_err();
        assert!(error.contains("refs/heads/main"), "{error}");
        assert!(!error.contains('\n'), "{error}");
    }

    #[test]
    fn a_server_that_never_answers_is_stopped_at_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts and then says nothing, holding the connection open.
        let held = std::thread::spawn(move || listener.accept().map(|(socket, _)| socket));
        let mirror = bare_repo();
        let url = format!("http://127.0.0.1:{port}/jobs.git");
        let started = Instant::now();
        let error = fetch(mirror.path(), &url, "main", Duration::from_secs(2)).unwrap_err();
        assert!(error.contains("did not finish within 2 s"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(10));
        drop(held.join());
    }

    #[test]
    fn a_process_left_holding_the_error_pipe_does_not_hold_up_the_fetch() {
        let mirror = bare_repo();
        // The "ssh" leaves a process behind with git's stderr, as a connection master can.
        git2::Repository::open_bare(mirror.path())
            .unwrap()
            .config()
            .unwrap()
            .set_str(
                "core.sshCommand",
                "f() { sleep 30 </dev/null >/dev/null & exit 1; }; f",
            )
            .unwrap();
        let started = Instant::now();
        let error = fetch(
            mirror.path(),
            "ssh://example.invalid/jobs.git",
            "main",
            FETCH_TIMEOUT,
        )
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10), "{error}");
        assert!(error.contains("remote"), "{error}");
    }

    #[test]
    fn errors_are_one_clean_line_without_secrets() {
        secret::Secret::new("BACKOFFICE_GIT_TOKEN", "s3cr3t-token-value");
        let status = Command::new("false").status().unwrap();
        let text = message(
            b"fatal: auth failed for s3cr3t-token-value\n\x1b[31mred\x1b[0m\n\n",
            status,
        );
        assert_eq!(
            text,
            "fatal: auth failed for [redacted BACKOFFICE_GIT_TOKEN] [31mred[0m"
        );
        assert_eq!(message(b"", status), format!("git fetch failed ({status})"));
    }
}
