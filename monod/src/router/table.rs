//! Where each name leads: the environments as the router sees them.
//!
//! Built from the state's rows: a simple-mode environment's name leads to
//! the first port of its block (`MONO_PORT`); a docker-mode one's services
//! each to their first published TCP port and its own name to the service
//! `router.default` names (or the only service with a port). The table is
//! rebuilt whenever an environment event says the rows changed, and
//! swapped in whole, so a request sees one consistent table.

use std::collections::BTreeMap;

use mono_proto::{EnvUrl, Mode};

use super::host::{Wanted, url};
use crate::state::{EnvRow, Phase};

/// What one environment's names lead to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvRoutes {
    /// The port `<env>.localhost` reaches, if any.
    pub default: Option<u16>,
    /// `(service, port)`, lower-cased, in the compose file's order.
    pub services: Vec<(String, u16)>,
}

/// Why a name leads nowhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// No environment has this name.
    NoEnv,
    /// The environment has no such service with a published port.
    NoService,
    /// The environment's own name leads nowhere: several services and no
    /// `router.default`.
    NoDefault,
}

/// Every environment's routes, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    envs: BTreeMap<String, EnvRoutes>,
}

impl Table {
    /// The routes of `rows` (environments being destroyed lead nowhere).
    pub fn from_rows(rows: &[EnvRow]) -> Table {
        let envs = rows
            .iter()
            .filter(|r| r.phase != Phase::Destroying)
            .map(|r| (r.name.clone(), routes_of(r)))
            .collect();
        Table { envs }
    }

    /// The port a request for `wanted` goes to.
    pub fn resolve(&self, wanted: &Wanted) -> Result<u16, Miss> {
        let env = self.envs.get(&wanted.env).ok_or(Miss::NoEnv)?;
        match &wanted.service {
            None => env.default.ok_or(Miss::NoDefault),
            Some(s) => {
                env.services.iter().find(|(name, _)| name == s).map(|(_, p)| *p).ok_or(Miss::NoService)
            }
        }
    }

    /// Every environment, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &EnvRoutes)> {
        self.envs.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// The routes of one row.
pub fn routes_of(row: &EnvRow) -> EnvRoutes {
    match row.mode {
        Mode::Simple => EnvRoutes { default: Some(crate::ports::block_start(row.id)), services: Vec::new() },
        Mode::Docker => {
            let services: Vec<(String, u16)> =
                row.routes.services.iter().map(|(s, p)| (s.to_ascii_lowercase(), *p)).collect();
            let default = match &row.routes.default {
                Some(d) => services.iter().find(|(s, _)| s.eq_ignore_ascii_case(d)).map(|(_, p)| *p),
                None => None,
            };
            EnvRoutes { default, services }
        }
    }
}

/// The URLs of environment `name` through a router on `port`: its own
/// (when it leads somewhere), then each service's.
pub fn urls(name: &str, routes: &EnvRoutes, port: u16) -> Vec<EnvUrl> {
    let own = routes.default.map(|target| EnvUrl { service: None, url: url(name, None, port), port: target });
    let services = routes.services.iter().map(|(service, target)| EnvUrl {
        service: Some(service.clone()),
        url: url(name, Some(service), port),
        port: *target,
    });
    own.into_iter().chain(services).collect()
}

/// `MONO_URL` (the entry point) and `MONO_<SERVICE>_URL` of environment
/// `name`, when the router is on (`port`).
pub fn url_vars(name: &str, routes: &EnvRoutes, port: Option<u16>) -> Vec<(String, String)> {
    let Some(port) = port else { return Vec::new() };
    urls(name, routes, port)
        .into_iter()
        .map(|u| match u.service {
            None => ("MONO_URL".to_string(), u.url),
            Some(s) => (url_var(&s), u.url),
        })
        .collect()
}

/// `MONO_<SERVICE>_URL`, named as `MONO_<SERVICE>_PORT` is.
fn url_var(service: &str) -> String {
    let stem = mono_compose::port_var_stem(service);
    format!("{}_URL", stem.strip_suffix("_PORT").unwrap_or(&stem))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Routes;

    fn row(id: u32, name: &str, mode: Mode, routes: Routes) -> EnvRow {
        EnvRow {
            id,
            name: name.to_string(),
            path: format!("/w/{name}"),
            project: "p".into(),
            workspace: name.to_string(),
            mode,
            docker_project: None,
            phase: Phase::Ready,
            created_at: String::new(),
            failure: None,
            docker_endpoint: None,
            seed_key: None,
            routes,
        }
    }

    fn wanted(env: &str, service: Option<&str>) -> Wanted {
        Wanted { env: env.to_string(), service: service.map(str::to_string) }
    }

    #[test]
    fn names_lead_to_the_ports_of_their_environment() {
        let docker = Routes {
            services: vec![("Web".into(), 19201), ("db".into(), 19202)],
            default: Some("web".into()),
        };
        let several = Routes { services: vec![("a".into(), 19301), ("b".into(), 19302)], default: None };
        let mut gone = row(4, "gone", Mode::Simple, Routes::default());
        gone.phase = Phase::Destroying;
        let table = Table::from_rows(&[
            row(1, "simple", Mode::Simple, Routes::default()),
            row(2, "dock", Mode::Docker, docker),
            row(3, "many", Mode::Docker, several),
            gone,
        ]);
        assert_eq!(table.resolve(&wanted("simple", None)), Ok(19100));
        assert_eq!(table.resolve(&wanted("simple", Some("web"))), Err(Miss::NoService));
        assert_eq!(table.resolve(&wanted("dock", None)), Ok(19201));
        assert_eq!(table.resolve(&wanted("dock", Some("web"))), Ok(19201));
        assert_eq!(table.resolve(&wanted("dock", Some("db"))), Ok(19202));
        assert_eq!(table.resolve(&wanted("many", None)), Err(Miss::NoDefault));
        assert_eq!(table.resolve(&wanted("gone", None)), Err(Miss::NoEnv));
        assert_eq!(table.resolve(&wanted("nosuch", None)), Err(Miss::NoEnv));
        let dock = table.iter().find(|(name, _)| *name == "dock").unwrap().1;
        let vars = url_vars("dock", dock, Some(19000));
        assert_eq!(
            vars,
            vec![
                ("MONO_URL".to_string(), "http://dock.localhost:19000/".to_string()),
                ("MONO_WEB_URL".to_string(), "http://web.dock.localhost:19000/".to_string()),
                ("MONO_DB_URL".to_string(), "http://db.dock.localhost:19000/".to_string()),
            ]
        );
        assert_eq!(url_vars("dock", dock, None), vec![]);
        let listed: Vec<_> =
            urls("dock", dock, 19000).into_iter().map(|u| (u.service, u.url, u.port)).collect();
        assert_eq!(
            listed,
            vec![
                (None, "http://dock.localhost:19000/".to_string(), 19201),
                (Some("web".into()), "http://web.dock.localhost:19000/".to_string(), 19201),
                (Some("db".into()), "http://db.dock.localhost:19000/".to_string(), 19202),
            ]
        );
    }
}
