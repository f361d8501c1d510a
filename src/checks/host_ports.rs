//! PSP `hostPorts`.
//!
//! Evidence: host ports are not part of config.json; the runtime publishes
//! them outside the container. The node sees them only where the runtime
//! passes them as annotations: CRI-O's `io.kubernetes.cri-o.PortMappings` and
//! kubelet's `io.kubernetes.container.ports`. An annotation that does not parse
//! shows as port 0 / `unparseable` and is denied unless every port is allowed.
//!
//! Not verifiable at the node: a Kubernetes container without those
//! annotations (containerd does not pass them) — reported as unverified when
//! the policy restricts host ports. podman, ctr and runc publish ports outside
//! config.json and carry no Kubernetes identity; for them nothing is reported,
//! since every such container would otherwise carry the same note.

use crate::checks::Findings;
use crate::container::{ContainerView, HostPort};
use crate::policy::{IdRange, Policy, describe_ranges};

const FIELD: &str = "hostPorts";

fn admits(ranges: &[(u16, u16)], port: u16) -> bool {
    ranges.iter().any(|&(min, max)| min <= port && port <= max)
}

/// Whether the ranges together cover every port 1-65535 (port 0 is never a
/// host port: Kubernetes uses it for "none").
fn admits_every_port(ranges: &[(u16, u16)]) -> bool {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable();
    let mut next: u32 = 1; // first port not yet covered
    for (min, max) in sorted {
        if u32::from(min) > next {
            break;
        }
        next = next.max(u32::from(max) + 1);
    }
    next > u32::from(u16::MAX)
}

fn describe(ranges: &[(u16, u16)]) -> String {
    let ranges: Vec<IdRange> = ranges
        .iter()
        .map(|&(min, max)| IdRange {
            min: min.into(),
            max: max.into(),
        })
        .collect();
    describe_ranges(&ranges)
}

fn denial(port: &HostPort, ranges: &[(u16, u16)]) -> String {
    if port.protocol == "unparseable" {
        return "the runtime's port mapping annotation could not be parsed".into();
    }
    if ranges.is_empty() {
        return format!(
            "host port {}/{}: no host ports are allowed",
            port.port, port.protocol
        );
    }
    format!(
        "host port {}/{} not in {}",
        port.port,
        port.protocol,
        describe(ranges)
    )
}

pub fn check(view: &ContainerView, policy: &Policy, findings: &mut Findings) {
    let ranges = &policy.host_ports;
    if admits_every_port(ranges) {
        return;
    }
    let Some(ports) = &view.host_ports else {
        if view.identity.namespace.is_some() {
            findings.unverified(
                FIELD,
                || "the runtime passed no port mappings; host ports cannot be checked at the node",
            );
        }
        return;
    };
    for port in ports {
        if port.protocol == "unparseable" || !admits(ranges, port.port) {
            findings.deny(FIELD, || denial(port, ranges));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::policy::Origin;

    fn findings(view: &ContainerView, ranges: &[(u16, u16)]) -> Findings {
        let mut policy = Policy::closed("test", Origin::Builtin);
        policy.host_ports = ranges.to_vec();
        let mut findings = Findings::default();
        check(view, &policy, &mut findings);
        findings
    }

    fn denied(view: &ContainerView, ranges: &[(u16, u16)]) -> Vec<String> {
        let f = findings(view, ranges);
        assert!(f.unverified.is_empty());
        f.violations.iter().map(|v| v.to_string()).collect()
    }

    /// A Kubernetes container with one annotation set to `value`.
    fn annotated(key: &str, value: &str) -> ContainerView<'static> {
        let annotations = serde_json::json!({
            "io.kubernetes.cri-o.ContainerType": "container",
            "io.kubernetes.cri-o.Name": "k8s_nginx_nginx-0_web_u1_0",
            key: value,
        });
        let json = serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "annotations": annotations,
        });
        fixtures::cri_view_of("ports", json.to_string().as_bytes())
    }

    fn crio_8080() -> ContainerView<'static> {
        annotated(
            "io.kubernetes.cri-o.PortMappings",
            r#"[{"ContainerPort":80,"HostPort":8080,"Protocol":"TCP","HostIP":""}]"#,
        )
    }

    fn kubelet_8080() -> ContainerView<'static> {
        annotated(
            "io.kubernetes.container.ports",
            r#"[{"name":"http","hostPort":8080,"containerPort":80,"protocol":"TCP"}]"#,
        )
    }

    #[test]
    fn coverage_of_every_port() {
        assert!(admits_every_port(&[(0, 65535)]));
        assert!(admits_every_port(&[(1, 65535)]));
        assert!(admits_every_port(&[(1000, 65535), (1, 999)]));
        assert!(admits_every_port(&[(1, 2000), (1000, 65535)]));
        assert!(!admits_every_port(&[(1, 999), (1001, 65535)]));
        assert!(!admits_every_port(&[(0, 65534)]));
        assert!(!admits_every_port(&[]));
    }

    #[test]
    fn port_outside_ranges_denied() {
        for view in [crio_8080(), kubelet_8080()] {
            assert_eq!(
                denied(&view, &[(1000, 2000)]),
                ["hostPorts: host port 8080/TCP not in 1000-2000"]
            );
            assert_eq!(
                denied(&view, &[]),
                ["hostPorts: host port 8080/TCP: no host ports are allowed"]
            );
            assert!(denied(&view, &[(1000, 2000), (8080, 8080)]).is_empty());
        }
    }

    #[test]
    fn unparseable_annotation_denied_unless_every_port_allowed() {
        let view = annotated("io.kubernetes.cri-o.PortMappings", "not json");
        assert_eq!(
            denied(&view, &[(1, 65000)]),
            ["hostPorts: the runtime's port mapping annotation could not be parsed"]
        );
        assert!(denied(&view, &[(0, 65535)]).is_empty());
    }

    #[test]
    fn kubernetes_container_without_annotations_is_unverified() {
        let view = annotated("io.kubernetes.cri-o.Unrelated", "x");
        let f = findings(&view, &[]);
        assert!(f.violations.is_empty());
        assert_eq!(
            f.unverified[0].to_string(),
            "hostPorts: the runtime passed no port mappings; host ports cannot be checked at the node"
        );
        assert!(findings(&view, &[(0, 65535)]).unverified.is_empty());
    }

    #[test]
    fn container_without_kubernetes_identity_reports_nothing() {
        let f = findings(&fixtures::view("podman-default"), &[]);
        assert_eq!(f, Findings::default());
    }
}
