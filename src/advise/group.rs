//! `--group-by namespace`: one policy per Kubernetes namespace, one for the
//! containers Kubernetes did not start, and the HookConfiguration whose
//! bindings attach each policy to its namespace.

use std::collections::BTreeMap;

use serde_json::json;

use super::document::Document;
use crate::container::facts::Facts;
use crate::policy::config;

/// The policy name of the containers Kubernetes did not start.
pub const DEFAULT_GROUP: &str = "default";
/// Its name when a Kubernetes namespace is itself called `default`.
pub const DEFAULT_GROUP_RENAMED: &str = "non-kubernetes";
/// `defaultPolicies` when every container belongs to a namespace.
pub const FALLBACK_POLICY: &str = "builtin:restricted";

/// The containers one policy is advised for.
#[derive(Debug, Clone)]
pub struct Group {
    /// The policy's `metadata.name`.
    pub name: String,
    /// `None`: containers Kubernetes did not start.
    pub namespace: Option<String>,
    pub facts: Vec<Facts<'static>>,
}

/// Group by Kubernetes namespace, sorted by namespace, the non-Kubernetes
/// containers last. Policy names are the namespaces (`PREFIX-namespace`
/// with a prefix).
pub fn by_namespace(facts: Vec<Facts<'static>>, prefix: Option<&str>) -> Vec<Group> {
    let mut namespaces: BTreeMap<String, Vec<Facts>> = BTreeMap::new();
    let mut others = Vec::new();
    for f in facts {
        match f.namespace.clone() {
            Some(ns) => namespaces.entry(ns).or_default().push(f),
            None => others.push(f),
        }
    }
    let named = |base: &str| match prefix {
        Some(p) => format!("{p}-{base}"),
        None => base.to_string(),
    };
    let default_name = if namespaces.contains_key(DEFAULT_GROUP) {
        DEFAULT_GROUP_RENAMED
    } else {
        DEFAULT_GROUP
    };
    let mut groups: Vec<Group> = namespaces
        .into_iter()
        .map(|(ns, facts)| Group {
            name: named(&ns),
            namespace: Some(ns),
            facts,
        })
        .collect();
    if !others.is_empty() {
        groups.push(Group {
            name: named(default_name),
            namespace: None,
            facts: others,
        });
    }
    groups
}

/// The HookConfiguration binding each namespace's policy; the
/// non-Kubernetes policy (else [`FALLBACK_POLICY`]) is the default.
pub fn configuration(groups: &[Group]) -> Document {
    let mut doc = Document::default();
    let bindings: Vec<_> = groups
        .iter()
        .filter_map(|g| {
            let ns = g.namespace.as_ref()?;
            Some(json!({"namespaces": [ns], "policies": [g.name]}))
        })
        .collect();
    let default = groups
        .iter()
        .find(|g| g.namespace.is_none())
        .map_or(FALLBACK_POLICY.to_string(), |g| g.name.clone());
    doc.note(
        &["defaultPolicies"],
        if default == FALLBACK_POLICY {
            "no container outside Kubernetes was seen: the strictest built-in profile for them and for namespaces no binding names"
        } else {
            "containers Kubernetes did not start, and namespaces no binding names"
        },
    );
    doc.note(
        &["bindings"],
        format!(
            "the policies above belong in policyDirectory (default {}); try mode: audit first",
            config::DEFAULT_POLICY_DIRECTORY
        ),
    );
    doc.value = json!({
        "apiVersion": config::API_VERSION,
        "kind": config::KIND,
        "defaultPolicies": [default],
        "bindings": bindings,
    });
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn facts(name: &str, namespace: Option<&str>) -> Facts<'static> {
        let mut f = fixtures::facts(name);
        f.namespace = namespace.map(str::to_string);
        f
    }

    #[test]
    fn one_group_per_namespace_and_the_rest() {
        let groups = by_namespace(
            vec![
                facts("podman-default", Some("team-b")),
                facts("podman-default", None),
                facts("podman-cap-add", Some("team-a")),
                facts("podman-host-pid", Some("team-b")),
            ],
            None,
        );
        let names: Vec<(&str, usize)> = groups
            .iter()
            .map(|g| (g.name.as_str(), g.facts.len()))
            .collect();
        assert_eq!(names, [("team-a", 1), ("team-b", 2), ("default", 1)]);
        let config = configuration(&groups).value;
        assert_eq!(config["defaultPolicies"], json!(["default"]));
        assert_eq!(
            config["bindings"][1],
            json!({"namespaces": ["team-b"], "policies": ["team-b"]})
        );
    }

    #[test]
    fn kubernetes_default_namespace_keeps_its_name() {
        let groups = by_namespace(
            vec![
                facts("podman-default", Some("default")),
                facts("podman-default", None),
            ],
            Some("advised"),
        );
        let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["advised-default", "advised-non-kubernetes"]);
        let only_k8s = by_namespace(vec![facts("podman-default", Some("a"))], None);
        assert_eq!(
            configuration(&only_k8s).value["defaultPolicies"],
            json!([FALLBACK_POLICY])
        );
    }
}
