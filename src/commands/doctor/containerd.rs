//! containerd reads no hooks.d directory: the hook reaches its containers
//! through the CRI runtime's `base_runtime_spec` (a spec with the hook in
//! `hooks.createRuntime`) or through NRI's hook-injector plugin. This reads
//! containerd's configuration (`/etc/containerd/config.toml` and its
//! `imports`, later files overriding earlier ones, as containerd merges them)
//! and says which route is set up.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::merged::Merged;
use super::{Item, item, under};
use crate::input::{POLICY_LIMIT, read_bounded};
use crate::policy::exemptions::glob_matches;

const CONFIG: &str = "/etc/containerd/config.toml";

/// What doctor says of containerd: checks that fail on a broken route, and
/// a line that tells which route carries the hook.
pub struct Report {
    pub items: Vec<Item>,
    pub info: Option<String>,
}

/// containerd's configuration in merge order: the main file, then each of
/// its `imports` (`*` and `?` in a file name match as in a shell glob).
fn config(root: &Path) -> Merged {
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
    Merged::of(files)
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

pub fn check(root: &Path) -> Option<Report> {
    if !under(root, "/etc/containerd").exists() {
        return None;
    }
    let config = config(root);
    let version = config
        .get(&["version"])
        .and_then(toml::Value::as_integer)
        .unwrap_or(1);
    // Where the CRI runtime's settings are, by configuration version
    // (3: containerd 2.x; 2: 1.x; 1: older 1.x).
    let cri: &[&str] = match version {
        3 => &["plugins", "io.containerd.cri.v1.runtime", "containerd"],
        2 => &["plugins", "io.containerd.grpc.v1.cri", "containerd"],
        _ => &["plugins", "cri", "containerd"],
    };
    let runtime = config
        .str(&[cri, &["default_runtime_name"]].concat())
        .unwrap_or("runc");
    let base = config
        .str(&[cri, &["runtimes", runtime, "base_runtime_spec"]].concat())
        .filter(|s| !s.is_empty());
    // NRI is on by default in containerd 2.x, off before.
    let nri = !config
        .get(&["plugins", "io.containerd.nri.v1.nri", "disable"])
        .and_then(toml::Value::as_bool)
        .unwrap_or(version < 3);
    let mut items = Vec::new();
    let info = match base {
        Some(spec) => {
            items.push(judge_base_spec(root, runtime, spec));
            None
        }
        None if nri => Some(format!(
            "no base_runtime_spec for the default runtime {runtime:?}; NRI is enabled: the hook \
             reaches containerd's containers only if NRI's hook-injector plugin runs (it reads \
             the hooks.d file; doctor cannot see it), and never their pod sandboxes"
        )),
        None => Some(format!(
            "no base_runtime_spec for the default runtime {runtime:?} and NRI is disabled: \
             containerd's containers are not judged (see the README, containerd)"
        )),
    };
    Some(Report { items, info })
}

/// A base runtime spec runs the hook when one of its `createRuntime` (or
/// `prestart`) hooks is an oci-psp-hook binary that is there.
fn judge_base_spec(root: &Path, runtime: &str, spec: &str) -> Item {
    let what = "containerd base_runtime_spec";
    let file = under(root, spec);
    let value: Option<Value> = read_bounded(&file, POLICY_LIMIT)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let Some(value) = value else {
        return item(
            false,
            what,
            format!("runtime {runtime:?} names {spec}, which cannot be read as a JSON spec"),
        );
    };
    let hooks = ["createRuntime", "prestart"]
        .iter()
        .flat_map(|stage| value["hooks"][stage].as_array().into_iter().flatten())
        .filter_map(|h| h["path"].as_str())
        .find(|p| {
            Path::new(p)
                .file_name()
                .is_some_and(|n| n == "oci-psp-hook")
        });
    match hooks {
        None => item(
            false,
            what,
            format!(
                "runtime {runtime:?} takes its spec from {spec}, whose hooks run no oci-psp-hook: \
                 make it with `oci-psp-hook containerd-base-spec`"
            ),
        ),
        Some(hook) if !super::is_executable(&under(root, hook)) => item(
            false,
            what,
            format!(
                "{spec} runs {hook}, which is missing or not executable: runc would fail every \
                 container"
            ),
        ),
        Some(hook) => item(
            true,
            what,
            format!("runtime {runtime:?} takes its spec from {spec}, which runs {hook}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let root = tempfile::Builder::new()
            .prefix("psp-doctor-containerd-")
            .tempdir()
            .unwrap();
        std::fs::create_dir_all(root.path().join("etc/containerd")).unwrap();
        root
    }

    fn write(root: &Path, path: &str, text: &str) {
        let file = under(root, path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }

    fn hook_binary(root: &Path) {
        use std::os::unix::fs::PermissionsExt;
        write(root, "/usr/libexec/oci/hooks.d/oci-psp-hook", "");
        let bin = under(root, "/usr/libexec/oci/hooks.d/oci-psp-hook");
        std::fs::set_permissions(bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    const SPEC: &str = r#"{"hooks": {"createRuntime": [{"path": "/usr/libexec/oci/hooks.d/oci-psp-hook", "args": ["oci-psp-hook", "hook"]}]}}"#;

    #[test]
    fn containerd_2_base_runtime_spec_from_an_import() {
        let dir = tree();
        let root = dir.path();
        hook_binary(root);
        write(
            root,
            CONFIG,
            "version = 3\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n[plugins.'io.containerd.nri.v1.nri']\n  disable = true\n",
        );
        write(
            root,
            "/etc/containerd/conf.d/10-hook.toml",
            "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]\n  base_runtime_spec = \"/etc/containerd/oci-psp-hook-base-spec.json\"\n",
        );
        write(root, "/etc/containerd/oci-psp-hook-base-spec.json", SPEC);
        let report = check(root).unwrap();
        assert!(report.items[0].ok, "{:?}", report.items);
        assert_eq!(report.info, None);
        // a spec without the hook fails, naming what to run
        write(root, "/etc/containerd/oci-psp-hook-base-spec.json", "{}");
        let report = check(root).unwrap();
        assert!(!report.items[0].ok);
        assert!(report.items[0].detail.contains("containerd-base-spec"));
        // the binary gone fails too
        write(root, "/etc/containerd/oci-psp-hook-base-spec.json", SPEC);
        std::fs::remove_file(under(root, "/usr/libexec/oci/hooks.d/oci-psp-hook")).unwrap();
        assert!(!check(root).unwrap().items[0].ok);
    }

    #[test]
    fn without_a_base_spec_the_nri_route_is_told() {
        let dir = tree();
        // kept past the directory's removal below
        let root = dir.path().to_path_buf();
        // containerd 2.x enables NRI unless told not to
        write(&root, CONFIG, "version = 3\n");
        let report = check(&root).unwrap();
        assert!(report.items.is_empty());
        assert!(report.info.unwrap().contains("NRI is enabled"));
        // 1.x (version 2) has it off by default; another default runtime
        write(
            &root,
            CONFIG,
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  default_runtime_name = \"kata\"\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  base_runtime_spec = \"/x.json\"\n",
        );
        let info = check(&root).unwrap().info.unwrap();
        assert!(
            info.contains("\"kata\"") && info.contains("NRI is disabled"),
            "{info}"
        );
        dir.close().unwrap();
        assert!(check(&root).is_none(), "no containerd");
    }
}
