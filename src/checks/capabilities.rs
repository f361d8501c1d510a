//! `requiredDropCapabilities`, `allowedCapabilities` (and
//! `defaultAddCapabilities`, which count as allowed): the capabilities the
//! container process holds.
//!
//! Evidence: every capability in any of the five sets of
//! `process.capabilities`, by name (`CAP_X`), so a capability newer than this
//! build is judged like any other. PSP's lists speak of capabilities *added* to
//! the runtime's default set, but config.json shows the resulting sets, so:
//! - a capability named in requiredDropCapabilities must be in no set;
//! - `ALL` there empties the default set: only allowedCapabilities and
//!   defaultAddCapabilities may remain;
//! - otherwise the admitted set is (runtime default − requiredDrop) ∪
//!   allowedCapabilities ∪ defaultAddCapabilities, `*` admitting everything.
//!
//! Not verifiable at the node: which capabilities the pod asked to add or drop
//! (only the result is visible). The runtime default set is
//! `policy::capabilities::RUNTIME_DEFAULT_CAPABILITIES` (containerd's, a superset of CRI-O's and
//! podman's), not yet read from node configuration.

use crate::checks::Findings;
use crate::container::ContainerView;
use crate::container::capabilities::normalize;
use crate::policy::Policy;
use crate::policy::capabilities::{RUNTIME_DEFAULT_CAPABILITIES, judged_on};

/// The policy's capability lists, normalized once.
struct Rules {
    /// Named in requiredDropCapabilities.
    drop: Vec<String>,
    /// `ALL` in requiredDropCapabilities.
    drop_all: bool,
    /// allowedCapabilities ∪ defaultAddCapabilities.
    explicit: Vec<String>,
    /// `*` in allowedCapabilities.
    any: bool,
}

impl Rules {
    fn of(policy: &Policy) -> Rules {
        let is_all =
            |c: &&String| c.eq_ignore_ascii_case("ALL") || c.eq_ignore_ascii_case("CAP_ALL");
        let is_star = |c: &&String| *c == "*" || *c == "CAP_*";
        let drop = &policy.required_drop_capabilities;
        let allowed = &policy.allowed_capabilities;
        Rules {
            drop: drop
                .iter()
                .filter(|c| !is_all(c))
                .map(|c| normalize(c))
                .collect(),
            drop_all: drop.iter().any(|c| is_all(&c)),
            explicit: allowed
                .iter()
                .chain(&policy.default_add_capabilities)
                .filter(|c| !is_star(c))
                .map(|c| normalize(c))
                .collect(),
            any: allowed.iter().any(|c| is_star(&c)),
        }
    }

    fn explicitly_allowed(&self, cap: &str) -> bool {
        self.any || self.explicit.iter().any(|c| c == cap)
    }

    fn in_default_set(&self, cap: &str) -> bool {
        !self.drop_all && RUNTIME_DEFAULT_CAPABILITIES.contains(&cap)
    }
}

pub fn check(view: &ContainerView, policy: &Policy, findings: &mut Findings) {
    let rules = Rules::of(policy);
    // Each capability once, with the sets holding it described already.
    // Messages are concatenated, not formatted: with many policies they
    // were the checks' main cost.
    for held in view.capabilities.held() {
        let (cap, sets) = (held.name.as_str(), held.described.as_str());
        if !judged_on(cap, view.identity.sandbox) {
            continue;
        }
        if rules.drop.iter().any(|d| d == cap) {
            findings.deny("requiredDropCapabilities", || {
                [cap, " must be dropped but is in ", sets].concat()
            });
        } else if rules.explicitly_allowed(cap) || rules.in_default_set(cap) {
            continue;
        } else if rules.drop_all {
            findings.deny("requiredDropCapabilities", || {
                [
                    cap,
                    " must be dropped (requiredDropCapabilities: ALL) but is in ",
                    sets,
                ]
                .concat()
            });
        } else {
            findings.deny("allowedCapabilities", || {
                [cap, " is not allowed (in ", sets, ")"].concat()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::policy::Origin;

    fn caps(list: &[&str]) -> Vec<String> {
        list.iter().map(ToString::to_string).collect()
    }

    fn policy(drop: &[&str], allowed: &[&str], default_add: &[&str]) -> Policy {
        let mut p = Policy::closed("test", Origin::Builtin);
        p.required_drop_capabilities = caps(drop);
        p.allowed_capabilities = caps(allowed);
        p.default_add_capabilities = caps(default_add);
        p
    }

    fn messages(view: &ContainerView, policy: &Policy) -> Vec<String> {
        fixtures::violations(check, view, policy)
    }

    fn fixture(name: &str, policy: &Policy) -> Vec<String> {
        messages(&fixtures::view(name), policy)
    }

    #[test]
    fn runtime_defaults_pass_an_empty_policy() {
        let empty = policy(&[], &[], &[]);
        for name in [
            "podman-default",
            "ctr-run-default",
            "runc-spec-default",
            "podman-restricted-ok",
        ] {
            assert_eq!(fixture(name, &empty), Vec::<String>::new(), "{name}");
        }
        assert_eq!(
            fixtures::view("ctr-run-default").capabilities.all().len(),
            14
        );
    }

    #[test]
    fn added_capabilities_are_denied() {
        assert_eq!(
            fixture("podman-cap-add", &policy(&[], &[], &[])),
            [
                "allowedCapabilities: CAP_NET_ADMIN is not allowed (in the bounding, effective, permitted sets)",
                "allowedCapabilities: CAP_SYS_ADMIN is not allowed (in the bounding, effective, permitted sets)",
            ]
        );
    }

    #[test]
    fn allowed_and_default_add_capabilities_are_admitted() {
        assert_eq!(
            fixture("podman-cap-add", &policy(&[], &["NET_ADMIN"], &[])),
            [
                "allowedCapabilities: CAP_SYS_ADMIN is not allowed (in the bounding, effective, permitted sets)"
            ]
        );
        assert!(
            fixture(
                "podman-cap-add",
                &policy(&[], &["CAP_NET_ADMIN"], &["CAP_SYS_ADMIN"])
            )
            .is_empty()
        );
        assert!(fixture("podman-privileged", &policy(&[], &["*"], &[])).is_empty());
    }

    #[test]
    fn privileged_holds_many_forbidden_capabilities() {
        let found = fixture("podman-privileged", &policy(&[], &[], &[]));
        assert!(found.len() > 20, "{found:?}");
        assert!(found.contains(
            &"allowedCapabilities: CAP_SYS_ADMIN is not allowed (in the bounding, effective, permitted sets)".to_string()
        ));
        assert!(found.iter().all(|m| m.starts_with("allowedCapabilities: ")));
        assert!(
            !found.iter().any(|m| m.contains("CAP_CHOWN")),
            "default set is admitted"
        );
    }

    #[test]
    fn required_drop_capability_must_be_in_no_set() {
        assert_eq!(
            fixture("ctr-run-default", &policy(&["NET_RAW"], &[], &[])),
            [
                "requiredDropCapabilities: CAP_NET_RAW must be dropped but is in the bounding, effective, permitted sets"
            ]
        );
        // dropping a default capability removes it from the admitted set only
        assert!(fixture("podman-default", &policy(&["CAP_NET_RAW"], &[], &[])).is_empty());
        // explicitly allowing it does not override the drop
        assert_eq!(
            fixture("runc-spec-default", &policy(&["CAP_KILL"], &["*"], &[])),
            [
                "requiredDropCapabilities: CAP_KILL must be dropped but is in the bounding, effective, permitted, ambient sets"
            ]
        );
    }

    #[test]
    fn drop_all_admits_only_explicit_capabilities() {
        let drop_all = policy(&["ALL"], &[], &[]);
        assert!(fixture("podman-restricted-ok", &drop_all).is_empty());
        assert!(fixture("runc-restricted-ok", &drop_all).is_empty());
        let found = fixture("podman-default", &drop_all);
        assert_eq!(found.len(), 11);
        assert_eq!(
            found[0],
            "requiredDropCapabilities: CAP_CHOWN must be dropped (requiredDropCapabilities: ALL) but is in the bounding, effective, permitted sets"
        );
        assert_eq!(
            fixture(
                "runc-spec-default",
                &policy(&["ALL"], &["NET_BIND_SERVICE"], &["CAP_KILL"])
            ),
            [
                "requiredDropCapabilities: CAP_AUDIT_WRITE must be dropped (requiredDropCapabilities: ALL) but is in the bounding, effective, permitted, ambient sets"
            ]
        );
    }

    #[test]
    fn unknown_capability_is_judged_by_name() {
        let view = fixtures::view_of(
            "future-cap",
            br#"{"ociVersion":"1.0.2",
                "process":{"user":{"uid":0,"gid":0},"cwd":"/",
                           "capabilities":{"bounding":["CAP_KILL","CAP_FUTURE_THING"],"ambient":["cap_future_thing"],"inheritable":["CAP_KILL"]}},
                "root":{"path":"rootfs"}}"#,
        );
        assert_eq!(
            messages(&view, &policy(&[], &[], &[])),
            [
                "allowedCapabilities: CAP_FUTURE_THING is not allowed (in the bounding, ambient sets)"
            ]
        );
        assert!(messages(&view, &policy(&[], &["FUTURE_THING"], &[])).is_empty());
        assert_eq!(
            messages(&view, &policy(&["ALL"], &["FUTURE_THING"], &[])),
            [
                "requiredDropCapabilities: CAP_KILL must be dropped (requiredDropCapabilities: ALL) but is in the bounding, inheritable sets"
            ]
        );
        let inheritable_only = fixtures::view_of(
            "inheritable-only",
            br#"{"ociVersion":"1.0.2",
                "process":{"user":{"uid":0,"gid":0},"cwd":"/",
                           "capabilities":{"inheritable":["CAP_SYS_MODULE"]}},
                "root":{"path":"rootfs"}}"#,
        );
        assert_eq!(
            messages(&inheritable_only, &policy(&[], &[], &[])),
            ["allowedCapabilities: CAP_SYS_MODULE is not allowed (in the inheritable set)"]
        );
    }
}
