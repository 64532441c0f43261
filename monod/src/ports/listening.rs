//! Which TCP ports other programs hold, and who they are.
//!
//! The check at `mono init` must cost little, so it asks the kernel the
//! question that matters, whether the port can be bound, for each port of a
//! block: about 300 system calls, well under a millisecond. (Reading
//! `/proc/net/tcp` walks the kernel's whole connection hash table, several
//! milliseconds however few sockets there are; `mono doctor` uses it.)
//! Naming the holder means walking every process's file descriptors, which
//! takes milliseconds, so it is done (with the `listeners` crate, which also
//! covers macOS) only for ports found taken.

use std::collections::{BTreeMap, BTreeSet};

/// A program listening on a port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Holder {
    /// Its process id.
    pub pid: u32,
    /// Its process name.
    pub name: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} ({})", self.pid, self.name)
    }
}

/// The first port of `slot`'s block that cannot be bound, on any address:
/// something listens on it (IPv4 or IPv6), or a socket holds it.
pub fn first_unbindable(slot: u32) -> Option<u16> {
    crate::ports::block(slot).find(|port| !bindable(*port))
}

/// Whether a TCP socket could bind `port` on every address. A dual-stack
/// IPv6 wildcard bind conflicts with any IPv4 or IPv6 binding of the port;
/// SO_REUSEADDR, as servers set it, lets old TIME_WAIT connections pass.
fn bindable(port: u16) -> bool {
    use rustix::net::{AddressFamily, SocketType, bind, socket, sockopt};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    let probe = |family| {
        let fd = socket(family, SocketType::STREAM, None)?;
        sockopt::set_socket_reuseaddr(&fd, true)?;
        if family == AddressFamily::INET6 {
            sockopt::set_ipv6_v6only(&fd, false)?;
            bind(&fd, &SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0))
        } else {
            bind(&fd, &SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
        }
    };
    match probe(AddressFamily::INET6) {
        Ok(()) => true,
        Err(rustix::io::Errno::ADDRINUSE) => false,
        // No IPv6 here: IPv4 alone.
        Err(_) => probe(AddressFamily::INET).is_ok(),
    }
}

/// Every TCP port something listens on, on any local address.
pub fn listening_ports() -> std::io::Result<BTreeSet<u16>> {
    #[cfg(target_os = "linux")]
    {
        let mut ports = BTreeSet::new();
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            match std::fs::read_to_string(table) {
                Ok(text) => ports.extend(parse_proc_net_tcp(&text)),
                // No IPv6 in this kernel: no tcp6 table.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(ports)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let all = listeners::get_all().map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(all
            .into_iter()
            .filter(|l| l.protocol == listeners::Protocol::TCP && l.state == listeners::SocketState::Listen)
            .map(|l| l.socket.port())
            .collect())
    }
}

/// The listening sockets' ports in a `/proc/net/tcp` table (state `0A`).
pub fn parse_proc_net_tcp(text: &str) -> impl Iterator<Item = u16> + '_ {
    const LISTEN: &str = "0A";
    text.lines().skip(1).filter_map(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1)?;
        let state = fields.nth(1)?;
        if state != LISTEN {
            return None;
        }
        let (_, port) = local.rsplit_once(':')?;
        u16::from_str_radix(port, 16).ok()
    })
}

/// The programs listening on each of `ports`, where the system tells: a
/// process of another user (root's `docker-proxy`, say) may not be visible.
pub fn holders(ports: &BTreeSet<u16>) -> BTreeMap<u16, Vec<Holder>> {
    let mut found: BTreeMap<u16, Vec<Holder>> = BTreeMap::new();
    if ports.is_empty() {
        return found;
    }
    let Ok(all) = listeners::get_all() else { return found };
    for l in all {
        let port = l.socket.port();
        if l.protocol == listeners::Protocol::TCP
            && l.state == listeners::SocketState::Listen
            && ports.contains(&port)
        {
            let holder = Holder { pid: l.process.pid, name: l.process.name };
            let list = found.entry(port).or_default();
            if !list.contains(&holder) {
                list.push(holder);
            }
        }
    }
    found
}

/// "pid 12 (python3)" or, when the system does not tell, a hint why.
pub fn describe(holders: Option<&Vec<Holder>>) -> String {
    match holders {
        Some(h) if !h.is_empty() => h.iter().map(Holder::to_string).collect::<Vec<_>>().join(", "),
        _ => "a process mono cannot see (another user's, e.g. docker-proxy, or another namespace's)"
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listening_sockets_only() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 648 1 0 100 0 0 10 0
   1: 0100007F:4C63 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1750333 1 0 100 0 0 10 0
   2: 0100007F:A1B2 0100007F:4C63 01 00000000:00000000 00:00000000 00000000     0        0 1750334 1 0 100 0 0 10 0";
        let ports: Vec<u16> = parse_proc_net_tcp(table).collect();
        assert_eq!(ports, vec![2024, 19555]);
        let v6 = "  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:4A9C 00000000000000000000000000000000:0000 0A 0";
        assert_eq!(parse_proc_net_tcp(v6).collect::<Vec<_>>(), vec![19100]);
    }

    #[test]
    fn sees_a_real_listener_and_its_holder() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(!bindable(port));
        assert!(listening_ports().unwrap().contains(&port));
        let found = holders(&BTreeSet::from([port]));
        let me = found.get(&port).expect("this process holds it");
        assert!(me.iter().any(|h| h.pid == std::process::id()), "{me:?}");
        drop(listener);
        assert!(!listening_ports().unwrap().contains(&port));
        assert!(bindable(port));
        let v6 = std::net::TcpListener::bind("[::1]:0").unwrap();
        assert!(!bindable(v6.local_addr().unwrap().port()), "an IPv6-only listener counts too");
    }
}
