//! Whether `/proc` (and `/sys`) keep the masks every runtime applies.
//!
//! The runtimes' Default proc mount masks some paths (`maskedPaths`) and
//! write-protects others (`readonlyPaths`). The entries that runc's,
//! containerd's, CRI-O's and podman's default lists all share are required;
//! a container missing any of them can reach what Default hides (a
//! `readonlyPaths` without `/proc/sys` leaves `kernel.core_pattern`
//! writable), so it counts as Unmasked. A path masked counts as read-only
//! too (masking is the stronger of the two). Entries are compared as
//! written: runc resolves them in the container (`/proc/net/../sys` is
//! `/proc/<pid>/sys` through the `/proc/net` link) and skips one that does
//! not exist, so only the exact path masks what it names.

/// In every runtime's default `maskedPaths`.
pub const REQUIRED_MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/firmware",
];

/// In every runtime's default `readonlyPaths`.
pub const REQUIRED_READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Why `/proc` is Unmasked (`None`: the Default masks are all there).
pub fn unmasked_reason(masked: &[String], readonly: &[String]) -> Option<String> {
    match (masked.is_empty(), readonly.is_empty()) {
        (true, true) => return Some("no maskedPaths/readonlyPaths".into()),
        (true, false) => return Some("no maskedPaths".into()),
        (false, true) => return Some("no readonlyPaths".into()),
        (false, false) => {}
    }
    let missing_masked: Vec<&str> = REQUIRED_MASKED
        .iter()
        .copied()
        .filter(|p| !masked.iter().any(|m| m == p))
        .collect();
    let missing_readonly: Vec<&str> = REQUIRED_READONLY
        .iter()
        .copied()
        .filter(|p| !readonly.iter().chain(masked).any(|m| m == p))
        .collect();
    let mut parts = Vec::new();
    if !missing_masked.is_empty() {
        parts.push(format!("maskedPaths lacks {}", missing_masked.join(", ")));
    }
    if !missing_readonly.is_empty() {
        parts.push(format!(
            "readonlyPaths lacks {}",
            missing_readonly.join(", ")
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_shared_defaults_are_default() {
        let masked = strings(REQUIRED_MASKED);
        let readonly = strings(REQUIRED_READONLY);
        assert_eq!(unmasked_reason(&masked, &readonly), None);
        // masking a read-only path is stronger
        let mut more = masked.clone();
        more.push("/proc/sys".into());
        let ro: Vec<String> = readonly
            .iter()
            .filter(|p| *p != "/proc/sys")
            .cloned()
            .collect();
        assert_eq!(unmasked_reason(&more, &ro), None);
    }

    #[test]
    fn anything_less_is_unmasked() {
        let masked = strings(REQUIRED_MASKED);
        let ro: Vec<String> = strings(REQUIRED_READONLY)
            .into_iter()
            .filter(|p| p != "/proc/sys")
            .collect();
        assert_eq!(
            unmasked_reason(&masked, &ro).as_deref(),
            Some("readonlyPaths lacks /proc/sys")
        );
        assert_eq!(
            unmasked_reason(&[], &[]).as_deref(),
            Some("no maskedPaths/readonlyPaths")
        );
        let reason = unmasked_reason(&strings(&["/proc/kcore"]), &strings(REQUIRED_READONLY));
        assert!(
            reason
                .unwrap()
                .starts_with("maskedPaths lacks /proc/acpi, /proc/keys")
        );
    }
}
