//! `check`: the hook's verdict offline, on a bundle directory or a
//! config.json file. Same exit codes as the hook.

use std::path::Path;

use super::decide;
use crate::container::build::BuildContext;
use crate::container::mounts::MountContext;
use crate::container::namespaces::ProcProbe;
use crate::decision::{ContainerInfo, Decision, Detail, Verdict};
use crate::input::{CONFIG_LIMIT, read_bounded};
use crate::policy::select::{Flags, Sources};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// How `check` reads the container.
pub struct Options {
    pub output: Output,
    /// Honour the Kubernetes annotations as a CRI runtime's.
    pub cri: bool,
    /// The runtime id, instead of the bundle directory's name.
    pub id: Option<String>,
}

pub fn run(flags: &Flags, path: &Path, options: &Options) -> i32 {
    // config.json's text, which the decision borrows strings from.
    let mut config = Vec::new();
    let decision = decide_path(flags, path, options, &mut config);
    if decision.verdict == Verdict::Error {
        eprintln!("{}", decision.one_line());
    }
    match options.output {
        Output::Json => println!("{}", decision.to_json()),
        Output::Text => print!("{}", text(&decision)),
    }
    decision.exit_code()
}

/// `config`: where config.json's text is kept, for the decision to borrow.
fn decide_path<'c>(
    flags: &Flags,
    path: &Path,
    options: &Options,
    config: &'c mut Vec<u8>,
) -> Decision<'c> {
    let (config_path, bundle) = super::config_and_bundle(path);
    // Offline there is no runtime id: the bundle directory's name stands in
    // (podman's and CRI-O's bundles are `<id>/userdata`).
    let id = options
        .id
        .clone()
        .unwrap_or_else(|| crate::container::identity::bundle_id(&bundle));
    *config = match read_bounded(&config_path, CONFIG_LIMIT) {
        Ok(c) => c,
        Err(e) => {
            let info = ContainerInfo {
                id,
                ..Default::default()
            };
            return Decision::error(info, e.to_string());
        }
    };
    let ctx = BuildContext {
        trust_cri: options.cri,
        // Like the hook, the bundle directory's name is taken as the
        // runtime's id only in a runtime's own layout; `--id` is the
        // admin's word for which container this was.
        trust_id: options.id.is_some(),
        id,
        pid: None,
        state_annotations: Default::default(),
        mounts: MountContext {
            bundle: Some(bundle.clone()),
            ..Default::default()
        },
        probe: &ProcProbe,
    };
    decide(
        flags,
        Sources::load,
        Detail::Every,
        &config_path.display().to_string(),
        config,
        &ctx,
    )
}

/// The one-line verdict, then each finding on its own line.
fn text(decision: &Decision) -> String {
    let mut out = format!("{}\n", decision.one_line());
    for result in &decision.results {
        for v in &result.violations {
            out.push_str(&format!("  policy {:?}: {v}\n", result.policy));
        }
        for v in &result.unverified {
            out.push_str(&format!(
                "  policy {:?}: not verifiable at the node: {v}\n",
                result.policy
            ));
        }
    }
    out
}
