//! The container runtimes' TOML configuration as each runtime merges its
//! files (CRI-O's and podman's drop-ins, containerd's `imports`): a later
//! file's setting overrides an earlier one's, key by key (containerd 1.x
//! takes a plugin's table whole from the last file that has it; a setting
//! read here may then be one 1.x dropped).

pub mod containerd;

use std::path::{Path, PathBuf};

use crate::input::{POLICY_LIMIT, read_bounded};

#[derive(Default)]
pub struct Merged {
    /// Each file read, in merge order.
    tables: Vec<(PathBuf, toml::Table)>,
    /// Files that are there but cannot be read or parsed, and why: the
    /// runtime would refuse to start with one, but one running now may have
    /// read it before it broke.
    pub unreadable: Vec<(PathBuf, String)>,
}

impl Merged {
    /// The files in merge order; a missing one is skipped.
    pub fn of(files: impl IntoIterator<Item = PathBuf>) -> Merged {
        let mut merged = Merged::default();
        for file in files {
            merged.add(file, false);
        }
        merged
    }

    /// Read `file` in after the others and return its settings. A file
    /// that is not there is skipped, or, when the runtime requires it, kept
    /// among the [`unreadable`](Merged::unreadable) ones.
    pub fn add(&mut self, file: PathBuf, required: bool) -> Option<&toml::Table> {
        let table = match read_bounded(&file, POLICY_LIMIT) {
            Err(crate::input::InputError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                if required {
                    self.unreadable
                        .push((file, "not there, but the configuration imports it".into()));
                }
                return None;
            }
            Err(e) => Err(e.reason()),
            Ok(bytes) => toml::from_slice(&bytes).map_err(|e| e.to_string()),
        };
        match table {
            Ok(table) => {
                self.tables.push((file, table));
                self.tables.last().map(|(_, table)| table)
            }
            Err(why) => {
                self.unreadable.push((file, why));
                None
            }
        }
    }

    /// The value at `keys` (tables, then the key), from the last file that
    /// sets it; `None` when none does.
    pub fn get(&self, keys: &[&str]) -> Option<&toml::Value> {
        let (last, tables) = keys.split_last()?;
        self.tables
            .iter()
            .rev()
            .find_map(|(_, doc)| table_at(doc, tables)?.get(*last))
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

    /// Each file read and its settings, in merge order.
    pub fn files(&self) -> impl DoubleEndedIterator<Item = (&Path, &toml::Table)> {
        self.tables.iter().map(|(file, doc)| (file.as_path(), doc))
    }
}

fn table_at<'t>(doc: &'t toml::Table, keys: &[&str]) -> Option<&'t toml::Table> {
    let mut at = doc;
    for key in keys {
        at = at.get(*key)?.as_table()?;
    }
    Some(at)
}
