//! config.json's own hooks: host programs the runtime runs as root around
//! the container's life. A hook entry is accepted only when the node put it
//! there, whole — its executable, arguments and environment:
//! - oci-psp-hook itself (this binary, or where the package installs it)
//!   running its `hook` command exactly as the node runs it: as the hooks.d
//!   file and `containerd-base-spec` write it (`hook`, or `hook --config
//!   /etc/oci-psp-hook/config.yaml`, no environment), or with the policies
//!   and `OCI_PSP_HOOK_*` settings this decision is made with
//!   ([`accept_same_policies`]). Any other command
//!   (`uninstall` say), file (`--config /etc/shadow`: read as root, its
//!   first line shown in the error) or environment (`OCI_PSP_HOOK_CACHE_DIR`:
//!   where the hook writes and prunes as root) would act as root on the
//!   author's behalf;
//! - an entry of the node's hooks.d files (what podman, CRI-O and NRI's
//!   hook injector put in) or of its CDI specs, as defined there and at a
//!   stage the definition names (a cleanup hook of `poststop` moved to
//!   `createRuntime` runs on a container that does not exist yet);
//! - an executable the configuration's `allowedHooks` lists, with any
//!   arguments and no environment of its own (`BASH_ENV`, `PATH`… would have
//!   it run the container's code).
//!
//! And always: an absolute path written plainly (no `.`, `..`, `//`), whose
//! every component is owned by root (or the hook's user) and writable by no
//! one else; through a link, only the very path the node writes (where a
//! link leads depends on who follows it and on what it passes, which a
//! container may write), so what is judged now is what runs later; no loader
//! variables (`LD_*`, `GLIBC_TUNABLES`) in the environment of oci-psp-hook's
//! own entry, and a definition's entry with exactly the definition's
//! environment. Any other entry is privileged evidence.

use std::path::{Path, PathBuf};

use super::oci::Hook;
use crate::input::real_path;

/// Where podman, CRI-O and NRI's hook injector read hooks.d files.
pub const HOOKS_DIRS: &[&str] = &[
    "/usr/share/containers/oci/hooks.d",
    "/etc/containers/oci/hooks.d",
];

/// Where CDI specs live (the CDI spec's default directories).
pub const CDI_DIRS: &[&str] = &["/etc/cdi", "/var/run/cdi"];

/// Where the package installs oci-psp-hook (a root-owned directory).
pub const INSTALLED_PATH: &str = "/usr/libexec/oci/hooks.d/oci-psp-hook";

/// A hooks.d or CDI file larger than this is not a hook definition.
const DEFINITION_LIMIT: u64 = 1 << 20;

/// One hook of config.json and whether the node put it there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookUse {
    pub stage: &'static str,
    pub path: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub known: bool,
    /// oci-psp-hook itself running its `hook` command.
    pub runs_hook: bool,
    /// What nobody but root can change about `path` ([`resolve`]).
    resolved: Resolved,
}

/// A hook as a hooks.d file or CDI spec defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Definition {
    /// As the definition writes it, and where it leads.
    written: String,
    path: PathBuf,
    args: Vec<String>,
    env: Vec<String>,
    /// The stages it is defined for (hooks.d `stages`, CDI `hookName`).
    stages: Vec<String>,
}

impl HookUse {
    /// config.json's hooks, judged against the node's. The directories are
    /// read only when some hook is not oci-psp-hook (the common case reads
    /// nothing).
    pub fn of(hooks: &[Hook]) -> Vec<HookUse> {
        let mut out: Vec<HookUse> = hooks
            .iter()
            .map(|h| HookUse {
                stage: h.stage,
                path: h.path.to_string(),
                args: h.args.iter().map(|a| a.to_string()).collect(),
                env: h.env.iter().map(|e| e.to_string()).collect(),
                known: false,
                runs_hook: false,
                resolved: Resolved::Untrusted,
            })
            .collect();
        if out.is_empty() {
            return out;
        }
        let own = std::fs::read_link("/proc/self/exe").ok();
        let mut node: Option<Vec<Definition>> = None;
        for hook in &mut out {
            hook.resolved = resolve(&hook.path);
            let real = match &hook.resolved {
                Resolved::Untrusted => continue,
                Resolved::Real(real) => Some(real),
                Resolved::Missing | Resolved::Linked => None,
            };
            let is_self = hook.path == INSTALLED_PATH || (real.is_some() && real == own.as_ref());
            hook.runs_hook = is_self && hook.args.get(1).is_some_and(|a| a == "hook");
            hook.known = if hook.runs_hook && hook.installer_form() {
                true
            } else {
                let defs = node.get_or_insert_with(node_hooks);
                hook.defined_in(real.map(PathBuf::as_path), defs)
            };
        }
        out
    }

    /// The entry as the hooks.d file and `containerd-base-spec` write it:
    /// the node's configuration, no environment of its own.
    fn installer_form(&self) -> bool {
        let rest: Vec<&str> = self.args.iter().skip(2).map(String::as_str).collect();
        self.env.is_empty() && matches!(rest[..], [] | ["--config", crate::CONFIG_PATH])
    }

    /// Whether a definition of the node's is this entry: its path as the
    /// definition writes it, or the file it leads to.
    fn defined_in(&self, real: Option<&Path>, defs: &[Definition]) -> bool {
        defs.iter().any(|d| {
            (d.written == self.path || real == Some(&d.path))
                && d.args == self.args
                && d.env == self.env
                && d.stages.iter().any(|s| s == self.stage)
        })
    }
}

/// Accept the entries running oci-psp-hook's `hook` command with the
/// policies this decision is made with (`same`: whether the arguments after
/// `hook` name them) and this process's `OCI_PSP_HOOK_*` variables (which
/// say where it writes, sends and reads as root): the node's own entry (a
/// DaemonSet's flags, say) and copies of it. An entry with no `env` runs
/// with the runtime's environment (runc's Go `exec` passes its own on), as
/// the node's entry does. Other variables do not change what the hook does;
/// loader variables are refused all the same.
pub fn accept_same_policies(hooks: &mut [HookUse], same: impl Fn(&[String]) -> bool) {
    use std::os::unix::ffi::OsStrExt;
    let ours = || {
        own_settings(std::env::vars_os().map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat()))
    };
    for hook in hooks.iter_mut().filter(|h| h.runs_hook && !h.known) {
        let theirs = || own_settings(hook.env.iter().map(|e| e.as_bytes().to_vec()));
        hook.known = same(&hook.args[2..])
            && !loader_env(&hook.env)
            && (hook.env.is_empty() || theirs() == ours());
    }
}

/// The `OCI_PSP_HOOK_*` settings of an environment, sorted.
fn own_settings(env: impl Iterator<Item = Vec<u8>>) -> Vec<Vec<u8>> {
    let mut settings: Vec<Vec<u8>> = env.filter(|e| e.starts_with(b"OCI_PSP_HOOK_")).collect();
    settings.sort();
    settings
}

/// Accept the hooks whose executable the configuration's `allowedHooks`
/// lists: any arguments, no environment of their own (they run with the
/// runtime's: `BASH_ENV`, `PATH`, the loader's variables… would have an
/// allowed program run the container's code).
pub fn allow(hooks: &mut [HookUse], allowed: &[PathBuf]) {
    if allowed.is_empty() || hooks.iter().all(|h| h.known) {
        return;
    }
    let real: Vec<PathBuf> = allowed.iter().filter_map(|p| real_path(p).ok()).collect();
    for hook in hooks.iter_mut().filter(|h| !h.known) {
        hook.known = hook.env.is_empty()
            && match &hook.resolved {
                Resolved::Untrusted => false,
                Resolved::Real(path) => real.contains(path),
                Resolved::Missing | Resolved::Linked => {
                    allowed.iter().any(|a| a.as_os_str() == hook.path.as_str())
                }
            };
    }
}

/// Environment variables that make the dynamic loader run other code.
fn loader_env(env: &[String]) -> bool {
    env.iter()
        .any(|e| e.starts_with("LD_") || e.starts_with("GLIBC_TUNABLES="))
}

/// What nobody but root (or the hook's user) can change about a hook's path
/// before the runtime runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resolved {
    /// Not absolute, or written with `.`, `..`, `//` or a trailing `/`, or a
    /// directory on the way or the file is someone else's or writable by
    /// others.
    Untrusted,
    /// Nothing there, and only root could put something there: the runtime
    /// cannot run it now, and nobody else can make it runnable.
    Missing,
    /// Through a link: where it leads depends on who follows it (a link of
    /// `/proc` names the runtime's own files) and on what the link passes
    /// (a container's files, which the container can change; its mounts,
    /// through which runc resolves a `createContainer` hook). Only a path
    /// the node writes the same way names a hook of the node's.
    Linked,
    /// The file's own path: it is the file it names, for every process.
    Real(PathBuf),
}

/// Judge a hook's path as written: every component from `/` owned by root or
/// the hook's user and not writable by others (a sticky directory may be; a
/// link's own mode bits mean nothing).
fn resolve(path: &str) -> Resolved {
    use std::os::unix::fs::MetadataExt;
    let plain = path.len() > 1
        && path.starts_with('/')
        && path[1..]
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    if !plain {
        return Resolved::Untrusted;
    }
    let mut prefix = PathBuf::from("/");
    // whether others may create entries in the directory last seen (sticky)
    let mut others_create = false;
    let mut linked = false;
    let components = Path::new(path).components().skip(1).map(Some);
    for c in std::iter::once(None).chain(components) {
        if let Some(c) = c {
            prefix.push(c);
        }
        let m = match std::fs::symlink_metadata(&prefix) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !others_create => {
                return Resolved::Missing;
            }
            Err(_) => return Resolved::Untrusted,
        };
        let sticky_dir = m.is_dir() && m.mode() & 0o1000 != 0;
        others_create = sticky_dir && m.mode() & 0o022 != 0;
        let owned = crate::input::owned_by_root_or_hook(m.uid(), m.mode(), &prefix);
        let unwritable = m.mode() & 0o022 == 0 || sticky_dir || m.file_type().is_symlink();
        if !owned || !unwritable {
            return Resolved::Untrusted;
        }
        linked |= m.file_type().is_symlink();
    }
    if linked {
        Resolved::Linked
    } else {
        Resolved::Real(prefix)
    }
}

/// The hooks the node's hooks.d files and CDI specs define, executables
/// resolved.
fn node_hooks() -> Vec<Definition> {
    let mut defs = Vec::new();
    for dir in HOOKS_DIRS {
        for text in definitions(Path::new(dir), &["json"]) {
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&text)
                && let Some(def) = value
                    .get("hook")
                    .and_then(|hook| definition(hook, strings(&value, "stages")))
            {
                defs.push(def);
            }
        }
    }
    for dir in CDI_DIRS {
        for text in definitions(Path::new(dir), &["json", "yaml", "yml"]) {
            let Ok(text) = std::str::from_utf8(&text) else {
                continue;
            };
            // JSON is YAML: one reader for both.
            if let Ok(value) = serde_saphyr::from_str::<serde_json::Value>(text) {
                cdi_hooks(&value, &mut defs);
            }
        }
    }
    defs
}

/// `{path, args, env}` of a hook definition, its path resolved, for `stages`.
fn definition(hook: &serde_json::Value, stages: Vec<String>) -> Option<Definition> {
    let path = hook.get("path")?.as_str()?;
    Some(Definition {
        written: path.to_string(),
        path: real_path(Path::new(path)).ok()?,
        args: strings(hook, "args"),
        env: strings(hook, "env"),
        stages,
    })
}

/// The strings of the list at `key` (its other entries left out).
fn strings(value: &serde_json::Value, key: &str) -> Vec<String> {
    value
        .get(key)
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// `containerEdits.hooks[]` of a CDI spec and of each of its devices.
fn cdi_hooks(spec: &serde_json::Value, out: &mut Vec<Definition>) {
    let edits = std::iter::once(spec.get("containerEdits")).chain(
        spec.get("devices")
            .and_then(|d| d.as_array())
            .into_iter()
            .flatten()
            .map(|d| d.get("containerEdits")),
    );
    for hooks in edits.flatten().filter_map(|e| e.get("hooks")?.as_array()) {
        out.extend(hooks.iter().filter_map(|hook| {
            let stage = hook.get("hookName")?.as_str()?.to_string();
            definition(hook, vec![stage])
        }));
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

    fn hook<'a>(stage: &'static str, path: &'a str, args: &[&'a str], env: &[&'a str]) -> Hook<'a> {
        Hook {
            stage,
            path: path.into(),
            args: args.iter().map(|a| (*a).into()).collect(),
            env: env.iter().map(|e| (*e).into()).collect(),
        }
    }

    #[test]
    fn cdi_hooks_of_the_spec_and_its_devices() {
        let spec: serde_json::Value = serde_saphyr::from_str(
            "cdiVersion: 0.6.0\nkind: nvidia.com/gpu\ncontainerEdits:\n  hooks:\n  - hookName: createContainer\n    path: /bin/sh\n    args: [sh, -c, x]\ndevices:\n- name: '0'\n  containerEdits:\n    hooks:\n    - hookName: createRuntime\n      path: /bin/true\n",
        )
        .unwrap();
        let mut out = Vec::new();
        cdi_hooks(&spec, &mut out);
        let sh = std::fs::canonicalize("/bin/sh").unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(
            (&out[0].path, &out[0].args[..]),
            (&sh, &["sh".to_string(), "-c".into(), "x".into()][..])
        );
        // the entry must be the definition, whole
        let entry = HookUse::of(&[hook("createContainer", "/bin/sh", &["sh", "-c", "x"], &[])]);
        assert!(entry[0].defined_in(Some(&sh), &out));
        let other = HookUse::of(&[hook("createContainer", "/bin/sh", &["sh", "-c", "y"], &[])]);
        assert!(!other[0].defined_in(Some(&sh), &out));
        // and at a stage it is defined for
        let moved = HookUse::of(&[hook("createRuntime", "/bin/sh", &["sh", "-c", "x"], &[])]);
        assert!(!moved[0].defined_in(Some(&sh), &out));
    }

    #[test]
    fn hooks_d_definitions_hold_at_their_stages() {
        let file: serde_json::Value = serde_json::from_str(
            r#"{"version": "1.0.0", "hook": {"path": "/bin/true", "args": ["true", "x"]},
                "when": {"always": true}, "stages": ["prestart", "poststop"]}"#,
        )
        .unwrap();
        let def = definition(&file["hook"], strings(&file, "stages")).unwrap();
        let real = std::fs::canonicalize("/bin/true").unwrap();
        let at = |stage| {
            HookUse::of(&[hook(stage, "/bin/true", &["true", "x"], &[])])[0]
                .defined_in(Some(&real), std::slice::from_ref(&def))
        };
        assert!(at("prestart") && at("poststop"));
        assert!(!at("createRuntime") && !at("startContainer"));
    }

    #[test]
    fn the_hook_itself_only_running_its_hook_command() {
        let own = std::fs::canonicalize("/proc/self/exe").unwrap();
        let own = own.to_str().unwrap();
        let hooks = HookUse::of(&[
            hook(
                "createRuntime",
                INSTALLED_PATH,
                &["oci-psp-hook", "hook"],
                &[],
            ),
            hook(
                "poststart",
                INSTALLED_PATH,
                &["oci-psp-hook", "uninstall", "--root", "/"],
                &[],
            ),
            hook(
                "createRuntime",
                INSTALLED_PATH,
                &["oci-psp-hook", "hook"],
                &["LD_PRELOAD=/x.so"],
            ),
            hook("prestart", "/bin/sh", &["sh"], &[]),
            hook("poststop", "/nonexistent/hook", &[], &[]),
            hook(
                "createRuntime",
                "bin/oci-psp-hook",
                &["oci-psp-hook", "hook"],
                &[],
            ),
            // as containerd-base-spec writes it
            hook(
                "createRuntime",
                INSTALLED_PATH,
                &[
                    "oci-psp-hook",
                    "hook",
                    "--config",
                    "/etc/oci-psp-hook/config.yaml",
                ],
                &[],
            ),
            // where the hook writes and prunes, as root
            hook(
                "poststart",
                INSTALLED_PATH,
                &["oci-psp-hook", "hook"],
                &["OCI_PSP_HOOK_CACHE_DIR=/root"],
            ),
            // a root-only file read as root, its first line in the error
            hook(
                "createRuntime",
                INSTALLED_PATH,
                &["oci-psp-hook", "hook", "--config", "/etc/shadow"],
                &[],
            ),
            hook(
                "createRuntime",
                INSTALLED_PATH,
                &["oci-psp-hook", "hook", "--profile", "builtin:privileged"],
                &[],
            ),
        ]);
        let known: Vec<bool> = hooks.iter().map(|h| h.known).collect();
        assert_eq!(
            known,
            [
                true, false, false, false, false, false, true, false, false, false
            ]
        );
        // this binary (where it is built: a root-owned tree in CI and here):
        // other flags are left to `accept_same_policies`
        if resolve(own) != Resolved::Untrusted {
            let me = HookUse::of(&[
                hook("createRuntime", own, &["x", "hook"], &[]),
                hook(
                    "createRuntime",
                    own,
                    &["x", "hook", "--profile", "builtin:restricted"],
                    &[],
                ),
            ]);
            assert!(me[0].known && !me[1].known);
        }
        // The runtime that runs a hook follows /proc/self/exe to itself.
        let runtimes = HookUse::of(&[
            hook("createRuntime", "/proc/self/exe", &["x", "hook"], &[]),
            hook("createRuntime", "/dev/fd/0", &["x", "hook"], &[]),
        ]);
        assert!(runtimes.iter().all(|h| !h.known && !h.runs_hook));
    }

    #[test]
    fn entries_with_this_decisions_policies_and_no_environment_of_their_own() {
        let flags = ["oci-psp-hook", "hook", "--profile", "builtin:restricted"];
        let mut hooks = HookUse::of(&[
            hook("createRuntime", INSTALLED_PATH, &flags, &[]),
            hook(
                "poststart",
                INSTALLED_PATH,
                &flags,
                &["OCI_PSP_HOOK_CACHE_DIR=/root"],
            ),
            hook(
                "createRuntime",
                INSTALLED_PATH,
                &["oci-psp-hook", "hook", "--config", "/etc/shadow"],
                &[],
            ),
            hook(
                "createRuntime",
                "/bin/sh",
                &["sh", "hook", "--profile", "builtin:restricted"],
                &[],
            ),
        ]);
        accept_same_policies(&mut hooks, |args| {
            args == ["--profile", "builtin:restricted"]
        });
        let known: Vec<bool> = hooks.iter().map(|h| h.known).collect();
        assert_eq!(known, [true, false, false, false]);
    }

    #[test]
    fn allowed_hooks_by_executable() {
        let mut hooks = HookUse::of(&[
            hook("prestart", "/bin/sh", &["sh", "-c", "true"], &[]),
            hook("prestart", "/bin/sh", &["sh"], &["LD_PRELOAD=/tmp/x.so"]),
            hook("poststart", "/bin/sh", &["sh"], &["BASH_ENV=tmp/x.sh"]),
            hook("poststart", "/bin/sh", &["sh"], &["PATH=bin"]),
        ]);
        allow(&mut hooks, &[PathBuf::from("/bin/sh")]);
        let known: Vec<bool> = hooks.iter().map(|h| h.known).collect();
        assert_eq!(known, [true, false, false, false]);
    }

    #[test]
    fn a_path_others_can_change_is_untrusted() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        assert_eq!(
            resolve("/usr/bin/true"),
            Resolved::Real("/usr/bin/true".into())
        );
        for unplain in [
            "bin/sh",
            "/usr/bin/true/",
            "/usr//bin/true",
            "/usr/./bin/true",
            "/usr/x/../bin/true",
            "/",
        ] {
            assert_eq!(resolve(unplain), Resolved::Untrusted, "{unplain}");
        }
        assert_eq!(resolve("/usr/libexec/no-such-hook"), Resolved::Missing);
        assert_eq!(
            resolve("/tmp/no-such-hook-anyone-could-create"),
            Resolved::Untrusted
        );
        // Links of /proc name the files of the process that follows them.
        for magic in ["/proc/self/exe", "/dev/fd/0", "/proc/thread-self/exe"] {
            assert_ne!(resolve(magic), Resolved::Real(magic.into()), "{magic}");
        }
        let temp = tempfile::Builder::new()
            .prefix("psp-hookpath-")
            .tempdir()
            .unwrap();
        let dir = std::fs::canonicalize(temp.path()).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let link = dir.join("hook");
        symlink("/bin/true", &link).unwrap();
        assert_eq!(resolve(link.to_str().unwrap()), Resolved::Untrusted);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        assert_eq!(resolve(link.to_str().unwrap()), Resolved::Linked);
        std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
        assert_eq!(resolve(link.to_str().unwrap()), Resolved::Untrusted);
    }

    /// A hook path through a link is not the hook it leads to now: whoever
    /// can write what the link passes (the container, in its root
    /// filesystem; another container, in its own) can change where it
    /// leads before the runtime runs it.
    #[test]
    fn a_hook_through_a_link_is_unknown() {
        let own = std::fs::read_link("/proc/self/exe").unwrap();
        if !matches!(resolve(own.to_str().unwrap()), Resolved::Real(_))
            || !nix::unistd::geteuid().is_root()
        {
            return;
        }
        let temp = tempfile::tempdir().unwrap();
        let rootfs = std::fs::canonicalize(temp.path()).unwrap().join("rootfs");
        std::fs::create_dir_all(rootfs.join("vol")).unwrap();
        std::os::unix::fs::symlink(&own, rootfs.join("vol/h")).unwrap();
        let through = rootfs.join("vol/h");
        let mut hooks = HookUse::of(&[
            hook("poststop", through.to_str().unwrap(), &["x", "hook"], &[]),
            hook("createRuntime", own.to_str().unwrap(), &["x", "hook"], &[]),
            hook("poststop", through.to_str().unwrap(), &["x"], &[]),
            hook("poststop", own.to_str().unwrap(), &["x"], &[]),
        ]);
        allow(&mut hooks, std::slice::from_ref(&own));
        let known: Vec<bool> = hooks.iter().map(|h| h.known).collect();
        assert_eq!(known, [false, true, false, true]);
        // A path written as the configuration writes it is the node's.
        let mut hooks = HookUse::of(&[hook("poststop", through.to_str().unwrap(), &["x"], &[])]);
        allow(&mut hooks, std::slice::from_ref(&through));
        assert!(hooks[0].known);
    }
}
