//! Bounded reads of everything the hook is handed: the OCI state on stdin,
//! config.json and policy files. A FIFO, a device or an endless file must not
//! hang or exhaust the hook that sits on every container start.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Largest OCI state accepted on stdin (annotations included).
pub const STATE_LIMIT: u64 = 4 << 20;
/// Largest config.json accepted.
pub const CONFIG_LIMIT: u64 = 16 << 20;
/// Largest policy or configuration file accepted.
pub const POLICY_LIMIT: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a regular file")]
    NotAFile { path: String },
    #[error("{path} is larger than {limit} bytes")]
    TooLarge { path: String, limit: u64 },
    #[error(
        "{path} is {why}: refusing it, as anyone who can write it could change the policy (chmod o-w, chown root)"
    )]
    Untrusted { path: String, why: String },
    #[error(
        "{path} is {why}: refusing the container, as whoever can change its bundle could have the hook judge another config.json than the runtime's (chown root, chmod go-w)"
    )]
    UntrustedBundle { path: String, why: String },
}

impl InputError {
    /// What went wrong without the path, for messages that name it already.
    pub fn reason(&self) -> String {
        match self {
            InputError::Io { source, .. } => format!("cannot read it: {source}"),
            InputError::NotAFile { .. } => "not a regular file".into(),
            InputError::TooLarge { limit, .. } => format!("larger than {limit} bytes"),
            InputError::Untrusted { why, .. } => {
                format!(
                    "{why}: refusing it, as anyone who can write it could change the policy (chmod o-w, chown root)"
                )
            }
            InputError::UntrustedBundle { .. } => self.to_string(),
        }
    }
}

/// Read a regular file of at most `limit` bytes. The file is opened
/// non-blocking so a FIFO cannot stall the open, then checked to be regular.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    let shown = path.display().to_string();
    let io = |source| InputError::Io {
        path: shown.clone(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(InputError::NotAFile { path: shown });
    }
    if meta.len() > limit {
        return Err(InputError::TooLarge { path: shown, limit });
    }
    // Sized up front: one allocation, no regrowth copies.
    let expected = usize::try_from(meta.len()).unwrap_or(0);
    read_into(Vec::with_capacity(expected), file, limit, &shown)
}

/// Read a policy or configuration file: like [`read_bounded`], and refused
/// (like sudoers) when anyone but root or the file's reader could change it.
pub fn read_trusted(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    use std::os::unix::fs::MetadataExt;
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| InputError::Io {
        path: shown.clone(),
        source,
    })?;
    let euid = nix::unistd::geteuid().as_raw();
    let why = if meta.mode() & 0o002 != 0 {
        Some("world-writable".to_string())
    } else if meta.uid() != 0 && meta.uid() != euid {
        Some(format!(
            "owned by uid {}, neither root nor the hook's user",
            meta.uid()
        ))
    } else {
        None
    };
    if let Some(why) = why {
        return Err(InputError::Untrusted { path: shown, why });
    }
    read_bounded(path, limit)
}

/// Why a file or directory anyone but root or the hook's user could change
/// is not to be trusted (`None`: it is trusted). A directory with the sticky
/// bit may be writable by others (`/tmp`): they cannot replace what they do
/// not own in it, and what is in it is checked in turn.
fn untrusted(meta: &std::fs::Metadata, euid: u32) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let sticky_dir = meta.is_dir() && meta.mode() & 0o1000 != 0;
    if meta.uid() != 0 && meta.uid() != euid {
        Some(format!(
            "owned by uid {}, neither root nor the hook's user",
            meta.uid()
        ))
    } else if meta.mode() & 0o022 != 0 && !sticky_dir {
        Some(format!(
            "writable by {} (mode {:o})",
            if meta.mode() & 0o002 != 0 {
                "everyone"
            } else {
                "its group"
            },
            meta.mode() & 0o7777
        ))
    } else {
        None
    }
}

/// Read `<bundle>/config.json` for the hook. runc read it before the hook
/// runs; whoever could change it (or the bundle, or any directory above it)
/// in between could have the hook judge another config than the one runc
/// applies. So the bundle's directories up to `/` and the file must be owned
/// by root or the hook's user and writable by no one else, and config.json
/// must be a regular file, not a link. Returns the text and the bundle
/// resolved.
pub fn read_bundle_config(
    bundle: &Path,
    limit: u64,
) -> Result<(Vec<u8>, std::path::PathBuf), InputError> {
    use std::os::unix::fs::MetadataExt;
    let config = bundle.join("config.json");
    let shown = config.display().to_string();
    let io = |path: &Path, source| InputError::Io {
        path: path.display().to_string(),
        source,
    };
    let euid = nix::unistd::geteuid().as_raw();
    let real = bundle.canonicalize().map_err(|e| io(bundle, e))?;
    for dir in real.ancestors() {
        let meta = std::fs::metadata(dir).map_err(|e| io(dir, e))?;
        if let Some(why) = untrusted(&meta, euid) {
            return Err(InputError::UntrustedBundle {
                path: dir.display().to_string(),
                why,
            });
        }
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_NOFOLLOW)
        .open(real.join("config.json"))
        .map_err(|source| match source.raw_os_error() {
            Some(libc::ELOOP) => InputError::UntrustedBundle {
                path: shown.clone(),
                why: "a symbolic link".into(),
            },
            _ => io(&config, source),
        })?;
    let meta = file.metadata().map_err(|e| io(&config, e))?;
    if !meta.is_file() {
        return Err(InputError::NotAFile { path: shown });
    }
    if let Some(why) = untrusted(&meta, euid) {
        return Err(InputError::UntrustedBundle { path: shown, why });
    }
    if meta.len() > limit {
        return Err(InputError::TooLarge { path: shown, limit });
    }
    let expected = usize::try_from(meta.size()).unwrap_or(0);
    let text = read_into(Vec::with_capacity(expected), file, limit, &shown)?;
    Ok((text, real))
}

/// Read a stream (stdin) up to `limit` bytes; more is an error.
pub fn read_limited(reader: impl Read, limit: u64, what: &str) -> Result<Vec<u8>, InputError> {
    read_into(Vec::new(), reader, limit, what)
}

fn read_into(
    mut buf: Vec<u8>,
    reader: impl Read,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, InputError> {
    reader
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|source| InputError::Io {
            path: what.to_string(),
            source,
        })?;
    if buf.len() as u64 > limit {
        return Err(InputError::TooLarge {
            path: what.to_string(),
            limit,
        });
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_fifo_without_blocking() {
        let dir = std::env::temp_dir().join(format!("psp-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("config.json");
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(
            &fifo,
            nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
        )
        .unwrap();
        let err = read_bounded(&fifo, 100).unwrap_err();
        assert!(err.to_string().contains("is not a regular file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rejects_oversized_stream_and_file() {
        let err = read_limited(&[0u8; 11][..], 10, "stdin").unwrap_err();
        assert_eq!(err.to_string(), "stdin is larger than 10 bytes");
        assert_eq!(read_limited(&[1u8; 10][..], 10, "stdin").unwrap().len(), 10);
        let err = read_bounded(Path::new("/proc/self/status"), 1);
        // /proc files report size 0 but still may not exceed the bound
        assert!(err.is_err());
    }

    #[test]
    fn world_writable_policy_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("psp-perm-{}.yaml", std::process::id()));
        std::fs::write(&path, "x").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = read_trusted(&path, 100).unwrap_err().to_string();
        assert!(err.contains("is world-writable: refusing it"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read_trusted(&path, 100).unwrap(), b"x");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_bundle_others_can_change_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("psp-bundle-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = dir.join("config.json");
        std::fs::write(&config, "{}").unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read_bundle_config(&dir, 100).unwrap().0, b"{}");
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = read_bundle_config(&dir, 100).unwrap_err().to_string();
        assert!(err.contains("config.json is writable by everyone"), "{err}");
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o775)).unwrap();
        let err = read_bundle_config(&dir, 100).unwrap_err().to_string();
        assert!(err.contains("is writable by its group (mode 775)"), "{err}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::remove_file(&config).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", &config).unwrap();
        let err = read_bundle_config(&dir, 100).unwrap_err().to_string();
        assert!(err.contains("is a symbolic link"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = read_bounded(Path::new("/nonexistent/config.json"), 10).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read /nonexistent/config.json: "),
            "{err}"
        );
    }
}
