//! The parts of config.json the checks read, read straight from the bytes
//! by [`json`](super::json): strings borrowed, what no check reads skipped
//! without being built, errors with line and column, and keys matched as
//! the runtimes' Go decoders match them (a key Go would take for a field
//! under another spelling is refused, see the `json` module).
//!
//! The fields follow the runtime spec's Go types, which is what runc,
//! containerd and CRI-O decode. Two parts are read leniently, because a
//! runtime newer than this build may write values this build does not know:
//! the capability sets (kept as names, judged by name) and the seccomp
//! profile (actions kept as names; of the syscall names only those
//! [`seccomp`](super::seccomp) judges are kept, the rest read and dropped).

use std::borrow::Cow;

use super::capabilities::SET_NAMES;
use super::json::{ErrorKind, Reader, Result};
use super::mounts::MountOptions;

type Str<'a> = Cow<'a, str>;

#[derive(Debug, Default)]
pub struct Config<'a> {
    pub root: Option<Root<'a>>,
    pub mounts: Option<Vec<Mount<'a>>>,
    pub process: Option<Process<'a>>,
    pub linux: Option<Linux<'a>>,
    /// In file order; a later duplicate key wins, as in Go's maps.
    pub annotations: Option<Vec<(Str<'a>, Str<'a>)>>,
    /// Every hook of every stage, in file order.
    pub hooks: Vec<Hook<'a>>,
}

/// One entry of `hooks.<stage>`: a host program the runtime runs as root.
#[derive(Debug)]
pub struct Hook<'a> {
    pub stage: &'static str,
    pub path: Str<'a>,
    pub args: Vec<Str<'a>>,
    pub env: Vec<Str<'a>>,
}

/// The hook stages of the runtime spec (runc runs every one of them).
pub const HOOK_STAGES: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

#[derive(Debug, Default)]
pub struct Root<'a> {
    pub path: Str<'a>,
    pub readonly: Option<bool>,
}

/// One entry of `mounts` (the runtime spec's fields the checks read;
/// `uidMappings`/`gidMappings` of idmapped mounts are not).
#[derive(Debug, Default)]
pub struct Mount<'a> {
    pub destination: Str<'a>,
    pub typ: Option<Str<'a>>,
    pub source: Option<Str<'a>>,
    /// Read as they are parsed: no list is kept.
    pub options: MountOptions,
    /// Options [`MountOptions`] does not read (filesystem data runc hands
    /// on), and overlay's `lowerdir=` among them: CRI-O's image volumes.
    pub unread_options: usize,
    pub lowerdir: Option<Str<'a>>,
}

#[derive(Debug, Default)]
pub struct Process<'a> {
    /// A missing user is uid 0, as runtimes start it.
    pub user: User,
    pub capabilities: Option<Capabilities<'a>>,
    pub no_new_privileges: Option<bool>,
    pub apparmor_profile: Option<Str<'a>>,
    pub selinux_label: Option<Str<'a>>,
    pub rlimits: Vec<Rlimit<'a>>,
    pub oom_score_adj: Option<i64>,
    /// `scheduler.policy` and `scheduler.nice`.
    pub scheduler: Option<(Str<'a>, i64)>,
    /// `ioPriority.class`.
    pub io_priority_class: Option<Str<'a>>,
}

#[derive(Debug)]
pub struct Rlimit<'a> {
    pub typ: Str<'a>,
    pub hard: u64,
    pub soft: u64,
}

#[derive(Debug, Default)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Option<Vec<u32>>,
}

/// The five sets, as names, in the spec's order ([`SET_NAMES`]).
#[derive(Debug, Default)]
pub struct Capabilities<'a> {
    pub sets: [Option<Vec<Str<'a>>>; 5],
}

#[derive(Debug, Default)]
pub struct Linux<'a> {
    pub namespaces: Option<Vec<Namespace<'a>>>,
    pub uid_mappings: Option<Vec<IdMapping>>,
    pub gid_mappings: Option<Vec<IdMapping>>,
    /// In file order; a later duplicate key wins.
    pub sysctl: Option<Vec<(Str<'a>, Str<'a>)>>,
    /// `resources.devices`: the device cgroup rules.
    pub device_rules: Option<Vec<DeviceRule>>,
    pub devices: Option<Vec<Device<'a>>>,
    /// Absent or null: unconfined.
    pub seccomp: Option<Seccomp<'a>>,
    pub rootfs_propagation: Option<Str<'a>>,
    pub masked_paths: Option<Vec<Str<'a>>>,
    pub readonly_paths: Option<Vec<Str<'a>>>,
    pub cgroups_path: Option<Str<'a>>,
    /// The names of `linux.netDevices` (host interfaces moved in).
    pub net_devices: Vec<Str<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceType {
    Pid,
    Network,
    Mount,
    Ipc,
    Uts,
    User,
    Cgroup,
    Time,
}

const NAMESPACE_TYPES: [(&str, NamespaceType); 8] = [
    ("pid", NamespaceType::Pid),
    ("network", NamespaceType::Network),
    ("mount", NamespaceType::Mount),
    ("ipc", NamespaceType::Ipc),
    ("uts", NamespaceType::Uts),
    ("user", NamespaceType::User),
    ("cgroup", NamespaceType::Cgroup),
    ("time", NamespaceType::Time),
];

#[derive(Debug)]
pub struct Namespace<'a> {
    pub typ: NamespaceType,
    pub path: Option<Str<'a>>,
}

#[derive(Debug, Default)]
pub struct IdMapping {
    pub container_id: u32,
    pub host_id: u32,
    pub size: u32,
}

/// A device cgroup rule; `typ` `None` or `a` is every type.
#[derive(Debug, Default)]
pub struct DeviceRule {
    pub allow: bool,
    pub typ: Option<u8>,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    /// `None` or empty: runc reads it as `rwm`.
    pub access: Option<String>,
}

#[derive(Debug)]
pub struct Device<'a> {
    pub path: Str<'a>,
    pub typ: u8,
    pub major: i64,
    pub minor: i64,
}

/// `linux.seccomp`, as far as [`seccomp`](super::seccomp) judges it.
#[derive(Debug, Default)]
pub struct Seccomp<'a> {
    pub default_action: Str<'a>,
    /// `listenerPath`: the host socket `SCMP_ACT_NOTIFY` hands calls to.
    pub listener_path: Option<Str<'a>>,
    /// `syscalls`, in file order.
    pub syscalls: Vec<SeccompRule<'a>>,
}

/// One entry of `linux.seccomp.syscalls`.
#[derive(Debug, Default)]
pub struct SeccompRule<'a> {
    /// The names [`guarded`](super::seccomp::guarded) (the others are read
    /// and dropped: only these change the verdict).
    pub names: Vec<Str<'a>>,
    /// How many names the rule has in all.
    pub name_count: usize,
    pub action: Str<'a>,
    /// The `args` conditions (all must hold for the rule to apply).
    pub args: Vec<SeccompArg<'a>>,
}

/// One `args` condition: `op` compares argument `index` with `value`
/// (`SCMP_CMP_MASKED_EQ`: the argument masked by `value` equals `value_two`).
#[derive(Debug, Default)]
pub struct SeccompArg<'a> {
    pub index: u64,
    pub value: u64,
    pub value_two: u64,
    pub op: Str<'a>,
}

/// Why config.json could not be read, with the line and column.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not valid JSON: {message} at line {line} column {column}")]
    Syntax {
        message: String,
        line: usize,
        column: usize,
    },
    #[error("does not follow the OCI runtime spec: {message} at line {line} column {column}")]
    Spec {
        message: String,
        line: usize,
        column: usize,
    },
    #[error("not a JSON object")]
    NotAnObject,
}

/// Parse config.json.
pub fn parse(bytes: &[u8]) -> std::result::Result<Config<'_>, Error> {
    let read = || {
        let mut r = Reader::new(bytes)?;
        if !r.at_object() {
            // Whether it is JSON at all, then that it is the wrong JSON.
            r.skip()?;
            r.end()?;
            return Ok(None);
        }
        let config = config(&mut r)?;
        r.end()?;
        Ok(Some(config))
    };
    let config = read().map_err(|e: Box<super::json::Error>| {
        let (line, column) = e.line_column(bytes);
        let message = e.message;
        match e.kind {
            ErrorKind::Syntax => Error::Syntax {
                message,
                line,
                column,
            },
            ErrorKind::Spec => Error::Spec {
                message,
                line,
                column,
            },
        }
    })?;
    config.ok_or(Error::NotAnObject)
}

fn config<'a>(r: &mut Reader<'a>) -> Result<Config<'a>> {
    let mut c = Config::default();
    r.object(
        "config.json",
        &["root", "mounts", "process", "linux", "annotations", "hooks"],
        |r, field| {
            if r.null()? {
                return Ok(());
            }
            match field {
                0 => c.root = Some(root(r)?),
                1 => c.mounts = Some(list(r, "mounts", mount)?),
                2 => c.process = Some(process(r)?),
                3 => c.linux = Some(linux(r)?),
                4 => c.annotations = Some(string_map(r, "annotations")?),
                _ => c.hooks = hooks(r)?,
            }
            Ok(())
        },
    )?;
    Ok(c)
}

/// An array of `item`s (`null` elements are refused: Go would make them
/// zero values no runtime writes).
fn list<'a, T>(
    r: &mut Reader<'a>,
    what: &str,
    mut item: impl FnMut(&mut Reader<'a>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    r.array(what, |r| {
        out.push(item(r)?);
        Ok(())
    })?;
    Ok(out)
}

fn strings<'a>(r: &mut Reader<'a>, what: &str) -> Result<Vec<Str<'a>>> {
    list(r, what, |r| r.str(what))
}

fn string_map<'a>(r: &mut Reader<'a>, what: &str) -> Result<Vec<(Str<'a>, Str<'a>)>> {
    let mut out = Vec::new();
    r.entries(what, |r, key, _| {
        out.push((key, r.str(what)?));
        Ok(())
    })?;
    Ok(out)
}

/// `null` for an optional field is its absence, as in Go.
fn optional<'a, T>(
    r: &mut Reader<'a>,
    read: impl FnOnce(&mut Reader<'a>) -> Result<T>,
) -> Result<Option<T>> {
    if r.null()? {
        Ok(None)
    } else {
        read(r).map(Some)
    }
}

fn hooks<'a>(r: &mut Reader<'a>) -> Result<Vec<Hook<'a>>> {
    let mut out = Vec::new();
    r.object("hooks", &HOOK_STAGES, |r, stage| {
        let stage = HOOK_STAGES[stage];
        if r.null()? {
            return Ok(());
        }
        r.array("hooks", |r| {
            let at = r.offset();
            let mut path = None;
            let (mut args, mut env) = (Vec::new(), Vec::new());
            r.object("hooks[]", &["path", "args", "env"], |r, field| {
                match field {
                    0 => path = Some(r.str("hooks[].path")?),
                    1 => args = optional(r, |r| strings(r, "hooks[].args"))?.unwrap_or_default(),
                    _ => env = optional(r, |r| strings(r, "hooks[].env"))?.unwrap_or_default(),
                }
                Ok(())
            })?;
            match path {
                Some(path) => {
                    out.push(Hook {
                        stage,
                        path,
                        args,
                        env,
                    });
                    Ok(())
                }
                None => r.spec_error(at, format!("hooks.{stage}[]: missing field \"path\"")),
            }
        })
    })?;
    Ok(out)
}

fn root<'a>(r: &mut Reader<'a>) -> Result<Root<'a>> {
    let mut root = Root::default();
    r.object("root", &["path", "readonly"], |r, field| {
        match field {
            0 => root.path = optional(r, |r| r.str("root.path"))?.unwrap_or_default(),
            _ => root.readonly = optional(r, |r| r.boolean("root.readonly"))?,
        }
        Ok(())
    })?;
    Ok(root)
}

fn mount<'a>(r: &mut Reader<'a>) -> Result<Mount<'a>> {
    let mut m = Mount::default();
    let mut destination = false;
    let mut unknown = None;
    let at = r.offset();
    r.object(
        "mounts[]",
        &["destination", "type", "source", "options"],
        |r, field| {
            match field {
                0 => {
                    m.destination = r.str("mounts[].destination")?;
                    destination = true;
                }
                1 => m.typ = optional(r, |r| r.str("mounts[].type"))?,
                2 => m.source = optional(r, |r| r.str("mounts[].source"))?,
                _ => {
                    if !r.null()? {
                        r.array("mounts[].options", |r| {
                            let at = r.offset();
                            let option = r.str("mounts[].options")?;
                            if let Err(why) = m.options.add(&option) {
                                m.unread_options += 1;
                                if option.starts_with("lowerdir=") {
                                    m.lowerdir = Some(option);
                                }
                                unknown.get_or_insert((at, why));
                            }
                            Ok(())
                        })?;
                    }
                }
            }
            Ok(())
        },
    )?;
    if !destination {
        return r.spec_error(at, "mounts[]: missing field \"destination\"".into());
    }
    // An option runc hands to the filesystem unread matters where the mount
    // could pass as something the policy admits: a bind or one of the
    // runtimes' own filesystems. Any other filesystem is privileged as a
    // whole, its data options (overlay's lowerdir…) included.
    let judged = m.options.bind
        || m.typ.as_deref().is_none_or(|t| {
            matches!(
                t,
                "bind"
                    | "proc"
                    | "sysfs"
                    | "tmpfs"
                    | "shm"
                    | "devpts"
                    | "mqueue"
                    | "cgroup"
                    | "cgroup2"
                    | ""
            )
        });
    match unknown {
        Some((at, why)) if judged => r.spec_error(at, format!("mounts[].options: {why}")),
        _ => Ok(m),
    }
}

fn process<'a>(r: &mut Reader<'a>) -> Result<Process<'a>> {
    let mut p = Process::default();
    r.object(
        "process",
        &[
            "user",
            "capabilities",
            "noNewPrivileges",
            "apparmorProfile",
            "selinuxLabel",
            "rlimits",
            "oomScoreAdj",
            "scheduler",
            "ioPriority",
        ],
        |r, field| {
            match field {
                0 => p.user = optional(r, user)?.unwrap_or_default(),
                1 => p.capabilities = optional(r, capabilities)?,
                2 => p.no_new_privileges = optional(r, |r| r.boolean("process.noNewPrivileges"))?,
                3 => p.apparmor_profile = optional(r, |r| r.str("process.apparmorProfile"))?,
                4 => p.selinux_label = optional(r, |r| r.str("process.selinuxLabel"))?,
                5 => {
                    p.rlimits =
                        optional(r, |r| list(r, "process.rlimits", rlimit))?.unwrap_or_default()
                }
                6 => {
                    p.oom_score_adj = optional(r, |r| {
                        r.integer("process.oomScoreAdj", i64::MIN, i64::MAX as u64)
                    })?
                }
                7 => p.scheduler = optional(r, scheduler)?,
                _ => p.io_priority_class = optional(r, io_priority)?,
            }
            Ok(())
        },
    )?;
    Ok(p)
}

fn rlimit<'a>(r: &mut Reader<'a>) -> Result<Rlimit<'a>> {
    let what = "process.rlimits[]";
    let mut l = Rlimit {
        typ: Str::Borrowed(""),
        hard: 0,
        soft: 0,
    };
    r.object(what, &["type", "hard", "soft"], |r, field| {
        match field {
            0 => l.typ = r.str(what)?,
            1 => l.hard = optional(r, |r| r.u64(what))?.unwrap_or(0),
            _ => l.soft = optional(r, |r| r.u64(what))?.unwrap_or(0),
        }
        Ok(())
    })?;
    Ok(l)
}

fn scheduler<'a>(r: &mut Reader<'a>) -> Result<(Str<'a>, i64)> {
    let what = "process.scheduler";
    let (mut policy, mut nice) = (Str::Borrowed(""), 0);
    r.object(what, &["policy", "nice"], |r, field| {
        match field {
            0 => policy = r.str(what)?,
            _ => nice = optional(r, |r| r.integer(what, i64::MIN, i64::MAX as u64))?.unwrap_or(0),
        }
        Ok(())
    })?;
    Ok((policy, nice))
}

fn io_priority<'a>(r: &mut Reader<'a>) -> Result<Str<'a>> {
    let mut class = Str::Borrowed("");
    r.object("process.ioPriority", &["class"], |r, _| {
        class = r.str("process.ioPriority.class")?;
        Ok(())
    })?;
    Ok(class)
}

fn user(r: &mut Reader<'_>) -> Result<User> {
    let mut u = User::default();
    r.object(
        "process.user",
        &["uid", "gid", "additionalGids"],
        |r, field| {
            match field {
                0 => u.uid = optional(r, |r| r.u32("process.user.uid"))?.unwrap_or(0),
                1 => u.gid = optional(r, |r| r.u32("process.user.gid"))?.unwrap_or(0),
                _ => {
                    u.additional_gids = optional(r, |r| {
                        list(r, "process.user.additionalGids", |r| {
                            r.u32("process.user.additionalGids[]")
                        })
                    })?
                }
            }
            Ok(())
        },
    )?;
    Ok(u)
}

fn capabilities<'a>(r: &mut Reader<'a>) -> Result<Capabilities<'a>> {
    let mut c = Capabilities::default();
    r.object("process.capabilities", &SET_NAMES, |r, set| {
        c.sets[set] = optional(r, |r| strings(r, "process.capabilities sets"))?;
        Ok(())
    })?;
    Ok(c)
}

fn linux<'a>(r: &mut Reader<'a>) -> Result<Linux<'a>> {
    let mut l = Linux::default();
    r.object(
        "linux",
        &[
            "namespaces",
            "uidMappings",
            "gidMappings",
            "sysctl",
            "resources",
            "devices",
            "seccomp",
            "rootfsPropagation",
            "maskedPaths",
            "readonlyPaths",
            "cgroupsPath",
            "netDevices",
        ],
        |r, field| {
            if r.null()? {
                return Ok(());
            }
            match field {
                0 => l.namespaces = Some(list(r, "linux.namespaces", namespace)?),
                1 => l.uid_mappings = Some(list(r, "linux.uidMappings", id_mapping)?),
                2 => l.gid_mappings = Some(list(r, "linux.gidMappings", id_mapping)?),
                3 => l.sysctl = Some(string_map(r, "linux.sysctl")?),
                4 => l.device_rules = resources(r)?,
                5 => l.devices = Some(list(r, "linux.devices", device)?),
                6 => l.seccomp = Some(seccomp(r)?),
                7 => l.rootfs_propagation = Some(r.str("linux.rootfsPropagation")?),
                8 => l.masked_paths = Some(strings(r, "linux.maskedPaths")?),
                9 => l.readonly_paths = Some(strings(r, "linux.readonlyPaths")?),
                10 => l.cgroups_path = Some(r.str("linux.cgroupsPath")?),
                _ => {
                    r.entries("linux.netDevices", |r, name, _| {
                        l.net_devices.push(name);
                        r.skip()
                    })?;
                }
            }
            Ok(())
        },
    )?;
    Ok(l)
}

fn namespace<'a>(r: &mut Reader<'a>) -> Result<Namespace<'a>> {
    let at = r.offset();
    let mut typ = None;
    let mut path = None;
    r.object("linux.namespaces[]", &["type", "path"], |r, field| {
        match field {
            0 => {
                let name_at = r.offset();
                let name = r.str("linux.namespaces[].type")?;
                match NAMESPACE_TYPES.iter().find(|(n, _)| *n == name) {
                    Some((_, t)) => typ = Some(*t),
                    None => {
                        return r.spec_error(
                            name_at,
                            format!("linux.namespaces[].type: unknown namespace type {name:?}"),
                        );
                    }
                }
            }
            _ => path = optional(r, |r| r.str("linux.namespaces[].path"))?,
        }
        Ok(())
    })?;
    match typ {
        Some(typ) => Ok(Namespace { typ, path }),
        None => r.spec_error(at, "linux.namespaces[]: missing field \"type\"".into()),
    }
}

fn id_mapping(r: &mut Reader<'_>) -> Result<IdMapping> {
    let mut m = IdMapping::default();
    r.object(
        "linux.uidMappings[]",
        &["containerID", "hostID", "size"],
        |r, field| {
            let v = optional(r, |r| r.u32("linux.uidMappings[]"))?.unwrap_or(0);
            match field {
                0 => m.container_id = v,
                1 => m.host_id = v,
                _ => m.size = v,
            }
            Ok(())
        },
    )?;
    Ok(m)
}

fn resources(r: &mut Reader<'_>) -> Result<Option<Vec<DeviceRule>>> {
    let mut rules = None;
    r.object("linux.resources", &["devices"], |r, _| {
        rules = optional(r, |r| list(r, "linux.resources.devices", device_rule))?;
        Ok(())
    })?;
    Ok(rules)
}

const DEVICE_TYPES: &[u8] = b"abcup";

/// A device type letter, as the spec's Go types take it.
fn device_type(r: &mut Reader<'_>, what: &str) -> Result<u8> {
    let at = r.offset();
    let name = r.str(what)?;
    match name.as_bytes() {
        [t] if DEVICE_TYPES.contains(t) => Ok(*t),
        _ => r.spec_error(at, format!("{what}: unknown device type {name:?}")),
    }
}

fn device_rule(r: &mut Reader<'_>) -> Result<DeviceRule> {
    let mut d = DeviceRule::default();
    let what = "linux.resources.devices[]";
    r.object(
        what,
        &["allow", "type", "major", "minor", "access"],
        |r, field| {
            match field {
                0 => d.allow = optional(r, |r| r.boolean(what))?.unwrap_or(false),
                1 => d.typ = optional(r, |r| device_type(r, what))?,
                2 => d.major = optional(r, |r| r.integer(what, i64::MIN, i64::MAX as u64))?,
                3 => d.minor = optional(r, |r| r.integer(what, i64::MIN, i64::MAX as u64))?,
                _ => d.access = optional(r, |r| r.str(what))?.map(Cow::into_owned),
            }
            Ok(())
        },
    )?;
    Ok(d)
}

fn device<'a>(r: &mut Reader<'a>) -> Result<Device<'a>> {
    let at = r.offset();
    let what = "linux.devices[]";
    let mut path = None;
    let mut typ = None;
    let (mut major, mut minor) = (0, 0);
    r.object(what, &["path", "type", "major", "minor"], |r, field| {
        match field {
            0 => path = optional(r, |r| r.str(what))?,
            1 => typ = Some(device_type(r, what)?),
            2 => major = optional(r, |r| r.integer(what, i64::MIN, i64::MAX as u64))?.unwrap_or(0),
            _ => minor = optional(r, |r| r.integer(what, i64::MIN, i64::MAX as u64))?.unwrap_or(0),
        }
        Ok(())
    })?;
    let Some(typ) = typ else {
        return r.spec_error(at, format!("{what}: missing field \"type\""));
    };
    Ok(Device {
        path: path.unwrap_or_default(),
        typ,
        major,
        minor,
    })
}

fn seccomp<'a>(r: &mut Reader<'a>) -> Result<Seccomp<'a>> {
    let at = r.offset();
    let mut s = Seccomp::default();
    let mut default_action = false;
    r.object(
        "linux.seccomp",
        &["defaultAction", "listenerPath", "syscalls"],
        |r, field| {
            match field {
                0 => {
                    s.default_action = r.str("linux.seccomp.defaultAction")?;
                    default_action = true;
                }
                1 => s.listener_path = optional(r, |r| r.str("linux.seccomp.listenerPath"))?,
                _ => {
                    s.syscalls = optional(r, |r| list(r, "linux.seccomp.syscalls", seccomp_rule))?
                        .unwrap_or_default()
                }
            }
            Ok(())
        },
    )?;
    if !default_action {
        return r.spec_error(at, "linux.seccomp: missing field \"defaultAction\"".into());
    }
    Ok(s)
}

fn seccomp_rule<'a>(r: &mut Reader<'a>) -> Result<SeccompRule<'a>> {
    let what = "linux.seccomp.syscalls[]";
    let mut rule = SeccompRule::default();
    r.object(what, &["names", "action", "args"], |r, field| {
        match field {
            0 => {
                if !r.null()? {
                    r.array("linux.seccomp.syscalls[].names", |r| {
                        // runc hands each name to libseccomp as a C string:
                        // `bpf\0x` is `bpf`.
                        let name = c_string(r.str("linux.seccomp.syscalls[].names")?);
                        rule.name_count += 1;
                        if super::seccomp::guarded(&name) {
                            rule.names.push(name);
                        }
                        Ok(())
                    })?;
                }
            }
            1 => rule.action = optional(r, |r| r.str(what))?.unwrap_or_default(),
            _ => {
                rule.args = optional(r, |r| list(r, "linux.seccomp.syscalls[].args", seccomp_arg))?
                    .unwrap_or_default()
            }
        }
        Ok(())
    })?;
    Ok(rule)
}

/// `s` as C reads it: up to its first NUL. Only an escape (`\u0000`) puts
/// a NUL into a JSON string, and a string with escapes is the reader's own
/// copy: the borrowed ones are not scanned.
fn c_string(s: Str<'_>) -> Str<'_> {
    match s {
        Cow::Owned(mut o) => {
            if let Some(end) = o.find('\0') {
                o.truncate(end);
            }
            Cow::Owned(o)
        }
        borrowed => borrowed,
    }
}

fn seccomp_arg<'a>(r: &mut Reader<'a>) -> Result<SeccompArg<'a>> {
    let what = "linux.seccomp.syscalls[].args[]";
    let mut arg = SeccompArg::default();
    r.object(what, &["index", "value", "valueTwo", "op"], |r, field| {
        match field {
            0 => arg.index = optional(r, |r| r.u64(what))?.unwrap_or(0),
            1 => arg.value = optional(r, |r| r.u64(what))?.unwrap_or(0),
            2 => arg.value_two = optional(r, |r| r.u64(what))?.unwrap_or(0),
            _ => arg.op = optional(r, |r| r.str(what))?.unwrap_or_default(),
        }
        Ok(())
    })?;
    Ok(arg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_capabilities_and_seccomp_actions_are_read_by_name() {
        let c = parse(br#"{"process": {"capabilities": {"bounding": ["CAP_FUTURE_THING"]}},
            "linux": {"seccomp": {"defaultAction": "SCMP_ACT_SOMETHING_NEW", "flags": ["NEW"],
            "architectures": ["SCMP_ARCH_NEW"], "syscalls": [{"names": ["x"], "action": "NEW"}]}}}"#)
        .unwrap();
        let caps = c.process.unwrap().capabilities.unwrap();
        assert_eq!(caps.sets[0].as_deref().unwrap(), ["CAP_FUTURE_THING"]);
        let s = c.linux.unwrap().seccomp.unwrap();
        assert_eq!(s.default_action, "SCMP_ACT_SOMETHING_NEW");
        assert_eq!(s.syscalls[0].action, "NEW");
    }

    /// Of a rule's names only those the seccomp judgement reads are kept;
    /// its action and conditions are read as the spec's Go types read them.
    #[test]
    fn seccomp_rules_keep_what_is_judged() {
        let c = parse(
            br#"{"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "listenerPath": "/run/agent.sock", "listenerMetadata": "x", "flags": [],
            "syscalls": [
              {"names": ["read", "bpf", "write", "userfaultfd"], "action": "SCMP_ACT_ALLOW"},
              {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "comment": "x",
               "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"},
                        {"index": 1, "value": 18446744073709551615, "op": "SCMP_CMP_NE"}]},
              {"names": null, "action": null, "args": null},
              {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}}}"#,
        )
        .unwrap();
        let s = c.linux.unwrap().seccomp.unwrap();
        assert_eq!(s.listener_path.as_deref(), Some("/run/agent.sock"));
        let r = &s.syscalls;
        assert_eq!(r.len(), 4);
        assert_eq!(
            (r[0].names.as_slice(), r[0].name_count),
            (&["bpf".into(), "userfaultfd".into()][..], 4)
        );
        assert!(r[0].args.is_empty());
        assert_eq!(r[1].args.len(), 2);
        let a = &r[1].args[1];
        assert_eq!(
            (a.index, a.value, a.value_two, &*a.op),
            (1, u64::MAX, 0, "SCMP_CMP_NE")
        );
        assert_eq!(r[1].args[0].value, 2114060288);
        assert!(r[2].names.is_empty() && r[2].action.is_empty() && r[2].args.is_empty());
        assert_eq!((&*r[3].action, r[3].name_count), ("SCMP_ACT_ERRNO", 1));

        for (bad, says) in [
            (r#"{"names": "unshare"}"#, "linux.seccomp.syscalls[].names"),
            (
                r#"{"args": [{"index": -1}]}"#,
                "linux.seccomp.syscalls[].args[]",
            ),
            (r#"{"action": 1}"#, "linux.seccomp.syscalls[]"),
            (r#"{"Names": ["unshare"]}"#, r#"is not the spec's "names""#),
        ] {
            let json = format!(
                r#"{{"linux": {{"seccomp": {{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{bad}]}}}}}}"#
            );
            let e = parse(json.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn errors_say_what_and_where() {
        assert!(matches!(
            parse(b"ociVersion: 1"),
            Err(Error::Syntax { line: 1, .. })
        ));
        assert!(matches!(parse(b"[1, 2]"), Err(Error::NotAnObject)));
        let e = parse(b"{\n \"process\": {\"user\": {\"uid\": \"root\"}}}").unwrap_err();
        assert!(
            matches!(
                e,
                Error::Spec {
                    line: 2,
                    column: 30,
                    ..
                }
            ),
            "{e}"
        );
        let e = e.to_string();
        assert_eq!(
            e,
            "does not follow the OCI runtime spec: process.user.uid: expected an integer \
             from 0 to 4294967295, found a string (\"root\") at line 2 column 30"
        );
        let e = parse(b"{\"linux\": {\"seccomp\": {\"syscalls\": []}}}")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("linux.seccomp: missing field \"defaultAction\" at line 1 column 23"),
            "{e}"
        );
        let e = parse(b"{\"linux\": {\"namespaces\": [{\"type\": \"nett\"}]}}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown namespace type \"nett\""), "{e}");
        let e = parse(b"{} {}").unwrap_err().to_string();
        assert!(e.starts_with("not valid JSON: trailing characters"), "{e}");
    }

    /// runc applies `"CAPABILITIES"` as `capabilities` (Go matches keys
    /// case-insensitively): such a config must not be judged on the
    /// exactly-spelled key alone.
    #[test]
    fn keys_the_runtime_reads_differently_are_refused() {
        for config in [
            r#"{"process": {"capabilities": {"bounding": []},
                "CAPABILITIES": {"bounding": ["CAP_SYS_ADMIN"]}}}"#,
            r#"{"process": {"capabilities": {"bounding": [], "Bounding": ["CAP_SYS_ADMIN"]}}}"#,
            r#"{"Mounts": [{"destination": "/host", "source": "/", "options": ["rbind"]}]}"#,
            r#"{"linux": {"namespaces": [{"type": "network"}], "nameſpaces": []}}"#,
            r#"{"process": {"noNewPrivileges": true, "noNewPrivileges": false}}"#,
            // Keys are compared after their escapes are decoded, as Go does.
            r#"{"process": {"noNewPrivileges": true, "\u004eoNewPrivileges": false}}"#,
        ] {
            let e = parse(config.as_bytes()).unwrap_err().to_string();
            assert!(
                e.starts_with("does not follow the OCI runtime spec: ")
                    && e.contains("readers could disagree on"),
                "{config}: {e}"
            );
        }
    }

    /// An option runc would hand unread to the filesystem is refused where
    /// the mount could pass as an admitted one; another filesystem is
    /// privileged whole, its data options included.
    #[test]
    fn unknown_mount_options_are_refused_where_they_could_hide() {
        for mount in [
            r#"{"destination": "/d", "type": "bind", "source": "/srv", "options": ["ro", "frobnicate"]}"#,
            r#"{"destination": "/d", "source": "/srv", "options": ["rbind", "RO"]}"#,
            r#"{"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["huge=always"]}"#,
        ] {
            let e = parse(format!(r#"{{"mounts": [{mount}]}}"#).as_bytes())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("mounts[].options: unknown mount option"),
                "{mount}: {e}"
            );
        }
        let c = parse(
            br#"{"mounts": [{"destination": "/o", "type": "overlay", "source": "overlay",
            "options": ["lowerdir=/a:/b", "upperdir=/u", "workdir=/w"]}]}"#,
        )
        .unwrap();
        assert_eq!(c.mounts.unwrap().len(), 1);
    }

    #[test]
    fn escaped_keys_are_the_fields_they_spell() {
        let c = parse(br#"{"process": {"\u006eoNewPrivileges": true}}"#).unwrap();
        assert_eq!(c.process.unwrap().no_new_privileges, Some(true));
    }

    #[test]
    fn null_is_absence_and_unknown_keys_are_skipped() {
        let c = parse(
            br#"{"ociVersion": "1.2.0", "process": {"user": null, "capabilities": null,
            "args": ["sh", {"odd": [1, 2.5e3, null]}]}, "linux": {"seccomp": null,
            "sysctl": {"a/b": "1", "a/b": "2"}}, "annotations": null, "hooks": {}}"#,
        )
        .unwrap();
        let p = c.process.unwrap();
        assert_eq!((p.user.uid, p.user.gid), (0, 0));
        assert!(p.capabilities.is_none());
        let l = c.linux.unwrap();
        assert!(l.seccomp.is_none());
        // Both kept in order: the later one wins when collected into a map.
        assert_eq!(l.sysctl.unwrap().len(), 2);
        assert!(c.annotations.is_none());
    }

    #[test]
    fn mounts_borrow_their_strings() {
        let c = parse(
            br#"{"mounts": [{"destination": "/a", "type": "bind", "source": "/x\/y",
            "options": ["rbind", "ro"]}, {"destination": "/b"}]}"#,
        )
        .unwrap();
        let m = c.mounts.unwrap();
        assert!(matches!(m[0].destination, Cow::Borrowed("/a")));
        assert_eq!(m[0].source.as_deref(), Some("/x/y"));
        assert!(m[0].options.bind && m[0].options.read_only());
        assert!(m[1].typ.is_none() && m[1].options == MountOptions::default());
        let e = parse(br#"{"mounts": [{"source": "/"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("mounts[]: missing field \"destination\""), "{e}");
    }

    /// Every real config.json of the fixtures reads the same here as through
    /// oci-spec's serde types (the runtime spec's Go types, in Rust).
    #[test]
    fn fixtures_read_as_oci_spec_reads_them() {
        use oci_spec::runtime::Spec;
        let mut files = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from("tests/fixtures")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "json") {
                    files.push(path);
                }
            }
        }
        let mut compared = 0;
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            let Ok(spec) = serde_json::from_slice::<Spec>(&bytes) else {
                continue; // not a config.json (advise inputs, state files)
            };
            let ours = parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let at = file.display();
            let strs = |v: &Option<Vec<Str>>| {
                v.as_ref()
                    .map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            };

            let root = spec.root().as_ref();
            assert_eq!(
                ours.root.as_ref().map(|r| r.path.to_string()),
                root.map(|r| r.path().display().to_string()),
                "{at}"
            );
            assert_eq!(
                ours.root.as_ref().and_then(|r| r.readonly),
                root.and_then(|r| r.readonly()),
                "{at}"
            );

            let mounts: Vec<_> = spec
                .mounts()
                .iter()
                .flatten()
                .map(|m| {
                    (
                        m.destination().display().to_string(),
                        m.typ().clone(),
                        m.source().as_ref().map(|s| s.display().to_string()),
                        // As the reader does: an option it does not know
                        // (CRI-O's overlay `lowerdir=`) is left out here
                        // and refused when the view is built.
                        m.options().iter().flatten().fold(
                            MountOptions::default(),
                            |mut all, option| {
                                let _ = all.add(option);
                                all
                            },
                        ),
                    )
                })
                .collect();
            let our_mounts: Vec<_> = ours
                .mounts
                .iter()
                .flatten()
                .map(|m| {
                    (
                        m.destination.to_string(),
                        m.typ.as_ref().map(|t| t.to_string()),
                        m.source.as_ref().map(|s| s.to_string()),
                        m.options,
                    )
                })
                .collect();
            assert_eq!(our_mounts, mounts, "{at}");

            let process = spec.process().as_ref();
            let ours_p = ours.process.as_ref();
            let user = process.map(|p| {
                (
                    p.user().uid(),
                    p.user().gid(),
                    p.user().additional_gids().clone(),
                )
            });
            assert_eq!(
                ours_p.map(|p| (p.user.uid, p.user.gid, p.user.additional_gids.clone())),
                user,
                "{at}"
            );
            assert_eq!(
                ours_p.and_then(|p| p.no_new_privileges),
                process.and_then(|p| p.no_new_privileges()),
                "{at}"
            );
            assert_eq!(
                ours_p.and_then(|p| p.apparmor_profile.as_deref().map(str::to_string)),
                process.and_then(|p| p.apparmor_profile().clone()),
                "{at}"
            );
            assert_eq!(
                ours_p.and_then(|p| p.selinux_label.as_deref().map(str::to_string)),
                process.and_then(|p| p.selinux_label().clone()),
                "{at}"
            );
            let caps = process.and_then(|p| p.capabilities().as_ref()).map(|c| {
                let names = |s: &Option<oci_spec::runtime::Capabilities>| {
                    s.as_ref().map(|s| {
                        let mut v: Vec<String> = s.iter().map(|c| format!("CAP_{c}")).collect();
                        v.sort();
                        v
                    })
                };
                [
                    names(c.bounding()),
                    names(c.effective()),
                    names(c.inheritable()),
                    names(c.permitted()),
                    names(c.ambient()),
                ]
            });
            let our_caps = ours_p.and_then(|p| p.capabilities.as_ref()).map(|c| {
                c.sets.each_ref().map(|s| {
                    strs(s).map(|mut v| {
                        v.sort();
                        v.dedup();
                        v
                    })
                })
            });
            assert_eq!(our_caps, caps, "{at}");

            let linux = spec.linux().as_ref();
            let ours_l = ours.linux.as_ref();
            let namespaces = linux.and_then(|l| l.namespaces().as_ref()).map(|ns| {
                ns.iter()
                    .map(|n| {
                        (
                            format!("{:?}", n.typ()).to_lowercase(),
                            n.path().as_ref().map(|p| p.display().to_string()),
                        )
                    })
                    .collect::<Vec<_>>()
            });
            let our_namespaces = ours_l.and_then(|l| l.namespaces.as_ref()).map(|ns| {
                ns.iter()
                    .map(|n| {
                        (
                            format!("{:?}", n.typ).to_lowercase(),
                            n.path.as_ref().map(|p| p.to_string()),
                        )
                    })
                    .collect::<Vec<_>>()
            });
            assert_eq!(our_namespaces, namespaces, "{at}");
            let maps = linux.and_then(|l| l.uid_mappings().as_ref()).map(|m| {
                m.iter()
                    .map(|m| (m.container_id(), m.host_id(), m.size()))
                    .collect::<Vec<_>>()
            });
            assert_eq!(
                ours_l.and_then(|l| l.uid_mappings.as_ref()).map(|m| m
                    .iter()
                    .map(|m| (m.container_id, m.host_id, m.size))
                    .collect::<Vec<_>>()),
                maps,
                "{at}"
            );
            let sysctl = linux
                .and_then(|l| l.sysctl().clone())
                .map(|s| s.into_iter().collect::<std::collections::BTreeMap<_, _>>());
            assert_eq!(
                ours_l.and_then(|l| l.sysctl.as_ref()).map(|s| s
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()),
                sysctl,
                "{at}"
            );
            let devices = linux.and_then(|l| l.devices().as_ref()).map(|d| {
                d.iter()
                    .map(|d| d.path().display().to_string())
                    .collect::<Vec<_>>()
            });
            assert_eq!(
                ours_l
                    .and_then(|l| l.devices.as_ref())
                    .map(|d| d.iter().map(|d| d.path.to_string()).collect()),
                devices,
                "{at}"
            );
            let rules = linux
                .and_then(|l| l.resources().as_ref())
                .and_then(|r| r.devices().as_ref())
                .map(|d| {
                    d.iter()
                        .map(|d| {
                            (
                                d.allow(),
                                d.typ().map(|t| t.as_str().as_bytes()[0]),
                                d.major(),
                                d.minor(),
                            )
                        })
                        .collect::<Vec<_>>()
                });
            assert_eq!(
                ours_l.and_then(|l| l.device_rules.as_ref()).map(|d| d
                    .iter()
                    .map(|d| (d.allow, d.typ, d.major, d.minor))
                    .collect()),
                rules,
                "{at}"
            );
            let seccomp = linux.and_then(|l| l.seccomp().as_ref()).map(|s| {
                serde_json::to_value(s.default_action())
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            });
            assert_eq!(
                ours_l
                    .and_then(|l| l.seccomp.as_ref())
                    .map(|s| s.default_action.to_string()),
                seccomp,
                "{at}"
            );
            let name = |v: String| v.trim_matches('"').to_string();
            let rules = linux.and_then(|l| l.seccomp().as_ref()).map(|s| {
                let rules: Vec<_> = s
                    .syscalls()
                    .iter()
                    .flatten()
                    .map(|r| {
                        let names: Vec<String> = r
                            .names()
                            .iter()
                            .map(|n| n.split('\0').next().unwrap_or_default().to_string())
                            .filter(|n| super::super::seccomp::guarded(n))
                            .collect();
                        let args: Vec<_> = r
                            .args()
                            .iter()
                            .flatten()
                            .map(|a| {
                                (
                                    a.index() as u64,
                                    a.value(),
                                    a.value_two().unwrap_or(0),
                                    name(serde_json::to_string(&a.op()).unwrap()),
                                )
                            })
                            .collect();
                        let action = name(serde_json::to_string(&r.action()).unwrap());
                        (names, r.names().len(), action, args)
                    })
                    .collect();
                let listener = s.listener_path().as_ref().map(|p| p.display().to_string());
                (listener, rules)
            });
            let our_rules = ours_l.and_then(|l| l.seccomp.as_ref()).map(|s| {
                let rules: Vec<_> = s
                    .syscalls
                    .iter()
                    .map(|r| {
                        let args: Vec<_> = r
                            .args
                            .iter()
                            .map(|a| (a.index, a.value, a.value_two, a.op.to_string()))
                            .collect();
                        let names: Vec<String> = r.names.iter().map(|n| n.to_string()).collect();
                        (names, r.name_count, r.action.to_string(), args)
                    })
                    .collect();
                (s.listener_path.as_ref().map(|p| p.to_string()), rules)
            });
            assert_eq!(our_rules, rules, "{at}");
            assert_eq!(
                ours_l.and_then(|l| l.rootfs_propagation.as_deref().map(str::to_string)),
                linux.and_then(|l| l.rootfs_propagation().clone()),
                "{at}"
            );
            assert_eq!(
                ours_l.and_then(|l| strs(&l.masked_paths)),
                linux.and_then(|l| l.masked_paths().clone()),
                "{at}"
            );
            assert_eq!(
                ours_l.and_then(|l| strs(&l.readonly_paths)),
                linux.and_then(|l| l.readonly_paths().clone()),
                "{at}"
            );
            let annotations = spec
                .annotations()
                .clone()
                .map(|a| a.into_iter().collect::<std::collections::BTreeMap<_, _>>());
            assert_eq!(
                ours.annotations.as_ref().map(|a| a
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()),
                annotations,
                "{at}"
            );
            compared += 1;
        }
        assert!(compared >= 25, "only {compared} fixtures compared");
    }
}
