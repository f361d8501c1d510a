//! The normalized container view: everything the checks need, built once from
//! `config.json` (+ the OCI state and `/proc` in hook mode). Checks never read
//! config.json themselves, so each fact is interpreted in exactly one place.

pub mod build;
pub mod capabilities;
pub mod facts;
pub mod identity;
pub mod json;
pub mod kernel;
pub mod mounts;
pub mod namespaces;
pub mod oci;

use std::collections::BTreeMap;

pub use capabilities::CapabilitySets;
pub use identity::Identity;
pub use mounts::{MountKind, MountUse};
pub use namespaces::{HostReason, NamespaceKind, NamespaceState, Namespaces};

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
    /// Container uid 0 maps to this host uid when the container has its own
    /// user namespace with mappings; `None` without a user namespace.
    pub userns_root_host_uid: Option<u32>,
    pub mounts: Vec<MountUse<'a>>,
    /// Paths of device nodes passed from the host (`linux.devices`).
    pub devices: Vec<String>,
    /// A device cgroup rule allows every device (type `a`, no major/minor).
    pub device_cgroup_allows_all: bool,
    pub sysctls: BTreeMap<String, String>,
    /// `None` when `linux.seccomp` is absent or null: the container is unconfined.
    pub seccomp_default_action: Option<String>,
    pub apparmor_profile: Option<String>,
    pub selinux_label: Option<String>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub root_readonly: bool,
    pub rootfs_propagation: Option<String>,
    /// Host ports the runtime told us about through annotations; `None` when
    /// no annotation carries them (then hostPorts cannot be judged).
    pub host_ports: Option<Vec<HostPort>>,
    /// Bind mounts whose kernel truth could not be established in hook mode
    /// (offline `check` verifies none and says nothing here).
    pub unverified_mounts: Vec<String>,
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

    /// The container has its own user namespace whose root is an
    /// unprivileged host uid (Kubernetes `hostUsers: false`).
    pub fn root_is_unprivileged_on_host(&self) -> bool {
        self.userns_root_host_uid.is_some_and(|h| h != 0)
    }

    /// `namespace/pod/container` for Kubernetes containers, else the runtime id.
    pub fn label(&self) -> String {
        self.identity.label().unwrap_or_else(|| self.id.clone())
    }
}
