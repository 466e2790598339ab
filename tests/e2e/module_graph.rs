//! No import circles in Kiln's crates: every module's `crate::`/`super::`
//! imports (outside its tests and comments) form a graph without cycles, so
//! that each module can be read, tested and moved with what is below it
//! only. A parent and its own children are not an edge (a module declares
//! its children; children use their parent's shared types).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every module of the crate whose sources are under `src`, by path
/// (`pipeline::stages::dedup`), with its source text.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read the source tree") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).expect("under src").with_extension("");
            let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if parts.last().is_some_and(|p| p == "mod" || p == "lib" || p == "main") {
                parts.pop();
            }
            out.insert(parts.join("::"), std::fs::read_to_string(&path).expect("read a module"));
        }
    }
    out
}

/// The source without comments and without its `#[cfg(test)]` tail.
fn code(source: &str) -> String {
    let body = source.split("#[cfg(test)]").next().unwrap_or("");
    body.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The module a `crate::`/`super::` path names: its longest prefix that is a module.
fn resolve(from: &str, path: &str, names: &BTreeSet<String>) -> Option<String> {
    let mut segments: Vec<&str> = path.split("::").collect();
    let mut base: Vec<&str> = match segments.first() {
        Some(&"crate") => {
            segments.remove(0);
            Vec::new()
        }
        Some(&"super") | Some(&"self") => {
            let mut base: Vec<&str> = if from.is_empty() { Vec::new() } else { from.split("::").collect() };
            while let Some(&first) = segments.first() {
                match first {
                    "super" => {
                        base.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                segments.remove(0);
            }
            base
        }
        _ => return None,
    };
    let mut best = None;
    for segment in segments {
        base.push(segment);
        let candidate = base.join("::");
        if names.contains(&candidate) {
            best = Some(candidate);
        }
    }
    best
}

/// Import edges between modules (none between a module and its ancestors).
fn edges(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let path = regex::Regex::new(r"\b(?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+").expect("a valid regex");
    let group =
        regex::Regex::new(r"\b((?:crate|super)(?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^}]*)\}").expect("a valid regex");
    let related = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}::")) || b.starts_with(&format!("{a}::"));
    let mut out = BTreeMap::new();
    for (name, source) in modules {
        let code = code(source);
        let mut targets = BTreeSet::new();
        let mut paths: Vec<String> = path.find_iter(&code).map(|m| m.as_str().to_string()).collect();
        for g in group.captures_iter(&code) {
            for item in g[2].split(',') {
                let item = item.split(" as ").next().unwrap_or("").trim();
                if !item.is_empty() {
                    paths.push(format!("{}::{item}", &g[1]));
                }
            }
        }
        for p in paths {
            if let Some(target) = resolve(name, &p, &names).filter(|t| !t.is_empty() && !related(name, t)) {
                targets.insert(target);
            }
        }
        out.insert(name.clone(), targets);
    }
    out
}

/// The strongly connected components of more than one module (Tarjan).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_path_buf()
}

#[test]
fn no_crate_of_kiln_has_an_import_circle() {
    for krate in ["host", "sandbox", "kernels", "registry"] {
        let graph = edges(&modules(&workspace().join(krate).join("src")));
        assert!(graph.len() > 5, "{krate}: read its modules ({})", graph.len());
        let found = circles(&graph);
        assert!(found.is_empty(), "{krate}/src has import circles (modules importing each other): {found:#?}");
    }
}

#[test]
fn a_circle_is_found() {
    let mut graph = BTreeMap::new();
    let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>();
    graph.insert("a".to_string(), set(&["b"]));
    graph.insert("b".to_string(), set(&["c"]));
    graph.insert("c".to_string(), set(&["a"]));
    graph.insert("d".to_string(), set(&["a"]));
    assert_eq!(circles(&graph), vec![vec!["a".to_string(), "b".into(), "c".into()]]);
    let modules: BTreeMap<String, String> = [
        ("x".to_string(), "use crate::y::Thing;\n// use crate::z;\n".to_string()),
        ("y".to_string(), "use super::{x, z as zed};\n#[cfg(test)]\nuse crate::x;".to_string()),
        ("z".to_string(), String::new()),
    ]
    .into();
    let e = edges(&modules);
    assert_eq!(e["x"], set(&["y"]));
    assert_eq!(e["y"], set(&["x", "z"]));
}
