//! PSP `readOnlyRootFilesystem`.
//!
//! Evidence: `root.readonly` in config.json. Only the root filesystem is
//! judged: writable volumes and the tmpfs mounts a runtime adds for a
//! read-only container (podman `--read-only`: `/run`, `/tmp`, `/var/tmp`) are
//! the volume checks' business, as in Kubernetes.
//!
//! Not verifiable at the node: nothing.

use crate::checks::Findings;
use crate::container::ContainerView;
use crate::policy::Policy;

pub fn check(view: &ContainerView, policy: &Policy, findings: &mut Findings) {
    if policy.read_only_root_filesystem && !view.root_readonly {
        findings.deny("readOnlyRootFilesystem", || "root filesystem is writable");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::policy::Origin;

    fn messages(fixture: &str, read_only: bool) -> Vec<String> {
        let mut policy = Policy::closed("test", Origin::Builtin);
        policy.read_only_root_filesystem = read_only;
        let mut findings = Findings::default();
        check(&fixtures::view(fixture), &policy, &mut findings);
        assert!(findings.unverified.is_empty());
        findings.violations.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn writable_root_denied_when_required_read_only() {
        assert_eq!(
            messages("podman-default", true),
            ["readOnlyRootFilesystem: root filesystem is writable"]
        );
        assert!(messages("podman-default", false).is_empty());
    }

    #[test]
    fn read_only_root_passes() {
        assert!(messages("podman-restricted-ok", true).is_empty());
        assert!(messages("runc-spec-default", true).is_empty());
    }
}
