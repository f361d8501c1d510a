//! containerd reads no hooks.d directory: the hook reaches its containers
//! through the CRI runtime's `base_runtime_spec` or through NRI's
//! hook-injector plugin. This says which route containerd's configuration
//! ([`Containerd`]) sets up, and whether it runs the hook.

use std::path::Path;

use super::{Item, item};
use crate::policy_set::under;
use crate::runtime_config::containerd::{Containerd, hooks_in_spec, read_spec};

/// What doctor says of containerd: checks that fail on a broken route, and
/// a line that tells which route carries the hook.
pub struct Report {
    pub items: Vec<Item>,
    pub info: Option<String>,
}

pub fn check(root: &Path) -> Option<Report> {
    let containerd = Containerd::read(root)?;
    let runtime = containerd.default_runtime();
    let mut items: Vec<Item> = containerd
        .config
        .unreadable
        .iter()
        .map(|(file, why)| {
            item(
                false,
                "containerd configuration",
                format!(
                    "{}: {why} (containerd would not start with it)",
                    file.display()
                ),
            )
        })
        .collect();
    items.extend(containerd.ignored_base_runtime_specs().iter().map(|b| {
        item(
            false,
            "containerd base_runtime_spec",
            format!(
                "{} gives runtime {:?} base_runtime_spec {} in an older configuration version's CRI plugin table, which containerd ignores in a file of version {}: set it under [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.{}]",
                b.file.display(),
                b.runtime,
                b.spec,
                containerd.version,
                b.runtime
            ),
        )
    }));
    let info = match containerd.base_runtime_spec(runtime) {
        Some(spec) => {
            items.push(judge_base_spec(root, runtime, spec));
            None
        }
        None if containerd.nri_enabled() => Some(format!(
            "no base_runtime_spec for the default runtime {runtime:?}; NRI is enabled: the hook \
             reaches containerd's containers only if NRI's hook-injector plugin runs (it reads \
             the hooks.d file; doctor cannot see it), and never their pod sandboxes"
        )),
        None => Some(format!(
            "no base_runtime_spec for the default runtime {runtime:?} and NRI is disabled: \
             containerd's containers are not judged (see the README, containerd)"
        )),
    };
    Some(Report { items, info })
}

/// A base runtime spec runs the hook when one of its `createRuntime` (or
/// `prestart`) hooks is an oci-psp-hook binary that is there.
fn judge_base_spec(root: &Path, runtime: &str, spec: &str) -> Item {
    let what = "containerd base_runtime_spec";
    let Some(value) = read_spec(root, spec) else {
        return item(
            false,
            what,
            format!("runtime {runtime:?} names {spec}, which cannot be read as a JSON spec"),
        );
    };
    match hooks_in_spec(&value).next() {
        None => item(
            false,
            what,
            format!(
                "runtime {runtime:?} takes its spec from {spec}, whose hooks run no oci-psp-hook: \
                 make it with `oci-psp-hook containerd-base-spec`"
            ),
        ),
        Some(hook) if !super::is_executable(&under(root, hook)) => item(
            false,
            what,
            format!(
                "{spec} runs {hook}, which is missing or not executable: runc would fail every \
                 container"
            ),
        ),
        Some(hook) => item(
            true,
            what,
            format!("runtime {runtime:?} takes its spec from {spec}, which runs {hook}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{containerd_root as tree, write_under as write};

    fn hook_binary(root: &Path) {
        use std::os::unix::fs::PermissionsExt;
        write(root, "/usr/libexec/oci/hooks.d/oci-psp-hook", "");
        let bin = under(root, "/usr/libexec/oci/hooks.d/oci-psp-hook");
        std::fs::set_permissions(bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    const SPEC: &str = r#"{"hooks": {"createRuntime": [{"path": "/usr/libexec/oci/hooks.d/oci-psp-hook", "args": ["oci-psp-hook", "hook"]}]}}"#;

    #[test]
    fn containerd_2_base_runtime_spec_from_an_import() {
        let dir = tree();
        let root = dir.path();
        hook_binary(root);
        write(
            root,
            crate::runtime_config::containerd::CONFIG,
            "version = 3\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n[plugins.'io.containerd.nri.v1.nri']\n  disable = true\n",
        );
        write(
            root,
            "/etc/containerd/conf.d/10-hook.toml",
            "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]\n  base_runtime_spec = \"/etc/containerd/oci-psp-hook-base-spec.json\"\n",
        );
        write(root, "/etc/containerd/oci-psp-hook-base-spec.json", SPEC);
        let report = check(root).unwrap();
        assert!(report.items[0].ok, "{:?}", report.items);
        assert_eq!(report.info, None);
        // a spec without the hook fails, naming what to run
        write(root, "/etc/containerd/oci-psp-hook-base-spec.json", "{}");
        let report = check(root).unwrap();
        assert!(!report.items[0].ok);
        assert!(report.items[0].detail.contains("containerd-base-spec"));
        // the binary gone fails too
        write(root, "/etc/containerd/oci-psp-hook-base-spec.json", SPEC);
        std::fs::remove_file(under(root, "/usr/libexec/oci/hooks.d/oci-psp-hook")).unwrap();
        assert!(!check(root).unwrap().items[0].ok);
    }

    #[test]
    fn without_a_base_spec_the_nri_route_is_told() {
        let dir = tree();
        // kept past the directory's removal below
        let root = dir.path().to_path_buf();
        // containerd 2.x enables NRI unless told not to
        write(
            &root,
            crate::runtime_config::containerd::CONFIG,
            "version = 3\n",
        );
        let report = check(&root).unwrap();
        assert!(report.items.is_empty());
        assert!(report.info.unwrap().contains("NRI is enabled"));
        // 1.x (version 2) has it off by default; another default runtime
        write(
            &root,
            crate::runtime_config::containerd::CONFIG,
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  default_runtime_name = \"kata\"\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  base_runtime_spec = \"/x.json\"\n",
        );
        let info = check(&root).unwrap().info.unwrap();
        assert!(
            info.contains("\"kata\"") && info.contains("NRI is disabled"),
            "{info}"
        );
        // a file containerd cannot parse fails, named
        write(
            &root,
            "/etc/containerd/config.toml",
            "version = 3\n[plugins\n",
        );
        let report = check(&root).unwrap();
        assert!(!report.items[0].ok);
        assert!(
            report.items[0].detail.contains("config.toml"),
            "{:?}",
            report.items
        );
        dir.close().unwrap();
        assert!(check(&root).is_none(), "no containerd");
    }

    #[test]
    fn a_base_spec_containerd_2_ignores_fails_saying_where_it_belongs() {
        let dir = tree();
        let root = dir.path();
        write(
            root,
            crate::runtime_config::containerd::CONFIG,
            "version = 3\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  base_runtime_spec = \"/etc/containerd/oci-psp-hook-base-spec.json\"\n",
        );
        let report = check(root).unwrap();
        assert!(!report.items[0].ok);
        assert!(
            report.items[0]
                .detail
                .contains("io.containerd.cri.v1.runtime"),
            "{:?}",
            report.items
        );
        assert!(report.info.unwrap().contains("no base_runtime_spec"));
    }
}
