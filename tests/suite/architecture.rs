//! The shape of `src/` holds: no file over 400 lines, and no two modules
//! that import each other (re-exports followed to the module that defines
//! the item). Read from the source text, not from the compiler.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::root;

const MAX_LINES: usize = 400;

type Module = Vec<String>;

/// Every file's module path (`render::node::model`; `main.rs` is the root)
/// and its text without comments and tests.
fn modules(src: &Path) -> BTreeMap<Module, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = p.strip_prefix(src).unwrap().with_extension("");
            let mut m: Module = rel
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect();
            if m.last().is_some_and(|l| l == "mod" || l == "main") {
                m.pop();
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let code: String = text
                .lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            out.insert(m, without_tests(&code));
        }
    }
    out
}

/// `code` without its `#[cfg(test)]` modules (`mod x;` or `mod x { … }`):
/// tests may import what they like.
fn without_tests(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(i) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..i]);
        let after = rest[i + "#[cfg(test)]".len()..].trim_start();
        let semi = after.find(';').unwrap_or(after.len());
        let brace = after.find('{').unwrap_or(after.len());
        if semi < brace {
            rest = &after[(semi + 1).min(after.len())..];
            continue;
        }
        let mut depth = 0;
        let mut end = after.len();
        for (j, c) in after.char_indices().skip(brace) {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = j + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let Some(open) = tree.find('{') else {
        return vec![tree.to_string()];
    };
    let (prefix, body) = (&tree[..open], &tree[open + 1..tree.len() - 1]);
    let mut parts = Vec::new();
    let (mut depth, mut cur) = (0, String::new());
    for ch in body.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if ch == ',' && depth == 0 {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(ch);
        }
    }
    parts.push(cur);
    parts
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(&format!("{prefix}{p}")))
        .collect()
}

/// Every path of the file's `use` items, and whether each is `pub use`:
/// `use` where an item or statement starts (not inside a string).
fn uses(code: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = code[from..].find("use ").map(|i| i + from) {
        from = i + 4;
        let before = code[..i].trim_end();
        let public = before.ends_with("pub") || before.ends_with("pub(crate)");
        let lead = before
            .trim_end_matches("pub(crate)")
            .trim_end_matches("pub")
            .trim_end();
        let starts_item = lead.is_empty() || lead.ends_with([';', '{', '}', ']']);
        let word_start = !code[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        if !starts_item || !word_start {
            continue;
        }
        let Some(end) = code[from..].find(';') else {
            break;
        };
        let rest: String = code[from..from + end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let tree = rest
            .replace(":: ", "::")
            .replace("{ ", "{")
            .replace(" }", "}");
        for p in expand(&tree) {
            let p = p.split(" as ").next().unwrap_or(&p);
            out.push((public, p.trim_end_matches("::self").to_string()));
        }
    }
    out
}

/// Inline paths that start at `crate`, `super` or one of `children`.
fn inline_paths(code: &str, children: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let starts: Vec<String> = ["crate", "super"]
        .iter()
        .map(|s| s.to_string())
        .chain(children.iter().cloned())
        .map(|s| s + "::")
        .collect();
    for start in &starts {
        let start = start.as_str();
        let mut rest = code;
        while let Some(i) = rest.find(start) {
            let before = rest[..i].chars().last();
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            let named = tail[start.len()..].starts_with(|c: char| c.is_ascii_alphabetic());
            if named && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                out.push(tail[..end].trim_end_matches(':').to_string());
            }
            rest = &tail[end.max(1)..];
        }
    }
    out
}

struct Graph {
    mods: BTreeMap<Module, String>,
    /// (module, name) → the path it re-exports.
    reexports: BTreeMap<(Module, String), String>,
}

impl Graph {
    /// The module a path from `cur` names (the item's defining module).
    fn resolve(&self, cur: &Module, path: &str, depth: usize) -> Option<Module> {
        let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        let (mut m, rest): (Module, &[&str]) = match segs.first() {
            Some(&"crate") => (Vec::new(), &segs[1..]),
            Some(&"self") => (cur.clone(), &segs[1..]),
            Some(&"super") => {
                let ups = segs.iter().take_while(|s| **s == "super").count();
                let mut m = cur.clone();
                for _ in 0..ups {
                    m.pop();
                }
                (m, &segs[ups..])
            }
            Some(first) => {
                let mut child = cur.clone();
                child.push(first.to_string());
                if !self.mods.contains_key(&child) {
                    return None; // another crate
                }
                (cur.clone(), &segs[..])
            }
            None => return None,
        };
        for s in rest {
            let mut next = m.clone();
            next.push(s.to_string());
            if self.mods.contains_key(&next) {
                m = next;
                continue;
            }
            if let Some(target) = self.reexports.get(&(m.clone(), s.to_string()))
                && depth < 8
            {
                let module_part = target.rsplit_once("::").map_or("self", |(a, _)| a);
                let rel = if ["crate", "self", "super"]
                    .iter()
                    .any(|k| module_part.starts_with(k))
                {
                    module_part.to_string()
                } else {
                    format!("self::{module_part}")
                };
                return self.resolve(&m, &rel, depth + 1).or(Some(m));
            }
            break;
        }
        Some(m)
    }
}

#[test]
fn no_source_file_is_over_400_lines() {
    let src = root().join("src");
    let mut long = Vec::new();
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let n = std::fs::read_to_string(&p).unwrap().lines().count();
                if n > MAX_LINES {
                    long.push(format!("{} ({n} lines)", p.display()));
                }
            }
        }
    }
    assert!(long.is_empty(), "split these by concern: {long:?}");
}

#[test]
fn no_two_modules_import_each_other() {
    let mods = modules(&root().join("src"));
    let mut reexports = BTreeMap::new();
    for (m, code) in &mods {
        for (public, p) in uses(code) {
            if public && let Some((_, name)) = p.rsplit_once("::") {
                reexports.insert((m.clone(), name.to_string()), p.clone());
            }
        }
    }
    let g = Graph { mods, reexports };
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    let mut via: BTreeMap<(Module, Module), String> = BTreeMap::new();
    for (m, code) in &g.mods {
        let children: Vec<String> = g
            .mods
            .keys()
            .filter(|c| c.len() == m.len() + 1 && c.starts_with(m))
            .map(|c| c[m.len()].clone())
            .collect();
        let paths = uses(code)
            .into_iter()
            .map(|(_, p)| p)
            .chain(inline_paths(code, &children));
        for p in paths {
            if let Some(t) = g
                .resolve(m, &p, 0)
                .filter(|t| t != m && g.mods.contains_key(t))
            {
                via.entry((m.clone(), t.clone()))
                    .or_insert_with(|| p.clone());
                edges.entry(m.clone()).or_default().insert(t);
            }
        }
    }
    let name = |m: &Module| {
        if m.is_empty() {
            "main".into()
        } else {
            m.join("::")
        }
    };
    let mut mutual = Vec::new();
    for (a, targets) in &edges {
        for b in targets {
            if a < b && edges.get(b).is_some_and(|t| t.contains(a)) {
                // Each side's first path, so the failure says what to move.
                mutual.push(format!(
                    "{} <-> {} ({} / {})",
                    name(a),
                    name(b),
                    via[&(a.clone(), b.clone())],
                    via[&(b.clone(), a.clone())]
                ));
            }
        }
    }
    assert!(
        mutual.is_empty(),
        "modules that import each other: {mutual:?}"
    );
    // The check sees imports at all: the fold imports its parts.
    let node: Module = vec!["render".into(), "node".into()];
    assert!(edges[&node].contains(&vec!["render".into(), "node".into(), "guide".into()]));
}

#[test]
fn the_import_reader_expands_trees_and_follows_reexports() {
    assert_eq!(
        without_tests("a\n#[cfg(test)]\nmod t;\nb\n#[cfg(test)]\nmod u {\n fn f() { g() }\n}\nc"),
        "a\n\nb\n\nc"
    );
    assert_eq!(
        expand("a::{b,c::{d,e}}"),
        ["a::b", "a::c::d", "a::c::e"].map(String::from)
    );
    let u = uses("use super::{x, y::z as q};\npub use w::V;");
    assert_eq!(
        u,
        [
            (false, "super::x".to_string()),
            (false, "super::y::z".to_string()),
            (true, "w::V".to_string())
        ]
    );
    assert_eq!(
        inline_paths(
            "let a = crate::io::atomic::x(super::y, node::f, xnode::g);",
            &["node".into()]
        ),
        ["crate::io::atomic::x", "super::y", "node::f"]
    );
}
