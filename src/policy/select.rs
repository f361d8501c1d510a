//! Which policies judge a container: the `--policy`/`--profile` flags for
//! one-off use, else the configuration file (its bindings by Kubernetes
//! namespace), else `builtin:baseline`.

use std::path::{Path, PathBuf};

use super::config::{Broken, Config, Mode};
use super::load::{PolicyError, load_file};
use super::{Policy, builtin};
use crate::container::ContainerView;

/// The policy flags shared by `hook`, `check` and `lint`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Flags {
    pub policies: Vec<PathBuf>,
    pub profiles: Vec<String>,
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Sources {
    /// Policies named on the command line judge every container.
    Explicit(Vec<Policy>),
    Config(Box<Config>),
    /// No flags and no configuration file: `builtin:baseline`.
    Default(Box<Policy>),
}

/// The policies chosen for one container.
#[derive(Debug, Clone)]
pub struct Selection<'a> {
    pub mode: Mode,
    /// Borrowed from the loaded sources (a hundred policies are not copied
    /// on every container start).
    pub policies: Vec<&'a Policy>,
    /// Which rule chose them (`--policy`, `bindings[1]`, `defaultPolicies`…).
    pub chosen_by: String,
}

impl Sources {
    pub fn load(flags: &Flags) -> Result<Sources, PolicyError> {
        let explicit = !flags.policies.is_empty() || !flags.profiles.is_empty();
        if explicit && flags.config.is_some() {
            return Err(PolicyError {
                file: "command line".into(),
                line: None,
                field: None,
                message: "--config cannot be combined with --policy/--profile".into(),
            });
        }
        if explicit {
            let mut policies = Vec::new();
            for name in &flags.profiles {
                let profile = builtin::lookup(name).map_err(|e| PolicyError {
                    file: "command line".into(),
                    line: None,
                    field: Some("--profile".into()),
                    message: e.to_string(),
                })?;
                policies.push(profile);
            }
            for file in &flags.policies {
                policies.extend(load_file(file)?);
            }
            return Ok(Sources::Explicit(policies));
        }
        match &flags.config {
            Some(path) => Ok(Sources::Config(Box::new(Config::load(path)?))),
            None => Sources::load_default(Path::new(crate::CONFIG_PATH)),
        }
    }

    /// The configuration at its default path, or [`Sources::Default`] when
    /// nothing is there. Only "not found" means absent: a file that cannot
    /// be looked at (permissions, a dangling symlink) is an error, never a
    /// silent fallback to builtin:baseline.
    fn load_default(path: &Path) -> Result<Sources, PolicyError> {
        match std::fs::symlink_metadata(path) {
            Ok(_) => Ok(Sources::Config(Box::new(Config::load(path)?))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(Sources::Default(Box::new(builtin::baseline())))
            }
            Err(e) => Err(PolicyError {
                file: path.display().to_string(),
                line: None,
                field: None,
                message: format!("cannot read {}: {e}", path.display()),
            }),
        }
    }

    /// The policies bound to this container. A binding naming a policy that
    /// does not exist is an error for the containers it selects.
    pub fn select(&self, view: &ContainerView) -> Result<Selection<'_>, PolicyError> {
        match self {
            Sources::Explicit(policies) => Ok(Selection {
                mode: Mode::Enforce,
                policies: policies.iter().collect(),
                chosen_by: "command line".into(),
            }),
            Sources::Default(baseline) => Ok(Selection {
                mode: Mode::Enforce,
                policies: vec![baseline],
                chosen_by: format!("default (no {})", crate::CONFIG_PATH),
            }),
            Sources::Config(config) => {
                let (names, chosen_by) = config.bound(view.identity.namespace.as_deref());
                let mut policies = Vec::new();
                for name in names {
                    match config.resolve(name) {
                        Some(p) => policies.push(p),
                        None => {
                            // The record of this very binding (its line),
                            // else of any mention of the name.
                            let names_it = |b: &&Broken| b.name == *name;
                            let this_rule = |b: &&Broken| {
                                b.error.field.as_deref().is_some_and(|f| {
                                    f == chosen_by
                                        || f.strip_prefix(chosen_by.as_str())
                                            .is_some_and(|rest| rest.starts_with('.'))
                                })
                            };
                            return Err(config
                                .broken
                                .iter()
                                .find(|b| names_it(b) && this_rule(b))
                                .or_else(|| config.broken.iter().find(names_it))
                                .map(|b| b.error.clone())
                                .unwrap_or_else(|| PolicyError {
                                    file: config.path.display().to_string(),
                                    line: None,
                                    field: Some(chosen_by.clone()),
                                    message: format!("policy {name:?} does not exist"),
                                }));
                        }
                    }
                }
                Ok(Selection {
                    mode: config.mode,
                    policies,
                    chosen_by,
                })
            }
        }
    }

    /// Executables config.json's hooks may run besides the node's hooks.d
    /// and CDI hooks (the configuration's `allowedHooks`).
    pub fn allowed_hooks(&self) -> &[std::path::PathBuf] {
        match self {
            Sources::Config(c) => &c.allowed_hooks,
            _ => &[],
        }
    }

    /// The configuration's exemptions (none without a configuration).
    pub fn exemptions(&self) -> &[super::exemptions::Rule] {
        match self {
            Sources::Config(c) => &c.exemptions,
            _ => &[],
        }
    }

    /// Everything loaded, for `lint`.
    pub fn all_policies(&self) -> Vec<Policy> {
        match self {
            Sources::Explicit(p) => p.clone(),
            Sources::Default(baseline) => vec![(**baseline).clone()],
            Sources::Config(c) => c.policies.values().map(|p| (**p).clone()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    /// A temporary directory with `policies.d/restricted.yaml`, removed on
    /// drop.
    struct Dir(tempfile::TempDir);

    impl Dir {
        fn new() -> Dir {
            use std::os::unix::fs::PermissionsExt;
            let dir = tempfile::Builder::new()
                .prefix("oci-psp-hook-select-")
                .tempdir()
                .unwrap();
            // 0755 as one made with the umask: loading judges it
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            let path = dir.path();
            std::fs::create_dir_all(path.join("policies.d")).unwrap();
            std::fs::write(
                path.join("policies.d/restricted.yaml"),
                include_str!("../../examples/restricted-psp.yaml"),
            )
            .unwrap();
            Dir(dir)
        }

        fn path(&self) -> &Path {
            self.0.path()
        }

        fn config(&self, body: &str) -> PathBuf {
            let path = self.path().join("config.yaml");
            std::fs::write(
                &path,
                format!(
                    "apiVersion: oci-psp-hook/v1alpha1\nkind: HookConfiguration\npolicyDirectory: policies.d\n{body}"
                ),
            )
            .unwrap();
            path
        }
    }

    /// podman-default as a Kubernetes container of `namespace`.
    fn in_namespace(namespace: Option<&str>) -> ContainerView<'static> {
        let mut view = fixtures::view("podman-default");
        view.identity.namespace = namespace.map(str::to_string);
        view.identity.pod = namespace.map(|_| "web-0".to_string());
        view.identity.container = namespace.map(|_| "app".to_string());
        view
    }

    fn names<'a>(selection: &'a Selection<'a>) -> Vec<&'a str> {
        selection.policies.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn flags_select_for_every_container() {
        let flags = Flags {
            policies: vec![
                Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/restricted-psp.yaml"),
            ],
            profiles: vec!["baseline".into(), "builtin:restricted".into()],
            config: None,
        };
        let sources = Sources::load(&flags).unwrap();
        for ns in [None, Some("kube-system")] {
            let s = sources.select(&in_namespace(ns)).unwrap();
            assert_eq!(
                names(&s),
                ["builtin:baseline", "builtin:restricted", "restricted"]
            );
            assert_eq!(s.mode, Mode::Enforce);
            assert_eq!(s.chosen_by, "command line");
        }
        assert_eq!(sources.all_policies().len(), 3);
    }

    #[test]
    fn flag_errors_are_named() {
        let e = Sources::load(&Flags {
            profiles: vec!["nosuch".into()],
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("--profile"));
        assert!(e.message.contains("no built-in profile \"nosuch\""), "{e}");

        let e = Sources::load(&Flags {
            policies: vec!["/nonexistent/psp.yaml".into()],
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.file, "/nonexistent/psp.yaml");

        let e = Sources::load(&Flags {
            profiles: vec!["baseline".into()],
            config: Some("/etc/oci-psp-hook/config.yaml".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.message.contains("--config cannot be combined"), "{e}");
    }

    #[test]
    fn bindings_select_by_namespace() {
        let dir = Dir::new();
        let flags = Flags {
            config: Some(dir.config(
                "mode: audit\nbindings:\n  - namespaces: [kube-system]\n    policies: [builtin:privileged]\n  - namespaces: [team-a]\n    policies: [restricted, builtin:baseline]\n  - namespaces: [team-a, team-b]\n    policies: [builtin:restricted]\n",
            )),
            ..Default::default()
        };
        let sources = Sources::load(&flags).unwrap();
        let s = sources.select(&in_namespace(Some("team-a"))).unwrap();
        assert_eq!(names(&s), ["restricted", "builtin:baseline"]);
        assert_eq!(s.chosen_by, "bindings[1]");
        assert_eq!(s.mode, Mode::Audit);
        let s = sources.select(&in_namespace(Some("team-b"))).unwrap();
        assert_eq!(names(&s), ["builtin:restricted"]);
        assert_eq!(s.chosen_by, "bindings[2]");
        let s = sources.select(&in_namespace(Some("kube-system"))).unwrap();
        assert_eq!(names(&s), ["builtin:privileged"]);
        for ns in [Some("default"), None] {
            let s = sources.select(&in_namespace(ns)).unwrap();
            assert_eq!(names(&s), ["builtin:baseline"]);
            assert_eq!(s.chosen_by, "defaultPolicies");
        }
        assert_eq!(
            sources
                .all_policies()
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
            ["restricted"]
        );
    }

    #[test]
    fn broken_binding_blocks_only_what_it_selects() {
        let dir = Dir::new();
        let flags = Flags {
            config: Some(dir.config(
                "defaultPolicies: [nosuch]\nbindings:\n  - namespaces: [team-a]\n    policies: [restricted]\n  - namespaces: [team-b]\n    policies: [builtin:baseline, nosuch]\n",
            )),
            ..Default::default()
        };
        let sources = Sources::load(&flags).unwrap();
        let s = sources.select(&in_namespace(Some("team-a"))).unwrap();
        assert_eq!(names(&s), ["restricted"]);
        // The error is the one of the binding that selected the container:
        // its field and line, not the first mention of the name.
        let e = sources.select(&in_namespace(Some("team-b"))).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("bindings[1].policies"), "{e}");
        assert_eq!(e.line, Some(9), "{e}");
        assert!(
            e.message.contains("policy \"nosuch\" does not exist"),
            "{e}"
        );
        let e = sources.select(&in_namespace(None)).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("defaultPolicies"), "{e}");
        assert_eq!(e.line, Some(4), "{e}");
    }

    #[test]
    fn default_configuration_absent_or_unreadable() {
        let dir = Dir::new();
        assert!(matches!(
            Sources::load_default(&dir.path().join("config.yaml")),
            Ok(Sources::Default(_))
        ));
        let sources = Sources::Default(Box::new(builtin::baseline()));
        let s = sources.select(&in_namespace(Some("team-a"))).unwrap();
        assert_eq!(names(&s), ["builtin:baseline"]);
        assert_eq!(s.mode, Mode::Enforce);

        // Present: loaded.
        let path = dir.config("mode: audit\n");
        assert!(matches!(
            Sources::load_default(&path),
            Ok(Sources::Config(c)) if c.mode == Mode::Audit
        ));
        // A dangling symlink is not "no configuration": fail closed.
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink(dir.path().join("gone.yaml"), &link).unwrap();
        assert!(Sources::load_default(&link).is_err());
        // Neither is a path that cannot be looked at.
        let e = Sources::load_default(&path.join("below-a-file.yaml"));
        assert!(e.is_err());
    }
}
