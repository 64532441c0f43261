//! `mono gc [--yes]`: resources of this home that no environment owns, and
//! environments left `failed`.

use anyhow::bail;
use mono_proto::GcReport;
use mono_proto::methods::{DAEMON_GC, GcParams};

use crate::connect::Endpoint;
use crate::render;

/// Lists the orphans and failed environments, or collects them with `yes`.
pub fn run(yes: bool, json: bool) -> anyhow::Result<()> {
    let env = Some(super::docker_env());
    let report: GcReport = Endpoint::from_env()?.query(DAEMON_GC, GcParams { apply: Some(yes), env })?;
    for note in &report.skipped {
        eprintln!("mono: note: {note}");
    }
    if json {
        render::json(&report);
    } else if report.orphans.is_empty() && report.failed.is_empty() {
        println!(
            "nothing to collect: every session, directory and Docker object of mono's belongs to an environment"
        );
    } else {
        for env in &report.failed {
            let why = env.failure.as_deref().unwrap_or("a teardown could not finish");
            println!("failed environment {} ({}): {why}", env.name, render::tilde(&env.path));
        }
        if !report.failed.is_empty() {
            let n = report.failed.len();
            if report.applied {
                if report.errors.is_empty() {
                    println!("finished {n} failed environment(s)");
                }
            } else {
                println!("{n} failed environment(s); `mono gc --yes` finishes their teardown");
            }
        }
    }
    if !json && !report.orphans.is_empty() {
        let width = report.orphans.iter().map(|o| o.kind.to_string().len()).max().unwrap_or(0);
        for o in &report.orphans {
            match &o.engine {
                Some(engine) => {
                    println!("{:width$}  {}  (of {}, on {engine})", o.kind.to_string(), o.name, o.owner)
                }
                None => println!("{:width$}  {}  (of {})", o.kind.to_string(), o.name, o.owner),
            }
        }
        let n = report.orphans.len();
        if report.applied {
            println!("removed {} orphan(s)", n - report.errors.len().min(n));
        } else {
            println!("{n} orphan(s); `mono gc --yes` removes them");
        }
    }
    if let Some(first) = report.errors.first() {
        bail!("{} item(s) could not be removed or finished: {first}", report.errors.len());
    }
    Ok(())
}
