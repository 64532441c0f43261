//! Whose a Docker object is, from its labels, and what to tell the user when
//! a name the plan needs is taken by an object that is not the
//! environment's.
//!
//! Names are per environment (`mono-<name>_<key>`), but the Engine does not
//! protect them: volume create returns an existing volume of the same name,
//! and network create on API < 1.44 makes a second network of a taken name.
//! The Engine may be shared with another `MONO_HOME` (another user, a test
//! suite, another machine on a remote engine) that has an environment of
//! the same name; a crash or a person may have left one. So every object is
//! checked for `dev.mono.home` and `dev.mono.env` before mono uses or
//! removes it, and teardown finds objects by both labels.

use std::collections::HashMap;

use super::PROJECT_LABEL;
use mono_compose::{MONO_ENV_LABEL, MONO_HOME_LABEL};

/// One environment as its objects' labels name it.
#[derive(Debug, Clone, Copy)]
pub struct EnvLabels<'a> {
    /// The home (`dev.mono.home`).
    pub home: &'a str,
    /// The compose project (`dev.mono.env`, `mono-<name>`).
    pub project: &'a str,
}

impl EnvLabels<'_> {
    /// Engine list filters for the environment's objects.
    pub fn filters(&self) -> HashMap<&'static str, Vec<String>> {
        HashMap::from([(
            "label",
            vec![format!("{MONO_HOME_LABEL}={}", self.home), format!("{MONO_ENV_LABEL}={}", self.project)],
        )])
    }

    /// Whether labels say the object is this environment's.
    pub fn owns(&self, labels: Option<&HashMap<String, String>>) -> bool {
        let label = |key| labels.and_then(|l| l.get(key)).map(String::as_str);
        label(MONO_HOME_LABEL) == Some(self.home) && label(MONO_ENV_LABEL) == Some(self.project)
    }

    /// Who an object that is not this environment's belongs to, and how to
    /// get it out of the way: `(owner, fix)` for
    /// [`EngineError::NotOurs`](super::EngineError::NotOurs).
    pub fn foreign(
        &self,
        kind: &str,
        name: &str,
        labels: Option<&HashMap<String, String>>,
    ) -> (String, String) {
        let label = |key| labels.and_then(|l| l.get(key)).filter(|v| !v.is_empty()).cloned();
        let remove = format!("`docker {kind} rm {name}` removes it if nothing needs it any more");
        match (label(MONO_HOME_LABEL), label(MONO_ENV_LABEL)) {
            (Some(home), env) if home == self.home => {
                let env = env.unwrap_or_else(|| "no environment".to_string());
                let owner = if env == self.project {
                    "it is left over from an earlier environment of this name in this home".to_string()
                } else {
                    format!("it is labelled for {env} of this home")
                };
                (
                    owner,
                    "`mono gc --yes` removes this home's leftovers; then run `mono init` again".to_string(),
                )
            }
            (Some(home), env) => {
                let env = env.map(|e| format!("{e} of ")).unwrap_or_default();
                (format!("it belongs to {env}another mono home ({home})"), remove)
            }
            (None, _) => match label(PROJECT_LABEL) {
                Some(project) => (format!("it belongs to compose project {project}, not to mono"), remove),
                None => ("it was not made by mono".to_string(), remove),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn owners_are_told_apart_by_home_and_environment() {
        let env = EnvLabels { home: "/h", project: "mono-x" };
        let ours = labels(&[(MONO_HOME_LABEL, "/h"), (MONO_ENV_LABEL, "mono-x")]);
        assert!(env.owns(Some(&ours)));
        let other_home = labels(&[(MONO_HOME_LABEL, "/elsewhere"), (MONO_ENV_LABEL, "mono-x")]);
        assert!(!env.owns(Some(&other_home)));
        assert!(!env.owns(None));

        let (owner, fix) = env.foreign("volume", "mono-x_data", Some(&other_home));
        assert_eq!(owner, "it belongs to mono-x of another mono home (/elsewhere)");
        assert!(fix.starts_with("`docker volume rm mono-x_data`"), "{fix}");
        let (owner, fix) = env.foreign("network", "mono-x_default", Some(&ours));
        assert!(owner.contains("left over"), "{owner}");
        assert!(fix.contains("mono gc --yes"), "{fix}");
        let compose = labels(&[(PROJECT_LABEL, "mono-x")]);
        let (owner, _) = env.foreign("container", "mono-x-web-1", Some(&compose));
        assert_eq!(owner, "it belongs to compose project mono-x, not to mono");
        let (owner, fix) = env.foreign("network", "mono-x_default", None);
        assert_eq!(owner, "it was not made by mono");
        assert!(fix.starts_with("`docker network rm mono-x_default`"), "{fix}");
    }
}
