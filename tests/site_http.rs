//! The status site's HTTP server over real TCP on 127.0.0.1, with requests written byte for
//! byte (an HTTP client library would tidy away the attacks): traversal, methods, HEAD,
//! revalidation, a large request. Then `serve` end to end: a run and a broken push show up.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use backoffice::site::server::SiteServer;

use crate::support::{Daemon, TestRepo, backoffice, job, run, wait_until};

/// Sends `request` as it is and returns (status, headers, body).
fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request).expect("send");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&answer)));
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    (status, head, answer[split + 4..].to_vec())
}

fn get(addr: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

fn site_with_secret(root: &Path) -> std::path::PathBuf {
    let site = root.join("site");
    std::fs::create_dir_all(site.join("jobs")).expect("mkdir");
    std::fs::write(
        site.join("index.html"),
        "<!doctype html><title>home</title>",
    )
    .expect("write");
    std::fs::write(site.join("jobs/index.html"), "jobs page").expect("write");
    std::fs::write(site.join("status.json"), "{}").expect("write");
    std::fs::write(site.join("style.css"), "body{}").expect("write");
    std::fs::write(site.join(".index.html.1.tmp"), "half").expect("write");
    std::fs::write(root.join("secret.txt"), "TOP SECRET").expect("write");
    std::os::unix::fs::symlink(root.join("secret.txt"), site.join("leak.html")).expect("symlink");
    site
}

#[test]
fn serves_the_site_folder_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = site_with_secret(dir.path());
    let server = SiteServer::start("127.0.0.1:0", &site, &[]).expect("start");
    let addr = server.addr();

    let (status, head, body) = get(addr, "/");
    assert_eq!(status, 200);
    assert_eq!(body, b"<!doctype html><title>home</title>");
    assert_eq!(
        header(&head, "Content-Type"),
        Some("text/html; charset=utf-8")
    );
    let csp = header(&head, "Content-Security-Policy").expect("CSP");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(get(addr, "/jobs/").0, 200);
    let (status, head, _) = get(addr, "/jobs");
    assert_eq!((status, header(&head, "Location")), (301, Some("/jobs/")));
    assert_eq!(
        header(&get(addr, "/status.json").1, "Content-Type"),
        Some("application/json")
    );
    assert_eq!(
        header(&get(addr, "/style.css").1, "Content-Type"),
        Some("text/css; charset=utf-8")
    );
    assert_eq!(get(addr, "/index.html?utm=1").0, 200);

    for attack in [
        "/../secret.txt",
        "/jobs/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "/jobs%2f..%2f..%2fsecret.txt",
        "/%252e%252e/secret.txt",
        "/..%5csecret.txt",
        "//etc/passwd",
        "/etc/passwd",
        "/leak.html",
        "/.index.html.1.tmp",
        "/%zz",
        "/%c0%ae%c0%ae/secret.txt",
        "http://evil.example/../secret.txt",
    ] {
        let (status, _, body) = get(addr, attack);
        assert!(matches!(status, 400 | 403 | 404), "{attack}: {status}");
        assert!(
            !String::from_utf8_lossy(&body).contains("TOP SECRET"),
            "{attack} leaked"
        );
        assert!(
            !String::from_utf8_lossy(&body).contains("root:"),
            "{attack} leaked"
        );
    }
    assert_eq!(get(addr, "/leak.html").0, 403, "symlink out of the folder");

    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let (status, head, _) = raw(
            addr,
            format!("{method} /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert_eq!(status, 405, "{method}");
        assert_eq!(header(&head, "Allow"), Some("GET, HEAD"));
    }
    let (status, head, body) = raw(
        addr,
        b"HEAD /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200);
    assert!(body.is_empty(), "HEAD has no body");
    assert_eq!(header(&head, "Content-Length"), Some("34"));

    let (_, head, _) = get(addr, "/index.html");
    let etag = header(&head, "ETag").expect("etag").to_string();
    let modified = header(&head, "Last-Modified")
        .expect("last-modified")
        .to_string();
    let (status, _, body) = raw(
        addr,
        format!("GET /index.html HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!((status, body.len()), (304, 0));
    let (status, _, _) = raw(
        addr,
        format!("GET /index.html HTTP/1.1\r\nHost: localhost\r\nIf-Modified-Since: {modified}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(status, 304);
    let (status, _, _) = raw(
        addr,
        b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: \"other\"\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200);

    // A large request: a 1 MB body on a POST and a 64 KB header; then it still serves.
    let mut big = b"POST /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1048576\r\nConnection: close\r\n\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'a', 1 << 20));
    assert_eq!(raw(addr, &big).0, 405);
    let long_header = format!(
        "GET /index.html HTTP/1.1\r\nHost: localhost\r\nX-Filler: {}\r\nConnection: close\r\n\r\n",
        "b".repeat(64 * 1024)
    );
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let _ = stream.write_all(long_header.as_bytes());
    let mut sink = Vec::new();
    let _ = stream.read_to_end(&mut sink);
    assert_eq!(get(addr, "/").0, 200, "still serving");
    server.stop();
}

#[test]
fn a_run_and_a_broken_push_show_up_on_the_served_site() {
    let repo = TestRepo::new();
    repo.write("jobs/standup.toml", &job("Stand-up", "0 9 * * 1-5", ""))
        .write("jobs/retro.toml", &job("Retro", "0 17 * * 5", ""));
    repo.commit("two jobs");
    let state = repo.state();
    let daemon = Daemon::start(
        &state,
        &["--repo", repo.work.to_str().expect("path")],
        &[("BACKOFFICE_LLM_URL", "http://127.0.0.1:9/v1")],
    );
    let url = daemon.site_url();
    let addr: SocketAddr = url.trim_start_matches("http://").parse().expect("address");
    let page = |path: &str| String::from_utf8_lossy(&get(addr, path).2).into_owned();
    assert!(
        wait_until(Duration::from_secs(10), || page("/jobs/index.html")
            .contains("Stand-up")),
        "jobs listed: {}",
        page("/jobs/index.html")
    );
    assert!(page("/jobs/index.html").contains("on weekdays at 09:00 Asia/Seoul"));

    // Run it now: the LLM endpoint is unreachable, so the run fails, and says why.
    let output = run(backoffice(&state).args(["run", "standup", "--wait"]));
    assert!(!output.status.success());
    assert!(
        wait_until(Duration::from_secs(10), || page("/jobs/standup.html")
            .contains("class=\"status failed\"")),
        "run on the job page: {}",
        page("/jobs/standup.html")
    );
    assert!(
        page("/jobs/standup.html").contains("127.0.0.1:9"),
        "the error says where"
    );
    assert!(
        page("/jobs/standup.html").contains("<h1>Stand-up"),
        "still named after the run"
    );

    repo.write(
        "jobs/retro.toml",
        "name = \"Retro\"\nkind = \"agent\"\nschedule = \"0 17 * * 8\"\n[agent]\nprompt = \"x\"\n",
    );
    let broken = repo.commit("break the retro");
    assert!(daemon.wait_applied(&broken));
    assert!(
        wait_until(Duration::from_secs(10), || page("/")
            .contains("jobs/retro.toml:3:")),
        "error with file:line:column on the dashboard: {}",
        page("/")
    );
    let status: serde_json::Value = serde_json::from_str(&page("/status.json")).expect("json");
    assert_eq!(status["overall"]["level"], "bad");
    let next = page("/jobs/index.html");
    assert!(
        next.contains("every Friday at 17:00 Asia/Seoul"),
        "the last good retro keeps its schedule"
    );
    daemon.stop();
}
