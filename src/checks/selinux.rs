//! `seLinux`: the SELinux context the container process runs in.
//!
//! Evidence: `process.selinuxLabel`, `user:role:type:level` (the level may
//! itself hold colons: `s0:c1,c2`). Runtimes always write a full label with
//! their own defaults, so the Pod Security Standards' "user and role unset"
//! is, at the node, "the runtime's default user and role".
//! - `MustRunAs`: each field set in seLinuxOptions equals the label's (levels
//!   compare as Kubernetes does: same sensitivity, same set of categories).
//! - Pod Security Standards: the type is one of the allowed types, user and
//!   role are the runtime's defaults; the level is free.
//!
//! Not verifiable at the node: a label on a host without SELinux — the runtime
//! writes none, so `MustRunAs` is reported unverified (a PSS rule forbids
//! settings, and nothing set means nothing to forbid). Volume relabelling
//! (`linux.mountLabel`) is not judged.

use crate::checks::Findings;
use crate::container::ContainerView;
use crate::policy::{Policy, SeLinuxOptions, SeLinuxRule};

const FIELD: &str = "seLinux";

/// The four fields of a label; missing ones are `None`.
struct Label<'a> {
    text: &'a str,
    user: Option<&'a str>,
    role: Option<&'a str>,
    type_: Option<&'a str>,
    level: Option<&'a str>,
}

impl<'a> Label<'a> {
    fn parse(text: &'a str) -> Label<'a> {
        // an empty field stays in place (`system_u::spc_t` has no role)
        let mut parts = text
            .splitn(4, ':')
            .map(|p| Some(p.trim()).filter(|p| !p.is_empty()));
        let mut next = || parts.next().flatten();
        Label {
            text,
            user: next(),
            role: next(),
            type_: next(),
            level: next(),
        }
    }

    /// `has type spc_t` / `has no type`, for messages.
    fn has(&self, what: &str, value: Option<&str>) -> String {
        match value {
            Some(v) => format!("label {} has {what} {v}", self.text),
            None => format!("label {} has no {what}", self.text),
        }
    }
}

pub fn check(view: &ContainerView, policy: &Policy, findings: &mut Findings) {
    let label = view
        .selinux_label
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(Label::parse);
    match (&policy.selinux, label) {
        (SeLinuxRule::RunAsAny, _) => {}
        (SeLinuxRule::MustRunAs(opts), None) if requires_anything(opts) => findings.unverified(
            FIELD,
            || "no SELinux label in config.json (SELinux is not enabled for this container); seLinuxOptions cannot be enforced",
        ),
        (SeLinuxRule::MustRunAs(opts), Some(label)) => must_run_as(opts, &label, findings),
        (SeLinuxRule::MustRunAs(_) | SeLinuxRule::Pss { .. }, None) => {}
        (
            SeLinuxRule::Pss {
                types,
                default_user,
                default_role,
            },
            Some(label),
        ) => pss(types, default_user, default_role, &label, findings),
    }
}

fn requires_anything(opts: &SeLinuxOptions) -> bool {
    opts.user.is_some() || opts.role.is_some() || opts.type_.is_some() || opts.level.is_some()
}

fn must_run_as(opts: &SeLinuxOptions, label: &Label, findings: &mut Findings) {
    let fields = [
        ("user", &opts.user, label.user),
        ("role", &opts.role, label.role),
        ("type", &opts.type_, label.type_),
    ];
    for (what, wanted, actual) in fields {
        if let Some(wanted) = wanted
            && actual != Some(wanted.as_str())
        {
            let has = label.has(what, actual);
            findings.deny(FIELD, || format!("{has}, policy requires {wanted}"));
        }
    }
    if let Some(wanted) = &opts.level
        && !label.level.is_some_and(|l| equal_levels(wanted, l))
    {
        let has = label.has("level", label.level);
        findings.deny(FIELD, || format!("{has}, policy requires {wanted}"));
    }
}

/// Kubernetes' comparison: `s0:c1,c2` equals `s0:c2,c1`.
fn equal_levels(wanted: &str, actual: &str) -> bool {
    if wanted == actual {
        return true;
    }
    match (wanted.split_once(':'), actual.split_once(':')) {
        (Some((ws, wc)), Some((acs, ac))) => ws == acs && categories(wc) == categories(ac),
        _ => false,
    }
}

fn categories(list: &str) -> Vec<&str> {
    let mut cats: Vec<&str> = list.split(',').map(str::trim).collect();
    cats.sort_unstable();
    cats.dedup();
    cats
}

fn pss(types: &[String], user: &str, role: &str, label: &Label, findings: &mut Findings) {
    if !label.type_.is_some_and(|t| types.iter().any(|a| a == t)) {
        let has = label.has("type", label.type_);
        findings.deny(FIELD, || {
            format!("{has}, allowed types: {}", types.join(", "))
        });
    }
    for (what, default, actual) in [("user", user, label.user), ("role", role, label.role)] {
        if actual != Some(default) {
            let has = label.has(what, actual);
            findings.deny(FIELD, || {
                format!("{has}, only the runtime default {default} is allowed")
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::policy::Origin;

    fn labelled(label: &str) -> ContainerView<'static> {
        let json = format!(
            r#"{{"ociVersion":"1.0.2",
                "process":{{"user":{{"uid":0,"gid":0}},"cwd":"/","selinuxLabel":"{label}"}},
                "root":{{"path":"rootfs"}}}}"#
        );
        fixtures::view_of("selinux", json.as_bytes())
    }

    fn findings(view: &ContainerView, rule: SeLinuxRule) -> Findings {
        let mut p = Policy::closed("test", Origin::Builtin);
        p.selinux = rule;
        let mut findings = Findings::default();
        check(view, &p, &mut findings);
        findings
    }

    fn messages(view: &ContainerView, rule: SeLinuxRule) -> Vec<String> {
        let found = findings(view, rule);
        assert!(found.unverified.is_empty());
        found.violations.iter().map(ToString::to_string).collect()
    }

    fn must_type(t: &str) -> SeLinuxRule {
        SeLinuxRule::MustRunAs(SeLinuxOptions {
            type_: Some(t.into()),
            ..Default::default()
        })
    }

    fn pss() -> SeLinuxRule {
        SeLinuxRule::Pss {
            types: vec![
                "container_t".into(),
                "container_init_t".into(),
                "container_kvm_t".into(),
            ],
            default_user: "system_u".into(),
            default_role: "system_r".into(),
        }
    }

    #[test]
    fn fixture_view_carries_the_label() {
        let view = labelled("system_u:system_r:container_t:s0:c1,c2");
        assert_eq!(
            view.selinux_label.as_deref(),
            Some("system_u:system_r:container_t:s0:c1,c2")
        );
    }

    #[test]
    fn run_as_any_admits_everything() {
        assert!(
            messages(
                &labelled("system_u:system_r:spc_t:s0"),
                SeLinuxRule::RunAsAny
            )
            .is_empty()
        );
    }

    #[test]
    fn must_run_as_compares_each_set_field() {
        let confined = labelled("system_u:system_r:container_t:s0:c1,c2");
        assert!(messages(&confined, must_type("container_t")).is_empty());
        assert_eq!(
            messages(
                &labelled("system_u:system_r:spc_t:s0"),
                must_type("container_t")
            ),
            [
                "seLinux: label system_u:system_r:spc_t:s0 has type spc_t, policy requires container_t"
            ]
        );
        let all = SeLinuxRule::MustRunAs(SeLinuxOptions {
            user: Some("system_u".into()),
            role: Some("object_r".into()),
            type_: Some("container_t".into()),
            level: Some("s0:c3".into()),
        });
        assert_eq!(
            messages(&confined, all),
            [
                "seLinux: label system_u:system_r:container_t:s0:c1,c2 has role system_r, policy requires object_r",
                "seLinux: label system_u:system_r:container_t:s0:c1,c2 has level s0:c1,c2, policy requires s0:c3",
            ]
        );
    }

    #[test]
    fn levels_compare_categories_as_a_set() {
        let level = |l: &str| {
            SeLinuxRule::MustRunAs(SeLinuxOptions {
                level: Some(l.into()),
                ..Default::default()
            })
        };
        let view = labelled("system_u:system_r:container_t:s0:c1,c2");
        assert!(messages(&view, level("s0:c2,c1")).is_empty());
        assert_eq!(messages(&view, level("s0:c1")).len(), 1);
        assert_eq!(messages(&view, level("s1:c1,c2")).len(), 1);
        assert_eq!(
            messages(&labelled("system_u:system_r:container_t"), level("s0")),
            ["seLinux: label system_u:system_r:container_t has no level, policy requires s0"]
        );
    }

    #[test]
    fn missing_label_cannot_be_verified() {
        let view = fixtures::view("podman-default");
        assert_eq!(view.selinux_label, None);
        let found = findings(&view, must_type("container_t"));
        assert!(found.violations.is_empty());
        assert_eq!(
            found
                .unverified
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "seLinux: no SELinux label in config.json (SELinux is not enabled for this container); seLinuxOptions cannot be enforced"
            ]
        );
        // a rule that requires nothing has nothing to verify
        let nothing = findings(&view, SeLinuxRule::MustRunAs(SeLinuxOptions::default()));
        assert_eq!(nothing, Findings::default());
    }

    #[test]
    fn pss_admits_runtime_defaults_with_an_allowed_type() {
        assert!(messages(&labelled("system_u:system_r:container_t:s0:c1,c2"), pss()).is_empty());
        assert!(messages(&fixtures::view("podman-default"), pss()).is_empty());
    }

    #[test]
    fn pss_denies_other_types_users_and_roles() {
        assert_eq!(
            messages(&labelled("system_u:system_r:spc_t:s0"), pss()),
            [
                "seLinux: label system_u:system_r:spc_t:s0 has type spc_t, allowed types: container_t, container_init_t, container_kvm_t"
            ]
        );
        assert_eq!(
            messages(&labelled("unconfined_u:system_r:container_t:s0"), pss()),
            [
                "seLinux: label unconfined_u:system_r:container_t:s0 has user unconfined_u, only the runtime default system_u is allowed"
            ]
        );
        assert_eq!(
            messages(&labelled("system_u::container_t:s0"), pss()),
            [
                "seLinux: label system_u::container_t:s0 has no role, only the runtime default system_r is allowed"
            ]
        );
        assert_eq!(
            messages(&labelled("system_u:unconfined_r:container_t:s0"), pss()),
            [
                "seLinux: label system_u:unconfined_r:container_t:s0 has role unconfined_r, only the runtime default system_r is allowed"
            ]
        );
    }
}
