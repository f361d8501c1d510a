//! Crash-safe replacement of files and symlinks: write beside the target,
//! fsync, rename(2) over it, fsync the directory. A reader (the hook, a
//! runtime reading hooks.d) sees the old entry or the new one, never half of
//! one; after a crash the directory holds one of the two.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a file could not be replaced or removed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What was done (`create`, `rename into place`…) to which path, and the
    /// system's reason (chained as the source).
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// `path` with a context for error messages.
pub fn ctx(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// The directory holding `path` (`.` for a bare name).
pub fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A name beside `path` for its replacement in progress: hidden, and unique
/// to this process.
pub fn beside(path: &Path, tag: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    parent(path).join(format!(".{name}.{tag}-{}", std::process::id()))
}

/// Make the directory's entries (a rename, a new file) durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// `create_dir_all` with mode 0755 for what it creates.
pub fn create_dirs(dir: &Path) -> Result<(), Error> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(ctx("create directory", dir))
}

/// Replace `path` by a file with `mode` and what `fill` writes, atomically.
fn replace_with(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), Error> {
    let tmp = beside(path, "new");
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(ctx("create", &tmp))?;
        fill(&mut file).map_err(ctx("write", &tmp))?;
        // The mode given to open(2) is reduced by the umask.
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(ctx("chmod", &tmp))?;
        file.sync_all().map_err(ctx("fsync", &tmp))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(ctx("rename into place", path))?;
        fsync_dir(parent(path)).map_err(ctx("fsync", parent(path)))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Write `bytes` to `path` atomically.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    replace_with(path, mode, |f| f.write_all(bytes))
}

/// Copy `from` to `to` atomically (streamed: a binary can be large).
pub fn copy_file(from: &Path, to: &Path, mode: u32) -> Result<(), Error> {
    let mut source = File::open(from).map_err(ctx("read", from))?;
    replace_with(to, mode, |f| io::copy(&mut source, f).map(drop))
}

/// Point the symlink `link` at `target`, atomically (a new link renamed over
/// the old one).
pub fn replace_symlink(target: &Path, link: &Path) -> Result<(), Error> {
    let tmp = beside(link, "link");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(ctx("create symlink", &tmp))?;
    if let Err(e) = std::fs::rename(&tmp, link) {
        let _ = std::fs::remove_file(&tmp);
        return Err(ctx("rename into place", link)(e));
    }
    fsync_dir(parent(link)).map_err(ctx("fsync", parent(link)))
}

/// Remove a file or symlink; absent is fine. Returns whether it was there.
pub fn remove_file(path: &Path) -> Result<bool, Error> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            fsync_dir(parent(path)).map_err(ctx("fsync", parent(path)))?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(ctx("remove", path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;

    fn dir(name: &str) -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix(&format!("psp-atomic-{name}-"))
            .tempdir()
            .unwrap()
    }

    #[test]
    fn replaces_by_rename_and_leaves_nothing_beside() {
        let temp = dir("write");
        let d = temp.path();
        let file = d.join("f.json");
        write_file(&file, b"one", 0o644).unwrap();
        let first = std::fs::metadata(&file).unwrap().ino();
        // A reader holding the old file keeps reading the old content.
        let mut old = File::open(&file).unwrap();
        write_file(&file, b"two", 0o600).unwrap();
        let meta = std::fs::metadata(&file).unwrap();
        assert_ne!(meta.ino(), first, "replaced by a new inode, not rewritten");
        assert_eq!(meta.mode() & 0o777, 0o600);
        let mut text = String::new();
        old.read_to_string(&mut text).unwrap();
        assert_eq!(text, "one");
        assert_eq!(std::fs::read(&file).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(d).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn failed_copy_leaves_the_target_alone() {
        let temp = dir("copy");
        let d = temp.path();
        let file = d.join("bin");
        write_file(&file, b"old", 0o755).unwrap();
        assert!(copy_file(&d.join("missing"), &file, 0o755).is_err());
        assert_eq!(std::fs::read(&file).unwrap(), b"old");
        copy_file(&file, &d.join("bin2"), 0o755).unwrap();
        assert_eq!(std::fs::read(d.join("bin2")).unwrap(), b"old");
    }

    #[test]
    fn symlink_is_swapped() {
        let temp = dir("link");
        let d = temp.path();
        let link = d.join("current");
        replace_symlink(Path::new("a"), &link).unwrap();
        replace_symlink(Path::new("b"), &link).unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("b"));
        assert!(remove_file(&link).unwrap());
        assert!(!remove_file(&link).unwrap());
    }
}
