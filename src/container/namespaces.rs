//! Which namespaces a container shares with the host.
//!
//! A namespace is the host's when config.json has no entry for it (the runtime
//! keeps the caller's), when the entry joins a `path` whose inode is the one of
//! the hook's own namespace, or — in hook mode — when the container process
//! (`/proc/<state.pid>/ns/*`) is already in the hook's namespace. `/proc/1` is
//! not consulted: it may be unreadable or belong to another namespace.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NamespaceKind {
    Network,
    Pid,
    Ipc,
    User,
}

impl NamespaceKind {
    pub const ALL: [NamespaceKind; 4] = [Self::Network, Self::Pid, Self::Ipc, Self::User];

    /// The file name under `/proc/<pid>/ns/`.
    pub fn proc_name(self) -> &'static str {
        match self {
            Self::Network => "net",
            Self::Pid => "pid",
            Self::Ipc => "ipc",
            Self::User => "user",
        }
    }

    /// How an admin names it in a message.
    pub fn display(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::Pid => "PID",
            Self::Ipc => "IPC",
            Self::User => "user",
        }
    }
}

/// Why a namespace is judged to be the host's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostReason {
    /// config.json has no entry for it.
    NoEntry,
    /// The entry joins this path, which is the host's namespace.
    PathIsHost(String),
    /// The container process already runs in the host's namespace.
    ProcessInHost(i32),
}

impl std::fmt::Display for HostReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoEntry => write!(f, "no namespace entry in config.json"),
            Self::PathIsHost(p) => write!(f, "it joins {p}, which is the host's"),
            Self::ProcessInHost(pid) => write!(f, "process {pid} is in the host's namespace"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NamespaceState {
    /// A new namespace of its own.
    #[default]
    Private,
    /// Joins another (non-host) namespace by path, e.g. a pod sandbox's.
    Joined(String),
    /// Joins a path that cannot be resolved here (offline `check` of a
    /// config whose sandbox process is gone): not known to be the host's.
    Unresolved(String),
    Host(HostReason),
}

impl NamespaceState {
    pub fn is_host(&self) -> bool {
        matches!(self, Self::Host(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Namespaces {
    pub network: NamespaceState,
    pub pid: NamespaceState,
    pub ipc: NamespaceState,
    pub user: NamespaceState,
}

impl Namespaces {
    pub fn get(&self, kind: NamespaceKind) -> &NamespaceState {
        match kind {
            NamespaceKind::Network => &self.network,
            NamespaceKind::Pid => &self.pid,
            NamespaceKind::Ipc => &self.ipc,
            NamespaceKind::User => &self.user,
        }
    }

    pub fn get_mut(&mut self, kind: NamespaceKind) -> &mut NamespaceState {
        match kind {
            NamespaceKind::Network => &mut self.network,
            NamespaceKind::Pid => &mut self.pid,
            NamespaceKind::Ipc => &mut self.ipc,
            NamespaceKind::User => &mut self.user,
        }
    }
}

/// Namespace identities behind a trait so unit tests need no particular host.
pub trait NamespaceProbe {
    /// (device, inode) of a namespace file such as `/proc/self/ns/net`.
    fn identity(&self, path: &Path) -> Option<(u64, u64)>;

    /// The hook's own namespace of this kind: the host's reference.
    fn own(&self, kind: NamespaceKind) -> Option<(u64, u64)> {
        self.identity(&Path::new("/proc/self/ns").join(kind.proc_name()))
    }
}

/// Reads `/proc` of the running system.
pub struct ProcProbe;

impl NamespaceProbe for ProcProbe {
    fn identity(&self, path: &Path) -> Option<(u64, u64)> {
        // metadata() follows the magic link to the nsfs inode.
        let meta = std::fs::metadata(path).ok()?;
        Some((meta.dev(), meta.ino()))
    }
}

/// Why the kernel could not answer for a namespace in hook mode.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot read the hook's own /proc/self/ns/{}: the {} namespace cannot be judged",
        .0.proc_name(),
        .0.display()
    )]
    Own(NamespaceKind),
    #[error("cannot read {path}: the container's {} namespace cannot be judged", .kind.display())]
    Process { kind: NamespaceKind, path: String },
}

/// Judge one namespace from its config.json entry (`None`: no entry) and, in
/// hook mode, the container process. In hook mode the kernel must answer:
/// a namespace file that cannot be read is an error, never a fallback to
/// what config.json claims.
pub fn judge(
    kind: NamespaceKind,
    entry: Option<Option<&str>>,
    pid: Option<i32>,
    probe: &dyn NamespaceProbe,
) -> Result<NamespaceState, Error> {
    // The own namespace is a /proc lookup; skip it where nothing compares.
    let compared = pid.is_some() || matches!(entry, Some(Some(_)));
    let own = if compared { probe.own(kind) } else { None };
    if let Some(pid) = pid {
        let path = format!("/proc/{pid}/ns/{}", kind.proc_name());
        let own = own.ok_or(Error::Own(kind))?;
        let Some(process) = probe.identity(Path::new(&path)) else {
            return Err(Error::Process { kind, path });
        };
        if process == own {
            return Ok(NamespaceState::Host(HostReason::ProcessInHost(pid)));
        }
    }
    Ok(match entry {
        None => NamespaceState::Host(HostReason::NoEntry),
        Some(None) => NamespaceState::Private,
        Some(Some(path)) => match (probe.identity(Path::new(path)), own) {
            (Some(joined), Some(own)) if joined == own => {
                NamespaceState::Host(HostReason::PathIsHost(path.to_string()))
            }
            (None, Some(_)) => NamespaceState::Unresolved(path.to_string()),
            _ => NamespaceState::Joined(path.to_string()),
        },
    })
}
