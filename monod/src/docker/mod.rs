//! Docker mode: applying an isolated compose [`Plan`](mono_compose::Plan)
//! through the Engine API (bollard), tearing a project down, and reading the
//! state of every environment's containers.
//!
//! No `docker compose` binary is involved. Every object mono creates carries
//! the compose labels of its project, so `docker compose ps/down -p NAME`
//! see a normal compose project, and mono's own labels `dev.mono.home` and
//! `dev.mono.env`, by which teardown finds what to remove (also what a
//! crash or a person left half-made) and which say whether an object of a
//! taken name may be used at all ([`ownership`]).

mod apply;
pub mod availability;
mod build_context;
pub mod cli_config;
pub mod context;
pub mod credentials;
mod dockerignore;
pub mod endpoint;
mod engine;
pub mod images;
pub mod logs;
pub mod owned;
pub mod ownership;
mod probe;
pub mod seed;
pub mod seed_base;
mod status;
mod teardown;
mod watch;

pub use apply::{apply, check_names, create_volume};
pub use endpoint::Endpoint;
pub use engine::{Engine, EngineError};
pub use ownership::EnvLabels;
pub use status::{ContainerState, Published, project_containers};
pub use teardown::{leftovers, teardown};
pub use watch::{Watched, watch_containers};

/// The label that marks an object as a compose project's.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
/// The label listing a container's dependencies (`db:service_healthy:false,...`).
pub const DEPENDS_ON_LABEL: &str = "com.docker.compose.depends_on";
/// The label naming a container's service.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
