//! `advise`: print the least-privilege PodSecurityPolicy admitting the given
//! containers (bundles or config.json files, `--running`, `--from-log`).
//! Exit 0 with the policy on stdout, 2 on any error.

use std::path::{Path, PathBuf};

use crate::advise::usage::Counted;
use crate::advise::{self, DEFAULT_NAME, Document, from_log, group, render, running};
use crate::checks;
use crate::container::ContainerView;
use crate::container::build::{BuildContext, ConfigError, build};
use crate::container::facts::Facts;
use crate::container::mounts::MountContext;
use crate::container::namespaces::ProcProbe;
use crate::input::{CONFIG_LIMIT, InputError, read_bounded};
use crate::policy::load::PolicyError;
use crate::policy::select::{Flags, Sources};
use crate::policy::{Origin, exemptions, load};

/// Why no advice was given.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("--explain writes YAML comments; it cannot be used with --output json")]
    ExplainWithJson,
    #[error("--config-output needs --group-by namespace")]
    ConfigOutputWithoutGroupBy,
    #[error("--name {name:?}: a policy name is lowercase letters, digits, '-' and '.'")]
    InvalidName { name: String },
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Running(#[from] running::RunningError),
    #[error("--running: no running containers found (runc, containerd, crun state under /run)")]
    NoneRunning,
    #[error(transparent)]
    Log(#[from] from_log::LogError),
    #[error("{}: no decision records with container facts ({records} records)", file.display())]
    NoFacts { file: PathBuf, records: usize },
    #[error(
        "no containers to advise from: give bundle directories or config.json files, --running or --from-log"
    )]
    NoInputs,
    #[error(transparent)]
    Input(#[from] InputError),
    /// A running container's config.json could not be read.
    #[error("{source} (container {id}, {})", state.display())]
    RunningInput {
        source: InputError,
        id: String,
        state: PathBuf,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The round-trip guarantee broken: a bug, never printed as advice.
    #[error("internal error: the advised policy is invalid: {0}")]
    AdvisedInvalid(#[source] PolicyError),
    #[error("internal error: no advised policy")]
    NoAdvisedPolicy,
    #[error("internal error: the advised policy {policy:?} would deny {container}: {violation}")]
    AdvisedDenies {
        policy: String,
        container: String,
        violation: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupBy {
    Namespace,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub output: Format,
    pub name: Option<String>,
    pub explain: bool,
    pub running: bool,
    pub group_by: Option<GroupBy>,
    pub from_log: Vec<PathBuf>,
    /// The key that signed text records (default: this node's).
    pub log_key: Option<PathBuf>,
    /// Take log records that cannot be attributed to the hook too.
    pub accept_unattributed: bool,
    pub config_output: Option<PathBuf>,
    /// The node configuration whose exemptions leave containers out.
    pub config: Option<PathBuf>,
    pub paths: Vec<PathBuf>,
}

pub fn run(options: &Options) -> i32 {
    match advise_text(options) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("oci-psp-hook: advise: {e}");
            2
        }
    }
}

/// One input container: its facts, and its view when we built it (to check
/// the advice against).
struct Input {
    facts: Facts<'static>,
    view: Option<ContainerView<'static>>,
}

fn advise_text(options: &Options) -> Result<String, Error> {
    check_options(options)?;
    let (inputs, unattributed) = collect(options)?;
    let facts: Vec<Facts> = inputs.iter().map(|i| i.facts.clone()).collect();
    let groups = match options.group_by {
        Some(GroupBy::Namespace) => group::by_namespace(facts, options.name.as_deref()),
        None => vec![group::Group {
            name: options.name.clone().unwrap_or_else(|| DEFAULT_NAME.into()),
            namespace: None,
            facts,
        }],
    };
    let mut docs = Vec::new();
    for g in &groups {
        let mut doc = advise::advise(&g.name, &g.facts);
        if unattributed > 0 {
            say_unattributed(&mut doc, unattributed);
        }
        let views = inputs.iter().filter(|i| g.facts.contains(&i.facts));
        let counted = Counted::of(&g.facts);
        verify(&doc, counted, views.filter_map(|i| i.view.as_ref()))?;
        docs.push(doc);
    }
    if options.group_by.is_some() {
        let config = group::configuration(&groups);
        match &options.config_output {
            Some(path) => write(path, &render_docs(options, &[config]))?,
            None => docs.push(config),
        }
    }
    Ok(render_docs(options, &docs))
}

/// Advice that took log records no one can show the hook wrote says so in
/// the policy itself, where whoever applies it reads it.
fn say_unattributed(doc: &mut Document, records: usize) {
    let text = format!(
        "advised from {records} log records that cannot be attributed to the hook (--accept-unattributed): any local program could have written them"
    );
    if let Some(meta) = doc
        .value
        .get_mut("metadata")
        .and_then(|m| m.as_object_mut())
    {
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| serde_json::json!({}));
        if let Some(map) = annotations.as_object_mut() {
            map.insert(UNATTRIBUTED_ANNOTATION.into(), text.clone().into());
        }
    }
    doc.note(&["metadata", "annotations", UNATTRIBUTED_ANNOTATION], text);
}

/// The annotation on advice taken from unattributed records.
pub const UNATTRIBUTED_ANNOTATION: &str = "oci-psp-hook/unattributed-log-records";

/// Combinations of options that cannot work, before any input is read.
fn check_options(options: &Options) -> Result<(), Error> {
    if options.explain && options.output == Format::Json {
        return Err(Error::ExplainWithJson);
    }
    if options.config_output.is_some() && options.group_by.is_none() {
        return Err(Error::ConfigOutputWithoutGroupBy);
    }
    match &options.name {
        Some(name) if !valid_name(name) => Err(Error::InvalidName { name: name.clone() }),
        _ => Ok(()),
    }
}

/// A Kubernetes object name (DNS subdomain), as PodSecurityPolicy names are.
fn valid_name(name: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    name.len() <= 253
        && edge(name.chars().next())
        && edge(name.chars().last())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

fn render_docs(options: &Options, docs: &[Document]) -> String {
    match options.output {
        Format::Yaml => render::yaml(docs, options.explain),
        Format::Json => render::json(docs),
    }
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The inputs, and how many log records among them no one can show the
/// hook wrote (taken with `--accept-unattributed`).
fn collect(options: &Options) -> Result<(Vec<Input>, usize), Error> {
    let mut inputs = Vec::new();
    let mut unattributed = 0;
    for path in &options.paths {
        inputs.push(from_path(path)?);
    }
    if options.running {
        let found = running::discover(Path::new("/"))?;
        if found.is_empty() {
            return Err(Error::NoneRunning);
        }
        for r in found {
            if let Some(input) = from_running(&r)? {
                inputs.push(input);
            }
        }
    }
    leave_out_exempt(&mut inputs, options.config.as_deref());
    let attribution = if options.from_log.is_empty() {
        from_log::Attribution::default()
    } else {
        let path = options.log_key.clone().unwrap_or_else(crate::log_key::path);
        let key = crate::log_key::load(&path)
            .inspect_err(|why| {
                eprintln!(
                    "oci-psp-hook: advise: {why}: text records cannot be shown to be the hook's (journald's are)"
                )
            })
            .ok();
        from_log::Attribution {
            key,
            accept_unattributed: options.accept_unattributed,
        }
    };
    for file in &options.from_log {
        let log = from_log::read(file, &attribution)?;
        if log.accepted_unattributed {
            unattributed += log.unattributed;
        }
        if let Some(skipped) = log.skipped() {
            eprintln!("oci-psp-hook: advise: {}: {skipped}", file.display());
        }
        if log.facts.is_empty() {
            return Err(Error::NoFacts {
                file: file.clone(),
                records: log.records,
            });
        }
        inputs.extend(
            log.facts
                .into_iter()
                .map(|facts| Input { facts, view: None }),
        );
    }
    if inputs.is_empty() {
        return Err(Error::NoInputs);
    }
    Ok((inputs, unattributed))
}

/// Containers the node's configuration exempts ran on the exemption, not on
/// a policy: left out (as `--from-log` leaves out exempt records), and said.
fn leave_out_exempt(inputs: &mut Vec<Input>, config: Option<&Path>) {
    let flags = Flags {
        config: config.map(Path::to_path_buf),
        ..Flags::default()
    };
    let sources = match Sources::load(&flags) {
        Ok(sources) => sources,
        Err(e) => {
            eprintln!("oci-psp-hook: advise: exemptions not applied: {e}");
            return;
        }
    };
    let rules = sources.exemptions();
    if rules.is_empty() {
        return;
    }
    let before = inputs.len();
    inputs.retain(|i| {
        i.view
            .as_ref()
            .is_none_or(|v| exemptions::judge(rules, v).exempt.is_none())
    });
    let left_out = before - inputs.len();
    if left_out > 0 {
        eprintln!(
            "oci-psp-hook: advise: {left_out} container(s) an exemption of {} admits left out (what an exemption admits is no evidence for a policy)",
            config.map_or(crate::CONFIG_PATH.into(), |c| c.display().to_string())
        );
    }
}

/// A bundle directory or a config.json file.
fn from_path(path: &Path) -> Result<Input, Error> {
    let (config, bundle) = super::config_and_bundle(path);
    let bytes = read_bounded(&config, CONFIG_LIMIT)?;
    input(&config, &bytes, label_of(path), None, Some(bundle))
}

/// How an input is named: the bundle directory's name (`check` does the
/// same), or the file's name when it is not a config.json.
fn label_of(path: &Path) -> String {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let absolute = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let label = if absolute.is_dir() {
        name(&absolute)
    } else if name(&absolute).as_deref() == Some("config.json") {
        absolute.parent().and_then(name)
    } else {
        name(&absolute)
    };
    label.unwrap_or_else(|| path.display().to_string())
}

fn from_running(r: &running::Running) -> Result<Option<Input>, Error> {
    let config = r.bundle.join("config.json");
    let bytes = match read_bounded(&config, CONFIG_LIMIT) {
        Ok(b) => b,
        // It stopped and was removed while we looked.
        Err(InputError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(source) => {
            return Err(Error::RunningInput {
                source,
                id: r.id.clone(),
                state: r.state.clone(),
            });
        }
    };
    input(
        &config,
        &bytes,
        r.id.clone(),
        Some(r.pid),
        Some(r.bundle.clone()),
    )
    .map(Some)
}

/// The container of a config.json: as `check --cri` judges it, its
/// Kubernetes annotations honoured (advice is read by an admin before it
/// is applied; the hook itself trusts them only from a CRI runtime).
fn input(
    config: &Path,
    bytes: &[u8],
    id: String,
    pid: Option<i32>,
    bundle: Option<PathBuf>,
) -> Result<Input, Error> {
    let id = match (&bundle, pid) {
        (Some(b), None) => crate::container::identity::bundle_id(b),
        _ => id,
    };
    // The id of a path input is its bundle directory's name: ids are taken
    // as the runtime's only from the runtime's own layout.
    let ctx = BuildContext {
        trust_cri: true,
        trust_id: false,
        id,
        pid,
        state_annotations: Default::default(),
        mounts: MountContext {
            bundle,
            ..Default::default()
        },
        probe: &ProcProbe,
    };
    let view = build(&config.display().to_string(), bytes, &ctx)?.into_owned();
    Ok(Input {
        facts: Facts::from_view(&view).into_owned(),
        view: Some(view),
    })
}

/// The round-trip guarantee, at run time: the advice lints and admits every
/// container it was made from, in what it was made from (`counted`).
/// Failing it is a bug, never printed as advice.
fn verify<'a>(
    doc: &Document,
    counted: Counted,
    views: impl Iterator<Item = &'a ContainerView<'static>>,
) -> Result<(), Error> {
    let text = render::yaml(std::slice::from_ref(doc), false);
    let policies =
        load::parse("advised policy", &text, Origin::Builtin).map_err(Error::AdvisedInvalid)?;
    let Some(policy) = policies.first() else {
        return Err(Error::NoAdvisedPolicy);
    };
    for view in views {
        let sandbox = view.identity.sandbox;
        let findings = checks::evaluate_scopes(view, policy, |s| counted.counts(s, sandbox));
        if let Some(v) = findings.violations.first() {
            return Err(Error::AdvisedDenies {
                policy: policy.name.clone(),
                container: view.label().to_string(),
                violation: v.to_string(),
            });
        }
    }
    Ok(())
}
