//! Pod Security Standards versions, and the data whose content changed with
//! them: the safe sysctls and the SELinux types baseline allows.
//!
//! A built-in profile can be pinned to a version (`builtin:restricted@v1.30`)
//! the way Pod Security Admission's `enforce-version` label pins a namespace:
//! the rules of that version, whatever newer rules this build knows. Versions
//! follow the upstream policy (`k8s.io/pod-security-admission/policy`), one
//! per Kubernetes minor release from v1.0 to [`LATEST`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// A Pod Security Standards version: Kubernetes `v1.<minor>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Version {
    pub minor: u16,
}

/// The newest version this build knows: what `@latest` (or no version) means.
pub const LATEST: Version = Version { minor: 37 };

impl Version {
    pub const fn v1(minor: u16) -> Version {
        Version { minor }
    }

    /// `v1.30`, `1.30` or `latest`; `None` for anything else or a version
    /// newer than [`LATEST`].
    pub fn parse(text: &str) -> Option<Version> {
        if text == "latest" {
            return Some(LATEST);
        }
        let minor = text.strip_prefix('v').unwrap_or(text).strip_prefix("1.")?;
        let well_formed = !minor.is_empty()
            && minor.bytes().all(|b| b.is_ascii_digit())
            && (minor == "0" || !minor.starts_with('0'));
        let minor: u16 = minor.parse().ok().filter(|_| well_formed)?;
        (minor <= LATEST.minor).then_some(Version { minor })
    }

    /// Whether this version has the rule that version `since` introduced.
    pub fn has(self, since: Version) -> bool {
        self >= since
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v1.{}", self.minor)
    }
}

/// The sysctls the Pod Security Standards treat as safe (namespaced,
/// isolated from the node), each with the version that added it.
pub const SAFE_SYSCTLS: &[(&str, Version)] = &[
    ("kernel.shm_rmid_forced", Version::v1(0)),
    ("net.ipv4.ip_local_port_range", Version::v1(0)),
    ("net.ipv4.ip_unprivileged_port_start", Version::v1(0)),
    ("net.ipv4.tcp_syncookies", Version::v1(0)),
    ("net.ipv4.ping_group_range", Version::v1(0)),
    ("net.ipv4.ip_local_reserved_ports", Version::v1(27)),
    ("net.ipv4.tcp_keepalive_time", Version::v1(29)),
    ("net.ipv4.tcp_fin_timeout", Version::v1(29)),
    ("net.ipv4.tcp_keepalive_intvl", Version::v1(29)),
    ("net.ipv4.tcp_keepalive_probes", Version::v1(29)),
    ("net.ipv4.tcp_rmem", Version::v1(32)),
    ("net.ipv4.tcp_wmem", Version::v1(32)),
    ("net.ipv4.tcp_slow_start_after_idle", Version::v1(37)),
    ("net.ipv4.tcp_notsent_lowat", Version::v1(37)),
];

/// The version that made `name` a safe sysctl, if any has.
pub fn safe_since(name: &str) -> Option<Version> {
    SAFE_SYSCTLS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, since)| *since)
}

/// SELinux types baseline allows, each with the version that added it.
pub const BASELINE_SELINUX_TYPES: &[(&str, Version)] = &[
    ("container_t", Version::v1(0)),
    ("container_init_t", Version::v1(0)),
    ("container_kvm_t", Version::v1(0)),
    ("container_engine_t", Version::v1(31)),
];

/// The rules of the restricted level that began after v1.0, and the
/// user-namespace relaxations (`hostUsers: false`).
pub const RESTRICTED_NO_NEW_PRIVS: Version = Version::v1(8);
pub const RESTRICTED_SECCOMP: Version = Version::v1(19);
pub const RESTRICTED_CAPABILITIES: Version = Version::v1(22);
/// runAsNonRoot / runAsUser relaxed, baseline procMount relaxed, and
/// restricted's own procMount rule (no relaxation) added.
pub const USER_NAMESPACE_RELAXATIONS: Version = Version::v1(35);

/// Entries of a versioned list that `at` has.
pub fn at(list: &[(&'static str, Version)], at: Version) -> Vec<String> {
    list.iter()
        .filter(|(_, since)| at.has(*since))
        .map(|(name, _)| name.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_as_pod_security_admission_writes_them() {
        assert_eq!(Version::parse("v1.30"), Some(Version::v1(30)));
        assert_eq!(Version::parse("1.0"), Some(Version::v1(0)));
        assert_eq!(Version::parse("latest"), Some(LATEST));
        assert_eq!(Version::parse("v1.37"), Some(LATEST));
        for bad in [
            "v1.38", "v2.0", "v1", "v1.", "v1.030", "v1.3a", "V1.3", "v1.-1", "", "v1.30.1",
        ] {
            assert_eq!(Version::parse(bad), None, "{bad}");
        }
        assert_eq!(Version::v1(9).to_string(), "v1.9");
    }

    #[test]
    fn safe_sysctls_grow_with_the_version() {
        assert_eq!(at(SAFE_SYSCTLS, Version::v1(26)).len(), 5);
        assert_eq!(at(SAFE_SYSCTLS, Version::v1(28)).len(), 6);
        assert_eq!(at(SAFE_SYSCTLS, Version::v1(29)).len(), 10);
        assert_eq!(at(SAFE_SYSCTLS, Version::v1(36)).len(), 12);
        assert_eq!(at(SAFE_SYSCTLS, LATEST).len(), SAFE_SYSCTLS.len());
        assert_eq!(safe_since("net.ipv4.tcp_rmem"), Some(Version::v1(32)));
        assert_eq!(safe_since("kernel.msgmax"), None);
    }
}
