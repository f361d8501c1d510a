//! The checks: one file per PSP field family, each a function from (container
//! view, policy) to findings. [`REGISTRY`] lists them in the order their
//! findings are reported.

use crate::container::{ContainerView, Scope};
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
    /// Only whether the policy admits is asked (see [`until_denied`]): the
    /// first violation is kept by its field, without its message, and what
    /// cannot be verified is not kept (a policy that admits is judged again
    /// whole for the record).
    quiet: bool,
}

impl Findings {
    /// The checks build a message only when it is kept.
    pub fn deny<M: Into<String>>(&mut self, field: &'static str, message: impl FnOnce() -> M) {
        let message = self.kept(message);
        if self.quiet && self.violations.capacity() == 0 {
            // The first violation, where the checks stop, in a block its
            // size (a hundred policies judged leave their findings in memory).
            self.violations.reserve_exact(1);
        }
        self.violations.push(Violation { field, message });
    }

    pub fn unverified<M: Into<String>>(
        &mut self,
        field: &'static str,
        message: impl FnOnce() -> M,
    ) {
        if !self.quiet {
            self.unverified.push(Violation {
                field,
                message: message().into(),
            });
        }
    }

    fn kept<M: Into<String>>(&self, message: impl FnOnce() -> M) -> String {
        if self.quiet {
            String::new()
        } else {
            message().into()
        }
    }
}

pub type CheckFn = fn(&ContainerView, &Policy, &mut Findings);

pub struct Check {
    pub scope: Scope,
    pub run: CheckFn,
}

pub const REGISTRY: &[Check] = &[
    Check {
        scope: Scope::Floor,
        run: privileged::check,
    },
    Check {
        scope: Scope::Pod,
        run: host_namespaces::check,
    },
    Check {
        scope: Scope::Pod,
        run: host_ports::check,
    },
    Check {
        scope: Scope::Floor,
        run: volumes::check,
    },
    Check {
        scope: Scope::Floor,
        run: host_paths::check,
    },
    Check {
        scope: Scope::Container,
        run: read_only_root::check,
    },
    Check {
        scope: Scope::Container,
        run: run_as_user::check,
    },
    Check {
        scope: Scope::Container,
        run: run_as_group::check,
    },
    Check {
        scope: Scope::Container,
        run: groups::check,
    },
    Check {
        scope: Scope::Container,
        run: privilege_escalation::check,
    },
    Check {
        scope: Scope::Floor,
        run: capabilities::check,
    },
    Check {
        scope: Scope::Container,
        run: selinux::check,
    },
    Check {
        scope: Scope::Floor,
        run: proc_mount::check,
    },
    Check {
        scope: Scope::Pod,
        run: sysctls::check,
    },
    Check {
        scope: Scope::Container,
        run: seccomp::check,
    },
    Check {
        scope: Scope::Container,
        run: apparmor::check,
    },
];

/// Run every check that applies to this container against one policy.
pub fn evaluate(view: &ContainerView, policy: &Policy) -> Findings {
    judge(view, policy, false, |_| true)
}

/// [`evaluate`] with the checks of the scopes `only` keeps.
pub fn evaluate_scopes(
    view: &ContainerView,
    policy: &Policy,
    only: impl Fn(Scope) -> bool,
) -> Findings {
    judge(view, policy, false, only)
}

/// Whether the policy admits: the checks run until the first that denies,
/// and the findings keep that violation's field, not its message, and
/// nothing unverified.
pub fn until_denied(view: &ContainerView, policy: &Policy) -> Findings {
    judge(view, policy, true, |_| true)
}

fn judge(
    view: &ContainerView,
    policy: &Policy,
    stop_at_denial: bool,
    only: impl Fn(Scope) -> bool,
) -> Findings {
    let mut findings = Findings {
        quiet: stop_at_denial,
        ..Findings::default()
    };
    for check in REGISTRY {
        if check.scope.judged_on(view.identity.sandbox) && only(check.scope) {
            (check.run)(view, policy, &mut findings);
            if stop_at_denial && !findings.violations.is_empty() {
                break;
            }
        }
    }
    findings
}
