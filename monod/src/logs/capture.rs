//! `monod capture`: writes what a tmux pane prints to an environment's
//! rolling log.
//!
//! tmux's `pipe-pane` starts one capture process per pane and feeds it the
//! pane's output; the process is tmux's child, not the daemon's, so output
//! is captured while monod is stopped or restarting. It copies every byte,
//! in order, to `output.log` and rotates by size (`output.log.1` is the
//! newest rotated file). It never stops reading: a failed write is reported
//! on stderr and the capture goes on, because a writer that stopped reading
//! would stall the pane.
//!
//! tmux hands over output in small pieces (what it read from the pane's
//! terminal, a few KiB). Writing each piece would cost a write, a stat and a
//! file-watch event in the daemon per piece; instead pieces are gathered
//! into batches of up to [`BATCH`] bytes, written once no more input comes
//! for a moment or the first byte has waited [`MAX_DELAY`], so a busy pane
//! costs a few hundred writes a second and a quiet one's output appears at
//! once.
//!
//! Several panes of one session append to the same file. Appends are
//! `O_APPEND` writes, so chunks never overwrite each other; rotation is
//! serialised by a lock file, and a writer whose file was rotated away by
//! another notices at its next write (the old file is past the limit) and
//! reopens, so at most one chunk lands in the rotated file late.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The current log file of an environment.
pub const CURRENT: &str = "output.log";
/// Created by the capture of the run window once all its output is written.
pub const RUN_DONE: &str = "run.done";
/// Serialises rotation between the captures of one environment.
const ROTATE_LOCK: &str = ".rotate.lock";
/// Read size for log files, and the size of notifications to followers.
pub const CHUNK: usize = 64 * 1024;
/// Largest batch written at once; a file may pass the size limit by at most
/// this much.
pub const BATCH: usize = 256 * 1024;
/// A batch is written when no more input came for this long...
const QUIET: Duration = Duration::from_millis(1);
/// ...or when its first byte has waited this long.
pub const MAX_DELAY: Duration = Duration::from_millis(20);

/// Size limits of an environment's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A file is rotated once it reaches this many bytes.
    pub max_bytes: u64,
    /// Rotated files kept besides the current one.
    pub keep: u32,
}

impl Limits {
    /// The limits `mono.yml`'s `logs:` sets.
    pub fn of(settings: &crate::config::LogSettings) -> Limits {
        Limits { max_bytes: settings.max_size, keep: settings.keep }
    }
}

/// The log files of one environment, oldest first.
pub fn files_oldest_first(dir: &Path, keep: u32) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..=keep).rev().map(|i| rotated(dir, i)).collect();
    files.push(dir.join(CURRENT));
    files
}

/// `output.log.N`.
pub fn rotated(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{CURRENT}.{n}"))
}

/// Copies `input` to the log in `dir` until end of input, then, when `done`,
/// creates [`RUN_DONE`]. `more_within(t)` says whether input is ready, waiting
/// up to `t` (a `poll` on the pipe).
pub fn run(
    dir: &Path,
    limits: Limits,
    done: bool,
    mut input: impl Read,
    mut more_within: impl FnMut(Duration) -> bool,
) -> io::Result<()> {
    let mut log = Log::open(dir, limits)?;
    let mut buf = vec![0u8; BATCH];
    let mut eof = false;
    while !eof {
        let mut len = match read(&mut input, &mut buf)? {
            0 => break,
            n => n,
        };
        let first = Instant::now();
        while len < BATCH {
            let waited = first.elapsed();
            if waited >= MAX_DELAY || !more_within(QUIET.min(MAX_DELAY - waited)) {
                break;
            }
            match read(&mut input, &mut buf[len..])? {
                0 => eof = true,
                n => len += n,
            }
            if eof {
                break;
            }
        }
        if let Err(e) = log.append(&buf[..len]) {
            eprintln!("monod capture: cannot write {}: {e}", log.path().display());
        }
    }
    drop(log);
    if done {
        OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(NOFOLLOW)
            .open(dir.join(RUN_DONE))?;
    }
    Ok(())
}

fn read(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match input.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// An open, size-rotated log.
struct Log {
    dir: PathBuf,
    current: PathBuf,
    limits: Limits,
    file: File,
}

impl Log {
    fn open(dir: &Path, limits: Limits) -> io::Result<Log> {
        let current = dir.join(CURRENT);
        let file = open_append(&current)?;
        Ok(Log { dir: dir.to_path_buf(), current, limits, file })
    }

    fn path(&self) -> &Path {
        &self.current
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        if self.file.metadata()?.len() >= self.limits.max_bytes {
            self.rotate()?;
        }
        Ok(())
    }

    /// Rotates unless another capture already did, then reopens the current
    /// file.
    fn rotate(&mut self) -> io::Result<()> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(NOFOLLOW)
            .open(self.dir.join(ROTATE_LOCK))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)?;
        let ours = self.file.metadata()?.ino();
        let still_current = match std::fs::metadata(&self.current) {
            Ok(m) => m.ino() == ours,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        if still_current {
            let keep = self.limits.keep;
            if keep == 0 {
                remove_if_present(&self.current)?;
            } else {
                remove_if_present(&rotated(&self.dir, keep))?;
                for i in (1..keep).rev() {
                    rename_if_present(&rotated(&self.dir, i), &rotated(&self.dir, i + 1))?;
                }
                std::fs::rename(&self.current, rotated(&self.dir, 1))?;
            }
        }
        self.file = open_append(&self.current)?;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).mode(0o600).custom_flags(NOFOLLOW).open(path)
}

/// Files of the log directory are owner-only and never opened through a
/// symbolic link planted in their place.
const NOFOLLOW: i32 = rustix::fs::OFlags::NOFOLLOW.bits() as i32;

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(dir: &Path, keep: u32) -> Vec<u8> {
        files_oldest_first(dir, keep).iter().filter_map(|f| std::fs::read(f).ok()).flatten().collect()
    }

    #[test]
    fn copies_everything_in_order_within_limits() {
        let dir = tempfile::tempdir().unwrap();
        let text: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        let limits = Limits { max_bytes: 1 << 20, keep: 3 };
        run(dir.path(), limits, true, text.as_bytes(), |_| true).unwrap();
        assert_eq!(read_all(dir.path(), 3), text.as_bytes());
        assert!(dir.path().join(RUN_DONE).exists());
    }

    #[test]
    fn rotation_bounds_disk_use_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits { max_bytes: 100_000, keep: 2 };
        let text: String = (0..100_000).map(|i| format!("{i:08}\n")).collect();
        // Small reads, as from a pipe.
        let input = io::BufReader::with_capacity(4096, text.as_bytes());
        run(dir.path(), limits, false, input, |_| true).unwrap();
        let total: u64 = files_oldest_first(dir.path(), 5)
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum();
        assert!(total <= 3 * (100_000 + BATCH as u64), "{total} bytes kept");
        assert!(!rotated(dir.path(), 3).exists());
        let kept = read_all(dir.path(), 2);
        assert!(text.as_bytes().ends_with(&kept), "the newest bytes are kept, in order");
        assert!(kept.len() >= 200_000);
    }

    #[test]
    fn a_writer_rotated_away_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits { max_bytes: 10, keep: 2 };
        let mut a = Log::open(dir.path(), limits).unwrap();
        let mut b = Log::open(dir.path(), limits).unwrap();
        a.append(b"0123456789\n").unwrap();
        b.append(b"late\n").unwrap();
        b.append(b"next\n").unwrap();
        let current = std::fs::read_to_string(dir.path().join(CURRENT)).unwrap();
        let old = std::fs::read_to_string(rotated(dir.path(), 1)).unwrap();
        assert_eq!(old, "0123456789\nlate\n");
        assert_eq!(current, "next\n");
    }
}
