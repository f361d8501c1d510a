//! Capability sets of the container process, kept as names.
//!
//! Names stay strings (normalized to `CAP_X`) so that a capability newer than
//! this build is still judged by its name instead of failing to parse.

/// Normalize a capability name: upper case with the `CAP_` prefix.
pub fn normalize(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// The five capability sets of `process.capabilities`, each sorted and
/// without duplicates (the view builder keeps them so: a config with
/// thousands of names is judged in n·log n, not n²).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilitySets {
    pub bounding: Vec<String>,
    pub effective: Vec<String>,
    pub inheritable: Vec<String>,
    pub permitted: Vec<String>,
    pub ambient: Vec<String>,
}

impl CapabilitySets {
    /// Every capability in any set, each once, sorted.
    pub fn all(&self) -> Vec<String> {
        let mut all: Vec<String> = [
            &self.bounding,
            &self.effective,
            &self.inheritable,
            &self.permitted,
            &self.ambient,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        all.sort();
        all.dedup();
        all
    }

    /// The names of the sets holding `cap`, for messages.
    pub fn sets_holding(&self, cap: &str) -> Vec<&'static str> {
        [
            ("bounding", &self.bounding),
            ("effective", &self.effective),
            ("inheritable", &self.inheritable),
            ("permitted", &self.permitted),
            ("ambient", &self.ambient),
        ]
        .into_iter()
        .filter(|(_, set)| set.binary_search_by(|c| c.as_str().cmp(cap)).is_ok())
        .map(|(name, _)| name)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_with_and_without_prefix() {
        assert_eq!(normalize("net_admin"), "CAP_NET_ADMIN");
        assert_eq!(normalize("CAP_SYS_ADMIN"), "CAP_SYS_ADMIN");
        assert_eq!(normalize("cap_bpf"), "CAP_BPF");
    }

    #[test]
    fn all_merges_every_set() {
        let sets = CapabilitySets {
            bounding: vec!["CAP_CHOWN".into(), "CAP_KILL".into()],
            ambient: vec!["CAP_FUTURE_THING".into()],
            effective: vec!["CAP_CHOWN".into()],
            ..Default::default()
        };
        assert_eq!(sets.all(), ["CAP_CHOWN", "CAP_FUTURE_THING", "CAP_KILL"]);
        assert_eq!(sets.sets_holding("CAP_CHOWN"), ["bounding", "effective"]);
    }
}
