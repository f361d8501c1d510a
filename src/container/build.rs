//! Building the [`ContainerView`] from config.json.
//!
//! config.json is parsed with oci-spec, except the two parts where a runtime
//! newer than this build may write values oci-spec does not know yet: the
//! capability sets (judged by name) and the seccomp profile (only its presence
//! and default action matter here). Those are taken from the raw JSON first.

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceType, LinuxNamespaceType, Spec};
use serde_json::Value;

use super::capabilities::{CapabilitySets, normalize};
use super::identity::Identity;
use super::kernel::{self, MountTables, Truth};
use super::mounts::{MountContext, classify, replace_source, resolve_host_path};
use super::namespaces::{NamespaceKind, NamespaceProbe, judge};
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

pub fn build(file: &str, bytes: &[u8], ctx: &BuildContext) -> Result<ContainerView, ConfigError> {
    let err = |message: String| ConfigError {
        file: file.to_string(),
        message,
    };
    let mut raw: Value =
        serde_json::from_slice(bytes).map_err(|e| err(format!("not valid JSON: {e}")))?;
    if !raw.is_object() {
        return Err(err("not a JSON object".into()));
    }
    let capabilities = take_capabilities(&mut raw).map_err(&err)?;
    let seccomp_default_action = take_seccomp(&mut raw).map_err(&err)?;
    let spec: Spec = serde_json::from_value(raw)
        .map_err(|e| err(format!("does not follow the OCI runtime spec: {e}")))?;

    let mut annotations: BTreeMap<String, String> = spec
        .annotations()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    annotations.extend(ctx.state_annotations.clone());

    let process = spec.process().clone().unwrap_or_default();
    let user = process.user();
    let linux = spec.linux().clone().unwrap_or_default();

    let mut view = ContainerView {
        id: ctx.id.clone(),
        identity: Identity::from_annotations(&annotations),
        uid: user.uid(),
        gid: user.gid(),
        additional_gids: user.additional_gids().clone().unwrap_or_default(),
        capabilities,
        no_new_privileges: process.no_new_privileges().unwrap_or(false),
        apparmor_profile: process.apparmor_profile().clone(),
        selinux_label: process.selinux_label().clone(),
        seccomp_default_action,
        root_readonly: spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false),
        sysctls: linux
            .sysctl()
            .clone()
            .unwrap_or_default()
            .into_iter()
            // sysctl names may use `/` as separator; policies use dots
            .map(|(k, v)| (k.replace('/', "."), v))
            .collect(),
        masked_paths: linux.masked_paths().clone().unwrap_or_default(),
        readonly_paths: linux.readonly_paths().clone().unwrap_or_default(),
        rootfs_propagation: linux.rootfs_propagation().clone(),
        devices: linux
            .devices()
            .iter()
            .flatten()
            .map(|d| d.path().display().to_string())
            .collect(),
        device_cgroup_allows_all: linux
            .resources()
            .as_ref()
            .and_then(|r| r.devices().clone())
            .unwrap_or_default()
            .iter()
            .any(|d| {
                d.allow()
                    && matches!(d.typ(), None | Some(LinuxDeviceType::A))
                    && d.major().is_none()
                    && d.minor().is_none()
            }),
        host_ports: host_ports(&annotations),
        ..Default::default()
    };

    let entries = linux.namespaces().clone().unwrap_or_default();
    for kind in NamespaceKind::ALL {
        let entry = entries
            .iter()
            .find(|ns| ns.typ() == oci_type(kind))
            .map(|ns| ns.path().as_ref().and_then(|p| p.to_str()));
        *view.namespaces.get_mut(kind) = judge(kind, entry, ctx.pid, ctx.probe);
    }
    if !view.namespaces.user.is_host() {
        view.userns_root_host_uid = linux.uid_mappings().as_ref().and_then(|maps| {
            maps.iter()
                .find(|m| m.container_id() == 0 && m.size() > 0)
                .map(|m| m.host_id())
        });
    }

    view.mounts = spec
        .mounts()
        .iter()
        .flatten()
        .map(|m| {
            let source = m
                .source()
                .as_ref()
                .map(|s| s.display().to_string())
                .unwrap_or_default();
            classify(
                &m.destination().display().to_string(),
                &source,
                m.typ().as_deref().unwrap_or(""),
                m.options().as_deref().unwrap_or(&[]),
                &ctx.mounts,
            )
        })
        .collect();
    if let Some(pid) = ctx.pid {
        let rootfs = spec
            .root()
            .as_ref()
            .map(|r| r.path().clone())
            .unwrap_or_default();
        verify_mounts(&mut view, pid, &rootfs, &ctx.mounts).map_err(err)?;
    }
    Ok(view)
}

/// Hook mode: check each bind mount against what the kernel mounted, and
/// judge the kernel's path where it differs from config.json's.
fn verify_mounts(
    view: &mut ContainerView,
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
    for mount in view.mounts.iter_mut().filter(|m| m.bind) {
        let point = kernel::mount_point(&rootfs, &mount.destination);
        let expected = resolve_host_path(&ctx.host_path(&mount.source));
        match tables.verify(&point, &expected) {
            Truth::Matches => {}
            Truth::Differs(real) => replace_source(mount, &real, ctx),
            Truth::Unknown(why) => view
                .unverified_mounts
                .push(format!("{}: {why}", mount.destination)),
        }
    }
    Ok(())
}

fn oci_type(kind: NamespaceKind) -> LinuxNamespaceType {
    match kind {
        NamespaceKind::Network => LinuxNamespaceType::Network,
        NamespaceKind::Pid => LinuxNamespaceType::Pid,
        NamespaceKind::Ipc => LinuxNamespaceType::Ipc,
        NamespaceKind::User => LinuxNamespaceType::User,
    }
}

/// Remove `process.capabilities` from the raw JSON and keep the names.
fn take_capabilities(raw: &mut Value) -> Result<CapabilitySets, String> {
    let Some(caps) = raw
        .get_mut("process")
        .and_then(Value::as_object_mut)
        .and_then(|p| p.remove("capabilities"))
    else {
        return Ok(CapabilitySets::default());
    };
    if caps.is_null() {
        return Ok(CapabilitySets::default());
    }
    let set = |name: &str| -> Result<Vec<String>, String> {
        match caps.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|c| {
                    c.as_str().map(normalize).ok_or_else(|| {
                        format!("process.capabilities.{name}: expected capability names, found {c}")
                    })
                })
                .collect(),
            Some(other) => Err(format!(
                "process.capabilities.{name}: expected a list of capability names, found {other}"
            )),
        }
    };
    if !caps.is_object() {
        return Err(format!(
            "process.capabilities: expected an object, found {caps}"
        ));
    }
    Ok(CapabilitySets {
        bounding: set("bounding")?,
        effective: set("effective")?,
        inheritable: set("inheritable")?,
        permitted: set("permitted")?,
        ambient: set("ambient")?,
    })
}

/// Remove `linux.seccomp`; `None` when absent or null (unconfined).
fn take_seccomp(raw: &mut Value) -> Result<Option<String>, String> {
    let seccomp = raw
        .get_mut("linux")
        .and_then(Value::as_object_mut)
        .and_then(|l| l.remove("seccomp"));
    match seccomp {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(obj)) => match obj.get("defaultAction") {
            Some(Value::String(action)) => Ok(Some(action.clone())),
            other => Err(format!(
                "linux.seccomp.defaultAction: expected an action name, found {}",
                other.map_or("nothing".to_string(), Value::to_string)
            )),
        },
        Some(other) => Err(format!("linux.seccomp: expected an object, found {other}")),
    }
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
