//! The hook's cache of loaded policy sets.
//!
//! Parsing YAML is most of the hook's own work (a PSP costs about as much as
//! the rest of a decision), and a node with a directory of policies would
//! pay it for each of them on every container start. So the hook keeps what
//! it loaded — the configuration and its policies, normalized — in
//! `/run/oci-psp-hook/cache/` in postcard's binary format, keyed by its
//! flags and its own executable (the format's layout is the build's), with
//! the identity of every file it read as it was read (the `fstat` of the
//! file opened: device, inode, size, modification and change times, mode and
//! owner; for the policy directory too, so an added or removed file counts)
//! and where the links on its path led. An entry is used only when every
//! path still leads to the same file through the links as the hook reads
//! them now (once per decision, as the files would be read), and the file
//! and every directory above it are still trusted as a read would trust
//! them (`crate::input::read_trusted`): any difference and the files are
//! read again, so a changed, swapped or newly group-writable policy is never
//! judged by an old copy. Only root writes the cache (directory 0700,
//! files 0600, written beside and renamed into place); an entry that is not
//! root's own is ignored. `lint` and `check` never use it.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::load::PolicyError;
use super::select::{Flags, Sources};
use crate::input::{Opened, Text, one_resolution, recording, trusted_stat};

pub const DEFAULT_DIR: &str = "/run/oci-psp-hook/cache";
/// Test override of the cache directory; empty disables the cache.
pub const DIR_ENV: &str = "OCI_PSP_HOOK_CACHE_DIR";
const ENTRY_LIMIT: u64 = 32 << 20;
/// Entries kept; older ones are removed when a new one is written.
const MAX_ENTRIES: usize = 64;
/// The start of every entry; its last byte is the version of the format. The
/// key after it must read the same in every build.
const MAGIC: &[u8] = b"PSPHOOK\x01";

/// A file (or the policy directory) read: the path as named, where its links
/// led, and what identifies its content without reading it, as it was when
/// it was read (the `fstat` of the file opened).
/// Borrowed from what was read, or from the entry read back (a hundred
/// stamps are not copied string by string on every container start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp<'a> {
    #[serde(borrow)]
    path: &'a Path,
    #[serde(borrow)]
    real: &'a Path,
    id: FileId,
}

/// Device, inode, size, modification and change times, mode and owner. The
/// change time moves with a chmod or chown too, but only by the clock's
/// tick; the mode and owner themselves are compared, so a file made
/// group-writable after it was cached is never served from the cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    mode: u32,
    uid: u32,
}

impl FileId {
    fn of(st: &nix::sys::stat::FileStat) -> FileId {
        FileId {
            dev: st.st_dev,
            ino: st.st_ino,
            size: u64::try_from(st.st_size).unwrap_or(u64::MAX),
            mtime: (st.st_mtime, st.st_mtime_nsec),
            ctime: (st.st_ctime, st.st_ctime_nsec),
            mode: st.st_mode,
            uid: st.st_uid,
        }
    }
}

impl Stamp<'_> {
    fn of(opened: &Opened) -> Stamp<'_> {
        Stamp {
            path: &opened.path,
            real: &opened.real,
            id: FileId::of(&opened.stat),
        }
    }

    /// The path still leads, through the links as this resolution reads
    /// them, to the same file, unchanged, and is trusted as a read of it
    /// would be now: every directory from `/` and the file itself.
    fn still_holds(&self) -> bool {
        trusted_stat(self.path)
            .is_ok_and(|(real, st)| real == self.real && FileId::of(&st) == self.id)
    }
}

/// Reads an entry's stamps, each checked as it is read (no list of a
/// hundred is built), until one does not hold: whether all do. Each path is
/// resolved through one resolution (the caller's, see [`load`]): the
/// directories judged are opened once.
struct AllHold;

impl<'de> serde::de::DeserializeSeed<'de> for AllHold {
    type Value = bool;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for AllHold {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("the stamps of a cache entry")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut stamps: A) -> Result<bool, A::Error> {
        one_resolution(|| {
            while let Some(stamp) = stamps.next_element::<Stamp<'de>>()? {
                if !stamp.still_holds() {
                    return Ok(false);
                }
            }
            Ok(true)
        })
    }
}

/// Written whole after [`MAGIC`]; read field by field (the format puts
/// nothing around a struct), the key first, so that an entry of another build
/// or of other flags is left before anything else of it is decoded.
#[derive(Serialize)]
struct Entry<'a> {
    key: &'a str,
    stamps: &'a [Stamp<'a>],
    sources: &'a Sources,
}

/// The sources for these flags: from the cache when every file is as it
/// was, else loaded (and cached when possible). One resolution of the links
/// on the way serves the whole decision: the entry's stamps are checked, and
/// on a miss the files read, through `current` as it was read first.
pub fn load(flags: &Flags) -> Result<Sources, PolicyError> {
    match cache_dir() {
        Some(dir) => load_in(&dir, flags),
        None => one_resolution(|| Sources::load(flags)),
    }
}

/// [`load`] with the cache in `dir`.
fn load_in(dir: &Path, flags: &Flags) -> Result<Sources, PolicyError> {
    one_resolution(|| {
        let Some(key) = key(flags) else {
            return Sources::load(flags);
        };
        let path = entry_path(dir, &key);
        if let Some(sources) = lookup(&path, &key) {
            return Ok(sources);
        }
        // Stamped with what was read: the fstat of each file opened, taken
        // before it was read (a file that changed while it was read is not
        // cached at all).
        let (sources, opened) = recording(|| Sources::load(flags));
        let sources = sources?;
        if let Some(stamps) = stamps_of(&sources, opened.as_deref()) {
            store(
                dir,
                &path,
                &Entry {
                    key: &key,
                    stamps: &stamps,
                    sources: &sources,
                },
            );
        }
        Ok(sources)
    })
}

fn cache_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os(DIR_ENV) {
        Some(d) if d.is_empty() => return None,
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(DEFAULT_DIR),
    };
    (crate::input::euid() == 0).then_some(dir)
}

/// The key of this build's entries for these flags; `None` (no cache) when
/// the running executable cannot be identified: an entry written by another
/// build is never decoded by this one.
fn key(flags: &Flags) -> Option<String> {
    // Opened, not stat'ed by path: valgrind answers a stat of the path with
    // its own executable, an open with the program's.
    let exe = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open("/proc/self/exe")
        .ok()?;
    let st = nix::sys::stat::fstat(&exe).ok()?;
    Some(key_for(flags, &FileId::of(&st)))
}

fn key_for(flags: &Flags, exe: &FileId) -> String {
    format!(
        "{} {exe:?} {}",
        env!("CARGO_PKG_VERSION"),
        serde_json::to_string(flags).unwrap_or_default()
    )
}

fn entry_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{:016x}.bin", fnv1a(key.as_bytes())))
}

/// FNV-1a: a file name for the key, not a security boundary (the key is
/// compared in full).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Only root's own entries, writable by no one else, are trusted.
fn trusted(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| trusted_meta(&m))
}

fn trusted_meta(m: &std::fs::Metadata) -> bool {
    m.uid() == 0 && m.permissions().mode() & 0o077 == 0
}

fn lookup(path: &Path, key: &str) -> Option<Sources> {
    if !trusted(path.parent()?) {
        return None;
    }
    // Judged by the file opened (never through a link), then read.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || !trusted_meta(&meta) {
        return None;
    }
    // SAFETY: root's own file, written beside and renamed into place, never
    // changed in place.
    let bytes = unsafe { Text::of(file, &meta, ENTRY_LIMIT, "") }.ok()?;
    let (entry_key, rest) = postcard::take_from_bytes::<&str>(bytes.strip_prefix(MAGIC)?).ok()?;
    if entry_key != key {
        return None;
    }
    let mut stamps = postcard::Deserializer::from_bytes(rest);
    if !serde::de::DeserializeSeed::deserialize(AllHold, &mut stamps).ok()? {
        return None;
    }
    let (sources, rest) = postcard::take_from_bytes(stamps.finalize().ok()?).ok()?;
    rest.is_empty().then_some(sources)
}

/// The stamps of every file the sources came from, and of the policy
/// directory (so an added or removed file counts); `None` when nothing is
/// worth caching, or a file changed while it was read.
fn stamps_of<'a>(sources: &Sources, opened: Option<&'a [Opened]>) -> Option<Vec<Stamp<'a>>> {
    // No configuration file at the default path: nothing to parse, nothing
    // worth caching (and its absence cannot be stamped).
    if matches!(sources, Sources::Default(_)) {
        return None;
    }
    let mut stamps: Vec<Stamp> = opened?.iter().map(Stamp::of).collect();
    stamps.dedup();
    Some(stamps)
}

/// Write the entry beside its place and rename it in: a reader sees the old
/// entry or the new one, never half of one. Failures only cost speed.
fn store(dir: &Path, path: &Path, entry: &Entry) {
    if std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .is_err()
        || !trusted(dir)
    {
        return;
    }
    let Ok(body) = postcard::to_allocvec(entry) else {
        return;
    };
    let tmp = dir.join(format!(
        ".{}.{}",
        std::process::id(),
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry")
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(MAGIC).and_then(|()| f.write_all(&body)));
    if written.is_err() || std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
        return;
    }
    prune(dir);
}

fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        // Entries of the JSON format of earlier versions, never read again.
        if path.extension().is_some_and(|x| x == "json") {
            let _ = std::fs::remove_file(&path);
        } else if let Some(modified) = e.metadata().ok().and_then(|m| m.modified().ok()) {
            files.push((modified, path));
        }
    }
    if files.len() <= MAX_ENTRIES {
        return;
    }
    files.sort();
    for (_, old) in files.iter().take(files.len() - MAX_ENTRIES) {
        let _ = std::fs::remove_file(old);
    }
}

#[cfg(test)]
mod tests {
    use super::super::Origin;
    use super::*;

    /// A temporary directory, removed on drop; 0755 as one made with the
    /// umask (what the cache loads is judged with every directory above).
    fn temp(name: &str) -> tempfile::TempDir {
        let dir = tempfile::Builder::new()
            .prefix(&format!("psp-cache-{name}-"))
            .tempdir()
            .unwrap();
        chmod(dir.path(), 0o755);
        dir
    }

    /// `dir/config.yaml` binding policy `one` of `dir/policies.d` by
    /// default: the flags naming it.
    fn config_of_one(dir: &Path) -> Flags {
        let config = dir.join("config.yaml");
        std::fs::write(&config, "apiVersion: oci-psp-hook/v1alpha1\nkind: HookConfiguration\npolicyDirectory: policies.d\ndefaultPolicies: [one]\n").unwrap();
        Flags {
            config: Some(config),
            ..Default::default()
        }
    }

    fn policy_file(dir: &Path, name: &str) -> PathBuf {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/restricted-psp.yaml"
        ))
        .unwrap();
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(
            &path,
            text.replace("name: restricted", &format!("name: {name}")),
        )
        .unwrap();
        path
    }

    /// Load as the cache does: the sources, and what was read (their
    /// [`stamps`]).
    fn load_stamped(flags: &Flags) -> (Sources, Vec<Opened>) {
        let (sources, opened) = recording(|| Sources::load(flags));
        let opened = opened.expect("nothing changed while it was read");
        (sources.unwrap(), opened)
    }

    /// As the entry's stamps are checked when it is read.
    fn all_hold(stamps: &[Stamp]) -> bool {
        one_resolution(|| stamps.iter().all(Stamp::still_holds))
    }

    fn stamps<'a>(sources: &Sources, opened: &'a [Opened]) -> Vec<Stamp<'a>> {
        stamps_of(sources, Some(opened)).expect("a configuration was loaded")
    }

    /// Sources through the cache's format: read back unchanged, and no
    /// shorter piece of the encoding reads as anything.
    fn round_trip(sources: &Sources) {
        let bytes = postcard::to_allocvec(sources).unwrap();
        let back: Sources = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(format!("{back:?}"), format!("{sources:?}"));
        for n in 0..bytes.len() {
            assert!(postcard::from_bytes::<Sources>(&bytes[..n]).is_err(), "{n}");
        }
    }

    #[test]
    fn explicit_policies_read_back_unchanged() {
        let mut policies: Vec<super::super::Policy> = ["privileged", "baseline", "restricted"]
            .iter()
            .filter_map(|name| super::super::builtin::profile(name))
            .collect();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/restricted-psp.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        let origin = Origin::File(PathBuf::from(path));
        policies.extend(super::super::load::parse(path, &text, origin).unwrap());
        assert_eq!(policies.len(), 4);
        round_trip(&Sources::Explicit(policies));
        round_trip(&Sources::Default(Box::new(
            super::super::builtin::baseline(),
        )));
    }

    #[test]
    fn configuration_reads_back_unchanged() {
        let base = temp("rt");
        let policies = base.path().join("policies.d");
        std::fs::create_dir_all(&policies).unwrap();
        policy_file(&policies, "one");
        policy_file(&policies, "two");
        let config = base.path().join("config.yaml");
        std::fs::write(
            &config,
            "apiVersion: oci-psp-hook/v1alpha1\nkind: HookConfiguration\nmode: audit\n\
             policyDirectory: policies.d\ndefaultPolicies: [one, builtin:restricted]\n\
             bindings:\n- namespaces: [kube-system]\n  policies: [two, missing]\n\
             exemptions:\n- namespaces: [monitoring]\n  images: [\"registry.example/**\"]\n\
             - runtimeHandlers: [kata]\n",
        )
        .unwrap();
        let sources = Sources::load(&Flags {
            config: Some(config),
            ..Default::default()
        })
        .unwrap();
        let Sources::Config(loaded) = &sources else {
            panic!("{sources:?}");
        };
        assert_eq!(loaded.policies.len(), 2);
        assert_eq!(loaded.mode, super::super::config::Mode::Audit);
        assert!(!loaded.bindings.is_empty() && !loaded.broken.is_empty());
        assert_eq!(loaded.exemptions.len(), 2);
        round_trip(&sources);
        // An entry of a layout without exemptions (the same bytes, short of
        // the list) is refused, never read as a configuration without them;
        // the key, naming the executable, keeps such an entry away anyway.
        let bytes = postcard::to_allocvec(&sources).unwrap();
        let mut none = loaded.clone();
        none.exemptions.clear();
        let without = postcard::to_allocvec(&Sources::Config(none)).unwrap();
        assert!(postcard::from_bytes::<Sources>(&without[..without.len() - 1]).is_err());
        assert_ne!(bytes, without);
    }

    #[test]
    fn entry_of_another_build_is_not_used() {
        if !nix::unistd::geteuid().is_root() {
            return; // only root caches
        }
        let base = temp("exe");
        let cache = base.path().join("cache");
        let flags = Flags {
            policies: vec![policy_file(base.path(), "one")],
            ..Default::default()
        };
        let key = key(&flags).unwrap();
        let other_exe = FileId {
            dev: 1,
            ino: 2,
            size: 3,
            mtime: (4, 5),
            ctime: (6, 7),
            mode: 0o100755,
            uid: 0,
        };
        let other = key_for(&flags, &other_exe);
        assert_ne!(other, key);
        let path = entry_path(&cache, &key);
        let (sources, opened) = load_stamped(&flags);
        let stamps = stamps(&sources, &opened);
        let write = |key: &str| {
            let entry = Entry {
                key,
                stamps: &stamps,
                sources: &sources,
            };
            store(&cache, &path, &entry);
        };
        // Even at this build's path (a hash collision), another key is left.
        write(&other);
        assert!(lookup(&path, &other).is_some());
        assert!(lookup(&path, &key).is_none());
        write(&key);
        assert!(lookup(&path, &key).is_some());
        // Nor is an entry of another format version read.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[MAGIC.len() - 1] = 2;
        std::fs::write(&path, bytes).unwrap();
        assert!(lookup(&path, &key).is_none());
    }

    #[test]
    fn prune_removes_entries_of_the_json_format() {
        let base = temp("prune");
        let old = base.path().join("0123456789abcdef.json");
        let new = base.path().join("0123456789abcdef.bin");
        std::fs::write(&old, "{}").unwrap();
        std::fs::write(&new, MAGIC).unwrap();
        prune(base.path());
        assert!(!old.exists());
        assert!(new.exists());
    }

    #[test]
    fn changed_file_is_read_again() {
        if !nix::unistd::geteuid().is_root() {
            return; // only root caches
        }
        let base = temp("changed");
        let cache = base.path().join("cache");
        let file = policy_file(base.path(), "one");
        let flags = Flags {
            policies: vec![file.clone()],
            ..Default::default()
        };
        let names = |s: &Sources| {
            s.all_policies()
                .into_iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
        };

        let key = key(&flags).unwrap();
        let entry_path = cache.join(format!("{:016x}.bin", fnv1a(key.as_bytes())));
        let (sources, opened) = load_stamped(&flags);
        let stamps = stamps(&sources, &opened);
        store(
            &cache,
            &entry_path,
            &Entry {
                key: &key,
                stamps: &stamps,
                sources: &sources,
            },
        );
        assert!(trusted(&entry_path));
        assert_eq!(
            lookup(&entry_path, &key).map(|s| names(&s)),
            Some(vec!["one".to_string()])
        );

        // the same size, a new name: ctime/mtime differ, the entry is stale
        std::thread::sleep(std::time::Duration::from_millis(20));
        let text = std::fs::read_to_string(&file)
            .unwrap()
            .replace("name: one", "name: two");
        std::fs::write(&file, text).unwrap();
        assert!(lookup(&entry_path, &key).is_none());
        // another key never matches
        assert!(lookup(&entry_path, "other").is_none());
        // an entry anyone could write is not trusted
        std::fs::set_permissions(&entry_path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(!trusted(&entry_path));
    }

    #[test]
    fn directory_changes_invalidate() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let base = temp("dir");
        let policies = base.path().join("policies.d");
        std::fs::create_dir_all(&policies).unwrap();
        policy_file(&policies, "one");
        let flags = config_of_one(base.path());
        let (sources, opened) = load_stamped(&flags);
        let stamps = stamps(&sources, &opened);
        assert!(all_hold(&stamps));
        assert!(stamps.iter().all(Stamp::still_holds));
        std::thread::sleep(std::time::Duration::from_millis(20));
        policy_file(&policies, "two");
        assert!(
            !all_hold(&stamps),
            "a new policy file changes the directory"
        );
        assert!(!stamps.iter().all(Stamp::still_holds));
        // Without the directory's own stamp, a file that is gone still counts.
        let files: Vec<Stamp> = stamps
            .iter()
            .filter(|s| s.path.extension().is_some_and(|e| e == "yaml"))
            .cloned()
            .collect();
        assert!(all_hold(&files));
        std::fs::remove_file(policies.join("one.yaml")).unwrap();
        assert!(!all_hold(&files), "a removed policy file");
    }

    /// Load as the cache does and store the entry: its path and key.
    fn cached(cache: &Path, flags: &Flags) -> (PathBuf, String) {
        let key = key(flags).unwrap();
        let path = entry_path(cache, &key);
        let (sources, opened) = load_stamped(flags);
        let stamps = stamps(&sources, &opened);
        store(
            cache,
            &path,
            &Entry {
                key: &key,
                stamps: &stamps,
                sources: &sources,
            },
        );
        assert!(lookup(&path, &key).is_some());
        (path, key)
    }

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// What a fresh read would refuse, the cache does not serve: a policy
    /// file made group-writable after the entry was written (its mode is
    /// compared, whatever the change time's tick), the policy directory or
    /// a directory above it made writable by others (judged again on every
    /// lookup).
    #[test]
    fn what_a_read_would_refuse_is_not_served() {
        if !nix::unistd::geteuid().is_root() {
            return; // only root caches
        }
        let base = temp("trust");
        let above = base.path().join("above");
        let policies = above.join("policies.d");
        std::fs::create_dir_all(&policies).unwrap();
        for d in [base.path(), &above, &policies] {
            chmod(d, 0o755);
        }
        let file = policy_file(&policies, "one");
        chmod(&file, 0o644);
        let config = above.join("config.yaml");
        std::fs::write(&config, "apiVersion: oci-psp-hook/v1alpha1\nkind: HookConfiguration\npolicyDirectory: policies.d\ndefaultPolicies: [one]\n").unwrap();
        chmod(&config, 0o644);
        let cache = base.path().join("cache");
        for flags in [
            Flags {
                config: Some(config.clone()),
                ..Default::default()
            },
            Flags {
                policies: vec![file.clone()],
                ..Default::default()
            },
        ] {
            let (entry, key) = cached(&cache, &flags);
            chmod(&file, 0o664);
            assert!(lookup(&entry, &key).is_none(), "a group-writable file");
            assert!(Sources::load(&flags).is_err());
            chmod(&file, 0o644);

            let (entry, key) = cached(&cache, &flags);
            for (dir, mode) in [(above.as_path(), 0o757), (base.path(), 0o775)] {
                chmod(dir, mode);
                assert!(lookup(&entry, &key).is_none(), "{} {mode:o}", dir.display());
                assert!(Sources::load(&flags).is_err());
                chmod(dir, 0o755);
                // Only the trust of the directories above is judged again,
                // not their times: the entry serves again.
                assert!(lookup(&entry, &key).is_some());
            }
            chmod(&policies, 0o775);
            assert!(
                lookup(&entry, &key).is_none(),
                "a group-writable policy directory"
            );
            assert!(Sources::load(&flags).is_err());
            chmod(&policies, 0o755);
            let (entry, key) = cached(&cache, &flags);
            std::os::unix::fs::chown(&above, Some(65534), Some(65534)).unwrap();
            assert!(lookup(&entry, &key).is_none(), "a directory given away");
            std::os::unix::fs::chown(&above, Some(0), Some(0)).unwrap();
            assert!(lookup(&entry, &key).is_some());
        }
    }

    /// The installed layout with the policy directory named through the
    /// `current` link: the entry's stamps are of the set that was read, all
    /// of it through one reading of `current`, and a set published later
    /// (or in the middle of the read) is never served from an entry of
    /// another.
    #[test]
    fn an_entry_is_of_one_set() {
        if !nix::unistd::geteuid().is_root() {
            return; // only root caches
        }
        let base = temp("set");
        let root = base.path().join("etc");
        for set in ["a", "b"] {
            let policies = root.join(format!("versions/{set}/policies.d"));
            std::fs::create_dir_all(&policies).unwrap();
            policy_file(&policies, set);
            std::fs::write(
                root.join(format!("versions/{set}/config.yaml")),
                format!(
                    "apiVersion: oci-psp-hook/v1alpha1\nkind: HookConfiguration\npolicyDirectory: {}\ndefaultPolicies: [{set}]\n",
                    root.join("policies.d").display()
                ),
            )
            .unwrap();
        }
        fn link(root: &Path, target: &str, name: &str) {
            let tmp = root.join(format!("{name}.new"));
            let _ = std::fs::remove_file(&tmp);
            std::os::unix::fs::symlink(target, &tmp).unwrap();
            std::fs::rename(&tmp, root.join(name)).unwrap();
        }
        link(&root, "versions/a", "current");
        link(&root, "current/config.yaml", "config.yaml");
        link(&root, "current/policies.d", "policies.d");
        let flags = Flags {
            config: Some(root.join("config.yaml")),
            ..Default::default()
        };
        let cache = base.path().join("cache");
        let key = key(&flags).unwrap();
        let entry = entry_path(&cache, &key);
        let defaults = |s: &Sources| match s {
            Sources::Config(c) => (
                c.default_policies.clone(),
                c.policies.keys().cloned().collect::<Vec<_>>(),
            ),
            other => panic!("{other:?}"),
        };
        let set = |name: &str| (vec![name.to_string()], vec![name.to_string()]);

        // `current` flips to b right after config.yaml of a is read.
        let flip = {
            let root = root.clone();
            move |moment, path: &Path| {
                if moment == crate::input::test_hook::Moment::AfterRead
                    && path.ends_with("config.yaml")
                {
                    link(&root, "versions/b", "current");
                }
            }
        };
        let load = |flags: &Flags| load_in(&cache, flags);
        let sources = crate::input::test_hook::with(flip, || load(&flags)).unwrap();
        assert_eq!(defaults(&sources), set("a"));
        let bytes = std::fs::read(&entry).unwrap();
        let (entry_key, rest) =
            postcard::take_from_bytes::<&str>(bytes.strip_prefix(MAGIC).unwrap()).unwrap();
        assert_eq!(entry_key, key);
        let (stamps, _): (Vec<Stamp>, _) = postcard::take_from_bytes(rest).unwrap();
        let a = root.join("versions/a");
        assert!(stamps.iter().all(|s| s.real.starts_with(&a)), "{stamps:#?}");
        assert_eq!(stamps.len(), 3, "config.yaml, policies.d, a.yaml");
        // b is current: the entry of a is not served.
        assert!(lookup(&entry, &key).is_none());
        assert_eq!(defaults(&load(&flags).unwrap()), set("b"));
        assert!(lookup(&entry, &key).is_some());
        assert_eq!(defaults(&load(&flags).unwrap()), set("b"));
        // Rolled back to a: b's entry is not served either.
        link(&root, "versions/a", "current");
        assert!(lookup(&entry, &key).is_none());
        assert_eq!(defaults(&load(&flags).unwrap()), set("a"));
    }

    /// A miss after a change to the policy directory, and root replacing
    /// the directory right after the entry's stamps were checked: the
    /// policies are the new directory's, none from the old one.
    #[test]
    fn a_directory_replaced_after_a_miss_is_read_whole() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let base = temp("swap");
        let policies = base.path().join("policies.d");
        let new = base.path().join("new");
        for dir in [&policies, &new] {
            std::fs::create_dir_all(dir).unwrap();
            chmod(dir, 0o755);
        }
        let text = std::fs::read_to_string(policy_file(&new, "one")).unwrap();
        std::fs::write(
            policies.join("one.yaml"),
            text.replace(
                "allowPrivilegeEscalation: false",
                "allowPrivilegeEscalation: false\n  privileged: true",
            ),
        )
        .unwrap();
        let flags = config_of_one(base.path());
        let cache = base.path().join("cache");
        let privileged = |s: &Sources| match s {
            Sources::Config(c) => c.policies["one"].privileged,
            other => panic!("{other:?}"),
        };
        assert!(privileged(&load_in(&cache, &flags).unwrap()));
        assert!(privileged(&load_in(&cache, &flags).unwrap()), "served");
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(policies.join(".swp"), "").unwrap();
        std::fs::remove_file(policies.join(".swp")).unwrap();
        let (old, mut swapped) = (base.path().join("old"), false);
        let (at, to) = (policies.clone(), new.clone());
        let swap = move |moment, path: &Path| {
            if !swapped
                && moment == crate::input::test_hook::Moment::AfterRead
                && path.ends_with("config.yaml")
            {
                std::fs::rename(&at, &old).unwrap();
                std::fs::rename(&to, &at).unwrap();
                swapped = true;
            }
        };
        let sources = crate::input::test_hook::with(swap, || load_in(&cache, &flags)).unwrap();
        assert!(!privileged(&sources), "the old directory's policy");
        assert!(!privileged(&load_in(&cache, &flags).unwrap()));
    }

    /// An entry cut short, one byte longer, or with its stamp count off by
    /// one is never served.
    #[test]
    fn a_damaged_entry_is_not_served() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let base = temp("damaged");
        let policies = base.path().join("policies.d");
        std::fs::create_dir_all(&policies).unwrap();
        policy_file(&policies, "one");
        policy_file(&policies, "two");
        let flags = config_of_one(base.path());
        let cache = base.path().join("cache");
        let (entry, key) = cached(&cache, &flags);
        let bytes = std::fs::read(&entry).unwrap();
        for n in 0..bytes.len() {
            std::fs::write(&entry, &bytes[..n]).unwrap();
            assert!(lookup(&entry, &key).is_none(), "{n}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        std::fs::write(&entry, &longer).unwrap();
        assert!(lookup(&entry, &key).is_none());
        let (_, after_key) =
            postcard::take_from_bytes::<&str>(bytes.strip_prefix(MAGIC).unwrap()).unwrap();
        let count = bytes.len() - after_key.len();
        for other in [bytes[count] - 1, bytes[count] + 1] {
            let mut changed = bytes.clone();
            changed[count] = other;
            std::fs::write(&entry, &changed).unwrap();
            assert!(lookup(&entry, &key).is_none(), "{other}");
        }
        std::fs::write(&entry, &bytes).unwrap();
        assert!(lookup(&entry, &key).is_some());
    }
}
