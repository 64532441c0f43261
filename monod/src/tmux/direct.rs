//! tmux commands sent straight to the server's socket, in tmux's own
//! client protocol, instead of through a `tmux` process.
//!
//! Starting a `tmux` client costs more than most commands it carries
//! (about 3 ms of the 5 ms of a `kill-session` here), and `mono init` and
//! `mono destroy` each need one. What that client does is small: connect to
//! the server's socket, describe itself (identify messages), send the argv
//! (`MSG_COMMAND`) and relay what comes back until `MSG_EXIT`. Doing the
//! same in-process behaves the same for the server, which parses the argv
//! exactly as it would a process's.
//!
//! Why not a control-mode client (`tmux -C`), which would need no new
//! connection per command: tmux before 3.7 crashes when a control client
//! attaches while other clients make sessions (it notified the half-set-up
//! client; fixed upstream in 3.7), which would take every session of the
//! user's server with it. A command client never was a control client.
//!
//! The frames are OpenBSD imsg frames (16-byte header, host byte order) of
//! protocol version 8, unchanged from tmux 2.x to 3.7. Every message is
//! sized exactly as the server checks it: the server aborts on a malformed
//! one. Whatever this module cannot handle (no server, another protocol
//! version, an unsafe socket directory, a client option such as `-V`, a
//! command longer than one frame) is reported as [`Reply::NotRun`], with
//! the reason, before anything ran; the caller decides what to do instead.
//!
//! This is also the only way a command carrying variable values reaches
//! tmux: an argv sent here is on no process's command line, where any local
//! user could read it. The client sends the server no environment of its
//! own: a client's variables would reach the session through
//! `update-environment` and a new pane's `PATH`, and a session must have
//! exactly its caller's.
//!
//! Whether a command ran is known exactly when the connection breaks before
//! the reply: the request ends with the command, and on Linux a peer that
//! closes without having read everything it was sent (or a listener that
//! closes with the connection never accepted, as a server on its way out
//! does) resets the connection. A reset before monod sent anything beyond
//! the request therefore means the command was never read: [`Reply::NotRun`].
//! A plain end of stream after the server read it all leaves the command's
//! fate unknown: [`Reply::Lost`], never to be sent again.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// tmux's client/server protocol version.
const PROTOCOL_VERSION: u32 = 8;
/// The largest frame, header included.
const MAX_FRAME: usize = 16384;
const HEADER: usize = 16;
/// What a command's frame carries at most: the argument count, then each
/// argument and its terminating NUL (see [`command_size`]).
pub const COMMAND_ROOM: usize = MAX_FRAME - HEADER;
/// Output kept per stream; more is cut (with a note).
const MAX_OUTPUT: usize = 4 << 20;
/// `CLIENT_UTF8`: output is sent as is, not sanitised to ASCII.
const CLIENT_UTF8: u64 = 0x10000;
const EBADF: i32 = 9;

/// Message types (tmux-protocol.h).
mod msg {
    pub const VERSION: u32 = 12;
    pub const IDENTIFY_FLAGS: u32 = 100;
    pub const IDENTIFY_TERM: u32 = 101;
    pub const IDENTIFY_TTYNAME: u32 = 102;
    pub const IDENTIFY_DONE: u32 = 106;
    pub const IDENTIFY_CLIENTPID: u32 = 107;
    pub const IDENTIFY_CWD: u32 = 108;
    pub const IDENTIFY_FEATURES: u32 = 109;
    pub const IDENTIFY_LONGFLAGS: u32 = 111;
    pub const COMMAND: u32 = 200;
    pub const DETACH: u32 = 201;
    pub const DETACHKILL: u32 = 202;
    pub const EXIT: u32 = 203;
    pub const EXITED: u32 = 204;
    pub const EXITING: u32 = 205;
    pub const READY: u32 = 207;
    pub const SHELL: u32 = 209;
    pub const SHUTDOWN: u32 = 210;
    pub const READ_OPEN: u32 = 300;
    pub const READ_DONE: u32 = 302;
    pub const WRITE_OPEN: u32 = 303;
    pub const WRITE: u32 = 304;
    pub const WRITE_READY: u32 = 305;
}

/// How a command sent to the socket ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// The server ran it and said how it went, as a `tmux` process would.
    Exited {
        /// The exit status tmux would have exited with.
        status: i32,
        /// What it printed to standard output.
        stdout: String,
        /// What it printed to standard error (or its exit message).
        stderr: String,
    },
    /// Nothing was run, for this reason.
    NotRun(NotRun),
    /// The server went away after it had read the command; whether it ran
    /// is unknown, so it must not be sent again.
    Lost(String),
}

/// Why a command was not run (nothing of it reached the server's queue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotRun {
    /// No server listens on the socket: none was started, or it has exited
    /// or is exiting.
    NoServer,
    /// The server speaks another protocol version.
    OtherProtocol,
    /// The socket directory is not safely the user's (owner or mode).
    UnsafeDirectory(PathBuf),
    /// The command is longer than one frame carries.
    TooLong {
        /// Its size in the frame.
        bytes: usize,
    },
    /// A client option (`-V`) that only a `tmux` process handles.
    ClientOption,
    /// The socket could not be connected to for another reason.
    Connect(String),
}

impl std::fmt::Display for NotRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotRun::NoServer => f.write_str("no tmux server is running"),
            NotRun::OtherProtocol => f.write_str("the tmux server speaks another client protocol version"),
            NotRun::UnsafeDirectory(dir) => {
                write!(
                    f,
                    "the tmux socket directory {} is not safely this user's (owner or mode)",
                    dir.display()
                )
            }
            NotRun::TooLong { bytes } => {
                write!(
                    f,
                    "the command takes {bytes} bytes, more than the {COMMAND_ROOM} one tmux command carries"
                )
            }
            NotRun::ClientOption => f.write_str("a client option only the tmux program handles"),
            NotRun::Connect(detail) => write!(f, "cannot connect to the tmux server: {detail}"),
        }
    }
}

/// Set once a server answered with another protocol version: from then
/// on every command goes to a `tmux` process.
static OTHER_PROTOCOL: AtomicBool = AtomicBool::new(false);

/// Runs `argv` (a tmux command line without the program name) in the
/// server of the daemon's user, as a client whose directory is `cwd`.
pub async fn run(argv: &[OsString], cwd: &Path) -> Reply {
    if OTHER_PROTOCOL.load(Ordering::Relaxed) {
        return Reply::NotRun(NotRun::OtherProtocol);
    }
    if argv.first().is_none_or(|a| a.as_bytes().starts_with(b"-")) {
        return Reply::NotRun(NotRun::ClientOption);
    }
    let socket = match socket_path() {
        Ok(socket) => socket,
        Err(why) => return Reply::NotRun(why),
    };
    let Some(request) = request(argv, cwd) else {
        return Reply::NotRun(NotRun::TooLong { bytes: command_size(argv) });
    };
    let mut stream = match UnixStream::connect(&socket).await {
        Ok(stream) => stream,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
            return Reply::NotRun(NotRun::NoServer);
        }
        Err(e) => return Reply::NotRun(NotRun::Connect(format!("{}: {e}", socket.display()))),
    };
    exchange(&mut stream, &request).await
}

/// Sends the request on a connected stream and reads how it ended.
async fn exchange(stream: &mut UnixStream, request: &[u8]) -> Reply {
    // A write that fails did not deliver the end of the request, which is
    // the command: the server cannot have run it.
    if stream.write_all(request).await.is_err() {
        return Reply::NotRun(NotRun::NoServer);
    }
    converse(stream).await
}

/// How a broken connection is reported: before monod answered anything, a
/// reset means the server never read the whole request (see the module
/// docs). Other systems may reset in other cases, so there the command
/// counts as lost.
fn broken(e: &std::io::Error, answered: bool) -> Reply {
    if cfg!(target_os = "linux") && !answered && e.kind() == ErrorKind::ConnectionReset {
        return Reply::NotRun(NotRun::NoServer);
    }
    Reply::Lost("server exited unexpectedly".into())
}

/// Reads the server's messages until it says how the command ended,
/// answering what a client must answer.
async fn converse(stream: &mut UnixStream) -> Reply {
    let mut out = Output::default();
    let mut header = [0u8; HEADER];
    let mut body = Vec::new();
    let mut answered = false;
    loop {
        if let Err(e) = stream.read_exact(&mut header).await {
            return broken(&e, answered);
        }
        let kind = u32::from_ne_bytes(header[0..4].try_into().unwrap_or_default());
        let len = usize::from(u16::from_ne_bytes(header[4..6].try_into().unwrap_or_default()));
        if !(HEADER..=MAX_FRAME).contains(&len) {
            return Reply::Lost(format!("tmux sent a frame of {len} bytes"));
        }
        body.resize(len - HEADER, 0);
        if let Err(e) = stream.read_exact(&mut body).await {
            return broken(&e, answered);
        }
        let answer = match kind {
            msg::VERSION => {
                OTHER_PROTOCOL.store(true, Ordering::Relaxed);
                tracing::debug!("the tmux server speaks another protocol version");
                return Reply::NotRun(NotRun::OtherProtocol);
            }
            msg::EXIT => return out.exited(&body),
            msg::SHUTDOWN => return Reply::Lost("the tmux server shut down".into()),
            msg::READY | msg::SHELL | msg::EXITED => {
                return Reply::Lost("tmux tried to attach the client, which monod never asks for".into());
            }
            msg::DETACH | msg::DETACHKILL => Some(frame(msg::EXITING, &[])),
            msg::WRITE_OPEN => Some(out.open(&body)),
            msg::WRITE => {
                out.write(&body);
                None
            }
            // Commands that read a client's file are never sent.
            msg::READ_OPEN => Some(frame(msg::READ_DONE, &pair(int_at(&body, 0), EBADF))),
            _ => None,
        };
        if let Some(answer) = answer {
            answered = true;
            if stream.write_all(&answer).await.is_err() {
                return Reply::Lost("server exited unexpectedly".into());
            }
        }
    }
}

/// The streams the server opened for writing, and what came through them.
#[derive(Default)]
struct Output {
    /// (stream number, is standard error).
    streams: Vec<(i32, bool)>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Output {
    /// `MSG_WRITE_OPEN {stream, fd, flags} [path]`: standard output and
    /// error are accepted, files refused.
    fn open(&mut self, body: &[u8]) -> Vec<u8> {
        let (stream, fd) = (int_at(body, 0), int_at(body, 4));
        let path = body.get(12..).unwrap_or_default();
        let standard = path.is_empty() || path == b"-\0";
        let error = if standard && (fd == 1 || fd == 2) {
            self.streams.push((stream, fd == 2));
            0
        } else {
            EBADF
        };
        frame(msg::WRITE_READY, &pair(stream, error))
    }

    /// `MSG_WRITE {stream} data`.
    fn write(&mut self, body: &[u8]) {
        let stream = int_at(body, 0);
        let Some(&(_, is_err)) = self.streams.iter().find(|(s, _)| *s == stream) else { return };
        let buffer = if is_err { &mut self.stderr } else { &mut self.stdout };
        let data = body.get(4..).unwrap_or_default();
        let room = MAX_OUTPUT.saturating_sub(buffer.len());
        buffer.extend_from_slice(&data[..data.len().min(room)]);
    }

    /// `MSG_EXIT [status [message]]`.
    fn exited(self, body: &[u8]) -> Reply {
        let status = if body.len() >= 4 { int_at(body, 0) } else { 0 };
        let mut stderr = String::from_utf8_lossy(&self.stderr).into_owned();
        if let Some(message) = body.get(4..).filter(|m| !m.is_empty()) {
            let message = String::from_utf8_lossy(message.strip_suffix(b"\0").unwrap_or(message));
            if stderr.trim().is_empty() {
                stderr = message.into_owned();
            }
        }
        Reply::Exited { status, stdout: String::from_utf8_lossy(&self.stdout).into_owned(), stderr }
    }
}

/// The socket of the default server: `tmux-<uid>/default` under the first
/// of `$TMUX_TMPDIR` and `/tmp` that exists, as tmux finds it. No
/// directory yet means no server; one not safely the user's is refused, as
/// tmux itself refuses it.
fn socket_path() -> Result<PathBuf, NotRun> {
    let tmp = test_tmpdir()
        .or_else(|| std::env::var_os("TMUX_TMPDIR"))
        .filter(|d| !d.is_empty())
        .and_then(|d| std::fs::canonicalize(d).ok())
        .or_else(|| std::fs::canonicalize("/tmp").ok())
        .ok_or(NotRun::NoServer)?;
    let uid = rustix::process::getuid().as_raw();
    let dir = tmp.join(format!("tmux-{uid}"));
    let meta = match std::fs::symlink_metadata(&dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(NotRun::NoServer),
        Err(e) => return Err(NotRun::Connect(format!("{}: {e}", dir.display()))),
    };
    if meta.is_dir() && meta.uid() == uid && meta.mode() & 0o007 == 0 {
        Ok(dir.join("default"))
    } else {
        Err(NotRun::UnsafeDirectory(dir))
    }
}

/// Unit tests of the crate point every tmux command at a directory of
/// their own, where no server runs, so they never reach the user's (the
/// process environment cannot be changed safely once threads run).
#[cfg(test)]
static TEST_TMPDIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();

/// Makes this test process's tmux commands find no server (see
/// [`TEST_TMPDIR`]); the e2e tests isolate the real daemon with
/// `TMUX_TMPDIR` instead.
#[cfg(test)]
pub(crate) fn isolate_for_tests() {
    TEST_TMPDIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory for tmux"));
}

/// The directory [`isolate_for_tests`] set, in a unit test process.
pub(super) fn test_tmpdir() -> Option<std::ffi::OsString> {
    #[cfg(test)]
    if let Some(dir) = TEST_TMPDIR.get() {
        return Some(dir.path().as_os_str().to_owned());
    }
    None
}

/// The size of `argv` in a command frame: the argument count, then each
/// argument with its NUL.
pub fn command_size(argv: &[OsString]) -> usize {
    4 + argv.iter().map(|a| a.len() + 1).sum::<usize>()
}

/// All the frames of one request: identify, directory, done, command.
/// `None` when the command is longer than one frame holds (a `tmux`
/// process then says so).
fn request(argv: &[OsString], cwd: &Path) -> Option<Vec<u8>> {
    let mut command = (i32::try_from(argv.len()).ok()?).to_ne_bytes().to_vec();
    for arg in argv {
        command.extend_from_slice(arg.as_bytes());
        command.push(0);
    }
    if command.len() > COMMAND_ROOM {
        return None;
    }
    let mut cwd = cwd.as_os_str().as_bytes().to_vec();
    cwd.push(0);
    let mut out = identity().to_vec();
    out.extend(frame(msg::IDENTIFY_CWD, &cwd));
    out.extend(frame(msg::IDENTIFY_DONE, &[]));
    out.extend(frame(msg::COMMAND, &command));
    Some(out)
}

/// The identify frames, the same for every command: flags, terminal
/// (none), process id, and no environment (see the module docs).
fn identity() -> &'static [u8] {
    static IDENTITY: OnceLock<Vec<u8>> = OnceLock::new();
    IDENTITY.get_or_init(|| {
        let mut out = Vec::new();
        out.extend(frame(msg::IDENTIFY_FLAGS, &(CLIENT_UTF8 as i32).to_ne_bytes()));
        out.extend(frame(msg::IDENTIFY_LONGFLAGS, &CLIENT_UTF8.to_ne_bytes()));
        let mut term = std::env::var_os("TERM").unwrap_or_default().as_bytes().to_vec();
        term.retain(|b| *b != 0);
        term.truncate(256);
        term.push(0);
        out.extend(frame(msg::IDENTIFY_TERM, &term));
        out.extend(frame(msg::IDENTIFY_FEATURES, &0i32.to_ne_bytes()));
        out.extend(frame(msg::IDENTIFY_TTYNAME, b"\0"));
        out.extend(frame(msg::IDENTIFY_CLIENTPID, &(std::process::id() as i32).to_ne_bytes()));
        out
    })
}

/// One imsg frame: type, length, flags, peer id (the protocol version),
/// pid, then the data.
fn frame(kind: u32, data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(HEADER + data.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(HEADER + data.len());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&0u16.to_ne_bytes());
    out.extend_from_slice(&PROTOCOL_VERSION.to_ne_bytes());
    out.extend_from_slice(&std::process::id().to_ne_bytes());
    out.extend_from_slice(data);
    out
}

fn pair(a: i32, b: i32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&a.to_ne_bytes());
    out[4..].copy_from_slice(&b.to_ne_bytes());
    out
}

fn int_at(body: &[u8], at: usize) -> i32 {
    body.get(at..at + 4).and_then(|b| b.try_into().ok()).map_or(0, i32::from_ne_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_the_protocol_version_and_their_length() {
        let f = frame(msg::COMMAND, b"abc");
        assert_eq!(f.len(), HEADER + 3);
        assert_eq!(u32::from_ne_bytes(f[0..4].try_into().unwrap()), 200);
        assert_eq!(u16::from_ne_bytes(f[4..6].try_into().unwrap()), 19);
        assert_eq!(u32::from_ne_bytes(f[8..12].try_into().unwrap()), PROTOCOL_VERSION);
        assert_eq!(&f[HEADER..], b"abc");
    }

    #[test]
    fn a_command_too_long_for_one_frame_is_not_sent() {
        let long = vec![OsString::from("x".repeat(MAX_FRAME))];
        assert!(request(&long, Path::new("/")).is_none());
        let fine = vec![OsString::from("kill-session"), OsString::from("-t"), OsString::from("=a")];
        let bytes = request(&fine, Path::new("/w")).unwrap();
        let command = [&3i32.to_ne_bytes()[..], b"kill-session\0-t\0=a\0"].concat();
        assert!(bytes.ends_with(&command));
        assert!(bytes.windows(4).any(|w| w == b"/w\0\0") || bytes.windows(3).any(|w| w == b"/w\0"));
    }

    /// A request as `run` sends it, and where a listener may take it.
    fn socket_pair() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("default");
        let argv = [OsString::from("new-session"), OsString::from("-d")];
        (dir, path, request(&argv, Path::new("/")).unwrap())
    }

    /// A listener on `path`, replacing the socket file an earlier one left.
    fn listen(path: &Path) -> tokio::net::UnixListener {
        let _ = std::fs::remove_file(path);
        tokio::net::UnixListener::bind(path).unwrap()
    }

    #[tokio::test]
    async fn a_server_exiting_before_it_read_the_command_did_not_run_it() {
        // Never accepted: a server on its way out no longer accepts, and its
        // exit drops the connections still waiting.
        let (_dir, path, request) = socket_pair();
        let listener = listen(&path);
        let mut stream = UnixStream::connect(&path).await.unwrap();
        stream.write_all(&request).await.unwrap();
        drop(listener);
        let expected = if cfg!(target_os = "linux") { Reply::NotRun(NotRun::NoServer) } else { lost() };
        assert_eq!(converse(&mut stream).await, expected);

        // Gone before the request was written.
        let listener = listen(&path);
        let mut stream = UnixStream::connect(&path).await.unwrap();
        drop(listener);
        assert_eq!(exchange(&mut stream, &request).await, Reply::NotRun(NotRun::NoServer));

        // Accepted, but closed with part of the request unread.
        let listener = listen(&path);
        let mut stream = UnixStream::connect(&path).await.unwrap();
        stream.write_all(&request).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let mut head = [0u8; HEADER];
        server.read_exact(&mut head).await.unwrap();
        drop(server);
        assert_eq!(converse(&mut stream).await, expected);
    }

    #[tokio::test]
    async fn a_server_gone_after_reading_the_command_leaves_its_fate_unknown() {
        let (_dir, path, request) = socket_pair();
        let listener = listen(&path);
        let mut stream = UnixStream::connect(&path).await.unwrap();
        stream.write_all(&request).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let mut all = vec![0u8; request.len()];
        server.read_exact(&mut all).await.unwrap();
        drop(server);
        assert_eq!(converse(&mut stream).await, lost());
    }

    fn lost() -> Reply {
        Reply::Lost("server exited unexpectedly".into())
    }

    #[test]
    fn only_standard_streams_are_opened() {
        let mut out = Output::default();
        let open = |stream: i32, fd: i32, path: &[u8]| {
            let mut body = pair(stream, fd).to_vec();
            body.extend_from_slice(&0i32.to_ne_bytes());
            body.extend_from_slice(path);
            body
        };
        let ready = out.open(&open(1, 1, b""));
        assert_eq!(&ready[HEADER..], &pair(1, 0));
        let refused = out.open(&open(3, -1, b"/etc/passwd\0"));
        assert_eq!(&refused[HEADER..], &pair(3, EBADF));
        out.write(&[pair(1, 0)[..4].to_vec(), b"hello\n".to_vec()].concat());
        out.write(&[pair(3, 0)[..4].to_vec(), b"lost".to_vec()].concat());
        let reply = out.exited(&1i32.to_ne_bytes());
        assert_eq!(reply, Reply::Exited { status: 1, stdout: "hello\n".into(), stderr: String::new() });
    }
}
