//! Rootless podman's own files. A rootless podman keeps its containers in
//! the user's storage (`~/.local/share/containers/storage`, with the run
//! root in `$XDG_RUNTIME_DIR/containers` or `/tmp/podman-run-<uid>/containers`),
//! not below the system's [`super::mounts::STORAGE_ROOTS`], and runs the
//! hook inside the user's user namespace. There, a bundle
//! `<graph root>/<driver>-containers/<id>/userdata` of the container's own
//! id, owned by the hook's user, is that runtime's: only that user (or
//! root) could have made it, and the bundle's directories were judged
//! trusted on the way. Its per-container files (`hosts`, `shm`…) and its
//! image's root filesystem are then the runtime's own, as root's are in the
//! system storage. It is never a CRI runtime's: the Kubernetes annotations
//! of a rootless container stay claims.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::mounts::USERDATA_LEAVES;

/// containers/storage drivers whose container directory is
/// `<driver>-containers`, and where each keeps a layer's root filesystem.
const DRIVERS: &[(&str, &[&str])] = &[
    ("overlay", &["overlay", "{}", "merged"]),
    ("vfs", &["vfs", "dir", "{}"]),
    ("btrfs", &["btrfs", "subvolumes", "{}"]),
];

/// A rootless podman's storage, as its bundle shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rootless {
    graph: PathBuf,
    driver: &'static str,
    /// The container's layer in the storage's records, when found.
    layer: Option<String>,
}

impl Rootless {
    /// The storage of a bundle (resolved) of runtime id `id`, when the hook
    /// runs in a rootless user namespace and the bundle is that storage's,
    /// owned by the hook's user.
    pub fn of_bundle(bundle: &Path, id: &str) -> Option<Rootless> {
        let (graph, driver) = layout(bundle, id)?;
        if !crate::input::in_rootless_namespace()
            || std::fs::symlink_metadata(bundle).ok()?.uid() != crate::input::euid()
        {
            return None;
        }
        let layer = layer_of(&graph, driver, id);
        Some(Rootless {
            graph,
            driver,
            layer,
        })
    }

    /// Whether `rootfs` is the container's own image mount in the storage.
    pub fn is_own_rootfs(&self, rootfs: &Path) -> bool {
        let (Some(layer), Some((_, parts))) =
            (&self.layer, DRIVERS.iter().find(|(d, _)| *d == self.driver))
        else {
            return false;
        };
        let own: PathBuf = parts
            .iter()
            .map(|p| if *p == "{}" { layer.as_str() } else { p })
            .collect();
        rootfs == self.graph.join(own)
    }

    /// Whether a bind source (resolved) is one of the container's own
    /// runtime files: `<run or graph root>/<driver>-containers/<id>/userdata/<leaf>`,
    /// the `userdata` directory owned by the hook's user (the run root is
    /// not known to the hook: podman chooses it from its environment).
    pub fn is_runtime_file(&self, source: &str, id: &str) -> bool {
        let containers = format!("/{}-containers/{id}/userdata/", self.driver);
        let Some(at) = source.find(&containers) else {
            return false;
        };
        let (userdata, leaf) = source.split_at(at + containers.len());
        let leaf: Vec<&str> = leaf.split('/').collect();
        USERDATA_LEAVES
            .iter()
            .any(|l| l.split('/').eq(leaf.iter().copied()))
            && std::fs::symlink_metadata(userdata.trim_end_matches('/'))
                .is_ok_and(|m| m.is_dir() && m.uid() == crate::input::euid())
    }
}

/// `<graph root>/<driver>-containers/<id>/userdata`: the graph root and
/// the driver. Text only.
fn layout(bundle: &Path, id: &str) -> Option<(PathBuf, &'static str)> {
    if id.is_empty() || bundle.file_name()? != "userdata" {
        return None;
    }
    let container = bundle.parent()?;
    if container.file_name()? != id {
        return None;
    }
    let containers = container.parent()?;
    let name = containers.file_name()?.to_str()?;
    let (driver, _) = DRIVERS
        .iter()
        .find(|(d, _)| name.strip_suffix("-containers") == Some(d))?;
    Some((containers.parent()?.to_path_buf(), driver))
}

/// The layer of container `id` in `<graph>/<driver>-containers/`.
fn layer_of(graph: &Path, driver: &str, id: &str) -> Option<String> {
    super::build::record_in(&graph.join(format!("{driver}-containers")), id).map(|r| r.layer)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "ca3eb806f2969806f7574b48373fa9c782d52abaeaf27b965c719776f85d6a87";

    #[test]
    fn a_storage_bundle_names_its_graph_root_and_driver() {
        let graph = "/home/u/.local/share/containers/storage";
        let bundle = PathBuf::from(format!("{graph}/vfs-containers/{ID}/userdata"));
        assert_eq!(layout(&bundle, ID), Some((PathBuf::from(graph), "vfs")));
        let overlay = PathBuf::from(format!("{graph}/overlay-containers/{ID}/userdata"));
        assert_eq!(
            layout(&overlay, ID),
            Some((PathBuf::from(graph), "overlay"))
        );
        // another container's, another driver, not a userdata directory
        assert_eq!(layout(&bundle, "other"), None);
        let unknown = PathBuf::from(format!("{graph}/aufs2-containers/{ID}/userdata"));
        assert_eq!(layout(&unknown, ID), None);
        assert_eq!(
            layout(&PathBuf::from(format!("{graph}/vfs-containers/{ID}")), ID),
            None
        );
        assert_eq!(layout(&bundle, ""), None);
    }

    #[test]
    fn only_the_own_image_mount_is_the_own_rootfs() {
        let storage = Rootless {
            graph: PathBuf::from("/s"),
            driver: "vfs",
            layer: Some("abc".into()),
        };
        assert!(storage.is_own_rootfs(Path::new("/s/vfs/dir/abc")));
        assert!(!storage.is_own_rootfs(Path::new("/s/vfs/dir/other")));
        assert!(!storage.is_own_rootfs(Path::new("/s/overlay/abc/merged")));
        let overlay = Rootless {
            driver: "overlay",
            ..storage.clone()
        };
        assert!(overlay.is_own_rootfs(Path::new("/s/overlay/abc/merged")));
        let unknown = Rootless {
            layer: None,
            ..storage
        };
        assert!(!unknown.is_own_rootfs(Path::new("/s/vfs/dir/abc")));
    }

    #[test]
    fn runtime_files_are_the_own_userdata_leaves_of_the_hooks_user() {
        let temp = tempfile::Builder::new()
            .prefix("psp-rootless-")
            .tempdir()
            .unwrap();
        let dir = temp.path();
        let userdata = dir.join(format!("vfs-containers/{ID}/userdata"));
        std::fs::create_dir_all(&userdata).unwrap();
        let storage = Rootless {
            graph: dir.to_path_buf(),
            driver: "vfs",
            layer: None,
        };
        let source = |leaf: &str| format!("{}/{leaf}", userdata.display());
        assert!(storage.is_runtime_file(&source("hosts"), ID));
        assert!(storage.is_runtime_file(&source("run/secrets"), ID));
        assert!(!storage.is_runtime_file(&source("config.json"), ID));
        assert!(!storage.is_runtime_file(&source("hosts/x"), ID));
        assert!(!storage.is_runtime_file(&source("hosts"), "other"));
        // another user's directory of the same shape is not the runtime's
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::chown(&userdata, Some(65534), None).unwrap();
            assert!(!storage.is_runtime_file(&source("hosts"), ID));
        }
    }
}
