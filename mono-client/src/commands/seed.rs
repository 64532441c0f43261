//! `mono seed refresh [PATH]`.

use std::path::Path;

use mono_proto::SeedRefreshed;
use mono_proto::methods::{SEED_REFRESH, SeedRefreshParams};

use crate::connect::Endpoint;
use crate::render;
use crate::workspace::{Existence, resolve};

/// Drops the snapshot the workspace's environment was seeded from.
pub fn refresh(path: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let path = resolve(path, Existence::Optional)?;
    let done: SeedRefreshed = Endpoint::from_env()?.query(SEED_REFRESH, SeedRefreshParams { path })?;
    if json {
        render::json(&done);
    } else if done.removed {
        println!(
            "dropped seed snapshot {} of {} ({} freed); the next init seeds again",
            &done.key[..12.min(done.key.len())],
            done.name,
            super::cache::size(done.freed)
        );
    } else {
        println!("seed snapshot {} of {} was already gone", &done.key[..12.min(done.key.len())], done.name);
    }
    Ok(())
}
