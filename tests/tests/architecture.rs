//! The core's rooms and what each may know (issue 7, "the shape for three
//! apps"): the card knows nothing of the apps, the platform traits nothing
//! of the card's files, PKI and Japan nothing of the card; and no module of
//! the core imports, through any path, a module that imports it back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn core_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("core")
        .join("src")
}

/// Every `.rs` file under `dir`, as (module path like `card::channel`, text).
fn modules(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            let inner = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}::{name}")
            };
            modules(&path, &inner, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let module = match (prefix.is_empty(), name.as_str()) {
                (true, "lib") => "crate".to_owned(),
                (true, _) => name,
                (false, "mod") => prefix.to_owned(),
                (false, _) => format!("{prefix}::{name}"),
            };
            out.insert(module, std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// The code outside `#[cfg(test)]` modules (tests may reach anywhere).
fn non_test_code(text: &str) -> &str {
    text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text)
}

/// The modules `module` refers to by `crate::…` and `super::…` paths.
fn references(module: &str, text: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
    // A `mod.rs` module's `super` is its parent room's parent.
    let mut found = BTreeSet::new();
    let code = non_test_code(text);
    for (start, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        let path: String = code[start..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let mut parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
        let mut base: Vec<String> = match parts.first() {
            Some(&"crate") => Vec::new(),
            Some(&"super") => parent
                .split("::")
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => continue,
        };
        parts.remove(0);
        for part in parts {
            base.push(part.to_owned());
            let candidate = base.join("::");
            if known.contains(&candidate) {
                found.insert(candidate);
            }
        }
    }
    found.remove(module);
    found
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut texts = BTreeMap::new();
    modules(&core_src(), "", &mut texts);
    let known: BTreeSet<String> = texts.keys().cloned().collect();
    texts
        .iter()
        .map(|(m, t)| (m.clone(), references(m, t, &known)))
        .collect()
}

fn room(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

#[test]
fn each_room_knows_only_what_it_may() {
    // Which rooms each room may use. The apps' rooms (reset, wallet,
    // portal) may use everything; nothing below them may use them. The
    // store keeps what the platform's types describe (clock offsets,
    // idempotency keys) and knows nothing of the card.
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("platform", &["hex"][..]),
        ("store", &["platform", "hex"][..]),
        ("image", &[][..]),
        ("jp", &["hex"][..]),
        ("hex", &[][..]),
        ("pki", &["jp", "hex"][..]),
        ("card", &["pki", "jp", "platform", "hex"][..]),
        (
            "reset",
            &["card", "pki", "jp", "platform", "store", "image", "hex"][..],
        ),
        // The apps do not use each other.
        (
            "wallet",
            &["card", "pki", "jp", "platform", "store", "image", "hex"][..],
        ),
        (
            "portal",
            &["card", "pki", "jp", "platform", "store", "hex"][..],
        ),
    ]);
    let mut wrong = Vec::new();
    for (module, uses) in graph() {
        let from = room(&module);
        let Some(may) = allowed.get(from) else {
            continue;
        };
        for used in uses {
            let to = room(&used);
            if to != from && !may.contains(&to) {
                wrong.push(format!("{module} uses {used}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn no_module_of_the_core_is_in_an_import_circle() {
    let graph = graph();
    // Depth-first search for a back edge.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|s| s == m) {
            let mut circle = stack[at..].to_vec();
            circle.push(m.to_owned());
            return Some(circle);
        }
        if done.contains(m) {
            return None;
        }
        stack.push(m.to_owned());
        for next in graph.get(m).into_iter().flatten() {
            // The crate root re-exports everything: not an import.
            if next == "crate" {
                continue;
            }
            if let Some(circle) = visit(next, graph, stack, done) {
                return Some(circle);
            }
        }
        stack.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for m in graph.keys().filter(|m| *m != "crate") {
        if let Some(circle) = visit(m, &graph, &mut Vec::new(), &mut done) {
            panic!("import circle: {}", circle.join(" -> "));
        }
    }
}

#[test]
fn the_graph_sees_the_imports_it_checks() {
    // Guards the checks above against a parser that finds nothing.
    let graph = graph();
    assert!(graph["card::channel"].contains("platform"));
    assert!(graph["card::error"].contains("platform"));
    assert!(graph["card::verify"].contains("card::channel"));
    assert!(graph["pki::expiry"].contains("jp::period"));
    assert!(graph["store"].contains("platform"));
    assert!(graph["platform::authority"].contains("platform::clock"));
}
