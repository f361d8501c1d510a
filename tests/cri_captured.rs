//! The config.json files containerd 2.x's CRI plugin and CRI-O really wrote
//! (`tests/fixtures/cri-captured/`, captured by `integration/cri-capture.sh`),
//! judged by `check --cri --id <runtime id>` with the configuration they were
//! captured under: each verdict (and each denial's fields) is the one
//! `verdicts.tsv` records. Where the node decides otherwise (namespaces and
//! user-namespace maps only the kernel shows), the file says so.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_oci-psp-hook");

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cri-captured")
}

/// The configuration of the capture, in a temporary directory.
struct Config(PathBuf);

impl Config {
    fn new() -> Config {
        let root =
            std::env::temp_dir().join(format!("oci-psp-hook-captured-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
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
        Config(root)
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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
        let out = Command::new(BIN)
            .args(["check", "--cri", "--id", id, "--output", "json", "--config"])
            .arg(config.0.join("config.yaml"))
            .arg(dir().join(file))
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
