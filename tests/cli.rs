//! The real binary, driven as a runtime and an admin would: exit codes,
//! stderr, stdout and the log record. Every run has a deadline: the hook sits
//! on every container start and must never hang.

mod common;

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_oci-psp-hook");
/// Far above what any run takes (well under a second), low enough to fail
/// instead of hanging CI.
const DEADLINE: Duration = Duration::from_secs(5);

fn manifest(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn restricted_psp() -> PathBuf {
    manifest("examples/restricted-psp.yaml")
}

/// A PSP admitting everything.
const PERMISSIVE: &str = "\
apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata:
  name: permissive
spec:
  privileged: true
  allowPrivilegeEscalation: true
  allowedCapabilities: ['*']
  volumes: ['*']
  hostNetwork: true
  hostPorts:
  - min: 0
    max: 65535
  hostIPC: true
  hostPID: true
  allowedProcMountTypes: [Default, Unmasked]
  allowedUnsafeSysctls: ['*']
  runAsUser:
    rule: RunAsAny
  seLinux:
    rule: RunAsAny
  supplementalGroups:
    rule: RunAsAny
  fsGroup:
    rule: RunAsAny
";

/// A temporary directory with a syslog socket the runs log to; removed on drop.
struct Sandbox {
    dir: PathBuf,
    log: UnixDatagram,
    _temp: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let temp = common::temp_dir("cli");
        let dir = temp.path().to_path_buf();
        let log = UnixDatagram::bind(dir.join("log.sock")).unwrap();
        log.set_read_timeout(Some(DEADLINE)).unwrap();
        Sandbox {
            dir,
            log,
            _temp: temp,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A bundle directory holding a copy of `tests/fixtures/<fixture>.json`.
    fn bundle(&self, name: &str, fixture: &str) -> PathBuf {
        let bundle = self.path(name);
        std::fs::create_dir_all(&bundle).unwrap();
        std::fs::copy(
            manifest(&format!("tests/fixtures/{fixture}.json")),
            bundle.join("config.json"),
        )
        .unwrap();
        bundle
    }

    /// A bundle of a captured podman fixture where podman keeps it,
    /// `<name>/<id>/userdata`, and its runtime id: the id its mounts of
    /// podman's per-container files (`overlay-containers/<id>/userdata/…`)
    /// name, which the hook counts as runtime-managed for that id only.
    fn podman(&self, name: &str, fixture: &str) -> (PathBuf, String) {
        let id = podman_id(fixture);
        let bundle = self.path(name).join(&id).join("userdata");
        std::fs::create_dir_all(&bundle).unwrap();
        std::fs::copy(
            manifest(&format!("tests/fixtures/{fixture}.json")),
            bundle.join("config.json"),
        )
        .unwrap();
        (bundle, id)
    }

    /// A podman capture run from a plain bundle, as the hook judges it there:
    /// its rootfs inside the bundle and podman's per-container files left
    /// out (the hook takes them, and podman's image mount, as the
    /// container's own only from podman's storage, which a test cannot fake
    /// without writing podman's database). Returns the bundle and the id.
    fn localized(&self, name: &str, fixture: &str) -> (PathBuf, String) {
        let id = podman_id(fixture);
        let bundle = self.path(name).join(&id);
        std::fs::create_dir_all(bundle.join("rootfs")).unwrap();
        let mut config: Value = serde_json::from_str(&fixture_text(fixture)).unwrap();
        config["root"]["path"] = serde_json::json!("rootfs");
        if let Some(mounts) = config["mounts"].as_array_mut() {
            mounts.retain(|m| {
                !m["source"]
                    .as_str()
                    .is_some_and(|s| s.contains("/containers/storage/"))
            });
        }
        std::fs::write(
            bundle.join("config.json"),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();
        (bundle, id)
    }

    /// A configuration beside a `policies.d/` holding the restricted example.
    fn config(&self, body: &str) -> PathBuf {
        self.write(
            "policies.d/restricted-psp.yaml",
            &std::fs::read_to_string(restricted_psp()).unwrap(),
        );
        self.write(
            "config.yaml",
            &format!(
                "apiVersion: oci-psp-hook/v1alpha1\nkind: HookConfiguration\npolicyDirectory: policies.d\n{body}"
            ),
        )
    }

    /// Run the binary logging to this sandbox's socket. Records of earlier
    /// runs are dropped first: a datagram queue that nobody reads fills up
    /// (net.unix.max_dgram_qlen, 10 by default).
    fn run(&self, args: &[&str], stdin: &[u8]) -> Run {
        while self.record(Duration::from_millis(1)).is_some() {}
        let socket = self.path("log.sock");
        run(
            args,
            stdin,
            &[("OCI_PSP_HOOK_LOG_SOCKET", socket.as_os_str())],
        )
    }

    /// Run the hook on an OCI state.
    fn hook(&self, args: &[&str], state: &Value) -> Run {
        let mut all = vec!["hook"];
        all.extend_from_slice(args);
        self.run(&all, state.to_string().as_bytes())
    }

    /// The next log record, if one arrives within `wait`.
    fn record(&self, wait: Duration) -> Option<String> {
        self.log.set_read_timeout(Some(wait)).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match self.log.recv(&mut buf) {
                Ok(n) => return Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return None;
                }
                Err(e) => panic!("log socket: {e} ({:?})", e.kind()),
            }
        }
    }
}

/// The OCI state a runtime passes on stdin.
fn state(id: &str, bundle: &Path, annotations: &[(&str, &str)]) -> Value {
    let annotations: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect();
    serde_json::json!({
        "ociVersion": "1.0.2",
        "id": id,
        "status": "creating",
        "bundle": bundle,
        "annotations": annotations,
    })
}

/// containerd's CRI annotations for `namespace/web-0/app`.
fn containerd(namespace: &str) -> Vec<(&str, &str)> {
    vec![
        ("io.kubernetes.cri.container-type", "container"),
        ("io.kubernetes.cri.sandbox-namespace", namespace),
        ("io.kubernetes.cri.sandbox-name", "web-0"),
        (
            "io.kubernetes.cri.sandbox-uid",
            "0b5e4d4a-5f54-4c36-9a38-7a6a1d0c9d3e",
        ),
        ("io.kubernetes.cri.container-name", "app"),
    ]
}

/// The text of `tests/fixtures/<fixture>.json`.
fn fixture_text(fixture: &str) -> String {
    std::fs::read_to_string(manifest(&format!("tests/fixtures/{fixture}.json"))).unwrap()
}

/// The runtime id of a captured podman container: its mounts of podman's
/// per-container files (`<storage>/overlay-containers/<id>/userdata/…`)
/// keep it.
fn podman_id(fixture: &str) -> String {
    let config: Value = serde_json::from_str(&fixture_text(fixture)).unwrap();
    common::podman_id(&config)
        .unwrap_or_else(|| panic!("{fixture}: no overlay-containers/<id>/ mount source"))
}

/// A runtime id no other run uses, shaped as the runtimes make them (64 hex
/// digits).
fn unique_id() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "0c1e{:012x}{:048x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Whether a test that needs root (a runtime's directory under /run,
/// `chown`) can run; says so when it cannot.
fn root_or_skip(test: &str) -> bool {
    let root = is_root();
    if !root {
        eprintln!("{test}: skipped: needs root");
    }
    root
}

/// Where a CRI runtime keeps the bundle of its container `<id>`.
#[derive(Debug, Clone, Copy)]
enum Layout {
    /// containerd's tasks of a containerd namespace (`k8s.io`: its CRI
    /// plugin's): `/run/containerd/io.containerd.runtime.v2.task/<ns>/<id>`.
    Containerd(&'static str),
    /// containers/storage, CRI-O's and podman's:
    /// `/run/containers/storage/overlay-containers/<id>/userdata`.
    Storage,
}

/// A bundle in a runtime's own directory under /run — where only root can
/// make one — holding `config`. Removed on drop; the directories above it
/// that the tests made go when the last bundle of this process does.
struct RuntimeBundle {
    /// The bundle directory.
    path: PathBuf,
    /// The runtime id, the directory's (or, for `<id>/userdata`, its
    /// parent's) name.
    id: String,
    /// `<id>`: removed whole.
    top: PathBuf,
}

/// The runtime bundles of this process alive, and the directories above
/// them the tests made (outermost first): tests run in parallel, and one
/// must not leave behind a directory another made, nor remove it under
/// another.
static RUNTIME_DIRS: std::sync::Mutex<(usize, Vec<PathBuf>)> =
    std::sync::Mutex::new((0, Vec::new()));

impl RuntimeBundle {
    fn new(layout: Layout, id: &str, config: &str) -> RuntimeBundle {
        let parent = match layout {
            Layout::Containerd(namespace) => {
                Path::new("/run/containerd/io.containerd.runtime.v2.task").join(namespace)
            }
            Layout::Storage => PathBuf::from("/run/containers/storage/overlay-containers"),
        };
        let top = parent.join(id);
        let path = match layout {
            Layout::Containerd(_) => top.clone(),
            Layout::Storage => top.join("userdata"),
        };
        let bundle = RuntimeBundle {
            path,
            id: id.to_string(),
            top,
        };
        let mut dirs = RUNTIME_DIRS.lock().unwrap_or_else(|e| e.into_inner());
        dirs.0 += 1;
        // Another process may remove an empty directory it made between two
        // of our steps: start over then.
        let mut attempts = 0;
        while let Err(e) = bundle.make(&parent, &mut dirs.1) {
            attempts += 1;
            assert!(attempts < 50, "making {}: {e}", bundle.path.display());
        }
        drop(dirs);
        let file = bundle.path.join("config.json");
        std::fs::write(&file, config).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        bundle
    }

    /// Make `parent`'s missing directories, then the bundle's, root's and
    /// mode 0755 as a runtime makes them.
    fn make(&self, parent: &Path, created: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let mut dirs: Vec<&Path> = parent.ancestors().collect();
        dirs.reverse();
        for dir in dirs.into_iter().skip(1) {
            match std::fs::create_dir(dir) {
                Ok(()) => {
                    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
                    created.push(dir.to_path_buf());
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        let _ = std::fs::remove_dir_all(&self.top);
        std::fs::create_dir_all(&self.path)?;
        for dir in [&self.top, &self.path] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        }
        Ok(())
    }
}

impl Drop for RuntimeBundle {
    fn drop(&mut self) {
        let mut dirs = RUNTIME_DIRS.lock().unwrap_or_else(|e| e.into_inner());
        let _ = std::fs::remove_dir_all(&self.top);
        dirs.0 -= 1;
        if dirs.0 == 0 {
            // Only when empty: another process's bundle may be in them.
            for dir in dirs.1.drain(..).rev() {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

/// containerd's CRI plugin's bundle directory: its annotations count.
const K8S: Layout = Layout::Containerd("k8s.io");

/// A fixture without its `linux.namespaces` entry of `typ`: the container
/// shares the host's.
fn without_namespace(fixture: &str, typ: &str) -> String {
    let mut config: Value = serde_json::from_str(&fixture_text(fixture)).unwrap();
    let namespaces = config["linux"]["namespaces"].as_array_mut().unwrap();
    let before = namespaces.len();
    namespaces.retain(|ns| ns["type"] != typ);
    assert_eq!(
        namespaces.len() + 1,
        before,
        "{fixture}: one {typ} namespace"
    );
    config.to_string()
}

/// A fixture with its Kubernetes annotations (what a CRI runtime writes in
/// config.json) set to `annotations`.
fn with_annotations(fixture: &str, annotations: &[(&str, &str)]) -> String {
    let mut config: Value = serde_json::from_str(&fixture_text(fixture)).unwrap();
    let mut map = config["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (k, v) in annotations {
        map.insert(k.to_string(), Value::from(*v));
    }
    config["annotations"] = Value::Object(map);
    config.to_string()
}

use common::Run;

impl Run {
    fn lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }

    /// Exit `code` with exactly one stderr line containing each of `parts`.
    #[track_caller]
    fn blocked(&self, code: i32, parts: &[&str]) {
        assert_eq!(self.code, Some(code), "{self:#?}");
        assert_eq!(self.lines().len(), 1, "one stderr line: {self:#?}");
        for part in parts {
            assert!(self.stderr.contains(part), "{part:?} not in {self:#?}");
        }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:#?}"))
    }
}

/// Run the binary with a deadline (records no log takes go to a directory
/// of this run's own, removed when it ends: a test that reads them names
/// its own in `env`).
fn run(args: &[&str], stdin: &[u8], env: &[(&str, &std::ffi::OsStr)]) -> Run {
    let undelivered = tempfile::Builder::new()
        .prefix("oci-psp-cli-undelivered-")
        .tempdir()
        .unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("OCI_PSP_HOOK_UNDELIVERED_DIR", undelivered.path())
        .envs(env.iter().copied());
    common::run(&mut cmd, stdin, DEADLINE)
}

// ---------------------------------------------------------------- fail closed

#[test]
fn empty_stdin_blocks() {
    let s = Sandbox::new();
    s.run(&["hook", "--profile", "baseline"], b"")
        .blocked(2, &["no OCI state on stdin"]);
    s.run(&["hook", "--profile", "baseline"], b" \n\t\n")
        .blocked(2, &["no OCI state on stdin"]);
}

#[test]
fn garbage_stdin_blocks() {
    let s = Sandbox::new();
    s.run(
        &["hook", "--profile", "baseline"],
        b"\x00\xffnot json at all",
    )
    .blocked(2, &["OCI state on stdin is not valid"]);
    s.run(&["hook", "--profile", "baseline"], b"{\"id\": \"x\", ")
        .blocked(2, &["OCI state on stdin is not valid"]);
    s.run(&["hook", "--profile", "baseline"], b"\"just a string\"")
        .blocked(2, &["OCI state on stdin is not valid"]);
}

#[test]
fn oversized_stdin_blocks() {
    let s = Sandbox::new();
    // Valid JSON start, then 5 MiB: the hook stops reading at the bound.
    let mut big = b"{\"id\":\"x\",\"pad\":\"".to_vec();
    big.resize(5 << 20, b'a');
    s.run(&["hook", "--profile", "baseline"], &big)
        .blocked(2, &["OCI state on stdin is larger than 4194304 bytes"]);
}

#[test]
fn deeply_nested_stdin_blocks() {
    let s = Sandbox::new();
    let nested = "[".repeat(100_000);
    s.run(&["hook", "--profile", "baseline"], nested.as_bytes())
        .blocked(2, &["OCI state on stdin is not valid"]);
    // nested inside a field the hook ignores, then inside annotations
    let nested = format!("{{\"ignored\":{}", "[".repeat(100_000));
    s.run(&["hook", "--profile", "baseline"], nested.as_bytes())
        .blocked(2, &["OCI state on stdin is not valid"]);
    let nested = format!(
        "{{\"annotations\":{{\"a\":{}}}}}",
        "{\"a\":".repeat(100_000)
    );
    s.run(&["hook", "--profile", "baseline"], nested.as_bytes())
        .blocked(2, &["OCI state on stdin is not valid"]);
}

#[test]
fn state_without_bundle_blocks() {
    let s = Sandbox::new();
    let run = s.run(
        &["hook", "--profile", "baseline"],
        br#"{"ociVersion":"1.0.2","id":"c-nobundle","status":"creating","pid":0}"#,
    );
    run.blocked(2, &["OCI state on stdin has no bundle", "c-nobundle"]);
    s.run(
        &["hook", "--profile", "baseline"],
        br#"{"id":"c-nobundle","bundle":""}"#,
    )
    .blocked(2, &["OCI state on stdin has no bundle"]);
    // a bundle of the wrong type is not a bundle
    s.run(
        &["hook", "--profile", "baseline"],
        br#"{"id":"c-nobundle","bundle":42}"#,
    )
    .blocked(2, &["OCI state on stdin is not valid"]);
}

#[test]
fn missing_bundle_blocks() {
    let s = Sandbox::new();
    let bundle = s.path("no-such-bundle");
    let run = s.hook(&["--profile", "baseline"], &state("c1", &bundle, &[]));
    // the bundle directory is what cannot be read (its trust is checked
    // first), not config.json
    run.blocked(
        2,
        &[
            "container c1 blocked",
            &format!(
                "cannot read {}: No such file or directory",
                bundle.display()
            ),
        ],
    );
    assert!(!run.stderr.contains("config.json"), "{run:#?}");
}

/// The hook reads config.json after the runtime did: whoever could change
/// the bundle in between could have it judge another config.json than the
/// one the runtime applies. So the bundle, every directory above it and
/// config.json must be root's (or the hook's user's) and writable by no one
/// else — a sticky directory such as /tmp excepted — and config.json must
/// be a regular file, not a link. Otherwise: blocked, whatever the verdict.
#[test]
fn a_bundle_others_can_change_is_refused() {
    let s = Sandbox::new();
    let (bundle, id) = s.localized("b", "podman-default");
    let (deny, deny_id) = s.localized("d", "podman-host-pid");
    let config = bundle.join("config.json");
    let above = s.path("b");
    let real = |p: &Path| p.canonicalize().unwrap().display().to_string();
    let chmod = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    let hook =
        |bundle: &Path, id: &str| s.hook(&["--profile", "baseline"], &state(id, bundle, &[]));
    let refused = |path: &str, why: &str| {
        hook(&bundle, &id).blocked(
            2,
            &[
                &format!("container {id} blocked: {path} is {why}: refusing the container"),
                "chown root, chmod go-w",
            ],
        );
    };
    // The twins: root's, 0644 and 0755 — the verdict as usual.
    let as_usual = || {
        let run = hook(&bundle, &id);
        assert_eq!(run.code, Some(0), "{run:#?}");
        assert_eq!(run.stderr, "", "{run:#?}");
        hook(&deny, &deny_id).blocked(1, &["hostPID: "]);
    };
    for dir in [s.dir.as_path(), &above, bundle.parent().unwrap(), &bundle] {
        chmod(dir, 0o755);
    }
    chmod(&config, 0o644);
    as_usual();

    // config.json writable by everyone, or by its group
    chmod(&config, 0o666);
    refused(
        &config.display().to_string(),
        "writable by everyone (mode 666)",
    );
    chmod(&config, 0o664);
    refused(
        &config.display().to_string(),
        "writable by its group (mode 664)",
    );
    chmod(&config, 0o644);
    as_usual();

    // the bundle directory writable by everyone, or by its group
    chmod(&bundle, 0o777);
    refused(&real(&bundle), "writable by everyone (mode 777)");
    chmod(&bundle, 0o775);
    refused(&real(&bundle), "writable by its group (mode 775)");
    chmod(&bundle, 0o755);
    // a directory above it
    chmod(&above, 0o777);
    refused(&real(&above), "writable by everyone (mode 777)");
    // ... unless sticky, as /tmp is: no one can replace what is not theirs
    chmod(&above, 0o1777);
    as_usual();
    chmod(&above, 0o755);
    as_usual();

    // config.json a symbolic link, even to a file root owns and alone writes
    let target = s.write(
        "elsewhere/config.json",
        &std::fs::read_to_string(&config).unwrap(),
    );
    chmod(&target, 0o644);
    std::fs::remove_file(&config).unwrap();
    std::os::unix::fs::symlink(&target, &config).unwrap();
    refused(&config.display().to_string(), "a symbolic link");
    std::fs::remove_file(&config).unwrap();
    std::fs::copy(&target, &config).unwrap();
    chmod(&config, 0o644);
    as_usual();

    // owned by another user, mode 0644 and 0755 notwithstanding (only root
    // can give a file away)
    if !root_or_skip("a_bundle_others_can_change_is_refused: chown") {
        return;
    }
    let nobody = Some(65534);
    let why = "owned by uid 65534, neither root nor the hook's user";
    std::os::unix::fs::chown(&config, nobody, nobody).unwrap();
    refused(&config.display().to_string(), why);
    std::os::unix::fs::chown(&config, Some(0), Some(0)).unwrap();
    as_usual();
    std::os::unix::fs::chown(&bundle, nobody, nobody).unwrap();
    refused(&real(&bundle), why);
    std::os::unix::fs::chown(&bundle, Some(0), Some(0)).unwrap();
    std::os::unix::fs::chown(&above, nobody, nobody).unwrap();
    refused(&real(&above), why);
    std::os::unix::fs::chown(&above, Some(0), Some(0)).unwrap();
    as_usual();
}

/// `check` judges a captured config.json wherever it lies: the bundle's
/// owner and modes are the hook's concern only.
#[test]
fn check_judges_a_bundle_the_hook_would_refuse() {
    let s = Sandbox::new();
    let (bundle, id) = s.podman("b", "podman-default");
    std::fs::set_permissions(
        bundle.join("config.json"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let run = s.run(
        &[
            "check",
            "--profile",
            "baseline",
            "--id",
            &id,
            bundle.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
}

/// In hook mode the kernel says which namespaces the container has: a
/// namespace file that cannot be read blocks, it never falls back to what
/// config.json claims.
#[test]
fn unreadable_namespace_files_block() {
    let s = Sandbox::new();
    let (bundle, id) = s.localized("b", "podman-default");
    // No process has this pid: pid_max is at most 4194304 (PID_MAX_LIMIT),
    // and pids are below it.
    let mut st = state(&id, &bundle, &[]);
    st["pid"] = Value::from(4_194_304);
    s.hook(&["--profile", "baseline"], &st).blocked(
        2,
        &[
            &format!("container {id} blocked: "),
            "cannot read /proc/4194304/ns/",
            "namespace cannot be judged",
        ],
    );
    // the same state without a pid: config.json's namespaces are judged
    st["pid"] = Value::Null;
    let run = s.hook(&["--profile", "baseline"], &st);
    assert_eq!(run.code, Some(0), "{run:#?}");
}

/// A live container process: its namespaces, id maps and mount table are
/// the kernel's answer. A process in the hook's own namespaces shares the
/// host's, whatever config.json says.
#[test]
fn a_live_process_is_judged_by_the_kernel() {
    struct Child(std::process::Child);
    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let s = Sandbox::new();
    let bundle = s.bundle("b", "ctr-run-default");
    let child = Child(
        Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sleep"),
    );
    let pid = child.0.id();
    let mut st = state("c-live", &bundle, &[]);
    st["pid"] = Value::from(pid);
    let run = s.hook(&["--profile", "baseline"], &st);
    drop(child);
    let why = format!("(process {pid} is in the host's namespace)");
    run.blocked(
        1,
        &[
            &format!("hostNetwork: container shares the host network namespace {why}"),
            &format!("hostPID: container shares the host PID namespace {why}"),
            &format!("hostIPC: container shares the host IPC namespace {why}"),
            "(container c-live)",
        ],
    );
    // config.json alone: namespaces of its own
    st["pid"] = Value::Null;
    let run = s.hook(&["--profile", "baseline"], &st);
    assert_eq!(run.code, Some(0), "{run:#?}");
}

#[test]
fn bundle_without_config_blocks() {
    let s = Sandbox::new();
    let bundle = s.path("empty-bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    let run = s.hook(&["--profile", "baseline"], &state("c1", &bundle, &[]));
    run.blocked(
        2,
        &[
            "container c1 blocked",
            &bundle.join("config.json").display().to_string(),
            "No such file",
        ],
    );
}

#[test]
fn config_not_json_blocks() {
    let s = Sandbox::new();
    let bundle = s.path("b");
    s.write("b/config.json", "ociVersion: 1.0.2\n");
    let run = s.hook(&["--profile", "baseline"], &state("c1", &bundle, &[]));
    run.blocked(
        2,
        &[
            &bundle.join("config.json").display().to_string(),
            "not valid JSON",
        ],
    );
    s.write("b/config.json", "[1, 2, 3]");
    s.hook(&["--profile", "baseline"], &state("c1", &bundle, &[]))
        .blocked(2, &["not a JSON object"]);
    s.write("b/config.json", &"[".repeat(100_000));
    s.hook(&["--profile", "baseline"], &state("c1", &bundle, &[]))
        .blocked(2, &["not valid JSON"]);
    s.write(
        "b/config.json",
        &format!(
            "{{\"ociVersion\":\"1.0.2\",\"x\":{}",
            "{\"a\":".repeat(100_000)
        ),
    );
    s.hook(&["--profile", "baseline"], &state("c1", &bundle, &[]))
        .blocked(2, &["not valid JSON"]);
}

#[test]
fn oversized_config_blocks() {
    let s = Sandbox::new();
    let bundle = s.path("b");
    s.write("b/config.json", "");
    // sparse: 17 MiB of holes, over the 16 MiB bound
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(bundle.join("config.json"))
        .unwrap();
    file.set_len(17 << 20).unwrap();
    s.hook(&["--profile", "baseline"], &state("c1", &bundle, &[]))
        .blocked(2, &["config.json is larger than 16777216 bytes"]);
}

#[test]
fn config_with_wrong_types_blocks() {
    let s = Sandbox::new();
    let bundle = s.path("b");
    s.write(
        "b/config.json",
        r#"{"ociVersion":"1.0.2","process":{"user":{"uid":"root","gid":0},"args":["sh"],"cwd":"/"},"root":{"path":"rootfs"}}"#,
    );
    let run = s.hook(&["--profile", "baseline"], &state("c1", &bundle, &[]));
    run.blocked(
        2,
        &[
            &bundle.join("config.json").display().to_string(),
            "does not follow the OCI runtime spec",
            "\"root\"",
        ],
    );
    // capability sets are read by name, but still must be lists of strings
    s.write(
        "b/config.json",
        r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/","capabilities":{"bounding":"CAP_SYS_ADMIN"}},"root":{"path":"rootfs"}}"#,
    );
    let run = s.hook(&["--profile", "baseline"], &state("c1", &bundle, &[]));
    assert_eq!(run.code, Some(2), "{run:#?}");
}

#[test]
fn config_fifo_blocks_without_hanging() {
    let s = Sandbox::new();
    let bundle = s.path("b");
    std::fs::create_dir_all(&bundle).unwrap();
    nix::unistd::mkfifo(
        &bundle.join("config.json"),
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    )
    .unwrap();
    let run = s.hook(&["--profile", "baseline"], &state("c1", &bundle, &[]));
    run.blocked(2, &["config.json is not a regular file"]);
    // a directory in its place
    let bundle = s.path("d");
    std::fs::create_dir_all(bundle.join("config.json")).unwrap();
    let run = s.hook(&["--profile", "baseline"], &state("c1", &bundle, &[]));
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert_eq!(run.lines().len(), 1, "{run:#?}");
}

#[test]
fn fifo_policy_or_config_does_not_hang() {
    let s = Sandbox::new();
    let bundle = s.bundle("b", "podman-default");
    let fifo = |name: &str| {
        let path = s.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        nix::unistd::mkfifo(
            &path,
            nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
        )
        .unwrap();
        path
    };
    let psp = fifo("psp.yaml");
    s.hook(
        &["--policy", psp.to_str().unwrap()],
        &state("c1", &bundle, &[]),
    )
    .blocked(2, &[&format!("{}: not a regular file", psp.display())]);
    let config = fifo("config-fifo.yaml");
    s.hook(
        &["--config", config.to_str().unwrap()],
        &state("c1", &bundle, &[]),
    )
    .blocked(2, &[&format!("{}: not a regular file", config.display())]);
    // a FIFO among the policy files of a configuration
    let config = s.config("");
    let in_dir = fifo("policies.d/zz-fifo.yaml");
    s.hook(
        &["--config", config.to_str().unwrap()],
        &state("c1", &bundle, &[]),
    )
    .blocked(2, &[&format!("{}: not a regular file", in_dir.display())]);
    let run = s.run(&["lint", "--config", config.to_str().unwrap()], b"");
    assert_eq!(run.code, Some(2), "{run:#?}");
}

#[test]
fn missing_policy_file_blocks() {
    let s = Sandbox::new();
    let bundle = s.bundle("b", "podman-default");
    let missing = s.path("no-such-psp.yaml");
    let run = s.hook(
        &["--policy", missing.to_str().unwrap()],
        &state("c1", &bundle, &[]),
    );
    run.blocked(
        2,
        &[
            "invalid policy",
            &missing.display().to_string(),
            "No such file",
        ],
    );
}

#[test]
fn invalid_policy_blocks_naming_file_and_line() {
    let s = Sandbox::new();
    let bundle = s.bundle("b", "podman-default");
    let bad = s.write(
        "bad-psp.yaml",
        "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata:\n  name: bad\nspec:\n  privilegd: false\n",
    );
    let run = s.hook(
        &["--policy", bad.to_str().unwrap()],
        &state("c1", &bundle, &[]),
    );
    run.blocked(
        2,
        &[
            &format!("{}:6: ", bad.display()),
            "unknown field `privilegd`",
        ],
    );
    // one bad policy among good ones still blocks: the set is invalid
    let run = s.hook(
        &["--profile", "privileged", "--policy", bad.to_str().unwrap()],
        &state("c1", &bundle, &[]),
    );
    run.blocked(2, &[&format!("{}:6: ", bad.display())]);
}

#[test]
fn unknown_profile_blocks() {
    let s = Sandbox::new();
    let bundle = s.bundle("b", "podman-default");
    let run = s.hook(&["--profile", "nosuch"], &state("c1", &bundle, &[]));
    run.blocked(2, &["no built-in profile \"nosuch\""]);
}

#[test]
fn config_flag_with_policy_flags_blocks() {
    let s = Sandbox::new();
    let bundle = s.bundle("b", "podman-default");
    let config = s.config("");
    let run = s.hook(
        &[
            "--config",
            config.to_str().unwrap(),
            "--profile",
            "baseline",
        ],
        &state("c1", &bundle, &[]),
    );
    run.blocked(2, &["--config cannot be combined"]);
}

// ------------------------------------------------------------------ verdicts

#[test]
fn baseline_allows_podman_default() {
    let s = Sandbox::new();
    let (bundle, id) = s.localized("b", "podman-default");
    let run = s.hook(&["--profile", "baseline"], &state(&id, &bundle, &[]));
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.stderr, "", "an allowed container is silent");
    assert_eq!(run.stdout, "");
}

/// podman's per-container files (`overlay-containers/<id>/userdata/…`) are
/// the runtime's only for the container `<id>`: to any other container they
/// are host files, a hostPath volume.
#[test]
fn another_containers_runtime_files_are_host_paths() {
    let s = Sandbox::new();
    let (bundle, id) = s.podman("b", "podman-default");
    let other = unique_id();
    let run = s.hook(&["--profile", "baseline"], &state(&other, &bundle, &[]));
    run.blocked(
        1,
        &[
            "denied by policy \"builtin:baseline\": volumes: hostPath volume ",
            &format!("/overlay-containers/{id}/userdata/"),
            &format!("(container {other})"),
        ],
    );
    // offline alike: `--id` says whose files they are; without it the
    // bundle's name is no runtime's id (it is in no runtime's layout)
    let check = |bundle: &Path, extra: &[&str]| {
        let mut args = vec!["check", "--profile", "baseline"];
        args.extend_from_slice(extra);
        args.push(bundle.to_str().unwrap());
        s.run(&args, b"")
    };
    let run = check(&bundle, &["--id", &id]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let run = check(&bundle, &[]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    let run = check(&bundle, &["--id", &other]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stdout.contains(&format!(
            "volumes: hostPath volume /run/containers/storage/overlay-containers/{id}/userdata/hostname"
        )),
        "{run:#?}"
    );
    // a bundle not named by the id is judged as another container's
    let renamed = s.bundle("renamed", "podman-default");
    let run = check(&renamed, &[]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    let run = check(&renamed, &["--id", &id]);
    assert_eq!(run.code, Some(0), "{run:#?}");
}

#[test]
fn baseline_denies_host_pid() {
    let s = Sandbox::new();
    let (bundle, id) = s.localized("b", "podman-host-pid");
    let run = s.hook(&["--profile", "baseline"], &state(&id, &bundle, &[]));
    run.blocked(
        1,
        &[
            "denied by policy \"builtin:baseline\": hostPID: container shares the host PID namespace",
            &format!("(container {id})"),
        ],
    );
    // that and nothing else: its own runtime files are no hostPath
    assert!(!run.stderr.contains("volumes:"), "{run:#?}");
}

#[test]
fn restricted_psp_verdicts() {
    let s = Sandbox::new();
    let psp = restricted_psp();
    let psp = psp.to_str().unwrap();
    let ok = s.bundle("ok", "runc-restricted-ok");
    let run = s.hook(&["--policy", psp], &state("c-ok", &ok, &[]));
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.stderr, "");

    let root = s.bundle("root", "ctr-run-default");
    let run = s.hook(&["--policy", psp], &state("c-root", &root, &[]));
    run.blocked(
        1,
        &[
            "denied by policy \"restricted\": ",
            "runAsUser: uid 0 not in 32767-32768",
        ],
    );
}

#[test]
fn any_admitting_policy_allows() {
    let s = Sandbox::new();
    let permissive = s.write("permissive.yaml", PERMISSIVE);
    let restricted = restricted_psp();
    let root = s.bundle("root", "ctr-run-default");
    let args = [
        "--policy",
        restricted.to_str().unwrap(),
        "--policy",
        permissive.to_str().unwrap(),
    ];
    let run = s.hook(&args, &state("c-root", &root, &[]));
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.stderr, "");
    // even a privileged container
    let privileged = s.bundle("priv", "ctr-run-privileged");
    let run = s.hook(&args, &state("c-priv", &privileged, &[]));
    assert_eq!(run.code, Some(0), "{run:#?}");
    // restricted alone, and baseline alone, deny the privileged one: each listed
    let run = s.hook(
        &[
            "--policy",
            restricted.to_str().unwrap(),
            "--profile",
            "baseline",
        ],
        &state("c-priv", &privileged, &[]),
    );
    run.blocked(
        1,
        &[
            "denied by every policy: ",
            "\"builtin:baseline\": privileged: ",
            "\"restricted\": ",
        ],
    );
}

// ------------------------------------------------------------------- logging

#[test]
fn decision_is_logged_once() {
    let s = Sandbox::new();
    let (bundle, id) = s.localized("b", "podman-host-pid");
    let run = s.hook(&["--profile", "baseline"], &state(&id, &bundle, &[]));
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(run.lines().len(), 1, "logged: no complaint: {run:#?}");
    let record = s.record(DEADLINE).expect("a log record");
    // RFC 3164: authpriv (10) and warning (4) make priority 84.
    assert!(record.starts_with("<84>"), "{record}");
    assert!(record.contains(" oci-psp-hook["), "{record}");
    assert!(record.contains("]: decision {"), "{record}");
    let at = record
        .find("decision {")
        .unwrap_or_else(|| panic!("{record}"));
    let json: Value = serde_json::from_str(record[at + "decision ".len()..].trim_end())
        .unwrap_or_else(|e| panic!("{e}: {record}"));
    assert_eq!(json["container"]["id"], id.as_str(), "{json}");
    assert_eq!(json["verdict"], "deny", "{json}");
    assert_eq!(json["allowed"], false, "{json}");
    assert_eq!(json["policies"], serde_json::json!(["builtin:baseline"]));
    let violations = json["violations"].as_array().unwrap();
    assert!(
        violations.iter().any(|v| v["policy"] == "builtin:baseline"
            && v["field"] == "hostPID"
            && v["message"]
                .as_str()
                .is_some_and(|m| m.contains("host PID namespace"))),
        "{json}"
    );
    assert!(violations.iter().all(|v| v["field"] == "hostPID"), "{json}");
    assert_eq!(
        s.record(Duration::from_millis(100)),
        None,
        "one record only"
    );
}

#[test]
fn a_record_larger_than_the_default_socket_buffer_is_logged() {
    // 3000 tmpfs mounts under long names make a record of ~250 KB, over the
    // 208 KiB a unix datagram socket sends by default.
    let s = Sandbox::new();
    let (bundle, id) = s.localized("big", "podman-default");
    let path = bundle.join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mounts = config["mounts"].as_array_mut().unwrap();
    for i in 0..3000 {
        mounts.push(serde_json::json!({
            "destination": format!("/scratch/{}/volume-{i:05}", "d".repeat(64)),
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid"],
        }));
    }
    std::fs::write(&path, config.to_string()).unwrap();
    let run = s.hook(&["--profile", "baseline"], &state(&id, &bundle, &[]));
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(!run.stderr.contains("not logged"), "{run:#?}");
    let record = s.record(DEADLINE).expect("a log record");
    assert!(record.len() > 212_992, "{} bytes", record.len());
    let at = record.find("decision {").unwrap();
    let json: Value = serde_json::from_str(&record[at + "decision ".len()..]).unwrap();
    let mounts: usize = json["facts"]["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|group| group["destinations"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(mounts > 3000, "{mounts} mounts' facts");
}

/// A container that makes its record larger than any log takes (a 2 MiB
/// capability name, judged by name and named in its facts and violations)
/// still gets one, cut: in audit mode it runs, so it must not go unlogged.
#[test]
fn a_record_too_large_for_any_log_is_cut_not_lost() {
    let s = Sandbox::new();
    let config = s.config("mode: audit\ndefaultPolicies: [restricted]\n");
    let (bundle, id) = s.localized("huge", "podman-default");
    let path = bundle.join("config.json");
    let mut c: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let name = format!("CAP_{}", "X".repeat(2 << 20));
    c["process"]["capabilities"]["bounding"] = serde_json::json!([name]);
    std::fs::write(&path, c.to_string()).unwrap();
    let run = s.hook(
        &["--config", config.to_str().unwrap()],
        &state(&id, &bundle, &[]),
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(!run.stderr.contains("not logged"), "{run:#?}");
    let record = s.record(DEADLINE).expect("a log record");
    assert!(record.len() < 64 << 10, "{} bytes", record.len());
    let at = record.find("decision {").unwrap();
    let json: Value = serde_json::from_str(&record[at + "decision ".len()..]).unwrap();
    assert_eq!(json["verdict"], "deny");
    assert_eq!(json["mode"], "audit");
    assert!(
        json["cut"]
            .as_str()
            .unwrap()
            .contains("did not fit one log datagram"),
        "{json}"
    );
}

#[test]
fn allow_and_error_are_logged_too() {
    let s = Sandbox::new();
    let (bundle, id) = s.localized("b", "podman-default");
    let run = s.hook(&["--profile", "baseline"], &state(&id, &bundle, &[]));
    assert_eq!(run.code, Some(0), "{run:#?}");
    let record = s.record(DEADLINE).expect("a log record");
    assert!(record.contains("\"verdict\":\"allow\""), "{record}");
    assert!(record.contains(&format!("\"id\":\"{id}\"")), "{record}");

    let run = s.run(&["hook", "--profile", "baseline"], b"garbage");
    assert_eq!(run.code, Some(2), "{run:#?}");
    let record = s.record(DEADLINE).expect("a log record");
    assert!(record.contains("\"verdict\":\"error\""), "{record}");
    assert!(
        record.contains("OCI state on stdin is not valid"),
        "{record}"
    );
}

#[test]
fn unreachable_log_still_decides() {
    let s = Sandbox::new();
    let missing = s.path("no-such.sock");
    // the kept records are read below, after run's own directory is gone
    let undelivered = s.path("undelivered");
    let env = [
        ("OCI_PSP_HOOK_LOG_SOCKET", missing.as_os_str()),
        ("OCI_PSP_HOOK_UNDELIVERED_DIR", undelivered.as_os_str()),
    ];
    let deny = s.localized("deny", "podman-host-pid");
    let allow = s.localized("allow", "podman-default");
    for ((bundle, id), code) in [(&deny, 1), (&allow, 0)] {
        let st = state(id, bundle, &[]).to_string();
        let run = run(&["hook", "--profile", "baseline"], st.as_bytes(), &env);
        assert_eq!(run.code, Some(code), "{run:#?}");
        let complaints = run
            .lines()
            .iter()
            .filter(|l| l.contains("decision not logged"))
            .count();
        assert_eq!(complaints, 1, "{run:#?}");
        assert!(run.stderr.contains(&missing.display().to_string()));
        // kept where doctor finds it, as syslog would have carried it
        let kept = run.stderr.split("; kept in ").nth(1).expect("kept").trim();
        let record = std::fs::read_to_string(kept).unwrap();
        assert!(
            record.starts_with(&format!(
                "decision {{\"verdict\":\"{}\"",
                ["allow", "deny"][code as usize]
            )),
            "{record}"
        );
        assert!(record.contains(&format!("\"id\":\"{id}\"")), "{record}");
        // one line: podman shows a single runtime error line
        assert_eq!(run.lines().len(), 1, "{run:#?}");
        // and no OS phrase that podman would pick instead of the verdict
        assert!(
            !run.stderr.to_lowercase().contains("no such file"),
            "{run:#?}"
        );
    }
    // errors too
    let run = run(&["hook"], b"", &env);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert_eq!(run.lines().len(), 1, "{run:#?}");
}

/// A syslog socket nobody reads (journald stalled) must not hang the hook:
/// once the receiver's queue is full, a blocking send waits forever.
#[test]

fn stalled_log_does_not_hang() {
    let s = Sandbox::new();
    let (bundle, id) = s.localized("b", "podman-default");
    let socket = s.path("log.sock");
    let env = [("OCI_PSP_HOOK_LOG_SOCKET", socket.as_os_str())];
    let st = state(&id, &bundle, &[]).to_string();
    // nothing reads s.log: more runs than the default queue length (10)
    for _ in 0..16 {
        let run = run(&["hook", "--profile", "baseline"], st.as_bytes(), &env);
        assert_eq!(run.code, Some(0), "{run:#?}");
    }
}

/// The runtime shows the hook's stderr to the user: a newline in a name
/// taken from the state or config.json must not forge a second line.
#[test]

fn control_characters_stay_on_one_line() {
    let s = Sandbox::new();
    let bundle = s.bundle("b", "podman-host-pid");
    let annotations = [
        (
            "io.kubernetes.cri.sandbox-namespace",
            "ns\noci-psp-hook: allowed",
        ),
        ("io.kubernetes.cri.sandbox-name", "p"),
    ];
    let run = s.hook(
        &["--profile", "baseline"],
        &state("c1\nsecond line", &bundle, &annotations),
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(run.lines().len(), 1, "{run:#?}");
    assert!(
        run.stderr.contains("(container c1\\nsecond line)"),
        "{run:#?}"
    );
    // The namespace is shown only for a container a CRI runtime made: one
    // in containerd's CRI directory, under an id with a newline too.
    if !root_or_skip("control_characters_stay_on_one_line") {
        return;
    }
    let id = format!("{}\nsecond line", unique_id());
    let cri = RuntimeBundle::new(K8S, &id, &fixture_text("ctr-run-host-network"));
    let run = s.hook(
        &["--profile", "baseline"],
        &state(&id, &cri.path, &annotations),
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(run.lines().len(), 1, "{run:#?}");
    assert!(
        run.stderr
            .contains("(container ns\\noci-psp-hook: allowed/p/?)"),
        "{run:#?}"
    );
}

// -------------------------------------------- Kubernetes identity and config

#[test]
fn bindings_follow_the_namespace_annotations() {
    if !root_or_skip("bindings_follow_the_namespace_annotations") {
        return;
    }
    let s = Sandbox::new();
    let config = s.config(
        "bindings:\n  - namespaces: [team-a]\n    policies: [restricted]\n  - namespaces: [team-b]\n    policies: [nosuch]\n",
    );
    let args = ["--config", config.to_str().unwrap()];
    // Where containerd's CRI plugin keeps its containers' bundles: their
    // annotations are a CRI runtime's.
    let root = RuntimeBundle::new(K8S, &unique_id(), &fixture_text("ctr-run-default"));
    let hook =
        |annotations: &[(&str, &str)]| s.hook(&args, &state(&root.id, &root.path, annotations));

    hook(&containerd("team-a")).blocked(
        1,
        &[
            "denied by policy \"restricted\": runAsUser: uid 0 not in 32767-32768",
            "(container team-a/web-0/app)",
        ],
    );

    // another namespace: defaultPolicies (builtin:baseline) admit it
    let run = hook(&containerd("other"));
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.stderr, "");
    // so does a container without Kubernetes annotations
    let run = hook(&[]);
    assert_eq!(run.code, Some(0), "{run:#?}");

    // the restricted-ok container in team-a is still allowed
    let ok = RuntimeBundle::new(K8S, &unique_id(), &fixture_text("runc-restricted-ok"));
    let run = s.hook(&args, &state(&ok.id, &ok.path, &containerd("team-a")));
    assert_eq!(run.code, Some(0), "{run:#?}");

    // The same claims on a bundle no CRI runtime made bind nothing: the
    // container has no Kubernetes identity and gets defaultPolicies.
    let tmp = s.bundle("root", "ctr-run-default");
    for ns in ["team-a", "team-b"] {
        let run = s.hook(&args, &state(&root.id, &tmp, &containerd(ns)));
        assert_eq!(run.code, Some(0), "{ns}: {run:#?}");
        assert_eq!(run.stderr, "", "{ns}: {run:#?}");
    }
}

/// A binding to a missing policy blocks only its namespace's containers, and
/// says which container it blocked.
#[test]
fn a_binding_to_a_missing_policy_blocks_its_namespace() {
    if !root_or_skip("a_binding_to_a_missing_policy_blocks_its_namespace") {
        return;
    }
    let s = Sandbox::new();
    let config = s.config(
        "bindings:\n  - namespaces: [team-a]\n    policies: [restricted]\n  - namespaces: [team-b]\n    policies: [nosuch]\n",
    );
    let args = ["--config", config.to_str().unwrap()];
    let ok = RuntimeBundle::new(K8S, &unique_id(), &fixture_text("runc-restricted-ok"));
    let run = s.hook(&args, &state(&ok.id, &ok.path, &containerd("team-a")));
    assert_eq!(run.code, Some(0), "{run:#?}");
    let run = s.hook(&args, &state(&ok.id, &ok.path, &containerd("team-b")));
    run.blocked(
        2,
        &[
            "invalid policy binding: ",
            "policy \"nosuch\" does not exist",
            &config.display().to_string(),
            "container team-b/web-0/app blocked",
        ],
    );
    // claimed from /tmp, team-b is not the container's namespace: the
    // defaults admit it
    let tmp = s.bundle("ok", "runc-restricted-ok");
    let run = s.hook(&args, &state(&ok.id, &tmp, &containerd("team-b")));
    assert_eq!(run.code, Some(0), "{run:#?}");
}

/// An exemption matches the identity the hook trusts: the namespace and
/// container name containerd's CRI plugin wrote for a container in its own
/// task directory. The same claims from a bundle of one's own, or in
/// containerd's keys on a CRI-O container (CRI-O copies a pod's annotations
/// into its containers), exempt nothing; a twin in another namespace is
/// denied.
#[test]
fn exemptions_follow_the_trusted_identity() {
    if !root_or_skip("exemptions_follow_the_trusted_identity") {
        return;
    }
    let s = Sandbox::new();
    let config = s.config("exemptions:\n  - namespaces: [monitoring]\n    containerNames: [app]\n");
    let args = ["--config", config.to_str().unwrap()];
    let claim = containerd("monitoring");
    let privileged = with_annotations("ctr-run-privileged", &claim);
    let cri = RuntimeBundle::new(K8S, &unique_id(), &privileged);
    while s.record(Duration::from_millis(1)).is_some() {}
    let run = s.hook(&args, &state(&cri.id, &cri.path, &claim));
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.stderr, "", "{run:#?}");
    let record = s.record(Duration::from_secs(5)).expect("a record");
    for part in [
        r#""verdict":"exempt""#,
        r#""exemption":{"rule":"exemptions[0]","index":0,"matched":["namespace monitoring","container app"]}"#,
        r#""field":"privileged""#,
    ] {
        assert!(record.contains(part), "{part}: {record}");
    }
    // its twin in another namespace
    let other = containerd("team-a");
    let twin = RuntimeBundle::new(
        K8S,
        &unique_id(),
        &with_annotations("ctr-run-privileged", &other),
    );
    let run = s.hook(&args, &state(&twin.id, &twin.path, &other));
    run.blocked(
        1,
        &["denied by policy \"builtin:baseline\": ", "privileged: "],
    );
    // the claim from a bundle of one's own
    s.write("own/config.json", &privileged);
    let run = s.hook(&args, &state("c-own", &s.path("own"), &claim));
    run.blocked(
        1,
        &[
            "denied by policy \"builtin:baseline\": ",
            "(container c-own)",
        ],
    );
    // containerd's keys on CRI-O's container
    let mut forged = claim.clone();
    forged.push(("io.container.manager", "cri-o"));
    let cri_o = RuntimeBundle::new(
        Layout::Storage,
        &unique_id(),
        &with_annotations("ctr-run-privileged", &forged),
    );
    let run = s.hook(&args, &state(&cri_o.id, &cri_o.path, &forged));
    run.blocked(1, &["denied by policy \"builtin:baseline\": "]);
    // a binding to a missing policy does not block what an exemption admits
    let broken = s.config(
        "bindings:\n  - namespaces: [monitoring, team-a]\n    policies: [nosuch]\nexemptions:\n  - namespaces: [monitoring]\n",
    );
    let args = ["--config", broken.to_str().unwrap()];
    let run = s.hook(&args, &state(&cri.id, &cri.path, &claim));
    assert_eq!(run.code, Some(0), "{run:#?}");
    let run = s.hook(&args, &state(&twin.id, &twin.path, &other));
    run.blocked(2, &["invalid policy binding: "]);
}

/// Anyone who can run a container can write Kubernetes annotations (podman
/// `--annotation`, a config.json of their own for runc or ctr): they select
/// a namespace's binding only for a container a CRI runtime made, one whose
/// bundle is that runtime's own directory for its id. Otherwise the claim to
/// be in kube-system is no way to its privileged binding.
#[test]
fn namespace_claims_bind_only_for_a_cri_runtimes_container() {
    let s = Sandbox::new();
    let config = s.config(
        "defaultPolicies: [builtin:restricted]\nbindings:\n  - namespaces: [kube-system]\n    policies: [builtin:privileged]\n",
    );
    let args = ["--config", config.to_str().unwrap()];
    let claim = containerd("kube-system");
    let privileged = with_annotations("ctr-run-privileged", &claim);
    let denied = |run: &Run, id: &str| {
        run.blocked(
            1,
            &[
                "denied by policy \"builtin:restricted\": ",
                "privileged: ",
                &format!("(container {id})"),
            ],
        );
        assert!(!run.stderr.contains("kube-system"), "{run:#?}");
    };

    // a bundle of its own in /tmp, the claim in the state and config.json
    s.write("priv/config.json", &privileged);
    let tmp = s.path("priv");
    let run = s.hook(&args, &state("c-claim", &tmp, &claim));
    denied(&run, "c-claim");
    // offline likewise, unless told the config is a CRI runtime's
    let check = |extra: &[&str]| {
        let mut all = vec!["check", "--config", args[1], "--output", "json"];
        all.extend_from_slice(extra);
        all.push(tmp.to_str().unwrap());
        s.run(&all, b"")
    };
    let run = check(&[]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(run.json()["chosenBy"], "defaultPolicies", "{run:#?}");
    let run = check(&["--cri"]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.json()["chosenBy"], "bindings[0]", "{run:#?}");

    if !root_or_skip("namespace_claims_bind_only_for_a_cri_runtimes_container") {
        return;
    }
    // containerd's CRI plugin made it: kube-system's binding admits it
    let cri = RuntimeBundle::new(K8S, &unique_id(), &privileged);
    let run = s.hook(&args, &state(&cri.id, &cri.path, &claim));
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.stderr, "", "{run:#?}");
    // `check` of that bundle likewise, its name the id
    let run = s.run(
        &[
            "check",
            "--config",
            args[1],
            "--output",
            "json",
            cri.path.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.json()["chosenBy"], "bindings[0]", "{run:#?}");
    // that directory, but the runtime's id for the container is another
    let other = unique_id();
    denied(&s.hook(&args, &state(&other, &cri.path, &claim)), &other);
    // containerd's directory of another namespace (ctr's `default`)
    let ctr = RuntimeBundle::new(Layout::Containerd("default"), &unique_id(), &privileged);
    denied(&s.hook(&args, &state(&ctr.id, &ctr.path, &claim)), &ctr.id);
    // containers/storage, but podman's container, not CRI-O's
    let mut podman = claim.clone();
    podman.push(("io.container.manager", "libpod"));
    let pod = RuntimeBundle::new(
        Layout::Storage,
        &unique_id(),
        &with_annotations("ctr-run-privileged", &podman),
    );
    denied(&s.hook(&args, &state(&pod.id, &pod.path, &podman)), &pod.id);
    // CRI-O's, with containerd's keys only (a pod's annotations, which
    // CRI-O copies into config.json): no identity
    let mut crio = claim.clone();
    crio.push(("io.container.manager", "cri-o"));
    let cri_o = RuntimeBundle::new(
        Layout::Storage,
        &unique_id(),
        &with_annotations("ctr-run-privileged", &crio),
    );
    denied(
        &s.hook(&args, &state(&cri_o.id, &cri_o.path, &crio)),
        &cri_o.id,
    );
    // CRI-O's, named by CRI-O: admitted
    crio.push(("io.kubernetes.cri-o.ContainerType", "container"));
    crio.push(("io.kubernetes.cri-o.Name", "k8s_c_p_kube-system_u1_0"));
    let cri_o = RuntimeBundle::new(
        Layout::Storage,
        &unique_id(),
        &with_annotations("ctr-run-privileged", &crio),
    );
    let run = s.hook(&args, &state(&cri_o.id, &cri_o.path, &crio));
    assert_eq!(run.code, Some(0), "{run:#?}");
    // CRI-O's, claiming kube-system in containerd's keys: CRI-O copies a
    // pod's annotations into its containers, so those are the pod's
    let mut forged = claim.clone();
    forged.push(("io.container.manager", "cri-o"));
    let cri_o = RuntimeBundle::new(
        Layout::Storage,
        &unique_id(),
        &with_annotations("ctr-run-privileged", &forged),
    );
    denied(
        &s.hook(&args, &state(&cri_o.id, &cri_o.path, &forged)),
        &cri_o.id,
    );
}

/// CRI-O writes a pod's annotations and labels over its own keys in the
/// spec of the pod's infra container: a pod in any namespace can call its
/// sandbox an app container (`ContainerType`, `SandboxID`) and give it an
/// exempt image's name or digest (`ImageName`) and any container name.
/// Those names count only for an app container CRI-O's storage record
/// shows; this one has none, so no rule matches and the record says why.
#[test]
fn crio_sandbox_cannot_claim_an_exempt_image() {
    if !root_or_skip("crio_sandbox_cannot_claim_an_exempt_image") {
        return;
    }
    let s = Sandbox::new();
    let digest = format!("sha256:{}", "3f".repeat(32));
    let config = s.config(&format!(
        "exemptions:\n  - images: [\"{digest}\"]\n  - namespaces: [team-a]\n    images: [\"registry.example/node-exporter*\"]\n  - namespaces: [team-a]\n    containerNames: [debugger]\n"
    ));
    let args = ["--config", config.to_str().unwrap()];
    let id = unique_id();
    let image = format!("registry.example/node-exporter@{digest}");
    let forged = [
        ("io.container.manager", "cri-o"),
        ("io.kubernetes.cri-o.ContainerType", "container"),
        (
            "io.kubernetes.cri-o.SandboxID",
            "0c1e00000000000000000000000000000000000000000000000000000000beef",
        ),
        ("io.kubernetes.cri-o.ImageName", image.as_str()),
        ("io.kubernetes.cri-o.Name", "k8s_debugger_web-0_team-a_u1_0"),
    ];
    let sandbox = RuntimeBundle::new(
        Layout::Storage,
        &id,
        &with_annotations("ctr-run-privileged", &forged),
    );
    while s.record(Duration::from_millis(1)).is_some() {}
    let run = s.hook(&args, &state(&sandbox.id, &sandbox.path, &forged));
    run.blocked(
        1,
        &["denied by policy \"builtin:baseline\": ", "privileged: "],
    );
    assert!(!run.stderr.contains("debugger"), "{run:#?}");
    let record = s.record(Duration::from_secs(5)).expect("a record");
    assert!(!record.contains(r#""exemption":"#), "{record}");
    for part in [
        r#""verdict":"deny""#,
        r#""namespace":"team-a""#,
        "exemptions[0] does not apply: images: ",
        "exemptions[1] does not apply: images: ",
        "exemptions[2] does not apply: containerNames: the runtime wrote no container name",
        "CRI-O's for an app container its storage record shows",
    ] {
        assert!(record.contains(part), "{part}: {record}");
    }
}

#[test]
fn crio_annotations_and_sandboxes() {
    if !root_or_skip("crio_annotations_and_sandboxes") {
        return;
    }
    let s = Sandbox::new();
    let config = s.config("bindings:\n  - namespaces: [team-a]\n    policies: [restricted]\n");
    let args = ["--config", config.to_str().unwrap()];
    let crio = [
        ("io.container.manager", "cri-o"),
        ("io.kubernetes.cri-o.ContainerType", "container"),
        ("io.kubernetes.pod.namespace", "team-a"),
        ("io.kubernetes.pod.name", "db-1"),
        ("io.kubernetes.container.name", "postgres"),
        ("io.kubernetes.cri-o.Name", "k8s_postgres_db-1_team-a_u1_0"),
    ];
    // where CRI-O keeps its bundles, `<storage>/overlay-containers/<id>/userdata`
    let root = RuntimeBundle::new(
        Layout::Storage,
        &unique_id(),
        &with_annotations("ctr-run-default", &crio),
    );
    let run = s.hook(&args, &state(&root.id, &root.path, &crio));
    // the container name is CRI-O's only for an app container its storage
    // record shows (this one has none: a sandbox's spec could say as much)
    run.blocked(1, &["denied by policy \"restricted\"", "team-a/db-1/?"]);

    // A sandbox is judged on pod-level settings only (host namespaces here):
    // a container whose runtime id is the sandbox id its runtime wrote.
    let host_pid = without_namespace("ctr-run-default", "pid");
    let id = unique_id();
    let sandbox = [
        ("io.kubernetes.cri.container-type", "sandbox"),
        ("io.kubernetes.cri.sandbox-id", id.as_str()),
        ("io.kubernetes.cri.sandbox-namespace", "team-a"),
        ("io.kubernetes.cri.sandbox-name", "web-0"),
        ("io.kubernetes.cri.container-name", "POD"),
    ];
    let pause = RuntimeBundle::new(K8S, &id, &host_pid);
    let run = s.hook(&args, &state(&id, &pause.path, &sandbox));
    run.blocked(
        1,
        &[
            "denied by policy \"restricted\": hostPID: ",
            "team-a/web-0 (sandbox)",
        ],
    );
    // the container-level checks are its containers'
    assert!(!run.stderr.contains("runAsUser"), "{run:#?}");

    // Another container of the pod claiming to be its sandbox is judged whole.
    let app = RuntimeBundle::new(K8S, &unique_id(), &host_pid);
    let run = s.hook(&args, &state(&app.id, &app.path, &sandbox));
    run.blocked(
        1,
        &[
            "denied by policy \"restricted\": ",
            "hostPID: ",
            "runAsUser: uid 0 not in 32767-32768",
            "(container team-a/web-0/POD)",
        ],
    );
    assert!(!run.stderr.contains("(sandbox)"), "{run:#?}");
    // The sandbox's config outside a CRI runtime's directory: no Kubernetes
    // identity at all, defaultPolicies, no relaxation.
    s.write("pause/config.json", &host_pid);
    let run = s.hook(&args, &state(&id, &s.path("pause"), &sandbox));
    run.blocked(
        1,
        &[
            "denied by policy \"builtin:baseline\": hostPID: ",
            &format!("(container {id})"),
        ],
    );
    assert!(!run.stderr.contains("team-a"), "{run:#?}");
}

/// Kubernetes identity comes from annotations, which podman (`--annotation`)
/// and ctr users set freely. Claiming to be a pod sandbox must not turn off
/// the container-level checks of a privileged root container.
#[test]

fn sandbox_annotation_does_not_exempt_a_privileged_container() {
    let s = Sandbox::new();
    let privileged = s.bundle("priv", "ctr-run-privileged");
    let claim = [("io.kubernetes.cri.container-type", "sandbox")];
    let run = s.hook(
        &["--profile", "restricted"],
        &state("c-spoof", &privileged, &claim),
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.contains("runAsUser: "), "{run:#?}");
    // a full claim naming its own id as the sandbox's, from /tmp
    let id = unique_id();
    let claim = [
        ("io.kubernetes.cri.container-type", "sandbox"),
        ("io.kubernetes.cri.sandbox-id", id.as_str()),
        ("io.kubernetes.cri.sandbox-namespace", "kube-system"),
        ("io.kubernetes.cri.sandbox-name", "pause"),
    ];
    let run = s.hook(
        &["--profile", "restricted"],
        &state(&id, &privileged, &claim),
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.contains("runAsUser: "), "{run:#?}");
    assert!(!run.stderr.contains("(sandbox)"), "{run:#?}");

    if !root_or_skip("sandbox_annotation_does_not_exempt_a_privileged_container") {
        return;
    }
    let config = fixture_text("ctr-run-privileged");
    // a CRI runtime's container whose id is not the sandbox id it claims
    let cri = RuntimeBundle::new(K8S, &unique_id(), &config);
    let run = s.hook(
        &["--profile", "restricted"],
        &state(&cri.id, &cri.path, &claim),
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.contains("runAsUser: "), "{run:#?}");
    assert!(!run.stderr.contains("(sandbox)"), "{run:#?}");
    // a real sandbox is relieved of only the container-level checks: a
    // privileged one is still denied
    let pause = RuntimeBundle::new(K8S, &id, &config);
    let run = s.hook(
        &["--profile", "restricted"],
        &state(&id, &pause.path, &claim),
    );
    run.blocked(
        1,
        &["privileged: ", "(container kube-system/pause (sandbox))"],
    );
    assert!(!run.stderr.contains("runAsUser: "), "{run:#?}");
}

#[test]
fn state_annotations_win_over_config_annotations() {
    if !root_or_skip("state_annotations_win_over_config_annotations") {
        return;
    }
    // config.json of a CRI container carries annotations too; the state's win.
    let s = Sandbox::new();
    let config = s.config("bindings:\n  - namespaces: [team-a]\n    policies: [restricted]\n");
    let args = ["--config", config.to_str().unwrap()];
    let spec = with_annotations(
        "ctr-run-default",
        &[
            ("io.kubernetes.cri.sandbox-namespace", "other"),
            ("io.kubernetes.cri.sandbox-name", "web-0"),
            ("io.kubernetes.cri.container-name", "app"),
        ],
    );
    let bundle = RuntimeBundle::new(K8S, &unique_id(), &spec);
    // config.json alone: namespace other, allowed by the default
    let run = s.hook(&args, &state(&bundle.id, &bundle.path, &[]));
    assert_eq!(run.code, Some(0), "{run:#?}");
    // the state says team-a
    let run = s.hook(
        &args,
        &state(&bundle.id, &bundle.path, &containerd("team-a")),
    );
    run.blocked(1, &["denied by policy \"restricted\"", "team-a/web-0/app"]);
}

#[test]
fn audit_mode_allows_and_says_would_deny() {
    let s = Sandbox::new();
    let config =
        s.config("mode: audit\nbindings:\n  - namespaces: [team-a]\n    policies: [restricted]\n");
    let args = ["--config", config.to_str().unwrap()];
    // errors still block in audit mode
    let run = s.run(&["hook", args[0], args[1]], b"");
    assert_eq!(run.code, Some(2), "{run:#?}");
    if !root_or_skip("audit_mode_allows_and_says_would_deny") {
        return;
    }
    let root = RuntimeBundle::new(K8S, &unique_id(), &fixture_text("ctr-run-default"));
    let run = s.hook(&args, &state(&root.id, &root.path, &containerd("team-a")));
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.lines().len(), 1, "{run:#?}");
    assert!(
        run.stderr
            .contains("audit mode, would deny: denied by policy \"restricted\""),
        "{run:#?}"
    );
    let record = s.record(DEADLINE).expect("a log record");
    assert!(record.contains("\"verdict\":\"deny\""), "{record}");
    assert!(record.contains("\"mode\":\"audit\""), "{record}");
}

// --------------------------------------------------------------------- check

#[test]
fn check_json_on_bundle_and_file() {
    let s = Sandbox::new();
    let psp = restricted_psp();
    let psp = psp.to_str().unwrap();
    let root = s.bundle("root", "ctr-run-default");
    for target in [root.clone(), root.join("config.json")] {
        let run = s.run(
            &[
                "check",
                "--policy",
                psp,
                "--output",
                "json",
                target.to_str().unwrap(),
            ],
            b"",
        );
        assert_eq!(run.code, Some(1), "{run:#?}");
        let json = run.json();
        assert_eq!(json["allowed"], false, "{json}");
        assert_eq!(json["verdict"], "deny", "{json}");
        let violations = json["violations"].as_array().unwrap();
        assert!(!violations.is_empty());
        for v in violations {
            assert_eq!(v["policy"], "restricted", "{v}");
            assert!(v["field"].is_string() && v["message"].is_string(), "{v}");
        }
        assert!(
            violations
                .iter()
                .any(|v| v["field"] == "runAsUser" && v["message"] == "uid 0 not in 32767-32768"),
            "{json}"
        );
    }
    let ok = s.bundle("ok", "runc-restricted-ok");
    for target in [ok.clone(), ok.join("config.json")] {
        let run = s.run(
            &[
                "check",
                "--policy",
                psp,
                "--output",
                "json",
                target.to_str().unwrap(),
            ],
            b"",
        );
        assert_eq!(run.code, Some(0), "{run:#?}");
        let json = run.json();
        assert_eq!(json["allowed"], true, "{json}");
        assert_eq!(json["violations"], serde_json::json!([]));
        assert_eq!(json["admittedBy"], "restricted");
    }
}

#[test]
fn check_errors_exit_2() {
    let s = Sandbox::new();
    let missing = s.path("nowhere");
    let run = s.run(
        &[
            "check",
            "--profile",
            "baseline",
            "--output",
            "json",
            missing.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(run.code, Some(2), "{run:#?}");
    let json = run.json();
    assert_eq!(json["allowed"], false);
    assert_eq!(json["verdict"], "error");
    assert!(
        json["error"].as_str().unwrap().contains("nowhere"),
        "{json}"
    );

    s.write("bad/config.json", "{");
    let run = s.run(
        &[
            "check",
            "--profile",
            "baseline",
            s.path("bad").to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stdout.contains("not valid JSON"), "{run:#?}");

    let root = s.bundle("root", "ctr-run-default");
    let run = s.run(
        &["check", "--profile", "nosuch", root.to_str().unwrap()],
        b"",
    );
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stdout.contains("no built-in profile"), "{run:#?}");
}

#[test]
fn check_text_output() {
    let s = Sandbox::new();
    let psp = restricted_psp();
    let root = s.bundle("root", "ctr-run-default");
    let run = s.run(
        &[
            "check",
            "--policy",
            psp.to_str().unwrap(),
            root.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("oci-psp-hook: denied by policy \"restricted\": "),
        "{run:#?}"
    );
    assert!(
        lines.contains(&"  policy \"restricted\": runAsUser: uid 0 not in 32767-32768"),
        "{run:#?}"
    );
    // every violation on its own line, none abbreviated
    assert!(!lines[1..].iter().any(|l| l.contains("more")), "{run:#?}");

    // podman's bundles, `<id>/userdata`: the id their own files name
    let (host_pid, pid_id) = s.podman("pid", "podman-host-pid");
    let run = s.run(
        &[
            "check",
            "--profile",
            "baseline",
            "--id",
            &pid_id,
            host_pid.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stdout.contains(
        "  policy \"builtin:baseline\": hostPID: container shares the host PID namespace"
    ));
    assert!(!run.stdout.contains("volumes:"), "{run:#?}");
    let (ok, ok_id) = s.podman("ok", "podman-default");
    let run = s.run(
        &[
            "check",
            "--profile",
            "baseline",
            "--id",
            &ok_id,
            ok.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stdout
            .starts_with("oci-psp-hook: allowed by policy \"builtin:baseline\""),
        "{run:#?}"
    );
}

#[test]
fn check_uses_config_bindings() {
    let s = Sandbox::new();
    let config = s.config("defaultPolicies: [restricted]\n");
    let root = s.bundle("root", "ctr-run-default");
    let run = s.run(
        &[
            "check",
            "--config",
            config.to_str().unwrap(),
            "--output",
            "json",
            root.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(run.json()["chosenBy"], "defaultPolicies");
}

/// A config.json captured from a CRI runtime is judged as the node judges
/// it with `--cri` (its Kubernetes annotations honoured) and `--id` (the
/// runtime id, by default the bundle directory's name); without `--cri`
/// the annotations are claims that select nothing.
#[test]
fn check_cri_judges_a_captured_cri_config() {
    let s = Sandbox::new();
    let config = s.config("bindings:\n  - namespaces: [team-a]\n    policies: [restricted]\n");
    let check = |path: &Path, extra: &[&str]| {
        let mut args = vec![
            "check",
            "--config",
            config.to_str().unwrap(),
            "--output",
            "json",
        ];
        args.extend_from_slice(extra);
        args.push(path.to_str().unwrap());
        let run = s.run(&args, b"");
        let json = run.json();
        (run, json)
    };
    // a container of team-a, captured in a bundle named by its id
    let id = unique_id();
    let app = s.write(
        &format!("k8s.io/{id}/config.json"),
        &with_annotations("ctr-run-default", &containerd("team-a")),
    );
    let (run, json) = check(&app, &["--cri"]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(json["chosenBy"], "bindings[0]", "{json}");
    assert_eq!(json["container"]["namespace"], "team-a", "{json}");
    let (run, json) = check(&app, &[]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(json["chosenBy"], "defaultPolicies", "{json}");
    assert_eq!(json["container"]["namespace"], Value::Null, "{json}");

    // a pod sandbox: one only as the container whose id is the sandbox id
    let sandbox_id = unique_id();
    let sandbox = [
        ("io.kubernetes.cri.container-type", "sandbox"),
        ("io.kubernetes.cri.sandbox-id", sandbox_id.as_str()),
        ("io.kubernetes.cri.sandbox-namespace", "team-a"),
        ("io.kubernetes.cri.sandbox-name", "web-0"),
        ("io.kubernetes.cri.container-name", "POD"),
    ];
    let pause = s.write(
        &format!("k8s.io/{sandbox_id}/config.json"),
        &with_annotations("ctr-run-default", &sandbox),
    );
    let fields = |json: &Value| -> Vec<String> {
        json["violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["field"].as_str().unwrap().to_string())
            .collect()
    };
    // its bundle's name is the sandbox id: the sandbox, pod-level checks only
    let (run, json) = check(&pause, &["--cri"]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(json["container"]["sandbox"], true, "{json}");
    // the same config judged as another container (`--id`, or a bundle
    // named otherwise): a container, judged whole
    let (run, json) = check(&pause, &["--cri", "--id", &id]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(json["container"]["sandbox"], false, "{json}");
    assert!(fields(&json).contains(&"runAsUser".to_string()), "{json}");
    let renamed = s.write(
        "k8s.io/renamed/config.json",
        &with_annotations("ctr-run-default", &sandbox),
    );
    let (run, json) = check(&renamed, &["--cri"]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(json["container"]["sandbox"], false, "{json}");
    let (run, json) = check(&renamed, &["--cri", "--id", &sandbox_id]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(json["container"]["sandbox"], true, "{json}");
    // without --cri: no identity, no relaxation, defaultPolicies
    let (run, json) = check(&pause, &[]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(json["chosenBy"], "defaultPolicies", "{json}");
    assert_eq!(json["container"]["sandbox"], false, "{json}");
}

/// config.json's own hooks run as root on the host: one whose executable
/// the node did not install (oci-psp-hook itself, hooks.d, CDI, the
/// configuration's `allowedHooks`) is privileged.
#[test]
fn config_hooks_the_node_did_not_install_are_privileged() {
    let s = Sandbox::new();
    let program = s.write("bin/tool", "#!/bin/sh\nexit 0\n");
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let with_hook = |name: &str, path: &Path| {
        let mut config: Value = serde_json::from_str(&fixture_text("ctr-run-default")).unwrap();
        config["hooks"] =
            serde_json::json!({"prestart": [{"path": path, "args": ["oci-psp-hook", "hook"]}]});
        s.write(&format!("{name}/config.json"), &config.to_string());
        s.path(name)
    };
    let foreign = with_hook("foreign", &program);
    let own = with_hook("own", Path::new(BIN));
    let run = s.hook(&["--profile", "baseline"], &state("c-hook", &foreign, &[]));
    run.blocked(
        1,
        &[
            "denied by policy \"builtin:baseline\": privileged: ",
            &format!("prestart hook {}", program.display()),
        ],
    );
    let run = s.run(
        &["check", "--profile", "baseline", foreign.to_str().unwrap()],
        b"",
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    // oci-psp-hook itself
    let run = s.hook(&["--profile", "baseline"], &state("c-own", &own, &[]));
    assert_eq!(run.code, Some(0), "{run:#?}");
    // a hook the configuration allows
    let config = s.config(&format!("allowedHooks: [{}]\n", program.display()));
    let run = s.hook(
        &["--config", config.to_str().unwrap()],
        &state("c-hook", &foreign, &[]),
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
}

// ---------------------------------------------------------------------- lint

#[test]
fn lint_valid_policies_and_config() {
    let s = Sandbox::new();
    let run = s.run(
        &["lint", "--policy", restricted_psp().to_str().unwrap()],
        b"",
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stdout.contains("policy \"restricted\""), "{run:#?}");

    // the shipped example configuration, with its policy directory here
    let example = std::fs::read_to_string(manifest("examples/config.yaml")).unwrap();
    s.write(
        "policies.d/restricted-psp.yaml",
        &std::fs::read_to_string(restricted_psp()).unwrap(),
    );
    let config = s.write(
        "example.yaml",
        &example.replace("/etc/oci-psp-hook/policies.d", "policies.d"),
    );
    let run = s.run(&["lint", "--config", config.to_str().unwrap()], b"");
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stdout.contains("enforce mode"), "{run:#?}");
    assert!(run.stdout.contains("2 bindings"), "{run:#?}");
}

/// `lint` lists the exemptions with what to know of them, and refuses a
/// malformed one naming the file, the line and the field.
#[test]
fn lint_shows_and_checks_exemptions() {
    let s = Sandbox::new();
    let config = s.config(
        "exemptions:\n  - namespaces: [monitoring]\n    images: [\"registry.example/node-exporter:*\"]\n  - runtimeHandlers: [kata]\n  - containerNames: [debugger]\n",
    );
    let run = s.run(&["lint", "--config", config.to_str().unwrap()], b"");
    assert_eq!(run.code, Some(0), "{run:#?}");
    for line in [
        "exemption exemptions[0]: namespaces [monitoring], images [registry.example/node-exporter:*]\n",
        "exemption exemptions[1]: runtimeHandlers [kata]\n  note: runtimeHandlers never match on containerd or CRI-O: ",
        "exemption exemptions[2]: containerNames [debugger]\n  note: no namespaces: any pod author, in any namespace, can name a container so\n",
        ", 3 exemptions)",
    ] {
        assert!(run.stdout.contains(line), "{line}: {run:#?}");
    }
    let config = s.config("exemptions:\n  - images: [\"registry.example/[ab]\"]\n");
    let run = s.run(&["lint", "--config", config.to_str().unwrap()], b"");
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(
        run.stderr.starts_with(&format!(
            "oci-psp-hook: invalid: {}:5: exemptions[0].images[0]: \"registry.example/[ab]\" has '['",
            config.display()
        )),
        "{run:#?}"
    );
}

#[test]
fn lint_invalid_policy_names_the_file() {
    let s = Sandbox::new();
    let bad = s.write(
        "bad.yaml",
        "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata:\n  name: bad\nspec:\n  runAsUser:\n    rule: Sometimes\n",
    );
    let run = s.run(&["lint", "--policy", bad.to_str().unwrap()], b"");
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(
        run.stderr.contains(&format!("{}:7", bad.display())),
        "{run:#?}"
    );

    // an invalid policy in the configuration's directory
    let config = s.config("");
    s.write(
        "policies.d/broken.yaml",
        "apiVersion: policy/v1beta1\nkind: Pod\n",
    );
    let run = s.run(&["lint", "--config", config.to_str().unwrap()], b"");
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("policies.d/broken.yaml"), "{run:#?}");
}

/// `builtin:…` in a binding is always the built-in profile: a policy of
/// such a name would silently never judge a container (and with `--policy`
/// pass for the built-in one in decision records), so it is refused.
#[test]
fn a_policy_named_like_a_builtin_is_refused() {
    let s = Sandbox::new();
    let config =
        s.config("bindings:\n  - namespaces: [team-a]\n    policies: [builtin:restricted]\n");
    let shadow = s.write(
        "policies.d/shadow.yaml",
        "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata:\n  name: builtin:restricted\nspec:\n  runAsUser:\n    rule: MustRunAs\n    ranges: [{min: 5000, max: 5000}]\n  seLinux:\n    rule: RunAsAny\n  supplementalGroups:\n    rule: RunAsAny\n  fsGroup:\n    rule: RunAsAny\n",
    );
    let run = s.run(&["lint", "--config", config.to_str().unwrap()], b"");
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(
        run.stderr.contains(&format!(
            "{}:4: metadata.name: \"builtin:restricted\" starts with \"builtin:\"",
            shadow.display()
        )),
        "{run:#?}"
    );
    let run = s.run(&["lint", "--policy", shadow.to_str().unwrap()], b"");
    assert_eq!(run.code, Some(2), "{run:#?}");
}

#[test]
fn lint_broken_binding_fails() {
    let s = Sandbox::new();
    let config = s.config("bindings:\n  - namespaces: [team-b]\n    policies: [nosuch]\n");
    let run = s.run(&["lint", "--config", config.to_str().unwrap()], b"");
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(
        run.stderr
            .contains(&format!("{}:6: bindings[0].policies", config.display())),
        "{run:#?}"
    );
    assert!(run.stderr.contains("\"nosuch\""), "{run:#?}");

    let missing = s.path("absent.yaml");
    let run = s.run(&["lint", "--config", missing.to_str().unwrap()], b"");
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains(&missing.display().to_string()));
}

// --------------------------------------------------------------------- usage

#[test]
fn help_of_each_subcommand() {
    for (sub, flags) in [
        ("hook", &["--policy", "--profile", "--config"][..]),
        (
            "check",
            &[
                "--policy",
                "--profile",
                "--config",
                "--output",
                "--cri",
                "--id",
            ][..],
        ),
        ("lint", &["--policy", "--profile", "--config"][..]),
    ] {
        let run = run(&[sub, "--help"], b"", &[]);
        assert_eq!(run.code, Some(0), "{run:#?}");
        for flag in flags {
            assert!(run.stdout.contains(flag), "{sub}: {flag}: {run:#?}");
        }
    }
    let run = run(&["--help"], b"", &[]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    for sub in ["hook", "check", "lint"] {
        assert!(run.stdout.contains(sub), "{run:#?}");
    }
    let run = self::run(&["--version"], b"", &[]);
    assert_eq!(run.code, Some(0), "{run:#?}");
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        &[][..],
        &["nosuch"][..],
        &["hook", "--bogus"][..],
        &["hook", "extra-argument"][..],
        &["check"][..],
        &["check", "--output", "xml", "."][..],
        &["lint", "--policy"][..],
    ] {
        let run = run(args, b"", &[]);
        assert_eq!(run.code, Some(2), "{args:?}: {run:#?}");
        assert!(!run.stderr.is_empty(), "{args:?}: {run:#?}");
    }
}

/// `explain` answers "why was this container refused?" from the hook's own
/// records: those a log took (here a syslog file) and those kept when none
/// did; a forged record about the same container does not count.
#[test]
fn explain_tells_why_from_the_hooks_records() {
    let s = Sandbox::new();
    let key = s.path("log.key");
    std::fs::write(&key, format!("{}\n", "ab".repeat(32))).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let undelivered = s.path("undelivered");
    let socket = s.path("log.sock");
    let missing = s.path("no-such.sock");
    let (bundle, id) = s.localized("pid", "podman-host-pid");
    let st = state(&id, &bundle, &[]).to_string();
    let args = ["hook", "--profile", "restricted", "--profile", "baseline"];
    let env = |sock: &Path| {
        vec![
            ("OCI_PSP_HOOK_LOG_SOCKET", sock.as_os_str().to_owned()),
            ("OCI_PSP_HOOK_LOG_KEY", key.as_os_str().to_owned()),
            (
                "OCI_PSP_HOOK_UNDELIVERED_DIR",
                undelivered.as_os_str().to_owned(),
            ),
        ]
    };
    let logged = env(&socket);
    let refs: Vec<(&str, &std::ffi::OsStr)> =
        logged.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    assert_eq!(run(&args, st.as_bytes(), &refs).code, Some(1));
    let record = s.record(DEADLINE).expect("a log record");
    let log = s.write(
        "auth.log",
        &format!(
            "{record}\n{}\n",
            record.replace("hmac-sha256=", "hmac-sha256=00")
        ),
    );
    // A second denial no log took: kept, and read by explain too.
    let lost = env(&missing);
    let refs: Vec<(&str, &std::ffi::OsStr)> =
        lost.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    let r = run(&args, st.as_bytes(), &refs);
    assert!(r.stderr.contains("; kept in "), "{r:#?}");
    let kept = r
        .stderr
        .split("; kept in ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    let explain = |extra: &[&str]| {
        let mut a = vec!["explain"];
        a.extend_from_slice(extra);
        let env = [("OCI_PSP_HOOK_LOG_KEY", key.as_os_str())];
        run(&a, b"", &env)
    };
    let r = explain(&[
        &id,
        "--from-log",
        log.to_str().unwrap(),
        "--from-log",
        &kept,
    ]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert!(
        r.stdout.starts_with(&format!("{id}: 2 decisions\n")),
        "{r:#?}"
    );
    assert!(r.stdout.contains("deny (enforce mode)"), "{r:#?}");
    assert!(
        r.stdout.contains(
            "violation (builtin:baseline): hostPID: container shares the host PID namespace"
        ),
        "{r:#?}"
    );
    assert!(
        r.stdout.contains(
            "closest to admitting it: \"builtin:baseline\", 1 violation in the latest denial:"
        ),
        "{r:#?}"
    );
    assert!(
        r.stderr.contains("1 records of"),
        "the forged copy is not counted: {r:#?}"
    );
    let r = explain(&[
        &id[..12],
        "--from-log",
        log.to_str().unwrap(),
        "--output",
        "json",
    ]);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["decisions"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json["closest"]["policy"], "builtin:baseline", "{json}");
    let r = explain(&["some-other-container", "--from-log", log.to_str().unwrap()]);
    assert_eq!(r.code, Some(1), "{r:#?}");
    assert_eq!(explain(&["a//b"]).code, Some(2));
    // --stats: every container's decisions by namespace, the hook's latency.
    assert!(record.contains("\"duration_us\":"), "{record}");
    let r = explain(&[
        "--stats",
        "--from-log",
        log.to_str().unwrap(),
        "--from-log",
        &kept,
    ]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert!(
        r.stdout
            .starts_with("decisions: 2 (allow 0, deny 2, would-deny 0, error 0, exempt 0)\n"),
        "{r:#?}"
    );
    assert!(
        r.stdout
            .contains("hook latency (duration_us of 2 decisions): p50 "),
        "{r:#?}"
    );
    let r = explain(&[
        "--stats",
        "--output",
        "json",
        "--from-log",
        log.to_str().unwrap(),
    ]);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["total"]["deny"], 1, "{json}");
    assert!(json["latencyUs"]["p99"].as_u64().is_some(), "{json}");
    assert_eq!(explain(&[]).code, Some(2), "a container or --stats");
}
