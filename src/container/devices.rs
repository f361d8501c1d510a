//! Device cgroup rules (`linux.resources.devices`) as runc applies them.
//!
//! runc starts from "deny every device", applies the rules in order and
//! appends its own defaults. What a container can open is therefore decided
//! by the allow rules; deny rules only take away. runc reads any rule of type
//! `a` as every device, whatever its major, minor or access; a major or minor
//! of `-1` is a wildcard like an absent one; an empty access is `rwm`.
//!
//! An allow rule is privileged evidence unless it grants only `m` (making a
//! node, which opens nothing), is one of the runtimes' default character
//! devices, or grants a device `linux.devices` passes in (judged as that
//! device).

use super::oci::{Device, DeviceRule};

/// The character devices every runtime allows (runc's, containerd's,
/// CRI-O's and podman's defaults): null, zero, full, random, urandom, tty,
/// console, ptmx, the pty slaves (136:*) and tun.
const DEFAULT_CHAR_DEVICES: &[(i64, Option<i64>)] = &[
    (1, Some(3)),
    (1, Some(5)),
    (1, Some(7)),
    (1, Some(8)),
    (1, Some(9)),
    (5, Some(0)),
    (5, Some(1)),
    (5, Some(2)),
    (136, None),
    (10, Some(200)),
];

/// A major or minor as runc reads it: absent and negative are wildcards.
fn number(n: Option<i64>) -> Option<i64> {
    n.filter(|n| *n >= 0)
}

fn show(n: Option<i64>) -> String {
    number(n).map_or_else(|| "*".to_string(), |n| n.to_string())
}

/// The allow rules beyond the runtime's defaults and the passed devices,
/// each described for a message.
pub fn beyond_defaults(rules: &[DeviceRule], devices: &[Device]) -> Vec<String> {
    rules
        .iter()
        .filter(|r| r.allow)
        .filter_map(|rule| {
            let access = match rule.access.as_deref() {
                None | Some("") => "rwm",
                Some(a) => a,
            };
            let (major, minor) = (number(rule.major), number(rule.minor));
            let text = format!(
                "{} {}:{} {access}",
                rule.typ.map_or('a', char::from),
                show(rule.major),
                show(rule.minor)
            );
            match rule.typ {
                None | Some(b'a') => {
                    return Some(if text == "a *:* rwm" {
                        "device cgroup allows access to every device".to_string()
                    } else {
                        format!(
                            "device cgroup allows access to every device (runc reads the \
                             type-a rule \"{text}\" as all devices)"
                        )
                    });
                }
                _ => {}
            }
            if access.chars().all(|c| c == 'm') {
                return None;
            }
            let char_device = matches!(rule.typ, Some(b'c' | b'u'));
            let default = char_device
                && major.is_some()
                && DEFAULT_CHAR_DEVICES
                    .iter()
                    .any(|(dmaj, dmin)| Some(*dmaj) == major && (dmin.is_none() || *dmin == minor));
            let passed = devices.iter().any(|d| {
                let same_type =
                    d.typ == rule.typ.unwrap_or(0) || (char_device && matches!(d.typ, b'c' | b'u'));
                same_type && Some(d.major) == major && Some(d.minor) == minor
            });
            (!default && !passed).then(|| {
                let kind = if char_device { "character" } else { "block" };
                format!(
                    "device cgroup rule \"{text}\" allows {kind} devices beyond the runtime's \
                     defaults"
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(typ: Option<u8>, major: Option<i64>, minor: Option<i64>, access: &str) -> DeviceRule {
        DeviceRule {
            allow: true,
            typ,
            major,
            minor,
            access: Some(access.to_string()),
        }
    }

    #[test]
    fn runtime_defaults_and_mknod_only_pass() {
        let rules = [
            DeviceRule::default(),
            rule(Some(b'c'), Some(1), Some(3), "rwm"),
            rule(Some(b'c'), Some(136), None, "rwm"),
            rule(Some(b'c'), Some(136), Some(-1), "rw"),
            rule(Some(b'c'), None, None, "m"),
            rule(Some(b'b'), Some(-1), Some(-1), "m"),
        ];
        assert!(beyond_defaults(&rules, &[]).is_empty());
    }

    #[test]
    fn every_type_a_rule_is_every_device() {
        for r in [
            rule(None, None, None, "rwm"),
            rule(Some(b'a'), Some(8), Some(0), "r"),
            rule(Some(b'a'), Some(-1), Some(-1), "m"),
        ] {
            let found = beyond_defaults(&[r], &[]);
            assert!(found[0].starts_with("device cgroup allows access to every device"));
        }
    }

    #[test]
    fn block_and_other_char_devices_are_evidence() {
        for (r, text) in [
            (rule(Some(b'b'), None, None, "rwm"), "b *:* rwm"),
            (rule(Some(b'b'), Some(-1), Some(-1), "rw"), "b *:* rw"),
            (rule(Some(b'b'), Some(254), Some(0), "r"), "b 254:0 r"),
            (rule(Some(b'c'), Some(1), Some(1), "rw"), "c 1:1 rw"),
            (rule(Some(b'c'), Some(1), None, "rw"), "c 1:* rw"),
            (rule(Some(b'c'), None, Some(3), "rw"), "c *:3 rw"),
        ] {
            let found = beyond_defaults(&[r], &[]);
            assert_eq!(found.len(), 1, "{text}");
            assert!(found[0].contains(text), "{found:?}");
        }
    }

    #[test]
    fn a_passed_device_is_judged_as_that_device() {
        let fuse = Device {
            path: "/dev/fuse".into(),
            typ: b'c',
            major: 10,
            minor: 229,
        };
        let r = rule(Some(b'c'), Some(10), Some(229), "rwm");
        assert!(beyond_defaults(&[r], &[fuse]).is_empty());
    }
}
