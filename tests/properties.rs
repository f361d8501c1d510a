//! Property tests (proptest) of the verdict.
//!
//! Inputs: config.json documents made from the real fixtures of
//! `tests/fixtures/*.json` (podman, runc, ctr captures) and
//! `tests/fixtures/cri-captured/*/*.json` (containerd 2.x and CRI-O
//! captures), each changed by a few random privilege steps;
//! policies drawn from the built-in profiles, `examples/restricted-psp.yaml`
//! and PSPs generated here (random capability lists, volume types, host-path
//! prefixes, id ranges, sysctl patterns…), one or two bound at a time.
//!
//! Properties:
//! - monotonicity: adding a privilege (a capability in any of the five sets,
//!   the host's network/PID/IPC/user namespace, a host bind mount, a device,
//!   a sysctl, noNewPrivileges false, no maskedPaths/readonlyPaths, uid 0, a
//!   device cgroup rule allowing everything, a writable root, shared rootfs
//!   propagation) to a denied config never makes it allowed, and removing one
//!   from an allowed config never makes it denied. Checked per policy, and
//!   more strictly: every PSP field the less privileged config violates, the
//!   more privileged one violates too. (Generated id ranges never include 0,
//!   so uid 0 is the privileged end; seccomp and AppArmor are left out: PSP
//!   admits profiles by name, not by strength.)
//! - `check --output json` and `hook` (the built binary) agree: same exit
//!   code, and the decision JSON check prints is the one the hook logs.
//! - the verdict does not depend on the order of `mounts` or of the
//!   annotations (nor of namespaces, devices, capability names).
//!
//! Verdicts come from the library (`container::build::build` with a
//! namespace probe that knows nothing, `decision::Decision::evaluate`), so no
//! host namespace or path of the machine running the tests matters, except
//! the binary property, which runs what a node runs.
//!
//! Case counts are modest (the file runs in seconds in debug); set
//! `PROPTEST_CASES` to run more, `PROPTEST_RNG_SEED` to replay a run. A
//! failure prints the offending config.json.

mod common;

use std::collections::BTreeSet;
use std::fmt;
use std::io::ErrorKind;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use oci_psp_hook::container::build::{BuildContext, build};
use oci_psp_hook::container::facts::Facts;
use oci_psp_hook::container::mounts::MountContext;
use oci_psp_hook::container::namespaces::NamespaceProbe;
use oci_psp_hook::decision::{Decision, Verdict};
use oci_psp_hook::policy::config::Mode;
use oci_psp_hook::policy::select::Selection;
use oci_psp_hook::policy::{Origin, Policy, builtin, load};
use proptest::prelude::*;
use proptest::test_runner::{
    Config as RunnerConfig, RngSeed, TestCaseError, TestCaseResult, TestRunner,
};
use serde_json::{Map, Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_oci-psp-hook");

fn manifest(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

// ------------------------------------------------------------------ fixtures

struct Fixture {
    name: String,
    config: Value,
}

/// Every committed config.json fixture, sorted by name.
fn fixtures() -> &'static [Fixture] {
    static FIXTURES: OnceLock<Vec<Fixture>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let mut all = Vec::new();
        for dir in [
            "tests/fixtures",
            "tests/fixtures/cri-captured/base-spec",
            "tests/fixtures/cri-captured/nri",
            "tests/fixtures/cri-captured/hooks-dir",
        ] {
            let mut paths: Vec<PathBuf> = std::fs::read_dir(manifest(dir))
                .unwrap_or_else(|e| panic!("{dir}: {e}"))
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            paths.sort();
            for path in paths {
                let text = std::fs::read_to_string(&path).unwrap();
                let config: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let config = common::offline(&config);
                let name = path
                    .strip_prefix(manifest("tests/fixtures"))
                    .unwrap()
                    .display()
                    .to_string();
                all.push(Fixture { name, config });
            }
        }
        assert!(all.len() >= 40, "fixtures missing: {}", all.len());
        all
    })
}

// ------------------------------------------------------------ config changes

const CAP_SETS: [&str; 5] = [
    "bounding",
    "effective",
    "inheritable",
    "permitted",
    "ambient",
];

/// Capabilities this build and the policy loader know.
const KNOWN_CAPS: &[&str] = &[
    "CAP_AUDIT_CONTROL",
    "CAP_AUDIT_READ",
    "CAP_AUDIT_WRITE",
    "CAP_BLOCK_SUSPEND",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_KILL",
    "CAP_LEASE",
    "CAP_LINUX_IMMUTABLE",
    "CAP_MAC_ADMIN",
    "CAP_MAC_OVERRIDE",
    "CAP_MKNOD",
    "CAP_NET_ADMIN",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_RAW",
    "CAP_PERFMON",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYSLOG",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_CHROOT",
    "CAP_SYS_MODULE",
    "CAP_SYS_NICE",
    "CAP_SYS_PACCT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_WAKE_ALARM",
];

/// Names a config.json may carry besides the known ones: other spellings and
/// a capability newer than this build.
const ODD_CAPS: &[&str] = &["sys_admin", "net_raw", "cap_chown", "CAP_FUTURE_THING"];

/// The namespaces whose absence shares the host's (the user namespace too:
/// without one, the container's root is the host's).
const HOST_NAMESPACES: [&str; 4] = ["network", "pid", "ipc", "user"];

/// Bind mount sources: host paths, paths that resolve elsewhere, kubelet
/// volumes and runtime-managed files (which are privileges only sometimes;
/// adding one must still never help).
const BIND_SOURCES: &[&str] = &[
    "/",
    "/etc",
    "/etc/ssl",
    "/etc/../var/log",
    "/var/log",
    "/var/log/pods",
    "/tmp",
    "/tmp/psp-data",
    "/data",
    "/srv/app",
    "/home",
    "/proc",
    "/sys",
    "/dev",
    "/run/containerd/containerd.sock",
    "/var/run/docker.sock",
    "/var/lib/kubelet/pods/0b5e4d4a-5f54-4c36-9a38-7a6a1d0c9d3e/volumes/kubernetes.io~configmap/cfg",
    "/var/lib/kubelet/pods/0b5e4d4a-5f54-4c36-9a38-7a6a1d0c9d3e/volumes/kubernetes.io~secret/token",
    "/var/lib/kubelet/pods/0b5e4d4a-5f54-4c36-9a38-7a6a1d0c9d3e/volumes/kubernetes.io~nfs/pv-data",
    "/var/lib/kubelet/pods/0b5e4d4a-5f54-4c36-9a38-7a6a1d0c9d3e/volumes/kubernetes.io~csi/pvc-1/mount",
    "/var/lib/kubelet/pods/0b5e4d4a-5f54-4c36-9a38-7a6a1d0c9d3e/volumes/example.com~lvm/vol",
    "/var/lib/kubelet/pods/0b5e4d4a-5f54-4c36-9a38-7a6a1d0c9d3e/etc-hosts",
    "/run/containers/storage/overlay-containers/3f2a0d6e1b9c4a7d8e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5/userdata/hosts",
];

const BIND_DESTINATIONS: &[&str] = &[
    "/data",
    "/host",
    "/mnt/a",
    "/mnt/b/c",
    "/etc/hosts",
    "/dev/shm",
    "/var/run/secrets/kubernetes.io/serviceaccount",
];

const DEVICES: &[(&str, &str, i64, i64)] = &[
    ("/dev/fuse", "c", 10, 229),
    ("/dev/kvm", "c", 10, 232),
    ("/dev/net/tun", "c", 10, 200),
    ("/dev/mem", "c", 1, 1),
    ("/dev/null", "c", 1, 3),
    ("/dev/sda", "b", 8, 0),
    ("/dev/loop0", "b", 7, 0),
];

const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.tcp_keepalive_time",
    "net/ipv4/tcp_fin_timeout",
];

const UNSAFE_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.shmmax",
    "kernel/sem",
    "net.core.somaxconn",
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.route_localnet",
    "vm.swappiness",
];

const SYSCTL_VALUES: &[&str] = &["0", "1", "65536", "0 0", "1024 65535"];

/// runc's defaults, put back where a config had none.
const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];
const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// A privilege added to a config.
#[derive(Debug, Clone)]
enum Add {
    Capability {
        set: &'static str,
        name: &'static str,
    },
    /// Drop the namespace entry: the container keeps the host's.
    HostNamespace(&'static str),
    HostBind {
        source: String,
        destination: &'static str,
        read_only: bool,
        /// `type: bind` (else `type: none` with the option alone).
        typed: bool,
        /// `rbind` rather than `bind`.
        recursive: bool,
        propagation: Option<&'static str>,
        /// Where in `mounts` (modulo its length + 1).
        at: usize,
    },
    Device(usize),
    Sysctl {
        name: &'static str,
        value: &'static str,
    },
    /// `noNewPrivileges: false`, or the key removed.
    NoNewPrivilegesOff {
        remove_key: bool,
    },
    /// maskedPaths (0), readonlyPaths (1) or both (2) emptied or removed.
    Unmask {
        which: u8,
        remove_key: bool,
    },
    RootUser,
    DeviceCgroupAllowAll {
        typed: bool,
    },
    /// `root.readonly` false or removed.
    WritableRoot {
        remove_key: bool,
    },
    /// `linux.rootfsPropagation` shared or rshared.
    SharedRootfsPropagation(&'static str),
    /// A device cgroup allow rule of any type, numbers (`-1` and absent
    /// included) and access.
    DeviceRule {
        typ: Option<&'static str>,
        major: Option<i64>,
        minor: Option<i64>,
        access: &'static str,
    },
    /// A mount of another filesystem, or `remount`, or `rrw` undoing a
    /// read-only bind.
    Filesystem {
        fstype: &'static str,
        source: &'static str,
        destination: &'static str,
        options: &'static [&'static str],
    },
    /// A hook of config.json at `stage`, running a host program.
    Hook {
        stage: &'static str,
    },
    /// A user namespace of its own whose maps make the process's uid
    /// (`user`) or gid host id 0.
    HostRootMapping {
        user: bool,
    },
    /// `root.path` an absolute host directory.
    ForeignRoot(&'static str),
    /// One entry taken out of maskedPaths (0) or readonlyPaths (1).
    TrimMask {
        which: u8,
        pick: usize,
    },
}

/// A privilege taken away from a config (a no-op when it has none of the
/// kind).
#[derive(Debug, Clone)]
enum Remove {
    /// The `pick`-th capability of the first non-empty set from `set` on.
    Capability {
        set: usize,
        pick: usize,
    },
    /// An entry without a path for a namespace the config has none of.
    PrivateNamespace(&'static str),
    /// The `pick`-th bind mount.
    BindMount {
        pick: usize,
    },
    Device {
        pick: usize,
    },
    Sysctl {
        pick: usize,
    },
    NoNewPrivilegesOn,
    /// runc's masked and read-only paths where a list is empty or missing.
    Mask,
    NonRootUser(u32),
    DeviceCgroupAllowAll,
    ReadOnlyRoot,
    /// `linux.rootfsPropagation` removed where it is shared.
    UnsharedRootfsPropagation,
}

#[derive(Debug, Clone)]
enum Step {
    Add(Add),
    Remove(Remove),
}

fn object<'a>(parent: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    let map = parent.as_object_mut().expect("an object");
    let slot = map.entry(key).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    slot.as_object_mut().unwrap()
}

fn array<'a>(parent: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    let slot = parent.entry(key).or_insert_with(|| json!([]));
    if !slot.is_array() {
        *slot = json!([]);
    }
    slot.as_array_mut().unwrap()
}

fn is_bind_mount(m: &Value) -> bool {
    m.get("type").and_then(Value::as_str) == Some("bind")
        || m.get("options")
            .and_then(Value::as_array)
            .is_some_and(|o| o.iter().any(|o| o == "bind" || o == "rbind"))
}

fn is_allow_all_rule(r: &Value) -> bool {
    r.get("allow") == Some(&Value::Bool(true))
        && matches!(r.get("type").and_then(Value::as_str), None | Some("a"))
        && r.get("major").is_none_or(Value::is_null)
        && r.get("minor").is_none_or(Value::is_null)
}

impl Add {
    fn apply(&self, config: &mut Value) {
        match self {
            Add::Capability { set, name } => {
                let process = object(config, "process");
                let caps = process.entry("capabilities").or_insert_with(|| json!({}));
                if !caps.is_object() {
                    *caps = json!({});
                }
                array(caps.as_object_mut().unwrap(), set).push(json!(name));
            }
            Add::HostNamespace(kind) => {
                if let Some(entries) = object(config, "linux")
                    .get_mut("namespaces")
                    .and_then(Value::as_array_mut)
                {
                    entries.retain(|n| n.get("type").and_then(Value::as_str) != Some(kind));
                }
            }
            Add::HostBind {
                source,
                destination,
                read_only,
                typed,
                recursive,
                propagation,
                at,
            } => {
                let mut options = vec![if *recursive { "rbind" } else { "bind" }];
                options.push(if *read_only { "ro" } else { "rw" });
                options.extend(propagation.iter());
                let mount = json!({
                    "destination": destination,
                    "type": if *typed { "bind" } else { "none" },
                    "source": source,
                    "options": options,
                });
                let mounts = array(config.as_object_mut().unwrap(), "mounts");
                let at = at % (mounts.len() + 1);
                mounts.insert(at, mount);
            }
            Add::Device(i) => {
                let (path, kind, major, minor) = DEVICES[*i];
                array(object(config, "linux"), "devices").push(json!({
                    "path": path, "type": kind, "major": major, "minor": minor,
                    "fileMode": 8630, "uid": 0, "gid": 0,
                }));
            }
            Add::Sysctl { name, value } => {
                object(config, "linux")
                    .entry("sysctl")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .expect("linux.sysctl is an object")
                    .insert(name.to_string(), json!(value));
            }
            Add::NoNewPrivilegesOff { remove_key } => {
                let process = object(config, "process");
                if *remove_key {
                    process.remove("noNewPrivileges");
                } else {
                    process.insert("noNewPrivileges".into(), json!(false));
                }
            }
            Add::Unmask { which, remove_key } => {
                let linux = object(config, "linux");
                for (i, key) in ["maskedPaths", "readonlyPaths"].into_iter().enumerate() {
                    if *which == 2 || usize::from(*which) == i {
                        if *remove_key {
                            linux.remove(key);
                        } else {
                            linux.insert(key.into(), json!([]));
                        }
                    }
                }
            }
            Add::RootUser => {
                let process = object(config, "process");
                object_in(process, "user").insert("uid".into(), json!(0));
            }
            Add::DeviceCgroupAllowAll { typed } => {
                let resources = object_in(object(config, "linux"), "resources");
                let mut rule = json!({"allow": true, "access": "rwm"});
                if *typed {
                    rule["type"] = json!("a");
                }
                array(resources, "devices").push(rule);
            }
            Add::WritableRoot { remove_key } => {
                let root = object(config, "root");
                if *remove_key {
                    root.remove("readonly");
                } else {
                    root.insert("readonly".into(), json!(false));
                }
            }
            Add::SharedRootfsPropagation(p) => {
                object(config, "linux").insert("rootfsPropagation".into(), json!(p));
            }
            Add::DeviceRule {
                typ,
                major,
                minor,
                access,
            } => {
                let resources = object_in(object(config, "linux"), "resources");
                let mut rule = json!({"allow": true, "access": access});
                if let Some(t) = typ {
                    rule["type"] = json!(t);
                }
                if let Some(n) = major {
                    rule["major"] = json!(n);
                }
                if let Some(n) = minor {
                    rule["minor"] = json!(n);
                }
                array(resources, "devices").push(rule);
            }
            Add::Filesystem {
                fstype,
                source,
                destination,
                options,
            } => {
                array(config.as_object_mut().unwrap(), "mounts").push(json!({
                    "destination": destination, "type": fstype, "source": source,
                    "options": options,
                }));
            }
            Add::Hook { stage } => {
                let hooks = object_in(config.as_object_mut().unwrap(), "hooks");
                array(hooks, stage).push(json!({"path": "/bin/sh", "args": ["sh", "-c", "true"]}));
            }
            Add::HostRootMapping { user } => {
                let process = object(config, "process");
                let ids = object_in(process, "user");
                let uid = ids.get("uid").and_then(Value::as_u64).unwrap_or(0);
                let gid = ids.get("gid").and_then(Value::as_u64).unwrap_or(0);
                let linux = object(config, "linux");
                let namespaces = array(linux, "namespaces");
                namespaces.retain(|n| n.get("type").and_then(Value::as_str) != Some("user"));
                namespaces.push(json!({"type": "user"}));
                // the id maps to host 0, everything else far from it
                let map = |id: u64, root: bool| {
                    let mut m = vec![
                        json!({"containerID": id, "hostID": if root { 0 } else { 200_000 }, "size": 1}),
                    ];
                    if id > 0 {
                        m.push(json!({"containerID": 0, "hostID": 300_000, "size": id}));
                    }
                    m
                };
                linux.insert("uidMappings".into(), json!(map(uid, *user)));
                linux.insert("gidMappings".into(), json!(map(gid, !*user)));
            }
            Add::ForeignRoot(path) => {
                object(config, "root").insert("path".into(), json!(path));
            }
            Add::TrimMask { which, pick } => {
                let key = ["maskedPaths", "readonlyPaths"][usize::from(*which)];
                if let Some(list) = object(config, "linux")
                    .get_mut(key)
                    .and_then(Value::as_array_mut)
                    .filter(|l| !l.is_empty())
                {
                    let at = pick % list.len();
                    list.remove(at);
                }
            }
        }
    }
}

fn object_in<'a>(parent: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = parent.entry(key).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    slot.as_object_mut().unwrap()
}

impl Remove {
    fn apply(&self, config: &mut Value) {
        match self {
            Remove::Capability { set, pick } => {
                let Some(caps) = config
                    .pointer_mut("/process/capabilities")
                    .and_then(Value::as_object_mut)
                else {
                    return;
                };
                for i in 0..CAP_SETS.len() {
                    let name = CAP_SETS[(set + i) % CAP_SETS.len()];
                    if let Some(list) = caps.get_mut(name).and_then(Value::as_array_mut)
                        && !list.is_empty()
                    {
                        let at = pick % list.len();
                        list.remove(at);
                        return;
                    }
                }
            }
            Remove::PrivateNamespace(kind) => {
                let entries = array(object(config, "linux"), "namespaces");
                if !entries
                    .iter()
                    .any(|n| n.get("type").and_then(Value::as_str) == Some(kind))
                {
                    entries.push(json!({ "type": kind }));
                }
            }
            Remove::BindMount { pick } => {
                let Some(mounts) = config.get_mut("mounts").and_then(Value::as_array_mut) else {
                    return;
                };
                let binds: Vec<usize> = (0..mounts.len())
                    .filter(|&i| is_bind_mount(&mounts[i]))
                    .collect();
                if !binds.is_empty() {
                    mounts.remove(binds[pick % binds.len()]);
                }
            }
            Remove::Device { pick } => {
                if let Some(devices) = config
                    .pointer_mut("/linux/devices")
                    .and_then(Value::as_array_mut)
                    && !devices.is_empty()
                {
                    let at = pick % devices.len();
                    devices.remove(at);
                }
            }
            Remove::Sysctl { pick } => {
                if let Some(sysctl) = config
                    .pointer_mut("/linux/sysctl")
                    .and_then(Value::as_object_mut)
                    && !sysctl.is_empty()
                {
                    let key = sysctl.keys().nth(pick % sysctl.len()).unwrap().clone();
                    sysctl.remove(&key);
                }
            }
            Remove::NoNewPrivilegesOn => {
                object(config, "process").insert("noNewPrivileges".into(), json!(true));
            }
            Remove::Mask => {
                let linux = object(config, "linux");
                for (key, defaults) in [
                    ("maskedPaths", MASKED_PATHS),
                    ("readonlyPaths", READONLY_PATHS),
                ] {
                    let empty = linux
                        .get(key)
                        .and_then(Value::as_array)
                        .is_none_or(Vec::is_empty);
                    if empty {
                        linux.insert(key.into(), json!(defaults));
                    }
                }
            }
            Remove::NonRootUser(uid) => {
                let process = object(config, "process");
                let user = object_in(process, "user");
                if user.get("uid").and_then(Value::as_u64) == Some(0) {
                    user.insert("uid".into(), json!(uid));
                }
            }
            Remove::DeviceCgroupAllowAll => {
                if let Some(rules) = config
                    .pointer_mut("/linux/resources/devices")
                    .and_then(Value::as_array_mut)
                {
                    rules.retain(|r| !is_allow_all_rule(r));
                }
            }
            Remove::ReadOnlyRoot => {
                object(config, "root").insert("readonly".into(), json!(true));
            }
            Remove::UnsharedRootfsPropagation => {
                let linux = object(config, "linux");
                if matches!(
                    linux.get("rootfsPropagation").and_then(Value::as_str),
                    Some("shared" | "rshared")
                ) {
                    linux.remove("rootfsPropagation");
                }
            }
        }
    }
}

impl Step {
    fn apply(&self, config: &mut Value) {
        match self {
            Step::Add(a) => a.apply(config),
            Step::Remove(r) => r.apply(config),
        }
    }
}

fn add() -> impl Strategy<Value = Add> {
    let capability = (
        prop::sample::select(&CAP_SETS[..]),
        prop_oneof![
            4 => prop::sample::select(KNOWN_CAPS),
            1 => prop::sample::select(ODD_CAPS),
        ],
    )
        .prop_map(|(set, name)| Add::Capability { set, name });
    let bind = (
        prop::sample::select(BIND_SOURCES),
        prop::option::of("[a-z]{1,6}"),
        prop::sample::select(BIND_DESTINATIONS),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(prop::sample::select(
            &["rprivate", "rslave", "rshared", "shared"][..],
        )),
        any::<usize>(),
    )
        .prop_map(
            |(source, leaf, destination, read_only, typed, recursive, propagation, at)| {
                Add::HostBind {
                    source: match leaf {
                        Some(leaf) => format!("{}/{leaf}", source.trim_end_matches('/')),
                        None => source.to_string(),
                    },
                    destination,
                    read_only,
                    typed,
                    recursive,
                    propagation,
                    at,
                }
            },
        );
    let sysctl = (
        prop_oneof![
            prop::sample::select(SAFE_SYSCTLS),
            prop::sample::select(UNSAFE_SYSCTLS),
        ],
        prop::sample::select(SYSCTL_VALUES),
    )
        .prop_map(|(name, value)| Add::Sysctl { name, value });
    prop_oneof![
        3 => capability,
        1 => prop::sample::select(&HOST_NAMESPACES[..]).prop_map(Add::HostNamespace),
        3 => bind,
        1 => (0..DEVICES.len()).prop_map(Add::Device),
        2 => sysctl,
        1 => any::<bool>().prop_map(|remove_key| Add::NoNewPrivilegesOff { remove_key }),
        1 => (0u8..3, any::<bool>()).prop_map(|(which, remove_key)| Add::Unmask { which, remove_key }),
        1 => Just(Add::RootUser),
        1 => any::<bool>().prop_map(|typed| Add::DeviceCgroupAllowAll { typed }),
        1 => any::<bool>().prop_map(|remove_key| Add::WritableRoot { remove_key }),
        1 => prop::sample::select(&["shared", "rshared"][..]).prop_map(Add::SharedRootfsPropagation),
        3 => device_rule(),
        3 => prop::sample::select(FILESYSTEMS).prop_map(|(fstype, source, destination, options)| {
            Add::Filesystem { fstype, source, destination, options }
        }),
        1 => prop::sample::select(&HOOK_STAGES[..]).prop_map(|stage| Add::Hook { stage }),
        1 => any::<bool>().prop_map(|user| Add::HostRootMapping { user }),
        1 => prop::sample::select(&["/", "/srv/rootfs", "/var/lib/containers/storage/overlay/x/merged"][..]).prop_map(Add::ForeignRoot),
        1 => (0u8..2, any::<usize>()).prop_map(|(which, pick)| Add::TrimMask { which, pick }),
    ]
}

const HOOK_STAGES: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Mounts beyond a bind: other filesystems, the standard ones elsewhere or
/// writable, `remount`, `rrw`.
const FILESYSTEMS: &[(&str, &str, &str, &[&str])] = &[
    ("ext4", "/dev/vda1", "/disk", &[]),
    ("ext4", "/var/log/../../dev/vda", "/disk", &["ro"]),
    ("proc", "proc", "/proc2", &[]),
    ("sysfs", "sysfs", "/sys", &["rw"]),
    ("sysfs", "sysfs", "/sys", &["ro", "rrw"]),
    ("sysfs", "sysfs", "/sys2", &["ro"]),
    ("cgroup", "cgroup", "/sys/fs/cgroup", &["rw"]),
    ("overlay", "overlay", "/o", &["lowerdir=/etc:/var"]),
    ("tmpfs", "tmpfs", "/sys", &["remount", "rw"]),
    ("none", "/var/log", "/logs", &["rbind", "ro", "rrw"]),
    ("bind", "/etc", "/etc-ro", &["rbind", "ro", "rrw"]),
    ("devpts", "devpts", "/mnt/pts", &[]),
    ("mqueue", "mqueue", "/mnt/mq", &[]),
];

fn device_rule() -> impl Strategy<Value = Add> {
    let number = prop_oneof![Just(None), Just(Some(-1i64)), (0i64..300).prop_map(Some)];
    (
        prop::sample::select(&[None, Some("a"), Some("b"), Some("c")][..]),
        number.clone(),
        number,
        prop::sample::select(&["r", "w", "m", "rw", "rwm", "mr", ""][..]),
    )
        .prop_map(|(typ, major, minor, access)| Add::DeviceRule {
            typ,
            major,
            minor,
            access,
        })
}

fn remove() -> impl Strategy<Value = Remove> {
    prop_oneof![
        3 => (0..CAP_SETS.len(), any::<usize>())
            .prop_map(|(set, pick)| Remove::Capability { set, pick }),
        1 => prop::sample::select(&HOST_NAMESPACES[..]).prop_map(Remove::PrivateNamespace),
        2 => any::<usize>().prop_map(|pick| Remove::BindMount { pick }),
        1 => any::<usize>().prop_map(|pick| Remove::Device { pick }),
        1 => any::<usize>().prop_map(|pick| Remove::Sysctl { pick }),
        1 => Just(Remove::NoNewPrivilegesOn),
        1 => Just(Remove::Mask),
        1 => prop_oneof![Just(1000u32), Just(32767), Just(65534), 1u32..100_000]
            .prop_map(Remove::NonRootUser),
        1 => Just(Remove::DeviceCgroupAllowAll),
        1 => Just(Remove::ReadOnlyRoot),
        1 => Just(Remove::UnsharedRootfsPropagation),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![add().prop_map(Step::Add), remove().prop_map(Step::Remove)]
}

/// A fixture changed by a few random steps.
#[derive(Clone)]
struct Config {
    fixture: &'static str,
    steps: Vec<Step>,
    value: Value,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fixture {} changed by {:?}; config.json:\n{}",
            self.fixture,
            self.steps,
            pretty(&self.value)
        )
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap()
}

fn config() -> impl Strategy<Value = Config> {
    (0..fixtures().len(), prop::collection::vec(step(), 0..4)).prop_map(|(i, steps)| {
        let fixture = &fixtures()[i];
        let mut value = fixture.config.clone();
        for s in &steps {
            s.apply(&mut value);
        }
        Config {
            fixture: &fixture.name,
            steps,
            value,
        }
    })
}

// ------------------------------------------------------------------ policies

const VOLUMES: &[&str] = &[
    "configMap",
    "secret",
    "emptyDir",
    "projected",
    "downwardAPI",
    "hostPath",
    "csi",
    "nfs",
    "persistentVolumeClaim",
    "ephemeral",
    "flexVolume",
];

const HOST_PATH_PREFIXES: &[&str] = &[
    "/",
    "/etc",
    "/var/log",
    "/var",
    "/tmp",
    "/data",
    "/srv",
    "/var/lib/kubelet",
    "/run",
];

const UNSAFE_SYSCTL_PATTERNS: &[&str] = &[
    "kernel.msgmax",
    "kernel.shm*",
    "kernel.*",
    "net.*",
    "net.core.somaxconn",
    "vm.swappiness",
    "*",
];

const FORBIDDEN_SYSCTL_PATTERNS: &[&str] = &[
    "net.ipv4.tcp_syncookies",
    "kernel.shm_rmid_forced",
    "net.ipv4.ping_group_range",
    "kernel.*",
    "net.ipv4.ip_forward",
];

#[derive(Debug, Clone)]
enum IdGen {
    RunAsAny,
    NonRoot,
    /// Ranges never include 0: a policy that admits root does so by
    /// RunAsAny, so uid 0 stays the privileged end of the order.
    Ranges(Vec<(u32, u32)>),
}

impl IdGen {
    fn yaml(&self) -> Value {
        match self {
            IdGen::RunAsAny => json!({"rule": "RunAsAny"}),
            IdGen::NonRoot => json!({"rule": "MustRunAsNonRoot"}),
            IdGen::Ranges(r) => json!({
                "rule": "MustRunAs",
                "ranges": r.iter().map(|(min, max)| json!({"min": min, "max": max})).collect::<Vec<_>>(),
            }),
        }
    }
}

fn id_range() -> impl Strategy<Value = (u32, u32)> {
    (
        prop_oneof![
            Just(1u32),
            Just(1000),
            Just(32767),
            Just(65534),
            1u32..200_000
        ],
        prop_oneof![Just(0u32), Just(1), Just(1000), 0u32..100_000],
    )
        .prop_map(|(min, len)| (min, min.saturating_add(len)))
}

fn id_gen(non_root: bool) -> impl Strategy<Value = IdGen> {
    let ranges = prop::collection::vec(id_range(), 1..3).prop_map(IdGen::Ranges);
    if non_root {
        prop_oneof![Just(IdGen::RunAsAny), Just(IdGen::NonRoot), ranges].boxed()
    } else {
        prop_oneof![Just(IdGen::RunAsAny), ranges].boxed()
    }
}

/// A PodSecurityPolicy made up here.
#[derive(Debug, Clone)]
struct GenPsp {
    privileged: bool,
    host_namespaces: [bool; 3],
    allowed_caps: Vec<&'static str>,
    drop_caps: Vec<&'static str>,
    default_add: Vec<&'static str>,
    volumes: Vec<&'static str>,
    host_paths: Vec<(&'static str, bool)>,
    run_as_user: IdGen,
    run_as_group: Option<IdGen>,
    supplemental_groups: IdGen,
    fs_group: IdGen,
    allow_privilege_escalation: bool,
    read_only_root: bool,
    unmasked: bool,
    unsafe_sysctls: Vec<&'static str>,
    forbidden_sysctls: Vec<&'static str>,
    seccomp: Option<Vec<&'static str>>,
}

impl GenPsp {
    /// The manifest, as JSON (which the YAML loader reads too).
    fn manifest(&self, name: &str) -> String {
        let mut spec = json!({
            "privileged": self.privileged,
            "hostNetwork": self.host_namespaces[0],
            "hostPID": self.host_namespaces[1],
            "hostIPC": self.host_namespaces[2],
            "volumes": self.volumes,
            "runAsUser": self.run_as_user.yaml(),
            "supplementalGroups": self.supplemental_groups.yaml(),
            "fsGroup": self.fs_group.yaml(),
            "seLinux": {"rule": "RunAsAny"},
            "allowPrivilegeEscalation": self.allow_privilege_escalation,
            "readOnlyRootFilesystem": self.read_only_root,
            "allowedProcMountTypes": if self.unmasked { vec!["Default", "Unmasked"] } else { vec!["Default"] },
        });
        // Kubernetes (and the loader) refuse a name both dropped and allowed.
        let dropped = |c: &&str| self.drop_caps.contains(c);
        let allowed: Vec<&str> = self
            .allowed_caps
            .iter()
            .copied()
            .filter(|c| !dropped(c))
            .collect();
        let add: Vec<&str> = self
            .default_add
            .iter()
            .copied()
            .filter(|c| !dropped(c))
            .collect();
        spec["allowedCapabilities"] = json!(allowed);
        spec["requiredDropCapabilities"] = json!(self.drop_caps);
        spec["defaultAddCapabilities"] = json!(add);
        spec["allowedHostPaths"] = json!(
            self.host_paths
                .iter()
                .map(|(p, ro)| json!({"pathPrefix": p, "readOnly": ro}))
                .collect::<Vec<_>>()
        );
        if let Some(g) = &self.run_as_group {
            spec["runAsGroup"] = g.yaml();
        }
        // Likewise a sysctl both forbidden and allowed.
        let unsafe_sysctls: Vec<&str> = self
            .unsafe_sysctls
            .iter()
            .copied()
            .filter(|a| {
                !self
                    .forbidden_sysctls
                    .iter()
                    .any(|f| oci_psp_hook::policy::sysctl_matches(f, a))
            })
            .collect();
        spec["allowedUnsafeSysctls"] = json!(unsafe_sysctls);
        spec["forbiddenSysctls"] = json!(self.forbidden_sysctls);
        let mut metadata = json!({ "name": name });
        if let Some(seccomp) = &self.seccomp {
            metadata["annotations"] = json!({
                "seccomp.security.alpha.kubernetes.io/allowedProfileNames": seccomp.join(","),
            });
        }
        serde_json::to_string_pretty(&json!({
            "apiVersion": "policy/v1beta1",
            "kind": "PodSecurityPolicy",
            "metadata": metadata,
            "spec": spec,
        }))
        .unwrap()
    }
}

fn subset(items: &'static [&'static str], max: usize) -> BoxedStrategy<Vec<&'static str>> {
    prop::sample::subsequence(items, 0..=max.min(items.len())).boxed()
}

fn gen_psp() -> impl Strategy<Value = GenPsp> {
    let caps = (
        prop_oneof![
            4 => subset(KNOWN_CAPS, 6),
            1 => Just(vec!["*"]),
        ],
        prop_oneof![
            2 => subset(KNOWN_CAPS, 6),
            1 => Just(vec!["ALL"]),
        ],
        subset(KNOWN_CAPS, 3),
    );
    let mounts = (
        prop_oneof![
            4 => subset(VOLUMES, 8),
            1 => Just(vec!["*"]),
        ],
        prop::collection::vec(
            (prop::sample::select(HOST_PATH_PREFIXES), any::<bool>()),
            0..3,
        ),
    );
    let ids = (
        id_gen(true),
        prop::option::of(id_gen(false)),
        id_gen(false),
        id_gen(false),
    );
    let flags = (
        prop::bool::weighted(0.15),
        [
            prop::bool::weighted(0.3),
            prop::bool::weighted(0.3),
            prop::bool::weighted(0.3),
        ],
        any::<bool>(),
        prop::bool::weighted(0.2),
        any::<bool>(),
    );
    let sysctls = (
        subset(UNSAFE_SYSCTL_PATTERNS, 2),
        subset(FORBIDDEN_SYSCTL_PATTERNS, 2),
        prop::option::of(subset(&["runtime/default", "unconfined", "*"], 2)),
    );
    (caps, mounts, ids, flags, sysctls).prop_map(
        |(
            (allowed_caps, drop_caps, default_add),
            (volumes, host_paths),
            (run_as_user, run_as_group, supplemental_groups, fs_group),
            (privileged, host_namespaces, allow_privilege_escalation, read_only_root, unmasked),
            (unsafe_sysctls, forbidden_sysctls, seccomp),
        )| GenPsp {
            privileged,
            host_namespaces,
            allowed_caps,
            drop_caps,
            default_add,
            volumes,
            host_paths,
            run_as_user,
            run_as_group,
            supplemental_groups,
            fs_group,
            allow_privilege_escalation,
            read_only_root,
            unmasked,
            unsafe_sysctls,
            forbidden_sysctls,
            seccomp: seccomp.filter(|s| !s.is_empty()),
        },
    )
}

#[derive(Debug, Clone)]
enum PolicySpec {
    Builtin(&'static str),
    /// examples/restricted-psp.yaml
    Example,
    Generated(Box<GenPsp>),
}

fn example_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| std::fs::read_to_string(manifest("examples/restricted-psp.yaml")).unwrap())
}

/// Bound policies, with what each is made of (printed on failure).
#[derive(Clone)]
struct Policies {
    specs: Vec<PolicySpec>,
    policies: Vec<Policy>,
}

impl fmt::Debug for Policies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "policies:")?;
        for (i, spec) in self.specs.iter().enumerate() {
            match spec {
                PolicySpec::Builtin(name) => writeln!(f, "  builtin:{name}")?,
                PolicySpec::Example => writeln!(f, "  examples/restricted-psp.yaml")?,
                PolicySpec::Generated(g) => {
                    writeln!(f, "  generated:\n{}", g.manifest(&generated_name(i)))?
                }
            }
        }
        Ok(())
    }
}

fn generated_name(i: usize) -> String {
    format!("generated-{i}")
}

impl Policies {
    fn new(specs: Vec<PolicySpec>) -> Policies {
        let policies = specs
            .iter()
            .enumerate()
            .map(|(i, spec)| match spec {
                PolicySpec::Builtin(name) => builtin::profile(name).unwrap(),
                PolicySpec::Example => {
                    let mut p = load::parse(
                        "examples/restricted-psp.yaml",
                        example_text(),
                        Origin::File(manifest("examples/restricted-psp.yaml")),
                    )
                    .unwrap();
                    assert_eq!(p.len(), 1);
                    p.remove(0)
                }
                PolicySpec::Generated(g) => {
                    let text = g.manifest(&generated_name(i));
                    let mut p = load::parse("generated.yaml", &text, Origin::Builtin)
                        .unwrap_or_else(|e| panic!("generated PSP does not load: {e}\n{text}"));
                    assert_eq!(p.len(), 1);
                    p.remove(0)
                }
            })
            .collect();
        Policies { specs, policies }
    }

    fn selection(&self) -> Selection<'_> {
        Selection {
            mode: Mode::Enforce,
            policies: self.policies.iter().collect(),
            chosen_by: "properties".into(),
        }
    }

    /// The command-line flags binding these policies (generated ones are
    /// written into `dir`). The binary puts `--profile`s before `--policy`
    /// files, whatever the order of the flags.
    fn flags(&self, dir: &Path) -> Vec<String> {
        let mut flags = Vec::new();
        for (i, spec) in self.specs.iter().enumerate() {
            match spec {
                PolicySpec::Builtin(name) => {
                    flags.extend(["--profile".to_string(), name.to_string()])
                }
                PolicySpec::Example => flags.extend([
                    "--policy".to_string(),
                    manifest("examples/restricted-psp.yaml")
                        .display()
                        .to_string(),
                ]),
                PolicySpec::Generated(g) => {
                    let path = dir.join(format!("{}.yaml", generated_name(i)));
                    std::fs::write(&path, g.manifest(&generated_name(i))).unwrap();
                    flags.extend(["--policy".to_string(), path.display().to_string()]);
                }
            }
        }
        flags
    }
}

fn policy_spec() -> impl Strategy<Value = PolicySpec> {
    prop_oneof![
        2 => prop::sample::select(&["privileged", "baseline", "restricted"][..])
            .prop_map(PolicySpec::Builtin),
        1 => Just(PolicySpec::Example),
        4 => gen_psp().prop_map(|g| PolicySpec::Generated(Box::new(g))),
    ]
}

fn policies() -> impl Strategy<Value = Policies> {
    prop::collection::vec(policy_spec(), 1..3).prop_map(Policies::new)
}

// ----------------------------------------------------------------- verdicts

/// A namespace probe that knows nothing: a namespace is the host's only by
/// a missing entry, whatever machine runs the tests.
struct KnowsNothing;

impl NamespaceProbe for KnowsNothing {
    fn identity(&self, _: &Path) -> Option<(u64, u64)> {
        None
    }
}

fn decide_bytes(bytes: &[u8], policies: &Policies) -> Result<Decision<'static>, String> {
    let ctx = BuildContext {
        trust_cri: false,
        trust_id: false,
        id: "properties".into(),
        pid: None,
        state_annotations: Default::default(),
        mounts: MountContext::default(),
        probe: &KnowsNothing,
    };
    let view = build("config.json", bytes, &ctx)
        .map_err(|e| e.to_string())?
        .into_owned();
    let decision = Decision::evaluate(&view, &policies.selection());
    // Owning its facts, to outlive the view.
    Ok(Decision {
        facts: decision.facts.map(Facts::into_owned),
        ..decision
    })
}

fn decide(config: &Value, policies: &Policies) -> Result<Decision<'static>, TestCaseError> {
    decide_bytes(&serde_json::to_vec(config).unwrap(), policies).map_err(|e| {
        TestCaseError::fail(format!(
            "the config does not build: {e}\n{}",
            pretty(config)
        ))
    })
}

fn fields(violations: &[oci_psp_hook::checks::Violation]) -> BTreeSet<&'static str> {
    violations.iter().map(|v| v.field).collect()
}

fn violation_lines(decision: &Decision) -> String {
    decision
        .results
        .iter()
        .flat_map(|r| r.violations.iter().map(|v| format!("  {}: {v}", r.policy)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `more` is `less` with one privilege more: whatever admits `more` admits
/// `less`, and every field `less` violates, `more` violates too.
fn assert_monotone(less: &Value, more: &Value, policies: &Policies, what: &str) -> TestCaseResult {
    let l = decide(less, policies)?;
    let m = decide(more, policies)?;
    let show = || {
        format!(
            "{what}\nless privileged config ({:?}):\n{}\nviolations:\n{}\nmore privileged config ({:?}):\n{}\nviolations:\n{}",
            l.verdict,
            pretty(less),
            violation_lines(&l),
            m.verdict,
            pretty(more),
            violation_lines(&m),
        )
    };
    for (rl, rm) in l.results.iter().zip(&m.results) {
        let (fl, fm) = (fields(&rl.violations), fields(&rm.violations));
        if !fl.is_subset(&fm) {
            return Err(TestCaseError::fail(format!(
                "policy {:?}: the less privileged config violates {:?}, the more privileged one does not\n{}",
                rl.policy,
                fl.difference(&fm).collect::<Vec<_>>(),
                show()
            )));
        }
        if rm.violations.is_empty() && !rl.violations.is_empty() {
            return Err(TestCaseError::fail(format!(
                "policy {:?} admits the more privileged config but not the less privileged one\n{}",
                rl.policy,
                show()
            )));
        }
    }
    if m.verdict == Verdict::Allow && l.verdict != Verdict::Allow {
        return Err(TestCaseError::fail(format!(
            "the more privileged config is allowed, the less privileged one is not\n{}",
            show()
        )));
    }
    Ok(())
}

/// A runner of `cases` cases (or `PROPTEST_CASES`), seeded from
/// `PROPTEST_RNG_SEED` or at random; returns the seed to replay it.
fn runner(cases: u32) -> (TestRunner, u64) {
    let mut config = RunnerConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    let seed = match config.rng_seed {
        RngSeed::Fixed(seed) => seed,
        RngSeed::Random => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            now.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32)
        }
    };
    config.rng_seed = RngSeed::Fixed(seed);
    config.failure_persistence = None;
    (TestRunner::new(config), seed)
}

/// Run a property; on failure panic with the reason, the minimal input and
/// the seed that replays the run.
fn check<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> TestCaseResult,
) where
    S::Value: fmt::Debug,
{
    let start = Instant::now();
    let (mut runner, seed) = runner(cases);
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{name}: {e}\nreplay with PROPTEST_RNG_SEED={seed}");
    }
    eprintln!(
        "{name}: {} cases in {:?} (PROPTEST_RNG_SEED={seed})",
        runner.config().cases,
        start.elapsed()
    );
}

// --------------------------------------------------------------- monotonicity

#[test]
fn adding_a_privilege_never_allows() {
    static DENIED: AtomicUsize = AtomicUsize::new(0);
    static TOTAL: AtomicUsize = AtomicUsize::new(0);
    check(
        "adding a privilege",
        256,
        (config(), add(), policies()),
        |(base, add, policies)| {
            // For a container whose own namespace maps an id to host root,
            // sharing the host's user namespace or mapping the other id to
            // host root instead (the maps are replaced) is no added
            // privilege: either can trade host root's id for another.
            prop_assume!(
                !(matches!(
                    add,
                    Add::HostNamespace("user") | Add::HostRootMapping { .. }
                ) && maps_host_root(&base.value))
            );
            let mut more = base.value.clone();
            add.apply(&mut more);
            TOTAL.fetch_add(1, Ordering::Relaxed);
            if decide(&base.value, &policies)?.verdict != Verdict::Allow {
                DENIED.fetch_add(1, Ordering::Relaxed);
            }
            assert_monotone(&base.value, &more, &policies, &format!("added {add:?}"))
        },
    );
    let (denied, total) = (
        DENIED.load(Ordering::Relaxed),
        TOTAL.load(Ordering::Relaxed),
    );
    eprintln!("adding a privilege: {denied} of {total} configs denied before");
    assert!(
        denied * 5 >= total,
        "too few denied configs: {denied} of {total}"
    );
}

/// Whether a uid or gid map of the config maps an id to host root.
fn maps_host_root(config: &Value) -> bool {
    ["uidMappings", "gidMappings"].iter().any(|key| {
        config["linux"][key]
            .as_array()
            .is_some_and(|maps| maps.iter().any(|m| m["hostID"] == 0))
    })
}

#[test]
fn removing_a_privilege_never_denies() {
    static ALLOWED: AtomicUsize = AtomicUsize::new(0);
    static TOTAL: AtomicUsize = AtomicUsize::new(0);
    check(
        "removing a privilege",
        256,
        (config(), remove(), policies()),
        |(base, remove, policies)| {
            let mut less = base.value.clone();
            remove.apply(&mut less);
            TOTAL.fetch_add(1, Ordering::Relaxed);
            if decide(&base.value, &policies)?.verdict == Verdict::Allow {
                ALLOWED.fetch_add(1, Ordering::Relaxed);
            }
            assert_monotone(
                &less,
                &base.value,
                &policies,
                &format!("removed {remove:?}"),
            )
        },
    );
    let (allowed, total) = (
        ALLOWED.load(Ordering::Relaxed),
        TOTAL.load(Ordering::Relaxed),
    );
    eprintln!("removing a privilege: {allowed} of {total} configs allowed before");
    assert!(
        allowed * 10 >= total,
        "too few allowed configs: {allowed} of {total}"
    );
}

// -------------------------------------------------------------- order of things

/// Annotations that mean something to the hook, and some that do not.
const ANNOTATION_KEYS: &[&str] = &[
    "io.kubernetes.cri.container-type",
    "io.kubernetes.cri.sandbox-namespace",
    "io.kubernetes.cri.sandbox-name",
    "io.kubernetes.cri.container-name",
    "io.kubernetes.cri-o.ContainerType",
    "io.kubernetes.pod.namespace",
    "io.kubernetes.pod.name",
    "io.kubernetes.container.name",
    "io.kubernetes.container.ports",
    "io.kubernetes.cri-o.PortMappings",
    "io.podman.annotations.privileged",
    "example.com/a",
    "example.com/b",
    "z",
];

const ANNOTATION_VALUES: &[&str] = &[
    "container",
    "sandbox",
    "team-a",
    "web-0",
    "app",
    "[{\"hostPort\":8080,\"containerPort\":8080,\"protocol\":\"TCP\"}]",
    "[{\"HostPort\":443,\"ContainerPort\":443,\"Protocol\":\"TCP\"}]",
    "null",
    "TRUE",
    "",
];

/// A small deterministic shuffle (the seed comes from proptest).
fn shuffle<T>(items: &mut [T], seed: &mut u64) {
    for i in (1..items.len()).rev() {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let j = (*seed % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// config.json text with the annotations written in the given key order
/// (serde_json's maps are sorted, so the order is made in the text).
fn with_annotation_order(config: &Value, order: &[String]) -> Vec<u8> {
    let mut rest = config.clone();
    let annotations = rest.as_object_mut().unwrap().remove("annotations");
    let rest = serde_json::to_string(&rest).unwrap();
    let Some(Value::Object(annotations)) = annotations else {
        return rest.into_bytes();
    };
    let entries: Vec<String> = order
        .iter()
        .map(|k| {
            format!(
                "{}:{}",
                serde_json::to_string(k).unwrap(),
                serde_json::to_string(&annotations[k]).unwrap()
            )
        })
        .collect();
    let field = format!("\"annotations\":{{{}}}", entries.join(","));
    let text = if rest == "{}" {
        format!("{{{field}}}")
    } else {
        format!("{{{field},{}", &rest[1..])
    };
    text.into_bytes()
}

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    verdict: Verdict,
    admitted_by: Option<String>,
    /// Per policy, its violations and unverifiable items, sorted.
    results: Vec<(String, Vec<String>, Vec<String>)>,
}

fn outcome(d: &Decision) -> Outcome {
    let sorted = |vs: &[oci_psp_hook::checks::Violation]| {
        let mut v: Vec<String> = vs.iter().map(|v| v.to_string()).collect();
        v.sort();
        v
    };
    Outcome {
        verdict: d.verdict,
        admitted_by: d.admitted_by.clone(),
        results: d
            .results
            .iter()
            .map(|r| {
                (
                    r.policy.clone(),
                    sorted(&r.violations),
                    sorted(&r.unverified),
                )
            })
            .collect(),
    }
}

#[test]
fn verdict_does_not_depend_on_order() {
    let annotations = prop::collection::vec(
        (
            prop::sample::select(ANNOTATION_KEYS),
            prop::sample::select(ANNOTATION_VALUES),
        ),
        0..6,
    );
    check(
        "order of mounts and annotations",
        128,
        (config(), annotations, any::<u64>(), policies()),
        |(base, extra, seed, policies)| {
            let mut config = base.value.clone();
            if !extra.is_empty() {
                let map = object(&mut config, "annotations");
                for (k, v) in &extra {
                    map.insert(k.to_string(), json!(v));
                }
            }
            let keys: Vec<String> = config
                .get("annotations")
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            let mut seed = seed | 1;
            let mut shuffled = config.clone();
            if let Some(mounts) = shuffled.get_mut("mounts").and_then(Value::as_array_mut) {
                shuffle(mounts, &mut seed);
            }
            if let Some(ns) = shuffled
                .pointer_mut("/linux/namespaces")
                .and_then(Value::as_array_mut)
            {
                shuffle(ns, &mut seed);
            }
            if let Some(devices) = shuffled
                .pointer_mut("/linux/devices")
                .and_then(Value::as_array_mut)
            {
                shuffle(devices, &mut seed);
            }
            for set in CAP_SETS {
                if let Some(caps) = shuffled
                    .pointer_mut(&format!("/process/capabilities/{set}"))
                    .and_then(Value::as_array_mut)
                {
                    shuffle(caps, &mut seed);
                }
            }
            let mut order = keys.clone();
            shuffle(&mut order, &mut seed);
            order.reverse();

            let a_bytes = with_annotation_order(&config, &keys);
            let b_bytes = with_annotation_order(&shuffled, &order);
            let a = decide_bytes(&a_bytes, &policies).map_err(TestCaseError::fail)?;
            let b = decide_bytes(&b_bytes, &policies).map_err(TestCaseError::fail)?;
            let (oa, ob) = (outcome(&a), outcome(&b));
            prop_assert_eq!(
                &oa,
                &ob,
                "the verdict changed with the order\nfirst config.json:\n{}\nreordered config.json:\n{}",
                String::from_utf8_lossy(&a_bytes),
                String::from_utf8_lossy(&b_bytes)
            );
            prop_assert_eq!(a.container.namespace, b.container.namespace);
            prop_assert_eq!(a.container.sandbox, b.container.sandbox);
            Ok(())
        },
    );
}

// ------------------------------------------------------- check and hook agree

/// A temporary directory with a syslog socket the hook logs to.
struct Sandbox {
    _temp: tempfile::TempDir,
    dir: PathBuf,
    log: UnixDatagram,
}

impl Sandbox {
    fn new(name: &str) -> Sandbox {
        let temp = common::temp_dir(&format!("properties-{name}"));
        let dir = temp.path().to_path_buf();
        let log = UnixDatagram::bind(dir.join("log.sock")).unwrap();
        Sandbox {
            _temp: temp,
            dir,
            log,
        }
    }

    fn record(&self, wait: Duration) -> Option<String> {
        self.log.set_read_timeout(Some(wait)).unwrap();
        let mut buf = vec![0u8; 4 << 20];
        match self.log.recv(&mut buf) {
            Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
            Err(e) => panic!("log socket: {e}"),
        }
    }
}

use common::Run;

const DEADLINE: Duration = Duration::from_secs(10);

fn run(bin: &Path, args: &[String], stdin: &[u8], socket: &Path) -> Run {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env("OCI_PSP_HOOK_LOG_SOCKET", socket)
        .env_remove("OCI_PSP_HOOK_JOURNAL_SOCKET");
    common::run(&mut cmd, stdin, DEADLINE)
}

#[test]
fn check_and_hook_agree() {
    let sandbox = Sandbox::new("agree");
    let socket = sandbox.dir.join("log.sock");
    // A link or a copy: a concurrent `cargo build` may replace the original
    // mid-run.
    let bin = sandbox.dir.join("oci-psp-hook");
    if std::fs::hard_link(BIN, &bin).is_err() {
        std::fs::copy(BIN, &bin).unwrap();
    }
    let counter = AtomicUsize::new(0);
    check(
        "check and hook agree",
        24,
        (config(), policies()),
        |(config, policies)| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let case = sandbox.dir.join(format!("case-{n}"));
            let bundle = case.join("bundle");
            std::fs::create_dir_all(&bundle).unwrap();
            std::fs::write(bundle.join("config.json"), pretty(&config.value)).unwrap();
            let flags = policies.flags(&case);
            // Offline, check names the container after its bundle directory.
            let state = json!({
                "ociVersion": "1.0.2",
                "id": "bundle",
                "status": "creating",
                "bundle": bundle,
            });

            let mut args = vec!["check".to_string(), "--output".into(), "json".into()];
            args.extend(flags.iter().cloned());
            args.push(bundle.display().to_string());
            let checked = run(&bin, &args, b"", &socket);
            let check_json: Value = serde_json::from_str(&checked.stdout).map_err(|e| {
                TestCaseError::fail(format!("check printed no JSON ({e}): {checked:#?}"))
            })?;

            while sandbox.record(Duration::from_millis(1)).is_some() {}
            let mut args = vec!["hook".to_string()];
            args.extend(flags.iter().cloned());
            let hooked = run(&bin, &args, state.to_string().as_bytes(), &socket);
            let record = sandbox.record(DEADLINE);
            let _ = std::fs::remove_dir_all(&case);

            prop_assert_eq!(
                checked.code,
                hooked.code,
                "exit codes differ\ncheck: {:#?}\nhook: {:#?}",
                checked,
                hooked
            );
            prop_assert!(
                hooked.stderr.lines().count() <= 1 && !hooked.stderr.contains("not logged"),
                "hook stderr: {hooked:#?}"
            );
            let record = record.ok_or_else(|| {
                TestCaseError::fail(format!("the hook logged nothing: {hooked:#?}"))
            })?;
            let at = record
                .find("decision {")
                .ok_or_else(|| TestCaseError::fail(format!("not a decision: {record}")))?;
            // The JSON value, without the signature a node's log key adds.
            let mut hook_json: Value =
                serde_json::Deserializer::from_str(&record[at + "decision ".len()..])
                    .into_iter::<Value>()
                    .next()
                    .ok_or_else(|| TestCaseError::fail(format!("no JSON: {record}")))?
                    .map_err(|e| TestCaseError::fail(format!("{e}: {record}")))?;
            // How long the hook took is the hook's alone.
            prop_assert!(hook_json["duration_us"].is_u64(), "{record}");
            if let Some(map) = hook_json.as_object_mut() {
                map.remove("duration_us");
            }
            // The log record of an allowed container keeps the admitting
            // policy's findings only; check shows every policy's.
            let mut check_json = check_json;
            if let Some(admitting) = check_json["admittedBy"].as_str().map(str::to_string) {
                for list in ["violations", "unverified"] {
                    if let Some(items) = check_json[list].as_array_mut() {
                        items.retain(|f| f["policy"] == admitting.as_str());
                    }
                }
            }
            prop_assert!(
                check_json == hook_json,
                "check's decision is not the one the hook logged\ncheck --output json:\n{}\nhook's log record:\n{}",
                pretty(&check_json),
                pretty(&hook_json)
            );
            // The line on stderr is the denial of those violations.
            if hooked.code == Some(1) {
                prop_assert!(
                    hooked.stderr.starts_with("oci-psp-hook: denied by"),
                    "{hooked:#?}"
                );
                for v in check_json["violations"].as_array().unwrap().iter().take(1) {
                    let text = format!(
                        "{}: {}",
                        v["field"].as_str().unwrap(),
                        v["message"].as_str().unwrap()
                    );
                    prop_assert!(
                        hooked.stderr.contains(&text),
                        "{text:?} not in the hook's line: {hooked:#?}"
                    );
                }
            }
            Ok(())
        },
    );
}
