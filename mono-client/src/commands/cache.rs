//! `mono cache stats` and `mono cache clean`.

use mono_proto::methods::{CACHE_CLEAN, CACHE_STATS, CacheCleanParams, NoParams};
use mono_proto::{CacheCleaned, CacheStats};

use crate::connect::Endpoint;
use crate::render;

/// `1.2 GB` (SI units, as `du -h --si`).
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// Prints every entry, its size on disk, hits, misses and last use.
pub fn stats(json: bool) -> anyhow::Result<()> {
    let stats: CacheStats = Endpoint::from_env()?.query(CACHE_STATS, NoParams {})?;
    if json {
        render::json(&stats);
        return Ok(());
    }
    let saved = stats.entries.iter().filter(|e| e.saved).count();
    println!(
        "{saved} entries, {} of {} ({}), {} hits, {} misses",
        size(stats.total_size),
        size(stats.max_size),
        stats.dir,
        stats.hits,
        stats.misses
    );
    if stats.entries.is_empty() {
        return Ok(());
    }
    let header = ["KEY", "KIND", "WHAT", "SIZE", "FILES", "HITS", "MISSES", "LAST USED"].map(str::to_string);
    let rows: Vec<[String; 8]> = stats
        .entries
        .iter()
        .map(|e| {
            [
                e.key.chars().take(12).collect(),
                e.kind.clone(),
                e.label.clone(),
                if e.saved { size(e.size) } else { "-".into() },
                e.files.to_string(),
                e.hits.to_string(),
                e.misses.to_string(),
                e.last_used.chars().take(19).collect::<String>().replace('T', " "),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.len());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    println!();
    for r in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = r.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", cells.join("  ").trim_end());
    }
    Ok(())
}

/// Removes every entry, or those not used for `older_than`.
pub fn clean(all: bool, older_than: Option<String>, json: bool) -> anyhow::Result<()> {
    let params = CacheCleanParams { all: all.then_some(true), older_than };
    let cleaned: CacheCleaned = Endpoint::from_env()?.query(CACHE_CLEAN, params)?;
    if json {
        render::json(&cleaned);
        return Ok(());
    }
    for e in &cleaned.removed {
        println!("removed {} {}", &e.key[..12.min(e.key.len())], e.label);
    }
    for key in &cleaned.busy {
        eprintln!("mono: note: {} is in use and was left; run clean again later", &key[..12.min(key.len())]);
    }
    println!("{} entries removed, {} freed", cleaned.removed.len(), size(cleaned.freed));
    Ok(())
}
