//! `hook`: the OCI hook. The OCI state arrives on stdin; config.json is read
//! from its bundle. Exit 0 allows, 1 denies, 2 is an error (blocks too).

use std::io::Read;
use std::path::PathBuf;

use serde::Deserialize;

use super::decide;
use crate::container::build::BuildContext;
use crate::container::mounts::MountContext;
use crate::container::namespaces::ProcProbe;
use crate::decision::{ContainerInfo, Decision, Verdict};
use crate::input::{CONFIG_LIMIT, STATE_LIMIT, read_bounded, read_limited};
use crate::log::log_decision;
use crate::policy::config::Mode;
use crate::policy::select::Flags;

/// The fields of the OCI state the hook uses. Unknown fields are ignored:
/// the state grows with runtime versions.
#[derive(Debug, Deserialize)]
pub struct State {
    #[serde(default)]
    id: String,
    pid: Option<i32>,
    bundle: Option<PathBuf>,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

/// Parse the OCI state read from stdin; the error is the reason the hook
/// gives. Pure, for the fuzz target `oci_state`.
pub fn parse_state(bytes: &[u8]) -> Result<State, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("no OCI state on stdin (is this running as an OCI hook?)".into());
    }
    serde_json::from_slice(bytes).map_err(|e| format!("OCI state on stdin is not valid: {e}"))
}

pub fn run(flags: &Flags, stdin: impl Read) -> i32 {
    let decision = decide_from_state(flags, stdin);
    report(&decision)
}

fn decide_from_state(flags: &Flags, stdin: impl Read) -> Decision {
    let unknown = ContainerInfo::default();
    let bytes = match read_limited(stdin, STATE_LIMIT, "OCI state on stdin") {
        Ok(b) => b,
        Err(e) => return Decision::error(unknown, e.to_string()),
    };
    let state = match parse_state(&bytes) {
        Ok(s) => s,
        Err(why) => return Decision::error(unknown, why),
    };
    let info = ContainerInfo {
        id: state.id.clone(),
        ..Default::default()
    };
    let Some(bundle) = state.bundle.filter(|b| !b.as_os_str().is_empty()) else {
        return Decision::error(info, "OCI state on stdin has no bundle");
    };
    let config_path = bundle.join("config.json");
    let config = match read_bounded(&config_path, CONFIG_LIMIT) {
        Ok(c) => c,
        Err(e) => return Decision::error(info, e.to_string()),
    };
    let ctx = BuildContext {
        id: state.id,
        pid: state.pid.filter(|p| *p > 0),
        state_annotations: state.annotations,
        mounts: MountContext {
            bundle: Some(bundle.clone()),
            ..Default::default()
        },
        probe: &ProcProbe,
    };
    decide(
        flags,
        crate::policy::cache::load,
        &config_path.display().to_string(),
        &config,
        &ctx,
    )
}

/// Log the decision, tell the runtime's user why on stderr — one line, as
/// runtimes show the first or a matching line only — return the exit code.
fn report(decision: &Decision) -> i32 {
    let logged = log_decision(decision);
    let verdict_line = decision.verdict != Verdict::Allow || decision.mode == Mode::Audit;
    match (verdict_line, logged) {
        (true, Ok(())) => eprintln!("{}", decision.one_line()),
        (true, Err(why)) => eprintln!("{}; decision not logged: {why}", decision.one_line()),
        (false, Err(why)) => eprintln!("oci-psp-hook: decision not logged: {why}"),
        (false, Ok(())) => {}
    }
    decision.exit_code()
}
