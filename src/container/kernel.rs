//! Kernel truth in hook mode: what was really mounted.
//!
//! At createRuntime/prestart the container's mounts exist, so the container
//! process's `/proc/<pid>/mountinfo` tells, for each bind mount, the device
//! and the path within that device's filesystem the kernel mounted. Mapped
//! through the host's mount table (`/proc/self/mountinfo`) that is the host
//! path really mounted — which may differ from the path config.json names if
//! a component was swapped for a symlink between the runtime's resolution
//! and the hook (the CVE-2021-25741 class). Offline (`check`) there is no
//! process and nothing of this is verified.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};

use super::mounts::PathHash;
use crate::input::{InputError, read_bounded};

/// One line of a mountinfo table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub dev: String,
    /// The path within the mounted filesystem that is mounted here.
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// The mount's own `ro` (field 6, per-mount options).
    pub read_only: bool,
    /// The filesystem type (after the ` - ` separator).
    pub fstype: String,
}

/// The container's and the host's mount tables.
pub struct MountTables {
    /// The container's, by mount point: the last mount at each (the one
    /// visible there). Looked up once per bind mount, so a container of a
    /// thousand mounts costs a thousand lookups, not a million comparisons.
    pub container: HashMap<PathBuf, MountEntry, PathHash>,
    pub host: Vec<MountEntry>,
}

const MOUNTINFO_LIMIT: u64 = 16 << 20;

/// A mount table that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("mount table of container process {pid}: {}", .source.reason())]
    Container { pid: i32, source: InputError },
    #[error("the hook's mount table: {}", .source.reason())]
    Host { source: InputError },
}

impl MountTables {
    /// Read both tables.
    pub fn read(pid: i32) -> Result<MountTables, Error> {
        let read = |path: &str| read_bounded(Path::new(path), MOUNTINFO_LIMIT).map(|b| parse(&b));
        let container = read(&format!("/proc/{pid}/mountinfo"))
            .map_err(|source| Error::Container { pid, source })?;
        let host = read("/proc/self/mountinfo").map_err(|source| Error::Host { source })?;
        Ok(MountTables::new(container, host))
    }

    /// The tables from their entries, each in mountinfo's order.
    pub fn new(container: Vec<MountEntry>, host: Vec<MountEntry>) -> MountTables {
        let container = container
            .into_iter()
            .map(|e| (e.mount_point.clone(), e))
            .collect();
        MountTables { container, host }
    }

    /// What the kernel mounted last at `mount_point` of the container.
    fn at(&self, mount_point: &Path) -> Option<&MountEntry> {
        self.container.get(mount_point)
    }

    /// Whether the kernel's sysfs or cgroup filesystem at `mount_point` is
    /// writable: the mount there, or on cgroup v1 (a tmpfs of controllers)
    /// any controller below it.
    pub fn kernel_fs_writable(&self, mount_point: &Path) -> bool {
        match self.at(mount_point) {
            Some(e) if e.fstype == "tmpfs" => self.container.values().any(|c| {
                c.fstype == "cgroup" && c.mount_point.starts_with(mount_point) && !c.read_only
            }),
            Some(e) if matches!(&*e.fstype, "sysfs" | "cgroup" | "cgroup2") => !e.read_only,
            _ => false,
        }
    }

    /// Whether the filesystem at `mount_point` of the container is one the
    /// host's table shows too (the same device): a host filesystem bound
    /// there, not one made for the container. `None`: nothing is there.
    pub fn hosts_filesystem(&self, mount_point: &Path) -> Option<bool> {
        let e = self.at(mount_point)?;
        Some(self.host.iter().any(|h| h.dev == e.dev))
    }

    /// The filesystem type the kernel mounted at `mount_point`.
    pub fn fstype(&self, mount_point: &Path) -> Option<&str> {
        self.at(mount_point).map(|e| e.fstype.as_str())
    }

    /// The container's mounts strictly below `mount_point` that are the
    /// host's mounts below `source` (what an `rbind` of `source` copies).
    pub fn submounts<'t>(
        &'t self,
        mount_point: &'t Path,
        source: &'t Path,
    ) -> impl Iterator<Item = &'t MountEntry> + 't {
        self.container.values().filter(move |e| {
            let Ok(rest) = e.mount_point.strip_prefix(mount_point) else {
                return false;
            };
            !rest.as_os_str().is_empty()
                && self.host.iter().any(|h| {
                    h.mount_point == source.join(rest) && h.dev == e.dev && h.root == e.root
                })
        })
    }

    /// Whether the kernel mounted `mount_point` of the container writable
    /// (`None`: nothing is mounted there).
    pub fn writable(&self, mount_point: &Path) -> Option<bool> {
        self.at(mount_point).map(|e| !e.read_only)
    }

    /// Compare what the kernel mounted at `mount_point` of the container
    /// (the last mount there wins) with the host path config.json resolves to.
    pub fn verify(&self, mount_point: &Path, expected: &Path) -> Truth {
        let Some(entry) = self.at(mount_point) else {
            return Truth::Unknown(format!("nothing is mounted at {}", mount_point.display()));
        };
        // Every host mount of the same filesystem showing the entry's root
        // gives a host path of what is mounted; one of them must be the
        // expected path (a filesystem may be visible at several places).
        let mut candidates: Vec<(usize, PathBuf)> = self
            .host
            .iter()
            .filter(|h| h.dev == entry.dev && entry.root.starts_with(&h.root))
            .map(|h| {
                let rest = entry.root.strip_prefix(&h.root).unwrap_or(Path::new(""));
                (h.root.components().count(), h.mount_point.join(rest))
            })
            .map(|(depth, p)| (depth, super::mounts::lexical_normalize(&p)))
            .collect();
        if candidates.iter().any(|(_, p)| p == expected) {
            return Truth::Matches;
        }
        candidates.sort_by_key(|(depth, _)| std::cmp::Reverse(*depth));
        match candidates.into_iter().next() {
            Some((_, real)) => Truth::Differs(real),
            None => Truth::Unknown(format!(
                "the filesystem mounted at {} ({}) is not visible on the host",
                mount_point.display(),
                entry.dev
            )),
        }
    }
}

/// What the kernel says of one bind mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Truth {
    Matches,
    /// The kernel mounted this host path instead.
    Differs(PathBuf),
    /// Cannot be told, and why.
    Unknown(String),
}

/// Parse `/proc/<pid>/mountinfo`: `id parent major:minor root mount-point …`.
/// Paths stay the kernel's bytes: a name that is not UTF-8 is not another
/// name's look-alike. (procfs's parser reads lines as UTF-8 text, so one such
/// name would make the whole table unreadable, and keeps `\040` escapes.)
pub fn parse(text: &[u8]) -> Vec<MountEntry> {
    let text_field = |f: &[u8]| String::from_utf8_lossy(&unescape(f)).into_owned();
    let path_field = |f: &[u8]| PathBuf::from(OsString::from_vec(unescape(f)));
    text.split(|b| *b == b'\n')
        .filter_map(|line| {
            let mut fields = line.split(|b| *b == b' ');
            let (_id, _parent) = (fields.next()?, fields.next()?);
            let dev = text_field(fields.next()?);
            let root = path_field(fields.next()?);
            let mount_point = path_field(fields.next()?);
            let read_only = fields.next()?.split(|b| *b == b',').any(|o| o == b"ro");
            // optional fields end at `-`; the filesystem type follows
            let fstype = fields.find(|f| *f == b"-").and_then(|_| fields.next());
            Some(MountEntry {
                dev,
                root,
                mount_point,
                read_only,
                fstype: text_field(fstype.unwrap_or_default()),
            })
        })
        .collect()
}

/// The device nodes runc makes in every container's `/dev` (bind mounts of
/// the host's in a user namespace).
pub const DEFAULT_DEVICE_NODES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/random",
    "/dev/urandom",
];

/// Whether the kernel's filesystem type `found` is what config.json's
/// `declared` type mounts (runc mounts `cgroup` as `cgroup2` on a unified
/// host and as a tmpfs of controllers on cgroup v1; `shm` is a tmpfs).
pub fn same_filesystem(declared: &str, found: &str) -> bool {
    declared == found
        || matches!(
            (declared, found),
            ("cgroup", "cgroup2" | "tmpfs") | ("shm", "tmpfs")
        )
}

/// The mount points under a rootfs that config.json and the runtime account
/// for.
pub struct Accounted {
    rootfs: PathBuf,
    points: std::collections::HashSet<PathBuf>,
}

impl Accounted {
    pub fn new(rootfs: &Path) -> Accounted {
        let mut points = std::collections::HashSet::new();
        points.insert(rootfs.to_path_buf());
        Accounted {
            rootfs: rootfs.to_path_buf(),
            points,
        }
    }

    pub fn point(&mut self, point: PathBuf) {
        self.points.insert(point);
    }

    /// The container's mounts under the rootfs that are none of the
    /// accounted points and were not there on the host already (a mount the
    /// rootfs directory had on the host is part of it).
    pub fn unaccounted<'t>(&self, tables: &'t MountTables) -> Vec<&'t MountEntry> {
        let mut found: Vec<&MountEntry> = tables
            .container
            .values()
            .filter(|e| e.mount_point.starts_with(&self.rootfs))
            .filter(|e| !self.points.contains(&e.mount_point))
            .filter(|e| {
                !tables
                    .host
                    .iter()
                    .any(|h| h.mount_point == e.mount_point && h.dev == e.dev && h.root == e.root)
            })
            // cgroup v1: the controllers under a declared cgroup mount
            .filter(|e| {
                !(e.fstype == "cgroup"
                    && self.points.contains(&self.rootfs.join("sys/fs/cgroup"))
                    && e.mount_point.starts_with(self.rootfs.join("sys/fs/cgroup")))
            })
            .collect();
        found.sort_by(|a, b| a.mount_point.cmp(&b.mount_point));
        found
    }
}

/// Where runc mounts `destination`: resolved inside `rootfs` as runc's
/// secure join does — each symlink of the rootfs followed, an absolute one
/// from the rootfs, `..` never above it — reading the rootfs as the
/// container's mount namespace shows it (through `proc_root`, the container
/// process's `/proc/<pid>/root`, before it pivots).
pub fn resolve_in_rootfs(proc_root: &Path, rootfs: &Path, destination: &str) -> PathBuf {
    let seen_from = proc_root.join(rootfs.strip_prefix("/").unwrap_or(rootfs));
    let mut resolved = PathBuf::new();
    let mut pending: std::collections::VecDeque<std::ffi::OsString> = Path::new(destination)
        .components()
        .map(|c| c.as_os_str().to_os_string())
        .collect();
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        match part.to_str() {
            Some("/" | "." | "") => continue,
            Some("..") => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let candidate = resolved.join(&part);
        let target = std::fs::symlink_metadata(seen_from.join(&candidate))
            .ok()
            .filter(|m| m.file_type().is_symlink())
            .and_then(|_| std::fs::read_link(seen_from.join(&candidate)).ok());
        match target {
            Some(target) if links < 255 => {
                links += 1;
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                for c in target.components().rev() {
                    pending.push_front(c.as_os_str().to_os_string());
                }
            }
            _ => resolved = candidate,
        }
    }
    rootfs.join(resolved)
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (field[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Where `destination` of a container whose root is `rootfs` is mounted, as
/// the container process (not yet pivoted) sees it.
pub fn mount_point(rootfs: &Path, destination: &str) -> PathBuf {
    let mut point = rootfs.to_path_buf();
    for c in Path::new(destination).components() {
        match c {
            Component::Normal(s) => point.push(s),
            Component::ParentDir => {
                point.pop();
            }
            _ => {}
        }
    }
    point
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTAINER: &str = "\
612 500 0:52 / /var/lib/c/rootfs rw,relatime - overlay overlay rw
613 612 254:0 /etc /var/lib/c/rootfs/data ro,relatime - ext4 /dev/vda rw
614 612 254:0 /srv/my\\040dir /var/lib/c/rootfs/space rw - ext4 /dev/vda rw
615 612 0:23 / /var/lib/c/rootfs/dev/shm rw - tmpfs tmpfs rw
";
    const HOST: &str = "\
22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
25 22 0:23 / /dev/shm rw - tmpfs tmpfs rw
30 22 254:0 /srv /srv-bind rw - ext4 /dev/vda rw
";

    fn tables() -> MountTables {
        MountTables::new(parse(CONTAINER.as_bytes()), parse(HOST.as_bytes()))
    }

    #[test]
    fn paths_keep_the_kernels_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let line = b"616 612 254:0 /srv/a\xff /var/lib/c/rootfs/odd rw - ext4 /dev/vda rw\n";
        let entries = parse(line);
        assert_eq!(entries[0].root.as_os_str().as_bytes(), b"/srv/a\xff");
        // not the look-alike a lossy reading would make of it
        assert_ne!(entries[0].root, PathBuf::from("/srv/a\u{FFFD}"));
        assert_eq!(
            entries[0].mount_point,
            PathBuf::from("/var/lib/c/rootfs/odd")
        );
    }

    #[test]
    fn a_swapped_bind_mount_is_caught() {
        let t = tables();
        let data = Path::new("/var/lib/c/rootfs/data");
        assert_eq!(t.verify(data, Path::new("/etc")), Truth::Matches);
        // config.json (now) says /srv/allowed, but the kernel mounted /etc
        assert_eq!(
            t.verify(data, Path::new("/srv/allowed")),
            Truth::Differs("/etc".into())
        );
        assert_eq!(
            t.verify(
                Path::new("/var/lib/c/rootfs/dev/shm"),
                Path::new("/dev/shm")
            ),
            Truth::Matches
        );
        assert!(matches!(
            t.verify(Path::new("/var/lib/c/rootfs/none"), Path::new("/x")),
            Truth::Unknown(_)
        ));
    }

    #[test]
    fn any_place_the_filesystem_is_visible_matches_and_escapes_are_decoded() {
        let t = tables();
        let space = Path::new("/var/lib/c/rootfs/space");
        // /srv/my dir is visible on the host at /srv/my dir (root /) and at
        // /srv-bind/my dir (root /srv): either is the truth
        assert_eq!(t.verify(space, Path::new("/srv/my dir")), Truth::Matches);
        assert_eq!(
            t.verify(space, Path::new("/srv-bind/my dir")),
            Truth::Matches
        );
        assert_eq!(
            t.verify(space, Path::new("/elsewhere")),
            Truth::Differs("/srv-bind/my dir".into())
        );
    }

    #[test]
    fn the_mounts_own_read_only_flag_is_read() {
        let t = tables();
        // 613's per-mount options are ro; its superblock's (after `-`) rw
        assert_eq!(t.writable(Path::new("/var/lib/c/rootfs/data")), Some(false));
        assert_eq!(t.writable(Path::new("/var/lib/c/rootfs/space")), Some(true));
        assert_eq!(t.writable(Path::new("/var/lib/c/rootfs/none")), None);
    }

    #[test]
    fn the_last_mount_at_a_point_is_the_truth() {
        let container = "\
613 612 254:0 /etc /r/data ro - ext4 /dev/vda rw
614 612 254:0 /srv /r/data rw - ext4 /dev/vda rw
";
        let t = MountTables::new(parse(container.as_bytes()), parse(HOST.as_bytes()));
        assert_eq!(t.writable(Path::new("/r/data")), Some(true));
        assert_eq!(
            t.verify(Path::new("/r/data"), Path::new("/srv")),
            Truth::Matches
        );
    }

    #[test]
    fn mount_points_are_under_the_rootfs() {
        assert_eq!(
            mount_point(Path::new("/b/rootfs"), "/data/../etc"),
            PathBuf::from("/b/rootfs/etc")
        );
        assert_eq!(
            mount_point(Path::new("/b/rootfs"), "/var/log"),
            PathBuf::from("/b/rootfs/var/log")
        );
    }

    #[test]
    fn reads_its_own_tables() {
        let t = MountTables::read(std::process::id() as i32).unwrap();
        assert!(t.container.contains_key(Path::new("/")));
        let missing = MountTables::read(i32::MAX).err().map(|e| e.to_string());
        assert_eq!(
            missing.as_deref(),
            Some(
                "mount table of container process 2147483647: cannot read it: \
                 No such file or directory (os error 2)"
            )
        );
    }
}
