//! `mono attach [PATH]`: enter the environment's tmux session.

use std::os::unix::process::CommandExt;
use std::path::Path;

use anyhow::bail;
use mono_proto::methods::{ENV_STATUS, EnvStatusParams};
use mono_proto::{EnvInfo, EnvStatus};

use crate::connect::Endpoint;
use crate::workspace::{Existence, resolve};

/// Replaces this process with `tmux attach-session` (or `switch-client`
/// when already inside tmux).
pub fn run(path: Option<&Path>) -> anyhow::Result<()> {
    let path = resolve(path, Existence::Optional)?;
    let info: EnvInfo = Endpoint::from_env()?.query(ENV_STATUS, EnvStatusParams { path })?;
    if info.status != EnvStatus::Running {
        bail!("{}: tmux session {} is not running (status {})", info.name, info.session, info.status);
    }
    let target = format!("={}", info.session);
    let inside = std::env::var_os("TMUX").is_some_and(|v| !v.is_empty());
    let mut cmd = std::process::Command::new("tmux");
    if inside {
        cmd.args(["switch-client", "-t", &target]);
    } else {
        cmd.args(["attach-session", "-t", &target]);
    }
    let err = cmd.exec();
    bail!("cannot run tmux: {err}")
}
