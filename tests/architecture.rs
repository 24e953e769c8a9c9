//! The architecture invariants of ARCHITECTURE.md, checked: the module graph has no circle, the pure core
//! imports no AWS SDK, HTTP client or async runtime and never reaches into the shell, and the sandbox
//! does not depend on the crate it checks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Modules that decide: plain data in, plain data out.
const PURE: &[&str] = &[
    "action",
    "batch",
    "cidr",
    "commands",
    "config",
    "egress",
    "error",
    "event",
    "finding",
    "ledger",
    "metrics",
    "names",
    "outcome",
    "plan",
    "registration",
    "report",
    "rules",
    "skip",
    "snapshot",
    "target",
    "triage",
];

/// Crates the pure core must not name.
const FORBIDDEN_IN_PURE: &[&str] = &[
    "aws_sdk_",
    "aws_config",
    "aws_smithy",
    "aws_credential_types",
    "aws_sigv4",
    "hyper",
    "tokio",
    "lambda_runtime",
    "tracing_subscriber",
];

fn src() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Each top-level module's production source: `name.rs` and every file under `name/` (test modules
/// and test-only files left out).
fn modules() -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (path, text) in walk(&src()) {
        let relative = path
            .strip_prefix(&format!("{}/", src().display()))
            .unwrap_or(&path);
        let top = relative.split('/').next().unwrap_or_default();
        let name = top.trim_end_matches(".rs").to_string();
        let test_only = relative.ends_with("/tests.rs") || relative.ends_with("/golden.rs");
        if test_only || matches!(name.as_str(), "lib" | "main" | "fixture") {
            continue;
        }
        out.entry(name)
            .or_default()
            .push_str(&production_part(&text));
    }
    out
}

fn production_part(text: &str) -> String {
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `crate::` modules a source refers to, including those in `use crate::{a, b::c}` groups.
fn references(text: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            group[..end].split(',').collect()
        } else {
            vec![rest]
        };
        for name in names {
            let ident: String = name
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if known.contains(&ident) {
                found.insert(ident);
            }
        }
    }
    found
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(name, text)| {
            let mut refs = references(text, &known);
            refs.remove(name);
            (name.clone(), refs)
        })
        .collect()
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|p| p == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_module_graph_has_no_circle() {
    let graph = graph();
    assert!(
        graph.len() > 10,
        "expected the crate's modules, found {graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import circle: {}", cycle.join(" -> "));
    }
}

#[test]
fn a_circle_is_detected_when_there_is_one() {
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(find_cycle(&g).map(|c| c.len()), Some(3));
}

#[test]
fn the_pure_core_imports_no_sdk_no_http_client_and_no_runtime() {
    for (name, text) in modules() {
        if !PURE.contains(&name.as_str()) {
            continue;
        }
        for forbidden in FORBIDDEN_IN_PURE {
            let named = text.match_indices(forbidden).any(|(i, _)| {
                i == 0 || !text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
            });
            assert!(!named, "pure module `{name}` names `{forbidden}`");
        }
    }
}

#[test]
fn the_pure_core_never_reaches_into_the_shell() {
    for (name, refs) in graph() {
        if !PURE.contains(&name.as_str()) {
            continue;
        }
        let shell: Vec<&String> = refs
            .iter()
            .filter(|r| !PURE.contains(&r.as_str()))
            .collect();
        assert!(
            shell.is_empty(),
            "pure module `{name}` uses shell modules {shell:?}"
        );
    }
}

#[test]
fn every_module_is_classified_as_pure_or_shell_in_architecture_md() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
            .expect("ARCHITECTURE.md exists");
    for name in modules().keys() {
        assert!(
            doc.contains(&format!("`{name}`")),
            "ARCHITECTURE.md does not mention `{name}`"
        );
    }
}

#[test]
fn the_sandbox_does_not_depend_on_the_crate_it_checks() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("sandbox/Cargo.toml");
    let text = std::fs::read_to_string(manifest).expect("sandbox/Cargo.toml");
    let depends = text.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("eks-node-join-remediator")
            || l.contains("path = \"..\"")
            || l.contains("path = \"../\"")
    });
    assert!(!depends, "the sandbox must check the Lambda independently");
    let sources = walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sandbox/src"));
    for (path, text) in sources {
        assert!(
            !text.contains("eks_node_join_remediator"),
            "{path} uses the Lambda crate"
        );
    }
}

fn walk(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            out.push((path.display().to_string(), text));
        }
    }
    out
}

/// Longest production functions first: (lines, file, line, name). Test modules and test-only files
/// are left out.
fn function_lengths() -> Vec<(usize, String, usize, String)> {
    let mut out = Vec::new();
    for (path, text) in walk(&src()) {
        if path.ends_with("tests.rs") || path.ends_with("golden.rs") || path.ends_with("fixture.rs")
        {
            continue;
        }
        let code = match text.find("#[cfg(test)]\nmod tests") {
            Some(i) => &text[..i],
            None => text.as_str(),
        };
        let lines: Vec<&str> = code.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            let Some(name) = fn_name(line) else { continue };
            let indent = &line[..line.len() - line.trim_start().len()];
            let close = format!("{indent}}}");
            if let Some(end) = lines[n + 1..].iter().position(|l| l.trim_end() == close) {
                out.push((end + 2, path.clone(), n + 1, name));
            }
        }
    }
    out.sort_by(|a, b| b.cmp(a));
    out
}

/// The name of the function a line declares, if it declares one.
fn fn_name(line: &str) -> Option<String> {
    let mut rest = line.trim_start();
    for prefix in ["pub(crate) ", "pub(super) ", "pub ", "async ", "const "] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("async ").unwrap_or(rest);
    let name: String = rest
        .strip_prefix("fn ")?
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

#[test]
fn no_function_in_src_is_much_over_sixty_lines() {
    let lengths = function_lengths();
    assert!(
        lengths.len() > 100,
        "expected the crate's functions, found {}",
        lengths.len()
    );
    let long: Vec<String> = lengths
        .iter()
        .filter(|(n, ..)| *n > 60)
        .map(|(n, file, line, name)| format!("{file}:{line} {name} ({n} lines)"))
        .collect();
    assert!(long.is_empty(), "split these: {long:#?}");
}

#[test]
fn function_declarations_are_recognised_with_their_visibility_and_asyncness() {
    assert_eq!(
        fn_name("    pub async fn stage(app: &App) {"),
        Some("stage".to_string())
    );
    assert_eq!(fn_name("let f = 1;"), None);
}

#[test]
fn code_and_docs_point_into_this_repository_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = walk(&root.join("src"));
    files.extend(walk(&root.join("sandbox/src")));
    files.extend(walk(&root.join("tests")));
    for name in ["README.md", "ARCHITECTURE.md", "Makefile", "template.yaml"] {
        let text = std::fs::read_to_string(root.join(name)).unwrap_or_default();
        files.push((name.to_string(), text));
    }
    let outside = ["DESIGN.md", "../shared"];
    for (path, text) in files {
        if path.ends_with("architecture.rs") {
            continue;
        }
        for pointer in outside {
            assert!(
                !text.contains(pointer),
                "{path} points outside the repository ({pointer})"
            );
        }
    }
}
