//! `seccomp`: the seccomp profile of the container (PSP annotation
//! `seccomp.security.alpha.kubernetes.io/allowedProfileNames`, PSS
//! `seccompProfile.type`).
//!
//! Evidence: `linux.seccomp`. Absent or null is unconfined; a profile whose
//! default action allows every syscall (`SCMP_ACT_ALLOW`, or `SCMP_ACT_LOG`,
//! which allows and logs) confines nothing and counts as unconfined too.
//! - `runtime/default`, `docker/default`, `localhost/<name>`: any confining
//!   profile is admitted;
//! - `unconfined`: an unconfined container is admitted; a policy that allows
//!   unset profiles (PSS baseline) also admits a container with no seccomp at
//!   all, but not one with an allow-everything profile.
//!
//! Not verifiable at the node: which profile it is. config.json holds the
//! compiled rules, not a name, so a policy allowing only `localhost/<name>`
//! profiles is reported unverified for any confining profile.

use crate::checks::Findings;
use crate::container::ContainerView;
use crate::policy::Policy;

const FIELD: &str = "seccomp";

/// Default actions that let every syscall through.
const ALLOW_ALL_ACTIONS: &[&str] = &["SCMP_ACT_ALLOW", "SCMP_ACT_LOG"];

pub fn check(view: &ContainerView, policy: &Policy, findings: &mut Findings) {
    let Some(allowed) = &policy.seccomp.allowed else {
        return;
    };
    if listed(allowed, "*") {
        return;
    }
    match view.seccomp_default_action.as_deref() {
        Some(action) if !ALLOW_ALL_ACTIONS.contains(&action) => confined(action, allowed, findings),
        _ if listed(allowed, "unconfined") => {}
        Some(action) => findings.deny(
            FIELD,
            format!(
                "container's seccomp profile allows every syscall (default action {action}); allowed: {}",
                describe_allowed(allowed)
            ),
        ),
        None if policy.seccomp.allow_unset => {}
        None => findings.deny(
            FIELD,
            format!(
                "container runs without a seccomp profile (unconfined); allowed: {}",
                describe_allowed(allowed)
            ),
        ),
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
        findings.deny(
            FIELD,
            format!(
                "container runs with a seccomp profile (default action {action}); allowed: {}",
                describe_allowed(allowed)
            ),
        );
    } else {
        findings.unverified(
            FIELD,
            format!(
                "the profile's identity cannot be verified at the node: any confining profile is accepted for {}",
                localhost.join(", ")
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures;
    use crate::policy::{Origin, ProfileRule};

    fn findings(view: &ContainerView, allowed: Option<&[&str]>, allow_unset: bool) -> Findings {
        let mut p = Policy::closed("test", Origin::Builtin);
        p.seccomp = ProfileRule {
            allowed: allowed.map(|list| list.iter().map(ToString::to_string).collect()),
            allow_unset,
        };
        let mut findings = Findings::default();
        check(view, &p, &mut findings);
        findings
    }

    fn messages(name: &str, allowed: &[&str], allow_unset: bool) -> Vec<String> {
        let found = findings(&fixtures::view(name), Some(allowed), allow_unset);
        assert!(found.unverified.is_empty());
        found.violations.iter().map(ToString::to_string).collect()
    }

    fn with_default_action(action: &str) -> ContainerView<'static> {
        let json = format!(
            r#"{{"ociVersion":"1.0.2","process":{{"user":{{"uid":0,"gid":0}},"cwd":"/"}},
                "root":{{"path":"rootfs"}},
                "linux":{{"seccomp":{{"defaultAction":"{action}","syscalls":[]}}}}}}"#
        );
        fixtures::view_of("seccomp", json.as_bytes())
    }

    const UNCONFINED: &[&str] = &[
        "podman-seccomp-unconfined",
        "runc-spec-default",
        "podman-privileged",
    ];

    #[test]
    fn no_restriction_admits_everything() {
        for name in UNCONFINED {
            assert_eq!(
                findings(&fixtures::view(name), None, false),
                Findings::default()
            );
            assert!(messages(name, &["*"], false).is_empty());
        }
    }

    #[test]
    fn confined_container_passes_runtime_default() {
        assert_eq!(
            fixtures::view("podman-default")
                .seccomp_default_action
                .as_deref(),
            Some("SCMP_ACT_ERRNO")
        );
        assert!(messages("podman-default", &["runtime/default"], false).is_empty());
        assert!(
            messages(
                "podman-default",
                &["docker/default", "localhost/x.json"],
                false
            )
            .is_empty()
        );
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
    fn allow_everything_profile_is_unconfined_but_not_unset() {
        for action in ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG"] {
            let view = with_default_action(action);
            let found = findings(&view, Some(&["runtime/default"]), true);
            assert_eq!(
                found
                    .violations
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
                [format!(
                    "seccomp: container's seccomp profile allows every syscall (default action {action}); allowed: runtime/default"
                )]
            );
            assert!(
                findings(&view, Some(&["unconfined"]), false)
                    .violations
                    .is_empty()
            );
        }
        // a deny-by-default profile from another runtime is confining
        let errno = with_default_action("SCMP_ACT_KILL_PROCESS");
        assert_eq!(
            findings(&errno, Some(&["runtime/default"]), false),
            Findings::default()
        );
    }

    #[test]
    fn localhost_only_is_unverified_for_a_confining_profile() {
        let found = findings(
            &fixtures::view("podman-default"),
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
            messages("podman-default", &[], false),
            [
                "seccomp: container runs with a seccomp profile (default action SCMP_ACT_ERRNO); allowed: none"
            ]
        );
    }

    #[test]
    fn confined_container_is_denied_when_only_unconfined_is_allowed() {
        assert_eq!(
            messages("podman-default", &["unconfined"], false),
            [
                "seccomp: container runs with a seccomp profile (default action SCMP_ACT_ERRNO); allowed: unconfined"
            ]
        );
    }
}
