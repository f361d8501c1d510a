//! The hook's configuration file (`/etc/oci-psp-hook/config.yaml`):
//! where the PSP manifests live, enforce or audit, and which policies bind to
//! which Kubernetes namespaces. Validated as strictly as a policy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::load::{At, PolicyError, load_file};
use super::{Policy, builtin};
use crate::input::{POLICY_LIMIT, read_bounded};

pub const DEFAULT_PATH: &str = "/etc/oci-psp-hook/config.yaml";
pub const DEFAULT_POLICY_DIRECTORY: &str = "/etc/oci-psp-hook/policies.d";
pub const API_VERSION: &str = "oci-psp-hook/v1alpha1";
pub const KIND: &str = "HookConfiguration";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deny what no policy admits.
    Enforce,
    /// Log the verdict ("would deny") and always allow.
    Audit,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct File {
    api_version: Spanned<String>,
    kind: Spanned<String>,
    policy_directory: Option<String>,
    mode: Option<Mode>,
    default_policies: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    bindings: Vec<Binding>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Binding {
    namespaces: Vec<String>,
    policies: Vec<Spanned<String>>,
}

/// A loaded configuration with every policy it can name.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub mode: Mode,
    pub policy_directory: PathBuf,
    pub default_policies: Vec<String>,
    /// (namespaces, policy names), first match wins.
    pub bindings: Vec<(Vec<String>, Vec<String>)>,
    /// PSPs of the policy directory by `metadata.name`.
    pub policies: BTreeMap<String, Policy>,
    /// Bindings naming a policy that exists nowhere, with the reason. The hook
    /// blocks the containers such a binding selects; `lint` fails.
    pub broken: Vec<PolicyError>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, PolicyError> {
        let file = path.display().to_string();
        let at = At { file: &file };
        let bytes =
            read_bounded(path, POLICY_LIMIT).map_err(|e| at.err(None, "", e.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|_| at.err(None, "", "not UTF-8 text"))?;
        let raw: File = serde_saphyr::from_str(&text).map_err(|e| at.yaml(&e))?;
        if raw.api_version.value != API_VERSION {
            return Err(at.spanned(
                &raw.api_version,
                "apiVersion",
                format!("{:?} is not {API_VERSION}", raw.api_version.value),
            ));
        }
        if raw.kind.value != KIND {
            return Err(at.spanned(
                &raw.kind,
                "kind",
                format!("{:?} is not {KIND}", raw.kind.value),
            ));
        }
        let dir = raw
            .policy_directory
            .as_deref()
            .unwrap_or(DEFAULT_POLICY_DIRECTORY);
        let policy_directory = match path.parent() {
            Some(parent) => parent.join(dir),
            None => PathBuf::from(dir),
        };
        let policies = load_directory(&policy_directory, &at)?;
        let mut config = Config {
            path: path.to_path_buf(),
            mode: raw.mode.unwrap_or(Mode::Enforce),
            policy_directory,
            default_policies: Vec::new(),
            bindings: Vec::new(),
            policies,
            broken: Vec::new(),
        };
        let defaults = raw.default_policies.unwrap_or_else(|| {
            vec![Spanned::new(
                format!("{}baseline", builtin::PREFIX),
                Location::UNKNOWN,
                Location::UNKNOWN,
            )]
        });
        if defaults.is_empty() {
            return Err(at.err(None, "defaultPolicies", "must name at least one policy (a container with no policy would have nothing to admit it)"));
        }
        config.default_policies = config.names(&at, "defaultPolicies", &defaults);
        for (i, b) in raw.bindings.iter().enumerate() {
            if b.namespaces.is_empty() || b.policies.is_empty() {
                return Err(at.err(
                    None,
                    &format!("bindings[{i}]"),
                    "needs at least one namespace and one policy",
                ));
            }
            let names = config.names(&at, &format!("bindings[{i}].policies"), &b.policies);
            config.bindings.push((b.namespaces.clone(), names));
        }
        Ok(config)
    }

    /// Names of a list, recording each one that resolves to nothing.
    fn names(&mut self, at: &At, field: &str, items: &[Spanned<String>]) -> Vec<String> {
        items
            .iter()
            .map(|n| {
                if self.resolve(&n.value).is_none() {
                    let line = (n.referenced.line() > 0).then(|| n.referenced.line());
                    self.broken.push(at.err(line, field, format!("policy {:?} does not exist (not a builtin:* profile, and no PodSecurityPolicy of that name in {})", n.value, self.policy_directory.display())));
                }
                n.value.clone()
            })
            .collect()
    }

    /// A policy by the name a binding uses: `builtin:*` or a PSP name.
    pub fn resolve(&self, name: &str) -> Option<Policy> {
        if name.starts_with(builtin::PREFIX) {
            builtin::profile(name)
        } else {
            self.policies.get(name).cloned()
        }
    }

    /// The policy names bound to a Kubernetes namespace (`None`: not a
    /// Kubernetes container), and which binding chose them.
    pub fn bound(&self, namespace: Option<&str>) -> (&[String], String) {
        if let Some(ns) = namespace {
            for (i, (namespaces, policies)) in self.bindings.iter().enumerate() {
                if namespaces.iter().any(|n| n == ns) {
                    return (policies, format!("bindings[{i}]"));
                }
            }
        }
        (&self.default_policies, "defaultPolicies".to_string())
    }
}

/// Every PSP of the directory (`*.yaml`, `*.yml`, `*.json`), by name; two
/// policies of one name are an error.
fn load_directory(dir: &Path, at: &At) -> Result<BTreeMap<String, Policy>, PolicyError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        at.err(
            None,
            "policyDirectory",
            format!("cannot read {}: {e}", dir.display()),
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            let ext = p.extension().and_then(|e| e.to_str());
            !hidden && matches!(ext, Some("yaml" | "yml" | "json"))
        })
        .collect();
    files.sort();
    let mut policies: BTreeMap<String, Policy> = BTreeMap::new();
    for file in files {
        for policy in load_file(&file)? {
            if let Some(first) = policies.get(&policy.name) {
                return Err(PolicyError {
                    file: file.display().to_string(),
                    line: None,
                    field: Some("metadata.name".into()),
                    message: format!(
                        "PodSecurityPolicy {:?} is also defined in {}",
                        policy.name, first.origin
                    ),
                });
            }
            policies.insert(policy.name.clone(), policy);
        }
    }
    Ok(policies)
}
