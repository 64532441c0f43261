//! The router benchmark's two ends (bench/router.py): a small HTTP/1.1
//! service, and a closed-loop load generator that reports requests per
//! second and latency percentiles.
//!
//! ```text
//! http_load serve PORT                      # 200 "hello\n" to every request, keep-alive
//! http_load load PORT HOST CONNS SECONDS    # CONNS keep-alive connections to 127.0.0.1:PORT,
//!                                           # each sending `GET /` with `Host: HOST` in a loop
//! ```
//! `load` prints one JSON object: `{"requests", "seconds", "rps", "p50_us",
//! "p99_us", "errors"}`. Both ends are hyper, so the router is measured
//! against the same client and server code it is made of, not against a
//! slower or faster one.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    match args.get(1).map(String::as_str) {
        Some("serve") => rt.block_on(serve(args[2].parse().expect("PORT"))),
        Some("load") => rt.block_on(load(
            args[2].parse().expect("PORT"),
            args[3].clone(),
            args[4].parse().expect("CONNS"),
            Duration::from_secs_f64(args[5].parse().expect("SECONDS")),
        )),
        _ => {
            eprintln!("usage: http_load serve PORT | http_load load PORT HOST CONNS SECONDS");
            std::process::exit(2);
        }
    }
}

async fn serve(port: u16) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|_req| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello\n"))))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn load(port: u16, host: String, conns: usize, length: Duration) {
    let started = Instant::now();
    let deadline = started + length;
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let host = host.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
            let _ = stream.set_nodelay(true);
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
            tokio::spawn(conn);
            while Instant::now() < deadline {
                let req =
                    Request::get("/").header("host", &host).body(Empty::<Bytes>::new()).expect("request");
                let at = Instant::now();
                match sender.send_request(req).await {
                    Ok(resp) if resp.status().is_success() => {
                        let _ = resp.into_body().collect().await;
                        latencies.push(at.elapsed().as_micros() as u64);
                    }
                    _ => {
                        errors += 1;
                        break;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("task");
        all.extend(l);
        errors += e;
    }
    let seconds = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied();
    println!(
        "{}",
        serde_json::json!({
            "requests": all.len(),
            "seconds": seconds,
            "rps": all.len() as f64 / seconds,
            "p50_us": pct(0.50),
            "p99_us": pct(0.99),
            "errors": errors,
        })
    );
}
