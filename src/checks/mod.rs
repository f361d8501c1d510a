//! The checks: one file per PSP field family, each a function from (container
//! view, policy) to findings. [`REGISTRY`] lists them in the order their
//! findings are reported.

use crate::container::ContainerView;
use crate::policy::Policy;

pub mod apparmor;
pub mod capabilities;
pub mod groups;
pub mod host_namespaces;
pub mod host_paths;
pub mod host_ports;
pub mod privilege_escalation;
pub mod privileged;
pub mod proc_mount;
pub mod read_only_root;
pub mod run_as_group;
pub mod run_as_user;
pub mod seccomp;
pub mod selinux;
pub mod sysctls;
pub mod volumes;

#[cfg(test)]
pub(crate) mod fixtures;

/// One policy field the container does not satisfy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// The PSP spec name of the field (`hostPID`, `runAsUser`, …).
    pub field: &'static str,
    /// What is wrong, with the offending value.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// What the checks found for one policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    pub violations: Vec<Violation>,
    /// Requirements of the policy that the node cannot verify for this
    /// container (said, never silently passed as enforced).
    pub unverified: Vec<Violation>,
}

impl Findings {
    pub fn deny(&mut self, field: &'static str, message: impl Into<String>) {
        self.violations.push(Violation {
            field,
            message: message.into(),
        });
    }

    pub fn unverified(&mut self, field: &'static str, message: impl Into<String>) {
        self.unverified.push(Violation {
            field,
            message: message.into(),
        });
    }
}

pub type CheckFn = fn(&ContainerView, &Policy, &mut Findings);

pub struct Check {
    pub name: &'static str,
    /// Applies to pod sandbox (pause) containers too: they carry only the
    /// pod-level settings (host namespaces, sysctls).
    pub pod_level: bool,
    pub run: CheckFn,
}

pub const REGISTRY: &[Check] = &[
    Check {
        name: "privileged",
        pod_level: false,
        run: privileged::check,
    },
    Check {
        name: "host_namespaces",
        pod_level: true,
        run: host_namespaces::check,
    },
    Check {
        name: "host_ports",
        pod_level: true,
        run: host_ports::check,
    },
    Check {
        name: "volumes",
        pod_level: false,
        run: volumes::check,
    },
    Check {
        name: "host_paths",
        pod_level: false,
        run: host_paths::check,
    },
    Check {
        name: "read_only_root",
        pod_level: false,
        run: read_only_root::check,
    },
    Check {
        name: "run_as_user",
        pod_level: false,
        run: run_as_user::check,
    },
    Check {
        name: "run_as_group",
        pod_level: false,
        run: run_as_group::check,
    },
    Check {
        name: "groups",
        pod_level: false,
        run: groups::check,
    },
    Check {
        name: "privilege_escalation",
        pod_level: false,
        run: privilege_escalation::check,
    },
    Check {
        name: "capabilities",
        pod_level: false,
        run: capabilities::check,
    },
    Check {
        name: "selinux",
        pod_level: false,
        run: selinux::check,
    },
    Check {
        name: "proc_mount",
        pod_level: false,
        run: proc_mount::check,
    },
    Check {
        name: "sysctls",
        pod_level: true,
        run: sysctls::check,
    },
    Check {
        name: "seccomp",
        pod_level: false,
        run: seccomp::check,
    },
    Check {
        name: "apparmor",
        pod_level: false,
        run: apparmor::check,
    },
];

/// Run every check that applies to this container against one policy.
pub fn evaluate(view: &ContainerView, policy: &Policy) -> Findings {
    let mut findings = Findings::default();
    for check in REGISTRY {
        if check.pod_level || !view.identity.sandbox {
            (check.run)(view, policy, &mut findings);
        }
    }
    findings
}
