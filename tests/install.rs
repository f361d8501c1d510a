//! `install` / `uninstall` driven as the DaemonSet and an admin would, into
//! temporary roots: the order of the files, atomic replacement, the policy
//! set synced from a source (plain or kubelet's `..data` layout), refusals,
//! `--watch` following ConfigMap updates until SIGTERM, and `doctor`'s view.

mod common;

use std::io::{ErrorKind, Read};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oci_psp_hook::policy_set::read_source;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_oci-psp-hook");
const DEADLINE: Duration = Duration::from_secs(20);
const HOOK: &str = "usr/libexec/oci/hooks.d/oci-psp-hook";
const HOOKS_FILE: &str = "usr/share/containers/oci/hooks.d/oci-psp-hook.json";
const BASE_SPEC: &str = "etc/containerd/oci-psp-hook-base-spec.json";
const CONFIG: &str = "etc/oci-psp-hook/config.yaml";
const STATUS: &str = "run/oci-psp-hook/install-status.json";
const RESTRICTED: &str = include_str!("../examples/restricted-psp.yaml");

fn config(bindings: &str) -> String {
    format!(
        "apiVersion: oci-psp-hook/v1alpha1\nkind: HookConfiguration\npolicyDirectory: policies.d\ndefaultPolicies: [builtin:baseline]\nbindings:\n{bindings}"
    )
}

const TEAM_A: &str = "  - namespaces: [team-a]\n    policies: [restricted]\n";
const BROKEN: &str = "  - namespaces: [team-a]\n    policies: [nosuch]\n";

/// A temporary directory: `root/` (the node) and room for sources; a
/// syslog socket the runs log to. Removed on drop.
struct Sandbox {
    _temp: tempfile::TempDir,
    dir: PathBuf,
    log: UnixDatagram,
}

impl Sandbox {
    fn new() -> Sandbox {
        let temp = common::temp_dir("install");
        let dir = temp.path().to_path_buf();
        std::fs::create_dir_all(dir.join("root")).unwrap();
        let log = UnixDatagram::bind(dir.join("log.sock")).unwrap();
        Sandbox {
            _temp: temp,
            dir,
            log,
        }
    }

    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    fn at(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// A plain source directory with config.yaml and the restricted policy.
    fn source(&self, config_text: &str) -> PathBuf {
        let src = self.dir.join("source");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("config.yaml"), config_text).unwrap();
        std::fs::write(src.join("restricted-psp.yaml"), RESTRICTED).unwrap();
        src
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("OCI_PSP_HOOK_LOG_SOCKET", self.dir.join("log.sock"))
            .env_remove("OCI_PSP_HOOK_JOURNAL_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        finish(self.command(args).spawn().unwrap(), DEADLINE)
    }

    fn install(&self, extra: &[&str]) -> Run {
        let root = self.root();
        let mut args = vec!["install", "--root", root.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    fn doctor(&self) -> (Run, Value) {
        let root = self.root();
        let run = self.run(&[
            "doctor",
            "--root",
            root.to_str().unwrap(),
            "--output",
            "json",
        ]);
        let report = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("doctor JSON: {e}: {run:#?}"));
        (run, report)
    }

    /// The log records received so far.
    fn records(&self) -> Vec<String> {
        self.log.set_nonblocking(true).unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match self.log.recv(&mut buf) {
                Ok(n) => out.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return out,
                Err(e) => panic!("log socket: {e}"),
            }
        }
    }

    /// The digest `current` points at.
    fn active(&self) -> Option<String> {
        let target = std::fs::read_link(self.at("etc/oci-psp-hook/current")).ok()?;
        Some(target.file_name()?.to_str()?.to_string())
    }

    fn status(&self) -> Option<Value> {
        let bytes = std::fs::read(self.at(STATUS)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

use common::{Run, finish};

/// Poll `cond` until it holds or `DEADLINE` passes.
#[track_caller]
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn mtime_ns(path: &Path) -> i128 {
    let m = std::fs::metadata(path).unwrap();
    m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128
}

/// Names in a directory starting with a dot (leftovers of a replacement).
fn hidden(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[test]
fn install_puts_the_binary_then_the_hooks_file() {
    let s = Sandbox::new();
    let run = s.install(&[]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let hook = s.at(HOOK);
    assert_eq!(std::fs::read(&hook).unwrap(), std::fs::read(BIN).unwrap());
    assert_eq!(std::fs::metadata(&hook).unwrap().mode() & 0o777, 0o755);
    assert_eq!(
        std::fs::read_to_string(s.at(HOOKS_FILE)).unwrap(),
        include_str!("../hooks.d/oci-psp-hook.json")
    );
    assert!(mtime_ns(&hook) <= mtime_ns(&s.at(HOOKS_FILE)));
    let out = run.stdout.find(HOOK).unwrap();
    assert!(out < run.stdout.find(HOOKS_FILE).unwrap(), "{run:#?}");
    // No base spec, no configuration unless asked; the node's log key,
    // root's alone, and kept by a second install.
    assert!(!s.at(BASE_SPEC).exists());
    assert!(!s.at("etc/oci-psp-hook/config.yaml").exists());
    assert!(!s.at("etc/oci-psp-hook/policies.d").exists());
    let key = s.at("etc/oci-psp-hook/log.key");
    assert_eq!(std::fs::metadata(&key).unwrap().mode() & 0o777, 0o600);
    let first = std::fs::read(&key).unwrap();
    assert_eq!(first.len(), 65, "64 hex digits and a newline");
    assert_eq!(s.install(&[]).code, Some(0));
    assert_eq!(std::fs::read(&key).unwrap(), first);
    let (doctor, report) = s.doctor();
    assert_eq!(doctor.code, Some(0), "{doctor:#?}");
    assert_eq!(report["binary"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(report["binary"]["path"], hook.display().to_string());
    assert_eq!(report["digest"], Value::Null);
}

#[test]
fn failed_binary_copy_writes_no_hooks_file() {
    let s = Sandbox::new();
    // The binary's directory cannot be created: a file is in its place.
    std::fs::create_dir_all(s.at("usr/libexec/oci")).unwrap();
    std::fs::write(s.at("usr/libexec/oci/hooks.d"), "in the way").unwrap();
    let run = s.install(&[]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("binary"), "{run:#?}");
    assert!(
        !s.at(HOOKS_FILE).exists(),
        "hooks.d file written without its binary"
    );
}

#[test]
fn reinstall_replaces_files_by_rename() {
    let s = Sandbox::new();
    assert_eq!(s.install(&[]).code, Some(0));
    let hook_ino = std::fs::metadata(s.at(HOOK)).unwrap().ino();
    let file_ino = std::fs::metadata(s.at(HOOKS_FILE)).unwrap().ino();
    // A runtime still reading the old hooks.d file keeps the old content.
    let mut old = std::fs::File::open(s.at(HOOKS_FILE)).unwrap();
    let run = s.install(&[]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_ne!(std::fs::metadata(s.at(HOOK)).unwrap().ino(), hook_ino);
    assert_ne!(std::fs::metadata(s.at(HOOKS_FILE)).unwrap().ino(), file_ino);
    let mut text = String::new();
    old.read_to_string(&mut text).unwrap();
    assert_eq!(text, include_str!("../hooks.d/oci-psp-hook.json"));
    for dir in [HOOK, HOOKS_FILE] {
        let dir = s.at(dir);
        assert!(hidden(dir.parent().unwrap()).is_empty());
    }
}

#[test]
fn config_source_is_installed_as_one_validated_set() {
    let s = Sandbox::new();
    let src = s.source(&config(TEAM_A));
    let digest = read_source(&src).unwrap().digest();
    let run = s.install(&["--config-source", src.to_str().unwrap()]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    // The layout: fixed links through `current` to the versioned set.
    let dir = s.at("etc/oci-psp-hook");
    assert_eq!(
        std::fs::read_link(dir.join("config.yaml")).unwrap(),
        Path::new("current/config.yaml")
    );
    assert_eq!(
        std::fs::read_link(dir.join("policies.d")).unwrap(),
        Path::new("current/policies.d")
    );
    assert_eq!(
        std::fs::read_link(dir.join("current")).unwrap(),
        Path::new("versions").join(&digest)
    );
    assert_eq!(
        std::fs::read(dir.join("policies.d/restricted-psp.yaml")).unwrap(),
        RESTRICTED.as_bytes()
    );
    // Nothing rewritten.
    assert_eq!(
        std::fs::read_to_string(s.at(CONFIG)).unwrap(),
        config(TEAM_A)
    );
    let config_path = s.at(CONFIG);
    let lint = s.run(&["lint", "--config", config_path.to_str().unwrap()]);
    assert_eq!(lint.code, Some(0), "{lint:#?}");
    let status = s.status().unwrap();
    assert_eq!(status["ok"], true);
    assert_eq!(status["active"], digest.as_str());
    assert!(
        s.records()
            .iter()
            .any(|r| r.contains("installed the policy set")),
        "the install is logged"
    );
    // doctor: the same digest, the installer's status, the binary.
    let (doctor, report) = s.doctor();
    assert_eq!(doctor.code, Some(0), "{doctor:#?}");
    assert_eq!(report["digest"], digest.as_str());
    let installer = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "installer")
        .unwrap();
    assert_eq!(installer["ok"], true, "{report}");
    // Running again with the same source changes nothing.
    let before = std::fs::metadata(dir.join("current")).unwrap().ino();
    assert_eq!(
        s.install(&["--config-source", src.to_str().unwrap()]).code,
        Some(0)
    );
    assert_eq!(
        std::fs::metadata(dir.join("current")).unwrap().ino(),
        before
    );
}

#[test]
fn invalid_set_is_refused_and_the_last_good_one_stays() {
    let s = Sandbox::new();
    let src = s.source(&config(TEAM_A));
    let good = read_source(&src).unwrap().digest();
    assert_eq!(
        s.install(&["--config-source", src.to_str().unwrap()]).code,
        Some(0)
    );
    s.records();

    // A binding to a policy the set lacks.
    std::fs::write(src.join("config.yaml"), config(BROKEN)).unwrap();
    let bad = read_source(&src).unwrap().digest();
    let run = s.install(&["--config-source", src.to_str().unwrap()]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("refused the policy set"), "{run:#?}");
    assert!(run.stderr.contains("\"nosuch\" does not exist"), "{run:#?}");
    // The error names the source's file, not the staging copy.
    assert!(
        run.stderr
            .contains(&src.join("config.yaml").display().to_string()),
        "{run:#?}"
    );
    assert!(!run.stderr.contains(".staging"), "{run:#?}");
    assert!(
        run.stderr
            .contains(&format!("the last good set {good} stays active"))
    );
    assert_eq!(s.active().as_deref(), Some(good.as_str()));
    assert_eq!(
        std::fs::read_to_string(s.at(CONFIG)).unwrap(),
        config(TEAM_A)
    );
    // The hook is installed all the same (with the last good set).
    assert!(s.at(HOOKS_FILE).exists());
    // Logged, and visible to doctor.
    assert!(
        s.records()
            .iter()
            .any(|r| r.contains("refused the policy set")),
        "the refusal is logged"
    );
    let status = s.status().unwrap();
    assert_eq!(status["ok"], false);
    assert_eq!(status["refused"], bad.as_str());
    assert_eq!(status["active"], good.as_str());
    let (doctor, report) = s.doctor();
    assert_eq!(doctor.code, Some(1), "{doctor:#?}");
    assert_eq!(report["digest"], good.as_str());
    let installer = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "installer")
        .unwrap()
        .clone();
    assert_eq!(installer["ok"], false);
    assert!(
        installer["detail"].as_str().unwrap().contains("refused"),
        "{installer}"
    );
    // No staging left behind.
    assert!(
        hidden(&s.at("etc/oci-psp-hook/versions"))
            .iter()
            .all(|n| n == ".lock")
    );

    // An invalid policy file, and a policy directory elsewhere: refused too.
    std::fs::write(src.join("config.yaml"), config(TEAM_A)).unwrap();
    std::fs::write(src.join("bad.yaml"), "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata: {name: bad}\nspec: {privileged: maybe}\n").unwrap();
    let run = s.install(&["--config-source", src.to_str().unwrap()]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("bad.yaml"), "{run:#?}");
    std::fs::remove_file(src.join("bad.yaml")).unwrap();
    std::fs::write(
        src.join("config.yaml"),
        config(TEAM_A).replace("policyDirectory: policies.d", "policyDirectory: /opt/psp"),
    )
    .unwrap();
    let run = s.install(&["--config-source", src.to_str().unwrap()]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(
        run.stderr.contains("policyDirectory \"/opt/psp\""),
        "{run:#?}"
    );
    assert_eq!(s.active().as_deref(), Some(good.as_str()));

    // The source fixed: accepted, and doctor is happy again.
    std::fs::write(src.join("config.yaml"), config(TEAM_A)).unwrap();
    assert_eq!(
        s.install(&["--config-source", src.to_str().unwrap()]).code,
        Some(0)
    );
    assert_eq!(s.status().unwrap()["ok"], true);
    assert_eq!(s.doctor().0.code, Some(0));
}

#[test]
fn default_policy_directory_is_validated_against_the_staged_policies() {
    // The example configuration names /etc/oci-psp-hook/policies.d: checked
    // with the staged policies, installed unchanged.
    let s = Sandbox::new();
    let text = include_str!("../examples/config.yaml");
    let src = s.source(text);
    let run = s.install(&["--config-source", src.to_str().unwrap()]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(std::fs::read_to_string(s.at(CONFIG)).unwrap(), text);
    // doctor reads that absolute directory under the root.
    let (doctor, report) = s.doctor();
    assert_eq!(doctor.code, Some(0), "{doctor:#?}");
    assert_eq!(
        report["digest"],
        read_source(&src).unwrap().digest().as_str()
    );
}

/// kubelet's ConfigMap volume: DIR/..<timestamp>/ holds the files,
/// DIR/..data points at it, DIR/<key> -> ..data/<key>.
struct ConfigMap {
    dir: PathBuf,
    generation: usize,
}

impl ConfigMap {
    fn new(dir: PathBuf, files: &[(&str, &str)]) -> ConfigMap {
        std::fs::create_dir_all(&dir).unwrap();
        let mut map = ConfigMap { dir, generation: 0 };
        map.update(files);
        map
    }

    /// kubelet's atomic writer: write a new timestamped directory, swap
    /// `..data` by rename, fix the key links, remove the old directory.
    fn update(&mut self, files: &[(&str, &str)]) {
        self.generation += 1;
        let stamp = format!(
            "..2026_11_26_14_00_{:02}.{}",
            self.generation,
            100 + self.generation
        );
        let ts = self.dir.join(&stamp);
        std::fs::create_dir_all(&ts).unwrap();
        for (name, text) in files {
            std::fs::write(ts.join(name), text).unwrap();
        }
        let old = std::fs::read_link(self.dir.join("..data")).ok();
        let tmp = self.dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&stamp, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
        for (name, _) in files {
            let link = self.dir.join(name);
            if std::fs::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink(format!("..data/{name}"), &link).unwrap();
            }
        }
        if let Some(old) = old {
            std::fs::remove_dir_all(self.dir.join(old)).unwrap();
        }
    }
}

#[test]
fn watch_follows_configmap_swaps_until_sigterm() {
    let s = Sandbox::new();
    let mut map = ConfigMap::new(
        s.dir.join("config"),
        &[
            ("config.yaml", &config(TEAM_A)),
            ("restricted-psp.yaml", RESTRICTED),
        ],
    );
    let first = read_source(&map.dir).unwrap().digest();
    let root = s.root();
    let child = s
        .command(&[
            "install",
            "--root",
            root.to_str().unwrap(),
            "--config-source",
            map.dir.to_str().unwrap(),
            "--watch",
        ])
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    // Kill the watcher whatever happens below.
    struct Guard(Option<Child>);
    impl Drop for Guard {
        fn drop(&mut self) {
            if let Some(c) = self.0.as_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
    let mut guard = Guard(Some(child));

    wait_for("the first set", || {
        s.active().as_deref() == Some(first.as_str())
    });
    // The policy set first, then the binary, then the hooks.d file.
    wait_for("the hooks.d file", || s.at(HOOKS_FILE).exists());
    assert!(s.at(HOOK).exists());

    // A new ConfigMap version: audit mode.
    let audit = config(TEAM_A) + "mode: audit\n";
    map.update(&[("config.yaml", &audit), ("restricted-psp.yaml", RESTRICTED)]);
    let second = read_source(&map.dir).unwrap().digest();
    assert_ne!(first, second);
    wait_for("the second set", || {
        s.active().as_deref() == Some(second.as_str())
    });
    assert_eq!(std::fs::read_to_string(s.at(CONFIG)).unwrap(), audit);
    wait_for("an ok status", || {
        s.status()
            .is_some_and(|st| st["ok"] == true && st["active"] == second.as_str())
    });

    // An invalid version: refused, the second set stays, status not ok.
    map.update(&[
        ("config.yaml", &config(BROKEN)),
        ("restricted-psp.yaml", RESTRICTED),
    ]);
    let bad = read_source(&map.dir).unwrap().digest();
    wait_for("the refusal", || {
        s.status()
            .is_some_and(|st| st["ok"] == false && st["refused"] == bad.as_str())
    });
    assert_eq!(s.active().as_deref(), Some(second.as_str()));
    assert_eq!(s.doctor().0.code, Some(1));

    // Back to a valid version (the first one: a rollback).
    map.update(&[
        ("config.yaml", &config(TEAM_A)),
        ("restricted-psp.yaml", RESTRICTED),
    ]);
    wait_for("the rollback", || {
        s.active().as_deref() == Some(first.as_str())
    });
    wait_for("an ok status again", || {
        s.status().is_some_and(|st| st["ok"] == true)
    });
    assert_eq!(s.doctor().0.code, Some(0));

    // SIGTERM: a clean exit 0.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let run = finish(guard.0.take().unwrap(), Duration::from_secs(5));
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stderr.contains("refused the policy set"), "{run:#?}");
    // The refusal was logged once, not at every poll.
    assert_eq!(
        run.stderr.matches("refused the policy set").count(),
        1,
        "{run:#?}"
    );
}

#[test]
fn uninstall_removes_in_order_and_purges_only_when_asked() {
    let s = Sandbox::new();
    let src = s.source(&config(TEAM_A));
    let spec =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ctr-oci-spec-default.json");
    let run = s.install(&[
        "--config-source",
        src.to_str().unwrap(),
        "--containerd-base-spec",
        "--containerd-base-spec-from",
        spec.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let root = s.root();
    let uninstall = |extra: &[&str]| {
        let mut args = vec!["uninstall", "--root", root.to_str().unwrap()];
        args.extend_from_slice(extra);
        s.run(&args)
    };

    // The binary cannot be removed (a directory is in its place): the
    // hooks.d file is already gone, the base spec not yet.
    std::fs::remove_file(s.at(HOOK)).unwrap();
    std::fs::create_dir_all(s.at(HOOK).join("x")).unwrap();
    let run = uninstall(&[]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(!s.at(HOOKS_FILE).exists(), "the hooks.d file goes first");
    assert!(
        s.at(BASE_SPEC).exists(),
        "the base spec goes after the binary"
    );
    std::fs::remove_dir_all(s.at(HOOK)).unwrap();
    std::fs::write(s.at(HOOK), "binary").unwrap();

    // While containerd's config names the base spec: refused, nothing removed.
    std::fs::write(
        s.at("etc/containerd/config.toml"),
        "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  base_runtime_spec = \"/etc/containerd/oci-psp-hook-base-spec.json\"\n",
    )
    .unwrap();
    let run = uninstall(&[]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("base_runtime_spec"), "{run:#?}");
    assert!(s.at(HOOK).exists() && s.at(BASE_SPEC).exists());
    // Named in an import outside conf.d, under a containerd 2.x table:
    // refused too, naming the file.
    std::fs::create_dir_all(s.at("etc/containerd/runtimes")).unwrap();
    std::fs::write(
        s.at("etc/containerd/config.toml"),
        "version = 3\nimports = [\"/etc/containerd/runtimes/*.toml\"]\n",
    )
    .unwrap();
    let kata = |text: &str| {
        std::fs::write(s.at("etc/containerd/runtimes/kata.toml"), text).unwrap();
        uninstall(&[])
    };
    let kata_spec = |spec: &str| {
        kata(&format!(
            "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.kata]\n  base_runtime_spec = \"{spec}\"\n"
        ))
    };
    let refused = |run: &Run, says: &[&str]| {
        assert_eq!(run.code, Some(2), "{run:#?}");
        assert!(says.iter().all(|w| run.stderr.contains(w)), "{run:#?}");
        assert!(s.at(HOOK).exists() && s.at(BASE_SPEC).exists());
    };
    let run = kata_spec("/etc/containerd/oci-psp-hook-base-spec.json");
    refused(&run, &["runtimes/kata.toml", "\"kata\""]);
    // A spec of the admin's own that runs the binary uninstall removes.
    std::fs::write(
        s.at("etc/containerd/custom-spec.json"),
        format!(r#"{{"hooks": {{"createRuntime": [{{"path": "/{HOOK}"}}]}}}}"#),
    )
    .unwrap();
    refused(
        &kata_spec("/etc/containerd/custom-spec.json"),
        &["custom-spec.json"],
    );
    // ... or runs it through a link of another name, in any stage.
    std::os::unix::fs::symlink(format!("../../{HOOK}"), s.at("etc/containerd/psp-link")).unwrap();
    std::fs::write(
        s.at("etc/containerd/custom-spec.json"),
        r#"{"hooks": {"createContainer": [{"path": "/etc/containerd/psp-link"}]}}"#,
    )
    .unwrap();
    refused(
        &kata_spec("/etc/containerd/custom-spec.json"),
        &["custom-spec.json"],
    );
    // An import of an import, in containerd 1.x's default_runtime table.
    std::fs::create_dir_all(s.at("etc/containerd/deep")).unwrap();
    std::fs::write(
        s.at("etc/containerd/deep/d.toml"),
        "[plugins.\"io.containerd.grpc.v1.cri\".containerd.default_runtime]\n  runtime_type = \"io.containerd.runc.v2\"\n  base_runtime_spec = \"/etc/containerd/oci-psp-hook-base-spec.json\"\n",
    )
    .unwrap();
    refused(
        &kata("imports = [\"../deep/d.toml\"]\n"),
        &["deep/d.toml", "\"default\""],
    );
    // A named import that is not there: containerd would not have started
    // without it, so it cannot be told.
    refused(
        &kata("imports = [\"/etc/kata-containers/containerd.toml\"]\n"),
        &["cannot be told"],
    );
    // A file containerd cannot parse: whether it names one cannot be told.
    refused(&kata("[plugins\n"), &["cannot be told"]);
    // The twin: another runtime's spec that runs no oci-psp-hook, and the
    // base spec only in a comment, do not hold uninstall back.
    std::fs::write(s.at("etc/containerd/custom-spec.json"), "{}").unwrap();
    std::fs::write(
        s.at("etc/containerd/runtimes/kata.toml"),
        "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.kata]\n  base_runtime_spec = \"/etc/containerd/custom-spec.json\"\n# base_runtime_spec = \"/etc/containerd/oci-psp-hook-base-spec.json\"\n",
    )
    .unwrap();

    let run = uninstall(&[]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    for gone in [HOOKS_FILE, HOOK, BASE_SPEC] {
        assert!(!s.at(gone).exists(), "{gone}");
    }
    let order: Vec<usize> = [HOOK, BASE_SPEC]
        .iter()
        .map(|p| run.stdout.find(p).unwrap())
        .collect();
    assert!(order[0] < order[1], "{run:#?}");
    // The policies stay without --purge.
    assert!(s.at(CONFIG).exists());
    assert!(s.at(STATUS).exists());
    let run = uninstall(&["--purge"]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(!s.at("etc/oci-psp-hook").exists());
    assert!(!s.at(STATUS).exists());
    // Uninstalling what is not there is fine.
    assert_eq!(uninstall(&["--purge"]).code, Some(0));
}

#[test]
fn containerd_base_spec_gets_the_hook() {
    let s = Sandbox::new();
    let spec =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ctr-oci-spec-default.json");
    let run = s.install(&[
        "--containerd-base-spec",
        "--containerd-base-spec-from",
        spec.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let written: Value = serde_json::from_slice(&std::fs::read(s.at(BASE_SPEC)).unwrap()).unwrap();
    assert_eq!(
        written["hooks"]["createRuntime"][0],
        serde_json::json!({"path": "/usr/libexec/oci/hooks.d/oci-psp-hook", "args": ["oci-psp-hook", "hook"]})
    );
    let original: Value = serde_json::from_slice(&std::fs::read(&spec).unwrap()).unwrap();
    assert_eq!(written["process"], original["process"]);

    // Without ctr and without a spec file: a clear failure.
    let root = s.root();
    let run = finish(
        s.command(&[
            "install",
            "--root",
            root.to_str().unwrap(),
            "--containerd-base-spec",
        ])
        .env("PATH", s.dir.join("empty-path"))
        .spawn()
        .unwrap(),
        DEADLINE,
    );
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("ctr oci spec"), "{run:#?}");
    assert!(
        run.stderr.contains("--containerd-base-spec-from"),
        "{run:#?}"
    );
}

#[test]
fn usage_errors() {
    let s = Sandbox::new();
    // --watch needs a source; the root must exist.
    let root = s.root();
    let run = s.run(&["install", "--root", root.to_str().unwrap(), "--watch"]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    let run = s.run(&["install", "--root", "/nonexistent/root"]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("not a directory"), "{run:#?}");
    // A source without config.yaml is refused.
    let empty = s.dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let run = s.install(&["--config-source", empty.to_str().unwrap()]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("has no config.yaml"), "{run:#?}");
}
