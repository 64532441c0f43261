//! Whether a Docker Engine answers where `DOCKER_HOST` (or the default
//! socket) says, for `daemon.status`: a plain connect, cheap enough for
//! every status call. Docker mode itself connects through [`crate::docker`].

use mono_proto::Component;

/// The engine's socket path, or the non-Unix `DOCKER_HOST` as given.
fn endpoint() -> Result<String, String> {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if !h.is_empty() => match h.strip_prefix("unix://") {
            Some(p) => Ok(p.to_string()),
            None => Err(h),
        },
        _ => Ok("/var/run/docker.sock".to_string()),
    }
}

/// Connects to the engine's socket.
pub fn probe() -> Component {
    match endpoint() {
        Ok(path) => match std::os::unix::net::UnixStream::connect(&path) {
            Ok(_) => Component { available: true, detail: format!("unix://{path}") },
            Err(e) => Component { available: false, detail: format!("unix://{path}: {e}") },
        },
        Err(host) => Component { available: false, detail: format!("DOCKER_HOST={host} is not checked") },
    }
}
