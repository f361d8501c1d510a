//! The least-privilege PodSecurityPolicy for a [`Usage`]: every field as
//! narrow as the containers allow, each grant noted with the containers that
//! needed it (shown by `--explain`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::document::Document;
use super::usage::{Labels, Usage};
use crate::policy::psp;

/// The PodSecurityPolicy named `name` admitting exactly what `usage` used.
pub fn policy(name: &str, usage: &Usage) -> Document {
    let mut doc = Document::default();
    let mut spec = Map::new();
    host(usage, &mut spec, &mut doc);
    volumes(usage, &mut spec, &mut doc);
    identity(usage, &mut spec, &mut doc);
    capabilities(usage, &mut spec, &mut doc);
    kernel(usage, &mut spec, &mut doc);
    let annotations = profiles(usage, &mut doc);
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(name));
    if !annotations.is_empty() {
        metadata.insert("annotations".into(), Value::Object(annotations));
    }
    doc.value = json!({
        "apiVersion": "policy/v1beta1",
        "kind": psp::KIND,
        "metadata": metadata,
        "spec": spec,
    });
    doc
}

/// `a, b, c` (the first ten, then a count).
pub fn who(labels: &Labels) -> String {
    const SHOWN: usize = 10;
    let mut text = labels
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if labels.len() > SHOWN {
        text.push_str(&format!(" and {} more", labels.len() - SHOWN));
    }
    text
}

fn needed_by(labels: &Labels) -> String {
    format!("needed by: {}", who(labels))
}

/// A boolean field: true when anyone needed it.
fn grant(spec: &mut Map<String, Value>, doc: &mut Document, field: &str, users: &Labels) {
    spec.insert(field.into(), json!(!users.is_empty()));
    if !users.is_empty() {
        doc.note(&["spec", field], needed_by(users));
    }
}

fn host(usage: &Usage, spec: &mut Map<String, Value>, doc: &mut Document) {
    grant(spec, doc, "privileged", &usage.privileged);
    grant(spec, doc, "hostNetwork", &usage.host_network);
    grant(spec, doc, "hostPID", &usage.host_pid);
    grant(spec, doc, "hostIPC", &usage.host_ipc);
    if !usage.unparseable_ports.is_empty() {
        spec.insert("hostPorts".into(), json!([{"min": 0, "max": 65535}]));
        doc.note(
            &["spec", "hostPorts", "0"],
            format!(
                "every port: the port mappings of {} could not be read",
                who(&usage.unparseable_ports)
            ),
        );
    } else if !usage.host_ports.is_empty() {
        let ports: BTreeMap<u32, Labels> = usage
            .host_ports
            .iter()
            .map(|(p, l)| (u32::from(*p), l.clone()))
            .collect();
        let ranges = coalesce(&ports);
        let items = ranges
            .iter()
            .map(|(min, max, _)| json!({"min": min, "max": max}));
        spec.insert("hostPorts".into(), Value::Array(items.collect()));
        for (i, (_, _, users)) in ranges.iter().enumerate() {
            doc.note(&["spec", "hostPorts", &i.to_string()], needed_by(users));
        }
    }
}

fn volumes(usage: &Usage, spec: &mut Map<String, Value>, doc: &mut Document) {
    let types: Vec<&String> = usage.volumes.keys().collect();
    spec.insert("volumes".into(), json!(types));
    for (i, users) in usage.volumes.values().enumerate() {
        doc.note(&["spec", "volumes", &i.to_string()], needed_by(users));
    }
    if usage.volumes.contains_key("hostPath") {
        if usage.unnamed_host_paths.is_empty() {
            host_paths(usage, spec, doc);
        } else {
            doc.note(
                &["spec", "volumes", &hostpath_index(usage)],
                format!(
                    "needed by: {}; allowedHostPaths is left out (every host path): {} mount a filesystem no path prefix can name",
                    who(&usage.volumes["hostPath"]),
                    who(&usage.unnamed_host_paths)
                ),
            );
        }
    }
    if !usage.flex_drivers.is_empty() {
        let drivers = usage.flex_drivers.keys().map(|d| json!({"driver": d}));
        spec.insert("allowedFlexVolumes".into(), Value::Array(drivers.collect()));
        for (i, users) in usage.flex_drivers.values().enumerate() {
            doc.note(
                &["spec", "allowedFlexVolumes", &i.to_string()],
                needed_by(users),
            );
        }
    }
    if !usage.csi_drivers.is_empty() && usage.unknown_csi_driver.is_empty() {
        let drivers = usage.csi_drivers.keys().map(|d| json!({"name": d}));
        spec.insert("allowedCSIDrivers".into(), Value::Array(drivers.collect()));
        for (i, users) in usage.csi_drivers.values().enumerate() {
            doc.note(
                &["spec", "allowedCSIDrivers", &i.to_string()],
                needed_by(users),
            );
        }
    }
}

fn hostpath_index(usage: &Usage) -> String {
    usage
        .volumes
        .keys()
        .position(|t| t == "hostPath")
        .unwrap_or(0)
        .to_string()
}

/// One entry per host path used, read-only where every use is.
fn host_paths(usage: &Usage, spec: &mut Map<String, Value>, doc: &mut Document) {
    let mut items = Vec::new();
    for (i, (path, uses)) in usage.host_paths.iter().enumerate() {
        let mut item = json!({"pathPrefix": path});
        let index = i.to_string();
        if uses.writable.is_empty() {
            item["readOnly"] = json!(true);
            doc.note(
                &["spec", "allowedHostPaths", &index],
                needed_by(&uses.read_only),
            );
        } else {
            let mut note = format!("needed writable by: {}", who(&uses.writable));
            if !uses.read_only.is_empty() {
                note.push_str(&format!("; read-only by: {}", who(&uses.read_only)));
            }
            doc.note(&["spec", "allowedHostPaths", &index], note);
        }
        items.push(item);
    }
    spec.insert("allowedHostPaths".into(), Value::Array(items));
}

fn identity(usage: &Usage, spec: &mut Map<String, Value>, doc: &mut Document) {
    must_run_as(spec, doc, "runAsUser", &usage.uids);
    must_run_as(spec, doc, "runAsGroup", &usage.gids);
    for field in ["supplementalGroups", "fsGroup"] {
        if usage.supplemental_gids.is_empty() {
            // MustRunAs needs a range; the primary gids are already admitted.
            must_run_as(spec, doc, field, &usage.gids);
            doc.note(
                &["spec", field],
                "no container has supplementary groups: the primary gids' ranges (MustRunAs needs one)",
            );
        } else {
            must_run_as(spec, doc, field, &usage.supplemental_gids);
        }
    }
    spec.insert(
        "readOnlyRootFilesystem".into(),
        json!(usage.writable_root.is_empty()),
    );
    if !usage.writable_root.is_empty() {
        doc.note(
            &["spec", "readOnlyRootFilesystem"],
            format!("writable root needed by: {}", who(&usage.writable_root)),
        );
    }
    spec.insert(
        "allowPrivilegeEscalation".into(),
        json!(!usage.escalation.is_empty()),
    );
    if !usage.escalation.is_empty() {
        doc.note(
            &["spec", "allowPrivilegeEscalation"],
            format!("no noNewPrivileges: {}", who(&usage.escalation)),
        );
    }
    spec.insert("seLinux".into(), selinux(usage, doc));
}

/// `{rule: MustRunAs, ranges: [...]}` of the ids seen, adjacent ids coalesced.
fn must_run_as(
    spec: &mut Map<String, Value>,
    doc: &mut Document,
    field: &str,
    ids: &BTreeMap<u32, Labels>,
) {
    let ranges = coalesce(ids);
    let items = ranges
        .iter()
        .map(|(min, max, _)| json!({"min": min, "max": max}));
    spec.insert(
        field.into(),
        json!({"rule": "MustRunAs", "ranges": items.collect::<Vec<_>>()}),
    );
    for (i, (_, _, users)) in ranges.iter().enumerate() {
        doc.note(&["spec", field, "ranges", &i.to_string()], needed_by(users));
    }
}

/// Ids into inclusive ranges of consecutive ids, with their users.
pub fn coalesce(ids: &BTreeMap<u32, Labels>) -> Vec<(u32, u32, Labels)> {
    let mut ranges: Vec<(u32, u32, Labels)> = Vec::new();
    for (&id, users) in ids {
        match ranges.last_mut() {
            Some((_, max, all)) if max.checked_add(1) == Some(id) => {
                *max = id;
                all.extend(users.iter().cloned());
            }
            _ => ranges.push((id, id, users.clone())),
        }
    }
    ranges
}

/// MustRunAs with the label fields every container agrees on; RunAsAny when
/// a container has no label or they agree on nothing.
fn selinux(usage: &Usage, doc: &mut Document) -> Value {
    let any = json!({"rule": "RunAsAny"});
    if !usage.no_selinux_label.is_empty() || usage.selinux_labels.is_empty() {
        return any;
    }
    let labels: Vec<[Option<&str>; 4]> = usage.selinux_labels.keys().map(|l| split(l)).collect();
    let mut options = Map::new();
    for (i, key) in ["user", "role", "type", "level"].into_iter().enumerate() {
        let first = labels[0][i];
        if first.is_some() && labels.iter().all(|l| l[i] == first) {
            options.insert(key.into(), json!(first));
        }
    }
    if options.is_empty() {
        doc.note(
            &["spec", "seLinux"],
            "the containers' SELinux labels share no field",
        );
        return any;
    }
    let all: Labels = usage.selinux_labels.values().flatten().cloned().collect();
    doc.note(
        &["spec", "seLinux"],
        format!("the label fields shared by: {}", who(&all)),
    );
    json!({"rule": "MustRunAs", "seLinuxOptions": options})
}

/// `user:role:type:level` (the level may hold colons); empty fields are `None`.
fn split(label: &str) -> [Option<&str>; 4] {
    let mut parts = label
        .splitn(4, ':')
        .map(|p| Some(p.trim()).filter(|p| !p.is_empty()));
    let mut next = || parts.next().flatten();
    [next(), next(), next(), next()]
}

/// The exact set of capabilities used: every other one is dropped
/// (`requiredDropCapabilities: [ALL]`, which also empties the runtime's
/// default set), the used ones are allowed by name.
fn capabilities(usage: &Usage, spec: &mut Map<String, Value>, doc: &mut Document) {
    spec.insert("requiredDropCapabilities".into(), json!(["ALL"]));
    // Each by name: a known one as PSP manifests name it, one this build
    // does not know (runc ignores it) as written, which the policy loader
    // takes by name. A name no policy can spell is left out, and said.
    let mut allowed: Vec<&str> = Vec::new();
    for (cap, users) in &usage.capabilities {
        let name = if known(cap) {
            bare(cap)
        } else if crate::policy::load::kernel_form(cap) {
            cap.as_str()
        } else {
            doc.note(
                &["spec", "requiredDropCapabilities", "0"],
                format!(
                    "{cap:?} ({}) is no capability name a policy can hold; runc ignores it, but the hook denies a container asking for it",
                    needed_by(users)
                ),
            );
            continue;
        };
        doc.note(
            &["spec", "allowedCapabilities", &allowed.len().to_string()],
            if known(cap) {
                needed_by(users)
            } else {
                format!(
                    "{}; no capability this build knows (runc ignores it)",
                    needed_by(users)
                )
            },
        );
        allowed.push(name);
    }
    if !allowed.is_empty() {
        spec.insert("allowedCapabilities".into(), json!(allowed));
    }
}

/// `NET_ADMIN` for `CAP_NET_ADMIN`, as PSP manifests name them.
fn bare(cap: &str) -> &str {
    cap.strip_prefix("CAP_").unwrap_or(cap)
}

fn known(cap: &str) -> bool {
    caps::all().iter().any(|c| c.to_string() == cap)
}

fn kernel(usage: &Usage, spec: &mut Map<String, Value>, doc: &mut Document) {
    let mut proc_types = vec!["Default"];
    if !usage.unmasked_proc.is_empty() {
        proc_types.push("Unmasked");
        doc.note(
            &["spec", "allowedProcMountTypes", "1"],
            needed_by(&usage.unmasked_proc),
        );
    }
    spec.insert("allowedProcMountTypes".into(), json!(proc_types));
    if !usage.unsafe_sysctls.is_empty() {
        let names: Vec<&String> = usage.unsafe_sysctls.keys().collect();
        spec.insert("allowedUnsafeSysctls".into(), json!(names));
        for (i, users) in usage.unsafe_sysctls.values().enumerate() {
            doc.note(
                &["spec", "allowedUnsafeSysctls", &i.to_string()],
                needed_by(users),
            );
        }
    }
}

/// The seccomp and AppArmor `allowedProfileNames` annotations.
fn profiles(usage: &Usage, doc: &mut Document) -> Map<String, Value> {
    let mut annotations = Map::new();
    let seccomp = [
        ("runtime/default", &usage.seccomp_confined),
        ("unconfined", &usage.seccomp_unconfined),
    ];
    profile(&mut annotations, doc, psp::SECCOMP_ALLOWED, &seccomp);
    // Only where some container has a profile: a host without AppArmor
    // writes none, and the annotation would then only say `unconfined`.
    if !usage.apparmor_confined.is_empty() || !usage.apparmor_unconfined.is_empty() {
        let unconfined: Labels = usage
            .apparmor_unconfined
            .union(&usage.apparmor_unset)
            .cloned()
            .collect();
        let apparmor = [
            ("runtime/default", &usage.apparmor_confined),
            ("unconfined", &unconfined),
        ];
        profile(&mut annotations, doc, psp::APPARMOR_ALLOWED, &apparmor);
    }
    annotations
}

fn profile(
    annotations: &mut Map<String, Value>,
    doc: &mut Document,
    key: &str,
    names: &[(&str, &Labels)],
) {
    let used: Vec<&(&str, &Labels)> = names.iter().filter(|(_, l)| !l.is_empty()).collect();
    if used.is_empty() {
        return;
    }
    let value: Vec<&str> = used.iter().map(|(n, _)| *n).collect();
    annotations.insert(key.into(), json!(value.join(",")));
    let note: Vec<String> = used
        .iter()
        .map(|(n, l)| format!("{n} {}", needed_by(l)))
        .collect();
    doc.note(&["metadata", "annotations", key], note.join("; "));
}
