//! oci-psp-hook: Kubernetes PodSecurityPolicy enforcement as an OCI hook.

pub mod advise;
pub mod arena;
pub mod atomic_files;
pub mod checks;
pub mod commands;
pub mod container;
pub mod decision;
pub mod input;
pub mod json_bytes;
pub mod log;
pub mod log_key;
#[cfg(any(target_env = "musl", test))]
mod musl_string;
pub mod policy;
pub mod policy_set;
pub mod undelivered;
