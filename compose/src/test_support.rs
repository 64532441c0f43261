//! What the compose tests share: a workspace in a temporary folder with a
//! `compose.yaml`, loaded and planned as `mono init` would.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

pub(super) const PROJECT: &str = "mono-test";

pub(super) fn settings(workspace: &Path) -> PlanSettings {
    PlanSettings {
        project: PROJECT.to_string(),
        home: "/home/dev/.mono".to_string(),
        slot: 3,
        host_ip: "127.0.0.1".to_string(),
        profiles: Vec::new(),
        workspace: workspace.to_path_buf(),
        vars: BTreeMap::from([("HOME".to_string(), "/home/dev".to_string())]),
    }
}

/// A workspace in a temporary folder with a `compose.yaml`.
pub(super) struct Ws {
    dir: tempfile::TempDir,
}

impl Ws {
    pub(super) fn new(compose: &str) -> Ws {
        let ws = Ws { dir: tempfile::tempdir().unwrap() };
        ws.write("compose.yaml", compose);
        ws
    }

    pub(super) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(super) fn file(&self) -> PathBuf {
        self.root().join("compose.yaml")
    }

    /// Writes a file of the workspace, making its folders.
    pub(super) fn write(&self, rel: &str, text: &str) {
        let path = self.root().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Loads with `HOME` set (as a caller has it); the error as text.
    pub(super) fn try_load(&self) -> Result<ComposeFile, String> {
        self.load_with(&[("HOME", "/home/dev")]).map_err(|e| e.to_string())
    }

    /// Loads and plans; the error as text.
    pub(super) fn try_plan(&self) -> Result<Plan, String> {
        plan(&self.try_load()?, &self.settings()).map_err(|e| e.to_string())
    }

    pub(super) fn load_with(&self, vars: &[(&str, &str)]) -> Result<ComposeFile, ComposeError> {
        let vars: BTreeMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        load(&self.file(), &|name| vars.get(name).cloned())
    }

    pub(super) fn load(&self) -> ComposeFile {
        self.load_with(&[]).unwrap_or_else(|e| panic!("load failed: {e}"))
    }

    pub(super) fn settings(&self) -> PlanSettings {
        settings(self.root())
    }

    pub(super) fn plan(&self) -> Plan {
        plan(&self.load(), &self.settings()).unwrap_or_else(|e| panic!("plan failed: {e}"))
    }

    pub(super) fn load_error(&self) -> String {
        match self.load_with(&[]) {
            Ok(_) => panic!("expected the file not to load"),
            Err(e) => e.to_string(),
        }
    }

    pub(super) fn plan_error(&self) -> String {
        match plan(&self.load(), &self.settings()) {
            Ok(_) => panic!("expected the file not to plan"),
            Err(e) => e.to_string(),
        }
    }
}

pub(super) fn service<'p>(plan: &'p Plan, name: &str) -> &'p ServicePlan {
    plan.services.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no service {name} in the plan"))
}
