//! The built-in profiles `builtin:privileged`, `builtin:baseline` and
//! `builtin:restricted`: the Pod Security Standards as a node sees them, at
//! the newest version this build knows (`builtin:NAME`, `builtin:NAME@latest`)
//! or pinned to an older one (`builtin:NAME@v1.30`, as Pod Security
//! Admission's `enforce-version` label): see [`super::pss`] for what changed
//! when.
//!
//! Translations to the node: baseline admits the runtime's default capability
//! set plus the PSS add-list (config.json shows effective sets, not what a pod
//! added); a null seccomp is unconfined, which baseline tolerates (an unset
//! profile runs unconfined in Kubernetes) and restricted does not; "unset"
//! SELinux user/role means the runtime's defaults; from v1.35, runAsNonRoot
//! and runAsUser do not apply to a container whose root is mapped to an
//! unprivileged host uid, and baseline allows it an Unmasked /proc (the
//! user-namespace relaxations).

use std::fmt;

use super::pss::{self, Version};
use super::{IdRule, Origin, Policy, ProcMountType, ProfileRule, SeLinuxRule};
use crate::container::{AllowedVolume, VolumeType};

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

/// Volume types restricted allows.
pub const RESTRICTED_VOLUMES: &[VolumeType] = &[
    VolumeType::ConfigMap,
    VolumeType::Csi,
    VolumeType::DownwardApi,
    VolumeType::EmptyDir,
    VolumeType::Ephemeral,
    VolumeType::Image,
    VolumeType::PersistentVolumeClaim,
    VolumeType::Projected,
    VolumeType::Secret,
];

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Why a `builtin:` name names no profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnknownProfile {
    Name(String),
    Version { name: String, version: String },
}

impl fmt::Display for UnknownProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnknownProfile::Name(name) => write!(
                f,
                "no built-in profile {name:?} (known: {})",
                NAMES.join(", ")
            ),
            UnknownProfile::Version { name, version } => write!(
                f,
                "{name:?}: this build knows no Pod Security Standards version {version:?} \
                 (it knows v1.0 to {}, and latest)",
                pss::LATEST
            ),
        }
    }
}

/// The profile called `builtin:<name>[@<version>]` (or plain
/// `<name>[@<version>]`). Its policy name is `builtin:<name>` at the newest
/// version, `builtin:<name>@<version>` when pinned to an older one.
pub fn lookup(name: &str) -> Result<Policy, UnknownProfile> {
    let bare = name.strip_prefix(PREFIX).unwrap_or(name);
    let (level, version, pinned) = match bare.split_once('@') {
        Some((level, version)) => {
            let parsed = Version::parse(version).ok_or_else(|| UnknownProfile::Version {
                name: name.to_string(),
                version: version.to_string(),
            })?;
            (level, parsed, version != "latest")
        }
        None => (bare, pss::LATEST, false),
    };
    let mut policy = match level {
        "privileged" => privileged(),
        "baseline" => baseline_at(version),
        "restricted" => restricted_at(version),
        _ => return Err(UnknownProfile::Name(name.to_string())),
    };
    if pinned {
        policy.name = format!("{PREFIX}{level}@{version}");
    }
    Ok(policy)
}

/// The profile called `builtin:<name>[@<version>]`, if it exists.
pub fn profile(name: &str) -> Option<Policy> {
    lookup(name).ok()
}

pub fn privileged() -> Policy {
    let mut p = Policy::closed("builtin:privileged", Origin::Builtin);
    p.privileged = true;
    p.host_network = true;
    p.host_pid = true;
    p.host_ipc = true;
    p.host_ports = vec![(0, 65535)];
    p.volumes = vec![AllowedVolume::Any];
    p.allowed_capabilities = vec!["*".into()];
    p.allowed_proc_mount_types = vec![ProcMountType::Default, ProcMountType::Unmasked];
    p.allowed_unsafe_sysctls = vec!["*".into()];
    p
}

pub fn baseline() -> Policy {
    baseline_at(pss::LATEST)
}

fn baseline_at(version: Version) -> Policy {
    let mut p = Policy::closed("builtin:baseline", Origin::Builtin);
    p.volumes = VolumeType::ALL
        .iter()
        .filter(|v| **v != VolumeType::HostPath)
        .map(|v| AllowedVolume::Type(*v))
        .collect();
    p.allowed_capabilities = strings(BASELINE_ADD_CAPABILITIES);
    p.selinux = SeLinuxRule::Pss {
        types: pss::at(pss::BASELINE_SELINUX_TYPES, version),
        default_user: "system_u".into(),
        default_role: "system_r".into(),
    };
    // runtime/default admits any confining profile; explicit unconfined is out.
    p.apparmor = ProfileRule {
        allowed: Some(vec!["runtime/default".into()]),
        allow_unset: true,
    };
    p.safe_sysctls = version;
    p.unmasked_proc_in_user_namespace = version.has(pss::USER_NAMESPACE_RELAXATIONS);
    p
}

pub fn restricted() -> Policy {
    restricted_at(pss::LATEST)
}

fn restricted_at(version: Version) -> Policy {
    let mut p = baseline_at(version);
    p.name = "builtin:restricted".into();
    p.volumes = RESTRICTED_VOLUMES
        .iter()
        .map(|v| AllowedVolume::Type(*v))
        .collect();
    p.run_as_user = IdRule::MustRunAsNonRoot;
    p.user_namespace_relaxation = version.has(pss::USER_NAMESPACE_RELAXATIONS);
    // restricted refuses Unmasked /proc even in a user namespace
    p.unmasked_proc_in_user_namespace = false;
    if version.has(pss::RESTRICTED_NO_NEW_PRIVS) {
        p.allow_privilege_escalation = false;
    }
    if version.has(pss::RESTRICTED_CAPABILITIES) {
        p.required_drop_capabilities = vec!["ALL".into()];
        p.allowed_capabilities = vec!["CAP_NET_BIND_SERVICE".into()];
    }
    if version.has(pss::RESTRICTED_SECCOMP) {
        p.seccomp = ProfileRule {
            allowed: Some(vec!["runtime/default".into(), "localhost/*".into()]),
            allow_unset: false,
        };
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_pin_the_rules_of_their_time() {
        let r = |v: &str| lookup(&format!("builtin:restricted@{v}")).unwrap();
        assert!(r("v1.7").allow_privilege_escalation);
        assert!(!r("v1.8").allow_privilege_escalation);
        assert_eq!(r("v1.18").seccomp, ProfileRule::ANY);
        assert!(!r("v1.19").seccomp.allow_unset);
        assert!(r("v1.21").required_drop_capabilities.is_empty());
        assert_eq!(r("v1.22").required_drop_capabilities, ["ALL"]);
        assert!(!r("v1.34").user_namespace_relaxation);
        assert!(r("v1.35").user_namespace_relaxation);
        assert!(!r("v1.35").unmasked_proc_in_user_namespace);
        let b = |v: &str| lookup(&format!("baseline@{v}")).unwrap();
        assert!(!b("v1.34").unmasked_proc_in_user_namespace);
        assert!(b("v1.35").unmasked_proc_in_user_namespace);
        let types = |p: Policy| match p.selinux {
            SeLinuxRule::Pss { types, .. } => types,
            other => panic!("{other:?}"),
        };
        assert!(!types(b("v1.30")).contains(&"container_engine_t".to_string()));
        assert!(types(b("v1.31")).contains(&"container_engine_t".to_string()));
        assert_eq!(b("v1.28").safe_sysctls, Version::v1(28));
    }

    #[test]
    fn latest_is_the_unpinned_profile() {
        assert_eq!(profile("builtin:restricted@latest"), Some(restricted()));
        assert_eq!(profile("restricted"), Some(restricted()));
        let pinned = lookup("builtin:restricted@v1.37").unwrap();
        assert_eq!(pinned.name, "builtin:restricted@v1.37");
        assert_eq!(
            Policy {
                name: restricted().name,
                ..pinned
            },
            restricted()
        );
        assert_eq!(
            lookup("builtin:baseline@v1.30").unwrap().name,
            "builtin:baseline@v1.30"
        );
        assert_eq!(
            lookup("privileged@v1.0").unwrap().name,
            "builtin:privileged@v1.0"
        );
    }

    #[test]
    fn unknown_names_and_versions_are_told_apart() {
        assert_eq!(
            lookup("builtin:strict@v1.30"),
            Err(UnknownProfile::Name("builtin:strict@v1.30".into()))
        );
        let e = lookup("builtin:restricted@v1.38").unwrap_err();
        assert!(matches!(e, UnknownProfile::Version { .. }));
        assert!(e.to_string().contains("\"v1.38\""), "{e}");
        assert!(e.to_string().contains("v1.0 to v1.37"), "{e}");
        assert!(lookup("builtin:restricted@").is_err());
    }

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
        let volume = |t| crate::container::MountVolume::Known(t);
        assert!(!b.admits_volume(&volume(VolumeType::HostPath)));
        for t in VolumeType::ALL
            .iter()
            .filter(|t| **t != VolumeType::HostPath)
        {
            assert!(b.admits_volume(&volume(*t)), "{t}");
        }
        assert!(privileged().admits_volume(&volume(VolumeType::HostPath)));
    }
}
