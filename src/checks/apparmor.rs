//! `apparmor`: the AppArmor profile of the container (PSP annotation
//! `apparmor.security.beta.kubernetes.io/allowedProfileNames`, PSS
//! `appArmorProfile.type`).
//!
//! Evidence: `process.apparmorProfile`. `unconfined` (in any case, in a
//! stack `a//&unconfined`, in a policy namespace `:ns:unconfined`) is
//! unconfined; any other
//! name is a confining profile, admitted by `runtime/default` (runtimes name
//! their defaults differently: containerd `cri-containerd.apparmor.d`, CRI-O
//! `crio-default`, podman `containers-default-…`) or by `localhost/<name>`.
//! No profile at all is ambiguous: containerd leaves it out for unconfined
//! containers, so on a host with AppArmor enabled it means unconfined; on a
//! host without AppArmor the container simply runs without it. Either way it
//! is unconfined: admitted by `unconfined`, or by a policy allowing unset
//! profiles (PSS baseline).
//!
//! Not verifiable at the node: that a profile named like a runtime default is
//! the runtime's default, and what a `localhost/` profile contains.

use crate::checks::Findings;
use crate::checks::seccomp::{describe_allowed, listed};
use crate::container::ContainerView;
use crate::policy::Policy;

const FIELD: &str = "apparmor";

/// Whether the host has AppArmor enabled; false when that cannot be read.
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

/// A profile name that confines nothing: `unconfined` in any case, or a
/// stack (`a//&b`) with `unconfined` in it; also in a policy namespace
/// (`:ns:unconfined`, `:ns://unconfined`) or with a mode as AppArmor shows
/// labels (`unconfined (complain)`).
fn confines_nothing(profile: &str) -> bool {
    profile.split("//&").any(|p| {
        let p = p.trim();
        // `:ns:` or `:ns://` names the profile in that namespace
        let p = match p.strip_prefix(':').and_then(|rest| rest.split_once(':')) {
            Some((_, name)) => name.trim_start_matches("//"),
            None => p,
        };
        let p = p.split_once(" (").map_or(p, |(name, _)| name);
        p.trim().eq_ignore_ascii_case("unconfined")
    })
}

pub fn check(view: &ContainerView, policy: &Policy, findings: &mut Findings) {
    judge(view, policy, apparmor_enabled, findings);
}

/// The check with the host reading passed in (called only when needed).
fn judge(view: &ContainerView, policy: &Policy, enabled: fn() -> bool, findings: &mut Findings) {
    let Some(allowed) = &policy.apparmor.allowed else {
        return;
    };
    if listed(allowed, "*") {
        return;
    }
    let listed_text = describe_allowed(allowed);
    let profile = view
        .apparmor_profile
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| if confines_nothing(p) { "unconfined" } else { p });
    match profile {
        Some("unconfined") if !listed(allowed, "unconfined") => {
            findings.deny(FIELD, || format!("container runs unconfined; allowed: {listed_text}"));
        }
        Some("unconfined") => {}
        Some(name) => {
            if !listed(allowed, "runtime/default") && !listed(allowed, &format!("localhost/{name}")) {
                findings.deny(
                    FIELD,
                    || format!("AppArmor profile {name} is not allowed; allowed: {listed_text}"),
                );
            }
        }
        None if listed(allowed, "unconfined") => {}
        // Where AppArmor is on, runtimes name the profile they apply; no
        // profile means unconfined (containerd's way of writing it), which
        // even a policy tolerating an unset profile (baseline) refuses.
        None if enabled() => findings.deny(
            FIELD,
            || format!(
                "no AppArmor profile: containerd leaves it out for unconfined containers; allowed: {listed_text}"
            ),
        ),
        None if policy.apparmor.allow_unset => {}
        None => findings.deny(
            FIELD,
            || format!("no AppArmor profile (AppArmor is not enabled on this host); allowed: {listed_text}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unconfined_spelled_otherwise_is_unconfined() {
        for name in [
            "unconfined",
            "Unconfined",
            " UNCONFINED ",
            "unconfined//&crio-default",
            "crio-default//&unconfined",
            ":ns:unconfined",
            ":ns://unconfined",
            "unconfined (complain)",
            "crio-default//&:ns:Unconfined",
        ] {
            assert!(confines_nothing(name.trim()), "{name}");
        }
        for name in [
            "crio-default",
            "cri-containerd.apparmor.d",
            "unconfined-ish",
            ":ns:crio-default",
            ":unconfined:crio-default",
        ] {
            assert!(!confines_nothing(name), "{name}");
        }
    }
    use crate::fixtures;
    use crate::policy::{Origin, ProfileRule};

    fn on() -> bool {
        true
    }

    fn off() -> bool {
        false
    }

    fn messages(
        view: &ContainerView,
        allowed: Option<&[&str]>,
        allow_unset: bool,
        enabled: fn() -> bool,
    ) -> Vec<String> {
        let mut p = Policy::closed("test", Origin::Builtin);
        p.apparmor = ProfileRule {
            allowed: allowed.map(|list| list.iter().map(ToString::to_string).collect()),
            allow_unset,
        };
        let mut findings = Findings::default();
        judge(view, &p, enabled, &mut findings);
        assert!(findings.unverified.is_empty());
        findings
            .violations
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn with_profile(profile: &str) -> ContainerView<'static> {
        let json = format!(
            r#"{{"ociVersion":"1.0.2",
                "process":{{"user":{{"uid":0,"gid":0}},"cwd":"/","apparmorProfile":"{profile}"}},
                "root":{{"path":"rootfs"}}}}"#
        );
        fixtures::view_of("apparmor", json.as_bytes())
    }

    const DEFAULT: Option<&[&str]> = Some(&["runtime/default"]);

    #[test]
    fn unrestricted_policy_admits_everything() {
        let unconfined = with_profile("unconfined");
        assert!(messages(&unconfined, None, false, on).is_empty());
        assert!(messages(&unconfined, Some(&["*"]), false, on).is_empty());
        let fixture = fixtures::view("podman-apparmor-unconfined");
        assert!(messages(&fixture, Some(&["*"]), false, off).is_empty());
    }

    #[test]
    fn explicit_unconfined_is_denied_unless_listed() {
        let view = with_profile("unconfined");
        assert_eq!(view.apparmor_profile.as_deref(), Some("unconfined"));
        assert_eq!(
            messages(&view, DEFAULT, true, on),
            ["apparmor: container runs unconfined; allowed: runtime/default"]
        );
        assert!(messages(&view, Some(&["runtime/default", "unconfined"]), false, on).is_empty());
    }

    #[test]
    fn runtime_default_admits_any_confining_profile() {
        for name in [
            "cri-containerd.apparmor.d",
            "crio-default",
            "containers-default-0.50.1",
        ] {
            assert!(
                messages(&with_profile(name), DEFAULT, false, on).is_empty(),
                "{name}"
            );
        }
    }

    #[test]
    fn localhost_admits_only_its_profile() {
        let allowed: Option<&[&str]> = Some(&["localhost/k8s-nginx"]);
        assert!(messages(&with_profile("k8s-nginx"), allowed, false, on).is_empty());
        assert_eq!(
            messages(
                &with_profile("cri-containerd.apparmor.d"),
                allowed,
                false,
                on
            ),
            [
                "apparmor: AppArmor profile cri-containerd.apparmor.d is not allowed; allowed: localhost/k8s-nginx"
            ]
        );
    }

    #[test]
    fn missing_profile_depends_on_the_host() {
        // podman accepted apparmor=unconfined but wrote no profile (AppArmor off)
        let view = fixtures::view("podman-apparmor-unconfined");
        assert_eq!(view.apparmor_profile, None);
        assert_eq!(
            messages(&view, DEFAULT, false, off),
            [
                "apparmor: no AppArmor profile (AppArmor is not enabled on this host); allowed: runtime/default"
            ]
        );
        assert_eq!(
            messages(&view, DEFAULT, false, on),
            [
                "apparmor: no AppArmor profile: containerd leaves it out for unconfined containers; allowed: runtime/default"
            ]
        );
        // where AppArmor is on, no profile is unconfined: baseline (which
        // tolerates an unset profile) refuses it too
        assert_eq!(
            messages(&view, DEFAULT, true, on),
            [
                "apparmor: no AppArmor profile: containerd leaves it out for unconfined containers; allowed: runtime/default"
            ]
        );
        assert!(
            messages(&view, DEFAULT, true, off).is_empty(),
            "unset is admitted where AppArmor is off"
        );
        assert!(
            messages(&view, Some(&["unconfined"]), false, on).is_empty(),
            "it is unconfined"
        );
        assert!(messages(&view, Some(&["unconfined"]), false, off).is_empty());
    }

    #[test]
    fn unreadable_host_setting_means_not_enabled() {
        let file = std::path::Path::new("/sys/module/apparmor/parameters/enabled");
        if !file.exists() {
            assert!(!apparmor_enabled());
        }
    }
}
