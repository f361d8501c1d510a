//! `uninstall`: take the hook off a node (under `--root`) in the safe order:
//! the hooks.d file first (CRI-O and podman stop running the hook), then the
//! binary it named, then the containerd base spec; the policies and
//! configuration, and the installer's status file, only with `--purge`.
//! Each removal is fsynced; the first failure stops the rest, so the order
//! holds even then.
//!
//! containerd reads its `base_runtime_spec` once, when it starts: while its
//! configuration names a base spec that runs the hook, the running
//! containerd puts the hook into every container it creates, and removing
//! the binary would make every new container fail. Uninstall therefore
//! refuses (changing nothing), unless `--force`, while containerd's
//! configuration ([`Containerd`]) gives any runtime, in the tables of any
//! configuration version, our base spec or a spec that runs the binary it
//! removes, or names a file that is not there or does not parse (then it
//! cannot tell).

use std::path::{Path, PathBuf};

use super::base_spec::DEFAULT_HOOK_PATH;
use super::install::{BASE_SPEC, HOOKS_FILE};
use crate::atomic_files as atomic;
use crate::policy_set::{CONFIG_DIR, STATUS_PATH, under};
use crate::runtime_config::containerd::{Containerd, read_spec, spec_hooks};

pub fn run(root: &Path, purge: bool, force: bool) -> i32 {
    if !root.is_dir() {
        eprintln!(
            "oci-psp-hook: uninstall: the root {} is not a directory",
            root.display()
        );
        return 2;
    }
    if !force && let Some(why) = containerd_runs_the_hook(root) {
        eprintln!(
            "oci-psp-hook: uninstall: {why}. While containerd runs the hook, no container it starts can start without the binary: remove that base_runtime_spec (or mend the file), restart containerd, then uninstall again (or pass --force). Nothing was removed."
        );
        return 2;
    }
    let mut steps = vec![
        under(root, HOOKS_FILE),
        under(root, DEFAULT_HOOK_PATH),
        under(root, BASE_SPEC),
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

/// Why containerd may be running the hook from a base spec, if it may: a
/// runtime's `base_runtime_spec` is ours or runs the binary uninstall
/// removes, or a configuration file cannot be read or parsed.
fn containerd_runs_the_hook(root: &Path) -> Option<String> {
    let containerd = Containerd::read(root)?;
    if let Some((file, why)) = containerd.config.unreadable.first() {
        return Some(format!(
            "{}: {why}: whether containerd's configuration names a base_runtime_spec that runs the hook cannot be told",
            file.display()
        ));
    }
    containerd
        .every_base_runtime_spec()
        .into_iter()
        .find(|b| {
            same_file(root, b.spec, BASE_SPEC)
                || read_spec(root, b.spec).is_some_and(|spec| {
                    spec_hooks(&spec).any(|(_, hook)| same_file(root, hook, DEFAULT_HOOK_PATH))
                })
        })
        .map(|b| {
            format!(
                "{} gives containerd's runtime {:?} base_runtime_spec {}, which runs the hook",
                b.file.display(),
                b.runtime,
                b.spec
            )
        })
}

/// Whether two paths of the node under `root` are one file: the same text,
/// or, through links, the same inode (links followed as this process sees
/// them: under a `--root` other than `/`, an absolute link leads out of it).
fn same_file(root: &Path, a: &str, b: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &str| std::fs::metadata(under(root, p)).map(|m| (m.dev(), m.ino()));
    Path::new(a) == Path::new(b) || matches!((id(a), id(b)), (Ok(x), Ok(y)) if x == y)
}
