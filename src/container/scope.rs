//! Which containers a setting is judged on: a pod sandbox ("pause") carries
//! the pod's settings but not those a pod sets per container. Decided here
//! once, for the checks (each registered with its scope) and for `advise`
//! (which counts a container's facts where the checks judge them).

/// The containers a setting is judged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Pod-level settings (host namespaces, host ports, sysctls): every
    /// container, pod sandboxes included.
    Pod,
    /// Privileges no pod sandbox needs (devices, host mounts, unmasked /proc,
    /// capabilities beyond the runtime default set): judged on sandboxes too,
    /// so a sandbox annotation on some other container buys nothing beyond
    /// what a plain runtime-default container has.
    Floor,
    /// The container's own settings (user, profiles, no_new_privs): a pod
    /// sandbox does not carry them from the pod, so they are not judged there.
    Container,
}

impl Scope {
    /// Whether settings of this scope are judged on a container that is a
    /// pod sandbox (`sandbox`) or not.
    pub fn judged_on(self, sandbox: bool) -> bool {
        self != Scope::Container || !sandbox
    }
}
