//! `doctor`: is enforcement really active on this node? It checks the
//! installation end to end — the hooks.d file and the executable it names (a
//! missing binary makes CRI-O and podman skip the hook silently), the
//! configuration and policies, the runtimes' hooks directories — and, with
//! `--canary`, starts a privileged container through runc with the installed
//! hook and confirms it is blocked. Exit 0 only when everything holds.
//!
//! Under `--root` (an installation seen from elsewhere, `/host` in the
//! DaemonSet) everything is read under the root, the configuration's
//! absolute policyDirectory included. It also reports the installed binary's
//! version (`BINARY --version`), the digest of the active configuration and
//! policies (see [`crate::policy_set`]), and fails when `install`'s last sync
//! was refused (ROOT/run/oci-psp-hook/install-status.json).

mod containerd;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::input::{POLICY_LIMIT, read_bounded};
use crate::policy::select::Sources;
use crate::runtime_config::Merged;

use crate::policy_set::{self, under};

/// Where podman and CRI-O look for hooks.d files by default.
pub const HOOKS_DIRS: &[&str] = &[
    "/usr/share/containers/oci/hooks.d",
    "/etc/containers/oci/hooks.d",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub ok: bool,
    pub what: String,
    pub detail: String,
}

fn item(ok: bool, what: &str, detail: impl Into<String>) -> Item {
    Item {
        ok,
        what: what.to_string(),
        detail: detail.into(),
    }
}

/// A hooks.d file of ours: its path and the hook it declares.
#[derive(Debug, Clone)]
struct HookFile {
    file: PathBuf,
    path: PathBuf,
    args: Vec<String>,
}

pub fn run(root: &Path, config_file: Option<&Path>, canary: bool, json_output: bool) -> i32 {
    let mut items = Vec::new();
    let hooks = hook_files(root, &mut items);
    items.push(lint(root, config_file));
    let config_path = config_file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| under(root, crate::CONFIG_PATH));
    let digest = policy_set::active_digest(root, &config_path).and_then(Result::ok);
    // The installer's record is compared with the set found only when that
    // is the installed configuration.
    let installed = digest.as_deref().filter(|_| config_file.is_none());
    if let Some((ok, detail)) = policy_set::status_check(root, installed) {
        items.push(item(ok, "installer", detail));
    }
    let binary = hooks.first().map_or_else(
        || under(root, super::base_spec::DEFAULT_HOOK_PATH),
        |h| under(root, &h.path.display().to_string()),
    );
    let binary_version = super::install::binary_version(&binary);
    for dir_check in runtime_dirs(root, &hooks) {
        items.push(dir_check);
    }
    let containerd = containerd::check(root);
    let containerd_info = containerd.as_ref().and_then(|c| c.info.clone());
    items.extend(containerd.into_iter().flat_map(|c| c.items));
    if canary {
        items.push(match hooks.first() {
            Some(hook) => run_canary(hook),
            None => item(false, "canary", "no hooks.d file to take the hook from"),
        });
    }
    let ok = items.iter().all(|i| i.ok);
    // Records no log took: enforcement holds, but they are to be read.
    let undelivered = crate::undelivered::summary(root).map(|(kept, dropped, newest)| {
        let newest = newest.map_or_else(String::new, |n| format!(", newest {}", n.display()));
        let dropped = if dropped > 0 {
            format!("; {dropped} more found the directory full and are lost")
        } else {
            String::new()
        };
        format!(
            "{kept} decision records no log took are kept in {}{newest}{dropped}: make journald or syslog answer, read them with `advise --from-log FILE`, then remove them",
            crate::undelivered::dir_under(root).display()
        )
    });
    let crun_note = crio_crun_note(root);
    if json_output {
        let report = json!({
            "ok": ok,
            "version": env!("CARGO_PKG_VERSION"),
            "binary": {"path": binary, "version": binary_version.as_ref().ok()},
            "digest": digest,
            "undelivered": undelivered,
            "logKey": log_key_state(root),
            "crun": crun_note,
            "containerd": containerd_info,
            "checks": items.iter().map(|i| json!({"ok": i.ok, "check": i.what, "detail": i.detail})).collect::<Vec<_>>(),
        });
        println!("{report}");
    } else {
        for i in &items {
            println!(
                "{} {}: {}",
                if i.ok { "ok  " } else { "FAIL" },
                i.what,
                i.detail
            );
        }
        match &binary_version {
            Ok(v) => println!("info binary: {} version {v}", binary.display()),
            Err(e) => println!("info binary: {e}"),
        }
        println!(
            "info digest: {}",
            digest.as_deref().unwrap_or("none (no configuration)")
        );
        if let Some(undelivered) = &undelivered {
            println!("info decision log: {undelivered}");
        }
        println!("info log key: {}", log_key_state(root));
        if let Some(note) = &containerd_info {
            println!("info containerd: {note}");
        }
        if let Some(note) = &crun_note {
            println!("info denial reasons: {note}");
        }
        println!(
            "{}",
            if ok {
                "enforcement is active"
            } else {
                "enforcement is NOT active"
            }
        );
    }
    if ok { 0 } else { 1 }
}

/// Whether the records the hook writes to syslog are signed (see
/// [`crate::log_key`]).
fn log_key_state(root: &Path) -> String {
    let path = under(root, crate::log_key::DEFAULT_PATH);
    match crate::log_key::load(&path) {
        Ok(_) => format!("{} (records written to syslog are signed)", path.display()),
        Err(why) => format!(
            "{why}: records written to syslog are unsigned, and `advise --from-log` and `explain` skip them (oci-psp-hook log-key creates it)"
        ),
    }
}

/// Every hooks.d file that runs oci-psp-hook, each judged.
fn hook_files(root: &Path, items: &mut Vec<Item>) -> Vec<HookFile> {
    let mut found = Vec::new();
    for dir in HOOKS_DIRS {
        let Ok(entries) = std::fs::read_dir(under(root, dir)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for file in files {
            let Some(hook) = parse_hook_file(&file) else {
                continue;
            };
            items.push(judge_hook_file(root, &hook));
            found.push(hook);
        }
    }
    if found.is_empty() {
        items.push(item(
            false,
            "hooks.d",
            format!(
                "no hooks.d file runs oci-psp-hook in {}",
                HOOKS_DIRS.join(" or ")
            ),
        ));
    }
    found
}

fn parse_hook_file(file: &Path) -> Option<HookFile> {
    let bytes = read_bounded(file, POLICY_LIMIT).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    let hook = value.get("hook")?;
    let path = PathBuf::from(hook.get("path")?.as_str()?);
    let args: Vec<String> = hook
        .get("args")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let ours = path.file_name().is_some_and(|n| n == "oci-psp-hook")
        || args.first().is_some_and(|a| a == "oci-psp-hook");
    ours.then(|| HookFile {
        file: file.to_path_buf(),
        path,
        args,
    })
}

/// A file someone may run.
fn is_executable(file: &Path) -> bool {
    std::fs::metadata(file).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn judge_hook_file(root: &Path, hook: &HookFile) -> Item {
    let what = format!("hooks.d {}", hook.file.display());
    let binary = under(root, &hook.path.display().to_string());
    if !is_executable(&binary) {
        return item(
            false,
            &what,
            format!(
                "its binary {} is missing or not executable: CRI-O and podman skip such a hook silently",
                binary.display()
            ),
        );
    }
    if hook.args.get(1).map(String::as_str) != Some("hook") {
        return item(
            false,
            &what,
            format!("args {:?} do not run the `hook` subcommand", hook.args),
        );
    }
    match std::fs::read(&hook.file)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    {
        Some(v) if v["when"]["always"] == json!(true) => {}
        _ => {
            return item(
                false,
                &what,
                "`when.always` is not true: some containers would start without the hook",
            );
        }
    }
    item(true, &what, format!("runs {}", binary.display()))
}

/// The configuration and policies the hook will use lint clean.
fn lint(root: &Path, config_file: Option<&Path>) -> Item {
    let path = config_file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| under(root, crate::CONFIG_PATH));
    if !path.exists() {
        return item(
            true,
            "config",
            format!(
                "no {}: builtin:baseline applies to every container",
                path.display()
            ),
        );
    }
    // An absolute policyDirectory is read under the root too.
    match policy_set::load_under(root, &path) {
        Err(e) => item(
            false,
            "config",
            format!("invalid: {e} (every container is blocked)"),
        ),
        Ok(Sources::Config(c)) if !c.broken.is_empty() => item(
            false,
            "config",
            format!("{} (its containers are blocked)", c.broken[0]),
        ),
        Ok(Sources::Config(c)) => item(
            true,
            "config",
            format!(
                "{} lints clean: {} policies, {} bindings, {} exemptions, {:?} mode",
                path.display(),
                c.policies.len(),
                c.bindings.len(),
                c.exemptions.len(),
                c.mode
            ),
        ),
        Ok(_) => item(true, "config", "no configuration"),
    }
}

/// The `hooks_dir` list under `table` (`crio.runtime`, `engine`).
fn hooks_dir_setting(config: &Merged, table: &[&str]) -> Option<Vec<String>> {
    config.strings(&[table, &["hooks_dir"]].concat())
}

const CRIO_MAIN: &[&str] = &["/etc/crio/crio.conf"];
const CRIO_DROPIN: &str = "/etc/crio/crio.conf.d";

/// CRI-O's default runtime, when it is crun: crun sends a hook's stderr to
/// /dev/null (unless the container's `run.oci.hooks.stderr` annotation names
/// a file, which the hook refuses as a host path), so a refused pod's events
/// carry only crun's "error executing hook … (exit code: N)".
fn crio_crun_note(root: &Path) -> Option<String> {
    if !under(root, "/etc/crio").exists() {
        return None;
    }
    let config = Merged::of(toml_files(root, CRIO_MAIN, CRIO_DROPIN));
    let runtime = config
        .str(&["crio", "runtime", "default_runtime"])
        // CRI-O's own default (pkg/config, DefaultRuntime on Linux)
        .unwrap_or("crun");
    let path = config.str(&["crio", "runtime", "runtimes", runtime, "runtime_path"]);
    let is_crun = match path {
        Some(p) => Path::new(p).file_name().is_some_and(|n| n == "crun"),
        None => runtime == "crun",
    };
    is_crun.then(|| {
        format!(
            "CRI-O's default runtime {runtime:?} is crun, which discards a hook's stderr: a refused \
             pod's events show only \"error executing hook … (exit code: 1)\" (1: denied by policy; \
             2: blocked, the hook could not decide). The reason: `oci-psp-hook explain \
             NAMESPACE/POD` on this node. With runc as the runtime the reason is in the events"
        )
    })
}

fn toml_files(root: &Path, main: &[&str], dropin: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = main
        .iter()
        .map(|m| under(root, m))
        .filter(|p| p.exists())
        .collect();
    if let Ok(entries) = std::fs::read_dir(under(root, dropin)) {
        let mut extra: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "conf"))
            .collect();
        extra.sort();
        files.extend(extra);
    }
    files
}

/// Where a runtime keeps its `hooks_dir` setting and its default.
struct Runtime {
    name: &'static str,
    /// The TOML table holding `hooks_dir`.
    table: &'static [&'static str],
    main: &'static [&'static str],
    dropin: &'static str,
    defaults: &'static [&'static str],
    installed: bool,
}

/// CRI-O and podman read hooks.d from their `hooks_dir`; containerd reads
/// none (base_runtime_spec or NRI carry the hook there).
fn runtime_dirs(root: &Path, hooks: &[HookFile]) -> Vec<Item> {
    let dirs: Vec<PathBuf> = hooks
        .iter()
        .filter_map(|h| h.file.parent().map(Path::to_path_buf))
        .collect();
    let covers = |listed: &[String]| {
        dirs.iter()
            .any(|d| listed.iter().any(|l| under(root, l) == *d))
    };
    let mut items = Vec::new();
    let runtimes = [
        Runtime {
            name: "CRI-O",
            table: &["crio", "runtime"],
            main: CRIO_MAIN,
            dropin: CRIO_DROPIN,
            defaults: &["/usr/share/containers/oci/hooks.d"],
            installed: under(root, "/etc/crio").exists(),
        },
        Runtime {
            name: "podman",
            table: &["engine"],
            main: &[
                "/usr/share/containers/containers.conf",
                "/etc/containers/containers.conf",
            ],
            dropin: "/etc/containers/containers.conf.d",
            defaults: HOOKS_DIRS,
            installed: under(root, "/usr/bin/podman").exists(),
        },
    ];
    for Runtime {
        name,
        table,
        main,
        dropin,
        defaults,
        installed,
    } in runtimes
    {
        if !installed {
            continue;
        }
        let listed = hooks_dir_setting(&Merged::of(toml_files(root, main, dropin)), table)
            .unwrap_or_else(|| defaults.iter().map(|s| s.to_string()).collect());
        let what = format!("{name} hooks_dir");
        items.push(if covers(&listed) {
            item(
                true,
                &what,
                format!("{} includes the hooks.d file", listed.join(", ")),
            )
        } else {
            item(
                false,
                &what,
                format!(
                    "{} does not include {}",
                    listed.join(", "),
                    dirs.iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        });
    }
    items
}

/// Start a privileged container through runc with the installed hook and
/// confirm the hook denies it.
fn run_canary(hook: &HookFile) -> Item {
    let dir = std::env::temp_dir().join(format!("oci-psp-hook-canary-{}", std::process::id()));
    let result = canary_in(&dir, hook);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn canary_in(dir: &Path, hook: &HookFile) -> Item {
    let rootfs = dir.join("rootfs");
    if let Err(e) = std::fs::create_dir_all(&rootfs) {
        return item(
            false,
            "canary",
            format!("cannot create {}: {e}", rootfs.display()),
        );
    }
    let spec = Command::new("runc")
        .arg("spec")
        .arg("--bundle")
        .arg(dir)
        .output();
    match spec {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return item(
                false,
                "canary",
                format!(
                    "`runc spec` failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ),
            );
        }
        Err(e) => return item(false, "canary", format!("cannot run runc: {e}")),
    }
    let config_path = dir.join("config.json");
    let mut config: Value = match std::fs::read(&config_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
    {
        Some(c) => c,
        None => return item(false, "canary", "runc spec wrote no readable config.json"),
    };
    // A privileged container: every device, /proc unmasked, a process that
    // cannot run even if the hook let it through.
    config["root"] = json!({"path": rootfs, "readonly": true});
    config["process"]["terminal"] = json!(false);
    config["process"]["args"] = json!(["/oci-psp-hook-canary-must-not-run"]);
    config["linux"]["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
    config["linux"]["maskedPaths"] = json!([]);
    config["linux"]["readonlyPaths"] = json!([]);
    config["hooks"] = json!({"createRuntime": [{"path": hook.path, "args": hook.args}]});
    if let Err(e) = std::fs::write(&config_path, config.to_string()) {
        return item(
            false,
            "canary",
            format!("cannot write {}: {e}", config_path.display()),
        );
    }
    let id = format!("oci-psp-hook-canary-{}", std::process::id());
    let out = Command::new("runc")
        .arg("run")
        .arg("--bundle")
        .arg(dir)
        .arg(&id)
        .output();
    let _ = Command::new("runc").args(["delete", "-f", &id]).output();
    match out {
        Ok(o) => {
            let stderr = String::from_utf8_lossy(&o.stderr);
            if !o.status.success() && stderr.contains("oci-psp-hook: denied") {
                item(
                    true,
                    "canary",
                    "a privileged container was denied by the hook",
                )
            } else if stderr.contains("oci-psp-hook: error") {
                item(
                    false,
                    "canary",
                    format!("the hook failed instead of judging: {}", stderr.trim()),
                )
            } else {
                item(
                    false,
                    "canary",
                    format!(
                        "a privileged container was NOT denied (runc: {})",
                        stderr.trim()
                    ),
                )
            }
        }
        Err(e) => item(false, "canary", format!("cannot run runc: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::Builder::new()
            .prefix("psp-doctor-")
            .tempdir()
            .unwrap();
        std::fs::create_dir_all(under(dir.path(), HOOKS_DIRS[0])).unwrap();
        dir
    }

    fn write_hook(root: &Path, binary: &str) {
        let file = under(root, HOOKS_DIRS[0]).join("oci-psp-hook.json");
        let text = json!({"version": "1.0.0", "hook": {"path": binary, "args": ["oci-psp-hook", "hook"]}, "when": {"always": true}, "stages": ["prestart"]});
        std::fs::write(file, text.to_string()).unwrap();
    }

    #[test]
    fn missing_binary_fails() {
        let dir = tree();
        let root = dir.path();
        write_hook(root, "/usr/libexec/oci/hooks.d/oci-psp-hook");
        let mut items = Vec::new();
        let hooks = hook_files(root, &mut items);
        assert_eq!(hooks.len(), 1);
        assert!(!items[0].ok);
        assert!(
            items[0].detail.contains("is missing or not executable"),
            "{:?}",
            items[0]
        );
    }

    #[test]
    fn present_binary_passes() {
        let dir = tree();
        let root = dir.path();
        let bin = under(root, "/usr/libexec/oci/hooks.d/oci-psp-hook");
        std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
        std::fs::write(&bin, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        write_hook(root, "/usr/libexec/oci/hooks.d/oci-psp-hook");
        let mut items = Vec::new();
        hook_files(root, &mut items);
        assert!(items[0].ok, "{:?}", items[0]);
    }

    #[test]
    fn no_hook_file_fails() {
        let dir = tree();
        let root = dir.path();
        let mut items = Vec::new();
        assert!(hook_files(root, &mut items).is_empty());
        assert!(!items[0].ok);
    }

    #[test]
    fn crio_with_crun_is_told_where_denial_reasons_are() {
        let dir = tree();
        let root = dir.path();
        assert_eq!(crio_crun_note(root), None, "no CRI-O");
        let dropin = under(root, "/etc/crio/crio.conf.d");
        std::fs::create_dir_all(&dropin).unwrap();
        // CRI-O's default runtime is crun
        let note = crio_crun_note(root).unwrap();
        assert!(note.contains("oci-psp-hook explain"), "{note}");
        std::fs::write(
            dropin.join("10-runc.conf"),
            "[crio.runtime]\ndefault_runtime = \"runc\"\n[crio.runtime.runtimes.runc]\nruntime_path = \"/usr/sbin/runc\"\n",
        )
        .unwrap();
        assert_eq!(crio_crun_note(root), None);
        // a handler named otherwise whose binary is crun
        std::fs::write(
            dropin.join("20-fast.conf"),
            "[crio.runtime]\ndefault_runtime = \"fast\"\n[crio.runtime.runtimes.fast]\nruntime_path = \"/usr/local/bin/crun\"\n",
        )
        .unwrap();
        assert!(crio_crun_note(root).unwrap().contains("\"fast\""));
    }

    #[test]
    fn crio_hooks_dir_setting_is_read() {
        let dir = tree();
        let root = dir.path();
        let dropin = under(root, "/etc/crio/crio.conf.d");
        std::fs::create_dir_all(&dropin).unwrap();
        std::fs::write(
            dropin.join("01.conf"),
            "# hooks_dir = [\"/commented/out\"]\n[crio.runtime]\nhooks_dir = [\n  \"/opt/hooks\", # the node's\n]\n[crio.image]\nhooks_dir = [\"/elsewhere\"]\n",
        )
        .unwrap();
        let files = Merged::of(toml_files(root, CRIO_MAIN, CRIO_DROPIN));
        assert_eq!(
            hooks_dir_setting(&files, &["crio", "runtime"]),
            Some(vec!["/opt/hooks".to_string()])
        );
        // a later drop-in overrides; one that does not parse is skipped
        std::fs::write(
            dropin.join("02.conf"),
            "[crio.runtime]\nhooks_dir = ['/a', '/b']\n",
        )
        .unwrap();
        std::fs::write(dropin.join("03.conf"), "[crio.runtime\n").unwrap();
        let files = Merged::of(toml_files(root, CRIO_MAIN, CRIO_DROPIN));
        assert_eq!(
            hooks_dir_setting(&files, &["crio", "runtime"]),
            Some(vec!["/a".to_string(), "/b".to_string()])
        );
        std::fs::remove_file(dropin.join("02.conf")).unwrap();
        std::fs::remove_file(dropin.join("03.conf")).unwrap();
        let hook = HookFile {
            file: under(root, HOOKS_DIRS[0]).join("x.json"),
            path: "/x".into(),
            args: vec![],
        };
        let items = runtime_dirs(root, &[hook]);
        assert!(
            !items[0].ok && items[0].what == "CRI-O hooks_dir",
            "{items:?}"
        );
        std::fs::write(
            dropin.join("02.conf"),
            "[crio.runtime]\nhooks_dir = [\"/usr/share/containers/oci/hooks.d\"]\n",
        )
        .unwrap();
        let hook = HookFile {
            file: under(root, HOOKS_DIRS[0]).join("x.json"),
            path: "/x".into(),
            args: vec![],
        };
        assert!(runtime_dirs(root, &[hook])[0].ok);
    }
}
