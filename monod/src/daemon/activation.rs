//! Running under a service manager: the socket it hands over (systemd
//! socket activation) and the readiness it waits for (`Type=notify`).
//!
//! **Socket activation.** systemd (and `systemd-socket-activate`) binds
//! `$MONO_HOME/monod.sock` itself, starts monod on the first connection and
//! passes the listening socket as fd 3 with `LISTEN_FDS=1` and
//! `LISTEN_PID=<monod's pid>` (sd_listen_fds(3)). monod then serves that
//! socket instead of binding one, and leaves the file alone: it neither
//! clears it as stale, nor changes its mode (the `.socket` unit's
//! `SocketMode=` does), nor removes it at shutdown, because systemd keeps
//! listening on it and starts monod again on the next connection. The fd is
//! taken with the `listenfd` crate, which checks that it is a Unix stream
//! socket and marks it close-on-exec, so the tmux server and scripts monod
//! starts never inherit the listening socket (a tmux server holding it
//! would keep accepting connections nobody answers).
//!
//! **Readiness.** With `NOTIFY_SOCKET` set, monod sends `READY=1` (with
//! `MAINPID` and `STATUS`) at the moment it already prints `ready` for
//! `--notify-stdout`, once its socket accepts, and `STOPPING=1` when shutdown
//! begins (sd_notify(3)). The message is one datagram, sent here rather than
//! with the `sd-notify` crate because that crate reads `NOTIFY_SOCKET` from
//! the environment at every call, while monod removes the variable at
//! start-up.
//!
//! **The environment.** `LISTEN_*` and `NOTIFY_SOCKET` describe monod's own
//! process; children that inherited them (tmux, the shells of every
//! session, user scripts) would read a socket meant for monod. The binary
//! therefore removes [`INHERITED_VARS`] right after [`Activation::from_env`],
//! while it is still single-threaded (removing variables is only sound when
//! no other thread reads the environment).

use std::ffi::OsStr;
use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram, UnixListener};
use std::path::{Path, PathBuf};

/// The variables the service manager sets for monod alone; the binary
/// removes them from its environment after [`Activation::from_env`].
pub const INHERITED_VARS: [&str; 4] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET"];

/// Why what the service manager handed over cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    /// `LISTEN_FDS` names this process but its first fd is unusable.
    #[error("the socket handed by the service manager (LISTEN_FDS, fd 3) is not usable: {0}")]
    Listener(#[source] io::Error),
}

/// What the service manager handed monod, read once at start-up.
#[derive(Debug, Default)]
pub struct Activation {
    listener: Option<UnixListener>,
    notifier: Option<Notifier>,
    /// What was handed over but is not used, for the log.
    notes: Vec<String>,
}

impl Activation {
    /// Nothing handed over: monod binds its socket and notifies no one.
    pub fn none() -> Activation {
        Activation::default()
    }

    /// Reads `LISTEN_PID`/`LISTEN_FDS` and `NOTIFY_SOCKET`. The listening
    /// socket is taken only when `LISTEN_PID` is this process (variables
    /// inherited from a socket-activated parent are not ours).
    ///
    /// Call it before any other thread exists: the `listenfd` crate removes
    /// `LISTEN_PID` and `LISTEN_FDS` from the environment as it reads them.
    pub fn from_env() -> Result<Activation, ActivationError> {
        let mut activation = Activation::none();
        let listen_pid = std::env::var("LISTEN_PID").ok();
        let for_us =
            listen_pid.as_deref().and_then(|p| p.trim().parse::<u32>().ok()) == Some(std::process::id());
        if for_us && std::env::var_os("LISTEN_FDS").is_some() {
            let mut fds = listenfd::ListenFd::from_env();
            activation.listener = fds.take_unix_listener(0).map_err(ActivationError::Listener)?;
            for extra in 1..fds.len() {
                // Only one socket is configured; close the others (taking a
                // Unix listener marks it close-on-exec, dropping closes it).
                let closed = fds.take_unix_listener(extra).ok().flatten().is_some();
                activation.notes.push(format!(
                    "ignored the extra socket at fd {} the service manager passed{}",
                    3 + extra,
                    if closed { "" } else { " (not a Unix stream socket; left open)" }
                ));
            }
        } else if let Some(pid) = listen_pid {
            activation.notes.push(format!("ignored LISTEN_FDS meant for pid {pid}"));
        }
        if let Some(value) = std::env::var_os("NOTIFY_SOCKET") {
            match Notifier::new(&value) {
                Ok(n) => activation.notifier = Some(n),
                Err(e) => activation.notes.push(format!("cannot use NOTIFY_SOCKET={}: {e}", value.display())),
            }
        }
        Ok(activation)
    }

    /// Takes the listening socket handed over by the service manager, if
    /// any (once).
    pub fn take_listener(&mut self) -> Option<UnixListener> {
        self.listener.take()
    }

    /// The service manager's notification socket, if it waits for
    /// readiness.
    pub fn notifier(&self) -> Option<&Notifier> {
        self.notifier.as_ref()
    }

    /// Things handed over that monod does not use, worth a warning.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }
}

/// The service manager's notification socket (`NOTIFY_SOCKET`).
#[derive(Debug, Clone)]
pub struct Notifier {
    addr: SocketAddr,
    shown: String,
}

impl Notifier {
    /// Parses a `NOTIFY_SOCKET` value: a path, or `@name` for an abstract
    /// socket (Linux). Other kinds (`vsock:`) are not supported.
    pub fn new(value: &OsStr) -> io::Result<Notifier> {
        use std::os::unix::ffi::OsStrExt;
        let bytes = value.as_bytes();
        let addr = match bytes.first() {
            Some(b'/') => SocketAddr::from_pathname(Path::new(value))?,
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Some(b'@') => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(&bytes[1..])?
            }
            _ => return Err(io::Error::new(io::ErrorKind::Unsupported, "not a Unix socket path")),
        };
        Ok(Notifier { addr, shown: value.to_string_lossy().into_owned() })
    }

    /// Where notifications go, for messages.
    pub fn address(&self) -> &str {
        &self.shown
    }

    /// `READY=1`: the socket accepts connections.
    pub fn ready(&self, status: &str) -> io::Result<()> {
        self.send(&format!("READY=1\nMAINPID={}\nSTATUS={}\n", std::process::id(), one_line(status)))
    }

    /// `STOPPING=1`: shutdown has begun.
    pub fn stopping(&self, status: &str) -> io::Result<()> {
        self.send(&format!("STOPPING=1\nSTATUS={}\n", one_line(status)))
    }

    fn send(&self, message: &str) -> io::Result<()> {
        let socket = UnixDatagram::unbound()?;
        let sent = socket.send_to_addr(message.as_bytes(), &self.addr)?;
        if sent != message.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "notification cut short"));
        }
        Ok(())
    }
}

/// A status must stay on one line: a newline would start another field.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// Whether a handed socket bound at `actual` is the socket clients look for
/// at `expected` (the same path, or the same file reached another way).
pub fn same_socket(actual: &Path, expected: &Path) -> bool {
    if actual == expected {
        return true;
    }
    let canonical =
        |p: &Path| -> Option<PathBuf> { Some(p.parent()?.canonicalize().ok()?.join(p.file_name()?)) };
    matches!((canonical(actual), canonical(expected)), (Some(a), Some(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn receiver(dir: &Path) -> (UnixDatagram, PathBuf) {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (socket, path)
    }

    fn recv(socket: &UnixDatagram) -> String {
        let mut buf = [0u8; 4096];
        let n = socket.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn ready_and_stopping_reach_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let (socket, path) = receiver(dir.path());
        let notifier = Notifier::new(path.as_os_str()).unwrap();
        notifier.ready("listening on /x\ny").unwrap();
        let msg = recv(&socket);
        let fields: Vec<&str> = msg.lines().collect();
        assert_eq!(fields[0], "READY=1");
        assert!(fields.contains(&format!("MAINPID={}", std::process::id()).as_str()), "{msg}");
        assert!(fields.contains(&"STATUS=listening on /x y"), "{msg}");
        notifier.stopping("shutting down").unwrap();
        assert!(recv(&socket).starts_with("STOPPING=1\n"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn abstract_notify_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("mono-test-notify-{}", std::process::id());
        let socket =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Notifier::new(OsStr::new(&format!("@{name}"))).unwrap().stopping("bye").unwrap();
        assert!(recv(&socket).starts_with("STOPPING=1\n"));
    }

    #[test]
    fn unsupported_notify_socket_is_an_error() {
        assert!(Notifier::new(OsStr::new("vsock:2:1234")).is_err());
        assert!(Notifier::new(OsStr::new("")).is_err());
    }

    #[test]
    fn same_socket_sees_through_symlinked_directories() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        assert!(same_socket(&real.join("monod.sock"), &dir.path().join("link/monod.sock")));
        assert!(!same_socket(&real.join("other.sock"), &real.join("monod.sock")));
    }
}
