//! `runAsGroup`: the primary gid the container process starts with.
//!
//! Evidence: `process.user.gid`, on both sides of the user namespace (a gid
//! mapped to host gid 0 is judged as 0; see `run_as_user`). `MustRunAs`/
//! `MayRunAs`: the gid is in one of the ranges (the runtime always sets a
//! gid, so "if set" always applies).
//! The supplementary gids are judged by `supplementalGroups` (groups.rs).
//!
//! Not verifiable at the node: a process that changes its gid after start
//! (setgid binaries) — see `allowPrivilegeEscalation`.

use crate::checks::Findings;
use crate::checks::run_as_user::{admitted_ids, host_root, host_side_unknown};
use crate::container::ContainerView;
use crate::policy::Policy;

const FIELD: &str = "runAsGroup";

pub fn check(view: &ContainerView, policy: &Policy, findings: &mut Findings) {
    let rule = &policy.run_as_group;
    host_side_unknown(view, FIELD, rule, findings);
    if host_root(view, view.gid, false) && !rule.admits(0) {
        findings.deny(FIELD, || {
            format!(
                "gid {} is group root on the host (the container's user namespace maps it to \
                 host gid 0) but {} is required",
                view.gid,
                admitted_ids(rule)
            )
        });
    } else if !rule.admits(view.gid) {
        findings.deny(FIELD, || {
            format!("gid {} not in {}", view.gid, admitted_ids(rule))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::policy::{IdRange, IdRule, Origin};

    fn messages(name: &str, rule: IdRule) -> Vec<String> {
        let mut p = Policy::closed("test", Origin::Builtin);
        p.run_as_group = rule;
        fixtures::violations(check, &fixtures::view(name), &p)
    }

    fn range(min: u32, max: u32) -> IdRule {
        IdRule::MustRunAs(vec![IdRange { min, max }])
    }

    #[test]
    fn root_group_is_denied_by_ranges() {
        for name in ["podman-default", "podman-root-user", "ctr-run-default"] {
            assert_eq!(
                messages(name, range(1000, 2000)),
                ["runAsGroup: gid 0 not in 1000-2000"],
                "{name}"
            );
        }
    }

    #[test]
    fn gid_in_range_is_admitted() {
        for name in ["podman-restricted-ok", "runc-restricted-ok"] {
            assert!(messages(name, range(32767, 32767)).is_empty(), "{name}");
            assert_eq!(
                messages(name, range(1000, 2000)),
                ["runAsGroup: gid 32767 not in 1000-2000"],
                "{name}"
            );
        }
    }

    #[test]
    fn run_as_any_admits_root_group() {
        assert!(messages("podman-root-user", IdRule::RunAsAny).is_empty());
    }
}
