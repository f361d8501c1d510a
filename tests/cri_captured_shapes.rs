//! Real node shapes: the config.json files containerd 2.x's CRI plugin
//! (routes `base-spec` and `nri`) and CRI-O (`hooks-dir`) wrote for
//! kubelet-shaped pods (`tests/fixtures/cri-captured/`, captured by
//! `integration/cri-capture.sh`; see its README), judged by
//! `oci-psp-hook check --cri` with a configuration that binds policies by
//! Kubernetes namespace:
//!
//! | namespace | policies |
//! |---|---|
//! | kube-system | builtin:privileged |
//! | team-a | restricted, builtin:baseline |
//! | team-restricted | restricted (`examples/restricted-psp.yaml`) |
//! | team-c | node-logs: hostPath `/var/log` read-only, nfs, flexVolume `example.com/lvm`, csi `ebs.csi.aws.com` |
//! | team-d | claims: the restricted volume types plus persistentVolumeClaim |
//! | anything else | builtin:baseline (defaultPolicies) |
//!
//! The captures of these tests are in namespace team-restricted (some in
//! team-pss or team-baseline); a test moves one to another namespace by
//! rewriting its namespace annotations. Every other change a test makes to
//! a capture is named where it is made, and small: a namespace path joined
//! elsewhere, a mount option, an annotation a runtime writes in another
//! version or configuration.
//!
//! Namespace paths `/proc/<pid>/ns/*` (containerd joins the sandbox's
//! namespaces that way) are rewritten on load to a pid no Linux system can
//! have (at least `PID_MAX_LIMIT`, 2^22), so a live process of the test
//! machine never decides a verdict by chance; the tests that need a live
//! process put one there explicitly.
//!
//! The CSI and subPath cases need kubelet's directories, gone since the
//! capture: the hook reads
//! `/var/lib/kubelet/pods/<uid>/volumes/kubernetes.io~csi/<pv>/vol_data.json`
//! (kubelet's root is fixed there). Those tests create a pod directory of
//! their own under `/var/lib/kubelet/pods/`, as the capture's test did
//! (root is needed), give the capture its uid, and remove it.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_oci-psp-hook");
const RESTRICTED_PSP: &str = include_str!("../examples/restricted-psp.yaml");

/// team-c: a log shipper's policy.
const NODE_LOGS_PSP: &str = "\
apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata:
  name: node-logs
spec:
  allowPrivilegeEscalation: false
  requiredDropCapabilities: [ALL]
  runAsUser:
    rule: MustRunAsNonRoot
  seLinux:
    rule: RunAsAny
  supplementalGroups:
    rule: RunAsAny
  fsGroup:
    rule: RunAsAny
  volumes: [configMap, secret, projected, emptyDir, downwardAPI, hostPath, nfs, flexVolume, csi]
  allowedHostPaths:
  - pathPrefix: /var/log
    readOnly: true
  allowedFlexVolumes:
  - driver: example.com/lvm
  allowedCSIDrivers:
  - name: ebs.csi.aws.com
";

/// team-d: persistent volume claims of any kind, no inline volumes of the
/// node.
const CLAIMS_PSP: &str = "\
apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata:
  name: claims
spec:
  allowPrivilegeEscalation: false
  requiredDropCapabilities: [ALL]
  runAsUser:
    rule: MustRunAsNonRoot
  seLinux:
    rule: RunAsAny
  supplementalGroups:
    rule: RunAsAny
  fsGroup:
    rule: RunAsAny
  volumes: [configMap, secret, projected, emptyDir, downwardAPI, persistentVolumeClaim]
";

const CONFIG: &str = "\
apiVersion: oci-psp-hook/v1alpha1
kind: HookConfiguration
policyDirectory: policies.d
mode: enforce
defaultPolicies: [builtin:baseline]
bindings:
  - namespaces: [kube-system]
    policies: [builtin:privileged]
  - namespaces: [team-a]
    policies: [restricted, builtin:baseline]
  - namespaces: [team-restricted]
    policies: [restricted]
  - namespaces: [team-c]
    policies: [node-logs]
  - namespaces: [team-d]
    policies: [claims]
";

/// No process can have this pid (Linux's PID_MAX_LIMIT is 2^22).
const IMPOSSIBLE_PID_BASE: u64 = 1 << 22;

// ------------------------------------------------------------------ harness

/// A temporary directory with `config.yaml` and `policies.d/`, removed on drop.
struct Env {
    _temp: tempfile::TempDir,
    dir: PathBuf,
    bundles: AtomicUsize,
}

impl Env {
    fn new() -> Env {
        let temp = common::temp_dir("cri");
        let dir = temp.path().to_path_buf();
        std::fs::create_dir_all(dir.join("policies.d")).unwrap();
        std::fs::write(dir.join("policies.d/restricted.yaml"), RESTRICTED_PSP).unwrap();
        std::fs::write(dir.join("policies.d/node-logs.yaml"), NODE_LOGS_PSP).unwrap();
        std::fs::write(dir.join("policies.d/claims.yaml"), CLAIMS_PSP).unwrap();
        std::fs::write(dir.join("config.yaml"), CONFIG).unwrap();
        Env {
            _temp: temp,
            dir,
            bundles: AtomicUsize::new(0),
        }
    }

    /// Write `spec` into a bundle directory of its own and judge it as the
    /// node judges a container its CRI runtime made (`check --cri`, with the
    /// runtime id the runtime gave it).
    fn check(&self, name: &str, spec: &Value) -> Outcome {
        self.check_as(name, spec, true, None)
    }

    /// `check`, honouring the annotations only with `cri`, as runtime id
    /// `id` (default: the one the runtime gave it).
    fn check_as(&self, name: &str, spec: &Value, cri: bool, id: Option<&str>) -> Outcome {
        let n = self.bundles.fetch_add(1, Ordering::Relaxed);
        let bundle_id = format!("{}-{n}", name.replace('/', "-"));
        let id = id
            .map(str::to_string)
            .or_else(|| runtime_id(spec))
            .unwrap_or_else(|| bundle_id.clone());
        let cri_flag: &[&str] = if cri { &["--cri"] } else { &[] };
        let bundle = self.dir.join("k8s.io").join(&bundle_id);
        std::fs::create_dir_all(&bundle).unwrap();
        let config_json = bundle.join("config.json");
        std::fs::write(&config_json, serde_json::to_vec_pretty(spec).unwrap()).unwrap();
        let config = self.dir.join("config.yaml");
        let run = |output: &str| {
            Command::new(BIN)
                .arg("check")
                .arg("--config")
                .arg(&config)
                .arg("--output")
                .arg(output)
                .args(cri_flag)
                .args(["--id", &id])
                .arg(&config_json)
                .output()
                .expect("run oci-psp-hook")
        };
        let json_run = run("json");
        let text_run = run("text");
        let stdout = String::from_utf8_lossy(&json_run.stdout);
        let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "{name}: check --output json printed no JSON ({e}): {stdout}\nstderr: {}",
                String::from_utf8_lossy(&json_run.stderr)
            )
        });
        let text = String::from_utf8_lossy(&text_run.stdout).into_owned();
        let code = json_run.status.code().expect("exit code");
        assert_eq!(
            text_run.status.code(),
            Some(code),
            "{name}: text and JSON runs disagree"
        );
        Outcome {
            name: name.to_string(),
            id,
            code,
            json,
            line: text.lines().next().unwrap_or_default().to_string(),
        }
    }
}

/// One verdict: exit code, the JSON of `--output json`, the first line of
/// `--output text`.
struct Outcome {
    name: String,
    /// The runtime id it was judged as.
    id: String,
    code: i32,
    json: Value,
    line: String,
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (exit {}): {}\n{}",
            self.name,
            self.code,
            self.line,
            serde_json::to_string_pretty(&self.json).unwrap_or_default()
        )
    }
}

impl Outcome {
    /// (policy, field, message) of every violation.
    fn violations(&self) -> Vec<(String, String, String)> {
        self.json["violations"]
            .as_array()
            .unwrap_or_else(|| panic!("{self:?}: no violations array"))
            .iter()
            .map(|v| {
                (
                    v["policy"].as_str().unwrap_or_default().to_string(),
                    v["field"].as_str().unwrap_or_default().to_string(),
                    v["message"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    fn unverified_fields(&self) -> Vec<String> {
        self.json["unverified"]
            .as_array()
            .unwrap_or_else(|| panic!("{self:?}: no unverified array"))
            .iter()
            .map(|v| v["field"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The Kubernetes identity the hook read, and that the one line names it.
    fn assert_identity(&self, who: &Who) -> &Self {
        let c = &self.json["container"];
        assert_eq!(c["id"], self.id.as_str(), "{self:?}");
        assert_eq!(c["namespace"], who.namespace.as_str(), "{self:?}");
        assert_eq!(c["pod"], who.pod, "{self:?}");
        assert_eq!(c["sandbox"], who.sandbox, "{self:?}");
        if !who.sandbox {
            assert_eq!(c["container"], who.container, "{self:?}");
        }
        let label = if who.sandbox {
            format!("(container {}/{} (sandbox))", who.namespace, who.pod)
        } else {
            format!(
                "(container {}/{}/{})",
                who.namespace, who.pod, who.container
            )
        };
        assert!(
            self.line.contains(&label),
            "{self:?}\nthe line does not name {label}"
        );
        self
    }

    /// Allowed by `policy`, chosen by `chosen_by`, with no violation of the
    /// admitting policy.
    fn assert_allowed(&self, policy: &str, chosen_by: &str) -> &Self {
        assert_eq!(self.code, 0, "{self:?}");
        assert_eq!(self.json["allowed"], true, "{self:?}");
        assert_eq!(self.json["verdict"], "allow", "{self:?}");
        assert_eq!(self.json["mode"], "enforce", "{self:?}");
        assert_eq!(self.json["admittedBy"], policy, "{self:?}");
        assert_eq!(self.json["chosenBy"], chosen_by, "{self:?}");
        assert!(
            self.violations().iter().all(|(p, _, _)| p != policy),
            "{self:?}"
        );
        assert!(
            self.line
                .starts_with(&format!("oci-psp-hook: allowed by policy {policy:?} (")),
            "{self:?}"
        );
        self
    }

    /// Denied in enforce mode, chosen by `chosen_by`, and exactly these
    /// (policy, field) pairs violated, each message containing its text.
    fn assert_denied(&self, chosen_by: &str, expected: &[(&str, &str, &str)]) -> &Self {
        assert_eq!(self.code, 1, "{self:?}");
        assert_eq!(self.json["allowed"], false, "{self:?}");
        assert_eq!(self.json["verdict"], "deny", "{self:?}");
        assert_eq!(self.json["admittedBy"], Value::Null, "{self:?}");
        assert_eq!(self.json["chosenBy"], chosen_by, "{self:?}");
        let found = self.violations();
        assert_eq!(
            found.len(),
            expected.len(),
            "{self:?}\nexpected exactly {expected:?}"
        );
        for (policy, field, text) in expected {
            assert!(
                found
                    .iter()
                    .any(|(p, f, m)| p == policy && f == field && m.contains(text)),
                "{self:?}\nno {field} violation of {policy} containing {text:?}"
            );
        }
        assert!(
            self.line.starts_with("oci-psp-hook: denied by "),
            "{self:?}"
        );
        for (_, field, _) in expected {
            assert!(
                self.line.contains(&format!("{field}: ")),
                "{self:?}\nthe line does not name {field}"
            );
        }
        self
    }
}

/// The runtime id the runtime gave a container: both runtimes end the
/// cgroup path they write with it (containerd `<parent>/<id>`, CRI-O
/// `<parent>/crio-<id>`); `ids.tsv` records the same ids (checked below).
fn runtime_id(spec: &Value) -> Option<String> {
    let path = spec["linux"]["cgroupsPath"].as_str()?;
    let last = path.rsplit('/').next()?;
    let id = last.strip_prefix("crio-").unwrap_or(last);
    (id.len() == 64).then(|| id.to_string())
}

/// Who a fixture is, as the hook must read it from the annotations.
struct Who {
    namespace: String,
    pod: &'static str,
    container: &'static str,
    sandbox: bool,
}

fn app(namespace: &str, pod: &'static str, container: &'static str) -> Who {
    Who {
        namespace: namespace.to_string(),
        pod,
        container,
        sandbox: false,
    }
}

fn sandbox(namespace: &str, pod: &'static str) -> Who {
    Who {
        namespace: namespace.to_string(),
        pod,
        container: "",
        sandbox: true,
    }
}

// ---------------------------------------------------------- fixture editing

fn captures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cri-captured")
}

/// `<route>/<runtime>-<case>-{app,sandbox}`.
fn fixture_path(name: &str) -> PathBuf {
    captures().join(format!("{name}.json"))
}

/// A fixture, with every `/proc/<pid>/ns/*` namespace path moved to a pid no
/// process can have.
fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_path(name))
        .unwrap_or_else(|e| panic!("{}: {e}", fixture_path(name).display()));
    let mut spec: Value = serde_json::from_str(&text).unwrap();
    for ns in namespaces_mut(&mut spec) {
        let Some(path) = ns.get("path").and_then(Value::as_str) else {
            continue;
        };
        if let Some(rest) = path.strip_prefix("/proc/")
            && let Some((pid, tail)) = rest.split_once('/')
            && let Ok(pid) = pid.parse::<u64>()
        {
            let moved = format!("/proc/{}/{tail}", IMPOSSIBLE_PID_BASE + pid);
            ns["path"] = Value::String(moved);
        }
    }
    spec
}

fn namespaces_mut(spec: &mut Value) -> &mut Vec<Value> {
    spec["linux"]["namespaces"]
        .as_array_mut()
        .expect("linux.namespaces")
}

fn annotations_mut(spec: &mut Value) -> &mut serde_json::Map<String, Value> {
    spec["annotations"].as_object_mut().expect("annotations")
}

/// Move the pod to another Kubernetes namespace (containerd's and CRI-O's
/// namespace annotations and CRI-O's names, whichever the fixture has).
fn in_namespace(mut spec: Value, namespace: &str) -> Value {
    let annotations = annotations_mut(&mut spec);
    let mut moved = false;
    for key in [
        "io.kubernetes.cri.sandbox-namespace",
        "io.kubernetes.pod.namespace",
        "io.kubernetes.cri-o.Namespace",
    ] {
        if let Some(value) = annotations.get_mut(key) {
            *value = Value::String(namespace.to_string());
            moved = true;
        }
    }
    // CRI-O's names, `k8s_[<container>_]<pod>_<namespace>_<uid>_<attempt>`:
    // the namespace is the third field from the end.
    for key in [
        "io.kubernetes.cri-o.Name",
        "io.kubernetes.cri-o.SandboxName",
    ] {
        if let Some(Value::String(name)) = annotations.get_mut(key) {
            let mut parts: Vec<String> = name.split('_').map(str::to_string).collect();
            let at = parts.len().saturating_sub(3);
            if let Some(part) = parts.get_mut(at) {
                *part = namespace.to_string();
            }
            *name = parts.join("_");
        }
    }
    assert!(moved, "the fixture has no namespace annotation");
    spec
}

/// Make a `linux.namespaces` entry join `path`.
fn join_namespace(mut spec: Value, typ: &str, path: &str) -> Value {
    let entry = namespaces_mut(&mut spec)
        .iter_mut()
        .find(|ns| ns["type"] == typ)
        .unwrap_or_else(|| panic!("no {typ} namespace entry"));
    entry["path"] = Value::String(path.to_string());
    spec
}

fn namespace_path(spec: &Value, typ: &str) -> Option<String> {
    spec["linux"]["namespaces"]
        .as_array()?
        .iter()
        .find(|ns| ns["type"] == typ)?
        .get("path")?
        .as_str()
        .map(str::to_string)
}

/// The mount at `destination`.
fn mount_mut<'a>(spec: &'a mut Value, destination: &str) -> &'a mut Value {
    spec["mounts"]
        .as_array_mut()
        .expect("mounts")
        .iter_mut()
        .find(|m| m["destination"] == destination)
        .unwrap_or_else(|| panic!("no mount at {destination}"))
}

fn mount<'a>(spec: &'a Value, destination: &str) -> &'a Value {
    spec["mounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .find(|m| m["destination"] == destination)
        .unwrap_or_else(|| panic!("no mount at {destination}"))
}

fn mount_source(spec: &Value, destination: &str) -> String {
    mount(spec, destination)["source"]
        .as_str()
        .expect("a mount source")
        .to_string()
}

/// Replace `from` by `to` everywhere in the fixture's text.
fn rewrite(spec: &Value, from: &str, to: &str) -> Value {
    let text = serde_json::to_string(spec).unwrap();
    assert!(text.contains(from), "{from:?} is not in the fixture");
    serde_json::from_str(&text.replace(from, to)).unwrap()
}

/// `<route>/<runtime>`: the prefix of the captures of each route.
const RUNTIMES: [&str; 3] = ["base-spec/containerd", "nri/containerd", "hooks-dir/crio"];
const CONTAINERD: [&str; 2] = ["base-spec/containerd", "nri/containerd"];

// --------------------------------------------------------- host namespaces

/// A pid whose `ns` namespace (`net`, `pid`, `ipc`) is the hook's own (the
/// hook is a child of this test): `/proc/1` when it is readable and in this
/// test's namespace, else this test process.
fn host_pid(ns: &str) -> u32 {
    let identity = |path: String| std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
    let own = identity(format!("/proc/self/ns/{ns}"));
    if own.is_some() && identity(format!("/proc/1/ns/{ns}")) == own {
        1
    } else {
        std::process::id()
    }
}

/// `unshare --net --ipc --uts sleep 60`: a process in namespaces of its
/// own, like a pod sandbox's pause process. `None` where unshare cannot run.
struct PrivateNamespaces(Child);

impl PrivateNamespaces {
    fn start() -> Option<PrivateNamespaces> {
        let child = Command::new("unshare")
            .args(["--net", "--ipc", "--uts", "sleep", "60"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let guard = PrivateNamespaces(child);
        let pid = guard.0.id();
        let identity = |path: String| std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
        let own = identity("/proc/self/ns/net".into());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let theirs = identity(format!("/proc/{pid}/ns/net"));
            if theirs.is_some() && theirs != own {
                return Some(guard);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None // unshare failed (no privilege) or never got there
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for PrivateNamespaces {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ------------------------------------------------------- kubelet's pod tree

/// Tests that create directories under /var/lib/kubelet run one at a time,
/// so removing an empty parent cannot race with another test creating it.
static KUBELET_TREE: Mutex<()> = Mutex::new(());

const KUBELET_PODS: &str = "/var/lib/kubelet/pods";

/// A pod directory `/var/lib/kubelet/pods/<uid>` made by this test, removed
/// on drop together with the parents the test had to create.
struct KubeletPod {
    uid: String,
    dir: PathBuf,
    created_parents: Vec<PathBuf>,
    _lock: std::sync::MutexGuard<'static, ()>,
}

impl KubeletPod {
    /// `None` (the test is skipped) when the tree cannot be created, e.g.
    /// without root.
    fn create() -> Option<KubeletPod> {
        let lock = KUBELET_TREE.lock().unwrap_or_else(|e| e.into_inner());
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let uid = format!(
            "0c5d7e9f-{:04x}-4{:03x}-8{:03x}-{:012x}",
            std::process::id() & 0xffff,
            (nanos >> 12) & 0xfff,
            nanos & 0xfff,
            (nanos >> 24) & 0xffff_ffff_ffff
        );
        let mut created_parents = Vec::new();
        for parent in ["/var/lib/kubelet", KUBELET_PODS] {
            let parent = PathBuf::from(parent);
            if !parent.exists() {
                if let Err(e) = std::fs::create_dir_all(&parent) {
                    eprintln!("skipped: cannot create {}: {e}", parent.display());
                    return None;
                }
                created_parents.push(parent);
            }
        }
        let dir = Path::new(KUBELET_PODS).join(&uid);
        let pod = KubeletPod {
            uid,
            dir,
            created_parents,
            _lock: lock,
        };
        if let Err(e) = std::fs::create_dir(&pod.dir) {
            eprintln!("skipped: cannot create {}: {e}", pod.dir.display());
            return None;
        }
        Some(pod)
    }

    fn mkdir(&self, rel: &str) -> PathBuf {
        let path = self.dir.join(rel);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// A CSI volume as kubelet's CSI plugin lays it out: the mount directory
    /// and `vol_data.json` beside it.
    fn csi_volume(&self, pv: &str, driver: &str) {
        self.mkdir(&format!("volumes/kubernetes.io~csi/{pv}/mount"));
        let vol_data = json!({
            "attachmentID": "csi-4a7f0c2e9b1d3e5f7a9c1b3d5e7f9a1c3b5d7e9f1a3c5b7d9e1f3a5c7b9d1e3f",
            "driverName": driver,
            "nodeName": "node-1",
            "specVolID": pv,
            "volumeHandle": "vol-0a1b2c3d4e5f67890",
            "volumeLifecycleMode": "Persistent",
        });
        self.write(
            &format!("volumes/kubernetes.io~csi/{pv}/vol_data.json"),
            &vol_data.to_string(),
        );
    }

    /// The fixture with its pod uid replaced by this pod's.
    fn adopt(&self, spec: &Value) -> Value {
        let fixture_uid = spec["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["source"].as_str())
            .find_map(|s| s.strip_prefix("/var/lib/kubelet/pods/"))
            .and_then(|rest| rest.split('/').next())
            .expect("a kubelet mount")
            .to_string();
        // Everywhere: the paths and the pod UID annotation, which must agree
        // (another pod's kubelet directory is a host path).
        rewrite(spec, &fixture_uid, &self.uid)
    }
}

impl Drop for KubeletPod {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        for parent in self.created_parents.iter().rev() {
            let _ = std::fs::remove_dir(parent); // only if empty
        }
    }
}

// ==================================================================== tests

const OK: &str = "cri-sh-restricted-ok";
const HOSTNET: &str = "cri-sh-hostnetwork";
const SHARE_PID: &str = "cri-sh-share-pid";

fn is_crio(rt: &str) -> bool {
    rt.ends_with("/crio")
}

/// CRI-O's sandbox file describes an infra container CRI-O runs without
/// hooks (docs/cri-o.md), with no maskedPaths/readonlyPaths: any policy
/// short of privileged sees an unmasked /proc there. The violation it adds
/// to a CRI-O sandbox's denial by `policy`.
fn unmasked(policy: &'static str) -> (&'static str, &'static str, &'static str) {
    (policy, "procMount", "/proc is unmasked")
}

#[test]
fn every_capture_names_its_runtime_id_in_its_cgroup_path() {
    let table = std::fs::read_to_string(captures().join("ids.tsv")).unwrap();
    let mut n = 0;
    for line in table.lines().filter(|l| !l.trim().is_empty()) {
        let (file, id) = line.split_once('\t').unwrap();
        let text = std::fs::read_to_string(captures().join(file)).unwrap();
        let spec: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(runtime_id(&spec).as_deref(), Some(id), "{file}");
        n += 1;
    }
    assert!(n >= 100, "{n}");
}

#[test]
fn compliant_app_and_its_sandbox_pass_restricted() {
    let env = Env::new();
    for rt in RUNTIMES {
        let name = format!("{rt}-restricted-ok-app");
        let spec = fixture(&name);
        let out = env.check(&name, &spec);
        out.assert_allowed("restricted", "bindings[2]")
            .assert_identity(&app("team-restricted", OK, "app"));
        // no port annotation on an app container, and the sandbox's
        // namespaces are gone offline: said, not enforced
        let unverified = out.unverified_fields();
        assert!(unverified.contains(&"hostPorts".to_string()), "{out:?}");
        assert!(
            unverified
                .iter()
                .all(|f| ["hostPorts", "hostNetwork", "hostPID", "hostIPC"].contains(&f.as_str())),
            "{out:?}"
        );

        // team-a: the first policy of the binding admits it
        let out = env.check(
            &format!("{name}-team-a"),
            &in_namespace(spec.clone(), "team-a"),
        );
        out.assert_allowed("restricted", "bindings[1]")
            .assert_identity(&app("team-a", OK, "app"));

        // a namespace no binding names: defaultPolicies
        let out = env.check(&format!("{name}-default"), &in_namespace(spec, "default"));
        out.assert_allowed("builtin:baseline", "defaultPolicies")
            .assert_identity(&app("default", OK, "app"));
    }
    // containerd's sandbox runs with containerd's 14 default capabilities:
    // judged on pod-level settings only, it passes.
    for rt in CONTAINERD {
        let name = format!("{rt}-restricted-ok-sandbox");
        let spec = fixture(&name);
        assert_eq!(
            spec["process"]["capabilities"]["bounding"]
                .as_array()
                .map(Vec::len),
            Some(14),
            "{name}"
        );
        let out = env.check(&name, &spec);
        out.assert_allowed("restricted", "bindings[2]")
            .assert_identity(&sandbox("team-restricted", OK));
        // containerd passes no port mappings
        assert_eq!(
            out.unverified_fields(),
            ["hostNetwork", "hostPorts"],
            "{out:?}"
        );
    }
    // CRI-O's: root with CRI-O's 9 default capabilities, only its unmasked
    // /proc refused (never hooked); CRI-O passes the pod's port mappings on
    // its sandbox ("[]" here), so host ports are verified. (CRI-O's pinned
    // namespaces do not exist offline: those stay unverified.)
    let name = "hooks-dir/crio-restricted-ok-sandbox";
    let spec = fixture(name);
    assert_eq!(spec["process"]["user"]["uid"], 0);
    assert_eq!(
        spec["annotations"]["io.kubernetes.cri-o.PortMappings"],
        "[]"
    );
    let out = env.check(name, &spec);
    out.assert_denied("bindings[2]", &[unmasked("restricted")])
        .assert_identity(&sandbox("team-restricted", OK));
    assert_eq!(
        out.unverified_fields(),
        ["hostNetwork", "hostIPC"],
        "{out:?}"
    );
}

#[test]
fn sandbox_of_a_pod_with_an_unsafe_sysctl_fails_only_on_it() {
    // Both runtimes write the pod's sysctls into the sandbox's config.json
    // (the captured pod is in team-baseline): moved to team-restricted, that
    // sysctl is all restricted refuses, nothing about the sandbox's user,
    // capabilities or seccomp (CRI-O's: and its unmasked /proc). Its
    // compliant twin: restricted-ok's sandbox.
    let env = Env::new();
    for rt in RUNTIMES {
        let name = format!("{rt}-unsafe-sysctl-sandbox");
        let spec = in_namespace(fixture(&name), "team-restricted");
        assert_eq!(spec["linux"]["sysctl"]["kernel.msgmax"], "65536");
        let mut expected = vec![("restricted", "sysctl", "kernel.msgmax")];
        if is_crio(rt) {
            expected.push(unmasked("restricted"));
        }
        env.check(&name, &spec)
            .assert_denied("bindings[2]", &expected)
            .assert_identity(&sandbox("team-restricted", "cri-sh-unsafe-sysctl"));
    }
    // CRI-O sets them with pinns on the pinned namespaces, which its app
    // containers join: not in theirs.
    let spec = fixture("hooks-dir/crio-unsafe-sysctl-app");
    assert!(spec["linux"]["sysctl"].get("kernel.msgmax").is_none());
}

#[test]
fn host_network_pod_without_a_network_entry() {
    // CRI-O: the app container of a hostNetwork pod has no network entry;
    // containerd's sandbox of such a pod has none either. (CRI-O 1.34's
    // sandbox file joins a pinned file of the host's network namespace,
    // gone offline; its infra container is never hooked, see docs/cri-o.md.)
    let env = Env::new();
    let mut cases = vec![(
        "hooks-dir/crio-hostnetwork-app".to_string(),
        app("team-restricted", HOSTNET, "app"),
    )];
    for rt in CONTAINERD {
        cases.push((
            format!("{rt}-hostnetwork-sandbox"),
            sandbox("team-restricted", HOSTNET),
        ));
    }
    for (name, who) in cases {
        let spec = fixture(&name);
        assert!(
            !spec["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .any(|ns| ns["type"] == "network"),
            "{name}"
        );
        env.check(&name, &spec)
            .assert_denied(
                "bindings[2]",
                &[(
                    "restricted",
                    "hostNetwork",
                    "container shares the host network namespace",
                )],
            )
            .assert_identity(&who);

        let moved = in_namespace(spec.clone(), "kube-system");
        let who = Who {
            namespace: "kube-system".into(),
            ..who
        };
        env.check(&format!("{name}-kube-system"), &moved)
            .assert_allowed("builtin:privileged", "bindings[0]")
            .assert_identity(&who);

        // team-a: both of its policies refuse, each says why
        let out = env.check(&format!("{name}-team-a"), &in_namespace(spec, "team-a"));
        out.assert_denied(
            "bindings[1]",
            &[
                ("restricted", "hostNetwork", "host network namespace"),
                ("builtin:baseline", "hostNetwork", "host network namespace"),
            ],
        );
        assert!(
            out.line
                .starts_with("oci-psp-hook: denied by every policy: \"restricted\": hostNetwork: "),
            "{out:?}"
        );
    }
}

#[test]
fn containerd_host_network_app_joins_the_host_namespace_by_path() {
    // containerd's app container of a hostNetwork pod joins
    // /proc/<sandbox pid>/ns/net, and the sandbox is in the host's network
    // namespace: put a process of the host's namespace there.
    let env = Env::new();
    let path = format!("/proc/{}/ns/net", host_pid("net"));
    for rt in CONTAINERD {
        let name = format!("{rt}-hostnetwork-app");
        let captured = fixture(&name);
        assert!(
            namespace_path(&captured, "network")
                .unwrap()
                .ends_with("/ns/net")
        );
        let spec = join_namespace(captured, "network", &path);
        let out = env.check(&name, &spec);
        out.assert_denied(
            "bindings[2]",
            &[(
                "restricted",
                "hostNetwork",
                &format!(
                    "container shares the host network namespace (it joins {path}, which is the host's)"
                ),
            )],
        )
        .assert_identity(&app("team-restricted", HOSTNET, "app"));

        let out = env.check(
            &format!("{name}-kube-system"),
            &in_namespace(spec, "kube-system"),
        );
        out.assert_allowed("builtin:privileged", "bindings[0]")
            .assert_identity(&app("kube-system", HOSTNET, "app"));
    }
}

#[test]
fn pod_namespaces_joined_by_path_are_not_the_hosts() {
    let env = Env::new();
    // CRI-O's pinned namespaces (/var/run/netns/<uuid>, ipcns, utsns) that do
    // not exist here: joined, not the host's.
    let spec = fixture("hooks-dir/crio-restricted-ok-app");
    let net = namespace_path(&spec, "network").unwrap();
    assert!(net.starts_with("/var/run/netns/"), "{net}");
    assert!(!Path::new(&net).exists(), "{net} exists on this machine");
    env.check("crio-pinned", &spec)
        .assert_allowed("restricted", "bindings[2]");

    // containerd's /proc/<sandbox pid>/ns/* of a pid that does not exist
    for rt in CONTAINERD {
        let spec = fixture(&format!("{rt}-restricted-ok-app"));
        assert!(
            namespace_path(&spec, "network")
                .unwrap()
                .ends_with("/ns/net")
        );
        env.check(&format!("{rt}-proc-paths"), &spec)
            .assert_allowed("restricted", "bindings[2]");
    }

    // shareProcessNamespace: the PID namespace of the sandbox by path
    for rt in RUNTIMES {
        let name = format!("{rt}-share-pid-app");
        let spec = fixture(&name);
        let pid_path = namespace_path(&spec, "pid").unwrap();
        assert!(pid_path.ends_with("/ns/pid"), "{pid_path}");
        env.check(&name, &spec)
            .assert_allowed("restricted", "bindings[2]")
            .assert_identity(&app("team-restricted", SHARE_PID, "app"));
    }

    // A live sandbox-like process in namespaces of its own (needs unshare
    // and the privilege to use it).
    match PrivateNamespaces::start() {
        Some(pause) => {
            for rt in CONTAINERD {
                let mut spec = fixture(&format!("{rt}-restricted-ok-app"));
                for (typ, file) in [("network", "net"), ("ipc", "ipc"), ("uts", "uts")] {
                    spec = join_namespace(spec, typ, &format!("/proc/{}/ns/{file}", pause.pid()));
                }
                env.check(&format!("{rt}-live-sandbox"), &spec)
                    .assert_allowed("restricted", "bindings[2]");
            }
        }
        None => eprintln!("skipped the live sandbox case: unshare --net did not work here"),
    }
}

#[test]
fn host_namespaces_joined_by_path_are_the_hosts() {
    let env = Env::new();

    // PID namespace of a host process (shareProcessNamespace pointing at the
    // host's): hostPID
    for rt in RUNTIMES {
        let path = format!("/proc/{}/ns/pid", host_pid("pid"));
        let spec = join_namespace(fixture(&format!("{rt}-share-pid-app")), "pid", &path);
        env.check(&format!("{rt}-host-pid"), &spec)
            .assert_denied(
                "bindings[2]",
                &[(
                    "restricted",
                    "hostPID",
                    &format!("it joins {path}, which is the host's"),
                )],
            )
            .assert_identity(&app("team-restricted", SHARE_PID, "app"));
    }

    // A CRI-O pinned network namespace file that is the host's: a symlink to
    // this test's namespace stands in for a bind mount of it.
    let link = env.dir.join("netns-host");
    std::os::unix::fs::symlink(format!("/proc/{}/ns/net", std::process::id()), &link).unwrap();
    let link = link.display().to_string();
    let spec = join_namespace(
        fixture("hooks-dir/crio-restricted-ok-app"),
        "network",
        &link,
    );
    env.check("crio-pinned-host", &spec).assert_denied(
        "bindings[2]",
        &[(
            "restricted",
            "hostNetwork",
            &format!("it joins {link}, which is the host's"),
        )],
    );

    // IPC of the host through containerd's /proc path: hostIPC
    for rt in CONTAINERD {
        let path = format!("/proc/{}/ns/ipc", host_pid("ipc"));
        let spec = join_namespace(fixture(&format!("{rt}-restricted-ok-app")), "ipc", &path);
        env.check(&format!("{rt}-host-ipc"), &spec).assert_denied(
            "bindings[2]",
            &[(
                "restricted",
                "hostIPC",
                &format!("it joins {path}, which is the host's"),
            )],
        );
    }
}

#[test]
fn host_path_var_log() {
    let env = Env::new();
    let shipper = "cri-sh-hostpath-varlog";
    for rt in RUNTIMES {
        let name = format!("{rt}-hostpath-varlog-app");
        let spec = fixture(&name);
        let opts = mount(&spec, "/var/log")["options"].clone();
        assert!(
            opts.as_array().unwrap().contains(&json!("ro")),
            "{name}: {opts}"
        );

        // restricted: no hostPath volumes at all
        env.check(&name, &spec)
            .assert_denied(
                "bindings[2]",
                &[(
                    "restricted",
                    "volumes",
                    "hostPath volume /var/log mounted at /var/log is not allowed",
                )],
            )
            .assert_identity(&app("team-restricted", shipper, "app"));

        // node-logs: /var/log read-only
        let team_c = in_namespace(spec.clone(), "team-c");
        env.check(&format!("{name}-team-c"), &team_c)
            .assert_allowed("node-logs", "bindings[3]")
            .assert_identity(&app("team-c", shipper, "app"));

        // the same mount writable
        let mut writable = team_c;
        let options = mount_mut(&mut writable, "/var/log")["options"]
            .as_array_mut()
            .unwrap();
        for o in options.iter_mut() {
            if o == "ro" {
                *o = json!("rw");
            }
        }
        env.check(&format!("{name}-team-c-rw"), &writable)
            .assert_denied(
                "bindings[3]",
                &[(
                    "node-logs",
                    "allowedHostPaths",
                    "mounted writable at /var/log",
                )],
            )
            .assert_identity(&app("team-c", shipper, "app"));

        // another host directory: not under the prefix
        let mut other = in_namespace(spec, "team-c");
        mount_mut(&mut other, "/var/log")["source"] = json!("/etc");
        env.check(&format!("{name}-team-c-etc"), &other)
            .assert_denied(
                "bindings[3]",
                &[(
                    "node-logs",
                    "allowedHostPaths",
                    "host path /etc (mounted at /var/log) is not under an allowed prefix",
                )],
            );
    }
}

#[test]
fn nfs_persistent_volume() {
    let env = Env::new();
    for rt in RUNTIMES {
        let name = format!("{rt}-nfs-volume-app");
        let spec = fixture(&name);
        assert!(mount_source(&spec, "/data").contains("/volumes/kubernetes.io~nfs/pv-reports-nfs"));
        env.check(&name, &spec)
            .assert_denied(
                "bindings[2]",
                &[(
                    "restricted",
                    "volumes",
                    "nfs volume at /data is not allowed",
                )],
            )
            .assert_identity(&app("team-restricted", "cri-sh-nfs-volume", "app"));
        // nfs listed
        env.check(
            &format!("{name}-team-c"),
            &in_namespace(spec.clone(), "team-c"),
        )
        .assert_allowed("node-logs", "bindings[3]");
        // persistentVolumeClaim listed: an nfs PV is a claim's volume too
        env.check(&format!("{name}-team-d"), &in_namespace(spec, "team-d"))
            .assert_allowed("claims", "bindings[4]");
    }
}

#[test]
fn flex_volume_driver() {
    let env = Env::new();
    for rt in RUNTIMES {
        let name = format!("{rt}-flexvolume-app");
        let spec = fixture(&name);
        assert!(mount_source(&spec, "/var/lib/ledger").contains("/volumes/example.com~lvm/"));
        env.check(&name, &spec)
            .assert_denied(
                "bindings[2]",
                &[(
                    "restricted",
                    "volumes",
                    "flexVolume volume at /var/lib/ledger is not allowed",
                )],
            )
            .assert_identity(&app("team-restricted", "cri-sh-flexvolume", "app"));
        // the driver directory example.com~lvm is driver example.com/lvm
        let team_c = in_namespace(spec.clone(), "team-c");
        env.check(&format!("{name}-team-c"), &team_c)
            .assert_allowed("node-logs", "bindings[3]");
        // the same volume of another driver's directory
        let other = rewrite(
            &team_c,
            "/volumes/example.com~lvm/",
            "/volumes/example.com~zfs/",
        );
        env.check(&format!("{name}-team-c-zfs"), &other).assert_denied(
            "bindings[3]",
            &[(
                "node-logs",
                "allowedFlexVolumes",
                "flexVolume driver example.com/zfs at /var/lib/ledger is not allowed (allowed: example.com/lvm)",
            )],
        );
        // a flexVolume may back a claim: admitted where claims are
        env.check(&format!("{name}-team-d"), &in_namespace(spec, "team-d"))
            .assert_allowed("claims", "bindings[4]");
    }
}

#[test]
fn csi_driver_from_vol_data_json() {
    let env = Env::new();
    for rt in RUNTIMES {
        let name = format!("{rt}-csi-volume-app");
        let fixture_spec = fixture(&name);
        let source = mount_source(&fixture_spec, "/var/cache/app");
        let pv = source
            .split("/volumes/kubernetes.io~csi/")
            .nth(1)
            .and_then(|rest| rest.strip_suffix("/mount"))
            .expect("a CSI volume mount")
            .to_string();

        // Without kubelet's directory the driver is unknown: fail closed.
        if !Path::new(&source).exists() {
            env.check(
                &format!("{name}-no-tree"),
                &in_namespace(fixture_spec.clone(), "team-c"),
            )
            .assert_denied(
                "bindings[3]",
                &[(
                    "node-logs",
                    "allowedCSIDrivers",
                    "csi volume at /var/cache/app has an unknown driver",
                )],
            );
        }

        let Some(pod) = KubeletPod::create() else {
            return;
        };
        // vol_data.json as the capture's test wrote it (and kubelet does)
        pod.csi_volume(&pv, "ebs.csi.aws.com");
        let spec = pod.adopt(&fixture_spec);
        csi_volume_judged_by_its_driver(&env, &name, &spec, &pod, &pv, "cri-sh-csi-volume");
    }
}

/// A pod's CSI volume at /var/cache/app (its own or a subPath of it), the
/// pod's kubelet directory made with driver ebs.csi.aws.com: restricted
/// refuses the csi volume; node-logs admits that driver and, once
/// `vol_data.json` names another, refuses it.
fn csi_volume_judged_by_its_driver(
    env: &Env,
    name: &str,
    spec: &Value,
    pod: &KubeletPod,
    pv: &str,
    pod_name: &'static str,
) {
    env.check(name, spec)
        .assert_denied(
            "bindings[2]",
            &[(
                "restricted",
                "volumes",
                "csi volume at /var/cache/app is not allowed",
            )],
        )
        .assert_identity(&app("team-restricted", pod_name, "app"));
    let team_c = in_namespace(spec.clone(), "team-c");
    env.check(&format!("{name}-team-c"), &team_c)
        .assert_allowed("node-logs", "bindings[3]");
    pod.csi_volume(pv, "nfs.csi.k8s.io");
    env.check(&format!("{name}-team-c-other"), &team_c)
        .assert_denied(
            "bindings[3]",
            &[(
                "node-logs",
                "allowedCSIDrivers",
                "csi driver nfs.csi.k8s.io at /var/cache/app is not allowed (allowed: ebs.csi.aws.com)",
            )],
        );
}

#[test]
fn volume_subpaths_are_their_volumes() {
    let env = Env::new();
    for rt in RUNTIMES {
        let name = format!("{rt}-subpath-app");
        let fixture_spec = fixture(&name);
        let config_sub = mount_source(&fixture_spec, "/etc/cache/cache.conf");
        let data_sub = mount_source(&fixture_spec, "/var/cache/app");
        assert!(
            config_sub.ends_with("/volume-subpaths/cache-config/app/0"),
            "{config_sub}"
        );
        let pv = data_sub
            .split("/volume-subpaths/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap()
            .to_string();

        // Without kubelet's directories a subpath names no plugin: the hook
        // cannot tell its volume and judges it as a host path.
        if !Path::new(&config_sub).exists() {
            env.check(&format!("{name}-no-tree"), &fixture_spec)
                .assert_denied(
                    "bindings[2]",
                    &[
                        (
                            "restricted",
                            "volumes",
                            &format!(
                                "hostPath volume {config_sub} mounted at /etc/cache/cache.conf"
                            ),
                        ),
                        (
                            "restricted",
                            "volumes",
                            &format!("hostPath volume {data_sub} mounted at /var/cache/app"),
                        ),
                    ],
                );
        }

        let Some(pod) = KubeletPod::create() else {
            return;
        };
        // kubelet's layout as the capture's test made it: the volumes, and
        // the bind targets of the subpaths
        pod.mkdir("volumes/kubernetes.io~configmap/cache-config");
        pod.write("volumes/kubernetes.io~configmap/cache-config/data", "x\n");
        pod.csi_volume(&pv, "ebs.csi.aws.com");
        pod.write("volume-subpaths/cache-config/app/0", "x\n");
        pod.mkdir(&format!("volume-subpaths/{pv}/app/1"));
        let spec = pod.adopt(&fixture_spec);

        // The configMap subpath passes restricted. The CSI one is a host
        // path: its volume's directory is named by the PV, which a pod's
        // hostPath volume could be named after, so the subpath cannot be
        // tied to it.
        env.check(&name, &spec)
            .assert_denied(
                "bindings[2]",
                &[(
                    "restricted",
                    "volumes",
                    &format!("/volume-subpaths/{pv}/app/1 mounted at /var/cache/app"),
                )],
            )
            .assert_identity(&app("team-restricted", "cri-sh-subpath", "app"));
    }
}

#[test]
fn host_ports_from_both_annotations() {
    let env = Env::new();
    let pod = "cri-sh-hostport";

    // CRI-O's sandbox: io.kubernetes.cri-o.PortMappings
    let spec = fixture("hooks-dir/crio-hostport-sandbox");
    let mappings: Value = serde_json::from_str(
        spec["annotations"]["io.kubernetes.cri-o.PortMappings"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(mappings[0]["HostPort"], 18080);
    env.check("crio-host-ports", &spec)
        .assert_denied(
            "bindings[2]",
            &[
                (
                    "restricted",
                    "hostPorts",
                    "host port 18080/TCP: no host ports are allowed",
                ),
                unmasked("restricted"),
            ],
        )
        .assert_identity(&sandbox("team-restricted", pod));
    env.check(
        "crio-host-ports-kube-system",
        &in_namespace(spec, "kube-system"),
    )
    .assert_allowed("builtin:privileged", "bindings[0]");

    // kubelet's io.kubernetes.container.ports on the app container, which
    // CRI-O copies; the metrics port has no host port and is no violation.
    // containerd copies it only where the runtime's `container_annotations`
    // name it (none by default, so the capture has none): added as it would
    // copy it.
    let crio = fixture("hooks-dir/crio-hostport-app");
    let ports = crio["annotations"]["io.kubernetes.container.ports"].clone();
    let text = ports.as_str().unwrap();
    assert!(text.contains("\"hostPort\": 18080"), "{text}");
    assert!(text.contains("\"containerPort\": 9090"), "{text}");
    for rt in RUNTIMES {
        let name = format!("{rt}-hostport-app");
        let mut spec = fixture(&name);
        if !is_crio(rt) {
            assert!(spec["annotations"]["io.kubernetes.container.ports"].is_null());
            annotations_mut(&mut spec)
                .insert("io.kubernetes.container.ports".into(), ports.clone());
        }
        env.check(&name, &spec)
            .assert_denied(
                "bindings[2]",
                &[(
                    "restricted",
                    "hostPorts",
                    "host port 18080/TCP: no host ports are allowed",
                )],
            )
            .assert_identity(&app("team-restricted", pod, "app"));
        env.check(
            &format!("{name}-kube-system"),
            &in_namespace(spec, "kube-system"),
        )
        .assert_allowed("builtin:privileged", "bindings[0]");
    }
}

/// CRI-O versions whose `convertPortMappings` returned a nil slice wrote
/// `null` where 1.34 writes `[]` (the one change to the capture): no host
/// port, verified, the same verdict as `[]`.
#[test]
fn crio_sandbox_with_null_port_mappings_has_no_host_port() {
    let env = Env::new();
    let mut spec = fixture("hooks-dir/crio-restricted-ok-sandbox");
    annotations_mut(&mut spec).insert("io.kubernetes.cri-o.PortMappings".into(), json!("null"));
    let out = env.check("crio-null-port-mappings", &spec);
    out.assert_denied("bindings[2]", &[unmasked("restricted")]);
    assert!(
        !out.unverified_fields().contains(&"hostPorts".to_string()),
        "{out:?}"
    );
    // in kube-system, nothing else stands
    env.check(
        "crio-null-port-mappings-kube-system",
        &in_namespace(spec, "kube-system"),
    )
    .assert_allowed("builtin:privileged", "bindings[0]");
}

/// k3s runs containerd with its state under /run/k3s/containerd and its root
/// under /var/lib/rancher/k3s/agent/containerd (`CRI_LAYOUT=k3s` of
/// integration/cri.sh): the captures' containerd directories moved there.
#[test]
fn k3s_containerd_sandbox_files_are_runtime_managed() {
    let env = Env::new();
    for rt in CONTAINERD {
        let spec = fixture(&format!("{rt}-restricted-ok-app"));
        let spec = rewrite(
            &spec,
            "/var/lib/containerd/io.containerd.grpc.v1.cri/",
            "/var/lib/rancher/k3s/agent/containerd/io.containerd.grpc.v1.cri/",
        );
        let spec = rewrite(
            &spec,
            "/run/containerd/io.containerd.grpc.v1.cri/",
            "/run/k3s/containerd/io.containerd.grpc.v1.cri/",
        );
        env.check(&format!("{rt}-k3s-restricted-app"), &spec)
            .assert_allowed("restricted", "bindings[2]");
    }
}

/// The test image declares `VOLUME /data`; containerd's CRI plugin
/// (ignore_image_defined_volumes = false, the default) binds a directory of
/// its own for it, in the container's directory: not a host path. Another
/// container's such directory is one.
#[test]
fn containerd_image_volume_is_not_a_host_path() {
    let env = Env::new();
    for rt in CONTAINERD {
        let name = format!("{rt}-image-defined-volume-app");
        let spec = fixture(&name);
        let id = runtime_id(&spec).unwrap();
        let source = mount_source(&spec, "/data");
        assert!(
            source.starts_with(&format!(
                "/var/lib/containerd/io.containerd.grpc.v1.cri/containers/{id}/volumes/"
            )),
            "{source}"
        );
        env.check(&name, &spec)
            .assert_allowed("restricted", "bindings[2]")
            .assert_identity(&app(
                "team-restricted",
                "cri-sh-image-defined-volume",
                "app",
            ));
        let other = "1".repeat(64);
        let stranger = env.check_as(&format!("{name}-stranger"), &spec, true, Some(&other));
        assert!(
            stranger.violations().iter().any(|(_, f, m)| f == "volumes"
                && m.contains(&format!("hostPath volume {source} mounted at /data"))),
            "{stranger:?}"
        );
    }
    // CRI-O (image_volumes = mkdir) makes the directory in the rootfs: no mount
    let spec = fixture("hooks-dir/crio-image-defined-volume-app");
    assert!(
        spec["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["destination"] != "/data")
    );
    env.check("crio-image-defined-volume", &spec)
        .assert_allowed("restricted", "bindings[2]");
}

/// A hostPath naming another pod's secret directory is a host path, not a
/// secret volume: the pod UID in kubelet's path must be the container's own.
#[test]
fn another_pods_secret_is_a_host_path() {
    let env = Env::new();
    for rt in RUNTIMES {
        let name = format!("{rt}-another-pods-secret-app");
        let spec = fixture(&name);
        let stolen = mount_source(&spec, "/stolen");
        assert!(stolen.ends_with("/volumes/kubernetes.io~secret/db-password"));
        env.check(&name, &spec)
            .assert_denied(
                "bindings[2]",
                &[(
                    "restricted",
                    "volumes",
                    &format!("hostPath volume {stolen} mounted at /stolen is not allowed"),
                )],
            )
            .assert_identity(&app("team-restricted", "cri-sh-another-pods-secret", "app"));
    }
}

/// An annotation is a claim: without a CRI runtime behind it (here, without
/// `--cri`) a kube-system claim binds nothing and its kubelet volumes are no
/// pod's, so the default policy judges them as host paths.
#[test]
fn annotations_count_only_for_a_cri_runtimes_container() {
    let env = Env::new();
    for rt in RUNTIMES {
        let spec = in_namespace(fixture(&format!("{rt}-restricted-ok-app")), "kube-system");
        env.check(&format!("{rt}-kube-system-app"), &spec)
            .assert_allowed("builtin:privileged", "bindings[0]");
        let claimed = env.check_as(&format!("{rt}-kube-system-claim"), &spec, false, None);
        assert_eq!(claimed.json["chosenBy"], "defaultPolicies", "{claimed:?}");
        assert_eq!(claimed.json["container"]["namespace"], Value::Null);
        assert!(
            claimed
                .violations()
                .iter()
                .any(|(_, f, m)| f == "volumes"
                    && m.contains("hostPath volume /var/lib/kubelet/pods/")),
            "{claimed:?}"
        );
    }
}

/// A sandbox is one only when its runtime id is the sandbox id: the same
/// annotations on another container relax nothing.
#[test]
fn a_sandbox_claim_needs_the_sandbox_id() {
    let env = Env::new();
    for rt in CONTAINERD {
        let spec = fixture(&format!("{rt}-restricted-ok-sandbox"));
        let real = env.check(&format!("{rt}-sandbox"), &spec);
        assert_eq!(real.json["container"]["sandbox"], true, "{real:?}");
        real.assert_allowed("restricted", "bindings[2]");
        let other = "0".repeat(64);
        let forged = env.check_as(&format!("{rt}-forged-sandbox"), &spec, true, Some(&other));
        assert_eq!(forged.json["container"]["sandbox"], false, "{forged:?}");
        // the container-level checks a real sandbox skips apply again: its
        // default capabilities are refused
        assert!(
            forged
                .violations()
                .iter()
                .any(|(_, f, _)| f == "requiredDropCapabilities"),
            "{forged:?}"
        );
    }
}
