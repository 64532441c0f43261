//! The dependency cache in operations: restoring before the init script,
//! saving after it (in the background), and `cache.stats`/`cache.clean`.
//!
//! When every rule of `mono.yml`'s `cache:` is restored, the init script is
//! skipped: it is what produces the cached paths, and running it again
//! (`npm ci` deletes `node_modules` first) would undo the restore. Work that
//! must run in every new workspace belongs in `scripts.setup`. Scripts see
//! `MONO_CACHE`: `hit`, `partial`, `miss`, or `none` without rules.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use mono_proto::{CacheCleaned, CacheEntryInfo, CacheStats, event_kinds};

use super::{OpError, Ops};
use crate::cache::{self, Clean, Key, Record, Restored, Saved};
use crate::config::{CacheRule, MonoConfig};
use crate::docker::Engine;
use crate::docker::images::{self, ImageUse};
use crate::logs::progress::Progress;

/// What the restore found, and what to save once the init script ran.
#[derive(Default)]
pub(super) struct CachePlan {
    rules: usize,
    hits: usize,
    to_save: Vec<(Key, CacheRule)>,
    /// Paths restored into the workspace, relative to it (removed if init
    /// rolls back).
    pub restored: Vec<PathBuf>,
}

impl CachePlan {
    /// `MONO_CACHE` for the scripts.
    pub fn state(&self) -> &'static str {
        match (self.rules, self.hits) {
            (0, _) => "none",
            (r, h) if h == r => "hit",
            (_, 0) => "miss",
            _ => "partial",
        }
    }

    /// Whether the init script can be skipped.
    pub fn all_hit(&self) -> bool {
        self.rules > 0 && self.hits == self.rules
    }
}

fn size(bytes: u64) -> String {
    bytesize::ByteSize(bytes).display().si().to_string()
}

impl Ops {
    /// Restores every rule whose entry is saved; notes the others to save.
    pub(super) async fn restore_caches(
        &self,
        env: &str,
        ws: &Path,
        config: &MonoConfig,
        progress: &Progress,
    ) -> Result<CachePlan, OpError> {
        let mut plan = CachePlan { rules: config.cache.len(), ..Default::default() };
        for rule in &config.cache {
            let key = match cache::key::compute(rule, ws) {
                Ok(Some(key)) => key,
                Ok(None) => {
                    progress.step(format!(
                        "cache: {} not found in the workspace; {} not cached",
                        rule.key.join(", "),
                        rule.paths.join(", ")
                    ));
                    continue;
                }
                Err(source) => {
                    return Err(OpError::Io {
                        env: env.to_string(),
                        action: "read",
                        path: ws.join(&rule.key[0]).display().to_string(),
                        source,
                    });
                }
            };
            let started = Instant::now();
            match self.cache.restore(&key, rule, ws).await.map_err(|e| cache_err(env, e))? {
                Restored::Hit(copied) => {
                    plan.hits += 1;
                    plan.restored.extend(rule.paths.iter().map(PathBuf::from));
                    let how = if copied.cloned == copied.files { "cloned" } else { "copied" };
                    progress.step(format!(
                        "cache hit {}: {} restored, {} files, {} {how} in {}",
                        key.short(),
                        key.label,
                        copied.files,
                        size(copied.bytes),
                        crate::logs::monolog::format_elapsed(started.elapsed())
                    ));
                }
                Restored::Miss => {
                    progress.step(format!(
                        "cache miss {}: {}; saved after the init script",
                        key.short(),
                        key.label
                    ));
                    plan.to_save.push((key, rule.clone()));
                }
                Restored::Damaged(why) => {
                    progress.step(format!(
                        "cache entry {} was damaged ({why}) and is removed; {} is saved again after the init script",
                        key.short(),
                        key.label
                    ));
                    plan.to_save.push((key, rule.clone()));
                }
                Restored::Refused(why) => {
                    progress.step(format!(
                        "cache: skipped the rule for {} (not restored, not saved): {why}",
                        key.label
                    ));
                }
                Restored::Occupied(path) => {
                    progress.step(format!(
                        "cache {}: {path} already exists in the workspace and is left as is",
                        key.short()
                    ));
                }
            }
        }
        Ok(plan)
    }

    /// Saves what missed, in the background: init does not wait for it. A
    /// `cache.saved` event tells how each save ended.
    pub(super) fn save_caches(self: &Arc<Self>, env: &str, ws: &Path, plan: &mut CachePlan) {
        for (key, rule) in plan.to_save.drain(..) {
            let ops = self.clone();
            let (env, ws) = (env.to_string(), ws.to_path_buf());
            self.tasks.spawn(async move { ops.save_one(&env, &ws, key, rule).await });
        }
    }

    async fn save_one(&self, env: &str, ws: &Path, key: Key, rule: CacheRule) {
        let mut progress = self.progress("cache", None);
        progress.set_env(env);
        let started = Instant::now();
        let token = self.shutdown.clone();
        let outcome = self.cache.save(&key, &rule, ws, move || token.is_cancelled()).await;
        let mut data = serde_json::json!({"key": key.hash, "label": key.label});
        match outcome {
            Ok(Saved::Saved { copied, size: on_disk, evicted }) => {
                progress.step(format!(
                    "cache saved {}: {}, {} files, {} in {}",
                    key.short(),
                    key.label,
                    copied.files,
                    size(on_disk),
                    crate::logs::monolog::format_elapsed(started.elapsed())
                ));
                for e in &evicted {
                    progress.step(format!(
                        "cache: evicted {} (least recently used) to stay under the size cap",
                        &e[..12]
                    ));
                }
                data["outcome"] = "saved".into();
                data["files"] = copied.files.into();
                data["bytes"] = copied.bytes.into();
                data["size"] = on_disk.into();
                data["evicted"] = serde_json::json!(evicted);
            }
            Ok(Saved::AlreadyThere) => data["outcome"] = "already_there".into(),
            Ok(Saved::Missing(path)) => {
                progress
                    .step(format!("cache: {path} is not in the workspace after the init script; not saved"));
                data["outcome"] = "missing".into();
            }
            Ok(Saved::Refused(why)) => {
                progress.step(format!("cache: skipped the rule for {} (not saved): {why}", key.label));
                data["outcome"] = "skipped".into();
                data["error"] = why.into();
            }
            Ok(Saved::Changed) => {
                progress.step(format!(
                    "cache: {} changed while it was being saved; not saved (the next init saves it)",
                    rule.paths.join(", ")
                ));
                data["outcome"] = "changed".into();
            }
            Err(e) => {
                progress.step(format!("cache: saving {} failed: {e}", key.label));
                data["outcome"] = "failed".into();
                data["error"] = e.to_string().into();
            }
        }
        self.events.emit(Some(env), event_kinds::CACHE_SAVED, data).await;
        progress.finish().await;
    }

    /// Counts the builds of an init as cache hits (an image reused) or
    /// misses (built, and saved as an entry).
    pub(super) async fn record_images(&self, builds: &[ImageUse]) {
        for b in builds {
            let store = self.cache.store();
            let recorded = async {
                store.cache_lookup(&b.key, "image", &b.label, b.hit).await?;
                if !b.hit {
                    store.cache_saved(&b.key, "image", &b.label, b.size, 0).await?;
                }
                Ok::<_, crate::state::StateError>(())
            };
            if let Err(e) = recorded.await {
                tracing::warn!(error = %e, "cannot record an image build in the cache's bookkeeping");
            }
        }
    }

    /// `cache.stats`.
    pub async fn cache_stats(&self) -> Result<CacheStats, OpError> {
        let mut records = self.cache.records().await.map_err(|e| cache_err("cache", e))?;
        // Images: the Engine says whether they are still there, and their size.
        if records.iter().any(|r| r.kind == "image")
            && let Ok(engine) = Engine::connect_own().await
        {
            for r in records.iter_mut().filter(|r| r.kind == "image") {
                match images::cached_image(&engine, &r.key).await {
                    Ok(Some((_, size))) => {
                        r.size = size;
                        r.saved_at.get_or_insert(r.last_used);
                    }
                    Ok(None) => r.saved_at = None,
                    Err(_) => {}
                }
            }
        }
        let entries: Vec<CacheEntryInfo> = records.iter().map(info).collect();
        Ok(CacheStats {
            dir: self.cache.root().display().to_string(),
            max_size: self.cache.max_size(),
            total_size: entries.iter().filter(|e| e.saved).map(|e| e.size).sum(),
            hits: entries.iter().map(|e| e.hits).sum(),
            misses: entries.iter().map(|e| e.misses).sum(),
            entries,
        })
    }

    /// `cache.clean`.
    pub async fn cache_clean(&self, all: bool, older_than: Option<String>) -> Result<CacheCleaned, OpError> {
        let what = match (all, older_than) {
            (true, None) => Clean::All,
            (false, Some(age)) => {
                Clean::OlderThan(humantime::parse_duration(&age).map_err(|e| OpError::Invalid {
                    what: format!(
                        "older_than {age:?} is not a duration ({e}); give one such as \"30d\" or \"12h\""
                    ),
                })?)
            }
            (true, Some(_)) => {
                return Err(OpError::Invalid {
                    what: "give either all or older_than, not both (`mono cache clean --all` or \
                           `--older-than DURATION`)"
                        .into(),
                });
            }
            (false, None) => {
                return Err(OpError::Invalid {
                    what: "say what to clean: all: true, or older_than: a duration such as \"30d\" \
                           (`mono cache clean --all` or `--older-than DURATION`)"
                        .into(),
                });
            }
        };
        let (mut removed, mut busy) = self.cache.clean(what).await.map_err(|e| cache_err("cache", e))?;
        self.clean_images(what, &mut removed, &mut busy).await?;
        self.prune_seed_bases(None).await;
        let removed: Vec<CacheEntryInfo> = removed.iter().map(info).collect();
        let freed = removed.iter().map(|e| e.size).sum();
        self.log.write(
            Instant::now(),
            "cache",
            &format!("cache clean: removed {} entries, {} freed", removed.len(), size(freed)),
        );
        Ok(CacheCleaned { removed, freed, busy })
    }
}

impl Ops {
    /// Removes the images this home built, as `what` says.
    async fn clean_images(
        &self,
        what: Clean,
        removed: &mut Vec<Record>,
        busy: &mut Vec<String>,
    ) -> Result<(), OpError> {
        let records = self.cache.records().await.map_err(|e| cache_err("cache", e))?;
        let cutoff = what.cutoff();
        let old: Vec<Record> =
            records.into_iter().filter(|r| r.kind == "image" && r.last_used < cutoff).collect();
        if old.is_empty() {
            return Ok(());
        }
        let engine = match Engine::connect_own().await {
            Ok(engine) => engine,
            Err(e) => {
                busy.extend(old.iter().map(|r| format!("{} (Docker is not reachable: {e})", r.key)));
                return Ok(());
            }
        };
        for mut r in old {
            let size = images::cached_image(&engine, &r.key).await.ok().flatten().map_or(0, |(_, s)| s);
            match images::remove_cached(&engine, &r.key).await {
                Ok(true) => {
                    self.cache.store().cache_forget(&r.key).await?;
                    r.size = size;
                    removed.push(r);
                }
                Ok(false) => busy.push(r.key),
                Err(e) => busy.push(format!("{} ({e})", r.key)),
            }
        }
        Ok(())
    }
}

fn cache_err(env: &str, e: cache::CacheError) -> OpError {
    OpError::Cache { env: env.to_string(), source: e }
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.to_string()).unwrap_or_default()
}

fn info(r: &Record) -> CacheEntryInfo {
    CacheEntryInfo {
        key: r.key.clone(),
        kind: r.kind.clone(),
        label: r.label.clone(),
        saved: r.saved_at.is_some(),
        size: r.size,
        files: r.files,
        hits: r.hits,
        misses: r.misses,
        created_at: rfc3339(r.created_at),
        last_used: rfc3339(r.last_used),
    }
}
