//! containerd's configuration as containerd loads it: `/etc/containerd/
//! config.toml`, the files its `imports` name and theirs in turn, each file
//! read in its own configuration version, a later file's table of a plugin
//! replacing an earlier one's whole; and in it the CRI runtime's settings
//! that decide whether the hook runs: `base_runtime_spec` (a spec with the
//! hook in `hooks.createRuntime`) and NRI (whose hook-injector plugin reads
//! the hooks.d file).

use std::collections::{HashSet, VecDeque};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::Merged;
use crate::input::{POLICY_LIMIT, read_bounded};
use crate::policy_set::under;

pub const CONFIG: &str = "/etc/containerd/config.toml";

/// The CRI plugin by configuration version: 3 (containerd 2.x), 2 (1.x),
/// 1 (older 1.x).
const V3: &str = "io.containerd.cri.v1.runtime";
const V2: &str = "io.containerd.grpc.v1.cri";
const V1: &str = "cri";
const NRI: &str = "io.containerd.nri.v1.nri";

/// containerd 1.x's tables for a runtime outside `runtimes` (deprecated,
/// removed in 2.x): containerd 1.7 takes them as the runtimes named so.
const OLD_RUNTIME_TABLES: [(&str, &str); 2] = [
    ("default_runtime", "default"),
    ("untrusted_workload_runtime", "untrusted"),
];

/// A runtime's `base_runtime_spec`, and the file that sets it.
pub struct BaseSpec<'c> {
    pub runtime: &'c str,
    pub spec: &'c str,
    pub file: &'c Path,
}

pub struct Containerd {
    pub config: Merged,
    /// The main file's `version` (1 when unset, as containerd reads it).
    pub version: i64,
}

impl Containerd {
    /// The configuration under `root`: config.toml, then the files its
    /// `imports` name and theirs in turn, as containerd loads them (a
    /// relative import is from the importing file's directory; one with `*`
    /// is a glob, as Go's `filepath.Glob` reads it; a file is read once).
    /// `None` when there is no `/etc/containerd`.
    pub fn read(root: &Path) -> Option<Containerd> {
        if !under(root, "/etc/containerd").exists() {
            return None;
        }
        let main = under(root, CONFIG);
        let mut config = Merged::default();
        let mut loaded = HashSet::new();
        let mut pending = VecDeque::from([(main.clone(), false)]);
        while let Some((file, required)) = pending.pop_front() {
            if !loaded.insert(file.clone()) {
                continue;
            }
            let Some(table) = config.add(file.clone(), required) else {
                continue;
            };
            let imports = table.get("imports").and_then(toml::Value::as_array);
            let mut bad = Vec::new();
            for import in imports
                .into_iter()
                .flatten()
                .filter_map(toml::Value::as_str)
            {
                let path = imported(root, &file, import);
                if import.contains('*') {
                    match glob(root, &path) {
                        Ok(found) => pending.extend(found.into_iter().map(|p| (p, false))),
                        Err(why) => bad.push((file.clone(), format!("import {import:?}: {why}"))),
                    }
                } else {
                    pending.push_back((path, true));
                }
            }
            config.unreadable.extend(bad);
        }
        let version = config
            .files()
            .next()
            .filter(|(file, _)| *file == main)
            .map_or(1, |(_, table)| version_of(table));
        Some(Containerd { config, version })
    }

    /// The CRI plugins a file of version `file_version` is read in (a file
    /// older than the main file's version is migrated to it as it loads).
    fn cri_plugins(&self, file_version: i64) -> &'static [&'static str] {
        match (self.version, file_version) {
            (3.., 3..) => &[V3],
            (3.., 2) => &[V2, V3],
            (3.., _) => &[V1, V2, V3],
            (2, 2..) => &[V2],
            (2, _) => &[V1, V2],
            _ => &[V1],
        }
    }

    /// A plugin's table as containerd takes it: the last file's that has
    /// one, whole.
    fn plugin(&self, names: impl Fn(i64) -> &'static [&'static str]) -> Option<&toml::Table> {
        self.config.files().rev().find_map(|(_, doc)| {
            let plugins = doc.get("plugins")?.as_table()?;
            names(version_of(doc))
                .iter()
                .find_map(|name| plugins.get(*name)?.as_table())
        })
    }

    /// The CRI plugin's `containerd` table.
    fn cri(&self) -> Option<&toml::Table> {
        self.plugin(|v| self.cri_plugins(v))?
            .get("containerd")?
            .as_table()
    }

    fn old_runtime_table(&self, runtime: &str) -> Option<&toml::Table> {
        let (table, _) = OLD_RUNTIME_TABLES
            .iter()
            .find(|(_, name)| *name == runtime && self.version < 3)?;
        self.cri()?.get(*table)?.as_table()
    }

    /// The CRI plugin's default runtime (`runc` unless set).
    pub fn default_runtime(&self) -> &str {
        let old_default = self
            .old_runtime_table("default")
            .and_then(|t| t.get("runtime_type")?.as_str())
            .is_some_and(|t| !t.is_empty());
        if old_default {
            return "default";
        }
        self.cri()
            .and_then(|t| t.get("default_runtime_name")?.as_str())
            .unwrap_or("runc")
    }

    /// The `base_runtime_spec` a runtime of the CRI plugin starts from.
    pub fn base_runtime_spec(&self, runtime: &str) -> Option<&str> {
        let table = match self.old_runtime_table(runtime) {
            Some(table) => table,
            None => self.cri()?.get("runtimes")?.get(runtime)?.as_table()?,
        };
        table
            .get("base_runtime_spec")?
            .as_str()
            .filter(|s| !s.is_empty())
    }

    /// Every `base_runtime_spec` of every file, in the CRI plugin's tables
    /// of every configuration version (1.x's `default_runtime` and
    /// `untrusted_workload_runtime` included): what a containerd that read
    /// these files may be running with, however it took them.
    pub fn every_base_runtime_spec(&self) -> Vec<BaseSpec<'_>> {
        base_specs(self.config.files(), &[V3, V2, V1])
    }

    /// The `base_runtime_spec` settings containerd ignores: in a file of
    /// version 3 or later, under a CRI plugin of an older version (the
    /// table 1.x's documentation shows; 2.x migrates only older files).
    pub fn ignored_base_runtime_specs(&self) -> Vec<BaseSpec<'_>> {
        let files = self.config.files();
        let newer = files.filter(|(_, doc)| self.version >= 3 && version_of(doc) >= 3);
        base_specs(newer, &[V2, V1])
    }

    /// Whether NRI is enabled (on by default in containerd 2.x, off before).
    pub fn nri_enabled(&self) -> bool {
        !self
            .plugin(|_| &[NRI])
            .and_then(|t| t.get("disable")?.as_bool())
            .unwrap_or(self.version < 3)
    }
}

/// A file's own `version` (1 when unset).
fn version_of(doc: &toml::Table) -> i64 {
    doc.get("version")
        .and_then(toml::Value::as_integer)
        .unwrap_or(1)
}

/// The `base_runtime_spec` settings of `files` in the CRI plugin tables
/// among `plugins`.
fn base_specs<'c>(
    files: impl Iterator<Item = (&'c Path, &'c toml::Table)>,
    plugins: &'static [&'static str],
) -> Vec<BaseSpec<'c>> {
    let mut found = Vec::new();
    for (file, doc) in files {
        let tables = plugins.iter().filter_map(|name| {
            doc.get("plugins")?
                .get(*name)?
                .get("containerd")?
                .as_table()
        });
        for cri in tables {
            let named = cri
                .get("runtimes")
                .and_then(toml::Value::as_table)
                .into_iter()
                .flatten()
                .map(|(runtime, table)| (runtime.as_str(), table));
            let old = OLD_RUNTIME_TABLES
                .iter()
                .filter_map(|(table, runtime)| Some((*runtime, cri.get(*table)?)));
            for (runtime, table) in named.chain(old) {
                if let Some(spec) = table.get("base_runtime_spec").and_then(toml::Value::as_str)
                    && !spec.is_empty()
                {
                    found.push(BaseSpec {
                        runtime,
                        spec,
                        file,
                    });
                }
            }
        }
    }
    found
}

/// A base runtime spec under `root`, as JSON; `None` when it cannot be read
/// as one.
pub fn read_spec(root: &Path, spec: &str) -> Option<Value> {
    let bytes = read_bounded(&under(root, spec), POLICY_LIMIT).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Every hook of a spec, as (stage, path).
pub fn spec_hooks(spec: &Value) -> impl Iterator<Item = (&str, &str)> {
    spec["hooks"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(stage, hooks)| {
            hooks
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(move |h| Some((stage.as_str(), h["path"].as_str()?)))
        })
}

/// The oci-psp-hook binaries a spec's `createRuntime` (and `prestart`)
/// hooks run.
pub fn hooks_in_spec(spec: &Value) -> impl Iterator<Item = &str> {
    spec_hooks(spec)
        .filter(|(stage, _)| matches!(*stage, "createRuntime" | "prestart"))
        .map(|(_, path)| path)
        .filter(|p| {
            Path::new(p)
                .file_name()
                .is_some_and(|n| n == "oci-psp-hook")
        })
}

/// The file `import` names from `file` (both under `root`), resolved as
/// containerd resolves it on the node: relative to the importing file's
/// directory, `..` taken lexically (never above the node's `/`).
fn imported(root: &Path, file: &Path, import: &str) -> PathBuf {
    let mut node = PathBuf::from("/");
    if let Some(dir) = file.parent().and_then(|d| d.strip_prefix(root).ok()) {
        node.push(dir);
    }
    for part in Path::new(import).components() {
        match part {
            Component::RootDir => node = PathBuf::from("/"),
            Component::ParentDir => {
                node.pop();
            }
            Component::Normal(name) => node.push(name),
            Component::CurDir | Component::Prefix(_) => {}
        }
    }
    root.join(node.strip_prefix("/").unwrap_or(&node))
}

/// The files a glob import (`path`, under `root`) names, as Go's
/// `filepath.Glob` matches them: a component at a time (`*`, `**` alike,
/// `?`, `[…]` with `^` for negation, `\` escaping), sorted, no directory
/// walked deeper than the pattern. Names that are not UTF-8 match no
/// pattern. Err: a pattern Go refuses (containerd would not start).
fn glob(root: &Path, path: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found = vec![root.to_path_buf()];
    let node = path.strip_prefix(root).unwrap_or(path);
    for part in node.components() {
        let Component::Normal(part) = part else {
            continue;
        };
        let text = part.to_string_lossy();
        if !text.contains(['*', '?', '[', '\\']) {
            found = found.into_iter().map(|dir| dir.join(part)).collect();
            continue;
        }
        let pattern = go_pattern(&text)?;
        let mut next = Vec::new();
        for dir in found {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<_> = entries
                .flatten()
                .map(|e| e.file_name())
                .filter(|n| n.to_str().is_some_and(|n| pattern.matches(n)))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| dir.join(n)));
        }
        found = next;
    }
    Ok(found
        .into_iter()
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .collect())
}

/// One component of a Go glob as a `glob` crate pattern.
fn go_pattern(component: &str) -> Result<glob::Pattern, String> {
    let mut out = String::new();
    let mut chars = component.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let escaped = chars.next().ok_or("a trailing \\")?;
                out.push_str(&glob::Pattern::escape(&escaped.to_string()));
            }
            '*' => {
                while chars.peek() == Some(&'*') {
                    chars.next();
                }
                out.push('*');
            }
            '[' => {
                out.push('[');
                let mut class = String::new();
                loop {
                    match chars.next().ok_or("an unclosed [")? {
                        ']' if !class.is_empty() => break,
                        '\\' => class.push(chars.next().ok_or("a trailing \\")?),
                        c => class.push(c),
                    }
                }
                match class.strip_prefix('^') {
                    Some(negated) => {
                        out.push('!');
                        out.push_str(negated);
                    }
                    // Go's `!` is literal: never first, where the crate negates
                    None if class.starts_with('!') && class.len() > 1 => {
                        out.push_str(&class[1..]);
                        out.push('!');
                    }
                    None => out.push_str(&class),
                }
                out.push(']');
            }
            c => out.push(c),
        }
    }
    glob::Pattern::new(&out).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{containerd_root as tree, write_under as write};

    fn specs(c: &Containerd) -> Vec<(String, String)> {
        c.every_base_runtime_spec()
            .iter()
            .map(|b| (b.runtime.to_string(), b.spec.to_string()))
            .collect()
    }

    const KATA: &str = "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.kata]\n  base_runtime_spec = \"/k.json\"\n";

    #[test]
    fn imports_of_imports_relative_and_globbed_in_any_component() {
        let dir = tree();
        let root = dir.path();
        write(
            root,
            CONFIG,
            "version = 3\nimports = [\"conf.d/*.toml\", \"/etc/containerd/runtimes.d/*/config.toml\"]\n",
        );
        // relative to its own directory, and absolute; a cycle is read once
        write(
            root,
            "/etc/containerd/conf.d/10.toml",
            "imports = [\"20.toml.in\", \"/etc/containerd/kata/kata.toml\", \"../config.toml\"]\n",
        );
        write(
            root,
            "/etc/containerd/conf.d/20.toml.in",
            "[plugins.'io.containerd.cri.v1.runtime'.containerd]\n  default_runtime_name = \"kata\"\n",
        );
        write(root, "/etc/containerd/kata/kata.toml", KATA);
        write(
            root,
            "/etc/containerd/runtimes.d/gvisor/config.toml",
            "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runsc]\n  base_runtime_spec = \"/g.json\"\n",
        );
        let c = Containerd::read(root).unwrap();
        assert!(c.config.unreadable.is_empty(), "{:?}", c.config.unreadable);
        // loaded breadth first: kata.toml last, its CRI table replacing
        // 20.toml.in's whole (default_runtime_name with it)
        assert_eq!(c.default_runtime(), "runc");
        assert_eq!(c.base_runtime_spec("kata"), Some("/k.json"));
        assert_eq!(c.base_runtime_spec("runsc"), None);
        assert_eq!(
            specs(&c),
            [
                ("runsc".into(), "/g.json".into()),
                ("kata".into(), "/k.json".into())
            ]
        );
        // `..` stays below the node's `/`
        assert_eq!(
            imported(root, &under(root, CONFIG), "../../../../x.toml"),
            under(root, "/x.toml")
        );
    }

    #[test]
    fn a_missing_named_import_is_unreadable_a_glob_without_match_is_not() {
        let dir = tree();
        let root = dir.path();
        write(
            root,
            CONFIG,
            "version = 2\nimports = [\"/etc/kata-containers/containerd.toml\", \"/etc/containerd/none/*.toml\"]\n",
        );
        let c = Containerd::read(root).unwrap();
        let files: Vec<&Path> = c
            .config
            .unreadable
            .iter()
            .map(|(f, _)| f.as_path())
            .collect();
        assert_eq!(files, [under(root, "/etc/kata-containers/containerd.toml")]);
        // no config.toml at all: containerd's defaults, nothing unreadable
        std::fs::remove_file(under(root, CONFIG)).unwrap();
        let c = Containerd::read(root).unwrap();
        assert!(c.config.unreadable.is_empty());
        assert_eq!((c.version, c.default_runtime()), (1, "runc"));
    }

    #[test]
    fn containerd_1_x_default_and_untrusted_runtime_tables() {
        let dir = tree();
        let root = dir.path();
        write(
            root,
            CONFIG,
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  default_runtime_name = \"runc\"\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.default_runtime]\n  runtime_type = \"io.containerd.runc.v2\"\n  base_runtime_spec = \"/d.json\"\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.untrusted_workload_runtime]\n  runtime_type = \"io.containerd.kata.v2\"\n  base_runtime_spec = \"/u.json\"\n",
        );
        let c = Containerd::read(root).unwrap();
        assert_eq!(c.default_runtime(), "default");
        assert_eq!(c.base_runtime_spec("default"), Some("/d.json"));
        assert_eq!(
            specs(&c),
            [
                ("default".into(), "/d.json".into()),
                ("untrusted".into(), "/u.json".into())
            ]
        );
        assert!(!c.nri_enabled());
    }

    #[test]
    fn the_main_files_version_picks_the_tables() {
        let dir = tree();
        let root = dir.path();
        // version 4 reads as 3; a drop-in's version 2 layout is migrated
        write(
            root,
            CONFIG,
            "version = 4\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n",
        );
        write(
            root,
            "/etc/containerd/conf.d/old.toml",
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  base_runtime_spec = \"/o.json\"\n",
        );
        let c = Containerd::read(root).unwrap();
        assert_eq!(c.version, 4);
        assert_eq!(c.base_runtime_spec("runc"), Some("/o.json"));
        assert!(c.nri_enabled());
        write(
            root,
            "/etc/containerd/conf.d/zz-new.toml",
            KATA.replace("kata", "runc").as_str(),
        );
        let c = Containerd::read(root).unwrap();
        assert_eq!(
            c.base_runtime_spec("runc"),
            Some("/k.json"),
            "the later file wins"
        );
    }

    #[test]
    fn a_later_files_plugin_table_replaces_the_earlier_whole() {
        let dir = tree();
        let root = dir.path();
        write(
            root,
            CONFIG,
            &format!("version = 3\nimports = [\"conf.d/*.toml\"]\n{KATA}"),
        );
        assert_eq!(
            Containerd::read(root).unwrap().base_runtime_spec("kata"),
            Some("/k.json")
        );
        write(
            root,
            "/etc/containerd/conf.d/snap.toml",
            "version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd]\n  snapshotter = \"native\"\n",
        );
        let c = Containerd::read(root).unwrap();
        assert_eq!(c.base_runtime_spec("kata"), None);
        // uninstall still counts every file's
        assert_eq!(specs(&c), [("kata".into(), "/k.json".into())]);
    }

    #[test]
    fn a_version_3_file_ignores_the_older_cri_table() {
        let dir = tree();
        let root = dir.path();
        let table = "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  base_runtime_spec = \"/b.json\"\n";
        write(root, CONFIG, &format!("version = 3\n{table}"));
        let c = Containerd::read(root).unwrap();
        assert_eq!(c.base_runtime_spec("runc"), None);
        let ignored: Vec<&str> = c
            .ignored_base_runtime_specs()
            .iter()
            .map(|b| b.spec)
            .collect();
        assert_eq!(ignored, ["/b.json"]);
        assert_eq!(specs(&c), [("runc".into(), "/b.json".into())]);
        // the same table in version 2 is read
        write(root, CONFIG, &format!("version = 2\n{table}"));
        let c = Containerd::read(root).unwrap();
        assert_eq!(c.base_runtime_spec("runc"), Some("/b.json"));
        assert!(c.ignored_base_runtime_specs().is_empty());
    }

    #[test]
    fn imports_globbed_as_go_globs() {
        let dir = tree();
        let root = dir.path();
        for name in ["a.toml", "_b.toml", "c.txt"] {
            write(root, &format!("/etc/containerd/conf.d/{name}"), "");
        }
        let names = |import: &str| -> Result<Vec<String>, String> {
            let path = imported(root, &under(root, CONFIG), import);
            Ok(glob(root, &path)?
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect())
        };
        assert_eq!(names("conf.d/**.toml").unwrap(), ["_b.toml", "a.toml"]);
        assert_eq!(names("conf.d/[^_]*.toml").unwrap(), ["a.toml"]);
        assert_eq!(names("conf.d/\\_*").unwrap(), ["_b.toml"]);
        assert_eq!(names("*/a.t?ml").unwrap(), ["a.toml"]);
        assert!(names("conf.d/[*.toml").is_err());
        // a bad pattern is an unreadable file: containerd would not start
        write(root, CONFIG, "imports = [\"conf.d/[*.toml\"]\n");
        let c = Containerd::read(root).unwrap();
        assert_eq!(c.config.unreadable.len(), 1, "{:?}", c.config.unreadable);
    }
}
