//! Decision records: structured to journald when it runs, to syslog
//! (`/dev/log`) otherwise. Nothing is lost silently: when no sink takes the
//! record, the caller says so on stderr.
//!
//! journald gets the one-line verdict as `MESSAGE` plus fields
//! (`OCI_PSP_CONTAINER_ID`, `OCI_PSP_NAMESPACE`, `OCI_PSP_POD`,
//! `OCI_PSP_CONTAINER`, `OCI_PSP_VERDICT`, `OCI_PSP_MODE`, `OCI_PSP_POLICY`,
//! `OCI_PSP_VIOLATIONS`, `OCI_PSP_DECISION` = the JSON). syslog gets
//! `decision <json>`, which `advise --from-log` style tools can read back.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use syslog::{Facility, Formatter3164, LogFormat, Severity};

use crate::decision::{Decision, Verdict};
use crate::policy::config::Mode;

/// Override of the syslog socket path (tests, unusual hosts); when set,
/// only syslog is used.
pub const SOCKET_ENV: &str = "OCI_PSP_HOOK_LOG_SOCKET";
/// Override of the journald socket path; when set, only journald is used.
pub const JOURNAL_ENV: &str = "OCI_PSP_HOOK_JOURNAL_SOCKET";
const DEFAULT_SOCKET: &str = "/dev/log";
/// How long a log write may block: the hook sits on every container start.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(250);
const DEFAULT_JOURNAL: &str = "/run/systemd/journal/socket";

/// The syslog message: the RFC 3164 header and [`text_record`], written
/// into one buffer (the syslog crate would format the message into a string
/// of its own, a copy of a record that can be ~70 KB).
fn syslog_message(formatter: &Formatter3164, decision: &Decision) -> Result<Vec<u8>, Error> {
    let mut message = Vec::new();
    formatter
        .format(&mut message, severity(decision), "")
        .map_err(Error::SyslogHeader)?;
    append_text_record(decision, &mut message);
    Ok(message)
}

/// The record as text logs carry it: `decision {json}`, signed with the
/// node's log key when there is one (see [`crate::log_key`]).
pub fn text_record(decision: &Decision) -> Vec<u8> {
    let mut out = Vec::new();
    append_text_record(decision, &mut out);
    out
}

fn append_text_record(decision: &Decision, out: &mut Vec<u8>) {
    out.extend_from_slice(b"decision ");
    let start = out.len();
    decision.write_log_json(out);
    if let Ok(key) = crate::log_key::load(&crate::log_key::path()) {
        let signature = crate::log_key::signature(&key, &out[start..]);
        out.extend_from_slice(signature.as_bytes());
    }
}

/// Why no log took the record. Said in words of our own, the OS error only
/// chained: podman shows only a runtime error line holding an OS phrase like
/// "no such file or directory", which would hide the verdict.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the syslog header could not be written: {0}")]
    SyslogHeader(#[source] syslog::Error),
    #[error("no syslog socket answers at {}", .path.display())]
    NoSyslog {
        path: PathBuf,
        source: syslog::Error,
    },
    #[error("the syslog socket at {} cannot be bounded in time", .path.display())]
    SyslogUnbounded {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("syslog at {} did not take the record", .path.display())]
    SyslogRefused {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no socket for journald")]
    NoJournalSocket(#[source] std::io::Error),
    #[error("journald at {} did not take the record", .path.display())]
    JournalRefused {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Send the decision to journald, else syslog.
pub fn log_decision(decision: &Decision) -> Result<(), Error> {
    let syslog_env = std::env::var_os(SOCKET_ENV).map(PathBuf::from);
    let journal_env = std::env::var_os(JOURNAL_ENV).map(PathBuf::from);
    match (journal_env, syslog_env) {
        (Some(journal), _) => to_journald(decision, &journal),
        (None, Some(socket)) => to_syslog(decision, &socket),
        (None, None) => {
            let journal = PathBuf::from(DEFAULT_JOURNAL);
            if journal.exists() && to_journald(decision, &journal).is_ok() {
                return Ok(());
            }
            to_syslog(decision, &PathBuf::from(DEFAULT_SOCKET))
        }
    }
}

fn to_syslog(decision: &Decision, path: &PathBuf) -> Result<(), Error> {
    let formatter = Formatter3164 {
        facility: Facility::LOG_AUTHPRIV,
        hostname: None,
        process: "oci-psp-hook".into(),
        pid: std::process::id(),
    };
    let mut logger = syslog::unix_custom(formatter, path).map_err(|source| Error::NoSyslog {
        path: path.clone(),
        source,
    })?;
    // A stalled reader must not stall every container start.
    let bounded = match &logger.backend {
        syslog::LoggerBackend::Unix(socket) => socket.set_write_timeout(Some(SEND_TIMEOUT)),
        syslog::LoggerBackend::UnixStream(stream) => {
            stream.get_ref().set_write_timeout(Some(SEND_TIMEOUT))
        }
        _ => Ok(()),
    };
    bounded.map_err(|source| Error::SyslogUnbounded {
        path: path.clone(),
        source,
    })?;
    let message = syslog_message(&logger.formatter, decision)?;
    let sent = match &mut logger.backend {
        syslog::LoggerBackend::Unix(socket) => {
            make_room(socket, message.len());
            socket.send(&message).map(|_| ())
        }
        // A stream socket (some syslog daemons): messages end with a NUL.
        syslog::LoggerBackend::UnixStream(stream) => stream
            .write_all(&message)
            .and_then(|()| stream.write_all(&[0]))
            .and_then(|()| stream.flush()),
        _ => Err(std::io::Error::other("not a local syslog socket")),
    };
    sent.map_err(|source| Error::SyslogRefused {
        path: path.clone(),
        source,
    })
}

/// The severity of a decision: info, warning, err (journald's `PRIORITY`
/// is its number).
fn severity(decision: &Decision) -> Severity {
    match decision.verdict {
        Verdict::Allow => Severity::LOG_INFO,
        Verdict::Deny | Verdict::Exempt => Severity::LOG_WARNING,
        Verdict::Error => Severity::LOG_ERR,
    }
}

/// What the journal entry keeps of each field but the decision record.
const JOURNAL_FIELD_LIMIT: usize = 4096;

/// The journald native protocol datagram.
pub fn journal_entry(decision: &Decision) -> Vec<u8> {
    let c = &decision.container;
    let violations: Vec<String> = decision
        .deciding_results()
        .into_iter()
        .flat_map(|r| r.violations.iter().map(|v| format!("{}: {v}", r.policy)))
        .collect();
    let policy = decision.admitted_by.clone().unwrap_or_else(|| {
        let names: Vec<&str> = decision.results.iter().map(|r| r.policy.as_str()).collect();
        names.join(",")
    });
    let fields: [(&str, String); 13] = [
        ("MESSAGE", decision.one_line()),
        ("PRIORITY", (severity(decision) as u8).to_string()),
        ("SYSLOG_IDENTIFIER", "oci-psp-hook".into()),
        ("SYSLOG_FACILITY", "10".into()),
        ("OCI_PSP_CONTAINER_ID", c.id.clone()),
        ("OCI_PSP_NAMESPACE", c.namespace.clone().unwrap_or_default()),
        ("OCI_PSP_POD", c.pod.clone().unwrap_or_default()),
        ("OCI_PSP_CONTAINER", c.container.clone().unwrap_or_default()),
        ("OCI_PSP_VERDICT", verdict_word(decision).into()),
        (
            "OCI_PSP_MODE",
            if decision.mode == Mode::Audit {
                "audit"
            } else {
                "enforce"
            }
            .into(),
        ),
        ("OCI_PSP_POLICY", policy),
        ("OCI_PSP_VIOLATIONS", violations.join("; ")),
        (
            "OCI_PSP_DURATION_US",
            decision
                .duration_us
                .map(|d| d.to_string())
                .unwrap_or_default(),
        ),
    ];
    let mut out = Vec::new();
    for (key, value) in fields {
        // The decision record below is bounded; so are these, each a
        // summary of it.
        let value = crate::decision::cut_to(&value, JOURNAL_FIELD_LIMIT);
        if value.contains('\n') {
            // Binary-safe form: KEY\n<len u64 le><value>\n
            let _ = writeln!(out, "{key}");
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
            out.extend_from_slice(value.as_bytes());
            out.push(b'\n');
        } else {
            let _ = writeln!(out, "{key}={value}");
        }
    }
    // The JSON holds no raw newline (escaped, as serde_json escapes it):
    // the plain form, written in place.
    out.extend_from_slice(b"OCI_PSP_DECISION=");
    decision.write_log_json(&mut out);
    out.push(b'\n');
    out
}

/// `allow`, `deny`, `would-deny` (audit mode), `error` or `exempt`.
pub fn verdict_word(decision: &Decision) -> &'static str {
    match (decision.verdict, decision.mode) {
        (Verdict::Allow, _) => "allow",
        (Verdict::Deny, Mode::Audit) => "would-deny",
        (Verdict::Deny, Mode::Enforce) => "deny",
        (Verdict::Error, _) => "error",
        (Verdict::Exempt, _) => "exempt",
    }
}

/// A record this large may not fit the socket's send buffer.
const LARGE_RECORD: usize = 64 << 10;

/// Let a datagram of `len` bytes through: a unix datagram socket refuses
/// one larger than its send buffer (208 KiB by default), and the record of
/// a denial by a hundred policies, or of a container with a few thousand
/// mounts, can be larger. As root the hook may exceed the system's maximum
/// (`SO_SNDBUFFORCE`); otherwise the kernel caps the size, and a record
/// that still does not fit is reported as not logged.
fn make_room(socket: &UnixDatagram, len: usize) {
    use nix::sys::socket::{setsockopt, sockopt};
    if len < LARGE_RECORD {
        return;
    }
    // The kernel doubles the value for its bookkeeping: `len` leaves room.
    if setsockopt(socket, sockopt::SndBufForce, &len).is_err() {
        let _ = setsockopt(socket, sockopt::SndBuf, &len);
    }
}

fn to_journald(decision: &Decision, path: &PathBuf) -> Result<(), Error> {
    let socket = UnixDatagram::unbound().map_err(Error::NoJournalSocket)?;
    socket
        .set_write_timeout(Some(SEND_TIMEOUT))
        .map_err(Error::NoJournalSocket)?;
    let entry = journal_entry(decision);
    make_room(&socket, entry.len());
    socket
        .send_to(&entry, path)
        .map(|_| ())
        .map_err(|source| Error::JournalRefused {
            path: path.clone(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::ContainerInfo;

    #[test]
    fn journal_entry_carries_the_fields() {
        let mut d = Decision::error(
            ContainerInfo {
                id: "abc".into(),
                namespace: Some("team-a".into()),
                pod: Some("web".into()),
                container: Some("app".into()),
                sandbox: false,
            },
            "line one\nline two",
        );
        d.mode = Mode::Audit;
        let entry = String::from_utf8_lossy(&journal_entry(&d)).into_owned();
        assert!(entry.contains("OCI_PSP_CONTAINER_ID=abc\n"), "{entry}");
        assert!(
            entry.contains("OCI_PSP_NAMESPACE=team-a\nOCI_PSP_POD=web\nOCI_PSP_CONTAINER=app\n"),
            "{entry}"
        );
        assert!(entry.contains("OCI_PSP_VERDICT=error\n"), "{entry}");
        assert!(entry.contains("PRIORITY=3\n"), "{entry}");
        // the message is one line; a raw field with a newline would use the
        // length-prefixed form
        assert!(entry.contains("blocked: line one\\nline two\n"), "{entry}");
        d.container.pod = Some("we\nb".into());
        let entry = journal_entry(&d);
        let expected = [b"OCI_PSP_POD\n".as_slice(), &4u64.to_le_bytes(), b"we\nb\n"].concat();
        assert!(
            entry
                .windows(expected.len())
                .any(|w| w == expected.as_slice())
        );
    }

    #[test]
    fn sends_to_a_journal_socket() {
        let dir = tempfile::Builder::new()
            .prefix("psp-journal-")
            .tempdir()
            .unwrap();
        let path = dir.path().join("socket");
        let receiver = UnixDatagram::bind(&path).unwrap();
        let d = Decision::error(
            ContainerInfo {
                id: "x1".into(),
                ..Default::default()
            },
            "boom",
        );
        to_journald(&d, &path).unwrap();
        let mut buf = vec![0u8; 65536];
        let n = receiver.recv(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(
            text.starts_with("MESSAGE=oci-psp-hook: error, container x1 blocked: boom\n"),
            "{text}"
        );
        dir.close().unwrap();
        assert!(to_journald(&d, &path).is_err());
    }
}
