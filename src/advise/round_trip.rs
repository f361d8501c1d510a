//! The round-trip guarantee on real captures (`tests/fixtures/*.json`:
//! podman, runc, ctr; `tests/fixtures/cri-captured/`: containerd 2.x and
//! CRI-O), CRI-shaped inputs (`tests/fixtures/advise/`): the advised policy parses with the policy
//! loader, admits every input, and denies each input given one more
//! privilege. The mutations are made on config.json itself and the view is
//! rebuilt, so they go through the same parsing and classification as a
//! real container.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::usage::Counted;
use super::{advise, render};
use crate::checks;
use crate::container::ContainerView;
use crate::container::facts::{Facts, MountFactKind};
use crate::fixtures;
use crate::policy::{IdRange, IdRule, Origin, Policy, load};

/// One input: its config.json and the view built from it.
struct Input {
    name: String,
    config: Value,
    view: ContainerView<'static>,
}

fn fixtures_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(sub)
}

fn input(path: &Path) -> Input {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Input {
        config: serde_json::from_slice(&bytes).unwrap(),
        view: fixtures::captured(&name, &bytes),
        name,
    }
}

/// Every `*.json` of a fixture directory, sorted.
fn inputs_in(sub: &str) -> Vec<Input> {
    let Ok(entries) = std::fs::read_dir(fixtures_dir(sub)) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths.iter().map(|p| input(p)).collect()
}

fn named(sub: &str, names: &[&str]) -> Vec<Input> {
    names
        .iter()
        .map(|n| input(&fixtures_dir(sub).join(format!("{n}.json"))))
        .collect()
}

/// Advise, print with comments, load back with the policy loader.
fn advised(inputs: &[Input]) -> (Policy, String) {
    let facts: Vec<Facts> = inputs.iter().map(|i| Facts::from_view(&i.view)).collect();
    let text = render::yaml(&[advise("advised", &facts)], true);
    let mut policies = load::parse("advised.yaml", &text, Origin::Builtin)
        .unwrap_or_else(|e| panic!("the advised policy does not load: {e}\n{text}"));
    assert_eq!(policies.len(), 1);
    (policies.remove(0), text)
}

fn denied_fields(view: &ContainerView, policy: &Policy) -> Vec<&'static str> {
    fields(checks::evaluate(view, policy))
}

fn fields(findings: checks::Findings) -> Vec<&'static str> {
    findings.violations.iter().map(|v| v.field).collect()
}

/// The fields denying each input in what the advice was made from (as
/// `advise` checks its advice before printing it).
fn inputs_denied<'i>(inputs: &'i [Input], policy: &Policy) -> Vec<(&'i str, Vec<&'static str>)> {
    let facts: Vec<Facts> = inputs.iter().map(|i| Facts::from_view(&i.view)).collect();
    let counted = Counted::of(&facts);
    inputs
        .iter()
        .map(|i| {
            let sandbox = i.view.identity.sandbox;
            let only = |scope| counted.counts(scope, sandbox);
            (
                i.name.as_str(),
                fields(checks::evaluate_scopes(&i.view, policy, only)),
            )
        })
        .filter(|(_, fields)| !fields.is_empty())
        .collect()
}

/// A privilege added to one input: what it is, the fields that must deny
/// it, and the changed config.json.
struct Changed {
    what: &'static str,
    fields: &'static [&'static str],
    config: Value,
}

/// Adds a privilege to one input (`this`, one of `all`); `None` when some
/// input already holds it (the policy rightly admits it).
type Mutation = fn(all: &[Facts], this: &Facts, config: &Value) -> Option<Changed>;

const MUTATIONS: &[Mutation] = &[
    extra_capability,
    host_namespace,
    root,
    host_path_outside,
    writable_read_only_path,
    privilege_escalation,
    unmasked_proc,
];

fn extra_capability(all: &[Facts], _: &Facts, config: &Value) -> Option<Changed> {
    let held = |c: &str| all.iter().any(|f| f.capabilities.iter().any(|h| h == c));
    let mut known: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    known.sort();
    let extra = known.into_iter().find(|c| !held(c))?;
    let mut config = config.clone();
    let process = config["process"].as_object_mut()?;
    let caps = process.entry("capabilities").or_insert(json!({}));
    if !caps.is_object() {
        *caps = json!({});
    }
    let bounding = caps.as_object_mut()?.entry("bounding").or_insert(json!([]));
    bounding.as_array_mut()?.push(json!(extra));
    Some(Changed {
        what: "an extra capability",
        fields: &["allowedCapabilities", "requiredDropCapabilities"],
        config,
    })
}

fn host_namespace(all: &[Facts], _: &Facts, config: &Value) -> Option<Changed> {
    type Used = fn(&Facts) -> bool;
    let kinds: [(&str, &'static [&'static str], Used); 3] = [
        ("network", &["hostNetwork"], |f| f.host_network),
        ("pid", &["hostPID"], |f| f.host_pid),
        ("ipc", &["hostIPC"], |f| f.host_ipc),
    ];
    let (kind, fields, _) = kinds
        .into_iter()
        .find(|(_, _, used)| !all.iter().any(used))?;
    let mut config = config.clone();
    config["linux"]["namespaces"]
        .as_array_mut()?
        .retain(|ns| ns["type"] != kind);
    Some(Changed {
        what: "a host namespace",
        fields,
        config,
    })
}

fn root(all: &[Facts], this: &Facts, config: &Value) -> Option<Changed> {
    if this.sandbox || all.iter().any(|f| f.uid == 0 && !f.sandbox) {
        return None;
    }
    let mut config = config.clone();
    config["process"]["user"]["uid"] = json!(0);
    Some(Changed {
        what: "root",
        fields: &["runAsUser"],
        config,
    })
}

fn host_path_outside(_: &[Facts], this: &Facts, config: &Value) -> Option<Changed> {
    if this.sandbox {
        return None;
    }
    let mut config = config.clone();
    let mount = json!({
        "destination": "/outside",
        "type": "bind",
        "source": "/psp-advise-outside/data",
        "options": ["rbind", "ro"],
    });
    match config.get_mut("mounts").and_then(Value::as_array_mut) {
        Some(mounts) => mounts.push(mount),
        None => config["mounts"] = json!([mount]),
    }
    Some(Changed {
        what: "a host path outside the advised ones",
        fields: &["volumes", "allowedHostPaths"],
        config,
    })
}

/// A read-only use of a host path no input writes to, made writable.
fn writable_read_only_path(all: &[Facts], this: &Facts, config: &Value) -> Option<Changed> {
    let written = |path: &str| {
        all.iter().any(|f| {
            f.mounts.iter().any(|m| {
                m.kind == MountFactKind::HostPath
                    && !m.read_only
                    && m.host_path.as_deref() == Some(path)
            })
        })
    };
    let target = this.mounts.iter().find(|m| {
        m.kind == MountFactKind::HostPath
            && m.read_only
            && m.host_path.as_deref().is_some_and(|p| !written(p))
    })?;
    if this.sandbox {
        return None;
    }
    let mut config = config.clone();
    let mount = config["mounts"]
        .as_array_mut()?
        .iter_mut()
        .find(|m| m["destination"] == *target.destination)?;
    for option in mount["options"].as_array_mut()? {
        if option == "ro" {
            *option = json!("rw");
        }
    }
    Some(Changed {
        what: "a writable use of a read-only path",
        fields: &["allowedHostPaths"],
        config,
    })
}

fn privilege_escalation(all: &[Facts], this: &Facts, config: &Value) -> Option<Changed> {
    if this.sandbox || all.iter().any(|f| !f.no_new_privileges && !f.sandbox) {
        return None;
    }
    let mut config = config.clone();
    config["process"]["noNewPrivileges"] = json!(false);
    Some(Changed {
        what: "privilege escalation",
        fields: &["allowPrivilegeEscalation"],
        config,
    })
}

fn unmasked_proc(all: &[Facts], this: &Facts, config: &Value) -> Option<Changed> {
    if this.sandbox || all.iter().any(|f| f.unmasked_proc && !f.sandbox) {
        return None;
    }
    let mut config = config.clone();
    config["linux"].as_object_mut()?.remove("maskedPaths");
    Some(Changed {
        what: "unmasked /proc",
        fields: &["procMount"],
        config,
    })
}

/// The guarantee for one set of inputs; returns how many mutations were
/// denied, so a test can tell they ran.
fn round_trip(inputs: &[Input]) -> usize {
    let (policy, text) = advised(inputs);
    let facts: Vec<Facts> = inputs.iter().map(|i| Facts::from_view(&i.view)).collect();
    let denied_inputs = inputs_denied(inputs, &policy);
    assert!(denied_inputs.is_empty(), "{denied_inputs:?}\n{text}");
    let mut denied = 0;
    for (input, this) in inputs.iter().zip(&facts) {
        for mutation in MUTATIONS {
            let Some(Changed {
                what,
                fields: expected,
                config,
            }) = mutation(&facts, this, &input.config)
            else {
                continue;
            };
            let bytes = serde_json::to_vec(&config).unwrap();
            let view = fixtures::captured(&input.name, &bytes);
            let fields = denied_fields(&view, &policy);
            assert!(
                fields.iter().any(|f| expected.contains(f)),
                "{} with {what} is not denied by {expected:?} (denied: {fields:?})\n{text}",
                input.name
            );
            denied += 1;
        }
    }
    denied
}

#[test]
fn each_real_capture_alone() {
    let inputs = inputs_in("");
    assert!(inputs.len() >= 20, "the captures are missing");
    for input in inputs {
        let name = input.name.clone();
        let denied = round_trip(&[input]);
        assert!(denied >= 3, "{name}: only {denied} mutations applied");
    }
}

#[test]
fn all_real_captures_together() {
    let inputs = inputs_in("");
    // Together they hold nearly every privilege; what is left must still be denied.
    round_trip(&inputs);
    let restricted = named(
        "",
        &[
            "podman-restricted-ok",
            "runc-restricted-ok",
            "ctr-run-default",
        ],
    );
    assert!(round_trip(&restricted) >= 10);
}

/// The config.json files containerd 2.x (both routes) and CRI-O wrote.
const CRI_CAPTURED: [&str; 3] = [
    "cri-captured/base-spec",
    "cri-captured/nri",
    "cri-captured/hooks-dir",
];

#[test]
fn cri_shaped_inputs_alone_and_by_namespace() {
    for sub in CRI_CAPTURED.iter().copied().chain(["advise"]) {
        let inputs = inputs_in(sub);
        for input in inputs {
            round_trip(&[input]);
        }
    }
    let team_a = named(
        "advise",
        &["team-a-web", "team-a-web-sandbox", "team-a-worker"],
    );
    assert_eq!(round_trip(&team_a), 14);
    let everything: Vec<Input> = inputs_in("advise")
        .into_iter()
        .chain(CRI_CAPTURED.iter().flat_map(|sub| inputs_in(sub)))
        .collect();
    round_trip(&everything);
}

#[test]
fn exact_advice_for_a_restricted_pod() {
    let (policy, text) = advised(&named(
        "advise",
        &["team-a-web", "team-a-web-sandbox", "team-a-worker"],
    ));
    assert_eq!(
        policy.allowed_capabilities,
        ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]
    );
    assert!(!policy.allow_privilege_escalation && !policy.privileged);
    assert!(
        !policy.read_only_root_filesystem,
        "the worker writes its root"
    );
    let names: Vec<&str> = policy.volumes.iter().map(|v| v.name()).collect();
    assert_eq!(names, ["configMap", "emptyDir", "projected", "secret"]);
    assert!(text.contains("  runAsUser:\n    ranges:\n    # needed by: team-a/web-0/nginx, team-a/worker-1/work\n    - {max: 102, min: 101}\n    rule: MustRunAs\n"), "{text}");
    assert!(text.contains("  supplementalGroups:\n    ranges:\n    # needed by: team-a/web-0/nginx\n    - {max: 2000, min: 2000}\n    # needed by: team-a/worker-1/work\n    - {max: 3000, min: 3000}\n"), "{text}");
    assert!(
        text.contains(
            "    apparmor.security.beta.kubernetes.io/allowedProfileNames: runtime/default\n"
        ),
        "{text}"
    );
    assert!(text.contains("  seLinux:\n    rule: MustRunAs\n    seLinuxOptions:\n      role: system_r\n      type: container_t\n      user: system_u\n"), "{text}");
}

/// A container privileged only by what the runtime applies as root beyond
/// it (a raised RLIMIT_MEMLOCK): the advice allows privileged, as the
/// facts it reads say.
#[test]
fn privilege_by_runtime_settings_alone_is_advised() {
    let config = json!({"ociVersion": "1.0.2", "root": {"path": "rootfs"},
        "process": {"user": {"uid": 1000, "gid": 1000},
            "rlimits": [{"type": "RLIMIT_MEMLOCK", "hard": 1u64 << 40, "soft": 65536}]},
        "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]}});
    let bytes = serde_json::to_vec(&config).unwrap();
    let view = fixtures::captured("memlock", &bytes);
    assert_eq!(
        view.privileged_evidence().len(),
        1,
        "{:?}",
        view.privileged_evidence()
    );
    let facts = Facts::from_view(&view);
    assert!(facts.privileged());
    let back: Facts = serde_json::from_str(&serde_json::to_string(&facts).unwrap()).unwrap();
    assert!(back.privileged());
    let input = Input {
        name: "memlock".into(),
        config,
        view,
    };
    let (policy, _) = advised(std::slice::from_ref(&input));
    assert!(policy.privileged);
    round_trip(&[input]);
}

/// A pod sandbox counts for its pod-level settings only: what it holds
/// beyond them (a host path, a capability past the runtime's default set,
/// root) does not widen the advice for its pod, which still admits it in
/// those settings; CRI-O's infra container (no /proc masks) brings no
/// Unmasked /proc.
#[test]
fn a_sandbox_counts_for_its_pod_level_settings_only() {
    let mut inputs = named(
        "cri-captured/base-spec",
        &[
            "containerd-restricted-ok-app",
            "containerd-restricted-ok-sandbox",
        ],
    );
    let sandbox = &mut inputs[1];
    assert!(sandbox.view.identity.sandbox);
    let config = &mut sandbox.config;
    config["process"]["user"] = json!({"uid": 0, "gid": 0});
    config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/host-log", "type": "bind", "source": "/var/log",
        "options": ["rbind", "ro"]}));
    for set in ["bounding", "effective", "permitted"] {
        config["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_SYS_PTRACE"));
    }
    // a pod-level setting: counted
    config["linux"]["sysctl"] = json!({"kernel.msgmax": "65536"});
    sandbox.view = fixtures::captured(&sandbox.name, &serde_json::to_vec(config).unwrap());
    let (policy, text) = advised(&inputs);
    let app = Facts::from_view(&inputs[0].view);
    assert_eq!(policy.allowed_capabilities, app.capabilities, "{text}");
    assert!(policy.allowed_host_paths.is_empty(), "{text}");
    let app_only = IdRule::MustRunAs(vec![IdRange {
        min: 32767,
        max: 32767,
    }]);
    assert_eq!(policy.run_as_user, app_only, "{text}");
    assert_eq!(policy.allowed_unsafe_sysctls, ["kernel.msgmax"], "{text}");
    round_trip(&inputs);
    // the hook's checks, were it to judge the sandbox, deny what was left out
    let denied = denied_fields(&inputs[1].view, &policy);
    assert!(
        denied.contains(&"allowedHostPaths") || denied.contains(&"volumes"),
        "{denied:?}"
    );

    let crio = named(
        "cri-captured/hooks-dir",
        &["crio-restricted-ok-app", "crio-restricted-ok-sandbox"],
    );
    assert!(crio[1].view.proc_unmasked.is_some());
    let (policy, text) = advised(&crio);
    assert_eq!(
        policy.allowed_proc_mount_types,
        [crate::policy::ProcMountType::Default],
        "{text}"
    );
    round_trip(&crio);
}
