//! containerd's configuration as containerd reads it: `/etc/containerd/
//! config.toml` and its `imports` (later files overriding earlier ones), and
//! in it the CRI runtime's settings that decide whether the hook runs:
//! `base_runtime_spec` (a spec with the hook in `hooks.createRuntime`) and
//! NRI (whose hook-injector plugin reads the hooks.d file).

use std::collections::{HashSet, VecDeque};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::Merged;
use crate::input::{POLICY_LIMIT, read_bounded};
use crate::policy_set::under;

pub const CONFIG: &str = "/etc/containerd/config.toml";

/// The CRI plugin's `containerd` table by configuration version: 3 (and
/// later; containerd 2.x), 2 (1.x), 1 (older 1.x).
const V3: &[&str] = &["plugins", "io.containerd.cri.v1.runtime", "containerd"];
const V2: &[&str] = &["plugins", "io.containerd.grpc.v1.cri", "containerd"];
const V1: &[&str] = &["plugins", "cri", "containerd"];

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
    /// is a glob, in any component; a file is read once). `None` when there
    /// is no `/etc/containerd`.
    pub fn read(root: &Path) -> Option<Containerd> {
        if !under(root, "/etc/containerd").exists() {
            return None;
        }
        let mut config = Merged::default();
        let mut loaded = HashSet::new();
        let mut pending = VecDeque::from([(under(root, CONFIG), false)]);
        while let Some((file, required)) = pending.pop_front() {
            if !loaded.insert(file.clone()) {
                continue;
            }
            let Some(table) = config.add(file.clone(), required) else {
                continue;
            };
            let imports = table.get("imports").and_then(toml::Value::as_array);
            for import in imports
                .into_iter()
                .flatten()
                .filter_map(toml::Value::as_str)
            {
                let path = imported(root, &file, import);
                if import.contains('*') {
                    pending.extend(glob(root, &path).into_iter().map(|p| (p, false)));
                } else {
                    pending.push_back((path, true));
                }
            }
        }
        let version = config
            .tables_of(&under(root, CONFIG))
            .and_then(|main| main.get("version"))
            .and_then(toml::Value::as_integer)
            .unwrap_or(1);
        Some(Containerd { config, version })
    }

    /// Where this version's containerd reads the CRI plugin's settings
    /// (containerd 2.x migrates a file of version 2 to 3 as it loads it).
    fn layouts(&self) -> &'static [&'static [&'static str]] {
        match self.version {
            3.. => &[V3, V2],
            2 => &[V2],
            _ => &[V1],
        }
    }

    fn get(&self, keys: &[&str]) -> Option<&toml::Value> {
        let paths: Vec<Vec<&str>> = self
            .layouts()
            .iter()
            .map(|layout| [layout, keys].concat())
            .collect();
        let paths: Vec<&[&str]> = paths.iter().map(Vec::as_slice).collect();
        self.config.get_any(&paths)
    }

    /// The CRI plugin's default runtime (`runc` unless set).
    pub fn default_runtime(&self) -> &str {
        let old_default = self
            .get(&["default_runtime", "runtime_type"])
            .and_then(toml::Value::as_str)
            .is_some_and(|t| !t.is_empty());
        if self.version < 3 && old_default {
            return "default";
        }
        self.get(&["default_runtime_name"])
            .and_then(toml::Value::as_str)
            .unwrap_or("runc")
    }

    /// The `base_runtime_spec` a runtime of the CRI plugin starts from.
    pub fn base_runtime_spec(&self, runtime: &str) -> Option<&str> {
        let old = OLD_RUNTIME_TABLES
            .iter()
            .find(|(_, name)| *name == runtime && self.version < 3);
        let table = match old {
            Some((table, _)) if self.get(&[table]).is_some() => vec![*table],
            _ => vec!["runtimes", runtime],
        };
        self.get(&[&table[..], &["base_runtime_spec"]].concat())
            .and_then(toml::Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Every `base_runtime_spec` a runtime names, in the CRI plugin's
    /// tables of every configuration version (1.x's `default_runtime` and
    /// `untrusted_workload_runtime` included): what a containerd that read
    /// this configuration may be running with, whatever version it took it
    /// for.
    pub fn every_base_runtime_spec(&self) -> Vec<BaseSpec<'_>> {
        let mut found = Vec::new();
        for layout in [V3, V2, V1] {
            let runtimes = [layout, &["runtimes"]].concat();
            let named = self.config.keys(&runtimes).into_iter().map(|runtime| {
                let key = [&runtimes[..], &[runtime, "base_runtime_spec"]].concat();
                (runtime, key)
            });
            let old = OLD_RUNTIME_TABLES.iter().map(|(table, runtime)| {
                (*runtime, [layout, &[table, "base_runtime_spec"]].concat())
            });
            for (runtime, key) in named.chain(old) {
                if let (Some(spec), Some(file)) = (self.config.str(&key), self.config.file_of(&key))
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
        found
    }

    /// Whether NRI is enabled (on by default in containerd 2.x, off before).
    pub fn nri_enabled(&self) -> bool {
        !self
            .config
            .get(&["plugins", "io.containerd.nri.v1.nri", "disable"])
            .and_then(toml::Value::as_bool)
            .unwrap_or(self.version < 3)
    }
}

/// A base runtime spec under `root`, as JSON; `None` when it cannot be read
/// as one.
pub fn read_spec(root: &Path, spec: &str) -> Option<Value> {
    let bytes = read_bounded(&under(root, spec), POLICY_LIMIT).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The oci-psp-hook binaries a spec's `createRuntime` (and `prestart`)
/// hooks run.
pub fn hooks_in_spec(spec: &Value) -> impl Iterator<Item = &str> {
    ["createRuntime", "prestart"]
        .into_iter()
        .flat_map(|stage| spec["hooks"][stage].as_array().into_iter().flatten())
        .filter_map(|h| h["path"].as_str())
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

/// The files a glob import names (`*`, `?` and `[…]` in any component,
/// as Go's `filepath.Glob` reads them), sorted; `root` itself is literal.
fn glob(root: &Path, path: &Path) -> Vec<PathBuf> {
    let (Some(root_text), Some(path_text)) = (root.to_str(), path.to_str()) else {
        return Vec::new();
    };
    let pattern = match path_text.strip_prefix(root_text) {
        Some(rest) => format!("{}{rest}", glob::Pattern::escape(root_text)),
        None => path_text.to_string(),
    };
    let mut found: Vec<PathBuf> = glob::glob(&pattern)
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    found.sort();
    found
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
        assert_eq!(c.default_runtime(), "kata");
        assert_eq!(c.base_runtime_spec("kata"), Some("/k.json"));
        assert_eq!(
            specs(&c),
            [
                ("kata".into(), "/k.json".into()),
                ("runsc".into(), "/g.json".into())
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
}
