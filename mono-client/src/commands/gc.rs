//! `mono gc [--yes]`: resources of this home that no environment owns.

use anyhow::bail;
use mono_proto::GcReport;
use mono_proto::methods::{DAEMON_GC, GcParams};

use crate::connect::Endpoint;
use crate::render;

/// Lists the orphans, or removes them with `yes`.
pub fn run(yes: bool, json: bool) -> anyhow::Result<()> {
    let report: GcReport = Endpoint::from_env()?.query(DAEMON_GC, GcParams { apply: yes })?;
    for note in &report.skipped {
        eprintln!("mono: note: {note}");
    }
    if json {
        render::json(&report);
    } else if report.orphans.is_empty() {
        println!(
            "nothing to collect: every session, directory and Docker object of mono's belongs to an environment"
        );
    } else {
        let width = report.orphans.iter().map(|o| o.kind.to_string().len()).max().unwrap_or(0);
        for o in &report.orphans {
            println!("{:width$}  {}  (of {})", o.kind.to_string(), o.name, o.owner);
        }
        let n = report.orphans.len();
        if report.applied {
            println!("removed {} orphan(s)", n - report.errors.len().min(n));
        } else {
            println!("{n} orphan(s); `mono gc --yes` removes them");
        }
    }
    if let Some(first) = report.errors.first() {
        bail!("{} orphan(s) could not be removed: {first}", report.errors.len());
    }
    Ok(())
}
