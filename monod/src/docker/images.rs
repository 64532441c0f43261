//! Making every service's image available: inspect, pull what is missing
//! (progress reported per layer status, not per byte), build `build:`
//! services from a tar of their context (what `.dockerignore` leaves in,
//! module [`super::build_context`]).
//!
//! Built images are part of the dependency cache: each carries the label
//! [`CACHE_LABEL`] with a hash of the context sent (every file's bytes, as
//! sent to the Engine) and build options, and a build whose hash an image
//! already has reuses that image (tagged for the service) instead of
//! building again.

use std::collections::HashMap;

use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateImageOptionsBuilder, ListImagesOptionsBuilder, RemoveImageOptionsBuilder,
    TagImageOptionsBuilder,
};
use futures_util::StreamExt;

use super::build_context::{Context, ContextError};
use super::engine::{Engine, EngineError, is_not_found};
use crate::compose::{BuildPlan, ImageSource, Plan};
use crate::progress::Progress;

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

/// `docker pull`, with one progress line per layer status change.
async fn pull(engine: &Engine, service: &str, image: &str, progress: &Progress) -> Result<(), EngineError> {
    progress.step(format!("pulling {image} for {service}"));
    let (name, tag) = split_tag(image);
    let options = CreateImageOptionsBuilder::new().from_image(name).tag(tag).build();
    let mut stream = engine.docker.create_image(Some(options), None, None);
    let mut last: HashMap<String, String> = HashMap::new();
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| EngineError::Image {
            service: service.to_string(),
            what: format!("pull of {image}"),
            message: e.to_string(),
        })?;
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            return Err(EngineError::Image {
                service: service.into(),
                what: format!("pull of {image}"),
                message: err,
            });
        }
        let Some(status) = info.status else { continue };
        // Byte-level progress would flood the log; keep status changes.
        if status.starts_with("Downloading") || status.starts_with("Extracting") || status == "Waiting" {
            continue;
        }
        let id = info.id.unwrap_or_default();
        if last.get(&id) != Some(&status) {
            progress.step(format!(
                "pull {image}: {}{status}",
                if id.is_empty() { String::new() } else { format!("{id} ") }
            ));
            last.insert(id, status);
        }
    }
    Ok(())
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
    use super::split_tag;

    #[test]
    fn tags_are_split_from_references() {
        assert_eq!(split_tag("nginx"), ("nginx", "latest"));
        assert_eq!(split_tag("mariadb:10-focal"), ("mariadb", "10-focal"));
        assert_eq!(split_tag("127.0.0.1:5000/app"), ("127.0.0.1:5000/app", "latest"));
        assert_eq!(split_tag("127.0.0.1:5000/app:v2"), ("127.0.0.1:5000/app", "v2"));
        assert_eq!(split_tag("x@sha256:abc"), ("x@sha256:abc", ""));
    }
}
