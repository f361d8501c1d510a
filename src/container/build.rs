//! Building the [`ContainerView`] from config.json.
//!
//! config.json is parsed by [`oci`] (oci-spec types, lenient where a newer
//! runtime may write what this build does not know); here its facts are
//! interpreted: namespaces judged, mounts classified, in hook mode checked
//! against the kernel.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::capabilities::CapabilitySets;
use super::devices;
use super::hooks::HookUse;
use super::identity::{CriRuntime, Identity, Layout, created_by_cri, runtime_layout};
use super::ids::{BadLine, IdMaps};
use super::kernel::{self, MountTables, Truth};
use super::mounts::{
    MountContext, MountKind, MountOptions, MountUse, Own, classify, crio_image_volume,
    replace_source,
};
use super::namespaces::{
    Error as NamespaceError, NamespaceKind, NamespaceProbe, NamespaceState, judge,
};
use super::oci::{self, NamespaceType};
use super::proc_masks;
use super::rootless::Rootless;
use super::runtime_settings;
use super::{ContainerView, HostPort};
use crate::input::InputError;

/// Why a container could not be judged, and the config.json it is about.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {cause}")]
pub struct ConfigError {
    pub file: String,
    pub cause: Cause,
}

#[derive(Debug, thiserror::Error)]
pub enum Cause {
    #[error(transparent)]
    Config(#[from] oci::Error),
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    #[error("cannot read the container's id maps: {0}")]
    IdMapsUnreadable(#[source] InputError),
    #[error("the id maps of container process {pid}: {source}")]
    IdMaps { pid: i32, source: BadLine },
    #[error("cannot verify the mounts: {0}")]
    MountTables(#[from] kernel::Error),
}

/// What the hook knows besides config.json.
pub struct BuildContext<'a> {
    /// Runtime id of the container.
    pub id: String,
    /// The container process (hook mode only).
    pub pid: Option<i32>,
    /// Annotations of the OCI state; they win over config.json's.
    pub state_annotations: BTreeMap<String, String>,
    pub mounts: MountContext,
    pub probe: &'a dyn NamespaceProbe,
    /// Honour the Kubernetes annotations as a CRI runtime's whatever the
    /// bundle (`check --cri`, for a captured config.json); otherwise only a
    /// bundle in a CRI runtime's own layout is a CRI runtime's.
    pub trust_cri: bool,
    /// Take `id` as the runtime's id of the container whatever the bundle
    /// (`check --id`): its runtime files and image are its own. Otherwise
    /// only a bundle in a runtime's own layout ties the id to them.
    pub trust_id: bool,
}

pub fn build<'a>(
    file: &str,
    bytes: &'a [u8],
    ctx: &BuildContext,
) -> Result<ContainerView<'a>, ConfigError> {
    let err = |cause: Cause| ConfigError {
        file: file.to_string(),
        cause,
    };
    let config = oci::parse(bytes).map_err(|e| err(e.into()))?;

    let mut annotations: BTreeMap<String, String> = owned_pairs(config.annotations).collect();
    annotations.extend(ctx.state_annotations.clone());
    let bundle = ctx.mounts.bundle.as_deref();
    let layout = bundle.and_then(|b| runtime_layout(b, &ctx.id));
    // A rootless podman's bundle, in the user's storage (never a CRI one).
    let rootless = match (layout, bundle) {
        (None, Some(b)) => Rootless::of_bundle(b, &ctx.id),
        _ => None,
    };
    // An id a plain runc user chose names nothing of a runtime's.
    let id_is_runtimes = ctx.trust_cri || ctx.trust_id || layout.is_some() || rootless.is_some();
    let cri = ctx.trust_cri || bundle.is_some_and(|b| created_by_cri(b, &ctx.id, &annotations));
    let runtime = CriRuntime::of(layout, &annotations);
    let identity = if cri {
        Identity::from_annotations(&annotations, &ctx.id, runtime)
    } else {
        Identity::default()
    };
    // Root's containers/storage record of this container, read once (for
    // its image mount and, on CRI-O, whether it is a pod's infra container).
    let record = std::cell::OnceCell::new();
    let record_of = || {
        record
            .get_or_init(|| {
                (layout == Some(Layout::Storage))
                    .then(|| storage_record(&ctx.id))
                    .flatten()
            })
            .as_ref()
    };

    let process = config.process.unwrap_or_default();
    let user = &process.user;
    let linux = config.linux.unwrap_or_default();
    let mut runtime_settings =
        runtime_settings::evidence(&process, &linux, annotations.keys().map(String::as_str));
    if let Some(pid) = ctx.pid {
        let named = linux.cgroups_path.as_deref().is_some_and(|p| !p.is_empty());
        runtime_settings.extend(runtime_settings::shared_cgroup(pid, named));
        runtime_settings.extend(runtime_settings::host_mount_namespace(pid));
    }
    let masked_paths = owned(linux.masked_paths);
    let readonly_paths = owned(linux.readonly_paths);
    let declared_devices = linux.devices.unwrap_or_default();

    let mut view = ContainerView {
        id: ctx.id.clone(),
        identity,
        uid: user.uid,
        gid: user.gid,
        additional_gids: user.additional_gids.clone().unwrap_or_default(),
        capabilities: capability_sets(process.capabilities),
        no_new_privileges: process.no_new_privileges.unwrap_or(false),
        apparmor_profile: process.apparmor_profile.map(Cow::into_owned),
        selinux_label: process.selinux_label.map(Cow::into_owned),
        root_readonly: config
            .root
            .as_ref()
            .and_then(|r| r.readonly)
            .unwrap_or(false),
        sysctls: owned_pairs(linux.sysctl)
            // sysctl names may use `/` as separator; policies use dots
            .map(|(k, v)| (k.replace('/', "."), v))
            .collect(),
        proc_unmasked: proc_masks::unmasked_reason(&masked_paths, &readonly_paths),
        rootfs_propagation: linux.rootfs_propagation.map(Cow::into_owned),
        devices: declared_devices
            .iter()
            .map(|d| d.path.to_string())
            .collect(),
        device_rules: devices::beyond_defaults(
            linux.device_rules.as_deref().unwrap_or_default(),
            &declared_devices,
        ),
        hooks: HookUse::of(&config.hooks),
        runtime_settings,
        host_ports: host_ports(&annotations),
        ..Default::default()
    };
    // Judged with the capabilities: the runtimes' rules for a capability.
    view.seccomp = linux
        .seccomp
        .as_ref()
        .map(|s| super::seccomp::Profile::of(s, &view.capabilities));

    let entries = linux.namespaces.unwrap_or_default();
    for kind in NamespaceKind::ALL {
        let entry = entries
            .iter()
            .find(|ns| ns.typ == oci_type(kind))
            .map(|ns| ns.path.as_deref());
        *view.namespaces.get_mut(kind) =
            judge(kind, entry, ctx.pid, ctx.probe).map_err(|e| err(e.into()))?;
    }
    view.id_maps = match (ctx.pid, &view.namespaces.user) {
        (Some(pid), _) => read_id_maps(pid).map_err(err)?,
        (None, NamespaceState::Private) => {
            IdMaps::from_config(linux.uid_mappings.as_deref(), linux.gid_mappings.as_deref())
        }
        (None, NamespaceState::Host(_)) => IdMaps::Host,
        (None, NamespaceState::Joined(path) | NamespaceState::Unresolved(path)) => {
            IdMaps::Unknown(format!(
                "the user namespace is joined by path ({path}), whose id maps are not known \
                 offline (runc ignores config.json's mappings for it)"
            ))
        }
    };

    let own = Own {
        id: if id_is_runtimes { &ctx.id } else { "" },
        sandbox_id: view.identity.sandbox_id.as_deref(),
        pod_uid: view.identity.pod_uid.as_deref(),
        rootless: rootless.as_ref(),
    };
    let declared = config.mounts.unwrap_or_default();
    let rootfs = root_path(config.root.as_ref(), bundle);
    // The image of a root filesystem that is the container's own storage
    // mount, from root's records of that storage (never a user's).
    let image_id = std::cell::RefCell::new(None);
    let image_of = |layer: &str| {
        ctx.trust_cri
            || ctx.trust_id
            || record_of().is_some_and(|r| {
                let own = r.layer == layer;
                if own {
                    *image_id.borrow_mut() = r.image_id();
                }
                own
            })
    };
    let foreign = (!runtime_rootfs(config.root.as_ref(), &rootfs, bundle, image_of)
        && !rootless.as_ref().is_some_and(|r| r.is_own_rootfs(&rootfs)))
    .then(|| foreign_rootfs(&rootfs, view.root_readonly));
    view.identity.image_id = image_id.into_inner();
    // In the spec of a pod's infra container CRI-O writes the pod's
    // annotations and labels over its own keys: a pod can call its sandbox
    // a `container` of another sandbox, and name its image and container.
    // Only CRI-O's record of the container (root's, in its storage) tells an
    // app container from that; without it neither name is CRI-O's.
    if cri
        && !ctx.trust_cri
        && runtime == CriRuntime::CriO
        && !record_of().is_some_and(StorageRecord::is_app_container)
    {
        view.identity.image = None;
        view.identity.container = None;
    }
    // Classified in place: `collect` reuses the parsed list's memory when a
    // `MountUse` is no larger than a parsed mount (a thousand mounts: 110 KB
    // not touched again).
    const _: () = assert!(size_of::<MountUse>() <= size_of::<super::oci::Mount>());
    let mut mounts: Vec<MountUse> = declared
        .into_iter()
        .map(|m| {
            let image_volume = crio_image_volume(
                m.typ.as_deref().unwrap_or_default(),
                m.source.as_deref().unwrap_or_default(),
                m.lowerdir.as_deref(),
                // nothing else: no flag, propagation, remount or other data
                m.unread_options == 1 && m.options == MountOptions::default(),
                &own,
            );
            let mut mount = classify(
                m.destination,
                m.source.unwrap_or_default(),
                m.typ.unwrap_or_default(),
                m.options,
                &ctx.mounts,
                &own,
            );
            if let Some(kind) = image_volume {
                mount.kind = kind;
            }
            if mount.bind && from_rootfs(&mount, &rootfs, &ctx.mounts) {
                mount.kind = MountKind::Privileged {
                    why: format!(
                        "{} is mounted at {} from the container's own root filesystem: runc \
                     resolves such a source in the container, through its mounts (its own \
                     /proc among them)",
                        mount.source, mount.destination
                    )
                    .into(),
                };
            }
            mount
        })
        .collect();
    if let Some(foreign) = foreign {
        mounts.insert(0, foreign);
    }
    if let Some(pid) = ctx.pid {
        let devices: Vec<&str> = declared_devices.iter().map(|d| &*d.path).collect();
        let rootless = rootless.as_ref();
        verify_mounts(
            &mut mounts,
            &mut view,
            pid,
            &rootfs,
            &devices,
            &ctx.mounts,
            rootless,
        )
        .map_err(|e| err(e.into()))?;
    }
    view.mounts = mounts;
    Ok(view)
}

/// `root.path` as the runtime reads it: relative to the bundle, resolved.
/// runc refuses a root whose path holds a symlink, so the path cleaned is
/// the one it mounts; a runtime that followed a link would mount where the
/// link points, so a root that is a link is resolved (one `lstat`, not a
/// resolution of every component on every start).
fn root_path(root: Option<&oci::Root>, bundle: Option<&Path>) -> PathBuf {
    let path = PathBuf::from(root.map_or("rootfs", |r| &*r.path));
    let path = match bundle {
        Some(bundle) if path.is_relative() => bundle.join(path),
        _ => path,
    };
    let path = super::mounts::lexical_normalize(&path);
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_symlink() => crate::input::real_path(&path).unwrap_or(path),
        _ => path,
    }
}

/// Whether the root filesystem is the runtime's own: inside the bundle
/// (resolved), or the container's own image mount in podman's and CRI-O's
/// storage (`<storage>/overlay/<layer>/merged`, `image_of(layer)`: another
/// container's is another's root). Without a bundle (a view built from text
/// alone) a relative path that stays below it counts as inside.
fn runtime_rootfs(
    root: Option<&oci::Root>,
    rootfs: &Path,
    bundle: Option<&Path>,
    image_of: impl Fn(&str) -> bool,
) -> bool {
    let inside_bundle = match bundle {
        Some(b) => rootfs.starts_with(b) && rootfs != b,
        None => {
            let declared = Path::new(root.map_or("rootfs", |r| &*r.path));
            declared.is_relative()
                && !super::mounts::lexical_normalize(&Path::new("/").join(declared))
                    .as_os_str()
                    .eq("/")
                && !declared
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
        }
    };
    let storage = super::mounts::STORAGE_ROOTS.iter().any(|root| {
        rootfs.strip_prefix(root).ok().is_some_and(|rest| {
            let parts: Vec<_> = rest.iter().filter_map(|c| c.to_str()).collect();
            matches!(parts[..], ["overlay", layer, "merged"] if image_of(layer))
        })
    });
    inside_bundle || storage
}

/// Whether a bind source is in the container's root filesystem, as written
/// or resolved on the host (a host path's resolution is its kind's; the
/// runtimes' and kubelet's directories are never inside a rootfs). Compared
/// as bytes: the classified sources of a thousand mounts are not walked
/// again.
fn from_rootfs(mount: &MountUse, rootfs: &Path, ctx: &MountContext) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let root = rootfs.as_os_str().as_bytes();
    let under = |p: &[u8]| p.starts_with(root) && matches!(p.get(root.len()), None | Some(b'/'));
    if let MountKind::HostPath { resolved } = &mount.kind
        && under(resolved.as_os_str().as_bytes())
    {
        return true;
    }
    let source = mount.source.as_bytes();
    if source.first() == Some(&b'/') {
        if under(source) {
            return true;
        }
        // Only `.`, `..` or an empty component can make a path other than
        // it reads; one pass finds them, without branching (as
        // `mounts::is_clean`: vector instructions).
        let plain = !source
            .iter()
            .zip(&source[1..])
            .fold(false, |found, (a, b)| {
                found | ((*a == b'/') & ((*b == b'.') | (*b == b'/')))
            });
        if plain {
            return false;
        }
    }
    let source = &*mount.source;
    let written = super::mounts::lexical_normalize(&ctx.host_path(source));
    under(written.as_os_str().as_bytes())
}

/// Container `id` in containers/storage's records
/// (`<graph root>/overlay-containers/`): its image mount is
/// `<graph root>/overlay/<layer>/merged`.
fn storage_record(id: &str) -> Option<StorageRecord> {
    super::mounts::STORAGE_ROOTS
        .iter()
        .find_map(|root| record_in(&Path::new(root).join("overlay-containers"), id))
}

/// A container's entry in a containers/storage `containers.json`.
#[derive(serde::Deserialize)]
pub(super) struct StorageRecord {
    id: String,
    #[serde(default)]
    pub layer: String,
    /// The id of the image its layer was made from (hex).
    #[serde(default)]
    image: String,
    /// The engine's own JSON about the container; CRI-O's says `"pod":
    /// true` of a pod's infra container (`RuntimeContainerMetadata`).
    #[serde(default)]
    metadata: String,
}

impl StorageRecord {
    /// Whether CRI-O recorded an app container (not a pod's infra one):
    /// its metadata holds the pod's id, not its own, and no `"pod": true`
    /// (CRI-O sets it when the two are the same).
    fn is_app_container(&self) -> bool {
        #[derive(serde::Deserialize)]
        struct Metadata {
            #[serde(default, rename = "pod-id")]
            pod_id: String,
            #[serde(default)]
            pod: bool,
        }
        serde_json::from_str::<Metadata>(&self.metadata)
            .is_ok_and(|m| !m.pod_id.is_empty() && m.pod_id != self.id && !m.pod)
    }

    /// The image id as `sha256:<hex>`, when the record holds one.
    fn image_id(&self) -> Option<String> {
        let hex = self.image.strip_prefix("sha256:").unwrap_or(&self.image);
        (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| format!("sha256:{hex}"))
    }
}

/// Container `id` in a containers/storage container directory
/// (`<graph>/<driver>-containers`): `containers.json` (podman), or
/// `volatile-containers.json`, where containers/storage keeps the containers
/// created volatile (CRI-O creates all of its own so).
pub(super) fn record_in(dir: &Path, id: &str) -> Option<StorageRecord> {
    ["containers.json", "volatile-containers.json"]
        .iter()
        .find_map(|file| {
            let text = crate::input::read_bounded(&dir.join(file), 64 << 20).ok()?;
            let records: Vec<StorageRecord> = serde_json::from_slice(&text).ok()?;
            records
                .into_iter()
                .find(|r| r.id == id && !r.layer.is_empty())
        })
}

/// A root filesystem that is not the runtime's own is a host directory the
/// container gets as its root: a host path mounted at `/`, judged like one.
fn foreign_rootfs(rootfs: &Path, read_only: bool) -> MountUse<'static> {
    MountUse {
        destination: Cow::Borrowed("/"),
        source: Cow::Owned(rootfs.display().to_string()),
        fstype: Cow::Borrowed("rootfs"),
        bind: true,
        read_only,
        writable_submounts: false,
        writable_in_kernel: false,
        propagation: None,
        declared_source: None,
        kind: MountKind::HostPath {
            resolved: rootfs.into(),
        },
    }
}

/// Hook mode: the id maps of the container process, as the kernel has them.
fn read_id_maps(pid: i32) -> Result<IdMaps, Cause> {
    let read = |name: &str| {
        let path = format!("/proc/{pid}/{name}");
        crate::input::read_bounded(Path::new(&path), 64 * 1024)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(Cause::IdMapsUnreadable)
    };
    IdMaps::from_proc(&read("uid_map")?, &read("gid_map")?)
        .map_err(|source| Cause::IdMaps { pid, source })
}

/// Hook mode: judge what the kernel mounted in the container. Each mount is
/// found where runc put it (its destination resolved inside the rootfs, as
/// seen by the container's mount namespace); a bind mount must show the host
/// path config.json names (else the kernel's path is judged), read-only
/// where asked, with its submounts; and every mount under the rootfs must be
/// one config.json or the runtime accounts for.
fn verify_mounts(
    mounts: &mut [MountUse<'_>],
    view: &mut ContainerView<'_>,
    pid: i32,
    rootfs: &Path,
    devices: &[&str],
    ctx: &MountContext,
    rootless: Option<&Rootless>,
) -> Result<(), kernel::Error> {
    let tables = MountTables::read(pid)?;
    let root = PathBuf::from(format!("/proc/{pid}/root"));
    let own = Own {
        id: &view.id,
        sandbox_id: view.identity.sandbox_id.as_deref(),
        pod_uid: view.identity.pod_uid.as_deref(),
        rootless,
    };
    let mut accounted = kernel::Accounted::new(rootfs);
    // runc binds the default device nodes (in a user namespace) and those
    // of linux.devices.
    for device in kernel::DEFAULT_DEVICE_NODES.iter().chain(devices) {
        accounted.point(kernel::mount_point(rootfs, device));
    }
    for mount in mounts.iter_mut() {
        let point = if mount.destination == "/" && mount.fstype == "rootfs" {
            rootfs.to_path_buf()
        } else {
            kernel::resolve_in_rootfs(&root, rootfs, &mount.destination)
        };
        accounted.point(point.clone());
        if !mount.bind {
            if let Some(found) = tables.fstype(&point)
                && !kernel::same_filesystem(&mount.fstype, found)
            {
                view.undeclared_mounts.push(format!(
                    "the kernel has a {found} filesystem at {} where config.json declares {}",
                    mount.destination, mount.fstype
                ));
            } else if fresh_filesystem(&mount.fstype, view)
                && tables.hosts_filesystem(&point) == Some(true)
            {
                // An earlier hook bound the host's own over it (host /proc
                // over /proc): same type, another's filesystem.
                view.undeclared_mounts.push(format!(
                    "the kernel has a {} filesystem of the host's at {} where config.json \
                     declares a new one",
                    mount.fstype, mount.destination
                ));
            }
            // runc applies `rro` to binds only: the kernel's flags tell.
            if mount.read_only && tables.kernel_fs_writable(&point) {
                mount.read_only = false;
                mount.writable_in_kernel = true;
            }
            continue;
        }
        // Judge what the kernel did: options the runtime read otherwise than
        // the hook (or applies later) must not pass a writable mount as `ro`.
        if mount.read_only && tables.writable(&point) == Some(true) {
            mount.read_only = false;
            mount.writable_in_kernel = true;
        }
        // The source as the runtime resolved it, or as the kernel has it.
        let expected = ctx.resolve_source(&mount.source);
        let source = match tables.verify(&point, &expected) {
            Truth::Matches => expected,
            Truth::Differs(real) => {
                replace_source(mount, &real, ctx, &own);
                real
            }
            // What the kernel mounted cannot be told (a filesystem the host
            // does not show, the container's own proc through its image):
            // no host path to judge it by, so it is judged as privileged.
            Truth::Unknown(why) => {
                view.undeclared_mounts.push(format!(
                    "the bind mount at {} cannot be traced to a host path: {why}",
                    mount.destination
                ));
                expected
            }
        };
        // The submounts an rbind brought along are the host's below that
        // source; a plain `ro` leaves them writable.
        for sub in tables.submounts(&point, &source) {
            accounted.point(sub.mount_point.clone());
            if mount.read_only && !sub.read_only {
                mount.read_only = false;
                mount.writable_in_kernel = true;
            }
        }
    }
    view.undeclared_mounts
        .extend(accounted.unaccounted(&tables).into_iter().map(|e| {
            format!(
                "the kernel has a mount at {} ({} of {}) that config.json does not declare",
                e.mount_point
                    .strip_prefix(rootfs)
                    .map(|p| Path::new("/").join(p))
                    .unwrap_or_else(|_| e.mount_point.clone())
                    .display(),
                e.root.display(),
                e.dev
            )
        }));
    Ok(())
}

/// Whether runc mounts a filesystem of `fstype` afresh for the container, so
/// that no host mount shares its device: tmpfs and devpts (`newinstance`)
/// always, proc and mqueue unless the container shares the host's PID or
/// IPC namespace (then the host's is theirs).
fn fresh_filesystem(fstype: &str, view: &ContainerView) -> bool {
    let own = |kind| !view.namespaces.get(kind).is_host();
    match fstype {
        "tmpfs" | "devpts" => true,
        "proc" => own(NamespaceKind::Pid),
        "mqueue" => own(NamespaceKind::Ipc),
        _ => false,
    }
}

fn oci_type(kind: NamespaceKind) -> NamespaceType {
    match kind {
        NamespaceKind::Network => NamespaceType::Network,
        NamespaceKind::Pid => NamespaceType::Pid,
        NamespaceKind::Ipc => NamespaceType::Ipc,
        NamespaceKind::User => NamespaceType::User,
    }
}

fn owned(strings: Option<Vec<Cow<'_, str>>>) -> Vec<String> {
    strings.into_iter().flatten().map(Cow::into_owned).collect()
}

fn owned_pairs<'a>(
    pairs: Option<Vec<(Cow<'a, str>, Cow<'a, str>)>>,
) -> impl Iterator<Item = (String, String)> + 'a {
    pairs
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
}

/// The capability sets, names normalized to `CAP_X`.
fn capability_sets(caps: Option<oci::Capabilities>) -> CapabilitySets {
    let caps = caps.unwrap_or_default();
    CapabilitySets::new(caps.sets.map(owned))
}

/// Host ports from the annotations CRI-O (`io.kubernetes.cri-o.PortMappings`)
/// and kubelet (`io.kubernetes.container.ports`) pass; `None` without either.
/// An annotation that does not parse yields a port 0 entry with protocol
/// `unparseable`, which no policy admits (fail closed).
fn host_ports(annotations: &BTreeMap<String, String>) -> Option<Vec<HostPort>> {
    let mut found = None;
    for (key, port_key, proto_key) in [
        ("io.kubernetes.cri-o.PortMappings", "HostPort", "Protocol"),
        ("io.kubernetes.container.ports", "hostPort", "protocol"),
    ] {
        let Some(text) = annotations.get(key) else {
            continue;
        };
        let ports: &mut Vec<HostPort> = found.get_or_insert_with(Vec::new);
        // CRI-O writes `null` for a pod without port mappings.
        match serde_json::from_str::<Option<Vec<Value>>>(text).map(Option::unwrap_or_default) {
            Ok(items) => {
                for item in items {
                    let port = item
                        .get(port_key)
                        .or_else(|| item.get(port_key.to_ascii_lowercase()))
                        .and_then(Value::as_u64)
                        .unwrap_or(0);
                    if port == 0 {
                        continue;
                    }
                    ports.push(HostPort {
                        port: u16::try_from(port).unwrap_or(0),
                        protocol: item
                            .get(proto_key)
                            .and_then(Value::as_str)
                            .unwrap_or("TCP")
                            .to_ascii_uppercase(),
                    });
                }
            }
            Err(_) => ports.push(HostPort {
                port: 0,
                protocol: "unparseable".into(),
            }),
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::NoProbe;

    /// A CRI-O sandbox's spec, with the pod's annotations and labels
    /// written over CRI-O's keys: it calls itself a container of another
    /// sandbox and names an image and a container.
    const FORGED_SANDBOX: &str = r#"{"ociVersion": "1.2.0",
        "process": {"user": {"uid": 0, "gid": 0}, "args": ["/pause"], "cwd": "/"},
        "root": {"path": "rootfs"},
        "annotations": {
            "io.container.manager": "cri-o",
            "io.kubernetes.cri-o.ContainerType": "container",
            "io.kubernetes.cri-o.SandboxID": "another",
            "io.kubernetes.cri-o.ImageName": "registry.example/node-exporter:v1",
            "io.kubernetes.cri-o.Name": "k8s_debugger_web-0_team-a_u1_0"}}"#;

    fn view_in_storage(id: &str, config: &str) -> ContainerView<'static> {
        let bundle = PathBuf::from(format!(
            "/run/containers/storage/overlay-containers/{id}/userdata"
        ));
        let ctx = BuildContext {
            id: id.to_string(),
            pid: None,
            state_annotations: BTreeMap::new(),
            mounts: MountContext::of_resolved_bundle(bundle),
            probe: &NoProbe,
            trust_cri: false,
            trust_id: false,
        };
        build("config.json", config.as_bytes(), &ctx)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_owned()
    }

    /// What CRI-O's annotations say of a container's image and name is
    /// taken only for an app container CRI-O's storage record shows; a
    /// container it has no record of (here: none at all) keeps its
    /// namespace, not the names its annotations claim.
    #[test]
    fn crio_names_need_crio_s_record_of_an_app_container() {
        let view = view_in_storage("0c1e0000feedbeef", FORGED_SANDBOX);
        assert_eq!(view.identity.namespace.as_deref(), Some("team-a"));
        assert!(!view.identity.sandbox);
        assert_eq!(view.identity.image, None);
        assert_eq!(view.identity.container, None);
    }

    #[test]
    fn crio_records_tell_app_containers_from_infra_ones() {
        let temp = tempfile::Builder::new()
            .prefix("oci-psp-hook-containers-")
            .tempdir()
            .unwrap();
        let dir = temp.path();
        std::fs::write(
            dir.join("volatile-containers.json"),
            r#"[{"id": "infra", "layer": "l1", "image": "", "metadata": "{\"pod-name\":\"web-0\",\"pod-id\":\"infra\",\"name\":\"k8s_POD_web-0\",\"pod\":true}"},
                {"id": "app", "layer": "l2", "image": "", "metadata": "{\"pod-name\":\"web-0\",\"pod-id\":\"infra\",\"name\":\"k8s_app_web-0\",\"metadata-name\":\"app\"}"},
                {"id": "infra2", "layer": "l5", "image": "", "metadata": "{\"pod-id\":\"infra2\"}"},
                {"id": "podman", "layer": "l3", "image": "", "metadata": "{\"image-name\":\"x\",\"name\":\"c\"}"},
                {"id": "bare", "layer": "l4"}]"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let app = |id: &str| record_in(dir, id).is_some_and(|r| r.is_app_container());
        assert!(app("app"));
        for other in ["infra", "infra2", "podman", "bare", "absent"] {
            assert!(!app(other), "{other}");
        }
    }

    fn layer(dir: &Path, id: &str) -> Option<String> {
        record_in(dir, id).map(|r| r.layer)
    }

    #[test]
    fn layer_found_in_stable_and_volatile_records() {
        let temp = tempfile::Builder::new()
            .prefix("psp-layer-")
            .tempdir()
            .unwrap();
        let dir = temp.path();
        // CRI-O's containers are volatile: only in volatile-containers.json.
        std::fs::write(
            dir.join("volatile-containers.json"),
            r#"[{"id":"crio1","layer":"l1","metadata":"{}"}]"#,
        )
        .unwrap();
        assert_eq!(layer(dir, "crio1").as_deref(), Some("l1"));
        std::fs::write(
            dir.join("containers.json"),
            r#"[{"id":"podman1","layer":"l2"},{"id":"nolayer"}]"#,
        )
        .unwrap();
        assert_eq!(layer(dir, "podman1").as_deref(), Some("l2"));
        assert_eq!(layer(dir, "crio1").as_deref(), Some("l1"));
        assert_eq!(layer(dir, "nolayer"), None);
        assert_eq!(layer(dir, "other"), None);
    }
}
