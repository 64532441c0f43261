//! Container logs, as `docker compose logs` shows them: both streams of
//! each container, several containers merged in timestamp order.
//!
//! The Engine keeps each container's log with a timestamp per line, and
//! hands them out with `timestamps=true`. The kept lines (the last `tail` of
//! each container) are merged by timestamp while only one line per
//! container is held: each container's log is in order already. Following
//! then opens one live stream per container from the second of its last
//! line, skipping what was already sent, and forwards lines as they come
//! (so across containers in the order they were written). Every buffer is
//! bounded: one pending line per container, a line cut at [`MAX_LINE`], and
//! the caller's channel.

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::{Stream, StreamExt};
use jiff::Timestamp;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::engine::{Engine, EngineError};

/// Longest line sent whole; a longer one goes in parts of this size.
pub const MAX_LINE: usize = 64 * 1024;

/// One container whose logs are read.
#[derive(Debug, Clone)]
pub struct LogSource {
    /// Its service, named on each line.
    pub service: String,
    /// The container's id.
    pub container: String,
}

/// One line of a container's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The service.
    pub service: String,
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    /// When the Engine received it.
    pub time: Timestamp,
    /// The text, with its newline when it had one.
    pub data: String,
}

/// What to read.
#[derive(Debug, Clone, Copy)]
pub struct LogRequest {
    /// The last lines of each container (all when `None`).
    pub tail: Option<u64>,
    /// Then new lines until every container stopped.
    pub follow: bool,
}

/// Sends the logs of `sources` to `out`: the kept lines merged by
/// timestamp, then, when following, new lines as they come. Returns when
/// everything was sent, every followed container stopped, or `out` closed
/// (`out` is dropped then, so its receiver sees the end).
pub async fn stream_logs(
    engine: &Engine,
    sources: &[LogSource],
    request: LogRequest,
    out: mpsc::Sender<LogLine>,
) -> Result<(), EngineError> {
    let mut last: Vec<Option<Timestamp>> = vec![None; sources.len()];
    if request.tail != Some(0) {
        let tail = request.tail.map_or_else(|| "all".to_string(), |n| n.to_string());
        let mut readers: Vec<_> =
            sources.iter().map(|s| Box::pin(lines(engine, s, &tail, None, false))).collect();
        let mut heads = Vec::with_capacity(readers.len());
        for reader in &mut readers {
            heads.push(reader.next().await.transpose()?);
        }
        while let Some(i) = (0..heads.len())
            .filter(|&i| heads[i].is_some())
            .min_by_key(|&i| heads[i].as_ref().map(|l: &LogLine| l.time))
        {
            let line = heads[i].take().expect("a head was chosen");
            last[i] = Some(line.time);
            if out.send(line).await.is_err() {
                return Ok(());
            }
            heads[i] = readers[i].next().await.transpose()?;
        }
    }
    if !request.follow {
        return Ok(());
    }
    let mut followers = JoinSet::new();
    for (source, after) in sources.iter().zip(last) {
        let (engine, source, out) = (engine.clone(), source.clone(), out.clone());
        // From the second of the last line sent (the Engine's `since` has
        // whole seconds), skipping what was sent; none sent: only new lines
        // with `-n 0`, else the whole log (the container had none).
        let tail = if after.is_none() && request.tail == Some(0) { "0" } else { "all" };
        followers.spawn(async move {
            let since = after.map(|t| i32::try_from(t.as_second()).unwrap_or(i32::MAX));
            let reader = lines(&engine, &source, tail, since, true);
            let mut reader = std::pin::pin!(reader);
            while let Some(line) = reader.next().await {
                let line = line?;
                if after.is_some_and(|a| line.time <= a) {
                    continue;
                }
                if out.send(line).await.is_err() {
                    break;
                }
            }
            Ok::<(), EngineError>(())
        });
    }
    let mut result = Ok(());
    while let Some(done) = followers.join_next().await {
        match done {
            Ok(Err(e)) if result.is_ok() => result = Err(e),
            Err(e) if result.is_ok() => {
                result = Err(EngineError::Conflict { what: format!("a log follower panicked: {e}") })
            }
            _ => {}
        }
    }
    result
}

/// The lines of one container's log, each with its timestamp.
fn lines<'a>(
    engine: &'a Engine,
    source: &'a LogSource,
    tail: &str,
    since: Option<i32>,
    follow: bool,
) -> impl Stream<Item = Result<LogLine, EngineError>> + 'a {
    let mut options =
        LogsOptionsBuilder::new().stdout(true).stderr(true).timestamps(true).follow(follow).tail(tail);
    if let Some(since) = since {
        options = options.since(since);
    }
    let chunks = engine.docker.logs(&source.container, Some(options.build()));
    let mut splitter = Splitter::default();
    chunks
        .map(move |chunk| {
            let chunk = chunk.map_err(EngineError::api(format!("read the logs of {}", source.service)))?;
            let (stream, bytes) = match chunk {
                LogOutput::StdErr { message } => ("stderr", message),
                LogOutput::StdOut { message } | LogOutput::Console { message } => ("stdout", message),
                LogOutput::StdIn { .. } => return Ok(Vec::new()),
            };
            Ok(splitter
                .push(stream, &bytes)
                .into_iter()
                .map(|(stream, raw)| parse(&source.service, stream, &raw))
                .collect())
        })
        .flat_map(|lines: Result<Vec<LogLine>, EngineError>| {
            futures_util::stream::iter(match lines {
                Ok(lines) => lines.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            })
        })
}

/// Cuts the Engine's chunks into lines per stream: a chunk is one log entry
/// for most containers, but arbitrary bytes for those with a TTY.
#[derive(Default)]
struct Splitter {
    /// Bytes of an unfinished line, per stream (stdout, stderr).
    pending: [Vec<u8>; 2],
}

impl Splitter {
    fn push(&mut self, stream: &'static str, bytes: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
        let buf = &mut self.pending[usize::from(stream == "stderr")];
        let mut done = Vec::new();
        for &b in bytes {
            buf.push(b);
            if b == b'\n' || buf.len() >= MAX_LINE {
                done.push((stream, std::mem::take(buf)));
            }
        }
        done
    }
}

/// A raw line `2026-12-02T01:02:03.123456789Z text\n` as a [`LogLine`]; a
/// line without a readable timestamp keeps its text, stamped at the epoch.
fn parse(service: &str, stream: &'static str, raw: &[u8]) -> LogLine {
    let text = String::from_utf8_lossy(raw);
    let (time, data) = match text.split_once(' ') {
        Some((stamp, rest)) => match stamp.parse::<Timestamp>() {
            Ok(time) => (time, rest.to_string()),
            Err(_) => (Timestamp::UNIX_EPOCH, text.to_string()),
        },
        None => match text.trim_end().parse::<Timestamp>() {
            // An empty line: only the stamp and the newline.
            Ok(time) => (time, "\n".to_string()),
            Err(_) => (Timestamp::UNIX_EPOCH, text.to_string()),
        },
    };
    LogLine { service: service.to_string(), stream, time, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_per_stream_and_bounded() {
        let mut s = Splitter::default();
        assert!(s.push("stdout", b"2026-01-01T00:00:00.000000001Z par").is_empty());
        assert_eq!(s.push("stderr", b"x\n"), vec![("stderr", b"x\n".to_vec())]);
        assert_eq!(
            s.push("stdout", b"t\nnext"),
            vec![("stdout", b"2026-01-01T00:00:00.000000001Z part\n".to_vec())]
        );
        let long = vec![b'a'; MAX_LINE + 10];
        let parts = s.push("stderr", &long);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].1.len(), MAX_LINE);
    }

    #[test]
    fn timestamps_are_parsed_and_ordered() {
        let a = parse("db", "stdout", b"2026-12-02T01:02:03.100000000Z ready\n");
        let b = parse("db", "stderr", b"2026-12-02T01:02:03.020000000Z early\n");
        assert_eq!(a.data, "ready\n");
        assert!(b.time < a.time);
        assert_eq!(parse("db", "stdout", b"2026-12-02T01:02:03.000000000Z\n").data, "\n");
        assert_eq!(parse("db", "stdout", b"no stamp\n").data, "no stamp\n");
    }
}
