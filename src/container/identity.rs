//! Kubernetes identity of a container, from the annotations containerd's CRI
//! plugin and CRI-O write. Containers without them (podman, ctr, runc) are not
//! Kubernetes containers and get the default policies.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub container: Option<String>,
    /// The pod's UID: kubelet's directory for it is `<root>/pods/<uid>`.
    pub pod_uid: Option<String>,
    /// A pod sandbox ("pause") container: carries pod-level settings only.
    pub sandbox: bool,
}

impl Identity {
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Identity {
        let get = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| annotations.get(*k))
                .filter(|v| !v.is_empty())
                .cloned()
        };
        let container_type = get(&[
            "io.kubernetes.cri.container-type",
            "io.kubernetes.cri-o.ContainerType",
        ]);
        Identity {
            namespace: get(&[
                "io.kubernetes.cri.sandbox-namespace",
                "io.kubernetes.pod.namespace",
            ]),
            pod: get(&["io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"]),
            container: get(&[
                "io.kubernetes.cri.container-name",
                "io.kubernetes.container.name",
            ]),
            pod_uid: get(&["io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid"]),
            sandbox: container_type.as_deref() == Some("sandbox"),
        }
    }

    /// `namespace/pod/container` (`namespace/pod` for a sandbox), or `None`
    /// for a container Kubernetes did not start.
    pub fn label(&self) -> Option<String> {
        let namespace = self.namespace.as_deref()?;
        let pod = self.pod.as_deref().unwrap_or("?");
        Some(match (&self.container, self.sandbox) {
            (Some(c), false) => format!("{namespace}/{pod}/{c}"),
            _ => format!("{namespace}/{pod}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn containerd_container() {
        let id = Identity::from_annotations(&annotations(&[
            ("io.kubernetes.cri.container-type", "container"),
            ("io.kubernetes.cri.sandbox-namespace", "team-a"),
            ("io.kubernetes.cri.sandbox-name", "web-0"),
            ("io.kubernetes.cri.container-name", "nginx"),
        ]));
        assert!(!id.sandbox);
        assert_eq!(id.label().as_deref(), Some("team-a/web-0/nginx"));
    }

    #[test]
    fn crio_sandbox() {
        let id = Identity::from_annotations(&annotations(&[
            ("io.kubernetes.cri-o.ContainerType", "sandbox"),
            ("io.kubernetes.pod.namespace", "kube-system"),
            ("io.kubernetes.pod.name", "coredns-1"),
            ("io.kubernetes.container.name", "POD"),
        ]));
        assert!(id.sandbox);
        assert_eq!(id.label().as_deref(), Some("kube-system/coredns-1"));
    }

    #[test]
    fn podman_has_no_identity() {
        let id = Identity::from_annotations(&annotations(&[(
            "io.podman.annotations.autoremove",
            "FALSE",
        )]));
        assert_eq!(id, Identity::default());
        assert_eq!(id.label(), None);
    }
}
