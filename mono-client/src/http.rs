//! Just enough HTTP/1.1 to POST one JSON body over the daemon's Unix socket
//! and read the answer, synchronously.
//!
//! One-shot commands (`list`, `status`, `daemon status`, ...) use this
//! instead of a WebSocket: no handshake, no async runtime, no extra thread,
//! so a call costs little more than starting the process. The peer is always
//! our own daemon (hyper), so only what it sends is handled: a status line,
//! headers, and a body framed by `Content-Length` or chunked encoding.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::liveness::PATIENCE;

/// Largest response accepted.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// A response: status code and body.
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

/// No daemon serves the socket: none there, or one that died (a dying
/// daemon's socket may still accept, then reset the connection).
pub fn is_absent(e: &io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionRefused, ConnectionReset, NotFound, UnexpectedEof};
    matches!(e.kind(), NotFound | ConnectionRefused | ConnectionReset | BrokenPipe | UnexpectedEof)
}

/// POSTs `body` to `/` on the socket and reads the response, within
/// `timeout` in all. Each step that waits (connecting, sending, the reply's
/// first byte) waits in slices of [`PATIENCE`] and calls `check` after
/// every silent slice; its error ends the wait (see [`crate::liveness`]).
pub fn post(
    socket: &Path,
    body: &[u8],
    timeout: Duration,
    check: &mut dyn FnMut() -> io::Result<()>,
) -> io::Result<Response> {
    let deadline = Instant::now() + timeout;
    let slice =
        || PATIENCE.min(deadline.saturating_duration_since(Instant::now())).max(Duration::from_millis(1));
    let mut waited = |what: &str| -> io::Result<()> {
        check()?;
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("monod did not {what} within {}s", timeout.as_secs()),
            ));
        }
        Ok(())
    };
    let mut stream = loop {
        match connect_within(socket, slice()) {
            Ok(stream) => break stream,
            Err(e) if is_wait(&e) => waited("accept the connection")?,
            Err(e) => return Err(e),
        }
    };
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    let mut sent = 0;
    while sent < request.len() {
        stream.set_write_timeout(Some(slice()))?;
        match stream.write(&request[sent..]) {
            Ok(n) => sent += n,
            Err(e) if is_wait(&e) => waited("read the request")?,
            // A daemon that refuses the caller answers and closes without
            // reading everything; its answer is still worth reading.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break,
            Err(e) => return Err(e),
        }
    }
    while !readable_within(&stream, slice())? {
        waited("answer")?;
    }
    stream.set_read_timeout(Some(deadline.saturating_duration_since(Instant::now()).max(PATIENCE)))?;
    read_response(BufReader::new(stream))
}

/// Connects, giving up after `limit` when the socket's backlog is full (a
/// blocking connect to a Unix socket waits for room, up to the socket's
/// send timeout).
pub fn connect_within(socket: &Path, limit: Duration) -> io::Result<UnixStream> {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketType, sockopt};
    // Close-on-exec at once (macOS has no SOCK_CLOEXEC), so monod, started
    // by this client, does not inherit it.
    let fd = rustix::net::socket(AddressFamily::UNIX, SocketType::STREAM, None)?;
    rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)?;
    sockopt::set_socket_timeout(&fd, sockopt::Timeout::Send, Some(limit))?;
    rustix::net::connect(&fd, &SocketAddrUnix::new(socket)?)?;
    sockopt::set_socket_timeout(&fd, sockopt::Timeout::Send, None)?;
    Ok(UnixStream::from(fd))
}

/// A step that waited too long: a timeout, or a full backlog.
fn is_wait(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Whether the stream has something to read (or was closed) within `limit`.
fn readable_within(stream: &UnixStream, limit: Duration) -> io::Result<bool> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut fds = [PollFd::new(stream, PollFlags::IN)];
    let timeout = Timespec::try_from(limit).unwrap_or(Timespec { tv_sec: 2, tv_nsec: 0 });
    loop {
        match poll(&mut fds, Some(&timeout)) {
            Ok(n) => return Ok(n > 0),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

fn read_response(mut r: impl BufRead) -> io::Result<Response> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("bad HTTP response: {what}"));
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 =
        line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| bad("status line"))?;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(bad("headers end early"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse().map_err(|_| bad("content-length"))?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked")
            {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| bad("chunk size"))?;
            if size == 0 {
                break;
            }
            if body.len() + size > MAX_BODY {
                return Err(bad("body too large"));
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            line.clear();
            r.read_line(&mut line)?;
        }
    } else if let Some(n) = length {
        if n > MAX_BODY {
            return Err(bad("body too large"));
        }
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else {
        r.take(MAX_BODY as u64).read_to_end(&mut body)?;
    }
    Ok(Response { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_length_and_chunked_bodies() {
        let r = read_response(&b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nbody"[..]).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"body"[..]));
        let r = read_response(
            &b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                [..],
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (403, &b"abcde"[..]));
        assert!(read_response(&b"garbage"[..]).is_err());
    }
}
