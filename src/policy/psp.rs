//! The PodSecurityPolicy manifest as Kubernetes defines it
//! (`policy/v1beta1` and `extensions/v1beta1`), strictly: an unknown field is
//! an error. Values that need checking keep their source location
//! ([`Spanned`]) so an error can name the line.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

pub const API_VERSIONS: &[&str] = &["policy/v1beta1", "extensions/v1beta1"];
pub const KIND: &str = "PodSecurityPolicy";

pub const SECCOMP_ALLOWED: &str = "seccomp.security.alpha.kubernetes.io/allowedProfileNames";
pub const SECCOMP_DEFAULT: &str = "seccomp.security.alpha.kubernetes.io/defaultProfileName";
pub const APPARMOR_ALLOWED: &str = "apparmor.security.beta.kubernetes.io/allowedProfileNames";
pub const APPARMOR_DEFAULT: &str = "apparmor.security.beta.kubernetes.io/defaultProfileName";

/// Just enough of any document to tell what it is.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    pub api_version: Option<Spanned<String>>,
    pub kind: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    #[allow(dead_code)]
    pub api_version: String,
    #[allow(dead_code)]
    pub kind: String,
    pub metadata: Metadata,
    pub spec: Spec,
}

/// ObjectMeta: the fields kubectl prints are accepted; only name and
/// annotations mean anything here.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    pub name: Spanned<String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, Spanned<String>>,
    pub labels: Option<IgnoredAny>,
    pub namespace: Option<IgnoredAny>,
    pub uid: Option<IgnoredAny>,
    pub resource_version: Option<IgnoredAny>,
    pub generation: Option<IgnoredAny>,
    pub creation_timestamp: Option<IgnoredAny>,
    pub deletion_timestamp: Option<IgnoredAny>,
    pub deletion_grace_period_seconds: Option<IgnoredAny>,
    pub self_link: Option<IgnoredAny>,
    pub generate_name: Option<IgnoredAny>,
    pub managed_fields: Option<IgnoredAny>,
    pub finalizers: Option<IgnoredAny>,
    pub owner_references: Option<IgnoredAny>,
}

/// PodSecurityPolicySpec.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spec {
    pub privileged: Option<bool>,
    pub default_add_capabilities: Option<Vec<Spanned<String>>>,
    pub required_drop_capabilities: Option<Vec<Spanned<String>>>,
    pub allowed_capabilities: Option<Vec<Spanned<String>>>,
    pub volumes: Option<Vec<Spanned<String>>>,
    #[serde(rename = "hostNetwork")]
    pub host_network: Option<bool>,
    pub host_ports: Option<Vec<Spanned<PortRange>>>,
    #[serde(rename = "hostPID")]
    pub host_pid: Option<bool>,
    #[serde(rename = "hostIPC")]
    pub host_ipc: Option<bool>,
    #[serde(rename = "seLinux")]
    pub se_linux: Option<Spanned<SeLinuxStrategy>>,
    pub run_as_user: Option<Spanned<IdStrategy>>,
    pub run_as_group: Option<Spanned<IdStrategy>>,
    pub supplemental_groups: Option<Spanned<IdStrategy>>,
    pub fs_group: Option<Spanned<IdStrategy>>,
    pub read_only_root_filesystem: Option<bool>,
    pub default_allow_privilege_escalation: Option<Spanned<bool>>,
    pub allow_privilege_escalation: Option<bool>,
    pub allowed_host_paths: Option<Vec<Spanned<AllowedHostPath>>>,
    pub allowed_flex_volumes: Option<Vec<AllowedFlexVolume>>,
    #[serde(rename = "allowedCSIDrivers")]
    pub allowed_csi_drivers: Option<Vec<AllowedCsiDriver>>,
    pub allowed_unsafe_sysctls: Option<Vec<Spanned<String>>>,
    pub forbidden_sysctls: Option<Vec<Spanned<String>>>,
    pub allowed_proc_mount_types: Option<Vec<Spanned<String>>>,
    pub runtime_class: Option<Spanned<RuntimeClassStrategy>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortRange {
    pub min: i64,
    pub max: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeLinuxStrategy {
    pub rule: Spanned<String>,
    #[serde(rename = "seLinuxOptions")]
    pub se_linux_options: Option<SeLinuxOptions>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeLinuxOptions {
    pub user: Option<String>,
    pub role: Option<String>,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub level: Option<String>,
}

/// RunAsUser-, RunAsGroup-, SupplementalGroups- and FSGroupStrategyOptions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdStrategy {
    pub rule: Option<Spanned<String>>,
    pub ranges: Option<Vec<Spanned<IdRange>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdRange {
    pub min: i64,
    pub max: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AllowedHostPath {
    pub path_prefix: String,
    pub read_only: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedFlexVolume {
    pub driver: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedCsiDriver {
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuntimeClassStrategy {
    #[allow(dead_code)]
    pub allowed_runtime_class_names: Vec<String>,
    #[allow(dead_code)]
    pub default_runtime_class_name: Option<String>,
}
