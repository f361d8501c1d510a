//! oci-psp-hook command line.
//!
//! `hook` runs on every container start, so the process starts lean: no std
//! runtime set-up (`no_main`: std would read /proc/self/maps for the main
//! thread's stack guard and map an alternate signal stack), and clap builds
//! nothing for the hook's common command lines ([`commands::hook::fast_flags`]).
#![no_main]

use std::ffi::{CStr, OsString, c_char, c_int};
use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use oci_psp_hook::commands::{self, check::Output};
use oci_psp_hook::policy::select::Flags;

/// Enforce Kubernetes PodSecurityPolicy (or the Pod Security Standards) on
/// every container a runtime starts, as an OCI hook.
///
/// Exit codes: 0 allowed (or exempt: admitted by an exemption rule of the
/// configuration, whatever its policies say), 1 denied, 2 error (the
/// container is blocked too).
#[derive(Parser)]
#[command(name = "oci-psp-hook", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run as an OCI hook (createRuntime/prestart): the OCI state on stdin,
    /// config.json from its bundle. Denials go to stderr; every decision to the log (journald, else syslog).
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
        /// Judge a config.json captured from a CRI runtime (containerd's CRI
        /// plugin, CRI-O) as the node judges it: honour its Kubernetes
        /// annotations (namespace bindings, pod sandbox, pod UID). Without
        /// it they count only for a bundle in the runtime's own directory.
        #[arg(long)]
        cri: bool,
        /// The container's runtime id (default: the bundle directory's name,
        /// or its parent's for a `<id>/userdata` bundle): its runtime files
        /// and image are its own.
        #[arg(long, value_name = "ID")]
        id: Option<String>,
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
    /// Install the hook under ROOT: with --config-source, first the
    /// configuration and policies of that directory (a mounted ConfigMap),
    /// once they lint clean together, swapped in as a whole; then the binary
    /// (a copy of this executable), then the hooks.d file, each atomically.
    /// Exit 0, or 2 (a refused policy set keeps the last good one).
    Install {
        /// The node's root (/host in the DaemonSet).
        #[arg(long, value_name = "DIR")]
        root: PathBuf,
        /// config.yaml and PodSecurityPolicy files (*.yaml, *.yml, *.json),
        /// e.g. a mounted ConfigMap; installed in ROOT/etc/oci-psp-hook.
        #[arg(long, value_name = "DIR")]
        config_source: Option<PathBuf>,
        /// Also write ROOT/etc/containerd/oci-psp-hook-base-spec.json, for
        /// containerd's base_runtime_spec (from `ctr oci spec`).
        #[arg(long)]
        containerd_base_spec: bool,
        /// Take the base spec from FILE (`ctr oci spec` output) instead of ctr.
        #[arg(long, value_name = "FILE", requires = "containerd_base_spec")]
        containerd_base_spec_from: Option<PathBuf>,
        /// After installing, follow --config-source until SIGTERM (exit 0);
        /// refusals show in ROOT/run/oci-psp-hook/install-status.json and doctor.
        #[arg(long, requires = "config_source")]
        watch: bool,
    },
    /// Why was this container refused? Its decisions from the hook's log
    /// (the journal, else the syslog files, and the records no log took;
    /// or --from-log files), their violations, and the policy that came
    /// closest to admitting it; or, with --stats, the decisions by namespace
    /// and the hook's latency. Exit 0 when some decision was found, 1 when
    /// none, 2 on error.
    Explain {
        /// A container id (or a prefix of 12 or more characters),
        /// NAMESPACE/POD or NAMESPACE/POD/CONTAINER (with --stats: only
        /// those; without: every container).
        #[arg(value_name = "ID|NAMESPACE/POD", required_unless_present = "stats")]
        target: Option<String>,
        /// Decisions by namespace and verdict, and the hook's latency
        /// percentiles (p50, p90, p99 of the records' duration_us).
        #[arg(long)]
        stats: bool,
        /// Read these logs instead (syslog text, `journalctl -o json`); repeatable.
        #[arg(long, value_name = "FILE")]
        from_log: Vec<PathBuf>,
        /// The log key that signed text records (default: this node's).
        #[arg(long, value_name = "FILE")]
        log_key: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        output: commands::check::Output,
    },
    /// Create the node's log key (ROOT/etc/oci-psp-hook/log.key, root only)
    /// unless it exists, and print its path. The hook signs the records it
    /// writes to syslog with it, so `advise --from-log` can tell them from
    /// forged ones. The package and `install` run it.
    LogKey {
        /// The node's root.
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
    },
    /// Remove the hook from ROOT: the hooks.d file first, then the binary,
    /// then the containerd base spec.
    Uninstall {
        /// The node's root.
        #[arg(long, value_name = "DIR")]
        root: PathBuf,
        /// Also remove the configuration and policies (ROOT/etc/oci-psp-hook).
        #[arg(long)]
        purge: bool,
        /// Even while containerd's config.toml names the base spec.
        #[arg(long)]
        force: bool,
    },
    /// Print the least-privilege PodSecurityPolicy admitting the given
    /// containers and nothing more (YAML; exit 0, or 2 on error).
    ///
    /// Inputs: bundle directories or config.json files, the running
    /// containers (--running, needs root), and the decision records the hook
    /// logged (--from-log, e.g. after a week in audit mode). With --group-by
    /// namespace: one policy per Kubernetes namespace (named after it; the
    /// containers Kubernetes did not start go to one named "default"), then,
    /// as the last YAML document, the HookConfiguration whose bindings attach
    /// them (or into --config-output FILE, leaving only policies on stdout).
    Advise {
        /// Bundle directories or config.json files.
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Output format (several JSON documents are printed as a v1 List).
        #[arg(long, value_enum, default_value = "yaml")]
        output: commands::advise::Format,
        /// metadata.name of the policy (with --group-by: a prefix, NAME-<namespace>).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Comment each field with the containers that needed it.
        #[arg(long)]
        explain: bool,
        /// Advise from the containers running now (runc, containerd, crun state).
        #[arg(long)]
        running: bool,
        /// One policy per Kubernetes namespace, plus the HookConfiguration binding them.
        #[arg(long, value_enum, value_name = "KEY")]
        group_by: Option<commands::advise::GroupBy>,
        /// A log of the hook's decisions (syslog text, `journalctl -o json`,
        /// or the JSON records alone); repeatable.
        #[arg(long, value_name = "FILE")]
        from_log: Vec<PathBuf>,
        /// The log key that signed text records (default: this node's,
        /// /etc/oci-psp-hook/log.key, readable by root only).
        #[arg(long, value_name = "FILE")]
        log_key: Option<PathBuf>,
        /// Also take log records that cannot be attributed to the hook
        /// (unsigned text, journald entries of another sender); the advice
        /// says so in an annotation.
        #[arg(long)]
        accept_unattributed: bool,
        /// With --group-by: write the HookConfiguration to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        config_output: Option<PathBuf>,
        /// The node's configuration, whose exemptions leave the containers
        /// they admit out of the advice (default /etc/oci-psp-hook/config.yaml).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
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
    /// restricted (builtin:NAME), at the newest version this build knows or
    /// pinned to one (builtin:restricted@v1.30, @latest); repeatable.
    #[arg(long = "profile", value_name = "NAME")]
    profiles: Vec<String>,
    /// The configuration file (policy directory, mode, namespace bindings,
    /// exemptions by namespace, container name and image).
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

#[global_allocator]
static ALLOCATOR: oci_psp_hook::arena::HookAllocator = oci_psp_hook::arena::HookAllocator::new();

/// The C entry point (`no_main`). Arguments come from argc/argv, not from
/// std's set-up, which did not run.
#[unsafe(no_mangle)]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    // What std's runtime set-up would have done and the hook needs: fds 0-2
    // open (else a file opened later could become "stderr"), SIGPIPE ignored
    // (a closed pipe is an error, not a silent death).
    sanitize_standard_fds();
    // SAFETY: setting a signal disposition to SIG_IGN has no preconditions.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigIgn,
        )
    };
    // The hook's memory comes from the bump region from the first allocation
    // on, so glibc's malloc (its heap and tcache cost page faults) is set up
    // only when the region fills.
    // SAFETY: the C runtime passes argc valid NUL-terminated strings in argv.
    if argc > 1 && unsafe { CStr::from_ptr(*argv.add(1)) } == c"hook" {
        ALLOCATOR.use_arena();
    }
    // Fail closed even on a bug: a panic blocks the container (exit 2).
    std::panic::set_hook(Box::new(|info| {
        eprintln!("oci-psp-hook: internal error, container blocked: {info}");
        std::process::exit(2);
    }));
    // SAFETY: the C runtime passes argc valid NUL-terminated strings in argv.
    let args: Vec<OsString> = (0..usize::try_from(argc).unwrap_or(0))
        .map(|i| unsafe { CStr::from_ptr(*argv.add(i)) })
        .map(|arg| OsString::from_vec(arg.to_bytes().to_vec()))
        .collect();
    let code = run(args);
    // std flushes stdout on exit only after its own main; nothing may be lost.
    let flushed = std::io::stdout().flush();
    if flushed.is_err() && code == 0 {
        2
    } else {
        code
    }
}

/// Reopen /dev/null on any of fds 0-2 that is closed, as std's start-up does.
fn sanitize_standard_fds() {
    let mut fds: [libc::pollfd; 3] = std::array::from_fn(|fd| libc::pollfd {
        fd: fd as c_int,
        events: 0,
        revents: 0,
    });
    // SAFETY: fds is a valid array of 3 pollfd; a zero timeout does not block.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } < 0 {
        return;
    }
    for pollfd in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        // SAFETY: a NUL-terminated path; open returns the lowest free fd,
        // which is this closed one.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if fd != pollfd.fd {
            // Without fds 0-2 nothing can be reported; never judge blind.
            std::process::abort();
        }
    }
}

fn run(args: Vec<OsString>) -> c_int {
    // The hook's fast path: its common command lines without clap.
    if args.get(1).is_some_and(|a| a == "hook")
        && let Some(flags) = commands::hook::fast_flags(&args[2..])
    {
        return commands::hook::run(&flags, std::io::stdin().lock());
    }
    full_cli(args)
}

fn full_cli(args: Vec<OsString>) -> c_int {
    let cli = match Cli::command().try_get_matches_from(args) {
        Ok(mut matches) => match Cli::from_arg_matches_mut(&mut matches) {
            Ok(cli) => cli,
            Err(e) => return usage_error(&e),
        },
        Err(e) => return usage_error(&e),
    };
    match cli.command {
        Command::Hook { policy } => commands::hook::run(&policy.flags(), std::io::stdin().lock()),
        Command::Check {
            policy,
            output,
            cri,
            id,
            path,
        } => commands::check::run(
            &policy.flags(),
            &path,
            &commands::check::Options { output, cri, id },
        ),
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
        Command::Install {
            root,
            config_source,
            containerd_base_spec,
            containerd_base_spec_from,
            watch,
        } => commands::install::run(&commands::install::Options {
            root,
            config_source,
            containerd_base_spec,
            base_spec_from: containerd_base_spec_from,
            watch,
        }),
        Command::Uninstall { root, purge, force } => commands::uninstall::run(&root, purge, force),
        Command::LogKey { root } => commands::install::log_key(&root),
        Command::Explain {
            target,
            stats,
            from_log,
            log_key,
            output,
        } => commands::explain::run(&commands::explain::Options {
            target: target.unwrap_or_default(),
            stats,
            from_log,
            log_key,
            json: output == commands::check::Output::Json,
        }),
        Command::Advise {
            paths,
            output,
            name,
            explain,
            running,
            group_by,
            from_log,
            log_key,
            accept_unattributed,
            config_output,
            config,
        } => commands::advise::run(&commands::advise::Options {
            output,
            name,
            explain,
            running,
            group_by,
            from_log,
            log_key,
            accept_unattributed,
            config_output,
            config,
            paths,
        }),
    }
}

fn usage_error(e: &clap::Error) -> c_int {
    let _ = e.print();
    // --help and --version are not errors; bad usage blocks (2).
    if e.use_stderr() { 2 } else { 0 }
}
