//! Egress grants: the hosts a tenant allows a plugin to reach, and the hosts an
//! operator binds a secret to.

use serde::{Deserialize, Serialize};

/// One host (and optionally one port) a tenant allows a plugin to reach.
///
/// Written `host` (any port) or `host:port`; IPv6 addresses in brackets
/// (`[::1]:8080`). Host names match exactly, case-insensitively: no wildcards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Grant {
    host: String,
    port: Option<u16>,
}

impl Grant {
    /// Whether this grant allows a request to `host:port`.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        self.host
            .eq_ignore_ascii_case(host.trim_start_matches('[').trim_end_matches(']'))
            && self.port.is_none_or(|p| p == port)
    }

    /// The host name or address, lowercase, IPv6 without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, if the grant names one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The address, when the grant is written as one (`10.0.0.5:8080`): naming
    /// an address is how an operator allows a private one explicitly.
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        self.host.parse().ok()
    }

    /// Whether this grant covers a host a plugin declares it needs: same host, and
    /// any port, or the declared one.
    pub fn covers(&self, declared: &Grant) -> bool {
        self.host == declared.host && (self.port.is_none() || self.port == declared.port)
    }
}

impl std::str::FromStr for Grant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("grant `{s}` is not `host` or `host:port`");
        let s = s.trim();
        if s.is_empty() || s.contains(['/', '*', '@', ' ']) {
            return Err(bad());
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            match after {
                "" => (host, None),
                p => (host, Some(p.strip_prefix(':').ok_or_else(bad)?)),
            }
        } else {
            match s.rsplit_once(':') {
                Some((host, port)) if !host.contains(':') => (host, Some(port)),
                Some(_) => return Err(format!("grant `{s}`: write IPv6 addresses in brackets")),
                None => (s, None),
            }
        };
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| format!("grant `{s}` has an invalid port"))
            })
            .transpose()?;
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Grant {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl TryFrom<String> for Grant {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Grant> for String {
    fn from(g: Grant) -> String {
        g.to_string()
    }
}

impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(port) => write!(f, "{host}:{port}"),
            None => f.write_str(&host),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_parse_and_match() {
        let any_port: Grant = "API.example.com".parse().unwrap();
        assert!(any_port.allows("api.example.com", 443));
        assert!(any_port.allows("api.example.com", 8080));
        assert!(!any_port.allows("evil.example.com", 443));
        let one_port: Grant = "127.0.0.1:8080".parse().unwrap();
        assert!(one_port.allows("127.0.0.1", 8080));
        assert!(!one_port.allows("127.0.0.1", 8081));
        let v6: Grant = "[::1]:9000".parse().unwrap();
        assert!(v6.allows("[::1]", 9000));
        assert_eq!(v6.to_string(), "[::1]:9000");
        for bad in ["", "http://x", "*.example.com", "host:port", "::1", "a b"] {
            assert!(bad.parse::<Grant>().is_err(), "{bad} should be refused");
        }
    }
}
