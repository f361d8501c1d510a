//! The parts of config.json the checks read, parsed straight from the bytes
//! (so errors carry line and column, and what no check reads is skipped
//! without being built).
//!
//! oci-spec's types are used where they are strict in the right way (root,
//! user, namespaces, id mappings, devices, device cgroup rules). Mounts are
//! read into [`Mount`], borrowing their strings from the bytes: a config may
//! hold thousands, and each is only looked at. Two parts are read leniently, because a runtime newer than this build may
//! write values oci-spec does not know yet: the capability sets (kept as
//! names, judged by name) and the seccomp profile (only its presence and
//! default action matter here).

use std::borrow::Cow;
use std::collections::HashMap;

use oci_spec::runtime::{
    LinuxDevice, LinuxDeviceCgroup, LinuxIdMapping, LinuxNamespace, Root, User,
};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config<'a> {
    pub root: Option<Root>,
    #[serde(borrow)]
    pub mounts: Option<Vec<Mount<'a>>>,
    pub process: Option<Process>,
    pub linux: Option<Linux>,
    pub annotations: Option<HashMap<String, String>>,
}

/// One entry of `mounts` (the runtime spec's fields the checks read;
/// `uidMappings`/`gidMappings` of idmapped mounts are not).
#[derive(Debug, Deserialize)]
pub struct Mount<'a> {
    #[serde(borrow)]
    pub destination: Cow<'a, str>,
    #[serde(borrow, rename = "type")]
    pub typ: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub source: Option<Cow<'a, str>>,
    pub options: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    /// A missing user is uid 0, as runtimes start it.
    #[serde(default)]
    pub user: User,
    pub capabilities: Option<Capabilities>,
    pub no_new_privileges: Option<bool>,
    pub apparmor_profile: Option<String>,
    pub selinux_label: Option<String>,
}

/// The five sets, as names.
#[derive(Debug, Default, Deserialize)]
pub struct Capabilities {
    pub bounding: Option<Vec<String>>,
    pub effective: Option<Vec<String>>,
    pub inheritable: Option<Vec<String>>,
    pub permitted: Option<Vec<String>>,
    pub ambient: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    pub namespaces: Option<Vec<LinuxNamespace>>,
    pub uid_mappings: Option<Vec<LinuxIdMapping>>,
    pub sysctl: Option<HashMap<String, String>>,
    pub resources: Option<Resources>,
    pub devices: Option<Vec<LinuxDevice>>,
    /// Absent or null: unconfined.
    pub seccomp: Option<Seccomp>,
    pub rootfs_propagation: Option<String>,
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Resources {
    pub devices: Option<Vec<LinuxDeviceCgroup>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seccomp {
    pub default_action: String,
}

/// Parse config.json; the error says whether it is not JSON at all or JSON
/// that does not follow the runtime spec, with the line and column.
pub fn parse(bytes: &[u8]) -> Result<Config<'_>, String> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Err(e) => format!("not valid JSON: {e}"),
                Ok(_) => "not a JSON object".to_string(),
            },
        );
    }
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => format!("does not follow the OCI runtime spec: {e}"),
        _ => format!("not valid JSON: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_capabilities_and_seccomp_actions_are_read_by_name() {
        let c = parse(br#"{"process": {"capabilities": {"bounding": ["CAP_FUTURE_THING"]}},
            "linux": {"seccomp": {"defaultAction": "SCMP_ACT_SOMETHING_NEW", "flags": ["NEW"],
            "architectures": ["SCMP_ARCH_NEW"], "syscalls": [{"names": ["x"], "action": "NEW"}]}}}"#)
        .unwrap();
        let caps = c.process.unwrap().capabilities.unwrap();
        assert_eq!(caps.bounding.unwrap(), ["CAP_FUTURE_THING"]);
        assert_eq!(
            c.linux.unwrap().seccomp.unwrap().default_action,
            "SCMP_ACT_SOMETHING_NEW"
        );
    }

    #[test]
    fn errors_say_what_and_where() {
        assert!(
            parse(b"ociVersion: 1")
                .unwrap_err()
                .starts_with("not valid JSON: ")
        );
        assert_eq!(parse(b"[1, 2]").unwrap_err(), "not a JSON object");
        let e = parse(b"{\n \"process\": {\"user\": {\"uid\": \"root\"}}}").unwrap_err();
        assert!(
            e.starts_with("does not follow the OCI runtime spec: invalid type: string \"root\""),
            "{e}"
        );
        assert!(e.ends_with("line 2 column 35"), "{e}");
        let e = parse(b"{\"linux\": {\"seccomp\": {\"syscalls\": []}}}").unwrap_err();
        assert!(e.contains("missing field `defaultAction`"), "{e}");
    }
}
