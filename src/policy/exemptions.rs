//! Exemptions of the HookConfiguration: containers admitted whatever their
//! policies say, by who they are.
//!
//! ```yaml
//! exemptions:
//! - namespaces: [monitoring]                          # every field given must match
//!   images: ["registry.example/node-exporter:*"]      # glob, or sha256:<64 hex>
//! - namespaces: [dev]
//!   containerNames: [debugger]
//! ```
//!
//! A container matching any rule is admitted; the first matching rule is
//! recorded. Each field is matched against what the hook can trust (see
//! [`revealed`]); a field the runtime does not reveal for a container never
//! matches, and the record says so where that field alone kept a rule from
//! matching.

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::load::{At, PolicyError};
use crate::container::ContainerView;

/// One rule as written; validated into a [`Rule`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RawRule {
    namespaces: Option<Vec<Spanned<String>>>,
    images: Option<Vec<Spanned<String>>>,
    container_names: Option<Vec<Spanned<String>>>,
    runtime_handlers: Option<Vec<Spanned<String>>>,
}

/// One rule: every non-empty list must have an entry matching the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub namespaces: Vec<String>,
    pub images: Vec<ImagePattern>,
    pub container_names: Vec<String>,
    pub runtime_handlers: Vec<String>,
}

/// An `images` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImagePattern {
    /// A glob on the image name (see [`glob_matches`]).
    Glob(String),
    /// `sha256:<64 lowercase hex>`: the image's id or a digest it was named by.
    Digest(String),
}

/// A rule that admitted a container, and what of the container matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exemption {
    /// `exemptions[N]`.
    pub rule: String,
    pub index: usize,
    /// `namespace monitoring`, `image registry.example/node-exporter:v1`…
    pub matched: Vec<String>,
}

/// What the exemptions say of one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Judgement {
    pub exempt: Option<Exemption>,
    /// Rules whose revealed fields all matched but which asked for a field
    /// the runtime does not reveal for this container, each with why.
    pub not_revealed: Vec<String>,
}

/// Validate the `exemptions` list of a configuration file.
pub(super) fn parse(at: &At, raw: &[Spanned<RawRule>]) -> Result<Vec<Rule>, PolicyError> {
    raw.iter()
        .enumerate()
        .map(|(i, r)| parse_rule(at, i, r))
        .collect()
}

fn parse_rule(at: &At, i: usize, raw: &Spanned<RawRule>) -> Result<Rule, PolicyError> {
    let field = |name: &str| format!("exemptions[{i}].{name}");
    let r = &raw.value;
    if r.namespaces.is_none()
        && r.images.is_none()
        && r.container_names.is_none()
        && r.runtime_handlers.is_none()
    {
        return Err(at.spanned(
            raw,
            &format!("exemptions[{i}]"),
            "names no field: a rule needs at least one of namespaces, images, containerNames, \
             runtimeHandlers (a rule of nothing would exempt every container)",
        ));
    }
    let name = |v: &str, what: &str| dns_label(v, what).map(|()| v.to_string());
    Ok(Rule {
        namespaces: entries(at, raw, &field("namespaces"), &r.namespaces, |v| {
            name(v, "namespace")
        })?,
        images: entries(at, raw, &field("images"), &r.images, image_pattern)?,
        container_names: entries(at, raw, &field("containerNames"), &r.container_names, |v| {
            name(v, "container name")
        })?,
        runtime_handlers: entries(
            at,
            raw,
            &field("runtimeHandlers"),
            &r.runtime_handlers,
            |v| name(v, "RuntimeClass handler"),
        )?,
    })
}

/// The entries of one field of rule `raw`, each validated by `each`; a
/// field given empty is an error (it could match nothing).
fn entries<T>(
    at: &At,
    raw: &Spanned<RawRule>,
    field: &str,
    items: &Option<Vec<Spanned<String>>>,
    each: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, PolicyError> {
    let Some(items) = items else {
        return Ok(Vec::new());
    };
    if items.is_empty() {
        return Err(at.spanned(
            raw,
            field,
            "is empty: name at least one entry, or leave the field out",
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(j, item)| {
            each(&item.value).map_err(|why| at.spanned(item, &format!("{field}[{j}]"), why))
        })
        .collect()
}

/// Namespaces, container names and RuntimeClass handlers are DNS labels in
/// Kubernetes; anything else could never match.
fn dns_label(value: &str, what: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{value:?} is not a {what} (a DNS label: 1 to 63 of a-z, 0-9 and '-', starting and \
             ending with a letter or digit; matched exactly, no wildcards)"
        ))
    }
}

/// An `images` entry: a digest `sha256:<64 hex>`, or a glob of the
/// characters of image references and `*`, `**`, `?`.
fn image_pattern(value: &str) -> Result<ImagePattern, String> {
    if let Some(hex) = value.strip_prefix("sha256:") {
        return if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(ImagePattern::Digest(value.to_string()))
        } else {
            Err(format!(
                "{value:?} is not a digest: sha256: and 64 lowercase hex digits (a digest is \
                 matched whole, no wildcards)"
            ))
        };
    }
    if value.is_empty() {
        return Err("is empty: name an image glob or a digest".into());
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-/:@*?".contains(*c)))
    {
        return Err(format!(
            "{value:?} has {c:?}, which is neither in an image name nor a wildcard (*, **, ?)"
        ));
    }
    if value.contains("***") {
        return Err(format!(
            "{value:?} has ***: a wildcard is *, ** or ? (say * or ** for what you mean)"
        ));
    }
    Ok(ImagePattern::Glob(value.to_string()))
}

/// Whether `name` matches `pattern` whole: `*` any run of characters but
/// `/`, `**` any run including `/`, `?` one character but `/`; the rest is
/// matched as is. (One pass over the name per pattern position: a pattern of
/// many stars cannot make it slow.)
fn glob_matches(pattern: &str, name: &str) -> bool {
    let p = pattern.as_bytes();
    let n = name.as_bytes();
    // reach[j]: the pattern so far can match the first j bytes of the name.
    let mut reach = vec![false; n.len() + 1];
    reach[0] = true;
    let mut i = 0;
    while i < p.len() {
        let mut next = vec![false; n.len() + 1];
        match p[i] {
            b'*' => {
                let any = p.get(i + 1) == Some(&b'*');
                let mut on = false;
                for j in 0..=n.len() {
                    on = reach[j] || (on && j > 0 && (any || n[j - 1] != b'/'));
                    next[j] = on;
                }
                if any {
                    i += 1;
                }
            }
            c => {
                for j in 1..=n.len() {
                    next[j] = reach[j - 1] && (n[j - 1] == c || (c == b'?' && n[j - 1] != b'/'));
                }
            }
        }
        reach = next;
        i += 1;
    }
    reach[n.len()]
}

/// A field of the container as the hook trusts it, or why it is not known.
enum Revealed<'a> {
    Value(&'a str),
    Not(&'static str),
}

const RUNTIME_HANDLER_HIDDEN: &str = "no supported runtime reveals the RuntimeClass handler \
     where a pod cannot write it: containerd writes none into config.json, CRI-O writes it in \
     the sandbox's only and copies the pod's annotations over it (and into every container)";

const NOT_CRI: &str = "the container was not created by a CRI runtime (containerd's CRI \
     plugin, CRI-O) in its own state directories: it has no Kubernetes identity";

/// The container's namespace, container name, image name, image digests and
/// RuntimeClass handler, each only as far as the hook can trust it.
fn revealed<'v>(view: &'v ContainerView, field: Field) -> Vec<Revealed<'v>> {
    let id = &view.identity;
    let one = |v: Option<&'v String>, why: &'static str| {
        vec![v.map_or(Revealed::Not(why), |v| Revealed::Value(v))]
    };
    match field {
        Field::Namespace => one(id.namespace.as_ref(), NOT_CRI),
        Field::ContainerName if id.sandbox => vec![Revealed::Not(
            "a pod sandbox has no container name (it runs the pod's pause image)",
        )],
        Field::ContainerName if id.namespace.is_some() => one(
            id.container.as_ref(),
            "the runtime wrote no container name where a pod cannot write it (CRI-O's \
             annotations count only for an app container its storage record shows: in a \
             sandbox's spec the pod's annotations and labels are written over CRI-O's)",
        ),
        Field::ContainerName => one(id.container.as_ref(), NOT_CRI),
        Field::ImageName => one(
            id.image.as_ref(),
            "the runtime wrote no image name where a pod or a local user cannot write it \
             (containerd's CRI annotations; CRI-O's for an app container its storage record \
             shows; podman's names are any local user's tags)",
        ),
        Field::ImageDigest => {
            let named = id
                .image
                .as_deref()
                .and_then(|n| n.rsplit_once('@'))
                .map(|(_, digest)| digest);
            let found: Vec<Revealed> = id
                .image_id
                .as_deref()
                .into_iter()
                .chain(named)
                .map(Revealed::Value)
                .collect();
            if found.is_empty() {
                vec![Revealed::Not(
                    "the image's id is known only from root's containers/storage records \
                     (podman, CRI-O) or an image named by digest",
                )]
            } else {
                found
            }
        }
        Field::RuntimeHandler => vec![Revealed::Not(RUNTIME_HANDLER_HIDDEN)],
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Namespace,
    ContainerName,
    ImageName,
    ImageDigest,
    RuntimeHandler,
}

/// How one field of a rule went.
enum Outcome {
    Matched(String),
    Missed,
    NotRevealed(String),
}

/// Whether any value revealed for `field` satisfies `accept`.
fn field_outcome(
    view: &ContainerView,
    field: Field,
    label: &str,
    accept: impl Fn(&str) -> bool,
) -> Outcome {
    let mut why = None;
    for r in revealed(view, field) {
        match r {
            Revealed::Value(v) if accept(v) => return Outcome::Matched(format!("{label} {v}")),
            Revealed::Value(_) => {}
            Revealed::Not(reason) => why = Some(reason),
        }
    }
    match why {
        Some(reason) => Outcome::NotRevealed(reason.to_string()),
        None => Outcome::Missed,
    }
}

impl Rule {
    /// Each given field's outcome, named as in the configuration.
    fn outcomes(&self, view: &ContainerView) -> Vec<(&'static str, Outcome)> {
        let mut out = Vec::new();
        if !self.namespaces.is_empty() {
            let o = field_outcome(view, Field::Namespace, "namespace", |v| {
                self.namespaces.iter().any(|n| n == v)
            });
            out.push(("namespaces", o));
        }
        if !self.container_names.is_empty() {
            let o = field_outcome(view, Field::ContainerName, "container", |v| {
                self.container_names.iter().any(|n| n == v)
            });
            out.push(("containerNames", o));
        }
        if !self.images.is_empty() {
            out.push(("images", self.image_outcome(view)));
        }
        if !self.runtime_handlers.is_empty() {
            let o = field_outcome(view, Field::RuntimeHandler, "runtimeHandler", |v| {
                self.runtime_handlers.iter().any(|n| n == v)
            });
            out.push(("runtimeHandlers", o));
        }
        out
    }

    /// An image matches by name (a glob) or by digest, whichever the
    /// pattern is; not revealed only when no kind that was revealed matched.
    fn image_outcome(&self, view: &ContainerView) -> Outcome {
        let globs: Vec<&str> = self.images.iter().filter_map(ImagePattern::glob).collect();
        let digests: Vec<&str> = self
            .images
            .iter()
            .filter_map(ImagePattern::digest)
            .collect();
        let mut not_revealed = Vec::new();
        for (field, patterns, accept) in [
            (
                Field::ImageName,
                &globs,
                glob_matches as fn(&str, &str) -> bool,
            ),
            (Field::ImageDigest, &digests, |d: &str, v: &str| d == v),
        ] {
            if patterns.is_empty() {
                continue;
            }
            let label = if field == Field::ImageName {
                "image"
            } else {
                "image digest"
            };
            match field_outcome(view, field, label, |v| {
                patterns.iter().any(|p| accept(p, v))
            }) {
                Outcome::Matched(m) => return Outcome::Matched(m),
                Outcome::NotRevealed(why) => not_revealed.push(why),
                Outcome::Missed => {}
            }
        }
        if not_revealed.is_empty() {
            Outcome::Missed
        } else {
            Outcome::NotRevealed(not_revealed.join("; "))
        }
    }
}

impl Rule {
    /// The rule as `lint` shows it: `namespaces [monitoring], images [...]`.
    pub fn describe(&self) -> String {
        let images: Vec<String> = self
            .images
            .iter()
            .map(|p| match p {
                ImagePattern::Glob(g) | ImagePattern::Digest(g) => g.clone(),
            })
            .collect();
        [
            ("namespaces", &self.namespaces),
            ("images", &images),
            ("containerNames", &self.container_names),
            ("runtimeHandlers", &self.runtime_handlers),
        ]
        .iter()
        .filter(|(_, l)| !l.is_empty())
        .map(|(name, l)| format!("{name} [{}]", l.join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
    }

    /// What an admin should know of the rule before relying on it.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if !self.runtime_handlers.is_empty() {
            notes.push(format!(
                "runtimeHandlers never match on containerd or CRI-O: {RUNTIME_HANDLER_HIDDEN}"
            ));
        }
        if self.namespaces.is_empty() && !self.container_names.is_empty() {
            notes.push(
                "no namespaces: any pod author, in any namespace, can name a container so"
                    .to_string(),
            );
        }
        if self.namespaces.is_empty() && self.images.iter().any(|p| p.glob().is_some()) {
            notes.push(
                "no namespaces: any pod author can run an image of that name, with any command \
                 and settings"
                    .to_string(),
            );
        }
        notes
    }
}

impl ImagePattern {
    fn glob(&self) -> Option<&str> {
        match self {
            ImagePattern::Glob(g) => Some(g),
            ImagePattern::Digest(_) => None,
        }
    }

    fn digest(&self) -> Option<&str> {
        match self {
            ImagePattern::Digest(d) => Some(d),
            ImagePattern::Glob(_) => None,
        }
    }
}

/// The first rule the container matches, and the rules only a field not
/// revealed kept from matching. Read from the view alone: no file, no
/// process, so an exemption costs a few comparisons per rule.
pub fn judge(rules: &[Rule], view: &ContainerView) -> Judgement {
    let mut judgement = Judgement::default();
    for (index, rule) in rules.iter().enumerate() {
        let outcomes = rule.outcomes(view);
        if outcomes.iter().any(|(_, o)| matches!(o, Outcome::Missed)) {
            continue;
        }
        let hidden: Vec<String> = outcomes
            .iter()
            .filter_map(|(name, o)| match o {
                Outcome::NotRevealed(why) => Some(format!("{name}: {why}")),
                _ => None,
            })
            .collect();
        if !hidden.is_empty() {
            judgement.not_revealed.push(format!(
                "exemptions[{index}] does not apply: {}",
                hidden.join("; ")
            ));
            continue;
        }
        judgement.exempt = Some(Exemption {
            rule: format!("exemptions[{index}]"),
            index,
            matched: outcomes
                .into_iter()
                .filter_map(|(_, o)| match o {
                    Outcome::Matched(m) => Some(m),
                    _ => None,
                })
                .collect(),
        });
        break;
    }
    judgement
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn globs() {
        let cases = [
            (
                "registry.example/node-exporter:*",
                "registry.example/node-exporter:v1.8",
                true,
            ),
            (
                "registry.example/node-exporter:*",
                "registry.example/node-exporter:",
                true,
            ),
            (
                "registry.example/node-exporter:*",
                "registry.example/node-exporter",
                false,
            ),
            ("registry.example/*", "registry.example/team/app:1", false),
            ("registry.example/**", "registry.example/team/app:1", true),
            ("registry.example/**:1", "registry.example/a/b/c:1", true),
            ("*/app:1", "evil.example/registry.example/app:1", false),
            ("**/app:1", "evil.example/registry.example/app:1", true),
            ("app:?", "app:1", true),
            ("app:?", "app:10", false),
            ("a?b", "a/b", false),
            ("nginx", "nginx", true),
            ("nginx", "nginx:1", false),
            ("nginx", "docker.io/library/nginx", false),
            ("*", "", true),
            ("**", "a/b", true),
            (
                "a*b*c*d*e*f*g*h",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                false,
            ),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(glob_matches(pattern, name), expected, "{pattern} ~ {name}");
        }
    }

    #[test]
    fn malformed_entries_say_why() {
        assert!(
            image_pattern("sha256:abc")
                .unwrap_err()
                .contains("not a digest")
        );
        let upper = format!("sha256:{}", "A".repeat(64));
        assert!(image_pattern(&upper).is_err());
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            image_pattern(&digest),
            Ok(ImagePattern::Digest(digest.clone()))
        );
        assert!(image_pattern("reg/app:[12]").unwrap_err().contains("'['"));
        assert!(image_pattern("reg/ app").is_err());
        assert!(image_pattern("reg/***").unwrap_err().contains("***"));
        assert!(image_pattern("").is_err());
        assert!(dns_label("Monitoring", "namespace").is_err());
        assert!(dns_label("team-*", "namespace").is_err());
        assert!(dns_label("-a", "namespace").is_err());
        assert!(dns_label(&"a".repeat(64), "namespace").is_err());
        assert!(dns_label("kube-system", "namespace").is_ok());
    }

    fn rule(namespaces: &[&str], images: &[&str], names: &[&str], handlers: &[&str]) -> Rule {
        let own = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        Rule {
            namespaces: own(namespaces),
            images: images.iter().map(|i| image_pattern(i).unwrap()).collect(),
            container_names: own(names),
            runtime_handlers: own(handlers),
        }
    }

    fn kubernetes(namespace: &str, container: &str, image: &str) -> ContainerView<'static> {
        let mut view = fixtures::view("podman-default");
        view.identity.namespace = Some(namespace.into());
        view.identity.pod = Some("pod-0".into());
        view.identity.container = Some(container.into());
        view.identity.image = Some(image.into());
        view
    }

    #[test]
    fn every_given_field_must_match() {
        let rules = [
            rule(
                &["monitoring"],
                &["registry.example/node-exporter:*"],
                &[],
                &[],
            ),
            rule(&["dev"], &[], &["debugger"], &[]),
        ];
        let exporter = kubernetes(
            "monitoring",
            "exporter",
            "registry.example/node-exporter:v1",
        );
        let j = judge(&rules, &exporter);
        let e = j.exempt.unwrap();
        assert_eq!(e.rule, "exemptions[0]");
        assert_eq!(
            e.matched,
            [
                "namespace monitoring",
                "image registry.example/node-exporter:v1"
            ]
        );
        // the same image elsewhere, another image there
        for view in [
            kubernetes("team-a", "exporter", "registry.example/node-exporter:v1"),
            kubernetes("monitoring", "exporter", "registry.example/other:v1"),
            kubernetes("dev", "app", "x"),
        ] {
            assert_eq!(judge(&rules, &view), Judgement::default());
        }
        let debugger = kubernetes("dev", "debugger", "busybox");
        assert_eq!(judge(&rules, &debugger).exempt.unwrap().index, 1);
        // a sandbox has no container name
        let mut sandbox = debugger.clone();
        sandbox.identity.sandbox = true;
        let j = judge(&rules, &sandbox);
        assert!(j.exempt.is_none());
        assert!(
            j.not_revealed[0]
                .starts_with("exemptions[1] does not apply: containerNames: a pod sandbox"),
            "{j:?}"
        );
    }

    #[test]
    fn what_is_not_revealed_never_matches_and_is_said() {
        let podman = fixtures::view("podman-default");
        let rules = [
            rule(&[], &["**"], &[], &[]),
            rule(&[], &[], &[], &["kata"]),
            rule(&["monitoring"], &[], &[], &["kata"]),
        ];
        let j = judge(&rules, &podman);
        assert!(j.exempt.is_none());
        assert_eq!(j.not_revealed.len(), 3, "{j:?}");
        assert!(j.not_revealed[2].starts_with("exemptions[2] does not apply: namespaces: the container was not created by a CRI runtime"), "{j:?}");
        assert!(
            j.not_revealed[0].starts_with(
                "exemptions[0] does not apply: images: the runtime wrote no image name"
            ),
            "{j:?}"
        );
        assert!(
            j.not_revealed[1].starts_with("exemptions[1] does not apply: runtimeHandlers: "),
            "{j:?}"
        );
        // a rule another field already refuses says nothing more
        let k8s = kubernetes("team-a", "app", "busybox");
        let j = judge(&rules[2..], &k8s);
        assert_eq!(j, Judgement::default());
    }

    #[test]
    fn digests_match_the_image_id_or_the_digest_named() {
        let id = format!("sha256:{}", "1".repeat(64));
        let other = format!("sha256:{}", "2".repeat(64));
        let rules = [rule(&[], &[id.as_str()], &[], &[])];
        let mut podman = fixtures::view("podman-default");
        let j = judge(&rules, &podman);
        assert!(j.not_revealed[0].contains("containers/storage"), "{j:?}");
        podman.identity.image_id = Some(id.clone());
        assert_eq!(
            judge(&rules, &podman).exempt.unwrap().matched,
            [format!("image digest {id}")]
        );
        podman.identity.image_id = Some(other.clone());
        assert_eq!(judge(&rules, &podman), Judgement::default());
        let by_digest = kubernetes("a", "b", &format!("registry.example/app@{id}"));
        assert!(judge(&rules, &by_digest).exempt.is_some());
        // a digest is no glob: the name alone does not match it
        let named = kubernetes("a", "b", "registry.example/app:1");
        assert!(judge(&rules, &named).exempt.is_none());
    }
}
