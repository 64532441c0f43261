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
use std::time::Duration;

/// Largest response accepted.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// A response: status code and body.
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

/// POSTs `body` to `/` on the socket and reads the response.
pub fn post(socket: &Path, body: &[u8], timeout: Option<Duration>) -> io::Result<Response> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(timeout)?;
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    // A daemon that refuses the caller answers and closes without reading
    // everything; its answer is still worth reading.
    if let Err(e) = stream.write_all(&request)
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        return Err(e);
    }
    read_response(BufReader::new(stream))
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
