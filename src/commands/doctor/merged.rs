//! A container runtime's TOML configuration as the runtime merges its files
//! (CRI-O's and podman's drop-ins, containerd's `imports`): a later file's
//! setting overrides an earlier one's.

use std::path::PathBuf;

use crate::input::{POLICY_LIMIT, read_bounded};

pub struct Merged(Vec<toml::Table>);

impl Merged {
    /// The files in merge order; one that cannot be read or does not parse
    /// is skipped (the runtime would refuse to start with it).
    pub fn of(files: impl IntoIterator<Item = PathBuf>) -> Merged {
        Merged(
            files
                .into_iter()
                .filter_map(|file| {
                    let bytes = read_bounded(&file, POLICY_LIMIT).ok()?;
                    toml::from_slice(&bytes).ok()
                })
                .collect(),
        )
    }

    /// The value at `keys` (tables, then the key), from the last file that
    /// sets it; `None` when none does.
    pub fn get(&self, keys: &[&str]) -> Option<&toml::Value> {
        let (last, tables) = keys.split_last()?;
        self.0.iter().rev().find_map(|doc| {
            let mut at = doc;
            for key in tables {
                at = at.get(*key)?.as_table()?;
            }
            at.get(*last)
        })
    }

    pub fn str(&self, keys: &[&str]) -> Option<&str> {
        self.get(keys)?.as_str()
    }

    /// A list of strings (its other entries left out).
    pub fn strings(&self, keys: &[&str]) -> Option<Vec<String>> {
        Some(
            self.get(keys)?
                .as_array()?
                .iter()
                .filter_map(toml::Value::as_str)
                .map(str::to_string)
                .collect(),
        )
    }
}
