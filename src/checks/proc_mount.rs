//! PSP `allowedProcMountTypes` (reported under field `procMount`).
//!
//! Evidence: `linux.maskedPaths` and `linux.readonlyPaths`. The runtime's
//! Default proc mount masks and write-protects parts of `/proc` and `/sys`
//! through both lists; kubelet's Unmasked proc mount type empties them (podman
//! `unmask=ALL` and `--privileged` leave the keys out). The container is
//! Default only when both lists hold every entry the runtimes' default lists
//! share (`/proc/sys` and `/proc/sysrq-trigger` read-only among them); with
//! anything less it is Unmasked (see `container::proc_masks`).

use crate::checks::Findings;
use crate::container::ContainerView;
use crate::policy::{Policy, ProcMountType};

pub fn check(view: &ContainerView, policy: &Policy, findings: &mut Findings) {
    let Some(reason) = view.proc_unmasked.as_deref() else {
        return;
    };
    if policy.unmasked_proc_in_user_namespace && view.root_is_unprivileged_on_host() {
        return;
    }
    if !policy
        .allowed_proc_mount_types
        .contains(&ProcMountType::Unmasked)
    {
        findings.deny("procMount", || {
            format!("/proc is unmasked ({reason}) but only Default is allowed")
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::policy::Origin;

    fn messages(view: &ContainerView, allowed: &[ProcMountType]) -> Vec<String> {
        let mut policy = Policy::closed("test", Origin::Builtin);
        policy.allowed_proc_mount_types = allowed.to_vec();
        let mut findings = Findings::default();
        check(view, &policy, &mut findings);
        assert!(findings.unverified.is_empty());
        findings.violations.iter().map(|v| v.to_string()).collect()
    }

    const DENIED: &str =
        "procMount: /proc is unmasked (no maskedPaths/readonlyPaths) but only Default is allowed";

    #[test]
    fn user_namespace_relaxation_only_where_the_policy_has_it() {
        let mut config: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/podman-userns.json"
            ))
            .unwrap(),
        )
        .unwrap();
        config["linux"]["maskedPaths"] = serde_json::json!([]);
        let view = fixtures::view_of("userns-unmasked", config.to_string().as_bytes());
        let mut policy = Policy::closed("test", Origin::Builtin);
        assert_eq!(fixtures::violations(check, &view, &policy).len(), 1);
        policy.unmasked_proc_in_user_namespace = true;
        assert!(fixtures::violations(check, &view, &policy).is_empty());
        // without a user namespace the relaxation does not apply
        let plain = fixtures::view("podman-unmasked");
        assert_eq!(fixtures::violations(check, &plain, &policy).len(), 1);
    }

    #[test]
    fn default_proc_mount_passes() {
        for fixture in ["podman-default", "ctr-run-default", "runc-spec-default"] {
            let view = fixtures::view(fixture);
            assert!(
                messages(&view, &[ProcMountType::Default]).is_empty(),
                "{fixture}"
            );
        }
    }

    #[test]
    fn unmasked_denied_unless_allowed() {
        for fixture in ["podman-unmasked", "podman-privileged", "ctr-run-privileged"] {
            let view = fixtures::view(fixture);
            assert_eq!(
                messages(&view, &[ProcMountType::Default]),
                [DENIED],
                "{fixture}"
            );
            assert_eq!(messages(&view, &[]), [DENIED], "{fixture}");
            let both = [ProcMountType::Default, ProcMountType::Unmasked];
            assert!(messages(&view, &both).is_empty(), "{fixture}");
        }
    }

    /// Default needs every entry the runtimes' default lists share: one
    /// missing read-only path is enough to be Unmasked.
    #[test]
    fn anything_less_than_the_default_lists_is_unmasked() {
        use crate::container::proc_masks::{REQUIRED_MASKED, REQUIRED_READONLY};
        let without = |list: &[&str], gone: &str| -> Vec<String> {
            list.iter()
                .filter(|p| **p != gone)
                .map(|p| p.to_string())
                .collect()
        };
        for (masked, readonly, missing) in [
            (without(REQUIRED_MASKED, ""), vec![], "no readonlyPaths"),
            (vec![], without(REQUIRED_READONLY, ""), "no maskedPaths"),
            (
                without(REQUIRED_MASKED, ""),
                without(REQUIRED_READONLY, "/proc/sys"),
                "readonlyPaths lacks /proc/sys",
            ),
            (
                without(REQUIRED_MASKED, "/proc/kcore"),
                without(REQUIRED_READONLY, ""),
                "maskedPaths lacks /proc/kcore",
            ),
        ] {
            let json = serde_json::json!({"ociVersion": "1.0.2", "root": {"path": "rootfs"},
                "linux": {"maskedPaths": masked, "readonlyPaths": readonly}});
            let view = fixtures::view_of("trimmed", json.to_string().as_bytes());
            let found = messages(&view, &[ProcMountType::Default]);
            assert_eq!(found.len(), 1);
            assert!(found[0].contains(missing), "{found:?}");
        }
    }
}
