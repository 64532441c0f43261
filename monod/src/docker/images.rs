//! Making every service's image available: inspect, pull what is missing
//! (with the caller's registry login; progress lines per layer status, not
//! per byte, and `image.pull` events), build `build:` services from a tar
//! of their context (what `.dockerignore` leaves in, module
//! [`super::build_context`]).
//!
//! Built images are part of the dependency cache: each carries the label
//! [`CACHE_LABEL`] with a hash of the context sent (every file's bytes, as
//! sent to the Engine) and build options, and a build whose hash an image
//! already has reuses that image (tagged for the service) instead of
//! building again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateImageOptionsBuilder, ListImagesOptionsBuilder, RemoveImageOptionsBuilder,
    TagImageOptionsBuilder,
};
use futures_util::StreamExt;

use super::build_context::{Context, ContextError};
use super::credentials;
use super::engine::{Engine, EngineError, is_not_found};
use crate::logs::progress::Progress;
use mono_compose::{BuildPlan, ImageSource, Plan};

/// The label holding a built image's cache key.
pub const CACHE_LABEL: &str = "dev.mono.cache";

/// One build, from the cache's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUse {
    /// The cache key (hex SHA-256 of the context and options).
    pub key: String,
    /// `image <tag>`.
    pub label: String,
    /// Reused (`true`) or built.
    pub hit: bool,
    /// The image's size.
    pub size: u64,
}

/// Pulls or builds whatever the plan's services need and the Engine lacks:
/// distinct images are checked and pulled in parallel, builds run after.
/// Returns what each build did.
pub async fn ensure(engine: &Engine, plan: &Plan, progress: &Progress) -> Result<Vec<ImageUse>, EngineError> {
    let mut images: Vec<(&str, &str)> = Vec::new();
    for service in &plan.services {
        if let ImageSource::Pull(image) = &service.image
            && !images.iter().any(|(i, _)| i == image)
        {
            images.push((image, &service.name));
        }
    }
    futures_util::future::try_join_all(images.into_iter().map(|(image, service)| async move {
        match engine.docker.inspect_image(image).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => pull(engine, service, image, progress).await,
            Err(e) => Err(EngineError::api(format!("inspect image {image}"))(e)),
        }
    }))
    .await?;
    let mut uses = Vec::new();
    for service in &plan.services {
        if let ImageSource::Build(build) = &service.image {
            uses.push(self::build(engine, &service.name, build, progress).await?);
        }
    }
    Ok(uses)
}

/// Images carrying the cache key `key`: `(id, size)`.
pub async fn cached_image(engine: &Engine, key: &str) -> Result<Option<(String, u64)>, EngineError> {
    let filters = HashMap::from([("label", vec![format!("{CACHE_LABEL}={key}")])]);
    let found = engine
        .docker
        .list_images(Some(ListImagesOptionsBuilder::new().filters(&filters).build()))
        .await
        .map_err(EngineError::api("list cached images"))?;
    Ok(found.into_iter().next().map(|i| (i.id, u64::try_from(i.size).unwrap_or(0))))
}

/// Removes the images carrying cache key `key`; `Ok(false)` when a
/// container still uses one.
pub async fn remove_cached(engine: &Engine, key: &str) -> Result<bool, EngineError> {
    while let Some((id, _)) = cached_image(engine, key).await? {
        let options = RemoveImageOptionsBuilder::new().force(true).build();
        match engine.docker.remove_image(&id, Some(options), None).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) if super::engine::is_conflict(&e) => return Ok(false),
            Err(e) => return Err(EngineError::api(format!("remove image {id}"))(e)),
        }
    }
    Ok(true)
}

/// How often a layer's byte counts may be sent as an `image.pull` event.
const PULL_EVENT_INTERVAL: Duration = Duration::from_secs(1);

/// `docker pull`, with the caller's login for the image's registry, one
/// progress line per layer status change, and `image.pull` events (every
/// status change; byte counts at most once per [`PULL_EVENT_INTERVAL`] per
/// layer, so a big pull does not flood their followers; they are live only).
async fn pull(engine: &Engine, service: &str, image: &str, progress: &Progress) -> Result<(), EngineError> {
    progress.step(format!("pulling {image} for {service}"));
    let registry = credentials::registry_of(image);
    let failed = |message: String| EngineError::Image {
        service: service.to_string(),
        what: format!("pull of {image}"),
        message,
    };
    let login = match &engine.logins {
        Some(logins) => logins.for_image(image).await.map_err(|e| failed(e.to_string()))?,
        None => None,
    };
    if login.is_some() {
        progress.step(format!("pull {image}: with the docker login for {registry}"));
    }
    let refused = |message: String| {
        if is_auth_failure(&message) {
            EngineError::Login(Box::new(super::engine::LoginRefused {
                service: service.to_string(),
                image: image.to_string(),
                registry: registry.to_string(),
                fix: if login.is_some() {
                    format!(
                        "the login mono used was refused; run `{}` again",
                        credentials::login_command(registry)
                    )
                } else {
                    format!(
                        "log in with `{}` (as the user who runs mono)",
                        credentials::login_command(registry)
                    )
                },
                message,
            }))
        } else {
            failed(message)
        }
    };
    let (name, tag) = split_tag(image);
    let options = CreateImageOptionsBuilder::new().from_image(name).tag(tag).build();
    let mut stream = engine.docker.create_image(Some(options), None, login.clone());
    let mut throttle = PullThrottle::default();
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| refused(engine_message(e)))?;
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            return Err(refused(err));
        }
        let Some(status) = info.status else { continue };
        let id = info.id.unwrap_or_default();
        let bytes = status.starts_with("Downloading") || status.starts_with("Extracting");
        if !throttle.admit(&id, &status, bytes, Instant::now()) {
            continue;
        }
        let mut data = serde_json::json!({
            "service": service,
            "image": image,
            "layer": (!id.is_empty() && id != tag).then_some(&id),
            "status": status,
        });
        if bytes {
            let detail = info.progress_detail.unwrap_or_default();
            data["current"] = detail.current.into();
            data["total"] = detail.total.into();
        }
        progress.event(mono_proto::event_kinds::IMAGE_PULL, data);
        // Byte-level progress would flood the log; lines are status changes.
        if !bytes && status != "Waiting" {
            let layer = if id.is_empty() { String::new() } else { format!("{id} ") };
            progress.step(format!("pull {image}: {layer}{status}"));
        }
    }
    Ok(())
}

/// Which of a pull's status messages are reported: every status change of
/// a layer (or of the image, id empty), and its byte counts at most once
/// per [`PULL_EVENT_INTERVAL`].
#[derive(Default)]
struct PullThrottle {
    last: HashMap<String, String>,
    bytes_sent: HashMap<String, Instant>,
}

impl PullThrottle {
    /// Whether `status` of layer `id` (a byte count when `bytes`) at `now` is reported.
    fn admit(&mut self, id: &str, status: &str, bytes: bool, now: Instant) -> bool {
        if bytes {
            let due = self.bytes_sent.get(id).is_none_or(|t| now.duration_since(*t) >= PULL_EVENT_INTERVAL);
            if due {
                self.bytes_sent.insert(id.to_string(), now);
            }
            return due;
        }
        if self.last.get(id).is_some_and(|s| s == status) {
            return false;
        }
        self.last.insert(id.to_string(), status.to_string());
        true
    }
}

/// The Engine's own words for a failed request.
fn engine_message(e: bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message,
        e => e.to_string(),
    }
}

/// Whether a pull failed because the registry wants a (valid) login.
fn is_auth_failure(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    ["no basic auth credentials", "unauthorized", "authentication required", "access denied", "docker login"]
        .iter()
        .any(|p| m.contains(p))
}

/// `docker build` through the Engine API, streaming the build's output.
async fn build(
    engine: &Engine,
    service: &str,
    plan: &BuildPlan,
    progress: &Progress,
) -> Result<ImageUse, EngineError> {
    let failed =
        |message: String| EngineError::Image { service: service.into(), what: "build".into(), message };
    let for_context = plan.clone();
    let (tar, key) = tokio::task::spawn_blocking(move || {
        let context = Context::collect(&for_context)?;
        let read = |source| ContextError::Io { path: for_context.context.clone(), source };
        Ok::<_, ContextError>((context.tar().map_err(read)?, context.key(&for_context).map_err(read)?))
    })
    .await
    .map_err(|e| failed(e.to_string()))?
    .map_err(|e| failed(e.to_string()))?;
    let label = format!("image {}", plan.tag);
    if let Some((id, size)) = cached_image(engine, &key).await? {
        let (repo, tag) = split_tag(&plan.tag);
        let options = TagImageOptionsBuilder::new().repo(repo).tag(tag).build();
        engine
            .docker
            .tag_image(&id, Some(options))
            .await
            .map_err(EngineError::api(format!("tag image {}", plan.tag)))?;
        progress.step(format!(
            "cache hit {}: reusing the image built from the same context for {service} as {}",
            &key[..12],
            plan.tag
        ));
        return Ok(ImageUse { key, label, hit: true, size });
    }
    progress.step(format!("building {} for {service} from {}", plan.tag, plan.context.display()));
    let labels = HashMap::from([(CACHE_LABEL, key.as_str())]);
    let mut options = BuildImageOptionsBuilder::new()
        .dockerfile(&plan.dockerfile)
        .t(&plan.tag)
        .rm(true)
        .forcerm(true)
        .labels(&labels);
    if let Some(target) = &plan.target {
        options = options.target(target);
    }
    if !plan.args.is_empty() {
        let args: HashMap<String, String> = plan.args.clone().into_iter().collect();
        options = options.buildargs(&args);
    }
    let mut stream = engine.docker.build_image(options.build(), None, Some(bollard::body_full(tar.into())));
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| failed(e.to_string()))?;
        if let Some(message) = info.error_detail.and_then(|d| d.message) {
            return Err(failed(message));
        }
        if let Some(text) = info.stream {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                progress.output(mono_proto::OpStream::Out, line);
            }
        }
    }
    let size = cached_image(engine, &key).await?.map_or(0, |(_, size)| size);
    Ok(ImageUse { key, label, hit: false, size })
}

/// `repo/name:tag` → (`repo/name`, `tag`), `latest` when untagged; a port in
/// a registry host (`127.0.0.1:5000/x`) is not a tag; digests stay whole.
fn split_tag(image: &str) -> (&str, &str) {
    if image.contains('@') {
        return (image, "");
    }
    match image.rfind(':') {
        Some(i) if !image[i + 1..].contains('/') => (&image[..i], &image[i + 1..]),
        _ => (image, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::{Duration, Instant, PULL_EVENT_INTERVAL, PullThrottle, is_auth_failure, split_tag};

    #[test]
    fn pull_reports_status_changes_and_byte_counts_once_a_second_per_layer() {
        let mut t = PullThrottle::default();
        let t0 = Instant::now();
        assert!(t.admit("a", "Pulling fs layer", false, t0));
        assert!(!t.admit("a", "Pulling fs layer", false, t0), "a repeated status");
        assert!(t.admit("a", "Downloading", true, t0));
        assert!(t.admit("b", "Downloading", true, t0), "per layer");
        let sent = (1..100)
            .filter(|ms| t.admit("a", "Downloading", true, t0 + Duration::from_millis(ms * 10)))
            .count();
        assert_eq!(sent, 0, "within the interval");
        assert!(t.admit("a", "Downloading", true, t0 + PULL_EVENT_INTERVAL));
        assert!(t.admit("a", "Download complete", false, t0), "status changes always");
        assert!(t.admit("", "Digest: sha256:x", false, t0));
    }

    #[test]
    fn login_refusals_are_told_from_other_failures() {
        assert!(is_auth_failure("Head \"http://r:5000/v2/x/manifests/1\": no basic auth credentials"));
        assert!(is_auth_failure(
            "pull access denied for x, repository does not exist or may require 'docker login'"
        ));
        assert!(is_auth_failure("unauthorized: authentication required"));
        assert!(!is_auth_failure("manifest for x:1 not found: manifest unknown"));
    }

    #[test]
    fn tags_are_split_from_references() {
        assert_eq!(split_tag("nginx"), ("nginx", "latest"));
        assert_eq!(split_tag("mariadb:10-focal"), ("mariadb", "10-focal"));
        assert_eq!(split_tag("127.0.0.1:5000/app"), ("127.0.0.1:5000/app", "latest"));
        assert_eq!(split_tag("127.0.0.1:5000/app:v2"), ("127.0.0.1:5000/app", "v2"));
        assert_eq!(split_tag("x@sha256:abc"), ("x@sha256:abc", ""));
    }
}
