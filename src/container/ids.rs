//! The container's ids on the host side.
//!
//! A container with a user namespace of its own runs its uids and gids as
//! the host ids its mappings name: a uid mapped to host uid 0 is host root,
//! whatever it is inside. In hook mode the mappings are the kernel's
//! (`/proc/<pid>/uid_map`, `gid_map`); offline they are config.json's for a
//! new user namespace — runc ignores them for a namespace joined by path, so
//! those are unknown offline.

use super::oci::IdMapping;

/// One line of an id map: `size` ids from `container` map to `host` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

impl IdRange {
    fn to_host(self, id: u32) -> Option<u32> {
        let offset = id.checked_sub(self.container)?;
        (offset < self.size).then(|| self.host.saturating_add(offset))
    }

    fn covers_host_root(self) -> bool {
        self.host == 0 && self.size > 0
    }
}

/// How the container's ids map to the host's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum IdMaps {
    /// No user namespace of its own: every id is the host's.
    #[default]
    Host,
    /// Its own user namespace with these maps.
    Mapped {
        uid: Vec<IdRange>,
        gid: Vec<IdRange>,
    },
    /// A user namespace whose maps are not known here, and why.
    Unknown(String),
}

impl IdMaps {
    pub fn from_config(uid: Option<&[IdMapping]>, gid: Option<&[IdMapping]>) -> IdMaps {
        let ranges = |maps: Option<&[IdMapping]>| {
            maps.unwrap_or_default()
                .iter()
                .map(|m| IdRange {
                    container: m.container_id,
                    host: m.host_id,
                    size: m.size,
                })
                .collect()
        };
        IdMaps::Mapped {
            uid: ranges(uid),
            gid: ranges(gid),
        }
    }

    /// The maps of a `/proc/<pid>/uid_map` and `gid_map`; the identity map
    /// of the initial user namespace reads as [`IdMaps::Host`].
    pub fn from_proc(uid_map: &str, gid_map: &str) -> Result<IdMaps, BadLine> {
        let (uid, gid) = (parse_proc_map(uid_map)?, parse_proc_map(gid_map)?);
        let identity = |r: &[IdRange]| {
            matches!(
                r,
                [IdRange {
                    container: 0,
                    host: 0,
                    size: u32::MAX
                }]
            )
        };
        Ok(if identity(&uid) && identity(&gid) {
            IdMaps::Host
        } else {
            IdMaps::Mapped { uid, gid }
        })
    }

    /// The host uid of a container uid (`None`: unmapped, or not known).
    pub fn host_uid(&self, uid: u32) -> Option<u32> {
        self.host_id(uid, true)
    }

    pub fn host_gid(&self, gid: u32) -> Option<u32> {
        self.host_id(gid, false)
    }

    fn host_id(&self, id: u32, user: bool) -> Option<u32> {
        match self {
            IdMaps::Host => Some(id),
            IdMaps::Mapped { uid, gid } => {
                let ranges = if user { uid } else { gid };
                ranges.iter().find_map(|r| r.to_host(id))
            }
            IdMaps::Unknown(_) => None,
        }
    }

    /// A user namespace of its own whose maps are known and map nothing to
    /// host uid or gid 0 (the Pod Security Standards' `hostUsers: false`).
    pub fn unprivileged_on_host(&self) -> bool {
        match self {
            IdMaps::Mapped { uid, gid } => {
                !uid.is_empty() && !uid.iter().chain(gid).any(|r| r.covers_host_root())
            }
            _ => false,
        }
    }

    /// Why the host ids are not known (offline, a joined user namespace).
    pub fn unknown(&self) -> Option<&str> {
        match self {
            IdMaps::Unknown(why) => Some(why),
            _ => None,
        }
    }
}

/// A line of a `/proc/<pid>/uid_map` or `gid_map` that is not three numbers.
#[derive(Debug, thiserror::Error)]
#[error("unreadable id map line {0:?}")]
pub struct BadLine(pub String);

/// `container host size` lines, as the kernel writes them.
fn parse_proc_map(text: &str) -> Result<Vec<IdRange>, BadLine> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut fields = line.split_whitespace().map(str::parse::<u32>);
            match (fields.next(), fields.next(), fields.next()) {
                (Some(Ok(container)), Some(Ok(host)), Some(Ok(size))) => Ok(IdRange {
                    container,
                    host,
                    size,
                }),
                _ => Err(BadLine(line.to_string())),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_ids_are_judged_on_the_host() {
        let maps = IdMaps::from_proc("0 100000 65536\n", "0 100000 65536\n").unwrap();
        assert_eq!(maps.host_uid(0), Some(100000));
        assert_eq!(maps.host_uid(1000), Some(101000));
        assert_eq!(maps.host_uid(70000), None);
        assert!(maps.unprivileged_on_host());

        let root = IdMaps::from_proc("1000 0 1\n0 100000 1000\n", "0 100000 65536\n").unwrap();
        assert_eq!(root.host_uid(1000), Some(0));
        assert!(!root.unprivileged_on_host());
        let gid_root = IdMaps::from_proc("0 100000 65536\n", "5 0 1\n").unwrap();
        assert!(!gid_root.unprivileged_on_host());
    }

    #[test]
    fn the_initial_namespace_is_the_host() {
        let maps = IdMaps::from_proc(
            "         0          0 4294967295\n",
            "         0          0 4294967295\n",
        )
        .unwrap();
        assert_eq!(maps, IdMaps::Host);
        assert_eq!(maps.host_uid(0), Some(0));
        assert!(!maps.unprivileged_on_host());
        assert!(IdMaps::from_proc("x", "").is_err());
    }
}
