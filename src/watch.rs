//! Notices a ref move in a local repository the moment it happens: `git push` into a bare
//! repository, a commit or `git reset` in a working clone. We watch the git folder itself
//! (for `HEAD`, `packed-refs` and lock-file renames) and `refs/` below it, and ignore objects,
//! the index and logs, which change without any ref moving.

use std::path::Path;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Keeps the OS watch alive; dropping it stops the events.
pub struct RefWatcher {
    _watcher: RecommendedWatcher,
}

/// Sends `()` on `changed` whenever something under `git_dir` that can move a ref changes.
pub fn watch_refs(
    git_dir: &Path,
    changed: mpsc::UnboundedSender<()>,
) -> notify::Result<RefWatcher> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let relevant = match &event {
            // Reading a ref (as every sync does) raises access events: only changes count,
            // or each sync would trigger the next.
            Ok(event) => {
                !matches!(event.kind, notify::EventKind::Access(_))
                    && event.paths.iter().any(|path| moves_a_ref(path))
            }
            // An overflowed queue may have hidden a ref move: look.
            Err(_) => true,
        };
        if relevant {
            let _ = changed.send(());
        }
    })?;
    watcher.watch(git_dir, RecursiveMode::NonRecursive)?;
    let refs = git_dir.join("refs");
    if refs.is_dir() {
        watcher.watch(&refs, RecursiveMode::Recursive)?;
    }
    Ok(RefWatcher { _watcher: watcher })
}

fn moves_a_ref(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    path.components().any(|c| c.as_os_str() == "refs")
        || name.starts_with("packed-refs")
        || name.starts_with("HEAD")
}

#[cfg(test)]
mod tests {
    use super::moves_a_ref;
    use std::path::Path;

    #[test]
    fn only_ref_files_count() {
        assert!(moves_a_ref(Path::new("/r/.git/refs/heads/main.lock")));
        assert!(moves_a_ref(Path::new("/r/.git/packed-refs")));
        assert!(moves_a_ref(Path::new("/r/x.git/HEAD")));
        assert!(!moves_a_ref(Path::new("/r/.git/index")));
        assert!(!moves_a_ref(Path::new("/r/.git/objects/ab/cdef")));
    }
}
