//! The fuzz targets' bodies (`fuzz/harness.rs`) over every reproducer of
//! `fuzz/regressions/<target>/` and every seed of `fuzz/corpus/<target>/`,
//! in a normal `cargo test` (no nightly, no libFuzzer). A crash the fuzzer
//! once found stays fixed; the seeds make this a smoke test of each target
//! even while there are no regressions.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

#[path = "../fuzz/harness.rs"]
mod harness;

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// Run one target over its regressions and seeds; every panic is reported
/// with the file that caused it.
fn run(target: &str) {
    let (_, body) = harness::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a known target");
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let seeds = files(&fuzz.join("corpus").join(target));
    assert!(
        !seeds.is_empty(),
        "no seeds in fuzz/corpus/{target}: the smoke test would be empty"
    );
    let inputs: Vec<PathBuf> = files(&fuzz.join("regressions").join(target))
        .into_iter()
        .chain(seeds)
        .collect();
    let mut failed = Vec::new();
    for file in &inputs {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if catch_unwind(AssertUnwindSafe(|| body(&data))).is_err() {
            failed.push(file.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs panic: {failed:#?}",
        failed.len(),
        inputs.len()
    );
}

#[test]
fn oci_state() {
    run("oci_state");
}

#[test]
fn config_view() {
    run("config_view");
}

#[test]
fn policy() {
    run("policy");
}

#[test]
fn hook_config() {
    run("hook_config");
}

#[test]
fn decision() {
    run("decision");
}

/// Every target of the harness has a test above and a `cargo fuzz` binary.
#[test]
fn every_target_is_covered() {
    let manifest = include_str!("../fuzz/Cargo.toml");
    for (name, _) in harness::TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "{name} is not a [[bin]] of fuzz/Cargo.toml"
        );
        assert!(
            [
                "oci_state",
                "config_view",
                "policy",
                "hook_config",
                "decision"
            ]
            .contains(name),
            "{name} has no test in tests/fuzz_regressions.rs"
        );
    }
}
