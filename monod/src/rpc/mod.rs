//! The JSON-RPC handlers: parse, call one operation, map the error.
//!
//! The handlers implement the trait generated from the one declaration of
//! the API (`mono_proto::methods`); [`Api::into_methods`] is what the
//! server serves: those handlers, each refusing parameters its method does
//! not take ([`params`]).

mod error;
mod event_stream;
mod params;

use std::sync::Arc;
use std::time::Instant;

use jsonrpsee::core::{RpcResult, SubscriptionResult, async_trait};
use jsonrpsee::{PendingSubscriptionSink, SubscriptionMessage};
use mono_proto::api::MonoApiServer;
use mono_proto::{
    CacheCleaned, CacheStats, CallerEnv, Component, DaemonStatus, Destroyed, DoctorReport, EnvInfo, GcReport,
    LogItem, RunStarted, SeedRefreshed, ServiceLogItem, ServiceRestarted, Stopped,
};
use tokio_util::sync::CancellationToken;

pub use error::rpc_error;

use crate::docker::logs::LogRequest;
use crate::logs::follow::Follower;
use crate::ops::{OpError, Ops};

/// Log items a follower may have in flight to its connection.
const FOLLOW_BUFFER: usize = 16;

/// The server half of the API.
pub struct Api {
    ops: Arc<Ops>,
    started: Instant,
    tmux: Component,
    router: Component,
    stop: CancellationToken,
    protocol: u32,
    version: String,
}

impl Api {
    /// Handlers over `ops`; `stop` is cancelled by `daemon.stop`;
    /// `protocol` and `version` are what `daemon.status` reports.
    pub fn new(
        ops: Arc<Ops>,
        tmux: Component,
        stop: CancellationToken,
        protocol: u32,
        version: String,
    ) -> Api {
        let router = Component { available: false, detail: "not started".to_string() };
        Api { ops, started: Instant::now(), tmux, router, stop, protocol, version }
    }

    /// What `daemon.status` says of the router.
    pub fn with_router(mut self, router: Component) -> Api {
        self.router = router;
        self
    }

    /// The methods to serve: every handler, refusing unknown parameters.
    pub fn into_methods(self) -> jsonrpsee::Methods {
        params::refuse_unknown(self.into_rpc().into())
    }
}

#[async_trait]
impl MonoApiServer for Api {
    async fn daemon_status(&self) -> RpcResult<DaemonStatus> {
        Ok(DaemonStatus {
            version: self.version.clone(),
            protocol: self.protocol,
            pid: std::process::id(),
            uptime_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            home: self.ops.home().root().display().to_string(),
            environments: self.ops.count(),
            operations: u32::try_from(self.ops.in_progress()).unwrap_or(u32::MAX),
            tmux: self.tmux.clone(),
            docker: crate::docker::availability::probe(),
            router: self.router.clone(),
        })
    }

    async fn daemon_stop(&self) -> RpcResult<()> {
        tracing::info!("stop requested over the socket");
        self.stop.cancel();
        Ok(())
    }

    async fn daemon_doctor(&self, env: Option<CallerEnv>) -> RpcResult<DoctorReport> {
        Ok(self.ops.doctor(&env.unwrap_or_default()).await)
    }

    async fn daemon_gc(&self, apply: Option<bool>, env: Option<CallerEnv>) -> RpcResult<GcReport> {
        Ok(self.ops.gc(apply.unwrap_or(false), &env.unwrap_or_default()).await?)
    }

    async fn cache_stats(&self) -> RpcResult<CacheStats> {
        Ok(self.ops.cache_stats().await?)
    }

    async fn cache_clean(&self, all: Option<bool>, older_than: Option<String>) -> RpcResult<CacheCleaned> {
        Ok(self.ops.cache_clean(all.unwrap_or(false), older_than).await?)
    }

    async fn seed_refresh(&self, path: String) -> RpcResult<SeedRefreshed> {
        Ok(self.ops.seed_refresh(&path).await?)
    }

    async fn env_init(&self, path: String, env: Option<CallerEnv>, op: Option<String>) -> RpcResult<EnvInfo> {
        Ok(self.ops.init(path, env.unwrap_or_default(), op).await?)
    }

    async fn env_destroy(
        &self,
        path: String,
        env: Option<CallerEnv>,
        op: Option<String>,
    ) -> RpcResult<Destroyed> {
        Ok(self.ops.destroy(path, env.unwrap_or_default(), op).await?)
    }

    async fn service_restart(&self, path: String, service: String) -> RpcResult<ServiceRestarted> {
        Ok(self.ops.restart_service(&path, &service).await?)
    }

    async fn env_run(&self, path: String, env: Option<CallerEnv>) -> RpcResult<RunStarted> {
        Ok(self.ops.run(path, env.unwrap_or_default()).await?)
    }

    async fn env_stop(&self, path: String) -> RpcResult<Stopped> {
        Ok(self.ops.stop(path).await?)
    }

    async fn logs_follow(
        &self,
        pending: PendingSubscriptionSink,
        path: String,
        lines: Option<u64>,
        follow: Option<bool>,
    ) -> SubscriptionResult {
        let log = match self.ops.env_log_at(&path).await {
            Ok(log) => log,
            Err(e) => {
                pending.reject(jsonrpsee::types::ErrorObjectOwned::from(e)).await;
                return Ok(());
            }
        };
        // Opened before the subscription is acknowledged: output written
        // after the caller learns it is subscribed is never skipped.
        let Some(follower) = Follower::open(log, lines).await else {
            pending.reject(jsonrpsee::types::ErrorObjectOwned::from(OpError::ShuttingDown)).await;
            return Ok(());
        };
        let sink = pending.accept().await?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<LogItem>(FOLLOW_BUFFER);
        let follower = tokio::spawn(follower.send(follow.unwrap_or(true), tx));
        let sent = forward(&mut rx, &sink).await;
        follower.abort();
        sent
    }

    async fn logs_services(
        &self,
        pending: PendingSubscriptionSink,
        path: String,
        service: String,
        lines: Option<u64>,
        follow: Option<bool>,
    ) -> SubscriptionResult {
        let logs = match self.ops.service_logs(&path, &service).await {
            Ok(logs) => logs,
            Err(e) => {
                pending.reject(jsonrpsee::types::ErrorObjectOwned::from(e)).await;
                return Ok(());
            }
        };
        let sink = pending.accept().await?;
        let request = LogRequest { tail: lines, follow: follow.unwrap_or(false) };
        let (tx, mut rx) = tokio::sync::mpsc::channel::<ServiceLogItem>(FOLLOW_BUFFER);
        let streaming = tokio::spawn(logs.send(request, tx));
        let sent = forward(&mut rx, &sink).await;
        streaming.abort();
        sent
    }

    async fn env_list(&self) -> RpcResult<Vec<EnvInfo>> {
        Ok(self.ops.list().await?)
    }

    async fn env_status(&self, path: String) -> RpcResult<EnvInfo> {
        Ok(self.ops.status(&path).await?)
    }

    async fn events_subscribe(
        &self,
        pending: PendingSubscriptionSink,
        since: Option<u64>,
        env: Option<String>,
        kinds: Option<Vec<String>>,
        follow: Option<bool>,
        op: Option<String>,
    ) -> SubscriptionResult {
        let bus = self.ops.events();
        let start = match since {
            None => event_stream::Start::Live(bus.live_channels()),
            Some(since) => match bus.page(since, crate::events::PAGE).await {
                Ok(first) => event_stream::Start::Replay { since, first },
                Err(e) => {
                    pending.reject(rpc_error(mono_proto::ErrorCode::Internal, e.to_string())).await;
                    return Ok(());
                }
            },
        };
        let sink = pending.accept().await?;
        let filter = event_stream::Filter { env, kinds, op };
        event_stream::forward(&sink, bus, start, &filter, follow != Some(false)).await.map_err(|e| {
            tracing::warn!(error = %e, "an event subscription ended early");
            e.to_string().into()
        })
    }

    async fn events_publish(
        &self,
        kind: String,
        env: Option<String>,
        data: Option<serde_json::Value>,
    ) -> RpcResult<u64> {
        let invalid = |m: String| rpc_error(mono_proto::ProtocolCode::InvalidParams, m);
        let suffix = kind.strip_prefix(mono_proto::event_kinds::USER_PREFIX).unwrap_or_default();
        let well_formed = kind.len() <= 64
            && !suffix.is_empty()
            && suffix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if !well_formed {
            return Err(invalid(format!(
                "event kind {kind:?} is not a user kind; use `user.` and then [a-z0-9._-], at most 64 characters"
            )));
        }
        if let Some(name) = &env
            && self.ops.monitor().get(name).is_none()
        {
            return Err(rpc_error(
                mono_proto::ErrorCode::NotFound,
                format!("no environment is named {name:?}; see `mono list`"),
            ));
        }
        let data = data.unwrap_or(serde_json::Value::Null);
        self.ops.events().emit(env.as_deref(), &kind, data).await.ok_or_else(|| {
            rpc_error(mono_proto::ErrorCode::Internal, "cannot record the event; see monod's log")
        })
    }

    async fn ops_watch(&self, pending: PendingSubscriptionSink, op: String) -> SubscriptionResult {
        let mut feed = self.ops.watchers().watch(&op);
        let sink = match pending.accept().await {
            Ok(sink) => sink,
            Err(e) => {
                self.ops.watchers().forget(&op, feed.id);
                return Err(e.into());
            }
        };
        loop {
            tokio::select! {
                line = feed.lines.recv() => {
                    let Some(line) = line else { break };
                    let msg: SubscriptionMessage = serde_json::value::to_raw_value(&line)?.into();
                    if sink.send(msg).await.is_err() {
                        break;
                    }
                }
                _ = sink.closed() => break,
            }
        }
        self.ops.watchers().forget(&op, feed.id);
        drop(feed.flushed);
        Ok(())
    }

    async fn rpc_discover(&self) -> RpcResult<serde_json::Value> {
        Ok(mono_proto::openrpc::document())
    }
}

/// Sends every item of `rx` to the subscriber until either side ends.
async fn forward<T: serde::Serialize>(
    rx: &mut tokio::sync::mpsc::Receiver<T>,
    sink: &jsonrpsee::SubscriptionSink,
) -> SubscriptionResult {
    loop {
        tokio::select! {
            item = rx.recv() => {
                let Some(item) = item else { return Ok(()) };
                let msg: SubscriptionMessage = serde_json::value::to_raw_value(&item)?.into();
                if sink.send(msg).await.is_err() {
                    return Ok(());
                }
            }
            _ = sink.closed() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::{Value, json};

    use super::*;
    use crate::home::Home;

    /// Handlers over a fresh home in `dir`, as the daemon serves them, and
    /// what closes their operations.
    fn served(dir: &std::path::Path) -> (jsonrpsee::Methods, crate::ops::Built) {
        let built = Ops::builder(Home::open(dir).unwrap()).build().unwrap();
        let tmux = Component { available: false, detail: String::new() };
        let api = Api::new(built.ops.clone(), tmux, CancellationToken::new(), 1, "0".into());
        (api.into_methods(), built)
    }

    /// The reply to one request (by name), parsed.
    async fn call(methods: &jsonrpsee::Methods, method: &str, params: Value) -> Value {
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
        let sent =
            tokio::time::timeout(std::time::Duration::from_secs(20), methods.raw_json_request(&request, 64));
        let (reply, _notifications) =
            sent.await.unwrap_or_else(|_| panic!("no reply to {request} within 20 s")).unwrap();
        serde_json::from_str(reply.get()).unwrap()
    }

    /// A value of the type `schema` describes (resolved in `doc`), for the
    /// parameter `name`: a path that does not exist, so no operation does
    /// anything.
    fn sample(doc: &Value, name: &str, schema: &Value, missing: &str) -> Value {
        if let Some(r) = schema["$ref"].as_str() {
            return sample(doc, name, doc.pointer(r.trim_start_matches('#')).unwrap(), missing);
        }
        match (name, schema["type"].as_str()) {
            ("path", _) => json!(missing),
            ("kind", _) => json!("user.contract-test"),
            ("follow", _) => json!(false),
            // A value of the parameter's own syntax: a bad one is invalid
            // params too, which is not what this checks.
            ("older_than", _) => json!("30d"),
            (_, Some("string")) => json!("x"),
            (_, Some("integer")) => json!(0),
            (_, Some("boolean")) => json!(false),
            (_, Some("array")) => json!([]),
            (_, Some("object")) => json!({}),
            _ => Value::Null,
        }
    }

    #[tokio::test]
    async fn registered_methods_are_exactly_the_published_names() {
        let dir = tempfile::tempdir().unwrap();
        let (methods, _thread) = served(dir.path());
        let registered: BTreeSet<&str> = methods.method_names().collect();
        let published: BTreeSet<&str> = mono_proto::methods::ALL.iter().copied().collect();
        assert_eq!(registered, published);
    }

    /// The server's handlers and the OpenRPC document come from one
    /// declaration; this checks that the server really reads what the
    /// document says: unknown names are refused, listing exactly the
    /// documented ones; required ones are required; all documented ones,
    /// with values of their documented types, are taken.
    #[tokio::test]
    async fn the_server_takes_exactly_the_documented_params() {
        let dir = tempfile::tempdir().unwrap();
        let (methods, _thread) = served(dir.path());
        let missing = dir.path().join("no-such-workspace").display().to_string();
        let doc = mono_proto::openrpc::document();
        let listed = doc["methods"].as_array().unwrap();
        let mut checked = 0;
        for m in listed.iter().filter(|m| m.get("x-unsubscribes").is_none()) {
            let name = m["name"].as_str().unwrap();
            let params = m["params"].as_array().unwrap();
            let names: Vec<&str> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();

            let reply = call(&methods, name, json!({"zz_not_a_param": 1})).await;
            assert_eq!(reply["error"]["code"], -32602, "{name}: {reply}");
            let message = reply["error"]["message"].as_str().unwrap();
            assert!(message.contains("\"zz_not_a_param\""), "{name}: {message}");
            let takes = message.rsplit_once("it takes").map(|(_, t)| t).unwrap_or_default();
            let said: Vec<&str> = takes.trim_start_matches(':').split(',').map(str::trim).collect();
            if names.is_empty() {
                assert_eq!(takes, " none", "{name}: {message}");
            } else {
                assert_eq!(said, names, "{name}: {message}");
            }

            if let Some(first) = params.iter().find(|p| p["required"] == true) {
                let reply = call(&methods, name, json!({})).await;
                assert_eq!(reply["error"]["code"], -32602, "{name} without {}: {reply}", first["name"]);
                let text = reply.to_string();
                assert!(text.contains(&format!("`{}`", first["name"].as_str().unwrap())), "{name}: {text}");
            }

            // These two probe the machine's own tmux and Docker Engine.
            if [mono_proto::methods::DAEMON_DOCTOR, mono_proto::methods::DAEMON_GC].contains(&name) {
                continue;
            }
            let all: serde_json::Map<String, Value> = params
                .iter()
                .map(|p| {
                    let pname = p["name"].as_str().unwrap();
                    (pname.to_string(), sample(&doc, pname, &p["schema"], &missing))
                })
                .collect();
            let reply = call(&methods, name, Value::Object(all.clone())).await;
            let code = reply["error"]["code"].as_i64();
            assert!(!matches!(code, Some(-32602 | -32601)), "{name} {all:?}: {reply}");
            checked += 1;
        }
        assert!(checked >= 14, "{checked} methods were called with every parameter");
    }
}
