//! The subcommands. Each returns the process exit code.

pub mod advise;
pub mod base_spec;
pub mod check;
pub mod doctor;
pub mod explain;
pub mod hook;
pub mod install;
pub mod lint;
pub mod uninstall;

use crate::container::ContainerView;
use crate::container::build::{BuildContext, build};
use crate::decision::{ContainerInfo, Decision, Detail};
use crate::policy::load::PolicyError;
use crate::policy::select::{Flags, Sources};

/// How the policies are loaded: fresh (`check`), or through the hook's cache.
pub type Loader = fn(&Flags) -> Result<Sources, PolicyError>;

/// Decide on a container from its config.json: load the policies, build the
/// view, select, evaluate (keeping the findings `detail` asks for). Any
/// failure is an error decision (blocked). For commands that exit next: the
/// view and the policies are left allocated.
pub fn decide<'a>(
    flags: &Flags,
    load: Loader,
    detail: Detail,
    config_file: &str,
    config: &'a [u8],
    ctx: &BuildContext,
) -> Decision<'a> {
    let info = ContainerInfo {
        id: ctx.id.clone(),
        ..Default::default()
    };
    // Never freed, so the decision's facts can borrow its mounts: `hook` and
    // `check` exit after deciding, and freeing a view of a thousand mounts
    // string by string cost 2% of the hook's time.
    let mut view = match build(config_file, config, ctx) {
        Ok(view) => view,
        Err(e) => return Decision::error(info, e.to_string()),
    };
    // Never freed either: freeing a hundred policies field by field cost
    // 2.5% of the hook's instructions in that case.
    let sources: &Sources = match load(flags) {
        Ok(sources) => Box::leak(Box::new(sources)),
        Err(e) => {
            return Decision::error(
                ContainerInfo::of(Box::leak(Box::new(view))),
                format!("invalid policy: {e}"),
            );
        }
    };
    crate::container::hooks::allow(&mut view.hooks, sources.allowed_hooks());
    crate::container::hooks::accept_same_policies(&mut view.hooks, |args| {
        let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        hook::fast_flags(&args).as_ref() == Some(flags)
    });
    let view: &'a ContainerView<'a> = Box::leak(Box::new(view));
    let info = ContainerInfo::of(view);
    // Decided on the identity alone, before the policies: a broken binding
    // does not block what an exemption admits.
    let exemptions = crate::policy::exemptions::judge(sources.exemptions(), view);
    let decision = match sources.select(view) {
        Ok(selection) => Decision::evaluate_with(view, &selection, detail),
        Err(e) if exemptions.exempt.is_some() => Decision::unjudged(view, e.to_string()),
        Err(e) => Decision::error(info, format!("invalid policy binding: {e}")),
    };
    decision.with_exemptions(exemptions)
}

/// A bundle directory or a config.json file named on the command line, as
/// `check` and `advise` read it: the config.json and the bundle its relative
/// paths (`root.path`, bind sources) are relative to, absolute and resolved
/// (a bare `config.json` is in the current directory's bundle).
pub fn config_and_bundle(path: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (config, bundle) = if path.is_dir() {
        (path.join("config.json"), path.to_path_buf())
    } else {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        (path.to_path_buf(), parent.to_path_buf())
    };
    let bundle = std::path::absolute(&bundle).unwrap_or(bundle);
    let bundle = bundle.canonicalize().unwrap_or(bundle);
    (config, bundle)
}
