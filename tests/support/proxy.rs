//! A fault-injecting proxy between monod and the Docker Engine, so a test can
//! make "the engine died mid-operation" happen for real without touching
//! the shared dockerd: monod is pointed at the proxy's socket
//! (`DOCKER_HOST=unix://...`), the proxy forwards every request to
//! [`ENGINE_SOCKET`], and when a request matching the armed trigger arrives
//! it goes down: that request is never forwarded, every open connection is
//! cut and new ones are closed at once, until [`FaultProxy::heal`].
//!
//! Requests are read just far enough to see each one's method and path
//! (HTTP/1.1 with keep-alive: bodies by `Content-Length` or chunked);
//! responses are copied through untouched.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::docker::ENGINE_SOCKET;

/// The request that takes the proxy down: `method` and a part of the path.
#[derive(Clone)]
struct Trigger {
    method: String,
    path_part: String,
}

#[derive(Default)]
struct State {
    trigger: Mutex<Option<Trigger>>,
    down: AtomicBool,
    stop: AtomicBool,
    /// Both ends of every open connection (by connection number), so going
    /// down can cut them.
    open: Mutex<Vec<(u64, UnixStream)>>,
    connections: AtomicU64,
    /// `METHOD path` of every request forwarded, in order.
    seen: Mutex<Vec<String>>,
}

impl State {
    fn cut_all(&self) {
        for (_, stream) in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// A running proxy; stopped when dropped.
pub struct FaultProxy {
    socket: PathBuf,
    state: Arc<State>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Listens on `dir/docker.sock`, forwarding to the Engine.
    pub fn start(dir: &Path) -> FaultProxy {
        let socket = dir.join("docker.sock");
        let listener = UnixListener::bind(&socket).expect("bind the proxy socket");
        let state = Arc::new(State::default());
        let shared = Arc::clone(&state);
        let acceptor = std::thread::spawn(move || {
            for client in listener.incoming() {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                if shared.down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || serve(client, &shared));
            }
        });
        FaultProxy { socket, state, acceptor: Some(acceptor) }
    }

    /// The `DOCKER_HOST` value that reaches the Engine through the proxy.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Goes down when a request with `method` and a path containing
    /// `path_part` arrives (that request is not forwarded).
    pub fn fail_on(&self, method: &str, path_part: &str) {
        *self.state.trigger.lock().unwrap() =
            Some(Trigger { method: method.to_string(), path_part: path_part.to_string() });
    }

    /// Goes down now: open connections are cut, new ones closed.
    pub fn go_down(&self) {
        self.state.down.store(true, Ordering::SeqCst);
        self.state.cut_all();
    }

    /// Forwards again, with no trigger armed.
    pub fn heal(&self) {
        *self.state.trigger.lock().unwrap() = None;
        self.state.down.store(false, Ordering::SeqCst);
    }

    /// Whether the proxy is down (the trigger fired, or [`Self::go_down`]).
    pub fn is_down(&self) -> bool {
        self.state.down.load(Ordering::SeqCst)
    }

    /// `METHOD path` of the requests forwarded so far.
    pub fn seen(&self) -> Vec<String> {
        self.state.seen.lock().unwrap().clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor, which then sees `stop`.
        let _ = UnixStream::connect(&self.socket);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        self.state.cut_all();
    }
}

/// Forwards one client connection until either side closes it.
fn serve(client: UnixStream, state: &State) {
    let Ok(upstream) = UnixStream::connect(ENGINE_SOCKET) else { return };
    let number = state.connections.fetch_add(1, Ordering::SeqCst);
    {
        let mut open = state.open.lock().unwrap();
        for stream in [&client, &upstream] {
            if let Ok(clone) = stream.try_clone() {
                open.push((number, clone));
            }
        }
    }
    let (Ok(mut responses_in), Ok(mut responses_out)) = (upstream.try_clone(), client.try_clone()) else {
        return;
    };
    let responses = std::thread::spawn(move || {
        let _ = std::io::copy(&mut responses_in, &mut responses_out);
        let _ = responses_out.shutdown(Shutdown::Write);
    });
    let _ = forward_requests(BufReader::new(client), upstream, state);
    let _ = responses.join();
    state.open.lock().unwrap().retain(|(n, _)| *n != number);
}

/// Copies requests one by one, checking each against the trigger.
fn forward_requests(
    mut from: BufReader<UnixStream>,
    mut to: UnixStream,
    state: &State,
) -> std::io::Result<()> {
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = Vec::new();
            if from.read_until(b'\n', &mut line)? == 0 {
                let _ = to.shutdown(Shutdown::Write);
                return Ok(());
            }
            let end = line == b"\r\n";
            head.extend_from_slice(&line);
            if end {
                break;
            }
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        let mut words = text.split_whitespace();
        let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        let fire = state
            .trigger
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|t| t.method == method && path.contains(&t.path_part));
        if fire || state.down.load(Ordering::SeqCst) {
            state.down.store(true, Ordering::SeqCst);
            state.cut_all();
            return Ok(());
        }
        state.seen.lock().unwrap().push(format!("{method} {path}"));
        to.write_all(&head)?;
        let header = |name: &str| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_ascii_lowercase())
            })
        };
        if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            copy_chunked(&mut from, &mut to)?;
        } else if let Some(length) = header("content-length").and_then(|v| v.parse::<u64>().ok()) {
            std::io::copy(&mut (&mut from).take(length), &mut to)?;
        }
        if header("upgrade").is_some() {
            // A hijacked connection (attach, exec): raw from now on.
            std::io::copy(&mut from, &mut to)?;
            return Ok(());
        }
    }
}

/// Copies one chunked body, through its last chunk and trailers.
fn copy_chunked(from: &mut BufReader<UnixStream>, to: &mut UnixStream) -> std::io::Result<()> {
    loop {
        let mut size_line = Vec::new();
        from.read_until(b'\n', &mut size_line)?;
        to.write_all(&size_line)?;
        let text = String::from_utf8_lossy(&size_line);
        let size = u64::from_str_radix(text.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut line = Vec::new();
                if from.read_until(b'\n', &mut line)? == 0 || line == b"\r\n" {
                    to.write_all(&line)?;
                    return Ok(());
                }
                to.write_all(&line)?;
            }
        }
        std::io::copy(&mut (&mut *from).take(size + 2), to)?;
    }
}
