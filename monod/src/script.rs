//! Running user scripts: the one place mono goes through a shell.
//!
//! A script runs as `/bin/sh -c SCRIPT` in the workspace, with exactly the
//! environment it is given (the caller's plus mono's variables), stdin from
//! `/dev/null`, and in its own process group so that cancelling it stops
//! everything it started. Its stdout and stderr are read line by line as
//! they come and handed to the operation's [`Progress`].

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use mono_proto::OpStream;
use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio_util::sync::CancellationToken;

use crate::logs::progress::Progress;

/// Lines longer than this are split, so one endless line cannot exhaust
/// memory.
const MAX_LINE: usize = 16 * 1024;
/// How long a cancelled script gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(3);
/// After the shell exits, how long output of processes it left running in
/// the background is still collected before mono moves on.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);

/// How a script ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It exited with this code.
    Exited(i32),
    /// A signal ended it.
    Signalled(i32),
    /// The operation was cancelled and the script stopped.
    Cancelled,
}

impl Outcome {
    /// True for exit code 0.
    pub fn success(self) -> bool {
        self == Outcome::Exited(0)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Exited(c) => write!(f, "exit {c}"),
            Outcome::Signalled(s) => write!(f, "killed by signal {s}"),
            Outcome::Cancelled => f.write_str("cancelled"),
        }
    }
}

/// Runs `script` in `cwd` with environment `env` and reports its output.
pub async fn run(
    script: &str,
    cwd: &Path,
    env: &[(String, String)],
    progress: &Progress,
    cancel: &CancellationToken,
) -> std::io::Result<Outcome> {
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()?;
    let pgid = child.id().and_then(|id| Pid::from_raw(id as i32));
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let pump = async {
        tokio::join!(pump(stdout, OpStream::Out, progress), pump(stderr, OpStream::Err, progress));
    };
    tokio::pin!(pump);

    // Output is read while the script runs: one that prints more than a
    // pipe holds (64 KiB) would otherwise block on its write, forever.
    let mut pumped = false;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status?,
            () = &mut pump, if !pumped => pumped = true,
            _ = cancel.cancelled() => {
                stop_group(pgid, &mut child).await;
                return Ok(Outcome::Cancelled);
            }
        }
    };
    // Collect what is left; background children may hold the pipes open.
    if !pumped {
        let _ = tokio::time::timeout(DRAIN_AFTER_EXIT, &mut pump).await;
    }
    Ok(outcome(status))
}

fn outcome(status: std::process::ExitStatus) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => Outcome::Exited(c),
        (None, Some(s)) => Outcome::Signalled(s),
        (None, None) => Outcome::Exited(-1),
    }
}

/// SIGTERM to the whole group, SIGKILL after a grace period.
async fn stop_group(pgid: Option<Pid>, child: &mut tokio::process::Child) {
    if let Some(pgid) = pgid {
        let _ = kill_process_group(pgid, Signal::TERM);
    }
    if tokio::time::timeout(KILL_GRACE, child.wait()).await.is_err() {
        if let Some(pgid) = pgid {
            let _ = kill_process_group(pgid, Signal::KILL);
        }
        let _ = child.wait().await;
    }
}

async fn pump(stream: impl AsyncRead + Unpin, which: OpStream, progress: &Progress) {
    let mut reader = BufReader::new(stream);
    let mut line: Vec<u8> = Vec::new();
    loop {
        let buf = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(b) => b,
        };
        let (take, complete) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        line.extend_from_slice(&buf[..take]);
        reader.consume(take);
        if complete || line.len() >= MAX_LINE {
            emit(&mut line, which, progress);
        }
    }
    if !line.is_empty() {
        emit(&mut line, which, progress);
    }
}

fn emit(line: &mut Vec<u8>, which: OpStream, progress: &Progress) {
    let text = String::from_utf8_lossy(line);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    progress.output(which, text);
    line.clear();
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::logs::monolog::MonoLog;
    use crate::logs::progress::Watchers;

    /// More output than a pipe holds: read as it comes, every line of it,
    /// and a watcher sees it while the script still runs.
    #[tokio::test]
    async fn a_script_that_prints_more_than_a_pipe_holds_runs_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(MonoLog::open(&dir.path().join("mono.log")).unwrap());
        let watchers = Watchers::default();
        let mut feed = watchers.watch("op");
        let progress = Progress::new("t", log, watchers.claim(Some("op")), None);
        // The script waits for its first line to be read before it ends.
        let first = dir.path().join("first-line-read");
        let script = format!("seq 1 50000; while [ ! -e '{}' ]; do sleep 0.01; done", first.display());
        let env = [("PATH".to_string(), "/usr/bin:/bin".to_string())];
        let cancel = CancellationToken::new();
        let run = run(&script, dir.path(), &env, &progress, &cancel);
        let seen = async {
            assert_eq!(feed.lines.recv().await.unwrap().line, "1");
            std::fs::write(&first, "").unwrap();
        };
        // A deadline, not a bound on speed: a stuck script fails the test.
        let both = async { tokio::join!(run, seen) };
        let (outcome, ()) =
            tokio::time::timeout(Duration::from_secs(120), both).await.expect("the script never ended");
        assert!(outcome.unwrap().success());
        let text = std::fs::read_to_string(dir.path().join("mono.log")).unwrap();
        assert_eq!(text.lines().filter(|l| l.contains("[t|out]")).count(), 50_000);
        assert!(text.contains("[t|out] 50000\n"), "the last line is missing");
    }
}
