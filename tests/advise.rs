//! `advise` driven through the real binary: the advice lints, and `check`
//! with it admits every container it was made from — from config.json
//! files, per namespace with the generated bindings, and from a log written
//! by the real hook in audit mode.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_oci-psp-hook");
const DEADLINE: Duration = Duration::from_secs(10);

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.json"))
}

use common::Run;

impl Run {
    #[track_caller]
    fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "{self:#?}");
        self
    }
}

/// Run the binary with a deadline.
fn run(args: &[&str], env: &[(&str, &Path)], stdin: &[u8]) -> Run {
    run_in(Path::new("."), args, env, stdin)
}

/// [`run`] in directory `cwd`.
fn run_in(cwd: &Path, args: &[&str], env: &[(&str, &Path)], stdin: &[u8]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(cwd)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())));
    common::run(&mut cmd, stdin, DEADLINE)
}

fn bin(args: &[&str]) -> Run {
    run(args, &[], b"")
}

/// A temporary directory, removed on drop.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(common::temp_dir("advise"))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A bundle directory holding a copy of a fixture as config.json, named
    /// as its runtime names it: `<id>/userdata` for podman's, `<id>` for the
    /// others (the id [`runtime_id`] gives).
    fn bundle(&self, name: &str) -> PathBuf {
        let id = runtime_id(name);
        let dir = self.path().join("bundles").join(name.replace('/', "-"));
        let bundle = if podman_id(name).is_some() {
            dir.join(&id).join("userdata")
        } else {
            dir.join(&id)
        };
        std::fs::create_dir_all(&bundle).unwrap();
        std::fs::copy(fixture(name), bundle.join("config.json")).unwrap();
        bundle
    }
}

/// The runtime id of a captured podman container: its mounts of podman's
/// per-container files (`<storage>/overlay-containers/<id>/userdata/…`)
/// keep it, and they are runtime-managed for that container only.
fn podman_id(name: &str) -> Option<String> {
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap();
    common::podman_id(&config)
}

/// The runtime id the container of a fixture had: podman's (see
/// [`podman_id`]); a pod sandbox's is the sandbox id its CRI runtime
/// annotated; any other's is the fixture's name.
fn runtime_id(name: &str) -> String {
    if let Some(id) = podman_id(name) {
        return id;
    }
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap();
    let annotation = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| config["annotations"][k].as_str())
            .map(str::to_string)
    };
    let kind = annotation(&[
        "io.kubernetes.cri.container-type",
        "io.kubernetes.cri-o.ContainerType",
    ]);
    match kind.as_deref() {
        Some("sandbox") => annotation(&[
            "io.kubernetes.cri.sandbox-id",
            "io.kubernetes.cri-o.SandboxID",
        ])
        .unwrap_or_else(|| panic!("{name}: a sandbox without its sandbox id")),
        _ => name.rsplit('/').next().unwrap().to_string(),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `--id <id>` for a podman bundle (`<id>/userdata`): offline, check takes
/// the id as the runtime's only when told.
fn id_of(input: &Path) -> Vec<String> {
    match (input.file_name(), input.parent().and_then(Path::file_name)) {
        (Some(u), Some(id)) if u == "userdata" => {
            vec!["--id".into(), id.to_string_lossy().into_owned()]
        }
        _ => Vec::new(),
    }
}

/// `check --policy FILE` exit code for one input.
fn check(policy: &Path, input: &Path) -> Option<i32> {
    let id = id_of(input);
    let mut args = vec!["check", "--policy", s(policy)];
    args.extend(id.iter().map(String::as_str));
    args.push(s(input));
    bin(&args).code
}

#[track_caller]
fn admits_all(policy: &Path, inputs: &[PathBuf]) {
    bin(&["lint", "--policy", s(policy)]).ok();
    for input in inputs {
        let id = id_of(input);
        let mut args = vec!["check", "--policy", s(policy)];
        args.extend(id.iter().map(String::as_str));
        args.push(s(input));
        let r = bin(&args);
        assert_eq!(
            r.code,
            Some(0),
            "{} is not admitted: {r:#?}",
            input.display()
        );
    }
}

const REAL: &[&str] = &[
    "podman-default",
    "podman-cap-add",
    "podman-bind-etc",
    "podman-bind-rw",
    "podman-tmpfs",
    "podman-sysctl",
    "podman-restricted-ok",
    "runc-restricted-ok",
    "runc-spec-default",
    "ctr-run-default",
    "ctr-run-bind",
    "ctr-run-host-network",
];

#[test]
fn advice_lints_and_admits_every_input() {
    let dir = Dir::new();
    for inputs in [
        REAL,
        &["podman-privileged"],
        &["podman-restricted-ok", "runc-restricted-ok"],
    ] {
        let paths: Vec<PathBuf> = inputs.iter().map(|n| dir.bundle(n)).collect();
        let mut args = vec!["advise", "--explain"];
        args.extend(paths.iter().map(|p| s(p)));
        let advice = bin(&args).ok();
        // podman's files of each container are its runtime's, no host path
        assert!(
            !advice.stdout.contains("overlay-containers"),
            "{}",
            advice.stdout
        );
        let policy = dir.write("advised.yaml", &advice.stdout);
        admits_all(&policy, &paths);
    }
}

#[test]
fn advice_admits_nothing_more() {
    let dir = Dir::new();
    let advice = bin(&[
        "advise",
        s(&dir.bundle("podman-restricted-ok")),
        s(&dir.bundle("runc-restricted-ok")),
    ])
    .ok();
    assert!(
        advice.stdout.contains("  name: advised\n"),
        "{}",
        advice.stdout
    );
    let policy = dir.write("advised.yaml", &advice.stdout);
    for more in [
        "podman-default",
        "podman-privileged",
        "podman-host-pid",
        "podman-bind-etc",
        "podman-root-user",
    ] {
        assert_eq!(
            check(&policy, &dir.bundle(more)),
            Some(1),
            "{more} is admitted"
        );
    }
}

/// A capability name runc ignores is advised by name (never as every
/// capability), and a relative bind source as the host directory it names
/// in its bundle, a bare `config.json` included: the advice admits the
/// container and neither a real capability nor another host path.
#[test]
fn advice_never_widens() {
    let dir = Dir::new();
    let bundle = dir.bundle("runc-restricted-ok");
    std::fs::create_dir_all(bundle.join("data")).unwrap();
    let with = |caps: &[&str], source: &str| {
        let mut c: Value =
            serde_json::from_slice(&std::fs::read(fixture("runc-restricted-ok")).unwrap()).unwrap();
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set] = json!(caps);
        }
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind", "source": source, "options": ["rbind", "ro"]
        }));
        serde_json::to_string(&c).unwrap()
    };
    std::fs::write(
        bundle.join("config.json"),
        with(&["CAP_FUTURE_THING"], "data"),
    )
    .unwrap();
    let advice = run_in(&bundle, &["advise", "config.json"], &[], b"").ok();
    assert!(
        advice
            .stdout
            .contains("allowedCapabilities:\n  - CAP_FUTURE_THING\n"),
        "{}",
        advice.stdout
    );
    let data = bundle.canonicalize().unwrap().join("data");
    assert!(
        advice
            .stdout
            .contains(&format!("pathPrefix: {}, readOnly: true", data.display())),
        "{}",
        advice.stdout
    );
    let policy = dir.write("advised.yaml", &advice.stdout);
    let lint = bin(&["lint", "--policy", s(&policy)]).ok();
    assert!(
        lint.stdout
            .contains("CAP_FUTURE_THING is no capability this build knows"),
        "{lint:#?}"
    );
    admits_all(&policy, std::slice::from_ref(&bundle));
    for (caps, source) in [
        (&["CAP_SYS_ADMIN"][..], "data"),
        (&["CAP_FUTURE_THING"][..], "/"),
    ] {
        std::fs::write(bundle.join("config.json"), with(caps, source)).unwrap();
        assert_eq!(check(&policy, &bundle), Some(1), "{caps:?} {source}");
    }
}

#[test]
fn json_output_and_bundle_directories() {
    let dir = Dir::new();
    let bundles = [dir.bundle("podman-bind-etc"), dir.bundle("ctr-run-default")];
    let advice = bin(&[
        "advise",
        "--output",
        "json",
        "--name",
        "web",
        s(&bundles[0]),
        s(&bundles[1]),
    ])
    .ok();
    let value: Value = serde_json::from_str(&advice.stdout).unwrap();
    assert_eq!(value["metadata"]["name"], "web");
    assert_eq!(
        value["spec"]["allowedHostPaths"],
        json!([{"pathPrefix": "/etc", "readOnly": true}])
    );
    let policy = dir.write("web.json", &advice.stdout);
    admits_all(&policy, &bundles);
}

#[test]
fn one_policy_per_namespace_with_bindings() {
    let dir = Dir::new();
    let cri = [
        "team-a-web",
        "team-a-web-sandbox",
        "team-a-worker",
        "team-b-shipper",
        "kube-system-proxy",
    ];
    // each in a bundle named by its runtime id (a sandbox's is its
    // sandbox id)
    let mut inputs: Vec<PathBuf> = cri
        .iter()
        .map(|n| dir.bundle(&format!("advise/{n}")))
        .collect();
    inputs.push(dir.bundle("podman-default"));
    let config = dir.path().join("advised-config.yaml");
    let mut args = vec![
        "advise",
        "--group-by",
        "namespace",
        "--explain",
        "--config-output",
        s(&config),
    ];
    args.extend(inputs.iter().map(|p| s(p)));
    let advice = bin(&args).ok();
    let names: Vec<&str> = advice
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  name: "))
        .collect();
    assert_eq!(names, ["kube-system", "team-a", "team-b", "default"]);
    assert!(!advice.stdout.contains("HookConfiguration"));
    dir.write("policies.d/advised.yaml", &advice.stdout);
    let config_text = std::fs::read_to_string(&config).unwrap();
    assert!(
        config_text.contains("kind: HookConfiguration\n"),
        "{config_text}"
    );
    let config = dir.write(
        "config.yaml",
        &format!("{config_text}policyDirectory: policies.d\n"),
    );
    bin(&["lint", "--config", s(&config)]).ok();
    // The CRI captures judged as the node judges them (`--cri`: their
    // runtime made them); podman's container is no CRI runtime's.
    let (cri_inputs, podman) = inputs.split_at(cri.len());
    for (input, flags) in cri_inputs
        .iter()
        .map(|i| (i, &["--cri"][..]))
        .chain(podman.iter().map(|i| (i, &[][..])))
    {
        let id = id_of(input);
        let mut args = vec!["check", "--config", s(&config)];
        args.extend_from_slice(flags);
        args.extend(id.iter().map(String::as_str));
        args.push(s(input));
        let r = bin(&args);
        assert_eq!(
            r.code,
            Some(0),
            "{} is not admitted: {r:#?}",
            input.display()
        );
    }
    // the sandbox was judged as one, a pod-level check only
    let sandbox = &inputs[1];
    let r = bin(&[
        "check",
        "--config",
        s(&config),
        "--cri",
        "--output",
        "json",
        s(sandbox),
    ]);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["container"]["sandbox"], true, "{json}");
    // kube-proxy's privileges are kube-system's only
    let proxy = std::fs::read_to_string(fixture("advise/kube-system-proxy"))
        .unwrap()
        .replace("\"kube-system\"", "\"team-a\"");
    let moved = dir.write("moved/config.json", &proxy);
    assert_eq!(
        bin(&["check", "--config", s(&config), "--cri", s(&moved)]).code,
        Some(1)
    );
    // ... and a CRI runtime's: claimed by a config.json no CRI runtime made,
    // kube-system selects nothing (the defaults deny it)
    let r = bin(&[
        "check",
        "--config",
        s(&config),
        "--output",
        "json",
        s(&inputs[4]),
    ]);
    assert_eq!(r.code, Some(1), "{r:#?}");
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["chosenBy"], "defaultPolicies", "{json}");

    // Without --config-output the configuration is the last document.
    let mut args = vec!["advise", "--group-by", "namespace"];
    args.extend(inputs.iter().map(|p| s(p)));
    let advice = bin(&args).ok();
    let last = advice.stdout.rsplit("---\n").next().unwrap();
    assert!(
        last.starts_with("apiVersion: oci-psp-hook/v1alpha1\nkind: HookConfiguration\n"),
        "{last}"
    );
}

#[test]
fn from_the_log_of_the_hook_in_audit_mode() {
    let dir = Dir::new();
    let socket = dir.path().join("log.sock");
    let log = UnixDatagram::bind(&socket).unwrap();
    log.set_read_timeout(Some(DEADLINE)).unwrap();
    std::fs::create_dir_all(dir.path().join("policies.d")).unwrap();
    let config = dir.write(
        "config.yaml",
        "apiVersion: oci-psp-hook/v1alpha1\nkind: HookConfiguration\npolicyDirectory: policies.d\nmode: audit\ndefaultPolicies: [builtin:restricted]\n",
    );
    let inputs = [
        "podman-default",
        "podman-bind-rw",
        "podman-cap-add",
        "ctr-run-host-network",
        "runc-restricted-ok",
        "advise/team-a-web",
        "advise/team-b-shipper",
    ];
    // The node's log key, as the package makes it: the hook signs with it.
    let key = dir.path().join("etc/log.key");
    let made = bin(&["log-key", "--root", s(dir.path())]).ok();
    assert!(made.stdout.contains("created the log key"), "{made:#?}");
    std::fs::rename(dir.path().join("etc/oci-psp-hook/log.key"), &key).unwrap();
    let mut records = String::new();
    let mut bundles = Vec::new();
    for name in inputs {
        let bundle = dir.bundle(name);
        let state = json!({"ociVersion": "1.0.2", "id": runtime_id(name), "status": "creating", "bundle": bundle});
        let r = run(
            &["hook", "--config", s(&config)],
            &[
                ("OCI_PSP_HOOK_LOG_SOCKET", &socket),
                ("OCI_PSP_HOOK_LOG_KEY", &key),
            ],
            state.to_string().as_bytes(),
        );
        assert_eq!(r.code, Some(0), "audit mode lets {name} start: {r:#?}");
        let mut buf = vec![0u8; 1 << 20];
        let n = log.recv(&mut buf).expect("a log record");
        let record = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(record.contains(" decision {"), "{record}");
        records.push_str(record.trim_end());
        records.push('\n');
        bundles.push(bundle);
    }
    assert!(
        records.contains("\"verdict\":\"deny\""),
        "restricted would deny some: {records}"
    );
    assert!(records.contains("} hmac-sha256="), "{records}");
    // A forged record any local program could write: a privileged container.
    let privileged = {
        let first = records.lines().next().unwrap();
        let json = &first[first.find("decision ").unwrap() + "decision ".len()..];
        let json = &json[..json.rfind(" hmac-sha256=").unwrap()];
        let mut forged: Value = serde_json::from_str(json).unwrap();
        forged["facts"]["hostPID"] = json!(true);
        format!("<86>Dec  2 01:00:00 node oci-psp-hook[1]: decision {forged}\n")
    };
    let log_file = dir.write("hook.log", &format!("{records}{privileged}"));
    let advice = bin(&["advise", "--from-log", s(&log_file), "--log-key", s(&key)]).ok();
    assert!(
        advice
            .stderr
            .contains("skipped records: 1 not attributable to the hook"),
        "{advice:#?}"
    );
    assert!(
        !advice.stdout.contains("hostPID: true"),
        "{}",
        advice.stdout
    );
    assert!(!advice.stdout.contains("unattributed"), "{}", advice.stdout);
    // Taken when asked for, and the advice says so.
    let taken = bin(&[
        "advise",
        "--from-log",
        s(&log_file),
        "--log-key",
        s(&key),
        "--accept-unattributed",
    ])
    .ok();
    assert!(taken.stdout.contains("hostPID: true"), "{}", taken.stdout);
    assert!(
        taken.stdout.contains("oci-psp-hook/unattributed-log-records: \"advised from 1 log records that cannot be attributed"),
        "{}",
        taken.stdout
    );
    let log_file = dir.write("hook.log", &records);
    let advice = bin(&["advise", "--from-log", s(&log_file), "--log-key", s(&key)]).ok();
    assert_eq!(advice.stderr, "");
    // what the log showed, and only that
    for part in [
        "hostNetwork: true",
        "- SYS_ADMIN\n",
        "pathPrefix: /tmp/psp-data}",
        "- {max: 32767, min: 32767}",
    ] {
        assert!(
            advice.stdout.contains(part),
            "{part} not in {}",
            advice.stdout
        );
    }
    assert!(
        advice.stdout.contains("hostPID: false\n"),
        "{}",
        advice.stdout
    );
    // run by the hook from plain bundles, podman's captures are no
    // containers podman made here: its per-container files are host paths
    // to the hook, and the log says so
    assert!(
        advice.stdout.contains("overlay-containers"),
        "{}",
        advice.stdout
    );
    let policy = dir.write("advised.yaml", &advice.stdout);
    admits_all(&policy, &bundles);
}

/// What only an exemption admits is no evidence for a policy: containers the
/// node's configuration exempts are left out of the advice, and said.
#[test]
fn exempt_containers_are_left_out() {
    let dir = Dir::new();
    let inputs = [
        dir.bundle("advise/team-a-web"),
        dir.bundle("advise/kube-system-proxy"),
    ];
    let paths: Vec<&str> = inputs.iter().map(|p| s(p)).collect();
    let mut args = vec!["advise"];
    args.extend(&paths);
    let all = bin(&args).ok();
    assert!(all.stdout.contains("hostNetwork: true"), "{}", all.stdout);
    std::fs::create_dir_all(dir.path().join("policies.d")).unwrap();
    let config = dir.write(
        "config.yaml",
        "apiVersion: oci-psp-hook/v1alpha1\nkind: HookConfiguration\npolicyDirectory: policies.d\n\
         exemptions:\n- namespaces: [kube-system]\n  containerNames: [kube-proxy]\n",
    );
    let mut args = vec!["advise", "--config", s(&config)];
    args.extend(&paths);
    let some = bin(&args).ok();
    assert!(
        some.stdout.contains("hostNetwork: false"),
        "{}",
        some.stdout
    );
    assert!(
        some.stderr.contains("1 container(s) an exemption of") && some.stderr.contains("left out"),
        "{}",
        some.stderr
    );
    // every input exempt: nothing to advise from
    let none = bin(&["advise", "--config", s(&config), s(&inputs[1])]);
    assert_eq!(none.code, Some(2), "{none:#?}");
}

#[test]
fn errors_exit_2_and_say_why() {
    let r = bin(&["advise"]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("no containers to advise from"), "{r:#?}");
    let r = bin(&["advise", "/nonexistent/config.json"]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("/nonexistent/config.json"), "{r:#?}");
    let podman = fixture("podman-default");
    let r = bin(&["advise", "--explain", "--output", "json", s(&podman)]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("--explain"), "{r:#?}");
    let r = bin(&["advise", "--config-output", "/tmp/x", s(&podman)]);
    assert_eq!(r.code, Some(2));
    let r = bin(&["advise", "--name", "Bad_Name", s(&podman)]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("--name \"Bad_Name\""), "{r:#?}");
    let r = bin(&["advise", "--from-log", "/nonexistent/log"]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("/nonexistent/log: cannot read"), "{r:#?}");
}

/// A container started with `runc run -d`, killed and deleted on drop.
struct RuncContainer {
    id: String,
}

impl Drop for RuncContainer {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .args(["kill", &self.id, "KILL"])
            .output();
        for _ in 0..50 {
            let deleted = Command::new("runc")
                .args(["delete", "--force", &self.id])
                .output()
                .is_ok_and(|o| o.status.success());
            if deleted {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

#[test]
fn running_containers_through_runc() {
    let root = nix_is_root();
    let (Some(_), Some(busybox), true) = (which("runc"), which("busybox"), root) else {
        eprintln!("skipped: needs root, runc and busybox");
        return;
    };
    let dir = Dir::new();
    let bundle = dir.path().join("bundle");
    std::fs::create_dir_all(bundle.join("rootfs/bin")).unwrap();
    std::fs::copy(&busybox, bundle.join("rootfs/bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", bundle.join("rootfs/bin/sleep")).unwrap();
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("runc-spec-default")).unwrap())
            .unwrap();
    config["process"]["terminal"] = json!(false);
    // It ends by itself should the test process die before cleaning up.
    config["process"]["args"] = json!(["/bin/sleep", "30"]);
    config["process"]["user"] = json!({"uid": 4321, "gid": 4321, "additionalGids": [4400]});
    std::fs::write(bundle.join("config.json"), config.to_string()).unwrap();
    let container = RuncContainer {
        id: format!("oci-psp-hook-advise-{}", std::process::id()),
    };
    let started = Command::new("runc")
        .args(["run", "-d", "--bundle", s(&bundle), &container.id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(started.success(), "runc run: {started:?}");
    // Other containers of the host may run too: ours must be among them.
    let advice = bin(&["advise", "--running", "--explain"]).ok();
    assert!(advice.stdout.contains(&container.id), "{}", advice.stdout);
    assert!(
        advice.stdout.contains("- {max: 4400, min: 4400}"),
        "{}",
        advice.stdout
    );
    let policy = dir.write("advised.yaml", &advice.stdout);
    admits_all(&policy, &[bundle]);
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|ids| ids.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}
