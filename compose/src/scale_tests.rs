//! Load and plan stay linear in the number of services: a file of many
//! services (each depending on the one before, on a shared volume and
//! network) takes about ten times as long at ten times the size, not a
//! hundred. Compared as a ratio of two sizes in the same run, so the
//! machine's speed and the build profile cancel out.
//!
//! Measured with [`scale_figures`] (release build, the 2-core test machine):
//! 5,000 services 0.49 s before the lookups became maps, 0.12 s after;
//! 20,000 services 7.8 s before, 0.70 s after.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use super::*;

/// A compose file of `n` services in a chain of `depends_on`, with named
/// volumes and networks.
fn chain(n: usize) -> String {
    let mut text = String::from("services:\n");
    for i in 0..n {
        text.push_str(&format!("  s{i}:\n    image: busybox\n    volumes: [\"v{}:/data\"]\n", i % 20));
        text.push_str(&format!("    networks: [default, n{}]\n", i % 10));
        if i > 0 {
            text.push_str(&format!("    depends_on: [s{}]\n", i - 1));
        }
    }
    text.push_str("volumes:\n");
    for i in 0..20 {
        text.push_str(&format!("  v{i}: {{}}\n"));
    }
    text.push_str("networks:\n");
    for i in 0..10 {
        text.push_str(&format!("  n{i}: {{}}\n"));
    }
    text
}

fn settings(dir: &Path) -> PlanSettings {
    PlanSettings {
        project: "mono-scale".to_string(),
        home: "/home/dev/.mono".to_string(),
        slot: 1,
        host_ip: "127.0.0.1".to_string(),
        profiles: Vec::new(),
        workspace: dir.to_path_buf(),
        vars: BTreeMap::new(),
    }
}

/// The best of three runs of load + plan of an `n`-service file.
fn load_and_plan(dir: &Path, n: usize) -> Duration {
    let path = dir.join(format!("compose-{n}.yaml"));
    std::fs::write(&path, chain(n)).unwrap();
    let settings = settings(dir);
    (0..3)
        .map(|_| {
            let start = Instant::now();
            let file = load(&path, &|_| None).unwrap();
            let plan = plan(&file, &settings).unwrap();
            assert_eq!(plan.services.len(), n);
            start.elapsed()
        })
        .min()
        .unwrap()
}

/// The best of three runs of the steps that relate definitions to each
/// other (reference checks, the dependency cycle search, planning) on an
/// `n`-service file loaded beforehand. YAML parsing, linear and the larger
/// share, is left out so that a quadratic step stands out.
fn cross_references(dir: &Path, n: usize) -> Duration {
    let path = dir.join(format!("compose-{n}.yaml"));
    std::fs::write(&path, chain(n)).unwrap();
    let text = read(&path).unwrap();
    let root = document::parse(&path, &text).unwrap();
    let defs = convert::convert(&root).unwrap();
    let file = load(&path, &|_| None).unwrap();
    let settings = settings(dir);
    (0..3)
        .map(|_| {
            let start = Instant::now();
            references::check_references(&defs).unwrap();
            let plan = plan(&file, &settings).unwrap();
            assert_eq!(plan.services.len(), n);
            start.elapsed()
        })
        .min()
        .unwrap()
}

#[test]
fn load_and_plan_are_linear_in_the_number_of_services() {
    let dir = tempfile::tempdir().unwrap();
    // Warm up allocator and caches so the small size is not penalised.
    cross_references(dir.path(), 200);
    let small = cross_references(dir.path(), 1_000);
    let large = cross_references(dir.path(), 10_000);
    let ratio = large.as_secs_f64() / small.as_secs_f64().max(1e-6);
    // Linear work gives about 10; quadratic about 100.
    eprintln!("ratio {ratio:.1} ({small:?} -> {large:?})");
    assert!(
        ratio < 30.0,
        "10x the services took {ratio:.1}x the time ({small:?} -> {large:?}): quadratic again?"
    );
}

/// The figures for the record: `cargo test --release -p mono-compose scale_figures -- --ignored --nocapture`.
#[test]
#[ignore]
fn scale_figures() {
    let dir = tempfile::tempdir().unwrap();
    for n in [5_000, 20_000] {
        println!("{n} services: load + plan {:?}", load_and_plan(dir.path(), n));
    }
}
