//! Named URLs through monod's router, with the real daemon: a simple-mode
//! environment's name leads to its `MONO_PORT`, a docker-mode one's
//! services each to their published port; keep-alive, streaming and
//! WebSocket-style upgrades pass through; names that lead nowhere get the
//! listing page; a taken port is reported and not fatal.
//!
//! The upstream of the simple-mode tests is the test's own server on the
//! environment's port, written from RFC 9112 alone, so the test sees
//! exactly what the router sent and when.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use mono_e2e::Sandbox;

const WAIT: Duration = Duration::from_secs(20);

/// A port nothing listens on now (the kernel's pick).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A sandbox whose daemon routes on a port of its own.
fn routed(extra: &str) -> (Sandbox, u16) {
    let sb = Sandbox::new();
    let port = free_port();
    sb.monod_yml(&format!("router:\n  listen: 127.0.0.1:{port}\n{extra}"));
    (sb, port)
}

/// One HTTP/1.1 response as read off a connection.
#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: String,
}

/// Reads one response with a `Content-Length` (or none, for 101).
fn read_reply(r: &mut BufReader<TcpStream>) -> Reply {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(r.read_line(&mut line).unwrap() > 0, "connection closed in a head: {head:?}");
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0usize);
    let mut body = vec![0; length];
    r.read_exact(&mut body).unwrap();
    Reply { status, head, body: String::from_utf8_lossy(&body).into_owned() }
}

fn connect(port: u16) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let r = BufReader::new(s.try_clone().unwrap());
    (s, r)
}

fn get(port: u16, host: &str, path: &str) -> Reply {
    let (mut s, mut r) = connect(port);
    write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    read_reply(&mut r)
}

/// The test's upstream: answers `/echo` with the request head it got,
/// `/stream` with one chunk, then a second once `release` is sent, and an
/// `Upgrade` with 101 and then echoes bytes. Counts connections.
struct Upstream {
    connections: Arc<AtomicUsize>,
    release: mpsc::Sender<()>,
}

fn upstream(port: u16) -> Upstream {
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let (release, released) = mpsc::channel::<()>();
    let released = Arc::new(std::sync::Mutex::new(released));
    let counted = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            counted.fetch_add(1, Ordering::SeqCst);
            let released = released.clone();
            std::thread::spawn(move || serve_upstream(stream, &released));
        }
    });
    Upstream { connections, release }
}

fn serve_upstream(mut stream: TcpStream, released: &std::sync::Mutex<mpsc::Receiver<()>>) {
    let mut r = BufReader::new(stream.try_clone().unwrap());
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        if head.to_ascii_lowercase().contains("upgrade: echo") {
            stream
                .write_all(
                    b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n",
                )
                .unwrap();
            let mut buf = [0u8; 1024];
            loop {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => stream.write_all(&buf[..n]).unwrap(),
                }
            }
        }
        if path == "/stream" {
            stream.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n").unwrap();
            let _ = released.lock().unwrap().recv_timeout(WAIT);
            stream.write_all(b"6\r\nsecond\r\n0\r\n\r\n").unwrap();
            continue;
        }
        let body = head.clone();
        write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Upstream: yes\r\n\r\n{body}", body.len())
            .unwrap();
    }
}

/// `GET path` on `host` until `done` holds of the reply (the router's table
/// follows environment events, a moment after the command returns).
fn get_until(port: u16, host: &str, path: &str, done: impl Fn(&Reply) -> bool) -> Reply {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let reply = get(port, host, path);
        if done(&reply) || std::time::Instant::now() > deadline {
            return reply;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn status(sb: &Sandbox, ws: &std::path::Path) -> serde_json::Value {
    sb.mono(["status", ws.to_str().unwrap(), "--json"]).ok().json()
}

#[test]
fn a_simple_environment_is_reached_by_name_with_keep_alive_streaming_and_upgrades() {
    // The test listens on the environment's block: a slot no other test's
    // environment gets.
    let (sb, router) = routed("ports:\n  first_slot: 250\n");
    let ws =
        sb.init_workspace("shop/a", "scripts:\n  setup: echo \"port=$MONO_PORT url=$MONO_URL\" > urls.txt\n");
    let info = status(&sb, &ws);
    let name = info["name"].as_str().unwrap().to_string();
    let base = info["port_base"].as_u64().unwrap() as u16;
    let url = format!("http://{name}.localhost:{router}/");
    assert_eq!(info["urls"], serde_json::json!([{"url": url, "port": base}]), "{info}");
    assert_eq!(std::fs::read_to_string(ws.join("urls.txt")).unwrap(), format!("port={base} url={url}\n"));
    let up = upstream(base);
    let host = format!("{name}.localhost:{router}");
    let routed = get_until(router, &host, "/echo", |r| r.status == 200);
    assert_eq!(routed.status, 200, "{routed:?}");
    let before = up.connections.load(Ordering::SeqCst);

    // Two requests on one connection: both answered, one upstream
    // connection kept alive for both; Host kept, X-Forwarded-* added.
    let (mut s, mut r) = connect(router);
    for i in 0..2 {
        write!(s, "GET /echo?{i} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n").unwrap();
        let reply = read_reply(&mut r);
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(reply.body.starts_with(&format!("GET /echo?{i} HTTP/1.1")), "{reply:?}");
        let sent = reply.body.to_ascii_lowercase();
        assert!(sent.contains(&format!("host: {host}")), "{sent}");
        assert!(sent.contains("x-forwarded-for: 127.0.0.1"), "{sent}");
        assert!(sent.contains(&format!("x-forwarded-host: {host}")), "{sent}");
        assert!(sent.contains("x-forwarded-proto: http"), "{sent}");
        assert!(!sent.contains("keep-alive"), "hop-by-hop headers are not forwarded: {sent}");
    }
    assert_eq!(up.connections.load(Ordering::SeqCst), before + 1, "one upstream connection for both");

    // A streamed response arrives chunk by chunk, not when it ends.
    let (mut s, mut r) = connect(router);
    write!(s, "GET /stream HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        head.push_str(&line);
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut first = String::new();
    r.read_line(&mut first).unwrap();
    let mut chunk = String::new();
    r.read_line(&mut chunk).unwrap();
    assert_eq!(
        (first.trim(), chunk.trim()),
        ("5", "first"),
        "the first chunk came before the second was sent"
    );
    up.release.send(()).unwrap();
    let mut rest = String::new();
    r.read_line(&mut rest).unwrap();
    r.read_line(&mut rest).unwrap();
    assert!(rest.contains("second"), "{rest}");
    drop(s);

    // An upgrade: 101 passed back, then bytes both ways.
    let (mut s, mut r) = connect(router);
    write!(s, "GET /ws HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n").unwrap();
    let switched = read_reply(&mut r);
    assert_eq!(switched.status, 101, "{switched:?}");
    assert!(switched.head.to_ascii_lowercase().contains("upgrade: echo"), "{switched:?}");
    s.write_all(b"ping over the upgraded connection\n").unwrap();
    let mut echoed = String::new();
    r.read_line(&mut echoed).unwrap();
    assert_eq!(echoed, "ping over the upgraded connection\n");
    drop(s);

    // Names that lead nowhere: the listing, with this environment's URL.
    let listing = get(router, &format!("localhost:{router}"), "/");
    assert_eq!(listing.status, 404);
    assert!(listing.body.contains(&url), "{}", listing.body);
    let nosuch = get(router, &format!("nosuch.localhost:{router}"), "/");
    assert!(nosuch.status == 404 && nosuch.body.contains("There is no environment"), "{nosuch:?}");
    let service = get(router, &format!("web.{host}"), "/");
    assert!(service.status == 404 && service.body.contains("has no service"), "{service:?}");

    let urls = sb.mono(["urls", "--json"]).ok().json();
    assert_eq!(urls, serde_json::json!([{"env": name, "service": null, "url": url, "port": base}]));
    let daemon = sb.mono(["daemon", "status", "--json"]).ok().json();
    assert_eq!(daemon["router"]["available"], true, "{daemon}");

    // Destroyed: the name leads nowhere (the table follows events).
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    let gone = get_until(router, &host, "/echo", |r| r.status == 404);
    assert!(gone.status == 404 && gone.body.contains("There is no environment"), "{gone:?}");
}

#[test]
fn a_service_that_does_not_answer_is_a_bad_gateway_page() {
    let (sb, router) = routed("");
    let ws = sb.init_workspace("shop/quiet", "");
    let name = status(&sb, &ws)["name"].as_str().unwrap().to_string();
    let reply = get_until(router, &format!("{name}.localhost:{router}"), "/", |r| r.status != 404);
    assert_eq!(reply.status, 502, "{reply:?}");
    assert!(reply.body.contains("does not answer") && reply.body.contains("mono status"), "{reply:?}");
}

#[test]
fn a_taken_router_port_is_reported_and_not_fatal() {
    let (sb, router) = routed("");
    let _taken = TcpListener::bind(("127.0.0.1", router)).unwrap();
    let ws = sb.init_workspace("shop/taken", "");
    assert_eq!(status(&sb, &ws)["status"], "running");
    let daemon = sb.mono(["daemon", "status", "--json"]).ok().json();
    assert_eq!(daemon["router"]["available"], false, "{daemon}");
    let detail = daemon["router"]["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("cannot listen on 127.0.0.1:{router}")), "{detail}");
}

#[test]
fn with_the_router_off_there_are_no_urls() {
    let sb = Sandbox::new();
    sb.monod_yml("router:\n  enabled: false\n");
    let ws = sb.init_workspace(
        "shop/off",
        "scripts:\n  setup: echo \"url=${MONO_URL:-none} port=$MONO_PORT\" > u\n",
    );
    let info = status(&sb, &ws);
    assert!(info.get("urls").is_none(), "{info}");
    let base = info["port_base"].as_u64().unwrap();
    assert_eq!(std::fs::read_to_string(ws.join("u")).unwrap(), format!("url=none port={base}\n"));
    let out = sb.mono(["urls", ws.to_str().unwrap()]).ok();
    assert!(out.stdout.contains("the router is off"), "{}", out.stdout);
    sb.mono(["open", ws.to_str().unwrap()]).fails_with("has no URLs");
}

fn web_compose() -> String {
    let image = mono_e2e::docker::TEST_IMAGE;
    let svc = |name: &str| {
        format!(
            "  {name}:\n    image: {image}\n    init: true\n    command: [\"sh\", \"-c\", \"mkdir -p /www && echo {name} of $$WHO > /www/index.html && exec httpd -f -p 8080 -h /www\"]\n    environment:\n      WHO: ${{MONO_ENV_NAME}}\n    ports: [\"8080\"]\n"
        )
    };
    format!(
        "services:\n{}{}  quiet:\n    image: {image}\n    command: [\"sleep\", \"3600\"]\n",
        svc("web"),
        svc("api")
    )
}

#[test]
fn docker_services_are_reached_by_name_and_router_default_leads_the_environments_own() {
    let Some(_engine) = mono_e2e::docker::require_docker() else { return };
    let slot = std::env::var("MONO_TEST_FIRST_SLOT").unwrap_or_else(|_| "101".to_string());
    let (sb, router) = routed(&format!("ports:\n  first_slot: {slot}\n"));
    let ws = sb.docker_workspace("site");
    sb.compose(&ws, &web_compose());
    sb.mono_yml(
        &ws,
        "router:\n  default: web\nscripts:\n  setup: echo \"$MONO_URL $MONO_API_URL\" > urls.txt\n",
    );
    sb.mono(["init", ws.to_str().unwrap()]).ok();
    let info = status(&sb, &ws);
    let name = info["name"].as_str().unwrap().to_string();
    let urls: Vec<&str> =
        info["urls"].as_array().unwrap().iter().map(|u| u["url"].as_str().unwrap()).collect();
    let at = |s: &str| format!("http://{s}{name}.localhost:{router}/");
    assert_eq!(urls, vec![at(""), at("web."), at("api.")], "{info}");
    assert_eq!(std::fs::read_to_string(ws.join("urls.txt")).unwrap(), format!("{} {}\n", at(""), at("api.")));
    let host = |s: &str| format!("{s}{name}.localhost:{router}");
    let answered = get_until(router, &host("web."), "/", |r| r.status == 200);
    assert_eq!(answered.body, format!("web of {name}\n"), "{answered:?}");
    assert_eq!(get(router, &host(""), "/").body, format!("web of {name}\n"));
    assert_eq!(get(router, &host("api."), "/").body, format!("api of {name}\n"));
    let quiet = get(router, &host("quiet."), "/");
    assert!(
        quiet.status == 404 && quiet.body.contains("has no service &quot;quiet&quot; with a published port"),
        "{quiet:?}"
    );
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
}

#[test]
fn a_router_default_that_names_no_published_service_is_a_config_error() {
    let Some(_engine) = mono_e2e::docker::require_docker() else { return };
    let (sb, _) = routed("ports:\n  first_slot: 101\n");
    let ws = sb.docker_workspace("bad");
    sb.compose(&ws, &web_compose());
    sb.mono_yml(&ws, "router:\n  default: quiet\n");
    sb.mono(["init", ws.to_str().unwrap()])
        .fails_with("router.default: \"quiet\" is not a service with a published port");
    let simple = sb.workspace("p/simple");
    sb.mono_yml(&simple, "router:\n  default: web\n");
    sb.mono(["init", simple.to_str().unwrap()]).fails_with("has no compose file");
    assert_eq!(sb.mono(["list", "--json"]).ok().json(), serde_json::json!([]));
}
