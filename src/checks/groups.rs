//! `supplementalGroups` (and the gid side of `fsGroup`): the supplementary
//! gids of the container process.
//!
//! Evidence: `process.user.additionalGids`, on both sides of the user
//! namespace (a gid mapped to host gid 0 is judged as 0). kubelet merges a pod's
//! supplementalGroups and fsGroup into that one list, and the node cannot
//! tell which gid came from which, so each gid must be admitted by either
//! rule. A gid equal to the primary `process.user.gid` is skipped: containerd
//! and podman repeat the primary gid there, and it is judged by `runAsGroup` —
//! unless it is group root on the host, which every group rule judges as 0.
//!
//! Not verifiable at the node: fsGroup's volume ownership (kubelet chowns
//! volumes before the container exists); and `MustRunAs` requiring at least
//! one group — a container without supplementary gids holds no privilege, the
//! defaulting is admission's job, so that is not a violation here.

use crate::checks::Findings;
use crate::checks::run_as_user::{admitted_ids, host_root};
use crate::container::ContainerView;
use crate::policy::Policy;

const FIELD: &str = "supplementalGroups";

pub fn check(view: &ContainerView, policy: &Policy, findings: &mut Findings) {
    let mut gids: Vec<u32> = view
        .additional_gids
        .iter()
        .copied()
        // The primary gid repeated is judged by runAsGroup, unless it is
        // group root on the host: then every group rule judges it as 0.
        .filter(|&gid| gid != view.gid || host_root(view, gid, false))
        .collect();
    gids.sort_unstable();
    gids.dedup();
    let admitted = |gid| policy.supplemental_groups.admits(gid) || policy.fs_group.admits(gid);
    for gid in gids {
        if host_root(view, gid, false) && !admitted(0) {
            findings.deny(FIELD, || {
                format!(
                    "supplementary gid {gid} is group root on the host (the container's user \
                     namespace maps it to host gid 0)"
                )
            });
        } else if !admitted(gid) {
            findings.deny(FIELD, || {
                format!(
                    "supplementary gid {gid} not in {} (supplementalGroups) nor {} (fsGroup)",
                    admitted_ids(&policy.supplemental_groups),
                    admitted_ids(&policy.fs_group)
                )
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::policy::{IdRange, IdRule, Origin};

    fn range(min: u32, max: u32) -> IdRule {
        IdRule::MustRunAs(vec![IdRange { min, max }])
    }

    fn policy(supplemental: IdRule, fs: IdRule) -> Policy {
        let mut p = Policy::closed("test", Origin::Builtin);
        p.supplemental_groups = supplemental;
        p.fs_group = fs;
        p
    }

    fn messages(view: &ContainerView, policy: &Policy) -> Vec<String> {
        fixtures::violations(check, view, policy)
    }

    fn restricted() -> Policy {
        policy(range(32767, 32767), range(32767, 32767))
    }

    #[test]
    fn primary_gid_repeated_in_additional_gids_is_skipped() {
        for name in ["ctr-run-default", "podman-root-user"] {
            let view = fixtures::view(name);
            assert_eq!(view.additional_gids, [0], "{name}");
            assert!(messages(&view, &restricted()).is_empty(), "{name}");
        }
    }

    #[test]
    fn admitted_supplementary_gid_passes() {
        assert!(messages(&fixtures::view("podman-restricted-ok"), &restricted()).is_empty());
        assert!(messages(&fixtures::view("runc-restricted-ok"), &restricted()).is_empty());
    }

    fn extra_root_group() -> ContainerView<'static> {
        fixtures::view_of(
            "extra-root-group",
            br#"{"ociVersion":"1.0.2",
                "process":{"user":{"uid":32767,"gid":32767,"additionalGids":[0,32767,0]},"cwd":"/"},
                "root":{"path":"rootfs"}}"#,
        )
    }

    #[test]
    fn other_supplementary_gid_is_denied_once() {
        assert_eq!(
            messages(&extra_root_group(), &restricted()),
            [
                "supplementalGroups: supplementary gid 0 not in 32767 (supplementalGroups) nor 32767 (fsGroup)"
            ]
        );
    }

    #[test]
    fn either_rule_admits_a_gid() {
        let view = extra_root_group();
        assert!(messages(&view, &policy(range(0, 10), range(32767, 32767))).is_empty());
        assert!(messages(&view, &policy(range(32767, 32767), range(0, 0))).is_empty());
        assert!(messages(&view, &policy(IdRule::RunAsAny, range(1, 5))).is_empty());
        assert!(messages(&view, &policy(range(1, 5), IdRule::RunAsAny)).is_empty());
        assert_eq!(
            messages(&view, &policy(range(1, 5), range(7, 7))),
            [
                "supplementalGroups: supplementary gid 0 not in 1-5 (supplementalGroups) nor 7 (fsGroup)"
            ]
        );
    }
}
