//! `explain`: why was this container refused? Its decisions as the hook
//! logged them — from the journal (else the syslog files) and the records
//! no log took (`/var/lib/oci-psp-hook/undelivered`), or from `--from-log`
//! files — with their violations, and the policy that came closest to
//! admitting it (the fewest violations in its latest denial). `--stats`:
//! the decisions by namespace and verdict, and the hook's latency
//! percentiles from the records' `duration_us`. Only records attributable
//! to the hook count (see `advise::from_log`).

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::advise::from_log::{self, Attribution, LogError, LogRecord};

/// Why no decisions could be looked up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("give a container: ID, NAMESPACE/POD or NAMESPACE/POD/CONTAINER (or --stats)")]
    NoTarget,
    #[error("{text:?} is neither a container id nor NAMESPACE/POD[/CONTAINER]")]
    BadTarget { text: String },
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Where syslog daemons write the `authpriv` facility the hook logs to
/// (Debian, RHEL), then the catch-all files.
const SYSLOG_FILES: &[&str] = &[
    "/var/log/auth.log",
    "/var/log/secure",
    "/var/log/syslog",
    "/var/log/messages",
];
/// Decisions shown in text, the latest.
const SHOWN: usize = 10;

#[derive(Debug, Clone)]
pub struct Options {
    /// Empty with `stats`: every container.
    pub target: String,
    pub stats: bool,
    pub from_log: Vec<PathBuf>,
    pub log_key: Option<PathBuf>,
    pub json: bool,
}

/// One matching decision and where it was read.
struct Found {
    record: LogRecord,
    source: String,
}

pub fn run(options: &Options) -> i32 {
    match explain(options) {
        Ok((text, found)) => {
            print!("{text}");
            if found { 0 } else { 1 }
        }
        Err(e) => {
            eprintln!("oci-psp-hook: explain: {e}");
            2
        }
    }
}

fn explain(options: &Options) -> Result<(String, bool), Error> {
    let target = match (options.target.as_str(), options.stats) {
        ("", true) => Target::Any,
        ("", false) => return Err(Error::NoTarget),
        (text, _) => Target::parse(text)?,
    };
    let key_path = options.log_key.clone().unwrap_or_else(crate::log_key::path);
    let attribution = Attribution {
        key: crate::log_key::load(&key_path).ok(),
        accept_unattributed: false,
    };
    let mut found = Vec::new();
    let mut unattributed = 0;
    let mut keep = |record: LogRecord, source: &str| {
        if !target.matches(&record.decision) {
            return;
        }
        if record.by_hook {
            found.push(Found {
                record,
                source: source.to_string(),
            });
        } else {
            unattributed += 1;
        }
    };
    let read_file = |path: &Path, keep: &mut dyn FnMut(LogRecord, &str)| {
        let source = path.display().to_string();
        from_log::each_record(path, &attribution, |r| {
            keep(r, &source);
            Ok(())
        })
    };
    if options.from_log.is_empty() {
        if !read_journal(&attribution, &mut keep)? {
            for file in SYSLOG_FILES.iter().map(Path::new).filter(|p| p.is_file()) {
                read_file(file, &mut keep)?;
            }
        }
        for file in crate::undelivered::kept(Path::new("/")) {
            read_file(&file, &mut keep)?;
        }
    } else {
        for file in &options.from_log {
            read_file(file, &mut keep)?;
        }
    }
    if unattributed > 0 {
        eprintln!(
            "oci-psp-hook: explain: {unattributed} records of {} not attributable to the hook skipped (unsigned or forged; the log key {} verifies the hook's text records)",
            options.target,
            key_path.display()
        );
    }
    if options.stats {
        let stats = Stats::of(&found);
        let text = if options.json {
            format!("{}\n", stats.json())
        } else {
            stats.text()
        };
        return Ok((text, !found.is_empty()));
    }
    let closest = found
        .iter()
        .rev()
        .find(|f| f.record.decision.get("verdict").and_then(Value::as_str) == Some("deny"))
        .and_then(|f| closest(&f.record.decision));
    let text = if options.json {
        let decisions: Vec<Value> = found
            .iter()
            .map(|f| {
                let mut d = f.record.decision.clone();
                if let Some(map) = d.as_object_mut() {
                    map.remove("facts");
                    map.insert("time".into(), json!(f.record.time));
                    map.insert("source".into(), json!(f.source));
                }
                d
            })
            .collect();
        format!(
            "{}\n",
            json!({"target": options.target, "decisions": decisions, "closest": closest.as_ref().map(|(p, v)| json!({"policy": p, "violations": v}))})
        )
    } else {
        render(&options.target, &found, closest.as_ref())
    };
    Ok((text, !found.is_empty()))
}

/// The journal's records of the hook (`journalctl -t oci-psp-hook -o
/// json`); `false` when there is no journal to ask.
fn read_journal(
    attribution: &Attribution,
    keep: &mut dyn FnMut(LogRecord, &str),
) -> Result<bool, LogError> {
    if !Path::new("/run/systemd/journal").is_dir() {
        return Ok(false);
    }
    let Ok(mut child) = Command::new("journalctl")
        .args(["-t", "oci-psp-hook", "-o", "json", "--no-pager"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return Ok(false);
    };
    let Some(out) = child.stdout.take() else {
        return Ok(false);
    };
    let read = from_log::each_record_in(BufReader::new(out), "the journal", attribution, |r| {
        keep(r, "journal");
        Ok(())
    });
    let _ = child.wait();
    read.map(|()| true)
}

/// Which containers: an id (or a prefix of at least 12 characters), or
/// `NAMESPACE/POD` (every container of the pod), or
/// `NAMESPACE/POD/CONTAINER`.
enum Target {
    /// Every container (`--stats` without one).
    Any,
    Id(String),
    Pod {
        namespace: String,
        pod: String,
        container: Option<String>,
    },
}

impl Target {
    fn parse(text: &str) -> Result<Target, Error> {
        let parts: Vec<&str> = text.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) || parts.len() > 3 {
            return Err(Error::BadTarget { text: text.into() });
        }
        Ok(match parts[..] {
            [id] => Target::Id(id.to_string()),
            [namespace, pod] => Target::Pod {
                namespace: namespace.into(),
                pod: pod.into(),
                container: None,
            },
            [namespace, pod, container] => Target::Pod {
                namespace: namespace.into(),
                pod: pod.into(),
                container: Some(container.into()),
            },
            _ => unreachable!("one to three parts"),
        })
    }

    fn matches(&self, decision: &Value) -> bool {
        let field = |name: &str| {
            decision
                .get("container")
                .and_then(|c| c.get(name))
                .and_then(Value::as_str)
        };
        match self {
            Target::Any => true,
            Target::Id(id) => field("id").is_some_and(|have| {
                have == id || (id.len() >= 12 && have.starts_with(id.as_str()))
            }),
            Target::Pod {
                namespace,
                pod,
                container,
            } => {
                field("namespace") == Some(namespace)
                    && field("pod") == Some(pod)
                    && container
                        .as_deref()
                        .is_none_or(|c| field("container") == Some(c))
            }
        }
    }
}

/// Decisions by namespace and verdict, and the hook's latency.
struct Stats {
    /// Namespace (`-` outside Kubernetes) → counts by [`VERDICTS`].
    by_namespace: std::collections::BTreeMap<String, [usize; 5]>,
    /// Every `duration_us`, sorted.
    latencies: Vec<u64>,
}

/// The verdicts counted: `deny` is enforce mode's, `would-deny` audit
/// mode's.
const VERDICTS: [&str; 5] = ["allow", "deny", "would-deny", "error", "exempt"];

impl Stats {
    fn of(found: &[Found]) -> Stats {
        let mut by_namespace = std::collections::BTreeMap::new();
        let mut latencies = Vec::new();
        for f in found {
            let d = &f.record.decision;
            let get = |k: &str| d.get(k).and_then(Value::as_str);
            let verdict = match (get("verdict"), get("mode")) {
                (Some("deny"), Some("audit")) => "would-deny",
                (Some(v), _) => v,
                (None, _) => continue,
            };
            let Some(i) = VERDICTS.iter().position(|v| *v == verdict) else {
                continue;
            };
            let namespace = d
                .pointer("/container/namespace")
                .and_then(Value::as_str)
                .unwrap_or("-");
            by_namespace.entry(namespace.to_string()).or_insert([0; 5])[i] += 1;
            if let Some(us) = d.get("duration_us").and_then(Value::as_u64) {
                latencies.push(us);
            }
        }
        latencies.sort_unstable();
        Stats {
            by_namespace,
            latencies,
        }
    }

    /// The nearest-rank percentile `p` of the latencies.
    fn percentile(&self, p: usize) -> Option<u64> {
        let n = self.latencies.len();
        (n > 0).then(|| self.latencies[(p * n).div_ceil(100).clamp(1, n) - 1])
    }

    fn totals(&self) -> [usize; 5] {
        let mut all = [0; 5];
        for counts in self.by_namespace.values() {
            for (a, c) in all.iter_mut().zip(counts) {
                *a += c;
            }
        }
        all
    }

    fn text(&self) -> String {
        let totals = self.totals();
        let parts: Vec<String> = VERDICTS
            .iter()
            .zip(totals)
            .map(|(v, n)| format!("{v} {n}"))
            .collect();
        let mut out = format!(
            "decisions: {} ({})\n",
            totals.iter().sum::<usize>(),
            parts.join(", ")
        );
        if !self.by_namespace.is_empty() {
            out.push_str(&format!(
                "{:<30} {:>7} {:>7} {:>10} {:>7} {:>7}\n",
                "namespace", "allow", "deny", "would-deny", "error", "exempt"
            ));
            for (ns, c) in &self.by_namespace {
                out.push_str(&format!(
                    "{ns:<30} {:>7} {:>7} {:>10} {:>7} {:>7}\n",
                    c[0], c[1], c[2], c[3], c[4]
                ));
            }
        }
        match (self.percentile(50), self.percentile(90), self.percentile(99)) {
            (Some(p50), Some(p90), Some(p99)) => out.push_str(&format!(
                "hook latency (duration_us of {} decisions): p50 {p50} us, p90 {p90} us, p99 {p99} us\n",
                self.latencies.len()
            )),
            _ => out.push_str("hook latency: no record carries duration_us\n"),
        }
        out
    }

    fn json(&self) -> Value {
        let counts = |c: &[usize; 5]| -> Value {
            VERDICTS
                .iter()
                .zip(c)
                .map(|(v, n)| ((*v).to_string(), json!(n)))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        json!({
            "total": counts(&self.totals()),
            "byNamespace": self.by_namespace.iter().map(|(ns, c)| (ns.clone(), counts(c))).collect::<serde_json::Map<_, _>>(),
            "latencyUs": {
                "count": self.latencies.len(),
                "p50": self.percentile(50),
                "p90": self.percentile(90),
                "p99": self.percentile(99),
            },
        })
    }
}

/// The policy with the fewest violations in a denial, and them.
fn closest(decision: &Value) -> Option<(String, Vec<String>)> {
    let policies: Vec<&str> = decision
        .get("policies")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let violations = decision.get("violations")?.as_array()?;
    policies
        .iter()
        .map(|p| {
            let of: Vec<String> = violations
                .iter()
                .filter(|v| v.get("policy").and_then(Value::as_str) == Some(p))
                .map(finding)
                .collect();
            (p.to_string(), of)
        })
        .filter(|(_, of)| !of.is_empty())
        .min_by_key(|(_, of)| of.len())
}

fn finding(v: &Value) -> String {
    let get = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("?");
    format!("{}: {}", get("field"), get("message"))
}

fn render(target: &str, found: &[Found], closest: Option<&(String, Vec<String>)>) -> String {
    if found.is_empty() {
        return format!("no decision of the hook about {target} in the logs read\n");
    }
    let mut out = format!("{target}: {} decisions", found.len());
    if found.len() > SHOWN {
        out.push_str(&format!(", the latest {SHOWN} shown"));
    }
    out.push('\n');
    for f in &found[found.len().saturating_sub(SHOWN)..] {
        let d = &f.record.decision;
        let get = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("?");
        let container = d.get("container").cloned().unwrap_or_default();
        let who = |k: &str| container.get(k).and_then(Value::as_str).unwrap_or("-");
        out.push_str(&format!(
            "\n{}  {} ({} mode)  container {} ({}/{}/{})  from {}\n",
            f.record.time.as_deref().unwrap_or("(time unknown)"),
            get("verdict"),
            get("mode"),
            who("id"),
            who("namespace"),
            who("pod"),
            who("container"),
            f.source
        ));
        if let Some(by) = d.get("admittedBy").and_then(Value::as_str) {
            out.push_str(&format!("  admitted by {by:?}\n"));
        }
        if let Some(error) = d.get("error").and_then(Value::as_str) {
            out.push_str(&format!("  error: {error}\n"));
        }
        for (kind, key) in [
            ("violation", "violations"),
            ("not verifiable", "unverified"),
        ] {
            for v in d.get(key).and_then(Value::as_array).into_iter().flatten() {
                let policy = v.get("policy").and_then(Value::as_str).unwrap_or("?");
                out.push_str(&format!("  {kind} ({policy}): {}\n", finding(v)));
            }
        }
        if let Some(cut) = d.get("cut").and_then(Value::as_str) {
            out.push_str(&format!("  (cut: {cut})\n"));
        }
    }
    if let Some((policy, violations)) = closest {
        out.push_str(&format!(
            "\nclosest to admitting it: {policy:?}, {} violation{} in the latest denial:\n",
            violations.len(),
            if violations.len() == 1 { "" } else { "s" }
        ));
        for v in violations {
            out.push_str(&format!("  {v}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_the_closest_policy() {
        let d = json!({"verdict": "deny", "container": {"id": "3f2a1b0c9d8e7f6a5b4c", "namespace": "team-a", "pod": "web-0", "container": "app"},
            "policies": ["restricted", "baseline"],
            "violations": [
                {"policy": "restricted", "field": "runAsUser", "message": "root"},
                {"policy": "restricted", "field": "hostPID", "message": "host pid"},
                {"policy": "baseline", "field": "hostPID", "message": "host pid"}]});
        for (t, yes) in [
            ("3f2a1b0c9d8e7f6a5b4c", true),
            ("3f2a1b0c9d8e", true),
            ("3f2a", false),
            ("team-a/web-0", true),
            ("team-a/web-0/app", true),
            ("team-a/web-0/sidecar", false),
            ("team-b/web-0", false),
        ] {
            assert_eq!(Target::parse(t).unwrap().matches(&d), yes, "{t}");
        }
        assert!(Target::parse("a//b").is_err());
        let stats = Stats {
            by_namespace: Default::default(),
            latencies: (1..=200).collect(),
        };
        assert_eq!(
            [50, 90, 99, 100].map(|p| stats.percentile(p)),
            [Some(100), Some(180), Some(198), Some(200)]
        );
        assert!(Target::parse("a/b/c/d").is_err());
        assert_eq!(
            closest(&d),
            Some((
                "baseline".to_string(),
                vec!["hostPID: host pid".to_string()]
            ))
        );
    }
}
