//! The floor for the real-stack benchmark (Postgres, Redis, a worker that
//! waits for both): the Engine calls that stack needs, made directly and in
//! parallel, with the readiness of db and cache known as soon as possible
//! (their health check run through exec every 20 ms, no Engine interval),
//! and nothing else around them. What no tool can go below on this Engine.
//!
//! ```text
//! stack_floor up PROJECT IMAGE   # create, start, wait, start the worker
//! stack_floor down PROJECT       # kill and remove
//! ```

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, Mount, MountType, NetworkCreateRequest,
    NetworkingConfig, PortBinding, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, KillContainerOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptions,
};
use futures_util::StreamExt;
use futures_util::future::try_join_all;

/// Service, command (None: the image's), published port, health check.
type Service =
    (&'static str, Option<&'static [&'static str]>, Option<(u16, u16)>, Option<&'static [&'static str]>);

const SERVICES: [Service; 3] = [
    ("db", None, Some((5432, 18532)), Some(&["pg_isready", "-h", "127.0.0.1", "-U", "postgres"])),
    (
        "cache",
        Some(&["redis-server", "--protected-mode", "no", "--save", ""]),
        Some((6379, 18579)),
        Some(&["redis-cli", "ping"]),
    ),
    ("worker", Some(&["sh", "-c", "while :; do sleep 1; done"]), None, None),
];

fn container(project: &str, image: &str, service: &Service) -> ContainerCreateBody {
    let (name, cmd, port, _) = service;
    let network = format!("{project}_default");
    let ports = port.map(|(inside, outside)| {
        HashMap::from([(
            format!("{inside}/tcp"),
            Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(outside.to_string()),
            }]),
        )])
    });
    let mounts = (*name == "db").then(|| {
        vec![Mount {
            target: Some("/var/lib/postgresql/data".into()),
            source: Some(format!("{project}_pgdata")),
            typ: Some(MountType::VOLUME),
            ..Default::default()
        }]
    });
    ContainerCreateBody {
        image: Some(image.into()),
        cmd: cmd.map(|c| c.iter().map(|s| s.to_string()).collect()),
        labels: Some(HashMap::from([("dev.mono.bench".to_string(), project.to_string())])),
        stop_signal: (*name == "db").then(|| "SIGINT".to_string()),
        host_config: Some(HostConfig {
            port_bindings: ports,
            mounts,
            network_mode: Some(network.clone()),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network,
                EndpointSettings { aliases: Some(vec![name.to_string()]), ..Default::default() },
            )])),
        }),
        ..Default::default()
    }
}

/// Runs `argv` in `container` every 20 ms until it exits 0.
async fn ready(docker: &Docker, container: &str, argv: &[&str]) -> Result<(), bollard::errors::Error> {
    loop {
        let exec = docker
            .create_exec(
                container,
                CreateExecOptions::<String> {
                    cmd: Some(argv.iter().map(|s| s.to_string()).collect()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await?;
        let options = StartExecOptions { detach: false, tty: false, output_capacity: None };
        if let StartExecResults::Attached { mut output, .. } =
            docker.start_exec(&exec.id, Some(options)).await?
        {
            while output.next().await.is_some() {}
        }
        if docker.inspect_exec(&exec.id).await?.exit_code == Some(0) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn up(docker: &Docker, project: &str, image: &str) -> Result<(), bollard::errors::Error> {
    let network = NetworkCreateRequest { name: format!("{project}_default"), ..Default::default() };
    let volume = VolumeCreateRequest { name: Some(format!("{project}_pgdata")), ..Default::default() };
    tokio::try_join!(docker.create_network(network), docker.create_volume(volume))?;
    try_join_all(SERVICES.iter().map(|s| {
        let name = format!("{project}-{}-1", s.0);
        async move {
            let options = CreateContainerOptionsBuilder::new().name(&name).build();
            docker.create_container(Some(options), container(project, image, s)).await
        }
    }))
    .await?;
    try_join_all(SERVICES.iter().filter_map(|(name, _, _, check)| {
        let check = (*check)?;
        let container = format!("{project}-{name}-1");
        Some(async move {
            docker.start_container(&container, None).await?;
            ready(docker, &container, check).await
        })
    }))
    .await?;
    docker.start_container(&format!("{project}-worker-1"), None).await
}

async fn down(docker: &Docker, project: &str) -> Result<(), bollard::errors::Error> {
    try_join_all(SERVICES.iter().map(|s| async move {
        let name = format!("{project}-{}-1", s.0);
        let _ = docker
            .kill_container(&name, Some(KillContainerOptionsBuilder::new().signal("KILL").build()))
            .await;
        docker
            .remove_container(&name, Some(RemoveContainerOptionsBuilder::new().force(true).v(true).build()))
            .await
    }))
    .await?;
    docker.remove_network(&format!("{project}_default")).await?;
    docker.remove_volume(&format!("{project}_pgdata"), None::<RemoveVolumeOptions>).await
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let docker = Docker::connect_with_local_defaults()?.negotiate_version().await?;
    match args.get(1).map(String::as_str) {
        Some("up") if args.len() == 4 => up(&docker, &args[2], &args[3]).await?,
        Some("down") if args.len() == 3 => down(&docker, &args[2]).await?,
        _ => return Err("usage: stack_floor up PROJECT IMAGE | down PROJECT".into()),
    }
    Ok(())
}
