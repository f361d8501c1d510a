//! PSP `volumes`, `allowedFlexVolumes`, `allowedCSIDrivers`.
//!
//! Evidence: each mount of config.json as the view classified it. The
//! runtime's own mounts (`/proc`, `/dev`, its hosts/resolv.conf files…) are
//! always allowed; a kubelet volume directory counts as its plugin's volume
//! type; a tmpfs counts as `emptyDir`; any other bind or filesystem is a
//! `hostPath`. A mount is admitted when one of the types it may be is allowed
//! (a PV-capable plugin's volume may be a `persistentVolumeClaim` or
//! `ephemeral` volume too).
//!
//! PSP checks the flexVolume and CSI driver lists for inline volumes only.
//! Where the type is admitted solely as `flexVolume`/`csi`, the driver must be
//! listed (an unknown driver is denied).
//!
//! Not verifiable at the node: whether a PV-capable volume came inline or
//! through a claim. When a listed driver would be needed for the inline case
//! but a claim is admitted, the driver requirement is reported as unverified.

use crate::checks::Findings;
use crate::container::{ContainerView, MountKind, MountUse, MountVolume, VolumeType};
use crate::policy::Policy;

/// The volume types a policy admits, for messages.
fn allowed_types(policy: &Policy) -> String {
    if policy.volumes.is_empty() {
        "no volume types are allowed".into()
    } else {
        let names: Vec<&str> = policy.volumes.iter().map(|v| v.name()).collect();
        format!("allowed: {}", names.join(", "))
    }
}

fn describe(mount: &MountUse, fs_type: &MountVolume) -> String {
    let what = describe_kind(mount, fs_type);
    match &mount.declared_source {
        Some(declared) => format!(
            "{what} (config.json names {declared}; the kernel mounted {})",
            mount.source
        ),
        None => what,
    }
}

fn describe_kind(mount: &MountUse, fs_type: &MountVolume) -> String {
    match &mount.kind {
        MountKind::HostPath { .. } if mount.bind => {
            format!(
                "hostPath volume {} mounted at {}",
                mount.source, mount.destination
            )
        }
        MountKind::HostPath { .. } => format!(
            "{} filesystem {} (a hostPath) mounted at {}",
            mount.fstype, mount.source, mount.destination
        ),
        _ => format!("{fs_type} volume at {}", mount.destination),
    }
}

/// A driver rule: the field, the driver list and the volume type it governs.
struct DriverRule<'a> {
    field: &'static str,
    fs_type: VolumeType,
    allowed: &'a [String],
}

/// `admitted`: the mount's volume types the policy admits.
fn check_driver<'a>(
    rule: &DriverRule,
    mount: &MountUse,
    admitted: impl Iterator<Item = &'a MountVolume> + Clone,
    findings: &mut Findings,
) {
    let MountKind::Volume {
        fs_type, driver, ..
    } = &mount.kind
    else {
        return;
    };
    let governed = rule.fs_type.as_mount_volume();
    if *fs_type != rule.fs_type
        || rule.allowed.is_empty()
        || !admitted.clone().any(|t| t == governed)
    {
        return;
    }
    if driver
        .as_deref()
        .is_some_and(|d| rule.allowed.iter().any(|a| a == d))
    {
        return;
    }
    let what = match driver {
        Some(d) => format!(
            "{fs_type} driver {d} at {} is not allowed",
            mount.destination
        ),
        None => format!(
            "{fs_type} volume at {} has an unknown driver",
            mount.destination
        ),
    };
    let listed = rule.allowed.join(", ");
    if admitted.count() == 1 {
        findings.deny(rule.field, || format!("{what} (allowed: {listed})"));
    } else {
        // Also admitted as a claim, where PSP does not check drivers.
        findings.unverified(rule.field, || {
            format!("{what} (allowed: {listed}) unless it backs a persistent volume claim")
        });
    }
}

pub fn check(view: &ContainerView, policy: &Policy, findings: &mut Findings) {
    let rules = [
        DriverRule {
            field: "allowedFlexVolumes",
            fs_type: VolumeType::FlexVolume,
            allowed: &policy.allowed_flex_volumes,
        },
        DriverRule {
            field: "allowedCSIDrivers",
            fs_type: VolumeType::Csi,
            allowed: &policy.allowed_csi_drivers,
        },
    ];
    for mount in &view.mounts {
        let types = mount.volume_types();
        let Some(first) = types.clone().next() else {
            continue; // runtime-managed
        };
        // The admitted types, filtered anew where needed (no list per
        // mount): most mounts need only the first, which is the mount's own
        // type exactly when that is admitted.
        let admitted = types.filter(|t| policy.admits_volume(t));
        let Some(first_admitted) = admitted.clone().next() else {
            findings.deny("volumes", || {
                format!(
                    "{} is not allowed ({})",
                    describe(mount, first),
                    allowed_types(policy)
                )
            });
            continue;
        };
        if first_admitted != first {
            // A PV plugin's directory looks the same for an inline volume
            // and a claim; only the claim is admitted here.
            findings.unverified(
                "volumes",
                || format!(
                    "{} is admitted only as {}: an inline {first} volume would not be, and the node cannot tell them apart",
                    describe(mount, first),
                    admitted.clone().map(MountVolume::name).collect::<Vec<_>>().join("/")
                ),
            );
        }
        for rule in &rules {
            check_driver(rule, mount, admitted.clone(), findings);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::container::AllowedVolume;
    use crate::container::build::{BuildContext, build};
    use crate::container::mounts::MountContext;
    use crate::fixtures;
    use crate::policy::Origin;

    fn policy(volumes: &[&str]) -> Policy {
        let mut p = Policy::closed("test", Origin::Builtin);
        p.volumes = volumes
            .iter()
            .map(|v| AllowedVolume::from_name(v).unwrap())
            .collect();
        p
    }

    const RESTRICTED: &[&str] = &[
        "configMap",
        "emptyDir",
        "projected",
        "secret",
        "downwardAPI",
    ];

    fn findings(view: &ContainerView, policy: &Policy) -> Findings {
        let mut findings = Findings::default();
        check(view, policy, &mut findings);
        findings
    }

    fn denied(view: &ContainerView, policy: &Policy) -> Vec<String> {
        let f = findings(view, policy);
        assert!(f.unverified.is_empty(), "{:?}", f.unverified);
        f.violations.iter().map(|v| v.to_string()).collect()
    }

    /// A container of a CRI runtime with one bind mount of `source` at
    /// `/data`, kubelet's root directory being `kubelet_root`; its pod is the
    /// one whose directory `source` is in, if any.
    fn bind_of(source: &Path, kubelet_root: &Path) -> ContainerView<'static> {
        let pod_uid = source
            .strip_prefix(kubelet_root.join("pods"))
            .ok()
            .and_then(|rest| rest.iter().next())
            .and_then(|uid| uid.to_str())
            .unwrap_or("none");
        let json = serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "mounts": [{"destination": "/data", "type": "bind",
                        "source": source, "options": ["rbind", "rw"]}],
            "annotations": {"io.kubernetes.cri.sandbox-uid": pod_uid,
                            "io.kubernetes.cri.sandbox-namespace": "ns"},
        });
        let ctx = BuildContext {
            trust_cri: true,
            trust_id: true,
            id: "vol".into(),
            pid: None,
            state_annotations: Default::default(),
            mounts: MountContext {
                kubelet_root: kubelet_root.to_path_buf(),
                ..Default::default()
            },
            probe: &fixtures::NoProbe,
        };
        build("config.json", json.to_string().as_bytes(), &ctx)
            .unwrap()
            .into_owned()
    }

    fn kubelet_volume(plugin: &str) -> ContainerView<'static> {
        let root = Path::new("/var/lib/kubelet");
        bind_of(
            &root.join("pods/0b5c/volumes").join(plugin).join("v1"),
            root,
        )
    }

    #[test]
    fn runtime_mounts_and_tmpfs_pass_a_restricted_list() {
        // podman --read-only adds tmpfs /run, /tmp, /var/tmp; ctr adds a /run tmpfs
        for fixture in [
            "podman-default",
            "podman-restricted-ok",
            "ctr-run-default",
            "runc-spec-default",
            "podman-tmpfs",
        ] {
            assert!(
                denied(&fixtures::view(fixture), &policy(RESTRICTED)).is_empty(),
                "{fixture}"
            );
        }
    }

    #[test]
    fn tmpfs_needs_empty_dir() {
        assert_eq!(
            denied(&fixtures::view("ctr-run-default"), &policy(&["configMap"])),
            ["volumes: emptyDir volume at /run is not allowed (allowed: configMap)"]
        );
    }

    #[test]
    fn host_path_binds_denied() {
        let expected = "volumes: hostPath volume /etc mounted at /host-etc is not allowed \
                        (allowed: configMap, emptyDir, projected, secret, downwardAPI)";
        assert_eq!(
            denied(&fixtures::view("podman-bind-etc"), &policy(RESTRICTED)),
            [expected]
        );
        assert_eq!(
            denied(&fixtures::view("ctr-run-bind"), &policy(RESTRICTED)),
            [
                "volumes: hostPath volume /tmp/psp-data mounted at /data is not allowed \
              (allowed: configMap, emptyDir, projected, secret, downwardAPI)"
            ]
        );
        assert_eq!(
            denied(&fixtures::view("runc-spec-default"), &policy(&[])),
            Vec::<String>::new(),
            "runtime mounts need no volume type"
        );
        assert_eq!(
            denied(
                &bind_of(Path::new("/srv"), Path::new("/var/lib/kubelet")),
                &policy(&[])
            ),
            [
                "volumes: hostPath volume /srv mounted at /data is not allowed \
              (no volume types are allowed)"
            ]
        );
        assert!(denied(&fixtures::view("podman-bind-etc"), &policy(&["hostPath"])).is_empty());
        assert!(denied(&fixtures::view("ctr-run-bind"), &policy(&["*"])).is_empty());
    }

    #[test]
    fn host_ipc_shm_is_a_host_path() {
        let found = denied(&fixtures::view("podman-host-ipc"), &policy(RESTRICTED));
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("volumes: hostPath volume /dev/shm mounted at /dev/shm"));
    }

    #[test]
    fn kubelet_volume_types() {
        let p = policy(RESTRICTED);
        assert!(denied(&kubelet_volume("kubernetes.io~configmap"), &p).is_empty());
        assert!(denied(&kubelet_volume("kubernetes.io~secret"), &p).is_empty());
        assert_eq!(
            denied(&kubelet_volume("kubernetes.io~nfs"), &p),
            ["volumes: nfs volume at /data is not allowed \
              (allowed: configMap, emptyDir, projected, secret, downwardAPI)"]
        );
        // an nfs persistent volume is admitted as a claim, saying that an
        // inline one would not be
        let f = findings(
            &kubelet_volume("kubernetes.io~nfs"),
            &policy(&["persistentVolumeClaim"]),
        );
        assert!(f.violations.is_empty());
        assert_eq!(
            f.unverified[0].message,
            "nfs volume at /data is admitted only as persistentVolumeClaim: \
             an inline nfs volume would not be, and the node cannot tell them apart"
        );
        assert!(denied(&kubelet_volume("kubernetes.io~nfs"), &policy(&["nfs"])).is_empty());
    }

    #[test]
    fn flex_volume_driver_must_be_listed() {
        let view = kubelet_volume("example.com~lvm");
        let mut p = policy(&["flexVolume"]);
        assert!(denied(&view, &p).is_empty(), "empty list: every driver");
        p.allowed_flex_volumes = vec!["example.com/lvm".into()];
        assert!(denied(&view, &p).is_empty());
        p.allowed_flex_volumes = vec!["example.com/other".into()];
        assert_eq!(
            denied(&view, &p),
            [
                "allowedFlexVolumes: flexVolume driver example.com/lvm at /data is not allowed \
              (allowed: example.com/other)"
            ]
        );
        assert_eq!(
            denied(&view, &policy(RESTRICTED))[0],
            "volumes: flexVolume volume at /data is not allowed \
             (allowed: configMap, emptyDir, projected, secret, downwardAPI)"
        );
    }

    #[test]
    fn driver_of_a_possible_claim_is_unverified() {
        let view = kubelet_volume("example.com~lvm");
        let mut p = policy(&["flexVolume", "persistentVolumeClaim"]);
        p.allowed_flex_volumes = vec!["example.com/other".into()];
        let f = findings(&view, &p);
        assert!(f.violations.is_empty());
        assert_eq!(
            f.unverified[0].to_string(),
            "allowedFlexVolumes: flexVolume driver example.com/lvm at /data is not allowed \
             (allowed: example.com/other) unless it backs a persistent volume claim"
        );
    }

    #[test]
    fn csi_driver_must_be_listed() {
        let temp = tempfile::Builder::new()
            .prefix("psp-volumes-csi-")
            .tempdir()
            .unwrap();
        let dir = temp.path();
        let vol = dir.join("pods/u1/volumes/kubernetes.io~csi/inline");
        std::fs::create_dir_all(vol.join("mount")).unwrap();
        std::fs::write(
            vol.join("vol_data.json"),
            r#"{"driverName":"secrets-store.csi.k8s.io"}"#,
        )
        .unwrap();
        let view = bind_of(&vol.join("mount"), dir);
        let unknown = bind_of(
            &dir.join("pods/u1/volumes/kubernetes.io~csi/gone/mount"),
            dir,
        );
        // gone before the checks, as before: they judge the views alone
        temp.close().unwrap();

        let mut p = policy(&["csi"]);
        assert!(denied(&view, &p).is_empty(), "empty list: every driver");
        p.allowed_csi_drivers = vec!["secrets-store.csi.k8s.io".into()];
        assert!(denied(&view, &p).is_empty());
        assert_eq!(
            denied(&unknown, &p),
            [
                "allowedCSIDrivers: csi volume at /data has an unknown driver \
              (allowed: secrets-store.csi.k8s.io)"
            ]
        );
        p.allowed_csi_drivers = vec!["ebs.csi.aws.com".into()];
        assert_eq!(
            denied(&view, &p),
            [
                "allowedCSIDrivers: csi driver secrets-store.csi.k8s.io at /data is not allowed \
              (allowed: ebs.csi.aws.com)"
            ]
        );
        // admitted as a claim too: PSP checks inline drivers only
        p.volumes
            .push(AllowedVolume::Type(VolumeType::PersistentVolumeClaim));
        let f = findings(&view, &p);
        assert!(f.violations.is_empty());
        assert_eq!(f.unverified.len(), 1);
        assert_eq!(f.unverified[0].field, "allowedCSIDrivers");
    }

    /// Another filesystem is no volume of any type: the privileged check
    /// judges it (every policy short of privileged denies it).
    #[test]
    fn other_filesystems_are_no_volume() {
        let json = br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
            "mounts":[{"destination":"/host-proc","type":"proc","source":"proc"}]}"#;
        let view = fixtures::view_of("proc", json);
        assert!(denied(&view, &policy(RESTRICTED)).is_empty());
        assert!(matches!(view.mounts[0].kind, MountKind::Privileged { .. }));
    }
}
