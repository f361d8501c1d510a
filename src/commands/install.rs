//! `install`: put the hook on a node (under `--root`, `/host` in the
//! DaemonSet) and keep its policies in step with a source directory (a
//! mounted ConfigMap).
//!
//! Order, each step atomic (written beside, fsynced, renamed, directory
//! fsynced):
//! 1. with `--config-source`, the policy set: validated as a whole, then
//!    published by one rename (see [`crate::policy_set`]), so the hook is
//!    never activated before its policy is in place;
//! 2. the binary, `ROOT/usr/libexec/oci/hooks.d/oci-psp-hook` (a copy of
//!    this executable);
//! 3. only then the hooks.d file, `ROOT/usr/share/containers/oci/hooks.d/
//!    oci-psp-hook.json`: CRI-O and podman skip a hook whose binary is
//!    missing, silently;
//! 4. with `--containerd-base-spec`, `ROOT/etc/containerd/oci-psp-hook-base-spec.json`.
//!
//! A new policy set that does not lint clean is refused: the last good one
//! stays, the refusal goes to stderr and syslog/journald and into
//! `ROOT/run/oci-psp-hook/install-status.json` (which `doctor` fails on),
//! and a one-shot run exits 2. `--watch` then follows the source (kubelet's
//! `..data` symlink and the files' mtimes, every 2 s) until SIGTERM/SIGINT,
//! and exits 0.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::base_spec::{self, DEFAULT_HOOK_PATH};
use crate::atomic_files::{self as atomic, create_dirs};
use crate::input::InputError;
use crate::policy_set::{self, PolicySet, SourceError, Status, Store, under};

/// Why a step of the installation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot find my executable: {0}")]
    NoExecutable(#[source] std::io::Error),
    #[error(transparent)]
    File(#[from] atomic::Error),
    #[error(transparent)]
    LogKey(#[from] crate::log_key::Error),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("cannot run {}: {source}", binary.display())]
    CannotRun {
        binary: PathBuf,
        source: std::io::Error,
    },
    #[error("{} --version did not answer", binary.display())]
    NoAnswer { binary: PathBuf },
    #[error("{} --version printed {printed:?}, not an oci-psp-hook version", binary.display())]
    NotAVersion { binary: PathBuf, printed: String },
    #[error(transparent)]
    BaseSpec(#[from] base_spec::Error),
    #[error(transparent)]
    Serialize(serde_json::Error),
    #[error("{0}: {CTR_HINT}")]
    NoCtr(#[source] base_spec::Error),
    #[error(transparent)]
    PolicySet(#[from] policy_set::Error),
    #[error("cannot send to journald: {0}")]
    Journald(#[source] std::io::Error),
    #[error("cannot send to syslog: {0}")]
    Syslog(#[source] syslog::Error),
}

const CTR_HINT: &str = "--containerd-base-spec needs containerd's default spec from `ctr oci spec`; \
                        install containerd's ctr in PATH, or pass --containerd-base-spec-from FILE \
                        with that spec (the container image has no ctr)";

/// The hooks.d file, as shipped in the repository.
pub const HOOKS_FILE: &str = "/usr/share/containers/oci/hooks.d/oci-psp-hook.json";
pub const HOOKS_FILE_CONTENT: &str = include_str!("../../hooks.d/oci-psp-hook.json");
/// The base spec for containerd's CRI `base_runtime_spec`.
pub const BASE_SPEC: &str = "/etc/containerd/oci-psp-hook-base-spec.json";
/// How often `--watch` looks at the source.
pub const POLL: Duration = Duration::from_secs(2);

pub struct Options {
    pub root: PathBuf,
    pub config_source: Option<PathBuf>,
    pub containerd_base_spec: bool,
    /// The spec to add the hook to instead of `ctr oci spec`.
    pub base_spec_from: Option<PathBuf>,
    pub watch: bool,
}

pub fn run(opts: &Options) -> i32 {
    if opts.watch {
        stop_on_signals();
    }
    if !opts.root.is_dir() {
        eprintln!(
            "oci-psp-hook: install: the root {} is not a directory",
            opts.root.display()
        );
        return 2;
    }
    let mut syncer = opts
        .config_source
        .as_ref()
        .map(|source| Syncer::new(&opts.root, source));
    let mut synced = true;
    if let Some(s) = syncer.as_mut() {
        synced = s.sync_settled();
    }
    type Step = fn(&Path) -> Result<String, Error>;
    let steps: [(&str, Step); 3] = [
        ("binary", install_binary),
        ("log key", install_log_key),
        ("hooks.d file", install_hooks_file),
    ];
    for (what, step) in steps {
        match step(&opts.root) {
            Ok(done) => println!("oci-psp-hook: install: {done}"),
            Err(e) => {
                eprintln!("oci-psp-hook: install: {what}: {e}");
                return 2;
            }
        }
    }
    if opts.containerd_base_spec {
        match install_base_spec(&opts.root, opts.base_spec_from.as_deref()) {
            Ok(done) => println!("oci-psp-hook: install: {done}"),
            Err(e) => {
                eprintln!("oci-psp-hook: install: containerd base spec: {e}");
                return 2;
            }
        }
    }
    let Some(mut syncer) = syncer.filter(|_| opts.watch) else {
        return if synced { 0 } else { 2 };
    };
    println!(
        "oci-psp-hook: install: watching {} every {}s",
        syncer.source.display(),
        POLL.as_secs()
    );
    while !stopping() {
        pause(POLL);
        if !stopping() {
            syncer.poll();
        }
    }
    println!("oci-psp-hook: install: stopped by signal");
    0
}

/// Copy this executable to `ROOT/usr/libexec/oci/hooks.d/oci-psp-hook`.
fn install_binary(root: &Path) -> Result<String, Error> {
    let exe = std::env::current_exe().map_err(Error::NoExecutable)?;
    let dest = under(root, DEFAULT_HOOK_PATH);
    create_dirs(atomic::parent(&dest))?;
    atomic::copy_file(&exe, &dest, 0o755)?;
    Ok(format!("installed {}", dest.display()))
}

/// The node's log key (see [`crate::log_key`]), created once, never
/// replaced: records signed before still verify.
fn install_log_key(root: &Path) -> Result<String, Error> {
    let path = under(root, crate::log_key::DEFAULT_PATH);
    Ok(match crate::log_key::create(&path)? {
        true => format!("created the log key {}", path.display()),
        false => format!("kept the log key {}", path.display()),
    })
}

/// `log-key`: [`install_log_key`] alone (the package's postinst).
pub fn log_key(root: &Path) -> i32 {
    match install_log_key(root) {
        Ok(done) => {
            println!("oci-psp-hook: {done}");
            0
        }
        Err(e) => {
            eprintln!("oci-psp-hook: log-key: {e}");
            2
        }
    }
}

fn install_hooks_file(root: &Path) -> Result<String, Error> {
    let dest = under(root, HOOKS_FILE);
    create_dirs(atomic::parent(&dest))?;
    atomic::write_file(&dest, HOOKS_FILE_CONTENT.as_bytes(), 0o644)?;
    Ok(format!("installed {}", dest.display()))
}

/// The version an installed binary reports (`BINARY --version`, within a
/// few seconds), e.g. `0.1.0`.
pub fn binary_version(binary: &Path) -> Result<String, Error> {
    let mut child = Command::new(binary)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|source| Error::CannotRun {
            binary: binary.to_path_buf(),
            source,
        })?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::NoAnswer {
                    binary: binary.to_path_buf(),
                });
            }
        }
    }
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        use std::io::Read;
        let _ = stdout.by_ref().take(4096).read_to_string(&mut out);
    }
    // clap prints "oci-psp-hook 0.1.0".
    match out.trim().strip_prefix("oci-psp-hook ") {
        Some(v) if !v.is_empty() && !v.contains(char::is_whitespace) => Ok(v.to_string()),
        _ => Err(Error::NotAVersion {
            binary: binary.to_path_buf(),
            printed: out.trim().to_string(),
        }),
    }
}

/// containerd's default spec (`ctr oci spec`, or `from`) with the hook in
/// `hooks.createRuntime`.
fn install_base_spec(root: &Path, from: Option<&Path>) -> Result<String, Error> {
    let spec =
        base_spec::generate(from, Path::new(DEFAULT_HOOK_PATH), &[]).map_err(|e| match e {
            base_spec::Error::CtrNotRun(_) | base_spec::Error::CtrFailed { .. } => Error::NoCtr(e),
            other => Error::BaseSpec(other),
        })?;
    let text = serde_json::to_string_pretty(&spec).map_err(Error::Serialize)? + "\n";
    let dest = under(root, BASE_SPEC);
    create_dirs(atomic::parent(&dest))?;
    atomic::write_file(&dest, text.as_bytes(), 0o644)?;
    Ok(format!(
        "installed {} (set it as base_runtime_spec in containerd's config.toml and restart containerd)",
        dest.display()
    ))
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// The source's set is the active one.
    Current,
    Installed(String),
    /// The source changed while read: try again.
    Retry,
    /// Refused (invalid) or failed (I/O): the last good set stays.
    Refused,
}

/// Keeps the installed set in step with one source.
struct Syncer {
    root: PathBuf,
    source: PathBuf,
    store: Store,
    /// The source's fingerprint when last synced.
    seen: Option<String>,
    /// The digest last refused, not to log the same refusal every poll.
    refused: Option<String>,
    /// Whether the status file says ok.
    status_ok: Option<bool>,
}

impl Syncer {
    fn new(root: &Path, source: &Path) -> Syncer {
        Syncer {
            root: root.to_path_buf(),
            source: source.to_path_buf(),
            store: Store::at(root),
            seen: None,
            refused: None,
            status_ok: None,
        }
    }

    /// Sync, reading again while kubelet is mid-swap (a few times).
    fn sync_settled(&mut self) -> bool {
        for _ in 0..20 {
            let fingerprint = policy_set::fingerprint(&self.source);
            match self.sync() {
                Outcome::Retry => pause(Duration::from_millis(100)),
                outcome => {
                    self.seen = Some(fingerprint);
                    return outcome != Outcome::Refused;
                }
            }
        }
        self.refuse(None, "the source kept changing while it was read".into());
        false
    }

    /// In watch mode: sync when the source changed since the last sync.
    fn poll(&mut self) {
        let fingerprint = policy_set::fingerprint(&self.source);
        if self.seen.as_ref() == Some(&fingerprint) {
            return;
        }
        // Retry and I/O failures leave `seen` alone: the next poll tries again.
        match self.sync() {
            Outcome::Retry => {}
            _ => self.seen = Some(fingerprint),
        }
    }

    fn sync(&mut self) -> Outcome {
        let set = match policy_set::read_source(&self.source) {
            Ok(set) => set,
            Err(SourceError::Changed) => return Outcome::Retry,
            Err(SourceError::Invalid(e)) => {
                self.refuse(None, e.to_string());
                return Outcome::Refused;
            }
        };
        let digest = set.digest();
        let lock = match self.store.lock() {
            Ok(lock) => lock,
            Err(e) => {
                self.refuse(Some(&digest), e.to_string());
                return Outcome::Refused;
            }
        };
        let outcome = self.sync_locked(&set, &digest);
        drop(lock);
        outcome
    }

    fn sync_locked(&mut self, set: &PolicySet, digest: &str) -> Outcome {
        if self.store.active().as_deref() == Some(digest) {
            self.refused = None;
            if self.status_ok != Some(true) {
                self.write_status(None, None);
            }
            return Outcome::Current;
        }
        if self.refused.as_deref() == Some(digest) {
            return Outcome::Refused;
        }
        let staged = match self.store.stage(set) {
            Ok(staged) => staged,
            Err(e) => {
                self.refuse(Some(digest), e.to_string());
                return Outcome::Refused;
            }
        };
        let summary = match policy_set::validate_staged(&staged) {
            Ok(summary) => summary,
            Err(e) => {
                let e = self.source_names(&staged, &e.to_string());
                self.store.discard(&staged);
                self.refuse(Some(digest), e);
                return Outcome::Refused;
            }
        };
        if let Err(e) = self.store.commit(&staged, digest) {
            self.store.discard(&staged);
            self.refuse(Some(digest), e.to_string());
            return Outcome::Refused;
        }
        self.refused = None;
        self.write_status(None, None);
        log_event(
            false,
            &format!(
                "installed the policy set {digest} from {}: {} policies, {} bindings, {:?} mode",
                self.source.display(),
                summary.policies,
                summary.bindings,
                summary.mode
            ),
        );
        Outcome::Installed(digest.to_string())
    }

    /// Error messages name the source's files, not the staging copies.
    fn source_names(&self, staged: &Path, message: &str) -> String {
        let source = self.source.display().to_string();
        message
            .replace(
                &staged.join(policy_set::POLICIES_NAME).display().to_string(),
                &source,
            )
            .replace(&staged.display().to_string(), &source)
    }

    /// Log a refusal (once per refused set) and record it in the status file.
    fn refuse(&mut self, digest: Option<&str>, error: String) {
        let active = self.store.active();
        let kept = match &active {
            Some(a) => format!("the last good set {a} stays active"),
            None => "no set was ever installed: the hook applies builtin:baseline".to_string(),
        };
        let which = digest.map(|d| format!(" ({d})")).unwrap_or_default();
        let repeated = digest.is_some() && self.refused.as_deref() == digest;
        if !repeated {
            log_event(
                true,
                &format!(
                    "refused the policy set from {}{which}: {error}; {kept}",
                    self.source.display()
                ),
            );
        }
        self.refused = digest.map(str::to_string);
        self.write_status(digest, Some(error));
    }

    fn write_status(&mut self, refused: Option<&str>, error: Option<String>) {
        let ok = error.is_none();
        let status = Status {
            ok,
            time: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            source: self.source.display().to_string(),
            active: self.store.active(),
            refused: refused.map(str::to_string),
            error,
            version: env!("CARGO_PKG_VERSION").to_string(),
        };
        match status.write(&self.root) {
            Ok(()) => self.status_ok = Some(ok),
            Err(e) => {
                self.status_ok = None;
                eprintln!("oci-psp-hook: install: cannot write the status file: {e}");
            }
        }
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// SIGTERM (the kubelet stopping the pod; PID 1 in a container has no
/// default action for it) and SIGINT end `--watch` cleanly.
fn stop_on_signals() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe).
        if let Err(e) = unsafe { sigaction(signal, &action) } {
            eprintln!("oci-psp-hook: install: cannot handle {signal}: {e}");
        }
    }
}

fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Sleep, waking early when a signal asks to stop.
fn pause(total: Duration) {
    let step = Duration::from_millis(50);
    let mut left = total;
    while !stopping() && !left.is_zero() {
        let now = step.min(left);
        std::thread::sleep(now);
        left -= now;
    }
}

/// One installer event: stderr, and journald or syslog as the hook logs
/// (the same sockets and overrides, [`crate::log::JOURNAL_ENV`],
/// [`crate::log::SOCKET_ENV`]). In a pod without those sockets, stderr
/// (`kubectl logs`) is the log.
pub fn log_event(error: bool, message: &str) {
    let message: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if error {
        eprintln!("oci-psp-hook: install: {message}");
    } else {
        println!("oci-psp-hook: install: {message}");
    }
    let journal = std::env::var_os(crate::log::JOURNAL_ENV).map(PathBuf::from);
    let syslog = std::env::var_os(crate::log::SOCKET_ENV).map(PathBuf::from);
    let _ = match (journal, syslog) {
        (Some(j), _) => to_journald(&j, error, &message),
        (None, Some(s)) => to_syslog(&s, error, &message),
        (None, None) => {
            let j = PathBuf::from("/run/systemd/journal/socket");
            if j.exists() && to_journald(&j, error, &message).is_ok() {
                Ok(())
            } else {
                to_syslog(Path::new("/dev/log"), error, &message)
            }
        }
    };
}

fn to_journald(path: &Path, error: bool, message: &str) -> Result<(), Error> {
    let socket = std::os::unix::net::UnixDatagram::unbound().map_err(Error::Journald)?;
    socket
        .set_write_timeout(Some(Duration::from_millis(250)))
        .map_err(Error::Journald)?;
    let entry = format!(
        "MESSAGE=install: {message}\nPRIORITY={}\nSYSLOG_IDENTIFIER=oci-psp-hook\nOCI_PSP_EVENT={}\n",
        if error { 3 } else { 6 },
        if error { "install-refused" } else { "install" }
    );
    socket
        .send_to(entry.as_bytes(), path)
        .map(|_| ())
        .map_err(Error::Journald)
}

fn to_syslog(path: &Path, error: bool, message: &str) -> Result<(), Error> {
    let formatter = syslog::Formatter3164 {
        facility: syslog::Facility::LOG_DAEMON,
        hostname: None,
        process: "oci-psp-hook".into(),
        pid: std::process::id(),
    };
    let mut logger = syslog::unix_custom(formatter, path).map_err(Error::Syslog)?;
    let message = format!("install: {message}");
    let sent = if error {
        logger.err(message)
    } else {
        logger.info(message)
    };
    sent.map_err(Error::Syslog)
}
