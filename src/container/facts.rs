//! The privilege-relevant facts of one container, as plain data.
//!
//! A [`ContainerView`] is what the checks judge; [`Facts`] is the part of it
//! an admin would want to know to write a policy, in a form that survives a
//! trip through JSON: the hook puts it in every decision record (`"facts"`),
//! and `advise --from-log` reads it back. Everything here is derived from the
//! view; the interpretation (which mount is a host path, which namespace is
//! the host's) is the view's, so the advice agrees with the checks.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::{ContainerView, MountKind, MountUse, NamespaceKind};

/// What kind of mount, as the view classified it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MountFactKind {
    /// The runtime's own mounts (/proc, /dev, hosts files…): always allowed.
    Runtime,
    /// A Kubernetes volume (or a tmpfs, an `emptyDir`).
    Volume,
    /// A path of the host.
    HostPath,
}

/// `'a`: the destination is borrowed from config.json's text, as the view's
/// is (a thousand mounts' facts were a thousand copies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MountFact<'a> {
    pub kind: MountFactKind,
    /// The PSP `volumes` names admitting it, most specific first (empty for
    /// runtime mounts). Borrowed from the classification's tables when built
    /// from a view; read back from JSON, owned.
    pub volume_types: Vec<Cow<'static, str>>,
    /// The flexVolume or CSI driver, when known. Left out of the JSON
    /// when unknown, like `hostPath` (a record holds every mount's facts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// The source resolved on the host (host paths only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    pub read_only: bool,
    pub destination: Cow<'a, str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPortFact {
    pub port: u16,
    pub protocol: String,
}

/// The privilege-relevant facts of one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Facts<'a> {
    pub id: String,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub container: Option<String>,
    /// A pod sandbox (pause) container: only its pod-level facts count.
    pub sandbox: bool,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary gids other than the primary one, sorted.
    pub additional_gids: Vec<u32>,
    /// Every capability in any of the five sets, sorted.
    pub capabilities: Vec<String>,
    pub host_network: bool,
    #[serde(rename = "hostPID")]
    pub host_pid: bool,
    #[serde(rename = "hostIPC")]
    pub host_ipc: bool,
    pub mounts: Vec<MountFact<'a>>,
    /// Host device nodes passed in (`linux.devices`).
    pub devices: Vec<String>,
    pub device_cgroup_allows_all: bool,
    /// sysfs or cgroupfs mounted writable.
    pub writable_sysfs_or_cgroup: bool,
    /// Shared (Bidirectional) propagation of the root or of a bind mount.
    pub shared_propagation: bool,
    /// `linux.sysctl` names (dotted), sorted.
    pub sysctls: Vec<String>,
    /// A seccomp profile that does not allow every syscall.
    pub seccomp_confined: bool,
    pub apparmor_profile: Option<String>,
    pub selinux_label: Option<String>,
    /// `maskedPaths` or `readonlyPaths` empty or missing.
    pub unmasked_proc: bool,
    pub no_new_privileges: bool,
    pub root_readonly: bool,
    /// `None`: the runtime passed no port mappings.
    pub host_ports: Option<Vec<HostPortFact>>,
}

/// seccomp default actions that let every syscall through (as the seccomp
/// check reads them).
const ALLOW_ALL_ACTIONS: &[&str] = &["SCMP_ACT_ALLOW", "SCMP_ACT_LOG"];

impl<'a> Facts<'a> {
    /// The facts of `view`, borrowing what it borrows from config.json.
    pub fn from_view(view: &ContainerView<'a>) -> Facts<'a> {
        let mut additional_gids: Vec<u32> = view
            .additional_gids
            .iter()
            .copied()
            .filter(|&g| g != view.gid)
            .collect();
        additional_gids.sort_unstable();
        additional_gids.dedup();
        let host = |kind| view.namespaces.get(kind).is_host();
        Facts {
            id: view.id.clone(),
            namespace: view.identity.namespace.clone(),
            pod: view.identity.pod.clone(),
            container: view.identity.container.clone(),
            sandbox: view.identity.sandbox,
            uid: view.uid,
            gid: view.gid,
            additional_gids,
            capabilities: view
                .capabilities
                .all()
                .into_iter()
                .map(str::to_string)
                .collect(),
            host_network: host(NamespaceKind::Network),
            host_pid: host(NamespaceKind::Pid),
            host_ipc: host(NamespaceKind::Ipc),
            mounts: view.mounts.iter().map(mount_fact).collect(),
            devices: view.devices.clone(),
            device_cgroup_allows_all: view.device_cgroup_allows_all,
            writable_sysfs_or_cgroup: view.mounts.iter().any(MountUse::writable_kernel_fs),
            shared_propagation: shared_propagation(view),
            sysctls: view.sysctls.keys().cloned().collect(),
            seccomp_confined: view
                .seccomp_default_action
                .as_deref()
                .is_some_and(|a| !ALLOW_ALL_ACTIONS.contains(&a)),
            apparmor_profile: non_empty(view.apparmor_profile.as_deref()),
            selinux_label: non_empty(view.selinux_label.as_deref()),
            unmasked_proc: view.masked_paths.is_empty() || view.readonly_paths.is_empty(),
            no_new_privileges: view.no_new_privileges,
            root_readonly: view.root_readonly,
            host_ports: view.host_ports.as_ref().map(|ports| {
                ports
                    .iter()
                    .map(|p| HostPortFact {
                        port: p.port,
                        protocol: p.protocol.clone(),
                    })
                    .collect()
            }),
        }
    }

    /// `namespace/pod/container` (`namespace/pod (sandbox)`) for Kubernetes
    /// containers, else the runtime id.
    pub fn label(&self) -> String {
        match (&self.namespace, &self.pod) {
            (Some(ns), Some(pod)) if self.sandbox => format!("{ns}/{pod} (sandbox)"),
            (Some(ns), pod) => format!(
                "{ns}/{}/{}",
                pod.as_deref().unwrap_or("?"),
                self.container.as_deref().unwrap_or("?")
            ),
            _ => self.id.clone(),
        }
    }

    /// Whether the container shows any of the evidence the `privileged`
    /// check denies.
    pub fn privileged(&self) -> bool {
        self.device_cgroup_allows_all
            || !self.devices.is_empty()
            || self.writable_sysfs_or_cgroup
            || self.shared_propagation
    }
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn mount_fact<'a>(mount: &MountUse<'a>) -> MountFact<'a> {
    let (kind, driver, host_path) = match &mount.kind {
        MountKind::RuntimeManaged => (MountFactKind::Runtime, None, None),
        MountKind::Volume { driver, .. } => (MountFactKind::Volume, driver.clone(), None),
        MountKind::HostPath { resolved } => (
            MountFactKind::HostPath,
            None,
            // As `display()` writes it, without the formatting machinery.
            Some(resolved.to_string_lossy().into_owned()),
        ),
    };
    MountFact {
        kind,
        volume_types: mount.volume_types().to_static(),
        driver,
        host_path,
        read_only: mount.read_only,
        destination: mount.destination.clone(),
    }
}

/// Shared propagation of the root filesystem or of a bind mount (as the
/// privileged check).
fn shared_propagation(view: &ContainerView) -> bool {
    let shared = |p: &str| matches!(p, "shared" | "rshared");
    view.rootfs_propagation.as_deref().is_some_and(shared)
        || view
            .mounts
            .iter()
            .any(|m| m.bind && m.propagation.is_some_and(shared))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures;

    #[test]
    fn podman_default() {
        let f = Facts::from_view(&fixtures::view("podman-default"));
        assert_eq!(f.label(), "podman-default");
        assert_eq!((f.uid, f.gid), (0, 0));
        assert!(f.additional_gids.is_empty());
        assert_eq!(f.capabilities.len(), 11);
        assert!(!f.host_network && !f.host_pid && !f.host_ipc);
        assert!(f.seccomp_confined);
        assert!(!f.unmasked_proc && !f.no_new_privileges && !f.root_readonly);
        assert!(!f.privileged());
        assert_eq!(f.sysctls, ["net.ipv4.ping_group_range"]);
        assert!(f.mounts.iter().all(|m| m.kind == MountFactKind::Runtime));
        assert_eq!(f.host_ports, None);
    }

    #[test]
    fn privileged_and_host_paths() {
        let f = Facts::from_view(&fixtures::view("podman-privileged"));
        assert!(f.privileged() && f.device_cgroup_allows_all && f.writable_sysfs_or_cgroup);
        assert!(f.unmasked_proc && !f.seccomp_confined);
        let f = Facts::from_view(&fixtures::view("podman-bind-etc"));
        let etc = f.mounts.iter().find(|m| m.destination == "/host-etc");
        let etc = etc.expect("the /etc bind");
        assert_eq!(etc.kind, MountFactKind::HostPath);
        assert_eq!(etc.host_path.as_deref(), Some("/etc"));
        assert_eq!(etc.volume_types, ["hostPath"]);
        assert!(etc.read_only);
        let f = Facts::from_view(&fixtures::view("podman-tmpfs"));
        let scratch = f.mounts.iter().find(|m| m.destination == "/scratch");
        assert_eq!(scratch.map(|m| m.kind), Some(MountFactKind::Volume));
    }

    #[test]
    fn primary_gid_is_not_supplementary() {
        let f = Facts::from_view(&fixtures::view("podman-root-user"));
        assert!(f.additional_gids.is_empty());
        let f = Facts::from_view(&fixtures::view("podman-restricted-ok"));
        assert!(f.additional_gids.is_empty());
        assert_eq!((f.uid, f.gid), (32767, 32767));
    }

    #[test]
    fn json_round_trip() {
        for name in ["podman-privileged", "ctr-run-bind", "podman-host-ipc"] {
            let f = Facts::from_view(&fixtures::view(name));
            let json = serde_json::to_string(&f).unwrap();
            assert!(json.contains("\"hostPID\":"), "{json}");
            let back: Facts = serde_json::from_str(&json).unwrap();
            assert_eq!(back, f);
        }
    }
}
