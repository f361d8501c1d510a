//! `--from-log FILE`: the container facts in the hook's decision records.
//!
//! The hook logs every decision with its container's facts (`"facts"` in
//! the decision JSON). A line of FILE may be:
//! - a syslog line, `… oci-psp-hook[pid]: decision {json}`;
//! - the JSON alone (`journalctl -o cat --output-fields=OCI_PSP_DECISION`);
//! - a journald entry (`journalctl -o json`), whose `OCI_PSP_DECISION` field
//!   (or a `MESSAGE` holding `decision {json}`) is the decision.
//!
//! Other lines are skipped. A line that is a decision record but does not
//! parse is an error naming the file and line: a policy advised from part
//! of the log could deny what the rest shows. Records without facts (errors,
//! or an older hook) and of containers denied in enforce mode (they never
//! ran) are counted and skipped.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::Value;

use crate::container::facts::Facts;

const MARKER: &str = "decision {";

#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct LogError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

/// What a log held.
#[derive(Debug, Default)]
pub struct LogFacts {
    /// Each distinct container's facts, in the order first seen.
    pub facts: Vec<Facts<'static>>,
    pub records: usize,
    pub without_facts: usize,
    pub denied_in_enforce_mode: usize,
}

impl LogFacts {
    /// What was skipped, for stderr; `None` when nothing was.
    pub fn skipped(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.without_facts > 0 {
            parts.push(format!(
                "{} without container facts (errors, or a hook older than advise)",
                self.without_facts
            ));
        }
        if self.denied_in_enforce_mode > 0 {
            parts.push(format!(
                "{} of containers denied in enforce mode (they never ran)",
                self.denied_in_enforce_mode
            ));
        }
        (!parts.is_empty()).then(|| format!("skipped records: {}", parts.join("; ")))
    }
}

pub fn read(path: &Path) -> Result<LogFacts, LogError> {
    let file = path.display().to_string();
    let err = |line, message: String| LogError {
        file: file.clone(),
        line,
        message,
    };
    let handle = std::fs::File::open(path).map_err(|e| err(None, format!("cannot read: {e}")))?;
    let mut reader = BufReader::new(handle);
    let mut log = LogFacts::default();
    let mut seen = HashSet::new();
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| err(None, format!("cannot read: {e}")))?;
        if n == 0 {
            break;
        }
        number += 1;
        let line = String::from_utf8_lossy(&buf);
        let Some(decision) = decision_of(&line).map_err(|m| err(Some(number), m))? else {
            continue;
        };
        log.records += 1;
        match facts_of(&decision).map_err(|m| err(Some(number), m))? {
            Found::Facts(facts) => {
                // A restarted container logs the same facts again.
                let key = serde_json::to_string(&facts).unwrap_or_default();
                if seen.insert(key) {
                    log.facts.push(*facts);
                }
            }
            Found::NoFacts => log.without_facts += 1,
            Found::Cut(container) => {
                return Err(err(
                    Some(number),
                    format!(
                        "the record of container {container} was cut to fit one log datagram, its facts left out: advise from its bundle (or --running) instead"
                    ),
                ));
            }
            Found::NeverRan => log.denied_in_enforce_mode += 1,
        }
    }
    Ok(log)
}

/// The decision JSON a line carries, `None` for other lines.
fn decision_of(line: &str) -> Result<Option<Value>, String> {
    let line = line.trim();
    if line.starts_with('{')
        && let Ok(Value::Object(entry)) = serde_json::from_str::<Value>(line)
    {
        if let Some(field) = entry.get("OCI_PSP_DECISION") {
            let text = journal_field(field)?;
            return parse_json(&text).map(Some);
        }
        if let Some(Value::String(message)) = entry.get("MESSAGE") {
            return after_marker(message);
        }
        if entry.contains_key("verdict") && entry.contains_key("container") {
            return Ok(Some(Value::Object(entry)));
        }
        return Ok(None);
    }
    after_marker(line)
}

/// The JSON after `decision ` in a syslog line.
fn after_marker(text: &str) -> Result<Option<Value>, String> {
    let Some(at) = text.find(MARKER) else {
        return Ok(None);
    };
    let json = &text[at + MARKER.len() - 1..];
    // The first JSON value; a relay may append to the line.
    let mut values = serde_json::Deserializer::from_str(json).into_iter::<Value>();
    match values.next() {
        Some(Ok(value)) => Ok(Some(value)),
        Some(Err(e)) => Err(format!(
            "a decision record that is not valid JSON ({e}); truncated by the syslog daemon?"
        )),
        None => Err("a decision record without JSON".into()),
    }
}

fn parse_json(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("OCI_PSP_DECISION is not valid JSON: {e}"))
}

/// journald prints a field as a string, or as an array of bytes when it is
/// not plain text.
fn journal_field(field: &Value) -> Result<String, String> {
    match field {
        Value::String(s) => Ok(s.clone()),
        Value::Array(items) => {
            let bytes: Option<Vec<u8>> = items
                .iter()
                .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            bytes
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .ok_or_else(|| "OCI_PSP_DECISION is neither text nor bytes".to_string())
        }
        other => Err(format!("OCI_PSP_DECISION is {other}, not text")),
    }
}

enum Found {
    Facts(Box<Facts<'static>>),
    NoFacts,
    /// Cut to fit a datagram (`"cut"`): the container ran, its facts are
    /// not in the log.
    Cut(String),
    NeverRan,
}

fn facts_of(decision: &Value) -> Result<Found, String> {
    let verdict = decision.get("verdict").and_then(Value::as_str);
    let mode = decision.get("mode").and_then(Value::as_str);
    if verdict == Some("deny") && mode == Some("enforce") {
        return Ok(Found::NeverRan);
    }
    if decision.get("cut").is_some_and(|c| !c.is_null()) {
        let container = decision.pointer("/container/id").and_then(Value::as_str);
        return Ok(Found::Cut(container.unwrap_or("?").to_string()));
    }
    match decision.get("facts") {
        None | Some(Value::Null) => Ok(Found::NoFacts),
        Some(facts) => serde_json::from_value(facts.clone())
            .map(|f| Found::Facts(Box::new(f)))
            .map_err(|e| format!("the record's facts do not parse: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures;

    fn facts_json(name: &str) -> String {
        serde_json::to_string(&fixtures::facts(name)).unwrap()
    }

    fn record(name: &str, verdict: &str, mode: &str) -> String {
        format!(
            r#"{{"allowed":true,"verdict":"{verdict}","mode":"{mode}","container":{{"id":"{name}"}},"facts":{}}}"#,
            facts_json(name)
        )
    }

    fn read_text(text: &str) -> Result<LogFacts, LogError> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("psp-advise-log-{}-{n}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let result = read(&path);
        std::fs::remove_file(&path).unwrap();
        result
    }

    #[test]
    fn every_shape_of_record() {
        let syslog = format!(
            "<84>Nov 26 14:55:01 node oci-psp-hook[42]: decision {}\n",
            record("podman-default", "allow", "enforce")
        );
        let alone = format!("{}\n", record("podman-cap-add", "deny", "audit"));
        let journal = serde_json::json!({
            "MESSAGE": "oci-psp-hook: allowed by policy",
            "OCI_PSP_DECISION": record("podman-host-pid", "allow", "enforce"),
        });
        let bytes: Vec<u8> = record("podman-tmpfs", "allow", "enforce").into_bytes();
        let journal_bytes = serde_json::json!({ "OCI_PSP_DECISION": bytes });
        let text = format!(
            "unrelated line\n{syslog}{alone}{journal}\n{journal_bytes}\n{{\"MESSAGE\":\"other\"}}\n{syslog}"
        );
        let log = read_text(&text).unwrap();
        let ids: Vec<&str> = log.facts.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "podman-default",
                "podman-cap-add",
                "podman-host-pid",
                "podman-tmpfs"
            ]
        );
        assert_eq!(log.records, 5);
        assert!(log.skipped().is_none());
    }

    #[test]
    fn skips_errors_and_enforced_denials() {
        let text = format!(
            "decision {{\"verdict\":\"error\",\"mode\":\"enforce\",\"facts\":null}}\ndecision {}\n",
            record("podman-privileged", "deny", "enforce")
        );
        let log = read_text(&text).unwrap();
        assert!(log.facts.is_empty());
        assert_eq!((log.without_facts, log.denied_in_enforce_mode), (1, 1));
        assert!(log.skipped().unwrap().contains("1 without container facts"));
    }

    /// A container that ran but whose record was cut has no facts in the
    /// log: advice from the rest could deny it.
    #[test]
    fn a_cut_record_is_an_error() {
        let e = read_text("decision {\"verdict\":\"allow\",\"mode\":\"enforce\",\"container\":{\"id\":\"c1\"},\"cut\":\"the record did not fit\",\"facts\":null}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":1: the record of container c1 was cut"), "{e}");
    }

    #[test]
    fn a_broken_record_names_file_and_line() {
        let e = read_text("ok\nx decision {\"verdict\": \n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2: a decision record that is not valid JSON"),
            "{e}"
        );
        let e = read_text("decision {\"verdict\":\"allow\",\"facts\":{\"uid\":0}}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":1: the record's facts do not parse"), "{e}");
        let e = read(Path::new("/nonexistent/log")).unwrap_err().to_string();
        assert!(e.starts_with("/nonexistent/log: cannot read"), "{e}");
    }
}
