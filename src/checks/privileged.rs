//! PSP `privileged`.
//!
//! config.json has no "privileged" flag: a privileged container is the sum of
//! what the runtime grants it. Evidence judged, when the policy does not allow
//! privileged containers:
//! - device cgroup allow rules beyond the runtime's defaults
//!   (`linux.resources.devices`, read as runc reads them: any type-`a` rule
//!   is every device);
//! - host device nodes passed in `linux.devices`;
//! - sysfs or cgroupfs mounted without `ro` (after `rro`/`rrw`);
//! - shared mount propagation (`linux.rootfsPropagation` or a bind mount with
//!   `shared`/`rshared`): Kubernetes Bidirectional propagation, which only
//!   privileged containers may use;
//! - a mount with `remount`, or of a filesystem other than the runtimes' own
//!   (proc, sysfs, cgroup, devpts, mqueue at their places; tmpfs anywhere);
//! - a hook of config.json whose executable the node did not install;
//! - in hook mode, a mount the kernel has in the container that config.json
//!   does not account for.
//!
//! The evidence is derived by the container view
//! ([`ContainerView::privileged_evidence`]).
//!
//! Capabilities, seccomp, AppArmor and masked paths, which `--privileged` also
//! changes, are judged by their own checks.
//!
//! Not verifiable at the node: a device a Kubernetes device plugin hands to an
//! unprivileged container shows up in `linux.devices` like a privileged one's;
//! it is denied here (fail closed).

use crate::checks::Findings;
use crate::container::ContainerView;
use crate::policy::Policy;

const FIELD: &str = "privileged";

pub fn check(view: &ContainerView, policy: &Policy, findings: &mut Findings) {
    if policy.privileged {
        return;
    }
    for evidence in view.privileged_evidence() {
        findings.deny(FIELD, || evidence);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::policy::Origin;

    fn findings(view: &ContainerView, privileged: bool) -> Vec<String> {
        let mut policy = Policy::closed("test", Origin::Builtin);
        policy.privileged = privileged;
        let mut findings = Findings::default();
        check(view, &policy, &mut findings);
        assert!(findings.unverified.is_empty());
        findings.violations.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn unprivileged_fixtures_pass() {
        for fixture in [
            "podman-default",
            "ctr-run-default",
            "runc-spec-default",
            "podman-bind-rw",
        ] {
            assert!(
                findings(&fixtures::view(fixture), false).is_empty(),
                "{fixture}"
            );
        }
    }

    #[test]
    fn podman_privileged_denied() {
        let found = findings(&fixtures::view("podman-privileged"), false);
        let has = |m: &str| found.iter().any(|f| f == m);
        assert!(has(
            "privileged: device cgroup allows access to every device"
        ));
        assert!(has(
            "privileged: host device /dev/kvm is passed to the container"
        ));
        assert!(has("privileged: sysfs mounted writable at /sys"));
        assert!(has("privileged: cgroup mounted writable at /sys/fs/cgroup"));
        // one per host device, plus the three above
        assert_eq!(found.len(), 102 + 3);
    }

    #[test]
    fn ctr_privileged_denied() {
        let found = findings(&fixtures::view("ctr-run-privileged"), false);
        assert_eq!(
            found[0],
            "privileged: device cgroup allows access to every device"
        );
        assert!(
            found
                .iter()
                .any(|f| f == "privileged: host device /dev/vda is passed to the container")
        );
        assert!(
            found
                .iter()
                .any(|f| f == "privileged: sysfs mounted writable at /sys")
        );
        // no cgroup mount in ctr's spec
        assert_eq!(found.len(), 102 + 2);
    }

    #[test]
    fn privileged_policy_admits_everything() {
        for fixture in ["podman-privileged", "ctr-run-privileged", "podman-device"] {
            assert!(
                findings(&fixtures::view(fixture), true).is_empty(),
                "{fixture}"
            );
        }
    }

    #[test]
    fn single_device_denied() {
        assert_eq!(
            findings(&fixtures::view("podman-device"), false),
            ["privileged: host device /dev/fuse is passed to the container"]
        );
    }

    #[test]
    fn bidirectional_propagation_denied() {
        let json = br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
            "mounts":[
              {"destination":"/mnt/shared","type":"bind","source":"/var/lib/shared","options":["rbind","rw","rshared"]},
              {"destination":"/mnt/slave","type":"bind","source":"/var/lib/slave","options":["rbind","rslave"]},
              {"destination":"/sys/fs/cgroup","type":"cgroup2","source":"cgroup","options":["nosuid"]}
            ],
            "linux":{"rootfsPropagation":"rshared","namespaces":[{"type":"mount"}]}}"#;
        let view = fixtures::view_of("bidirectional", json);
        assert_eq!(
            findings(&view, false),
            [
                "privileged: root filesystem has rshared mount propagation (Bidirectional)",
                "privileged: /var/lib/shared is mounted at /mnt/shared with rshared propagation (Bidirectional)",
                "privileged: cgroup2 mounted writable at /sys/fs/cgroup",
            ]
        );
        assert!(findings(&view, true).is_empty());
    }

    /// What the runtime applies as root beyond the container, each privileged
    /// evidence; the kubelet's own settings pass.
    #[test]
    fn runtime_settings_beyond_the_container() {
        let json = br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
            "process":{"scheduler":{"policy":"SCHED_FIFO","nice":-5},
              "ioPriority":{"class":"IOPRIO_CLASS_RT"},"oomScoreAdj":-1000,
              "rlimits":[{"type":"RLIMIT_RTPRIO","hard":99,"soft":99},
                {"type":"RLIMIT_MEMLOCK","hard":18446744073709551615,"soft":65536},
                {"type":"RLIMIT_NOFILE","hard":1048576,"soft":1048576}]},
            "annotations":{"run.oci.keep_original_groups":"1","org.systemd.property.Delegate":"yes",
              "io.kubernetes.cri.container-type":"container"},
            "linux":{"cgroupsPath":"/","netDevices":{"eth1":{"name":"eth1"}},
              "namespaces":[{"type":"pid"}]}}"#;
        let found = findings(&fixtures::view_of("settings", json), false);
        for text in [
            "linux.cgroupsPath \"/\"",
            "netDevices moves host network interface eth1",
            "SCHED_FIFO",
            "nice -5",
            "IOPRIO_CLASS_RT",
            "oomScoreAdj -1000",
            "RLIMIT_RTPRIO raised",
            "RLIMIT_MEMLOCK raised",
            "no mount namespace",
            "annotation run.oci.keep_original_groups",
            "annotation org.systemd.property.Delegate",
        ] {
            assert!(found.iter().any(|f| f.contains(text)), "{text}: {found:?}");
        }
        assert_eq!(found.len(), 11, "{found:?}");
        let kubelet = br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
            "process":{"oomScoreAdj":-998,"scheduler":{"policy":"SCHED_OTHER"},
              "rlimits":[{"type":"RLIMIT_NOFILE","hard":1048576,"soft":1048576}]},
            "linux":{"cgroupsPath":"kubepods.slice:cri-containerd:abc",
              "namespaces":[{"type":"mount"}]}}"#;
        assert!(findings(&fixtures::view_of("kubelet", kubelet), false).is_empty());
    }

    #[test]
    fn host_to_container_propagation_passes() {
        let json = br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
            "mounts":[{"destination":"/mnt","type":"bind","source":"/var/lib/x","options":["rbind","rslave"]}],
            "linux":{"rootfsPropagation":"rslave","namespaces":[{"type":"mount"}]}}"#;
        assert!(findings(&fixtures::view_of("hostToContainer", json), false).is_empty());
    }
}
