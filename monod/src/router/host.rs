//! Which environment and service a request's `Host` names.
//!
//! `<env>.localhost` is an environment's entry point and
//! `<service>.<env>.localhost` one of its services. Browsers resolve every
//! `*.localhost` name to loopback without any set-up (RFC 6761), and each
//! name is an origin of its own, so cookies and storage stay per
//! environment. Environment names are `[a-z0-9-]` (see `names`), service
//! names are compared lower-cased; host names are case-insensitive.

/// What a `Host` header asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// The environment's name.
    pub env: String,
    /// The service, or `None` for the environment's entry point.
    pub service: Option<String>,
}

/// The suffix every routed name ends with.
pub const SUFFIX: &str = "localhost";

/// Parses a `Host` header value (`web.shop-a.localhost:19000`); `None` for
/// any other name (`localhost`, `127.0.0.1`, `example.com`).
pub fn parse(host: &str) -> Option<Wanted> {
    let name = strip_port(host.trim())?.trim_end_matches('.').to_ascii_lowercase();
    let rest = name.strip_suffix(SUFFIX)?.strip_suffix('.')?;
    let mut labels = rest.rsplitn(2, '.');
    let env = labels.next().filter(|l| valid_label(l))?.to_string();
    let service = match labels.next() {
        None => None,
        Some(s) if valid_label(s) => Some(s.to_string()),
        Some(_) => return None,
    };
    Some(Wanted { env, service })
}

/// The host part of `host[:port]`; IPv6 literals are not routed names.
fn strip_port(host: &str) -> Option<&str> {
    if host.starts_with('[') {
        return None;
    }
    Some(match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        Some(_) => return None,
        None => host,
    })
}

fn valid_label(label: &str) -> bool {
    !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The URL of `env` (and `service`) through a router on `port`.
pub fn url(env: &str, service: Option<&str>, port: u16) -> String {
    match service {
        Some(s) => format!("http://{}.{env}.{SUFFIX}:{port}/", s.to_ascii_lowercase()),
        None => format!("http://{env}.{SUFFIX}:{port}/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(env: &str, service: Option<&str>) -> Option<Wanted> {
        Some(Wanted { env: env.to_string(), service: service.map(str::to_string) })
    }

    #[test]
    fn an_environment_and_its_services_are_named_under_localhost() {
        assert_eq!(parse("shop-a.localhost:19000"), wanted("shop-a", None));
        assert_eq!(parse("web.shop-a.localhost:19000"), wanted("shop-a", Some("web")));
        assert_eq!(parse("WEB.Shop-A.LOCALHOST"), wanted("shop-a", Some("web")));
        assert_eq!(parse("api_v2.shop-a.localhost."), wanted("shop-a", Some("api_v2")));
    }

    #[test]
    fn other_names_are_not_routed() {
        for host in [
            "localhost:19000",
            "127.0.0.1:19000",
            "[::1]:19000",
            "example.com",
            "shop.localhost.example.com",
            "a.b.shop.localhost",
            ".localhost",
            "x..localhost",
            "shop-a.localhost:port",
            "",
        ] {
            assert_eq!(parse(host), None, "{host}");
        }
    }

    #[test]
    fn urls_round_trip() {
        assert_eq!(url("shop-a", Some("Web"), 19000), "http://web.shop-a.localhost:19000/");
        let host = url("shop-a", Some("web"), 19000);
        let host = host.trim_start_matches("http://").trim_end_matches('/');
        assert_eq!(parse(host), wanted("shop-a", Some("web")));
    }
}
