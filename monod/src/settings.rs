//! `$MONO_HOME/monod.yml`: the daemon's own settings, read at start.
//!
//! ```yaml
//! events:
//!   keep: 50000        # stored events kept (count; operations' output is not stored)
//!   max_age: 30d       # stored events kept (age)
//!   live_buffer: 4096  # events a subscriber may fall behind before it is dropped
//! log:                 # $MONO_HOME/mono.log
//!   max_size: 10MiB    # rotated at this size
//!   keep: 3            # mono.log.1 .. mono.log.3 kept
//! daemon_log:          # $MONO_HOME/monod.log, when monod writes it
//!   max_size: 10MiB
//!   keep: 3
//! ports:
//!   first_slot: 1      # lowest MONO_ENV_ID handed out (ports 19000 + id*100)
//! cache:
//!   max_size: 10GiB    # least recently used entries go beyond this
//! socket:
//!   max_connections: 4096  # open at once, at most half of them WebSockets
//!                          # (default: 4096, or less to fit the open-file limit)
//!   request_timeout: 5s    # a request's head and body must arrive within this
//!   websocket_timeout: 60s # a WebSocket that answers no ping this long is closed
//! ```
//!
//! Everything is optional. Unknown keys and bad values stop the daemon with
//! the file, line and column, rather than running with a setting ignored.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The file name under `$MONO_HOME`.
pub const FILE: &str = mono_proto::paths::SETTINGS_FILE;

/// Why the settings file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// It exists but could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Malformed YAML, an unknown key or a bad value.
    #[error("{path}:{line}:{column}: {message}; fix the file and start monod again")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

/// The daemon's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The event log.
    #[serde(default)]
    pub events: EventSettings,
    /// `mono.log`.
    #[serde(default)]
    pub log: LogFileSettings,
    /// `monod.log`, when a client or launchd started monod (see
    /// [`crate::logs::daemonlog`]).
    #[serde(default)]
    pub daemon_log: LogFileSettings,
    /// Which slots (port blocks) environments get.
    #[serde(default)]
    pub ports: PortSettings,
    /// The dependency cache.
    #[serde(default)]
    pub cache: CacheSettings,
    /// The JSON-RPC socket's limits and timeouts.
    #[serde(default)]
    pub socket: SocketSettings,
    /// The reverse proxy of named URLs (`http://<env>.localhost:19000/`).
    #[serde(default)]
    pub router: RouterSettings,
}

/// The reverse proxy of named URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterSettings {
    /// Whether monod serves it.
    #[serde(default = "default_router_enabled")]
    pub enabled: bool,
    /// Where: a loopback address and port (slot 0's block, which no
    /// environment gets, by default).
    #[serde(default = "default_router_listen", deserialize_with = "loopback")]
    pub listen: std::net::SocketAddr,
}

fn default_router_enabled() -> bool {
    true
}

fn default_router_listen() -> std::net::SocketAddr {
    // Slot 0's block, which no environment gets.
    let port = u16::try_from(mono_proto::ports::PORT_BASE).expect("below 65536");
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

impl Default for RouterSettings {
    fn default() -> Self {
        RouterSettings { enabled: default_router_enabled(), listen: default_router_listen() }
    }
}

impl RouterSettings {
    /// The port URLs name, when the router is on.
    pub fn port(&self) -> Option<u16> {
        self.enabled.then_some(self.listen.port())
    }
}

/// A loopback `address:port`: the router serves this machine's browsers
/// only, never the network.
fn loopback<'de, D: serde::Deserializer<'de>>(d: D) -> Result<std::net::SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    let addr: std::net::SocketAddr = text.parse().map_err(|_| {
        serde::de::Error::custom(format!("{text:?} is not an address:port such as 127.0.0.1:19000"))
    })?;
    if !addr.ip().is_loopback() {
        return Err(serde::de::Error::custom(format!(
            "{text:?} is not a loopback address; the router serves this machine only (use 127.0.0.1 or [::1])"
        )));
    }
    if addr.port() == 0 {
        return Err(serde::de::Error::custom(format!("{text:?} has port 0; URLs need a fixed port")));
    }
    Ok(addr)
}

/// The JSON-RPC socket's limits and timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketSettings {
    /// Connections served at once (at most half of them WebSockets); by
    /// default as many as the open-file limit leaves room for, up to 4096.
    #[serde(default)]
    pub max_connections: Option<u32>,
    /// A request's head and body must arrive within this from connecting.
    #[serde(default = "default_request_timeout", deserialize_with = "crate::units::duration")]
    pub request_timeout: Duration,
    /// A WebSocket that answers no ping for this long is closed.
    #[serde(default = "default_websocket_timeout", deserialize_with = "crate::units::duration")]
    pub websocket_timeout: Duration,
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_websocket_timeout() -> Duration {
    Duration::from_secs(60)
}

impl Default for SocketSettings {
    fn default() -> Self {
        SocketSettings {
            max_connections: None,
            request_timeout: default_request_timeout(),
            websocket_timeout: default_websocket_timeout(),
        }
    }
}

/// The dependency cache's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    /// Least recently used entries are evicted beyond this many bytes.
    #[serde(default = "default_cache_size", deserialize_with = "crate::units::size")]
    pub max_size: u64,
}

fn default_cache_size() -> u64 {
    10 * 1024 * 1024 * 1024
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings { max_size: default_cache_size() }
    }
}

/// Which slots environments get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortSettings {
    /// The lowest slot handed out, to keep environments off low blocks
    /// that other services of the machine use (ports below
    /// `19000 + first_slot*100`).
    #[serde(default = "default_first_slot")]
    pub first_slot: u32,
}

fn default_first_slot() -> u32 {
    1
}

impl Default for PortSettings {
    fn default() -> Self {
        PortSettings { first_slot: default_first_slot() }
    }
}

/// Retention and buffering of the event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSettings {
    /// Stored events kept; older ones are pruned.
    #[serde(default = "default_keep_events")]
    pub keep: u64,
    /// Stored events older than this are pruned.
    #[serde(default = "default_max_age", deserialize_with = "crate::units::duration")]
    pub max_age: Duration,
    /// Live events buffered per subscriber before it counts as lagging.
    #[serde(default = "default_live_buffer")]
    pub live_buffer: usize,
}

fn default_keep_events() -> u64 {
    50_000
}

fn default_max_age() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}

fn default_live_buffer() -> usize {
    4096
}

impl Default for EventSettings {
    fn default() -> Self {
        EventSettings {
            keep: default_keep_events(),
            max_age: default_max_age(),
            live_buffer: default_live_buffer(),
        }
    }
}

/// Rotation of a log file (`mono.log`, `monod.log`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFileSettings {
    /// Rotated once it reaches this size.
    #[serde(default = "default_log_size", deserialize_with = "crate::units::size")]
    pub max_size: u64,
    /// Rotated files kept.
    #[serde(default = "default_log_keep")]
    pub keep: u32,
}

fn default_log_size() -> u64 {
    10 * 1024 * 1024
}

fn default_log_keep() -> u32 {
    3
}

impl Default for LogFileSettings {
    fn default() -> Self {
        LogFileSettings { max_size: default_log_size(), keep: default_log_keep() }
    }
}

impl Settings {
    /// Reads `dir/monod.yml`; defaults when there is none.
    pub fn load(dir: &Path) -> Result<Settings, SettingsError> {
        let path = dir.join(FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Settings::parse(&path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(source) => Err(SettingsError::Read { path, source }),
        }
    }

    /// Parses settings text; `path` is only used in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Settings, SettingsError> {
        let invalid = |line, column, message| SettingsError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            message,
        };
        let parsed: Option<Settings> = serde_yaml::from_str(text).map_err(|e| {
            let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
            let full = e.to_string();
            let message = full.rfind(" at line ").map_or(full.clone(), |i| full[..i].to_string());
            invalid(line, column, message)
        })?;
        let settings = parsed.unwrap_or_default();
        if settings.events.live_buffer == 0 || settings.events.keep == 0 {
            return Err(invalid(1, 1, "events.keep and events.live_buffer must be at least 1".to_string()));
        }
        if settings.log.max_size == 0 || settings.daemon_log.max_size == 0 {
            return Err(invalid(
                1,
                1,
                "log.max_size and daemon_log.max_size must be more than 0".to_string(),
            ));
        }
        let socket = settings.socket;
        if socket.max_connections.is_some_and(|n| n < 2) {
            return Err(invalid(1, 1, "socket.max_connections must be at least 2".to_string()));
        }
        let second = Duration::from_secs(1);
        if socket.request_timeout < second || socket.websocket_timeout < second {
            return Err(invalid(
                1,
                1,
                "socket.request_timeout and socket.websocket_timeout must be at least 1s".to_string(),
            ));
        }
        if !(1..=crate::ports::MAX_SLOT).contains(&settings.ports.first_slot) {
            let max = crate::ports::MAX_SLOT;
            return Err(invalid(1, 1, format!("ports.first_slot must be between 1 and {max}")));
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_values_and_errors() {
        let p = Path::new("/h/monod.yml");
        assert_eq!(Settings::parse(p, "").unwrap(), Settings::default());
        let s = Settings::parse(
            p,
            "events:\n  keep: 50\n  max_age: 1h\n  live_buffer: 8\nlog:\n  max_size: 1KiB\n  keep: 0\n",
        )
        .unwrap();
        assert_eq!(
            (s.events.keep, s.events.max_age, s.events.live_buffer),
            (50, Duration::from_secs(3600), 8)
        );
        assert_eq!((s.log.max_size, s.log.keep), (1024, 0));
        assert_eq!(s.daemon_log, LogFileSettings::default());
        let s = Settings::parse(p, "daemon_log:\n  max_size: 4KiB\n  keep: 1\n").unwrap();
        assert_eq!((s.daemon_log.max_size, s.daemon_log.keep), (4096, 1));
        assert!(Settings::parse(p, "daemon_log:\n  max_size: 0\n").is_err());
        let e = Settings::parse(p, "event:\n  keep: 1\n").unwrap_err().to_string();
        assert!(e.starts_with("/h/monod.yml:1:1: unknown field `event`"), "{e}");
        assert!(Settings::parse(p, "events:\n  live_buffer: 0\n").is_err());
        assert_eq!(Settings::parse(p, "ports:\n  first_slot: 101\n").unwrap().ports.first_slot, 101);
        assert!(Settings::parse(p, "ports:\n  first_slot: 465\n").is_err());
        let s = Settings::parse(p, "socket:\n  max_connections: 16\n  request_timeout: 2s\n").unwrap();
        assert_eq!(
            s.socket,
            SocketSettings {
                max_connections: Some(16),
                request_timeout: Duration::from_secs(2),
                websocket_timeout: Duration::from_secs(60)
            }
        );
        assert!(Settings::parse(p, "socket:\n  max_connections: 1\n").is_err());
        assert!(Settings::parse(p, "socket:\n  websocket_timeout: 10ms\n").is_err());
    }

    #[test]
    fn the_router_listens_on_loopback_only() {
        let p = Path::new("/h/monod.yml");
        let d = Settings::default().router;
        assert_eq!(
            (d.enabled, d.listen.to_string(), d.port()),
            (true, "127.0.0.1:19000".into(), Some(19000))
        );
        let s = Settings::parse(p, "router:\n  listen: \"[::1]:8080\"\n").unwrap();
        assert_eq!(s.router.port(), Some(8080));
        assert_eq!(Settings::parse(p, "router:\n  enabled: false\n").unwrap().router.port(), None);
        for (yml, says) in [
            ("router:\n  listen: 0.0.0.0:19000\n", "is not a loopback address"),
            ("router:\n  listen: 127.0.0.1:0\n", "has port 0"),
            ("router:\n  listen: localhost\n", "is not an address:port"),
        ] {
            let e = Settings::parse(p, yml).unwrap_err().to_string();
            assert!(e.starts_with("/h/monod.yml:") && e.contains(says), "{e}");
        }
    }
}
