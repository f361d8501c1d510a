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
use std::path::{Component, Path, PathBuf};

use super::mounts::PathHash;
use crate::input::read_bounded;

/// One line of a mountinfo table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub dev: String,
    /// The path within the mounted filesystem that is mounted here.
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// The mount's own `ro` (field 6, per-mount options).
    pub read_only: bool,
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

impl MountTables {
    /// Read both tables; the reason when the container's cannot be read.
    pub fn read(pid: i32) -> Result<MountTables, String> {
        let read = |path: &str| {
            read_bounded(Path::new(path), MOUNTINFO_LIMIT)
                .map(|b| parse(&String::from_utf8_lossy(&b)))
                .map_err(|e| e.reason())
        };
        let container = read(&format!("/proc/{pid}/mountinfo"))
            .map_err(|why| format!("mount table of container process {pid}: {why}"))?;
        let host =
            read("/proc/self/mountinfo").map_err(|why| format!("the hook's mount table: {why}"))?;
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
pub fn parse(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let (_id, _parent) = (fields.next()?, fields.next()?);
            let dev = fields.next()?.to_string();
            let root = PathBuf::from(unescape(fields.next()?));
            let mount_point = PathBuf::from(unescape(fields.next()?));
            let read_only = fields.next()?.split(',').any(|o| o == "ro");
            Some(MountEntry {
                dev,
                root,
                mount_point,
                read_only,
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
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
    String::from_utf8_lossy(&out).into_owned()
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
        MountTables::new(parse(CONTAINER), parse(HOST))
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
        let t = MountTables::new(parse(container), parse(HOST));
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
        assert!(MountTables::read(i32::MAX).is_err());
    }
}
