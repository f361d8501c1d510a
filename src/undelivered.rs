//! Decision records no log took (no journald or syslog socket answered, or
//! it refused the datagram), kept so that none is lost silently: one file
//! per record, on one line as syslog would have carried it (`decision
//! {json}`, signed: what `advise --from-log` reads), in a root-only
//! directory that `doctor` reports on.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub const DEFAULT_DIR: &str = "/var/lib/oci-psp-hook/undelivered";
/// Test override of the directory.
pub const DIR_ENV: &str = "OCI_PSP_HOOK_UNDELIVERED_DIR";
/// Records kept at most; past that each one is only counted (in
/// [`DROPPED`]), so a broken log cannot fill the disk.
pub const MAX_KEPT: usize = 1000;
/// The file counting records that found the directory full.
pub const DROPPED: &str = "dropped";

fn dir() -> PathBuf {
    std::env::var_os(DIR_ENV)
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_DIR), PathBuf::from)
}

/// Keep `record` (the decision as a text log line); returns the file it is in, or why it
/// could not be kept.
pub fn keep(record: &[u8]) -> Result<PathBuf, KeepError> {
    keep_in(&dir(), record)
}

/// Why a record could not be kept. The system's reason is told by its errno
/// name (`EACCES`): runtimes show the user the hook's line only when no OS
/// phrase in it ("Permission denied") makes them take it for their own
/// error.
#[derive(Debug, thiserror::Error)]
pub enum KeepError {
    #[error("cannot create {} ({})", dir.display(), errno(source))]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {} ({})", dir.display(), errno(source))]
    ReadDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{shown} holds {MAX_KEPT} records already (counted in {shown}/{DROPPED}: {count})",
        shown = dir.display()
    )]
    Full { dir: PathBuf, count: u64 },
    #[error("cannot write {} ({})", path.display(), errno(source))]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The error's errno name, or a phrase of no OS's.
fn errno(e: &std::io::Error) -> String {
    e.raw_os_error().map_or_else(
        || "an I/O error".to_string(),
        |code| format!("{:?}", nix::errno::Errno::from_raw(code)),
    )
}

fn keep_in(dir: &Path, record: &[u8]) -> Result<PathBuf, KeepError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| KeepError::CreateDir {
            dir: dir.to_path_buf(),
            source,
        })?;
    let kept = kept_in(dir)
        .map_err(|source| KeepError::ReadDir {
            dir: dir.to_path_buf(),
            source,
        })?
        .len();
    if kept >= MAX_KEPT {
        let count = dropped(dir) + 1;
        let _ = std::fs::write(dir.join(DROPPED), format!("{count}\n"));
        return Err(KeepError::Full {
            dir: dir.to_path_buf(),
            count,
        });
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let path = dir.join(format!(
        "{}.{:09}-{}.json",
        now.as_secs(),
        now.subsec_nanos(),
        std::process::id()
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(record).and_then(|()| f.write_all(b"\n")));
    match written {
        Ok(()) => Ok(path),
        Err(source) => Err(KeepError::Write { path, source }),
    }
}

/// The directory of an installation under `root` (`/`: this node's).
pub fn dir_under(root: &Path) -> PathBuf {
    if root == Path::new("/") {
        dir()
    } else {
        root.join(DEFAULT_DIR.trim_start_matches('/'))
    }
}

/// How many records `root`'s directory keeps, how many found it full, and
/// the newest file; `None` when there is none of either.
pub fn summary(root: &Path) -> Option<(usize, u64, Option<PathBuf>)> {
    let dir = dir_under(root);
    let mut files = kept_in(&dir).ok()?;
    let dropped = dropped(&dir);
    (!files.is_empty() || dropped > 0).then(|| (files.len(), dropped, files.pop()))
}

/// The records `root`'s directory keeps, oldest first (their names start
/// with the time).
pub fn kept(root: &Path) -> Vec<PathBuf> {
    kept_in(&dir_under(root)).unwrap_or_default()
}

fn kept_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Ok(files)
}

fn dropped(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join(DROPPED))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_told_without_os_phrases() {
        let err = keep_in(Path::new("/proc/no-such/undelivered"), b"{}").unwrap_err();
        assert!(matches!(err, KeepError::CreateDir { .. }), "{err:?}");
        let err = err.to_string();
        assert!(
            err.starts_with("cannot create /proc/no-such/undelivered (E"),
            "{err}"
        );
        assert!(!err.to_lowercase().contains("no such file"), "{err}");
    }

    #[test]
    fn records_are_kept_then_counted_when_full() {
        let temp = tempfile::Builder::new()
            .prefix("oci-psp-undelivered-")
            .tempdir()
            .unwrap();
        // not there yet: keep_in makes it, and its mode is checked
        let dir = temp.path().join("undelivered");
        let first = keep_in(&dir, b"{\"verdict\":\"deny\"}").unwrap();
        assert_eq!(std::fs::read(&first).unwrap(), b"{\"verdict\":\"deny\"}\n");
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&dir), mode(&first)), (0o700, 0o600));
        for _ in 1..MAX_KEPT {
            keep_in(&dir, b"{}").unwrap();
        }
        let err = keep_in(&dir, b"{}").unwrap_err();
        assert!(matches!(err, KeepError::Full { count: 1, .. }), "{err:?}");
        let err = err.to_string();
        assert!(err.contains("holds 1000 records already"), "{err}");
        keep_in(&dir, b"{}").unwrap_err();
        assert_eq!(dropped(&dir), 2);
    }
}
