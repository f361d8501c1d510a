//! The verdict on one container and its renderings: the one line the runtime
//! shows the user, the JSON of `check --output json`, the log record.

use serde::Serialize;

use crate::checks::{self, Findings, Violation, evaluate};
use crate::container::ContainerView;
use crate::container::facts::Facts;
use crate::policy::Policy;
use crate::policy::config::Mode;
use crate::policy::exemptions::{Exemption, Judgement};
use crate::policy::select::Selection;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Deny,
    /// Something could not be read or understood: the container is blocked.
    Error,
    /// Admitted by an exemption rule of the configuration, whatever the
    /// policies say (their findings are still recorded).
    Exempt,
}

/// One policy's findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyResult {
    pub policy: String,
    pub violations: Vec<Violation>,
    pub unverified: Vec<Violation>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ContainerInfo {
    pub id: String,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub container: Option<String>,
    pub sandbox: bool,
}

impl ContainerInfo {
    pub fn of(view: &ContainerView) -> ContainerInfo {
        ContainerInfo {
            id: view.id.clone(),
            namespace: view.identity.namespace.clone(),
            pod: view.identity.pod.clone(),
            container: view.identity.container.clone(),
            sandbox: view.identity.sandbox,
        }
    }

    /// See [`label`](crate::container::identity::label).
    pub fn label(&self) -> String {
        crate::container::identity::label(
            self.namespace.as_deref(),
            self.pod.as_deref(),
            self.container.as_deref(),
            self.sandbox,
            &self.id,
        )
    }
}

/// How much of each policy's findings a decision keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Every policy's, whole (`check`).
    Every,
    /// What decides the verdict, as the hook's record and message keep
    /// ([`Decision::deciding_results`]): when a policy admits, the others
    /// are judged only until their first violation, without messages (with
    /// a hundred policies, building the messages nobody reads was most of
    /// the checks' cost); when none admits, every policy whole.
    Deciding,
}

#[derive(Debug, Clone, Serialize)]
pub struct Decision<'a> {
    pub container: ContainerInfo,
    pub verdict: Verdict,
    pub mode: Mode,
    /// The first policy that admits the container.
    pub admitted_by: Option<String>,
    /// What chose the policies (`command line`, `bindings[0]`…).
    pub chosen_by: Option<String>,
    pub results: Vec<PolicyResult>,
    pub error: Option<String>,
    /// The container's privilege-relevant facts (`advise --from-log` reads
    /// them back from the log); `None` when no view could be built.
    pub facts: Option<Facts<'a>>,
    /// How long the hook took to decide, in microseconds (hook mode).
    pub duration_us: Option<u64>,
    /// The exemption rule that admitted the container.
    pub exemption: Option<Exemption>,
    /// Exemption rules that a field the runtime does not reveal kept from
    /// matching, each with why.
    pub exemptions_not_revealed: Vec<String>,
}

/// `'a`: the facts borrow the view's mounts.
impl<'a> Decision<'a> {
    /// PSP semantics: allowed when any bound policy admits the container.
    /// Every policy's findings whole (`check`).
    pub fn evaluate(view: &'a ContainerView<'a>, selection: &Selection) -> Decision<'a> {
        Self::evaluate_with(view, selection, Detail::Every)
    }

    /// As [`Self::evaluate`], keeping the findings `detail` asks for.
    pub fn evaluate_with(
        view: &'a ContainerView<'a>,
        selection: &Selection,
        detail: Detail,
    ) -> Decision<'a> {
        let judge = |check: fn(&ContainerView, &Policy) -> Findings| {
            selection
                .policies
                .iter()
                .map(|policy| (policy, check(view, policy)))
                .collect::<Vec<_>>()
        };
        let mut judged = Vec::new();
        if detail == Detail::Deciding {
            judged = judge(checks::until_denied);
            // The admitting policy's findings (what it cannot verify) whole.
            if let Some((policy, findings)) =
                judged.iter_mut().find(|(_, f)| f.violations.is_empty())
            {
                *findings = evaluate(view, policy);
            }
        }
        if !judged.iter().any(|(_, f)| f.violations.is_empty()) {
            judged = judge(evaluate);
        }
        let admitted_by = judged
            .iter()
            .find(|(_, f)| f.violations.is_empty())
            .map(|(policy, _)| policy.name.clone());
        let results = judged
            .into_iter()
            .map(|(policy, findings)| PolicyResult {
                policy: policy.name.clone(),
                violations: findings.violations,
                unverified: findings.unverified,
            })
            .collect();
        Decision {
            container: ContainerInfo::of(view),
            verdict: if admitted_by.is_some() {
                Verdict::Allow
            } else {
                Verdict::Deny
            },
            mode: selection.mode,
            admitted_by,
            chosen_by: Some(selection.chosen_by.clone()),
            results,
            error: None,
            facts: Some(Facts::from_view(view)),
            duration_us: None,
            exemption: None,
            exemptions_not_revealed: Vec::new(),
        }
    }

    /// The decision on an exempt container whose policies could not be
    /// selected (a binding naming a policy that does not exist): `why` is
    /// kept in the record.
    pub fn unjudged(view: &'a ContainerView<'a>, why: String) -> Decision<'a> {
        Decision {
            verdict: Verdict::Exempt,
            error: Some(format!("policies not judged: {why}")),
            facts: Some(Facts::from_view(view)),
            ..Decision::error(ContainerInfo::of(view), String::new())
        }
    }

    /// The same decision as the exemptions judged it: an exempt container's
    /// verdict is `exempt`, its policies' findings kept.
    pub fn with_exemptions(mut self, judgement: Judgement) -> Decision<'a> {
        if judgement.exempt.is_some() && self.verdict != Verdict::Error {
            self.verdict = Verdict::Exempt;
        }
        self.exemption = judgement.exempt;
        self.exemptions_not_revealed = judgement.not_revealed;
        self
    }

    /// A decision that could not be made: the container is blocked.
    pub fn error(container: ContainerInfo, message: impl Into<String>) -> Decision<'a> {
        Decision {
            container,
            verdict: Verdict::Error,
            mode: Mode::Enforce,
            admitted_by: None,
            chosen_by: None,
            results: Vec::new(),
            error: Some(message.into()),
            facts: None,
            duration_us: None,
            exemption: None,
            exemptions_not_revealed: Vec::new(),
        }
    }

    /// 0 allow, exempt (or audit mode), 1 deny, 2 error.
    pub fn exit_code(&self) -> i32 {
        match (self.verdict, self.mode) {
            (Verdict::Allow | Verdict::Exempt, _) | (Verdict::Deny, Mode::Audit) => 0,
            (Verdict::Deny, Mode::Enforce) => 1,
            (Verdict::Error, _) => 2,
        }
    }

    /// What the admitting policy (or, on deny, any policy) asked that the
    /// node could not verify.
    fn unverified(&self) -> Vec<&Violation> {
        self.deciding_results()
            .into_iter()
            .flat_map(|r| r.unverified.iter())
            .collect()
    }

    /// The one line for stderr and the log. Control characters (from
    /// annotations, paths) are escaped so nothing can forge a second line.
    pub fn one_line(&self) -> String {
        let line = self.render_line();
        if line.chars().any(char::is_control) {
            line.chars().flat_map(escape_control).collect()
        } else {
            line
        }
    }

    fn render_line(&self) -> String {
        let who = format!("container {}", self.container.label());
        match self.verdict {
            Verdict::Error => format!(
                "oci-psp-hook: error, {who} blocked: {}",
                self.error.as_deref().unwrap_or("unknown error")
            ),
            Verdict::Allow => {
                let mut line = format!(
                    "oci-psp-hook: allowed by policy {:?} ({who})",
                    self.admitted_by.as_deref().unwrap_or("")
                );
                let unverified = self.unverified();
                if !unverified.is_empty() {
                    line.push_str("; not verifiable at the node: ");
                    line.push_str(&join(unverified.iter().map(|v| v.to_string())));
                }
                line
            }
            Verdict::Deny => {
                let prefix = match self.mode {
                    Mode::Enforce => "oci-psp-hook: ",
                    Mode::Audit => "oci-psp-hook: audit mode, would deny: ",
                };
                let body = match self.results.as_slice() {
                    [] => "no policy is bound to it".to_string(),
                    [only] => format!(
                        "denied by policy {:?}: {}",
                        only.policy,
                        brief(&only.violations)
                    ),
                    all => format!(
                        "denied by every policy: {}",
                        all.iter()
                            .map(|r| format!("{:?}: {}", r.policy, brief(&r.violations)))
                            .collect::<Vec<_>>()
                            .join(" | ")
                    ),
                };
                format!("{prefix}{body} ({who})")
            }
            Verdict::Exempt => {
                let mut line = match &self.exemption {
                    Some(e) => format!(
                        "oci-psp-hook: exempt by {} ({}) ({who})",
                        e.rule,
                        e.matched.join(", ")
                    ),
                    None => format!("oci-psp-hook: exempt ({who})"),
                };
                if self.admitted_by.is_none() && !self.results.is_empty() {
                    line.push_str("; its policies would deny: ");
                    line.push_str(&join(
                        self.results
                            .iter()
                            .map(|r| format!("{:?}: {}", r.policy, brief(&r.violations))),
                    ));
                }
                line
            }
        }
    }

    /// The results that decided the verdict: for an allowed container the
    /// admitting policy's, otherwise every policy's. What the other
    /// policies would have refused decides nothing, and with a hundred
    /// policies it made a log record too large for a syslog datagram.
    pub fn deciding_results(&self) -> Vec<&PolicyResult> {
        match self.admitted_by {
            // The first policy without violations: found by its place, as
            // two `--policy` files may hold policies of one name.
            Some(_) => self
                .results
                .iter()
                .find(|r| r.violations.is_empty())
                .into_iter()
                .collect(),
            None => self.results.iter().collect(),
        }
    }

    /// The JSON of `check --output json`: every policy's findings.
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        self.write_json(self.results.iter().collect(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The JSON of the log record, the findings of
    /// [`Self::deciding_results`], appended to `out`: written where the
    /// record is assembled, as a thousand mounts' facts make it ~80 KB.
    /// Never more than [`RECORD_LIMIT`] bytes: a larger record is written
    /// again without the container's facts, each string cut to
    /// [`CUT_STRING`] bytes and as many findings as fit, and says so
    /// (`"cut"`), so it still fits the one datagram a log socket takes.
    pub fn write_log_json(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let results = self.deciding_results();
        self.write_json(results.clone(), out);
        if out.len() - start <= RECORD_LIMIT {
            return;
        }
        let whole = out.len() - start;
        let mut keep = usize::MAX;
        loop {
            out.truncate(start);
            let owned = CutRecord::of(self, &results, keep, whole);
            if serde_json::to_writer(&mut *out, &owned.record()).is_err() {
                out.truncate(start);
            }
            if out.len() - start <= RECORD_LIMIT || keep == 0 {
                return;
            }
            keep = keep.min(owned.findings()) / 2;
        }
    }

    fn write_json(&self, results: Vec<&PolicyResult>, out: &mut Vec<u8>) {
        // Serialized straight from the decision: building a `Value` tree
        // first cost more than the whole decision for a container with a
        // thousand mounts (each mount's facts a map of boxed values).
        let start = out.len();
        if let Err(e) = serde_json::to_writer(&mut *out, &self.record(results)) {
            // Only a map with non-string keys fails, which no field is.
            out.truncate(start);
            let error = serde_json::json!({
                "allowed": false,
                "error": format!("decision not serializable: {e}"),
            });
            out.extend_from_slice(error.to_string().as_bytes());
        }
    }

    fn record<'r>(&'r self, results: Vec<&'r PolicyResult>) -> Record<'r> {
        let findings = |of: fn(&PolicyResult) -> &[Violation]| -> Vec<Finding<'r>> {
            results
                .iter()
                .flat_map(|r| of(r).iter().map(|v| Finding::of(&r.policy, v)))
                .collect()
        };
        Record {
            verdict: self.verdict,
            mode: self.mode,
            allowed: self.exit_code() == 0,
            container: &self.container,
            duration_us: self.duration_us,
            admitted_by: &self.admitted_by,
            chosen_by: &self.chosen_by,
            error: &self.error,
            exemption: &self.exemption,
            exemptions_not_revealed: &self.exemptions_not_revealed,
            cut: None,
            policies: self.results.iter().map(|r| r.policy.as_str()).collect(),
            violations: findings(|r| &r.violations),
            unverified: findings(|r| &r.unverified),
            facts: &self.facts,
        }
    }
}

/// The decision record's fields. The verdict, mode and identity come
/// first, the facts (the bulk) last: a syslog daemon that truncates long
/// messages keeps what the decision was and whose.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    verdict: Verdict,
    mode: Mode,
    allowed: bool,
    container: &'a ContainerInfo,
    /// How long the hook took (hook mode).
    #[serde(rename = "duration_us", skip_serializing_if = "Option::is_none")]
    duration_us: Option<u64>,
    admitted_by: &'a Option<String>,
    chosen_by: &'a Option<String>,
    error: &'a Option<String>,
    /// The exemption rule that admitted the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    exemption: &'a Option<Exemption>,
    /// Exemption rules a field the runtime does not reveal kept from matching.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    exemptions_not_revealed: &'a [String],
    /// Set when the record was cut to fit one datagram: what was left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    cut: Option<&'a str>,
    policies: Vec<&'a str>,
    violations: Vec<Finding<'a>>,
    unverified: Vec<Finding<'a>>,
    facts: &'a Option<Facts<'a>>,
}

/// The most a log record may be. journald takes datagrams of several MiB
/// (its socket buffer is 8 MiB) and the hook, as root, raises its own send
/// buffer to fit the record (see `log::make_room`); a thousand mounts' facts
/// take about 90 KiB, so a larger record is a config built to be one.
pub const RECORD_LIMIT: usize = 1 << 20;
/// What a cut record keeps of each string.
const CUT_STRING: usize = 1024;

/// A record too large for one datagram, cut: no facts, each string cut to
/// [`CUT_STRING`] bytes, at most `keep` findings and policy names.
struct CutRecord<'a> {
    decision: &'a Decision<'a>,
    container: ContainerInfo,
    admitted_by: Option<String>,
    chosen_by: Option<String>,
    error: Option<String>,
    policies: Vec<String>,
    violations: Vec<(&'static str, String, String)>,
    unverified: Vec<(&'static str, String, String)>,
    /// How many findings there were in all.
    total: usize,
    note: String,
}

impl<'a> CutRecord<'a> {
    fn of(
        decision: &'a Decision<'a>,
        results: &[&PolicyResult],
        keep: usize,
        whole: usize,
    ) -> Self {
        let cut_opt = |s: &Option<String>| s.as_deref().map(cut_str);
        let findings = |of: fn(&PolicyResult) -> &[Violation]| -> Vec<_> {
            results
                .iter()
                .flat_map(|r| {
                    of(r)
                        .iter()
                        .map(|v| (v.field, cut_str(&v.message), cut_str(&r.policy)))
                })
                .collect()
        };
        let mut violations = findings(|r| &r.violations);
        let mut unverified = findings(|r| &r.unverified);
        let total = violations.len() + unverified.len();
        violations.truncate(keep);
        unverified.truncate(keep.saturating_sub(violations.len()));
        let policies: Vec<String> = decision
            .results
            .iter()
            .take(keep)
            .map(|r| cut_str(&r.policy))
            .collect();
        let c = &decision.container;
        let note = format!(
            "the record ({whole} bytes) did not fit one log datagram ({RECORD_LIMIT} bytes): the container's facts are left out, strings cut to {CUT_STRING} bytes, {} of {total} findings and {} of {} policy names kept",
            violations.len() + unverified.len(),
            policies.len(),
            decision.results.len()
        );
        CutRecord {
            decision,
            container: ContainerInfo {
                id: cut_str(&c.id),
                namespace: cut_opt(&c.namespace),
                pod: cut_opt(&c.pod),
                container: cut_opt(&c.container),
                sandbox: c.sandbox,
            },
            admitted_by: cut_opt(&decision.admitted_by),
            chosen_by: cut_opt(&decision.chosen_by),
            error: cut_opt(&decision.error),
            policies,
            violations,
            unverified,
            total,
            note,
        }
    }

    fn findings(&self) -> usize {
        self.total
    }

    fn record(&self) -> Record<'_> {
        const NO_FACTS: &Option<Facts<'static>> = &None;
        Record {
            verdict: self.decision.verdict,
            mode: self.decision.mode,
            allowed: self.decision.exit_code() == 0,
            container: &self.container,
            duration_us: self.decision.duration_us,
            admitted_by: &self.admitted_by,
            chosen_by: &self.chosen_by,
            error: &self.error,
            exemption: &self.decision.exemption,
            exemptions_not_revealed: &self.decision.exemptions_not_revealed,
            cut: Some(&self.note),
            policies: self.policies.iter().map(String::as_str).collect(),
            violations: cut_findings(&self.violations),
            unverified: cut_findings(&self.unverified),
            facts: NO_FACTS,
        }
    }
}

fn cut_findings<'a>(list: &'a [(&'static str, String, String)]) -> Vec<Finding<'a>> {
    list.iter()
        .map(|(field, message, policy)| Finding {
            field,
            message,
            policy,
        })
        .collect()
}

fn cut_str(s: &str) -> String {
    cut_to(s, CUT_STRING)
}

/// `s`, or its first `limit` bytes (on a character boundary) and how much
/// was cut.
pub fn cut_to(s: &str, limit: usize) -> String {
    if s.len() <= limit {
        return s.to_string();
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[{} bytes cut]", &s[..end], s.len() - end)
}

/// One violation (or unverified field) with the policy it is of.
#[derive(Serialize)]
struct Finding<'a> {
    field: &'static str,
    message: &'a str,
    policy: &'a str,
}

impl<'a> Finding<'a> {
    fn of(policy: &'a str, v: &'a Violation) -> Finding<'a> {
        Finding {
            field: v.field,
            message: &v.message,
            policy,
        }
    }
}

fn escape_control(c: char) -> Vec<char> {
    if c.is_control() {
        c.escape_default().collect()
    } else {
        vec![c]
    }
}

/// Violations for one line: at most [`PER_FIELD`] of each field, the rest
/// counted (a privileged container has dozens of devices and capabilities;
/// the JSON and the log keep every one).
fn brief(violations: &[Violation]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < violations.len() {
        let field = violations[i].field;
        let same = violations[i..]
            .iter()
            .take_while(|v| v.field == field)
            .count();
        out.extend(
            violations[i..i + same.min(PER_FIELD)]
                .iter()
                .map(Violation::to_string),
        );
        if same > PER_FIELD {
            out.push(format!("{field}: and {} more", same - PER_FIELD));
        }
        i += same;
    }
    out.join("; ")
}

const PER_FIELD: usize = 3;

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::policy::builtin;
    use crate::policy::select::Selection;

    fn decide(name: &str, policies: Vec<crate::policy::Policy>, mode: Mode) -> Decision<'static> {
        let selection = Selection {
            mode,
            policies: policies.iter().collect(),
            chosen_by: "test".into(),
        };
        let view = fixtures::view(name);
        let decision = Decision::evaluate(&view, &selection);
        // Owning its facts, to outlive the view.
        Decision {
            facts: decision.facts.map(Facts::into_owned),
            ..decision
        }
    }

    /// The hook's decision (findings kept as far as they decide) has the
    /// verdict, the admitting policy and the deciding findings of the whole
    /// one, for every fixture under orders of the built-in profiles where
    /// each of them decides.
    #[test]
    fn deciding_detail_decides_as_every_finding_does() {
        let profiles = [
            builtin::restricted(),
            builtin::baseline(),
            builtin::privileged(),
        ];
        let orders: [&[usize]; 5] = [&[0, 1, 2], &[2, 1, 0], &[0, 1], &[1, 0], &[0]];
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut judged = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let name = path.file_stem().unwrap().to_str().unwrap().to_string();
            let view = fixtures::view(&name);
            for order in orders {
                let selection = Selection {
                    mode: Mode::Enforce,
                    policies: order.iter().map(|&i| &profiles[i]).collect(),
                    chosen_by: "test".into(),
                };
                let every = Decision::evaluate_with(&view, &selection, Detail::Every);
                let deciding = Decision::evaluate_with(&view, &selection, Detail::Deciding);
                assert_eq!(every.verdict, deciding.verdict, "{name} {order:?}");
                assert_eq!(every.admitted_by, deciding.admitted_by, "{name} {order:?}");
                let results = |d: &Decision| -> Vec<PolicyResult> {
                    d.deciding_results().into_iter().cloned().collect()
                };
                assert_eq!(results(&every), results(&deciding), "{name} {order:?}");
                assert_eq!(every.one_line(), deciding.one_line(), "{name} {order:?}");
                judged += 1;
            }
        }
        assert!(judged > 50, "{judged}");
    }

    /// A record too large for one datagram is written again, cut, and says
    /// so; the verdict, mode and identity lead every record.
    #[test]
    fn a_record_always_fits_one_datagram() {
        let mut d = decide("podman-default", vec![builtin::restricted()], Mode::Audit);
        let mut small = Vec::new();
        d.write_log_json(&mut small);
        let small = String::from_utf8(small).unwrap();
        assert!(small.starts_with(r#"{"verdict":"deny","mode":"audit","allowed":true,"container":{"id":"podman-default""#), "{small}");
        assert!(!small.contains("\"cut\""), "{small}");
        let huge = "X".repeat(RECORD_LIMIT);
        d.container.pod = Some(huge.clone());
        for r in &mut d.results {
            for v in &mut r.violations {
                v.message = huge.clone();
            }
        }
        let mut out = Vec::new();
        d.write_log_json(&mut out);
        assert!(out.len() <= RECORD_LIMIT, "{}", out.len());
        let record: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(record["verdict"], "deny");
        assert_eq!(record["mode"], "audit");
        assert!(record["facts"].is_null());
        let pod = record["container"]["pod"].as_str().unwrap();
        assert!(
            pod.ends_with(&format!("…[{} bytes cut]", RECORD_LIMIT - CUT_STRING)),
            "{}",
            &pod[pod.len() - 40..]
        );
        let cut = record["cut"].as_str().unwrap();
        assert!(cut.contains("did not fit one log datagram"), "{cut}");
        assert!(!record["violations"].as_array().unwrap().is_empty());
        assert!(out.starts_with(br#"{"verdict":"deny","mode":"audit""#));
    }

    #[test]
    fn any_policy_admitting_allows() {
        let d = decide(
            "podman-default",
            vec![builtin::restricted(), builtin::baseline()],
            Mode::Enforce,
        );
        assert_eq!(d.verdict, Verdict::Allow);
        assert_eq!(d.admitted_by.as_deref(), Some("builtin:baseline"));
        assert_eq!(d.exit_code(), 0);
        assert_eq!(
            d.one_line(),
            "oci-psp-hook: allowed by policy \"builtin:baseline\" (container podman-default)"
        );
    }

    #[test]
    fn denial_names_fields_and_caps_long_lists() {
        let d = decide("podman-default", vec![builtin::restricted()], Mode::Enforce);
        assert_eq!(d.exit_code(), 1);
        let line = d.one_line();
        assert!(line.starts_with("oci-psp-hook: denied by policy \"builtin:restricted\": runAsUser: container runs as root"), "{line}");
        assert!(line.contains("; allowPrivilegeEscalation: "), "{line}");
        assert!(
            line.contains("requiredDropCapabilities: and 7 more"),
            "{line}"
        );
        assert!(line.ends_with("(container podman-default)"), "{line}");
        // the JSON keeps every violation
        let json: serde_json::Value = serde_json::from_str(&d.to_json()).unwrap();
        assert_eq!(json["allowed"], false);
        assert_eq!(json["violations"].as_array().map(Vec::len), Some(12));
        assert_eq!(json["violations"][0]["policy"], "builtin:restricted");
        assert_eq!(json["violations"][0]["field"], "runAsUser");
    }

    fn log_json(d: &Decision) -> String {
        let mut out = b"prefix ".to_vec();
        d.write_log_json(&mut out);
        String::from_utf8(out.split_off(7)).unwrap()
    }

    /// Two policies of one name (two `--policy` files), the first denying:
    /// the record keeps the findings of the one that admits.
    #[test]
    fn the_admitting_policy_is_told_from_one_of_its_name() {
        let mut denying = builtin::restricted();
        denying.name = "p".into();
        let mut admitting = builtin::privileged();
        admitting.name = "p".into();
        for detail in [Detail::Every, Detail::Deciding] {
            let view = fixtures::view("podman-privileged");
            let selection = Selection {
                mode: Mode::Enforce,
                policies: vec![&denying, &admitting],
                chosen_by: "test".into(),
            };
            let d = Decision::evaluate_with(&view, &selection, detail);
            assert_eq!(d.verdict, Verdict::Allow);
            assert_eq!(d.deciding_results().len(), 1);
            assert!(d.deciding_results()[0].violations.is_empty());
            let logged: serde_json::Value = serde_json::from_str(&log_json(&d)).unwrap();
            assert_eq!(
                logged["violations"].as_array().map(Vec::len),
                Some(0),
                "{detail:?}"
            );
            assert_eq!(logged["policies"], serde_json::json!(["p", "p"]));
        }
    }

    #[test]
    fn the_log_record_of_an_allowed_container_keeps_the_admitting_policys_findings() {
        let d = decide(
            "podman-default",
            vec![builtin::restricted(), builtin::privileged()],
            Mode::Enforce,
        );
        assert_eq!(d.admitted_by.as_deref(), Some("builtin:privileged"));
        let full: serde_json::Value = serde_json::from_str(&d.to_json()).unwrap();
        let logged: serde_json::Value = serde_json::from_str(&log_json(&d)).unwrap();
        // `check --output json` says what restricted refused; the log does
        // not, as it decided nothing. Both name the policies evaluated.
        assert_eq!(full["violations"][0]["policy"], "builtin:restricted");
        assert_eq!(logged["violations"].as_array().map(Vec::len), Some(0));
        assert_eq!(logged["policies"], full["policies"]);
        assert_eq!(logged["allowed"], true);
        assert_eq!(logged["facts"], full["facts"]);
        // A denial logs every policy's findings.
        let denied = decide("podman-default", vec![builtin::restricted()], Mode::Enforce);
        assert_eq!(log_json(&denied), denied.to_json());
    }

    #[test]
    fn every_policy_denying_lists_each() {
        let d = decide(
            "podman-privileged",
            vec![builtin::restricted(), builtin::baseline()],
            Mode::Enforce,
        );
        let line = d.one_line();
        assert!(
            line.starts_with(
                "oci-psp-hook: denied by every policy: \"builtin:restricted\": privileged: "
            ),
            "{line}"
        );
        assert!(
            line.contains(" | \"builtin:baseline\": privileged: "),
            "{line}"
        );
    }

    #[test]
    fn audit_mode_allows_but_says_would_deny() {
        let d = decide("podman-host-pid", vec![builtin::baseline()], Mode::Audit);
        assert_eq!(d.verdict, Verdict::Deny);
        assert_eq!(d.exit_code(), 0);
        assert!(d.one_line().starts_with(
            "oci-psp-hook: audit mode, would deny: denied by policy \"builtin:baseline\": hostPID: "
        ));
        let json: serde_json::Value = serde_json::from_str(&d.to_json()).unwrap();
        assert_eq!(json["allowed"], true);
    }

    #[test]
    fn the_record_is_the_bytes_serde_json_would_write() {
        let decisions = [
            decide(
                "podman-default",
                vec![builtin::restricted(), builtin::baseline()],
                Mode::Enforce,
            ),
            decide("podman-default", vec![builtin::restricted()], Mode::Enforce),
            decide(
                "podman-default",
                vec![builtin::restricted(), builtin::privileged()],
                Mode::Enforce,
            ),
            decide(
                "podman-privileged",
                vec![builtin::restricted(), builtin::baseline()],
                Mode::Enforce,
            ),
            decide("podman-host-pid", vec![builtin::baseline()], Mode::Audit),
            Decision::error(ContainerInfo::default(), "no \"bundle\"\n\u{1}\\ é"),
        ];
        for d in &decisions {
            for results in [d.results.iter().collect(), d.deciding_results()] {
                let expected = serde_json::to_vec(&d.record(results.clone())).unwrap();
                let mut written = b"prefix".to_vec();
                d.write_json(results, &mut written);
                assert_eq!(
                    String::from_utf8_lossy(&written[6..]),
                    String::from_utf8_lossy(&expected)
                );
            }
        }
    }

    #[test]
    fn errors_block() {
        let d = Decision::error(ContainerInfo::default(), "OCI state on stdin has no bundle");
        assert_eq!(d.exit_code(), 2);
        assert_eq!(
            d.one_line(),
            "oci-psp-hook: error, container unknown blocked: OCI state on stdin has no bundle"
        );
    }
}
