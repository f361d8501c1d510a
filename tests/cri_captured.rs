//! The config.json files containerd 2.x's CRI plugin and CRI-O really wrote
//! (`tests/fixtures/cri-captured/`, captured by `integration/cri-capture.sh`),
//! judged by `check --cri --id <runtime id>` with the configuration they were
//! captured under: each verdict (and each denial's fields) is the one
//! `verdicts.tsv` records, the namespace paths `/proc/<pid>/ns/*` moved out
//! of any pid's range first. Where the node decides otherwise (namespaces and
//! user-namespace maps only the kernel shows), the file says so.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_oci-psp-hook");

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cri-captured")
}

/// The configuration of the capture, in a temporary directory (removed on
/// drop).
struct Config(tempfile::TempDir);

impl Config {
    fn new() -> Config {
        // One directory per configuration: the tests run side by side.
        let dir = common::temp_dir("captured");
        let root = dir.path();
        std::fs::create_dir_all(root.join("policies.d")).unwrap();
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/restricted-psp.yaml"),
            root.join("policies.d/restricted.yaml"),
        )
        .unwrap();
        std::fs::write(
            root.join("config.yaml"),
            "apiVersion: oci-psp-hook/v1alpha1\nkind: HookConfiguration\npolicyDirectory: policies.d\n\
             defaultPolicies: [builtin:baseline]\nbindings:\n\
             - {namespaces: [kube-system], policies: [builtin:privileged]}\n\
             - {namespaces: [team-restricted], policies: [restricted]}\n\
             - {namespaces: [team-pss], policies: [builtin:restricted]}\n\
             - {namespaces: [team-baseline], policies: [builtin:baseline]}\n",
        )
        .unwrap();
        Config(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

fn load(file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join(file)).unwrap()).unwrap()
}

#[test]
fn every_capture_gets_its_recorded_verdict() {
    let config = Config::new();
    let table = std::fs::read_to_string(dir().join("verdicts.tsv")).unwrap();
    let mut judged = 0;
    let mut wrong = Vec::new();
    for line in table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let f: Vec<&str> = line.split('\t').collect();
        let (file, id, namespace, expected, fields) =
            (f[0], f[1], f[2], f[3], f.get(5).copied().unwrap_or(""));
        let copy = config.path().join("config.json");
        std::fs::write(&copy, common::offline(&load(file)).to_string()).unwrap();
        let out = Command::new(BIN)
            .args(["check", "--cri", "--id", id, "--output", "json", "--config"])
            .arg(config.path().join("config.yaml"))
            .arg(&copy)
            .output()
            .unwrap();
        let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let verdict = json["verdict"].as_str().unwrap_or("?");
        // An empty namespace in the table: the file names none (no identity).
        if json["container"]["namespace"].as_str().unwrap_or("") != namespace {
            wrong.push(format!(
                "{file}: namespace {} (expected {namespace})",
                json["container"]["namespace"]
            ));
        }
        if verdict != expected {
            wrong.push(format!(
                "{file}: {verdict} (expected {expected}): {}",
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        for want in fields.split("; ").map(str::trim).filter(|w| !w.is_empty()) {
            let (policy, field) = want.rsplit_once(':').unwrap();
            let found = json["violations"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|v| v["policy"] == policy && v["field"] == field);
            if !found {
                wrong.push(format!("{file}: no {field} violation of {policy}"));
            }
        }
        judged += 1;
    }
    assert!(judged >= 100, "only {judged} captures judged");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `check --cri` of a capture under the capture's configuration plus
/// `exemptions`, its annotations changed by `edit` (written to a temporary
/// copy): the JSON decision.
fn exempted(exemptions: &str, file: &str, id: &str, edit: &[(&str, &str)]) -> Value {
    let config = Config::new();
    let path = config.path().join("config.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}exemptions:\n{exemptions}")).unwrap();
    let mut capture = common::offline(&load(file));
    for (k, v) in edit {
        capture["annotations"][*k] = Value::from(*v);
    }
    let copy = config.path().join("config.json");
    std::fs::write(&copy, capture.to_string()).unwrap();
    let out = Command::new(BIN)
        .args(["check", "--cri", "--id", id, "--output", "json", "--config"])
        .arg(&path)
        .arg(&copy)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{out:?}"))
}

const PRIVILEGED_APP: &str = "base-spec/containerd-privileged-app.json";
const PRIVILEGED_SANDBOX: &str = "base-spec/containerd-privileged-sandbox.json";

/// A capture and its runtime id (`ids.tsv`).
fn with_id(file: &str) -> (&str, String) {
    let table = std::fs::read_to_string(dir().join("ids.tsv")).unwrap();
    let id = table
        .lines()
        .find_map(|l| l.strip_prefix(file)?.strip_prefix('\t'))
        .unwrap_or_else(|| panic!("{file} is not in ids.tsv"));
    (file, id.to_string())
}

/// containerd's own annotations of the privileged pod (team-restricted,
/// container `app`, image `localhost/oci-psp-hook/busybox:test`) match a
/// rule of all three; a rule any field of which differs does not, and the
/// policy's denial stands.
#[test]
fn exemptions_match_containerds_identity() {
    let (file, id) = with_id(PRIVILEGED_APP);
    let rule = "- namespaces: [team-restricted]\n  containerNames: [app]\n  images: [\"localhost/oci-psp-hook/busybox:*\"]\n";
    let json = exempted(rule, file, &id, &[]);
    assert_eq!(json["verdict"], "exempt", "{json}");
    assert_eq!(json["allowed"], true);
    assert_eq!(json["exemption"]["rule"], "exemptions[0]");
    assert_eq!(
        json["exemption"]["matched"],
        serde_json::json!([
            "namespace team-restricted",
            "container app",
            "image localhost/oci-psp-hook/busybox:test"
        ])
    );
    // what the exemption waived is still recorded
    assert!(
        json["violations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["field"] == "privileged"),
        "{json}"
    );
    for other in [
        "- namespaces: [team-pss]\n  containerNames: [app]\n",
        "- namespaces: [team-restricted]\n  containerNames: [debugger]\n",
        "- namespaces: [team-restricted]\n  images: [\"localhost/oci-psp-hook/*\"]\n  containerNames: [other]\n",
        "- images: [\"localhost/*:test\"]\n",
        "- images: [\"docker.io/library/busybox:*\"]\n",
    ] {
        let json = exempted(other, file, &id, &[]);
        assert_eq!(json["verdict"], "deny", "{other}: {json}");
        assert!(json.get("exemption").is_none(), "{other}: {json}");
    }
    // `**` crosses the path's slashes, `*` does not
    let json = exempted("- images: [\"localhost/**:test\"]\n", file, &id, &[]);
    assert_eq!(json["verdict"], "exempt", "{json}");
    // the sandbox: its image is containerd's pause image; it has no
    // container name, which the record says
    let (file, id) = with_id(PRIVILEGED_SANDBOX);
    let json = exempted(
        "- namespaces: [team-restricted]\n  images: [\"localhost/oci-psp-hook/pause:*\"]\n",
        file,
        &id,
        &[],
    );
    assert_eq!(json["verdict"], "exempt", "{json}");
    let json = exempted(
        "- namespaces: [team-restricted]\n  containerNames: [app]\n",
        file,
        &id,
        &[],
    );
    assert_eq!(json["verdict"], "deny", "{json}");
    let hidden = json["exemptionsNotRevealed"][0].as_str().unwrap();
    assert!(
        hidden.starts_with("exemptions[0] does not apply: containerNames: a pod sandbox"),
        "{json}"
    );
}

/// What a pod can put into config.json — CRI-O's keys, containerd's
/// experimental runtime-handler pod annotation, through containerd's
/// `pod_annotations` passthrough — exempts nothing: only containerd's own
/// keys speak for a container containerd made, and it writes those last.
#[test]
fn forged_annotations_do_not_exempt() {
    let (file, id) = with_id(PRIVILEGED_APP);
    let forged = [
        ("io.kubernetes.pod.namespace", "monitoring"),
        ("io.kubernetes.container.name", "debugger"),
        (
            "io.kubernetes.cri-o.ImageName",
            "registry.example/node-exporter:v1",
        ),
        ("io.kubernetes.cri-o.RuntimeHandler", "kata"),
        ("io.containerd.cri.runtime-handler", "kata"),
    ];
    for rule in [
        "- namespaces: [monitoring]\n",
        "- containerNames: [debugger]\n",
        "- images: [\"registry.example/node-exporter:*\"]\n",
        "- runtimeHandlers: [kata]\n",
    ] {
        let json = exempted(rule, file, &id, &forged);
        assert_eq!(json["verdict"], "deny", "{rule}: {json}");
        assert_eq!(json["container"]["namespace"], "team-restricted");
    }
    let json = exempted("- runtimeHandlers: [kata]\n", file, &id, &forged);
    let hidden = json["exemptionsNotRevealed"][0].as_str().unwrap();
    assert!(
        hidden.starts_with("exemptions[0] does not apply: runtimeHandlers: no supported runtime"),
        "{json}"
    );
}
