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

/// The five capability sets of `process.capabilities`, and every capability
/// held in any of them with the sets holding it. Built once per container
/// ([`CapabilitySets::new`]); a check runs once per policy and only reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilitySets {
    held: Vec<Held>,
}

/// One capability the process holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// `CAP_X`.
    pub name: String,
    /// The sets holding it, in the spec's order (bounding, effective,
    /// inheritable, permitted, ambient), for messages: `the bounding,
    /// effective sets` / `the ambient set`.
    pub described: String,
}

/// The sets of `process.capabilities`, in the spec's order.
pub const SET_NAMES: [&str; 5] = [
    "bounding",
    "effective",
    "inheritable",
    "permitted",
    "ambient",
];

impl CapabilitySets {
    /// From the five sets in the spec's order (bounding, effective,
    /// inheritable, permitted, ambient), names normalized to `CAP_X`.
    /// n·log n in the number of names, whatever the config holds.
    pub fn new(sets: [Vec<String>; 5]) -> CapabilitySets {
        let mut all: Vec<(String, usize)> = sets
            .into_iter()
            .enumerate()
            .flat_map(|(i, names)| names.into_iter().map(move |n| (normalize(&n), i)))
            .collect();
        all.sort_unstable();
        all.dedup();
        // Sorted by name, then set: each name's run lists its sets in order.
        let held = all
            .chunk_by(|a, b| a.0 == b.0)
            .map(|run| {
                let sets: Vec<&str> = run.iter().map(|(_, set)| SET_NAMES[*set]).collect();
                let noun = if sets.len() > 1 { "sets" } else { "set" };
                Held {
                    name: run[0].0.clone(),
                    described: format!("the {} {noun}", sets.join(", ")),
                }
            })
            .collect();
        CapabilitySets { held }
    }

    /// Every capability in any set, each once, sorted by name.
    pub fn held(&self) -> &[Held] {
        &self.held
    }

    /// Every capability name in any set, each once, sorted.
    pub fn all(&self) -> Vec<&str> {
        self.held.iter().map(|h| h.name.as_str()).collect()
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
        let names = |list: &[&str]| list.iter().map(ToString::to_string).collect();
        let sets = CapabilitySets::new([
            names(&["kill", "CAP_CHOWN", "CAP_KILL"]),
            names(&["CAP_CHOWN"]),
            Vec::new(),
            Vec::new(),
            names(&["CAP_FUTURE_THING"]),
        ]);
        assert_eq!(sets.all(), ["CAP_CHOWN", "CAP_FUTURE_THING", "CAP_KILL"]);
        assert_eq!(sets.held()[0].described, "the bounding, effective sets");
        assert_eq!(sets.held()[1].described, "the ambient set");
    }
}
