//! The layer rule of `crndm-core` (docs/ARCHITECTURE.md): every file belongs to one
//! layer, and a file names (with `crate::`, `super::` or `$crate::` paths, in `use`
//! items or inline) only files of its own layer or of layers below it. Named exceptions
//! are listed in [`EXCEPTIONS`] with their justification; anything else fails the test.
//! The test also fails on a cycle between files, so no group of files holds itself
//! together across the layer order.
//!
//! Not counted: comments (doc links included), string literals, and `#[cfg(test)]` /
//! `#[cfg(all(test, ...))]` items (unit tests build whole pools to test one layer).
//!
//! The parser is small on purpose: it strips comments and literals, then reads paths
//! token by token and expands `use` trees. Re-exports (`pub use`, `pub(crate) use`) are
//! followed to the file that defines the item, so `crate::Pbox` counts as an import of
//! `boxed.rs`, not of `lib.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first: `(rank, name, path prefixes relative to crndm-core/src)`.
/// A file takes the layer of its longest matching prefix. Keep in step with the table in
/// docs/ARCHITECTURE.md.
const LAYERS: &[(u8, &str, &[&str])] = &[
    (
        0,
        "base",
        &[
            "convert.rs",
            "hashers.rs",
            "crash_point.rs",
            "marker.rs",
            "primitive.rs",
            "offset.rs",
        ],
    ),
    (1, "persist", &["persist/"]),
    (2, "error", &["error.rs"]),
    (3, "layout", &["layout.rs"]),
    (4, "alloc", &["alloc/"]),
    (5, "pool", &["pool/"]),
    (6, "stm", &["stm/"]),
    (
        7,
        "handles",
        &["boxed.rs", "cell/", "prc/", "sync/", "clone.rs"],
    ),
    (8, "collections", &["collections/"]),
    (9, "root", &["root.rs"]),
    (10, "impls", &["impls.rs"]),
    (
        11,
        "facade",
        &[
            "lib.rs",
            "default.rs",
            "internals.rs",
            "admin/",
            "open.rs",
            "mem_pool.rs",
        ],
    ),
];

/// Imports that break the rule on purpose: `(from file, to file, why)`. Each one is
/// listed with its justification in docs/ARCHITECTURE.md.
const EXCEPTIONS: &[(&str, &str, &str)] = &[];

/// Cycles between files of one layer that are allowed, each as its sorted list of files,
/// with the reason; listed in docs/ARCHITECTURE.md too.
const ALLOWED_CYCLES: &[(&[&str], &str)] = &[];

/// One source file: its module path and its text with comments, literals and test-only
/// items removed.
struct Source {
    rel: String,
    module: Vec<String>,
    code: String,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crndm-core/src")
}

fn collect(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read crndm-core/src")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, root, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p.strip_prefix(root).expect("under src").to_path_buf());
        }
    }
}

fn module_of(rel: &str) -> Vec<String> {
    let stem = rel.strip_suffix(".rs").expect(".rs file");
    let mut parts: Vec<String> = stem.split('/').map(str::to_owned).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

fn layer_of(rel: &str) -> (u8, &'static str) {
    let mut best: Option<(usize, u8, &'static str)> = None;
    for &(rank, name, prefixes) in LAYERS {
        for p in prefixes {
            let matches = if p.ends_with('/') {
                rel.starts_with(p)
            } else {
                rel == *p
            };
            if matches && best.is_none_or(|(len, _, _)| p.len() > len) {
                best = Some((p.len(), rank, name));
            }
        }
    }
    let (_, rank, name) = best.unwrap_or_else(|| {
        panic!("{rel} is in no layer: add it to LAYERS and to docs/ARCHITECTURE.md")
    });
    (rank, name)
}

/// Removes comments and the contents of string and char literals (a literal becomes
/// `""`), keeping everything else, lifetimes included.
fn strip(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(k).copied().unwrap_or('\0');
        if c[i] == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if (c[i] == 'r' || (c[i] == 'b' && at(i + 1) == 'r'))
            && !at(i.wrapping_sub(1)).is_alphanumeric()
            && at(i.wrapping_sub(1)) != '_'
            && {
                let mut k = i + if c[i] == 'b' { 2 } else { 1 };
                while at(k) == '#' {
                    k += 1;
                }
                at(k) == '"'
            }
        {
            // Raw string: r#"..."#.
            let mut k = i + if c[i] == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while at(k) == '#' {
                hashes += 1;
                k += 1;
            }
            k += 1;
            loop {
                if k >= c.len() {
                    break;
                }
                if c[k] == '"' && (0..hashes).all(|h| at(k + 1 + h) == '#') {
                    k += 1 + hashes;
                    break;
                }
                k += 1;
            }
            out.push_str("\"\"");
            i = k;
        } else if c[i] == '"' {
            let mut k = i + 1;
            while k < c.len() && c[k] != '"' {
                if c[k] == '\\' {
                    k += 1;
                }
                k += 1;
            }
            out.push_str("\"\"");
            i = k + 1;
        } else if c[i] == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if at(i + 1) == '\\' {
                // Skip the backslash and the escaped char (which may be a quote).
                let mut k = i + 3;
                while k < c.len() && c[k] != '\'' {
                    k += 1;
                }
                out.push_str("' '");
                i = k + 1;
            } else if at(i + 2) == '\'' {
                out.push_str("' '");
                i += 3;
            } else {
                out.push('\'');
                i += 1;
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Punct(char),
    PathSep,
}

fn tokens(code: &str) -> Vec<Tok> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch.is_alphabetic() || ch == '_' || ch == '$' {
            let start = i;
            i += 1;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '.') {
                // `1.0`, `0x1f_u8`; a range `0..n` ends at the second dot.
                if c[i] == '.' && c.get(i + 1) == Some(&'.') {
                    break;
                }
                i += 1;
            }
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push(Tok::PathSep);
            i += 2;
        } else {
            out.push(Tok::Punct(ch));
            i += 1;
        }
    }
    out
}

/// Drops every item carrying `#[cfg(test)]` or `#[cfg(all(test, ...))]`: the attribute,
/// the attributes after it, and the item up to its `;` or its balanced `{...}`.
fn drop_test_items(toks: Vec<Tok>) -> Vec<Tok> {
    let is = |t: &Tok, s: &str| matches!(t, Tok::Ident(x) if x == s);
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        let test_attr = toks[i] == Tok::Punct('#')
            && toks.get(i + 1) == Some(&Tok::Punct('['))
            && toks.get(i + 2).is_some_and(|t| is(t, "cfg"))
            && toks.get(i + 3) == Some(&Tok::Punct('('))
            && (toks.get(i + 4).is_some_and(|t| is(t, "test"))
                || (toks.get(i + 4).is_some_and(|t| is(t, "all"))
                    && toks.get(i + 5) == Some(&Tok::Punct('('))
                    && toks.get(i + 6).is_some_and(|t| is(t, "test"))));
        if !test_attr {
            out.push(toks[i].clone());
            i += 1;
            continue;
        }
        // Skip to the end of the item: the first `;` or balanced `{}` outside attributes.
        let mut depth_sq = 0i32;
        let mut depth = 0i32;
        while i < toks.len() {
            match toks[i] {
                Tok::Punct('[') => depth_sq += 1,
                Tok::Punct(']') => depth_sq -= 1,
                Tok::Punct('{') if depth_sq == 0 => depth += 1,
                Tok::Punct('}') if depth_sq == 0 => {
                    depth -= 1;
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                Tok::Punct(';') if depth_sq == 0 && depth == 0 => {
                    i += 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
    }
    out
}

/// `#[cfg(test)] mod name;` declarations of a file: their files are test-only.
fn test_only_children(code: &str) -> Vec<String> {
    let toks = tokens(code);
    let mut out = Vec::new();
    for w in toks.windows(10) {
        let head = [
            Tok::Punct('#'),
            Tok::Punct('['),
            Tok::Ident("cfg".into()),
            Tok::Punct('('),
            Tok::Ident("test".into()),
            Tok::Punct(')'),
            Tok::Punct(']'),
            Tok::Ident("mod".into()),
        ];
        if w[..8] == head
            && let (Tok::Ident(name), Tok::Punct(';')) = (&w[8], &w[9])
        {
            out.push(name.clone());
        }
    }
    out
}

/// The paths a file names: every `use` tree expanded, and every inline path that starts
/// with `crate`, `$crate`, `crndm` or `super`, made absolute.
fn paths(module: &[String], toks: &[Tok]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let prev_is_sep = i > 0 && toks[i - 1] == Tok::PathSep;
        match &toks[i] {
            Tok::Ident(kw) if kw == "use" => {
                let end = (i..toks.len())
                    .find(|&k| toks[k] == Tok::Punct(';'))
                    .unwrap_or(toks.len());
                let mut trees = Vec::new();
                expand_use(&toks[i + 1..end], Vec::new(), &mut trees);
                out.extend(trees.into_iter().filter_map(|p| absolute(module, p)));
                i = end;
            }
            Tok::Ident(first)
                if !prev_is_sep
                    && matches!(first.as_str(), "crate" | "$crate" | "crndm" | "super")
                    && toks.get(i + 1) == Some(&Tok::PathSep) =>
            {
                let mut path = vec![first.clone()];
                let mut k = i + 1;
                while toks.get(k) == Some(&Tok::PathSep) {
                    match toks.get(k + 1) {
                        Some(Tok::Ident(seg)) => {
                            path.push(seg.clone());
                            k += 2;
                        }
                        _ => break,
                    }
                }
                // A macro call (`crate::pool!(...)`) names the macro, not a module; the
                // code it expands to is checked where the macro is defined.
                if toks.get(k) != Some(&Tok::Punct('!')) {
                    out.extend(absolute(module, path));
                }
                i = k;
            }
            _ => i += 1,
        }
    }
    out
}

/// Expands one `use` tree (`a::{b, c::d as e, f::*}`) into its paths.
fn expand_use(toks: &[Tok], prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    let mut i = 0;
    // A leading `::` (extern crate path) keeps the path as it is.
    if toks.first() == Some(&Tok::PathSep) {
        i += 1;
    }
    while i < toks.len() {
        match &toks[i] {
            Tok::Ident(s) if s == "as" => break,
            Tok::Ident(s) => {
                path.push(s.clone());
                i += 1;
            }
            Tok::PathSep => i += 1,
            Tok::Punct('*') => break,
            Tok::Punct('{') => {
                // Split the group at top-level commas.
                let mut depth = 0;
                let mut start = i + 1;
                for k in i..toks.len() {
                    match toks[k] {
                        Tok::Punct('{') => depth += 1,
                        Tok::Punct('}') => {
                            depth -= 1;
                            if depth == 0 {
                                if start < k {
                                    expand_use(&toks[start..k], path.clone(), out);
                                }
                                return;
                            }
                        }
                        Tok::Punct(',') if depth == 1 => {
                            if start < k {
                                expand_use(&toks[start..k], path.clone(), out);
                            }
                            start = k + 1;
                        }
                        _ => {}
                    }
                }
                return;
            }
            _ => i += 1,
        }
    }
    if !path.is_empty() {
        out.push(path);
    }
}

/// Makes a path absolute (segments after the crate root), or `None` when it does not
/// start in this crate (std, other crates, a child module named without `self::`: a
/// child lives in its parent's folder, so in its layer).
fn absolute(module: &[String], path: Vec<String>) -> Option<Vec<String>> {
    let first = path.first()?.as_str();
    match first {
        "crate" | "$crate" | "crndm" => Some(path[1..].to_vec()),
        "self" => Some(
            module
                .iter()
                .cloned()
                .chain(path[1..].iter().cloned())
                .collect(),
        ),
        "super" => {
            let mut base = module.to_vec();
            let mut k = 0;
            while path.get(k).map(String::as_str) == Some("super") {
                base.pop();
                k += 1;
            }
            base.extend(path[k..].iter().cloned());
            Some(base)
        }
        _ => None,
    }
}

/// The crate's modules (path → file) and the re-exports of each module (name → path).
struct Crate {
    files: BTreeMap<Vec<String>, String>,
    reexports: BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>>,
}

impl Crate {
    /// The file that defines what `path` names: modules are followed segment by
    /// segment, re-exports to their source; the first segment that is neither names an
    /// item of the module reached.
    fn resolve(&self, path: &[String], depth: usize) -> Option<String> {
        assert!(depth < 16, "re-export loop at {path:?}");
        let mut module: Vec<String> = Vec::new();
        for (k, seg) in path.iter().enumerate() {
            let mut next = module.clone();
            next.push(seg.clone());
            if self.files.contains_key(&next) {
                module = next;
                continue;
            }
            if let Some(target) = self.reexports.get(&module).and_then(|m| m.get(seg)) {
                let mut full = target.clone();
                full.extend(path[k + 1..].iter().cloned());
                return self.resolve(&full, depth + 1);
            }
            break;
        }
        self.files.get(&module).cloned()
    }
}

/// The re-exports of a module: `pub use` and `pub(...) use` items, by the name they
/// give (a glob re-export is not followed).
fn reexports(
    module: &[String],
    toks: &[Tok],
    modules: &BTreeSet<Vec<String>>,
) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut i = 0;
    while i < toks.len() {
        let is_pub = matches!(&toks[i], Tok::Ident(s) if s == "pub");
        if !is_pub {
            i += 1;
            continue;
        }
        let mut k = i + 1;
        if toks.get(k) == Some(&Tok::Punct('(')) {
            while k < toks.len() && toks[k] != Tok::Punct(')') {
                k += 1;
            }
            k += 1;
        }
        if !matches!(toks.get(k), Some(Tok::Ident(s)) if s == "use") {
            i += 1;
            continue;
        }
        let end = (k..toks.len())
            .find(|&e| toks[e] == Tok::Punct(';'))
            .unwrap_or(toks.len());
        let mut trees = Vec::new();
        expand_use_named(&toks[k + 1..end], Vec::new(), &mut trees);
        for (name, path) in trees {
            let abs = absolute(module, path.clone()).or_else(|| {
                // A child module named bare (`pub use options::PoolOptions`); anything
                // else is another crate (`pub use crndm_derive::PClone`, a macro).
                let child: Vec<String> = module.iter().chain(path.first()).cloned().collect();
                modules
                    .contains(&child)
                    .then(|| module.iter().cloned().chain(path).collect())
            });
            if let Some(abs) = abs {
                out.insert(name, abs);
            }
        }
        i = end;
    }
    out
}

/// As [`expand_use`], with the name each path is bound to (`as` renames it).
fn expand_use_named(toks: &[Tok], prefix: Vec<String>, out: &mut Vec<(String, Vec<String>)>) {
    let mut path = prefix;
    let mut rename = None;
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Ident(s) if s == "as" => {
                if let Some(Tok::Ident(n)) = toks.get(i + 1) {
                    rename = Some(n.clone());
                }
                break;
            }
            Tok::Ident(s) => {
                path.push(s.clone());
                i += 1;
            }
            Tok::Punct('*') => return,
            Tok::Punct('{') => {
                let mut depth = 0;
                let mut start = i + 1;
                for k in i..toks.len() {
                    match toks[k] {
                        Tok::Punct('{') => depth += 1,
                        Tok::Punct('}') => {
                            depth -= 1;
                            if depth == 0 {
                                if start < k {
                                    expand_use_named(&toks[start..k], path.clone(), out);
                                }
                                return;
                            }
                        }
                        Tok::Punct(',') if depth == 1 => {
                            if start < k {
                                expand_use_named(&toks[start..k], path.clone(), out);
                            }
                            start = k + 1;
                        }
                        _ => {}
                    }
                }
                return;
            }
            _ => i += 1,
        }
    }
    if let Some(last) = path.last() {
        let name = rename.unwrap_or_else(|| last.clone());
        if name != "self" {
            out.push((name, path));
        } else {
            path.pop();
            if let Some(n) = path.last().cloned() {
                out.push((n, path));
            }
        }
    }
}

fn load() -> Vec<Source> {
    let root = src_dir();
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    let mut sources: Vec<Source> = files
        .iter()
        .map(|f| {
            let rel = f.to_string_lossy().replace('\\', "/");
            let text = std::fs::read_to_string(root.join(f)).expect("read source");
            Source {
                module: module_of(&rel),
                code: strip(&text),
                rel,
            }
        })
        .collect();
    // Files of `#[cfg(test)] mod x;` are test-only as a whole.
    let mut test_only = BTreeSet::new();
    for s in &sources {
        for child in test_only_children(&s.code) {
            let mut m = s.module.clone();
            m.push(child);
            test_only.insert(m);
        }
    }
    sources.retain(|s| !test_only.iter().any(|t| s.module.starts_with(t)));
    sources
}

/// Every import edge between two different files: `(from, to)`.
fn edges() -> BTreeSet<(String, String)> {
    let sources = load();
    let toks: Vec<Vec<Tok>> = sources
        .iter()
        .map(|s| drop_test_items(tokens(&s.code)))
        .collect();
    let modules: BTreeSet<Vec<String>> = sources.iter().map(|s| s.module.clone()).collect();
    let krate = Crate {
        files: sources
            .iter()
            .map(|s| (s.module.clone(), s.rel.clone()))
            .collect(),
        reexports: sources
            .iter()
            .zip(&toks)
            .map(|(s, t)| (s.module.clone(), reexports(&s.module, t, &modules)))
            .collect(),
    };
    let mut out = BTreeSet::new();
    for (s, t) in sources.iter().zip(&toks) {
        for p in paths(&s.module, t) {
            if let Some(to) = krate.resolve(&p, 0)
                && to != s.rel
            {
                out.insert((s.rel.clone(), to));
            }
        }
    }
    out
}

/// The imports that run from a lower layer to a higher one and are not named exceptions.
fn upward(edges: &BTreeSet<(String, String)>) -> Vec<String> {
    let mut bad = Vec::new();
    for (from, to) in edges {
        let (rf, lf) = layer_of(from);
        let (rt, lt) = layer_of(to);
        let excepted = EXCEPTIONS.iter().any(|&(f, t, _)| f == from && t == to);
        if rt > rf && !excepted {
            bad.push(format!("{from} ({lf}) -> {to} ({lt})"));
        }
    }
    bad
}

/// The cycles between files (strongly connected components of more than one file).
fn cycles(edges: &BTreeSet<(String, String)>) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&String> = edges.iter().flat_map(|(a, b)| [a, b]).collect();
    let reach = |start: &String| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![start.clone()];
        while let Some(n) = stack.pop() {
            for (a, b) in edges {
                if *a == n && seen.insert(b.clone()) {
                    stack.push(b.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> = nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for n in &nodes {
        if done.contains(*n) {
            continue;
        }
        let comp: Vec<String> = nodes
            .iter()
            .filter(|m| reach[*n].contains(**m) && reach[**m].contains(*n))
            .map(|m| (*m).clone())
            .collect();
        done.extend(comp.iter().cloned());
        if comp.len() > 1 {
            out.push(comp);
        }
    }
    out
}

#[test]
fn every_import_runs_down_the_layers() {
    let edges = edges();
    assert!(
        edges.len() > 50,
        "the parser found too few imports: {edges:?}"
    );
    let bad = upward(&edges);
    assert!(
        bad.is_empty(),
        "{} imports run up the layers (docs/ARCHITECTURE.md):\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn no_cycle_between_files() {
    // The named exceptions are the only way back up; without them, nothing may circle.
    let mut edges = edges();
    edges.retain(|(f, t)| !EXCEPTIONS.iter().any(|&(ef, et, _)| ef == f && et == t));
    let mut cycles = cycles(&edges);
    cycles.retain(|c| {
        !ALLOWED_CYCLES
            .iter()
            .any(|(files, _)| c.as_slice() == *files)
    });
    assert!(
        cycles.is_empty(),
        "{} cycles between files:\n{}",
        cycles.len(),
        cycles
            .iter()
            .map(|c| c.join(" <-> "))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn every_exception_is_still_needed() {
    let edges = edges();
    for &(from, to, why) in EXCEPTIONS {
        assert!(
            edges.contains(&(from.to_owned(), to.to_owned())),
            "exception {from} -> {to} ({why}) is no longer used: remove it"
        );
    }
}

#[test]
fn the_architecture_page_has_the_same_table() {
    let page = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ARCHITECTURE.md"),
    )
    .expect("docs/ARCHITECTURE.md");
    for &(rank, name, prefixes) in LAYERS {
        let row = page
            .lines()
            .find(|l| l.starts_with(&format!("| {rank} | {name} |")))
            .unwrap_or_else(|| panic!("no row `| {rank} | {name} |` in docs/ARCHITECTURE.md"));
        let files = row.split('|').nth(3).unwrap_or_default();
        for p in prefixes {
            assert!(
                files.contains(&format!("`{p}`")),
                "docs/ARCHITECTURE.md: layer {name} does not list `{p}`"
            );
        }
    }
    for &(from, to, _) in EXCEPTIONS {
        assert!(
            page.contains(from) && page.contains(to),
            "docs/ARCHITECTURE.md does not name the exception {from} -> {to}"
        );
    }
}

#[test]
fn the_parser_sees_paths() {
    let toks = tokens(&strip(
        "use crate::{a::B, c::{d, e as f}}; // crate::x\nfn g() { super::h::i(); \"crate::s\"; }",
    ));
    let m = vec!["m".to_owned(), "n".to_owned()];
    let p = paths(&m, &toks);
    let want: Vec<Vec<String>> = [&["a", "B"][..], &["c", "d"], &["c", "e"], &["m", "h", "i"]]
        .iter()
        .map(|v| v.iter().map(|s| (*s).to_owned()).collect())
        .collect();
    assert_eq!(p, want);
    let dropped = drop_test_items(tokens("#[cfg(test)] mod t { use crate::x; } use crate::y;"));
    assert_eq!(paths(&[], &dropped), vec![vec!["y".to_owned()]]);
    let quoted = tokens(&strip(
        "let c = '\\''; let s = r#\"crate::a\"#; fn f<'a>(x: &'a u8) { crate::pool!(p); crate::z::w(); }",
    ));
    assert_eq!(
        paths(&[], &quoted),
        vec![vec!["z".to_owned(), "w".to_owned()]]
    );
}
