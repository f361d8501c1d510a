//! The built-in profiles `builtin:privileged`, `builtin:baseline` and
//! `builtin:restricted`: the Pod Security Standards (Kubernetes v1.37) as a
//! node sees them.
//!
//! Translations to the node: baseline admits the runtime's default capability
//! set plus the PSS add-list (config.json shows effective sets, not what a pod
//! added); a null seccomp is unconfined, which baseline tolerates (an unset
//! profile runs unconfined in Kubernetes) and restricted does not; "unset"
//! SELinux user/role means the runtime's defaults; runAsNonRoot and
//! runAsUser do not apply to a container whose root is mapped to an
//! unprivileged host uid (the user-namespace relaxation).

use super::psp::VOLUME_TYPES;
use super::{IdRule, Origin, Policy, ProcMountType, ProfileRule, SeLinuxRule};

pub const PREFIX: &str = "builtin:";
pub const NAMES: &[&str] = &["privileged", "baseline", "restricted"];

/// Capabilities baseline lets a container add.
pub const BASELINE_ADD_CAPABILITIES: &[&str] = &[
    "CAP_AUDIT_WRITE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_MKNOD",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

/// SELinux types baseline allows.
pub const BASELINE_SELINUX_TYPES: &[&str] = &[
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// Volume types restricted allows.
pub const RESTRICTED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The profile called `builtin:<name>` (or plain `<name>`), if it exists.
pub fn profile(name: &str) -> Option<Policy> {
    match name.strip_prefix(PREFIX).unwrap_or(name) {
        "privileged" => Some(privileged()),
        "baseline" => Some(baseline()),
        "restricted" => Some(restricted()),
        _ => None,
    }
}

pub fn privileged() -> Policy {
    let mut p = Policy::closed("builtin:privileged", Origin::Builtin);
    p.privileged = true;
    p.host_network = true;
    p.host_pid = true;
    p.host_ipc = true;
    p.host_ports = vec![(0, 65535)];
    p.volumes = vec!["*".into()];
    p.allowed_capabilities = vec!["*".into()];
    p.allowed_proc_mount_types = vec![ProcMountType::Default, ProcMountType::Unmasked];
    p.allowed_unsafe_sysctls = vec!["*".into()];
    p
}

pub fn baseline() -> Policy {
    let mut p = Policy::closed("builtin:baseline", Origin::Builtin);
    p.volumes = VOLUME_TYPES
        .iter()
        .filter(|v| !matches!(**v, "hostPath" | "*" | "none"))
        .map(|v| v.to_string())
        .collect();
    p.allowed_capabilities = strings(BASELINE_ADD_CAPABILITIES);
    p.selinux = SeLinuxRule::Pss {
        types: strings(BASELINE_SELINUX_TYPES),
        default_user: "system_u".into(),
        default_role: "system_r".into(),
    };
    // runtime/default admits any confining profile; explicit unconfined is out.
    p.apparmor = ProfileRule {
        allowed: Some(vec!["runtime/default".into()]),
        allow_unset: true,
    };
    p.unmasked_proc_in_user_namespace = true;
    p
}

pub fn restricted() -> Policy {
    let mut p = baseline();
    p.name = "builtin:restricted".into();
    p.volumes = strings(RESTRICTED_VOLUMES);
    p.allow_privilege_escalation = false;
    p.run_as_user = IdRule::MustRunAsNonRoot;
    p.user_namespace_relaxation = true;
    // restricted refuses Unmasked /proc even in a user namespace
    p.unmasked_proc_in_user_namespace = false;
    p.required_drop_capabilities = vec!["ALL".into()];
    p.allowed_capabilities = vec!["CAP_NET_BIND_SERVICE".into()];
    p.seccomp = ProfileRule {
        allowed: Some(vec!["runtime/default".into(), "localhost/*".into()]),
        allow_unset: false,
    };
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_with_and_without_prefix() {
        assert_eq!(profile("builtin:baseline"), Some(baseline()));
        assert_eq!(
            profile("restricted").map(|p| p.name),
            Some("builtin:restricted".into())
        );
        assert_eq!(profile("builtin:strict"), None);
    }

    #[test]
    fn baseline_forbids_host_paths_only() {
        let b = baseline();
        assert!(!b.admits_volume("hostPath"));
        assert!(b.admits_volume("nfs") && b.admits_volume("configMap"));
        assert!(privileged().admits_volume("hostPath"));
    }
}
