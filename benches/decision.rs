//! In-process cost of a decision: building the container view from a real
//! podman config.json, and evaluating it against the restricted example
//! policy; then the scale cases (1000 mounts, 100 policies of which the last
//! admits) and policy parsing. Whole-process ratios are measured by
//! `integration/perf.py`.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use oci_psp_hook::container::build::{BuildContext, build};
use oci_psp_hook::container::mounts::MountContext;
use oci_psp_hook::container::namespaces::{NamespaceKind, NamespaceProbe};
use oci_psp_hook::decision::Decision;
use oci_psp_hook::policy::config::Mode;
use oci_psp_hook::policy::select::Selection;
use oci_psp_hook::policy::{Origin, Policy, load};

struct NoProbe;

impl NamespaceProbe for NoProbe {
    fn identity(&self, _: &Path) -> Option<(u64, u64)> {
        None
    }
    fn own(&self, _: NamespaceKind) -> Option<(u64, u64)> {
        None
    }
}

fn repo(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

fn restricted_text() -> String {
    std::fs::read_to_string(repo("examples/restricted-psp.yaml"))
        .expect("examples/restricted-psp.yaml")
}

fn restricted() -> Vec<Policy> {
    load::parse("restricted-psp.yaml", &restricted_text(), Origin::Builtin).expect("valid policy")
}

fn context() -> BuildContext<'static> {
    BuildContext {
        trust_cri: false,
        trust_id: false,
        id: "bench".into(),
        pid: None,
        state_annotations: Default::default(),
        mounts: MountContext::default(),
        probe: &NoProbe,
    }
}

/// The policies live as long as the benchmark process.
fn selection(policies: Vec<Policy>) -> Selection<'static> {
    Selection {
        mode: Mode::Enforce,
        policies: Vec::leak(policies).iter().collect(),
        chosen_by: "bench".into(),
    }
}

fn benches(c: &mut Criterion) {
    let config = std::fs::read(repo("tests/fixtures/podman-default.json")).expect("fixture");
    let ctx = context();
    let one = selection(restricted());

    c.bench_function("build view (podman config.json)", |b| {
        b.iter(|| build("config.json", &config, &ctx))
    });
    let view = build("config.json", &config, &ctx).expect("view");
    c.bench_function("evaluate (restricted example)", |b| {
        b.iter(|| Decision::evaluate(&view, &one))
    });

    let mut many: serde_json::Value = serde_json::from_slice(&config).expect("json");
    let mounts = many["mounts"].as_array_mut().expect("mounts");
    for i in 0..1000 {
        mounts.push(serde_json::json!({"destination": format!("/m{i}"), "type": "bind",
            "source": format!("/var/lib/kubelet/pods/7d0c5e7e/volumes/kubernetes.io~configmap/cfg-{i}"),
            "options": ["rbind", "ro"]}));
    }
    let many = serde_json::to_vec(&many).expect("json");
    // With the log record: the mounts' facts are read off the view as it is
    // written.
    c.bench_function("build + evaluate + log record, 1000 mounts", |b| {
        b.iter(|| {
            let view = build("config.json", &many, &ctx).expect("view");
            let mut record = Vec::new();
            Decision::evaluate(&view, &one).write_log_json(&mut record);
            record.len()
        })
    });

    let text = restricted_text();
    let hundred: Vec<Policy> = (0..100)
        .flat_map(|i| {
            load::parse(
                "p.yaml",
                &text.replace("name: restricted", &format!("name: p{i}")),
                Origin::Builtin,
            )
            .expect("policy")
        })
        .chain(std::iter::once(oci_psp_hook::policy::builtin::privileged()))
        .collect();
    let hundred = selection(hundred);
    c.bench_function("evaluate, 100 policies then one that admits", |b| {
        b.iter(|| Decision::evaluate(&view, &hundred))
    });

    c.bench_function("parse the restricted example policy", |b| {
        b.iter(|| load::parse("restricted-psp.yaml", &text, Origin::Builtin))
    });
}

criterion_group!(decision, benches);
criterion_main!(decision);
