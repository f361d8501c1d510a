//! `uninstall`: take the hook off a node (under `--root`) in the safe order:
//! the hooks.d file first (CRI-O and podman stop running the hook), then the
//! binary it named, then the containerd base spec; the policies and
//! configuration, and the installer's status file, only with `--purge`.
//! Each removal is fsynced; the first failure stops the rest, so the order
//! holds even then.
//!
//! containerd reads its `base_runtime_spec` once, when it starts: while its
//! config.toml names our base spec, the running containerd puts the hook
//! into every container it creates, and removing the binary would make every
//! new container fail. Uninstall therefore refuses (changing nothing) while
//! `ROOT/etc/containerd/config.toml` (or a file in `conf.d/`) names the base
//! spec, unless `--force`.

use std::path::{Path, PathBuf};

use super::base_spec::DEFAULT_HOOK_PATH;
use super::install::{BASE_SPEC, HOOKS_FILE};
use crate::atomic_files as atomic;
use crate::input::{POLICY_LIMIT, read_bounded};
use crate::policy_set::{CONFIG_DIR, STATUS_PATH, under};

pub fn run(root: &Path, purge: bool, force: bool) -> i32 {
    if !root.is_dir() {
        eprintln!(
            "oci-psp-hook: uninstall: the root {} is not a directory",
            root.display()
        );
        return 2;
    }
    let base_spec = under(root, BASE_SPEC);
    if !force
        && base_spec.exists()
        && let Some(file) = containerd_uses_base_spec(root)
    {
        {
            eprintln!(
                "oci-psp-hook: uninstall: {} names {BASE_SPEC} as base_runtime_spec: the running containerd runs the hook for every container, and without its binary no container would start. Remove base_runtime_spec, restart containerd, then uninstall again (or pass --force). Nothing was removed.",
                file.display()
            );
            return 2;
        }
    }
    let mut steps = vec![
        under(root, HOOKS_FILE),
        under(root, DEFAULT_HOOK_PATH),
        base_spec,
    ];
    if purge {
        steps.push(under(root, STATUS_PATH));
    }
    for path in steps {
        match atomic::remove_file(&path) {
            Ok(true) => println!("oci-psp-hook: uninstall: removed {}", path.display()),
            Ok(false) => {}
            Err(e) => {
                eprintln!("oci-psp-hook: uninstall: {e}; stopped there");
                return 2;
            }
        }
    }
    if purge {
        let dir = under(root, CONFIG_DIR);
        if let Err(e) = remove_tree(&dir) {
            eprintln!("oci-psp-hook: uninstall: {e}");
            return 2;
        }
        // The status directory, when empty (it may be a mount point).
        let _ = std::fs::remove_dir(atomic::parent(&under(root, STATUS_PATH)));
    }
    0
}

/// Remove a directory and everything in it. The directory itself may be a
/// mount point (the DaemonSet's hostPath): then it stays, empty.
fn remove_tree(dir: &Path) -> Result<(), atomic::Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(atomic::ctx("read", dir)(e)),
    };
    // The links the hook reads through go first, then what they point at.
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort_by_key(|p| !std::fs::symlink_metadata(p).is_ok_and(|m| m.is_symlink()));
    for path in paths {
        let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        let removed = if is_dir {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(atomic::ctx("remove", &path))?;
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => println!("oci-psp-hook: uninstall: removed {}", dir.display()),
        Err(_) => println!(
            "oci-psp-hook: uninstall: emptied {} (a mount point stays)",
            dir.display()
        ),
    }
    Ok(())
}

/// The containerd configuration file naming our base spec, if any (a plain
/// search of non-comment lines: TOML needs no parser for that).
fn containerd_uses_base_spec(root: &Path) -> Option<PathBuf> {
    let mut files = vec![under(root, "/etc/containerd/config.toml")];
    if let Ok(entries) = std::fs::read_dir(under(root, "/etc/containerd/conf.d")) {
        let mut extra: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        extra.sort();
        files.extend(extra);
    }
    let name = Path::new(BASE_SPEC).file_name()?.to_str()?;
    files.into_iter().find(|file| {
        read_bounded(file, POLICY_LIMIT).is_ok_and(|bytes| {
            String::from_utf8_lossy(&bytes)
                .lines()
                .any(|l| !l.trim_start().starts_with('#') && l.contains(name))
        })
    })
}
