# shellcheck shell=bash
# Shared helpers for the real-runtime integration tests (runc.sh, podman.sh,
# ctr.sh). Source this file; it is not meant to be run.
#
# Sourcing it sets `set -u`, creates a private work directory $WORK under
# /tmp and installs an EXIT trap that runs the registered cleanups (on_exit)
# in reverse order and then removes $WORK, whether the tests passed or not.

set -u

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$IT_DIR/.." && pwd)
# The example restricted PodSecurityPolicy every runtime test judges against.
POLICY="$REPO/examples/restricted-psp.yaml"

# readonly_hostpath_policy DIR OUT: the example policy, also admitting
# hostPath volumes under DIR read-only (allowedHostPaths readOnly: true).
readonly_hostpath_policy() {
	sed -e 's/name: restricted/name: readonly-hostpath/' \
		-e "s|^  volumes:\$|  allowedHostPaths:\n  - pathPrefix: $1\n    readOnly: true\n  volumes:\n  - hostPath|" \
		"$POLICY" >"$2"
}
# The hook binary; run.sh builds it and exports OCI_PSP_HOOK_BIN.
HOOK_BIN="${OCI_PSP_HOOK_BIN:-$REPO/target/release/oci-psp-hook}"
# Printed by every test container before anything else: its absence on the
# container's stdout shows the container process never ran.
RAN_MARKER="CONTAINER-RAN"
# Every field label the hook may put in a reason (PSP field names, plus its
# procMount and sysctl labels); expect_denied_only checks that a single
# change names its field and no other.
PSP_FIELDS=(privileged hostNetwork hostPID hostIPC hostPorts volumes allowedHostPaths
	allowedFlexVolumes allowedCSIDrivers readOnlyRootFilesystem runAsUser runAsGroup
	supplementalGroups fsGroup allowPrivilegeEscalation requiredDropCapabilities
	allowedCapabilities defaultAddCapabilities seLinux procMount allowedProcMountTypes
	sysctl forbiddenSysctls allowedUnsafeSysctls seccomp apparmor)

PASSED=0
FAILED=0
# Result of the last run_* call of a test script.
RC=0
OUT=""
ERR=""
# A file the container of the last run writes when its process runs (set by
# the test script before a run; empty when the runtime gives no way to see
# it from the host).
MARKER_FILE=""

WORK=$(mktemp -d "/tmp/oci-psp-hook-it.$$.XXXXXX") || {
	echo "cannot create a work directory under /tmp" >&2
	exit 1
}
chmod 755 "$WORK"
CLEANUPS=()

# on_exit CMD: run CMD (a string, evaluated) when the script exits.
on_exit() {
	CLEANUPS+=("$1")
}

# shellcheck disable=SC2317 # called by the EXIT trap
run_cleanups() {
	local i
	trap - EXIT INT TERM
	for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${CLEANUPS[i]}" >/dev/null 2>&1 || true
	done
	rm -rf "$WORK"
}
trap run_cleanups EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() {
	printf '%s\n' "$*"
}

need_root() {
	if [ "$(id -u)" != 0 ]; then
		log "$(basename "$0"): these tests start real containers and need root" >&2
		exit 1
	fi
}

# ensure_packages: install the runtimes and a static busybox when any is
# missing (a dynamically linked busybox counts as missing).
ensure_packages() {
	local cmd missing=""
	for cmd in runc podman ctr busybox; do
		command -v "$cmd" >/dev/null 2>&1 || missing="$missing $cmd"
	done
	static_busybox >/dev/null 2>&1 || missing="$missing busybox-static"
	[ -z "$missing" ] && return 0
	log "installing runtimes (missing:$missing)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null &&
		apt-get install -y -qq runc podman containerd busybox-static >/dev/null
}

# need_hook_bin: the hook binary must exist (run.sh builds it).
need_hook_bin() {
	if [ ! -x "$HOOK_BIN" ]; then
		log "$(basename "$0"): hook binary $HOOK_BIN not found: run 'cargo build --release' or set OCI_PSP_HOOK_BIN" >&2
		exit 1
	fi
	HOOK_BIN=$(cd "$(dirname "$HOOK_BIN")" && pwd)/$(basename "$HOOK_BIN")
}

# ensure_containerd: start containerd in the background when `ctr version`
# cannot reach it, and wait (at most ~20 s) until it answers. A containerd
# started here is stopped again when the script exits.
ensure_containerd() {
	local i
	timeout 10 ctr version >/dev/null 2>&1 && return 0
	CONTAINERD_LOG="$WORK/containerd.log"
	containerd </dev/null >"$CONTAINERD_LOG" 2>&1 &
	CONTAINERD_PID=$!
	on_exit "stop_containerd"
	for ((i = 0; i < 40; i++)); do
		timeout 5 ctr version >/dev/null 2>&1 && return 0
		kill -0 "$CONTAINERD_PID" 2>/dev/null || break
		sleep 0.5
	done
	log "containerd did not come up; its log ($CONTAINERD_LOG):" >&2
	tail -n 20 "$CONTAINERD_LOG" >&2
	return 1
}

# shellcheck disable=SC2317 # called through on_exit
stop_containerd() {
	local i
	[ -n "${CONTAINERD_PID:-}" ] || return 0
	kill "$CONTAINERD_PID" 2>/dev/null || return 0
	for ((i = 0; i < 20; i++)); do
		kill -0 "$CONTAINERD_PID" 2>/dev/null || return 0
		sleep 0.5
	done
	kill -9 "$CONTAINERD_PID" 2>/dev/null || true
}

# static_busybox: print the path of a statically linked busybox.
static_busybox() {
	local bb
	for bb in "$(command -v busybox 2>/dev/null)" /bin/busybox /usr/bin/busybox; do
		if [ -z "$bb" ] || [ ! -x "$bb" ]; then
			continue
		fi
		# ldd says "not a dynamic executable" for a static binary.
		if ! ldd "$bb" >/dev/null 2>&1; then
			printf '%s\n' "$bb"
			return 0
		fi
	done
	log "no statically linked busybox found (apt-get install busybox-static)" >&2
	return 1
}

# make_rootfs DIR: a minimal root filesystem: a static busybox with its
# applets, /etc/passwd and /etc/group with root and a 32767 user, and a
# world-writable /markers where test containers leave proof that they ran.
# The applet links are relative: `busybox --install -s DIR/bin` would point
# them at the host path of DIR, which does not exist inside the container.
make_rootfs() {
	local dir=$1 bb applet
	bb=$(static_busybox) || return 1
	mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/proc" "$dir/sys" "$dir/dev" "$dir/markers" || return 1
	cp "$bb" "$dir/bin/busybox" || return 1
	for applet in $("$dir/bin/busybox" --list) sh id echo cat true sleep; do
		[ -e "$dir/bin/$applet" ] || [ -L "$dir/bin/$applet" ] || ln -s busybox "$dir/bin/$applet"
	done
	printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'psp:x:32767:32767:psp:/tmp:/bin/sh' >"$dir/etc/passwd"
	printf '%s\n' 'root:x:0:' 'psp:x:32767:' >"$dir/etc/group"
	chmod 1777 "$dir/tmp" "$dir/markers"
}

pass() {
	PASSED=$((PASSED + 1))
	log "ok   - $1"
}

fail() {
	FAILED=$((FAILED + 1))
	log "FAIL - $1: $2"
}

# summary: print "N passed, N failed" and fail when anything failed.
summary() {
	log "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}

# run_capture CMD...: run CMD, leaving its exit code, stdout and stderr in
# RC, OUT and ERR. stdin is /dev/null.
run_capture() {
	local out="$WORK/last.out" err="$WORK/last.err"
	"$@" </dev/null >"$out" 2>"$err"
	RC=$?
	OUT=$(cat "$out")
	ERR=$(cat "$err")
}

# One line of the last run's stderr, for failure details.
err_excerpt() {
	printf '%s' "$ERR" | tr '\n' ' ' | cut -c1-400
}

# expect_allowed NAME [TEXT]: the last run exited 0 and its container
# printed the marker (and TEXT, when given) on stdout.
expect_allowed() {
	local name=$1 text=${2:-}
	if [ "$RC" -ne 0 ]; then
		fail "$name" "expected the container to run, exit $RC; stderr: $(err_excerpt)"
	elif [[ "$OUT" != *"$RAN_MARKER"* ]]; then
		fail "$name" "exit 0 but the container output lacks $RAN_MARKER; stdout: $OUT"
	elif [ -n "$text" ] && [[ "$OUT" != *"$text"* ]]; then
		fail "$name" "container output lacks '$text'; stdout: $OUT"
	elif [ -n "$MARKER_FILE" ] && [ ! -e "$MARKER_FILE" ]; then
		fail "$name" "exit 0 but the container did not write $MARKER_FILE"
	else
		pass "$name"
	fi
}

# blocked_problem: why the last run does not look blocked, or nothing.
blocked_problem() {
	if [ "$RC" -eq 0 ]; then
		printf 'expected the container to be blocked, but exit 0; stdout: %s' "$OUT"
	elif [[ "$OUT" == *"$RAN_MARKER"* ]]; then
		printf 'exit %s but the container process ran; stdout: %s' "$RC" "$OUT"
	elif [ -n "$MARKER_FILE" ] && [ -e "$MARKER_FILE" ]; then
		printf 'exit %s but the container process ran: it wrote %s' "$RC" "$MARKER_FILE"
	fi
}

# expect_denied NAME FIELD: the last run failed, its container did not run,
# and stderr carries the hook's denial naming the PSP field FIELD.
expect_denied() {
	local name=$1 field=$2 problem
	problem=$(blocked_problem)
	if [ -n "$problem" ]; then
		fail "$name" "$problem"
	elif [[ "$ERR" != *"oci-psp-hook: denied by policy"* ]]; then
		fail "$name" "blocked (exit $RC) but the hook's denial is not on stderr: $(err_excerpt)"
	elif [[ "$ERR" != *"$field:"* ]]; then
		fail "$name" "denied, but the reason does not name $field: $(err_excerpt)"
	else
		pass "$name"
	fi
}

# expect_denied_only NAME FIELD: expect_denied, and no other PSP field is
# named: a single change to a compliant container has a single reason.
expect_denied_only() {
	local name=$1 field=$2 other
	for other in "${PSP_FIELDS[@]}"; do
		[ "$other" = "$field" ] && continue
		if [[ "$ERR" == *"$other:"* ]]; then
			fail "$name" "the reason names $other besides $field: $(err_excerpt)"
			return
		fi
	done
	expect_denied "$name" "$field"
}

# expect_error NAME TEXT: the last run failed, its container did not run,
# and stderr carries the hook's error (fail closed) mentioning TEXT.
expect_error() {
	local name=$1 text=$2 problem
	problem=$(blocked_problem)
	if [ -n "$problem" ]; then
		fail "$name" "$problem"
	elif [[ "$ERR" != *"oci-psp-hook: error"* ]]; then
		fail "$name" "blocked (exit $RC) but the hook's error is not on stderr: $(err_excerpt)"
	elif [[ "$ERR" != *"$text"* ]]; then
		fail "$name" "the hook's error does not mention $text: $(err_excerpt)"
	else
		pass "$name"
	fi
}

# edit_config SRC DST EDIT [HOOK_ARG...]: copy the OCI config.json SRC to
# DST, run the python statements EDIT on it (the config is `c`; the helpers
# below are in scope), then, when hook arguments are given, make HOOK_BIN the
# only createRuntime hook: {"path": HOOK_BIN, "args": ["oci-psp-hook",
# "hook", HOOK_ARG...]}.
edit_config() {
	local src=$1 dst=$2 edit=$3
	shift 3
	python3 - "$src" "$dst" "$edit" "$HOOK_BIN" "$@" <<'PY'
import json
import sys

src, dst, edit, hook_bin = sys.argv[1:5]
hook_args = sys.argv[5:]
with open(src) as f:
    c = json.load(f)

CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


def process():
    return c.setdefault("process", {})


def user():
    return process().setdefault("user", {})


def caps():
    return process().setdefault("capabilities", {})


def set_caps(names, sets=CAP_SETS):
    for s in CAP_SETS:
        caps()[s] = list(names) if s in sets else []


def drop_namespace(kind):
    c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != kind]


def add_mount(mount):
    c.setdefault("mounts", []).append(mount)


def command(marker, extra=""):
    # Proof that the process ran: a file in /markers and a line on stdout;
    # extra: more shell commands to run before `id`.
    process()["args"] = ["sh", "-c", "echo ran > /markers/%s; echo CONTAINER-RAN; %s id" % (marker, extra)]


def compliant(rootfs, marker):
    """What examples/restricted-psp.yaml admits: uid/gid 32767, the only
    supplementary group 32767, no capability at all, no_new_privs."""
    p = process()
    p["terminal"] = False
    p["cwd"] = "/"
    p["env"] = ["PATH=/bin", "HOME=/tmp"]
    p["user"] = {"uid": 32767, "gid": 32767, "additionalGids": [32767]}
    set_caps([])
    p["noNewPrivileges"] = True
    c["root"] = {"path": rootfs, "readonly": False}
    command(marker)


def seccomp_allowlist():
    """A default-deny seccomp profile allowing what busybox and runc's init
    need (a Localhost-style profile, as the restricted profile wants)."""
    names = """accept accept4 access alarm arch_prctl bind brk capget capset chdir
    chmod chown clock_getres clock_gettime clock_nanosleep clone clone3 close
    close_range connect dup dup2 dup3 epoll_create epoll_create1 epoll_ctl
    epoll_pwait epoll_wait eventfd eventfd2 execve execveat exit exit_group
    faccessat faccessat2 fadvise64 fchdir fchmod fchmodat fchown fchownat fcntl
    fdatasync flock fork fstat fstatfs fsync ftruncate futex getcwd getdents
    getdents64 getegid geteuid getgid getgroups getitimer getpeername getpgid
    getpgrp getpid getppid getpriority getrandom getresgid getresuid getrlimit
    getrusage getsid getsockname getsockopt gettid gettimeofday getuid getxattr
    ioctl kill lchown lgetxattr link linkat listen lseek lstat madvise membarrier
    mkdir mkdirat mmap mprotect mremap munmap nanosleep newfstatat open openat
    openat2 pause pipe pipe2 poll ppoll prctl pread64 preadv prlimit64 pselect6
    pwrite64 pwritev read readahead readlink readlinkat readv recvfrom recvmsg
    rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction
    rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
    rt_sigtimedwait sched_getaffinity sched_yield select sendmsg sendto
    set_robust_list set_tid_address setitimer setpgid setsid setsockopt
    shutdown sigaltstack socket socketpair stat statfs statx symlink symlinkat
    sync sysinfo tgkill time times tkill truncate umask uname unlink unlinkat
    utimensat vfork wait4 waitid write writev""".split()
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}],
    }


exec(edit)
if hook_args:
    c.setdefault("hooks", {})["createRuntime"] = [
        {"path": hook_bin, "args": ["oci-psp-hook", "hook"] + hook_args}
    ]
with open(dst, "w") as f:
    json.dump(c, f, indent=2)
PY
}

# oci_image_archive DIR NAME OUT: write OUT, an OCI image layout tar (what
# `ctr images import` reads) of a single-layer image whose
# filesystem is DIR (files owned by root, modes kept), named NAME (e.g.
# localhost/psp-busybox:test), for the host's platform, with PATH=/bin and
# the command `sh`. Built here, so no registry is needed.
oci_image_archive() {
	python3 - "$1" "$2" "$3" <<'PY'
import hashlib
import io
import json
import os
import platform
import sys
import tarfile

src, name, out = sys.argv[1:4]
ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
        "s390x": "s390x", "riscv64": "riscv64"}


def root_owned(info):
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 0
    return info


layer_buf = io.BytesIO()
with tarfile.open(fileobj=layer_buf, mode="w", format=tarfile.PAX_FORMAT) as layer:
    for entry in sorted(os.listdir(src)):
        layer.add(os.path.join(src, entry), arcname=entry, filter=root_owned)
layer_bytes = layer_buf.getvalue()


def blob(data):
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


layer_digest, _ = blob(layer_bytes)
config = {
    "architecture": ARCH.get(platform.machine(), platform.machine()),
    "os": "linux",
    "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "WorkingDir": "/"},
    "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
}
config_digest, config_bytes = blob(json.dumps(config, sort_keys=True).encode())
manifest = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": config_digest, "size": len(config_bytes)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest, "size": len(layer_bytes)}],
}
manifest_digest, manifest_bytes = blob(json.dumps(manifest, sort_keys=True).encode())
index = {
    "schemaVersion": 2,
    "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_digest, "size": len(manifest_bytes),
        "annotations": {"io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]},
    }],
}
files = [("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
         ("index.json", json.dumps(index, sort_keys=True).encode())]
for digest, data in ((layer_digest, layer_bytes), (config_digest, config_bytes),
                     (manifest_digest, manifest_bytes)):
    files.append(("blobs/sha256/" + digest.split(":", 1)[1], data))
with tarfile.open(out, mode="w") as archive:
    for path in ("blobs", "blobs/sha256"):
        info = root_owned(tarfile.TarInfo(path))
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        archive.addfile(info)
    for path, data in files:
        info = root_owned(tarfile.TarInfo(path))
        info.size, info.mode = len(data), 0o644
        archive.addfile(info, io.BytesIO(data))
PY
}
