//! The shape of the code, checked: imports between files never go round in a circle, the
//! daemon's and the binary's top-level modules form floors that only look down, and no
//! production file or function outgrows what a reader can hold.
//!
//! `cargo test -p genq-e2e --test structure -- --nocapture` prints the floors and the largest
//! files and functions.
//!
//! The sources are parsed with `syn`; a path in code or in a `use` is followed through
//! re-exports to the file that defines the item, so a `mod.rs` that only re-exports is a facade,
//! not a room of its own. Code under `#[cfg(test)]` and `tests.rs` files are left out.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use syn::spanned::Spanned;
use syn::visit::Visit;

/// Longest production file, in lines (`#[cfg(test)]` items not counted).
const MAX_FILE_LINES: usize = 600;
/// Longest production function, in lines from `fn` to its closing brace.
const MAX_FN_LINES: usize = 100;
/// Functions that are data tables, not logic: `(file, function)`.
const DATA_TABLES: &[(&str, &str)] = &[
    // every key binding, with its description, in one table
    ("tui/src/tui/keymap.rs", "default"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// One crate's modules, each mapped to the file that holds it.
struct Crate {
    name: &'static str,
    /// Module path (`engine::runner`, `` for the root) → module.
    modules: BTreeMap<String, Module>,
}

struct Module {
    /// Path relative to the workspace root.
    file: String,
    children: BTreeSet<String>,
    /// Items defined here, by name.
    items: BTreeSet<String>,
    /// Names brought in by `use`, with the path they stand for (`crate::…` absolute).
    uses: BTreeMap<String, Vec<String>>,
    /// Absolute paths this module's code refers to (from `use` and from paths in code).
    refs: Vec<Vec<String>>,
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| match &a.meta {
        syn::Meta::List(l) if l.path.is_ident("cfg") => {
            let cond = l.tokens.to_string();
            cond.contains("test") && !cond.contains("not")
        }
        meta => meta.path().is_ident("test"),
    })
}

fn path_attr(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|a| match &a.meta {
        syn::Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

fn rel(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

fn parse(path: &Path) -> syn::File {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn join(module: &str, name: &str) -> String {
    if module.is_empty() {
        name.to_string()
    } else {
        format!("{module}::{name}")
    }
}

impl Crate {
    fn load(name: &'static str, root_file: &str) -> Crate {
        let mut krate = Crate {
            name,
            modules: BTreeMap::new(),
        };
        let path = root().join(root_file);
        let file = parse(&path);
        let dir = path
            .parent()
            .expect("a root file has a folder")
            .to_path_buf();
        krate.add_module(String::new(), &path, &dir, &file.items);
        krate
    }

    /// Adds the module `module` whose items are `items`, found in `file`; `dir` is where its
    /// child modules' files live.
    fn add_module(&mut self, module: String, file: &Path, dir: &Path, items: &[syn::Item]) {
        let mut m = Module {
            file: rel(file),
            children: BTreeSet::new(),
            items: BTreeSet::new(),
            uses: BTreeMap::new(),
            refs: Vec::new(),
        };
        let mut children = Vec::new();
        for item in items {
            if is_cfg_test(item_attrs(item)) {
                continue;
            }
            match item {
                syn::Item::Mod(md) => {
                    let name = md.ident.to_string();
                    if name == "tests" {
                        continue;
                    }
                    m.children.insert(name.clone());
                    children.push(md);
                }
                syn::Item::Use(_) => {}
                other => {
                    if let Some(name) = item_name(other) {
                        m.items.insert(name);
                    }
                }
            }
        }
        for item in items {
            if let syn::Item::Use(u) = item
                && !is_cfg_test(&u.attrs)
            {
                collect_use(&module, &m.children, &[], &u.tree, &mut m.uses);
            }
        }
        let mut paths = PathCollector::default();
        for item in items {
            if !is_cfg_test(item_attrs(item)) && !matches!(item, syn::Item::Mod(_)) {
                paths.visit_item(item);
            }
        }
        for (_, target) in m.uses.iter() {
            m.refs.push(target.clone());
        }
        let scope = Scope {
            children: m.children.clone(),
            uses: m.uses.clone(),
        };
        for p in paths.paths {
            if let Some(abs) = absolute(&module, &p, &scope) {
                m.refs.push(abs);
            }
        }
        for tree in paths.local_uses {
            let mut local = BTreeMap::new();
            collect_use(&module, &m.children, &[], &tree, &mut local);
            m.refs.extend(local.into_values());
        }
        self.modules.insert(module.clone(), m);

        for md in children {
            let name = md.ident.to_string();
            let child = join(&module, &name);
            if let Some((_, content)) = &md.content {
                let sub = dir.join(&name);
                self.add_module(child, file, &sub, content);
                continue;
            }
            let candidates = match path_attr(&md.attrs) {
                Some(p) => vec![dir.join(p)],
                None => vec![
                    dir.join(format!("{name}.rs")),
                    dir.join(&name).join("mod.rs"),
                ],
            };
            let found = candidates
                .into_iter()
                .find(|c| c.exists())
                .unwrap_or_else(|| panic!("no file for module {child} in {}", dir.display()));
            let parsed = parse(&found);
            let sub = if found.file_name().is_some_and(|f| f == "mod.rs") {
                found.parent().expect("mod.rs has a folder").to_path_buf()
            } else {
                dir.join(&name)
            };
            self.add_module(child, &found, &sub, &parsed.items);
        }
    }

    /// The file that defines what `path` (absolute, without `crate`) names, following
    /// re-exports; `None` for things outside the crate.
    fn resolve(&self, path: &[String], depth: usize) -> Option<(String, String, String)> {
        if depth > 16 {
            return None;
        }
        let mut module = String::new();
        for (i, seg) in path.iter().enumerate() {
            let m = self.modules.get(&module)?;
            if m.children.contains(seg) {
                module = join(&module, seg);
                continue;
            }
            if m.items.contains(seg) {
                return Some((module, m.file.clone(), seg.clone()));
            }
            if let Some(target) = m.uses.get(seg) {
                let mut next = target.clone();
                next.extend(path[i + 1..].iter().cloned());
                return self.resolve(&next, depth + 1);
            }
            return None;
        }
        // The path names a module (`use crate::store;`): what is used through it is
        // followed where it is used.
        None
    }

    /// File-to-file imports: `from → to → names`. A file's references to itself do not
    /// count, nor a module's references into its own submodules: it declares them, they are
    /// its rooms (the crate root declares everything). A submodule that uses its parent's
    /// items is an import like any other.
    fn file_edges(&self) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
        let mut edges: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
        for (path, m) in &self.modules {
            for r in &m.refs {
                let Some((to_module, file, name)) = self.resolve(r, 0) else {
                    continue;
                };
                let inside = path.is_empty() || to_module.starts_with(&format!("{path}::"));
                if file != m.file && !inside {
                    edges
                        .entry(m.file.clone())
                        .or_default()
                        .entry(file)
                        .or_default()
                        .insert(name);
                }
            }
        }
        edges
    }
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::ExternCrate(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::ForeignMod(i) => &i.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        syn::Item::Mod(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::TraitAlias(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Union(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

fn item_name(item: &syn::Item) -> Option<String> {
    let ident = match item {
        syn::Item::Const(i) => &i.ident,
        syn::Item::Enum(i) => &i.ident,
        syn::Item::Fn(i) => &i.sig.ident,
        syn::Item::Macro(i) => i.ident.as_ref()?,
        syn::Item::Static(i) => &i.ident,
        syn::Item::Struct(i) => &i.ident,
        syn::Item::Trait(i) => &i.ident,
        syn::Item::TraitAlias(i) => &i.ident,
        syn::Item::Type(i) => &i.ident,
        syn::Item::Union(i) => &i.ident,
        _ => return None,
    };
    Some(ident.to_string())
}

/// What a bare first segment of a path can name in a module: a child module or an import.
#[derive(Default)]
struct Scope {
    children: BTreeSet<String>,
    uses: BTreeMap<String, Vec<String>>,
}

/// Turns a path as written in `module` into one from the crate root, or `None` when it
/// leaves the crate.
fn absolute(module: &str, path: &[String], scope: &Scope) -> Option<Vec<String>> {
    let first = path.first()?;
    let mut base: Vec<String> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(String::from).collect()
    };
    let mut rest = path;
    match first.as_str() {
        "crate" => {
            base.clear();
            rest = &path[1..];
        }
        "self" => rest = &path[1..],
        "super" => {
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        name if scope.children.contains(name) => {}
        name => {
            let target = scope.uses.get(name)?;
            let mut out = target.clone();
            out.extend(path[1..].iter().cloned());
            return Some(out);
        }
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

fn collect_use(
    module: &str,
    children: &BTreeSet<String>,
    prefix: &[String],
    tree: &syn::UseTree,
    out: &mut BTreeMap<String, Vec<String>>,
) {
    let scope = Scope {
        children: children.clone(),
        uses: BTreeMap::new(),
    };
    let push = |name: String, full: Vec<String>, out: &mut BTreeMap<String, Vec<String>>| {
        if let Some(abs) = absolute(module, &full, &scope) {
            out.insert(name, abs);
        }
    };
    match tree {
        syn::UseTree::Path(p) => {
            let mut next = prefix.to_vec();
            next.push(p.ident.to_string());
            collect_use(module, children, &next, &p.tree, out);
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            let mut full = prefix.to_vec();
            if name == "self" {
                let alias = prefix.last().cloned().unwrap_or_default();
                push(alias, full, out);
            } else {
                full.push(name.clone());
                push(name, full, out);
            }
        }
        syn::UseTree::Rename(r) => {
            let mut full = prefix.to_vec();
            if r.ident != "self" {
                full.push(r.ident.to_string());
            }
            push(r.rename.to_string(), full, out);
        }
        syn::UseTree::Group(g) => {
            for t in &g.items {
                collect_use(module, children, prefix, t, out);
            }
        }
        syn::UseTree::Glob(_) => {}
    }
}

/// Every path in code that may name something of this crate.
#[derive(Default)]
struct PathCollector {
    paths: Vec<Vec<String>>,
    /// `use` items inside functions and blocks.
    local_uses: Vec<syn::UseTree>,
}

impl<'a> Visit<'a> for PathCollector {
    fn visit_path(&mut self, p: &'a syn::Path) {
        if p.segments.len() > 1 {
            self.paths
                .push(p.segments.iter().map(|s| s.ident.to_string()).collect());
        }
        syn::visit::visit_path(self, p);
    }

    fn visit_item_mod(&mut self, _: &'a syn::ItemMod) {}

    fn visit_attribute(&mut self, _: &'a syn::Attribute) {}

    fn visit_item_use(&mut self, u: &'a syn::ItemUse) {
        self.local_uses.push(u.tree.clone());
    }
}

/// Circles of a directed graph (strongly connected components with more than one node).
fn circles(edges: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>) -> Vec<Vec<String>> {
    let mut nodes: BTreeSet<&String> = edges.keys().collect();
    for tos in edges.values() {
        nodes.extend(tos.keys());
    }
    let nodes: Vec<&String> = nodes.into_iter().collect();
    let index: HashMap<&String, usize> = nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let adj: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| {
            edges
                .get(*n)
                .map(|tos| tos.keys().map(|t| index[t]).collect())
                .unwrap_or_default()
        })
        .collect();
    // Kosaraju: finish order on the graph, then components on its reverse.
    let mut order = Vec::new();
    let mut seen = vec![false; nodes.len()];
    for start in 0..nodes.len() {
        if seen[start] {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        seen[start] = true;
        while let Some((n, i)) = stack.pop() {
            if i < adj[n].len() {
                stack.push((n, i + 1));
                let m = adj[n][i];
                if !seen[m] {
                    seen[m] = true;
                    stack.push((m, 0));
                }
            } else {
                order.push(n);
            }
        }
    }
    let mut rev = vec![Vec::new(); nodes.len()];
    for (n, tos) in adj.iter().enumerate() {
        for &m in tos {
            rev[m].push(n);
        }
    }
    let mut comp = vec![usize::MAX; nodes.len()];
    let mut out = Vec::new();
    for &start in order.iter().rev() {
        if comp[start] != usize::MAX {
            continue;
        }
        let id = out.len();
        let mut members = Vec::new();
        let mut stack = vec![start];
        comp[start] = id;
        while let Some(n) = stack.pop() {
            members.push(nodes[n].clone());
            for &m in &rev[n] {
                if comp[m] == usize::MAX {
                    comp[m] = id;
                    stack.push(m);
                }
            }
        }
        out.push(members);
    }
    out.into_iter()
        .filter(|c| c.len() > 1)
        .map(|mut c| {
            c.sort();
            c
        })
        .collect()
}

fn describe(
    circle: &[String],
    edges: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
) -> String {
    let mut s = format!("circle of {}:\n", circle.join(", "));
    for from in circle {
        for (to, names) in edges.get(from).into_iter().flatten() {
            if circle.contains(to) {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                s += &format!("  {from} -> {to}: {}\n", names.join(", "));
            }
        }
    }
    s
}

fn crates() -> Vec<Crate> {
    vec![
        Crate::load("genq-protocol", "protocol/src/lib.rs"),
        Crate::load("genq-daemon", "daemon/src/lib.rs"),
        Crate::load("genq", "tui/src/lib.rs"),
    ]
}

#[test]
fn no_file_imports_from_a_file_that_imports_it_back() {
    let mut found = String::new();
    for krate in crates() {
        let edges = krate.file_edges();
        for c in circles(&edges) {
            found += &format!("{}: {}", krate.name, describe(&c, &edges));
        }
    }
    assert!(found.is_empty(), "import circles between files:\n{found}");
}

/// Top-level modules of a crate and which of the others each uses.
fn floors(krate: &Crate) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let top = |file: &str| -> Option<String> {
        krate
            .modules
            .iter()
            .find(|(_, m)| m.file == file)
            .and_then(|(path, _)| path.split("::").next().map(String::from))
            .filter(|t| !t.is_empty())
    };
    let mut edges: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (from, tos) in krate.file_edges() {
        let Some(a) = top(&from) else { continue };
        for (to, names) in tos {
            let Some(b) = top(&to) else { continue };
            if a != b {
                let entry = edges.entry(a.clone()).or_default().entry(b).or_default();
                entry.extend(names.into_iter().map(|n| format!("{n} ({from})")));
            }
        }
    }
    edges
}

/// Orders modules so that each uses only modules on lower floors.
fn floor_order(edges: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>) -> Vec<Vec<String>> {
    let mut nodes: BTreeSet<String> = edges.keys().cloned().collect();
    for tos in edges.values() {
        nodes.extend(tos.keys().cloned());
    }
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut floors = Vec::new();
    while placed.len() < nodes.len() {
        let floor: Vec<String> = nodes
            .iter()
            .filter(|n| !placed.contains(*n))
            .filter(|n| {
                edges
                    .get(*n)
                    .is_none_or(|tos| tos.keys().all(|t| placed.contains(t)))
            })
            .cloned()
            .collect();
        if floor.is_empty() {
            floors.push(
                nodes
                    .iter()
                    .filter(|n| !placed.contains(*n))
                    .map(|n| format!("{n} (in a circle)"))
                    .collect(),
            );
            break;
        }
        placed.extend(floor.iter().cloned());
        floors.push(floor);
    }
    floors
}

#[test]
fn top_level_modules_only_look_down() {
    let mut found = String::new();
    for krate in crates() {
        let edges = floors(&krate);
        println!("{} from the bottom up:", krate.name);
        for (i, floor) in floor_order(&edges).iter().enumerate() {
            println!("  floor {}: {}", i + 1, floor.join(", "));
        }
        for c in circles(&edges) {
            found += &format!("{}: {}", krate.name, describe(&c, &edges));
        }
    }
    assert!(
        found.is_empty(),
        "top-level modules that use each other:\n{found}"
    );
}

/// Production source files of the workspace crates (not tests, benches or fakes).
fn production_files() -> Vec<(String, syn::File)> {
    let mut files: BTreeSet<String> = BTreeSet::new();
    for krate in crates() {
        files.extend(krate.modules.values().map(|m| m.file.clone()));
    }
    files.insert("daemon/src/main.rs".into());
    files.insert("tui/src/main.rs".into());
    files
        .into_iter()
        .map(|f| {
            let parsed = parse(&root().join(&f));
            (f, parsed)
        })
        .collect()
}

#[test]
fn no_production_file_is_over_the_limit() {
    let mut sizes = Vec::new();
    for (file, parsed) in production_files() {
        let text = fs::read_to_string(root().join(&file)).expect("read");
        let test_lines: usize = parsed
            .items
            .iter()
            .filter(|i| is_cfg_test(item_attrs(i)))
            .map(|i| {
                let s = i.span();
                s.end().line - s.start().line + 1
            })
            .sum();
        sizes.push((text.lines().count() - test_lines, file));
    }
    sizes.sort_by(|a, b| b.cmp(a));
    println!("largest production files (lines, tests left out):");
    for (n, f) in sizes.iter().take(10) {
        println!("  {n:5} {f}");
    }
    let over: Vec<String> = sizes
        .iter()
        .filter(|(n, _)| *n > MAX_FILE_LINES)
        .map(|(n, f)| format!("{f}: {n} lines"))
        .collect();
    assert!(
        over.is_empty(),
        "files over {MAX_FILE_LINES} lines:\n{}",
        over.join("\n")
    );
}

/// Every function with a body, with its length in lines.
#[derive(Default)]
struct FnLengths {
    found: Vec<(usize, String)>,
}

impl FnLengths {
    fn add(&mut self, name: &syn::Ident, sig: &syn::Signature, body: &syn::Block) {
        let lines = body.brace_token.span.close().end().line - sig.fn_token.span.start().line + 1;
        self.found.push((lines, name.to_string()));
    }
}

impl<'a> Visit<'a> for FnLengths {
    fn visit_item_fn(&mut self, f: &'a syn::ItemFn) {
        if is_cfg_test(&f.attrs) {
            return;
        }
        self.add(&f.sig.ident, &f.sig, &f.block);
        syn::visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'a syn::ImplItemFn) {
        if is_cfg_test(&f.attrs) {
            return;
        }
        self.add(&f.sig.ident, &f.sig, &f.block);
        syn::visit::visit_impl_item_fn(self, f);
    }

    fn visit_trait_item_fn(&mut self, f: &'a syn::TraitItemFn) {
        if let Some(body) = &f.default {
            self.add(&f.sig.ident, &f.sig, body);
        }
        syn::visit::visit_trait_item_fn(self, f);
    }

    fn visit_item_mod(&mut self, m: &'a syn::ItemMod) {
        if !is_cfg_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }

    fn visit_item_impl(&mut self, i: &'a syn::ItemImpl) {
        if !is_cfg_test(&i.attrs) {
            syn::visit::visit_item_impl(self, i);
        }
    }
}

#[test]
fn no_production_function_is_over_the_limit() {
    let mut all = Vec::new();
    for (file, parsed) in production_files() {
        let mut v = FnLengths::default();
        v.visit_file(&parsed);
        all.extend(v.found.into_iter().map(|(n, name)| (n, file.clone(), name)));
    }
    all.sort_by(|a, b| b.cmp(a));
    println!("longest production functions (lines):");
    for (n, f, name) in all.iter().take(10) {
        println!("  {n:5} {f}: {name}");
    }
    let over: Vec<String> = all
        .iter()
        .filter(|(n, f, name)| {
            *n > MAX_FN_LINES && !DATA_TABLES.contains(&(f.as_str(), name.as_str()))
        })
        .map(|(n, f, name)| format!("{f}: {name}: {n} lines"))
        .collect();
    assert!(
        over.is_empty(),
        "functions over {MAX_FN_LINES} lines:\n{}",
        over.join("\n")
    );
}
