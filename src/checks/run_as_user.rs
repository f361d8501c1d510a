//! `runAsUser`: the uid the container process starts with.
//!
//! Evidence: `process.user.uid`, judged on both sides of the container's user
//! namespace: a uid mapped to host uid 0 (`linux.uidMappings`; in hook mode
//! the kernel's `/proc/<pid>/uid_map`) is root for the rule, whatever it is
//! inside. The Pod Security Standards' user-namespace relaxation applies only
//! where the maps are known and map nothing to host root.
//!
//! `MustRunAs`/`MayRunAs`: the uid is in one of the ranges (the runtime always
//! sets a uid, so "if set" always applies). `MustRunAsNonRoot`: uid ≠ 0,
//! unless the policy has the user-namespace relaxation and container root is
//! an unprivileged host uid.
//!
//! Not verifiable at the node: a process that changes its uid after start
//! (setuid binaries) — see `allowPrivilegeEscalation`.

use crate::checks::Findings;
use crate::container::ContainerView;
use crate::policy::{IdRange, IdRule, Policy, describe_ranges};

const FIELD: &str = "runAsUser";

pub fn check(view: &ContainerView, policy: &Policy, findings: &mut Findings) {
    let rule = &policy.run_as_user;
    host_side_unknown(view, FIELD, rule, findings);
    if host_root(view, view.uid, true) && !rule.admits(0) {
        findings.deny(FIELD, || {
            format!(
                "uid {} is root on the host (the container's user namespace maps it to host \
                 uid 0) but {} is required",
                view.uid,
                admitted_ids(rule)
            )
        });
        return;
    }
    if rule.admits(view.uid) {
        return;
    }
    match rule {
        IdRule::MustRunAsNonRoot if root_is_unprivileged_on_host(view, policy) => {}
        IdRule::MustRunAsNonRoot => findings.deny(
            FIELD,
            || "container runs as root (uid 0) but must run as non-root",
        ),
        _ => findings.deny(FIELD, || {
            format!("uid {} not in {}", view.uid, admitted_ids(rule))
        }),
    }
}

/// Pod Security Standards: running as root inside a user namespace whose
/// root is an unprivileged host uid is not running as root on the host.
fn root_is_unprivileged_on_host(view: &ContainerView, policy: &Policy) -> bool {
    policy.user_namespace_relaxation && view.root_is_unprivileged_on_host()
}

/// Whether container id `id` (a uid, or a gid when `!user`) is host id 0
/// while not 0 inside: root on the host for every user and group rule.
/// Shared with the runAsGroup and supplementalGroups checks.
pub(crate) fn host_root(view: &ContainerView, id: u32, user: bool) -> bool {
    let host = if user {
        view.id_maps.host_uid(id)
    } else {
        view.id_maps.host_gid(id)
    };
    id != 0 && host == Some(0)
}

/// Offline, a user namespace joined by path hides the host side of the
/// ids: said, for a rule that restricts them.
pub(crate) fn host_side_unknown(
    view: &ContainerView,
    field: &'static str,
    rule: &IdRule,
    findings: &mut Findings,
) {
    if let Some(why) = view.id_maps.unknown()
        && *rule != IdRule::RunAsAny
    {
        findings.unverified(field, || format!("the ids on the host side: {why}"));
    }
}

/// The ids an id rule admits, for messages (`1000-2000, 3000`). Shared with
/// the runAsGroup and supplementalGroups checks.
pub(crate) fn admitted_ids(rule: &IdRule) -> String {
    match rule {
        IdRule::RunAsAny => "any id".to_string(),
        IdRule::MustRunAs(ranges) if ranges.is_empty() => "(no ranges)".to_string(),
        IdRule::MustRunAs(ranges) => describe_ranges(ranges),
        IdRule::MustRunAsNonRoot => IdRange {
            min: 1,
            max: u32::MAX,
        }
        .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::policy::Origin;

    fn policy(rule: IdRule) -> Policy {
        let mut p = Policy::closed("test", Origin::Builtin);
        p.run_as_user = rule;
        p
    }

    fn messages(view: &ContainerView, policy: &Policy) -> Vec<String> {
        fixtures::violations(check, view, policy)
    }

    fn range(min: u32, max: u32) -> IdRule {
        IdRule::MustRunAs(vec![IdRange { min, max }])
    }

    #[test]
    fn run_as_any_admits_root() {
        assert!(
            messages(
                &fixtures::view("podman-root-user"),
                &policy(IdRule::RunAsAny)
            )
            .is_empty()
        );
    }

    #[test]
    fn root_is_denied_by_ranges_and_non_root() {
        for name in ["podman-root-user", "podman-default", "ctr-run-default"] {
            let view = fixtures::view(name);
            assert_eq!(
                messages(&view, &policy(range(32767, 32768))),
                ["runAsUser: uid 0 not in 32767-32768"],
                "{name}"
            );
            assert_eq!(
                messages(&view, &policy(IdRule::MustRunAsNonRoot)),
                ["runAsUser: container runs as root (uid 0) but must run as non-root"],
                "{name}"
            );
        }
    }

    #[test]
    fn restricted_uid_is_admitted() {
        for name in ["podman-restricted-ok", "runc-restricted-ok"] {
            let view = fixtures::view(name);
            assert!(
                messages(&view, &policy(range(32767, 32768))).is_empty(),
                "{name}"
            );
            assert!(
                messages(&view, &policy(IdRule::MustRunAsNonRoot)).is_empty(),
                "{name}"
            );
        }
    }

    #[test]
    fn several_ranges_are_listed() {
        let rule = IdRule::MustRunAs(vec![
            IdRange {
                min: 1000,
                max: 1999,
            },
            IdRange {
                min: 3000,
                max: 3000,
            },
        ]);
        assert_eq!(
            messages(&fixtures::view("podman-restricted-ok"), &policy(rule)),
            ["runAsUser: uid 32767 not in 1000-1999, 3000"]
        );
    }

    #[test]
    fn user_namespace_relaxes_non_root_only_when_the_policy_says_so() {
        let view = fixtures::view("podman-userns");
        assert_eq!(view.uid, 0);
        assert_eq!(view.id_maps.host_uid(0), Some(100000));
        let mut p = policy(IdRule::MustRunAsNonRoot);
        assert_eq!(
            messages(&view, &p),
            ["runAsUser: container runs as root (uid 0) but must run as non-root"]
        );
        p.user_namespace_relaxation = true;
        assert!(messages(&view, &p).is_empty());
        // the relaxation is about running as non-root, not about admin ranges
        p.run_as_user = range(1000, 2000);
        assert_eq!(messages(&view, &p), ["runAsUser: uid 0 not in 1000-2000"]);
    }

    #[test]
    fn user_namespace_mapping_root_to_host_root_is_not_relaxed() {
        let view = fixtures::view_of(
            "userns-root",
            br#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/"},
                "root":{"path":"rootfs"},
                "linux":{"namespaces":[{"type":"user"}],
                         "uidMappings":[{"containerID":0,"hostID":0,"size":65536}],
                         "gidMappings":[{"containerID":0,"hostID":0,"size":65536}]}}"#,
        );
        let mut p = policy(IdRule::MustRunAsNonRoot);
        p.user_namespace_relaxation = true;
        assert_eq!(
            messages(&view, &p),
            ["runAsUser: container runs as root (uid 0) but must run as non-root"]
        );
        // without a user namespace the host's root is root
        assert_eq!(messages(&fixtures::view("podman-default"), &p).len(), 1);
    }

    #[test]
    fn empty_ranges_admit_nothing() {
        assert_eq!(
            messages(
                &fixtures::view("podman-restricted-ok"),
                &policy(IdRule::MustRunAs(vec![]))
            ),
            ["runAsUser: uid 32767 not in (no ranges)"]
        );
    }
}
