//! The built-in profiles, at every Pod Security Standards version, against
//! Kubernetes' own Pod Security Admission test pods of that version (v1.0 to
//! v1.37, Apache-2.0), translated into the config.json files containerd's CRI
//! plugin writes for them (`tests/psa/`, produced by `tests/psa/translate.py`;
//! see `tests/psa/README.md` for the rules and the fixtures that leave no
//! trace in config.json).
//!
//! For each version V, each `<level>/V/pass` case must be allowed by
//! `builtin:<level>@V`, each `<level>/V/fail` case denied, with at least one
//! violation in a field that belongs to the PSA check the fixture is named
//! after. The levels nest, so restricted's pass cases must pass baseline@V
//! too, and baseline's fail cases must fail restricted@V. Cases in
//! [`KNOWN_GAPS`] and [`OFFLINE_UNDECIDABLE`] are run and reported but not
//! asserted.
//!
//! `agreement_by_version` prints the agreement version by version (the test
//! command runs it with `--nocapture`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// Verdicts that depend on the host: containerd writes no `apparmorProfile`
/// for an Unconfined pod, which the node can tell from "no AppArmor" only
/// where AppArmor is enabled. On a host without AppArmor these are run and
/// reported but not asserted: (case, profile level, reason), every version.
const KNOWN_GAPS: &[(&str, &str, &str)] = &[
    (
        "baseline/fail/apparmorprofile0-container1",
        "baseline",
        APPARMOR_OFF,
    ),
    (
        "baseline/fail/apparmorprofile1-initcontainer1",
        "baseline",
        APPARMOR_OFF,
    ),
    (
        "baseline/fail/apparmorprofile0-container1",
        "restricted",
        APPARMOR_OFF,
    ),
    (
        "baseline/fail/apparmorprofile1-initcontainer1",
        "restricted",
        APPARMOR_OFF,
    ),
    (
        "restricted/fail/apparmorprofile0-container1",
        "restricted",
        APPARMOR_OFF,
    ),
    (
        "restricted/fail/apparmorprofile1-initcontainer1",
        "restricted",
        APPARMOR_OFF,
    ),
];

const APPARMOR_OFF: &str = "AppArmor is not enabled on this host: an absent profile is no AppArmor, not a chosen Unconfined";

fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

/// Verdicts `check` cannot reach offline: containerd joins the sandbox's
/// user namespace by path, whose id maps only the kernel knows (the hook
/// reads `/proc/<pid>/uid_map`); offline the user-namespace relaxations do
/// not apply. (case, profile level, reason), every version.
const OFFLINE_UNDECIDABLE: &[(&str, &str, &str)] = &[
    (
        "baseline/pass/procmount1-container1",
        "baseline",
        JOINED_USER_NAMESPACE,
    ),
    (
        "baseline/pass/procmount1-initcontainer1",
        "baseline",
        JOINED_USER_NAMESPACE,
    ),
];

const JOINED_USER_NAMESPACE: &str = "the user namespace is joined by path: its id maps are known in hook mode only, so offline the Unmasked /proc of a hostUsers: false pod is not relaxed";

/// The Pod Security Standards versions the fixtures cover.
const VERSIONS: std::ops::RangeInclusive<u16> = 0..=37;

/// Cases the translator wrote for v1.37, per directory (guards against losing
/// some; update together with `translate.py`'s summary in the README).
const EXPECTED_COUNTS_V1_37: &[(&str, usize)] = &[
    ("baseline/pass", 45),
    ("baseline/fail", 33),
    ("restricted/pass", 66),
    ("restricted/fail", 73),
];

/// The violation fields that express a PSA check (the fixture name without
/// its index).
fn related_fields(check: &str) -> &'static [&'static str] {
    match check {
        "allowprivilegeescalation" => &["allowPrivilegeEscalation"],
        "apparmorprofile" => &["apparmor"],
        "capabilities_baseline" | "capabilities_restricted" => {
            &["requiredDropCapabilities", "allowedCapabilities"]
        }
        "hostnamespaces" => &["hostNetwork", "hostPID", "hostIPC"],
        "hostpathvolumes" | "restrictedvolumes" => &["volumes", "allowedHostPaths"],
        "hostports" => &["hostPorts"],
        "privileged" => &["privileged"],
        "procmount" | "procmount_restricted" => &["procMount"],
        "runasnonroot" | "runasuser" => &["runAsUser"],
        "seccompprofile_baseline" | "seccompprofile_restricted" => &["seccomp"],
        "selinuxoptions" => &["seLinux"],
        "sysctls" => &["sysctl"],
        _ => &[],
    }
}

fn psa_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/psa")
}

/// One line of `tests/psa/index.tsv`.
#[derive(Debug, Clone)]
struct Case {
    level: String,
    version: u16,
    verdict: String,
    /// `<fixture>-<container>`, or the fixture alone when skipped.
    name: String,
    /// The config's hash, or the reason no config shows the fixture.
    config: Result<String, String>,
}

impl Case {
    /// `<level>/<verdict>/<fixture>-<container>`: the same in every version.
    fn key(&self) -> String {
        format!("{}/{}/{}", self.level, self.verdict, self.name)
    }

    /// The PSA check id: the fixture name without container and index.
    fn check_id(&self) -> String {
        let fixture = if self.config.is_ok() {
            self.name.rsplit_once('-').map_or(&*self.name, |(f, _)| f)
        } else {
            &self.name
        };
        fixture
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .to_string()
    }
}

fn parse_version(text: &str) -> u16 {
    text.strip_prefix("v1.")
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("index.tsv: version {text:?}"))
}

fn index() -> &'static [Case] {
    static INDEX: OnceLock<Vec<Case>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let text =
            std::fs::read_to_string(psa_dir().join("index.tsv")).expect("tests/psa/index.tsv");
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|line| {
                let f: Vec<&str> = line.split('\t').collect();
                assert!(f.len() >= 5, "index.tsv: {line}");
                Case {
                    level: f[0].into(),
                    version: parse_version(f[1]),
                    verdict: f[2].into(),
                    name: f[3].into(),
                    config: if f[4] == "-" {
                        Err(f.get(5).unwrap_or(&"").to_string())
                    } else {
                        Ok(f[4].into())
                    },
                }
            })
            .collect()
    })
}

fn config_path(hash: &str) -> PathBuf {
    psa_dir().join("configs").join(format!("{hash}.json"))
}

/// One policy's outcome on one config.
#[derive(Debug, Clone, Default)]
struct Outcome {
    allowed: bool,
    fields: Vec<String>,
}

impl Outcome {
    fn summary(&self) -> String {
        if self.allowed {
            "allowed".into()
        } else {
            let mut fields = self.fields.clone();
            fields.dedup();
            format!("denied ({})", fields.join(", "))
        }
    }
}

fn profile(level: &str, version: u16) -> String {
    format!("builtin:{level}@v1.{version}")
}

/// The runtime id containerd gave the container: a sandbox's is its sandbox
/// id; an app container's id appears in none of its files (any other id).
fn runtime_id(config: &Path) -> String {
    let json: Value = serde_json::from_slice(&std::fs::read(config).unwrap()).unwrap();
    let annotation = |key: &str| json["annotations"][key].as_str().unwrap_or_default();
    if annotation("io.kubernetes.cri.container-type") == "sandbox" {
        annotation("io.kubernetes.cri.sandbox-id").to_string()
    } else {
        "app".to_string()
    }
}

/// Every pinned built-in profile's outcome on one config, judged as the node
/// judges a container containerd's CRI plugin made: one `check` with all
/// the profiles, each policy's violations read apart.
fn judge_all(config: &Path) -> HashMap<String, Outcome> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oci-psp-hook"));
    cmd.args([
        "check",
        "--output",
        "json",
        "--cri",
        "--id",
        &runtime_id(config),
    ]);
    let mut names = Vec::new();
    for level in ["baseline", "restricted"] {
        for v in VERSIONS {
            names.push(profile(level, v));
        }
    }
    for name in &names {
        cmd.args(["--profile", name]);
    }
    let out = cmd.arg(config).output().expect("run oci-psp-hook");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{}: {e}: {stdout}", config.display()));
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}: exit {:?}: {stdout}",
        config.display(),
        out.status.code()
    );
    assert_eq!(json["policies"].as_array().map(Vec::len), Some(names.len()));
    let mut outcomes: HashMap<String, Outcome> = names
        .into_iter()
        .map(|n| {
            (
                n,
                Outcome {
                    allowed: true,
                    fields: Vec::new(),
                },
            )
        })
        .collect();
    for v in json["violations"].as_array().into_iter().flatten() {
        let policy = v["policy"].as_str().unwrap_or_default();
        let o = outcomes
            .get_mut(policy)
            .unwrap_or_else(|| panic!("violation of an unknown policy {policy:?}"));
        o.allowed = false;
        o.fields
            .push(v["field"].as_str().unwrap_or_default().to_string());
    }
    outcomes
}

/// Every distinct config judged once, in parallel.
fn outcomes() -> &'static HashMap<String, HashMap<String, Outcome>> {
    static OUTCOMES: OnceLock<HashMap<String, HashMap<String, Outcome>>> = OnceLock::new();
    OUTCOMES.get_or_init(|| {
        let mut hashes: Vec<String> = index()
            .iter()
            .filter_map(|c| c.config.clone().ok())
            .collect();
        hashes.sort();
        hashes.dedup();
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let chunk = hashes.len().div_ceil(threads).max(1);
        std::thread::scope(|s| {
            let handles: Vec<_> = hashes
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|h| (h.clone(), judge_all(&config_path(h))))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("judging thread"))
                .collect()
        })
    })
}

fn known_gap(case: &Case, level: &str) -> Option<&'static str> {
    let key = case.key();
    let find = |list: &[(&str, &str, &'static str)]| {
        list.iter()
            .find(|(k, l, _)| *k == key && *l == level)
            .map(|(_, _, reason)| *reason)
    };
    find(OFFLINE_UNDECIDABLE).or_else(|| (!apparmor_enabled()).then(|| find(KNOWN_GAPS)).flatten())
}

/// What is wrong with the outcome, if anything.
fn problem(case: &Case, expect_allowed: bool, outcome: &Outcome) -> Option<String> {
    if expect_allowed {
        return (!outcome.allowed).then(|| "expected allowed".into());
    }
    if outcome.allowed {
        return Some("expected denied".into());
    }
    let check = case.check_id();
    let related = related_fields(&check);
    if !outcome.fields.iter().any(|f| related.contains(&f.as_str())) {
        return Some(format!(
            "denied, but no violation relates to check {check} (expected one of {related:?})"
        ));
    }
    None
}

/// How one version fared at one level: cases agreeing with the fixture,
/// known gaps, problems, and fixtures no config.json shows.
#[derive(Default)]
struct Tally {
    agreed: usize,
    gaps: usize,
    undecidable: usize,
    problems: Vec<String>,
}

/// Judge every case: each against its own level at its version, and the
/// nesting (restricted pass at baseline, baseline fail at restricted).
fn tallies() -> BTreeMap<(u16, String), Tally> {
    let mut tallies: BTreeMap<(u16, String), Tally> = BTreeMap::new();
    for case in index() {
        let tally = tallies
            .entry((case.version, case.level.clone()))
            .or_default();
        let Ok(hash) = &case.config else {
            tally.undecidable += 1;
            continue;
        };
        let expect_allowed = case.verdict == "pass";
        let mut levels = vec![case.level.as_str()];
        match (case.level.as_str(), expect_allowed) {
            ("restricted", true) => levels.push("baseline"),
            ("baseline", false) => levels.push("restricted"),
            _ => {}
        }
        let mut agreed = true;
        for level in levels {
            let name = profile(level, case.version);
            let outcome = &outcomes()[hash][&name];
            match (
                known_gap(case, level),
                problem(case, expect_allowed, outcome),
            ) {
                (Some(reason), Some(_)) => {
                    agreed = false;
                    tally.gaps += 1;
                    eprintln!(
                        "known gap {} v1.{} [{name}]: {} ({reason})",
                        case.key(),
                        case.version,
                        outcome.summary()
                    );
                }
                (Some(_), None) => tally.problems.push(format!(
                    "known gap {} [{name}] now behaves as expected: remove it from the list",
                    case.key()
                )),
                (None, Some(what)) => {
                    agreed = false;
                    tally.problems.push(format!(
                        "{} [{name}] (configs/{hash}.json): {what}; got {}",
                        case.key(),
                        outcome.summary()
                    ));
                }
                (None, None) => {}
            }
        }
        if agreed {
            tally.agreed += 1;
        }
    }
    tallies
}

#[test]
fn translations_are_all_there() {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for case in index() {
        assert!(VERSIONS.contains(&case.version), "{case:?}");
        if let Ok(hash) = &case.config {
            assert!(config_path(hash).is_file(), "{case:?}: no config");
            if case.version == 37 {
                *counts
                    .entry(format!("{}/{}", case.level, case.verdict))
                    .or_default() += 1;
            }
            if case.verdict == "fail" {
                let check = case.check_id();
                assert!(
                    !related_fields(&check).is_empty(),
                    "{}: no related fields for check {check}",
                    case.key()
                );
            }
        } else {
            assert!(
                matches!(&case.config, Err(r) if !r.is_empty()),
                "{case:?}: no reason"
            );
        }
    }
    for (dir, expected) in EXPECTED_COUNTS_V1_37 {
        assert_eq!(counts.get(*dir), Some(expected), "v1.37 cases in {dir}");
    }
    for v in VERSIONS {
        for level in ["baseline", "restricted"] {
            assert!(
                index().iter().any(|c| c.version == v && c.level == level),
                "no {level} cases at v1.{v}"
            );
        }
    }
    for (key, level, reason) in KNOWN_GAPS.iter().chain(OFFLINE_UNDECIDABLE) {
        assert!(
            index().iter().any(|c| c.key() == *key),
            "a known gap names {key}, which no version has"
        );
        assert!(["baseline", "restricted"].contains(level), "{key}: {level}");
        assert!(!reason.is_empty(), "{key}: a known gap needs its reason");
    }
}

#[test]
fn every_version_agrees_with_its_fixtures() {
    let problems: Vec<String> = tallies().into_values().flat_map(|t| t.problems).collect();
    assert!(
        problems.is_empty(),
        "{} wrong verdicts:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The pinned profiles differ where the standards changed: a pod a newer
/// version admits is judged by the rules of the pinned version.
#[test]
fn pinned_versions_keep_their_rules() {
    let config = |level: &str, version: u16, verdict: &str, name: &str| {
        index()
            .iter()
            .find(|c| {
                c.level == level && c.version == version && c.verdict == verdict && c.name == name
            })
            .and_then(|c| c.config.clone().ok())
            .unwrap_or_else(|| panic!("{level}/v1.{version}/{verdict}/{name}"))
    };
    // v1.29 made tcp_keepalive_time safe; the sysctl is set in the sandbox
    let sysctls = config("baseline", 29, "pass", "sysctls1-POD");
    let at = |hash: &str, level: &str, v: u16| outcomes()[hash][&profile(level, v)].clone();
    assert!(at(&sysctls, "baseline", 29).allowed);
    let older = at(&sysctls, "baseline", 28);
    assert!(
        !older.allowed && older.fields.iter().all(|f| f == "sysctl"),
        "{older:?}"
    );
    // restricted asks for no_new_privs from v1.8, a profile from v1.19,
    // dropped capabilities from v1.22
    let base = config("baseline", 37, "pass", "base-container1");
    let denies = |v: u16, field: &str| at(&base, "restricted", v).fields.iter().any(|f| f == field);
    for (field, since) in [
        ("allowPrivilegeEscalation", 8),
        ("seccomp", 19),
        ("requiredDropCapabilities", 22),
    ] {
        assert!(!denies(since - 1, field), "{field} at v1.{}", since - 1);
        assert!(denies(since, field), "{field} at v1.{since}");
    }
}

/// The agreement, version by version (run with `--nocapture` to see it).
#[test]
fn agreement_by_version() {
    println!(
        "Pod Security Admission fixtures through the pinned built-in profiles (offline, check --cri):"
    );
    println!("version  level       agree  known-gap  undecidable  wrong");
    let mut wrong = 0;
    for ((version, level), t) in tallies() {
        wrong += t.problems.len();
        println!(
            "v1.{version:<5} {level:<11} {:>5}  {:>9}  {:>11}  {:>5}",
            t.agreed,
            t.gaps,
            t.undecidable,
            t.problems.len()
        );
    }
    println!(
        "undecidable: fixtures no config.json shows (tests/psa/README.md lists each with the reason); known gaps: listed in tests/psa_fixtures.rs with the reason"
    );
    assert_eq!(wrong, 0, "see every_version_agrees_with_its_fixtures");
}
