//! Decision records to syslog (`/dev/log`): one line per decision, the
//! message being `decision <json>` so that tools (and `advise --from-log`)
//! can read it back. When no syslog socket answers, the hook still decides
//! and says once on stderr that the decision was not logged.

use std::path::PathBuf;

use syslog::{Facility, Formatter3164};

use crate::decision::{Decision, Verdict};

/// Test and unusual-host override of the syslog socket path.
pub const SOCKET_ENV: &str = "OCI_PSP_HOOK_LOG_SOCKET";
const DEFAULT_SOCKET: &str = "/dev/log";

fn socket() -> PathBuf {
    std::env::var_os(SOCKET_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// The record: `decision` followed by the decision's JSON.
pub fn record(decision: &Decision) -> String {
    format!("decision {}", decision.to_json())
}

/// Send the decision to syslog; on failure return why, for stderr.
pub fn log_decision(decision: &Decision) -> Result<(), String> {
    let path = socket();
    let formatter = Formatter3164 {
        facility: Facility::LOG_AUTHPRIV,
        hostname: None,
        process: "oci-psp-hook".into(),
        pid: std::process::id(),
    };
    let mut logger = syslog::unix_custom(formatter, &path)
        .map_err(|e| format!("syslog unavailable at {}: {e}", path.display()))?;
    let message = record(decision);
    let sent = match decision.verdict {
        Verdict::Allow => logger.info(message),
        Verdict::Deny => logger.warning(message),
        Verdict::Error => logger.err(message),
    };
    sent.map_err(|e| format!("syslog write to {} failed: {e}", path.display()))
}
