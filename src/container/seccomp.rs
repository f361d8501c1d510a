//! The seccomp profile: whether it confines the container, and if not, why.
//! One derivation, read by the `seccomp` check and by the facts alike.
//!
//! A profile confines when
//! - its default action stops a syscall (`SCMP_ACT_ERRNO`, `SCMP_ACT_KILL`,
//!   `SCMP_ACT_KILL_PROCESS`, `SCMP_ACT_KILL_THREAD`, `SCMP_ACT_TRAP`): any
//!   other action (`ALLOW`, `LOG`, `TRACE`, `NOTIFY`, one this build does not
//!   know) lets what the rules do not name through, or leaves it to someone
//!   else;
//! - no syscall goes to a host agent: no `SCMP_ACT_NOTIFY` (default or rule)
//!   and no `listenerPath`;
//! - its rules let through none of the syscalls ([`guarded`]) the runtimes'
//!   default profiles (moby's, containerd's) deny to a container without the
//!   capability that would need it (moby's, containerd's and
//!   containers/common's defaults on x86_64 all deny them): BPF, perf events,
//!   modules, `open_by_handle_at`, accounting, setting the clock,
//!   port I/O, `kcmp`, quotas, the host and domain name, `vhangup`, memory
//!   policy, keyrings, userfaultfd, io_uring, kexec, swap, page migration and
//!   the obsolete calls. A rule lets a
//!   syscall through when its action does not stop it (`SCMP_ACT_TRACE` too:
//!   a tracer in the container can let it run), whatever its `args`
//!   conditions: which arguments make these calls harmless is not something
//!   a condition on their integers can say (`>= 0` holds for all), and the
//!   runtimes' default profiles put none on them. A name is read as runc
//!   hands it to libseccomp, up to a NUL. The runtimes write a profile per
//!   container, with these rules for a container holding the capability
//!   (`CAP_SYS_ADMIN` for the namespace and mount calls): for such a
//!   container the rules of that capability are the runtime's own, and the
//!   `capabilities` check judges the capability.
//!
//! The Pod Security Standards read any `Localhost` profile as confining;
//! [`Profile::confines_as_pss`] is that reading (the rules are not inspected;
//! the default action and the host agent still are).

use super::CapabilitySets;
use super::oci;

/// Actions that stop a syscall.
const DENYING: [&str; 5] = [
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
];

const NOTIFY: &str = "SCMP_ACT_NOTIFY";

/// The capabilities with which every runtime's default profile allows
/// `name` (empty: they deny it to every container); `None` when `name` is
/// not one this build judges. Only what all of them deny counts: the
/// namespace and mount calls (`unshare`, `setns`, `clone`, `mount`, the new
/// mount API, `pivot_root`) and `keyctl` are allowed to every container by
/// containers/common's profile (podman, CRI-O's RuntimeDefault), so a
/// profile allowing them confines as much as a runtime default does. Nor is
/// `chroot`: CRI-O's profile for a pod's infra container allows it without
/// CAP_SYS_CHROOT, which the kernel then asks for anyway.
fn allowed_with(name: &str) -> Option<&'static [&'static str]> {
    // Most names of a profile are none of these: the filter turns them away
    // before the table is searched (a profile holds ~380 names).
    if !MAYBE_GUARDED.may_hold(name) {
        return None;
    }
    GUARDED
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| GUARDED[i].1)
}

const SYS_ADMIN: &[&str] = &["CAP_SYS_ADMIN"];
const SYS_MODULE: &[&str] = &["CAP_SYS_MODULE"];
const SYS_PTRACE: &[&str] = &["CAP_SYS_PTRACE"];
const SYS_RAWIO: &[&str] = &["CAP_SYS_RAWIO"];
const SYS_TIME: &[&str] = &["CAP_SYS_TIME"];
const NONE: &[&str] = &[];

/// [`allowed_with`]'s table, sorted by name.
const GUARDED: &[(&str, &[&str])] = &[
    ("_sysctl", NONE),
    ("acct", &["CAP_SYS_PACCT"]),
    ("add_key", NONE),
    ("bpf", &["CAP_SYS_ADMIN", "CAP_BPF"]),
    ("clock_settime", SYS_TIME),
    ("create_module", NONE),
    ("delete_module", SYS_MODULE),
    ("finit_module", SYS_MODULE),
    ("get_kernel_syms", NONE),
    ("init_module", SYS_MODULE),
    ("io_uring_enter", NONE),
    ("io_uring_register", NONE),
    ("io_uring_setup", NONE),
    ("ioperm", SYS_RAWIO),
    ("iopl", SYS_RAWIO),
    ("kcmp", SYS_PTRACE),
    ("kexec_file_load", NONE),
    ("kexec_load", NONE),
    ("lookup_dcookie", SYS_ADMIN),
    ("migrate_pages", NONE),
    ("move_pages", NONE),
    ("nfsservctl", NONE),
    ("open_by_handle_at", &["CAP_DAC_READ_SEARCH"]),
    ("perf_event_open", &["CAP_SYS_ADMIN", "CAP_PERFMON"]),
    ("process_madvise", SYS_PTRACE),
    ("query_module", SYS_MODULE),
    ("quotactl", SYS_ADMIN),
    ("quotactl_fd", SYS_ADMIN),
    ("request_key", NONE),
    ("set_mempolicy_home_node", &["CAP_SYS_NICE"]),
    ("setdomainname", SYS_ADMIN),
    ("sethostname", SYS_ADMIN),
    ("settimeofday", SYS_TIME),
    ("swapoff", NONE),
    ("swapon", NONE),
    ("sysfs", NONE),
    ("uselib", NONE),
    ("userfaultfd", NONE),
    ("ustat", NONE),
    ("vhangup", &["CAP_SYS_TTY_CONFIG"]),
];

/// A filter of [`GUARDED`]'s names by length, first and last byte: a name it
/// does not hold is none of them.
struct NameFilter([u64; 4]);

impl NameFilter {
    const fn slot(name: &[u8]) -> usize {
        match name {
            [first, .., last] => (name.len() * 31 + *first as usize * 7 + *last as usize) % 256,
            _ => 0,
        }
    }

    const fn of(table: &[(&str, &[&str])]) -> NameFilter {
        let mut bits = [0u64; 4];
        let mut i = 0;
        while i < table.len() {
            let slot = NameFilter::slot(table[i].0.as_bytes());
            bits[slot / 64] |= 1 << (slot % 64);
            i += 1;
        }
        NameFilter(bits)
    }

    fn may_hold(&self, name: &str) -> bool {
        let slot = NameFilter::slot(name.as_bytes());
        self.0[slot / 64] & (1 << (slot % 64)) != 0
    }
}

const MAYBE_GUARDED: NameFilter = NameFilter::of(GUARDED);

/// A syscall whose rules this build judges (the parser keeps only these
/// names of a profile's rules).
pub fn guarded(name: &str) -> bool {
    allowed_with(name).is_some()
}

/// What makes a profile confine less than it should.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapKind {
    /// The default action lets through, or hands on, what no rule names.
    DefaultAction,
    /// Syscalls go to a host agent (`SCMP_ACT_NOTIFY`, `listenerPath`).
    Listener,
    /// Rules let through what the runtimes' default profiles deny.
    Rules,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub kind: GapKind,
    /// Described, for messages.
    pub why: String,
}

/// `linux.seccomp`, judged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    pub default_action: String,
    /// Why it does not confine; empty when it does.
    pub gaps: Vec<Gap>,
}

impl Profile {
    /// Judge `seccomp` for a container with `capabilities`.
    pub fn of(seccomp: &oci::Seccomp, capabilities: &CapabilitySets) -> Profile {
        let mut gaps = Vec::new();
        let default = &*seccomp.default_action;
        if !DENYING.contains(&default) {
            let why = match default {
                "SCMP_ACT_ALLOW" => "allows every syscall no rule names".to_string(),
                "SCMP_ACT_LOG" => "allows (and logs) every syscall no rule names".to_string(),
                "SCMP_ACT_TRACE" => "hands every syscall no rule names to a ptrace tracer, \
                                     which can let it run"
                    .to_string(),
                NOTIFY => "hands every syscall no rule names to a host agent".to_string(),
                _ => format!("is not one that stops a syscall ({})", DENYING.join(", ")),
            };
            gaps.push(Gap {
                kind: GapKind::DefaultAction,
                why: format!("default action {default} {why}"),
            });
        }

        let notified: usize = seccomp
            .syscalls
            .iter()
            .filter(|r| r.action == NOTIFY)
            .map(|r| r.name_count)
            .sum();
        let listener = seccomp.listener_path.as_deref().filter(|p| !p.is_empty());
        if notified > 0 || default == NOTIFY || listener.is_some() {
            let whom = match listener {
                Some(path) => format!("the host agent listening at {path} (listenerPath)"),
                None => "a host agent (no listenerPath)".to_string(),
            };
            let what = match notified {
                0 if default == NOTIFY => "syscalls".to_string(),
                0 => "the seccomp listener".to_string(),
                1 => "1 syscall (SCMP_ACT_NOTIFY)".to_string(),
                n => format!("{n} syscalls (SCMP_ACT_NOTIFY)"),
            };
            gaps.push(Gap {
                kind: GapKind::Listener,
                why: format!("the runtime hands {what} to {whom}, which decides for them"),
            });
        }

        let held = capabilities.all();
        let mut through: Vec<String> = Vec::new();
        for rule in &seccomp.syscalls {
            if DENYING.contains(&&*rule.action) || rule.action == NOTIFY {
                continue;
            }
            for name in &rule.names {
                let Some(with) = allowed_with(name) else {
                    continue;
                };
                if with.iter().any(|c| held.contains(c)) {
                    continue;
                }
                if !through.contains(&name.to_string()) {
                    through.push(name.to_string());
                }
            }
        }
        if !through.is_empty() {
            through.sort();
            gaps.push(Gap {
                kind: GapKind::Rules,
                why: format!(
                    "its rules allow what the runtimes' default profiles deny to a container \
                     without the capability that would need it: {}",
                    through.join(", ")
                ),
            });
        }
        Profile {
            default_action: default.to_string(),
            gaps,
        }
    }

    /// Every syscall is stopped unless the profile's rules let it through,
    /// none goes to a host agent, and the rules let through nothing the
    /// runtimes' default profiles deny to this container.
    pub fn confines(&self) -> bool {
        self.gaps.is_empty()
    }

    /// The Pod Security Standards' reading: any profile counts unless its
    /// default action lets syscalls through or a host agent decides for
    /// them; the rules are not inspected.
    pub fn confines_as_pss(&self) -> bool {
        self.gaps.iter().all(|g| g.kind == GapKind::Rules)
    }

    /// The reasons, for messages.
    pub fn describe_gaps(&self) -> String {
        self.gaps
            .iter()
            .map(|g| g.why.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    /// The profile of a container with `caps` in every set.
    fn judge(seccomp: &str, caps: &[&str]) -> Profile {
        let caps: Vec<String> = caps.iter().map(|c| format!("{c:?}")).collect();
        let caps = caps.join(",");
        let json = format!(
            r#"{{"process": {{"capabilities": {{"bounding": [{caps}], "effective": [{caps}],
                "permitted": [{caps}]}}}}, "linux": {{"seccomp": {seccomp}}}}}"#
        );
        let config = oci::parse(json.as_bytes()).unwrap();
        let process = config.process.unwrap();
        let sets = process.capabilities.unwrap().sets.map(|s| {
            s.unwrap_or_default()
                .into_iter()
                .map(|c| c.into_owned())
                .collect()
        });
        Profile::of(
            &config.linux.unwrap().seccomp.unwrap(),
            &CapabilitySets::new(sets),
        )
    }

    /// An ERRNO-default profile with these rules.
    fn rules(rules: &str) -> String {
        format!(r#"{{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{rules}]}}"#)
    }

    fn kinds(p: &Profile) -> Vec<GapKind> {
        p.gaps.iter().map(|g| g.kind).collect()
    }

    /// The runtimes' own rules that confine: containerd's and moby's clone
    /// with the namespace flags masked, clone3 answered ENOSYS.
    const CONTAINERD: &str = r#"{"names": ["read", "write", "socket"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}"#;

    #[test]
    fn deny_by_default_with_the_runtimes_rules_confines() {
        let p = judge(&rules(CONTAINERD), &[]);
        assert!(p.confines() && p.confines_as_pss(), "{p:?}");
        assert_eq!(p.default_action, "SCMP_ACT_ERRNO");
        for action in [
            "SCMP_ACT_KILL",
            "SCMP_ACT_KILL_PROCESS",
            "SCMP_ACT_KILL_THREAD",
            "SCMP_ACT_TRAP",
        ] {
            let p = judge(&format!(r#"{{"defaultAction": "{action}"}}"#), &[]);
            assert!(p.confines(), "{action}");
        }
    }

    #[test]
    fn default_actions_that_do_not_stop_a_call() {
        for (action, says) in [
            ("SCMP_ACT_ALLOW", "allows every syscall no rule names"),
            ("SCMP_ACT_LOG", "allows (and logs)"),
            ("SCMP_ACT_TRACE", "ptrace tracer"),
            ("SCMP_ACT_USER_NOTIF", "is not one that stops a syscall"),
            ("SCMP_ACT_SOMETHING_NEW", "is not one that stops a syscall"),
        ] {
            let p = judge(
                &format!(r#"{{"defaultAction": "{action}", "syscalls": [{CONTAINERD}]}}"#),
                &[],
            );
            assert_eq!(kinds(&p), [GapKind::DefaultAction], "{action}");
            assert!(!p.confines_as_pss(), "{action}");
            let why = p.describe_gaps();
            assert!(
                why.starts_with(&format!("default action {action} ")),
                "{why}"
            );
            assert!(why.contains(says), "{why}");
        }
    }

    #[test]
    fn a_host_agent_deciding_is_not_confinement() {
        let p = judge(
            r#"{"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/run/agent.sock"}"#,
            &[],
        );
        assert_eq!(kinds(&p), [GapKind::DefaultAction, GapKind::Listener]);
        assert!(p.describe_gaps().contains("/run/agent.sock"), "{p:?}");

        let p = judge(
            &format!(
                r#"{{"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "/run/agent.sock",
                "syscalls": [{CONTAINERD}, {{"names": ["mount", "bpf", "getpid"],
                "action": "SCMP_ACT_NOTIFY"}}]}}"#
            ),
            &[],
        );
        assert_eq!(kinds(&p), [GapKind::Listener]);
        assert!(!p.confines() && !p.confines_as_pss());
        assert_eq!(
            p.describe_gaps(),
            "the runtime hands 3 syscalls (SCMP_ACT_NOTIFY) to the host agent listening at \
             /run/agent.sock (listenerPath), which decides for them"
        );
        // A listener named without a NOTIFY rule, and a NOTIFY rule without one.
        let p = judge(
            &format!(
                r#"{{"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "/a", "syscalls": [{CONTAINERD}]}}"#
            ),
            &[],
        );
        assert_eq!(kinds(&p), [GapKind::Listener]);
        let p = judge(
            &rules(r#"{"names": ["getpid"], "action": "SCMP_ACT_NOTIFY"}"#),
            &[],
        );
        assert!(p.describe_gaps().contains("no listenerPath"), "{p:?}");
        // Twin: an empty listenerPath names nothing.
        let p = judge(
            &format!(
                r#"{{"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "", "syscalls": [{CONTAINERD}]}}"#
            ),
            &[],
        );
        assert!(p.confines(), "{p:?}");
    }

    #[test]
    fn rules_letting_through_what_the_runtimes_deny() {
        for name in [
            "bpf",
            "add_key",
            "request_key",
            "userfaultfd",
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
            "perf_event_open",
            "kexec_load",
            "kexec_file_load",
            "init_module",
            "finit_module",
            "delete_module",
            "open_by_handle_at",
        ] {
            for action in ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"] {
                let p = judge(
                    &rules(&format!(
                        r#"{CONTAINERD}, {{"names": ["getpid", "{name}"], "action": "{action}"}}"#
                    )),
                    &[],
                );
                assert_eq!(kinds(&p), [GapKind::Rules], "{name} {action}");
                assert!(p.confines_as_pss());
                assert!(p.describe_gaps().contains(name), "{p:?}");
            }
            // Twins: denied by the rule, or not named at all.
            for action in ["SCMP_ACT_ERRNO", "SCMP_ACT_KILL_PROCESS"] {
                let p = judge(
                    &rules(&format!(
                        r#"{CONTAINERD}, {{"names": ["{name}"], "action": "{action}"}}"#
                    )),
                    &[],
                );
                assert!(p.confines(), "{name} {action}: {p:?}");
            }
        }
        // What containers/common's default profile allows every container
        // (podman, CRI-O) confines as much as a runtime default.
        let common = rules(
            r#"{"names": ["unshare", "setns", "mount", "clone", "clone3", "keyctl", "pivot_root"],
            "action": "SCMP_ACT_ALLOW"}"#,
        );
        assert!(judge(&common, &[]).confines());
        let p = judge(
            &rules(r#"{"names": ["userfaultfd", "bpf", "getpid"], "action": "SCMP_ACT_ALLOW"}"#),
            &[],
        );
        assert_eq!(
            p.describe_gaps(),
            "its rules allow what the runtimes' default profiles deny to a container without \
             the capability that would need it: bpf, userfaultfd"
        );
    }

    #[test]
    fn a_condition_does_not_narrow_a_rule_and_a_name_ends_at_a_nul() {
        let rule = |name: &str, args: &str| {
            rules(&format!(
                r#"{{"names": ["{name}"], "action": "SCMP_ACT_ALLOW", "args": [{args}]}}"#
            ))
        };
        // `>= 0` holds for every argument; `== 0` for some: both let calls through.
        for args in [
            r#"{"index": 0, "value": 0, "op": "SCMP_CMP_GE"}"#,
            r#"{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}"#,
            r#"{"index": 0, "value": 0, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}"#,
        ] {
            let p = judge(&rule("io_uring_setup", args), &[]);
            assert_eq!(kinds(&p), [GapKind::Rules], "{args}");
        }
        // runc hands `bpf\0x` to libseccomp as `bpf`
        let p = judge(
            &rules(r#"{"names": ["bpf\u0000x", "getpid\u0000"], "action": "SCMP_ACT_ALLOW"}"#),
            &[],
        );
        assert!(p.describe_gaps().ends_with(": bpf"), "{p:?}");
        // Twin: the same rules stopping the calls confine.
        let p = judge(
            &rules(r#"{"names": ["bpf\u0000x"], "action": "SCMP_ACT_ERRNO"}"#),
            &[],
        );
        assert!(p.confines(), "{p:?}");
    }

    #[test]
    fn the_table_is_sorted_and_filtered_right() {
        assert!(GUARDED.windows(2).all(|w| w[0].0 < w[1].0));
        for (name, _) in GUARDED {
            assert!(guarded(name), "{name}");
        }
        for name in [
            "read",
            "bp",
            "bpff",
            "kexec_loa",
            "",
            "clone",
            "unshare",
            "chroot",
        ] {
            assert!(!guarded(name), "{name}");
        }
    }

    #[test]
    fn the_calls_every_runtime_default_denies_without_a_capability() {
        let p = judge(
            &rules(
                r#"{"names": ["kcmp", "swapon", "settimeofday", "getpid"], "action": "SCMP_ACT_ALLOW"}"#,
            ),
            &[],
        );
        assert!(
            p.describe_gaps().ends_with(": kcmp, settimeofday, swapon"),
            "{p:?}"
        );
        let p = judge(
            &rules(r#"{"names": ["kcmp", "settimeofday"], "action": "SCMP_ACT_ALLOW"}"#),
            &["CAP_SYS_PTRACE", "CAP_SYS_TIME"],
        );
        assert!(p.confines(), "{p:?}");
    }

    #[test]
    fn the_capability_that_needs_them_makes_the_rules_the_runtimes_own() {
        let bpf = rules(r#"{"names": ["bpf", "perf_event_open"], "action": "SCMP_ACT_ALLOW"}"#);
        assert_eq!(kinds(&judge(&bpf, &[])), [GapKind::Rules]);
        assert!(judge(&bpf, &["CAP_SYS_ADMIN"]).confines());
        // CAP_BPF covers bpf alone
        let p = judge(&bpf, &["CAP_BPF"]);
        assert!(!p.describe_gaps().contains("bpf,"), "{p:?}");
        assert!(p.describe_gaps().contains("perf_event_open"), "{p:?}");
        let modules = rules(r#"{"names": ["init_module"], "action": "SCMP_ACT_ALLOW"}"#);
        assert!(!judge(&modules, &["CAP_SYS_ADMIN"]).confines());
        assert!(judge(&modules, &["CAP_SYS_MODULE"]).confines());
        // no capability makes userfaultfd the runtimes' own
        let uffd = rules(r#"{"names": ["userfaultfd"], "action": "SCMP_ACT_ALLOW"}"#);
        assert!(!judge(&uffd, &["CAP_SYS_ADMIN"]).confines());
    }

    /// Every runtime default profile of the fixtures (containerd's, podman's,
    /// the CRI shapes') confines.
    #[test]
    fn fixture_profiles() {
        let mut files = Vec::new();
        let mut dirs = vec![
            std::path::PathBuf::from("tests/fixtures"),
            std::path::PathBuf::from("tests/psa"),
        ];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "json") {
                    files.push(path);
                }
            }
        }
        files.sort();
        let mut judged = 0;
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            let Ok(config) = oci::parse(&bytes) else {
                continue;
            };
            if config.linux.and_then(|l| l.seccomp).is_none() {
                continue;
            }
            let name = file.display().to_string();
            let view = fixtures::view_of(&name, &bytes);
            let p = view.seccomp.as_ref().unwrap();
            assert!(p.confines(), "{name}: {}", p.describe_gaps());
            judged += 1;
        }
        assert!(judged >= 150, "{judged}");
    }
}
