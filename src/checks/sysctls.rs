//! PSP `forbiddenSysctls` / `allowedUnsafeSysctls` (reported under field
//! `sysctl`).
//!
//! Evidence: the keys of `linux.sysctl` (`/` separators already turned into
//! dots by the view). A key matching a `forbiddenSysctls` pattern is denied,
//! even a safe one; otherwise a key of the Pod Security Standards' safe set
//! (as of the policy's version: `policy::pss`) or one matching an
//! `allowedUnsafeSysctls` pattern is allowed.
//!
//! Not verifiable at the node: nothing — the runtime writes every sysctl it
//! will set into config.json. Runtimes add their own (podman sets
//! `net.ipv4.ping_group_range` in every netns it creates), and they are judged
//! like the pod's; the safe set keeps that from denying ordinary containers.

use crate::checks::Findings;
use crate::container::ContainerView;
use crate::policy::pss::safe_since;
use crate::policy::{Policy, sysctl_matches};

const FIELD: &str = "sysctl";

fn matches_any(patterns: &[String], name: &str) -> bool {
    patterns.iter().any(|p| sysctl_matches(p, name))
}

pub fn check(view: &ContainerView, policy: &Policy, findings: &mut Findings) {
    for name in view.sysctls.keys() {
        if matches_any(&policy.forbidden_sysctls, name) {
            findings.deny(FIELD, || format!("{name} is forbidden (forbiddenSysctls)"));
            continue;
        }
        if matches_any(&policy.allowed_unsafe_sysctls, name) {
            continue;
        }
        match safe_since(name) {
            Some(since) if policy.safe_sysctls.has(since) => {}
            Some(since) => findings.deny(FIELD, || {
                format!(
                    "{name} is a safe sysctl only from Pod Security Standards {since}, \
                     and {} follows {}",
                    policy.name, policy.safe_sysctls
                )
            }),
            None => findings.deny(FIELD, || {
                format!("{name} is not a safe sysctl and not in allowedUnsafeSysctls")
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::policy::Origin;

    fn messages(view: &ContainerView, policy: &Policy) -> Vec<String> {
        fixtures::violations(check, view, policy)
    }

    fn policy() -> Policy {
        Policy::closed("test", Origin::Builtin)
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
    fn a_pinned_profile_knows_only_the_safe_sysctls_of_its_version() {
        let json = br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"linux":{"sysctl":{
            "net.ipv4.tcp_keepalive_time":"600","kernel.shm_rmid_forced":"1"}}}"#;
        let view = fixtures::view_of("sysctls", json);
        let at = |v: &str| crate::policy::builtin::lookup(&format!("baseline@{v}")).unwrap();
        assert_eq!(
            messages(&view, &at("v1.28")),
            [
                "sysctl: net.ipv4.tcp_keepalive_time is a safe sysctl only from Pod Security \
              Standards v1.29, and builtin:baseline@v1.28 follows v1.28"
            ]
        );
        assert!(messages(&view, &at("v1.29")).is_empty());
        let mut allowed = at("v1.28");
        allowed.allowed_unsafe_sysctls = vec!["net.ipv4.tcp_keepalive_*".into()];
        assert!(messages(&view, &allowed).is_empty());
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
