//! Copy-on-write restores of seeded volumes. A snapshot's archive is
//! unpacked once per engine into a *base* volume; each environment's
//! volume is then an overlay (the local driver's `type=overlay`) whose
//! lower layer is the base and whose upper layer lives in a volume of the
//! environment's own. A restore costs a few Engine calls, not a copy of
//! the data; writes land in the environment's upper layer, so neither the
//! base nor any other environment sees them.
//!
//! Bases are named and labelled by the archive's SHA-256 (a re-captured
//! snapshot gets a new base) and marked complete only once fully unpacked,
//! so an interrupted fill is started over. They carry the home in a label
//! of their own, not `dev.mono.home`: a base is no environment's, and the
//! sweeps of a home's objects must not take it. Environment volumes made
//! over a base name it in [`LOWER_LABEL`], which keeps it from
//! [`prune`]. Where the Engine cannot mount an overlay (a rootless
//! engine, say), [`overlay`] says so and the caller copies instead.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::{
    ContainerArchiveInfoOptionsBuilder, ListVolumesOptionsBuilder, UploadToContainerOptionsBuilder,
};
use mono_compose::VolumePlan;

use super::engine::{Engine, EngineError, is_not_found};
use super::ownership::EnvLabels;
use super::seed::{Helper, upload};

/// On a base: the SHA-256 of the archive it holds.
pub const BASE_LABEL: &str = "dev.mono.seed.base";
/// On a base: the home whose snapshot it is.
pub const BASE_HOME_LABEL: &str = "dev.mono.seed.home";
/// On an environment's volume made over a base: the base's name.
pub const LOWER_LABEL: &str = "dev.mono.seed.lower";
/// The archive's top directory (see [`super::seed::MOUNT`]), inside a base.
const CONTENT: &str = "mono-seed";
/// The file that says a base is complete, beside [`CONTENT`].
const COMPLETE: &str = "mono-seed.complete";

/// Fills of bases, one at a time in this daemon (two inits of one key
/// would otherwise unpack into one volume at once), and never during a
/// [`prune`].
static FILLS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The base volume of the archive `sha256`.
pub fn base_name(sha256: &str) -> String {
    format!("mono-seed-{}", &sha256[..sha256.len().min(32)])
}

/// What [`overlay`] did.
#[derive(Debug)]
pub enum Outcome {
    /// The volume is an overlay over the base.
    Overlaid,
    /// The archive's bytes are not `sha256`: a damaged snapshot (no base kept).
    Damaged,
    /// This engine cannot mount the overlay (why); nothing of it is left.
    Unsupported(String),
}

/// Whether `vol` can be an overlay: a plain local volume of the project.
pub fn can_overlay(vol: &VolumePlan) -> bool {
    !vol.external && vol.driver.as_deref().is_none_or(|d| d == "local") && vol.driver_opts.is_empty()
}

/// Creates `vol` (the environment's, not there yet) as an overlay over the
/// base of `archive` (hex SHA-256 `sha256`), filling the base first when
/// this engine has none. `image` is one the Engine has.
pub async fn overlay(
    engine: &Engine,
    env: EnvLabels<'_>,
    vol: &VolumePlan,
    image: &str,
    archive: &Path,
    sha256: &str,
) -> Result<Outcome, EngineError> {
    let Some(lower) = ensure_base(engine, env, image, archive, sha256).await? else {
        return Ok(Outcome::Damaged);
    };
    let base = base_name(sha256);
    let root = root_attrs(archive);
    // The upper layer: a volume of the environment's (removed with it).
    let upper_name = format!("{}-seed-upper", vol.name);
    let env_labels: HashMap<String, String> = [
        (mono_compose::MONO_HOME_LABEL, env.home),
        (mono_compose::MONO_ENV_LABEL, env.project),
        (super::PROJECT_LABEL, env.project),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let upper = create(engine, &upper_name, env_labels, None).await?;
    if !env.owns(Some(&upper.labels)) {
        return Err(EngineError::Conflict {
            what: format!("volume {upper_name} exists and is not this environment's"),
        });
    }
    let helper = Helper::with_mounts(engine, env, &[(&upper_name, "/u", false)], image).await?;
    let dirs = layer_dirs(root);
    let options = UploadToContainerOptionsBuilder::new().path("/u").build();
    let made = engine
        .docker
        .upload_to_container(&helper.id, Some(options), bollard::body_full(dirs.into()))
        .await
        .map_err(EngineError::api(format!("prepare volume {upper_name}")));
    helper.remove().await?;
    made?;
    let up = PathBuf::from(&upper.mountpoint);
    // metacopy: a rename or chmod of a lower file (a database recycling
    // its log segments) copies its metadata up, not its data.
    let o = format!(
        "lowerdir={},upperdir={},workdir={},redirect_dir=on,metacopy=on",
        lower.display(),
        up.join("upper").display(),
        up.join("work").display()
    );
    let mut labels: HashMap<String, String> = vol.labels.clone().into_iter().collect();
    labels.insert(LOWER_LABEL.to_string(), base.clone());
    let opts = HashMap::from([
        ("type".to_string(), "overlay".to_string()),
        ("device".to_string(), "overlay".to_string()),
        ("o".to_string(), o),
    ]);
    let made = create(engine, &vol.name, labels, Some(opts)).await?;
    if !env.owns(Some(&made.labels)) {
        return Err(EngineError::Conflict {
            what: format!("volume {} exists and is not this environment's", vol.name),
        });
    }
    // The Engine mounts a created container's volumes for an archive
    // request: whether the overlay mounts is known before any service
    // depends on it.
    let probe = Helper::with_mounts(engine, env, &[(&vol.name, "/v", true)], image).await?;
    let options = ContainerArchiveInfoOptionsBuilder::new().path("/v").build();
    let mounted = engine.docker.get_container_archive_info(&probe.id, Some(options)).await;
    probe.remove().await?;
    if let Err(e) = mounted {
        for name in [&vol.name, &upper_name] {
            engine
                .docker
                .remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>)
                .await
                .map_err(EngineError::api(format!("remove volume {name}")))?;
        }
        return Ok(Outcome::Unsupported(e.to_string()));
    }
    Ok(Outcome::Overlaid)
}

/// The lower directory of the base of `sha256`, filled from `archive`
/// when this engine has no complete one; `None` when the archive's bytes
/// are not `sha256`.
pub async fn ensure_base(
    engine: &Engine,
    env: EnvLabels<'_>,
    image: &str,
    archive: &Path,
    sha256: &str,
) -> Result<Option<PathBuf>, EngineError> {
    let _fill = FILLS.lock().await;
    let name = base_name(sha256);
    match engine.docker.inspect_volume(&name).await {
        Ok(v) => {
            let label = |k: &str| v.labels.get(k).map(String::as_str);
            if label(BASE_LABEL) != Some(sha256) || label(BASE_HOME_LABEL) != Some(env.home) {
                return Err(EngineError::Conflict {
                    what: format!("volume {name} exists and is not this home's seed base"),
                });
            }
            if complete(engine, env, &name, image).await? {
                return Ok(Some(PathBuf::from(&v.mountpoint).join(CONTENT)));
            }
            // An interrupted fill: started over.
            remove(engine, &name).await?;
        }
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(EngineError::api(format!("inspect volume {name}"))(e)),
    }
    let labels = HashMap::from([
        (BASE_LABEL.to_string(), sha256.to_string()),
        (BASE_HOME_LABEL.to_string(), env.home.to_string()),
    ]);
    let made = create(engine, &name, labels, None).await?;
    let file = std::fs::File::open(archive)
        .map_err(|e| EngineError::Conflict { what: format!("cannot read {}: {e}", archive.display()) })?;
    let helper = Helper::with_mounts(engine, env, &[(&name, "/b", false)], image).await?;
    let (sent, uploaded) = upload(engine, &helper.id, "/b", file, &name).await;
    let marked = match (&uploaded, sent == sha256) {
        (Ok(()), true) => {
            let options = UploadToContainerOptionsBuilder::new().path("/b").build();
            engine
                .docker
                .upload_to_container(&helper.id, Some(options), bollard::body_full(marker().into()))
                .await
                .map_err(EngineError::api(format!("complete volume {name}")))
        }
        _ => Ok(()),
    };
    helper.remove().await?;
    if sent != sha256 {
        remove(engine, &name).await?;
        return Ok(None);
    }
    uploaded?;
    marked?;
    Ok(Some(PathBuf::from(&made.mountpoint).join(CONTENT)))
}

/// Whether the base `name` holds its completion mark.
async fn complete(engine: &Engine, env: EnvLabels<'_>, name: &str, image: &str) -> Result<bool, EngineError> {
    let helper = Helper::with_mounts(engine, env, &[(name, "/b", true)], image).await?;
    let options = ContainerArchiveInfoOptionsBuilder::new().path(&format!("/b/{COMPLETE}")).build();
    let found = engine.docker.get_container_archive_info(&helper.id, Some(options)).await;
    helper.remove().await?;
    match found {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(EngineError::api(format!("look into volume {name}"))(e)),
    }
}

/// Creates the local volume `name` (the Engine hands back an existing one
/// of that name as it is: callers check its labels).
async fn create(
    engine: &Engine,
    name: &str,
    labels: HashMap<String, String>,
    driver_opts: Option<HashMap<String, String>>,
) -> Result<bollard::models::Volume, EngineError> {
    let request = VolumeCreateRequest {
        name: Some(name.to_string()),
        driver: Some("local".to_string()),
        driver_opts,
        labels: Some(labels),
        ..Default::default()
    };
    engine.docker.create_volume(request).await.map_err(EngineError::api(format!("create volume {name}")))
}

async fn remove(engine: &Engine, name: &str) -> Result<(), EngineError> {
    match engine.docker.remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>).await {
        Err(e) if !is_not_found(&e) => Err(EngineError::api(format!("remove volume {name}"))(e)),
        _ => Ok(()),
    }
}

/// Removes this home's bases on `engine` whose archive is not in `keep`
/// and that no volume is made over; returns their names.
pub async fn prune(engine: &Engine, home: &str, keep: &HashSet<String>) -> Result<Vec<String>, EngineError> {
    let _fills = FILLS.lock().await;
    let bases = labelled(engine, &format!("{BASE_HOME_LABEL}={home}")).await?;
    let mut removed = Vec::new();
    for base in bases {
        if base.labels.get(BASE_LABEL).is_some_and(|sha| keep.contains(sha)) {
            continue;
        }
        if labelled(engine, &format!("{LOWER_LABEL}={}", base.name)).await?.is_empty() {
            remove(engine, &base.name).await?;
            removed.push(base.name);
        }
    }
    Ok(removed)
}

/// The volumes labelled `label` (`key=value`).
async fn labelled(engine: &Engine, label: &str) -> Result<Vec<bollard::models::Volume>, EngineError> {
    let filters = HashMap::from([("label", vec![label.to_string()])]);
    let listed = engine
        .docker
        .list_volumes(Some(ListVolumesOptionsBuilder::new().filters(&filters).build()))
        .await
        .map_err(EngineError::api(format!("list volumes labelled {label}")))?;
    Ok(listed.volumes.unwrap_or_default())
}

/// Owner, group and mode of the archive's top directory (the volume's
/// root when it was captured): an overlay's root is its upper layer's, and
/// a database refuses a data directory of the wrong owner.
#[derive(Debug, Clone, Copy)]
struct RootAttrs {
    uid: u64,
    gid: u64,
    mode: u32,
}

fn root_attrs(archive: &Path) -> RootAttrs {
    let fallback = RootAttrs { uid: 0, gid: 0, mode: 0o755 };
    let Ok(file) = std::fs::File::open(archive) else { return fallback };
    let mut tar = tar::Archive::new(file);
    let Ok(mut entries) = tar.entries() else { return fallback };
    match entries.next() {
        Some(Ok(e)) => RootAttrs {
            uid: e.header().uid().unwrap_or(0),
            gid: e.header().gid().unwrap_or(0),
            mode: e.header().mode().unwrap_or(0o755),
        },
        _ => fallback,
    }
}

/// A tar of the overlay's `upper/` (with the root's owner and mode) and
/// `work/` directories.
fn layer_dirs(root: RootAttrs) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, attrs) in [("upper/", root), ("work/", RootAttrs { uid: 0, gid: 0, mode: 0o700 })] {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_path(name).expect("a short path");
        h.set_uid(attrs.uid);
        h.set_gid(attrs.gid);
        h.set_mode(attrs.mode);
        h.set_size(0);
        h.set_cksum();
        b.append(&h, std::io::empty()).expect("writing to memory");
    }
    b.into_inner().unwrap_or_default()
}

/// A tar of the empty [`COMPLETE`] file.
fn marker() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_path(COMPLETE).expect("a short path");
    h.set_mode(0o600);
    h.set_size(0);
    h.set_cksum();
    b.append(&h, std::io::empty()).expect("writing to memory");
    b.into_inner().unwrap_or_default()
}
