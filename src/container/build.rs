//! Building the [`ContainerView`] from config.json.
//!
//! config.json is parsed by [`oci`] (oci-spec types, lenient where a newer
//! runtime may write what this build does not know); here its facts are
//! interpreted: namespaces judged, mounts classified, in hook mode checked
//! against the kernel.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::capabilities::CapabilitySets;
use super::identity::Identity;
use super::kernel::{self, MountTables, Truth};
use super::mounts::{MountContext, classify, replace_source};
use super::namespaces::{NamespaceKind, NamespaceProbe, judge};
use super::oci::{self, NamespaceType};
use super::{ContainerView, HostPort};

#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub message: String,
}

/// What the hook knows besides config.json.
pub struct BuildContext<'a> {
    /// Runtime id of the container.
    pub id: String,
    /// The container process (hook mode only).
    pub pid: Option<i32>,
    /// Annotations of the OCI state; they win over config.json's.
    pub state_annotations: BTreeMap<String, String>,
    pub mounts: MountContext,
    pub probe: &'a dyn NamespaceProbe,
}

pub fn build<'a>(
    file: &str,
    bytes: &'a [u8],
    ctx: &BuildContext,
) -> Result<ContainerView<'a>, ConfigError> {
    let err = |message: String| ConfigError {
        file: file.to_string(),
        message,
    };
    let config = oci::parse(bytes).map_err(&err)?;

    let mut annotations: BTreeMap<String, String> = owned_pairs(config.annotations).collect();
    annotations.extend(ctx.state_annotations.clone());

    let process = config.process.unwrap_or_default();
    let user = &process.user;
    let linux = config.linux.unwrap_or_default();

    let mut view = ContainerView {
        id: ctx.id.clone(),
        identity: Identity::from_annotations(&annotations),
        uid: user.uid,
        gid: user.gid,
        additional_gids: user.additional_gids.clone().unwrap_or_default(),
        capabilities: capability_sets(process.capabilities),
        no_new_privileges: process.no_new_privileges.unwrap_or(false),
        apparmor_profile: process.apparmor_profile.map(Cow::into_owned),
        selinux_label: process.selinux_label.map(Cow::into_owned),
        seccomp_default_action: linux.seccomp.map(|s| s.default_action.into_owned()),
        root_readonly: config
            .root
            .as_ref()
            .and_then(|r| r.readonly)
            .unwrap_or(false),
        sysctls: owned_pairs(linux.sysctl)
            // sysctl names may use `/` as separator; policies use dots
            .map(|(k, v)| (k.replace('/', "."), v))
            .collect(),
        masked_paths: owned(linux.masked_paths),
        readonly_paths: owned(linux.readonly_paths),
        rootfs_propagation: linux.rootfs_propagation.map(Cow::into_owned),
        devices: linux
            .devices
            .iter()
            .flatten()
            .map(|d| d.path.to_string())
            .collect(),
        device_cgroup_allows_all: linux.device_rules.iter().flatten().any(|d| {
            d.allow && matches!(d.typ, None | Some(b'a')) && d.major.is_none() && d.minor.is_none()
        }),
        host_ports: host_ports(&annotations),
        ..Default::default()
    };

    let entries = linux.namespaces.unwrap_or_default();
    for kind in NamespaceKind::ALL {
        let entry = entries
            .iter()
            .find(|ns| ns.typ == oci_type(kind))
            .map(|ns| ns.path.as_deref());
        *view.namespaces.get_mut(kind) = judge(kind, entry, ctx.pid, ctx.probe);
    }
    if !view.namespaces.user.is_host() {
        view.userns_root_host_uid = linux.uid_mappings.as_ref().and_then(|maps| {
            maps.iter()
                .find(|m| m.container_id == 0 && m.size > 0)
                .map(|m| m.host_id)
        });
    }

    // Sized up front: a `flatten` gives `collect` no length, and every
    // regrowth copies the list (a thousand mounts: ~400 KB touched, not 190).
    let declared = config.mounts.unwrap_or_default();
    view.mounts = Vec::with_capacity(declared.len());
    view.mounts.extend(declared.into_iter().map(|m| {
        classify(
            m.destination,
            m.source.unwrap_or_default(),
            m.typ.unwrap_or_default(),
            m.options,
            &ctx.mounts,
            view.identity.pod_uid.as_deref(),
        )
    }));
    if let Some(pid) = ctx.pid {
        let rootfs = config
            .root
            .as_ref()
            .map(|r| PathBuf::from(&*r.path))
            .unwrap_or_default();
        verify_mounts(&mut view, pid, &rootfs, &ctx.mounts).map_err(err)?;
    }
    Ok(view)
}

/// Hook mode: check each bind mount against what the kernel mounted, and
/// judge the kernel's path where it differs from config.json's.
fn verify_mounts(
    view: &mut ContainerView<'_>,
    pid: i32,
    rootfs: &Path,
    ctx: &MountContext,
) -> Result<(), String> {
    let tables =
        MountTables::read(pid).map_err(|why| format!("cannot verify the mounts: {why}"))?;
    let rootfs = match (rootfs.is_relative(), &ctx.bundle) {
        (true, Some(bundle)) => bundle.join(rootfs),
        _ => rootfs.to_path_buf(),
    };
    let rootfs = std::fs::canonicalize(&rootfs).unwrap_or(rootfs);
    let pod_uid = view.identity.pod_uid.clone();
    for mount in view.mounts.iter_mut().filter(|m| m.bind) {
        let point = kernel::mount_point(&rootfs, &mount.destination);
        // Judge what the kernel did: options the runtime read otherwise than
        // the hook (or applies later) must not pass a writable mount as `ro`.
        if mount.read_only && tables.writable(&point) == Some(true) {
            mount.read_only = false;
            mount.writable_in_kernel = true;
        }
        let expected = ctx.resolve_source(&mount.source);
        match tables.verify(&point, &expected) {
            Truth::Matches => {}
            Truth::Differs(real) => replace_source(mount, &real, ctx, pod_uid.as_deref()),
            Truth::Unknown(why) => view
                .unverified_mounts
                .push(format!("{}: {why}", mount.destination)),
        }
    }
    Ok(())
}

fn oci_type(kind: NamespaceKind) -> NamespaceType {
    match kind {
        NamespaceKind::Network => NamespaceType::Network,
        NamespaceKind::Pid => NamespaceType::Pid,
        NamespaceKind::Ipc => NamespaceType::Ipc,
        NamespaceKind::User => NamespaceType::User,
    }
}

fn owned(strings: Option<Vec<Cow<'_, str>>>) -> Vec<String> {
    strings.into_iter().flatten().map(Cow::into_owned).collect()
}

fn owned_pairs<'a>(
    pairs: Option<Vec<(Cow<'a, str>, Cow<'a, str>)>>,
) -> impl Iterator<Item = (String, String)> + 'a {
    pairs
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
}

/// The capability sets, names normalized to `CAP_X`.
fn capability_sets(caps: Option<oci::Capabilities>) -> CapabilitySets {
    let caps = caps.unwrap_or_default();
    CapabilitySets::new(caps.sets.map(owned))
}

/// Host ports from the annotations CRI-O (`io.kubernetes.cri-o.PortMappings`)
/// and kubelet (`io.kubernetes.container.ports`) pass; `None` without either.
/// An annotation that does not parse yields a port 0 entry with protocol
/// `unparseable`, which no policy admits (fail closed).
fn host_ports(annotations: &BTreeMap<String, String>) -> Option<Vec<HostPort>> {
    let mut found = None;
    for (key, port_key, proto_key) in [
        ("io.kubernetes.cri-o.PortMappings", "HostPort", "Protocol"),
        ("io.kubernetes.container.ports", "hostPort", "protocol"),
    ] {
        let Some(text) = annotations.get(key) else {
            continue;
        };
        let ports: &mut Vec<HostPort> = found.get_or_insert_with(Vec::new);
        // CRI-O writes `null` for a pod without port mappings.
        match serde_json::from_str::<Option<Vec<Value>>>(text).map(Option::unwrap_or_default) {
            Ok(items) => {
                for item in items {
                    let port = item
                        .get(port_key)
                        .or_else(|| item.get(port_key.to_ascii_lowercase()))
                        .and_then(Value::as_u64)
                        .unwrap_or(0);
                    if port == 0 {
                        continue;
                    }
                    ports.push(HostPort {
                        port: u16::try_from(port).unwrap_or(0),
                        protocol: item
                            .get(proto_key)
                            .and_then(Value::as_str)
                            .unwrap_or("TCP")
                            .to_ascii_uppercase(),
                    });
                }
            }
            Err(_) => ports.push(HostPort {
                port: 0,
                protocol: "unparseable".into(),
            }),
        }
    }
    found
}
