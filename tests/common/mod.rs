//! Helpers shared by the integration tests: running the binary with a
//! deadline, temporary directories, captured-fixture ids. Each test crate
//! uses some of them.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The runtime id of a captured podman container: its mounts of podman's
/// per-container files (`<storage>/overlay-containers/<id>/userdata/…`)
/// keep it.
pub fn podman_id(config: &Value) -> Option<String> {
    config["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["source"].as_str())
        .find_map(|source| {
            let (_, rest) = source.split_once("/overlay-containers/")?;
            rest.split('/').next().map(str::to_string)
        })
}

/// A finished process: its exit code (`None`: killed by a signal) and output.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Run `cmd` to its end, its stdio piped here: `stdin` is fed from a thread
/// that tolerates the process closing its end early (EPIPE); see [`finish`].
pub fn run(cmd: &mut Command, stdin: &[u8], deadline: Duration) -> Run {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut input = child.stdin.take().expect("piped stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || match input.write_all(&data) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::BrokenPipe => {}
        Err(e) => panic!("writing stdin: {e}"),
    });
    let run = finish(child, deadline);
    writer.join().expect("stdin writer");
    run
}

/// Wait for `child` (stdout and stderr piped) to end, reading its output as
/// it comes (no pipe fills up); past `deadline` it is killed and the test
/// fails.
pub fn finish(mut child: Child, deadline: Duration) -> Run {
    let start = Instant::now();
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = pipe.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = read_all(Box::new(child.stderr.take().expect("piped stderr")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the process") {
            break status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} did not finish within {deadline:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Run {
        code: status.code(),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// A fresh temporary directory named after the test file, removed when
/// dropped; what the tests make in it is `go-w` whatever the umask (the
/// hook refuses files its group or others can write).
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    let dir = tempfile::Builder::new()
        .prefix(&format!("oci-psp-hook-{prefix}-"))
        .tempdir()
        .expect("a temporary directory");
    // as a directory made with the umask would be: containers of other
    // users reach what the tests put in it
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod the temporary directory");
    dir
}

/// A capture with its `/proc/<pid>/ns/*` namespace paths moved to pids no
/// process can have (2^22 and above): a process of this machine that
/// happens to have the capture's sandbox pid (now, or in only one of two
/// runs) must not decide the verdict.
pub fn offline(capture: &Value) -> Value {
    let mut capture = capture.clone();
    if let Some(namespaces) = capture["linux"]["namespaces"].as_array_mut() {
        for ns in namespaces {
            let Some(path) = ns["path"].as_str() else {
                continue;
            };
            if let Some(rest) = path.strip_prefix("/proc/")
                && let Some((pid, tail)) = rest.split_once('/')
                && let Ok(pid) = pid.parse::<u64>()
            {
                ns["path"] = Value::from(format!("/proc/{}/{tail}", (1u64 << 22) + pid));
            }
        }
    }
    capture
}
