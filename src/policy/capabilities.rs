//! Capabilities as the policy model reads them: what a runtime grants a
//! container that asks for none.

/// The capabilities a container runtime grants when the pod asks for none.
pub const RUNTIME_DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_AUDIT_WRITE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_MKNOD",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_RAW",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

/// Whether a capability a container holds is judged: a pod sandbox (pause)
/// keeps the runtime's default set whatever its pod's containers drop, so a
/// sandbox is judged only beyond that set.
pub fn judged_on(cap: &str, sandbox: bool) -> bool {
    !sandbox || !RUNTIME_DEFAULT_CAPABILITIES.contains(&cap)
}
