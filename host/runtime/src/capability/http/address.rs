//! Which addresses egress may connect to. A grant names a host; what the host
//! resolves to decides where the connection goes, so the check is made on the
//! address itself, at connect time ([`Resolver`]), for every connection: a name
//! that resolves to a private address later (DNS rebinding) is refused then.
//!
//! Loopback, private, link-local (cloud metadata at `169.254.169.254` among
//! them), carrier-grade NAT, unique-local, multicast and reserved addresses are
//! refused unless the operator allowed them: by granting the address itself
//! (`10.0.0.5:8080`), or by allowing its network for the tenant. The host's own
//! listeners (the admin API) are refused always.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, RwLock};

/// The IPv4 networks that are not the public internet.
const SPECIAL_V4: &[&str] = &[
    "0.0.0.0/8",       // "this network"
    "10.0.0.0/8",      // private
    "100.64.0.0/10",   // carrier-grade NAT (some clouds' metadata lives here)
    "127.0.0.0/8",     // loopback
    "169.254.0.0/16",  // link-local, cloud metadata
    "172.16.0.0/12",   // private
    "192.0.0.0/24",    // IETF protocol assignments
    "192.0.2.0/24",    // documentation
    "192.88.99.0/24",  // 6to4 relay
    "192.168.0.0/16",  // private
    "198.18.0.0/15",   // benchmarking
    "198.51.100.0/24", // documentation
    "203.0.113.0/24",  // documentation
    "224.0.0.0/4",     // multicast
    "240.0.0.0/4",     // reserved, broadcast
];

/// The IPv6 networks that are not the public internet (addresses that embed an
/// IPv4 address are judged by that address).
const SPECIAL_V6: &[&str] = &[
    "::/128",        // unspecified
    "::1/128",       // loopback
    "100::/64",      // discard
    "2001:db8::/32", // documentation
    "fc00::/7",      // unique local (AWS metadata `fd00:ec2::254`)
    "fe80::/10",     // link-local
    "ff00::/8",      // multicast
];

/// Whether `ip` is outside the public internet.
pub fn is_special(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => in_any(SPECIAL_V4, IpAddr::V4(v4)),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_special(IpAddr::V4(v4)),
            None => in_any(SPECIAL_V6, IpAddr::V6(v6)),
        },
    }
}

fn in_any(nets: &[&str], ip: IpAddr) -> bool {
    nets.iter().any(|net| {
        net.parse::<IpNet>()
            .expect("the special networks parse")
            .contains(&ip)
    })
}

/// The IPv4 address an IPv6 address carries: mapped (`::ffff:a.b.c.d`),
/// compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) or 6to4 (`2002::/16`).
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0, _, _] if v6 != Ipv6Addr::UNSPECIFIED && v6 != Ipv6Addr::LOCALHOST => {
            Some(low)
        }
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, a, b, ..] => Some(Ipv4Addr::new(
            (a >> 8) as u8,
            a as u8,
            (b >> 8) as u8,
            b as u8,
        )),
        _ => None,
    }
}

/// The addresses of the host's own listeners, which egress never connects to,
/// whatever the grants: a plugin must not reach the admin API.
#[derive(Debug, Clone, Default)]
pub struct Listeners(Arc<RwLock<Vec<SocketAddr>>>);

impl Listeners {
    /// Adds a listener's address.
    pub fn add(&self, addr: SocketAddr) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).push(addr);
    }

    /// Whether `addr` is one of them (an unspecified listener address, such as
    /// `0.0.0.0:7878`, covers every address at its port).
    pub fn contains(&self, addr: SocketAddr) -> bool {
        let canonical = |ip: IpAddr| match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|l| {
                l.port() == addr.port()
                    && (l.ip().is_unspecified() || canonical(l.ip()) == canonical(addr.ip()))
            })
    }

    /// Whether a listener has this port: a name requested on it must not
    /// resolve to the listener.
    pub fn has_port(&self, port: u16) -> bool {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|l| l.port() == port)
    }
}

/// Why egress did not connect: every address the host resolved to is one the
/// operator has not allowed. Reported to the guest as `denied`.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{host}` resolves to {}, which egress does not connect to: a loopback, private or link-local address; the operator may allow its network for the tenant",
    list(addrs)
)]
pub struct Refused {
    pub host: String,
    pub addrs: Vec<IpAddr>,
}

fn list(addrs: &[IpAddr]) -> String {
    let addrs: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    addrs.join(", ")
}

/// The resolver of egress's HTTP clients: the system's, then the check of
/// every address it gives.
#[derive(Debug, Clone)]
pub struct Resolver {
    /// Special networks the operator allowed for the tenant.
    pub allowed: Arc<Vec<IpNet>>,
}

impl Resolver {
    /// Whether egress may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        !is_special(ip) || self.allowed.iter().any(|net| net.contains(&ip))
    }
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let this = self.clone();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (usable, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
                resolved.into_iter().partition(|a| this.allows(a.ip()));
            if usable.is_empty() {
                return Err(Box::new(Refused {
                    host,
                    addrs: refused.iter().map(SocketAddr::ip).collect(),
                })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(usable.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_link_local_and_metadata_addresses_are_special() {
        for special in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
        ] {
            assert!(is_special(special.parse().unwrap()), "{special}");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_special(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn an_allowed_network_opens_only_itself() {
        let resolver = Resolver {
            allowed: Arc::new(vec!["10.1.0.0/16".parse().unwrap()]),
        };
        assert!(resolver.allows("10.1.2.3".parse().unwrap()));
        assert!(!resolver.allows("10.2.0.1".parse().unwrap()));
        assert!(resolver.allows("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn listeners_are_matched_by_address_and_port() {
        let listeners = Listeners::default();
        listeners.add("127.0.0.1:7878".parse().unwrap());
        listeners.add("0.0.0.0:9100".parse().unwrap());
        assert!(listeners.contains("127.0.0.1:7878".parse().unwrap()));
        assert!(listeners.contains("[::ffff:127.0.0.1]:7878".parse().unwrap()));
        assert!(!listeners.contains("127.0.0.1:7879".parse().unwrap()));
        assert!(listeners.contains("10.0.0.7:9100".parse().unwrap()));
    }
}
