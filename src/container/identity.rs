//! Kubernetes identity of a container, from the annotations containerd's CRI
//! plugin and CRI-O write. Containers without them (podman, ctr, runc) are not
//! Kubernetes containers and get the default policies.
//!
//! An annotation is a claim anyone who writes config.json can make, so it is
//! honoured only for a container a CRI runtime created ([`created_by_cri`]),
//! and a sandbox is one only when its runtime id is the sandbox id.

use std::collections::BTreeMap;
use std::path::Path;

use super::mounts::{CONTAINERD_ROOTS, STORAGE_ROOTS};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub container: Option<String>,
    /// The pod's UID: kubelet's directory for it is `<root>/pods/<uid>`.
    pub pod_uid: Option<String>,
    /// The pod sandbox's runtime id.
    pub sandbox_id: Option<String>,
    /// A pod sandbox ("pause") container: carries pod-level settings only.
    pub sandbox: bool,
    /// The image name the CRI runtime wrote where a pod cannot overwrite it
    /// ([`Identity::from_annotations`]); `None` elsewhere.
    pub image: Option<String>,
    /// The image's id (`sha256:<hex>`), from the runtime's own storage
    /// records (see `build`); `None` where no trusted record says it.
    pub image_id: Option<String>,
}

/// The CRI runtime whose own annotation keys speak for a container. Each
/// runtime's keys are read only for its containers: the other runtime's keys
/// are whatever a pod put there (CRI-O copies a pod's annotations into its
/// sandbox and every container of it; containerd passes the ones its
/// `pod_annotations` list names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CriRuntime {
    Containerd,
    CriO,
}

impl CriRuntime {
    /// The runtime a bundle layout belongs to; for a bundle in no layout
    /// (`check --cri` on a captured file) CRI-O's manager annotation, else
    /// whose container-type key alone is there, tells.
    pub fn of(layout: Option<Layout>, annotations: &BTreeMap<String, String>) -> CriRuntime {
        let has = |key: &str| annotations.contains_key(key);
        match layout {
            Some(Layout::Containerd { .. }) => CriRuntime::Containerd,
            Some(Layout::Storage) => CriRuntime::CriO,
            None if annotations.get("io.container.manager").map(String::as_str)
                == Some("cri-o")
                || (has("io.kubernetes.cri-o.ContainerType")
                    && !has("io.kubernetes.cri.container-type")) =>
            {
                CriRuntime::CriO
            }
            None => CriRuntime::Containerd,
        }
    }
}

/// Which runtime's own layout a bundle (resolved) is in, for the container
/// of runtime id `id`. Only root can create containers there, so the id is
/// the runtime's, not a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// containerd: `<state>/io.containerd.runtime.v2.task/<namespace>/<id>`.
    Containerd { cri: bool },
    /// podman and CRI-O (containers/storage): `<root>/overlay-containers/<id>/userdata`.
    Storage,
}

pub fn runtime_layout(bundle: &Path, id: &str) -> Option<Layout> {
    if id.is_empty() {
        return None;
    }
    let under = |roots: &[&str], rest: &[&str]| {
        roots.iter().any(|root| {
            bundle
                .strip_prefix(root)
                .ok()
                .map(|r| r.iter().filter_map(|c| c.to_str()).collect::<Vec<_>>())
                .is_some_and(|parts| parts == rest)
        })
    };
    let task_dir = |ns: &str| under(CONTAINERD_ROOTS, &["io.containerd.runtime.v2.task", ns, id]);
    if task_dir("k8s.io") {
        return Some(Layout::Containerd { cri: true });
    }
    let namespace = bundle
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("");
    if !namespace.is_empty() && task_dir(namespace) {
        return Some(Layout::Containerd { cri: false });
    }
    under(STORAGE_ROOTS, &["overlay-containers", id, "userdata"]).then_some(Layout::Storage)
}

/// Whether a CRI runtime created the container whose bundle is `bundle`
/// (resolved) and whose runtime id is `id`: containerd's CRI plugin keeps its
/// tasks' bundles in `<state>/io.containerd.runtime.v2.task/k8s.io/<id>`,
/// CRI-O in `<storage>/overlay-containers/<id>/userdata` (the layout podman
/// shares, told apart by `io.container.manager`).
pub fn created_by_cri(bundle: &Path, id: &str, annotations: &BTreeMap<String, String>) -> bool {
    match runtime_layout(bundle, id) {
        Some(Layout::Containerd { cri }) => cri,
        Some(Layout::Storage) => {
            annotations.get("io.container.manager").map(String::as_str) == Some("cri-o")
        }
        None => false,
    }
}

/// The runtime id a bundle directory stands for offline: its name, or its
/// parent's for podman's and CRI-O's `<id>/userdata` bundles.
pub fn bundle_id(bundle: &Path) -> String {
    let real = bundle
        .canonicalize()
        .unwrap_or_else(|_| bundle.to_path_buf());
    let dir = match real.file_name() {
        Some(n) if n == "userdata" => real.parent().unwrap_or(&real),
        _ => &real,
    };
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Identity {
    /// The identity the annotations of `runtime` claim for the container of
    /// runtime id `id`.
    ///
    /// The image name is read where the runtime writes it after anything a
    /// pod can set: containerd's `io.kubernetes.cri.image-name` (app
    /// containers; written after the passed-through annotations) and
    /// `…podsandbox.image-name` (sandboxes); CRI-O's
    /// `io.kubernetes.cri-o.ImageName` for app containers only, as CRI-O
    /// copies the pod's annotations over its own keys in the sandbox's spec
    /// — its `ContainerType` and `SandboxID` too, so `build` keeps CRI-O's
    /// image and container names only for an app container CRI-O's storage
    /// record shows.
    pub fn from_annotations(
        annotations: &BTreeMap<String, String>,
        id: &str,
        runtime: CriRuntime,
    ) -> Identity {
        match runtime {
            CriRuntime::CriO => Identity::from_crio(annotations, id),
            CriRuntime::Containerd => Identity::from_containerd(annotations, id),
        }
    }

    /// containerd's CRI plugin writes its keys after the annotations it
    /// passes through: only its own keys are read.
    fn from_containerd(annotations: &BTreeMap<String, String>, id: &str) -> Identity {
        let get = |key: &str| annotations.get(key).filter(|v| !v.is_empty()).cloned();
        let container_type = get("io.kubernetes.cri.container-type");
        let sandbox_id = get("io.kubernetes.cri.sandbox-id");
        let sandbox =
            container_type.as_deref() == Some("sandbox") && sandbox_id.as_deref() == Some(id);
        let image = if sandbox {
            get("io.kubernetes.cri.podsandbox.image-name")
        } else {
            get("io.kubernetes.cri.image-name")
        };
        Identity {
            namespace: get("io.kubernetes.cri.sandbox-namespace"),
            pod: get("io.kubernetes.cri.sandbox-name"),
            container: get("io.kubernetes.cri.container-name"),
            pod_uid: get("io.kubernetes.cri.sandbox-uid"),
            sandbox,
            sandbox_id,
            image,
            image_id: None,
        }
    }

    /// A CRI-O container's identity, from the name CRI-O gives it
    /// (`io.kubernetes.cri-o.Name`): `k8s_<container>_<pod>_<namespace>_<uid>_<attempt>`,
    /// a sandbox's `k8s_<pod>_<namespace>_<uid>_<attempt>`, built from the
    /// CRI metadata (kubelet's pod namespace, name and UID; none of these has
    /// a `_`). CRI-O copies the pod's annotations into every config.json (a
    /// container's before its own keys, which it writes after them), so the
    /// kubelet's and containerd's keys there (`io.kubernetes.pod.namespace`,
    /// `io.kubernetes.cri.sandbox-namespace`…) are the pod author's to write:
    /// they are not read. A name of another shape gives no identity.
    fn from_crio(annotations: &BTreeMap<String, String>, id: &str) -> Identity {
        let get = |key: &str| annotations.get(key).filter(|v| !v.is_empty()).cloned();
        let sandbox_id = get("io.kubernetes.cri-o.SandboxID");
        let container_type = get("io.kubernetes.cri-o.ContainerType");
        let name = get("io.kubernetes.cri-o.Name").unwrap_or_default();
        let parts: Vec<&str> = name.split('_').collect();
        let (container, pod, namespace, uid) = match (container_type.as_deref(), &parts[..]) {
            (Some("container"), ["k8s", c, p, n, u, _attempt]) => (Some(*c), *p, *n, *u),
            (Some("sandbox"), ["k8s", p, n, u, _attempt]) => (None, *p, *n, *u),
            _ => {
                return Identity {
                    sandbox_id,
                    ..Identity::default()
                };
            }
        };
        let some = |v: &str| Some(v.to_string()).filter(|v| !v.is_empty());
        let sandbox =
            container_type.as_deref() == Some("sandbox") && sandbox_id.as_deref() == Some(id);
        Identity {
            namespace: some(namespace),
            pod: some(pod),
            container: container.and_then(some),
            pod_uid: some(uid),
            sandbox,
            sandbox_id,
            image: (!sandbox)
                .then(|| get("io.kubernetes.cri-o.ImageName"))
                .flatten(),
            image_id: None,
        }
    }

    /// How the container of runtime id `id` is named in messages: see
    /// [`label`].
    pub fn label(&self, id: &str) -> String {
        label(
            self.namespace.as_deref(),
            self.pod.as_deref(),
            self.container.as_deref(),
            self.sandbox,
            id,
        )
    }
}

/// How a container is named in messages, the record's readers and `advise`
/// alike: `namespace/pod/container` (`namespace/pod (sandbox)` for a pod's
/// sandbox, `?` for what is unknown) for a container Kubernetes started,
/// else its runtime id.
pub fn label(
    namespace: Option<&str>,
    pod: Option<&str>,
    container: Option<&str>,
    sandbox: bool,
    id: &str,
) -> String {
    match namespace {
        Some(ns) if sandbox => format!("{ns}/{} (sandbox)", pod.unwrap_or("?")),
        Some(ns) => format!("{ns}/{}/{}", pod.unwrap_or("?"), container.unwrap_or("?")),
        None if id.is_empty() => "unknown".into(),
        None => id.into(),
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
        let id = Identity::from_annotations(
            &annotations(&[
                ("io.kubernetes.cri.container-type", "container"),
                ("io.kubernetes.cri.sandbox-id", "s1"),
                ("io.kubernetes.cri.sandbox-namespace", "team-a"),
                ("io.kubernetes.cri.sandbox-name", "web-0"),
                ("io.kubernetes.cri.container-name", "nginx"),
                ("io.kubernetes.cri.image-name", "docker.io/library/nginx:1"),
            ]),
            "c1",
            CriRuntime::Containerd,
        );
        assert_eq!(id.image.as_deref(), Some("docker.io/library/nginx:1"));
        assert!(!id.sandbox);
        assert_eq!(id.label("c1"), "team-a/web-0/nginx");
    }

    #[test]
    fn crio_sandbox() {
        let claims = annotations(&[
            ("io.kubernetes.cri-o.ContainerType", "sandbox"),
            ("io.kubernetes.cri-o.SandboxID", "s1"),
            ("io.kubernetes.cri-o.Name", "k8s_coredns-1_kube-system_u1_0"),
        ]);
        let id = Identity::from_annotations(&claims, "s1", CriRuntime::CriO);
        assert!(id.sandbox);
        assert_eq!(id.label("s1"), "kube-system/coredns-1 (sandbox)");
        // the claim of a container whose id is not the sandbox's
        assert!(!Identity::from_annotations(&claims, "other", CriRuntime::CriO).sandbox);
    }

    /// A pod's annotations reach CRI-O's sandbox and its containers after
    /// CRI-O's own keys (containerd's passes configured ones): the other
    /// runtime's keys, and CRI-O's image name in a sandbox, are the pod's.
    #[test]
    fn only_the_creating_runtimes_keys_count() {
        let claims = annotations(&[
            ("io.kubernetes.cri-o.ContainerType", "container"),
            ("io.kubernetes.cri-o.Name", "k8s_app_web-0_team-a_u1_0"),
            ("io.kubernetes.pod.namespace", "kube-system"),
            ("io.kubernetes.container.name", "debugger"),
            ("io.kubernetes.cri-o.ImageName", "registry.example/app:1"),
            ("io.kubernetes.cri.sandbox-namespace", "kube-system"),
            ("io.kubernetes.cri.container-name", "debugger"),
            ("io.kubernetes.cri.image-name", "registry.example/exempt:1"),
        ]);
        let id = Identity::from_annotations(&claims, "c1", CriRuntime::CriO);
        assert_eq!(id.namespace.as_deref(), Some("team-a"));
        assert_eq!(id.container.as_deref(), Some("app"));
        assert_eq!(id.image.as_deref(), Some("registry.example/app:1"));
        let id = Identity::from_annotations(&claims, "c1", CriRuntime::Containerd);
        assert_eq!(id.namespace.as_deref(), Some("kube-system"));
        assert_eq!(id.image.as_deref(), Some("registry.example/exempt:1"));
        let sandbox = annotations(&[
            ("io.kubernetes.cri-o.ContainerType", "sandbox"),
            ("io.kubernetes.cri-o.SandboxID", "s1"),
            ("io.kubernetes.cri-o.Name", "k8s_web-0_team-a_u1_0"),
            ("io.kubernetes.cri-o.ImageName", "registry.example/exempt:1"),
        ]);
        let id = Identity::from_annotations(&sandbox, "s1", CriRuntime::CriO);
        assert!(id.sandbox);
        assert_eq!(id.image, None);
    }

    /// A CRI-O container as CRI-O 1.34 wrote it for a pod whose annotations
    /// and labels name another namespace (tests/fixtures/cri-captured).
    #[test]
    fn crio_identity_is_its_name_not_the_pods_claims() {
        let claims = annotations(&[
            ("io.container.manager", "cri-o"),
            ("io.kubernetes.cri-o.ContainerType", "container"),
            ("io.kubernetes.cri-o.SandboxID", "s1"),
            (
                "io.kubernetes.cri-o.Name",
                "k8s_app_cri-sh-forged_team-restricted_56933a5c-99a8-4e20-9f2d-2d3b06f7dd45_0",
            ),
            ("io.kubernetes.cri.sandbox-namespace", "team-baseline"),
            ("io.kubernetes.cri.container-type", "sandbox"),
            ("io.kubernetes.pod.namespace", "team-baseline"),
            ("io.kubernetes.pod.name", "other"),
            ("io.kubernetes.container.name", "other"),
        ]);
        let id = Identity::from_annotations(&claims, "c1", CriRuntime::CriO);
        assert_eq!(id.namespace.as_deref(), Some("team-restricted"));
        assert_eq!(
            id.pod_uid.as_deref(),
            Some("56933a5c-99a8-4e20-9f2d-2d3b06f7dd45")
        );
        assert!(!id.sandbox);
        assert_eq!(id.label("c1"), "team-restricted/cri-sh-forged/app");
        // its twin: the sandbox, by its own id
        let mut sandbox = claims.clone();
        sandbox.insert("io.kubernetes.cri-o.ContainerType".into(), "sandbox".into());
        sandbox.insert(
            "io.kubernetes.cri-o.Name".into(),
            "k8s_cri-sh-forged_team-restricted_56933a5c-99a8-4e20-9f2d-2d3b06f7dd45_0".into(),
        );
        let id = Identity::from_annotations(&sandbox, "s1", CriRuntime::CriO);
        assert!(id.sandbox);
        assert_eq!(id.label("s1"), "team-restricted/cri-sh-forged (sandbox)");
        // a name of another shape (an `_` in a name) names nobody
        let mut odd = claims.clone();
        odd.insert(
            "io.kubernetes.cri-o.Name".into(),
            "k8s_app_pod_x_team-restricted_uid_0".into(),
        );
        let id = Identity::from_annotations(&odd, "c1", CriRuntime::CriO);
        assert_eq!(id.namespace, None);
        assert_eq!(id.label("c1"), "c1");
    }

    /// One naming for the hook's messages, the record's readers and advise.
    #[test]
    fn labels_name_what_is_known() {
        let l = |ns, pod, c, sandbox, id| label(ns, pod, c, sandbox, id);
        assert_eq!(l(Some("a"), Some("p"), Some("c"), false, "x"), "a/p/c");
        assert_eq!(
            l(Some("a"), Some("p"), Some("c"), true, "x"),
            "a/p (sandbox)"
        );
        assert_eq!(l(Some("a"), None, None, false, "x"), "a/?/?");
        assert_eq!(l(None, Some("p"), Some("c"), false, "x"), "x");
        assert_eq!(l(None, None, None, false, ""), "unknown");
    }

    #[test]
    fn podman_has_no_identity() {
        let id = Identity::from_annotations(
            &annotations(&[("io.podman.annotations.autoremove", "FALSE")]),
            "c1",
            CriRuntime::Containerd,
        );
        assert_eq!(id, Identity::default());
        assert_eq!(id.label("c1"), "c1");
    }
}

#[cfg(test)]
mod trust_tests {
    use super::*;

    #[test]
    fn only_the_runtimes_bundle_layouts_are_cri() {
        let none = BTreeMap::new();
        let crio: BTreeMap<String, String> =
            [("io.container.manager".to_string(), "cri-o".to_string())].into();
        let podman: BTreeMap<String, String> =
            [("io.container.manager".to_string(), "libpod".to_string())].into();
        let task = Path::new("/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc");
        assert!(created_by_cri(task, "abc", &none));
        assert!(!created_by_cri(task, "other", &none));
        let default_ns = Path::new("/run/containerd/io.containerd.runtime.v2.task/default/abc");
        assert!(!created_by_cri(default_ns, "abc", &none));
        let userdata = Path::new("/run/containers/storage/overlay-containers/abc/userdata");
        assert!(created_by_cri(userdata, "abc", &crio));
        assert!(!created_by_cri(userdata, "abc", &podman));
        assert!(!created_by_cri(Path::new("/tmp/abc"), "abc", &crio));
    }
}
