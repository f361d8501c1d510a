//! oci-psp-hook: Kubernetes PodSecurityPolicy enforcement as an OCI hook.

/// The node's configuration file: read by the hook when no flag names
/// another, and the one the installed hook entries name.
pub const CONFIG_PATH: &str = "/etc/oci-psp-hook/config.yaml";

pub mod advise;
pub mod arena;
pub mod atomic_files;
pub mod checks;
pub mod commands;
pub mod container;
pub mod decision;
#[cfg(test)]
mod fixtures;
pub mod input;
pub mod json_bytes;
pub mod log;
pub mod log_key;
#[cfg(any(target_env = "musl", test))]
mod musl_string;
pub mod policy;
pub mod policy_set;
pub mod runtime_config;
pub mod undelivered;
