//! Compose's small string syntaxes: short port and volume specs, port
//! ranges, durations (`1m30s`), byte sizes (`64m`) and restart policies.
//!
//! Each parser returns a message that says what is wrong and shows the
//! expected form; the caller adds the file and key path.

use std::time::Duration;

use super::plan::Protocol;

/// An inclusive range of ports; a single port is a range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub start: u16,
    /// Last port (equal to `start` for a single port).
    pub end: u16,
}

impl PortRange {
    /// The single port `port`.
    pub fn single(port: u16) -> PortRange {
        PortRange { start: port, end: port }
    }

    /// How many ports the range holds.
    pub fn count(self) -> usize {
        usize::from(self.end - self.start) + 1
    }

    /// The ports, in order.
    pub fn ports(self) -> impl Iterator<Item = u16> {
        self.start..=self.end
    }
}

/// A protocol as written; SCTP is valid compose that mono cannot publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WrittenProtocol {
    /// TCP or UDP.
    Supported(Protocol),
    /// `sctp`.
    Sctp,
}

/// `tcp`, `udp` or `sctp`.
pub(crate) fn protocol(text: &str) -> Result<WrittenProtocol, String> {
    match text.to_ascii_lowercase().as_str() {
        "tcp" => Ok(WrittenProtocol::Supported(Protocol::Tcp)),
        "udp" => Ok(WrittenProtocol::Supported(Protocol::Udp)),
        "sctp" => Ok(WrittenProtocol::Sctp),
        _ => Err(format!("unknown protocol {text:?}; use tcp or udp")),
    }
}

/// `8080` or `8000-8010`. Port 0 is refused: it means "any port", which is
/// written by leaving the host port out.
pub(crate) fn port_range(text: &str) -> Result<PortRange, String> {
    let one = |t: &str| -> Result<u16, String> {
        match t.trim().parse::<u16>() {
            Ok(0) | Err(_) => Err(format!("{t:?} is not a port number (1 to 65535)")),
            Ok(p) => Ok(p),
        }
    };
    match text.split_once('-') {
        Some((a, b)) => {
            let (start, end) = (one(a)?, one(b)?);
            if start > end {
                return Err(format!("the range {text:?} ends before it starts; write LOW-HIGH"));
            }
            Ok(PortRange { start, end })
        }
        None => Ok(PortRange::single(one(text)?)),
    }
}

/// A short-syntax port: `[[HOST_IP:][HOST_PORT[-RANGE]]:]PORT[-RANGE][/PROTOCOL]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShortPort {
    /// The host address asked for (brackets of IPv6 removed).
    pub host_ip: Option<String>,
    /// The host port or range asked for.
    pub published: Option<PortRange>,
    /// The container port or range.
    pub target: PortRange,
    /// The protocol.
    pub protocol: WrittenProtocol,
}

/// Parses a short-syntax port.
pub(crate) fn short_port(text: &str) -> Result<ShortPort, String> {
    let (body, protocol) = match text.rsplit_once('/') {
        Some((body, p)) => (body, self::protocol(p)?),
        None => (text, WrittenProtocol::Supported(Protocol::Tcp)),
    };
    let (host_ip, rest) = match body.strip_prefix('[') {
        Some(r) => {
            let (ip, r) =
                r.split_once(']').ok_or_else(|| format!("{text:?} opens `[` without closing it"))?;
            let r = r.strip_prefix(':').ok_or_else(|| {
                format!("{text:?}: expected `:` after the bracketed address, as in [::1]:8080:80")
            })?;
            (Some(ip.to_string()), r)
        }
        None => (None, body),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (host_ip, published, target) = match (host_ip, parts.as_slice()) {
        (None, [target]) => (None, "", *target),
        (ip, [published, target]) => (ip, *published, *target),
        (None, [ip, published, target]) => (Some(ip.to_string()), *published, *target),
        _ => {
            return Err(format!(
                "{text:?} has too many `:`; write HOST_IP:HOST_PORT:PORT, with an IPv6 address in brackets \
                 ([::1]:8080:80)"
            ));
        }
    };
    let target = port_range(target).map_err(|e| format!("container port: {e}"))?;
    let published = match published {
        "" => None,
        p => Some(port_range(p).map_err(|e| format!("host port: {e}"))?),
    };
    check_ranges(published, target)?;
    let host_ip = host_ip.filter(|ip| !ip.is_empty());
    Ok(ShortPort { host_ip, published, target, protocol })
}

/// A host range must match the container range, or be a range for one
/// container port (the engine picks one of them).
pub(crate) fn check_ranges(published: Option<PortRange>, target: PortRange) -> Result<(), String> {
    match published {
        Some(p) if target.count() > 1 && p.count() != target.count() => Err(format!(
            "the host ports {}-{} and the container ports {}-{} are not the same number of ports; make both \
             ranges the same length",
            p.start, p.end, target.start, target.end
        )),
        _ => Ok(()),
    }
}

/// An `expose` entry: `3000`, `3000-3005`, `53/udp`.
pub(crate) fn expose(text: &str) -> Result<(PortRange, WrittenProtocol), String> {
    let (body, protocol) = match text.rsplit_once('/') {
        Some((body, p)) => (body, self::protocol(p)?),
        None => (text, WrittenProtocol::Supported(Protocol::Tcp)),
    };
    Ok((port_range(body)?, protocol))
}

/// A short-syntax volume: `[SOURCE:]TARGET[:OPTIONS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShortVolume {
    /// The source as written: a path, a volume name, empty, or absent.
    pub source: Option<String>,
    /// The container path.
    pub target: String,
    /// `ro`.
    pub read_only: bool,
    /// Options mono cannot honour (`z`, `Z`, `nocopy`, propagation).
    pub unsupported: Vec<String>,
}

/// Options the engine treats as no-ops on Linux; accepted without a word.
const NO_OP_OPTIONS: [&str; 3] = ["consistent", "cached", "delegated"];
/// Options mono does not pass on.
const UNSUPPORTED_OPTIONS: [&str; 9] =
    ["z", "Z", "nocopy", "shared", "slave", "private", "rshared", "rslave", "rprivate"];

/// Parses a short-syntax volume.
pub(crate) fn short_volume(text: &str) -> Result<ShortVolume, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, options) = match parts.as_slice() {
        [target] => (None, *target, ""),
        // `/data:ro`: an anonymous volume with options.
        [target, options] if target.starts_with('/') && is_options(options) => (None, *target, *options),
        [source, target] => (Some(*source), *target, ""),
        [source, target, options] => (Some(*source), *target, *options),
        _ => {
            return Err(format!(
                "{text:?} has too many `:`; write SOURCE:TARGET[:OPTIONS] (Windows paths are not supported)"
            ));
        }
    };
    if !target.starts_with('/') {
        return Err(format!(
            "the container path {target:?} is not absolute; write it as /path (the form is SOURCE:/path[:ro])"
        ));
    }
    let mut volume = ShortVolume {
        source: source.map(str::to_string),
        target: target.to_string(),
        read_only: false,
        unsupported: Vec::new(),
    };
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => volume.read_only = true,
            "rw" => volume.read_only = false,
            o if NO_OP_OPTIONS.contains(&o) => {}
            o if UNSUPPORTED_OPTIONS.contains(&o) => volume.unsupported.push(o.to_string()),
            o => {
                return Err(format!(
                    "unknown volume option {o:?}; use ro or rw (for example ./data:/data:ro)"
                ));
            }
        }
    }
    Ok(volume)
}

fn is_options(text: &str) -> bool {
    text.split(',')
        .all(|o| ["ro", "rw"].contains(&o) || NO_OP_OPTIONS.contains(&o) || UNSUPPORTED_OPTIONS.contains(&o))
}

/// True when a volume source is a host path rather than a volume name, by
/// compose's rule: it starts with `.`, `/` or `~`.
pub(crate) fn is_host_path(source: &str) -> bool {
    source.starts_with(['.', '/', '~'])
}

/// A Go-style duration as compose writes them: `1m30s`, `10s`, `500ms`,
/// `1.5h`, `0`.
pub(crate) fn duration(text: &str) -> Result<Duration, String> {
    let bad = |why: &str| format!("{text:?} is not a duration ({why}); write it like 10s, 1m30s or 500ms");
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(bad("it is empty"));
    }
    let mut rest = s;
    let mut nanos: u128 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let (number, tail) = rest.split_at(digits);
        if number.is_empty() || number == "." {
            return Err(bad("expected a number"));
        }
        let unit_len = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            "" => return Err(bad("a number has no unit")),
            _ => return Err(bad("unknown unit")),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if fraction.contains('.') {
            return Err(bad("a number has two dots"));
        }
        let whole: u128 =
            if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad("number too large"))? };
        let mut part = whole.checked_mul(scale).ok_or_else(|| bad("too long"))?;
        let mut divisor: u128 = 1;
        for digit in fraction.bytes().take(18) {
            divisor *= 10;
            part += u128::from(digit - b'0') * scale / divisor;
        }
        nanos = nanos.checked_add(part).ok_or_else(|| bad("too long"))?;
        rest = tail;
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| bad("too long"))?;
    let sub = u32::try_from(nanos % 1_000_000_000).expect("below one second");
    Ok(Duration::new(secs, sub))
}

/// A byte size as the engine reads them (binary units): `1024`, `64m`,
/// `1.5g`, `512kb`.
pub(crate) fn byte_size(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a size; write it like 65536, 64m or 1g");
    let s = text.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (number, unit) = s.split_at(digits);
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let scale: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bytes = value * scale;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(bad());
    }
    // Truncation toward zero is what the engine does with fractional sizes.
    Ok(bytes as u64)
}

/// Checks a restart policy: `no`, `always`, `unless-stopped`,
/// `on-failure` or `on-failure:N`.
pub(crate) fn restart(text: &str) -> Result<(), String> {
    let ok = match text.split_once(':') {
        Some(("on-failure", n)) => n.parse::<u32>().is_ok(),
        Some(_) => false,
        None => matches!(text, "no" | "always" | "unless-stopped" | "on-failure"),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("unknown restart policy {text:?}; use \"no\", always, on-failure[:N] or unless-stopped"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(start: u16, end: u16) -> (PortRange, WrittenProtocol) {
        (PortRange { start, end }, WrittenProtocol::Supported(Protocol::Tcp))
    }

    #[test]
    fn short_ports() {
        let p = short_port("80").unwrap();
        assert_eq!((p.host_ip, p.published, p.target), (None, None, PortRange::single(80)));
        let p = short_port("8080:80").unwrap();
        assert_eq!((p.published, p.target), (Some(PortRange::single(8080)), PortRange::single(80)));
        let p = short_port("127.0.0.1:8080:80").unwrap();
        assert_eq!(p.host_ip.as_deref(), Some("127.0.0.1"));
        let p = short_port("127.0.0.1::80").unwrap();
        assert_eq!((p.host_ip.as_deref(), p.published), (Some("127.0.0.1"), None));
        let p = short_port("[::1]:80:80").unwrap();
        assert_eq!(p.host_ip.as_deref(), Some("::1"));
        let p = short_port("53:53/udp").unwrap();
        assert_eq!(p.protocol, WrittenProtocol::Supported(Protocol::Udp));
        let p = short_port("9090-9091:8080-8081").unwrap();
        assert_eq!(p.target, PortRange { start: 8080, end: 8081 });
        assert_eq!(p.published, Some(PortRange { start: 9090, end: 9091 }));
        assert_eq!(short_port("1:2/sctp").unwrap().protocol, WrittenProtocol::Sctp);
        assert!(short_port("8000-8002:80-81").unwrap_err().contains("same number"));
        assert!(short_port("a:b:c:d").unwrap_err().contains("too many"));
        assert!(short_port("http").unwrap_err().contains("not a port"));
        assert!(short_port("0").is_err());
        assert!(short_port("80/xyz").unwrap_err().contains("unknown protocol"));
    }

    #[test]
    fn expose_entries() {
        assert_eq!(expose("3000").unwrap(), tcp(3000, 3000));
        assert_eq!(expose("3000-3005").unwrap(), tcp(3000, 3005));
        assert_eq!(expose("53/udp").unwrap().1, WrittenProtocol::Supported(Protocol::Udp));
    }

    #[test]
    fn short_volumes() {
        let v = short_volume("data:/var/lib/data:ro").unwrap();
        assert_eq!(
            (v.source.as_deref(), v.target.as_str(), v.read_only),
            (Some("data"), "/var/lib/data", true)
        );
        let v = short_volume("/anon").unwrap();
        assert_eq!((v.source, v.read_only), (None, false));
        let v = short_volume("/anon:ro").unwrap();
        assert_eq!((v.source, v.target.as_str(), v.read_only), (None, "/anon", true));
        let v = short_volume("./src:/code:z,cached").unwrap();
        assert_eq!(v.unsupported, vec!["z".to_string()]);
        assert!(short_volume("data:relative").unwrap_err().contains("not absolute"));
        assert!(short_volume("a:/b:bogus").unwrap_err().contains("unknown volume option"));
        assert!(is_host_path("./x") && is_host_path("../x") && is_host_path("~/x") && is_host_path("/x"));
        assert!(!is_host_path("named"));
    }

    #[test]
    fn durations() {
        assert_eq!(duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(duration("2h45m3s").unwrap(), Duration::from_secs(2 * 3600 + 45 * 60 + 3));
        assert_eq!(duration("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(duration("0").unwrap(), Duration::ZERO);
        assert!(duration("10").unwrap_err().contains("no unit"));
        assert!(duration("10x").unwrap_err().contains("unknown unit"));
        assert!(duration("").is_err());
    }

    #[test]
    fn sizes_and_restart() {
        assert_eq!(byte_size("1024").unwrap(), 1024);
        assert_eq!(byte_size("64m").unwrap(), 64 << 20);
        assert_eq!(byte_size("1.5g").unwrap(), 3 << 29);
        assert_eq!(byte_size("512kb").unwrap(), 512 << 10);
        assert!(byte_size("lots").is_err());
        assert!(
            restart("on-failure:3").is_ok() && restart("no").is_ok() && restart("unless-stopped").is_ok()
        );
        assert!(restart("sometimes").is_err());
    }
}
