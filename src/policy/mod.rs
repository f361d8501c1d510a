//! Policies as the checks see them: one normalized model that both PSP
//! manifests ([`psp`]) and the built-in Pod Security Standards profiles
//! ([`builtin`]) are turned into.

pub mod builtin;
pub mod cache;
pub mod capabilities;
pub mod config;
pub mod exemptions;
pub mod load;
pub mod psp;
pub mod pss;
pub mod select;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::container::{AllowedVolume, MountVolume};

/// An inclusive id range of a PSP rule (`min`..=`max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRange {
    pub min: u32,
    pub max: u32,
}

impl IdRange {
    pub fn contains(&self, id: u32) -> bool {
        self.min <= id && id <= self.max
    }
}

impl std::fmt::Display for IdRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

/// `1000-1999, 3000` for messages.
pub fn describe_ranges(ranges: &[IdRange]) -> String {
    ranges
        .iter()
        .map(IdRange::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// runAsUser, runAsGroup, supplementalGroups and fsGroup rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdRule {
    RunAsAny,
    /// The id must be in one of the ranges. (`MayRunAs` is the same at the
    /// node: the runtime always sets an id, so "if set" always applies.)
    MustRunAs(Vec<IdRange>),
    /// runAsUser only: uid 0 is refused.
    MustRunAsNonRoot,
}

impl IdRule {
    pub fn admits(&self, id: u32) -> bool {
        match self {
            IdRule::RunAsAny => true,
            IdRule::MustRunAs(ranges) => ranges.iter().any(|r| r.contains(id)),
            IdRule::MustRunAsNonRoot => id != 0,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeLinuxOptions {
    pub user: Option<String>,
    pub role: Option<String>,
    pub type_: Option<String>,
    pub level: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeLinuxRule {
    RunAsAny,
    /// PSP `MustRunAs`: each field set in the options must match the label.
    MustRunAs(SeLinuxOptions),
    /// Pod Security Standards: the type is one of `types`, user and role are
    /// the runtime's defaults (what "unset" becomes on the node).
    Pss {
        types: Vec<String>,
        default_user: String,
        default_role: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProcMountType {
    Default,
    Unmasked,
}

/// Seccomp or AppArmor profile names a policy admits, in PSP annotation
/// syntax (`runtime/default`, `localhost/<name>`, `unconfined`, `*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileRule {
    /// `None`: no restriction.
    pub allowed: Option<Vec<String>>,
    /// A container without any profile setting is admitted (PSS baseline).
    pub allow_unset: bool,
}

impl ProfileRule {
    pub const ANY: ProfileRule = ProfileRule {
        allowed: None,
        allow_unset: true,
    };
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowedHostPath {
    pub path_prefix: PathBuf,
    pub read_only: bool,
}

/// Where a policy came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    Builtin,
    File(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Builtin => write!(f, "built-in profile"),
            Origin::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// One policy, normalized. Capability names are `CAP_X`; `*` and `ALL` keep
/// their PSP meaning. Serialized only into the hook's [`cache`], in the
/// postcard format: no field names, so no field may be skipped.
/// A part of a policy the node accepts but cannot enforce as written, for
/// `lint`; [`NotEnforced::SeccompReadAsPss`] also tells the `seccomp` check
/// how to read the policy's profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotEnforced {
    DefaultAllowPrivilegeEscalation,
    RuntimeClass,
    HostPorts,
    DefaultSeccompProfile,
    DefaultAppArmorProfile,
    LocalhostSeccompProfiles,
    /// The configuration's `seccomp: pss`, for a policy that restricts
    /// profiles (see `config::read_seccomp_as_pss`).
    SeccompReadAsPss,
}

impl std::fmt::Display for NotEnforced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotEnforced::DefaultAllowPrivilegeEscalation => f.write_str(
                "spec.defaultAllowPrivilegeEscalation: a default applied at admission; \
                 the node enforces allowPrivilegeEscalation",
            ),
            NotEnforced::RuntimeClass => f.write_str(
                "spec.runtimeClass: the runtime class is chosen before the OCI runtime runs; \
                 config.json does not name it",
            ),
            NotEnforced::HostPorts => f.write_str(
                "spec.hostPorts: enforced only where the runtime passes port mappings \
                 (CRI-O, kubelet annotations); podman/ctr publish ports outside config.json",
            ),
            NotEnforced::DefaultSeccompProfile | NotEnforced::DefaultAppArmorProfile => {
                let key = match self {
                    NotEnforced::DefaultSeccompProfile => psp::SECCOMP_DEFAULT,
                    _ => psp::APPARMOR_DEFAULT,
                };
                write!(
                    f,
                    "metadata.annotations[{key}]: a default applied at admission"
                )
            }
            NotEnforced::LocalhostSeccompProfiles => f.write_str(
                "seccomp localhost/ profiles: config.json carries the profile, not its name; \
                 any confining profile is accepted for them",
            ),
            NotEnforced::SeccompReadAsPss => f.write_str(
                "seccomp (HookConfiguration `seccomp: pss`): a profile's rules are not \
                 inspected; any profile whose default action stops syscalls and that hands \
                 none to a host agent counts as runtime/default or localhost/*",
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub name: String,
    pub origin: Origin,
    pub privileged: bool,
    pub host_network: bool,
    pub host_pid: bool,
    pub host_ipc: bool,
    pub host_ports: Vec<(u16, u16)>,
    /// PSP's `volumes`, in the policy's order; `*` admits every type.
    pub volumes: Vec<AllowedVolume>,
    /// Empty: every host path (when hostPath is an allowed volume).
    pub allowed_host_paths: Vec<AllowedHostPath>,
    /// Empty: every flexVolume driver.
    pub allowed_flex_volumes: Vec<String>,
    /// Empty: every CSI driver.
    pub allowed_csi_drivers: Vec<String>,
    pub read_only_root_filesystem: bool,
    pub run_as_user: IdRule,
    pub run_as_group: IdRule,
    pub supplemental_groups: IdRule,
    pub fs_group: IdRule,
    pub allow_privilege_escalation: bool,
    pub default_add_capabilities: Vec<String>,
    pub required_drop_capabilities: Vec<String>,
    pub allowed_capabilities: Vec<String>,
    pub selinux: SeLinuxRule,
    pub allowed_proc_mount_types: Vec<ProcMountType>,
    pub forbidden_sysctls: Vec<String>,
    pub allowed_unsafe_sysctls: Vec<String>,
    /// Whose safe sysctls need no `allowedUnsafeSysctls`: the Pod Security
    /// Standards version of a pinned built-in profile, else the newest.
    pub safe_sysctls: pss::Version,
    pub seccomp: ProfileRule,
    pub apparmor: ProfileRule,
    /// Pod Security Standards: runAsUser/runAsNonRoot do not apply to a
    /// container whose root is mapped to an unprivileged host uid.
    pub user_namespace_relaxation: bool,
    /// Pod Security Standards baseline: an Unmasked /proc is allowed in a
    /// container with its own user namespace (root unprivileged on the host).
    pub unmasked_proc_in_user_namespace: bool,
    /// Fields accepted but not enforceable at the node, for `lint`.
    pub not_enforced: Vec<NotEnforced>,
    /// Fields read in a way worth telling the admin, for `lint`.
    pub notes: Vec<String>,
}

impl Policy {
    /// A policy that admits nothing beyond the defaults; fields are opened
    /// up from here by the PSP loader and the built-in profiles.
    pub fn closed(name: &str, origin: Origin) -> Policy {
        Policy {
            name: name.to_string(),
            origin,
            privileged: false,
            host_network: false,
            host_pid: false,
            host_ipc: false,
            host_ports: Vec::new(),
            volumes: Vec::new(),
            allowed_host_paths: Vec::new(),
            allowed_flex_volumes: Vec::new(),
            allowed_csi_drivers: Vec::new(),
            read_only_root_filesystem: false,
            run_as_user: IdRule::RunAsAny,
            run_as_group: IdRule::RunAsAny,
            supplemental_groups: IdRule::RunAsAny,
            fs_group: IdRule::RunAsAny,
            allow_privilege_escalation: true,
            default_add_capabilities: Vec::new(),
            required_drop_capabilities: Vec::new(),
            allowed_capabilities: Vec::new(),
            selinux: SeLinuxRule::RunAsAny,
            allowed_proc_mount_types: vec![ProcMountType::Default],
            forbidden_sysctls: Vec::new(),
            allowed_unsafe_sysctls: Vec::new(),
            safe_sysctls: pss::LATEST,
            seccomp: ProfileRule::ANY,
            apparmor: ProfileRule::ANY,
            user_namespace_relaxation: false,
            unmasked_proc_in_user_namespace: false,
            not_enforced: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn admits_volume(&self, volume: &MountVolume) -> bool {
        self.volumes.iter().any(|v| v.admits(volume))
    }
}

/// PSP sysctl pattern matching: `*` alone matches every name, a trailing `*`
/// matches by prefix (`kernel.msg*`), anything else matches exactly. A pattern
/// written with `/` separators is read like the view's dotted names.
pub fn sysctl_matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.replace('/', ".");
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_patterns() {
        assert!(sysctl_matches("*", "kernel.msgmax"));
        assert!(sysctl_matches("kernel.msg*", "kernel.msgmax"));
        assert!(sysctl_matches("kernel.msgmax", "kernel.msgmax"));
        assert!(sysctl_matches("kernel/msgmax", "kernel.msgmax"));
        assert!(!sysctl_matches("kernel.msg", "kernel.msgmax"));
        assert!(!sysctl_matches("kernel.msgmax", "kernel.msgmnb"));
        assert!(!sysctl_matches("net.*", "kernel.msgmax"));
    }
}
