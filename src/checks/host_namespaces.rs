//! PSP `hostNetwork`, `hostPID`, `hostIPC`.
//!
//! Evidence: `linux.namespaces` as judged by the view. A namespace is the
//! host's when config.json has no entry for it (podman, ctr and runc show host
//! namespaces that way), when the entry joins a path that is the hook's own
//! namespace (`/proc/<pid>/ns/net` of a host process), or, in hook mode, when
//! the container process already runs in it. Joining another namespace by
//! path (a pod sandbox's, CRI-O's `/var/run/netns/<id>`) is not the host's.
//!
//! Not verifiable at the node: when the hook itself does not run in the host's
//! namespaces (e.g. started inside another container), "the hook's own" is
//! not the host's and a path comparison cannot tell.

use crate::checks::Findings;
use crate::container::{ContainerView, HostReason, NamespaceKind, NamespaceState};
use crate::policy::Policy;

pub fn check(view: &ContainerView, policy: &Policy, findings: &mut Findings) {
    let rules = [
        ("hostNetwork", NamespaceKind::Network, policy.host_network),
        ("hostPID", NamespaceKind::Pid, policy.host_pid),
        ("hostIPC", NamespaceKind::Ipc, policy.host_ipc),
    ];
    for (field, kind, allowed) in rules {
        if allowed {
            continue;
        }
        match view.namespaces.get(kind) {
            NamespaceState::Host(reason) => {
                let mut message =
                    format!("container shares the host {} namespace", kind.display());
                // The missing entry is the common case and needs no explanation.
                if *reason != HostReason::NoEntry {
                    message.push_str(&format!(" ({reason})"));
                }
                findings.deny(field, || message);
            }
            // In hook mode the container process itself settles it; offline
            // the joined namespace may be gone.
            NamespaceState::Unresolved(path) => findings.unverified(
                field,
                || format!("joins {path}, which cannot be resolved here: whether it is the host's {} namespace is not known", kind.display()),
            ),
            NamespaceState::Private | NamespaceState::Joined(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::container::build::{BuildContext, build};
    use crate::container::namespaces::NamespaceProbe;
    use crate::fixtures;
    use crate::policy::Origin;

    fn messages(view: &ContainerView, policy: &Policy) -> Vec<String> {
        fixtures::violations(check, view, policy)
    }

    fn closed() -> Policy {
        Policy::closed("test", Origin::Builtin)
    }

    #[test]
    fn private_namespaces_pass() {
        for fixture in [
            "podman-default",
            "ctr-run-default",
            "runc-spec-default",
            "podman-userns",
        ] {
            assert!(
                messages(&fixtures::view(fixture), &closed()).is_empty(),
                "{fixture}"
            );
        }
    }

    #[test]
    fn each_host_namespace_denied_by_its_field() {
        for (fixture, expected) in [
            (
                "podman-host-network",
                "hostNetwork: container shares the host network namespace",
            ),
            (
                "ctr-run-host-network",
                "hostNetwork: container shares the host network namespace",
            ),
            (
                "podman-host-pid",
                "hostPID: container shares the host PID namespace",
            ),
            (
                "podman-host-ipc",
                "hostIPC: container shares the host IPC namespace",
            ),
        ] {
            assert_eq!(
                messages(&fixtures::view(fixture), &closed()),
                [expected],
                "{fixture}"
            );
        }
    }

    #[test]
    fn each_field_opens_only_its_namespace() {
        let mut policy = closed();
        policy.host_network = true;
        assert!(messages(&fixtures::view("podman-host-network"), &policy).is_empty());
        assert_eq!(
            messages(&fixtures::view("podman-host-pid"), &policy).len(),
            1
        );
        policy.host_pid = true;
        assert!(messages(&fixtures::view("podman-host-pid"), &policy).is_empty());
        assert_eq!(
            messages(&fixtures::view("podman-host-ipc"), &policy).len(),
            1
        );
        policy.host_ipc = true;
        assert!(messages(&fixtures::view("podman-host-ipc"), &policy).is_empty());
    }

    /// The hook's network namespace is (4, 1); `/proc/4242` is a host
    /// process, `/var/run/netns/cri-o-pod` a pod's own namespace.
    struct FakeProbe;

    impl NamespaceProbe for FakeProbe {
        fn identity(&self, path: &Path) -> Option<(u64, u64)> {
            match path.to_str()? {
                "/proc/self/ns/net" | "/proc/4242/ns/net" => Some((4, 1)),
                "/var/run/netns/cri-o-pod" => Some((4, 2)),
                _ => None,
            }
        }
    }

    fn joining(netns: &str) -> ContainerView<'static> {
        let json = format!(
            r#"{{"ociVersion":"1.0.2","root":{{"path":"rootfs"}},"linux":{{"namespaces":[
                {{"type":"pid"}},{{"type":"ipc"}},{{"type":"network","path":"{netns}"}}]}}}}"#
        );
        let ctx = BuildContext {
            trust_cri: false,
            trust_id: false,
            id: "joined".into(),
            pid: None,
            state_annotations: Default::default(),
            mounts: Default::default(),
            probe: &FakeProbe,
        };
        build("config.json", json.as_bytes(), &ctx)
            .unwrap()
            .into_owned()
    }

    #[test]
    fn joining_a_host_process_namespace_is_host_network() {
        assert_eq!(
            messages(&joining("/proc/4242/ns/net"), &closed()),
            ["hostNetwork: container shares the host network namespace \
              (it joins /proc/4242/ns/net, which is the host's)"]
        );
    }

    #[test]
    fn joining_a_pod_namespace_passes() {
        assert!(messages(&joining("/var/run/netns/cri-o-pod"), &closed()).is_empty());
    }
}
