//! `allowPrivilegeEscalation`: whether the process may gain privileges after
//! start (setuid/setgid binaries, file capabilities).
//!
//! Evidence: `process.noNewPrivileges`. With `allowPrivilegeEscalation: false`
//! it must be `true`; podman omits the key unless asked, which means `false`.
//!
//! Not verifiable at the node: nothing beyond this flag — Kubernetes' rule that
//! privileged or CAP_SYS_ADMIN containers always escalate is judged by the
//! `privileged` and capabilities checks.

use crate::checks::Findings;
use crate::container::ContainerView;
use crate::policy::Policy;

const FIELD: &str = "allowPrivilegeEscalation";

pub fn check(view: &ContainerView, policy: &Policy, findings: &mut Findings) {
    if !policy.allow_privilege_escalation && !view.no_new_privileges {
        findings.deny(
            FIELD,
            || "noNewPrivileges is not set: the process may gain privileges (setuid, file capabilities)",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::policy::Origin;

    fn messages(name: &str, allow: bool) -> Vec<String> {
        let mut p = Policy::closed("test", Origin::Builtin);
        p.allow_privilege_escalation = allow;
        fixtures::violations(check, &fixtures::view(name), &p)
    }

    #[test]
    fn missing_no_new_privileges_is_denied() {
        assert_eq!(
            messages("podman-default", false),
            [
                "allowPrivilegeEscalation: noNewPrivileges is not set: the process may gain privileges (setuid, file capabilities)"
            ]
        );
    }

    #[test]
    fn no_new_privileges_passes() {
        for name in [
            "podman-restricted-ok",
            "runc-spec-default",
            "ctr-run-default",
        ] {
            assert!(messages(name, false).is_empty(), "{name}");
        }
    }

    #[test]
    fn allowed_escalation_needs_nothing() {
        assert!(messages("podman-default", true).is_empty());
    }
}
