//! `lint`: validate the policies and the configuration the flags select.
//! Exit 0 when valid, 2 when not.

use crate::policy::select::{Flags, Sources};

pub fn run(flags: &Flags) -> i32 {
    let sources = match Sources::load(flags) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("oci-psp-hook: invalid: {e}");
            return 2;
        }
    };
    if let Sources::Config(config) = &sources
        && !config.broken.is_empty()
    {
        for e in &config.broken {
            eprintln!("oci-psp-hook: invalid: {e}");
        }
        return 2;
    }
    let policies = sources.all_policies();
    for p in &policies {
        println!("policy {:?} ({}): valid", p.name, p.origin);
        for note in &p.not_enforced {
            println!("  not enforced at the node: {note}");
        }
        for note in &p.notes {
            println!("  note: {note}");
        }
    }
    for (i, rule) in sources.exemptions().iter().enumerate() {
        println!("exemption exemptions[{i}]: {}", rule.describe());
        for note in rule.notes() {
            println!("  note: {note}");
        }
    }
    match &sources {
        Sources::Config(c) => println!(
            "ok: {} ({} mode, {} policies, {} bindings, {} exemptions)",
            c.path.display(),
            if c.mode == crate::policy::config::Mode::Audit {
                "audit"
            } else {
                "enforce"
            },
            policies.len(),
            c.bindings.len(),
            c.exemptions.len()
        ),
        Sources::Default(_) => println!("ok: no configuration file; builtin:baseline applies"),
        Sources::Explicit(_) => println!("ok: {} policies", policies.len()),
    }
    0
}
