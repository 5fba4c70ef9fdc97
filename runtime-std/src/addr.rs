//! Addresses given on the command line: `IP:PORT` or `HOST:PORT`, resolved
//! once at startup, with errors that name the flag and the value.
//!
//! A name that resolves to several addresses gives its first IPv4 address if
//! it has one (so that `localhost:7000` means `127.0.0.1:7000` on every node,
//! whatever order the resolver returns `::1` and `127.0.0.1` in), else its
//! first address.

use crate::setup::BootstrapPeer;
use election_proto::wire::Contact;
use election_proto::PeerId;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

/// An address option that could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrError {
    /// The option, e.g. `--listen`.
    pub flag: String,
    /// The value given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}: {}", self.flag, self.value, self.reason)
    }
}

impl std::error::Error for AddrError {}

/// Resolves the value `text` of option `flag` (`IP:PORT`, `[IPv6]:PORT` or
/// `HOST:PORT`) to one socket address.
pub fn resolve(flag: &str, text: &str) -> Result<SocketAddr, AddrError> {
    resolve_with(flag, text, |host_port| {
        host_port.to_socket_addrs().map(|a| a.collect())
    })
}

/// [`resolve`] with a stand-in resolver (tests).
pub fn resolve_with(
    flag: &str,
    text: &str,
    lookup: impl FnOnce(&str) -> std::io::Result<Vec<SocketAddr>>,
) -> Result<SocketAddr, AddrError> {
    let err = |reason: String| AddrError {
        flag: flag.to_string(),
        value: text.to_string(),
        reason,
    };
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(err("expected HOST:PORT or IP:PORT (no port given)".into()));
    };
    if host.is_empty() {
        return Err(err("expected HOST:PORT or IP:PORT (no host given)".into()));
    }
    if port.parse::<u16>().is_err() {
        return Err(err(format!("bad port {port:?} (expected 0 to 65535)")));
    }
    let addrs = lookup(text).map_err(|e| err(format!("cannot resolve {host:?}: {e}")))?;
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| err(format!("{host:?} resolves to no address")))
}

/// Parses one `--bootstrap` entry, `ADDR` or `HEXID@ADDR`, where `ADDR` is
/// anything [`resolve`] takes.
pub fn resolve_bootstrap(flag: &str, text: &str) -> Result<BootstrapPeer, AddrError> {
    let text = text.trim();
    match text.split_once('@') {
        Some((id, addr)) => {
            let id: PeerId = id.parse().map_err(|e| AddrError {
                flag: flag.to_string(),
                value: text.to_string(),
                reason: format!("bad peer id: {e} (expected HEXID@HOST:PORT)"),
            })?;
            let addr = resolve(flag, addr)?;
            Ok(BootstrapPeer::Contact(Contact { id, addr }))
        }
        None => resolve(flag, text).map(BootstrapPeer::Addr),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn no_lookup(_: &str) -> io::Result<Vec<SocketAddr>> {
        panic!("an IP address needs no lookup")
    }

    #[test]
    fn ip_addresses_need_no_resolver() {
        assert_eq!(
            resolve_with("--listen", "127.0.0.1:7000", no_lookup).unwrap(),
            "127.0.0.1:7000".parse().unwrap()
        );
        assert_eq!(
            resolve_with("--listen", "[::1]:7000", no_lookup).unwrap(),
            "[::1]:7000".parse().unwrap()
        );
    }

    #[test]
    fn names_prefer_ipv4_and_errors_name_flag_and_value() {
        let both = |_: &str| {
            Ok(vec![
                "[::1]:7000".parse().unwrap(),
                "127.0.0.1:7000".parse().unwrap(),
            ])
        };
        assert_eq!(
            resolve_with("--bootstrap", "somehost:7000", both).unwrap(),
            "127.0.0.1:7000".parse().unwrap()
        );
        let v6 = |_: &str| Ok(vec!["[::1]:7000".parse().unwrap()]);
        assert!(resolve_with("--x", "h:7000", v6).unwrap().is_ipv6());
        let none = |_: &str| Ok(vec![]);
        let e = resolve_with("--metrics", "h:1", none).unwrap_err();
        assert_eq!(e.to_string(), "--metrics \"h:1\": \"h\" resolves to no address");
        let fail = |_: &str| Err(io::Error::other("no such host"));
        let e = resolve_with("--listen", "nowhere.invalid:7000", fail).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--listen \"nowhere.invalid:7000\": cannot resolve \"nowhere.invalid\": no such host"
        );
        for bad in ["localhost", ":7000", "localhost:http", "localhost:70000"] {
            let e = resolve_with("--listen", bad, no_lookup).unwrap_err();
            assert_eq!(e.flag, "--listen");
            assert_eq!(e.value, bad);
            assert!(!e.to_string().contains('\n'));
        }
    }

    #[test]
    fn localhost_resolves() {
        let a = resolve("--listen", "localhost:7000").unwrap();
        assert!(a.ip().is_loopback());
        assert_eq!(a.port(), 7000);
    }

    #[test]
    fn bootstrap_entries_take_names_and_ids() {
        let id = PeerId::from_u64(3);
        match resolve_bootstrap("--bootstrap", &format!("{id}@localhost:7001")).unwrap() {
            BootstrapPeer::Contact(c) => {
                assert_eq!(c.id, id);
                assert_eq!(c.addr.port(), 7001);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            resolve_bootstrap("--bootstrap", "127.0.0.1:7002").unwrap(),
            BootstrapPeer::Addr("127.0.0.1:7002".parse().unwrap())
        );
        let e = resolve_bootstrap("--bootstrap", "zz@127.0.0.1:1").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--bootstrap \"zz@127.0.0.1:1\": bad peer id"),
            "{e}"
        );
    }
}
