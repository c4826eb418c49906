//! `NO_PROXY` matching.
//!
//! The list is split at commas and white space; each entry is one of:
//!
//! * `*`: every host goes direct;
//! * a domain, with or without a leading `.` or `*.` (`example.com`, `.example.com` and
//!   `*.example.com` are the same rule): that host and every host under it
//!   (`www.example.com`), never a host that merely ends in the same letters
//!   (`notexample.com`); case and a trailing `.` are ignored;
//! * an IP address (`10.1.2.3`, `::1`, `[::1]`): that address when the target is written as
//!   an address;
//! * a CIDR block (`10.0.0.0/8`, `fd00::/8`): every address in it;
//! * any of the host forms followed by `:port` (`example.com:8443`, `[::1]:8080`): only that
//!   port.
//!
//! Host names are not resolved: `localhost` does not match `127.0.0.1` unless both are listed
//! (as in curl, Go and the AWS SDKs). Entries that fit none of these forms (a bad port or
//! prefix length) are kept aside, to be reported, and match nothing.

// `core::net`: address types only (no sockets).
use core::net::IpAddr;

use crate::url::{parse_port, split_host_port};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    Domain { name: String, port: Option<u16> },
    Ip { addr: IpAddr, port: Option<u16> },
    Net { addr: IpAddr, prefix: u8 },
}

/// A parsed `NO_PROXY` list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    rules: Vec<Rule>,
    ignored: Vec<String>,
}

impl NoProxy {
    /// Parses a list (see the module docs); never fails: unusable entries are listed by
    /// [`NoProxy::ignored`].
    pub fn parse(list: &str) -> Self {
        let mut out = Self::default();
        for entry in list.split(|c: char| c == ',' || c.is_whitespace()) {
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                out.all = true;
                continue;
            }
            match rule(entry) {
                Some(r) => out.rules.push(r),
                None => out.ignored.push(entry.to_owned()),
            }
        }
        out
    }

    /// Entries that fit no rule form and match nothing.
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }

    /// Whether the list is empty (every target may use the proxy).
    pub fn is_empty(&self) -> bool {
        !self.all && self.rules.is_empty()
    }

    /// Whether a request to `host` (a name, or an IP address with or without brackets) on
    /// `port` goes direct.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.all {
            return true;
        }
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        let port_ok = |p: &Option<u16>| p.is_none_or(|p| p == port);
        self.rules.iter().any(|r| match (r, ip) {
            (Rule::Ip { addr, port: p }, Some(ip)) => *addr == ip && port_ok(p),
            (Rule::Net { addr, prefix }, Some(ip)) => in_net(ip, *addr, *prefix),
            (Rule::Domain { name, port: p }, None) => {
                port_ok(p)
                    && (host == *name
                        || host
                            .strip_suffix(name.as_str())
                            .is_some_and(|front| front.ends_with('.')))
            }
            _ => false,
        })
    }

    /// The list as it is applied, for the start-up log: entries in a canonical form.
    pub fn describe(&self) -> String {
        if self.all {
            return "*".into();
        }
        let with_port = |h: String, p: &Option<u16>| match p {
            Some(p) => format!("{h}:{p}"),
            None => h,
        };
        self.rules
            .iter()
            .map(|r| match r {
                Rule::Domain { name, port } => with_port(name.clone(), port),
                Rule::Ip {
                    addr: IpAddr::V6(a),
                    port: Some(p),
                } => format!("[{a}]:{p}"),
                Rule::Ip { addr, port } => with_port(addr.to_string(), port),
                Rule::Net { addr, prefix } => format!("{addr}/{prefix}"),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn rule(entry: &str) -> Option<Rule> {
    let entry = entry.to_ascii_lowercase();
    if let Some((addr, prefix)) = entry.split_once('/') {
        let addr: IpAddr = addr.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = parse_port(prefix)
            .map(|p| p as u32)
            .or((prefix == "0").then_some(0))?;
        return (prefix <= max).then_some(Rule::Net {
            addr,
            prefix: prefix as u8,
        });
    }
    // A bare IPv6 address has colons but no port.
    if let Ok(addr) = entry.parse::<IpAddr>() {
        return Some(Rule::Ip { addr, port: None });
    }
    let wildcard = entry.strip_prefix("*.").or_else(|| entry.strip_prefix('.'));
    let (host, port) = split_host_port(wildcard.unwrap_or(&entry)).ok()?;
    if let (Ok(addr), None) = (host.parse::<IpAddr>(), wildcard) {
        return Some(Rule::Ip { addr, port });
    }
    let name = host.trim_end_matches('.');
    if name.is_empty() || name.contains(':') {
        return None;
    }
    Some(Rule::Domain {
        name: name.to_owned(),
        port,
    })
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    let (a, b, bits) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    let shift = bits - u32::from(prefix);
    if shift >= 128 {
        return true;
    }
    (a >> shift) == (b >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        let n = NoProxy::parse("example.com, .corp.local,*.internal  Mixed.CASE.org.");
        for (host, hit) in [
            ("example.com", true),
            ("www.example.com", true),
            ("a.b.example.com", true),
            ("notexample.com", false),
            ("example.com.evil.net", false),
            ("EXAMPLE.COM.", true),
            ("corp.local", true),
            ("x.corp.local", true),
            ("xcorp.local", false),
            ("internal", true),
            ("db.internal", true),
            ("mixed.case.org", true),
            ("kinesis.us-east-1.amazonaws.com", false),
        ] {
            assert_eq!(n.matches(host, 443), hit, "{host}");
        }
        assert!(n.ignored().is_empty());
    }

    #[test]
    fn ports() {
        let n = NoProxy::parse("example.com:8443,10.0.0.1:80,[::1]:8080,localhost");
        assert!(n.matches("example.com", 8443));
        assert!(n.matches("api.example.com", 8443));
        assert!(!n.matches("example.com", 443));
        assert!(n.matches("10.0.0.1", 80));
        assert!(!n.matches("10.0.0.1", 81));
        assert!(n.matches("[::1]", 8080));
        assert!(n.matches("::1", 8080));
        assert!(!n.matches("::1", 8081));
        assert!(n.matches("localhost", 1));
        // Names are not resolved.
        assert!(!n.matches("127.0.0.1", 1));
    }

    #[test]
    fn addresses_and_blocks() {
        let n = NoProxy::parse("127.0.0.1,::1,192.168.0.0/16,fd00::/8,10.1.2.3/32");
        assert!(n.matches("127.0.0.1", 9));
        assert!(!n.matches("127.0.0.2", 9));
        assert!(n.matches("[::1]", 9));
        assert!(n.matches("192.168.44.3", 9));
        assert!(!n.matches("192.169.0.1", 9));
        assert!(n.matches("[fd12::5]", 9));
        assert!(!n.matches("fe80::1", 9));
        assert!(n.matches("10.1.2.3", 9));
        assert!(!n.matches("10.1.2.4", 9));
        // An address rule never matches a name, nor a v4 block a v6 address.
        assert!(!n.matches("localhost", 9));
        assert!(!NoProxy::parse("0.0.0.0/0").matches("::1", 1));
        assert!(NoProxy::parse("0.0.0.0/0").matches("8.8.8.8", 1));
        assert!(NoProxy::parse("::/0").matches("2001:db8::1", 1));
    }

    #[test]
    fn star_empty_and_junk() {
        assert!(NoProxy::parse("*").matches("anything.example", 1));
        assert!(NoProxy::parse("a.com, *").matches("b.com", 1));
        let empty = NoProxy::parse(" , ,");
        assert!(empty.is_empty() && !empty.matches("a.com", 1));
        let junk = NoProxy::parse("good.com,bad.com:99999,10.0.0.0/33,[::1,*.,10.0.0.0/x");
        assert_eq!(
            junk.ignored(),
            ["bad.com:99999", "10.0.0.0/33", "[::1", "*.", "10.0.0.0/x"]
        );
        assert!(junk.matches("good.com", 1));
        assert!(!junk.matches("bad.com", 99));
        assert_eq!(
            NoProxy::parse("A.com,.b.com:8,::1,[::2]:9,10.0.0.0/8").describe(),
            "a.com,b.com:8,::1,[::2]:9,10.0.0.0/8"
        );
        assert_eq!(NoProxy::parse("x,*").describe(), "*");
    }
}
