//! The node's policy set (config.yaml + policies.d/) as the installer keeps
//! it: read from a source (a mounted ConfigMap), validated as a whole,
//! stored under its digest and swapped in by one rename(2).
//!
//! Layout under `ROOT/etc/oci-psp-hook/` (ROOT is `/` on a node, `/host` in
//! the DaemonSet; every symlink is relative, so it resolves the same from
//! both sides):
//!
//! ```text
//! config.yaml -> current/config.yaml        fixed, created once
//! policies.d  -> current/policies.d         fixed, created once
//! current     -> versions/<digest>          the active set; replaced atomically
//! previous    -> versions/<digest>          the set before it (kept for readers in flight)
//! versions/<digest>/config.yaml             a complete, validated set, never modified
//! versions/<digest>/policies.d/*.yaml
//! versions/.staging-<pid>-<n>/              a set being written and validated
//! versions/.lock                            serializes installers (flock)
//! ```
//!
//! The hook reads `/etc/oci-psp-hook/config.yaml` and `policies.d/` through
//! `current`, so it sees one complete set or the next, never a half-written
//! one: a set is written and fsynced in its own directory before the single
//! rename of `current` publishes it. The whole installed directory is one
//! hostPath mount (the symlink swapped is inside it: a mount point itself
//! could not be renamed over).
//!
//! The digest (`sha256:` + hex) identifies the content: SHA-256 over the
//! files in sorted order of their names (`config.yaml`, then
//! `policies.d/<name>`), each as `name`, a NUL byte, the length as a 64-bit
//! big-endian number and the bytes. `doctor` prints the same digest for the
//! active set, whatever its layout.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::atomic_files::{self as atomic, create_dirs, ctx, fsync_dir};
use crate::input::{InputError, POLICY_LIMIT, read_bounded};
use crate::policy::config::{Broken, DEFAULT_POLICY_DIRECTORY, Mode};
use crate::policy::load::PolicyError;
use crate::policy::select::{Flags, Sources};

/// The installed configuration directory (under the root).
pub const CONFIG_DIR: &str = "/etc/oci-psp-hook";
/// The installer's last sync result (under the root); `doctor` reads it.
pub const STATUS_PATH: &str = "/run/oci-psp-hook/install-status.json";
pub const CONFIG_NAME: &str = "config.yaml";
pub const POLICIES_NAME: &str = "policies.d";
const VERSIONS: &str = "versions";
const CURRENT: &str = "current";
const PREVIOUS: &str = "previous";
const LOCK: &str = ".lock";
/// kubelet's ConfigMap volume: `..data` points at the current timestamped
/// directory, each key is a symlink through it.
const KUBELET_DATA: &str = "..data";

/// Why a policy set could not be read, validated, stored or swapped in.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file of the set could not be read (or is not a regular file, or
    /// too large).
    #[error(transparent)]
    Input(#[from] InputError),
    /// A directory could not be read, or a file or link written, renamed or
    /// removed.
    #[error(transparent)]
    File(#[from] atomic::Error),
    #[error("{} has no {CONFIG_NAME}", dir.display())]
    NoConfig { dir: PathBuf },
    /// The configuration (or a policy it reads) is not valid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// Bindings naming policies that do not exist, or policies that do not
    /// load: each as the loader tells it.
    #[error("{}", join(.0))]
    Broken(Vec<Broken>),
    #[error("{} is not a configuration", path.display())]
    NotAConfiguration { path: PathBuf },
    #[error(
        "{}: cannot check this configuration against {}: write policyDirectory as one top-level line `policyDirectory: {POLICIES_NAME}`",
        path.display(),
        dir.display()
    )]
    PolicyDirectoryNotOneLine { path: PathBuf, dir: PathBuf },
    #[error(
        "{}: policyDirectory {directory:?}: the installer puts the policies in {POLICIES_NAME}/ beside {CONFIG_NAME}; use `policyDirectory: {POLICIES_NAME}` (or {DEFAULT_POLICY_DIRECTORY})",
        path.display()
    )]
    PolicyDirectoryElsewhere { path: PathBuf, directory: String },
    /// The in-memory copy of an edited configuration could not be made.
    #[error("memfd_create: {0}")]
    MemfdCreate(#[source] nix::Error),
    #[error("memfd: {0}")]
    Memfd(#[source] std::io::Error),
    #[error("cannot lock {}: {source}", path.display())]
    Lock { path: PathBuf, source: nix::Error },
    #[error("cannot exchange {} with a symlink: {source}", path.display())]
    Exchange {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not valid: {source}", path.display())]
    InvalidStatus {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// The broken bindings as one line.
fn join(broken: &[Broken]) -> String {
    broken
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// `root` + an absolute path.
pub fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// A policy file name as the configuration loader reads it: not hidden,
/// `*.yaml`, `*.yml` or `*.json`.
pub fn is_policy_name(name: &str) -> bool {
    !name.starts_with('.')
        && Path::new(name)
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
}

/// A configuration and its policies, in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicySet {
    pub config: Vec<u8>,
    /// File name in policies.d → content.
    pub policies: BTreeMap<String, Vec<u8>>,
}

impl PolicySet {
    /// `sha256:<hex>` of the set (see the module documentation).
    pub fn digest(&self) -> String {
        let mut hash = Sha256::new();
        let mut entry = |name: &str, bytes: &[u8]| {
            hash.update(name.as_bytes());
            hash.update([0u8]);
            hash.update((bytes.len() as u64).to_be_bytes());
            hash.update(bytes);
        };
        entry(CONFIG_NAME, &self.config);
        for (name, bytes) in &self.policies {
            entry(&format!("{POLICIES_NAME}/{name}"), bytes);
        }
        let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }

    /// A configuration file and the policy files of a directory (the
    /// configuration itself skipped when it lies there, as the loader does).
    pub fn read(config: &Path, policy_dir: &Path) -> Result<PolicySet, Error> {
        let bytes = read_bounded(config, POLICY_LIMIT)?;
        let own = config.canonicalize().ok();
        let mut policies = BTreeMap::new();
        let entries = std::fs::read_dir(policy_dir).map_err(ctx("read", policy_dir))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if !is_policy_name(&name) || (own.is_some() && path.canonicalize().ok() == own) {
                continue;
            }
            let content = read_bounded(&path, POLICY_LIMIT)?;
            policies.insert(name, content);
        }
        Ok(PolicySet {
            config: bytes,
            policies,
        })
    }
}

/// Why a source could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// kubelet swapped `..data` while it was read: read again.
    #[error("the source changed while it was read")]
    Changed,
    /// The source cannot make a set (no config.yaml, unreadable file…).
    #[error(transparent)]
    Invalid(Error),
}

/// A consistent snapshot of a source directory: `config.yaml` and every
/// other `*.yaml`/`*.yml`/`*.json` file as a policy. With kubelet's layout
/// the files are read from the directory `..data` points at, and the link
/// is checked to be unchanged afterwards, so a swap mid-read never mixes
/// two versions. Hidden names, subdirectories and other files are skipped.
pub fn read_source(dir: &Path) -> Result<PolicySet, SourceError> {
    let data = dir.join(KUBELET_DATA);
    let link = std::fs::read_link(&data).ok();
    let base = link
        .as_ref()
        .map_or_else(|| dir.to_path_buf(), |t| dir.join(t));
    let moved = || link.is_some() && std::fs::read_link(&data).ok() != link;
    let fail = |e: Error| {
        if moved() {
            SourceError::Changed
        } else {
            SourceError::Invalid(e)
        }
    };
    let entries = std::fs::read_dir(&base).map_err(|e| fail(ctx("read", &base)(e).into()))?;
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    let mut set = PolicySet::default();
    let mut config = None;
    for name in names {
        let path = base.join(&name);
        let meta = std::fs::metadata(&path).map_err(|e| fail(ctx("read", &path)(e).into()))?;
        if meta.is_dir() || (name != CONFIG_NAME && !is_policy_name(&name)) {
            continue;
        }
        let bytes = read_bounded(&path, POLICY_LIMIT).map_err(|e| fail(e.into()))?;
        if name == CONFIG_NAME {
            config = Some(bytes);
        } else {
            set.policies.insert(name, bytes);
        }
    }
    if moved() {
        return Err(SourceError::Changed);
    }
    set.config = config.ok_or_else(|| {
        SourceError::Invalid(Error::NoConfig {
            dir: dir.to_path_buf(),
        })
    })?;
    Ok(set)
}

/// What changes when a source changes: kubelet's `..data` target and each
/// file's size, mtime and inode. Cheap enough to poll every few seconds.
pub fn fingerprint(dir: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let mut out = std::fs::read_link(dir.join(KUBELET_DATA))
        .map(|t| t.display().to_string())
        .unwrap_or_default();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    for name in names {
        match std::fs::metadata(dir.join(&name)) {
            Ok(m) => out.push_str(&format!(
                "\n{name} {} {}.{} {}",
                m.len(),
                m.mtime(),
                m.mtime_nsec(),
                m.ino()
            )),
            Err(_) => out.push_str(&format!("\n{name} gone")),
        }
    }
    out
}

/// What a valid set holds, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub policies: usize,
    pub bindings: usize,
    pub mode: Mode,
}

/// `policyDirectory` of a configuration text: `Some(None)` when absent,
/// `None` when the text is not a mapping with a string there (the loader
/// then names the error).
fn policy_directory(text: &str) -> Option<Option<String>> {
    let value: Value = serde_saphyr::from_str(text).ok()?;
    match value.as_object()?.get("policyDirectory") {
        None => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => None,
    }
}

/// `path` without `.` components, for comparing what a user wrote.
fn plain(path: &str) -> PathBuf {
    Path::new(path)
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect()
}

/// The configuration text with `policyDirectory` set to `dir`: the one
/// top-level `policyDirectory:` line replaced (or, when absent, added at the
/// end), so every other line keeps its number for error messages. `None`
/// when that cannot be done faithfully: the edited text must parse to the
/// same document but for that key.
fn with_policy_directory(text: &str, dir: &Path) -> Option<String> {
    let dir_text = dir.to_str()?;
    let line = format!("policyDirectory: {}", serde_json::to_string(dir_text).ok()?);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let found: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("policyDirectory:"))
        .collect();
    let edited = match found[..] {
        [] => {
            let mut t = text.to_string();
            if !t.is_empty() && !t.ends_with('\n') {
                t.push('\n');
            }
            t + &line + "\n"
        }
        [i] => {
            let mut t = String::new();
            for (j, l) in lines.iter().enumerate() {
                if j == i {
                    t.push_str(&line);
                    if l.ends_with('\n') {
                        t.push('\n');
                    }
                } else {
                    t.push_str(l);
                }
            }
            t
        }
        _ => return None,
    };
    let mut before: Value = serde_saphyr::from_str(text).ok()?;
    let mut after: Value = serde_saphyr::from_str(&edited).ok()?;
    let after_map = after.as_object_mut()?;
    if after_map.remove("policyDirectory")? != Value::String(dir_text.to_string()) {
        return None;
    }
    before.as_object_mut()?.remove("policyDirectory");
    (before == after).then_some(edited)
}

/// Load the configuration at `path` exactly as `lint --config PATH` does.
fn load_path(path: &Path) -> Result<Sources, PolicyError> {
    Sources::load(&Flags {
        config: Some(path.to_path_buf()),
        ..Default::default()
    })
}

/// `error` naming `to` where it named the file `from`.
fn renamed(mut error: PolicyError, from: &str, to: &str) -> PolicyError {
    error.file = error.file.replace(from, to);
    error.message = error.message.replace(from, to);
    error
}

/// Load the configuration at `path` with its policy directory replaced by
/// `dir`, nothing written anywhere: the edited text is handed to the loader
/// as an anonymous memory file (`/proc/self/fd/N`), and error messages name
/// `path` again.
fn load_with_policy_directory(path: &Path, text: &str, dir: &Path) -> Result<Sources, Error> {
    let edited =
        with_policy_directory(text, dir).ok_or_else(|| Error::PolicyDirectoryNotOneLine {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
        })?;
    let fd = nix::sys::memfd::memfd_create(
        "oci-psp-hook-config",
        nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
    )
    .map_err(Error::MemfdCreate)?;
    let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let mut file = File::from(fd);
    // A memfd starts world-writable (0777), which the loader refuses.
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(Error::Memfd)?;
    }
    file.write_all(edited.as_bytes()).map_err(Error::Memfd)?;
    let shown = path.display().to_string();
    let mut result =
        load_path(Path::new(&proc_path)).map_err(|e| renamed(e, &proc_path, &shown).into());
    drop(file);
    if let Ok(Sources::Config(c)) = &mut result {
        c.path = path.to_path_buf();
        for b in &mut c.broken {
            b.error.file = b.error.file.replace(&proc_path, &shown);
        }
    }
    result
}

/// A loaded configuration that `lint` would pass, summed up.
fn summarize(sources: Sources, path: &Path) -> Result<Summary, Error> {
    match sources {
        Sources::Config(c) if !c.broken.is_empty() => Err(Error::Broken(c.broken)),
        Sources::Config(c) => Ok(Summary {
            policies: c.policies.len(),
            bindings: c.bindings.len(),
            mode: c.mode,
        }),
        _ => Err(Error::NotAConfiguration {
            path: path.to_path_buf(),
        }),
    }
}

/// Validate a staged set (`DIR/config.yaml` + `DIR/policies.d/`) together,
/// as `lint --config DIR/config.yaml` would with the policy directory being
/// `DIR/policies.d`, without changing a byte of it:
/// - `policyDirectory: policies.d` (relative; recommended) resolves against
///   the staged config.yaml by itself: the staged file is loaded as it is;
/// - `policyDirectory: /etc/oci-psp-hook/policies.d`, or no policyDirectory
///   (that is the default), names the installed location, which once this
///   set is active is its policies.d: the set is checked with that one line
///   pointing at the staged policies.d instead (an in-memory copy);
/// - anything else is refused: the installer syncs the source's policies
///   into policies.d and nowhere else, so the hook would read policies that
///   no validation covered.
pub fn validate_staged(dir: &Path) -> Result<Summary, Error> {
    let path = dir.join(CONFIG_NAME);
    let policies = dir.join(POLICIES_NAME);
    let text = read_bounded(&path, POLICY_LIMIT)
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    let directory = text.as_deref().and_then(policy_directory);
    let sources = match (&text, directory) {
        (Some(text), Some(None)) => load_with_policy_directory(&path, text, &policies)?,
        (Some(text), Some(Some(d))) if plain(&d) == Path::new(DEFAULT_POLICY_DIRECTORY) => {
            load_with_policy_directory(&path, text, &policies)?
        }
        (Some(_), Some(Some(d))) if plain(&d) == Path::new(POLICIES_NAME) => load_path(&path)?,
        (Some(_), Some(Some(d))) => {
            return Err(Error::PolicyDirectoryElsewhere { path, directory: d });
        }
        // Not YAML, not a mapping…: the loader says what is wrong.
        _ => load_path(&path)?,
    };
    summarize(sources, &path)
}

/// Where the configuration at `config` (a path already under `root`) finds
/// its policies on the installation under `root`: an absolute
/// policyDirectory (or the default) is taken under the root, a relative one
/// against the configuration's directory.
pub fn policy_dir_under(root: &Path, config: &Path) -> PathBuf {
    let text = read_bounded(config, POLICY_LIMIT)
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    let dir = text
        .as_deref()
        .and_then(policy_directory)
        .flatten()
        .unwrap_or_else(|| DEFAULT_POLICY_DIRECTORY.to_string());
    if Path::new(&dir).is_absolute() {
        under(root, &dir)
    } else {
        atomic::parent(config).join(dir)
    }
}

/// Load the configuration at `config` (a path already under `root`) as the
/// hook on that installation would: an absolute policyDirectory is read
/// under `root`.
pub fn load_under(root: &Path, config: &Path) -> Result<Sources, Error> {
    let text = read_bounded(config, POLICY_LIMIT)
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    let directory = text.as_deref().and_then(policy_directory);
    match (&text, directory) {
        (Some(text), Some(d)) if root != Path::new("/") => {
            let d = d.unwrap_or_else(|| DEFAULT_POLICY_DIRECTORY.to_string());
            if Path::new(&d).is_absolute() {
                load_with_policy_directory(config, text, &under(root, &d))
            } else {
                Ok(load_path(config)?)
            }
        }
        _ => Ok(load_path(config)?),
    }
}

/// The digest of the set the hook on the installation under `root` reads
/// from the configuration `config` (a path already under `root`): that
/// file and its policy directory. `None` without a configuration.
pub fn active_digest(root: &Path, config: &Path) -> Option<Result<String, Error>> {
    if std::fs::symlink_metadata(config).is_err() {
        return None;
    }
    Some(PolicySet::read(config, &policy_dir_under(root, config)).map(|s| s.digest()))
}

/// `doctor`'s view of the installer's status file: `None` when no
/// installer synced here (a package install), else whether the source's set
/// is the active one, and why not. `digest` is the active set's digest as
/// `doctor` computed it, when it reads the installer's configuration.
pub fn status_check(root: &Path, digest: Option<&str>) -> Option<(bool, String)> {
    let path = under(root, STATUS_PATH);
    let status = match Status::read(root)? {
        Ok(status) => status,
        Err(e) => return Some((false, e.to_string())),
    };
    let active = status.active.as_deref().unwrap_or("none");
    if !status.ok {
        return Some((
            false,
            format!(
                "the installer refused the policy set of {}{}: {}; the last good set ({active}) stays active",
                status.source,
                status
                    .refused
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default(),
                status.error.as_deref().unwrap_or("unknown error"),
            ),
        ));
    }
    if let (Some(recorded), Some(found)) = (status.active.as_deref(), digest)
        && recorded != found
    {
        return Some((
            false,
            format!(
                "the active policy set is {found}, but the installer put {recorded} in place (changed by hand?); {} says so",
                path.display()
            ),
        ));
    }
    Some((true, format!("{} synced from {}", active, status.source)))
}

/// The installed sets under `ROOT/etc/oci-psp-hook`.
pub struct Store {
    pub dir: PathBuf,
}

impl Store {
    pub fn at(root: &Path) -> Store {
        Store {
            dir: under(root, CONFIG_DIR),
        }
    }

    fn versions(&self) -> PathBuf {
        self.dir.join(VERSIONS)
    }

    /// The digest a link (`current`, `previous`) points at.
    fn link_digest(&self, name: &str) -> Option<String> {
        let target = std::fs::read_link(self.dir.join(name)).ok()?;
        let mut parts = target.components();
        match (parts.next(), parts.next(), parts.next()) {
            (Some(Component::Normal(v)), Some(Component::Normal(d)), None) if v == VERSIONS => {
                let d = d.to_str()?;
                d.starts_with("sha256:").then(|| d.to_string())
            }
            _ => None,
        }
    }

    /// The digest of the active set, if the installer put one in place.
    pub fn active(&self) -> Option<String> {
        self.link_digest(CURRENT)
    }

    /// Hold this while changing the store: one installer at a time.
    pub fn lock(&self) -> Result<nix::fcntl::Flock<File>, Error> {
        create_dirs(&self.versions())?;
        let path = self.versions().join(LOCK);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(ctx("open", &path))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, source)| Error::Lock { path, source })
    }

    /// Write a set into a new staging directory (fsynced) and return it.
    pub fn stage(&self, set: &PolicySet) -> Result<PathBuf, Error> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let staged = self.versions().join(format!(
            ".staging-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&staged);
        let policies = staged.join(POLICIES_NAME);
        create_dirs(&policies)?;
        write_durable(&staged.join(CONFIG_NAME), &set.config)?;
        for (name, bytes) in &set.policies {
            write_durable(&policies.join(name), bytes)?;
        }
        fsync_dir(&policies).map_err(ctx("fsync", &policies))?;
        fsync_dir(&staged).map_err(ctx("fsync", &staged))?;
        Ok(staged)
    }

    pub fn discard(&self, staged: &Path) {
        let _ = std::fs::remove_dir_all(staged);
    }

    /// Publish a validated staged set: it becomes `versions/<digest>`,
    /// `current` is swapped to it by one rename, the set it replaces stays
    /// as `previous`, older sets are removed.
    pub fn commit(&self, staged: &Path, digest: &str) -> Result<(), Error> {
        let versions = self.versions();
        let target = versions.join(digest);
        if target.exists() {
            // The same content published before (a rollback): keep it when it
            // is intact, replace it when someone changed it since.
            let intact = PolicySet::read(&target.join(CONFIG_NAME), &target.join(POLICIES_NAME))
                .is_ok_and(|s| s.digest() == digest);
            if intact {
                self.discard(staged);
            } else {
                let stale = versions.join(format!(".stale-{}", std::process::id()));
                std::fs::rename(&target, &stale).map_err(ctx("move aside", &target))?;
                std::fs::rename(staged, &target).map_err(ctx("rename into place", &target))?;
                let _ = std::fs::remove_dir_all(&stale);
            }
        } else {
            std::fs::rename(staged, &target).map_err(ctx("rename into place", &target))?;
        }
        fsync_dir(&versions).map_err(ctx("fsync", &versions))?;
        let old = self.active();
        atomic::replace_symlink(&Path::new(VERSIONS).join(digest), &self.dir.join(CURRENT))?;
        if let Some(old) = old.filter(|o| o != digest) {
            atomic::replace_symlink(&Path::new(VERSIONS).join(old), &self.dir.join(PREVIOUS))?;
        }
        // policies.d before config.yaml: on a first install the hook finds no
        // configuration until both are in place.
        self.fixed_link(POLICIES_NAME)?;
        self.fixed_link(CONFIG_NAME)?;
        self.collect_garbage();
        Ok(())
    }

    /// Make `NAME -> current/NAME`. A regular file there (a configuration
    /// installed by hand or by the package) is replaced by rename; a real
    /// directory is exchanged with the link by renameat2(RENAME_EXCHANGE),
    /// so the path never goes missing.
    fn fixed_link(&self, name: &str) -> Result<(), Error> {
        let path = self.dir.join(name);
        let want = Path::new(CURRENT).join(name);
        match std::fs::symlink_metadata(&path) {
            Ok(m)
                if m.file_type().is_symlink()
                    && std::fs::read_link(&path).ok() == Some(want.clone()) =>
            {
                Ok(())
            }
            Ok(m) if m.is_dir() => {
                let tmp = atomic::beside(&path, "link");
                let _ = std::fs::remove_file(&tmp);
                std::os::unix::fs::symlink(&want, &tmp).map_err(ctx("create symlink", &tmp))?;
                if let Err(source) = exchange(&tmp, &path) {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(Error::Exchange { path, source });
                }
                fsync_dir(&self.dir).map_err(ctx("fsync", &self.dir))?;
                // tmp is now the old directory.
                Ok(std::fs::remove_dir_all(&tmp).map_err(ctx("remove", &tmp))?)
            }
            _ => Ok(atomic::replace_symlink(&want, &path)?),
        }
    }

    /// Remove every version but `current` and `previous`, and leftovers of
    /// interrupted runs (called under the lock: no other installer is
    /// staging).
    fn collect_garbage(&self) {
        let keep: Vec<String> = [self.active(), self.link_digest(PREVIOUS)]
            .into_iter()
            .flatten()
            .collect();
        let Ok(entries) = std::fs::read_dir(self.versions()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == LOCK || keep.contains(&name) {
                continue;
            }
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Create a file with `bytes`, mode 0644, fsynced (inside a staging
/// directory nobody reads yet: no rename needed).
fn write_durable(path: &Path, bytes: &[u8]) -> Result<(), atomic::Error> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .map_err(ctx("create", path))?;
    file.write_all(bytes).map_err(ctx("write", path))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(ctx("chmod", path))?;
    file.sync_all().map_err(ctx("fsync", path))
}

/// The installer's last sync, for `doctor` and the readiness probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The source's current set is the active one.
    pub ok: bool,
    /// Seconds since the epoch.
    pub time: u64,
    pub source: String,
    /// The active set's digest (none: nothing installed yet; the hook then
    /// applies builtin:baseline).
    pub active: Option<String>,
    /// The digest of the source's set that was refused.
    pub refused: Option<String>,
    pub error: Option<String>,
    /// The installer's version.
    pub version: String,
}

impl Status {
    pub fn write(&self, root: &Path) -> Result<(), Error> {
        let path = under(root, STATUS_PATH);
        create_dirs(atomic::parent(&path))?;
        let text = serde_json::to_string_pretty(self)? + "\n";
        Ok(atomic::write_file(&path, text.as_bytes(), 0o644)?)
    }

    /// `None` when no installer ever synced on this root.
    pub fn read(root: &Path) -> Option<Result<Status, Error>> {
        let path = under(root, STATUS_PATH);
        match read_bounded(&path, POLICY_LIMIT) {
            Err(InputError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                None
            }
            Err(e) => Some(Err(e.into())),
            Ok(bytes) => Some(
                serde_json::from_slice(&bytes)
                    .map_err(|source| Error::InvalidStatus { path, source }),
            ),
        }
    }
}

/// renameat2(RENAME_EXCHANGE) as a system call: the C libraries of the
/// static build (musl) have no wrapper for it.
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    };
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: both paths are NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESTRICTED: &str = include_str!("../examples/restricted-psp.yaml");
    const HEADER: &str = "apiVersion: oci-psp-hook/v1alpha1\nkind: HookConfiguration\n";

    struct Dir(tempfile::TempDir);

    impl Dir {
        fn new(tag: &str) -> Dir {
            use std::os::unix::fs::PermissionsExt;
            let dir = tempfile::Builder::new()
                .prefix(&format!("psp-set-{tag}-"))
                .tempdir()
                .unwrap();
            // 0755 as create_dirs made it: what is read below is judged
            // with every directory above
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            Dir(dir)
        }

        fn path(&self) -> &Path {
            self.0.path()
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.path().join(name);
            create_dirs(atomic::parent(&path)).unwrap();
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    fn set(config: &str) -> PolicySet {
        PolicySet {
            config: config.as_bytes().to_vec(),
            policies: [(
                "restricted-psp.yaml".to_string(),
                RESTRICTED.as_bytes().to_vec(),
            )]
            .into(),
        }
    }

    #[test]
    fn digest_depends_on_names_and_contents_only() {
        let a = set(HEADER);
        assert_eq!(a.digest(), set(HEADER).digest());
        assert!(a.digest().starts_with("sha256:") && a.digest().len() == 7 + 64);
        let mut renamed = a.clone();
        let p = renamed.policies.remove("restricted-psp.yaml").unwrap();
        renamed.policies.insert("other.yaml".into(), p);
        assert_ne!(a.digest(), renamed.digest());
        // Moving bytes between name and content changes the digest.
        let b = PolicySet {
            config: b"ab".to_vec(),
            policies: BTreeMap::new(),
        };
        let c = PolicySet {
            config: b"a".to_vec(),
            policies: [("b".to_string(), Vec::new())].into(),
        };
        assert_ne!(b.digest(), c.digest());
        // The empty set has a fixed digest: sha256 of "config.yaml\0" + 8 zero bytes.
        let mut h = Sha256::new();
        h.update(b"config.yaml\0\0\0\0\0\0\0\0\0");
        let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(PolicySet::default().digest(), format!("sha256:{hex}"));
    }

    #[test]
    fn policy_directory_line_is_replaced_in_place() {
        let dir = Path::new("/tmp/x/policies.d");
        let text = format!(
            "{HEADER}# comment\npolicyDirectory: /etc/oci-psp-hook/policies.d # here\nmode: audit\n"
        );
        let edited = with_policy_directory(&text, dir).unwrap();
        assert_eq!(edited.lines().count(), text.lines().count());
        assert!(edited.contains("policyDirectory: \"/tmp/x/policies.d\"\nmode: audit\n"));
        // absent: appended
        let edited = with_policy_directory(HEADER, dir).unwrap();
        assert!(
            edited.ends_with("policyDirectory: \"/tmp/x/policies.d\"\n"),
            "{edited}"
        );
        // flow style or a block scalar cannot be edited faithfully
        assert!(with_policy_directory("{apiVersion: x, policyDirectory: /y}", dir).is_none());
        assert!(
            with_policy_directory(&format!("{HEADER}policyDirectory: >-\n  /etc/y\n"), dir)
                .is_none()
        );
        assert!(with_policy_directory("a: 1\n...\n", dir).is_none());
    }

    #[test]
    fn staged_set_validates_with_its_own_policies() {
        for directory in [
            "policyDirectory: policies.d\n",
            "policyDirectory: ./policies.d/\n",
            "policyDirectory: /etc/oci-psp-hook/policies.d\n",
            "",
        ] {
            let d = Dir::new("valid");
            d.write("policies.d/restricted-psp.yaml", RESTRICTED);
            d.write(
                "config.yaml",
                &format!("{HEADER}{directory}bindings:\n  - namespaces: [a]\n    policies: [restricted]\n"),
            );
            let summary =
                validate_staged(d.path()).unwrap_or_else(|e| panic!("{directory:?}: {e}"));
            assert_eq!(summary.policies, 1, "{directory:?}");
            assert_eq!(summary.bindings, 1);
            assert_eq!(summary.mode, Mode::Enforce);
        }
    }

    #[test]
    fn staged_set_errors_name_the_staged_file() {
        let d = Dir::new("invalid");
        d.write("policies.d/restricted-psp.yaml", RESTRICTED);
        // A binding to a policy the set lacks, with the default directory:
        // the line number is the real one.
        d.write(
            "config.yaml",
            &format!("{HEADER}bindings:\n  - namespaces: [a]\n    policies: [nosuch]\n"),
        );
        let e = validate_staged(d.path()).unwrap_err();
        assert!(matches!(e, Error::Broken(_)), "{e:?}");
        let e = e.to_string();
        assert!(e.contains("\"nosuch\" does not exist"), "{e}");
        assert!(
            e.contains(&d.path().join("config.yaml").display().to_string()),
            "{e}"
        );
        assert!(!e.contains("/proc/self/fd"), "{e}");
        assert!(e.contains(":5"), "line of the binding: {e}");
        // A policy directory elsewhere is refused.
        d.write(
            "config.yaml",
            &format!("{HEADER}policyDirectory: /opt/psp\n"),
        );
        let e = validate_staged(d.path()).unwrap_err();
        assert!(matches!(e, Error::PolicyDirectoryElsewhere { .. }), "{e:?}");
        assert!(
            e.to_string().contains("policyDirectory \"/opt/psp\""),
            "{e}"
        );
        // An invalid policy.
        d.write("policies.d/bad.yaml", "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata: {name: bad}\nspec: {privileged: maybe}\n");
        d.write("config.yaml", HEADER);
        let e = validate_staged(d.path()).unwrap_err().to_string();
        assert!(e.contains("bad.yaml"), "{e}");
        // Not YAML at all.
        d.write("config.yaml", "{{{");
        assert!(validate_staged(d.path()).is_err());
    }

    #[test]
    fn kubelet_layout_is_read_through_data() {
        let d = Dir::new("source");
        d.write("..2026_11_26_01/config.yaml", HEADER);
        d.write("..2026_11_26_01/restricted-psp.yaml", RESTRICTED);
        d.write("..2026_11_26_01/README.md", "not a policy");
        std::os::unix::fs::symlink("..2026_11_26_01", d.path().join("..data")).unwrap();
        for name in ["config.yaml", "restricted-psp.yaml", "README.md"] {
            std::os::unix::fs::symlink(format!("..data/{name}"), d.path().join(name)).unwrap();
        }
        let read = read_source(d.path()).unwrap();
        assert_eq!(read, set(HEADER));
        let before = fingerprint(d.path());
        // kubelet's swap: a new timestamped directory, then ..data renamed.
        d.write(
            "..2026_11_26_02/config.yaml",
            &format!("{HEADER}mode: audit\n"),
        );
        d.write("..2026_11_26_02/restricted-psp.yaml", RESTRICTED);
        std::os::unix::fs::symlink("..2026_11_26_02", d.path().join("..data_tmp")).unwrap();
        std::fs::rename(d.path().join("..data_tmp"), d.path().join("..data")).unwrap();
        std::fs::remove_dir_all(d.path().join("..2026_11_26_01")).unwrap();
        assert_ne!(fingerprint(d.path()), before);
        let read = read_source(d.path()).unwrap();
        assert_eq!(read.config, format!("{HEADER}mode: audit\n").as_bytes());
        assert_eq!(read.policies.len(), 1, "README.md is skipped");
        // Without config.yaml there is no set.
        let empty = Dir::new("empty");
        assert!(
            matches!(read_source(empty.path()), Err(SourceError::Invalid(Error::NoConfig { dir })) if dir == empty.path())
        );
    }

    #[test]
    fn store_swaps_and_keeps_previous() {
        let root = Dir::new("store");
        let store = Store::at(root.path());
        let _lock = store.lock().unwrap();
        let mut digests = Vec::new();
        for mode in ["enforce", "audit", "enforce", "audit"] {
            let s = set(&format!(
                "{HEADER}policyDirectory: policies.d\nmode: {mode}\n"
            ));
            let staged = store.stage(&s).unwrap();
            validate_staged(&staged).unwrap();
            store.commit(&staged, &s.digest()).unwrap();
            assert_eq!(store.active(), Some(s.digest()));
            let config = store.dir.join(CONFIG_NAME);
            let installed =
                PolicySet::read(&config, &policy_dir_under(root.path(), &config)).unwrap();
            assert_eq!(installed, s);
            digests.push(s.digest());
        }
        assert_eq!(store.link_digest(PREVIOUS).as_ref(), Some(&digests[2]));
        // Only current and previous stay (a rollback reuses the same digest).
        let mut left: Vec<String> = std::fs::read_dir(store.versions())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != LOCK)
            .collect();
        left.sort();
        let mut want = vec![digests[0].clone(), digests[1].clone()];
        want.sort();
        assert_eq!(left, want);
    }

    #[test]
    fn legacy_files_become_links() {
        let root = Dir::new("legacy");
        root.write("etc/oci-psp-hook/config.yaml", HEADER);
        root.write("etc/oci-psp-hook/policies.d/old.yaml", RESTRICTED);
        let store = Store::at(root.path());
        let s = set(&format!("{HEADER}mode: audit\n"));
        let staged = store.stage(&s).unwrap();
        store.commit(&staged, &s.digest()).unwrap();
        for name in [CONFIG_NAME, POLICIES_NAME] {
            assert_eq!(
                std::fs::read_link(store.dir.join(name)).unwrap(),
                Path::new(CURRENT).join(name)
            );
        }
        assert!(store.dir.join("policies.d/restricted-psp.yaml").exists());
        let leftovers: Vec<_> = std::fs::read_dir(&store.dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n.to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn load_under_a_root_reads_the_roots_policies() {
        let root = Dir::new("rooted");
        root.write("etc/oci-psp-hook/policies.d/r.yaml", RESTRICTED);
        let config = root.write(
            "etc/oci-psp-hook/config.yaml",
            &format!("{HEADER}policyDirectory: /etc/oci-psp-hook/policies.d\ndefaultPolicies: [restricted]\n"),
        );
        assert_eq!(
            policy_dir_under(root.path(), &config),
            root.path().join("etc/oci-psp-hook/policies.d")
        );
        match load_under(root.path(), &config).unwrap() {
            Sources::Config(c) => {
                assert!(c.broken.is_empty(), "{:?}", c.broken);
                assert!(c.policies.contains_key("restricted"));
            }
            _ => panic!("not a configuration"),
        }
    }

    #[test]
    fn status_round_trips() {
        let root = Dir::new("status");
        assert!(Status::read(root.path()).is_none());
        let status = Status {
            ok: false,
            time: 1,
            source: "/config".into(),
            active: Some("sha256:00".into()),
            refused: Some("sha256:11".into()),
            error: Some("bad".into()),
            version: "0.1.0".into(),
        };
        status.write(root.path()).unwrap();
        assert_eq!(Status::read(root.path()).unwrap().unwrap(), status);
    }
}
