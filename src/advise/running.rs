//! `--running`: the bundles of the containers running now.
//!
//! Every OCI runtime keeps a state file per container it started, holding
//! the container's init pid and its bundle:
//! - runc: `<root>/<id>/state.json` (`init_process_pid`,
//!   `init_process_start`, the bundle in `config.labels` as `bundle=<path>`);
//!   roots `/run/runc` (podman, CRI-O, runc itself) and
//!   `/run/containerd/runc/<namespace>` (containerd);
//! - crun: `/run/crun/<id>/status` (`pid`, `process-start-time`, `bundle`).
//!
//! A container is running when its init pid is alive and started when the
//! runtime recorded (a reused pid is not the container). A state without a
//! bundle falls back to where the engines keep bundles:
//! `/run/containerd/io.containerd.runtime.v2.task/<namespace>/<id>` and
//! `{/run,/var/lib}/containers/storage/overlay-containers/<id>/userdata`.
//! Bundles that exist but whose container does not run are not advised from.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// One running container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub id: String,
    pub pid: i32,
    /// The bundle directory (holding config.json).
    pub bundle: PathBuf,
    /// The state file it was found by.
    pub state: PathBuf,
}

/// Why the running containers could not be found: the runtime state
/// directory or file, and what was wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum RunningError {
    #[error("{}: cannot list: {source} (advise --running needs root)", dir.display())]
    List {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", state.display())]
    Read {
        state: PathBuf,
        source: crate::input::InputError,
    },
    #[error("{}: not valid JSON: {source}", state.display())]
    NotJson {
        state: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "{}: container {id} runs (pid {pid}) but its bundle is nowhere to be found",
        state.display()
    )]
    NoBundle {
        state: PathBuf,
        id: String,
        pid: i32,
    },
}

/// The running containers under `root` (`/` on a node), sorted by id.
pub fn discover(root: &Path) -> Result<Vec<Running>, RunningError> {
    let mut found = Vec::new();
    let runc_roots = runc_roots(root)?;
    for dir in &runc_roots {
        for (id, state) in entries(dir, "state.json")? {
            if let Some(r) = from_state(root, &id, &state, runc_fields)? {
                found.push(r);
            }
        }
    }
    for (id, state) in entries(&root.join("run/crun"), "status")? {
        if let Some(r) = from_state(root, &id, &state, crun_fields)? {
            found.push(r);
        }
    }
    found.sort_by(|a, b| (&a.id, &a.bundle).cmp(&(&b.id, &b.bundle)));
    let mut bundles = std::collections::HashSet::new();
    found.retain(|r| bundles.insert(r.bundle.clone()));
    Ok(found)
}

/// Where runc state lives: `/run/runc` and containerd's per-namespace roots.
fn runc_roots(root: &Path) -> Result<Vec<PathBuf>, RunningError> {
    let mut roots = vec![root.join("run/runc")];
    let containerd = root.join("run/containerd/runc");
    for (_, dir) in subdirs(&containerd)? {
        roots.push(dir);
    }
    Ok(roots)
}

/// `(name, path)` of each subdirectory; nothing when `dir` does not exist.
fn subdirs(dir: &Path) -> Result<Vec<(String, PathBuf)>, RunningError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RunningError::List {
                dir: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut dirs: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Some((e.file_name().to_str()?.to_string(), e.path())))
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// `(id, state file)` for each container directory holding `file`.
fn entries(dir: &Path, file: &str) -> Result<Vec<(String, PathBuf)>, RunningError> {
    Ok(subdirs(dir)?
        .into_iter()
        .map(|(id, path)| (id, path.join(file)))
        .filter(|(_, state)| state.is_file())
        .collect())
}

/// What a state file says: pid, start time (clock ticks since boot, 0 when
/// not recorded), bundle.
struct StateFields {
    pid: Option<i64>,
    start: u64,
    bundle: Option<String>,
}

fn runc_fields(state: &Value) -> StateFields {
    let bundle = state
        .pointer("/config/labels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(|l| l.strip_prefix("bundle="))
        .map(str::to_string);
    StateFields {
        pid: state.get("init_process_pid").and_then(Value::as_i64),
        start: state
            .get("init_process_start")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        bundle,
    }
}

fn crun_fields(state: &Value) -> StateFields {
    StateFields {
        pid: state.get("pid").and_then(Value::as_i64),
        start: state
            .get("process-start-time")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        bundle: state
            .get("bundle")
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

fn from_state(
    root: &Path,
    id: &str,
    state: &Path,
    fields: fn(&Value) -> StateFields,
) -> Result<Option<Running>, RunningError> {
    let bytes = match crate::input::read_bounded(state, crate::input::STATE_LIMIT) {
        Ok(b) => b,
        // The container went away while we looked.
        Err(crate::input::InputError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(None);
        }
        Err(source) => {
            return Err(RunningError::Read {
                state: state.to_path_buf(),
                source,
            });
        }
    };
    let value: Value = serde_json::from_slice(&bytes).map_err(|source| RunningError::NotJson {
        state: state.to_path_buf(),
        source,
    })?;
    let fields = fields(&value);
    let Some(pid) = fields
        .pid
        .and_then(|p| i32::try_from(p).ok())
        .filter(|p| *p > 0)
    else {
        return Ok(None);
    };
    if !alive(pid, fields.start) {
        return Ok(None);
    }
    let bundle = match fields.bundle {
        Some(b) => Some(root.join(b.trim_start_matches('/'))),
        None => engine_bundle(root, id),
    };
    let Some(bundle) = bundle else {
        return Err(RunningError::NoBundle {
            state: state.to_path_buf(),
            id: id.to_string(),
            pid,
        });
    };
    Ok(Some(Running {
        id: id.to_string(),
        pid,
        bundle,
        state: state.to_path_buf(),
    }))
}

/// The bundle directory an engine keeps for container `id`, if any.
fn engine_bundle(root: &Path, id: &str) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    let tasks = root.join("run/containerd/io.containerd.runtime.v2.task");
    if let Ok(namespaces) = subdirs(&tasks) {
        candidates.extend(namespaces.into_iter().map(|(_, ns)| ns.join(id)));
    }
    for storage in ["run/containers/storage", "var/lib/containers/storage"] {
        candidates.push(
            root.join(storage)
                .join("overlay-containers")
                .join(id)
                .join("userdata"),
        );
    }
    candidates
        .into_iter()
        .find(|c| c.join("config.json").is_file())
}

/// The process is alive (not a zombie) and, when `start` is known, started
/// at that time (`/proc/<pid>/stat` field 22).
fn alive(pid: i32, start: u64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The command name may hold spaces and parentheses: fields follow the last `)`.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return false;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first().copied().unwrap_or("Z");
    let started = fields.get(19).and_then(|s| s.parse::<u64>().ok());
    state != "Z" && state != "X" && (start == 0 || started == Some(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This test process's start time, as a runtime would record it.
    fn own_start() -> u64 {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let rest = stat.rsplit_once(')').unwrap().1;
        rest.split_whitespace().nth(19).unwrap().parse().unwrap()
    }

    struct Tree(tempfile::TempDir);

    impl Tree {
        fn new() -> Tree {
            let dir = tempfile::Builder::new()
                .prefix("psp-running-")
                .tempdir()
                .unwrap();
            Tree(dir)
        }
        fn path(&self) -> &Path {
            self.0.path()
        }
        fn write(&self, path: &str, text: &str) {
            let path = self.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    #[test]
    fn finds_running_containers_of_each_runtime() {
        let t = Tree::new();
        let me = std::process::id();
        let start = own_start();
        let id = "a".repeat(64);
        // runc (podman): bundle in the labels
        t.write(
            "run/runc/web/state.json",
            &format!(r#"{{"id":"web","init_process_pid":{me},"init_process_start":{start},"config":{{"labels":["bundle=/var/lib/containers/storage/overlay-containers/{id}/userdata"]}}}}"#),
        );
        t.write(
            &format!("var/lib/containers/storage/overlay-containers/{id}/userdata/config.json"),
            "{}",
        );
        // containerd: no bundle label, found in the task directory
        t.write(
            "run/containerd/runc/k8s.io/db/state.json",
            &format!(r#"{{"id":"db","init_process_pid":{me},"init_process_start":{start},"config":{{}}}}"#),
        );
        t.write(
            "run/containerd/io.containerd.runtime.v2.task/k8s.io/db/config.json",
            "{}",
        );
        // crun
        t.write(
            "run/crun/job/status",
            &format!(r#"{{"pid":{me},"process-start-time":{start},"bundle":"/srv/job"}}"#),
        );
        // stopped: a pid reused by another process, a dead pid, no pid
        t.write(
            "run/runc/reused/state.json",
            &format!(r#"{{"init_process_pid":{me},"init_process_start":{},"config":{{"labels":["bundle=/x"]}}}}"#, start + 1),
        );
        t.write(
            "run/runc/dead/state.json",
            r#"{"init_process_pid":2147483647,"config":{"labels":["bundle=/x"]}}"#,
        );
        t.write("run/runc/created/state.json", r#"{"init_process_pid":0}"#);
        // a bundle whose container is not running
        t.write(
            "run/containerd/io.containerd.runtime.v2.task/k8s.io/old/config.json",
            "{}",
        );

        let found = discover(t.path()).unwrap();
        let got: Vec<(&str, PathBuf)> = found
            .iter()
            .map(|r| {
                (
                    r.id.as_str(),
                    r.bundle.strip_prefix(t.path()).unwrap().to_path_buf(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "db",
                    PathBuf::from("run/containerd/io.containerd.runtime.v2.task/k8s.io/db")
                ),
                ("job", PathBuf::from("srv/job")),
                (
                    "web",
                    PathBuf::from(format!(
                        "var/lib/containers/storage/overlay-containers/{id}/userdata"
                    ))
                ),
            ]
        );
        assert!(found.iter().all(|r| r.pid == me as i32));
    }

    #[test]
    fn nothing_there_is_no_container() {
        let found = discover(Path::new("/nonexistent-root")).unwrap();
        assert!(found.is_empty());
    }

    #[test]
    fn broken_state_names_the_file() {
        let t = Tree::new();
        t.write("run/runc/x/state.json", "{not json");
        let e = discover(t.path()).unwrap_err();
        assert!(matches!(e, RunningError::NotJson { .. }), "{e:?}");
        let e = e.to_string();
        assert!(e.contains("run/runc/x/state.json: not valid JSON"), "{e}");
    }
}
