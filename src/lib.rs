//! oci-psp-hook: Kubernetes PodSecurityPolicy enforcement as an OCI hook.

pub mod checks;
pub mod container;
pub mod input;
pub mod policy;
pub mod decision;
pub mod log;
pub mod commands;
