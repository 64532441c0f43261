//! `mono mcp`: an MCP server on stdio for the coding agent working in a
//! workspace (`claude mcp add mono -- mono mcp`).
//!
//! It is a client of monod's public API like every other command, so an
//! agent can do through it only what `mono` itself can, and only on
//! environments of this `MONO_HOME`. The tools act on one environment: the
//! workspace's (`$CONDUCTOR_WORKSPACE_PATH`, else the directory the server
//! was started in), fixed when it starts; only `list` shows the others.
//! Everything it returns is bounded: output and logs by `lines` (at most
//! [`MAX_LINES`]) and [`text::MAX_BYTES`].
//!
//! stdout carries the protocol and nothing else; errors a tool meets are
//! its result (`isError`), one line saying what to do, as the CLI says it.

mod text;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use jsonrpsee::core::client::Subscription;
use mono_proto::api::MonoApiClient;
use mono_proto::methods::{
    ENV_LIST, ENV_RUN, ENV_STATUS, ENV_STOP, EnvListParams, EnvRunParams, EnvStatusParams, EnvStopParams,
    SERVICE_RESTART, ServiceRestartParams,
};
use mono_proto::{EnvInfo, LogItem, RunStarted, ServiceLogItem, ServiceRestarted, Stopped};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::connect::Endpoint;
use crate::error::from_rpc;
use crate::workspace::{Existence, resolve};

/// Lines of output or logs a tool returns unless asked for another number.
const DEFAULT_LINES: u64 = 100;
/// The most lines a tool returns.
pub const MAX_LINES: u64 = 2000;
/// How long reading kept output or logs may take.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves MCP on stdin and stdout until the client closes stdin.
pub fn serve() -> anyhow::Result<()> {
    let workspace = resolve(None, Existence::Optional)?;
    let ep = Endpoint::from_env()?;
    let server = Mono { ep: Arc::new(ep), workspace, tool_router: Mono::tool_router() };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(async {
            let (stdin, stdout) = rmcp::transport::stdio();
            let running = server.serve((stdin, stdout)).await.context("the MCP handshake failed")?;
            running.waiting().await.context("the MCP session failed")?;
            Ok(())
        })
}

/// The server: this home's daemon and the workspace it acts on.
#[derive(Clone)]
struct Mono {
    ep: Arc<Endpoint>,
    workspace: String,
    tool_router: ToolRouter<Mono>,
}

/// How much output to return.
#[derive(Debug, Deserialize, JsonSchema)]
struct OutputParams {
    /// How many of the last lines to return (default 100, at most 2000).
    lines: Option<u64>,
}

/// Which service's logs, and how much.
#[derive(Debug, Deserialize, JsonSchema)]
struct ServiceLogsParams {
    /// The compose service, or `all` (the default) for every service's
    /// lines merged in time order, each prefixed with its service.
    service: Option<String>,
    /// How many of the last lines of each container to return (default
    /// 100, at most 2000).
    lines: Option<u64>,
}

/// Which service.
#[derive(Debug, Deserialize, JsonSchema)]
struct ServiceParams {
    /// The compose service.
    service: String,
}

/// A tool's result: its text, or the one line saying what went wrong.
type ToolResult = Result<String, String>;

#[tool_router]
impl Mono {
    #[tool(description = "This workspace's environment: status, mode, ports (port_base), its \
                          services' containers with state and health, named URLs, the run in \
                          progress and whether the session is printing (activity). JSON.")]
    async fn status(&self) -> ToolResult {
        let info: EnvInfo = self.call(ENV_STATUS, EnvStatusParams { path: self.workspace.clone() }).await?;
        Ok(pretty(&info))
    }

    #[tool(description = "Every environment of this mono home (all workspaces), with their status, \
                          ports and URLs. JSON.")]
    async fn list(&self) -> ToolResult {
        let all: Vec<EnvInfo> = self.call(ENV_LIST, EnvListParams {}).await?;
        Ok(pretty(&all))
    }

    #[tool(description = "The recent output of this environment's terminal session (the run \
                          script's and the shell's), as plain text: the last `lines` lines.")]
    async fn output(&self, Parameters(p): Parameters<OutputParams>) -> ToolResult {
        let lines = bounded(p.lines);
        self.read_output(lines).await.map_err(explain)
    }

    #[tool(description = "The recent logs of a service's containers (docker mode): the last \
                          `lines` lines of each, in time order.")]
    async fn service_logs(&self, Parameters(p): Parameters<ServiceLogsParams>) -> ToolResult {
        let service = p.service.unwrap_or_else(|| "all".to_string());
        self.read_service_logs(service, bounded(p.lines)).await.map_err(explain)
    }

    #[tool(description = "Starts the run script (scripts.run of mono.yml) in the session's run \
                          window. Fails when a run is already going: use restart for that. Its \
                          output comes through the output tool.")]
    async fn run(&self) -> ToolResult {
        let info: EnvInfo = self.call(ENV_STATUS, EnvStatusParams { path: self.workspace.clone() }).await?;
        if let Some(run) = info.run {
            return Err(format!(
                "{}: a run is already going (run {}, pid {}); use restart to stop it and start another",
                info.name, run.run, run.pid
            ));
        }
        self.start_run().await
    }

    #[tool(description = "Stops the run in progress (interrupt, then kill after the grace \
                          period) and starts the run script again.")]
    async fn restart(&self) -> ToolResult {
        self.start_run().await
    }

    #[tool(description = "Stops the run in progress (interrupt, then kill after run.stop_grace) \
                          and says how it ended.")]
    async fn stop(&self) -> ToolResult {
        let stopped: Stopped = self.call(ENV_STOP, EnvStopParams { path: self.workspace.clone() }).await?;
        Ok(pretty(&stopped))
    }

    #[tool(description = "Restarts a service's containers (docker mode) with their own stop signal \
                          and grace period; ports, volumes and network stay.")]
    async fn restart_service(&self, Parameters(p): Parameters<ServiceParams>) -> ToolResult {
        let params = ServiceRestartParams { path: self.workspace.clone(), service: p.service };
        let done: ServiceRestarted = self.call(SERVICE_RESTART, params).await?;
        Ok(pretty(&done))
    }
}

impl Mono {
    /// A one-shot call (starting the daemon if none runs) on a blocking
    /// thread; its decoded result, or the error as one line.
    async fn call<R: DeserializeOwned + Send + 'static>(
        &self,
        method: &'static str,
        params: impl serde::Serialize + Send + 'static,
    ) -> Result<R, String> {
        let ep = self.ep.clone();
        tokio::task::spawn_blocking(move || ep.ensure().and_then(|_| ep.call::<R>(method, params)))
            .await
            .map_err(|e| e.to_string())?
            .map_err(explain)
    }

    async fn start_run(&self) -> ToolResult {
        let params = EnvRunParams { path: self.workspace.clone(), env: Some(crate::commands::caller_env()) };
        let started: RunStarted = self.call(ENV_RUN, params).await?;
        Ok(pretty(&started))
    }

    /// The session's kept output, its last `lines` lines as plain text.
    async fn read_output(&self, lines: u64) -> anyhow::Result<String> {
        let client = self.websocket().await?;
        // Raw output has escape sequences and redraws: ask for more lines
        // than kept, then cut the plain text.
        let raw_lines = lines.saturating_mul(2).min(2 * MAX_LINES);
        let sub = client
            .logs_follow(self.workspace.clone(), Some(raw_lines), Some(false))
            .await
            .map_err(from_rpc)?;
        let mut raw = String::new();
        collect(sub, |item| match item {
            LogItem::Output { data } => {
                raw.push_str(&data);
                false
            }
            LogItem::RunExited(_) => false,
            LogItem::End { .. } => true,
        })
        .await?;
        Ok(text::plain_tail(&raw, lines as usize))
    }

    /// A service's kept logs (every service's with `all`, prefixed).
    async fn read_service_logs(&self, service: String, lines: u64) -> anyhow::Result<String> {
        let client = self.websocket().await?;
        let sub = client
            .logs_services(self.workspace.clone(), service.clone(), Some(lines), Some(false))
            .await
            .map_err(from_rpc)?;
        let mut all = String::new();
        let prefixed = service == "all";
        collect(sub, |item| match item {
            ServiceLogItem::Line { service, data, .. } => {
                if prefixed {
                    all.push_str(&service);
                    all.push_str(" | ");
                }
                all.push_str(&data);
                if !data.ends_with('\n') {
                    all.push('\n');
                }
                false
            }
            ServiceLogItem::Services { .. } => false,
            ServiceLogItem::End { .. } => true,
        })
        .await?;
        let kept: Vec<&str> = all.lines().collect();
        Ok(text::tail(&kept, usize::MAX))
    }

    async fn websocket(&self) -> anyhow::Result<jsonrpsee::core::client::Client> {
        let ep = self.ep.clone();
        tokio::task::spawn_blocking(move || ep.ensure()).await??;
        self.ep.websocket().await
    }
}

#[tool_handler(
    router = self.tool_router,
    name = "mono",
    instructions = "mono runs this workspace's isolated development environment (its ports, \
                    containers, terminal session and run script). Use status for its ports, URLs \
                    and services, output and service_logs to read what it printed, run/restart/stop \
                    for the run script and restart_service for one service."
)]
impl ServerHandler for Mono {}

/// Reads a subscription's items into `take` until it says the end came
/// (`true`), the subscription closes, or [`READ_TIMEOUT`] passes.
async fn collect<T: DeserializeOwned>(
    mut sub: Subscription<T>,
    mut take: impl FnMut(T) -> bool,
) -> anyhow::Result<()> {
    let reading = async {
        while let Some(item) = sub.next().await {
            if take(item.context("unreadable output from monod")?) {
                break;
            }
        }
        Ok(())
    };
    tokio::time::timeout(READ_TIMEOUT, reading)
        .await
        .with_context(|| format!("monod did not send the kept output within {}s", READ_TIMEOUT.as_secs()))?
}

fn bounded(lines: Option<u64>) -> u64 {
    lines.unwrap_or(DEFAULT_LINES).clamp(1, MAX_LINES)
}

fn pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// The error as the CLI would say it, on one line.
fn explain(e: anyhow::Error) -> String {
    format!("{:#}", crate::connect::explain(e)).replace('\n', " ")
}
