//! `advise`: the least-privilege PodSecurityPolicy for the containers a node
//! really runs.
//!
//! Containers come in as [`Facts`] (from config.json files, the running
//! containers' bundles, or the hook's decision log); [`usage`] folds them
//! into what was used and by whom; [`manifest`] writes the narrowest policy
//! admitting exactly that; [`render`] prints it. [`group`] splits by
//! Kubernetes namespace and writes the bindings; [`running`] and
//! [`from_log`] find the inputs.
//!
//! The guarantee, tested in `round_trip`: the advised policy lints clean,
//! admits every input, and denies each input given one more privilege.

pub mod document;
pub mod from_log;
pub mod group;
pub mod manifest;
pub mod render;
pub mod running;
pub mod usage;

#[cfg(test)]
mod round_trip;

pub use document::Document;

use crate::container::facts::Facts;

/// The policy name when `--name` is not given.
pub const DEFAULT_NAME: &str = "advised";

/// The least-privilege policy named `name` admitting these containers.
pub fn advise(name: &str, facts: &[Facts]) -> Document {
    manifest::policy(name, &usage::Usage::of(facts))
}
