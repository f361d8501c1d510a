//! Settings of config.json the runtime applies as root on the host's behalf,
//! beyond what the checks of PSP fields read: the container's cgroup, host
//! network devices, real-time scheduling and I/O, raised resource limits, an
//! OOM score below the kubelet's, a missing mount namespace, and the
//! annotations runtimes act on. Each that reaches beyond the container is
//! privileged evidence, described.

use std::path::Path;

use super::oci::{Linux, NamespaceType, Process};

/// kubelet's lowest `oom_score_adj` for a container (pod sandboxes); below
/// it a process outlives the node's own daemons under memory pressure.
const LOWEST_KUBELET_OOM_SCORE_ADJ: i64 = -998;

/// rlimits a container may raise as the runtime sets them (as root, above
/// the host's hard limits): those that only bound the container itself.
const HARMLESS_RLIMITS: &[&str] = &[
    "RLIMIT_NOFILE",
    "RLIMIT_NPROC",
    "RLIMIT_CORE",
    "RLIMIT_STACK",
    "RLIMIT_DATA",
    "RLIMIT_AS",
    "RLIMIT_FSIZE",
    "RLIMIT_CPU",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_RSS",
];

/// `RLIMIT_MEMLOCK` up to this is what runtimes give (64 KiB to 8 MiB).
const MEMLOCK_LIMIT: u64 = 8 << 20;

/// Annotation prefixes runtimes act on (crun's `run.oci.`, systemd cgroup
/// properties through runc and crun); none is known to be harmless.
const ACTED_ON: &[&str] = &["run.oci.", "org.systemd.property."];

pub fn evidence<'a>(
    process: &Process,
    linux: &Linux,
    annotations: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(path) = linux.cgroups_path.as_deref()
        && !own_cgroup(path)
    {
        out.push(format!(
            "linux.cgroupsPath {path:?} is the root cgroup or climbs out of its parent: the \
             runtime would put the container into, and set limits on, a cgroup of others"
        ));
    }
    for name in &linux.net_devices {
        out.push(format!(
            "linux.netDevices moves host network interface {name} into the container"
        ));
    }
    if let Some((policy, nice)) = &process.scheduler {
        if matches!(&**policy, "SCHED_FIFO" | "SCHED_RR" | "SCHED_DEADLINE") {
            out.push(format!("process.scheduler {policy}: real-time scheduling"));
        }
        if *nice < 0 {
            out.push(format!(
                "process.scheduler nice {nice}: above normal priority"
            ));
        }
    }
    if process.io_priority_class.as_deref() == Some("IOPRIO_CLASS_RT") {
        out.push("process.ioPriority IOPRIO_CLASS_RT: real-time I/O".to_string());
    }
    for limit in &process.rlimits {
        let raised = match &*limit.typ {
            t if HARMLESS_RLIMITS.contains(&t) => false,
            "RLIMIT_MEMLOCK" => limit.hard > MEMLOCK_LIMIT || limit.soft > MEMLOCK_LIMIT,
            // RTPRIO, NICE and any other: anything above none
            _ => limit.hard > 0 || limit.soft > 0,
        };
        if raised {
            out.push(format!(
                "process.rlimits {} raised to {}/{}",
                limit.typ, limit.soft, limit.hard
            ));
        }
    }
    if let Some(adj) = process
        .oom_score_adj
        .filter(|a| *a < LOWEST_KUBELET_OOM_SCORE_ADJ)
    {
        out.push(format!(
            "process.oomScoreAdj {adj}: below kubelet's lowest ({LOWEST_KUBELET_OOM_SCORE_ADJ})"
        ));
    }
    let namespaces = linux.namespaces.iter().flatten();
    for ns in namespaces.clone() {
        let joined_kind = match ns.typ {
            NamespaceType::Mount => "mount",
            NamespaceType::Cgroup => "cgroup",
            NamespaceType::Time => "time",
            _ => continue,
        };
        if let Some(path) = ns.path.as_deref() {
            out.push(format!(
                "the {joined_kind} namespace joins {path}: another's namespace (runc would \
                 pivot the other's root into this image, or share its view)"
            ));
        }
    }
    let mount_namespace = namespaces.clone().any(|n| n.typ == NamespaceType::Mount);
    if !mount_namespace {
        out.push(
            "no mount namespace entry in config.json: the container would share the host's \
             mount table"
                .to_string(),
        );
    }
    for key in annotations.filter(|k| ACTED_ON.iter().any(|p| k.starts_with(p))) {
        out.push(format!(
            "annotation {key}: the runtime acts on it, and this hook cannot judge what it does"
        ));
    }
    out
}

/// Whether a `cgroupsPath` can be a cgroup of the container's own: not the
/// root, nothing climbing up (cgroupfs `/a/b/<name>`, systemd
/// `slice:prefix:<name>`). Which cgroup it really is only the kernel tells
/// ([`shared_cgroup`], hook mode): the name is the config author's choice.
fn own_cgroup(path: &str) -> bool {
    let parts = path.split(['/', ':']).filter(|p| !p.is_empty());
    let mut any = false;
    for part in parts {
        if part == ".." {
            return false;
        }
        any |= part != ".";
    }
    any
}

/// Hook mode: the container process must be in a mount namespace other than
/// the hook's (the host's); `None` when it is, else why not.
pub fn host_mount_namespace(pid: i32) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &str| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let own = id("/proc/self/ns/mnt")?;
    (id(&format!("/proc/{pid}/ns/mnt")) == Some(own))
        .then(|| format!("container process {pid} is in the host's mount namespace"))
}

/// Hook mode: the container's cgroup (as the kernel has it), and every cgroup
/// below it, must hold only its own process. The one exception is a
/// container left in the hook's own cgroup when config.json names no
/// `cgroupsPath` (`named`): the runtime moved nothing (rootless, or cgroups
/// off). Named, the runtime was told to put it into the cgroup it runs in,
/// and sets the container's limits there. `None` when it holds no other,
/// else what it found; a cgroup file that cannot be read is said as the reason.
pub fn shared_cgroup(pid: i32, named: bool) -> Option<String> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let container = read(&format!("/proc/{pid}/cgroup"))?;
    let own = read("/proc/self/cgroup")?;
    let (dir, path) = cgroup_dir(&container)?;
    if !named && cgroup_dir(&own).is_some_and(|(_, p)| p == path) {
        return None;
    }
    let others = others_below(Path::new(&dir), pid);
    (!others.is_empty()).then(|| {
        format!(
            "the container's cgroup {path} (or one below it) holds other processes ({}): the \
             runtime put it into another's cgroup",
            others.join(", ")
        )
    })
}

/// Up to five processes other than `pid` in the cgroup at `dir` or below it
/// (a container's own cgroup is a fresh leaf: one read).
fn others_below(dir: &Path, pid: i32) -> Vec<String> {
    let pid = pid.to_string();
    let mut others = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            others.extend(
                procs
                    .lines()
                    .map(str::trim)
                    .filter(|p| !p.is_empty() && *p != pid)
                    .map(str::to_string),
            );
        }
        if others.len() >= 5 {
            others.truncate(5);
            break;
        }
        let children = std::fs::read_dir(&dir).into_iter().flatten().flatten();
        pending.extend(
            children
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path()),
        );
    }
    others
}

/// The directory of a process's cgroup (the `pids` controller on cgroup v1,
/// the unified hierarchy otherwise) and its path in the hierarchy.
fn cgroup_dir(proc_cgroup: &str) -> Option<(String, String)> {
    let lines: Vec<(&str, &str)> = proc_cgroup
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
            Some((controllers, path))
        })
        .collect();
    if let Some((_, path)) = lines
        .iter()
        .find(|(c, _)| c.split(',').any(|c| c == "pids"))
    {
        return Some((format!("/sys/fs/cgroup/pids{path}"), path.to_string()));
    }
    let (_, path) = lines.iter().find(|(c, _)| c.is_empty())?;
    let root = if Path::new("/sys/fs/cgroup/cgroup.procs").exists() {
        "/sys/fs/cgroup"
    } else {
        "/sys/fs/cgroup/unified"
    };
    Some((format!("{root}{path}"), path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_and_climbing_paths_are_no_own_cgroup() {
        for path in [
            "/libpod_parent/libpod-f9a2a08f5d36",
            "/default/f9a2a08f5d36",
            "kubepods-burstable-pod1.slice:cri-containerd:f9a2a08f5d36",
        ] {
            assert!(own_cgroup(path), "{path}");
        }
        for path in ["/", "", "/./", "/a/../../b", "x.slice:..:y"] {
            assert!(!own_cgroup(path), "{path}");
        }
    }

    #[test]
    fn the_cgroup_of_v1_and_v2_hosts() {
        let v1 = "9:name=systemd:/x\n8:pids:/default/c1\n0::/\n";
        assert_eq!(
            cgroup_dir(v1),
            Some((
                "/sys/fs/cgroup/pids/default/c1".into(),
                "/default/c1".into()
            ))
        );
        let v2 = "0::/system.slice/c1.scope\n";
        assert!(cgroup_dir(v2).is_some_and(
            |(d, p)| d.ends_with("/system.slice/c1.scope") && p == "/system.slice/c1.scope"
        ));
    }

    #[test]
    fn this_process_shares_no_cgroup_with_itself_unless_one_was_named() {
        let me = std::process::id() as i32;
        assert_eq!(shared_cgroup(me, false), None);
        // Named, this cgroup holds the test harness's other threads' process
        // only when it holds another process: the cargo runner's at least.
        if let Some(found) = shared_cgroup(me, true) {
            assert!(found.contains("holds other processes"), "{found}");
        }
    }
}
