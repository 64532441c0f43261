//! Whether a Docker Engine answers where monod's own environment says
//! (`DOCKER_HOST`, a context, the default socket: see
//! [`crate::docker::endpoint`]), for `daemon.status`: a plain connect,
//! cheap enough for every status call. Docker mode itself connects through
//! [`crate::docker`], to the engine each environment was created on.

use std::time::Duration;

use mono_proto::Component;

use super::Endpoint;
use super::cli_config::DockerVars;

/// How long a TCP probe may take.
const TCP_PROBE: Duration = Duration::from_millis(300);

/// Connects to the engine's socket or port.
pub fn probe() -> Component {
    let at = match Endpoint::resolve(&DockerVars::own()) {
        Ok(at) => at,
        Err(e) => return Component { available: false, detail: e.to_string() },
    };
    let (scheme, rest) = at.host.split_once("://").unwrap_or(("", &at.host));
    let connected = match scheme {
        "unix" => std::os::unix::net::UnixStream::connect(rest).map(drop),
        "tcp" => {
            use std::net::ToSocketAddrs;
            match rest.to_socket_addrs().map(|mut a| a.next()) {
                Ok(Some(addr)) => std::net::TcpStream::connect_timeout(&addr, TCP_PROBE).map(drop),
                Ok(None) => Err(std::io::Error::other("no address")),
                Err(e) => Err(e),
            }
        }
        _ => {
            return Component {
                available: false,
                detail: format!("{at}: not probed by status; `mono doctor` connects"),
            };
        }
    };
    match connected {
        Ok(()) => Component { available: true, detail: at.to_string() },
        Err(e) => Component { available: false, detail: format!("{at}: {e}") },
    }
}
