//! Making every service's image available: inspect, pull what is missing
//! (progress reported per layer status, not per byte), build `build:`
//! services from a tar of their context.

use std::collections::HashMap;

use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;

use super::engine::{Engine, EngineError, is_not_found};
use crate::compose::{BuildPlan, ImageSource, Plan};
use crate::progress::Progress;

/// Pulls or builds whatever the plan's services need and the Engine lacks:
/// distinct images are checked and pulled in parallel, builds run after.
pub async fn ensure(engine: &Engine, plan: &Plan, progress: &Progress) -> Result<(), EngineError> {
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
    for service in &plan.services {
        if let ImageSource::Build(build) = &service.image {
            self::build(engine, &service.name, build, progress).await?;
        }
    }
    Ok(())
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
) -> Result<(), EngineError> {
    progress.step(format!("building {} for {service} from {}", plan.tag, plan.context.display()));
    let failed =
        |message: String| EngineError::Image { service: service.into(), what: "build".into(), message };
    let context = plan.context.clone();
    let tar = tokio::task::spawn_blocking(move || tar_context(&context))
        .await
        .map_err(|e| failed(e.to_string()))?
        .map_err(|e| failed(format!("cannot read the build context {}: {e}", plan.context.display())))?;
    let mut options =
        BuildImageOptionsBuilder::new().dockerfile(&plan.dockerfile).t(&plan.tag).rm(true).forcerm(true);
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
    Ok(())
}

/// A tar of the build context (symlinks kept as links).
fn tar_context(dir: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.append_dir_all(".", dir)?;
    builder.into_inner()
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
