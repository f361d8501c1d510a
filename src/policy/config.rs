//! The hook's configuration file ([`crate::CONFIG_PATH`]):
//! where the PSP manifests live, enforce or audit, and which policies bind to
//! which Kubernetes namespaces. Validated as strictly as a policy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::load::{At, PolicyError, load_file};
use super::{NotEnforced, Policy, builtin, exemptions};
use crate::input::{POLICY_LIMIT, read_trusted_real};

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

/// How seccomp profiles are read (`seccomp:` of the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SeccompReading {
    /// A profile confines only if its rules, too, deny what the runtimes'
    /// default profiles deny (see `container::seccomp`).
    #[default]
    Strict,
    /// The Pod Security Standards' reading: any profile that does not let
    /// syscalls through by its default action or a host agent counts as
    /// `RuntimeDefault`/`Localhost`, its rules not inspected.
    Pss,
}

/// Mark `policy` to be read as the Pod Security Standards read seccomp
/// profiles, where it restricts them.
pub fn read_seccomp_as_pss(policy: &mut Policy) {
    let restricts = policy
        .seccomp
        .allowed
        .as_ref()
        .is_some_and(|a| !a.iter().any(|n| n == "*"));
    if restricts && !seccomp_read_as_pss(policy) {
        policy.not_enforced.push(NotEnforced::SeccompReadAsPss);
    }
}

/// Whether the configuration asked for `policy`'s seccomp profiles to be
/// read as the Pod Security Standards read them.
pub fn seccomp_read_as_pss(policy: &Policy) -> bool {
    policy.not_enforced.contains(&NotEnforced::SeccompReadAsPss)
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
    seccomp: Option<Spanned<String>>,
    #[serde(default)]
    exemptions: Vec<Spanned<exemptions::RawRule>>,
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
    /// PSPs of the policy directory by `metadata.name`, each boxed: a map
    /// node moves pointers, not policies (a hundred read back from the cache
    /// took 3% fewer instructions).
    #[serde(deserialize_with = "in_order")]
    pub policies: BTreeMap<String, Box<Policy>>,
    /// The built-in profiles `defaultPolicies` and the bindings name
    /// (`builtin:*`), built once as the configuration reads them.
    pub profiles: BTreeMap<String, Box<Policy>>,
    /// Bindings naming a policy that exists nowhere, with the reason. The hook
    /// blocks the containers such a binding selects; `lint` fails.
    pub broken: Vec<Broken>,
    /// Executables config.json's hooks may run besides the node's hooks.d
    /// and CDI hooks (absolute paths).
    pub allowed_hooks: Vec<PathBuf>,
    /// How seccomp profiles are read; the policies it names carry it
    /// ([`read_seccomp_as_pss`]).
    pub seccomp: SeccompReading,
    /// Containers admitted whatever their policies say, in order.
    pub exemptions: Vec<exemptions::Rule>,
}

/// A map read back from the cache, where it was written in key order: built
/// in one pass, not inserted key by key (a hundred policies: 4% of a start's
/// instructions less).
fn in_order<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Box<Policy>>, D::Error> {
    struct Pairs;
    impl<'de> serde::de::Visitor<'de> for Pairs {
        type Value = Vec<(String, Box<Policy>)>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("policies by name")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
            while let Some(pair) = map.next_entry()? {
                pairs.push(pair);
            }
            Ok(pairs)
        }
    }
    d.deserialize_map(Pairs).map(BTreeMap::from_iter)
}

/// A policy name a binding or `defaultPolicies` uses that names nothing.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub struct Broken {
    pub name: String,
    pub error: PolicyError,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, PolicyError> {
        // One resolution of the links on the way for the file and its policy
        // directory: the installer swaps a `current` link between policy
        // sets, and config.yaml and its policies must come from one, even
        // when policyDirectory names the directory through that link
        // (/etc/oci-psp-hook/policies.d -> current/policies.d).
        crate::input::one_resolution(|| {
            let file = path.display().to_string();
            let at = At { file: &file };
            let (bytes, real) =
                read_trusted_real(path, POLICY_LIMIT).map_err(|e| at.err(None, "", e.reason()))?;
            let text = String::from_utf8(bytes).map_err(|_| at.err(None, "", "not UTF-8 text"))?;
            Config::parse(path, &real, &text)
        })
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
        let seccomp = match &raw.seccomp {
            None => SeccompReading::Strict,
            Some(v) => match v.value.as_str() {
                "strict" => SeccompReading::Strict,
                "pss" => SeccompReading::Pss,
                other => {
                    return Err(at.spanned(
                        v,
                        "seccomp",
                        format!("{other:?} is not strict or pss"),
                    ));
                }
            },
        };
        let exemptions = exemptions::parse(&at, &raw.exemptions)?;
        let mut policies = load_directory(&policy_directory, real, &at)?;
        if seccomp == SeccompReading::Pss {
            policies.values_mut().for_each(|p| read_seccomp_as_pss(p));
        }
        let mut config = Config {
            path: path.to_path_buf(),
            mode: raw.mode.unwrap_or(Mode::Enforce),
            policy_directory,
            default_policies: Vec::new(),
            bindings: Vec::new(),
            policies,
            profiles: BTreeMap::new(),
            broken: Vec::new(),
            allowed_hooks: Vec::new(),
            seccomp,
            exemptions,
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
                if n.value.starts_with(builtin::PREFIX)
                    && !self.profiles.contains_key(&n.value)
                    && let Some(mut profile) = builtin::profile(&n.value)
                {
                    if self.seccomp == SeccompReading::Pss {
                        read_seccomp_as_pss(&mut profile);
                    }
                    self.profiles.insert(n.value.clone(), Box::new(profile));
                }
                if self.resolve(&n.value).is_none() {
                    let line = (n.referenced.line() > 0).then(|| n.referenced.line());
                    let message = match builtin::lookup(&n.value) {
                        Err(e @ builtin::UnknownProfile::Version { .. })
                            if n.value.starts_with(builtin::PREFIX) =>
                        {
                            e.to_string()
                        }
                        _ => format!("policy {:?} does not exist (not a builtin:* profile, and no PodSecurityPolicy of that name in {})", n.value, self.policy_directory.display()),
                    };
                    self.broken.push(Broken {
                        name: n.value.clone(),
                        error: at.err(line, field, message),
                    });
                }
                n.value.clone()
            })
            .collect()
    }

    /// A policy by the name a binding uses: a `builtin:*` profile the
    /// configuration names, or a PSP name.
    pub fn resolve(&self, name: &str) -> Option<&Policy> {
        let by_name = if name.starts_with(builtin::PREFIX) {
            &self.profiles
        } else {
            &self.policies
        };
        by_name.get(name).map(|p| &**p)
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
/// policies of one name are an error. The configuration file itself (`config`,
/// its links resolved) is skipped when it lies in the directory
/// (`policyDirectory: .`). The directory is trusted as a policy file is (it
/// and every directory above it), listed from the directory judged, and
/// resolved in the configuration's resolution: through the links its file
/// was read through, as they were then.
fn load_directory(
    dir: &Path,
    config: &Path,
    at: &At,
) -> Result<BTreeMap<String, Box<Policy>>, PolicyError> {
    let (real, entries) = crate::input::list_trusted_dir(dir)
        .map_err(|e| at.err(None, "policyDirectory", e.to_string()))?;
    let mut files: Vec<PathBuf> = entries
        .into_iter()
        .filter(|(name, _)| {
            let name = Path::new(name);
            let hidden = name.to_str().is_some_and(|n| n.starts_with('.'));
            let ext = name.extension().and_then(|e| e.to_str());
            !hidden && matches!(ext, Some("yaml" | "yml" | "json"))
        })
        .filter(|(name, link)| {
            // A link is followed to see whether it leads to the configuration;
            // one that leads nowhere trusted is reported when it is read.
            if *link {
                crate::input::trusted_stat(&dir.join(name)).map_or(true, |(to, _)| to != config)
            } else {
                real.join(name) != config
            }
        })
        .map(|(name, _)| dir.join(name))
        .collect();
    files.sort();
    let mut policies: BTreeMap<String, Box<Policy>> = BTreeMap::new();
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
            policies.insert(policy.name.clone(), Box::new(policy));
        }
    }
    Ok(policies)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Origin;

    const RESTRICTED: &str = include_str!("../../examples/restricted-psp.yaml");
    const HEADER: &str = "apiVersion: oci-psp-hook/v1alpha1\nkind: HookConfiguration\n";

    /// A temporary directory with `config.yaml` and `policies.d/`, removed on drop.
    struct Dir(tempfile::TempDir);

    impl Dir {
        fn new() -> Dir {
            let dir = tempfile::Builder::new()
                .prefix("oci-psp-hook-config-")
                .tempdir()
                .unwrap();
            // 0755 as one made with the umask: loading judges it
            chmod(dir.path(), 0o755);
            let path = dir.path();
            std::fs::create_dir_all(path.join("policies.d")).unwrap();
            std::fs::write(path.join("policies.d/restricted-psp.yaml"), RESTRICTED).unwrap();
            Dir(dir)
        }

        fn path(&self) -> &Path {
            self.0.path()
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.path().join(name);
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
        assert_eq!(config.path, dir.path().join("config.yaml"));
        assert_eq!(config.policy_directory, dir.path().join("policies.d"));
        assert_eq!(config.mode, Mode::Enforce);
        assert_eq!(config.default_policies, ["builtin:baseline"]);
        assert_eq!(config.bindings.len(), 3);
        assert!(config.broken.is_empty(), "{:?}", config.broken);
        let restricted = config.resolve("restricted").unwrap();
        assert_eq!(
            restricted.origin,
            Origin::File(dir.path().join("policies.d/restricted-psp.yaml"))
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
        std::fs::create_dir_all(dir.path().join("etc/psp")).unwrap();
        dir.write("etc/psp/r.yaml", RESTRICTED);
        let path = dir.write(
            "etc/config.yaml",
            &format!("{HEADER}policyDirectory: psp\nmode: audit\n"),
        );
        let config = Config::load(&path).unwrap();
        assert_eq!(config.policy_directory, dir.path().join("etc/psp"));
        assert_eq!(config.mode, Mode::Audit);
        assert!(config.policies.contains_key("restricted"));
        // An absolute directory is taken as is.
        let absolute = dir.path().join("policies.d");
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
        assert_eq!(e.file, dir.path().join("config.yaml").display().to_string());
        assert_eq!(e.field.as_deref(), Some("policyDirectory"));
        let shown = e.to_string();
        assert!(
            shown.contains(&format!(
                "cannot read {}",
                dir.path().join("nowhere").display()
            )),
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
        assert_eq!(e.file, dir.path().join("config.yaml").display().to_string());
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
                dir.path().join("config.yaml").display()
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
        assert_eq!(e.file, dir.path().join("config.yaml").display().to_string());
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("permissive"), "{e}");
    }

    #[test]
    fn duplicate_key_names_the_line() {
        let dir = Dir::new();
        let e = dir.error(&format!(
            "{HEADER}policyDirectory: policies.d\nmode: audit\nmode: enforce\n"
        ));
        assert_eq!(e.file, dir.path().join("config.yaml").display().to_string());
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
        assert_eq!(e.file, dir.path().join("config.yaml").display().to_string());
    }

    #[test]
    fn unreadable_configuration_is_named() {
        let dir = Dir::new();
        let missing = dir.path().join("absent.yaml");
        let e = Config::load(&missing).unwrap_err();
        assert!(
            e.to_string().contains(&missing.display().to_string()),
            "{e}"
        );
        // a directory is not a configuration file
        let e = Config::load(dir.path()).unwrap_err();
        assert!(e.to_string().ends_with(": not a regular file"), "{e}");
    }

    #[test]
    fn same_policy_name_in_two_files_names_both() {
        let dir = Dir::new();
        dir.write("policies.d/zz-copy.yml", RESTRICTED);
        let e = dir.error(&team_config());
        let first = dir.path().join("policies.d/restricted-psp.yaml");
        let second = dir.path().join("policies.d/zz-copy.yml");
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
            dir.path().join("policies.d/bad.yaml").display().to_string()
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
        let e = &config.broken[0].error;
        assert_eq!(e.file, dir.path().join("config.yaml").display().to_string());
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
        assert_eq!(
            config.broken[0].error.field.as_deref(),
            Some("defaultPolicies")
        );
        assert_eq!(config.broken[0].error.line, Some(4));

        // a built-in pinned to a version this build does not know is named so
        let config = dir
            .load(&format!(
                "{HEADER}policyDirectory: policies.d\ndefaultPolicies: [builtin:baseline@v1.30]\n\
                 bindings:\n  - namespaces: [a]\n    policies: [builtin:restricted@v1.99]\n"
            ))
            .unwrap();
        assert_eq!(config.broken.len(), 1, "{:?}", config.broken);
        let e = &config.broken[0].error;
        assert_eq!(e.field.as_deref(), Some("bindings[0].policies"));
        assert!(
            e.message
                .contains("knows no Pod Security Standards version \"v1.99\""),
            "{e}"
        );
        assert_eq!(
            config
                .resolve("builtin:baseline@v1.30")
                .map(|p| p.name.clone()),
            Some("builtin:baseline@v1.30".into())
        );
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

    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// The installed layout (see `crate::policy_set`): config.yaml and
    /// policies.d through `current`, here with the policy directory named
    /// absolutely, through its link (as examples/config.yaml names
    /// /etc/oci-psp-hook/policies.d). Set `a` admits by policy `a`, set `b`
    /// by policy `b`; `current` flips from one to the other right after the
    /// configuration file is read. One load reads one set: config.yaml of a
    /// with a's policies, never a's bindings with b's policies (a binding to
    /// a policy that is not there).
    #[test]
    fn a_rollout_during_a_load_reads_one_set() {
        let dir = Dir::new();
        let root = dir.path();
        for set in ["a", "b"] {
            let policies = root.join(format!("versions/{set}/policies.d"));
            std::fs::create_dir_all(&policies).unwrap();
            std::fs::write(
                policies.join(format!("{set}.yaml")),
                RESTRICTED.replace("name: restricted", &format!("name: {set}")),
            )
            .unwrap();
            std::fs::write(
                root.join(format!("versions/{set}/config.yaml")),
                format!(
                    "{HEADER}policyDirectory: {}\ndefaultPolicies: [{set}]\n",
                    root.join("policies.d").display()
                ),
            )
            .unwrap();
        }
        fn link(root: &Path, target: &str, name: &str) {
            let tmp = root.join(format!("{name}.new"));
            let _ = std::fs::remove_file(&tmp);
            std::os::unix::fs::symlink(target, &tmp).unwrap();
            std::fs::rename(&tmp, root.join(name)).unwrap();
        }
        std::fs::remove_dir_all(root.join("policies.d")).unwrap();
        link(root, "versions/a", "current");
        link(root, "current/config.yaml", "config.yaml");
        link(root, "current/policies.d", "policies.d");
        let config = root.join("config.yaml");

        let flip = |to: &'static str| {
            let root = root.to_path_buf();
            move |moment, path: &Path| {
                if moment == crate::input::test_hook::Moment::AfterRead
                    && path.ends_with("config.yaml")
                {
                    link(&root, to, "current");
                }
            }
        };
        let loaded = crate::input::test_hook::with(flip("versions/b"), || Config::load(&config));
        let loaded = loaded.unwrap();
        assert!(loaded.broken.is_empty(), "{:?}", loaded.broken);
        assert_eq!(loaded.default_policies, ["a"]);
        assert_eq!(loaded.policies.keys().collect::<Vec<_>>(), ["a"]);
        // The next load reads the link again: all of b.
        let loaded = Config::load(&config).unwrap();
        assert_eq!(loaded.default_policies, ["b"]);
        assert_eq!(loaded.policies.keys().collect::<Vec<_>>(), ["b"]);
        // And back, mid-load again.
        let loaded =
            crate::input::test_hook::with(flip("versions/a"), || Config::load(&config)).unwrap();
        assert_eq!(loaded.default_policies, ["b"]);
        assert_eq!(loaded.policies.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(
            loaded.resolve("b").unwrap().origin,
            Origin::File(root.join("policies.d/b.yaml"))
        );
    }

    #[test]
    fn policy_files_and_directories_others_can_change_are_refused() {
        let dir = Dir::new();
        chmod(dir.path(), 0o755);
        let policies = dir.path().join("policies.d");
        let policy = policies.join("restricted-psp.yaml");
        chmod(&policies, 0o755);
        chmod(&policy, 0o644);
        dir.load(&team_config()).unwrap();

        // A policy file its group could rewrite.
        chmod(&policy, 0o664);
        let e = dir.error(&team_config());
        assert_eq!(e.file, policy.display().to_string());
        assert!(
            e.message
                .starts_with("writable by its group (mode 664): refusing it"),
            "{e}"
        );
        chmod(&policy, 0o644);

        // The policy directory, where others could add or swap a policy.
        chmod(&policies, 0o775);
        let e = dir.error(&team_config());
        assert_eq!(e.field.as_deref(), Some("policyDirectory"));
        assert!(
            e.message.starts_with(&format!(
                "{} is writable by its group (mode 775): refusing it",
                policies.display()
            )),
            "{e}"
        );
        chmod(&policies, 0o755);

        // A directory above the configuration file.
        chmod(dir.path(), 0o777);
        let e = dir.error(&team_config());
        assert_eq!(e.file, dir.path().join("config.yaml").display().to_string());
        assert!(
            e.message.starts_with(&format!(
                "{}, a directory above it, is writable by everyone (mode 777)",
                dir.path().display()
            )),
            "{e}"
        );
        chmod(dir.path(), 0o755);
        dir.load(&team_config()).unwrap();

        if !nix::unistd::geteuid().is_root() {
            return; // only root can give a directory away
        }
        std::os::unix::fs::chown(&policies, Some(65534), Some(65534)).unwrap();
        let e = dir.error(&team_config());
        assert_eq!(e.field.as_deref(), Some("policyDirectory"));
        assert!(
            e.message.starts_with(&format!(
                "{} is owned by uid 65534, neither root nor the hook's user",
                policies.display()
            )),
            "{e}"
        );
        std::os::unix::fs::chown(&policies, Some(0), Some(0)).unwrap();
        dir.load(&team_config()).unwrap();
    }

    /// A PSP admitting podman-restricted-ok in everything but, perhaps, its
    /// seccomp profile (`runtime/default` only).
    const SECCOMP_PSP: &str = "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata:\n  name: seccomp-default\n  annotations:\n    seccomp.security.alpha.kubernetes.io/allowedProfileNames: runtime/default\nspec:\n  privileged: false\n  allowPrivilegeEscalation: false\n  requiredDropCapabilities: [ALL]\n  runAsUser:\n    rule: MustRunAsNonRoot\n  seLinux:\n    rule: RunAsAny\n  supplementalGroups:\n    rule: RunAsAny\n  fsGroup:\n    rule: RunAsAny\n  volumes: ['*']\n";

    /// The decision on `fixture` under the configuration `seccomp` (omitted
    /// when `None`) naming `policy` as the default: what `check --config`
    /// decides, offline.
    fn decide_seccomp(seccomp: Option<&str>, policy: &str, fixture: &str) -> Vec<String> {
        let dir = Dir::new();
        dir.write("policies.d/seccomp-default.yaml", SECCOMP_PSP);
        let key = seccomp.map_or(String::new(), |s| format!("seccomp: {s}\n"));
        let config = dir
            .load(&format!(
                "{HEADER}policyDirectory: policies.d\n{key}defaultPolicies: [{policy}]\n"
            ))
            .unwrap();
        let sources = crate::policy::select::Sources::Config(Box::new(config));
        // podman's fixture with a profile letting a container without
        // capabilities use bpf and userfaultfd; containerd's as captured
        let mut json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("tests/fixtures/{fixture}.json")).unwrap(),
        )
        .unwrap();
        if fixture.starts_with("podman") {
            json["linux"]["seccomp"]["syscalls"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"names": ["bpf", "userfaultfd"], "action": "SCMP_ACT_ALLOW"}));
        }
        let view = crate::fixtures::view_of(fixture, json.to_string().as_bytes());
        let selection = sources.select(&view).unwrap();
        let decision = crate::decision::Decision::evaluate(&view, &selection);
        let violations: Vec<String> = decision
            .results
            .iter()
            .flat_map(|r| &r.violations)
            .map(|v| v.to_string())
            .collect();
        assert_eq!(
            decision.verdict == crate::decision::Verdict::Allow,
            violations.is_empty(),
            "{violations:?}"
        );
        violations
    }

    #[test]
    fn seccomp_reading_is_strict_unless_pss() {
        // a profile letting a container without capabilities use bpf: strict
        // denies it, the Pod Security Standards' reading admits it, for the
        // built-in profile and a PSP alike.
        for policy in ["builtin:restricted", "seccomp-default"] {
            for strict in [None, Some("strict")] {
                let denied = decide_seccomp(strict, policy, "podman-restricted-ok");
                assert_eq!(denied.len(), 1, "{policy}: {denied:?}");
                assert!(
                    denied[0]
                        .starts_with("seccomp: container's seccomp profile does not confine: ")
                        && denied[0].contains("bpf, userfaultfd"),
                    "{denied:?}"
                );
            }
            assert!(
                decide_seccomp(Some("pss"), policy, "podman-restricted-ok").is_empty(),
                "{policy}"
            );
        }
        // containerd's RuntimeDefault confines either way.
        let containerd = "cri-captured/base-spec/containerd-pss-restricted-ok-app";
        for reading in [None, Some("pss")] {
            let found = decide_seccomp(reading, "seccomp-default", containerd);
            assert!(
                !found.iter().any(|v| v.starts_with("seccomp:")),
                "{found:?}"
            );
        }
    }

    #[test]
    fn pss_reading_is_carried_by_the_policies_it_restricts() {
        let dir = Dir::new();
        dir.write("policies.d/seccomp-default.yaml", SECCOMP_PSP);
        let text = |reading: &str| {
            format!(
                "{HEADER}policyDirectory: policies.d\nseccomp: {reading}\n\
                 defaultPolicies: [restricted, seccomp-default, builtin:restricted, builtin:privileged]\n"
            )
        };
        let config = dir.load(&text("pss")).unwrap();
        assert_eq!(config.seccomp, SeccompReading::Pss);
        // a PSP and a built-in that restrict profiles carry it (lint shows it)
        assert!(seccomp_read_as_pss(
            config.resolve("seccomp-default").unwrap()
        ));
        let restricted = config.resolve("builtin:restricted").unwrap();
        assert!(
            restricted
                .not_enforced
                .contains(&NotEnforced::SeccompReadAsPss)
        );
        // one that does not restrict them has nothing to read
        assert!(!seccomp_read_as_pss(config.resolve("restricted").unwrap()));
        assert!(!seccomp_read_as_pss(
            config.resolve("builtin:privileged").unwrap()
        ));
        let config = dir.load(&text("strict")).unwrap();
        assert_eq!(config.seccomp, SeccompReading::Strict);
        assert!(!seccomp_read_as_pss(
            config.resolve("builtin:restricted").unwrap()
        ));
        assert!(!seccomp_read_as_pss(
            config.resolve("seccomp-default").unwrap()
        ));
        // marking twice notes once
        let mut p = builtin::restricted();
        read_seccomp_as_pss(&mut p);
        read_seccomp_as_pss(&mut p);
        assert_eq!(p.not_enforced, [NotEnforced::SeccompReadAsPss]);
    }

    #[test]
    fn exemptions_are_read_in_order() {
        let dir = Dir::new();
        let digest = format!("sha256:{}", "0a".repeat(32));
        let config = dir
            .load(&format!(
                "{HEADER}policyDirectory: policies.d\nexemptions:\n- namespaces: [monitoring]\n  images: [\"registry.example/node-exporter:*\", \"{digest}\"]\n- runtimeHandlers: [kata]\n- namespaces: [dev]\n  containerNames: [debugger]\n"
            ))
            .unwrap();
        use exemptions::{ImagePattern, Rule};
        assert_eq!(
            config.exemptions,
            [
                Rule {
                    namespaces: vec!["monitoring".into()],
                    images: vec![
                        ImagePattern::Glob("registry.example/node-exporter:*".into()),
                        ImagePattern::Digest(digest),
                    ],
                    ..Rule::default()
                },
                Rule {
                    runtime_handlers: vec!["kata".into()],
                    ..Rule::default()
                },
                Rule {
                    namespaces: vec!["dev".into()],
                    container_names: vec!["debugger".into()],
                    ..Rule::default()
                },
            ]
        );
        assert!(dir.load(&team_config()).unwrap().exemptions.is_empty());
    }

    #[test]
    fn bad_exemptions_name_file_line_and_field() {
        let dir = Dir::new();
        let cases = [
            // a rule of nothing would exempt everything
            ("- {}\n", 5, "exemptions[0]", "names no field"),
            (
                "- namespaces: [a]\n- {}\n",
                6,
                "exemptions[1]",
                "names no field",
            ),
            ("- namespace: [a]\n", 5, "", "unknown field `namespace`"),
            (
                "- namespaces: []\n",
                5,
                "exemptions[0].namespaces",
                "is empty",
            ),
            (
                "- namespaces: [a]\n  images:\n  - ok/image:*\n  - \"sha256:12\"\n",
                8,
                "exemptions[0].images[1]",
                "is not a digest",
            ),
            (
                "- images: [\"reg/[ab]\"]\n",
                5,
                "exemptions[0].images[0]",
                "'['",
            ),
            (
                "- images: [\"reg/***\"]\n",
                5,
                "exemptions[0].images[0]",
                "***",
            ),
            (
                "- containerNames: [Debugger]\n",
                5,
                "exemptions[0].containerNames[0]",
                "not a container name",
            ),
            (
                "- namespaces: [team-*]\n",
                5,
                "exemptions[0].namespaces[0]",
                "no wildcards",
            ),
            (
                "- runtimeHandlers: [\"\"]\n",
                5,
                "exemptions[0].runtimeHandlers[0]",
                "not a RuntimeClass handler",
            ),
            ("  namespaces: [a]\n", 5, "", ""),
        ];
        for (rules, line, field, says) in cases {
            let e = dir.error(&format!(
                "{HEADER}policyDirectory: policies.d\nexemptions:\n{rules}"
            ));
            assert_eq!(e.file, dir.path().join("config.yaml").display().to_string());
            assert_eq!(e.line, Some(line), "{rules}: {e}");
            if !field.is_empty() {
                assert_eq!(e.field.as_deref(), Some(field), "{rules}: {e}");
            }
            assert!(e.message.contains(says), "{rules}: {e}");
        }
    }

    #[test]
    fn unknown_seccomp_reading_names_file_line_and_field() {
        let dir = Dir::new();
        for value in ["PSS", "loose", "\"\""] {
            let e = dir.error(&format!(
                "{HEADER}policyDirectory: policies.d\nseccomp: {value}\n"
            ));
            assert_eq!(e.file, dir.path().join("config.yaml").display().to_string());
            assert_eq!(e.line, Some(4), "{e}");
            assert_eq!(e.field.as_deref(), Some("seccomp"), "{e}");
            assert!(e.message.contains("is not strict or pss"), "{e}");
        }
        let e = dir.error(&format!(
            "{HEADER}policyDirectory: policies.d\nseccomp: [pss]\n"
        ));
        assert_eq!(e.line, Some(4), "{e}");
    }
}
