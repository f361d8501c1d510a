//! The privilege-relevant facts of one container, as plain data.
//!
//! A [`ContainerView`] is what the checks judge; [`Facts`] is the part of it
//! an admin would want to know to write a policy, in a form that survives a
//! trip through JSON: the hook puts it in every decision record (`"facts"`),
//! and `advise --from-log` reads it back. Everything here is derived from the
//! view; the interpretation (which mount is a host path, which namespace is
//! the host's) is the view's, so the advice agrees with the checks.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::Hash;

use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::mounts::PathHash;
use super::volume_type::MountVolume;
use super::{ContainerView, MountKind, MountUse, NamespaceKind};

/// What kind of mount, as the view classified it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MountFactKind {
    /// The runtime's own mounts (/proc, /dev, hosts files…): always allowed.
    Runtime,
    /// A Kubernetes volume (or a tmpfs, an `emptyDir`).
    Volume,
    /// A path of the host.
    HostPath,
    /// A mount no volume type covers (`remount`, a filesystem other than
    /// the runtimes' own): privileged evidence.
    Privileged,
}

/// `'a`: read off a view's mount, it borrows from that mount (its volume
/// type names) and from config.json's text (its destination): a thousand
/// mounts' facts were a thousand copies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MountFact<'a> {
    pub kind: MountFactKind,
    /// The PSP `volumes` names admitting it, most specific first (empty for
    /// runtime mounts).
    pub volume_types: Vec<Cow<'a, str>>,
    /// The flexVolume or CSI driver, when known. Left out of the JSON
    /// when unknown, like `hostPath`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<Cow<'a, str>>,
    /// The source resolved on the host (host paths only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_path: Option<Cow<'a, str>>,
    pub read_only: bool,
    pub destination: Cow<'a, str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPortFact {
    pub port: u16,
    pub protocol: String,
}

/// A container's mounts as facts: read off the view's mounts as they are
/// asked for (a record's facts are written once: a thousand mounts' list of
/// facts was 100 KB built only to be serialized), or as read back.
///
/// Written as [`Groups`]: mounts alike but for their destination listed
/// once with all their destinations (`"destinations"`); read back from that
/// form or from one entry per mount (`"destination"`).
#[derive(Debug, Clone)]
pub enum MountFacts<'a> {
    Of(&'a [MountUse<'a>]),
    Read(Vec<MountFact<'a>>),
}

impl<'a> MountFacts<'a> {
    /// Each mount's facts, in the container's order (read back: the
    /// record's).
    pub fn iter(&self) -> impl Iterator<Item = Cow<'_, MountFact<'a>>> {
        let (of, read): (&'a [MountUse<'a>], &[MountFact<'a>]) = match self {
            MountFacts::Of(mounts) => (*mounts, &[]),
            MountFacts::Read(facts) => (&[], facts),
        };
        of.iter()
            .map(|m| Cow::Owned(mount_fact(m)))
            .chain(read.iter().map(Cow::Borrowed))
    }

    fn destination(&self, i: usize) -> &Cow<'a, str> {
        match self {
            MountFacts::Of(mounts) => &mounts[i].destination,
            MountFacts::Read(facts) => &facts[i].destination,
        }
    }

    /// The same facts, owning their strings.
    pub fn into_owned(self) -> MountFacts<'static> {
        let owned = |f: MountFact<'_>| {
            let owned = |s: Cow<'_, str>| Cow::Owned(s.into_owned());
            MountFact {
                volume_types: f.volume_types.into_iter().map(owned).collect(),
                destination: owned(f.destination),
                driver: f.driver.map(owned),
                host_path: f.host_path.map(owned),
                ..f
            }
        };
        MountFacts::Read(match self {
            MountFacts::Of(mounts) => mounts.iter().map(|m| owned(mount_fact(m))).collect(),
            MountFacts::Read(facts) => facts.into_iter().map(owned).collect(),
        })
    }
}

/// What a mount's facts say but its destination: mounts alike in it are
/// listed once.
fn alike<'f>(f: &'f MountFact) -> impl Hash + Eq + 'f {
    (
        f.kind,
        &f.volume_types,
        &f.driver,
        &f.host_path,
        f.read_only,
    )
}

/// What a view's mount's facts say but its destination, read off its kind
/// (nothing built): each fact of [`mount_fact`] but the volume types is one
/// of these, and `volume` decides those.
#[derive(PartialEq, Eq, Hash)]
struct Likeness<'m> {
    kind: MountFactKind,
    volume: Option<&'m MountVolume>,
    driver: Option<&'m str>,
    host_path: Option<Cow<'m, str>>,
    read_only: bool,
}

fn likeness<'m>(mount: &'m MountUse<'_>) -> Likeness<'m> {
    let (kind, driver, host_path) = match &mount.kind {
        MountKind::RuntimeManaged => (MountFactKind::Runtime, None, None),
        MountKind::Privileged { .. } => (MountFactKind::Privileged, None, None),
        MountKind::UnknownVolume(_) => (MountFactKind::Volume, None, None),
        MountKind::Volume { driver, .. } => (MountFactKind::Volume, driver.as_deref(), None),
        // As `display()` writes it; borrowed unless the path is not UTF-8,
        // so keying a thousand host paths copies none of them.
        MountKind::HostPath { resolved } => (
            MountFactKind::HostPath,
            None,
            Some(resolved.to_string_lossy()),
        ),
    };
    Likeness {
        kind,
        volume: mount.volume_types().next(),
        driver,
        host_path,
        read_only: mount.read_only,
    }
}

/// The mounts of a [`MountFacts`] alike but for their destination, in the
/// order each first appears: a thousand configMap volumes are one entry of
/// the record with a thousand destinations.
struct Groups<'f, 'a> {
    facts: &'f MountFacts<'a>,
    /// Each group's first and last mount.
    heads: Vec<(usize, usize)>,
    /// For each mount, the next of its group (`usize::MAX` after the last).
    next: Vec<usize>,
}

impl<'f, 'a> Groups<'f, 'a> {
    fn of(facts: &'f MountFacts<'a>) -> Self {
        let (heads, next) = match facts {
            MountFacts::Of(mounts) => group(mounts.iter().map(likeness)),
            MountFacts::Read(read) => group(read.iter().map(alike)),
        };
        Groups { facts, heads, next }
    }

    /// Each group's facts (its first mount's) and destinations.
    fn iter(&self) -> impl Iterator<Item = (Cow<'f, MountFact<'a>>, Destinations<'_, 'a>)> {
        self.heads.iter().map(|&(first, _)| {
            let fact = match self.facts {
                MountFacts::Of(mounts) => Cow::Owned(mount_fact(&mounts[first])),
                MountFacts::Read(facts) => Cow::Borrowed(&facts[first]),
            };
            let destinations = Destinations {
                facts: self.facts,
                next: &self.next,
                first,
            };
            (fact, destinations)
        })
    }
}

/// Items of equal keys grouped: each group's first and last item, in the
/// order each first appears, and each item's next of its group.
fn group<K: Hash + Eq>(
    keys: impl ExactSizeIterator<Item = K>,
) -> (Vec<(usize, usize)>, Vec<usize>) {
    let mut next = vec![usize::MAX; keys.len()];
    let mut heads: Vec<(usize, usize)> = Vec::new();
    let mut index: HashMap<K, usize, PathHash> = HashMap::default();
    for (i, key) in keys.enumerate() {
        match index.entry(key) {
            Entry::Occupied(g) => {
                let last = &mut heads[*g.get()].1;
                next[*last] = i;
                *last = i;
            }
            Entry::Vacant(v) => {
                v.insert(heads.len());
                heads.push((i, i));
            }
        }
    }
    (heads, next)
}

/// The destinations of one group, in the container's order.
#[derive(Clone, Copy)]
struct Destinations<'g, 'a> {
    facts: &'g MountFacts<'a>,
    next: &'g [usize],
    first: usize,
}

impl<'g, 'a> Destinations<'g, 'a> {
    fn iter(self) -> impl Iterator<Item = &'g Cow<'a, str>> {
        let next = |&i: &usize| Some(self.next[i]).filter(|&n| n != usize::MAX);
        std::iter::successors(Some(self.first), next).map(|i| self.facts.destination(i))
    }
}

/// One group as the record writes it: a mount's facts, `destinations` for
/// its `destination`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Group<'g, 'a> {
    kind: MountFactKind,
    volume_types: &'g [Cow<'a, str>],
    #[serde(skip_serializing_if = "Option::is_none")]
    driver: Option<&'g Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host_path: Option<&'g Cow<'a, str>>,
    read_only: bool,
    destinations: Destinations<'g, 'a>,
}

impl Serialize for Destinations<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl Serialize for MountFacts<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let groups = Groups::of(self);
        let mut seq = serializer.serialize_seq(Some(groups.heads.len()))?;
        for (fact, destinations) in groups.iter() {
            seq.serialize_element(&Group {
                kind: fact.kind,
                volume_types: &fact.volume_types,
                driver: fact.driver.as_ref(),
                host_path: fact.host_path.as_ref(),
                read_only: fact.read_only,
                destinations,
            })?;
        }
        seq.end()
    }
}

/// Equal when the record would list the same.
impl PartialEq for MountFacts<'_> {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (Groups::of(self), Groups::of(other));
        a.heads.len() == b.heads.len()
            && a.iter()
                .zip(b.iter())
                .all(|((fa, da), (fb, db))| alike(&fa) == alike(&fb) && da.iter().eq(db.iter()))
    }
}

impl Eq for MountFacts<'_> {}

impl<'de> Deserialize<'de> for MountFacts<'_> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// An entry of the record's list: a group, or one mount.
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Listed {
            kind: MountFactKind,
            volume_types: Vec<Cow<'static, str>>,
            #[serde(default)]
            driver: Option<String>,
            #[serde(default)]
            host_path: Option<String>,
            read_only: bool,
            #[serde(default)]
            destination: Option<String>,
            #[serde(default)]
            destinations: Vec<String>,
        }
        let mut facts = Vec::new();
        for l in Vec::<Listed>::deserialize(deserializer)? {
            if l.destination.is_none() && l.destinations.is_empty() {
                return Err(serde::de::Error::custom(
                    "a mount's facts without \"destination\" or \"destinations\"",
                ));
            }
            for destination in l.destination.into_iter().chain(l.destinations) {
                facts.push(MountFact {
                    kind: l.kind,
                    volume_types: l.volume_types.clone(),
                    driver: l.driver.clone().map(Cow::Owned),
                    host_path: l.host_path.clone().map(Cow::Owned),
                    read_only: l.read_only,
                    destination: Cow::Owned(destination),
                });
            }
        }
        Ok(MountFacts::Read(facts))
    }
}

/// The privilege-relevant facts of one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Facts<'a> {
    pub id: String,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub container: Option<String>,
    /// A pod sandbox (pause) container: only its pod-level facts count.
    pub sandbox: bool,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary gids other than the primary one, sorted.
    pub additional_gids: Vec<u32>,
    /// Every capability in any of the five sets, sorted.
    pub capabilities: Vec<String>,
    pub host_network: bool,
    #[serde(rename = "hostPID")]
    pub host_pid: bool,
    #[serde(rename = "hostIPC")]
    pub host_ipc: bool,
    pub mounts: MountFacts<'a>,
    /// Host device nodes passed in (`linux.devices`).
    pub devices: Vec<String>,
    /// Device cgroup rules allow devices beyond the runtime's defaults.
    pub device_cgroup_allows_all: bool,
    /// config.json's hooks the node did not install (`stage path`).
    #[serde(default)]
    pub unknown_hooks: Vec<String>,
    /// Mounts the kernel had in the container that config.json does not
    /// account for (hook mode).
    #[serde(default)]
    pub undeclared_mounts: Vec<String>,
    /// Settings the runtime applies as root beyond the container (raised
    /// rlimits, real-time scheduling, the host's cgroup…), described.
    #[serde(default)]
    pub runtime_settings: Vec<String>,
    /// sysfs or cgroupfs mounted writable.
    pub writable_sysfs_or_cgroup: bool,
    /// Shared (Bidirectional) propagation of the root or of a bind mount.
    pub shared_propagation: bool,
    /// `linux.sysctl` names (dotted), sorted.
    pub sysctls: Vec<String>,
    /// A seccomp profile that confines ([`Profile::confines`](super::seccomp::Profile::confines)).
    pub seccomp_confined: bool,
    pub apparmor_profile: Option<String>,
    pub selinux_label: Option<String>,
    /// `maskedPaths` or `readonlyPaths` empty or missing.
    pub unmasked_proc: bool,
    pub no_new_privileges: bool,
    pub root_readonly: bool,
    /// `None`: the runtime passed no port mappings.
    pub host_ports: Option<Vec<HostPortFact>>,
}

impl<'a> Facts<'a> {
    /// The facts of `view`, borrowing its mounts.
    pub fn from_view(view: &'a ContainerView<'a>) -> Facts<'a> {
        let mut additional_gids: Vec<u32> = view
            .additional_gids
            .iter()
            .copied()
            .filter(|&g| g != view.gid)
            .collect();
        additional_gids.sort_unstable();
        additional_gids.dedup();
        let host = |kind| view.namespaces.get(kind).is_host();
        Facts {
            id: view.id.clone(),
            namespace: view.identity.namespace.clone(),
            pod: view.identity.pod.clone(),
            container: view.identity.container.clone(),
            sandbox: view.identity.sandbox,
            uid: view.uid,
            gid: view.gid,
            additional_gids,
            capabilities: view
                .capabilities
                .all()
                .into_iter()
                .map(str::to_string)
                .collect(),
            host_network: host(NamespaceKind::Network),
            host_pid: host(NamespaceKind::Pid),
            host_ipc: host(NamespaceKind::Ipc),
            mounts: MountFacts::Of(&view.mounts),
            devices: view.devices.clone(),
            device_cgroup_allows_all: !view.device_rules.is_empty(),
            unknown_hooks: view
                .hooks
                .iter()
                .filter(|h| !h.known)
                .map(|h| format!("{} {}", h.stage, h.path))
                .collect(),
            undeclared_mounts: view.undeclared_mounts.clone(),
            runtime_settings: view.runtime_settings.clone(),
            writable_sysfs_or_cgroup: view.mounts.iter().any(MountUse::writable_kernel_fs),
            shared_propagation: view.has_shared_propagation(),
            sysctls: view.sysctls.keys().cloned().collect(),
            seccomp_confined: view
                .seccomp
                .as_ref()
                .is_some_and(super::seccomp::Profile::confines),
            apparmor_profile: non_empty(view.apparmor_profile.as_deref()),
            selinux_label: non_empty(view.selinux_label.as_deref()),
            unmasked_proc: view.proc_unmasked.is_some(),
            no_new_privileges: view.no_new_privileges,
            root_readonly: view.root_readonly,
            host_ports: view.host_ports.as_ref().map(|ports| {
                ports
                    .iter()
                    .map(|p| HostPortFact {
                        port: p.port,
                        protocol: p.protocol.clone(),
                    })
                    .collect()
            }),
        }
    }

    /// The same facts, owning all their strings (to outlive the view).
    pub fn into_owned(self) -> Facts<'static> {
        Facts {
            mounts: self.mounts.into_owned(),
            ..self
        }
    }

    /// See [`label`](super::identity::label).
    pub fn label(&self) -> String {
        super::identity::label(
            self.namespace.as_deref(),
            self.pod.as_deref(),
            self.container.as_deref(),
            self.sandbox,
            &self.id,
        )
    }

    /// Whether the container shows any of the evidence the `privileged`
    /// check denies.
    pub fn privileged(&self) -> bool {
        self.device_cgroup_allows_all
            || !self.unknown_hooks.is_empty()
            || !self.undeclared_mounts.is_empty()
            || !self.runtime_settings.is_empty()
            || self
                .mounts
                .iter()
                .any(|m| m.kind == MountFactKind::Privileged)
            || !self.devices.is_empty()
            || self.writable_sysfs_or_cgroup
            || self.shared_propagation
    }
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn mount_fact<'a>(mount: &'a MountUse<'a>) -> MountFact<'a> {
    let Likeness {
        kind,
        driver,
        host_path,
        read_only,
        ..
    } = likeness(mount);
    MountFact {
        kind,
        volume_types: mount
            .volume_types()
            .map(|t| Cow::Borrowed(t.name()))
            .collect(),
        driver: driver.map(Cow::Borrowed),
        host_path,
        read_only,
        destination: mount.destination.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use serde_json::Value;

    #[test]
    fn facts_read_off_a_view_equal_their_owned_and_read_back_forms() {
        for name in ["podman-default", "podman-bind-etc", "podman-privileged"] {
            let view = fixtures::view(name);
            let of = Facts::from_view(&view);
            assert!(matches!(of.mounts, MountFacts::Of(_)));
            let json = serde_json::to_string(&of).unwrap();
            let back: Facts = serde_json::from_str(&json).unwrap();
            assert!(matches!(back.mounts, MountFacts::Read(_)));
            assert_eq!(back, of, "{name}");
            assert_eq!(of.clone().into_owned(), of, "{name}");
            assert_eq!(serde_json::to_string(&back).unwrap(), json, "{name}");
        }
    }

    /// The facts read back from a log tell privileged exactly when the view
    /// shows the evidence the privileged check denies, on every capture.
    #[test]
    fn facts_are_privileged_as_the_view_shows_it() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut views = Vec::new();
        for dir in [
            "",
            "cri-captured/base-spec",
            "cri-captured/nri",
            "cri-captured/hooks-dir",
        ] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "json") {
                    let name = path.to_string_lossy().into_owned();
                    views.push(fixtures::captured(&name, &std::fs::read(&path).unwrap()));
                }
            }
        }
        // a raised rlimit: evidence no capture shows
        let memlock = br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
            "process":{"rlimits":[{"type":"RLIMIT_MEMLOCK","hard":1099511627776,"soft":65536}]},
            "linux":{"namespaces":[{"type":"mount"}]}}"#;
        views.push(fixtures::view_of("memlock", memlock));
        let mut seen = (0, 0);
        for view in &views {
            let evidence = !view.privileged_evidence().is_empty();
            let json = serde_json::to_string(&Facts::from_view(view)).unwrap();
            let back: Facts = serde_json::from_str(&json).unwrap();
            assert_eq!(back.privileged(), evidence, "{}", view.id);
            if evidence {
                seen.0 += 1;
            } else {
                seen.1 += 1;
            }
        }
        assert!(seen.0 >= 4 && seen.1 >= 20, "{seen:?}");
    }

    #[test]
    fn podman_default() {
        let f = fixtures::facts("podman-default");
        assert_eq!(f.label(), "podman-default");
        assert_eq!((f.uid, f.gid), (0, 0));
        assert!(f.additional_gids.is_empty());
        assert_eq!(f.capabilities.len(), 11);
        assert!(!f.host_network && !f.host_pid && !f.host_ipc);
        assert!(f.seccomp_confined);
        let containerd = fixtures::facts("cri-captured/base-spec/containerd-pss-restricted-ok-app");
        assert!(containerd.seccomp_confined);
        assert!(!f.unmasked_proc && !f.no_new_privileges && !f.root_readonly);
        assert!(!f.privileged());
        assert_eq!(f.sysctls, ["net.ipv4.ping_group_range"]);
        assert!(f.mounts.iter().all(|m| m.kind == MountFactKind::Runtime));
        assert_eq!(f.host_ports, None);
    }

    #[test]
    fn privileged_and_host_paths() {
        let f = fixtures::facts("podman-privileged");
        assert!(f.privileged() && f.device_cgroup_allows_all && f.writable_sysfs_or_cgroup);
        assert!(f.unmasked_proc && !f.seccomp_confined);
        let f = fixtures::facts("podman-bind-etc");
        let etc = f.mounts.iter().find(|m| m.destination == "/host-etc");
        let etc = etc.expect("the /etc bind");
        assert_eq!(etc.kind, MountFactKind::HostPath);
        assert_eq!(etc.host_path.as_deref(), Some("/etc"));
        assert!(etc.volume_types.iter().eq(["hostPath"]));
        assert!(etc.read_only);
        let f = fixtures::facts("podman-tmpfs");
        let scratch = f.mounts.iter().find(|m| m.destination == "/scratch");
        assert_eq!(scratch.map(|m| m.kind), Some(MountFactKind::Volume));
    }

    #[test]
    fn primary_gid_is_not_supplementary() {
        let f = fixtures::facts("podman-root-user");
        assert!(f.additional_gids.is_empty());
        let f = fixtures::facts("podman-restricted-ok");
        assert!(f.additional_gids.is_empty());
        assert_eq!((f.uid, f.gid), (32767, 32767));
    }

    #[test]
    fn json_round_trip() {
        for name in ["podman-privileged", "ctr-run-bind", "podman-host-ipc"] {
            let f = fixtures::facts(name);
            let json = serde_json::to_string(&f).unwrap();
            assert!(json.contains("\"hostPID\":"), "{json}");
            let back: Facts = serde_json::from_str(&json).unwrap();
            assert_eq!(back, f);
        }
    }

    /// The record lists mounts alike but for their destination once, in
    /// the order each first appears, their destinations in the container's
    /// order; read back, each mount is one fact again.
    #[test]
    fn mounts_alike_are_listed_once_with_their_destinations() {
        let view = fixtures::view("podman-bind-etc");
        let facts = Facts::from_view(&view);
        let json = serde_json::to_value(&facts.mounts).unwrap();
        let groups = json.as_array().unwrap();
        let listed: Vec<&str> = groups
            .iter()
            .flat_map(|g| g["destinations"].as_array().unwrap())
            .map(|d| d.as_str().unwrap())
            .collect();
        assert_eq!(listed.len(), view.mounts.len());
        for g in groups {
            let dests: Vec<&str> = g["destinations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_str().unwrap())
                .collect();
            let order: Vec<usize> = dests
                .iter()
                .map(|d| {
                    view.mounts
                        .iter()
                        .position(|m| m.destination == *d)
                        .unwrap()
                })
                .collect();
            assert!(order.is_sorted(), "{g}");
            assert!(g.get("destination").is_none(), "{g}");
        }
        // groups differ pairwise, first appearances in order
        let firsts: Vec<usize> = groups
            .iter()
            .map(|g| {
                let d = g["destinations"][0].as_str().unwrap();
                view.mounts.iter().position(|m| m.destination == d).unwrap()
            })
            .collect();
        assert!(firsts.is_sorted(), "{json}");
        let heads: Vec<Value> = groups
            .iter()
            .map(|g| {
                let mut g = g.clone();
                g.as_object_mut().unwrap().remove("destinations");
                g
            })
            .collect();
        for (i, a) in heads.iter().enumerate() {
            assert!(!heads[i + 1..].contains(a), "{a} listed twice");
        }
        assert!(groups.len() < view.mounts.len(), "{json}");
        let back: MountFacts = serde_json::from_value(json).unwrap();
        assert_eq!(back, facts.mounts);
        assert_eq!(back.iter().count(), view.mounts.len());
    }

    /// A record of one entry per mount (`"destination"`) reads back as the
    /// same facts; an entry with no destination at all is refused.
    #[test]
    fn mounts_listed_one_by_one_read_back_the_same() {
        let facts = fixtures::facts("podman-bind-etc");
        let one_by_one: Vec<Value> = facts
            .mounts
            .iter()
            .map(|m| serde_json::to_value(m.as_ref()).unwrap())
            .collect();
        assert!(one_by_one.iter().all(|m| m["destination"].is_string()));
        let back: MountFacts = serde_json::from_value(Value::Array(one_by_one.clone())).unwrap();
        assert_eq!(back, facts.mounts);
        let mut none = one_by_one[0].clone();
        none.as_object_mut().unwrap().remove("destination");
        let err = serde_json::from_value::<MountFacts>(Value::Array(vec![none])).unwrap_err();
        assert!(err.to_string().contains("without \"destination\""), "{err}");
    }
}
