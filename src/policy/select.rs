//! Which policies judge a container: the `--policy`/`--profile` flags for
//! one-off use, else the configuration file (its bindings by Kubernetes
//! namespace), else `builtin:baseline`.

use std::path::{Path, PathBuf};

use super::config::{self, Config, Mode};
use super::load::{PolicyError, load_file};
use super::{Policy, builtin};
use crate::container::ContainerView;

/// The policy flags shared by `hook`, `check` and `lint`.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub policies: Vec<PathBuf>,
    pub profiles: Vec<String>,
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub enum Sources {
    /// Policies named on the command line judge every container.
    Explicit(Vec<Policy>),
    Config(Box<Config>),
    /// No flags and no configuration file.
    Default,
}

/// The policies chosen for one container.
#[derive(Debug, Clone)]
pub struct Selection {
    pub mode: Mode,
    pub policies: Vec<Policy>,
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
                let profile = builtin::profile(name).ok_or_else(|| PolicyError {
                    file: "command line".into(),
                    line: None,
                    field: Some("--profile".into()),
                    message: format!(
                        "no built-in profile {name:?} (known: {})",
                        builtin::NAMES.join(", ")
                    ),
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
            None if Path::new(config::DEFAULT_PATH).exists() => Ok(Sources::Config(Box::new(
                Config::load(Path::new(config::DEFAULT_PATH))?,
            ))),
            None => Ok(Sources::Default),
        }
    }

    /// The policies bound to this container. A binding naming a policy that
    /// does not exist is an error for the containers it selects.
    pub fn select(&self, view: &ContainerView) -> Result<Selection, PolicyError> {
        match self {
            Sources::Explicit(policies) => Ok(Selection {
                mode: Mode::Enforce,
                policies: policies.clone(),
                chosen_by: "command line".into(),
            }),
            Sources::Default => Ok(Selection {
                mode: Mode::Enforce,
                policies: vec![builtin::baseline()],
                chosen_by: format!("default (no {})", config::DEFAULT_PATH),
            }),
            Sources::Config(config) => {
                let (names, chosen_by) = config.bound(view.identity.namespace.as_deref());
                let mut policies = Vec::new();
                for name in names {
                    match config.resolve(name) {
                        Some(p) => policies.push(p),
                        None => {
                            return Err(config
                                .broken
                                .iter()
                                .find(|e| e.message.contains(&format!("{name:?}")))
                                .cloned()
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

    /// Everything loaded, for `lint`.
    pub fn all_policies(&self) -> Vec<Policy> {
        match self {
            Sources::Explicit(p) => p.clone(),
            Sources::Default => vec![builtin::baseline()],
            Sources::Config(c) => c.policies.values().cloned().collect(),
        }
    }
}
