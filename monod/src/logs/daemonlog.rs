//! monod's own diagnostics (`tracing`), and `$MONO_HOME/monod.log`.
//!
//! A client or launchd that starts monod makes `monod.log` its stderr.
//! Everything monod says goes to stderr, so its last words (a start-up
//! error, a panic) land in the file the client reads; and when stderr is
//! that very file (same device and inode), it is rotated by size like
//! `mono.log` (`monod.log.1` is the newest old one, `monod.yml`'s
//! `daemon_log` sets the limits): the full file is renamed away, a new one
//! is opened and made the process's stderr. Under systemd or in a terminal,
//! stderr is the journal or the terminal and is left alone.
//!
//! What is written is bounded, wherever it goes: every line is cut at
//! [`MAX_LINE`] bytes, and the JSON-RPC transport's debug and trace events,
//! which carry whole requests (callers' environments included), are never
//! written, whatever `MONO_LOG` asks for.

use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

use crate::logs::monolog;
use crate::settings::LogFileSettings;

/// The longest line written; the rest is cut (and counted).
pub const MAX_LINE: usize = 4096;

/// Installs monod's `tracing` subscriber: the `MONO_LOG` filter (default
/// `info`), never the transport's request dumps, written to stderr through
/// [`DaemonLog`].
pub fn init(log_file: &Path, limits: LogFileSettings) {
    let filter = EnvFilter::try_from_env("MONO_LOG").unwrap_or_else(|_| "info".into());
    let layer = fmt::layer()
        .with_writer(DaemonLog::for_stderr(log_file, limits))
        .with_ansi(false)
        .with_filter(filter.and(filter_fn(|meta| !carries_requests(meta.target(), *meta.level()))));
    tracing_subscriber::registry().with(layer).init();
}

/// Whether an event may hold a request's body or parameters: jsonrpsee's
/// below `info`.
fn carries_requests(target: &str, level: tracing::Level) -> bool {
    target.starts_with("jsonrpsee") && level > tracing::Level::INFO
}

/// Writes lines to stderr, capped, and rotates stderr when it is the log
/// file.
pub struct DaemonLog {
    rotation: Option<Rotation>,
}

/// The file stderr is, and its limits.
struct Rotation {
    path: PathBuf,
    limits: LogFileSettings,
    /// Serialises rotations between threads (writes are single `write`s).
    lock: Mutex<()>,
}

impl DaemonLog {
    /// Rotates stderr at `limits` when it is `log_file`; else only caps
    /// lines.
    pub fn for_stderr(log_file: &Path, limits: LogFileSettings) -> DaemonLog {
        let rotation = is_stderr(log_file).then(|| Rotation {
            path: log_file.to_path_buf(),
            limits,
            lock: Mutex::new(()),
        });
        DaemonLog { rotation }
    }

    fn write_line(&self, line: &[u8]) {
        let capped = cap(line);
        let _ = std::io::stderr().lock().write_all(&capped);
        if let Some(rotation) = &self.rotation {
            rotation.after_write();
        }
    }
}

impl Rotation {
    /// Rotates once stderr has reached the size limit. Another monod (one
    /// refused at the lock, started with the same stderr) may have rotated
    /// the file already: then the current file is only reopened.
    fn after_write(&self) {
        let Ok(ours) = rustix::fs::fstat(std::io::stderr().as_fd()) else { return };
        if (ours.st_size as u64) < self.limits.max_size {
            return;
        }
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let still_current = std::fs::metadata(&self.path).is_ok_and(|m| same_file(&m, &ours));
        let rotated =
            if still_current { monolog::rotate_files(&self.path, self.limits.keep) } else { Ok(()) };
        let fresh = rotated.and_then(|()| monolog::open_append(&self.path));
        if let Ok(file) = fresh {
            let _ = rustix::stdio::dup2_stderr(&file);
        }
    }
}

/// Whether stderr is the file at `path`.
fn is_stderr(path: &Path) -> bool {
    let (Ok(stderr), Ok(file)) = (rustix::fs::fstat(std::io::stderr().as_fd()), std::fs::metadata(path))
    else {
        return false;
    };
    same_file(&file, &stderr)
}

// The casts are needed elsewhere: macOS's `st_dev` is an `i32`.
#[allow(clippy::unnecessary_cast)]
fn same_file(file: &std::fs::Metadata, stat: &rustix::fs::Stat) -> bool {
    use std::os::unix::fs::MetadataExt;
    file.dev() == stat.st_dev as u64 && file.ino() == stat.st_ino as u64
}

/// `line` cut at [`MAX_LINE`] bytes (on a character boundary), saying how
/// much was cut.
fn cap(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if line.len() <= MAX_LINE {
        return line.into();
    }
    let mut end = MAX_LINE;
    while end > 0 && (line[end] & 0xc0) == 0x80 {
        end -= 1;
    }
    let mut out = line[..end].to_vec();
    out.extend_from_slice(format!(" [... {} bytes cut]\n", line.len() - end).as_bytes());
    out.into()
}

/// One event's line, handed over whole.
pub struct LineWriter<'a>(&'a DaemonLog);

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_line(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for DaemonLog {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_on_a_character_boundary() {
        assert_eq!(&*cap(b"short\n"), b"short\n");
        let mut long = "é".repeat(MAX_LINE);
        long.push('\n');
        let cut = cap(long.as_bytes());
        let text = std::str::from_utf8(&cut).expect("still UTF-8");
        assert!(text.len() < MAX_LINE + 64, "{}", text.len());
        assert!(text.ends_with(&format!(" [... {} bytes cut]\n", long.len() - MAX_LINE)), "{text}");
    }

    #[test]
    fn transport_debug_events_are_never_written() {
        use tracing::Level;
        assert!(carries_requests("jsonrpsee-http", Level::TRACE));
        assert!(carries_requests("jsonrpsee_core::proc_macros_support", Level::DEBUG));
        assert!(!carries_requests("jsonrpsee-server", Level::WARN));
        assert!(!carries_requests("monod::tmux", Level::DEBUG));
    }
}
