//! PSP `allowedHostPaths`.
//!
//! Evidence: each mount the view classified as a host path, with its source
//! resolved on the host (symlinks, `..`) — the path the kernel will really
//! mount. It must be under one of the allowed prefixes on whole path segments
//! (`/foo` admits `/foo/bar`, not `/foobar`); each prefix is resolved the same
//! way, so a prefix that is itself a symlink still matches. A prefix with
//! `readOnly: true` admits only a mount with `ro`. Several prefixes may match:
//! one admitting the mount is enough.
//!
//! Judged only when the policy admits `hostPath` volumes at all (otherwise the
//! `volumes` check denies them) and lists prefixes (an empty list admits every
//! path).
//!
//! Not verifiable at the node: a symlink swapped after the hook ran (the
//! runtime resolves the source again when it mounts).

use std::path::{Path, PathBuf};

use crate::checks::Findings;
use crate::container::mounts::{has_path_prefix, resolve_host_path};
use crate::container::{ContainerView, MountKind, MountUse, MountVolume, VolumeType};
use crate::policy::{AllowedHostPath, Policy};

const FIELD: &str = "allowedHostPaths";

/// `/tmp/link -> /etc` when resolving changed the path, else the path; in
/// hook mode also what config.json named when the kernel mounted another.
fn describe_path(mount: &MountUse, resolved: &Path) -> String {
    let path = if Path::new(&*mount.source) == resolved {
        mount.source.to_string()
    } else {
        format!("{} -> {}", mount.source, resolved.display())
    };
    match &mount.declared_source {
        Some(declared) => format!("{path} (the kernel mounted it; config.json names {declared})"),
        None => path,
    }
}

/// The prefixes as the policy wrote them, for messages.
fn prefixes(allowed: &[(PathBuf, &AllowedHostPath)]) -> String {
    allowed
        .iter()
        .map(|(_, a)| a.path_prefix.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The denial for one host path mount, or `None` when a prefix admits it.
/// `allowed` pairs each resolved prefix with the policy's entry.
fn judge(
    mount: &MountUse,
    resolved: &Path,
    allowed: &[(PathBuf, &AllowedHostPath)],
) -> Option<String> {
    let mut matching = allowed
        .iter()
        .filter(|(prefix, _)| has_path_prefix(resolved, prefix))
        .map(|(_, a)| *a);
    let Some(first) = matching.next() else {
        return Some(format!(
            "host path {} (mounted at {}) is not under an allowed prefix ({})",
            describe_path(mount, resolved),
            mount.destination,
            prefixes(allowed)
        ));
    };
    // Any matching prefix admits a read-only mount; a writable one needs a
    // prefix that is not read-only (then the first is named in the message).
    if mount.read_only || !first.read_only || matching.any(|a| !a.read_only) {
        return None;
    }
    let kernel = if mount.writable_in_kernel {
        " (the kernel mounted it read-write though config.json asks for ro)"
    } else {
        ""
    };
    Some(format!(
        "host path {} is mounted writable at {}{kernel}; {} is allowed read-only",
        describe_path(mount, resolved),
        mount.destination,
        first.path_prefix.display()
    ))
}

pub fn check(view: &ContainerView, policy: &Policy, findings: &mut Findings) {
    if !policy.admits_volume(&MountVolume::Known(VolumeType::HostPath))
        || policy.allowed_host_paths.is_empty()
    {
        return;
    }
    let allowed: Vec<(PathBuf, &AllowedHostPath)> = policy
        .allowed_host_paths
        .iter()
        .map(|a| (resolve_host_path(&a.path_prefix), a))
        .collect();
    for mount in &view.mounts {
        if let MountKind::HostPath { resolved } = &mount.kind
            && let Some(message) = judge(mount, resolved, &allowed)
        {
            findings.deny(FIELD, || message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::AllowedVolume;
    use crate::fixtures;
    use crate::policy::Origin;

    fn policy(allowed: &[(&str, bool)]) -> Policy {
        let mut p = Policy::closed("test", Origin::Builtin);
        p.volumes = vec![AllowedVolume::Type(VolumeType::HostPath)];
        p.allowed_host_paths = allowed
            .iter()
            .map(|(prefix, read_only)| AllowedHostPath {
                path_prefix: PathBuf::from(prefix),
                read_only: *read_only,
            })
            .collect();
        p
    }

    fn denied(view: &ContainerView, policy: &Policy) -> Vec<String> {
        let mut findings = Findings::default();
        check(view, policy, &mut findings);
        assert!(findings.unverified.is_empty());
        findings.violations.iter().map(|v| v.to_string()).collect()
    }

    fn bind(source: &str, options: &[&str]) -> ContainerView<'static> {
        let json = serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "mounts": [{"destination": "/data", "type": "bind",
                        "source": source, "options": options}],
        });
        fixtures::view_of("bind", json.to_string().as_bytes())
    }

    #[test]
    fn path_outside_prefixes_denied() {
        let view = fixtures::view("podman-bind-etc");
        assert_eq!(
            denied(&view, &policy(&[("/data", false), ("/var/log", true)])),
            ["allowedHostPaths: host path /etc (mounted at /host-etc) \
              is not under an allowed prefix (/data, /var/log)"]
        );
        assert!(
            denied(&view, &policy(&[("/etc", true)])).is_empty(),
            "ro mount, ro prefix"
        );
        assert!(denied(&view, &policy(&[("/", false)])).is_empty());
    }

    #[test]
    fn not_judged_without_prefixes_or_without_host_path() {
        let view = fixtures::view("podman-bind-etc");
        assert!(denied(&view, &policy(&[])).is_empty());
        let mut p = policy(&[("/data", false)]);
        p.volumes = vec![AllowedVolume::Type(VolumeType::ConfigMap)];
        assert!(denied(&view, &p).is_empty(), "left to the volumes check");
        p.volumes = vec![AllowedVolume::Any];
        assert_eq!(denied(&view, &p).len(), 1);
    }

    #[test]
    fn read_only_prefix_needs_read_only_mount() {
        for view in [
            fixtures::view("podman-bind-rw"),
            fixtures::view("ctr-run-bind"),
        ] {
            assert_eq!(
                denied(&view, &policy(&[("/tmp/psp-data", true)])),
                [
                    "allowedHostPaths: host path /tmp/psp-data is mounted writable at /data; \
                  /tmp/psp-data is allowed read-only"
                ]
            );
            assert!(denied(&view, &policy(&[("/tmp/psp-data", false)])).is_empty());
            // a second, writable prefix that matches admits it
            assert!(denied(&view, &policy(&[("/tmp/psp-data", true), ("/tmp", false)])).is_empty());
        }
        let ro = bind("/tmp/psp-data/x", &["rbind", "ro"]);
        assert!(denied(&ro, &policy(&[("/tmp/psp-data", true)])).is_empty());
    }

    #[test]
    fn a_mount_the_kernel_made_writable_is_judged_writable() {
        // What hook mode's kernel check leaves of an `ro` bind mountinfo shows rw.
        let mut view = bind("/tmp/psp-data/x", &["rbind", "ro"]);
        view.mounts[0].read_only = false;
        view.mounts[0].writable_in_kernel = true;
        assert_eq!(
            denied(&view, &policy(&[("/tmp/psp-data", true)])),
            [
                "allowedHostPaths: host path /tmp/psp-data/x is mounted writable at /data \
                 (the kernel mounted it read-write though config.json asks for ro); \
                 /tmp/psp-data is allowed read-only"
            ]
        );
    }

    #[test]
    fn prefix_matches_whole_segments() {
        let view = bind("/foobar", &["rbind", "ro"]);
        assert_eq!(
            denied(&view, &policy(&[("/foo", false)])),
            ["allowedHostPaths: host path /foobar (mounted at /data) \
              is not under an allowed prefix (/foo)"]
        );
        assert!(denied(&bind("/foo/bar", &["rbind"]), &policy(&[("/foo", false)])).is_empty());
        assert!(denied(&bind("/foo/", &["rbind"]), &policy(&[("/foo", false)])).is_empty());
    }

    #[test]
    fn dot_dot_cannot_escape_a_prefix() {
        let view = bind("/foo/../etc", &["rbind"]);
        assert_eq!(
            denied(&view, &policy(&[("/foo", false)])),
            [
                "allowedHostPaths: host path /foo/../etc -> /etc (mounted at /data) \
              is not under an allowed prefix (/foo)"
            ]
        );
    }

    #[test]
    fn symlink_out_of_a_prefix_is_denied() {
        let temp = tempfile::Builder::new()
            .prefix("psp-host-paths-")
            .tempdir()
            .unwrap();
        let dir = temp.path();
        let allowed = dir.join("allowed");
        std::fs::create_dir_all(&allowed).unwrap();
        let link = allowed.join("link");
        std::os::unix::fs::symlink("/etc", &link).unwrap();
        let escape = bind(link.to_str().unwrap(), &["rbind", "ro"]);
        let inside = bind(allowed.to_str().unwrap(), &["rbind", "ro"]);
        // a prefix that is itself a symlink is resolved too
        let prefix_link = dir.join("prefix-link");
        std::os::unix::fs::symlink(&allowed, &prefix_link).unwrap();
        let p = policy(&[(allowed.to_str().unwrap(), false)]);
        let via_link = policy(&[(prefix_link.to_str().unwrap(), false)]);
        let found = denied(&escape, &p);
        let inside_ok = denied(&inside, &via_link);

        assert_eq!(
            found,
            [format!(
                "allowedHostPaths: host path {} -> /etc (mounted at /data) \
                 is not under an allowed prefix ({})",
                link.display(),
                allowed.display()
            )]
        );
        assert!(inside_ok.is_empty());
    }
}
