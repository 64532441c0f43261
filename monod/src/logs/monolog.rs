//! `$MONO_HOME/mono.log`: one line per step of every operation.
//!
//! ```text
//! [14:32:05.123] [+0s] [shop-feature-auth] mono init /home/x/shop/...
//! [14:32:06.234] [+1.111s] [shop-feature-auth|out] added 847 packages
//! ```
//!
//! The time is local wall-clock time; `+elapsed` counts from the start of
//! the operation the line belongs to. Each message is written with a single
//! `write` to a file opened for appending, so lines of concurrent operations
//! never interleave and `tail -f` sees them as they happen. Past a size
//! limit the file is rotated (`mono.log.1` is the newest old one), so the
//! log never grows without bound.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::settings::LogFileSettings;

/// The open operations log.
#[derive(Debug)]
pub struct MonoLog {
    file: Mutex<(File, u64)>,
    path: PathBuf,
    limits: LogFileSettings,
}

impl MonoLog {
    /// Opens (creating, mode 0600) the log for appending, with default limits.
    pub fn open(path: &Path) -> std::io::Result<MonoLog> {
        MonoLog::open_with(path, LogFileSettings::default())
    }

    /// Opens the log, rotating it at `limits`.
    pub fn open_with(path: &Path, limits: LogFileSettings) -> std::io::Result<MonoLog> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(MonoLog { file: Mutex::new((file, size)), path: path.to_path_buf(), limits })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line per line of `message`, tagged with `tag`
    /// (`env` or `env|out`). Write errors are reported to the daemon's own
    /// diagnostics, never to the operation: a full disk must not fail init.
    pub fn write(&self, started: Instant, tag: &str, message: &str) {
        let now = jiff::Zoned::now();
        let stamp = now.strftime("%H:%M:%S%.3f").to_string();
        let elapsed = format_elapsed(started.elapsed());
        let mut buf = String::with_capacity(message.len() + tag.len() + 32);
        for line in message.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            buf.push_str(&format!("[{stamp}] [+{elapsed}] [{tag}] {line}\n"));
        }
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = file.0.write_all(buf.as_bytes()) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot write mono.log");
            return;
        }
        file.1 += buf.len() as u64;
        if file.1 >= self.limits.max_size {
            match self.rotate() {
                Ok(fresh) => *file = (fresh, 0),
                Err(e) => tracing::warn!(path = %self.path.display(), error = %e, "cannot rotate mono.log"),
            }
        }
    }

    /// Rotates the file away and opens a new one.
    fn rotate(&self) -> std::io::Result<File> {
        rotate_files(&self.path, self.limits.keep)?;
        open_append(&self.path)
    }
}

/// Shifts `path.N` up by one, drops the oldest beyond `keep` and moves
/// `path` to `path.1` (`path.1` is the newest old file); with `keep` 0,
/// removes `path`. Shared by `mono.log` and `monod.log`
/// ([`crate::logs::daemonlog`]).
pub fn rotate_files(path: &Path, keep: u32) -> std::io::Result<()> {
    let numbered = |n: u32| PathBuf::from(format!("{}.{n}", path.display()));
    if keep == 0 {
        return std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(numbered(keep));
    for n in (1..keep).rev() {
        let _ = std::fs::rename(numbered(n), numbered(n + 1));
    }
    std::fs::rename(path, numbered(1))
}

/// Opens `path` for appending, creating it owner-only.
pub fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let nofollow = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    OpenOptions::new().create(true).append(true).mode(0o600).custom_flags(nofollow).open(path)
}

/// `0s`, `333ms`, `1.111s`, `75.020s`.
pub fn format_elapsed(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0 => "0s".to_string(),
        1..=999 => format!("{ms}ms"),
        _ => format!("{}.{:03}s", ms / 1000, ms % 1000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_matches_documented_format() {
        assert_eq!(format_elapsed(Duration::from_micros(400)), "0s");
        assert_eq!(format_elapsed(Duration::from_millis(333)), "333ms");
        assert_eq!(format_elapsed(Duration::from_millis(1111)), "1.111s");
        assert_eq!(format_elapsed(Duration::from_millis(3889)), "3.889s");
        assert_eq!(format_elapsed(Duration::from_millis(75_020)), "75.020s");
    }

    #[test]
    fn rotates_by_size_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mono.log");
        let log = MonoLog::open_with(&path, LogFileSettings { max_size: 1000, keep: 2 }).unwrap();
        for i in 0..200 {
            log.write(Instant::now(), "env", &format!("message {i}"));
        }
        assert!(!dir.path().join("mono.log.3").exists());
        let newest = std::fs::read_to_string(&path).unwrap();
        let older = std::fs::read_to_string(dir.path().join("mono.log.1")).unwrap();
        assert!(newest.ends_with("] [env] message 199\n"), "{newest}");
        assert!(older.len() >= 1000 && std::fs::metadata(&path).unwrap().len() < 1000);
        let total: u64 = ["mono.log", "mono.log.1", "mono.log.2"]
            .iter()
            .map(|f| std::fs::metadata(dir.path().join(f)).map(|m| m.len()).unwrap_or(0))
            .sum();
        assert!(total < 3 * 1100, "{total}");
    }

    #[test]
    fn lines_have_the_documented_shape() {
        let dir = tempfile::tempdir().unwrap();
        let log = MonoLog::open(&dir.path().join("mono.log")).unwrap();
        log.write(Instant::now(), "shop-auth", "created data directory");
        log.write(Instant::now(), "shop-auth|out", "a\nb");
        let text = std::fs::read_to_string(log.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        let shape = |l: &str, rest: &str| {
            // [HH:MM:SS.mmm] is 14 characters.
            assert_eq!(&l[0..1], "[");
            assert_eq!(&l[13..16], "] [");
            assert!(l.ends_with(rest), "{l}");
        };
        shape(lines[0], "] [shop-auth] created data directory");
        shape(lines[1], "] [shop-auth|out] a");
        shape(lines[2], "] [shop-auth|out] b");
    }
}
