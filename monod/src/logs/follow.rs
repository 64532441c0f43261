//! `logs.follow`: an environment's kept output, then new output as it is
//! written, across rotations, with run exits in their place.
//!
//! A follower subscribes to the environment's change signal before it
//! reads anything, so a write between its first read and its first wait
//! still wakes it. It keeps the current file open: on rotation it reads the
//! old file to its end before opening the new one, so nothing is skipped.
//! Items go out through a bounded channel; a slow reader makes its own
//! follower wait, and the file, not memory, holds what it has not read yet.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mono_proto::LogItem;
use tokio::sync::mpsc;

use super::capture::{self, CHUNK};
use super::monitor::EnvLog;

/// A follower whose starting point is fixed: it has subscribed to the
/// environment's changes and read the replay. Opening it before the
/// subscription is acknowledged means a caller that starts a run once
/// subscribed cannot write output the follower would skip.
pub struct Follower {
    log: Arc<EnvLog>,
    tick: tokio::sync::watch::Receiver<u64>,
    seen_exit: Option<u64>,
    reader: Reader,
    replay: Vec<String>,
}

impl Follower {
    /// Subscribes to `log` and reads its last `lines` lines (all kept
    /// output when `None`); `None` when the runtime is shutting down.
    pub async fn open(log: Arc<EnvLog>, lines: Option<u64>) -> Option<Follower> {
        let tick = log.changes();
        let seen_exit = log.last_exit().map(|e| e.run);
        let dir = log.dir().to_path_buf();
        let (reader, replay) = tokio::task::spawn_blocking(move || Reader::open(&dir, lines)).await.ok()?;
        Some(Follower { log, tick, seen_exit, reader, replay })
    }

    /// Sends the replay to `out`, then, when `follow`, new output and run
    /// exits until the environment goes away or `out` is closed.
    pub async fn send(self, follow: bool, out: mpsc::Sender<LogItem>) {
        let Follower { log, mut tick, mut seen_exit, mut reader, replay } = self;
        for data in replay {
            if out.send(LogItem::Output { data }).await.is_err() {
                return;
            }
        }
        if !follow {
            let _ = out.send(LogItem::End { reason: "all kept output sent".to_string() }).await;
            return;
        }
        loop {
            if tick.changed().await.is_err() {
                let _ = out
                    .send(LogItem::End { reason: format!("environment {} was destroyed", log.name()) })
                    .await;
                return;
            }
            let (back, chunks) = match tokio::task::spawn_blocking(move || {
                let chunks = reader.read_new();
                (reader, chunks)
            })
            .await
            {
                Ok(r) => r,
                Err(_) => return,
            };
            reader = back;
            for data in chunks {
                if out.send(LogItem::Output { data }).await.is_err() {
                    return;
                }
            }
            let exit = log.last_exit();
            if let Some(exit) = exit
                && seen_exit.is_none_or(|seen| exit.run > seen)
            {
                seen_exit = Some(exit.run);
                if out.send(LogItem::RunExited(exit)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads an environment's log files in order.
struct Reader {
    current_path: PathBuf,
    current: Option<File>,
    text: Utf8Chunks,
}

impl Reader {
    /// Opens the log and returns the replay of the last `lines` lines.
    fn open(dir: &Path, lines: Option<u64>) -> (Reader, Vec<String>) {
        let current_path = dir.join(capture::CURRENT);
        let mut segments: Vec<File> =
            rotated_oldest_first(dir).iter().filter_map(|p| File::open(p).ok()).collect();
        let current = File::open(&current_path).ok();
        if let Some(f) = &current
            && let Ok(f) = f.try_clone()
        {
            segments.push(f);
        }
        let (first, offset) = match lines {
            None => (0, 0),
            Some(n) => tail_start(&segments, n),
        };
        let mut reader = Reader { current_path, current, text: Utf8Chunks::default() };
        let mut out = Vec::new();
        let last = segments.len().saturating_sub(1);
        for (i, seg) in segments.iter().enumerate().skip(first) {
            let from = if i == first { offset } else { 0 };
            if i == last && reader.current.is_some() {
                if let Some(f) = reader.current.as_mut() {
                    let _ = f.seek(SeekFrom::Start(from));
                }
                out.extend(reader.read_new());
            } else {
                let mut pos = from;
                let mut buf = vec![0u8; CHUNK];
                while let Ok(n) = seg.read_at(&mut buf, pos) {
                    if n == 0 {
                        break;
                    }
                    pos += n as u64;
                    out.push(reader.text.push(&buf[..n]));
                }
            }
        }
        out.retain(|s| !s.is_empty());
        (reader, out)
    }

    /// Everything written since the last read, following a rotation.
    fn read_new(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            if let Some(f) = self.current.as_mut() {
                let mut buf = vec![0u8; CHUNK];
                loop {
                    match f.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => out.push(self.text.push(&buf[..n])),
                    }
                }
            }
            // Rotated away (or not there before)? Then the new file.
            let on_disk = std::fs::metadata(&self.current_path).ok().map(|m| m.ino());
            let ours = self.current.as_ref().and_then(|f| f.metadata().ok()).map(|m| m.ino());
            if on_disk.is_none() || on_disk == ours {
                break;
            }
            match File::open(&self.current_path) {
                Ok(f) => self.current = Some(f),
                Err(_) => break,
            }
        }
        out.retain(|s| !s.is_empty());
        out
    }
}

/// `output.log.N` files present, oldest (largest N) first.
fn rotated_oldest_first(dir: &Path) -> Vec<PathBuf> {
    let mut numbered: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let n = name.to_str()?.strip_prefix(capture::CURRENT)?.strip_prefix('.')?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    numbered.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    numbered.into_iter().map(|(_, p)| p).collect()
}

/// Where the last `n` lines start: (segment, offset). A final newline ends
/// the last line rather than starting an empty one.
fn tail_start(segments: &[File], n: u64) -> (usize, u64) {
    let lens: Vec<u64> = segments.iter().map(|f| f.metadata().map(|m| m.len()).unwrap_or(0)).collect();
    if n == 0 {
        return (segments.len().saturating_sub(1), lens.last().copied().unwrap_or(0));
    }
    let mut need = n;
    let mut at_end = true;
    let mut buf = vec![0u8; CHUNK];
    for (i, seg) in segments.iter().enumerate().rev() {
        let mut pos = lens[i];
        while pos > 0 {
            let start = pos.saturating_sub(CHUNK as u64);
            let len = (pos - start) as usize;
            if seg.read_exact_at(&mut buf[..len], start).is_err() {
                break;
            }
            for j in (0..len).rev() {
                let newline = buf[j] == b'\n';
                if std::mem::take(&mut at_end) && newline {
                    continue;
                }
                if newline {
                    need -= 1;
                    if need == 0 {
                        return (i, start + j as u64 + 1);
                    }
                }
            }
            pos = start;
        }
    }
    (0, 0)
}

/// Turns byte chunks into text without splitting a character between two
/// chunks; bytes that are not UTF-8 become U+FFFD.
#[derive(Default)]
struct Utf8Chunks {
    carry: Vec<u8>,
}

impl Utf8Chunks {
    fn push(&mut self, bytes: &[u8]) -> String {
        let mut buf = std::mem::take(&mut self.carry);
        buf.extend_from_slice(bytes);
        let cut = incomplete_tail(&buf);
        self.carry = buf.split_off(cut);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// Where an unfinished (so far valid) UTF-8 sequence at the end starts; the
/// length when there is none.
fn incomplete_tail(buf: &[u8]) -> usize {
    for back in 1..=3.min(buf.len()) {
        let i = buf.len() - back;
        let b = buf[i];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue; // continuation byte: look further back
        }
        let want = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return buf.len(),
        };
        return if back < want { i } else { buf.len() };
    }
    buf.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_split_characters_are_joined() {
        let mut t = Utf8Chunks::default();
        let s = "héllo ✓ 🎉".as_bytes();
        let mut out = String::new();
        for b in s {
            out.push_str(&t.push(std::slice::from_ref(b)));
        }
        assert_eq!(out, "héllo ✓ 🎉");
        assert_eq!(t.push(b"\xff ok"), "\u{fffd} ok");
    }

    #[tokio::test]
    async fn output_written_once_opened_is_sent_even_before_the_follower_runs() {
        let dir = tempfile::tempdir().unwrap();
        let current = dir.path().join(capture::CURRENT);
        std::fs::write(&current, "before\n").unwrap();
        let log = Arc::new(EnvLog::new("e", dir.path().to_path_buf(), std::time::Duration::from_secs(1)));
        let follower = Follower::open(log.clone(), Some(0)).await.unwrap();
        // A run started once the caller is subscribed writes at once.
        let mut f = std::fs::OpenOptions::new().append(true).open(&current).unwrap();
        std::io::Write::write_all(&mut f, b"run output\n").unwrap();
        log.bump();
        let (tx, mut rx) = mpsc::channel(8);
        tokio::spawn(follower.send(true, tx));
        match rx.recv().await {
            Some(LogItem::Output { data }) => assert_eq!(data, "run output\n"),
            other => panic!("expected the run's output, got {other:?}"),
        }
    }

    #[test]
    fn last_lines_across_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("output.log.2"), "a\nb\n").unwrap();
        std::fs::write(dir.path().join("output.log.1"), "c\nd").unwrap();
        std::fs::write(dir.path().join("output.log"), "e\nf\n").unwrap();
        let all = |lines| Reader::open(dir.path(), lines).1.concat();
        assert_eq!(all(None), "a\nb\nc\nde\nf\n");
        assert_eq!(all(Some(2)), "de\nf\n");
        assert_eq!(all(Some(4)), "b\nc\nde\nf\n");
        assert_eq!(all(Some(100)), "a\nb\nc\nde\nf\n");
        assert_eq!(all(Some(0)), "");
    }

    #[test]
    fn new_output_after_rotation_is_read_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let current = dir.path().join("output.log");
        std::fs::write(&current, "one\n").unwrap();
        let (mut r, replay) = Reader::open(dir.path(), None);
        assert_eq!(replay.concat(), "one\n");
        let mut f = std::fs::OpenOptions::new().append(true).open(&current).unwrap();
        std::io::Write::write_all(&mut f, b"two\n").unwrap();
        std::fs::rename(&current, dir.path().join("output.log.1")).unwrap();
        std::fs::write(&current, "three\n").unwrap();
        assert_eq!(r.read_new().concat(), "two\nthree\n");
        assert_eq!(r.read_new().concat(), "");
    }
}
