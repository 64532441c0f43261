//! Orphans: resources of this home that no registered environment owns,
//! and `mono gc`, which lists or removes them, and finishes environments
//! left `failed` (a rollback or teardown that could not finish).
//!
//! A row is committed before anything is made for it and removed only after
//! everything it had is gone, so in normal running there are no orphans;
//! they come from crashes outside mono's steps (a machine losing power
//! mid-teardown), hand edits, or older versions. Resources are listed before
//! the rows are read: a resource made after that listing cannot be mistaken
//! for an orphan, because its row existed before it did.

use std::collections::HashSet;

use mono_proto::{CallerEnv, FailedEnv, GcReport, Orphan, OrphanKind, event_kinds};

use super::{OpError, Ops};
use crate::docker::Engine;
use crate::docker::owned::{self, ObjectKind, Owned};
use crate::state::{EnvRow, Phase};
use crate::tmux;

/// Everything found, with the Docker objects kept for removal, each with
/// the engine it is on.
struct Found {
    orphans: Vec<Orphan>,
    docker: Vec<(Engine, Vec<Owned>)>,
    skipped: Vec<String>,
}

impl Ops {
    /// Lists the orphans and the failed environments; with `apply`,
    /// finishes those environments' teardown and removes the orphans.
    /// `caller` holds the caller's Docker variables: its engine is searched
    /// too.
    pub async fn gc(&self, apply: bool, caller: &CallerEnv) -> Result<GcReport, OpError> {
        let failed_rows: Vec<EnvRow> =
            self.store.all().await?.into_iter().filter(|r| r.phase == Phase::Failed).collect();
        let found = self.find_orphans(caller).await?;
        let mut errors = Vec::new();
        if apply {
            for row in &failed_rows {
                if let Err(e) = self.finish_failed(row).await {
                    errors.push(e.to_string());
                }
            }
            // Re-read the rows: an environment registered since keeps its own.
            let owners = self.owners().await?;
            for orphan in
                found.orphans.iter().filter(|o| o.kind == OrphanKind::Link || !owners.contains(&o.owner))
            {
                if let Err(e) = self.remove_orphan(orphan).await {
                    errors.push(e);
                }
            }
            for (engine, objects) in &found.docker {
                // Containers in parallel (each may wait out its stop grace).
                let (containers, others): (Vec<Owned>, Vec<Owned>) = objects
                    .iter()
                    .filter(|o| !owners.contains(&o.project))
                    .cloned()
                    .partition(|o| o.kind == ObjectKind::Container);
                // An orphan's workspace settings are gone: the default grace.
                let grace = crate::config::ComposeSettings::default().destroy_grace;
                let mut removals = tokio::task::JoinSet::new();
                for object in containers {
                    let engine = engine.clone();
                    removals.spawn(async move { owned::remove(&engine, &object, grace).await });
                }
                while let Some(done) = removals.join_next().await {
                    match done {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => errors.push(e.to_string()),
                        Err(e) => errors.push(format!("container removal failed: {e}")),
                    }
                }
                let mut others = others;
                others.sort_by_key(|o| o.kind);
                for object in &others {
                    if let Err(e) = owned::remove(engine, object, grace).await {
                        errors.push(e.to_string());
                    }
                }
            }
            let summary = format!("removed {} orphan(s), {} error(s)", found.orphans.len(), errors.len());
            self.log.write(std::time::Instant::now(), "gc", &summary);
        }
        let failed = failed_rows
            .into_iter()
            .map(|r| FailedEnv { name: r.name, path: r.path, failure: r.failure })
            .collect();
        Ok(GcReport { orphans: found.orphans, applied: apply, skipped: found.skipped, errors, failed })
    }

    /// Finishes the teardown of an environment left `failed`, as
    /// `mono destroy` would (without its destroy script).
    async fn finish_failed(&self, row: &EnvRow) -> Result<(), OpError> {
        let _guard = self.claim(&row.path, "gc")?;
        // Re-read under the claim: a destroy may have finished it meanwhile.
        let Some(row) = self.store.by_path(&row.path).await?.filter(|r| r.phase == Phase::Failed) else {
            return Ok(());
        };
        let mut progress = self.progress("gc", None);
        progress.set_env(&row.name);
        progress.step(format!("finishing failed environment {} ({})", row.name, row.path));
        let mut warnings = Vec::new();
        let result = self.teardown(&row, "gc", &progress, &mut warnings).await;
        if result.is_ok() {
            progress.step("destroyed");
            let data = serde_json::json!({"warnings": warnings, "gc": true});
            self.events.emit(Some(&row.name), event_kinds::ENV_DESTROYED, data).await;
        }
        progress.finish().await;
        result
    }

    /// The orphans, and what could not be checked.
    pub async fn orphans(&self) -> Result<(Vec<Orphan>, Vec<String>), OpError> {
        let found = self.find_orphans(&CallerEnv::new()).await?;
        Ok((found.orphans, found.skipped))
    }

    /// Names of registered environments and their compose projects.
    async fn owners(&self) -> Result<HashSet<String>, OpError> {
        let rows = self.store.all().await?;
        Ok(rows.iter().flat_map(|r| [Some(r.name.clone()), r.docker_project.clone()]).flatten().collect())
    }

    async fn find_orphans(&self, caller: &CallerEnv) -> Result<Found, OpError> {
        let home = self.home.root().display().to_string();
        let mut skipped = Vec::new();
        let sessions = match tmux::sessions_of(&home).await {
            Ok(s) => s,
            Err(e) => {
                skipped.push(format!("tmux sessions not checked: {e}"));
                Vec::new()
            }
        };
        let (data_dirs, data_links) = subdirectories(&self.home.data_root());
        let (log_dirs, log_links) = subdirectories(&self.home.logs_root());
        let (engines, notes) = super::engines::reach(&self.store.all().await?, caller).await;
        skipped.extend(notes);
        let mut docker = Vec::new();
        for engine in engines {
            match owned::owned_by(&engine, &home).await {
                Ok(objects) => docker.push((engine, objects)),
                Err(e) => skipped.push(format!("Docker objects not checked: {e}")),
            }
        }

        let owners = self.owners().await?;
        let mut orphans = Vec::new();
        for session in sessions {
            let Some(name) = session.strip_prefix(mono_proto::paths::SESSION_PREFIX) else { continue };
            if !owners.contains(name) {
                orphans.push(Orphan {
                    kind: OrphanKind::Session,
                    owner: name.to_string(),
                    name: session.clone(),
                    engine: None,
                });
            }
        }
        for (kind, dirs) in [(OrphanKind::DataDir, data_dirs), (OrphanKind::LogDir, log_dirs)] {
            for (name, path) in dirs {
                if !owners.contains(&name) {
                    orphans.push(Orphan { kind, owner: name, name: path, engine: None });
                }
            }
        }
        // A link is listed whoever's name it has: mono never uses one.
        for (name, path) in data_links.into_iter().chain(log_links) {
            orphans.push(Orphan { kind: OrphanKind::Link, owner: name, name: path, engine: None });
        }
        for (engine, objects) in &mut docker {
            objects.retain(|o| !owners.contains(&o.project));
            for object in objects.iter() {
                let kind = match object.kind {
                    ObjectKind::Container => OrphanKind::Container,
                    ObjectKind::Network => OrphanKind::Network,
                    ObjectKind::Volume => OrphanKind::Volume,
                };
                orphans.push(Orphan {
                    kind,
                    name: object.name.clone(),
                    owner: object.project.clone(),
                    engine: Some(engine.endpoint.clone()),
                });
            }
        }
        orphans.sort();
        Ok(Found { orphans, docker, skipped })
    }

    /// Removes a session or directory orphan (Docker ones are removed by
    /// [`Ops::gc`] in dependency order).
    async fn remove_orphan(&self, orphan: &Orphan) -> Result<(), String> {
        match orphan.kind {
            OrphanKind::Session => {
                tmux::kill_session(&orphan.name).await.map(drop).map_err(|e| format!("{}: {e}", orphan.name))
            }
            OrphanKind::DataDir | OrphanKind::LogDir => match std::fs::remove_dir_all(&orphan.name) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(format!("cannot remove {}: {e}", orphan.name))
                }
                _ => Ok(()),
            },
            // The link itself (unlink never follows it); a directory that
            // replaced it meanwhile is not removed.
            OrphanKind::Link => match std::fs::remove_file(&orphan.name) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(format!("cannot remove the link {}: {e}", orphan.name))
                }
                _ => Ok(()),
            },
            OrphanKind::Container | OrphanKind::Network | OrphanKind::Volume => Ok(()),
        }
    }
}

/// A directory entry's name and path.
type Named = (String, String);

/// `(name, path)` of each directory in `root`, and of each symbolic link
/// there; none when it does not exist.
fn subdirectories(root: &std::path::Path) -> (Vec<Named>, Vec<Named>) {
    let (mut dirs, mut links) = (Vec::new(), Vec::new());
    let Ok(entries) = std::fs::read_dir(root) else { return (dirs, links) };
    for e in entries.flatten() {
        let Ok(kind) = e.file_type() else { continue };
        let Ok(name) = e.file_name().into_string() else { continue };
        let found = (name, e.path().display().to_string());
        if kind.is_dir() {
            dirs.push(found);
        } else if kind.is_symlink() {
            links.push(found);
        }
    }
    (dirs, links)
}
