//! The hook's configuration file (`/etc/oci-psp-hook/config.yaml`):
//! where the PSP manifests live, enforce or audit, and which policies bind to
//! which Kubernetes namespaces. Validated as strictly as a policy.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::load::{At, PolicyError, load_file};
use super::{Policy, builtin};
use crate::input::{POLICY_LIMIT, read_trusted};

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
    policy_directory: Option<Spanned<String>>,
    mode: Option<Mode>,
    default_policies: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    bindings: Vec<Binding>,
    #[serde(default)]
    allowed_hooks: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Binding {
    namespaces: Vec<String>,
    policies: Vec<Spanned<String>>,
}

/// A loaded configuration with every policy it can name.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
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
    /// Executables config.json's hooks may run besides the node's hooks.d
    /// and CDI hooks (absolute paths).
    pub allowed_hooks: Vec<PathBuf>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, PolicyError> {
        let file = path.display().to_string();
        let at = At { file: &file };
        // Resolve symlinks once: the installer swaps a `current` link between
        // policy sets, and config.yaml and its policies must come from one.
        let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let bytes = read_trusted(&real, POLICY_LIMIT).map_err(|e| at.err(None, "", e.reason()))?;
        let text = String::from_utf8(bytes).map_err(|_| at.err(None, "", "not UTF-8 text"))?;
        Config::parse(path, &real, &text)
    }

    /// Parse the text of a configuration file read from `path`; `real` is
    /// `path` with its symlinks resolved (a relative `policyDirectory` is
    /// taken from its parent, and the file itself is never read as a
    /// policy). The policy directory is read from disk.
    pub fn parse(path: &Path, real: &Path, text: &str) -> Result<Config, PolicyError> {
        let file = path.display().to_string();
        let at = At { file: &file };
        let raw: File = serde_saphyr::from_str(text).map_err(|e| at.yaml(&e))?;
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
        let dir = match &raw.policy_directory {
            Some(d) if d.value.trim().is_empty() => {
                return Err(at.spanned(
                    d,
                    "policyDirectory",
                    "must not be empty (omit it for the default)",
                ));
            }
            Some(d) => d.value.as_str(),
            None => DEFAULT_POLICY_DIRECTORY,
        };
        let policy_directory = match real.parent() {
            Some(parent) => parent.join(dir),
            None => PathBuf::from(dir),
        };
        let policies = load_directory(&policy_directory, real, &at)?;
        let mut config = Config {
            path: path.to_path_buf(),
            mode: raw.mode.unwrap_or(Mode::Enforce),
            policy_directory,
            default_policies: Vec::new(),
            bindings: Vec::new(),
            policies,
            broken: Vec::new(),
            allowed_hooks: Vec::new(),
        };
        for (i, hook) in raw.allowed_hooks.iter().enumerate() {
            if !Path::new(&hook.value).is_absolute() {
                return Err(at.spanned(
                    hook,
                    &format!("allowedHooks[{i}]"),
                    format!("{:?} is not an absolute path", hook.value),
                ));
            }
            config.allowed_hooks.push(PathBuf::from(&hook.value));
        }
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
    pub fn resolve(&self, name: &str) -> Option<Cow<'_, Policy>> {
        if name.starts_with(builtin::PREFIX) {
            builtin::profile(name).map(Cow::Owned)
        } else {
            self.policies.get(name).map(Cow::Borrowed)
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
/// policies of one name are an error. The configuration file itself is
/// skipped when it lies in the directory (`policyDirectory: .`).
fn load_directory(
    dir: &Path,
    config: &Path,
    at: &At,
) -> Result<BTreeMap<String, Policy>, PolicyError> {
    let config = config.canonicalize().ok();
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
        .filter(|p| config.is_none() || p.canonicalize().ok() != config)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Origin;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const RESTRICTED: &str = include_str!("../../examples/restricted-psp.yaml");
    const HEADER: &str = "apiVersion: oci-psp-hook/v1alpha1\nkind: HookConfiguration\n";

    /// A temporary directory with `config.yaml` and `policies.d/`, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new() -> Dir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "oci-psp-hook-config-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(path.join("policies.d")).unwrap();
            std::fs::write(path.join("policies.d/restricted-psp.yaml"), RESTRICTED).unwrap();
            Dir(path)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            path
        }

        /// Load a config.yaml with the given text.
        fn load(&self, text: &str) -> Result<Config, PolicyError> {
            Config::load(&self.write("config.yaml", text))
        }

        fn error(&self, text: &str) -> PolicyError {
            self.load(text)
                .expect_err("the configuration must be refused")
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn team_config() -> String {
        format!(
            "{HEADER}policyDirectory: policies.d\nbindings:\n  - namespaces: [kube-system]\n    policies: [builtin:privileged]\n  - namespaces: [team-a, team-b]\n    policies: [restricted, builtin:baseline]\n  - namespaces: [team-a]\n    policies: [builtin:restricted]\n"
        )
    }

    #[test]
    fn example_configuration_parses() {
        // The shipped example names /etc/oci-psp-hook/policies.d; point it at
        // the temporary policy directory, everything else unchanged.
        let dir = Dir::new();
        let example = include_str!("../../examples/config.yaml");
        assert!(example.contains("policyDirectory: /etc/oci-psp-hook/policies.d\n"));
        let text = example.replace(
            "policyDirectory: /etc/oci-psp-hook/policies.d",
            "policyDirectory: policies.d",
        );
        let config = dir.load(&text).unwrap();
        assert_eq!(config.mode, Mode::Enforce);
        assert_eq!(config.default_policies, ["builtin:baseline"]);
        assert_eq!(
            config.bindings,
            [
                (
                    vec!["kube-system".to_string()],
                    vec!["builtin:privileged".to_string()]
                ),
                (
                    vec!["team-a".to_string()],
                    vec!["restricted".to_string(), "builtin:baseline".to_string()]
                ),
            ]
        );
        assert!(config.broken.is_empty(), "{:?}", config.broken);
        assert_eq!(config.policies.keys().collect::<Vec<_>>(), ["restricted"]);
    }

    #[test]
    fn loads_with_relative_policy_directory() {
        let dir = Dir::new();
        let config = dir.load(&team_config()).unwrap();
        assert_eq!(config.path, dir.0.join("config.yaml"));
        assert_eq!(config.policy_directory, dir.0.join("policies.d"));
        assert_eq!(config.mode, Mode::Enforce);
        assert_eq!(config.default_policies, ["builtin:baseline"]);
        assert_eq!(config.bindings.len(), 3);
        assert!(config.broken.is_empty(), "{:?}", config.broken);
        let restricted = config.resolve("restricted").unwrap();
        assert_eq!(
            restricted.origin,
            Origin::File(dir.0.join("policies.d/restricted-psp.yaml"))
        );
        assert_eq!(
            config.resolve("builtin:privileged").unwrap().name,
            "builtin:privileged"
        );
        assert!(config.resolve("nosuch").is_none());
        // Built-in names are never looked up among the PSPs, and PSP names
        // never among the built-ins.
        assert!(config.resolve("builtin:nosuch").is_none());
        assert!(config.resolve("baseline").is_none());
    }

    #[test]
    fn relative_directory_resolves_against_the_config_not_the_cwd() {
        let dir = Dir::new();
        std::fs::create_dir_all(dir.0.join("etc/psp")).unwrap();
        dir.write("etc/psp/r.yaml", RESTRICTED);
        let path = dir.write(
            "etc/config.yaml",
            &format!("{HEADER}policyDirectory: psp\nmode: audit\n"),
        );
        let config = Config::load(&path).unwrap();
        assert_eq!(config.policy_directory, dir.0.join("etc/psp"));
        assert_eq!(config.mode, Mode::Audit);
        assert!(config.policies.contains_key("restricted"));
        // An absolute directory is taken as is.
        let absolute = dir.0.join("policies.d");
        let config = dir
            .load(&format!(
                "{HEADER}policyDirectory: {}\n",
                absolute.display()
            ))
            .unwrap();
        assert_eq!(config.policy_directory, absolute);
    }

    #[test]
    fn configuration_beside_its_policies_is_not_read_as_one() {
        let dir = Dir::new();
        dir.write("restricted.yaml", RESTRICTED);
        let config = dir.load(&format!("{HEADER}policyDirectory: .\n")).unwrap();
        assert_eq!(config.policies.keys().collect::<Vec<_>>(), ["restricted"]);
        // An empty directory name is a mistake, not "the config's directory".
        let e = dir.error(&format!("{HEADER}policyDirectory: \"\"\n"));
        assert_eq!(e.field.as_deref(), Some("policyDirectory"));
        assert_eq!(e.line, Some(3), "{e}");
    }

    #[test]
    fn missing_policy_directory_is_named() {
        let dir = Dir::new();
        let e = dir.error(&format!("{HEADER}policyDirectory: nowhere\n"));
        assert_eq!(e.file, dir.0.join("config.yaml").display().to_string());
        assert_eq!(e.field.as_deref(), Some("policyDirectory"));
        let shown = e.to_string();
        assert!(
            shown.contains(&format!("cannot read {}", dir.0.join("nowhere").display())),
            "{shown}"
        );
    }

    #[test]
    fn default_policy_directory_is_the_documented_one() {
        // Without policyDirectory the default (absolute) directory applies;
        // on a machine without it, the error names it.
        let dir = Dir::new();
        match dir.load(HEADER) {
            Ok(config) => {
                assert_eq!(config.policy_directory, Path::new(DEFAULT_POLICY_DIRECTORY))
            }
            Err(e) => assert!(e.to_string().contains(DEFAULT_POLICY_DIRECTORY), "{e}"),
        }
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let dir = Dir::new();
        let e = dir.error(&format!(
            "{HEADER}policyDirectory: policies.d\npolicyDir: x\n"
        ));
        assert_eq!(e.file, dir.0.join("config.yaml").display().to_string());
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("unknown field `policyDir`"), "{e}");
        // inside a binding too
        let e = dir.error(&format!(
            "{HEADER}policyDirectory: policies.d\nbindings:\n  - namespaces: [a]\n    policies: [builtin:baseline]\n    namespace: b\n"
        ));
        assert_eq!(e.line, Some(7), "{e}");
        assert!(e.message.contains("unknown field `namespace`"), "{e}");
    }

    #[test]
    fn wrong_api_version_and_kind_name_the_line() {
        let dir = Dir::new();
        let e = dir.error("apiVersion: v1\nkind: HookConfiguration\npolicyDirectory: policies.d\n");
        assert_eq!(e.line, Some(1), "{e}");
        assert_eq!(e.field.as_deref(), Some("apiVersion"));
        assert!(
            e.message.contains("\"v1\" is not oci-psp-hook/v1alpha1"),
            "{e}"
        );
        assert!(
            e.to_string().starts_with(&format!(
                "{}:1: apiVersion: ",
                dir.0.join("config.yaml").display()
            )),
            "{e}"
        );

        let e = dir.error(
            "# a comment\napiVersion: oci-psp-hook/v1alpha1\nkind: PodSecurityPolicy\npolicyDirectory: policies.d\n",
        );
        assert_eq!(e.line, Some(3), "{e}");
        assert_eq!(e.field.as_deref(), Some("kind"));
        assert!(e.message.contains("is not HookConfiguration"), "{e}");

        let e = dir.error("kind: HookConfiguration\npolicyDirectory: policies.d\n");
        assert!(e.message.contains("apiVersion"), "{e}");
    }

    #[test]
    fn bad_mode_names_the_line() {
        let dir = Dir::new();
        let e = dir.error(&format!(
            "{HEADER}policyDirectory: policies.d\nmode: permissive\n"
        ));
        assert_eq!(e.file, dir.0.join("config.yaml").display().to_string());
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("permissive"), "{e}");
    }

    #[test]
    fn duplicate_key_names_the_line() {
        let dir = Dir::new();
        let e = dir.error(&format!(
            "{HEADER}policyDirectory: policies.d\nmode: audit\nmode: enforce\n"
        ));
        assert_eq!(e.file, dir.0.join("config.yaml").display().to_string());
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.message.contains("each key may appear once"), "{e}");
    }

    #[test]
    fn empty_lists_are_refused() {
        let dir = Dir::new();
        let e = dir.error(&format!(
            "{HEADER}policyDirectory: policies.d\ndefaultPolicies: []\n"
        ));
        assert_eq!(e.field.as_deref(), Some("defaultPolicies"));
        let e = dir.error(&format!(
            "{HEADER}policyDirectory: policies.d\nbindings:\n  - namespaces: []\n    policies: [builtin:baseline]\n"
        ));
        assert_eq!(e.field.as_deref(), Some("bindings[0]"));
        let e = dir.error(&format!(
            "{HEADER}policyDirectory: policies.d\nbindings:\n  - namespaces: [a]\n    policies: []\n"
        ));
        assert_eq!(e.field.as_deref(), Some("bindings[0]"));
        let e = dir.error("");
        assert_eq!(e.file, dir.0.join("config.yaml").display().to_string());
    }

    #[test]
    fn unreadable_configuration_is_named() {
        let dir = Dir::new();
        let missing = dir.0.join("absent.yaml");
        let e = Config::load(&missing).unwrap_err();
        assert!(
            e.to_string().contains(&missing.display().to_string()),
            "{e}"
        );
        // a directory is not a configuration file
        let e = Config::load(&dir.0).unwrap_err();
        assert!(e.to_string().ends_with(": not a regular file"), "{e}");
    }

    #[test]
    fn same_policy_name_in_two_files_names_both() {
        let dir = Dir::new();
        dir.write("policies.d/zz-copy.yml", RESTRICTED);
        let e = dir.error(&team_config());
        let first = dir.0.join("policies.d/restricted-psp.yaml");
        let second = dir.0.join("policies.d/zz-copy.yml");
        let shown = e.to_string();
        assert!(shown.contains(&first.display().to_string()), "{shown}");
        assert!(shown.contains(&second.display().to_string()), "{shown}");
        assert!(shown.contains("\"restricted\""), "{shown}");
        assert_eq!(e.field.as_deref(), Some("metadata.name"));
    }

    #[test]
    fn only_policy_files_of_the_directory_are_read() {
        let dir = Dir::new();
        dir.write("policies.d/README.md", "not a policy");
        dir.write("policies.d/.hidden.yaml", "not: [a policy");
        dir.write("policies.d/backup.yaml~", "not: [a policy");
        let json = r#"{"apiVersion":"policy/v1beta1","kind":"PodSecurityPolicy","metadata":{"name":"open"},"spec":{"privileged":true,"runAsUser":{"rule":"RunAsAny"},"seLinux":{"rule":"RunAsAny"},"supplementalGroups":{"rule":"RunAsAny"},"fsGroup":{"rule":"RunAsAny"},"volumes":["*"]}}"#;
        dir.write("policies.d/open.json", json);
        let config = dir.load(&team_config()).unwrap();
        assert_eq!(
            config.policies.keys().collect::<Vec<_>>(),
            ["open", "restricted"]
        );
        // an invalid policy file makes the whole configuration invalid
        dir.write("policies.d/bad.yaml", "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata:\n  name: bad\nspec:\n  privileged: maybe\n");
        let e = dir.error(&team_config());
        assert_eq!(
            e.file,
            dir.0.join("policies.d/bad.yaml").display().to_string()
        );
        assert_eq!(e.line, Some(6), "{e}");
    }

    #[test]
    fn binding_to_a_missing_policy_is_recorded_not_fatal() {
        let dir = Dir::new();
        let config = dir
            .load(&format!(
                "{HEADER}policyDirectory: policies.d\nbindings:\n  - namespaces: [team-a]\n    policies: [restricted]\n  - namespaces: [team-b]\n    policies: [builtin:baseline, nosuch]\n"
            ))
            .unwrap();
        assert_eq!(config.broken.len(), 1, "{:?}", config.broken);
        let e = &config.broken[0];
        assert_eq!(e.file, dir.0.join("config.yaml").display().to_string());
        assert_eq!(e.line, Some(8), "{e}");
        assert_eq!(e.field.as_deref(), Some("bindings[1].policies"));
        assert!(
            e.message.contains("policy \"nosuch\" does not exist"),
            "{e}"
        );
        // the binding keeps its names: the hook blocks only what it selects
        assert_eq!(
            config.bound(Some("team-b")).0,
            ["builtin:baseline", "nosuch"]
        );
        assert_eq!(config.bound(Some("team-a")).0, ["restricted"]);

        // a missing default is recorded too, and so is an unknown built-in
        let config = dir
            .load(&format!(
                "{HEADER}policyDirectory: policies.d\ndefaultPolicies: [builtin:strict]\n"
            ))
            .unwrap();
        assert_eq!(config.broken.len(), 1);
        assert_eq!(config.broken[0].field.as_deref(), Some("defaultPolicies"));
        assert_eq!(config.broken[0].line, Some(4));
    }

    #[test]
    fn first_matching_binding_wins() {
        let dir = Dir::new();
        let config = dir.load(&team_config()).unwrap();
        let (names, by) = config.bound(Some("team-a"));
        assert_eq!(names, ["restricted", "builtin:baseline"]);
        assert_eq!(by, "bindings[1]");
        let (names, by) = config.bound(Some("team-b"));
        assert_eq!(names, ["restricted", "builtin:baseline"]);
        assert_eq!(by, "bindings[1]");
        let (names, by) = config.bound(Some("kube-system"));
        assert_eq!(names, ["builtin:privileged"]);
        assert_eq!(by, "bindings[0]");
        // an unknown namespace, and a container Kubernetes did not start
        for ns in [Some("default"), Some("team"), Some(""), None] {
            let (names, by) = config.bound(ns);
            assert_eq!(names, ["builtin:baseline"], "{ns:?}");
            assert_eq!(by, "defaultPolicies");
        }
        // explicit defaults replace builtin:baseline
        let config = dir
            .load(&format!(
                "{HEADER}policyDirectory: policies.d\ndefaultPolicies: [restricted, builtin:restricted]\n"
            ))
            .unwrap();
        assert_eq!(config.bound(None).0, ["restricted", "builtin:restricted"]);
    }
}
