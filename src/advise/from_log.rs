//! `--from-log FILE`: the container facts in the hook's decision records.
//!
//! The hook logs every decision with its container's facts (`"facts"` in
//! the decision JSON). A line of FILE may be:
//! - a syslog line, `… oci-psp-hook[pid]: decision {json}`;
//! - the JSON alone (`journalctl -o cat --output-fields=OCI_PSP_DECISION`);
//! - a journald entry (`journalctl -o json`), whose `OCI_PSP_DECISION` field
//!   (or a `MESSAGE` holding `decision {json}`) is the decision.
//!
//! Only records the hook can be shown to have written count: a journald
//! entry whose `_UID` is 0 and `_EXE` the hook's binary (journald sets
//! both, the sender cannot), or a text record signed with the node's log
//! key (see [`crate::log_key`]). Others are skipped and counted, unless
//! [`Attribution::accept_unattributed`] takes them too (then counted as
//! such, for the advice to say so).
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

/// A log that could not be read, or a record of it that cannot be used:
/// where (the file, the line), and what was wrong.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {problem}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct LogError {
    pub file: String,
    pub line: Option<usize>,
    #[source]
    pub problem: Problem,
}

/// What was wrong with a log or one of its records.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("cannot read: {0}")]
    Read(#[source] std::io::Error),
    #[error("a decision record that is not valid JSON ({0}); truncated by the syslog daemon?")]
    NotJson(#[source] serde_json::Error),
    #[error("a decision record without JSON")]
    NoJson,
    #[error("OCI_PSP_DECISION is not valid JSON: {0}")]
    FieldNotJson(#[source] serde_json::Error),
    #[error("OCI_PSP_DECISION is neither text nor bytes")]
    FieldNotBytes,
    #[error("OCI_PSP_DECISION is {0}, not text")]
    FieldNotText(Value),
    #[error("the record's facts do not parse: {0}")]
    Facts(#[source] serde_json::Error),
    #[error(
        "the record of container {container} was cut to fit one log datagram, its facts left out: advise from its bundle (or --running) instead"
    )]
    Cut { container: String },
}

/// What a log held.
#[derive(Debug, Default)]
pub struct LogFacts {
    /// Each distinct container's facts, in the order first seen.
    pub facts: Vec<Facts<'static>>,
    pub records: usize,
    /// Records not attributable to the hook: skipped, or taken when
    /// accepted (then in `facts` too).
    pub unattributed: usize,
    pub without_facts: usize,
    pub denied_in_enforce_mode: usize,
    /// Records of containers an exemption admitted: what they ran is what
    /// the policies did not admit, so it is no evidence for a policy.
    pub exempt: usize,
    /// `unattributed` records were taken (`--accept-unattributed`).
    pub accepted_unattributed: bool,
}

/// How records are attributed to the hook.
#[derive(Debug, Default)]
pub struct Attribution {
    /// The node's log key, or why there is none.
    pub key: Option<Vec<u8>>,
    pub accept_unattributed: bool,
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
        if self.unattributed > 0 && !self.accepted_unattributed {
            parts.push(format!(
                "{} not attributable to the hook (neither journald's _UID=0 and _EXE of the hook nor signed with the node's log key: forged, or written without the key; --accept-unattributed takes them)",
                self.unattributed
            ));
        }
        if self.denied_in_enforce_mode > 0 {
            parts.push(format!(
                "{} of containers denied in enforce mode (they never ran)",
                self.denied_in_enforce_mode
            ));
        }
        if self.exempt > 0 {
            parts.push(format!(
                "{} of containers admitted by an exemption (what an exemption admits is no evidence for a policy)",
                self.exempt
            ));
        }
        (!parts.is_empty()).then(|| format!("skipped records: {}", parts.join("; ")))
    }
}

/// One decision record of a log, as read.
#[derive(Debug)]
pub struct LogRecord {
    pub decision: Value,
    /// Shown to be the hook's (see [`Attribution`]).
    pub by_hook: bool,
    /// When it was logged, as the log says (`None` for the JSON alone).
    pub time: Option<String>,
}

/// Each decision record of the log at `path`, in order; `f`'s error is
/// reported with the record's line.
pub fn each_record(
    path: &Path,
    attribution: &Attribution,
    f: impl FnMut(LogRecord) -> Result<(), Problem>,
) -> Result<(), LogError> {
    let handle = std::fs::File::open(path).map_err(|e| LogError {
        file: path.display().to_string(),
        line: None,
        problem: Problem::Read(e),
    })?;
    each_record_in(
        BufReader::new(handle),
        &path.display().to_string(),
        attribution,
        f,
    )
}

/// [`each_record`] of a log read from `reader`, named `file` in errors.
pub fn each_record_in(
    mut reader: impl BufRead,
    file: &str,
    attribution: &Attribution,
    mut f: impl FnMut(LogRecord) -> Result<(), Problem>,
) -> Result<(), LogError> {
    let err = |line, problem| LogError {
        file: file.to_string(),
        line,
        problem,
    };
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| err(None, Problem::Read(e)))?;
        if n == 0 {
            return Ok(());
        }
        number += 1;
        let line = String::from_utf8_lossy(&buf);
        if let Some(record) = decision_of(&line, attribution).map_err(|m| err(Some(number), m))? {
            f(record).map_err(|m| err(Some(number), m))?;
        }
    }
}

pub fn read(path: &Path, attribution: &Attribution) -> Result<LogFacts, LogError> {
    let mut log = LogFacts {
        accepted_unattributed: attribution.accept_unattributed,
        ..LogFacts::default()
    };
    let mut seen = HashSet::new();
    each_record(path, attribution, |record| {
        log.records += 1;
        if !record.by_hook {
            log.unattributed += 1;
            if !attribution.accept_unattributed {
                return Ok(());
            }
        }
        let decision = record.decision;
        match facts_of(&decision)? {
            Found::Facts(facts) => {
                // A restarted container logs the same facts again.
                let key = serde_json::to_string(&facts).unwrap_or_default();
                if seen.insert(key) {
                    log.facts.push(*facts);
                }
            }
            Found::NoFacts => log.without_facts += 1,
            Found::Cut(container) => {
                return Err(Problem::Cut { container });
            }
            Found::NeverRan => log.denied_in_enforce_mode += 1,
            Found::Exempt => log.exempt += 1,
        }
        Ok(())
    })?;
    Ok(log)
}

/// The decision record a line carries; `None` for other lines.
fn decision_of(line: &str, attribution: &Attribution) -> Result<Option<LogRecord>, Problem> {
    let line = line.trim();
    if line.starts_with('{')
        && let Ok(Value::Object(entry)) = serde_json::from_str::<Value>(line)
    {
        let by_hook = journal_sender_is_hook(&entry);
        let time = entry
            .get("__REALTIME_TIMESTAMP")
            .and_then(Value::as_str)
            .and_then(|us| us.parse::<u64>().ok())
            .map(|us| utc(us / 1_000_000));
        let record = |decision, signed| LogRecord {
            decision,
            by_hook: by_hook || signed,
            time: time.clone(),
        };
        if let Some(field) = entry.get("OCI_PSP_DECISION") {
            let text = journal_field(field)?;
            return parse_json(&text).map(|v| Some(record(v, false)));
        }
        if let Some(Value::String(message)) = entry.get("MESSAGE") {
            // A syslog line journald took: its sender is known.
            return Ok(after_marker(message, attribution)?.map(|(v, signed)| record(v, signed)));
        }
        if entry.contains_key("verdict") && entry.contains_key("container") {
            // The JSON alone: nothing tells who wrote it.
            return Ok(Some(LogRecord {
                decision: Value::Object(entry),
                by_hook: false,
                time: None,
            }));
        }
        return Ok(None);
    }
    Ok(
        after_marker(line, attribution)?.map(|(decision, signed)| LogRecord {
            decision,
            by_hook: signed,
            time: syslog_time(line),
        }),
    )
}

/// The RFC 3164 timestamp of a syslog line (`<86>Dec  2 01:00:00 …`).
fn syslog_time(line: &str) -> Option<String> {
    let rest = line.strip_prefix('<')?;
    let rest = &rest[rest.find('>')? + 1..];
    let stamp = rest.get(..15)?;
    (stamp.as_bytes().get(9) == Some(&b':')).then(|| stamp.to_string())
}

/// Seconds since the epoch as `YYYY-MM-DD hh:mm:ss UTC`.
pub fn utc(secs: u64) -> String {
    // Howard Hinnant's days-to-civil.
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let s = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// A journald entry sent by root's `oci-psp-hook` (`_UID`, `_EXE`: set by
/// journald from the sender's credentials).
fn journal_sender_is_hook(entry: &serde_json::Map<String, Value>) -> bool {
    let exe = entry.get("_EXE").and_then(Value::as_str);
    entry.get("_UID").and_then(Value::as_str) == Some("0")
        && exe.is_some_and(|e| {
            Path::new(e)
                .file_name()
                .is_some_and(|n| n == "oci-psp-hook")
        })
}

/// The JSON after `decision ` in a syslog line, and whether it carries a
/// valid signature of the node's log key.
fn after_marker(text: &str, attribution: &Attribution) -> Result<Option<(Value, bool)>, Problem> {
    let Some(at) = text.find(MARKER) else {
        return Ok(None);
    };
    let json = &text[at + MARKER.len() - 1..];
    // The first JSON value; a relay may append to the line.
    let mut values = serde_json::Deserializer::from_str(json).into_iter::<Value>();
    let value = match values.next() {
        Some(Ok(value)) => value,
        Some(Err(e)) => return Err(Problem::NotJson(e)),
        None => return Err(Problem::NoJson),
    };
    let end = values.byte_offset();
    let signed = json[end..]
        .strip_prefix(crate::log_key::MARK)
        .map(|rest| rest.split_whitespace().next().unwrap_or(""))
        .zip(attribution.key.as_deref())
        .is_some_and(|(hex, key)| crate::log_key::verify(key, &json.as_bytes()[..end], hex));
    Ok(Some((value, signed)))
}

fn parse_json(text: &str) -> Result<Value, Problem> {
    serde_json::from_str(text).map_err(Problem::FieldNotJson)
}

/// journald prints a field as a string, or as an array of bytes when it is
/// not plain text.
fn journal_field(field: &Value) -> Result<String, Problem> {
    match field {
        Value::String(s) => Ok(s.clone()),
        Value::Array(items) => {
            let bytes: Option<Vec<u8>> = items
                .iter()
                .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            bytes
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .ok_or(Problem::FieldNotBytes)
        }
        other => Err(Problem::FieldNotText(other.clone())),
    }
}

enum Found {
    Facts(Box<Facts<'static>>),
    NoFacts,
    /// Cut to fit a datagram (`"cut"`): the container ran, its facts are
    /// not in the log.
    Cut(String),
    NeverRan,
    /// Admitted by an exemption rule, not by a policy.
    Exempt,
}

fn facts_of(decision: &Value) -> Result<Found, Problem> {
    let verdict = decision.get("verdict").and_then(Value::as_str);
    let mode = decision.get("mode").and_then(Value::as_str);
    if verdict == Some("deny") && mode == Some("enforce") {
        return Ok(Found::NeverRan);
    }
    if verdict == Some("exempt") {
        return Ok(Found::Exempt);
    }
    if decision.get("cut").is_some_and(|c| !c.is_null()) {
        let container = decision.pointer("/container/id").and_then(Value::as_str);
        return Ok(Found::Cut(container.unwrap_or("?").to_string()));
    }
    match decision.get("facts") {
        None | Some(Value::Null) => Ok(Found::NoFacts),
        Some(facts) => serde_json::from_value(facts.clone())
            .map(|f| Found::Facts(Box::new(f)))
            .map_err(Problem::Facts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn facts_json(name: &str) -> String {
        serde_json::to_string(&fixtures::facts(name)).unwrap()
    }

    fn record(name: &str, verdict: &str, mode: &str) -> String {
        format!(
            r#"{{"allowed":true,"verdict":"{verdict}","mode":"{mode}","container":{{"id":"{name}"}},"facts":{}}}"#,
            facts_json(name)
        )
    }

    /// Records read as these tests write them: unsigned, so taken as with
    /// `--accept-unattributed` (attribution has tests of its own).
    fn read_text(text: &str) -> Result<LogFacts, LogError> {
        read_with(
            text,
            &Attribution {
                key: None,
                accept_unattributed: true,
            },
        )
    }

    fn read_with(text: &str, attribution: &Attribution) -> Result<LogFacts, LogError> {
        let file = tempfile::Builder::new()
            .prefix("psp-advise-log-")
            .tempfile()
            .unwrap();
        std::fs::write(file.path(), text).unwrap();
        read(file.path(), attribution)
    }

    /// Only the hook's records count: a journald entry of root's
    /// oci-psp-hook, a text record signed with the node's key. Forged ones
    /// (another sender, no or a wrong signature, the JSON alone) are
    /// skipped and counted, or taken when accepted.
    #[test]
    fn only_records_attributable_to_the_hook_count() {
        let key = vec![7u8; 32];
        let json = record("podman-privileged", "allow", "audit");
        let signed = format!(
            "<86>Dec 02 01:00:00 node oci-psp-hook[1]: decision {json}{}\n",
            crate::log_key::signature(&key, json.as_bytes())
        );
        let wrong = format!(
            "<86>Dec 02 01:00:00 node oci-psp-hook[1]: decision {json}{}\n",
            crate::log_key::signature(&[8u8; 32], json.as_bytes())
        );
        let unsigned = format!("<86>Dec 02 01:00:00 node oci-psp-hook[1]: decision {json}\n");
        let entry = |uid: &str, exe: &str| {
            format!(
                "{}\n",
                serde_json::json!({"_UID": uid, "_EXE": exe, "OCI_PSP_DECISION": json})
            )
        };
        let by_key = Attribution {
            key: Some(key.clone()),
            accept_unattributed: false,
        };
        for (text, counted) in [
            (signed.clone(), true),
            (wrong, false),
            (unsigned.clone(), false),
            (format!("{json}\n"), false),
            (entry("0", "/usr/bin/oci-psp-hook"), true),
            (entry("1000", "/usr/bin/oci-psp-hook"), false),
            (entry("0", "/usr/bin/logger"), false),
        ] {
            let log = read_with(&text, &by_key).unwrap();
            assert_eq!(log.facts.len(), usize::from(counted), "{text}");
            assert_eq!(log.unattributed, usize::from(!counted), "{text}");
            if !counted {
                assert!(
                    log.skipped()
                        .unwrap()
                        .contains("not attributable to the hook")
                );
            }
        }
        // Without the key no text record is the hook's.
        let log = read_with(&signed, &Attribution::default()).unwrap();
        assert_eq!((log.facts.len(), log.unattributed), (0, 1));
        // Accepted, they count, and say so.
        let log = read_with(
            &unsigned,
            &Attribution {
                key: Some(key),
                accept_unattributed: true,
            },
        )
        .unwrap();
        assert_eq!((log.facts.len(), log.unattributed), (1, 1));
        assert!(log.accepted_unattributed);
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

    /// An exempt container ran, but advice built on it would widen the
    /// policy to what only the exemption admits: skipped and counted.
    #[test]
    fn exempt_records_are_no_evidence() {
        let text = format!(
            "decision {}\ndecision {}\n",
            record("podman-privileged", "exempt", "enforce"),
            record("podman-default", "allow", "enforce")
        );
        let log = read_text(&text).unwrap();
        assert_eq!(log.facts.len(), 1);
        assert_eq!(log.exempt, 1);
        assert!(
            log.skipped()
                .unwrap()
                .contains("1 of containers admitted by an exemption")
        );
    }

    /// A container that ran but whose record was cut has no facts in the
    /// log: advice from the rest could deny it.
    #[test]
    fn a_cut_record_is_an_error() {
        let e = read_text("decision {\"verdict\":\"allow\",\"mode\":\"enforce\",\"container\":{\"id\":\"c1\"},\"cut\":\"the record did not fit\",\"facts\":null}\n")
            .unwrap_err();
        assert!(
            matches!(&e.problem, Problem::Cut { container } if container == "c1"),
            "{e:?}"
        );
        let e = e.to_string();
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
        let e = read(Path::new("/nonexistent/log"), &Attribution::default()).unwrap_err();
        assert!(matches!(e.problem, Problem::Read(_)), "{e:?}");
        let e = e.to_string();
        assert!(e.starts_with("/nonexistent/log: cannot read"), "{e}");
    }
}
