//! config.json's own hooks: host programs the runtime runs as root around
//! the container's life. A hook is accepted only when its executable is one
//! the node put there: oci-psp-hook itself (this binary, or the package's
//! path), a hook of the node's hooks.d
//! directories (what podman and CRI-O inject), a hook a CDI spec of the node
//! declares, or one the configuration's `allowedHooks` lists. Any other is
//! privileged evidence: whoever wrote config.json would run code as root on
//! the host.

use std::path::{Path, PathBuf};

use super::oci::Hook;

/// Where podman, CRI-O and NRI's hook injector read hooks.d files.
pub const HOOKS_DIRS: &[&str] = &[
    "/usr/share/containers/oci/hooks.d",
    "/etc/containers/oci/hooks.d",
];

/// Where CDI specs live (the CDI spec's default directories).
pub const CDI_DIRS: &[&str] = &["/etc/cdi", "/var/run/cdi"];

/// A hooks.d or CDI file larger than this is not a hook definition.
const DEFINITION_LIMIT: u64 = 1 << 20;

/// One hook of config.json and whether the node knows its executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookUse {
    pub stage: &'static str,
    pub path: String,
    pub known: bool,
}

/// Where the package installs oci-psp-hook (a root-owned directory).
pub const INSTALLED_PATH: &str = "/usr/libexec/oci/hooks.d/oci-psp-hook";

impl HookUse {
    /// config.json's hooks, judged against the node's: oci-psp-hook itself
    /// (this binary, or where the package installs it), the hooks.d files
    /// and CDI specs. The directories are read only when some hook is not
    /// oci-psp-hook (the common case reads nothing).
    pub fn of(hooks: &[Hook]) -> Vec<HookUse> {
        let mut out: Vec<HookUse> = hooks
            .iter()
            .map(|h| HookUse {
                stage: h.stage,
                path: h.path.to_string(),
                known: false,
            })
            .collect();
        if out.is_empty() {
            return out;
        }
        let own = std::fs::canonicalize("/proc/self/exe").ok();
        let mut node: Option<Vec<PathBuf>> = None;
        for hook in &mut out {
            if hook.path == INSTALLED_PATH {
                hook.known = true;
                continue;
            }
            let Ok(real) = std::fs::canonicalize(&hook.path) else {
                continue; // not there now: unknown
            };
            hook.known =
                Some(&real) == own.as_ref() || node.get_or_insert_with(node_hooks).contains(&real);
        }
        out
    }
}

/// Accept the hooks whose executable the configuration's `allowedHooks`
/// lists.
pub fn allow(hooks: &mut [HookUse], allowed: &[PathBuf]) {
    if allowed.is_empty() || hooks.iter().all(|h| h.known) {
        return;
    }
    let allowed: Vec<PathBuf> = allowed
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    for hook in hooks.iter_mut().filter(|h| !h.known) {
        hook.known = std::fs::canonicalize(&hook.path).is_ok_and(|real| allowed.contains(&real));
    }
}

/// The executables of the node's hooks.d files and CDI specs, resolved.
fn node_hooks() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for dir in HOOKS_DIRS {
        for text in definitions(Path::new(dir), &["json"]) {
            let Ok(value) = serde_json::from_slice::<serde_json::Value>(&text) else {
                continue;
            };
            if let Some(p) = value.pointer("/hook/path").and_then(|p| p.as_str()) {
                paths.push(PathBuf::from(p));
            }
        }
    }
    for dir in CDI_DIRS {
        for text in definitions(Path::new(dir), &["json", "yaml", "yml"]) {
            let Ok(text) = std::str::from_utf8(&text) else {
                continue;
            };
            // JSON is YAML: one reader for both.
            let Ok(value) = serde_saphyr::from_str::<serde_json::Value>(text) else {
                continue;
            };
            cdi_hooks(&value, &mut paths);
        }
    }
    paths
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect()
}

/// `containerEdits.hooks[].path` of a CDI spec and of each of its devices.
fn cdi_hooks(spec: &serde_json::Value, out: &mut Vec<PathBuf>) {
    let edits = std::iter::once(spec.get("containerEdits")).chain(
        spec.get("devices")
            .and_then(|d| d.as_array())
            .into_iter()
            .flatten()
            .map(|d| d.get("containerEdits")),
    );
    for hooks in edits.flatten().filter_map(|e| e.get("hooks")?.as_array()) {
        out.extend(
            hooks
                .iter()
                .filter_map(|h| h.get("path")?.as_str())
                .map(PathBuf::from),
        );
    }
}

/// The texts of the regular files of `dir` with one of `extensions`, owned
/// by root and not writable by others (a hook definition anyone could write
/// would let anyone allow a hook).
fn definitions(dir: &Path, extensions: &[&str]) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
        })
        .filter_map(|p| crate::input::read_trusted(&p, DEFINITION_LIMIT).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdi_hooks_of_the_spec_and_its_devices() {
        let spec: serde_json::Value = serde_saphyr::from_str(
            "cdiVersion: 0.6.0\nkind: nvidia.com/gpu\ncontainerEdits:\n  hooks:\n  - hookName: createContainer\n    path: /usr/bin/nvidia-ctk\ndevices:\n- name: '0'\n  containerEdits:\n    hooks:\n    - hookName: createRuntime\n      path: /usr/bin/other\n",
        )
        .unwrap();
        let mut out = Vec::new();
        cdi_hooks(&spec, &mut out);
        assert_eq!(
            out,
            [
                PathBuf::from("/usr/bin/nvidia-ctk"),
                PathBuf::from("/usr/bin/other")
            ]
        );
    }

    #[test]
    fn the_hook_itself_and_allowed_ones_are_known() {
        let own = std::fs::canonicalize("/proc/self/exe").unwrap();
        let own = own.to_str().unwrap();
        fn hook<'a>(stage: &'static str, path: &'a str) -> Hook<'a> {
            Hook {
                stage,
                path: path.into(),
            }
        }
        let mut hooks = HookUse::of(&[
            hook("createRuntime", own),
            hook("prestart", "/bin/sh"),
            hook("poststop", "/nonexistent/hook"),
            hook("createRuntime", INSTALLED_PATH),
        ]);
        assert!(hooks[0].known && hooks[3].known);
        assert!(!hooks[1].known && !hooks[2].known);
        allow(&mut hooks, &[PathBuf::from("/bin/sh")]);
        assert!(hooks[1].known && !hooks[2].known);
    }
}
