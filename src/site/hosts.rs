//! Which `Host` headers the site (and `--mcp-listen`'s names) answer: the defence against
//! DNS rebinding, where a page of the attacker's resolves its own name to 127.0.0.1 and reads
//! the site through the browser. Only names can be rebound, so addresses are judged by
//! where we listen and names by a list.

/// What `Host` may name: loopback, the address listened on, and the names configured.
#[derive(Debug)]
pub struct AllowedHosts {
    names: Vec<String>,
    /// Listening on 0.0.0.0 or [::] answers on every address, so any IP address is fine
    /// (an address cannot be rebound; only names can).
    any_address: bool,
    listen: std::net::IpAddr,
}

impl AllowedHosts {
    pub fn new(listen: std::net::SocketAddr, extra: &[String]) -> AllowedHosts {
        let mut names = vec!["localhost".to_string()];
        names.extend(
            extra
                .iter()
                .map(|name| name.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|name| !name.is_empty()),
        );
        AllowedHosts {
            names,
            any_address: listen.ip().is_unspecified(),
            listen: listen.ip(),
        }
    }

    /// Whether a request with this `Host` header (none at all is HTTP/1.0, not a browser)
    /// may be answered.
    pub fn allows(&self, host: Option<&str>) -> bool {
        let Some(host) = host else { return true };
        let host = host.trim();
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(""),
            None => host.rsplit_once(':').map_or(host, |(name, _)| name),
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Ok(ip) = name.parse::<std::net::IpAddr>() {
            return ip.is_loopback() || ip == self.listen || self.any_address;
        }
        self.names.contains(&name) || name.ends_with(".localhost")
    }
}

#[cfg(test)]
mod tests {
    use super::AllowedHosts;

    #[test]
    fn only_local_listen_and_configured_hosts_are_answered() {
        let local = AllowedHosts::new(
            "127.0.0.1:8080".parse().expect("addr"),
            &["status.example.com".into()],
        );
        for host in [
            None,
            Some("127.0.0.1:8080"),
            Some("localhost:8080"),
            Some("LOCALHOST"),
            Some("[::1]:8080"),
            Some("app.localhost:8080"),
            Some("status.example.com"),
            Some("Status.Example.com.:443"),
        ] {
            assert!(local.allows(host), "{host:?}");
        }
        for host in [
            Some("evil.example:8080"),
            Some("127.0.0.1.evil.example"),
            Some("10.0.0.5:8080"),
            Some(""),
            Some("example.com"),
        ] {
            assert!(!local.allows(host), "{host:?}");
        }
        let everywhere = AllowedHosts::new("0.0.0.0:8080".parse().expect("addr"), &[]);
        assert!(everywhere.allows(Some("192.168.1.20:8080")));
        assert!(!everywhere.allows(Some("rebind.example:8080")));
    }
}
