//! Printing documents: YAML (by hand, deterministic: `apiVersion`, `kind`,
//! `metadata` first, every other key sorted), with `--explain` notes as
//! comments above the fields, or JSON.

use serde_json::{Map, Value};

use super::document::{Document, pointer};

/// The documents as one YAML stream (`---` before each).
pub fn yaml(docs: &[Document], explain: bool) -> String {
    let mut out = String::new();
    for doc in docs {
        out.push_str("---\n");
        let mut writer = Writer {
            doc,
            explain,
            out: &mut out,
        };
        match &doc.value {
            Value::Object(map) => writer.map(map, 0, &[]),
            other => writer.out.push_str(&format!("{}\n", scalar(other))),
        }
    }
    out
}

/// One document as pretty JSON; several as a Kubernetes `List`.
pub fn json(docs: &[Document]) -> String {
    let value = match docs {
        [one] => one.value.clone(),
        many => serde_json::json!({
            "apiVersion": "v1",
            "kind": "List",
            "items": many.iter().map(|d| d.value.clone()).collect::<Vec<_>>(),
        }),
    };
    // A Value always serializes.
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    format!("{text}\n")
}

struct Writer<'a> {
    doc: &'a Document,
    explain: bool,
    out: &'a mut String,
}

impl Writer<'_> {
    fn comment(&mut self, indent: usize, path: &[String]) {
        if !self.explain {
            return;
        }
        let keys: Vec<&str> = path.iter().map(String::as_str).collect();
        if let Some(note) = self.doc.notes.get(&pointer(&keys)) {
            for line in note.lines() {
                self.out
                    .push_str(&format!("{:indent$}# {line}\n", "", indent = indent));
            }
        }
    }

    fn map(&mut self, map: &Map<String, Value>, indent: usize, path: &[String]) {
        for key in ordered_keys(map) {
            let value = &map[key];
            let path = [path, std::slice::from_ref(key)].concat();
            self.comment(indent, &path);
            let pad = " ".repeat(indent);
            let name = scalar(&Value::String(key.clone()));
            match value {
                Value::Object(inner) if !inner.is_empty() => {
                    self.out.push_str(&format!("{pad}{name}:\n"));
                    self.map(inner, indent + 2, &path);
                }
                Value::Array(items) if !items.is_empty() => {
                    self.out.push_str(&format!("{pad}{name}:\n"));
                    self.seq(items, indent, &path);
                }
                _ => self
                    .out
                    .push_str(&format!("{pad}{name}: {}\n", flow(value))),
            }
        }
    }

    /// Items at the parent key's indentation, as kubectl prints them.
    fn seq(&mut self, items: &[Value], indent: usize, path: &[String]) {
        let pad = " ".repeat(indent);
        for (i, item) in items.iter().enumerate() {
            let path = [path, &[i.to_string()]].concat();
            self.comment(indent, &path);
            match item {
                Value::Object(map) if !is_flat(map) => {
                    // Nested: block style, the first key on the dash line.
                    let mut inner = String::new();
                    Writer {
                        doc: self.doc,
                        explain: false,
                        out: &mut inner,
                    }
                    .map(map, indent + 2, &path);
                    let body = inner.get(indent + 2..).unwrap_or_default();
                    self.out.push_str(&format!("{pad}- {body}"));
                }
                _ => self.out.push_str(&format!("{pad}- {}\n", flow(item))),
            }
        }
    }
}

/// `apiVersion`, `kind`, `metadata` first, then the rest sorted.
fn ordered_keys(map: &Map<String, Value>) -> Vec<&String> {
    const FIRST: [&str; 3] = ["apiVersion", "kind", "metadata"];
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by_key(|k| (FIRST.iter().position(|f| f == k).unwrap_or(FIRST.len()), *k));
    keys
}

/// An object of scalars only, printed in flow style (`{min: 1, max: 2}`).
fn is_flat(map: &Map<String, Value>) -> bool {
    map.values().all(|v| !v.is_object() && !v.is_array())
}

/// A value on one line: scalars, empty or flat collections in flow style.
fn flow(value: &Value) -> String {
    match value {
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(flow).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let items: Vec<String> = ordered_keys(map)
                .into_iter()
                .map(|k| format!("{}: {}", scalar(&Value::String(k.clone())), flow(&map[k])))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        other => scalar(other),
    }
}

/// A scalar: plain when YAML reads it back as the same string, else a
/// double-quoted (JSON) string.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) if plain(s) => s.clone(),
        other => other.to_string(),
    }
}

fn plain(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
    ];
    let safe_chars = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c));
    let starts_well = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '_');
    safe_chars
        && starts_well
        && !SPECIAL.contains(&s.to_ascii_lowercase().as_str())
        && s.parse::<f64>().is_err()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(value: Value) -> Document {
        Document {
            value,
            notes: Default::default(),
        }
    }

    #[test]
    fn block_style_with_sorted_keys_and_quoting() {
        let d = doc(json!({
            "spec": {"b": ["*", "NET_ADMIN"], "a": {"rule": "MustRunAs", "ranges": [{"min": 1, "max": 2}]}, "e": []},
            "kind": "PodSecurityPolicy",
            "metadata": {"name": "x", "annotations": {"k/x": "runtime/default,unconfined"}},
            "apiVersion": "policy/v1beta1",
        }));
        assert_eq!(
            yaml(&[d], false),
            "---
apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata:
  annotations:
    k/x: \"runtime/default,unconfined\"
  name: x
spec:
  a:
    ranges:
    - {max: 2, min: 1}
    rule: MustRunAs
  b:
  - \"*\"
  - NET_ADMIN
  e: []
"
        );
    }

    #[test]
    fn notes_become_comments() {
        let mut d = doc(json!({"spec": {"hostPID": true, "volumes": ["hostPath"]}}));
        d.note(&["spec", "hostPID"], "needed by: a");
        d.note(&["spec", "volumes", "0"], "needed by: b");
        let text = yaml(&[d.clone()], true);
        assert!(
            text.contains("  # needed by: a\n  hostPID: true\n"),
            "{text}"
        );
        assert!(
            text.contains("  volumes:\n  # needed by: b\n  - hostPath\n"),
            "{text}"
        );
        assert!(!yaml(&[d], false).contains('#'));
    }

    #[test]
    fn ambiguous_strings_are_quoted() {
        for (s, quoted) in [
            ("true", true),
            ("1000", true),
            ("1e3", true),
            ("", true),
            ("s0:c1,c2", true),
            ("-x", true),
            ("/var/log", false),
            ("builtin:restricted", true),
            ("team-a", false),
            ("ALL", false),
        ] {
            assert_eq!(!plain(s), quoted, "{s}");
        }
    }

    #[test]
    fn nested_objects_in_lists_use_block_style() {
        let d = doc(json!({"items": [{"name": "a", "list": [1, 2]}]}));
        assert_eq!(
            yaml(&[d], false),
            "---\nitems:\n- list:\n  - 1\n  - 2\n  name: a\n"
        );
    }
}
