//! `seccomp`: the seccomp profile of the container (PSP annotation
//! `seccomp.security.alpha.kubernetes.io/allowedProfileNames`, PSS
//! `seccompProfile.type`).
//!
//! Evidence: `linux.seccomp`, judged once in
//! [`container::seccomp`](crate::container::seccomp): absent or null is
//! unconfined; a profile confines when its default action stops syscalls, no
//! host agent decides for any (`SCMP_ACT_NOTIFY`, `listenerPath`), and its
//! rules let through nothing the runtimes' default profiles deny to the
//! container (namespaces, mounts, BPF, keyrings, …). With the configuration's
//! `seccomp: pss` (the Pod Security Standards' reading, carried by the
//! policy, see [`config::read_seccomp_as_pss`]) the rules are not inspected.
//! - `runtime/default`, `docker/default`, `localhost/<name>`: any confining
//!   profile is admitted;
//! - `unconfined`: any container is admitted; a policy that allows unset
//!   profiles (PSS baseline) also admits a container with no seccomp at all,
//!   and one whose profile stops syscalls by default but whose rules let
//!   through what the runtimes' default profiles deny (less than no profile
//!   at all lets through), but not one whose default action or host agent
//!   lets syscalls through (like an allow-everything profile, an explicit
//!   `Unconfined`, not an unset profile).
//!
//! Not verifiable at the node: which profile it is. config.json holds the
//! compiled rules, not a name, so a policy allowing only `localhost/<name>`
//! profiles is reported unverified for any confining profile.

use crate::checks::Findings;
use crate::container::ContainerView;
use crate::container::seccomp::GapKind;
use crate::policy::Policy;
use crate::policy::config;

const FIELD: &str = "seccomp";

pub fn check(view: &ContainerView, policy: &Policy, findings: &mut Findings) {
    let Some(allowed) = &policy.seccomp.allowed else {
        return;
    };
    if listed(allowed, "*") {
        return;
    }
    let pss = config::seccomp_read_as_pss(policy);
    let profile = view.seccomp.as_ref();
    match profile {
        Some(p) if p.confines() || (pss && p.confines_as_pss()) => {
            confined(&p.default_action, allowed, findings)
        }
        _ if listed(allowed, "unconfined") => {}
        // Its default action or a host agent lets syscalls through: an
        // unconfined profile, never taken for an unset one.
        Some(p) if !p.confines_as_pss() => {
            let gaps: Vec<&str> = p
                .gaps
                .iter()
                .filter(|g| !pss || g.kind != GapKind::Rules)
                .map(|g| g.why.as_str())
                .collect();
            findings.deny(FIELD, || {
                format!(
                    "container's seccomp profile does not confine: {}; allowed: {}",
                    gaps.join("; "),
                    describe_allowed(allowed)
                )
            })
        }
        // Stops syscalls by default, and lets through less than no profile.
        Some(_) if policy.seccomp.allow_unset => {}
        Some(p) => findings.deny(FIELD, || {
            format!(
                "container's seccomp profile does not confine: {}; allowed: {} \
                 (the Pod Security Standards' reading, HookConfiguration `seccomp: pss`, \
                 does not inspect a profile's rules)",
                p.describe_gaps(),
                describe_allowed(allowed)
            )
        }),
        None if policy.seccomp.allow_unset => {}
        None => findings.deny(FIELD, || {
            format!(
                "container runs without a seccomp profile (unconfined); allowed: {}",
                describe_allowed(allowed)
            )
        }),
    }
}

/// `name` is in a profile list. Shared with the AppArmor check.
pub(crate) fn listed(allowed: &[String], name: &str) -> bool {
    allowed.iter().any(|a| a == name)
}

/// A profile list for messages. Shared with the AppArmor check.
pub(crate) fn describe_allowed(allowed: &[String]) -> String {
    if allowed.is_empty() {
        "none".to_string()
    } else {
        allowed.join(", ")
    }
}

/// A confining profile: any of the confining names admits it, but a
/// `localhost/…` name cannot be matched against compiled rules.
fn confined(action: &str, allowed: &[String], findings: &mut Findings) {
    if listed(allowed, "runtime/default") || listed(allowed, "docker/default") {
        return;
    }
    let localhost: Vec<&str> = allowed
        .iter()
        .map(String::as_str)
        .filter(|a| a.starts_with("localhost/"))
        .collect();
    if localhost.is_empty() {
        findings.deny(FIELD, || {
            format!(
                "container runs with a seccomp profile (default action {action}); allowed: {}",
                describe_allowed(allowed)
            )
        });
    } else {
        findings.unverified(
            FIELD,
            || format!(
                "the profile's identity cannot be verified at the node: any confining profile is accepted for {}",
                localhost.join(", ")
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::policy::{Origin, ProfileRule, builtin};

    fn policy(allowed: Option<&[&str]>, allow_unset: bool, pss: bool) -> Policy {
        let mut p = Policy::closed("test", Origin::Builtin);
        p.seccomp = ProfileRule {
            allowed: allowed.map(|list| list.iter().map(ToString::to_string).collect()),
            allow_unset,
        };
        if pss {
            config::read_seccomp_as_pss(&mut p);
        }
        p
    }

    fn findings(view: &ContainerView, allowed: Option<&[&str]>, allow_unset: bool) -> Findings {
        judged(view, &policy(allowed, allow_unset, false))
    }

    fn judged(view: &ContainerView, policy: &Policy) -> Findings {
        let mut findings = Findings::default();
        check(view, policy, &mut findings);
        findings
    }

    fn shown(found: &Findings) -> Vec<String> {
        assert!(found.unverified.is_empty(), "{:?}", found.unverified);
        found.violations.iter().map(ToString::to_string).collect()
    }

    fn messages(name: &str, allowed: &[&str], allow_unset: bool) -> Vec<String> {
        shown(&findings(&fixtures::view(name), Some(allowed), allow_unset))
    }

    /// A container with no capabilities and this `linux.seccomp`.
    fn with_seccomp(seccomp: &str) -> ContainerView<'static> {
        let json = format!(
            r#"{{"ociVersion":"1.0.2","process":{{"user":{{"uid":1000,"gid":1000}},"cwd":"/",
                "capabilities":{{}}}},"root":{{"path":"rootfs"}},
                "linux":{{"seccomp":{seccomp}}}}}"#
        );
        fixtures::view_of("seccomp", json.as_bytes())
    }

    fn with_default_action(action: &str) -> ContainerView<'static> {
        with_seccomp(&format!(r#"{{"defaultAction":"{action}","syscalls":[]}}"#))
    }

    /// containerd's RuntimeDefault as containerd 2.x wrote it (captured).
    const CONTAINERD: &str = "cri-captured/base-spec/containerd-pss-restricted-ok-app";

    const UNCONFINED: &[&str] = &[
        "podman-seccomp-unconfined",
        "runc-spec-default",
        "podman-privileged",
    ];

    /// An ERRNO-default profile whose rules let a container without
    /// capabilities create namespaces and mount (the issue's profile).
    const OPENING: &str = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
        {"names":["read","write","unshare","mount","setns","bpf","keyctl","userfaultfd",
          "io_uring_setup","perf_event_open"],"action":"SCMP_ACT_ALLOW"}]}"#;

    #[test]
    fn no_restriction_admits_everything() {
        for name in UNCONFINED.iter().chain(&["podman-default"]) {
            assert_eq!(
                findings(&fixtures::view(name), None, false),
                Findings::default()
            );
            assert!(messages(name, &["*"], false).is_empty());
        }
        assert!(shown(&findings(&with_seccomp(OPENING), Some(&["*"]), false)).is_empty());
    }

    #[test]
    fn confined_container_passes_runtime_default() {
        let view = fixtures::view(CONTAINERD);
        let profile = view.seccomp.as_ref().unwrap();
        assert_eq!(profile.default_action, "SCMP_ACT_ERRNO");
        assert!(profile.confines(), "{profile:?}");
        assert!(messages(CONTAINERD, &["runtime/default"], false).is_empty());
        assert!(messages(CONTAINERD, &["docker/default", "localhost/x.json"], false).is_empty());
    }

    #[test]
    fn unconfined_container_is_denied() {
        for name in UNCONFINED {
            assert_eq!(
                messages(name, &["runtime/default"], false),
                [
                    "seccomp: container runs without a seccomp profile (unconfined); allowed: runtime/default"
                ],
                "{name}"
            );
            assert!(messages(name, &["runtime/default", "unconfined"], false).is_empty());
            assert!(
                messages(name, &["runtime/default"], true).is_empty(),
                "unset is admitted"
            );
        }
    }

    #[test]
    fn a_profile_letting_every_call_through_is_unconfined_but_not_unset() {
        for (action, why) in [
            ("SCMP_ACT_ALLOW", "allows every syscall no rule names"),
            (
                "SCMP_ACT_LOG",
                "allows (and logs) every syscall no rule names",
            ),
            (
                "SCMP_ACT_TRACE",
                "hands every syscall no rule names to a ptrace tracer, which can let it run",
            ),
            (
                "SCMP_ACT_NEW",
                "is not one that stops a syscall (SCMP_ACT_ERRNO, SCMP_ACT_KILL, \
                 SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP)",
            ),
        ] {
            let view = with_default_action(action);
            for pss in [false, true] {
                // the Pod Security Standards' reading relaxes none of it
                let found = judged(&view, &policy(Some(&["runtime/default"]), true, pss));
                assert_eq!(
                    shown(&found),
                    [format!(
                        "seccomp: container's seccomp profile does not confine: default action \
                         {action} {why}; allowed: runtime/default"
                    )]
                );
            }
            assert!(shown(&findings(&view, Some(&["unconfined"]), false)).is_empty());
            assert!(!crate::container::facts::Facts::from_view(&view).seccomp_confined);
        }
        // a deny-by-default profile from another runtime is confining
        let errno = with_default_action("SCMP_ACT_KILL_PROCESS");
        assert_eq!(
            findings(&errno, Some(&["runtime/default"]), false),
            Findings::default()
        );
        assert!(crate::container::facts::Facts::from_view(&errno).seccomp_confined);
    }

    #[test]
    fn a_host_agent_deciding_is_unconfined_even_read_as_pss() {
        let view = with_seccomp(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","listenerPath":"/run/agent.sock",
                "syscalls":[{"names":["mount","unshare"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        );
        for pss in [false, true] {
            let found = judged(&view, &builtin_restricted(pss));
            assert_eq!(
                shown(&found),
                [
                    "seccomp: container's seccomp profile does not confine: the runtime hands 2 \
                  syscalls (SCMP_ACT_NOTIFY) to the host agent listening at /run/agent.sock \
                  (listenerPath), which decides for them; allowed: runtime/default, localhost/*"
                ]
            );
        }
        // twin: the same rules answering EPERM
        let twin = with_seccomp(
            r#"{"defaultAction":"SCMP_ACT_ERRNO",
                "syscalls":[{"names":["mount","unshare"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        assert!(
            judged(&twin, &builtin_restricted(false))
                .violations
                .is_empty()
        );
    }

    fn builtin_restricted(pss: bool) -> Policy {
        let mut p = builtin::restricted();
        if pss {
            config::read_seccomp_as_pss(&mut p);
        }
        p
    }

    #[test]
    fn rules_letting_through_what_the_runtimes_deny_fail_a_required_profile() {
        let view = with_seccomp(OPENING);
        let found = judged(&view, &builtin_restricted(false));
        assert_eq!(
            shown(&found),
            [
                "seccomp: container's seccomp profile does not confine: its rules allow what the \
              runtimes' default profiles deny to a container without the capability that would \
              need it: bpf, io_uring_setup, perf_event_open, userfaultfd; allowed: \
              runtime/default, localhost/* \
              (the Pod Security Standards' reading, HookConfiguration `seccomp: pss`, does not \
              inspect a profile's rules)"
            ]
        );
        assert!(!crate::container::facts::Facts::from_view(&view).seccomp_confined);
        // Read as the Pod Security Standards read it: any Localhost profile.
        assert_eq!(
            judged(&view, &builtin_restricted(true)),
            Findings::default()
        );
        let found = judged(&view, &policy(Some(&["localhost/a.json"]), false, true));
        assert_eq!(
            found
                .unverified
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "seccomp: the profile's identity cannot be verified at the node: any confining \
              profile is accepted for localhost/a.json"
            ]
        );
        assert!(found.violations.is_empty());
        // A policy tolerating no profile at all tolerates one that lets
        // through less than none (PSS baseline).
        assert!(judged(&view, &builtin::baseline()).violations.is_empty());
        assert!(shown(&findings(&view, Some(&["unconfined"]), false)).is_empty());
        // Twin: the runtimes' rules.
        let twin = with_seccomp(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
                {"names":["read","write"],"action":"SCMP_ACT_ALLOW"},
                {"names":["clone"],"action":"SCMP_ACT_ALLOW",
                 "args":[{"index":0,"value":2114060288,"op":"SCMP_CMP_MASKED_EQ"}]},
                {"names":["clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#,
        );
        assert!(
            judged(&twin, &builtin_restricted(false))
                .violations
                .is_empty()
        );
        assert!(crate::container::facts::Facts::from_view(&twin).seccomp_confined);
    }

    /// podman's (and CRI-O's) RuntimeDefault, containers/common's profile,
    /// confines as a runtime default does: a required profile admits it.
    #[test]
    fn podman_default_profile_confines() {
        assert!(messages("podman-restricted-ok", &["runtime/default"], false).is_empty());
        assert!(messages("podman-default", &["runtime/default"], true).is_empty());
    }

    #[test]
    fn localhost_only_is_unverified_for_a_confining_profile() {
        let found = findings(
            &fixtures::view(CONTAINERD),
            Some(&["localhost/a.json", "localhost/b.json"]),
            false,
        );
        assert!(found.violations.is_empty());
        assert_eq!(
            found
                .unverified
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "seccomp: the profile's identity cannot be verified at the node: any confining profile is accepted for localhost/a.json, localhost/b.json"
            ]
        );
        assert_eq!(
            messages("runc-spec-default", &["localhost/a.json"], false),
            [
                "seccomp: container runs without a seccomp profile (unconfined); allowed: localhost/a.json"
            ]
        );
    }

    #[test]
    fn empty_list_admits_no_profile() {
        assert_eq!(
            messages(CONTAINERD, &[], false),
            [
                "seccomp: container runs with a seccomp profile (default action SCMP_ACT_ERRNO); allowed: none"
            ]
        );
    }

    #[test]
    fn confined_container_is_denied_when_only_unconfined_is_allowed() {
        assert_eq!(
            messages(CONTAINERD, &["unconfined"], false),
            [
                "seccomp: container runs with a seccomp profile (default action SCMP_ACT_ERRNO); allowed: unconfined"
            ]
        );
    }
}
