//! The Kubernetes manifests of deploy/kubernetes, parsed and held to what
//! the fleet rollout needs: every node, node-critical, exactly the host
//! directories the installer writes, a read-only root, bounded resources,
//! readiness from `doctor`, a rolling update, a ConfigMap the installer
//! accepts. With kubectl at hand, both kustomizations are also built.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use oci_psp_hook::commands::base_spec::DEFAULT_HOOK_PATH;
use oci_psp_hook::commands::install::{BASE_SPEC, HOOKS_FILE};
use oci_psp_hook::policy_set::{CONFIG_DIR, STATUS_PATH, validate_staged};
use serde_json::{Value, json};

fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/kubernetes")
        .join(rel)
}

/// Every YAML document of a file.
fn docs(rel: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(deploy(rel)).unwrap();
    serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The one document of a file.
fn doc(rel: &str) -> Value {
    let mut all = docs(rel);
    assert_eq!(all.len(), 1, "{rel}: one document");
    all.remove(0)
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

fn parent(path: &str) -> String {
    Path::new(path).parent().unwrap().display().to_string()
}

/// The host directories the installer writes (without the containerd base spec).
fn written_dirs() -> BTreeSet<String> {
    [
        parent(DEFAULT_HOOK_PATH),
        parent(HOOKS_FILE),
        CONFIG_DIR.to_string(),
        parent(STATUS_PATH),
    ]
    .into()
}

const NAMESPACE: &str = "oci-psp-hook";

#[test]
fn kustomizations_list_the_resources() {
    let top = doc("kustomization.yaml");
    assert_eq!(top["kind"], "Kustomization");
    assert_eq!(strings(&top["resources"]), ["base"]);
    let base = doc("base/kustomization.yaml");
    assert_eq!(base["namespace"], NAMESPACE);
    let resources = strings(&base["resources"]);
    for file in [
        "namespace.yaml",
        "serviceaccount.yaml",
        "configmap.yaml",
        "daemonset.yaml",
    ] {
        assert!(resources.contains(&file), "{file} in {resources:?}");
        assert!(deploy(&format!("base/{file}")).is_file());
    }
    assert_eq!(base["images"][0]["name"], "oci-psp-hook");
    let overlay = doc("overlays/containerd/kustomization.yaml");
    assert_eq!(strings(&overlay["resources"]), ["../../base"]);
}

#[test]
fn namespace_and_service_account() {
    let ns = doc("base/namespace.yaml");
    assert_eq!(ns["kind"], "Namespace");
    assert_eq!(ns["metadata"]["name"], NAMESPACE);
    // hostPath volumes need the privileged Pod Security level.
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "privileged"
    );
    let sa = doc("base/serviceaccount.yaml");
    assert_eq!(sa["kind"], "ServiceAccount");
    assert_eq!(sa["metadata"]["namespace"], NAMESPACE);
    assert_eq!(sa["automountServiceAccountToken"], false);
}

#[test]
fn daemonset_runs_the_installer_on_every_node() {
    let ds = doc("base/daemonset.yaml");
    assert_eq!(ds["apiVersion"], "apps/v1");
    assert_eq!(ds["kind"], "DaemonSet");
    assert_eq!(ds["metadata"]["namespace"], NAMESPACE);
    assert_eq!(
        ds["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}})
    );
    let labels = &ds["spec"]["selector"]["matchLabels"];
    assert_eq!(&ds["spec"]["template"]["metadata"]["labels"], labels);
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["tolerations"], json!([{"operator": "Exists"}]));
    assert_eq!(pod["priorityClassName"], "system-node-critical");
    let sa = doc("base/serviceaccount.yaml");
    assert_eq!(pod["serviceAccountName"], sa["metadata"]["name"]);
    assert_eq!(pod["automountServiceAccountToken"], false);

    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(
        strings(&c["args"]),
        [
            "install",
            "--root",
            "/host",
            "--config-source",
            "/config",
            "--watch"
        ]
    );
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    assert_ne!(c["securityContext"]["privileged"], true);
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                c["resources"][kind][resource].is_string(),
                "resources.{kind}.{resource}"
            );
        }
    }
    // The image's ENTRYPOINT is /oci-psp-hook (Containerfile).
    assert_eq!(
        c["readinessProbe"]["exec"]["command"],
        json!(["/oci-psp-hook", "doctor", "--root", "/host"])
    );

    // hostPath volumes: exactly the directories the installer writes, each
    // mounted at /host + the same path, read-write.
    let volumes = pod["volumes"].as_array().unwrap();
    let mounts = c["volumeMounts"].as_array().unwrap();
    let mount_of = |name: &str| {
        mounts
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("volume {name} is not mounted"))
    };
    let mut host_paths = BTreeSet::new();
    for v in volumes {
        let name = v["name"].as_str().unwrap();
        let mount = mount_of(name);
        if let Some(path) = v["hostPath"]["path"].as_str() {
            assert_eq!(v["hostPath"]["type"], "DirectoryOrCreate", "{name}");
            assert_eq!(mount["mountPath"], format!("/host{path}"), "{name}");
            assert_ne!(mount["readOnly"], true, "{name}");
            host_paths.insert(path.to_string());
        }
    }
    assert_eq!(host_paths, written_dirs());
    // The ConfigMap is the source, as a whole directory (subPath mounts are
    // never updated).
    let source = volumes.iter().find(|v| v["configMap"].is_object()).unwrap();
    let cm = doc("base/configmap.yaml");
    assert_eq!(source["configMap"]["name"], cm["metadata"]["name"]);
    let mount = mount_of(source["name"].as_str().unwrap());
    assert_eq!(mount["mountPath"], "/config");
    assert_eq!(mount["readOnly"], true);
    assert!(mount.get("subPath").is_none());
    for m in mounts {
        assert!(
            volumes.iter().any(|v| v["name"] == m["name"]),
            "mount {m} has no volume"
        );
    }
}

#[test]
fn configmap_is_a_set_the_installer_accepts() {
    let cm = doc("base/configmap.yaml");
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(cm["metadata"]["namespace"], NAMESPACE);
    let data = cm["data"].as_object().unwrap();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["config.yaml", "restricted-psp.yaml"]
    );
    assert_eq!(
        data["restricted-psp.yaml"].as_str().unwrap(),
        include_str!("../examples/restricted-psp.yaml"),
        "the ConfigMap carries examples/restricted-psp.yaml as it is"
    );
    // As the installer stages it: config.yaml + policies.d/.
    let temp = common::temp_dir("deploy");
    let dir = temp.path();
    std::fs::create_dir_all(dir.join("policies.d")).unwrap();
    let config_text = data["config.yaml"].as_str().unwrap();
    std::fs::write(dir.join("config.yaml"), config_text).unwrap();
    std::fs::write(
        dir.join("policies.d/restricted-psp.yaml"),
        data["restricted-psp.yaml"].as_str().unwrap(),
    )
    .unwrap();
    let summary = validate_staged(dir);
    let summary = summary.unwrap_or_else(|e| panic!("the ConfigMap's set is refused: {e}"));
    assert_eq!(summary.policies, 1);
    // The installer's own namespace must stay admitted (its pods mount host
    // directories), or the DaemonSet could never update itself.
    let config: Value = serde_saphyr::from_str(config_text).unwrap();
    assert_eq!(config["policyDirectory"], "policies.d");
    let binding = config["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| strings(&b["namespaces"]).contains(&NAMESPACE))
        .expect("a binding for the installer's namespace");
    assert_eq!(strings(&binding["policies"]), ["builtin:privileged"]);
}

#[test]
fn containerd_overlay_adds_the_base_spec() {
    let overlay = doc("overlays/containerd/kustomization.yaml");
    let generator = &overlay["configMapGenerator"][0];
    assert_eq!(strings(&generator["files"]), ["base-spec.json"]);
    let spec: Value = serde_json::from_slice(
        &std::fs::read(deploy("overlays/containerd/base-spec.json")).unwrap(),
    )
    .unwrap();
    assert!(spec["ociVersion"].is_string() && spec["process"].is_object());
    assert_eq!(
        overlay["patches"][0]["path"], "daemonset-patch.yaml",
        "{overlay}"
    );
    let ops = doc("overlays/containerd/daemonset-patch.yaml");
    let ops = ops.as_array().unwrap();
    let added = |path: &str| -> Vec<&Value> {
        ops.iter()
            .filter(|o| o["op"] == "add" && o["path"] == path)
            .map(|o| &o["value"])
            .collect()
    };
    assert_eq!(
        added("/spec/template/spec/containers/0/args/-"),
        [
            "--containerd-base-spec",
            "--containerd-base-spec-from",
            "/containerd-base-spec/base-spec.json"
        ]
    );
    let volumes = added("/spec/template/spec/volumes/-");
    let host = volumes
        .iter()
        .find(|v| v["hostPath"].is_object())
        .expect("a hostPath volume");
    assert_eq!(host["hostPath"]["path"], parent(BASE_SPEC));
    let mounts = added("/spec/template/spec/containers/0/volumeMounts/-");
    assert!(
        mounts
            .iter()
            .any(|m| m["name"] == host["name"] && m["mountPath"] == "/host/etc/containerd")
    );
    let base_spec = volumes
        .iter()
        .find(|v| v["configMap"].is_object())
        .expect("the base spec ConfigMap");
    assert_eq!(base_spec["configMap"]["name"], generator["name"]);
    assert!(mounts.iter().any(|m| m["name"] == base_spec["name"]
        && m["mountPath"] == "/containerd-base-spec"
        && m["readOnly"] == true));
}

/// `kubectl kustomize` builds both (skipped, with a note, without kubectl).
#[test]
fn kustomize_builds() {
    if Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_err()
    {
        eprintln!("kubectl not found: kustomize builds not checked");
        return;
    }
    let build = |rel: &str| -> Vec<Value> {
        let out = Command::new("kubectl")
            .arg("kustomize")
            .arg(deploy(rel))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl kustomize {rel}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_saphyr::from_multiple(&String::from_utf8(out.stdout).unwrap()).unwrap()
    };
    let daemonset = |all: &[Value]| -> Value {
        all.iter()
            .find(|d| d["kind"] == "DaemonSet")
            .unwrap()
            .clone()
    };
    let base = build(".");
    let kinds: BTreeSet<&str> = base.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["ConfigMap", "DaemonSet", "Namespace", "ServiceAccount"].into()
    );
    let ds = daemonset(&base);
    assert!(
        ds["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .ends_with("/oci-psp-hook:0.1.0")
    );
    let overlay = build("overlays/containerd");
    let ds = daemonset(&overlay);
    let args = strings(&ds["spec"]["template"]["spec"]["containers"][0]["args"]);
    assert_eq!(
        &args[..6],
        [
            "install",
            "--root",
            "/host",
            "--config-source",
            "/config",
            "--watch"
        ]
    );
    assert!(args.contains(&"--containerd-base-spec"));
    // The generated ConfigMap's name (with its hash) is the one mounted.
    let generated = overlay
        .iter()
        .find(|d| {
            d["kind"] == "ConfigMap"
                && d["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .starts_with("oci-psp-hook-containerd-base-spec")
        })
        .unwrap();
    assert!(
        ds["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["configMap"]["name"] == generated["metadata"]["name"])
    );
}
