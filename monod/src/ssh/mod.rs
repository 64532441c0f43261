//! Engines on other machines, reached over SSH (`ssh://[user@]host[:port]`,
//! as `docker context create --docker host=ssh://...` makes them).
//!
//! One SSH connection per engine, a control master monod keeps alive
//! ([`master`]), carries both the Engine API ([`dial`]: `docker system
//! dial-stdio` per connection, as the docker CLI does) and the forwards
//! that bring an environment's published ports home: a service bound on the
//! remote host's `127.0.0.1:P` answers on the local `127.0.0.1:P`, so
//! scripts, URLs and the router work as with a local engine.
//!
//! The `ssh` program is the user's own, with their `~/.ssh/config`, keys
//! and agent: mono adds no credentials and puts nothing secret on its
//! command lines. Control sockets and ssh's logs live in `$MONO_HOME/ssh`.

pub mod dial;
pub mod master;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

pub use master::{ForwardState, Master};

/// The folder of `$MONO_HOME` that holds the control sockets and logs.
pub const DIR: &str = mono_proto::paths::SSH_DIR;

/// Options of every ssh mono runs: never a prompt (monod has no terminal),
/// and a dead connection noticed within seconds.
pub(crate) const COMMON_OPTIONS: &[&str] = &[
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=10",
    "-o",
    "ServerAliveInterval=5",
    "-o",
    "ServerAliveCountMax=3",
];

/// Where an `ssh://` endpoint leads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SshTarget {
    /// `[user@]host`, as ssh takes it.
    pub dest: String,
    /// The port, when the URL gives one.
    pub port: Option<u16>,
}

/// Why an `ssh://` URL cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{url}: {reason}")]
pub struct TargetError {
    url: String,
    reason: &'static str,
}

impl SshTarget {
    /// Parses `ssh://[user@]host[:port]` (no path, as for the docker CLI).
    pub fn parse(url: &str) -> Result<SshTarget, TargetError> {
        let bad = |reason| TargetError { url: url.to_string(), reason };
        let rest = url.strip_prefix("ssh://").ok_or_else(|| bad("not an ssh:// URL"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            return Err(bad("an ssh:// endpoint has no path"));
        }
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((user, hostport)) => (Some(user), hostport),
            None => (None, rest),
        };
        let (host, port) = match hostport.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed [ in the host"))?;
                (host, after.strip_prefix(':'))
            }
            None => match hostport.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostport, None),
            },
        };
        let port = port.map(|p| p.parse::<u16>().map_err(|_| bad("the port is not a number"))).transpose()?;
        let word_ok = |w: &str| {
            !w.is_empty() && !w.starts_with('-') && w.chars().all(|c| c.is_ascii_graphic() && c != '@')
        };
        if !word_ok(host) || user.is_some_and(|u| !word_ok(u)) {
            return Err(bad("the user and host must be plain names (no spaces, no leading -)"));
        }
        let dest = match user {
            Some(user) => format!("{user}@{host}"),
            None => host.to_string(),
        };
        Ok(SshTarget { dest, port })
    }

    /// `-p PORT` when the URL gives one.
    pub(crate) fn port_args(&self) -> Vec<String> {
        self.port.map(|p| vec!["-p".to_string(), p.to_string()]).unwrap_or_default()
    }

    /// A short stable name for files of this target (control socket, log):
    /// Unix socket paths are limited to ~100 bytes.
    fn file_stem(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{}:{:?}", self.dest, self.port));
        digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Display for SshTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(port) => write!(f, "ssh://{}:{port}", self.dest),
            None => write!(f, "ssh://{}", self.dest),
        }
    }
}

/// The control masters of this daemon, one per SSH target.
pub struct Masters {
    dir: PathBuf,
    masters: Mutex<HashMap<SshTarget, Arc<Master>>>,
    /// One Engine client per target, shared by every operation, so its
    /// pooled connections (each a `dial-stdio` process on the remote host,
    /// ~50 ms to start) outlive a single request.
    clients: Mutex<HashMap<SshTarget, bollard::Docker>>,
}

static MASTERS: OnceLock<Masters> = OnceLock::new();

/// Keeps control masters in `dir` (`$MONO_HOME/ssh`, made private by the
/// caller) from now on. The first call wins.
pub fn init(dir: PathBuf) {
    let _ = MASTERS.set(Masters {
        dir,
        masters: Mutex::new(HashMap::new()),
        clients: Mutex::new(HashMap::new()),
    });
}

/// The daemon's masters, once [`init`] ran (without it, as in unit tests,
/// every ssh logs in by itself).
pub fn masters() -> Option<&'static Masters> {
    MASTERS.get()
}

impl Masters {
    /// The master of `target`, started on first use.
    pub fn of(&self, target: &SshTarget) -> Arc<Master> {
        let mut masters = self.masters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(master) = masters.get(target).filter(|m| !m.ended()) {
            return master.clone();
        }
        let stem = target.file_stem();
        let master = Master::start(
            target.clone(),
            self.dir.join(format!("{stem}.sock")),
            self.dir.join(format!("{stem}.log")),
        );
        masters.insert(target.clone(), master.clone());
        master
    }

    /// The shared Engine client of `target`, once one was kept.
    pub fn client(&self, target: &SshTarget) -> Option<bollard::Docker> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner()).get(target).cloned()
    }

    /// Keeps `docker` (version agreed) as `target`'s shared client, or
    /// forgets it (`None`: it stopped answering).
    pub fn keep_client(&self, target: &SshTarget, docker: Option<bollard::Docker>) {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        match docker {
            Some(docker) => clients.insert(target.clone(), docker),
            None => clients.remove(target),
        };
    }

    /// The master of `target` if one runs, without starting one (for
    /// reads such as status).
    pub fn running(&self, target: &SshTarget) -> Option<Arc<Master>> {
        self.masters.lock().unwrap_or_else(|e| e.into_inner()).get(target).filter(|m| !m.ended()).cloned()
    }

    /// Every master started so far.
    pub fn all(&self) -> Vec<Arc<Master>> {
        self.masters.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    /// Drops every forward of environment `env`, on whichever engine.
    pub async fn release(&self, env: &str) {
        for master in self.all() {
            master.release(env).await;
        }
    }

    /// Ends every master (daemon shutdown): their forwards close with them.
    pub async fn stop_all(&self) {
        for master in self.all() {
            master.stop().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_as_the_docker_cli_reads_them() {
        let t = SshTarget::parse("ssh://root@10.0.0.2").unwrap();
        assert_eq!((t.dest.as_str(), t.port), ("root@10.0.0.2", None));
        let t = SshTarget::parse("ssh://box:2222").unwrap();
        assert_eq!((t.dest.as_str(), t.port), ("box", Some(2222)));
        let t = SshTarget::parse("ssh://me@[::1]:22/").unwrap();
        assert_eq!((t.dest.as_str(), t.port), ("me@::1", Some(22)));
        assert_eq!(SshTarget::parse("ssh://box:2222").unwrap().to_string(), "ssh://box:2222");
    }

    #[test]
    fn targets_that_ssh_would_read_as_options_are_refused() {
        for bad in
            ["ssh://-oProxyCommand=x", "ssh://a b", "ssh://u@", "ssh://box/path", "ssh://box:port", "tcp://x"]
        {
            assert!(SshTarget::parse(bad).is_err(), "{bad}");
        }
    }
}
