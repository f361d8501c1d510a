//! The normalized container view: everything the checks need, built once from
//! `config.json` (+ the OCI state and `/proc` in hook mode). Checks never read
//! config.json themselves, so each fact is interpreted in exactly one place.

pub mod build;
pub mod capabilities;
pub mod devices;
pub mod facts;
pub mod hooks;
pub mod identity;
pub mod ids;
pub mod json;
pub mod kernel;
pub mod mounts;
pub mod namespaces;
pub mod oci;
pub mod proc_masks;
pub mod rootless;
pub mod runtime_settings;
pub mod scope;
pub mod seccomp;
pub mod volume_type;

use std::collections::BTreeMap;

pub use capabilities::CapabilitySets;
pub use hooks::HookUse;
pub use identity::Identity;
pub use ids::IdMaps;
pub use mounts::{MountKind, MountUse};
pub use namespaces::{HostReason, NamespaceKind, NamespaceState, Namespaces};
pub use scope::Scope;
pub use volume_type::{AllowedVolume, MountVolume, VolumeType};

/// What one container is about to be started with.
/// Its mounts borrow strings from config.json's text (`'a`).
#[derive(Debug, Clone, Default)]
pub struct ContainerView<'a> {
    /// Runtime container id (state `id`; in `check` mode the bundle directory name).
    pub id: String,
    /// Kubernetes identity from annotations, if any.
    pub identity: Identity,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub capabilities: CapabilitySets,
    pub no_new_privileges: bool,
    /// Whether the container shares the host's network, PID, IPC namespaces.
    pub namespaces: Namespaces,
    /// How the container's ids map to the host's.
    pub id_maps: IdMaps,
    /// The mounts of config.json; a root filesystem that is not the
    /// runtime's own is among them, at `/`, as the host path it is.
    pub mounts: Vec<MountUse<'a>>,
    /// Paths of device nodes passed from the host (`linux.devices`).
    pub devices: Vec<String>,
    /// Device cgroup allow rules beyond the runtime's defaults, described.
    pub device_rules: Vec<String>,
    /// config.json's hooks, each known to the node or not.
    pub hooks: Vec<HookUse>,
    /// Mounts the kernel has in the container that config.json does not
    /// account for (hook mode), described.
    pub undeclared_mounts: Vec<String>,
    /// Settings the runtime applies as root that reach beyond the container
    /// (cgroup, host network devices, real-time scheduling, rlimits, OOM
    /// score, mount namespace, annotations runtimes act on), described.
    pub runtime_settings: Vec<String>,
    pub sysctls: BTreeMap<String, String>,
    /// `linux.seccomp`, judged; `None` when it is absent or null: the
    /// container is unconfined.
    pub seccomp: Option<seccomp::Profile>,
    pub apparmor_profile: Option<String>,
    pub selinux_label: Option<String>,
    /// Why `/proc` is Unmasked (`None`: the runtimes' Default masks).
    pub proc_unmasked: Option<String>,
    pub root_readonly: bool,
    pub rootfs_propagation: Option<String>,
    /// Host ports the runtime told us about through annotations; `None` when
    /// no annotation carries them (then hostPorts cannot be judged).
    pub host_ports: Option<Vec<HostPort>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub port: u16,
    pub protocol: String,
}

impl ContainerView<'_> {
    /// The same view, owning all its strings.
    pub fn into_owned(self) -> ContainerView<'static> {
        ContainerView {
            mounts: self.mounts.into_iter().map(MountUse::into_owned).collect(),
            ..self
        }
    }

    /// The container has its own user namespace, known to map nothing to
    /// host root (Kubernetes `hostUsers: false`).
    pub fn root_is_unprivileged_on_host(&self) -> bool {
        self.id_maps.unprivileged_on_host()
    }

    /// Everything that makes the container privileged, described: device
    /// access, writable kernel filesystems, Bidirectional propagation,
    /// filesystems and mounts no volume type covers, unknown hooks. Read by
    /// the `privileged` check and the facts alike.
    pub fn privileged_evidence(&self) -> Vec<String> {
        let mut out = self.device_rules.clone();
        out.extend(
            self.devices
                .iter()
                .map(|d| format!("host device {d} is passed to the container")),
        );
        if let Some(p) = self.shared_rootfs_propagation() {
            out.push(format!(
                "root filesystem has {p} mount propagation (Bidirectional)"
            ));
        }
        for mount in &self.mounts {
            if mount.writable_kernel_fs() {
                out.push(format!(
                    "{} mounted writable at {}",
                    mount.fstype, mount.destination
                ));
            }
            if let Some(p) = mount.shared_propagation() {
                out.push(format!(
                    "{} is mounted at {} with {p} propagation (Bidirectional)",
                    mount.source, mount.destination
                ));
            }
            if let MountKind::Privileged { why } = &mount.kind {
                out.push(why.to_string());
            }
        }
        out.extend(self.hooks.iter().filter(|h| !h.known).map(|h| {
            format!(
                "config.json's {} hook {} is none the node installed (hooks.d, CDI, \
                 allowedHooks): it would run as root on the host",
                h.stage, h.path
            )
        }));
        out.extend(self.undeclared_mounts.iter().cloned());
        out.extend(self.runtime_settings.iter().cloned());
        out
    }

    /// The root filesystem's propagation when it is shared (Kubernetes'
    /// Bidirectional, which only privileged containers may use).
    pub fn shared_rootfs_propagation(&self) -> Option<&str> {
        self.rootfs_propagation
            .as_deref()
            .filter(|p| mounts::is_shared_propagation(p))
    }

    /// Whether the root filesystem or a bind mount has shared propagation.
    pub fn has_shared_propagation(&self) -> bool {
        self.shared_rootfs_propagation().is_some()
            || self.mounts.iter().any(|m| m.shared_propagation().is_some())
    }

    /// `namespace/pod/container` for Kubernetes containers, else the runtime id.
    pub fn label(&self) -> String {
        self.identity.label(&self.id)
    }
}
