//! oci-psp-hook command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use oci_psp_hook::commands::{self, check::Output};
use oci_psp_hook::policy::select::Flags;

/// Enforce Kubernetes PodSecurityPolicy (or the Pod Security Standards) on
/// every container a runtime starts, as an OCI hook.
///
/// Exit codes: 0 allowed, 1 denied, 2 error (the container is blocked too).
#[derive(Parser)]
#[command(name = "oci-psp-hook", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run as an OCI hook (createRuntime/prestart): the OCI state on stdin,
    /// config.json from its bundle. Denials go to stderr and syslog.
    Hook {
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Judge a bundle directory or a config.json offline, like the hook would.
    Check {
        #[command(flatten)]
        policy: PolicyArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
        /// A bundle directory or a config.json file.
        path: PathBuf,
    },
    /// Validate the policies and configuration: exit 0 valid, 2 invalid.
    Lint {
        #[command(flatten)]
        policy: PolicyArgs,
    },
}

/// Which policies apply. Without any of these, /etc/oci-psp-hook/config.yaml
/// applies, and without that file builtin:baseline.
#[derive(Args)]
struct PolicyArgs {
    /// A PodSecurityPolicy manifest (YAML, multi-document, or JSON); repeat
    /// for several. A container is allowed when any policy admits it.
    #[arg(long = "policy", value_name = "FILE")]
    policies: Vec<PathBuf>,
    /// A built-in Pod Security Standards profile: privileged, baseline or
    /// restricted (builtin:NAME); repeatable.
    #[arg(long = "profile", value_name = "NAME")]
    profiles: Vec<String>,
    /// The configuration file (policy directory, mode, namespace bindings).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl PolicyArgs {
    fn flags(self) -> Flags {
        Flags {
            policies: self.policies,
            profiles: self.profiles,
            config: self.config,
        }
    }
}

fn main() -> ExitCode {
    // Fail closed even on a bug: a panic blocks the container (exit 2).
    std::panic::set_hook(Box::new(|info| {
        eprintln!("oci-psp-hook: internal error, container blocked: {info}");
        std::process::exit(2);
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version are not errors; bad usage blocks (2).
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let code = match cli.command {
        Command::Hook { policy } => commands::hook::run(&policy.flags(), std::io::stdin().lock()),
        Command::Check {
            policy,
            output,
            path,
        } => commands::check::run(&policy.flags(), &path, output),
        Command::Lint { policy } => commands::lint::run(&policy.flags()),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}
