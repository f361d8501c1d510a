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
    fn missing_file_names_the_path() {
        let err = read_bounded(Path::new("/nonexistent/config.json"), 10).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read /nonexistent/config.json: "),
            "{err}"
        );
    }
}
