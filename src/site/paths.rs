//! Where a request path leads inside the site folder, and what kind of file it is: pure
//! functions over the path, so every trick (encoded dots and slashes, symlinks out, dotfiles)
//! is refused in one place.

use std::path::{Path, PathBuf};

/// Where a request path leads.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    File(PathBuf),
    /// A folder asked for without its trailing slash: relative links need it.
    Redirect(String),
    NotFound,
    /// An attempt to leave the site folder, or a path that cannot be a file of ours.
    Forbidden,
}

/// Resolves the path of `url` inside `root` (canonical). Each segment is percent-decoded on
/// its own, so `%2f` cannot make a separator and `%2e%2e` is as refused as `..`.
pub fn resolve(root: &Path, url: &str) -> Target {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let Some(rest) = path.strip_prefix('/') else {
        return Target::Forbidden;
    };
    let mut target = root.to_path_buf();
    for raw in rest.split('/').filter(|s| !s.is_empty()) {
        let Some(segment) = percent_decode(raw) else {
            return Target::Forbidden;
        };
        if segment == "."
            || segment == ".."
            || segment.contains(['/', '\\', '\0'])
            || segment.contains(':')
        {
            return Target::Forbidden;
        }
        if segment.starts_with('.') {
            // Dotfiles (our temporary files among them) are not part of the site.
            return Target::NotFound;
        }
        target.push(segment);
    }
    if target.is_dir() {
        if !path.ends_with('/') {
            return Target::Redirect(format!("{path}/"));
        }
        target.push("index.html");
    }
    match target.canonicalize() {
        Ok(real) if real.starts_with(root) && real.is_file() => Target::File(real),
        Ok(real) if !real.starts_with(root) => Target::Forbidden,
        _ => Target::NotFound,
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape or bytes that are not UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = segment.get(index + 1..index + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The `Content-Type` of a site file, by its extension.
pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("xml") => "application/atom+xml; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
