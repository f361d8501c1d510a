//! The node's log key: what makes a decision record in a text log the
//! hook's. Any local program can write `decision {…}` to syslog; only root
//! can read this key, and the hook signs each record it writes as text with
//! it (HMAC-SHA256 of the record's JSON, appended as ` hmac-sha256=<hex>`),
//! so `advise --from-log` can tell its records from forged ones. journald
//! needs no key: its `_UID` and `_EXE` fields are set by journald itself.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const DEFAULT_PATH: &str = "/etc/oci-psp-hook/log.key";
/// Test override of the key's path.
pub const PATH_ENV: &str = "OCI_PSP_HOOK_LOG_KEY";
/// What follows a signed record's JSON on its line.
pub const MARK: &str = " hmac-sha256=";
const KEY_BYTES: usize = 32;

/// This node's key file.
pub fn path() -> PathBuf {
    std::env::var_os(PATH_ENV)
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_PATH), PathBuf::from)
}

/// Why the log key cannot be read or created.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the log key {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the log key {} must be a regular file of root's that no one else can read or write (chown root, chmod 600)",
        path.display()
    )]
    Untrusted { path: PathBuf },
    #[error("the log key {} is not {} hex digits", path.display(), KEY_BYTES * 2)]
    NotAKey { path: PathBuf },
    #[error("cannot create {}: {source}", dir.display())]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("no randomness for the log key: {0}")]
    NoRandomness(#[source] std::io::Error),
    #[error("cannot write the log key {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The key in `path`: 64 hex digits in a regular file owned by root (or the
/// caller) that no one else can read or write.
pub fn load(path: &Path) -> Result<Vec<u8>, Error> {
    let read = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(read)?;
    let meta = file.metadata().map_err(read)?;
    let euid = crate::input::euid();
    if !meta.is_file() || (meta.uid() != 0 && meta.uid() != euid) || meta.mode() & 0o077 != 0 {
        return Err(Error::Untrusted {
            path: path.to_path_buf(),
        });
    }
    let mut text = String::new();
    file.by_ref()
        .take(256)
        .read_to_string(&mut text)
        .map_err(read)?;
    hex_decode(text.trim())
        .filter(|k| k.len() == KEY_BYTES)
        .ok_or_else(|| Error::NotAKey {
            path: path.to_path_buf(),
        })
}

/// Create the key at `path` unless it exists; `Ok(true)` when created.
pub fn create(path: &Path) -> Result<bool, Error> {
    if path.symlink_metadata().is_ok() {
        return load(path).map(|_| false);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir {
            dir: dir.to_path_buf(),
            source,
        })?;
    }
    let mut key = [0u8; KEY_BYTES];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut r| r.read_exact(&mut key))
        .map_err(Error::NoRandomness)?;
    let text = format!("{}\n", hex_encode(&key));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
        .map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(true)
}

/// ` hmac-sha256=<hex>` of `json` under `key`.
pub fn signature(key: &[u8], json: &[u8]) -> String {
    format!(
        "{MARK}{}",
        hex_encode(&mac(key, json).finalize().into_bytes())
    )
}

/// Whether `hex` is `json`'s signature under `key` (compared in constant
/// time).
pub fn verify(key: &[u8], json: &[u8], hex: &str) -> bool {
    hex_decode(hex).is_some_and(|tag| mac(key, json).verify_slice(&tag).is_ok())
}

fn mac(key: &[u8], json: &[u8]) -> Hmac<Sha256> {
    // Any key length is accepted by HMAC.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(json);
    mac
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_signs_and_verifies() {
        let dir = tempfile::Builder::new()
            .prefix("oci-psp-log-key-")
            .tempdir()
            .unwrap();
        // in a directory not there yet: create makes it, as before
        let path = dir.path().join("etc/log.key");
        assert!(matches!(create(&path), Ok(true)));
        assert!(matches!(create(&path), Ok(false)), "kept, not replaced");
        let key = load(&path).unwrap();
        let sig = signature(&key, b"{\"verdict\":\"allow\"}");
        let hex = sig.strip_prefix(MARK).unwrap();
        assert!(verify(&key, b"{\"verdict\":\"allow\"}", hex));
        assert!(!verify(&key, b"{\"verdict\":\"deny\"}", hex));
        assert!(!verify(&[0u8; 32], b"{\"verdict\":\"allow\"}", hex));
        assert!(!verify(&key, b"{\"verdict\":\"allow\"}", "zz"));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = load(&path).unwrap_err();
        assert!(matches!(e, Error::Untrusted { .. }), "{e:?}");
        assert!(e.to_string().contains("chmod 600"), "{e}");
    }
}
