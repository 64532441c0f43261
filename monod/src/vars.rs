//! The environment that scripts and the tmux session see: the caller's
//! variables, then mono's `MONO_*` variables, then `mono.yml`'s `env:`
//! (expanded in file order from everything before it).

use std::collections::BTreeMap;
use std::path::Path;

use mono_proto::CallerEnv;

use crate::config::MonoConfig;
use mono_compose::interpolate::{InterpolateError, interpolate};

/// Variables of the caller that must not leak into scripts or sessions:
/// they would point tmux at the caller's server or pane.
const NOT_FORWARDED: [&str; 2] = ["TMUX", "TMUX_PANE"];

/// Identity of an environment, as its `MONO_*` variables.
pub struct MonoVars<'a> {
    /// `MONO_ENV_NAME`.
    pub name: &'a str,
    /// `MONO_ENV_ID`.
    pub id: u32,
    /// `MONO_ENV_PATH`.
    pub path: &'a str,
    /// `MONO_DATA_DIR`.
    pub data_dir: &'a Path,
    /// Docker mode: `MONO_<SERVICE>_PORT*`.
    pub ports: &'a [(String, String)],
    /// `MONO_PORT` (simple mode), `MONO_URL` and `MONO_<SERVICE>_URL`.
    pub urls: &'a [(String, String)],
}

impl MonoVars<'_> {
    /// Every `MONO_*` variable of the environment.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut v = vec![
            ("MONO_ENV_NAME".to_string(), self.name.to_string()),
            ("MONO_ENV_ID".to_string(), self.id.to_string()),
            ("MONO_ENV_PATH".to_string(), self.path.to_string()),
            ("MONO_DATA_DIR".to_string(), self.data_dir.to_string_lossy().into_owned()),
        ];
        v.extend(self.ports.iter().cloned());
        v.extend(self.urls.iter().cloned());
        v
    }
}

/// A failure to expand `env.<key>`.
#[derive(Debug)]
pub struct VarError {
    /// The variable being defined.
    pub key: String,
    /// What is wrong.
    pub source: InterpolateError,
}

/// Builds the full environment, sorted by name.
pub fn environment(
    caller: &CallerEnv,
    mono: &MonoVars<'_>,
    config: &MonoConfig,
) -> Result<Vec<(String, String)>, VarError> {
    let mut env: BTreeMap<String, String> = caller
        .iter()
        .filter(|(k, _)| !NOT_FORWARDED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.extend(mono.pairs());
    for (key, raw) in &config.env {
        let lookup = |name: &str| env.get(name).cloned();
        let value = interpolate(raw, &lookup).map_err(|source| VarError { key: key.clone(), source })?.value;
        env.insert(key.clone(), value);
    }
    Ok(env.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_and_expands_in_order() {
        let mut caller = CallerEnv::new();
        caller.insert("HOME".into(), "/home/u".into());
        caller.insert("TMUX".into(), "/tmp/tmux-0/default,1,0".into());
        let config = MonoConfig {
            env: vec![
                ("APP_HOME".into(), "${MONO_DATA_DIR}/app".into()),
                ("URL".into(), "http://127.0.0.1:$((3000))/${MONO_ENV_NAME}".into()),
                ("NESTED".into(), "${APP_HOME}:${HOME}".into()),
            ],
            ..Default::default()
        };
        let ports = [("MONO_WEB_PORT".to_string(), "19300".to_string())];
        let mono = MonoVars {
            name: "shop-a",
            id: 3,
            path: "/w/a",
            data_dir: Path::new("/m/data/shop-a"),
            ports: &ports,
            urls: &[],
        };
        let env: BTreeMap<_, _> = environment(&caller, &mono, &config).unwrap().into_iter().collect();
        assert_eq!(env["APP_HOME"], "/m/data/shop-a/app");
        assert_eq!(env["URL"], "http://127.0.0.1:$((3000))/shop-a");
        assert_eq!(env["NESTED"], "/m/data/shop-a/app:/home/u");
        assert_eq!(env["MONO_ENV_ID"], "3");
        assert!(!env.contains_key("TMUX"));
        assert_eq!(env["MONO_WEB_PORT"], "19300");
    }
}
