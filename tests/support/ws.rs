//! A bare WebSocket client over the daemon's Unix socket, written from
//! RFC 6455 alone (nothing of jsonrpsee's or mono's), so tests can be the
//! clients no library would be: one that never reads, one that stops in the
//! middle of a frame, hundreds at once from one process.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// One WebSocket connection, blocking.
pub struct RawWs {
    stream: UnixStream,
    /// Bytes read but not yet parsed into frames.
    buf: Vec<u8>,
}

/// The opening handshake; the key is the RFC's sample (any 16 bytes do).
const HANDSHAKE: &str = "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

impl RawWs {
    /// Connects and completes the opening handshake; fails unless the
    /// daemon answers 101 (the error carries its answer).
    pub fn connect(socket: &Path) -> io::Result<RawWs> {
        let mut stream = UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(crate::WAIT))?;
        stream.write_all(HANDSHAKE.as_bytes())?;
        let mut ws = RawWs { stream, buf: Vec::new() };
        let head = ws.read_head()?;
        if !head.starts_with("HTTP/1.1 101") {
            let mut rest = String::from_utf8_lossy(&ws.buf).into_owned();
            let _ = ws.stream.read_to_string(&mut rest);
            return Err(io::Error::other(format!("handshake refused: {head}{rest}")));
        }
        Ok(ws)
    }

    fn read_head(&mut self) -> io::Result<String> {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end + 4]).into_owned();
                self.buf.drain(..end + 4);
                return Ok(head);
            }
            self.fill()?;
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the daemon closed the connection"));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// The bytes of one masked client frame of `opcode` carrying `payload`.
    pub fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= u16::MAX as usize => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x12u8, 0x34, 0x56, 0x78];
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> io::Result<()> {
        self.stream.write_all(&Self::frame(0x1, text.as_bytes()))
    }

    /// Sends a JSON-RPC request.
    pub fn call(&mut self, id: u64, method: &str, params: serde_json::Value) -> io::Result<()> {
        let request = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_text(&request.to_string())
    }

    /// The next text message, answering pings meanwhile; `None` when the
    /// daemon closed the connection (a close frame or end of stream), an
    /// error when nothing complete arrives within `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> io::Result<Option<String>> {
        let deadline = Instant::now() + timeout;
        let mut message = Vec::new();
        loop {
            if let Some((fin, opcode, payload)) = self.parse_frame() {
                match opcode {
                    0x0..=0x2 => {
                        message.extend_from_slice(&payload);
                        if fin {
                            return Ok(Some(String::from_utf8_lossy(&message).into_owned()));
                        }
                    }
                    0x8 => return Ok(None),
                    0x9 => self.stream.write_all(&Self::frame(0xA, &payload))?,
                    _ => {}
                }
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no message in time"));
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.fill() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// The next message parsed as JSON (see [`RawWs::recv`]).
    pub fn recv_json(&mut self, timeout: Duration) -> io::Result<Option<serde_json::Value>> {
        Ok(self.recv(timeout)?.map(|m| serde_json::from_str(&m).unwrap_or_else(|e| panic!("{e}: {m}"))))
    }

    /// Reads messages until the reply to request `id`; returns the
    /// notifications that came before it and the reply.
    pub fn until_reply(
        &mut self,
        id: u64,
        timeout: Duration,
    ) -> io::Result<(Vec<serde_json::Value>, serde_json::Value)> {
        let deadline = Instant::now() + timeout;
        let mut notes = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(msg) = self.recv_json(left)? else {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before the reply"));
            };
            if msg.get("id").and_then(serde_json::Value::as_u64) == Some(id) {
                return Ok((notes, msg));
            }
            notes.push(msg);
        }
    }

    /// A complete frame from the buffer, if there is one: (fin, opcode,
    /// payload). Server frames are not masked.
    fn parse_frame(&mut self) -> Option<(bool, u8, Vec<u8>)> {
        let b = &self.buf;
        if b.len() < 2 {
            return None;
        }
        let (fin, opcode) = (b[0] & 0x80 != 0, b[0] & 0x0f);
        let (len, start) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize, 10),
            126 | 127 => return None,
            n => (n as usize, 2),
        };
        if b.len() < start + len {
            return None;
        }
        let payload = b[start..start + len].to_vec();
        self.buf.drain(..start + len);
        Some((fin, opcode, payload))
    }

    /// The underlying stream, to write raw bytes (half a frame) or to shut
    /// it down.
    pub fn stream(&mut self) -> &mut UnixStream {
        &mut self.stream
    }
}
