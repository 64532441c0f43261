//! `$MONO_HOME/mono.log`: one line per step of every operation.
//!
//! ```text
//! [14:32:05.123] [+0s] [shop-feature-auth] mono init /home/x/shop/...
//! [14:32:06.234] [+1.111s] [shop-feature-auth|out] added 847 packages
//! ```
//!
//! The time is local wall-clock time; `+elapsed` counts from the start of
//! the operation the line belongs to. Each line is written with a single
//! `write` to a file opened for appending, so lines of concurrent operations
//! never interleave and `tail -f` sees them as they happen.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The open operations log.
#[derive(Debug)]
pub struct MonoLog {
    file: File,
    path: PathBuf,
}

impl MonoLog {
    /// Opens (creating, mode 0600) the log for appending.
    pub fn open(path: &Path) -> std::io::Result<MonoLog> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
        Ok(MonoLog { file, path: path.to_path_buf() })
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
        if let Err(e) = (&self.file).write_all(buf.as_bytes()) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot write mono.log");
        }
    }
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
