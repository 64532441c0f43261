//! The Engine API of an `ssh://` endpoint, as the docker CLI reaches it:
//! each HTTP connection is `docker system dial-stdio` run on the remote
//! host, its stdin and stdout the connection. Over the engine's control
//! master (see [`super::master`]) a new connection is a channel of the one
//! SSH connection, not a new login; without a live master ssh logs in
//! itself, so the API still answers while the master reconnects.

use std::io;
use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::io::Join;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::SshTarget;

/// Opens Engine API connections to one SSH target (a hyper connector).
#[derive(Clone)]
pub struct Dial {
    target: SshTarget,
    control: Option<std::path::PathBuf>,
}

impl Dial {
    /// Connections to `target`, through the control socket `control` when given.
    pub fn new(target: SshTarget, control: Option<std::path::PathBuf>) -> Dial {
        Dial { target, control }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("ssh");
        if let Some(control) = &self.control {
            cmd.arg("-o").arg(format!("ControlPath={}", control.display())).args(["-o", "ControlMaster=no"]);
        }
        cmd.args(super::COMMON_OPTIONS)
            .args(self.target.port_args())
            .arg("--")
            .arg(&self.target.dest)
            // Fixed words: nothing of the user's reaches the remote shell.
            .args(["docker", "system", "dial-stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        cmd
    }
}

/// Why the Engine API cannot be reached over SSH, in ssh's (or the remote
/// shell's) own words: what a failed connection would have printed, from
/// one plain `ssh DEST docker version` (run only after a failure).
pub async fn diagnose(target: &SshTarget) -> String {
    let mut cmd = Command::new("ssh");
    cmd.args(super::COMMON_OPTIONS)
        .args(target.port_args())
        .arg("--")
        .arg(&target.dest)
        .args(["docker", "version", "--format", "{{.Server.Version}}"])
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let port = target.port.map(|p| format!("-p {p} ")).unwrap_or_default();
    let hint = format!("check that `ssh {port}{} docker version` works without a prompt", target.dest);
    match tokio::time::timeout(std::time::Duration::from_secs(20), cmd.output()).await {
        Ok(Ok(out)) if out.status.success() => format!("ssh works but the API did not answer; {hint}"),
        Ok(Ok(out)) => {
            let text = String::from_utf8_lossy(&out.stderr);
            let said = text.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("ssh failed");
            format!("{said}; {hint}")
        }
        Ok(Err(e)) => format!("cannot run ssh: {e}"),
        Err(_) => format!("ssh did not answer within 20 s; {hint}"),
    }
}

/// One connection: the ssh process and its pipes.
pub struct DialStream {
    io: TokioIo<Join<ChildStdout, ChildStdin>>,
    _child: Child,
}

impl tower_service::Service<hyper::Uri> for Dial {
    type Response = DialStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = io::Result<DialStream>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let mut cmd = self.command();
        Box::pin(async move {
            let mut child = cmd.spawn()?;
            let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                return Err(io::Error::other("ssh started without its pipes"));
            };
            Ok(DialStream { io: TokioIo::new(tokio::io::join(stdout, stdin)), _child: child })
        })
    }
}

impl Connection for DialStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for DialStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for DialStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A bollard client whose connections are [`Dial`]'s.
pub fn docker(dial: Dial, timeout_secs: u64) -> Result<bollard::Docker, bollard::errors::Error> {
    let client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(dial);
    let client = std::sync::Arc::new(client);
    bollard::Docker::connect_with_custom_transport(
        move |req: bollard::BollardRequest| {
            let client = client.clone();
            async move { client.request(req).await.map_err(bollard::errors::Error::from) }
        },
        // The connector ignores the address; `http` makes hyper pool by it.
        Some("http://docker"),
        timeout_secs,
        bollard::API_DEFAULT_VERSION,
    )
}
