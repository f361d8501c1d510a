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

/// The view of an inline config.json.
pub fn view_of(name: &str, bytes: &[u8]) -> ContainerView<'static> {
    let ctx = BuildContext {
        id: name.to_string(),
        pid: None,
        state_annotations: Default::default(),
        mounts: MountContext::default(),
        probe: &NoProbe,
    };
    build(name, bytes, &ctx)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_owned()
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
