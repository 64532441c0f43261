//! Seeded volumes through the Engine: a volume's content archived out (the
//! Engine's archive endpoint of a helper container that mounts it) and an
//! archive unpacked into a new volume the same way.
//!
//! Volumes live inside the Engine (inside a VM on Docker Desktop, OrbStack
//! and Colima), so mono never reads `/var/lib/docker`: the helper is a
//! container of the service's own image (so no other image is needed),
//! created with the volume mounted at [`MOUNT`] and never started; the
//! Engine mounts a created container's volumes for archive requests. The
//! helper carries the environment's labels, so a teardown after a crash
//! removes it, and it is removed as soon as the archive is through.
//! Ownership and modes travel in the archive: the Engine unpacks as root,
//! keeping each entry's owner (a database's files stay the database
//! user's).

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, MountVolumeOptions};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder, RemoveContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::engine::{Engine, EngineError};
use super::ownership::EnvLabels;
use mono_compose::{MONO_ENV_LABEL, MONO_HOME_LABEL};

/// Where the helper mounts the volume.
pub const MOUNT: &str = "/mono-seed";

/// The helper container of one volume; removed by [`Helper::remove`].
pub(super) struct Helper<'a> {
    engine: &'a Engine,
    pub(super) id: String,
}

impl<'a> Helper<'a> {
    async fn create(
        engine: &'a Engine,
        env: EnvLabels<'_>,
        volume: &str,
        image: &str,
        read_only: bool,
    ) -> Result<Helper<'a>, EngineError> {
        Helper::with_mounts(engine, env, &[(volume, MOUNT, read_only)], image).await
    }

    /// A helper mounting each `(volume, target, read_only)`.
    pub(super) async fn with_mounts(
        engine: &'a Engine,
        env: EnvLabels<'_>,
        mounts: &[(&str, &str, bool)],
        image: &str,
    ) -> Result<Helper<'a>, EngineError> {
        let volume = mounts.iter().map(|(v, _, _)| *v).collect::<Vec<_>>().join(", ");
        let labels = HashMap::from([
            (MONO_HOME_LABEL.to_string(), env.home.to_string()),
            (MONO_ENV_LABEL.to_string(), env.project.to_string()),
            (super::PROJECT_LABEL.to_string(), env.project.to_string()),
        ]);
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            // Never started; the Engine only wants a command to create it.
            entrypoint: Some(vec!["/mono-seed-helper-never-runs".to_string()]),
            cmd: Some(Vec::new()),
            labels: Some(labels),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                network_mode: Some("none".to_string()),
                mounts: Some(
                    mounts
                        .iter()
                        .map(|(volume, target, read_only)| Mount {
                            typ: Some(MountType::VOLUME),
                            source: Some(volume.to_string()),
                            target: Some(target.to_string()),
                            read_only: Some(*read_only),
                            volume_options: Some(MountVolumeOptions {
                                no_copy: Some(true),
                                ..Default::default()
                            }),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        };
        let name = format!("{}-seed-{}", env.project, uniq());
        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        let created = engine
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(EngineError::api(format!("create the helper container for volume {volume}")))?;
        Ok(Helper { engine, id: created.id })
    }

    pub(super) async fn remove(self) -> Result<(), EngineError> {
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        self.engine
            .docker
            .remove_container(&self.id, Some(options))
            .await
            .map_err(EngineError::api("remove a seed helper container"))
    }
}

fn uniq() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{:x}{:x}", std::process::id(), nanos & 0xffff_ffff_ffff)
}

/// Writes the archive of `volume` (its Engine name) into `out`; returns
/// its length and hex SHA-256. `image` is one the Engine has (a mounting
/// service's). `out` is not synced: the entry is published by a rename,
/// and an archive a power cut left short or garbled fails its SHA-256 at
/// the next restore, which then counts as a miss.
pub async fn archive(
    engine: &Engine,
    env: EnvLabels<'_>,
    volume: &str,
    image: &str,
    out: std::fs::File,
) -> Result<(u64, String), EngineError> {
    let started = std::time::Instant::now();
    let helper = Helper::create(engine, env, volume, image, true).await?;
    let result = async {
        let options = DownloadFromContainerOptionsBuilder::new().path(MOUNT).build();
        let mut stream = engine.docker.download_from_container(&helper.id, Some(options));
        let (mut len, mut sha) = (0u64, Sha256::new());
        let failed = |e: std::io::Error| EngineError::Conflict {
            what: format!("cannot write the archive of volume {volume}: {e}"),
        };
        // The Engine sends small chunks: written in large ones.
        let mut out = tokio::io::BufWriter::with_capacity(CHUNK, tokio::fs::File::from_std(out));
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(EngineError::api(format!("archive volume {volume}")))?;
            sha.update(&chunk);
            len += chunk.len() as u64;
            out.write_all(&chunk).await.map_err(failed)?;
        }
        out.flush().await.map_err(failed)?;
        Ok::<_, EngineError>((len, hex(sha)))
    }
    .await;
    let removed = helper.remove().await;
    tracing::debug!(volume, took = ?started.elapsed(), "seed volume archived");
    let archived = result?;
    removed?;
    Ok(archived)
}

/// Unpacks the archive `file` (as [`archive`] wrote it) into `volume`
/// (its Engine name, created already); `false` when the bytes sent were not
/// `sha256` (a damaged snapshot: the volume may hold garbage and must go).
pub async fn restore(
    engine: &Engine,
    env: EnvLabels<'_>,
    volume: &str,
    image: &str,
    file: std::fs::File,
    sha256: &str,
) -> Result<bool, EngineError> {
    let started = std::time::Instant::now();
    let helper = Helper::create(engine, env, volume, image, false).await?;
    let created = started.elapsed();
    let (sent, uploaded) = upload(engine, &helper.id, "/", file, volume).await;
    let unpacked = started.elapsed();
    let removed = helper.remove().await;
    tracing::debug!(volume, ?created, ?unpacked, total = ?started.elapsed(), "seed volume restored");
    // Damaged bytes are a damaged snapshot even when the Engine refused
    // them as a broken tar.
    if sent != sha256 {
        return Ok(false);
    }
    uploaded?;
    removed?;
    Ok(true)
}

/// Streams the archive `file` into the helper `id` at `path`; returns the
/// hex SHA-256 of the bytes sent, and what the Engine said.
pub(super) async fn upload(
    engine: &Engine,
    id: &str,
    path: &str,
    file: std::fs::File,
    volume: &str,
) -> (String, Result<(), EngineError>) {
    // Read and hashed on a blocking thread in large chunks, while the
    // Engine unpacks the previous ones.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<hyper::body::Bytes, std::io::Error>>(4);
    let reader = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut file = file;
        let mut sha = Sha256::new();
        loop {
            let mut buf = vec![0u8; CHUNK];
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    buf.truncate(n);
                    sha.update(&buf);
                    if tx.blocking_send(Ok(buf.into())).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
        hex(sha)
    });
    let body = bollard::body_try_stream(tokio_stream_of(rx));
    let options = UploadToContainerOptionsBuilder::new().path(path).build();
    let uploaded = engine
        .docker
        .upload_to_container(id, Some(options), body)
        .await
        .map_err(EngineError::api(format!("restore volume {volume}")));
    let sent = reader.await.unwrap_or_default();
    (sent, uploaded)
}

/// Bytes per chunk sent to the Engine.
const CHUNK: usize = 1024 * 1024;

fn tokio_stream_of<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Pauses `containers` (names), stopping at the first failure; returns those
/// paused, which the caller must [`unpause`] whatever happens next. Each is
/// paused between two of its health checks (see [`between_health_checks`]).
pub async fn pause(engine: &Engine, containers: &[String]) -> (Vec<String>, Result<(), EngineError>) {
    let mut paused = Vec::new();
    for c in containers {
        if let Err(e) = between_health_checks(engine, c).await {
            return (paused, Err(e));
        }
        match engine.docker.pause_container(c).await {
            Ok(()) => paused.push(c.clone()),
            Err(e) => return (paused, Err(EngineError::api(format!("pause {c}"))(e))),
        }
    }
    (paused, Ok(()))
}

/// Time left before a container's next health check for a pause to start.
const BEFORE_NEXT_CHECK: std::time::Duration = std::time::Duration::from_millis(500);
/// The longest wait for a moment between health checks.
const HEALTH_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Returns once no exec runs in `container` (a health check's, or one
/// mono's own health probe left going) and its next health check is not
/// due within [`BEFORE_NEXT_CHECK`]: freezing a container while an exec is
/// starting in it deadlocks runc (seen with runc 1.1 on cgroup v1: the
/// exec holds the container's lock, frozen, and the resume waits for it),
/// which leaves the container paused for good. The Engine starts the next
/// check an interval after the last one ended and refuses execs while the
/// container is paused, so the moment right after a check is safe.
async fn between_health_checks(engine: &Engine, container: &str) -> Result<(), EngineError> {
    let deadline = tokio::time::Instant::now() + HEALTH_WAIT;
    // Subscribed first: a check that ends while we look is not missed.
    let filters = HashMap::from([
        ("type", vec!["container"]),
        ("container", vec![container]),
        ("event", vec!["exec_die"]),
    ]);
    let options = bollard::query_parameters::EventsOptionsBuilder::new().filters(&filters).build();
    let mut events = engine.docker.events(Some(options));
    loop {
        let info = engine
            .docker
            .inspect_container(container, None::<bollard::query_parameters::InspectContainerOptions>)
            .await
            .map_err(EngineError::api(format!("inspect {container}")))?;
        // Execs running or starting now (a health check's, or anyone's):
        // waited for. One created and never started does not count.
        let mut running = false;
        for id in info.exec_ids.iter().flatten() {
            if engine.docker.inspect_exec(id).await.is_ok_and(|e| e.running == Some(true)) {
                running = true;
                break;
            }
        }
        let check = info
            .config
            .and_then(|c| c.healthcheck)
            .filter(|h| h.test.as_ref().is_some_and(|t| !t.is_empty() && t[0] != "NONE"));
        let nanos = |v: Option<i64>, default: u64| {
            std::time::Duration::from_nanos(v.filter(|n| *n > 0).map_or(default, |n| n as u64))
        };
        let (interval, timeout) = match &check {
            Some(c) => (nanos(c.interval, 30_000_000_000), nanos(c.timeout, 30_000_000_000)),
            None => (std::time::Duration::ZERO, std::time::Duration::from_secs(30)),
        };
        let last_end = info
            .state
            .and_then(|s| s.health)
            .and_then(|h| h.log)
            .and_then(|log| log.last().and_then(|r| r.end.clone()))
            .and_then(|end| end.parse::<jiff::Timestamp>().ok());
        let next_far = match (&check, last_end) {
            (None, _) => true,
            (Some(_), Some(end)) => {
                jiff::Timestamp::now().duration_since(end).unsigned_abs() + BEFORE_NEXT_CHECK < interval
            }
            (Some(_), None) => false,
        };
        if !running && next_far {
            return Ok(());
        }
        // A check runs or is about to: once it ends, a whole interval is free.
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            tracing::warn!(container, "no moment between health checks found; pausing anyway");
            return Ok(());
        }
        let _ = tokio::time::timeout(left.min(interval + timeout), events.next()).await;
    }
}

/// Resumes what [`pause`] paused; each is tried.
pub async fn unpause(engine: &Engine, containers: &[String]) -> Result<(), EngineError> {
    let mut first = Ok(());
    for c in containers {
        if let Err(e) = engine.docker.unpause_container(c).await
            && first.is_ok()
        {
            first = Err(EngineError::api(format!("resume {c}"))(e));
        }
    }
    first
}

fn hex(h: Sha256) -> String {
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
