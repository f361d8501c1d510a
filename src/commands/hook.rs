//! `hook`: the OCI hook. The OCI state arrives on stdin; config.json is read
//! from its bundle. Exit 0 allows, 1 denies, 2 is an error (blocks too).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;

use serde::Deserialize;

use super::decide;
use crate::container::build::BuildContext;
use crate::container::mounts::MountContext;
use crate::container::namespaces::ProcProbe;
use crate::decision::{ContainerInfo, Decision, Detail, Verdict};
use crate::input::{CONFIG_LIMIT, STATE_LIMIT, Text, read_bundle_config, read_limited};
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

/// Why the OCI state on stdin cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("no OCI state on stdin (is this running as an OCI hook?)")]
    Empty,
    #[error("OCI state on stdin is not valid: {0}")]
    Invalid(#[source] serde_json::Error),
}

/// Parse the OCI state read from stdin. Pure, for the fuzz target
/// `oci_state`.
pub fn parse_state(bytes: &[u8]) -> Result<State, StateError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(StateError::Empty);
    }
    serde_json::from_slice(bytes).map_err(StateError::Invalid)
}

/// The flags of `oci-psp-hook hook ARGS…` read without clap, for the
/// common command lines (`--policy F`, `--profile P`, `--config F`, each also
/// as `--flag=value`): clap's parser is most of the start-up cost left. `None`
/// for anything else (help, a bad or repeated flag, a value that looks like a
/// flag): clap then reads the line and gives its usual answer.
pub fn fast_flags(args: &[OsString]) -> Option<Flags> {
    let mut flags = Flags::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let arg = arg.to_str()?;
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(OsString::from(value))),
            None => (arg, None),
        };
        let value = match inline {
            Some(value) => value,
            None => rest.next()?.clone(),
        };
        if value.is_empty() || value.as_encoded_bytes().starts_with(b"-") {
            return None;
        }
        match name {
            "--policy" => flags.policies.push(PathBuf::from(value)),
            "--profile" => flags.profiles.push(value.into_string().ok()?),
            "--config" if flags.config.is_none() => flags.config = Some(PathBuf::from(value)),
            _ => return None,
        }
    }
    Some(flags)
}

pub fn run(flags: &Flags, stdin: impl Read) -> i32 {
    let started = std::time::Instant::now();
    // config.json's text, which the decision borrows strings from.
    let mut config = None;
    let mut decision = decide_from_state(flags, stdin, &mut config);
    decision.duration_us = Some(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
    let code = report(&decision);
    // The process exits next; its memory goes with it, not block by block.
    std::mem::forget(decision);
    std::mem::forget(config);
    code
}

/// `config`: where config.json's text is kept, for the decision to borrow.
fn decide_from_state<'c>(
    flags: &Flags,
    stdin: impl Read,
    config: &'c mut Option<Text>,
) -> Decision<'c> {
    let unknown = ContainerInfo::default();
    let bytes = match read_limited(stdin, STATE_LIMIT, "OCI state on stdin") {
        Ok(b) => b,
        Err(e) => return Decision::error(unknown, e.to_string()),
    };
    let state = match parse_state(&bytes) {
        Ok(s) => s,
        Err(why) => return Decision::error(unknown, why.to_string()),
    };
    let info = ContainerInfo {
        id: state.id.clone(),
        ..Default::default()
    };
    let Some(bundle) = state.bundle.filter(|b| !b.as_os_str().is_empty()) else {
        return Decision::error(info, "OCI state on stdin has no bundle");
    };
    let config_path = bundle.join("config.json");
    let (text, bundle) = match read_bundle_config(&bundle, CONFIG_LIMIT) {
        Ok((text, bundle)) => (config.insert(text), bundle),
        Err(e) => return Decision::error(info, e.to_string()),
    };
    let ctx = BuildContext {
        trust_cri: false,
        trust_id: false,
        id: state.id,
        pid: state.pid.filter(|p| *p > 0),
        state_annotations: state.annotations,
        mounts: MountContext::of_resolved_bundle(bundle.clone()),
        probe: &ProcProbe,
    };
    decide(
        flags,
        crate::policy::cache::load,
        Detail::Deciding,
        &config_path.display().to_string(),
        text,
        &ctx,
    )
}

/// Log the decision, tell the runtime's user why on stderr — one line, as
/// runtimes show the first or a matching line only — return the exit code.
fn report(decision: &Decision) -> i32 {
    // A record no log took is kept for `doctor` (never lost silently).
    let logged = log_decision(decision).map_err(|why| {
        match crate::undelivered::keep(&crate::log::text_record(decision)) {
            Ok(file) => format!("{why}; kept in {}", file.display()),
            Err(not_kept) => format!("{why}; not kept either: {not_kept}"),
        }
    });
    // An exempt container starts as an allowed one does: its record says why.
    let admitted = matches!(decision.verdict, Verdict::Allow | Verdict::Exempt);
    let verdict_line = !admitted || decision.mode == Mode::Audit;
    let line = match (verdict_line, logged) {
        (true, Ok(())) => Some(decision.one_line()),
        (true, Err(why)) => Some(format!(
            "{}; decision not logged: {why}",
            decision.one_line()
        )),
        (false, Err(why)) => Some(format!("oci-psp-hook: decision not logged: {why}")),
        (false, Ok(())) => None,
    };
    if let Some(mut line) = line {
        // One write: stderr is unbuffered, and the runtime reads it whole.
        line.push('\n');
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
    decision.exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn fast_flags_read_the_common_lines() {
        let f = fast_flags(&args(&[
            "--policy",
            "/a.yaml",
            "--profile=restricted",
            "--policy=/b.yaml",
            "--config",
            "/c.yaml",
        ]))
        .unwrap_or_default();
        assert_eq!(
            f.policies,
            [PathBuf::from("/a.yaml"), PathBuf::from("/b.yaml")]
        );
        assert_eq!(f.profiles, ["restricted"]);
        assert_eq!(f.config, Some(PathBuf::from("/c.yaml")));
        assert!(fast_flags(&[]).is_some_and(|f| f.policies.is_empty() && f.config.is_none()));
    }

    #[test]
    fn anything_else_is_left_to_clap() {
        for line in [
            &["--help"][..],
            &["-h"],
            &["--policy"],
            &["--policy", "--config", "x"],
            &["--policy="],
            &["--config", "a", "--config", "b"],
            &["--bogus", "x"],
            &["extra"],
        ] {
            assert!(fast_flags(&args(line)).is_none(), "{line:?}");
        }
    }
}
