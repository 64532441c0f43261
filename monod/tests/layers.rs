//! monod's modules, and those of the compose crate it plans with, form
//! layers (ARCHITECTURE.md): a module uses the ones below it, never one
//! above, and no two modules use each other. This reads every `crate::`
//! and `super::` path of each library's code (tests and comments left out)
//! and checks both rules, so a new arrow upwards fails here instead of
//! waiting for a reader to notice it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules, from the top down; a module may use only those
/// of a later row.
const LAYERS: &[&[&str]] = &[
    &["daemon"],
    &["rpc"],
    &["ops"],
    &["docker", "router"],
    &["cache", "script", "ssh"],
    &["logs"],
    &["events"],
    &["state", "tmux"],
    &["vars"],
    &["config", "settings", "home"],
    &["units", "ports", "nofollow", "names", "busy", "crashpoint"],
];

/// The compose crate's modules, from the top down (its test modules
/// first: they may use anything).
const COMPOSE_LAYERS: &[&[&str]] = &[
    &["tests", "fidelity_tests", "scale_tests"],
    &["test_support"],
    &["project", "planner"],
    &["convert", "references", "merge", "document", "dotenv", "hash"],
    &["model", "paths", "hazards"],
    &["configs", "syntax"],
    &["value", "plan"],
    &["keypath", "error"],
    &["input", "interpolate"],
];

/// Every module file of the library, by its path (`docker::apply`).
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            if parts == ["lib"] || parts == ["main"] || path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            found.insert(parts.join("::"), path);
        }
    }
    found
}

/// A file's code without its tests and comments.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The `crate::`/`super::` paths in `code`, groups (`crate::{a, b::c}`)
/// expanded one level.
fn paths_in(code: &str) -> Vec<String> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut paths = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        let starts =
            (rest.starts_with("crate::") || rest.starts_with("super::")) && (i == 0 || !ident(bytes[i - 1]));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut path = String::new();
        loop {
            let start = j;
            while j < bytes.len() && ident(bytes[j]) {
                j += 1;
            }
            path.extend(&bytes[start..j]);
            if bytes.get(j) == Some(&':') && bytes.get(j + 1) == Some(&':') {
                j += 2;
                if bytes.get(j) == Some(&'{') {
                    let end = bytes[j..].iter().position(|&c| c == '}').map_or(bytes.len(), |p| j + p);
                    let group: String = bytes[j + 1..end].iter().collect();
                    for item in group.split(',') {
                        let head: String =
                            item.trim().chars().take_while(|&c| ident(c) || c == ':').collect();
                        if !head.is_empty() {
                            paths.push(format!("{path}::{head}"));
                        }
                    }
                    j = end;
                    break;
                }
                path.push_str("::");
            } else {
                paths.push(path);
                break;
            }
        }
        i = j.max(i + 1);
    }
    paths
}

/// The module a path used from `from` lands in: its longest prefix that is
/// a module file.
fn resolve(from: &str, path: &str, modules: &BTreeMap<String, PathBuf>) -> Option<String> {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<&str> = Vec::new();
    if segs.first() == Some(&"crate") {
        segs.remove(0);
    } else {
        base = from.split("::").collect();
        while segs.first() == Some(&"super") {
            segs.remove(0);
            base.pop();
        }
    }
    (0..=segs.len())
        .rev()
        .map(|n| [&base[..], &segs[..n]].concat().join("::"))
        .find(|m| modules.contains_key(m))
}

/// Who uses whom, by module path; a module's use of its own ancestors
/// (the `mod.rs` that declares it) is left out.
fn uses(modules: &BTreeMap<String, PathBuf>) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for (module, file) in modules {
        let used: BTreeSet<String> = paths_in(&code_of(file))
            .iter()
            .filter_map(|p| resolve(module, p, modules))
            .filter(|m| m != module && !module.starts_with(&format!("{m}::")))
            .collect();
        graph.insert(module.clone(), used);
    }
    graph
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

fn rank(layers: &[&[&str]], top: &str) -> usize {
    layers.iter().position(|row| row.contains(&top)).unwrap_or_else(|| {
        panic!("module `{top}` is in no layer: add it to the layers here and to ARCHITECTURE.md")
    })
}

/// Who uses whom in one crate, by module path.
type Graph = BTreeMap<String, BTreeSet<String>>;
/// A crate's layers, from the top down.
type Layers = &'static [&'static [&'static str]];

/// The crates checked: monod's and compose's sources, with their layers.
fn crates() -> [(&'static str, Graph, Layers); 2] {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        ("monod", uses(&modules(&root.join("src"))), LAYERS),
        ("mono-compose", uses(&modules(&root.join("../compose/src"))), COMPOSE_LAYERS),
    ]
}

#[test]
fn no_module_uses_one_above_it() {
    let mut upward = Vec::new();
    for (krate, graph, layers) in crates() {
        for (module, used) in graph {
            for other in used {
                let (from, to) = (top(&module), top(&other));
                if from != to && rank(layers, to) <= rank(layers, from) {
                    upward.push(format!("{krate}: {module} uses {other}"));
                }
            }
        }
    }
    assert!(upward.is_empty(), "arrows that do not point down the layers:\n{}", upward.join("\n"));
}

#[test]
fn no_two_modules_use_each_other() {
    // Depth-first search; a module met again while still on the path
    // closes a cycle.
    fn visit<'a>(
        m: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|p| *p == m) {
            cycles.push(format!("{} -> {m}", path[at..].join(" -> ")));
            return;
        }
        if !done.insert(m) {
            return;
        }
        path.push(m);
        for next in graph.get(m).into_iter().flatten() {
            visit(next, graph, path, done, cycles);
        }
        path.pop();
    }
    let mut cycles = Vec::new();
    for (krate, graph, _) in crates() {
        let mut found = Vec::new();
        let mut done = BTreeSet::new();
        for m in graph.keys() {
            visit(m, &graph, &mut Vec::new(), &mut done, &mut found);
        }
        cycles.extend(found.into_iter().map(|c| format!("{krate}: {c}")));
    }
    cycles.sort();
    assert!(cycles.is_empty(), "modules that use each other:\n{}", cycles.join("\n"));
}

#[test]
fn the_reader_finds_grouped_and_relative_uses() {
    let code = "use crate::{docker::Engine, logs::progress::Progress};\nuse super::teardown;\nlet x = crate::ports::block(1);";
    assert_eq!(
        paths_in(code),
        [
            "crate::docker::Engine",
            "crate::logs::progress::Progress",
            "super::teardown",
            "crate::ports::block"
        ]
    );
}
