//! Docker mode: applying an isolated compose [`Plan`](crate::compose::Plan)
//! through the Engine API (bollard), tearing a project down, and reading the
//! state of every environment's containers.
//!
//! No `docker compose` binary is involved. Every object mono creates carries
//! the compose labels of its project, so teardown finds what to remove by
//! label (also what a crash or a person left half-made), and `docker compose
//! ps/down -p NAME` see a normal compose project.

mod apply;
mod engine;
pub mod images;
pub mod owned;
mod status;
mod teardown;
mod watch;

pub use apply::apply;
pub use engine::{Engine, EngineError};
pub use status::{ContainerState, project_containers};
pub use teardown::teardown;
pub use watch::watch_containers;

/// The label that marks an object as a compose project's.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
/// The label naming a container's service.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
