//! containerd's configuration as containerd reads it: `/etc/containerd/
//! config.toml` and its `imports` (later files overriding earlier ones), and
//! in it the CRI runtime's settings that decide whether the hook runs:
//! `base_runtime_spec` (a spec with the hook in `hooks.createRuntime`) and
//! NRI (whose hook-injector plugin reads the hooks.d file).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::Merged;
use crate::input::{POLICY_LIMIT, read_bounded};
use crate::policy::exemptions::glob_matches;
use crate::policy_set::under;

pub const CONFIG: &str = "/etc/containerd/config.toml";

/// Where the CRI runtime's settings are, by configuration version (3:
/// containerd 2.x; 2: 1.x; 1: older 1.x).
const CRI_TABLES: [(i64, &[&str]); 3] = [
    (
        3,
        &["plugins", "io.containerd.cri.v1.runtime", "containerd"],
    ),
    (2, &["plugins", "io.containerd.grpc.v1.cri", "containerd"]),
    (1, &["plugins", "cri", "containerd"]),
];

/// A runtime's `base_runtime_spec`, and the file that sets it.
pub struct BaseSpec<'c> {
    pub runtime: &'c str,
    pub spec: &'c str,
    pub file: &'c Path,
}

pub struct Containerd {
    pub config: Merged,
    /// The configuration's `version` (1 when unset, as containerd reads it).
    pub version: i64,
}

impl Containerd {
    /// The configuration under `root`; `None` when there is no
    /// `/etc/containerd`.
    pub fn read(root: &Path) -> Option<Containerd> {
        if !under(root, "/etc/containerd").exists() {
            return None;
        }
        let main = under(root, CONFIG);
        let imports = Merged::of([main.clone()])
            .strings(&["imports"])
            .unwrap_or_default();
        let mut files = vec![main];
        for import in imports {
            let path = if Path::new(&import).is_absolute() {
                under(root, &import)
            } else {
                under(root, "/etc/containerd").join(&import)
            };
            files.extend(glob(&path));
        }
        let config = Merged::of(files);
        let version = config
            .get(&["version"])
            .and_then(toml::Value::as_integer)
            .unwrap_or(1);
        Some(Containerd { config, version })
    }

    fn cri(&self) -> &'static [&'static str] {
        CRI_TABLES
            .iter()
            .find(|(v, _)| *v == self.version)
            .map_or(CRI_TABLES[2].1, |(_, table)| table)
    }

    /// The CRI plugin's default runtime (`runc` unless set).
    pub fn default_runtime(&self) -> &str {
        self.config
            .str(&[self.cri(), &["default_runtime_name"]].concat())
            .unwrap_or("runc")
    }

    /// The `base_runtime_spec` a runtime of the CRI plugin starts from.
    pub fn base_runtime_spec(&self, runtime: &str) -> Option<&str> {
        self.config
            .str(&[self.cri(), &["runtimes", runtime, "base_runtime_spec"]].concat())
            .filter(|s| !s.is_empty())
    }

    /// Every `base_runtime_spec` a runtime names, under the CRI plugin's
    /// table of any configuration version: what a containerd that read this
    /// configuration may be running with, whatever version it took it for.
    pub fn every_base_runtime_spec(&self) -> Vec<BaseSpec<'_>> {
        let mut found = Vec::new();
        for (_, cri) in CRI_TABLES {
            let runtimes = [cri, &["runtimes"]].concat();
            for runtime in self.config.keys(&runtimes) {
                let key = [&runtimes[..], &[runtime, "base_runtime_spec"]].concat();
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

/// The oci-psp-hook binary a spec's `createRuntime` (or `prestart`) hooks
/// run, if any.
pub fn hook_in_spec(spec: &Value) -> Option<&str> {
    ["createRuntime", "prestart"]
        .iter()
        .flat_map(|stage| spec["hooks"][stage].as_array().into_iter().flatten())
        .filter_map(|h| h["path"].as_str())
        .find(|p| {
            Path::new(p)
                .file_name()
                .is_some_and(|n| n == "oci-psp-hook")
        })
}

/// The files `path` names, `*` and `?` in its last component matching as
/// in a shell glob, sorted.
fn glob(path: &Path) -> Vec<PathBuf> {
    let pattern = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !pattern.contains(['*', '?']) {
        return vec![path.to_path_buf()];
    }
    let Some(dir) = path.parent() else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| glob_matches(pattern, n))
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}
