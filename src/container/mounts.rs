//! Mount classification: runtime-managed, a Kubernetes volume of some type, or
//! a host path.
//!
//! A mount is a bind mount when its `type` is `bind` or its options hold
//! `bind`/`rbind`, whatever the type says (runc binds on the option alone).
//! Bind sources are resolved on the host (symlinks, `..`) *before* they are
//! classified, so `…/kubernetes.io~configmap/x/../../../../etc` is `/etc`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use super::volume_type::{MountVolume, VolumeType};

/// PSP `volumes` names of kubelet's in-tree plugin directories
/// (`kubernetes.io~<dir>`).
const KUBELET_PLUGINS: &[(&str, VolumeType)] = &[
    ("configmap", VolumeType::ConfigMap),
    ("secret", VolumeType::Secret),
    ("empty-dir", VolumeType::EmptyDir),
    ("projected", VolumeType::Projected),
    ("downward-api", VolumeType::DownwardApi),
    ("git-repo", VolumeType::GitRepo),
    ("csi", VolumeType::Csi),
    ("nfs", VolumeType::Nfs),
    ("iscsi", VolumeType::Iscsi),
    ("glusterfs", VolumeType::Glusterfs),
    ("rbd", VolumeType::Rbd),
    ("cephfs", VolumeType::CephFs),
    ("fc", VolumeType::Fc),
    ("azure-file", VolumeType::AzureFile),
    ("azure-disk", VolumeType::AzureDisk),
    ("aws-ebs", VolumeType::AwsElasticBlockStore),
    ("gce-pd", VolumeType::GcePersistentDisk),
    ("cinder", VolumeType::Cinder),
    ("vsphere-volume", VolumeType::VsphereVolume),
    ("quobyte", VolumeType::Quobyte),
    ("portworx-volume", VolumeType::PortworxVolume),
    ("scaleio", VolumeType::ScaleIo),
    ("storageos", VolumeType::Storageos),
    ("flocker", VolumeType::Flocker),
    ("photon-pd", VolumeType::PhotonPersistentDisk),
    ("local-volume", VolumeType::PersistentVolumeClaim),
];

/// Files and directories the runtimes put under their per-container
/// `userdata` directory (podman, CRI-O).
pub const USERDATA_LEAVES: &[&str] = &[
    "hosts",
    "hostname",
    "resolv.conf",
    ".containerenv",
    "run/secrets",
    "shm",
    "passwd",
    "group",
];

/// Files containerd's CRI plugin keeps per sandbox.
const CRI_SANDBOX_LEAVES: &[&str] = &["hosts", "hostname", "resolv.conf", "shm"];

/// Root and state directories of containerd: upstream, and k3s/RKE2's own.
pub const CONTAINERD_ROOTS: &[&str] = &[
    "/var/lib/containerd",
    "/run/containerd",
    "/var/run/containerd",
    "/var/lib/rancher/k3s/agent/containerd",
    "/var/lib/rancher/rke2/agent/containerd",
    "/run/k3s/containerd",
];

/// Where podman and CRI-O keep containers (`containers/storage`).
pub const STORAGE_ROOTS: &[&str] = &[
    "/var/lib/containers/storage",
    "/run/containers/storage",
    "/var/run/containers/storage",
];

/// Pseudo filesystems every runtime mounts at fixed places.
const STANDARD_MOUNTS: &[(&str, &[&str])] = &[
    ("/proc", &["proc"]),
    ("/dev", &["tmpfs"]),
    ("/dev/pts", &["devpts"]),
    ("/dev/shm", &["tmpfs", "shm"]),
    ("/dev/mqueue", &["mqueue"]),
    ("/sys", &["sysfs"]),
    ("/sys/fs/cgroup", &["cgroup", "cgroup2"]),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// The runtime's own mounts (/proc, /dev, hosts and resolv.conf files…):
    /// always allowed.
    RuntimeManaged,
    /// A Kubernetes volume. `fs_type` is its PSP volume type; `driver` is
    /// the flexVolume or CSI driver when known.
    Volume {
        fs_type: VolumeType,
        driver: Option<Box<str>>,
    },
    /// A volume of a kubelet in-tree plugin this build does not know: always
    /// a [`MountVolume::Unknown`], which no policy can list by name.
    UnknownVolume(MountVolume),
    /// A path of the host, resolved.
    HostPath { resolved: Box<Path> },
    /// Privileged evidence: a mount no policy short of privileged admits
    /// (`remount`, a filesystem other than the runtimes' own), and why.
    Privileged { why: Box<str> },
}

/// Its strings are borrowed from config.json's text where they have no
/// escapes: a thousand mounts were three thousand copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountUse<'a> {
    pub destination: Cow<'a, str>,
    pub source: Cow<'a, str>,
    pub fstype: Cow<'a, str>,
    pub bind: bool,
    pub read_only: bool,
    /// An `rbind` whose submounts stay writable (`ro` without `rro`).
    pub writable_submounts: bool,
    /// config.json asks for `ro`, but the kernel mounted it (or a submount of
    /// it) read-write (hook mode; then `read_only` is false, the truth).
    pub writable_in_kernel: bool,
    /// `shared`, `rshared`, `slave`… when the options set a propagation.
    pub propagation: Option<Propagation>,
    /// The source config.json names, when the kernel mounted another path
    /// (then `source` and `kind` are the kernel's). Rare: boxed, so that a
    /// `MountUse` is no larger than the parsed mount it is made from (the
    /// list is converted in place).
    pub declared_source: Option<Box<Cow<'a, str>>>,
    pub kind: MountKind,
}

/// A tmpfs, or a directory the runtime makes afresh for each container.
const EMPTY_DIR: MountKind = MountKind::Volume {
    fs_type: VolumeType::EmptyDir,
    driver: None,
};

/// A Kubernetes image volume: the `image` volume type.
const IMAGE: MountKind = MountKind::Volume {
    fs_type: VolumeType::Image,
    driver: None,
};

impl MountUse<'_> {
    /// The same mount, its strings owned.
    pub fn into_owned(self) -> MountUse<'static> {
        MountUse {
            destination: Cow::Owned(self.destination.into_owned()),
            source: Cow::Owned(self.source.into_owned()),
            fstype: Cow::Owned(self.fstype.into_owned()),
            declared_source: self
                .declared_source
                .map(|s| Box::new(Cow::Owned(s.into_owned()))),
            ..self
        }
    }

    /// A bind mount's propagation when it is shared (Kubernetes'
    /// Bidirectional). A fresh filesystem shares mounts with nothing of the
    /// host's, whatever its propagation.
    pub fn shared_propagation(&self) -> Option<Propagation> {
        self.propagation.filter(|p| self.bind && p.is_shared())
    }

    /// A writable sysfs or cgroup filesystem: the host's kernel settings
    /// exposed to the container.
    pub fn writable_kernel_fs(&self) -> bool {
        matches!(&*self.fstype, "sysfs" | "cgroup" | "cgroup2") && !self.read_only
    }

    /// The PSP volume types that admit this mount (none: runtime-managed),
    /// most specific first.
    pub fn volume_types(&self) -> VolumeTypes<'_> {
        let (first, also) = match &self.kind {
            MountKind::RuntimeManaged | MountKind::Privileged { .. } => (None, &[][..]),
            MountKind::HostPath { .. } => (Some(VolumeType::HostPath.as_mount_volume()), &[][..]),
            MountKind::Volume { fs_type, .. } => {
                let fs_type = fs_type.as_mount_volume();
                (Some(fs_type), fs_type.also())
            }
            MountKind::UnknownVolume(fs_type) => (Some(fs_type), fs_type.also()),
        };
        VolumeTypes {
            first,
            also: also.iter(),
        }
    }
}

/// The types [`MountUse::volume_types`] yields, read off the mount's kind:
/// asking for them (each check, the facts) allocates nothing.
#[derive(Debug, Clone)]
pub struct VolumeTypes<'a> {
    first: Option<&'a MountVolume>,
    also: std::slice::Iter<'static, MountVolume>,
}

impl<'a> Iterator for VolumeTypes<'a> {
    type Item = &'a MountVolume;

    fn next(&mut self) -> Option<&'a MountVolume> {
        match self.first.take() {
            Some(first) => Some(first),
            None => self.also.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let len = usize::from(self.first.is_some()) + self.also.len();
        (len, Some(len))
    }
}

/// Where kubelet keeps pod directories (`--root-dir`).
#[derive(Debug, Clone)]
pub struct MountContext {
    pub kubelet_root: PathBuf,
    /// The bundle, resolved (no symlinks): a relative `root.path` and
    /// relative bind sources are under it.
    pub bundle: Option<PathBuf>,
    /// Host paths resolved so far: a config naming one source many times
    /// (or resolving it again for the kernel check) asks the kernel once.
    pub resolved: std::cell::RefCell<Prefixes>,
}

impl Default for MountContext {
    fn default() -> Self {
        MountContext {
            kubelet_root: PathBuf::from("/var/lib/kubelet"),
            bundle: None,
            resolved: Default::default(),
        }
    }
}

impl MountContext {
    /// The context of a bundle as [`crate::input::read_bundle_config`]
    /// returns it: resolved, every directory from `/` down to it seen to be
    /// a directory and no link, so sources below them (a CRI runtime's
    /// state directories are beside its bundles) are not looked up again.
    pub fn of_resolved_bundle(bundle: PathBuf) -> MountContext {
        let known = bundle
            .ancestors()
            .filter(|dir| dir.parent().is_some())
            .map(|dir| (dir.as_os_str().to_owned(), (dir.to_path_buf(), true)))
            .collect();
        MountContext {
            bundle: Some(bundle),
            resolved: std::cell::RefCell::new(known),
            ..Default::default()
        }
    }

    /// A bind source as the runtime reads it: a relative one is relative to
    /// the bundle (runc's rule). Otherwise it is borrowed.
    pub fn host_path<'a>(&self, source: &'a str) -> Cow<'a, Path> {
        match &self.bundle {
            Some(bundle) if Path::new(source).is_relative() => Cow::Owned(bundle.join(source)),
            _ => Cow::Borrowed(Path::new(source)),
        }
    }

    /// The bind source resolved on the host ([`resolve_host_path`]), each
    /// directory once per container.
    pub fn resolve_source(&self, source: &str) -> PathBuf {
        resolve_with(&self.host_path(source), &mut self.resolved.borrow_mut())
    }
}

/// A propagation option of a mount, as runc reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Shared,
    RShared,
    Slave,
    RSlave,
    Private,
    RPrivate,
    Unbindable,
    RUnbindable,
}

const PROPAGATIONS: &[(&str, Propagation)] = &[
    ("shared", Propagation::Shared),
    ("rshared", Propagation::RShared),
    ("slave", Propagation::Slave),
    ("rslave", Propagation::RSlave),
    ("private", Propagation::Private),
    ("rprivate", Propagation::RPrivate),
    ("unbindable", Propagation::Unbindable),
    ("runbindable", Propagation::RUnbindable),
];

impl Propagation {
    fn from_option(option: &str) -> Option<Propagation> {
        PROPAGATIONS
            .iter()
            .find_map(|(name, p)| (*name == option).then_some(*p))
    }

    /// The option as runc spells it.
    pub fn name(self) -> &'static str {
        PROPAGATIONS
            .iter()
            .find_map(|(name, p)| (*p == self).then_some(*name))
            .unwrap_or_default()
    }

    /// Shared propagation: Kubernetes' Bidirectional.
    pub fn is_shared(self) -> bool {
        matches!(self, Propagation::Shared | Propagation::RShared)
    }
}

impl std::fmt::Display for Propagation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The options runc reads as mount flags and does nothing else with
/// (`nosuid`, `relatime`…): none of them grants anything. (A `match`: it
/// compiles to length-first comparisons, a list was scanned per option.)
fn plain_flag(option: &str) -> bool {
    matches!(
        option,
        "async"
            | "atime"
            | "defaults"
            | "dev"
            | "diratime"
            | "dirsync"
            | "exec"
            | "iversion"
            | "lazytime"
            | "loud"
            | "mand"
            | "noatime"
            | "nodev"
            | "nodiratime"
            | "noexec"
            | "noiversion"
            | "nolazytime"
            | "nomand"
            | "norelatime"
            | "nostrictatime"
            | "nosuid"
            | "nosymfollow"
            | "relatime"
            | "silent"
            | "strictatime"
            | "suid"
            | "symfollow"
            | "sync"
            // runc's own extension: copy the image's directory into a new tmpfs.
            | "tmpcopyup"
    )
}

/// The recursive attributes (`mount_setattr`, runc ≥ 1.1) other than
/// `rro`/`rrw`, which the checks read.
const RECURSIVE_FLAGS: &[&str] = &[
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "rnodiratime",
    "rdiratime",
    "rrelatime",
    "rnorelatime",
    "rnoatime",
    "ratime",
    "rstrictatime",
    "rnostrictatime",
    "rnosymfollow",
    "rsymfollow",
];

/// What runc passes to the filesystem as data (`mode=1777`, `newinstance`):
/// only the ones the runtimes write for their tmpfs, devpts, mqueue, proc,
/// sysfs and cgroup mounts, and SELinux's labels. Any other goes to the
/// filesystem unread by this hook, so it is refused.
const DATA_OPTIONS: &[&str] = &[
    "mode",
    "size",
    "nr_inodes",
    "nr_blocks",
    "uid",
    "gid",
    "newinstance",
    "ptmxmode",
    "context",
    "fscontext",
    "defcontext",
    "rootcontext",
    "seclabel",
];

/// Shared propagation (`shared`, `rshared`): Kubernetes' Bidirectional,
/// which only privileged containers may use.
pub fn is_shared_propagation(propagation: &str) -> bool {
    Propagation::from_option(propagation).is_some_and(Propagation::is_shared)
}

/// `mode=1777,huge=always`: runc hands an option to the kernel whole, which
/// reads each piece between commas as an option of its own (a quoted SELinux
/// `context="…:s0:c1,c2"` keeps its commas).
fn several_options(option: &str) -> bool {
    let mut quoted = false;
    option.bytes().any(|b| {
        quoted ^= b == b'"';
        b == b',' && !quoted
    })
}

/// What a mount's options say that the checks read, taken in order as runc
/// applies them: a later `rw` undoes an earlier `ro`, the last propagation
/// wins, and the recursive `rro`/`rrw` are applied after the mount flags.
/// Read while config.json is parsed, so no list is kept. An option outside
/// runc's table and the known filesystem data is refused ([`MountOptions::add`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MountOptions {
    /// `bind` or `rbind`: a bind mount whatever its type.
    pub bind: bool,
    /// `rbind`: submounts of the source come along.
    pub recursive: bool,
    /// The mount flag `ro` (`rw` clears it).
    pub read_only_flag: bool,
    /// `rro` (`Some(true)`) or `rrw` (`Some(false)`), the last one given.
    pub recursive_read_only: Option<bool>,
    /// `remount`: changes a mount that is already there.
    pub remount: bool,
    /// `shared`, `rshared`, `slave`…: the last one given.
    pub propagation: Option<Propagation>,
}

impl MountOptions {
    /// Read one option; the reason when it is none runc or this hook knows.
    pub fn add(&mut self, option: &str) -> Result<(), String> {
        match option {
            "bind" => self.bind = true,
            "rbind" => {
                self.bind = true;
                self.recursive = true;
            }
            "ro" => self.read_only_flag = true,
            "rw" => self.read_only_flag = false,
            "rro" => self.recursive_read_only = Some(true),
            "rrw" => self.recursive_read_only = Some(false),
            "remount" => self.remount = true,
            other => {
                if plain_flag(other) {
                    // nothing the checks read
                } else if let Some(p) = Propagation::from_option(other) {
                    self.propagation = Some(p);
                } else if several_options(other)
                    || (!RECURSIVE_FLAGS.contains(&other)
                        && !DATA_OPTIONS.contains(&other.split_once('=').map_or(other, |(k, _)| k)))
                {
                    return Err(format!(
                        "unknown mount option {other:?}: runc would hand it to the filesystem, \
                         which this hook cannot judge"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether the mount ends up read-only: `rro`, or `ro` not undone by a
    /// later `rrw` (runc clears the flag recursively after mounting).
    pub fn read_only(&self) -> bool {
        self.recursive_read_only.unwrap_or(self.read_only_flag)
    }

    /// Whether its submounts are read-only too (`rro`): a plain `ro` bind
    /// leaves the submounts an `rbind` brings along writable.
    pub fn submounts_read_only(&self) -> bool {
        !self.recursive || self.recursive_read_only == Some(true)
    }

    /// A whole list at once: for tests (the hook adds each option as
    /// config.json is read).
    #[cfg(test)]
    pub fn of<S: AsRef<str>>(options: &[S]) -> MountOptions {
        let mut all = MountOptions::default();
        for option in options {
            all.add(option.as_ref()).unwrap();
        }
        all
    }
}

/// Whose runtime files and kubelet directories are the container's own: a
/// file of another container, sandbox or pod is a host path like any other.
#[derive(Debug, Clone, Copy, Default)]
pub struct Own<'a> {
    /// The runtime id of the container.
    pub id: &'a str,
    /// Its pod sandbox's id, when a CRI runtime said so.
    pub sandbox_id: Option<&'a str>,
    /// Its pod's UID, when a CRI runtime said so.
    pub pod_uid: Option<&'a str>,
    /// The rootless podman storage its bundle is in, if any.
    pub rootless: Option<&'a super::rootless::Rootless>,
}

impl Own<'_> {
    /// The container's own id or its sandbox's.
    fn is_own_or_sandbox(&self, id: &str) -> bool {
        id == self.id || self.sandbox_id == Some(id)
    }
}

pub fn classify<'a>(
    destination: impl Into<Cow<'a, str>>,
    source: impl Into<Cow<'a, str>>,
    fstype: impl Into<Cow<'a, str>>,
    options: MountOptions,
    ctx: &MountContext,
    own: &Own,
) -> MountUse<'a> {
    let (destination, source, fstype) = (destination.into(), source.into(), fstype.into());
    let bind = fstype == "bind" || options.bind;
    let kind = if options.remount {
        MountKind::Privileged {
            why: format!(
                "mount option remount at {destination}: it changes a mount that is already there"
            )
            .into(),
        }
    } else if bind {
        classify_bind(&source, ctx, own)
    } else {
        classify_filesystem(&destination, &source, &fstype)
    };
    // runc applies the recursive attributes (`rro`, `rrw`) to binds only.
    let read_only = if bind {
        options.read_only()
    } else {
        options.read_only_flag
    };
    MountUse {
        destination,
        source,
        fstype,
        bind,
        read_only,
        writable_submounts: bind && read_only && !options.submounts_read_only(),
        writable_in_kernel: false,
        propagation: options.propagation,
        declared_source: None,
        kind,
    }
}

fn classify_filesystem(destination: &str, source: &str, fstype: &str) -> MountKind {
    let standard = STANDARD_MOUNTS
        .iter()
        .any(|(_, types)| types.contains(&fstype))
        && {
            let normalized;
            let dest = if is_normal(destination) {
                OsStr::new(destination)
            } else {
                normalized = lexical_normalize(Path::new(destination));
                normalized.as_os_str()
            };
            STANDARD_MOUNTS
                .iter()
                .any(|(d, types)| dest == *d && types.contains(&fstype))
        };
    if standard {
        MountKind::RuntimeManaged
    } else if fstype == "tmpfs" {
        EMPTY_DIR
    } else {
        // Any other filesystem (a block device, an overlay of host
        // directories, a second proc or sysfs, nfs…) is the host's or the
        // kernel's, mounted by the runtime as root: no volume type says what
        // it exposes.
        MountKind::Privileged {
            why: format!(
                "{} filesystem {source:?} mounted at {destination} (not one the runtimes mount \
                 for every container)",
                if fstype.is_empty() { "untyped" } else { fstype }
            )
            .into(),
        }
    }
}

/// CRI-O's Kubernetes image volume: an `overlay` of a container a CRI
/// runtime created whose only option (`lowerdir_alone`) is
/// `lowerdir=<storage>/overlay/<layer>/merged:<run dir>/image-volumes`, the
/// image mounted read-only by root's containers/storage over an empty
/// directory of CRI-O's (`server/container_create_linux.go`). `None` for any
/// other mount; for this shape, the image type, or why it is not CRI-O's.
pub fn crio_image_volume(
    fstype: &str,
    source: &str,
    lowerdir: Option<&str>,
    lowerdir_alone: bool,
    own: &Own,
) -> Option<MountKind> {
    let dirs = lowerdir?.strip_prefix("lowerdir=")?;
    if fstype != "overlay" || source != "overlay" || !lowerdir_alone || own.pod_uid.is_none() {
        return None;
    }
    let (image, empty) = dirs.split_once(':')?;
    let is_image_mount = below_any(image, STORAGE_ROOTS).is_some_and(|rest| {
        matches!(&rest[..], ["overlay", layer, "merged"]
            if layer.len() == 64 && layer.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    if !is_image_mount || !empty.ends_with("/image-volumes") || !is_normal(empty) {
        return None;
    }
    // The second layer shows in the container: it must be a directory of
    // root's, empty, as CRI-O makes it.
    Some(match crate::input::list_trusted_dir(Path::new(empty)) {
        Ok((_, entries)) if entries.is_empty() => IMAGE,
        Ok(_) => MountKind::Privileged {
            why: format!("overlay over {empty}, which is not empty: not CRI-O's image volume")
                .into(),
        },
        Err(e) => MountKind::Privileged {
            why: format!(
                "overlay over {empty}, which cannot be shown to be CRI-O's empty image volume \
                 directory: {}",
                e.reason()
            )
            .into(),
        },
    })
}

/// Whether `path` is what [`lexical_normalize`] would make of it (absolute,
/// no empty, `.` or `..` component), as most destinations are: then it is
/// compared as it is, without building the normalized copy.
fn is_normal(path: &str) -> bool {
    // Split as bytes: `str::split` sets up a substring search per call,
    // which cost more than these short paths.
    path.as_bytes().strip_prefix(b"/").is_some_and(|rest| {
        rest.split(|b| *b == b'/')
            .all(|c| !matches!(c, b"" | b"." | b".."))
    })
}

fn classify_bind(source: &str, ctx: &MountContext, own: &Own) -> MountKind {
    let resolved = ctx.resolve_source(source);
    // A path that is not UTF-8 is none of the runtimes' or kubelet's. Most
    // sources resolve to themselves, already known to be UTF-8.
    let path = if resolved.as_os_str().as_bytes() == source.as_bytes() {
        source
    } else {
        match resolved.to_str() {
            Some(path) => path,
            None => {
                return MountKind::HostPath {
                    resolved: resolved.into(),
                };
            }
        }
    };
    let kubelet_root = ctx.kubelet_root.to_str().map(|r| r.trim_end_matches('/'));
    // Most bind mounts of a pod are its volumes: tested without splitting
    // the path. (No runtime's file is below kubelet's root.)
    if let Some(volume) =
        kubelet_root.and_then(|root| own_volume(path, root, &ctx.kubelet_root, own))
    {
        return volume;
    }
    // Below kubelet's root. Another pod's directory is no volume of this
    // one: a hostPath naming `<kubelet>/pods/<other uid>/volumes/kubernetes.io~secret/…`
    // must not pass as a secret volume.
    let kubelet = kubelet_root
        .and_then(|root| below(path, root))
        .filter(|rest| match &rest[..] {
            ["pods", uid, ..] => own.pod_uid == Some(*uid),
            _ => true,
        });
    // The runtimes' roots do not nest: a path is below one of each at most.
    let storage = below_any(path, STORAGE_ROOTS);
    let containerd = below_any(path, CONTAINERD_ROOTS);
    if is_runtime_managed(
        kubelet.as_deref(),
        storage.as_deref(),
        containerd.as_deref(),
        own,
    ) {
        return MountKind::RuntimeManaged;
    }
    if containerd
        .as_deref()
        .is_some_and(|rest| is_pod_image_volume(rest, own))
    {
        return IMAGE;
    }
    if containerd
        .as_deref()
        .is_some_and(|rest| is_image_volume(rest, own))
    {
        // A fresh directory per container, like an emptyDir.
        return EMPTY_DIR;
    }
    if let Some(volume) = kubelet.and_then(|rest| kubelet_volume(&rest, &ctx.kubelet_root)) {
        return volume;
    }
    if own
        .rootless
        .is_some_and(|storage| storage.is_runtime_file(path, own.id))
    {
        return MountKind::RuntimeManaged;
    }
    MountKind::HostPath {
        resolved: resolved.into(),
    }
}

/// The kernel mounted `real` where config.json names `source`: judge the
/// truth, keeping what config.json said for messages.
pub fn replace_source(mount: &mut MountUse<'_>, real: &Path, ctx: &MountContext, own: &Own) {
    let declared = std::mem::replace(&mut mount.source, Cow::Owned(real.display().to_string()));
    mount.declared_source = Some(Box::new(declared));
    mount.kind = match real.to_str() {
        Some(_) => classify_bind(&mount.source, ctx, own),
        // None of the runtimes' or kubelet's; its text (`display`) names
        // another path, which could be a link to anything.
        None => MountKind::HostPath {
            resolved: resolve_with(real, &mut ctx.resolved.borrow_mut()).into(),
        },
    };
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// How many components of a path below a root [`Parts`] splits out.
const PARTS: usize = 8;

/// The components of a path below a root, split without allocating: the
/// first `PARTS - 1`, then the rest unsplit in the last (as `str::splitn`).
/// The patterns they are matched against name six components at most and
/// look past that only through `..` or a whole runtime leaf (one or two
/// components), so a deeper path matches none of them either way.
#[derive(Debug, Clone, Copy)]
struct Parts<'a> {
    parts: [&'a str; PARTS],
    len: usize,
}

impl<'a> Parts<'a> {
    /// `rest`: what follows the root (`/a/b`, or empty); empty components
    /// are skipped.
    fn split(rest: &'a str) -> Self {
        let mut parts = Parts {
            parts: [""; PARTS],
            len: 0,
        };
        let bytes = rest.as_bytes();
        let mut start = 0;
        while start < bytes.len() {
            // The last part is the rest, unsplit.
            let end = if parts.len == PARTS - 1 {
                bytes.len()
            } else {
                next_slash(bytes, start)
            };
            if let Some(part) = rest.get(start..end).filter(|p| !p.is_empty()) {
                parts.parts[parts.len] = part;
                parts.len += 1;
            }
            start = end + 1;
        }
        parts
    }
}

/// The index of the first `/` in `bytes` from `i` on (`bytes.len()` if
/// none).
fn next_slash(bytes: &[u8], i: usize) -> usize {
    bytes
        .get(i..)
        .and_then(|rest| rest.iter().position(|b| *b == b'/'))
        .map_or(bytes.len(), |at| i + at)
}

impl<'a> std::ops::Deref for Parts<'a> {
    type Target = [&'a str];

    fn deref(&self) -> &[&'a str] {
        &self.parts[..self.len]
    }
}

/// The components of `path` below `prefix` (both absolute; `path`
/// normalized, `prefix` without a trailing `/`), or `None` when `path` is
/// not under `prefix`. Compares bytes
/// and splits only what is below: most mounts are under none of the prefixes.
fn below<'a>(path: &'a str, prefix: &str) -> Option<Parts<'a>> {
    if !under(path, prefix) {
        return None;
    }
    path.get(prefix.len()..).map(Parts::split)
}

/// [`below`] the first of `roots` that `path` is under. The roots are tested
/// before anything is split: a `find_map` over `below` moved each miss's
/// `Option<Parts>` (136 bytes) around.
fn below_any<'a>(path: &'a str, roots: &[&str]) -> Option<Parts<'a>> {
    let root = roots.iter().find(|root| under(path, root))?;
    path.get(root.len()..).map(Parts::split)
}

/// Whether `path` is `prefix` or below it (as for [`below`]).
#[inline]
fn under(path: &str, prefix: &str) -> bool {
    // The byte past the prefix first: it rules out most paths (the roots
    // differ in length) before the prefix is compared.
    matches!(path.as_bytes().get(prefix.len()), None | Some(b'/'))
        && path.as_bytes().starts_with(prefix.as_bytes())
}

/// Whether the components `rest` spell one of `leaves` (`run/secrets`).
fn leaf_in(rest: &[&str], leaves: &[&str]) -> bool {
    leaves
        .iter()
        .any(|leaf| leaf.split('/').eq(rest.iter().copied()))
}

/// Whether a bind source is one of the files the runtimes and kubelet make
/// for each container. `below_*`: its components below kubelet's root, a
/// podman/CRI-O storage root and a containerd root, where it is below one.
fn is_runtime_managed(
    below_kubelet: Option<&[&str]>,
    below_storage: Option<&[&str]>,
    below_containerd: Option<&[&str]>,
    own: &Own,
) -> bool {
    // podman and CRI-O: <storage>/overlay-containers/<id>/userdata/<leaf>,
    // of the container itself or of its sandbox (CRI-O's shm, resolv.conf)
    let podman = matches!(
        below_storage,
        Some(["overlay-containers", id, "userdata", leaf @ ..])
            if own.is_own_or_sandbox(id) && leaf_in(leaf, USERDATA_LEAVES)
    );
    // containerd's CRI plugin: <root>/io.containerd.grpc.v1.cri/sandboxes/<id>/<leaf>
    let containerd = matches!(
        below_containerd,
        Some(["io.containerd.grpc.v1.cri", "sandboxes", id, leaf @ ..])
            if own.is_own_or_sandbox(id) && leaf_in(leaf, CRI_SANDBOX_LEAVES)
    );
    // kubelet: pods/<uid>/etc-hosts and the termination log
    // pods/<uid>/containers/<container>/<file>, of the container's own pod
    // (the caller has dropped other pods' directories)
    let kubelet = matches!(
        below_kubelet,
        Some(["pods", _, "etc-hosts"] | ["pods", _, "containers", _, _])
    );
    podman || containerd || kubelet
}

/// A Kubernetes image volume (`volumes[].image`) as containerd 2.x's CRI
/// plugin mounts it: `<state>/io.containerd.grpc.v1.cri/image-volumes/<sandbox id>/<image id>`,
/// of the container's own pod.
fn is_pod_image_volume(below_containerd: &[&str], own: &Own) -> bool {
    matches!(
        below_containerd,
        ["io.containerd.grpc.v1.cri", "image-volumes", sandbox, _image, ..]
            if own.is_own_or_sandbox(sandbox)
    )
}

/// An image's `VOLUME` as containerd's CRI plugin backs it:
/// `<root>/io.containerd.grpc.v1.cri/containers/<id>/volumes/<id>`.
/// `below_containerd`: the path's components below a containerd root.
fn is_image_volume(below_containerd: &[&str], own: &Own) -> bool {
    matches!(
        below_containerd,
        ["io.containerd.grpc.v1.cri", "containers", id, "volumes", vol]
            if *id == own.id && is_container_id(vol)
    )
}

/// A pod's directory, `<kubelet>/pods/<uid>`: built only when a file in it
/// must be read (a CSI volume's driver, a subpath's volume).
struct PodDir<'a> {
    kubelet_root: &'a Path,
    uid: &'a str,
}

impl PodDir<'_> {
    fn path(&self) -> PathBuf {
        self.kubelet_root.join("pods").join(self.uid)
    }
}

/// A volume of the container's own pod, `<kubelet>/pods/<uid>/volumes/<plugin>/<name>[/…]`.
/// `path`: resolved (no empty, `.` or `..` component); `root`: kubelet's
/// root without a trailing `/` (empty for `/`), `kubelet_root` as configured.
fn own_volume(path: &str, root: &str, kubelet_root: &Path, own: &Own) -> Option<MountKind> {
    let rest = path.strip_prefix(root)?.strip_prefix("/pods/")?;
    // Compared as a whole component: a UID holding `/` would make a
    // directory inside another pod's its own.
    let (uid, rest) = first_component(rest);
    if own.pod_uid != Some(uid) {
        return None;
    }
    let (plugin, rest) = first_component(rest?.strip_prefix("volumes/")?);
    let (name, _) = first_component(rest?);
    let pod = PodDir { kubelet_root, uid };
    (!plugin.is_empty() && !name.is_empty()).then(|| volume_of_plugin(plugin, &pod, name))
}

/// `a/b/c` as `a` and `b/c`; `a` as `a` and `None`.
fn first_component(path: &str) -> (&str, Option<&str>) {
    // A byte loop: the memchr crate's first call detects the CPU's
    // features with `cpuid`, each a trap to the hypervisor in a VM.
    match path.bytes().position(|b| b == b'/') {
        Some(at) => (&path[..at], path.get(at + 1..)),
        None => (path, None),
    }
}

/// `<kubelet>/pods/<uid>/volume-subpaths/<name>/<container>/<index>[/…]`.
/// `rest`: the path's components below kubelet's root.
fn kubelet_volume(rest: &[&str], kubelet_root: &Path) -> Option<MountKind> {
    match rest {
        ["pods", uid, "volume-subpaths", name, _container, _index, ..] => {
            let pod = PodDir { kubelet_root, uid };
            let fs_type = volume_named(&pod.path(), name)?;
            Some(MountKind::Volume {
                fs_type,
                driver: None,
            })
        }
        _ => None,
    }
}

/// The type of the pod's volume `name`, for its subpaths: kubelet names a
/// subpath's directory by the pod's volume name, but a volume's own
/// directory by that name only for the types no PersistentVolume backs. A
/// PV's is named by the PV, which a pod's hostPath volume can be named
/// after: its subpath would pass as the PV's type. So only those types count.
fn volume_named(pod_dir: &Path, name: &str) -> Option<VolumeType> {
    let volumes = pod_dir.join("volumes");
    KUBELET_PLUGINS
        .iter()
        .filter(|(_, fs_type)| !fs_type.backs_persistent_volumes())
        .find(|(dir, _)| {
            volumes
                .join(format!("kubernetes.io~{dir}"))
                .join(name)
                .exists()
        })
        .map(|(_, fs_type)| *fs_type)
}

fn volume_of_plugin(plugin: &str, pod: &PodDir, name: &str) -> MountKind {
    // In-tree plugins first: `kubernetes.io` holds no `~`, so this is the
    // vendor before the first `~` (and cheaper than searching for it).
    let Some(driver) = plugin.strip_prefix("kubernetes.io~") else {
        let (vendor, driver) = plugin.split_once('~').unwrap_or(("", plugin));
        // `<vendor>~<driver>` is a flexVolume driver `<vendor>/<driver>`.
        return MountKind::Volume {
            fs_type: VolumeType::FlexVolume,
            driver: Some(format!("{vendor}/{driver}").into()),
        };
    };
    match KUBELET_PLUGINS.iter().find(|(dir, _)| *dir == driver) {
        Some((dir, fs_type)) => MountKind::Volume {
            fs_type: *fs_type,
            driver: (*dir == "csi")
                .then(|| csi_driver(pod, name))
                .flatten()
                .map(Into::into),
        },
        // An in-tree plugin this build does not know: name it as kubelet does.
        None => MountKind::UnknownVolume(MountVolume::Unknown(driver.into())),
    }
}

/// kubelet's CSI plugin records the driver in `vol_data.json` beside the mount.
fn csi_driver(pod: &PodDir, name: &str) -> Option<String> {
    let file = pod
        .path()
        .join("volumes/kubernetes.io~csi")
        .join(name)
        .join("vol_data.json");
    let text = crate::input::read_bounded(&file, 64 * 1024).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&text).ok()?;
    value
        .get("driverName")
        .and_then(|d| d.as_str())
        .map(str::to_string)
}

/// Resolve a host path as the kernel would: component by component, each
/// existing one through the filesystem (symlinks), `..` on what it resolved
/// to; from the first missing component on, lexically.
pub fn resolve_host_path(path: &Path) -> PathBuf {
    resolve_with(path, &mut Prefixes::default())
}

/// Resolved prefixes (raw prefix → resolved path, and whether it exists).
/// Keyed by the path's bytes: hashing a `Path` walks its components, which
/// was a tenth of the hook's instructions; the keys are normalized already.
pub type Prefixes = HashMap<OsString, (PathBuf, bool), PathHash>;

/// The hash of [`Prefixes`] and the mount tables: foldhash, seeded per
/// process (std's SipHash cost more than the lookups it served with a
/// thousand mounts; the seed keeps colliding paths from being prepared in
/// advance).
pub type PathHash = foldhash::fast::RandomState;

/// [`resolve_host_path`] remembering the prefixes it asked the filesystem
/// about, so paths sharing a directory cost one `lstat` per new component.
///
/// Past the first missing component all is lexical, so one entry for the
/// missing prefix serves every path below it; of those only the path's
/// directory is remembered too, which its siblings (a plugin's volumes)
/// start from.
pub fn resolve_with(path: &Path, prefixes: &mut Prefixes) -> PathBuf {
    let clean = clean_path(path.as_os_str().as_bytes());
    let clean = &clean[..];
    let directory = clean.iter().rposition(|b| *b == b'/').unwrap_or(0);
    let (done, mut resolved, mut exists) = start_of(clean, directory, prefixes);
    let mut end = done;
    for part in clean[done..]
        .split(|b| *b == b'/')
        .filter(|p| !p.is_empty())
    {
        end += 1 + part.len();
        // Up to here every component existed, so the filesystem was asked:
        // worth remembering.
        let existed = exists;
        if part == b".." {
            resolved.pop();
        } else {
            push_name(&mut resolved, part);
            exists = exists && follow(&mut resolved);
        }
        if existed || end == directory {
            prefixes.insert(
                OsString::from_vec(clean[..end].to_vec()),
                (resolved.clone(), exists),
            );
        }
    }
    resolved
}

/// The path as `/a/b/..`: absolute, no empty or `.` components (bytes, not
/// `Path::components`, which costs more than the rest of the lookup).
/// Borrowed when it is that already, as paths mostly are.
fn clean_path(path: &[u8]) -> Cow<'_, [u8]> {
    if is_clean(path) {
        return Cow::Borrowed(path);
    }
    let mut clean = Vec::with_capacity(path.len() + 1);
    for part in path
        .split(|b| *b == b'/')
        .filter(|p| !p.is_empty() && *p != b".")
    {
        clean.push(b'/');
        clean.extend_from_slice(part);
    }
    Cow::Owned(clean)
}

/// Whether [`clean_path`] would leave `path` as it is: it starts with `/`
/// and holds no `//` or `/./` and does not end in `/` or `/.`. The passes
/// look for the pairs and triples without branching, which the compiler
/// turns into vector instructions: a byte-by-byte split cost more than the
/// lookups it serves.
fn is_clean(path: &[u8]) -> bool {
    let [b'/', rest @ ..] = path else {
        return false;
    };
    let slash = |b: &u8| *b == b'/';
    let empty = path
        .iter()
        .zip(rest)
        .fold(false, |found, (a, b)| found | (slash(a) & slash(b)));
    let dot = path
        .iter()
        .zip(rest)
        .zip(rest.get(1..).unwrap_or_default())
        .fold(false, |found, ((a, b), c)| {
            found | (slash(a) & (*b == b'.') & slash(c))
        });
    !(empty || dot || path.ends_with(b"/") || path.ends_with(b"/."))
}

/// Where to resolve `clean` from: the deepest prefix resolved before (its
/// length, resolved path with room for the rest, and whether it exists), or
/// the root. `directory`: where the path's last component starts. The
/// directory is asked first, as a path's siblings have mostly resolved it
/// (a plugin's volumes): when it does not exist the rest is lexical, and
/// when it does the whole path may be known too (the kernel check resolves
/// each source again). Otherwise deeper prefixes first, up to the root.
fn start_of(clean: &[u8], directory: usize, prefixes: &Prefixes) -> (usize, PathBuf, bool) {
    let known = |end: usize| {
        let (path, exists) = prefixes.get(OsStr::from_bytes(&clean[..end]))?;
        Some((end, path.as_os_str(), *exists))
    };
    let parents = (1..clean.len())
        .rev()
        .filter(|&end| clean[end] == b'/' && end != directory);
    let (end, path, exists) = match (directory > 0).then(|| known(directory)).flatten() {
        Some(missing @ (_, _, false)) => Some(missing),
        Some(dir) => known(clean.len()).or(Some(dir)),
        None => std::iter::once(clean.len()).chain(parents).find_map(known),
    }
    .unwrap_or((0, OsStr::new("/"), true));
    // The rest adds at most its own length (a `/` and a name per component).
    let mut resolved = OsString::with_capacity(path.len() + clean.len() - end);
    resolved.push(path);
    (end, resolved.into(), exists)
}

/// `path.push(name)` for a name without `/`, as bytes: `PathBuf::push`
/// parses both paths first.
fn push_name(path: &mut PathBuf, name: &[u8]) {
    let buf = path.as_mut_os_string();
    if !buf.as_bytes().ends_with(b"/") {
        buf.push("/");
    }
    buf.push(OsStr::from_bytes(name));
}

/// Whether `path`, whose parent exists, exists; a symlink is replaced by
/// what the kernel resolves it to.
fn follow(path: &mut PathBuf) -> bool {
    match std::fs::symlink_metadata(&*path) {
        // A symlink: let the kernel's rules resolve it.
        Ok(m) if m.file_type().is_symlink() => match crate::input::real_path(path) {
            Ok(real) => {
                *path = real;
                true
            }
            Err(_) => false,
        },
        Ok(_) => true,
        Err(_) => false,
    }
}

/// Remove `.` and apply `..` without touching the filesystem.
pub fn lexical_normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Whether `path` is `prefix` or below it, on whole path segments.
pub fn has_path_prefix(path: &Path, prefix: &Path) -> bool {
    path.starts_with(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(o: &[&str]) -> MountOptions {
        MountOptions::of(o)
    }

    /// No options.
    const NONE: MountOptions = MountOptions {
        bind: false,
        recursive: false,
        read_only_flag: false,
        recursive_read_only: None,
        remount: false,
        propagation: None,
    };

    /// A container of pod `pod_uid`, of no particular runtime id.
    fn own(pod_uid: Option<&str>) -> Own<'_> {
        Own {
            id: "",
            sandbox_id: None,
            pod_uid,
            rootless: None,
        }
    }

    fn types<'a>(m: &'a MountUse<'_>) -> Vec<&'a str> {
        m.volume_types().map(MountVolume::name).collect()
    }

    fn ctx(root: &Path) -> MountContext {
        MountContext {
            kubelet_root: root.to_path_buf(),
            ..Default::default()
        }
    }

    #[test]
    fn bind_detected_by_option_whatever_the_type() {
        let m = classify(
            "/x",
            "/etc",
            "none",
            opts(&["rbind", "ro"]),
            &MountContext::default(),
            &own(None),
        );
        assert!(m.bind);
        assert!(m.read_only);
        assert_eq!(
            m.kind,
            MountKind::HostPath {
                resolved: Path::new("/etc").into()
            }
        );
        let m = classify(
            "/x",
            "/etc",
            "bind",
            opts(&[]),
            &MountContext::default(),
            &own(None),
        );
        assert!(m.bind);
    }

    #[test]
    fn dot_dot_is_resolved_before_classification() {
        let src = "/var/lib/kubelet/pods/u1/volumes/kubernetes.io~configmap/cfg/../../../../../../../../etc";
        let m = classify(
            "/x",
            src,
            "bind",
            opts(&["rbind"]),
            &MountContext::default(),
            &own(None),
        );
        assert_eq!(
            m.kind,
            MountKind::HostPath {
                resolved: Path::new("/etc").into()
            }
        );
    }

    /// runc follows a magic link of /proc in its own process: the checker's
    /// working directory is not what the container gets.
    #[test]
    fn magic_links_are_not_followed_here() {
        let cwd = std::env::current_dir().unwrap();
        for source in ["/proc/self/cwd", "/proc/self/cwd/x", "/dev/fd/0"] {
            let resolved = resolve_host_path(Path::new(source));
            assert!(
                resolved.starts_with("/proc") && !resolved.starts_with(&cwd),
                "{source}: {}",
                resolved.display()
            );
        }
    }

    #[test]
    fn symlink_is_resolved_before_classification() {
        let temp = tempfile::Builder::new()
            .prefix("psp-mounts-")
            .tempdir()
            .unwrap();
        let dir = temp.path();
        let vol = dir.join("pods/u1/volumes/kubernetes.io~empty-dir/data");
        std::fs::create_dir_all(&vol).unwrap();
        let link = vol.join("escape");
        std::os::unix::fs::symlink("/etc", &link).unwrap();
        let m = classify(
            "/x",
            link.to_str().unwrap(),
            "bind",
            opts(&["rbind"]),
            &ctx(dir),
            &own(Some("u1")),
        );
        assert_eq!(
            m.kind,
            MountKind::HostPath {
                resolved: Path::new("/etc").into()
            }
        );
        let m = classify(
            "/x",
            vol.to_str().unwrap(),
            "bind",
            opts(&["rbind"]),
            &ctx(dir),
            &own(Some("u1")),
        );
        assert_eq!(types(&m), ["emptyDir"]);
    }

    #[test]
    fn another_pods_directory_is_a_host_path() {
        let c = MountContext::default();
        let src = "/var/lib/kubelet/pods/victim/volumes/kubernetes.io~secret/token";
        let of = |pod_uid| classify("/t", src, "bind", opts(&["rbind"]), &c, &own(pod_uid)).kind;
        assert_eq!(
            of(Some("attacker")),
            MountKind::HostPath {
                resolved: Path::new(src).into()
            }
        );
        let hosts = "/var/lib/kubelet/pods/victim/etc-hosts";
        let m = classify(
            "/etc/hosts",
            hosts,
            "bind",
            opts(&["rbind"]),
            &c,
            &own(Some("a")),
        );
        assert!(matches!(m.kind, MountKind::HostPath { .. }));
        // Its own pod's is a volume; without a pod UID it is no pod's.
        assert_eq!(
            types(&classify(
                "/t",
                src,
                "bind",
                opts(&["rbind"]),
                &c,
                &own(Some("victim"))
            )),
            ["secret"]
        );
        assert!(matches!(of(None), MountKind::HostPath { .. }));
        // A UID that spells a path into the other pod's volumes, or that
        // starts the other's, names no directory of its own.
        let nested = "/var/lib/kubelet/pods/victim/volumes/kubernetes.io~empty-dir/d/volumes/\
                      kubernetes.io~secret/token";
        let of_nested =
            |pod_uid| classify("/t", nested, "bind", opts(&["rbind"]), &c, &own(pod_uid)).kind;
        for uid in [
            "victim/volumes/kubernetes.io~empty-dir/d",
            "victim/volumes/kubernetes.io~empty-dir",
        ] {
            assert!(
                matches!(of_nested(Some(uid)), MountKind::HostPath { .. }),
                "{uid}"
            );
        }
        assert!(matches!(of(Some("vic")), MountKind::HostPath { .. }));
    }

    #[test]
    fn a_kernel_source_that_is_not_utf8_is_a_host_path_not_its_text() {
        use std::os::unix::ffi::OsStrExt;
        let temp = tempfile::Builder::new()
            .prefix("psp-not-utf8-")
            .tempdir()
            .unwrap();
        let dir = temp.path();
        let empty_dir = dir.join("pods/u1/volumes/kubernetes.io~empty-dir/data");
        std::fs::create_dir_all(&empty_dir).unwrap();
        // The lossy text of `x\xFF` is `x\u{FFFD}`: a link there to the pod's emptyDir.
        let real = dir.join(OsStr::from_bytes(b"x\xFF"));
        std::fs::create_dir_all(&real).unwrap();
        std::os::unix::fs::symlink(&empty_dir, dir.join("x\u{FFFD}")).unwrap();
        let c = ctx(dir);
        let mounted = |real: &Path| {
            let mut m = classify("/d", "/x", "bind", opts(&["rbind"]), &c, &own(Some("u1")));
            replace_source(&mut m, real, &c, &own(Some("u1")));
            m.kind
        };
        assert_eq!(
            mounted(&real),
            MountKind::HostPath {
                resolved: real.clone().into()
            }
        );
        // the same link, as the kernel's source, is the volume
        assert!(matches!(
            mounted(&dir.join("x\u{FFFD}")),
            MountKind::Volume {
                fs_type: VolumeType::EmptyDir,
                ..
            }
        ));
    }

    #[test]
    fn kubelet_plugins_map_to_psp_volume_types() {
        let c = MountContext::default();
        let vol = |plugin: &str| {
            let src = format!("/var/lib/kubelet/pods/0b5c/volumes/{plugin}/v1");
            classify("/v", src, "bind", opts(&["rbind"]), &c, &own(Some("0b5c")))
        };
        assert_eq!(types(&vol("kubernetes.io~configmap")), ["configMap"]);
        assert_eq!(types(&vol("kubernetes.io~secret")), ["secret"]);
        assert_eq!(types(&vol("kubernetes.io~downward-api")), ["downwardAPI"]);
        assert_eq!(
            types(&vol("kubernetes.io~nfs")),
            ["nfs", "persistentVolumeClaim", "ephemeral"]
        );
        let flex = vol("example.com~lvm");
        assert_eq!(types(&flex)[0], "flexVolume");
        assert!(
            matches!(flex.kind, MountKind::Volume { driver: Some(ref d), .. } if &**d == "example.com/lvm")
        );
        // The plugin's directory, or the pod's volumes directory, is no volume.
        for src in [
            "/var/lib/kubelet/pods/0b5c/volumes/kubernetes.io~secret",
            "/var/lib/kubelet/pods/0b5c/volumes",
        ] {
            let m = classify("/v", src, "bind", opts(&["rbind"]), &c, &own(Some("0b5c")));
            assert!(matches!(m.kind, MountKind::HostPath { .. }), "{src}");
        }
        // kubelet's root named with a trailing `/`
        let c = MountContext {
            kubelet_root: PathBuf::from("/var/lib/kubelet/"),
            ..Default::default()
        };
        let src = "/var/lib/kubelet/pods/0b5c/volumes/kubernetes.io~secret/s/key";
        let m = classify("/v", src, "bind", opts(&["rbind"]), &c, &own(Some("0b5c")));
        assert_eq!(types(&m), ["secret"]);
    }

    #[test]
    fn csi_driver_read_from_vol_data() {
        let temp = tempfile::Builder::new()
            .prefix("psp-csi-")
            .tempdir()
            .unwrap();
        let dir = temp.path();
        let vol = dir.join("pods/u2/volumes/kubernetes.io~csi/pvc-1");
        std::fs::create_dir_all(vol.join("mount")).unwrap();
        std::fs::write(
            vol.join("vol_data.json"),
            r#"{"driverName":"ebs.csi.aws.com"}"#,
        )
        .unwrap();
        let m = classify(
            "/d",
            vol.join("mount").to_str().unwrap().to_owned(),
            "bind",
            opts(&["rbind"]),
            &ctx(dir),
            &own(Some("u2")),
        );
        assert!(
            matches!(m.kind, MountKind::Volume { fs_type: VolumeType::Csi, driver: Some(ref d), .. } if &**d == "ebs.csi.aws.com")
        );
        // A subpath directory is named by the pod's volume name, a PV's
        // directory by the PV: a hostPath volume named `pvc-1` has its
        // subpath there. Only a volume type no PV backs ties the two.
        let subpath = |volume: &str| {
            let sub = dir.join(format!("pods/u2/volume-subpaths/{volume}/app/0"));
            std::fs::create_dir_all(&sub).unwrap();
            let source = sub.to_str().unwrap().to_owned();
            classify(
                "/d",
                source,
                "bind",
                opts(&["rbind"]),
                &ctx(dir),
                &own(Some("u2")),
            )
            .kind
        };
        assert!(matches!(subpath("pvc-1"), MountKind::HostPath { .. }));
        std::fs::create_dir_all(dir.join("pods/u2/volumes/kubernetes.io~configmap/cfg")).unwrap();
        assert_eq!(
            subpath("cfg"),
            MountKind::Volume {
                fs_type: VolumeType::ConfigMap,
                driver: None
            }
        );
        // nor does an in-tree plugin that PVs back (its inline volumes
        // are named by the pod, its PVs' by the PV)
        std::fs::create_dir_all(dir.join("pods/u2/volumes/kubernetes.io~nfs/pv-2")).unwrap();
        assert!(matches!(subpath("pv-2"), MountKind::HostPath { .. }));
    }

    #[test]
    fn runtime_managed_files_of_each_runtime() {
        let c = MountContext::default();
        let id = "a".repeat(64);
        let mine = Own {
            id: &id,
            sandbox_id: None,
            pod_uid: Some("1234"),
            rootless: None,
        };
        for src in [
            format!("/var/lib/containers/storage/overlay-containers/{id}/userdata/hosts"),
            format!("/run/containers/storage/overlay-containers/{id}/userdata/resolv.conf"),
            format!("/var/run/containers/storage/overlay-containers/{id}/userdata/shm"),
            format!("/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/{id}/hostname"),
            format!("/run/containerd/io.containerd.grpc.v1.cri/sandboxes/{id}/shm"),
            "/var/lib/kubelet/pods/1234/etc-hosts".to_string(),
            "/var/lib/kubelet/pods/1234/containers/app/5f2a9c1e".to_string(),
        ] {
            let m = classify("/etc/hosts", &src, "bind", opts(&["rbind"]), &c, &mine);
            assert_eq!(m.kind, MountKind::RuntimeManaged, "{src}");
        }
        // not the runtime's: another leaf, or the whole userdata directory
        for src in [
            format!("/var/lib/containers/storage/overlay-containers/{id}/userdata"),
            format!("/var/lib/containers/storage/overlay-containers/{id}/userdata/config.json"),
            "/var/lib/containers/storage/overlay-containers/short/userdata/hosts".to_string(),
            // another container's, sandbox's or pod's
            format!(
                "/var/lib/containers/storage/overlay-containers/{}/userdata/hosts",
                "b".repeat(64)
            ),
            format!(
                "/run/containerd/io.containerd.grpc.v1.cri/sandboxes/{}/shm",
                "b".repeat(64)
            ),
            "/var/lib/kubelet/pods/5678/etc-hosts".to_string(),
        ] {
            let m = classify("/x", &src, "bind", opts(&["rbind"]), &c, &mine);
            assert!(matches!(m.kind, MountKind::HostPath { .. }), "{src}");
        }
    }

    /// containerd 2.x mounts a pod's image volumes from its state directory,
    /// per sandbox: the pod's own are `image` volumes, another pod's a host
    /// path.
    #[test]
    fn kubernetes_image_volumes_of_the_pod() {
        let c = MountContext::default();
        let sandbox = "a".repeat(64);
        let src =
            format!("/run/containerd/io.containerd.grpc.v1.cri/image-volumes/{sandbox}/sha256-1");
        let mine = Own {
            id: "app",
            sandbox_id: Some(&sandbox),
            pod_uid: None,
            rootless: None,
        };
        let m = classify(
            "/data",
            src.as_str(),
            "bind",
            opts(&["rbind", "ro"]),
            &c,
            &mine,
        );
        assert_eq!(types(&m), ["image"]);
        let m = classify(
            "/data",
            src.as_str(),
            "bind",
            opts(&["rbind", "ro"]),
            &c,
            &own(None),
        );
        assert!(matches!(m.kind, MountKind::HostPath { .. }));
    }

    #[test]
    fn standard_pseudo_filesystems_and_tmpfs() {
        let c = MountContext::default();
        assert_eq!(
            classify("/proc", "proc", "proc", NONE, &c, &own(None)).kind,
            MountKind::RuntimeManaged
        );
        assert_eq!(
            classify("/dev/shm", "shm", "tmpfs", NONE, &c, &own(None)).kind,
            MountKind::RuntimeManaged
        );
        assert_eq!(
            types(&classify(
                "/scratch",
                "tmpfs",
                "tmpfs",
                NONE,
                &c,
                &own(None)
            )),
            ["emptyDir"]
        );
        // any other filesystem, or a standard one elsewhere, is privileged
        for (dest, source, fstype) in [
            ("/host-proc", "proc", "proc"),
            ("/sys2", "sysfs", "sysfs"),
            ("/disk", "/dev/vda1", "ext4"),
            ("/o", "overlay", "overlay"),
        ] {
            let m = classify(dest, source, fstype, NONE, &c, &own(None));
            assert!(matches!(m.kind, MountKind::Privileged { .. }), "{fstype}");
            assert_eq!(types(&m), Vec::<&str>::new());
        }
        let remount = classify(
            "/sys",
            "tmpfs",
            "tmpfs",
            opts(&["remount", "rw"]),
            &c,
            &own(None),
        );
        assert!(
            matches!(remount.kind, MountKind::Privileged { ref why } if why.contains("remount"))
        );
    }

    #[test]
    fn relative_bind_source_is_under_the_bundle() {
        let c = MountContext {
            bundle: Some("/srv/bundle".into()),
            ..Default::default()
        };
        let m = classify(
            "/data",
            "data/../files",
            "bind",
            opts(&["rbind"]),
            &c,
            &own(None),
        );
        assert_eq!(
            m.kind,
            MountKind::HostPath {
                resolved: Path::new("/srv/bundle/files").into()
            }
        );
    }

    #[test]
    fn prefix_on_whole_segments() {
        assert!(has_path_prefix(Path::new("/foo/bar"), Path::new("/foo")));
        assert!(has_path_prefix(Path::new("/foo"), Path::new("/foo")));
        assert!(!has_path_prefix(Path::new("/foobar"), Path::new("/foo")));
    }

    #[test]
    fn propagation_is_the_last_one_given() {
        let m = classify(
            "/x",
            "/data",
            "bind",
            opts(&["rbind", "rprivate", "rshared"]),
            &MountContext::default(),
            &own(None),
        );
        assert_eq!(m.propagation, Some(Propagation::RShared));
    }

    /// runc applies options in order: `rw` after `ro` mounts read-write
    /// (checked with runc 1.1 here), so such a mount is no read-only one.
    #[test]
    fn a_later_rw_undoes_ro() {
        let read_only = |o: &[&str]| MountOptions::of(o).read_only();
        assert!(read_only(&["rbind", "ro"]));
        assert!(!read_only(&["rbind", "ro", "rw"]));
        assert!(read_only(&["rw", "ro"]));
        assert!(!read_only(&["rbind"]));
    }

    /// runc applies `rro`/`rrw` recursively after mounting: `rrw` undoes an
    /// earlier `ro`, and only `rro` makes an rbind's submounts read-only.
    #[test]
    fn recursive_read_only_attributes() {
        let o = MountOptions::of;
        assert!(!o(&["rbind", "ro", "rrw"]).read_only());
        assert!(o(&["rbind", "rw", "rro"]).read_only());
        assert!(o(&["rbind", "rro"]).submounts_read_only());
        assert!(!o(&["rbind", "ro"]).submounts_read_only());
        assert!(o(&["bind", "ro"]).submounts_read_only());
        let m = classify(
            "/d",
            "/srv",
            "bind",
            o(&["rbind", "ro"]),
            &MountContext::default(),
            &own(None),
        );
        assert!(m.read_only && m.writable_submounts);
    }

    /// An option outside runc's table and the runtimes' filesystem data is
    /// refused, naming it; the data options the runtimes write pass.
    #[test]
    fn unknown_options_are_refused() {
        let mut options = MountOptions::default();
        for known in [
            "nosuid",
            "mode=755",
            "size=65536k",
            "newinstance",
            "ptmxmode=0666",
            "gid=5",
            "rnoexec",
            "tmpcopyup",
            "rslave",
            "context=\"system_u:object_r:x:s0\"",
            "context=\"system_u:object_r:container_file_t:s0:c1,c2\"",
        ] {
            assert_eq!(options.add(known), Ok(()), "{known}");
        }
        for unknown in [
            "frobnicate",
            "lowerdir=/etc",
            "upperdir=/x",
            "x-gvfs",
            "MODE=1",
            "",
            "mode=1777,huge=always",
            "nosuid,nr_inodes=0",
            "context=\"a:b:c:s0\",nr_inodes=0",
        ] {
            let err = options.add(unknown).unwrap_err();
            assert!(
                err.contains(&format!("unknown mount option {unknown:?}")),
                "{err}"
            );
        }
    }

    #[test]
    fn options_may_be_borrowed() {
        let borrowed = MountOptions::of(&["rbind", "ro", "rshared"]);
        let owned = MountOptions::of(&["rbind".to_string(), "ro".into(), "rshared".into()]);
        assert_eq!(borrowed, owned);
        let m = classify(
            "/x",
            "/data",
            "none",
            borrowed,
            &MountContext::default(),
            &own(None),
        );
        assert!(m.bind && m.read_only);
        assert_eq!(m.propagation, Some(Propagation::RShared));
    }

    #[test]
    fn standard_destinations_compared_normalized() {
        let c = MountContext::default();
        let kind = |dest| classify(dest, "shm", "tmpfs", NONE, &c, &own(None)).kind;
        for dest in [
            "/dev/shm",
            "/dev/shm/",
            "/dev/./shm",
            "//dev/shm",
            "dev/shm",
            "/dev/x/../shm",
        ] {
            assert_eq!(kind(dest), MountKind::RuntimeManaged, "{dest}");
        }
        for dest in ["/dev/shm2", "/dev/shm/x", "/x/dev/shm", "/dev/.shm"] {
            assert_eq!(kind(dest), EMPTY_DIR, "{dest}");
        }
        // What is taken as normal needs no normalizing.
        for dest in [
            "/",
            "/dev",
            "/dev/shm",
            "/a/.b/c..",
            "/a//b",
            "/a/./b",
            "/a/../b",
            "a/b",
        ] {
            if is_normal(dest) {
                assert_eq!(lexical_normalize(Path::new(dest)).as_os_str(), dest);
            }
        }
        assert!(is_normal("/dev/shm") && is_normal("/a/.b/c.."));
    }

    #[test]
    fn runtime_roots_do_not_nest() {
        // A path is below one root of each list at most (classify_bind
        // judges it below the first it finds).
        for roots in [STORAGE_ROOTS, CONTAINERD_ROOTS] {
            for a in roots {
                for b in roots.iter().filter(|b| *b != a) {
                    assert!(below(a, b).is_none(), "{a} is below {b}");
                }
            }
        }
    }

    #[test]
    fn parts_split_like_splitn_skipping_empty_components() {
        for rest in [
            "",
            "/",
            "/a",
            "/a/b",
            "a/b/",
            "/pods/u/volumes/kubernetes.io~secret/tok",
            "/1/2/3/4/5/6/7",
            "/1/2/3/4/5/6/7/8",
            "/1/2/3/4/5/6/7/8/9/10",
            "/é/ü/x",
        ] {
            let want: Vec<&str> = rest
                .trim_start_matches('/')
                .splitn(PARTS, '/')
                .filter(|p| !p.is_empty())
                .collect();
            assert_eq!(&Parts::split(rest)[..], &want[..], "{rest:?}");
        }
    }

    #[test]
    fn deep_paths_below_the_roots() {
        let c = MountContext::default();
        let id = "a".repeat(64);
        let kind = |src: &str| {
            classify(
                "/x",
                src,
                "bind",
                opts(&["rbind"]),
                &c,
                &Own {
                    id: &id,
                    sandbox_id: None,
                    pod_uid: Some("u"),
                    rootless: None,
                },
            )
            .kind
        };
        // Deeper than Parts splits: a volume's files are still the volume.
        let deep = "/var/lib/kubelet/pods/u/volumes/kubernetes.io~secret/tok/a/b/c/d/e/f";
        assert_eq!(
            types(&classify(
                "/x",
                deep,
                "bind",
                opts(&["rbind"]),
                &c,
                &Own {
                    id: &id,
                    sandbox_id: None,
                    pod_uid: Some("u"),
                    rootless: None,
                }
            )),
            ["secret"]
        );
        // A two-component runtime leaf, and ones deeper than any leaf.
        let userdata = format!("/var/lib/containers/storage/overlay-containers/{id}/userdata");
        assert_eq!(
            kind(&format!("{userdata}/run/secrets")),
            MountKind::RuntimeManaged
        );
        for src in [
            format!("{userdata}/run/secrets/a"),
            format!("{userdata}/run/secrets/a/b/c/d"),
            format!("/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/{id}/hosts/a/b/c/d"),
            format!("/var/lib/containerd/io.containerd.grpc.v1.cri/containers/{id}/volumes/{id}/a"),
            "/var/lib/kubelet/pods/u/containers/app/x/y".to_string(),
            "/var/lib/kubelet/pods/u/containers/app/x/y/z/w/v".to_string(),
            "/var/lib/kubelet/pods/u/etc-hosts/a/b/c/d/e/f".to_string(),
        ] {
            assert!(matches!(kind(&src), MountKind::HostPath { .. }), "{src}");
        }
    }

    /// A tree with a directory, symlinks into it and out to /etc, and room
    /// for missing paths; removed on drop.
    struct Tree {
        root: PathBuf,
        _dir: tempfile::TempDir,
    }

    impl Tree {
        fn new(name: &str) -> Tree {
            let temp = tempfile::Builder::new()
                .prefix(&format!("psp-{name}-"))
                .tempdir()
                .unwrap();
            let dir = temp.path();
            std::fs::create_dir_all(dir.join("real/sub")).unwrap();
            std::os::unix::fs::symlink(dir.join("real"), dir.join("link")).unwrap();
            std::os::unix::fs::symlink("/etc", dir.join("etc")).unwrap();
            // canonicalize: the temporary directory may itself be a symlink
            Tree {
                root: std::fs::canonicalize(dir).unwrap(),
                _dir: temp,
            }
        }

        fn path(&self, rest: &str) -> PathBuf {
            PathBuf::from(format!("{}/{rest}", self.root.display()))
        }
    }

    #[test]
    fn resolving_with_a_memo_agrees_with_resolving_afresh() {
        let tree = Tree::new("memo");
        let at = |rest: &str| tree.path(rest);
        let expected = [
            ("real/sub/a", at("real/sub/a")),
            ("link/sub/b", at("real/sub/b")),
            ("link/sub/../sub/c", at("real/sub/c")),
            ("link/..", tree.root.clone()),
            ("./link//sub/", at("real/sub")),
            ("etc/hostname", PathBuf::from("/etc/hostname")),
            ("missing/x/y", at("missing/x/y")),
            // Past a missing component, lexical: `link` is not followed.
            ("missing/../link/z", at("link/z")),
            ("missing/x/../../link/w", at("link/w")),
            ("missing/x/../../link", at("link")),
            ("real/sub/a/../../sub", at("real/sub")),
            // A link or `..` as the last component, below a directory
            // resolved before (existing or not).
            ("link", at("real")),
            ("real/sub/..", at("real")),
            ("link/sub/..", at("real")),
            ("missing/x/..", at("missing")),
            ("missing/x/../..", tree.root.clone()),
        ];
        for (rest, want) in &expected {
            assert_eq!(&resolve_host_path(&at(rest)), want, "{rest}");
        }
        assert_eq!(resolve_host_path(Path::new("/")), Path::new("/"));
        assert_eq!(resolve_host_path(Path::new("//.")), Path::new("/"));
        // One memo for all, in both orders and twice over: each path may
        // start from what another left.
        let mut prefixes = Prefixes::default();
        let order = expected.iter().chain(expected.iter().rev());
        for (rest, want) in order.clone().chain(order) {
            assert_eq!(&resolve_with(&at(rest), &mut prefixes), want, "{rest}");
        }
    }

    #[test]
    fn below_a_missing_directory_the_memo_keeps_one_entry_per_directory() {
        let tree = Tree::new("missing");
        let mut prefixes = Prefixes::default();
        let depth = tree.root.components().count() - 1;
        for i in 0..100 {
            let path = tree.path(&format!("missing/plugin/cfg-{i}"));
            assert_eq!(resolve_with(&path, &mut prefixes), path);
        }
        // The tree's own directories, `missing` (the first missing) and
        // `missing/plugin` (the siblings' directory).
        assert_eq!(prefixes.len(), depth + 2);
        let path = tree.path("missing/other/x");
        assert_eq!(resolve_with(&path, &mut prefixes), path);
        assert_eq!(prefixes.len(), depth + 3);
    }

    #[test]
    fn clean_paths_are_borrowed_as_they_are() {
        for path in [
            "/", "", "a/b", "/a", "/a/", "/a/.", "/a/./b", "/a//b", "//a", "/.", "/..", "/a/..",
            "/.a", "/a/.b/", "/a/b.", "/a/..b/c", "/a/b/./", "/./", "/a/.../b",
        ] {
            let path = path.as_bytes();
            let mut slow = Vec::new();
            for part in path
                .split(|b| *b == b'/')
                .filter(|p| !p.is_empty() && *p != b".")
            {
                slow.push(b'/');
                slow.extend_from_slice(part);
            }
            let shown = String::from_utf8_lossy(path);
            // (The empty path is cleaned too, to itself.)
            assert_eq!(is_clean(path), slow == path && !path.is_empty(), "{shown}");
            assert_eq!(clean_path(path), slow, "{shown}");
        }
    }

    #[test]
    fn plugin_directories_without_the_in_tree_prefix_are_flex_volumes() {
        let c = MountContext::default();
        let kind = |plugin: &str| {
            let src = format!("/var/lib/kubelet/pods/0b5c/volumes/{plugin}/v1");
            classify("/v", &src, "bind", opts(&["rbind"]), &c, &own(Some("0b5c"))).kind
        };
        let flex = |driver: &str| MountKind::Volume {
            fs_type: VolumeType::FlexVolume,
            driver: Some(driver.into()),
        };
        assert_eq!(kind("lvm"), flex("/lvm"));
        assert_eq!(kind("kubernetes.io"), flex("/kubernetes.io"));
        assert_eq!(kind("kubernetes.iox~y"), flex("kubernetes.iox/y"));
        assert_eq!(kind("a~b~c"), flex("a/b~c"));
        assert_eq!(
            kind("kubernetes.io~future"),
            MountKind::UnknownVolume(MountVolume::Unknown("future".into()))
        );
    }
}
