//! Test helpers: container views from the real config.json files captured on
//! the development machine (`tests/fixtures/`, see its README).

use std::path::Path;

use crate::container::ContainerView;
use crate::container::build::{BuildContext, build};
use crate::container::mounts::MountContext;
use crate::container::namespaces::{NamespaceKind, NamespaceProbe};

/// Knows no namespace identities: a namespace is the host's only when
/// config.json has no entry for it, whatever host the tests run on.
pub struct NoProbe;

impl NamespaceProbe for NoProbe {
    fn identity(&self, _path: &Path) -> Option<(u64, u64)> {
        None
    }
    fn own(&self, _kind: NamespaceKind) -> Option<(u64, u64)> {
        None
    }
}

/// The view of `tests/fixtures/<name>.json`.
pub fn view(name: &str) -> ContainerView<'static> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.json"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    view_of(name, &bytes)
}

/// The runtime id a captured config.json had: CRI-O's annotation of it, a
/// containerd sandbox's own sandbox id; podman's bundle is
/// `<storage>/overlay-containers/<id>/userdata`, and its mounts of that
/// directory's files keep the id; otherwise the name stands in.
pub fn capture_id(name: &str, bytes: &[u8]) -> String {
    let json: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    let annotation = |key: &str| json["annotations"][key].as_str().map(str::to_string);
    if let Some(id) = annotation("io.kubernetes.cri-o.ContainerID") {
        return id;
    }
    if annotation("io.kubernetes.cri.container-type").as_deref() == Some("sandbox")
        && let Some(id) = annotation("io.kubernetes.cri.sandbox-id")
    {
        return id;
    }
    let text = String::from_utf8_lossy(bytes);
    text.match_indices("/overlay-containers/")
        .filter_map(|(at, m)| text.get(at + m.len()..at + m.len() + 64))
        .find(|id| id.bytes().all(|b| b.is_ascii_hexdigit()))
        .map_or_else(|| name.to_string(), str::to_string)
}

/// The view of an inline config.json, judged as the container of its
/// capture ([`capture_id`]) and labelled `name`.
pub fn view_of(name: &str, bytes: &[u8]) -> ContainerView<'static> {
    view_trusting(name, bytes, false)
}

/// The view of a config.json a CRI runtime made: its Kubernetes annotations
/// are honoured (`check --cri`).
pub fn cri_view_of(name: &str, bytes: &[u8]) -> ContainerView<'static> {
    view_trusting(name, bytes, true)
}

/// The view of a capture as the node judged it: a config.json with
/// Kubernetes annotations was made by a CRI runtime.
pub fn captured(name: &str, bytes: &[u8]) -> ContainerView<'static> {
    let cri = String::from_utf8_lossy(bytes).contains("\"io.kubernetes.");
    view_trusting(name, bytes, cri)
}

fn view_trusting(name: &str, bytes: &[u8], trust_cri: bool) -> ContainerView<'static> {
    let ctx = BuildContext {
        trust_cri,
        // the capture's own id (`check --id`)
        trust_id: true,
        id: capture_id(name, bytes),
        pid: None,
        state_annotations: Default::default(),
        mounts: MountContext::default(),
        probe: &NoProbe,
    };
    let mut view = build(name, bytes, &ctx)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_owned();
    // Judged as the capture's container; named by its fixture in messages.
    view.id = name.to_string();
    view
}

/// The violations a check finds, rendered `field: message`; asserts the
/// check reported nothing unverifiable.
pub fn violations(
    check: crate::checks::CheckFn,
    view: &ContainerView,
    policy: &crate::policy::Policy,
) -> Vec<String> {
    let mut findings = crate::checks::Findings::default();
    check(view, policy, &mut findings);
    assert!(findings.unverified.is_empty(), "{:?}", findings.unverified);
    findings
        .violations
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// The facts of `tests/fixtures/<name>.json`, owned.
pub fn facts(name: &str) -> crate::container::facts::Facts<'static> {
    crate::container::facts::Facts::from_view(&view(name)).into_owned()
}

/// An empty node root with `/etc/containerd`, removed when dropped.
pub fn containerd_root() -> tempfile::TempDir {
    let root = tempfile::Builder::new()
        .prefix("psp-containerd-")
        .tempdir()
        .unwrap();
    std::fs::create_dir_all(root.path().join("etc/containerd")).unwrap();
    root
}

/// Write `text` to the absolute `path` under `root`, directories made.
pub fn write_under(root: &std::path::Path, path: &str, text: &str) {
    let file = crate::policy_set::under(root, path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, text).unwrap();
}
