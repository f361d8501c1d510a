//! Helpers shared by the integration tests.

use serde_json::Value;

/// The runtime id of a captured podman container: its mounts of podman's
/// per-container files (`<storage>/overlay-containers/<id>/userdata/…`)
/// keep it.
pub fn podman_id(config: &Value) -> Option<String> {
    config["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["source"].as_str())
        .find_map(|source| {
            let (_, rest) = source.split_once("/overlay-containers/")?;
            rest.split('/').next().map(str::to_string)
        })
}
