//! `containerd-base-spec`: containerd reads no hooks.d directory, so the hook
//! reaches its containers through the CRI plugin's `base_runtime_spec`: a
//! full OCI spec (from `ctr oci spec`) with the hook in `hooks.createRuntime`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::input::{CONFIG_LIMIT, InputError, read_bounded};

pub const DEFAULT_HOOK_PATH: &str = crate::container::hooks::INSTALLED_PATH;

/// Why the base spec could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("cannot run `ctr oci spec` (is containerd installed?): {0}")]
    CtrNotRun(#[source] std::io::Error),
    #[error("`ctr oci spec` failed: {stderr}")]
    CtrFailed { stderr: String },
    #[error("the base spec is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("the base spec is not a JSON object")]
    NotAnObject,
    #[error("hooks is not an object")]
    HooksNotAnObject,
    #[error("hooks.createRuntime is not a list")]
    CreateRuntimeNotAList,
    #[error(transparent)]
    Serialize(serde_json::Error),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot replace {}: {source}", path.display())]
    Replace {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Print the base spec with the hook; exit 0, or 2 with the reason.
pub fn run(
    from: Option<&Path>,
    hook_path: &Path,
    hook_args: &[String],
    output: Option<&Path>,
) -> i32 {
    match generate(from, hook_path, hook_args).and_then(|spec| write(&spec, output)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("oci-psp-hook: containerd-base-spec: {e}");
            2
        }
    }
}

/// containerd's default spec (`ctr oci spec`, or `from`) with the hook in
/// `hooks.createRuntime`.
pub fn generate(
    from: Option<&Path>,
    hook_path: &Path,
    hook_args: &[String],
) -> Result<Value, Error> {
    let base = match from {
        Some(path) => read_bounded(path, CONFIG_LIMIT)?,
        None => ctr_default_spec()?,
    };
    let mut spec: Value = serde_json::from_slice(&base).map_err(Error::NotJson)?;
    add_hook(&mut spec, hook_path, hook_args)?;
    Ok(spec)
}

fn ctr_default_spec() -> Result<Vec<u8>, Error> {
    let out = Command::new("ctr")
        .args(["oci", "spec"])
        .output()
        .map_err(Error::CtrNotRun)?;
    if !out.status.success() {
        return Err(Error::CtrFailed {
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out.stdout)
}

/// Put the hook into `hooks.createRuntime`, replacing an earlier entry of the
/// same path so running the command twice changes nothing.
pub fn add_hook(spec: &mut Value, hook_path: &Path, hook_args: &[String]) -> Result<(), Error> {
    let path = hook_path.display().to_string();
    let mut args = vec![json!("oci-psp-hook"), json!("hook")];
    args.extend(hook_args.iter().map(|a| json!(a)));
    let entry = json!({"path": path, "args": args});
    let root = spec.as_object_mut().ok_or(Error::NotAnObject)?;
    let hooks = root.entry("hooks").or_insert_with(|| json!({}));
    let hooks = hooks.as_object_mut().ok_or(Error::HooksNotAnObject)?;
    let stage = hooks.entry("createRuntime").or_insert_with(|| json!([]));
    let stage = stage.as_array_mut().ok_or(Error::CreateRuntimeNotAList)?;
    stage.retain(|h| h.get("path").and_then(Value::as_str) != Some(path.as_str()));
    stage.insert(0, entry);
    Ok(())
}

/// stdout, or a file written beside its target and renamed into place so
/// containerd never reads half of it.
fn write(spec: &Value, output: Option<&Path>) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(spec).map_err(Error::Serialize)? + "\n";
    let Some(path) = output else {
        print!("{text}");
        return Ok(());
    };
    let tmp: PathBuf = path.with_extension("json.tmp");
    if let Err(source) = std::fs::write(&tmp, text) {
        return Err(Error::Write { path: tmp, source });
    }
    std::fs::rename(&tmp, path).map_err(|source| Error::Replace {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_the_hook_once_and_keeps_others() {
        let mut spec = json!({"ociVersion": "1.1.0", "hooks": {"createRuntime": [{"path": "/usr/bin/other"}]}});
        let hook = Path::new(DEFAULT_HOOK_PATH);
        add_hook(&mut spec, hook, &["--config".into(), "/etc/x.yaml".into()]).unwrap();
        add_hook(&mut spec, hook, &[]).unwrap();
        let stage = spec["hooks"]["createRuntime"].as_array().unwrap();
        assert_eq!(stage.len(), 2);
        assert_eq!(
            stage[0],
            json!({"path": DEFAULT_HOOK_PATH, "args": ["oci-psp-hook", "hook"]})
        );
        assert_eq!(stage[1]["path"], "/usr/bin/other");
    }

    #[test]
    fn spec_without_hooks_gets_them() {
        let mut spec = json!({"ociVersion": "1.1.0"});
        add_hook(&mut spec, Path::new("/x/hook"), &[]).unwrap();
        assert_eq!(spec["hooks"]["createRuntime"][0]["path"], "/x/hook");
        assert!(matches!(
            add_hook(&mut json!([1]), Path::new("/x"), &[]),
            Err(Error::NotAnObject)
        ));
    }
}
