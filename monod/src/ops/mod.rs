//! Operations on environments, apart from any transport.
//!
//! RPC handlers only parse, call one of these and map the error; tests can
//! drive them directly. Each operation runs as its own task on a tracker, so
//! a client that disconnects (Ctrl-C, a killed script) never leaves one half
//! done, and shutdown can cancel them and wait for their rollback.

mod cache;
mod destroy;
mod docker_mode;
pub mod doctor;
mod engines;
mod error;
mod forwards;
mod init;
mod orphans;
mod query;
mod recover;
mod run;
mod seed;
mod service_logs;
mod service_restart;
mod teardown;
#[cfg(test)]
mod tests;
pub mod workspace;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use docker_mode::plan_offline;
pub use error::OpError;
pub use service_logs::{ALL_SERVICES, ServiceLogs};

use crate::busy::{BusyGuard, BusyPaths};
use crate::events::EventBus;
use crate::home::Home;
use crate::logs::monitor::Monitor;
use crate::logs::monolog::MonoLog;
use crate::logs::progress::{Progress, Watchers};
use crate::script::{self, Outcome};
use crate::state::Store;

/// Everything operations need, shared by all connections.
pub struct Ops {
    home: Home,
    store: Store,
    log: Arc<MonoLog>,
    watchers: Watchers,
    busy: BusyPaths,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    events: EventBus,
    monitor: Arc<Monitor>,
    recovered: std::sync::Mutex<Vec<String>>,
    first_slot: u32,
    /// The port named URLs use, when the router is on.
    router_port: Option<u16>,
    cache: crate::cache::Cache,
}

/// Why operations could not start over a home.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The state database could not be opened.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// `mono.log` could not be opened.
    #[error("cannot open {path}: {source}")]
    Log {
        /// The log file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The log directories could not be watched.
    #[error(transparent)]
    Monitor(#[from] crate::logs::monitor::MonitorError),
}

/// Builds the operations of a home: opens its state database, `mono.log`,
/// the event bus and the log monitor. The daemon does it at start; tests
/// do it to drive operations without a socket.
pub struct OpsBuilder {
    home: Home,
    settings: crate::settings::Settings,
    stop: CancellationToken,
}

impl OpsBuilder {
    /// The daemon's settings (`monod.yml`): slots, cache, events, logs.
    pub fn settings(mut self, settings: crate::settings::Settings) -> OpsBuilder {
        self.settings = settings;
        self
    }

    /// Ends the background tasks (the monitor's) when cancelled; the daemon
    /// passes its own stop token.
    pub fn stop(mut self, stop: CancellationToken) -> OpsBuilder {
        self.stop = stop;
        self
    }

    /// Opens everything. A state database that a crash truncated is
    /// refused before it is touched.
    pub fn build(self) -> Result<Built, StartError> {
        let home = self.home;
        crate::state::refuse_truncated(&home.state_db(), || home.environment_dirs())?;
        let (store, store_thread) = Store::open(&home.state_db())?;
        let log = MonoLog::open_with(&home.mono_log(), self.settings.log)
            .map_err(|source| StartError::Log { path: home.mono_log(), source })?;
        let events = EventBus::new(store.clone(), self.settings.events);
        let monitor = Monitor::start(home.logs_root(), events.clone(), self.stop.clone())?;
        let cache = crate::cache::Cache::new(home.clone(), store.clone(), self.settings.cache.max_size);
        cache.clear_staging();
        let ops = Arc::new(Ops {
            home,
            events,
            monitor,
            store,
            log: Arc::new(log),
            watchers: Watchers::default(),
            busy: BusyPaths::default(),
            tasks: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            recovered: Default::default(),
            first_slot: self.settings.ports.first_slot,
            router_port: self.settings.router.port(),
            cache,
        });
        Ok(Built { ops, stop: self.stop, store_thread })
    }
}

/// Operations that were built, and what ends them.
pub struct Built {
    /// The operations, shared by every connection.
    pub ops: Arc<Ops>,
    stop: CancellationToken,
    store_thread: crate::state::StoreThread,
}

impl Built {
    /// Ends everything in order: running operations are cancelled and
    /// rolled back, the background tasks stop, and the state database is
    /// closed once its last handle is gone. Every other clone of the
    /// [`Ops`] must have been dropped, or this waits for them.
    pub async fn close(self) {
        self.ops.shutdown().await;
        self.stop.cancel();
        drop(self.ops);
        // Joining blocks: off the async threads, so the tasks that still
        // hold a store handle can finish.
        let thread = self.store_thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

impl Ops {
    /// Starts building the operations of `home`, with default settings.
    pub fn builder(home: Home) -> OpsBuilder {
        OpsBuilder { home, settings: Default::default(), stop: CancellationToken::new() }
    }

    /// The home directory layout.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// The event log.
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// The state database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Environments' logs, activity and runs.
    pub fn monitor(&self) -> &Arc<Monitor> {
        &self.monitor
    }

    /// Starts watching every registered environment's log; at start-up.
    pub async fn watch_registered(&self) -> Result<(), OpError> {
        for row in self.store.all().await? {
            // The workspace may be gone or its mono.yml broken; defaults then.
            let idle_after =
                crate::config::MonoConfig::load_blocking(Path::new(&row.path)).await.map_or_else(
                    |_| crate::config::ActivitySettings::default().idle_after,
                    |c| c.activity.idle_after,
                );
            if let Err(e) = self.monitor.add(&row.name, idle_after) {
                tracing::warn!(env = %row.name, error = %e, "cannot watch the environment's log");
            }
        }
        Ok(())
    }

    /// Watchers of operation progress (`ops.watch`).
    pub fn watchers(&self) -> &Watchers {
        &self.watchers
    }

    /// Number of operations in progress.
    pub fn in_progress(&self) -> usize {
        self.busy.len()
    }

    /// Number of registered environments.
    pub fn count(&self) -> u32 {
        self.store.count()
    }

    /// Refuses new operations, cancels running ones (they roll back) and
    /// waits until all have finished; then stops retrying unstored events.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        self.events.close();
    }

    /// Runs `task` as a tracked task and waits for its result.
    async fn spawn<T, F>(
        self: &Arc<Self>,
        op: &'static str,
        task: impl FnOnce(Arc<Ops>) -> F,
    ) -> Result<T, OpError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, OpError>> + Send + 'static,
    {
        if self.shutdown.is_cancelled() {
            return Err(OpError::ShuttingDown);
        }
        self.tasks
            .spawn(task(self.clone()))
            .await
            .map_err(|e| OpError::Internal { op, detail: e.to_string() })?
    }

    /// The registered environment whose key is `key` (see [`lookup`]).
    async fn registered(&self, key: &str) -> Result<crate::state::EnvRow, OpError> {
        self.store.by_path(key).await?.ok_or_else(|| OpError::NotRegistered { path: key.to_string() })
    }

    /// Claims a workspace for `op`.
    fn claim(&self, path: &str, op: &'static str) -> Result<BusyGuard, OpError> {
        self.busy.claim(path, op).map_err(|running| OpError::Busy { path: path.to_string(), running })
    }

    /// Runs one of an environment's scripts, reporting its start, output and
    /// end; the caller decides what a failure means.
    async fn run_script(
        &self,
        env_name: &str,
        kind: &'static str,
        script: &str,
        ws: &Path,
        env: &[(String, String)],
        progress: &Progress,
    ) -> Result<Outcome, OpError> {
        progress.step(format!("running {kind} script: {script}"));
        let outcome = script::run(script, ws, env, progress, &self.shutdown)
            .await
            .map_err(|source| OpError::ScriptSpawn { env: env_name.to_string(), script: kind, source })?;
        progress.step(format!("{kind} script completed ({outcome})"));
        Ok(outcome)
    }

    /// A progress reporter for an operation, connected to its watcher.
    fn progress(&self, tag: &str, op_id: Option<&str>) -> Progress {
        let events = Some((self.events.clone(), op_id.map(str::to_string)));
        Progress::new(tag, self.log.clone(), self.watchers.claim(op_id), events)
    }
}

/// A path as a POSIX shell word, for fix-it commands people paste.
fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The key a registered workspace is found by, from the path a user gave
/// (which may no longer exist): see [`workspace::lookup_key`].
fn lookup(raw: &str) -> Result<String, OpError> {
    Ok(workspace::lookup_key(raw)?.to_string_lossy().into_owned())
}
