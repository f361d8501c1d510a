//! A document to print (a PodSecurityPolicy, a HookConfiguration) and the
//! notes `--explain` shows above its fields.

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    pub value: Value,
    /// JSON pointer (`/spec/allowedCapabilities/0`) → note.
    pub notes: BTreeMap<String, String>,
}

impl Document {
    /// Note `text` on the field at `path` (keys and list indices).
    pub fn note(&mut self, path: &[&str], text: impl Into<String>) {
        self.notes.insert(pointer(path), text.into());
    }
}

/// The JSON pointer of a path: `/` and `~` in keys escaped (RFC 6901).
pub fn pointer(path: &[&str]) -> String {
    path.iter()
        .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_escape_slashes() {
        assert_eq!(
            pointer(&["metadata", "annotations", "a.io/b"]),
            "/metadata/annotations/a.io~1b"
        );
        assert_eq!(pointer(&[]), "");
    }
}
