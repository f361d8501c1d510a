//! PSP `forbiddenSysctls` / `allowedUnsafeSysctls` (reported under field
//! `sysctl`).
//!
//! Evidence: the keys of `linux.sysctl` (`/` separators already turned into
//! dots by the view). A key matching a `forbiddenSysctls` pattern is denied,
//! even a safe one; otherwise a key of the Kubernetes safe set is allowed;
//! otherwise it must match an `allowedUnsafeSysctls` pattern.
//!
//! Not verifiable at the node: nothing — the runtime writes every sysctl it
//! will set into config.json. Runtimes add their own (podman sets
//! `net.ipv4.ping_group_range` in every netns it creates), and they are judged
//! like the pod's; the safe set keeps that from denying ordinary containers.

use crate::checks::Findings;
use crate::container::ContainerView;
use crate::policy::Policy;

const FIELD: &str = "sysctl";

/// The sysctls Kubernetes treats as safe (namespaced, isolated from the node),
/// as of Pod Security Standards v1.37. The v1.37 baseline test pods admit
/// `net.ipv4.tcp_slow_start_after_idle` and `net.ipv4.tcp_notsent_lowat`, the
/// newest additions.
pub const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_notsent_lowat",
];

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

fn matches_any(patterns: &[String], name: &str) -> bool {
    patterns.iter().any(|p| sysctl_matches(p, name))
}

pub fn check(view: &ContainerView, policy: &Policy, findings: &mut Findings) {
    for name in view.sysctls.keys() {
        if matches_any(&policy.forbidden_sysctls, name) {
            findings.deny(FIELD, format!("{name} is forbidden (forbiddenSysctls)"));
        } else if !SAFE_SYSCTLS.contains(&name.as_str())
            && !matches_any(&policy.allowed_unsafe_sysctls, name)
        {
            findings.deny(
                FIELD,
                format!("{name} is not a safe sysctl and not in allowedUnsafeSysctls"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures;
    use crate::policy::Origin;

    fn messages(view: &ContainerView, policy: &Policy) -> Vec<String> {
        fixtures::violations(check, view, policy)
    }

    fn policy() -> Policy {
        Policy::closed("test", Origin::Builtin)
    }

    #[test]
    fn patterns() {
        assert!(sysctl_matches("*", "kernel.msgmax"));
        assert!(sysctl_matches("kernel.msg*", "kernel.msgmax"));
        assert!(sysctl_matches("kernel.msgmax", "kernel.msgmax"));
        assert!(sysctl_matches("kernel/msgmax", "kernel.msgmax"));
        assert!(!sysctl_matches("kernel.msg", "kernel.msgmax"));
        assert!(!sysctl_matches("kernel.msgmax", "kernel.msgmnb"));
        assert!(!sysctl_matches("net.*", "kernel.msgmax"));
    }

    #[test]
    fn podman_default_sets_only_a_safe_sysctl() {
        let view = fixtures::view("podman-default");
        assert!(view.sysctls.contains_key("net.ipv4.ping_group_range"));
        assert!(messages(&view, &policy()).is_empty());
    }

    #[test]
    fn unsafe_sysctl_denied_unless_allowed() {
        let view = fixtures::view("podman-sysctl");
        assert_eq!(
            messages(&view, &policy()),
            ["sysctl: kernel.msgmax is not a safe sysctl and not in allowedUnsafeSysctls"]
        );
        let mut p = policy();
        p.allowed_unsafe_sysctls = vec!["kernel.msg*".into()];
        assert!(messages(&view, &p).is_empty());
        p.allowed_unsafe_sysctls = vec!["*".into()];
        assert!(messages(&view, &p).is_empty());
    }

    #[test]
    fn forbidden_wins_over_safe_and_allowed() {
        let view = fixtures::view("podman-sysctl");
        let mut p = policy();
        p.allowed_unsafe_sysctls = vec!["*".into()];
        p.forbidden_sysctls = vec!["kernel.msgmax".into(), "net.ipv4.tcp_syncookies".into()];
        assert_eq!(
            messages(&view, &p),
            [
                "sysctl: kernel.msgmax is forbidden (forbiddenSysctls)",
                "sysctl: net.ipv4.tcp_syncookies is forbidden (forbiddenSysctls)",
            ]
        );
        p.forbidden_sysctls = vec!["*".into()];
        assert_eq!(messages(&view, &p).len(), 3);
    }

    #[test]
    fn newest_safe_sysctls_pass() {
        let json = br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"linux":{"sysctl":{
            "net.ipv4.tcp_slow_start_after_idle":"0","net.ipv4.tcp_notsent_lowat":"16384",
            "net/ipv4/tcp_rmem":"4096 87380 6291456"}}}"#;
        let view = fixtures::view_of("sysctls", json);
        assert!(messages(&view, &policy()).is_empty());
    }
}
