//! The bodies of the fuzz targets, one function per target taking the raw
//! input. `fuzz/fuzz_targets/<target>.rs` calls them under libFuzzer, and
//! `tests/fuzz_regressions.rs` feeds them every reproducer of
//! `fuzz/regressions/` and every seed of `fuzz/corpus/` in a normal
//! `cargo test`, so a crash once found stays fixed.
//!
//! Besides "never panic", each target asserts what must hold for any input:
//! the one line shown to the runtime's user has no control character (no
//! forged second line), the verdict agrees with the results, and the facts
//! written to the log read back unchanged (`advise --from-log`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use oci_psp_hook::checks;
use oci_psp_hook::commands::hook::parse_state;
use oci_psp_hook::container::ContainerView;
use oci_psp_hook::container::build::{BuildContext, Cause, build};
use oci_psp_hook::container::facts::Facts;
use oci_psp_hook::container::mounts::MountContext;
use oci_psp_hook::container::namespaces::{NamespaceKind, NamespaceProbe};
use oci_psp_hook::container::oci;
use oci_psp_hook::decision::{ContainerInfo, Decision, Verdict};
use oci_psp_hook::input::{STATE_LIMIT, read_limited};
use oci_psp_hook::policy::config::{Config, Mode};
use oci_psp_hook::policy::select::{Selection, Sources};
use oci_psp_hook::policy::{Origin, Policy, builtin, load};

/// The body of one target.
pub type Target = fn(&[u8]);

/// Every target by name, as `cargo fuzz` knows it.
pub const TARGETS: &[(&str, Target)] = &[
    ("oci_state", oci_state),
    ("config_view", config_view),
    ("policy", policy),
    ("hook_config", hook_config),
    ("decision", decision),
];

/// Knows no namespace identity: the view depends on config.json alone, not on
/// the host the fuzzer runs on (and no `/proc` is read).
struct NoProbe;

impl NamespaceProbe for NoProbe {
    fn identity(&self, _path: &Path) -> Option<(u64, u64)> {
        None
    }
    fn own(&self, _kind: NamespaceKind) -> Option<(u64, u64)> {
        None
    }
}

/// Offline: no pid (so no `/proc/<pid>` mount verification), no bundle.
fn context() -> BuildContext<'static> {
    BuildContext {
        id: "fuzz".into(),
        pid: None,
        state_annotations: Default::default(),
        mounts: MountContext::default(),
        probe: &NoProbe,
        // The annotations' paths through the checks are fuzzed too.
        trust_cri: true,
        trust_id: true,
    }
}

fn view_of(bytes: &[u8]) -> ContainerView<'_> {
    build("fixture", bytes, &context()).expect("a fixture builds")
}

/// Views of real config.json files, for the targets that vary the policy.
static VIEWS: LazyLock<Vec<ContainerView>> = LazyLock::new(|| {
    vec![
        view_of(include_bytes!("../tests/fixtures/podman-default.json")),
        view_of(include_bytes!("../tests/fixtures/podman-privileged.json")),
        view_of(include_bytes!(
            "../tests/fixtures/cri-captured/base-spec/containerd-restricted-ok-app.json"
        )),
        view_of(include_bytes!(
            "../tests/fixtures/cri-captured/hooks-dir/crio-hostpath-varlog-app.json"
        )),
    ]
});

/// The built-in profiles and the example PSP, for the targets that vary the
/// container.
static POLICIES: LazyLock<Vec<Policy>> = LazyLock::new(|| {
    let mut policies = vec![
        builtin::privileged(),
        builtin::baseline(),
        builtin::restricted(),
    ];
    policies.extend(
        load::parse(
            "examples/restricted-psp.yaml",
            include_str!("../examples/restricted-psp.yaml"),
            Origin::File(PathBuf::from("examples/restricted-psp.yaml")),
        )
        .expect("the example policy parses"),
    );
    policies
});

/// A configuration file's place: an empty policy directory beside it,
/// created once (shared by every run, only ever read).
static CONFIG_PATH: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join("oci-psp-hook-fuzz-hook-config");
    std::fs::create_dir_all(dir.join("policies.d")).expect("create the policy directory");
    dir.join("config.yaml")
});

/// The line for stderr and the log: one line, whatever the input put in
/// annotations, paths or error messages.
fn check_line(decision: &Decision) {
    let line = decision.one_line();
    assert!(
        !line.chars().any(char::is_control),
        "control character in the one-line decision: {line:?}"
    );
    assert!(line.starts_with("oci-psp-hook: "), "{line:?}");
}

/// Renderings and invariants of any decision.
fn check_decision(decision: &Decision) {
    check_line(decision);
    let text = decision.to_json();
    let json: serde_json::Value = serde_json::from_str(&text).expect("the JSON reads back");
    assert_eq!(
        json.to_string().len(),
        text.len(),
        "compact JSON, as serde_json writes it"
    );
    assert_eq!(json["allowed"], decision.exit_code() == 0);
    // The log record: the same decision, only the deciding findings.
    let mut logged = Vec::new();
    decision.write_log_json(&mut logged);
    let logged: serde_json::Value =
        serde_json::from_slice(&logged).expect("the log record reads back");
    assert_eq!(logged["allowed"], json["allowed"]);
    assert_eq!(logged["facts"], json["facts"]);
    assert_eq!(logged["policies"], json["policies"]);
    if decision.admitted_by.is_some() {
        assert_eq!(logged["violations"], serde_json::json!([]));
    } else {
        assert_eq!(logged["violations"], json["violations"]);
    }
    match decision.verdict {
        Verdict::Error => {
            assert_eq!(decision.exit_code(), 2);
            assert!(decision.admitted_by.is_none());
        }
        Verdict::Allow => {
            let by = decision
                .admitted_by
                .as_deref()
                .expect("allowed by a policy");
            let first = decision
                .results
                .iter()
                .find(|r| r.violations.is_empty())
                .expect("an admitting result");
            assert_eq!(first.policy, by, "admitted by the first clean policy");
            assert_eq!(decision.exit_code(), 0);
        }
        Verdict::Deny => {
            assert!(decision.admitted_by.is_none());
            assert!(decision.results.iter().all(|r| !r.violations.is_empty()));
            let code = if decision.mode == Mode::Audit { 0 } else { 1 };
            assert_eq!(decision.exit_code(), code);
        }
        // Only a configuration's exemptions make one; the fuzzed decision
        // has none.
        Verdict::Exempt => panic!("exempt without an exemption"),
    }
}

/// Evaluate, render in both modes; the verdict.
fn evaluate(view: &ContainerView, policies: &[Policy]) -> Verdict {
    let selection = Selection {
        mode: Mode::Enforce,
        policies: policies.iter().collect(),
        chosen_by: "fuzz".into(),
    };
    let mut decision = Decision::evaluate(view, &selection);
    check_decision(&decision);
    let verdict = decision.verdict;
    decision.mode = Mode::Audit;
    check_decision(&decision);
    verdict
}

/// What the hook does with a config.json that does not build: an error
/// decision whose message quotes the input.
fn check_error(view_error: String) {
    let decision = Decision::error(ContainerInfo::default(), view_error);
    check_decision(&decision);
}

/// The OCI state on the hook's stdin.
pub fn oci_state(data: &[u8]) {
    let bytes = read_limited(data, STATE_LIMIT, "OCI state on stdin").expect("read from memory");
    assert_eq!(bytes, data);
    match parse_state(&bytes) {
        Ok(state) => {
            let _ = format!("{state:?}");
        }
        Err(why) => check_error(why.to_string()),
    }
}

/// config.json → container view.
pub fn config_view(data: &[u8]) {
    // The hand-written reader accepts exactly the JSON serde_json accepts.
    let json = serde_json::from_slice::<serde_json::Value>(data).is_ok();
    let view = match build("config.json", data, &context()) {
        Ok(view) => view,
        Err(e) => {
            let syntax = matches!(e.cause, Cause::Config(oci::Error::Syntax { .. }));
            assert!(!json || !syntax, "valid JSON refused as invalid: {e}");
            return check_error(e.to_string());
        }
    };
    assert!(json, "invalid JSON accepted");
    let _ = view.label();
    let _ = view.root_is_unprivileged_on_host();
    let _ = ContainerInfo::of(&view).label();
    // The log carries the facts; `advise --from-log` reads them back.
    let facts = Facts::from_view(&view);
    let json = serde_json::to_string(&facts).expect("facts serialize");
    let back: Facts = serde_json::from_str(&json).expect("facts read back");
    assert_eq!(back, facts, "facts changed through the log: {json}");
}

/// PSP manifest text → policies, each judged against real containers and
/// read back unchanged from the policy cache's encoding. The raw bytes go to
/// the cache's decoder too: a corrupt entry is an error, never a panic.
pub fn policy(data: &[u8]) {
    let _ = postcard::from_bytes::<Sources>(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let origin = Origin::File(PathBuf::from("fuzz.yaml"));
    let policies = match load::parse("fuzz.yaml", text, origin) {
        Ok(policies) => policies,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(!policies.is_empty());
    let cached = postcard::to_allocvec(&policies).expect("policies encode");
    let back: Vec<Policy> = postcard::from_bytes(&cached).expect("policies decode");
    assert_eq!(
        back, policies,
        "policies changed through the cache's encoding"
    );
    for view in VIEWS.iter() {
        for p in &policies {
            let _ = checks::evaluate(view, p);
        }
        let _ = evaluate(view, &policies);
    }
}

/// HookConfiguration text → configuration (empty policy directory), and the
/// selection it makes for real containers.
pub fn hook_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path: &Path = &CONFIG_PATH;
    let config = match Config::parse(path, path, text) {
        Ok(config) => config,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(!config.default_policies.is_empty());
    for (namespaces, _) in &config.bindings {
        for ns in namespaces {
            let (names, _) = config.bound(Some(ns));
            for name in names {
                let _ = config.resolve(name);
            }
        }
    }
    let sources = Sources::Config(Box::new(config));
    for view in VIEWS.iter() {
        match sources.select(view) {
            Ok(selection) => {
                let decision = Decision::evaluate(view, &selection);
                check_decision(&decision);
            }
            Err(e) => check_error(format!("invalid policy binding: {e}")),
        }
    }
}

/// config.json → view → verdict of the built-in profiles and the example
/// PSP, rendered as the hook and `check --output json` do.
pub fn decision(data: &[u8]) {
    let view = match build("config.json", data, &context()) {
        Ok(view) => view,
        Err(e) => return check_error(e.to_string()),
    };
    let verdict = evaluate(&view, &POLICIES);
    // Each alone too: PSP semantics are "any admits", so the verdict of all
    // together is the OR of the verdicts of each.
    let mut any = false;
    for p in POLICIES.iter() {
        any |= checks::evaluate(&view, p).violations.is_empty();
    }
    assert_eq!(verdict == Verdict::Allow, any);
}
