//! What a set of containers used, privilege by privilege, and which
//! containers used it: the facts of many containers folded into one record
//! the policy is written from (see [`super::manifest`]).
//!
//! A pod sandbox (pause) counts for its pod-level settings only
//! ([`Counted`]): no route runs the hook for a CRI pod sandbox (containerd
//! builds it without the base spec and NRI cannot adjust it; CRI-O gives it
//! no hooks), so what it holds beyond its pod's settings (CRI-O's has no
//! /proc masks) would widen the advice for nothing.

use std::collections::{BTreeMap, BTreeSet};

use crate::container::facts::{Facts, MountFact, MountFactKind};
use crate::container::{Scope, VolumeType};
use crate::policy::capabilities::judged_on;
use crate::policy::pss::safe_since;

/// Container labels (`namespace/pod/container` or the runtime id), sorted.
pub type Labels = BTreeSet<String>;

/// Who used a host path read-only, who writable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathUse {
    pub read_only: Labels,
    pub writable: Labels,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Every input container.
    pub containers: Labels,
    pub privileged: Labels,
    pub host_network: Labels,
    pub host_pid: Labels,
    pub host_ipc: Labels,
    pub host_ports: BTreeMap<u16, Labels>,
    /// A port mapping annotation that did not parse: only "every port" admits it.
    pub unparseable_ports: Labels,
    /// PSP volume type → users.
    pub volumes: BTreeMap<String, Labels>,
    /// Resolved host path → users.
    pub host_paths: BTreeMap<String, PathUse>,
    /// Host-path mounts whose source no path prefix can name (a filesystem
    /// such as `proc` mounted by type): only an empty allowedHostPaths admits them.
    pub unnamed_host_paths: Labels,
    pub flex_drivers: BTreeMap<String, Labels>,
    pub csi_drivers: BTreeMap<String, Labels>,
    /// CSI volumes whose driver the node could not tell.
    pub unknown_csi_driver: Labels,
    pub writable_root: Labels,
    pub uids: BTreeMap<u32, Labels>,
    pub gids: BTreeMap<u32, Labels>,
    pub supplemental_gids: BTreeMap<u32, Labels>,
    /// Containers without noNewPrivileges.
    pub escalation: Labels,
    /// `CAP_X` → holders.
    pub capabilities: BTreeMap<String, Labels>,
    pub selinux_labels: BTreeMap<String, Labels>,
    pub no_selinux_label: Labels,
    pub unmasked_proc: Labels,
    pub unsafe_sysctls: BTreeMap<String, Labels>,
    pub seccomp_confined: Labels,
    pub seccomp_unconfined: Labels,
    /// A profile other than `unconfined`.
    pub apparmor_confined: Labels,
    pub apparmor_unconfined: Labels,
    /// No AppArmor profile in config.json.
    pub apparmor_unset: Labels,
}

fn add<K: Ord>(map: &mut BTreeMap<K, Labels>, key: K, label: &str) {
    map.entry(key).or_default().insert(label.to_string());
}

fn mark(labels: &mut Labels, used: bool, label: &str) {
    if used {
        labels.insert(label.to_string());
    }
}

/// Which of a set of containers' facts the advice is made from, and
/// checked against: a pod sandbox's pod-level settings ([`Scope::Pod`]),
/// every other container's all — unless every input is a sandbox, when the
/// other fields would be empty.
#[derive(Debug, Clone, Copy)]
pub struct Counted {
    only_sandboxes: bool,
}

impl Counted {
    pub fn of(facts: &[Facts]) -> Counted {
        Counted {
            only_sandboxes: facts.iter().all(|f| f.sandbox),
        }
    }

    /// Whether settings of `scope` count for a container (a pod sandbox or
    /// not).
    pub fn counts(self, scope: Scope, sandbox: bool) -> bool {
        self.only_sandboxes || !sandbox || scope == Scope::Pod
    }
}

/// How the facts of each scope are counted.
type Count = fn(&mut Usage, &Facts, &str);
const BY_SCOPE: [(Scope, Count); 3] = [
    (Scope::Pod, Usage::add_pod_level),
    (Scope::Floor, Usage::add_floor),
    (Scope::Container, Usage::add_container_level),
];

impl Usage {
    pub fn of(facts: &[Facts]) -> Usage {
        let mut usage = Usage::default();
        let counted = Counted::of(facts);
        for f in facts {
            let label = f.label();
            for (scope, add) in BY_SCOPE {
                if counted.counts(scope, f.sandbox) {
                    add(&mut usage, f, &label);
                }
            }
            usage.containers.insert(label);
        }
        usage
    }

    fn add_pod_level(&mut self, f: &Facts, label: &str) {
        mark(&mut self.host_network, f.host_network, label);
        mark(&mut self.host_pid, f.host_pid, label);
        mark(&mut self.host_ipc, f.host_ipc, label);
        for port in f.host_ports.iter().flatten() {
            if port.protocol == "unparseable" {
                self.unparseable_ports.insert(label.to_string());
            } else {
                add(&mut self.host_ports, port.port, label);
            }
        }
        for name in &f.sysctls {
            if safe_since(name).is_none() {
                add(&mut self.unsafe_sysctls, name.clone(), label);
            }
        }
    }

    fn add_floor(&mut self, f: &Facts, label: &str) {
        mark(&mut self.privileged, f.privileged(), label);
        for mount in f.mounts.iter() {
            self.add_mount(&mount, label);
        }
        for cap in f.capabilities.iter().filter(|c| judged_on(c, f.sandbox)) {
            add(&mut self.capabilities, cap.clone(), label);
        }
        mark(&mut self.unmasked_proc, f.unmasked_proc, label);
    }

    fn add_container_level(&mut self, f: &Facts, label: &str) {
        mark(&mut self.writable_root, !f.root_readonly, label);
        add(&mut self.uids, f.uid, label);
        add(&mut self.gids, f.gid, label);
        for &gid in &f.additional_gids {
            if gid != f.gid {
                add(&mut self.supplemental_gids, gid, label);
            }
        }
        mark(&mut self.escalation, !f.no_new_privileges, label);
        match &f.selinux_label {
            Some(l) => add(&mut self.selinux_labels, l.clone(), label),
            None => mark(&mut self.no_selinux_label, true, label),
        }
        if f.seccomp_confined {
            self.seccomp_confined.insert(label.to_string());
        } else {
            self.seccomp_unconfined.insert(label.to_string());
        }
        match f.apparmor_profile.as_deref() {
            Some("unconfined") => mark(&mut self.apparmor_unconfined, true, label),
            Some(_) => mark(&mut self.apparmor_confined, true, label),
            None => mark(&mut self.apparmor_unset, true, label),
        }
    }

    fn add_mount(&mut self, mount: &MountFact, label: &str) {
        match mount.kind {
            // privileged evidence: the container's `privileged()` says so
            MountFactKind::Runtime | MountFactKind::Privileged => {}
            MountFactKind::HostPath => {
                add(&mut self.volumes, "hostPath".to_string(), label);
                match mount.host_path.as_deref().filter(|p| p.starts_with('/')) {
                    Some(path) => {
                        let uses = self.host_paths.entry(path.to_string()).or_default();
                        let who = if mount.read_only {
                            &mut uses.read_only
                        } else {
                            &mut uses.writable
                        };
                        who.insert(label.to_string());
                    }
                    None => mark(&mut self.unnamed_host_paths, true, label),
                }
            }
            MountFactKind::Volume => {
                let Some(fs_type) = volume_type(mount) else {
                    return;
                };
                match (fs_type.as_str(), &mount.driver) {
                    ("flexVolume", Some(d)) => add(&mut self.flex_drivers, d.to_string(), label),
                    ("csi", Some(d)) => add(&mut self.csi_drivers, d.to_string(), label),
                    ("csi", None) => mark(&mut self.unknown_csi_driver, true, label),
                    _ => {}
                }
                add(&mut self.volumes, fs_type, label);
            }
        }
    }
}

/// The narrowest PSP volume type admitting a volume: the first of its types
/// that PSP knows (an in-tree plugin newer than this build is still a
/// `persistentVolumeClaim`).
fn volume_type(mount: &MountFact) -> Option<String> {
    mount
        .volume_types
        .iter()
        .find(|t| VolumeType::from_name(t).is_some())
        .map(|t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn usage(names: &[&str]) -> Usage {
        let facts: Vec<Facts> = names.iter().map(|n| fixtures::facts(n)).collect();
        Usage::of(&facts)
    }

    #[test]
    fn folds_several_containers() {
        let u = usage(&["podman-default", "podman-cap-add", "podman-bind-etc"]);
        assert_eq!(u.containers.len(), 3);
        assert_eq!(
            u.capabilities["CAP_SYS_ADMIN"].iter().collect::<Vec<_>>(),
            ["podman-cap-add"]
        );
        assert_eq!(u.capabilities["CAP_CHOWN"].len(), 3);
        assert_eq!(u.host_paths["/etc"].read_only.len(), 1);
        assert!(u.host_paths["/etc"].writable.is_empty());
        assert_eq!(u.uids[&0].len(), 3);
        assert!(u.privileged.is_empty());
        assert!(u.unsafe_sysctls.is_empty(), "ping_group_range is safe");
    }

    #[test]
    fn unsafe_sysctls_and_tmpfs() {
        let u = usage(&["podman-sysctl", "podman-tmpfs"]);
        assert_eq!(
            u.unsafe_sysctls.keys().collect::<Vec<_>>(),
            ["kernel.msgmax"]
        );
        assert_eq!(u.volumes.keys().collect::<Vec<_>>(), ["emptyDir"]);
    }
}
