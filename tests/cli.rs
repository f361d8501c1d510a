//! The real binary, driven as a runtime and an admin would: exit codes,
//! stderr, stdout and the log record. Every run has a deadline: the hook sits
//! on every container start and must never hang.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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
}

impl Sandbox {
    fn new() -> Sandbox {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "oci-psp-hook-cli-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = UnixDatagram::bind(dir.join("log.sock")).unwrap();
        log.set_read_timeout(Some(DEADLINE)).unwrap();
        Sandbox { dir, log }
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
        match self.log.recv(&mut buf) {
            Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
            Err(e) => panic!("log socket: {e}"),
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
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

#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

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

/// Run the binary with a deadline, feeding `stdin` from a thread that
/// tolerates the hook closing its end early (EPIPE).
fn run(args: &[&str], stdin: &[u8], env: &[(&str, &std::ffi::OsStr)]) -> Run {
    let start = Instant::now();
    let mut child = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the binary");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || match input.write_all(&data) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::BrokenPipe => {}
        Err(e) => panic!("writing stdin: {e}"),
    });
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    writer.join().unwrap();
    Run {
        code: status.code(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
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
    run.blocked(
        2,
        &[&format!(
            "cannot read {}",
            bundle.join("config.json").display()
        )],
    );
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
    let bundle = s.bundle("b", "podman-default");
    let run = s.hook(&["--profile", "baseline"], &state("c1", &bundle, &[]));
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.stderr, "", "an allowed container is silent");
    assert_eq!(run.stdout, "");
}

#[test]
fn baseline_denies_host_pid() {
    let s = Sandbox::new();
    let bundle = s.bundle("b", "podman-host-pid");
    let run = s.hook(&["--profile", "baseline"], &state("c-pid", &bundle, &[]));
    run.blocked(
        1,
        &[
            "denied by policy \"builtin:baseline\": hostPID: container shares the host PID namespace",
            "(container c-pid)",
        ],
    );
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
    let bundle = s.bundle("b", "podman-host-pid");
    let run = s.hook(
        &["--profile", "baseline"],
        &state("ctr-log-1", &bundle, &[]),
    );
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
    assert_eq!(json["container"]["id"], "ctr-log-1", "{json}");
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
    assert_eq!(
        s.record(Duration::from_millis(100)),
        None,
        "one record only"
    );
}

#[test]
fn a_record_larger_than_the_default_socket_buffer_is_logged() {
    // 3000 tmpfs mounts: ~80 bytes of facts each make a record of ~250 KB,
    // over the 208 KiB a unix datagram socket sends by default.
    let s = Sandbox::new();
    let bundle = s.bundle("big", "podman-default");
    let path = bundle.join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mounts = config["mounts"].as_array_mut().unwrap();
    for i in 0..3000 {
        mounts.push(serde_json::json!({
            "destination": format!("/scratch/volume-{i:05}"),
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid"],
        }));
    }
    std::fs::write(&path, config.to_string()).unwrap();
    let run = s.hook(&["--profile", "baseline"], &state("c-big", &bundle, &[]));
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(!run.stderr.contains("not logged"), "{run:#?}");
    let record = s.record(DEADLINE).expect("a log record");
    assert!(record.len() > 212_992, "{} bytes", record.len());
    let at = record.find("decision {").unwrap();
    let json: Value = serde_json::from_str(&record[at + "decision ".len()..]).unwrap();
    let mounts = json["facts"]["mounts"].as_array().map_or(0, Vec::len);
    assert!(mounts > 3000, "{mounts} mounts' facts");
}

#[test]
fn allow_and_error_are_logged_too() {
    let s = Sandbox::new();
    let bundle = s.bundle("b", "podman-default");
    let run = s.hook(&["--profile", "baseline"], &state("c-allow", &bundle, &[]));
    assert_eq!(run.code, Some(0), "{run:#?}");
    let record = s.record(DEADLINE).expect("a log record");
    assert!(record.contains("\"verdict\":\"allow\""), "{record}");
    assert!(record.contains("\"id\":\"c-allow\""), "{record}");

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
    let env = [("OCI_PSP_HOOK_LOG_SOCKET", missing.as_os_str())];
    let deny = s.bundle("deny", "podman-host-pid");
    let allow = s.bundle("allow", "podman-default");
    for (bundle, code) in [(&deny, 1), (&allow, 0)] {
        let st = state("c1", bundle, &[]).to_string();
        let run = run(&["hook", "--profile", "baseline"], st.as_bytes(), &env);
        assert_eq!(run.code, Some(code), "{run:#?}");
        let complaints = run
            .lines()
            .iter()
            .filter(|l| l.contains("decision not logged"))
            .count();
        assert_eq!(complaints, 1, "{run:#?}");
        assert!(run.stderr.contains(&missing.display().to_string()));
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
    let bundle = s.bundle("b", "podman-default");
    let socket = s.path("log.sock");
    let env = [("OCI_PSP_HOOK_LOG_SOCKET", socket.as_os_str())];
    let st = state("c1", &bundle, &[]).to_string();
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
        ("io.kubernetes.pod.namespace", "ns\noci-psp-hook: allowed"),
        ("io.kubernetes.pod.name", "p"),
    ];
    let run = s.hook(
        &["--profile", "baseline"],
        &state("c1\nsecond line", &bundle, &annotations),
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(run.lines().len(), 1, "{run:#?}");
}

// -------------------------------------------- Kubernetes identity and config

#[test]
fn bindings_follow_the_namespace_annotations() {
    let s = Sandbox::new();
    let config = s.config(
        "bindings:\n  - namespaces: [team-a]\n    policies: [restricted]\n  - namespaces: [team-b]\n    policies: [nosuch]\n",
    );
    let args = ["--config", config.to_str().unwrap()];
    let root = s.bundle("root", "ctr-run-default");

    let run = s.hook(&args, &state("c-a", &root, &containerd("team-a")));
    run.blocked(
        1,
        &[
            "denied by policy \"restricted\": runAsUser: uid 0 not in 32767-32768",
            "(container team-a/web-0/app)",
        ],
    );

    // another namespace: defaultPolicies (builtin:baseline) admit it
    let run = s.hook(&args, &state("c-o", &root, &containerd("other")));
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.stderr, "");
    // so does a container without Kubernetes annotations
    let run = s.hook(&args, &state("c-p", &root, &[]));
    assert_eq!(run.code, Some(0), "{run:#?}");

    // the binding to a missing policy blocks only its namespace's containers
    let run = s.hook(&args, &state("c-b", &root, &containerd("team-b")));
    run.blocked(
        2,
        &[
            "policy \"nosuch\" does not exist",
            &config.display().to_string(),
            "team-b/web-0/app",
        ],
    );
    // the restricted-ok container in team-a is still allowed
    let ok = s.bundle("ok", "runc-restricted-ok");
    let run = s.hook(&args, &state("c-ok", &ok, &containerd("team-a")));
    assert_eq!(run.code, Some(0), "{run:#?}");
}

#[test]
fn crio_annotations_and_sandboxes() {
    let s = Sandbox::new();
    let config = s.config("bindings:\n  - namespaces: [team-a]\n    policies: [restricted]\n");
    let args = ["--config", config.to_str().unwrap()];
    let root = s.bundle("root", "ctr-run-default");
    let crio = [
        ("io.kubernetes.cri-o.ContainerType", "container"),
        ("io.kubernetes.pod.namespace", "team-a"),
        ("io.kubernetes.pod.name", "db-1"),
        ("io.kubernetes.container.name", "postgres"),
    ];
    let run = s.hook(&args, &state("c-crio", &root, &crio));
    run.blocked(
        1,
        &["denied by policy \"restricted\"", "team-a/db-1/postgres"],
    );
    // A sandbox is judged on pod-level settings only (host namespaces here).
    let host_pid = s.bundle("pid", "podman-host-pid");
    let sandbox = [
        ("io.kubernetes.cri.container-type", "sandbox"),
        ("io.kubernetes.cri.sandbox-namespace", "team-a"),
        ("io.kubernetes.cri.sandbox-name", "web-0"),
    ];
    let run = s.hook(&args, &state("c-pause", &host_pid, &sandbox));
    run.blocked(
        1,
        &[
            "denied by policy \"restricted\": hostPID: ",
            "team-a/web-0 (sandbox)",
        ],
    );
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
}

#[test]
fn state_annotations_win_over_config_annotations() {
    // config.json of a CRI container carries annotations too; the state's win.
    let s = Sandbox::new();
    let config = s.config("bindings:\n  - namespaces: [team-a]\n    policies: [restricted]\n");
    let args = ["--config", config.to_str().unwrap()];
    let bundle = s.path("b");
    let mut spec: Value = serde_json::from_str(
        &std::fs::read_to_string(manifest("tests/fixtures/ctr-run-default.json")).unwrap(),
    )
    .unwrap();
    spec["annotations"] = serde_json::json!({
        "io.kubernetes.cri.sandbox-namespace": "other",
        "io.kubernetes.cri.sandbox-name": "web-0",
        "io.kubernetes.cri.container-name": "app",
    });
    s.write("b/config.json", &spec.to_string());
    // config.json alone: namespace other, allowed by the default
    let run = s.hook(&args, &state("c1", &bundle, &[]));
    assert_eq!(run.code, Some(0), "{run:#?}");
    // the state says team-a
    let run = s.hook(&args, &state("c1", &bundle, &containerd("team-a")));
    run.blocked(1, &["denied by policy \"restricted\"", "team-a/web-0/app"]);
}

#[test]
fn audit_mode_allows_and_says_would_deny() {
    let s = Sandbox::new();
    let config =
        s.config("mode: audit\nbindings:\n  - namespaces: [team-a]\n    policies: [restricted]\n");
    let root = s.bundle("root", "ctr-run-default");
    let run = s.hook(
        &["--config", config.to_str().unwrap()],
        &state("c-a", &root, &containerd("team-a")),
    );
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
    // errors still block in audit mode
    let run = s.run(&["hook", "--config", config.to_str().unwrap()], b"");
    assert_eq!(run.code, Some(2), "{run:#?}");
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

    let host_pid = s.bundle("pid", "podman-host-pid");
    let run = s.run(
        &["check", "--profile", "baseline", host_pid.to_str().unwrap()],
        b"",
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stdout.contains(
        "  policy \"builtin:baseline\": hostPID: container shares the host PID namespace"
    ));
    let ok = s.bundle("ok", "podman-default");
    let run = s.run(
        &["check", "--profile", "baseline", ok.to_str().unwrap()],
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
            &["--policy", "--profile", "--config", "--output"][..],
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
