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
    /// Check that enforcement is really active on this node: the hooks.d
    /// file and its binary, the configuration, the runtimes' hooks_dir.
    /// Exit 0 only when all hold.
    Doctor {
        /// Start a privileged canary container through runc with the
        /// installed hook and confirm it is denied.
        #[arg(long)]
        canary: bool,
        /// Look at an installation under this root instead of /.
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// The configuration file (default: ROOT/etc/oci-psp-hook/config.yaml).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// Print an OCI spec for containerd's CRI `base_runtime_spec` with the hook
    /// in hooks.createRuntime (containerd reads no hooks.d directory).
    ContainerdBaseSpec {
        /// Start from this spec instead of `ctr oci spec`.
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
        /// Where the hook binary is installed.
        #[arg(long, value_name = "PATH", default_value = commands::base_spec::DEFAULT_HOOK_PATH)]
        hook_path: PathBuf,
        /// An extra argument for `oci-psp-hook hook` (e.g. --config=FILE); repeatable.
        #[arg(long = "hook-arg", value_name = "ARG", allow_hyphen_values = true)]
        hook_args: Vec<String>,
        /// Write the spec to this file (atomically) instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
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
        Command::Doctor {
            canary,
            root,
            config,
            output,
        } => commands::doctor::run(&root, config.as_deref(), canary, output == Output::Json),
        Command::ContainerdBaseSpec {
            from,
            hook_path,
            hook_args,
            output,
        } => commands::base_spec::run(from.as_deref(), &hook_path, &hook_args, output.as_deref()),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}
