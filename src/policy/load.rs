//! Loading PSP manifests (YAML, multi-document, or JSON) into [`Policy`]s,
//! validating as Kubernetes' API server did. Every error names the file, the
//! line and the field.

use std::path::Path;

use serde_saphyr::Spanned;

use super::psp::{self, Manifest};
use super::{
    AllowedHostPath, IdRange, IdRule, NotEnforced, Origin, Policy, ProcMountType, ProfileRule,
    SeLinuxOptions, SeLinuxRule,
};
use crate::container::AllowedVolume;
use crate::container::capabilities::normalize;
use crate::input::{POLICY_LIMIT, read_trusted};

/// What is wrong in a policy or configuration file, and where: a diagnostic
/// for the admin (the validation rules are many; no code chooses by its
/// text), kept in the policy cache with the binding it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub struct PolicyError {
    pub file: String,
    pub line: Option<u64>,
    pub field: Option<String>,
    pub message: String,
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Builds errors for one file.
pub(crate) struct At<'a> {
    pub file: &'a str,
}

impl At<'_> {
    pub fn err(&self, line: Option<u64>, field: &str, message: impl Into<String>) -> PolicyError {
        PolicyError {
            file: self.file.to_string(),
            line,
            field: (!field.is_empty()).then(|| field.to_string()),
            message: message.into(),
        }
    }

    pub fn spanned<T>(
        &self,
        s: &Spanned<T>,
        field: &str,
        message: impl Into<String>,
    ) -> PolicyError {
        self.err(Some(s.referenced.line()), field, message)
    }

    /// A parse error of serde-saphyr: its location, its message on one line.
    pub fn yaml(&self, e: &serde_saphyr::Error) -> PolicyError {
        let rendered = e.without_snippet().render_with_formatter(&YamlMessages);
        let message = rendered.lines().next().unwrap_or("invalid YAML").trim();
        PolicyError {
            file: self.file.to_string(),
            line: e.location().map(|l| l.line()),
            field: None,
            message: message.to_string(),
        }
    }
}

/// serde-saphyr's messages as [`At::yaml`] shows them: without the
/// location (the line is already in front), and a duplicate key told in the
/// admin's terms rather than by the parser's option that would allow it.
struct YamlMessages;

impl serde_saphyr::Localizer for YamlMessages {
    fn attach_location<'a>(
        &self,
        base: std::borrow::Cow<'a, str>,
        _: serde_saphyr::Location,
    ) -> std::borrow::Cow<'a, str> {
        base
    }
}

impl serde_saphyr::MessageFormatter for YamlMessages {
    fn localizer(&self) -> &dyn serde_saphyr::Localizer {
        self
    }

    fn format_message<'a>(&self, err: &'a serde_saphyr::Error) -> std::borrow::Cow<'a, str> {
        match err {
            serde_saphyr::Error::DuplicateMappingKey { key: Some(k), .. } => {
                format!("duplicate mapping key: {k} (each key may appear once)").into()
            }
            serde_saphyr::Error::DuplicateMappingKey { key: None, .. } => {
                "duplicate mapping key (each key may appear once)".into()
            }
            _ => serde_saphyr::DefaultMessageFormatter.format_message(err),
        }
    }
}

/// Read and parse one policy file, trusted only as sudo trusts sudoers (see
/// [`read_trusted`]: it and every directory above it changeable by root or
/// the hook's user alone, judged as opened). Within one resolution
/// ([`crate::input::one_resolution`]) its links are read as they were first.
pub fn load_file(path: &Path) -> Result<Vec<Policy>, PolicyError> {
    let file = path.display().to_string();
    let at = At { file: &file };
    let bytes = read_trusted(path, POLICY_LIMIT).map_err(|e| at.err(None, "", e.reason()))?;
    let text = String::from_utf8(bytes).map_err(|_| at.err(None, "", "not UTF-8 text"))?;
    parse(&file, &text, Origin::File(path.to_path_buf()))
}

/// Parse every document of a YAML or JSON text as a PodSecurityPolicy.
pub fn parse(file: &str, text: &str, origin: Origin) -> Result<Vec<Policy>, PolicyError> {
    let at = At { file };
    // First only what each document is, so another kind of object is named
    // as such rather than as a list of unknown fields.
    let headers: Vec<psp::Header> = serde_saphyr::from_multiple(text).map_err(|e| at.yaml(&e))?;
    if headers.is_empty() {
        return Err(at.err(None, "", "no PodSecurityPolicy in the file"));
    }
    for h in &headers {
        match &h.kind {
            Some(k) if k.value == psp::KIND => {}
            Some(k) => {
                return Err(at.spanned(
                    k,
                    "kind",
                    format!("{} is not a PodSecurityPolicy", k.value),
                ));
            }
            None => return Err(at.err(None, "kind", "missing: expected kind: PodSecurityPolicy")),
        }
        match &h.api_version {
            Some(v) if psp::API_VERSIONS.contains(&v.value.as_str()) => {}
            Some(v) => {
                return Err(at.spanned(
                    v,
                    "apiVersion",
                    format!("{} is not policy/v1beta1 or extensions/v1beta1", v.value),
                ));
            }
            None => return Err(at.err(None, "apiVersion", "missing")),
        }
    }
    let manifests: Vec<Manifest> = serde_saphyr::from_multiple(text).map_err(|e| at.yaml(&e))?;
    manifests
        .into_iter()
        .map(|m| convert(&at, m, origin.clone()))
        .collect()
}

fn convert(at: &At, m: Manifest, origin: Origin) -> Result<Policy, PolicyError> {
    let name = m.metadata.name.value.trim().to_string();
    if name.is_empty() {
        return Err(at.spanned(&m.metadata.name, "metadata.name", "must not be empty"));
    }
    // A binding's `builtin:…` is always the built-in profile: a policy of
    // that name would never judge a container, and in `--policy` it would
    // pass for the built-in profile in decision records.
    if name.starts_with(super::builtin::PREFIX) {
        return Err(at.spanned(
            &m.metadata.name,
            "metadata.name",
            format!(
                "{name:?} starts with {:?}, which names the built-in profiles (a policy of that \
                 name would never be the one a binding names; Kubernetes names have no ':')",
                super::builtin::PREFIX
            ),
        ));
    }
    let mut p = Policy::closed(&name, origin);
    let s = m.spec;
    p.privileged = s.privileged.unwrap_or(false);
    p.host_network = s.host_network.unwrap_or(false);
    p.host_pid = s.host_pid.unwrap_or(false);
    p.host_ipc = s.host_ipc.unwrap_or(false);
    p.read_only_root_filesystem = s.read_only_root_filesystem.unwrap_or(false);
    p.allow_privilege_escalation = s.allow_privilege_escalation.unwrap_or(true);

    for r in s.host_ports.iter().flatten() {
        let ok = |v: i64| (0..=65535).contains(&v);
        if !ok(r.value.min) || !ok(r.value.max) || r.value.min > r.value.max {
            return Err(at.spanned(
                r,
                "spec.hostPorts",
                format!(
                    "invalid range {}-{}: ports are 0-65535, min <= max",
                    r.value.min, r.value.max
                ),
            ));
        }
        p.host_ports.push((r.value.min as u16, r.value.max as u16));
    }

    for v in s.volumes.iter().flatten() {
        let Some(volume) = AllowedVolume::from_name(&v.value) else {
            return Err(at.spanned(
                v,
                "spec.volumes",
                format!("unknown volume type {:?}", v.value),
            ));
        };
        p.volumes.push(volume);
    }
    for h in s.allowed_host_paths.iter().flatten() {
        let prefix = h.value.path_prefix.as_str();
        if !prefix.starts_with('/') {
            return Err(at.spanned(
                h,
                "spec.allowedHostPaths.pathPrefix",
                format!("{prefix:?} is not an absolute path"),
            ));
        }
        p.allowed_host_paths.push(AllowedHostPath {
            path_prefix: prefix.into(),
            read_only: h.value.read_only.unwrap_or(false),
        });
    }
    p.allowed_flex_volumes = s
        .allowed_flex_volumes
        .iter()
        .flatten()
        .map(|f| f.driver.clone())
        .collect();
    p.allowed_csi_drivers = s
        .allowed_csi_drivers
        .iter()
        .flatten()
        .map(|d| d.name.clone())
        .collect();

    capabilities(
        at,
        &mut p,
        &s.default_add_capabilities,
        &s.required_drop_capabilities,
        &s.allowed_capabilities,
    )?;

    p.run_as_user = id_rule(
        at,
        "spec.runAsUser",
        s.run_as_user.as_ref(),
        &["MustRunAs", "MustRunAsNonRoot", "RunAsAny"],
        true,
    )?;
    p.run_as_group = match &s.run_as_group {
        Some(r) => id_rule(
            at,
            "spec.runAsGroup",
            Some(r),
            &["MustRunAs", "MayRunAs", "RunAsAny"],
            true,
        )?,
        None => IdRule::RunAsAny,
    };
    p.supplemental_groups = id_rule(
        at,
        "spec.supplementalGroups",
        s.supplemental_groups.as_ref(),
        &["MustRunAs", "MayRunAs", "RunAsAny"],
        true,
    )?;
    p.fs_group = id_rule(
        at,
        "spec.fsGroup",
        s.fs_group.as_ref(),
        &["MustRunAs", "MayRunAs", "RunAsAny"],
        true,
    )?;
    p.selinux = selinux(at, s.se_linux.as_ref())?;

    for t in s.allowed_proc_mount_types.iter().flatten() {
        let kind = match t.value.as_str() {
            "Default" => ProcMountType::Default,
            "Unmasked" => ProcMountType::Unmasked,
            other => {
                return Err(at.spanned(
                    t,
                    "spec.allowedProcMountTypes",
                    format!("{other:?} is not Default or Unmasked"),
                ));
            }
        };
        if !p.allowed_proc_mount_types.contains(&kind) {
            p.allowed_proc_mount_types.push(kind);
        }
    }
    p.forbidden_sysctls = sysctl_patterns(at, "spec.forbiddenSysctls", &s.forbidden_sysctls)?;
    p.allowed_unsafe_sysctls =
        sysctl_patterns(at, "spec.allowedUnsafeSysctls", &s.allowed_unsafe_sysctls)?;
    for allowed in s.allowed_unsafe_sysctls.iter().flatten() {
        if let Some(f) = p
            .forbidden_sysctls
            .iter()
            .find(|f| super::sysctl_matches(f, &allowed.value))
        {
            return Err(at.spanned(
                allowed,
                "spec.allowedUnsafeSysctls",
                format!("{} is also forbidden by {f}", allowed.value),
            ));
        }
    }

    if let (Some(default), Some(false)) = (
        &s.default_allow_privilege_escalation,
        s.allow_privilege_escalation,
    ) && default.value
    {
        return Err(at.spanned(
            default,
            "spec.defaultAllowPrivilegeEscalation",
            "cannot be true when allowPrivilegeEscalation is false",
        ));
    }
    if s.default_allow_privilege_escalation.is_some() {
        p.not_enforced
            .push(NotEnforced::DefaultAllowPrivilegeEscalation);
    }
    if s.runtime_class.is_some() {
        p.not_enforced.push(NotEnforced::RuntimeClass);
    }
    if !p
        .host_ports
        .iter()
        .any(|&(min, max)| min == 0 && max == 65535)
    {
        p.not_enforced.push(NotEnforced::HostPorts);
    }

    let annotations = &m.metadata.annotations;
    p.seccomp = profile_rule(
        at,
        annotations,
        psp::SECCOMP_ALLOWED,
        &["runtime/default", "docker/default", "unconfined", "*"],
    )?;
    p.apparmor = profile_rule(
        at,
        annotations,
        psp::APPARMOR_ALLOWED,
        &["runtime/default", "unconfined", "*"],
    )?;
    for (key, note) in [
        (psp::SECCOMP_DEFAULT, NotEnforced::DefaultSeccompProfile),
        (psp::APPARMOR_DEFAULT, NotEnforced::DefaultAppArmorProfile),
    ] {
        if annotations.contains_key(key) {
            p.not_enforced.push(note);
        }
    }
    if p.seccomp
        .allowed
        .as_ref()
        .is_some_and(|l| l.iter().any(|n| n.starts_with("localhost/")))
    {
        p.not_enforced.push(NotEnforced::LocalhostSeccompProfiles);
    }
    Ok(p)
}

/// Capability names a PSP may use: every capability this build knows, with
/// or without `CAP_`, any case. Wildcards are checked by the caller.
fn known_capability(name: &str) -> bool {
    let normalized = normalize(name);
    caps::all().iter().any(|c| c.to_string() == normalized)
}

/// `CAP_` followed by capitals, digits and `_`, as the kernel names them
/// (a name a policy may allow without this build knowing it).
pub fn kernel_form(name: &str) -> bool {
    name.strip_prefix("CAP_").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    })
}

fn capabilities(
    at: &At,
    p: &mut Policy,
    default_add: &Option<Vec<Spanned<String>>>,
    required_drop: &Option<Vec<Spanned<String>>>,
    allowed: &Option<Vec<Spanned<String>>>,
) -> Result<(), PolicyError> {
    // A name this build does not know, written as the kernel's names are
    // (`CAP_` and capitals), may be allowed or added: runc ignores a name it
    // does not know, so allowing one admits a container asking for it and
    // grants nothing. A name to drop must be one this build knows, or a typo
    // would leave a capability in place.
    let mut unknown_allowed = Vec::new();
    let mut list = |field: &str,
                    items: &Option<Vec<Spanned<String>>>,
                    wildcard: Option<&str>,
                    granting: bool|
     -> Result<Vec<(String, Spanned<String>)>, PolicyError> {
        items
            .iter()
            .flatten()
            .map(|c| {
                let v = c.value.trim();
                if Some(v) == wildcard {
                    Ok((v.to_string(), c.clone()))
                } else if known_capability(v) {
                    Ok((normalize(v), c.clone()))
                } else if granting && kernel_form(v) {
                    unknown_allowed.push(format!(
                        "{field}: {v} is no capability this build knows; admitted by name (runc ignores names it does not know)"
                    ));
                    Ok((v.to_string(), c.clone()))
                } else {
                    Err(at.spanned(c, field, format!("unknown capability {:?}", c.value)))
                }
            })
            .collect()
    };
    let add = list("spec.defaultAddCapabilities", default_add, None, true)?;
    let drop = list(
        "spec.requiredDropCapabilities",
        required_drop,
        Some("ALL"),
        false,
    )?;
    let allow = list("spec.allowedCapabilities", allowed, Some("*"), true)?;
    p.notes.extend(unknown_allowed);
    // As Kubernetes validated it: the same name on both sides. `ALL` with an
    // allowed capability is the usual "drop everything but NET_BIND_SERVICE".
    for (name, span) in add.iter().chain(allow.iter()) {
        if drop.iter().any(|(d, _)| d == name) {
            return Err(at.spanned(
                span,
                "spec.requiredDropCapabilities",
                format!("{name} is both required to be dropped and allowed or added"),
            ));
        }
    }
    p.default_add_capabilities = add.into_iter().map(|(n, _)| n).collect();
    p.required_drop_capabilities = drop.into_iter().map(|(n, _)| n).collect();
    p.allowed_capabilities = allow.into_iter().map(|(n, _)| n).collect();
    Ok(())
}

fn id_rule(
    at: &At,
    field: &str,
    strategy: Option<&Spanned<psp::IdStrategy>>,
    rules: &[&str],
    required: bool,
) -> Result<IdRule, PolicyError> {
    let Some(strategy) = strategy else {
        return if required {
            Err(at.err(None, field, "missing: Kubernetes requires this rule"))
        } else {
            Ok(IdRule::RunAsAny)
        };
    };
    let rule_field = format!("{field}.rule");
    let Some(rule) = &strategy.value.rule else {
        return Err(at.spanned(
            strategy,
            &rule_field,
            format!("missing: expected one of {}", rules.join(", ")),
        ));
    };
    if !rules.contains(&rule.value.as_str()) {
        return Err(at.spanned(
            rule,
            &rule_field,
            format!("{:?} is not one of {}", rule.value, rules.join(", ")),
        ));
    }
    let mut ranges = Vec::new();
    for r in strategy.value.ranges.iter().flatten() {
        let (min, max) = (r.value.min, r.value.max);
        let valid = |v: i64| (0..=i64::from(u32::MAX)).contains(&v);
        if !valid(min) || !valid(max) || min > max {
            return Err(at.spanned(
                r,
                &format!("{field}.ranges"),
                format!("invalid range {min}-{max}: ids are 0-4294967295, min <= max"),
            ));
        }
        ranges.push(IdRange {
            min: min as u32,
            max: max as u32,
        });
    }
    match rule.value.as_str() {
        "MustRunAs" | "MayRunAs" if ranges.is_empty() => Err(at.spanned(
            rule,
            &format!("{field}.ranges"),
            format!("{} needs at least one range", rule.value),
        )),
        "MustRunAs" | "MayRunAs" => Ok(IdRule::MustRunAs(ranges)),
        "MustRunAsNonRoot" => Ok(IdRule::MustRunAsNonRoot),
        _ => Ok(IdRule::RunAsAny),
    }
}

fn selinux(
    at: &At,
    strategy: Option<&Spanned<psp::SeLinuxStrategy>>,
) -> Result<SeLinuxRule, PolicyError> {
    let Some(strategy) = strategy else {
        return Err(at.err(
            None,
            "spec.seLinux",
            "missing: Kubernetes requires this rule",
        ));
    };
    let rule = &strategy.value.rule;
    match rule.value.as_str() {
        "RunAsAny" => Ok(SeLinuxRule::RunAsAny),
        "MustRunAs" => {
            let Some(o) = &strategy.value.se_linux_options else {
                return Err(at.spanned(
                    rule,
                    "spec.seLinux.seLinuxOptions",
                    "MustRunAs needs seLinuxOptions",
                ));
            };
            Ok(SeLinuxRule::MustRunAs(SeLinuxOptions {
                user: o.user.clone(),
                role: o.role.clone(),
                type_: o.type_.clone(),
                level: o.level.clone(),
            }))
        }
        other => Err(at.spanned(
            rule,
            "spec.seLinux.rule",
            format!("{other:?} is not MustRunAs or RunAsAny"),
        )),
    }
}

fn sysctl_patterns(
    at: &At,
    field: &str,
    items: &Option<Vec<Spanned<String>>>,
) -> Result<Vec<String>, PolicyError> {
    items
        .iter()
        .flatten()
        .map(|s| {
            let v = s.value.trim().replace('/', ".");
            let body = v.strip_suffix('*').unwrap_or(&v);
            let valid = v == "*"
                || (!body.is_empty()
                    && !body.contains('*')
                    && body
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)));
            if valid {
                Ok(v)
            } else {
                Err(at.spanned(
                    s,
                    field,
                    format!(
                        "{:?} is not a sysctl name or pattern (name, prefix*, or *)",
                        s.value
                    ),
                ))
            }
        })
        .collect()
}

/// The seccomp or AppArmor `allowedProfileNames` annotation.
fn profile_rule(
    at: &At,
    annotations: &std::collections::BTreeMap<String, Spanned<String>>,
    key: &str,
    fixed: &[&str],
) -> Result<ProfileRule, PolicyError> {
    let Some(value) = annotations.get(key) else {
        return Ok(ProfileRule::ANY);
    };
    let mut names = Vec::new();
    for name in value
        .value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let localhost = name
            .strip_prefix("localhost/")
            .is_some_and(|rest| !rest.is_empty());
        if !localhost && !fixed.contains(&name) {
            return Err(at.spanned(
                value,
                &format!("metadata.annotations[{key}]"),
                format!(
                    "{name:?} is not one of {}, localhost/<profile>",
                    fixed.join(", ")
                ),
            ));
        }
        names.push(name.to_string());
    }
    Ok(ProfileRule {
        allowed: Some(names),
        allow_unset: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str =
        "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata:\n  name: p\nspec:\n";
    const RULES: &str = "  runAsUser: {rule: RunAsAny}\n  seLinux: {rule: RunAsAny}\n  supplementalGroups: {rule: RunAsAny}\n  fsGroup: {rule: RunAsAny}\n";

    fn parse_spec(extra: &str) -> Result<Vec<Policy>, PolicyError> {
        parse("p.yaml", &format!("{HEAD}{extra}{RULES}"), Origin::Builtin)
    }

    fn error(extra: &str) -> String {
        parse_spec(extra).unwrap_err().to_string()
    }

    #[test]
    fn example_policy_loads_with_every_rule() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/restricted-psp.yaml");
        let policies = load_file(&path).unwrap();
        let p = &policies[0];
        assert_eq!(p.name, "restricted");
        assert!(!p.allow_privilege_escalation);
        assert_eq!(
            p.run_as_user,
            IdRule::MustRunAs(vec![IdRange {
                min: 32767,
                max: 32768
            }])
        );
        assert_eq!(
            p.fs_group,
            IdRule::MustRunAs(vec![IdRange {
                min: 32767,
                max: 32767
            }])
        );
        assert_eq!(p.required_drop_capabilities, ["ALL"]);
        let volumes: Vec<&str> = p.volumes.iter().map(|v| v.name()).collect();
        assert_eq!(
            volumes,
            [
                "configMap",
                "emptyDir",
                "projected",
                "secret",
                "downwardAPI"
            ]
        );
        assert_eq!(p.selinux, SeLinuxRule::RunAsAny);
    }

    #[test]
    fn unknown_field_names_line_and_field() {
        assert!(
            error("  hostNetwrok: true\n")
                .starts_with("p.yaml:6: unknown field `hostNetwrok`, expected one of")
        );
    }

    #[test]
    fn duplicate_key_is_an_error() {
        assert_eq!(
            error("  privileged: false\n  privileged: true\n"),
            "p.yaml:7: duplicate mapping key: privileged (each key may appear once)"
        );
    }

    #[test]
    fn malformed_yaml_names_the_line() {
        assert!(error("  volumes: [configMap\n").starts_with("p.yaml:"));
        let e = parse("p.yaml", "a: b: c\n", Origin::Builtin).unwrap_err();
        assert_eq!(e.line, Some(1));
        // The line is in front once, not again at the end of the message.
        for e in [e.to_string(), error("  hostNetwrok: true\n")] {
            assert!(!e.contains(" at line "), "{e}");
        }
    }

    #[test]
    fn bad_capability_names_are_errors() {
        assert_eq!(
            error("  allowedCapabilities: [NET_ADMIN, NET_ADMN]\n"),
            "p.yaml:6: spec.allowedCapabilities: unknown capability \"NET_ADMN\""
        );
        assert!(
            error("  requiredDropCapabilities: [\"*\"]\n").contains("unknown capability \"*\"")
        );
        assert!(
            error("  allowedCapabilities: [NET_RAW]\n  requiredDropCapabilities: [NET_RAW]\n")
                .contains("both required to be dropped")
        );
        // drop ALL but allow one: what builtin:restricted is
        let p = parse_spec(
            "  allowedCapabilities: [NET_BIND_SERVICE]\n  requiredDropCapabilities: [ALL]\n",
        )
        .unwrap();
        assert_eq!(p[0].required_drop_capabilities, ["ALL"]);
        let p = parse_spec("  allowedCapabilities: [net_admin, CAP_SYS_TIME, \"*\"]\n").unwrap();
        assert_eq!(
            p[0].allowed_capabilities,
            ["CAP_NET_ADMIN", "CAP_SYS_TIME", "*"]
        );
    }

    /// A name in the kernel's form that this build does not know may be
    /// allowed or added (runc ignores it; lint says so), never required to
    /// be dropped, and a name in another form stays a typo.
    #[test]
    fn unknown_kernel_names_are_allowed_by_name_only() {
        let p = parse_spec(
            "  allowedCapabilities: [CAP_FUTURE_THING]\n  defaultAddCapabilities: [CAP_OTHER_2]\n",
        )
        .unwrap();
        assert_eq!(p[0].allowed_capabilities, ["CAP_FUTURE_THING"]);
        assert_eq!(p[0].default_add_capabilities, ["CAP_OTHER_2"]);
        assert_eq!(p[0].notes.len(), 2, "{:?}", p[0].notes);
        assert!(
            p[0].notes
                .iter()
                .any(|n| n.contains("CAP_FUTURE_THING is no capability this build knows"))
        );
        for bad in [
            "  requiredDropCapabilities: [CAP_FUTURE_THING]\n",
            "  allowedCapabilities: [cap_future_thing]\n",
            "  allowedCapabilities: [FUTURE_THING]\n",
            "  allowedCapabilities: [\"CAP_\"]\n",
            "  allowedCapabilities: [\"CAP_A-B\"]\n",
        ] {
            assert!(error(bad).contains("unknown capability"), "{bad}");
        }
    }

    #[test]
    fn bad_rules_are_errors() {
        let text = format!(
            "{HEAD}  runAsUser: {{rule: MustRunAsRoot}}\n  seLinux: {{rule: RunAsAny}}\n  supplementalGroups: {{rule: RunAsAny}}\n  fsGroup: {{rule: RunAsAny}}\n"
        );
        let e = parse("p.yaml", &text, Origin::Builtin)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "p.yaml:6: spec.runAsUser.rule: \"MustRunAsRoot\" is not one of MustRunAs, MustRunAsNonRoot, RunAsAny"
        );
        let text = format!(
            "{HEAD}  seLinux: {{rule: RunAsAny}}\n  supplementalGroups: {{rule: RunAsAny}}\n  fsGroup: {{rule: RunAsAny}}\n"
        );
        assert_eq!(
            parse("p.yaml", &text, Origin::Builtin)
                .unwrap_err()
                .to_string(),
            "p.yaml: spec.runAsUser: missing: Kubernetes requires this rule"
        );
        assert!(
            error("  runAsGroup: {rule: MustRunAs, ranges: [{min: 5, max: 1}]}\n")
                .contains("spec.runAsGroup.ranges: invalid range 5-1")
        );
        assert!(
            error("  volumes: [secrets]\n")
                .contains("spec.volumes: unknown volume type \"secrets\"")
        );
        assert!(
            error("  allowedProcMountTypes: [Masked]\n").contains("is not Default or Unmasked")
        );
        assert!(
            error("  allowedHostPaths: [{pathPrefix: data}]\n").contains("is not an absolute path")
        );
        assert!(
            error("  forbiddenSysctls: [\"kernel.*.x\"]\n")
                .contains("is not a sysctl name or pattern")
        );
    }

    #[test]
    fn other_kinds_and_versions_are_named() {
        let e = parse(
            "p.yaml",
            "apiVersion: v1\nkind: ConfigMap\n",
            Origin::Builtin,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "p.yaml:2: kind: ConfigMap is not a PodSecurityPolicy"
        );
        let text = format!(
            "apiVersion: policy/v1\nkind: PodSecurityPolicy\nmetadata:\n  name: p\nspec:\n{RULES}"
        );
        assert!(
            parse("p.yaml", &text, Origin::Builtin)
                .unwrap_err()
                .to_string()
                .starts_with("p.yaml:1: apiVersion: policy/v1 is not")
        );
    }

    #[test]
    fn multi_document_yaml_and_json() {
        let two = format!(
            "{HEAD}{RULES}---\n{}{RULES}",
            HEAD.replace("name: p", "name: q")
                .replace("policy/v1beta1", "extensions/v1beta1")
        );
        let names: Vec<String> = parse("p.yaml", &two, Origin::Builtin)
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["p", "q"]);
        let json = r#"{"apiVersion":"policy/v1beta1","kind":"PodSecurityPolicy","metadata":{"name":"j"},
"spec":{"runAsUser":{"rule":"MustRunAsNonRoot"},"seLinux":{"rule":"RunAsAny"},"supplementalGroups":{"rule":"RunAsAny"},"fsGroup":{"rule":"RunAsAny"},"hostPID":true}}"#;
        let p = parse("p.json", json, Origin::Builtin).unwrap();
        assert!(p[0].host_pid);
        assert_eq!(p[0].run_as_user, IdRule::MustRunAsNonRoot);
    }

    #[test]
    fn not_enforceable_fields_are_accepted_and_reported() {
        let p = parse_spec("  runtimeClass: {allowedRuntimeClassNames: [gvisor]}\n  defaultAllowPrivilegeEscalation: false\n").unwrap();
        assert!(p[0].not_enforced.contains(&NotEnforced::RuntimeClass));
        assert!(
            p[0].not_enforced
                .contains(&NotEnforced::DefaultAllowPrivilegeEscalation)
        );
    }

    #[test]
    fn profile_annotations() {
        let text = format!(
            "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata:\n  name: p\n  annotations:\n    {}: 'runtime/default,localhost/strict'\n    {}: bogus\nspec:\n{RULES}",
            psp::SECCOMP_ALLOWED,
            psp::APPARMOR_ALLOWED
        );
        let e = parse("p.yaml", &text, Origin::Builtin)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p.yaml:7: metadata.annotations[apparmor.security.beta.kubernetes.io/allowedProfileNames]: \"bogus\""), "{e}");
    }

    #[test]
    fn unreadable_file_is_named() {
        let e = load_file(Path::new("/nonexistent/psp.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/nonexistent/psp.yaml: cannot read it: "),
            "{e}"
        );
    }

    #[test]
    fn policy_file_others_can_change_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let chmod = |path: &Path, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        let temp = tempfile::Builder::new()
            .prefix("psp-load-trust-")
            .tempdir()
            .unwrap();
        let dir = temp.path();
        std::fs::create_dir_all(dir.join("policies.d")).unwrap();
        chmod(dir, 0o755);
        chmod(&dir.join("policies.d"), 0o755);
        let path = dir.join("policies.d/p.yaml");
        std::fs::write(&path, include_str!("../../examples/restricted-psp.yaml")).unwrap();
        chmod(&path, 0o644);
        assert_eq!(load_file(&path).unwrap()[0].name, "restricted");
        chmod(&path, 0o664);
        let e = load_file(&path).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: writable by its group (mode 664): refusing it, as anyone who can write it could change the policy (chown root, chmod go-w)",
                path.display()
            )
        );
        chmod(&path, 0o644);
        chmod(&dir.join("policies.d"), 0o775);
        let e = load_file(&path).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "{}: {}, a directory above it, is writable by its group (mode 775): refusing it",
                path.display(),
                dir.join("policies.d").display()
            )),
            "{e}"
        );
    }
}
