//! The floor for docker-mode benchmarks: the Engine calls a 3-service
//! project needs (network, volume, three containers, two with published
//! ports), made directly and in parallel, with nothing else around them.
//!
//! ```text
//! engine_floor up PROJECT IMAGE BASE_PORT   # create and start
//! engine_floor down PROJECT                 # stop and remove
//! ```

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, Mount, MountType, NetworkCreateRequest,
    NetworkingConfig, PortBinding, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptions,
};
use futures_util::future::try_join_all;

const SERVICES: [&str; 3] = ["web", "api", "db"];

fn container(project: &str, image: &str, service: &str, port: Option<u16>) -> ContainerCreateBody {
    let network = format!("{project}_default");
    let ports = port.map(|p| {
        HashMap::from([(
            "8080/tcp".to_string(),
            Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(p.to_string()) }]),
        )])
    });
    let mounts = (service == "db").then(|| {
        vec![Mount {
            target: Some("/data".into()),
            source: Some(format!("{project}_data")),
            typ: Some(MountType::VOLUME),
            ..Default::default()
        }]
    });
    ContainerCreateBody {
        image: Some(image.into()),
        cmd: Some(vec!["httpd".into(), "-f".into(), "-p".into(), "8080".into()]),
        labels: Some(HashMap::from([("dev.mono.bench".to_string(), project.to_string())])),
        host_config: Some(HostConfig {
            port_bindings: ports,
            mounts,
            init: Some(true),
            network_mode: Some(network.clone()),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network,
                EndpointSettings { aliases: Some(vec![service.into()]), ..Default::default() },
            )])),
        }),
        ..Default::default()
    }
}

async fn up(docker: &Docker, project: &str, image: &str, base: u16) -> Result<(), bollard::errors::Error> {
    let network = NetworkCreateRequest { name: format!("{project}_default"), ..Default::default() };
    let volume = VolumeCreateRequest { name: Some(format!("{project}_data")), ..Default::default() };
    tokio::try_join!(docker.create_network(network), docker.create_volume(volume))?;
    try_join_all(SERVICES.iter().enumerate().map(|(i, s)| {
        let port = (i < 2).then(|| base + i as u16);
        let name = format!("{project}-{s}-1");
        async move {
            let options = CreateContainerOptionsBuilder::new().name(&name).build();
            docker.create_container(Some(options), container(project, image, s, port)).await
        }
    }))
    .await?;
    try_join_all(
        SERVICES
            .iter()
            .map(|s| async move { docker.start_container(&format!("{project}-{s}-1"), None).await }),
    )
    .await?;
    Ok(())
}

async fn down(docker: &Docker, project: &str) -> Result<(), bollard::errors::Error> {
    try_join_all(SERVICES.iter().map(|s| async move {
        let name = format!("{project}-{s}-1");
        docker.stop_container(&name, None).await?;
        docker
            .remove_container(&name, Some(RemoveContainerOptionsBuilder::new().force(true).v(true).build()))
            .await
    }))
    .await?;
    docker.remove_network(&format!("{project}_default")).await?;
    docker.remove_volume(&format!("{project}_data"), None::<RemoveVolumeOptions>).await
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let docker = Docker::connect_with_local_defaults()?.negotiate_version().await?;
    match args.get(1).map(String::as_str) {
        Some("up") if args.len() == 5 => up(&docker, &args[2], &args[3], args[4].parse()?).await?,
        Some("down") if args.len() == 3 => down(&docker, &args[2]).await?,
        _ => return Err("usage: engine_floor up PROJECT IMAGE BASE_PORT | down PROJECT".into()),
    }
    Ok(())
}
