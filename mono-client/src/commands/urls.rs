//! `mono urls [PATH]` and `mono open [PATH] [SERVICE]`: the named URLs
//! monod's router serves (`http://<service>.<env>.localhost:19000/`).

use std::path::Path;

use anyhow::{Context, bail};
use mono_proto::methods::{ENV_LIST, ENV_STATUS, EnvStatusParams, NoParams};
use mono_proto::{EnvInfo, EnvUrl};

use crate::connect::Endpoint;
use crate::render;
use crate::workspace::{Existence, resolve};

/// Lists the URLs of one environment, or of every one without `path`.
pub fn list(path: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let endpoint = Endpoint::from_env()?;
    let envs: Vec<EnvInfo> = match path {
        Some(_) => {
            let path = resolve(path, Existence::Optional)?;
            vec![endpoint.query(ENV_STATUS, EnvStatusParams { path })?]
        }
        None => endpoint.query(ENV_LIST, NoParams {})?,
    };
    if json {
        let rows: Vec<serde_json::Value> = envs
            .iter()
            .flat_map(|e| e.urls.iter().map(move |u| serde_json::json!({"env": e.name, "service": u.service, "url": u.url, "port": u.port})))
            .collect();
        render::json(&rows);
        return Ok(());
    }
    if envs.iter().all(|e| e.urls.is_empty()) {
        if envs.is_empty() {
            println!("no environments; `mono init PATH` creates one");
        } else {
            println!(
                "no URLs: the router is off (router.enabled in monod.yml) or no service publishes a port"
            );
        }
        return Ok(());
    }
    for e in &envs {
        for u in &e.urls {
            let what = u.service.as_deref().unwrap_or("(entry point)");
            println!("{:<24} {:<14} {:<48} -> 127.0.0.1:{}", e.name, what, u.url, u.port);
        }
    }
    Ok(())
}

/// Opens the environment's URL (or its `service`'s) in the browser.
pub fn open(path: Option<&Path>, service: Option<&str>) -> anyhow::Result<()> {
    let path = resolve(path, Existence::Optional)?;
    let info: EnvInfo = Endpoint::from_env()?.query(ENV_STATUS, EnvStatusParams { path })?;
    let url = pick(&info, service)?;
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let status = std::process::Command::new(opener)
        .arg(&url.url)
        .status()
        .with_context(|| format!("cannot run {opener} to open {}", url.url))?;
    if !status.success() {
        bail!("{opener} {} failed ({status})", url.url);
    }
    println!("opened {}", url.url);
    Ok(())
}

/// The URL of `service`, or the entry point (else the first service's).
fn pick<'a>(info: &'a EnvInfo, service: Option<&str>) -> anyhow::Result<&'a EnvUrl> {
    if info.urls.is_empty() {
        bail!(
            "{} has no URLs: the router is off (router.enabled in monod.yml) or no service publishes a port",
            info.name
        );
    }
    let known = || info.urls.iter().filter_map(|u| u.service.as_deref()).collect::<Vec<_>>().join(", ");
    match service {
        Some(s) => info
            .urls
            .iter()
            .find(|u| u.service.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(s)))
            .with_context(|| format!("{} has no service {s:?} with a URL (it has: {})", info.name, known())),
        None => Ok(info.urls.iter().find(|u| u.service.is_none()).unwrap_or(&info.urls[0])),
    }
}
