//! Scanning every process's command line for values that must never be
//! there: any local user can read `/proc/<pid>/cmdline`, so a secret on an
//! argv is a secret published.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A process whose command line holds one of the needles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The process.
    pub pid: i32,
    /// Its command line, arguments joined by spaces (cut at 240 characters).
    pub cmdline: String,
    /// The needle found.
    pub needle: String,
}

/// Every process on the machine (all of `/proc`, not only known pids) whose
/// command line contains one of `needles`.
pub fn cmdlines_containing(needles: &[String]) -> Vec<Hit> {
    let mut hits = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return hits };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else { continue };
        for needle in needles {
            if raw.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                let mut cmdline = String::from_utf8_lossy(&raw).replace('\0', " ").trim_end().to_string();
                if cmdline.len() > 240 {
                    cmdline = format!("{}...", cmdline.chars().take(240).collect::<String>());
                }
                hits.push(Hit { pid, cmdline, needle: needle.clone() });
            }
        }
    }
    hits
}

/// Scans `/proc` over and over on a thread while a test runs, to catch
/// short-lived processes (a `tmux` client lives a few milliseconds) that a
/// scan after each step would miss.
pub struct CmdlineWatch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<Hit>>>,
}

impl CmdlineWatch {
    /// Starts watching for `needles`.
    pub fn start(needles: Vec<String>) -> CmdlineWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen: Vec<Hit> = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                for hit in cmdlines_containing(&needles) {
                    if !seen.contains(&hit) {
                        seen.push(hit);
                    }
                }
                // A scan takes a few milliseconds; yielding between scans
                // leaves the machine's two cores to the test itself.
                std::thread::yield_now();
            }
            seen
        });
        CmdlineWatch { stop, thread: Some(thread) }
    }

    /// Stops watching; everything seen.
    pub fn finish(mut self) -> Vec<Hit> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map(|t| t.join().unwrap_or_default()).unwrap_or_default()
    }
}

impl Drop for CmdlineWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
