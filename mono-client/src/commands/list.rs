//! `mono list`.

use mono_proto::EnvInfo;
use mono_proto::methods::{ENV_LIST, NoParams};

use crate::connect::Endpoint;
use crate::render;

/// Lists every environment.
pub fn run(json: bool) -> anyhow::Result<()> {
    let envs: Vec<EnvInfo> = Endpoint::from_env()?.query(ENV_LIST, NoParams {})?;
    if json {
        render::json(&envs);
    } else if envs.is_empty() {
        println!("no environments; `mono init PATH` creates one");
    } else {
        render::table(&envs);
    }
    Ok(())
}
