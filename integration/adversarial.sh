#!/usr/bin/env bash
# The adversarial suite (issue 14): configurations an attacker would hand to
# runc, each through real runc 1.1.x with oci-psp-hook in hooks.createRuntime.
# For every class of the issue:
#
#   - where it is safe for the host, the attack first runs WITHOUT the hook and
#     the container shows that it really holds the privilege (it opens a block
#     device node shipped in its rootfs, writes under a read-only hostPath,
#     sees itself as host uid 0, opens /proc/sys/... for writing without
#     writing anything — busybox's `test -w` says yes to root whatever the
#     mount —, ...): the attack is real, not a guess about runc;
#   - with the hook it must not run: the container's marker is absent and
#     runc's stderr carries "oci-psp-hook:" (no exact texts are asserted, only
#     the exit class where the contract names one: exit 2 shows in runc's
#     "error running hook ...: exit status 2");
#   - beside it, a compliant twin (the same config minus the one privileged
#     change) must still run under the same policy: a hook that denies
#     everything fails this suite.
#
# Nothing here writes host kernel settings or host files outside $WORK;
# every host-side change (a loop device over a file in $WORK, a tmpfs mounted
# under $WORK, fake kubelet and runtime directories) is undone on exit.
# Needs root. Uses a private runc state directory (--root). Behaviour of
# runc 1.1.5 this relies on, observed here (cgroup v1): a type "a" allow rule
# allows every device whatever its major/minor/access; "rrw"/"rro" are
# applied (mount_setattr); an option runc does not know ("frobnicate", "RO")
# is passed as mount data, which a bind ignores; prestart hooks and
# createRuntime hooks listed before oci-psp-hook's run before it, poststop
# hooks run when runc destroys a denied container; a root.path with a
# symlink in it is refused by runc itself.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_root
ensure_packages || exit 1
need_hook_bin
for tool in losetup mkfs.ext4 nsenter unshare mknod python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		log "$(basename "$0"): $tool is needed" >&2
		exit 1
	fi
done

RUNC_ROOT="$WORK/runc-state"
SPEC="$WORK/spec/config.json"
BUNDLE="$WORK/bundle"
ROOTFS="$BUNDLE/rootfs"
HOOK_LOG="$WORK/hooks-ran"
mkdir -p "$WORK/spec" "$RUNC_ROOT" "$BUNDLE" "$HOOK_LOG"
chmod 1777 "$HOOK_LOG"
if ! runc spec --bundle "$WORK/spec"; then
	log "runc spec failed" >&2
	exit 1
fi

# shellcheck disable=SC2317 # called through on_exit
runc_cleanup() {
	local id
	for id in $(runc --root "$RUNC_ROOT" list -q 2>/dev/null); do
		runc --root "$RUNC_ROOT" delete -f "$id"
	done
}
on_exit runc_cleanup

# host_mkdir DIR: create DIR (named by a fresh random id) outside $WORK, a
# fake kubelet or runtime directory. On exit DIR is removed, and the parents
# this created only while empty (rmdir): a runtime that started using them
# meanwhile keeps its files.
host_mkdir() {
	local dir=$1 parent created=() i
	if [ -e "$dir" ]; then
		log "$(basename "$0"): $dir exists already; not touching it" >&2
		return 1
	fi
	parent=$(dirname "$dir")
	while [ ! -e "$parent" ]; do
		created+=("$parent")
		parent=$(dirname "$parent")
	done
	mkdir -p "$dir" || return 1
	# on_exit runs in reverse: the topmost parent last.
	for ((i = ${#created[@]} - 1; i >= 0; i--)); do
		on_exit "rmdir '${created[i]}'"
	done
	on_exit "rm -rf '$dir'"
}

# ---------------------------------------------------------------------------
# The probe: shipped in every rootfs as /bin/probe. `probe CHECK PATH...`
# prints one line per path; lines starting PRIV- show a privilege held.
# It only opens, tests and reads; `write` creates and removes a file of its
# own under PATH (every such PATH is a directory under $WORK).
write_probe() {
	cat >"$1/bin/probe" <<'SH'
#!/bin/sh
check=$1
shift
for p in "$@"; do
	case $check in
	dev)
		if (: <>"$p") 2>/dev/null; then
			echo "PRIV-DEV-RW:$p"
		elif (: <"$p") 2>/dev/null; then
			echo "PRIV-DEV-R:$p"
		else
			echo "NO-DEV:$p"
		fi
		;;
	write)
		if (: >"$p/.probe-$$") 2>/dev/null; then
			echo "PRIV-WRITE:$p"
			rm -f "$p/.probe-$$"
		else
			echo "NO-WRITE:$p"
		fi
		;;
	openw)
		# Opened for writing, nothing written (busybox's `test -w` says yes
		# to root whatever the mount): a sysctl or sysrq acts on write only.
		if [ -e "$p" ] && (: >>"$p") 2>/dev/null; then echo "PRIV-OPENW:$p"; else echo "NO-OPENW:$p"; fi
		;;
	read)
		if v=$(cat "$p" 2>/dev/null); then echo "READ:$p:$v"; else echo "UNREADABLE:$p"; fi
		;;
	mnt)
		awk -v p="$p" '$5 == p { o = $6; t = ""; s = ""
			for (i = 7; i <= NF; i++) if ($i == "-") { t = $(i + 1); s = $(i + 3); break } }
			END { if (o == "") print "UNMOUNTED:" p
			      else { print "MNT:" p ":" t ":" o ":" s; if (o ~ /^rw/) print "PRIV-MNT-RW:" p } }' /proc/self/mountinfo
		;;
	uid | gid)
		if [ "$check" = uid ]; then ids=$(id -u); map=/proc/self/uid_map; else ids="$(id -g) $(id -G)"; map=/proc/self/gid_map; fi
		for i in $ids; do
			awk -v i="$i" -v k="$check" '{ if (i >= $1 && i < $1 + $3) { h = $2 + i - $1; print "HOST" k ":" i "->" h
				if (h == 0) print "PRIV-HOST-ROOT-" k } }' "$map"
		done
		;;
	esac
done
SH
	chmod 755 "$1/bin/probe"
}

make_rootfs "$ROOTFS" || exit 1
write_probe "$ROOTFS"
# A directory the class-6 symlink points at, and the symlink itself.
mkdir -p "$ROOTFS/elsewhere" "$ROOTFS/injected" "$ROOTFS/adv"
ln -s /elsewhere "$ROOTFS/linkdata"

# A loop device over an ext4 image in $WORK holding one file: the block
# device the container must not reach (class 1) or mount (class 5).
mkdir -p "$WORK/ext4src"
echo ext4-content >"$WORK/ext4src/marker"
truncate -s 8M "$WORK/disk.img"
if ! mkfs.ext4 -q -d "$WORK/ext4src" "$WORK/disk.img"; then
	log "mkfs.ext4 failed" >&2
	exit 1
fi
LOOP=$(losetup -f --show "$WORK/disk.img") || {
	log "no free loop device" >&2
	exit 1
}
on_exit "losetup -d '$LOOP'"
LOOP_MAJOR=$((16#$(stat -c %t "$LOOP")))
LOOP_MINOR=$((16#$(stat -c %T "$LOOP")))
# Device nodes shipped in the image, outside /dev (which runc replaces):
# the loop device (block) and /dev/loop-control (a char device outside
# runc's default rules; opening it does nothing).
mknod -m 0666 "$ROOTFS/adv/blk" b "$LOOP_MAJOR" "$LOOP_MINOR"
mknod -m 0666 "$ROOTFS/adv/chr" c 10 237

# Host directories: HOSTDATA is what the readOnly hostPath policy allows;
# SECRET is a host directory no policy allows.
HOSTDATA="$WORK/hostdata"
SECRET="$WORK/secret"
mkdir -p "$HOSTDATA" "$SECRET"
chmod 1777 "$HOSTDATA" "$SECRET" # only a mount's ro can stop the container's user writing
echo host-secret >"$SECRET/s"
RO_POLICY="$WORK/readonly-hostpath-psp.yaml"
readonly_hostpath_policy "$HOSTDATA" "$RO_POLICY"

# ---------------------------------------------------------------------------
# Running containers.

# Python helpers for the EDIT statements, besides edit_config's own.
PRELUDE=$(
	cat <<'PY'
BEFORE = {}  # stage -> hooks that run before oci-psp-hook's
AFTER = {}   # stage -> hooks after it


def oci(args):
    return {"path": hook_bin, "args": ["oci-psp-hook", "hook"] + list(args)}


def finish(args):
    """oci-psp-hook in createRuntime (args None: no oci-psp-hook), with the
    hooks the edit put BEFORE and AFTER it; nothing else."""
    h = {}
    for stage, hs in BEFORE.items():
        h.setdefault(stage, []).extend(hs)
    if args is not None:
        h.setdefault("createRuntime", []).append(oci(args))
    for stage, hs in AFTER.items():
        h.setdefault(stage, []).extend(hs)
    c.pop("hooks", None)
    if h:
        c["hooks"] = h


def sh_hook(cmd):
    return {"path": "/bin/sh", "args": ["sh", "-c", cmd]}


def restricted():
    """What builtin:restricted wants beyond compliant(): a seccomp profile."""
    c["linux"]["seccomp"] = seccomp_allowlist()


def root_default_caps():
    """Root with runc's default capabilities, no no_new_privs: baseline."""
    c["process"]["user"] = {"uid": 0, "gid": 0, "additionalGids": [0]}
    c["process"]["noNewPrivileges"] = False
    set_caps(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"], ("bounding", "effective", "permitted"))


def dev_rule(**rule):
    c["linux"]["resources"]["devices"].append(rule)


def without(key, path):
    c["linux"][key] = [p for p in c["linux"][key] if p != path]


def userns(uids, gids, path=None):
    ns = {"type": "user"}
    if path:
        ns["path"] = path
    c["linux"]["namespaces"].append(ns)
    c["linux"]["uidMappings"] = [{"containerID": a, "hostID": b, "size": n} for a, b, n in uids]
    c["linux"]["gidMappings"] = [{"containerID": a, "hostID": b, "size": n} for a, b, n in gids]


def annotate(kv):
    c.setdefault("annotations", {}).update(kv)
PY
)

# pylist ARG...: a python list literal of the arguments.
pylist() {
	local a out="["
	for a in "$@"; do
		out+="'$a', "
	done
	printf '%s]' "$out"
}

# cmd NAME PROBES: the python statement making the container NAME's
# command: write its marker, print CONTAINER-RAN, run PROBES (shell), `id`.
cmd() {
	printf "command('%s', '%s')" "$1" "$2"
}

RUN_N=0
# adv_config BUNDLE NAME EDIT [HOOK_ARG...]: write BUNDLE/config.json: the
# compliant container (examples/restricted-psp.yaml's, see lib.sh) marked
# NAME, changed by the python statements EDIT; with HOOK_ARG... oci-psp-hook
# is called with them in createRuntime; without any, there is no
# oci-psp-hook (the runs proving an attack real).
# ROOT_PATH (default: the relative "rootfs") is root.path.
adv_config() {
	local bundle=$1 name=$2 edit=$3 hooks="None"
	shift 3
	[ $# -gt 0 ] && hooks=$(pylist "$@")
	edit_config "$SPEC" "$bundle/config.json" "$PRELUDE
compliant('${ROOT_PATH:-rootfs}', '$name')
$edit
finish($hooks)"
}

# adv_run_in BUNDLE NAME EDIT [HOOK_ARG...]: adv_config, then `runc run`;
# leaves RC/OUT/ERR and MARKER_FILE (under ROOTFS_DIR, default BUNDLE/rootfs).
adv_run_in() {
	local bundle=$1 name=$2 id
	RUN_N=$((RUN_N + 1))
	id=${RUN_ID:-adv-$$-$RUN_N}
	MARKER_FILE="${ROOTFS_DIR:-$bundle/rootfs}/markers/$name"
	rm -f "$MARKER_FILE"
	if ! adv_config "$@"; then
		RC=125 OUT="" ERR="test setup: editing config.json for $name failed"
		return
	fi
	adv_start "$bundle" "$id"
}

# adv_start BUNDLE ID: `runc run` the bundle as it is; leaves RC/OUT/ERR.
adv_start() {
	run_capture timeout 30 runc --root "$RUNC_ROOT" run --bundle "$1" "$2"
	timeout 30 runc --root "$RUNC_ROOT" delete -f "$2" >/dev/null 2>&1
}

# adv_run NAME EDIT [HOOK_ARG...]: adv_run_in the shared bundle.
adv_run() {
	adv_run_in "$BUNDLE" "$@"
}

# out_has TEXT: a line of the last run's stdout is TEXT, or starts with TEXT
# followed by ":" or "," (so NO-WRITE:/data is not NO-WRITE:/data/sub).
out_has() {
	local line
	while IFS= read -r line; do
		case $line in
		"$1" | "$1":* | "$1",*) return 0 ;;
		esac
	done <<<"$OUT"
	return 1
}

# expect_real NAME TEXT...: (a run without oci-psp-hook) the container ran
# and printed every TEXT (out_has): the privilege is real.
expect_real() {
	local name=$1 text
	shift
	if [ "$RC" -ne 0 ] || [[ "$OUT" != *"$RAN_MARKER"* ]]; then
		fail "$name" "without the hook the container did not run (exit $RC): $(err_excerpt)"
		return
	fi
	for text in "$@"; do
		if ! out_has "$text"; then
			fail "$name" "without the hook the container did not show $text; stdout: $(printf '%s' "$OUT" | tr '\n' ' ')"
			return
		fi
	done
	pass "$name"
}

# expect_blocked NAME: the container did not run and runc's stderr carries
# oci-psp-hook's line (a denial or an error).
expect_blocked() {
	local name=$1 problem
	problem=$(blocked_problem)
	if [ -n "$problem" ]; then
		fail "$name" "$problem"
	elif [[ "$ERR" != *"oci-psp-hook:"* ]]; then
		fail "$name" "blocked (exit $RC) but oci-psp-hook's line is not on stderr: $(err_excerpt)"
	else
		pass "$name"
	fi
}

# expect_blocked_exit2 NAME [TEXT]: expect_blocked, the hook exited 2 (fail
# closed), and its line mentions TEXT.
expect_blocked_exit2() {
	local name=$1 text=${2:-} problem
	problem=$(blocked_problem)
	if [ -n "$problem" ]; then
		fail "$name" "$problem"
	elif [[ "$ERR" != *"oci-psp-hook:"* ]]; then
		fail "$name" "blocked (exit $RC) but oci-psp-hook's line is not on stderr: $(err_excerpt)"
	elif [[ "$ERR" != *"exit status 2"* ]]; then
		fail "$name" "blocked, but the hook did not exit 2: $(err_excerpt)"
	elif [ -n "$text" ] && [[ "$ERR" != *"$text"* ]]; then
		fail "$name" "the hook's line does not mention $text: $(err_excerpt)"
	else
		pass "$name"
	fi
}

# expect_runs NAME TEXT...: expect_allowed, with every TEXT on stdout
# (out_has).
expect_runs() {
	local name=$1 text
	shift
	for text in "$@"; do
		if [ "$RC" -eq 0 ] && ! out_has "$text"; then
			fail "$name" "the container ran but did not show $text; stdout: $(printf '%s' "$OUT" | tr '\n' ' ')"
			return
		fi
	done
	expect_allowed "$name"
}

R=(--profile builtin:restricted)
B=(--profile builtin:baseline)
RO=(--policy "$RO_POLICY")

log "== adversarial: runc $(runc --version | head -n 1), hook $HOOK_BIN"

# ===========================================================================
# 1. Device cgroup rules. The image ships a node of the host's loop device
# (block, $LOOP) and of /dev/loop-control (char 10:237); runc's default rules
# allow neither. runc 1.1 (cgroup v1 here) applies a type "a" allow rule as
# "allow everything", whatever its major/minor/access; -1 is a wildcard.
log "-- 1. device cgroup rules"
DEV='probe dev /adv/blk /adv/chr;'
dev_case() { # NAME RULE-EXPR DESCRIPTION PROOF
	local name=$1 rule=$2 what=$3 proof=$4
	adv_run "$name-real" "$(cmd "$name-real" "$DEV"); dev_rule($rule)"
	expect_real "1 $what: without the hook the container really opens the device ($proof)" "$proof"
	adv_run "$name-r" "$(cmd "$name-r" "$DEV"); restricted(); dev_rule($rule)" "${R[@]}"
	expect_blocked "1 $what: blocked under builtin:restricted"
	adv_run "$name-b" "$(cmd "$name-b" "$DEV"); root_default_caps(); dev_rule($rule)" "${B[@]}"
	expect_blocked "1 $what: blocked under builtin:baseline (root)"
}
dev_case dev-a-major "allow=True, type='a', major=8, minor=0, access='r'" \
	"type a rule 8:0 r" "PRIV-DEV-RW:/adv/blk"
dev_case dev-a-m "allow=True, type='a', major=1, minor=3, access='m'" \
	"type a rule 1:3 m (mknod of /dev/null only, on paper)" "PRIV-DEV-RW:/adv/chr"
dev_case dev-b-minus1 "allow=True, type='b', major=-1, minor=-1, access='rwm'" \
	"b -1:-1 rwm" "PRIV-DEV-RW:/adv/blk"
dev_case dev-b-star "allow=True, type='b', access='rwm'" \
	"b *:* rwm (no major/minor)" "PRIV-DEV-RW:/adv/blk"
dev_case dev-b-major-star "allow=True, type='b', major=$LOOP_MAJOR, minor=-1, access='rw'" \
	"b $LOOP_MAJOR:-1 rw (every loop device)" "PRIV-DEV-RW:/adv/blk"
dev_case dev-b-loop "allow=True, type='b', major=$LOOP_MAJOR, minor=$LOOP_MINOR, access='rw'" \
	"b $LOOP_MAJOR:$LOOP_MINOR rw (the loop device)" "PRIV-DEV-RW:/adv/blk"
dev_case dev-b-loop-r "allow=True, type='b', major=$LOOP_MAJOR, minor=$LOOP_MINOR, access='r'" \
	"b $LOOP_MAJOR:$LOOP_MINOR r (read only)" "PRIV-DEV-R:/adv/blk"
dev_case dev-c-loopctl "allow=True, type='c', major=10, minor=237, access='rw'" \
	"c 10:237 rw (a char device outside runc's defaults)" "PRIV-DEV-RW:/adv/chr"
dev_case dev-c-star "allow=True, type='c', major=-1, minor=-1, access='rw'" \
	"c *:* rw" "PRIV-DEV-RW:/adv/chr"
# Twins: runc's default rules only; the nodes are there but cannot be opened.
adv_run dev-twin-r "$(cmd dev-twin-r "$DEV"); restricted()" "${R[@]}"
expect_runs "1 twin: runc's default device rules run under builtin:restricted, and the nodes stay closed" \
	"NO-DEV:/adv/blk" "NO-DEV:/adv/chr"
adv_run dev-twin-b "$(cmd dev-twin-b "$DEV"); root_default_caps()" "${B[@]}"
expect_runs "1 twin: runc's default device rules run under builtin:baseline (root)" "NO-DEV:/adv/blk"
# The rules containerd and CRI-O write out in config.json: runc's defaults.
RUNTIME_RULES="dev_rule(allow=True, type='c', access='m'); dev_rule(allow=True, type='b', access='m')"
for r in 1:3 1:8 1:7 5:0 1:5 1:9 5:1 136:-1 5:2 10:200; do
	RUNTIME_RULES+="; dev_rule(allow=True, type='c', major=${r%%:*}, minor=${r#*:}, access='rwm')"
done
adv_run dev-twin-explicit "$(cmd dev-twin-explicit "$DEV"); restricted(); $RUNTIME_RULES" "${R[@]}"
expect_runs "1 twin: runc's default rules written out in config.json (as containerd does) run under builtin:restricted" \
	"NO-DEV:/adv/blk" "NO-DEV:/adv/chr"
# A deny rule is no privilege.
adv_run dev-twin-deny "$(cmd dev-twin-deny "$DEV"); restricted(); dev_rule(allow=False, type='b', major=$LOOP_MAJOR, minor=$LOOP_MINOR, access='rwm')" "${R[@]}"
expect_runs "1 twin: an extra deny rule runs under builtin:restricted" "NO-DEV:/adv/blk"

# ===========================================================================
# 2. root.path: a host directory outside the bundle as the writable rootfs
# (podman --rootfs) is a hostPath volume in all but name.
log "-- 2. root.path"
HOSTROOT="$WORK/hostroot"
make_rootfs "$HOSTROOT" || exit 1
write_probe "$HOSTROOT"
mkdir -p "$WORK/b-hostroot" "$WORK/b-hostlink" "$WORK/b-hostrel"
ln -s "$HOSTROOT" "$WORK/b-hostlink/rootfs"
ROOTCMD='probe write /markers;'
ROOT_PATH=$HOSTROOT ROOTFS_DIR=$HOSTROOT adv_run_in "$WORK/b-hostroot" rootpath-real "$(cmd rootpath-real "$ROOTCMD")"
expect_real "2 root.path $HOSTROOT: without the hook the container writes into the host directory" "PRIV-WRITE:/markers"
if [ -e "$HOSTROOT/markers/rootpath-real" ]; then
	pass "2 root.path: the container's write shows in the host directory"
else
	fail "2 root.path: the container's write shows in the host directory" "$HOSTROOT/markers/rootpath-real is missing"
fi
ROOT_PATH=$HOSTROOT ROOTFS_DIR=$HOSTROOT adv_run_in "$WORK/b-hostroot" rootpath-abs-r "$(cmd rootpath-abs-r "$ROOTCMD"); restricted()" "${R[@]}"
expect_blocked "2 root.path: an absolute host directory outside the bundle, writable, is blocked under builtin:restricted"
ROOT_PATH=$HOSTROOT ROOTFS_DIR=$HOSTROOT adv_run_in "$WORK/b-hostroot" rootpath-abs-b "$(cmd rootpath-abs-b "$ROOTCMD"); root_default_caps()" "${B[@]}"
expect_blocked "2 root.path: an absolute host directory outside the bundle is blocked under builtin:baseline (no hostPath)"
# bundle/rootfs a symlink to the host directory: runc 1.1 refuses a root.path
# with a symlink in it ("invalid rootfs: not an absolute path, or a
# symlink"); a runtime that follows it must meet the hook.
ROOTFS_DIR=$HOSTROOT adv_run_in "$WORK/b-hostlink" rootpath-link-real "$(cmd rootpath-link-real "$ROOTCMD")"
if [ "$RC" -ne 0 ] && [[ "$OUT" != *"$RAN_MARKER"* ]] && [[ "$ERR" == *symlink* ]]; then
	pass "2 root.path: bundle/rootfs a symlink to a host directory: runc itself refuses it"
else
	ROOTFS_DIR=$HOSTROOT adv_run_in "$WORK/b-hostlink" rootpath-link-r "$(cmd rootpath-link-r "$ROOTCMD"); restricted()" "${R[@]}"
	expect_blocked "2 root.path: bundle/rootfs a symlink to a host directory is blocked under builtin:restricted"
fi
ROOT_PATH=../hostroot ROOTFS_DIR=$HOSTROOT adv_run_in "$WORK/b-hostrel" rootpath-dotdot-r "$(cmd rootpath-dotdot-r "$ROOTCMD"); restricted()" "${R[@]}"
expect_blocked "2 root.path: a relative ../hostroot leaving the bundle is blocked under builtin:restricted"
adv_run rootpath-twin-r "$(cmd rootpath-twin-r "$ROOTCMD"); restricted()" "${R[@]}"
expect_runs "2 twin: the relative rootfs inside the bundle runs under builtin:restricted" "PRIV-WRITE:/markers"
ROOT_PATH=$ROOTFS adv_run rootpath-twin-abs "$(cmd rootpath-twin-abs "$ROOTCMD"); restricted()" "${R[@]}"
expect_runs "2 twin: the bundle's own rootfs named by its absolute path runs under builtin:restricted"

# ===========================================================================
# 3. /proc masking: anything less than the default lists is an unmasked
# /proc (procMount), under restricted and baseline alike.
log "-- 3. /proc masking"
PROCCMD='probe openw /proc/sys/kernel/core_pattern /proc/sysrq-trigger /proc/sys/vm/drop_caches; probe mnt /proc/sys /proc/kcore /proc/timer_list;'
proc_case() { # NAME EDIT DESCRIPTION PROOF...
	local name=$1 edit=$2 what=$3
	shift 3
	if [ $# -gt 0 ]; then
		adv_run "$name-real" "$(cmd "$name-real" "$PROCCMD"); root_default_caps(); $edit"
		expect_real "3 $what: without the hook root in the container really has it ($*)" "$@"
	else
		log "skip - 3 $what: not on this kernel, so only the verdicts are checked"
	fi
	adv_run "$name-b" "$(cmd "$name-b" "$PROCCMD"); root_default_caps(); $edit" "${B[@]}"
	expect_blocked "3 $what: blocked under builtin:baseline (root)"
	adv_run "$name-r" "$(cmd "$name-r" "$PROCCMD"); restricted(); $edit" "${R[@]}"
	expect_blocked "3 $what: blocked under builtin:restricted"
}
proc_case proc-sys "without('readonlyPaths', '/proc/sys')" "readonlyPaths without /proc/sys" \
	"PRIV-OPENW:/proc/sys/kernel/core_pattern" "UNMOUNTED:/proc/sys"
# (a kernel without CONFIG_MAGIC_SYSRQ or CONFIG_PROC_KCORE has no
# /proc/sysrq-trigger or /proc/kcore: then only the verdicts are checked)
PROOF=()
[ -e /proc/sysrq-trigger ] && PROOF=("PRIV-OPENW:/proc/sysrq-trigger")
proc_case proc-sysrq "without('readonlyPaths', '/proc/sysrq-trigger')" "readonlyPaths without /proc/sysrq-trigger" \
	"${PROOF[@]}"
PROOF=()
[ -e /proc/kcore ] && PROOF=("UNMOUNTED:/proc/kcore")
proc_case proc-kcore "without('maskedPaths', '/proc/kcore')" "maskedPaths without /proc/kcore" \
	"${PROOF[@]}"
proc_case proc-timer-list "without('maskedPaths', '/proc/timer_list')" "maskedPaths without /proc/timer_list" \
	"UNMOUNTED:/proc/timer_list"
proc_case proc-sys-kernel "without('readonlyPaths', '/proc/sys'); c['linux']['readonlyPaths'].append('/proc/sys/kernel')" \
	"readonlyPaths /proc/sys narrowed to /proc/sys/kernel" "PRIV-OPENW:/proc/sys/vm/drop_caches"
proc_case proc-ro-empty-masked "c['linux']['readonlyPaths'] = ['/proc/bus']" "readonlyPaths only /proc/bus" \
	"PRIV-OPENW:/proc/sys/kernel/core_pattern"
adv_run proc-twin-b "$(cmd proc-twin-b "$PROCCMD"); root_default_caps()" "${B[@]}"
expect_runs "3 twin: runc spec's default lists run under builtin:baseline (root), /proc/sys read-only" \
	"NO-OPENW:/proc/sys/kernel/core_pattern" "NO-OPENW:/proc/sys/vm/drop_caches" "MNT:/proc/sys:proc:ro" "MNT:/proc/timer_list"
adv_run proc-twin-r "$(cmd proc-twin-r "$PROCCMD"); restricted()" "${R[@]}"
expect_runs "3 twin: runc spec's default lists run under builtin:restricted"
adv_run proc-twin-more "$(cmd proc-twin-more "$PROCCMD"); restricted(); c['linux']['maskedPaths'].append('/sys/devices/virtual/powercap'); c['linux']['readonlyPaths'].append('/proc/extra')" "${R[@]}"
expect_runs "3 twin: the default lists plus more entries run under builtin:restricted"

# ===========================================================================
# 4. User namespaces: ids are judged on the host side too.
log "-- 4. user namespaces"
IDCMD='probe uid self; probe gid self;'
FULL="[(0, 100000, 65536)]"
adv_run userns-uid0-real "$(cmd userns-uid0-real "$IDCMD"); user()['uid'] = 1000; user()['gid'] = 1000; user()['additionalGids'] = [1000]; userns([(0, 100000, 1000), (1000, 0, 1), (1001, 101001, 64535)], $FULL)"
expect_real "4 uid 1000 mapped to host uid 0: without the hook the container's uid really is host root" \
	"HOSTuid:1000->0" "PRIV-HOST-ROOT-uid"
adv_run userns-uid0-r "$(cmd userns-uid0-r "$IDCMD"); restricted(); user()['uid'] = 1000; user()['gid'] = 1000; user()['additionalGids'] = [1000]; userns([(0, 100000, 1000), (1000, 0, 1), (1001, 101001, 64535)], $FULL)" "${R[@]}"
expect_blocked "4 uid 1000 mapped to host uid 0 is blocked under builtin:restricted (runAsNonRoot)"
adv_run userns-twin-r "$(cmd userns-twin-r "$IDCMD"); restricted(); user()['uid'] = 1000; user()['gid'] = 1000; user()['additionalGids'] = [1000]; userns($FULL, $FULL)" "${R[@]}"
expect_runs "4 twin: uid 1000 in a user namespace mapping 0-65535 to host 100000-165535 runs under builtin:restricted" \
	"HOSTuid:1000->101000"
adv_run userns-twin-root-r "$(cmd userns-twin-root-r "$IDCMD"); restricted(); user()['uid'] = 0; user()['gid'] = 0; user()['additionalGids'] = [0]; userns($FULL, $FULL)" "${R[@]}"
expect_runs "4 twin: root mapped to host uid 100000 runs under builtin:restricted (the user-namespace relaxation)" \
	"HOSTuid:0->100000"
# The relaxation is the Pod Security Standards' from v1.35: a profile pinned
# to an older version keeps non-root.
adv_run userns-root-r134 "$(cmd userns-root-r134 "$IDCMD"); restricted(); user()['uid'] = 0; user()['gid'] = 0; user()['additionalGids'] = [0]; userns($FULL, $FULL)" --profile builtin:restricted@v1.34
expect_blocked "4 root mapped to host uid 100000 is blocked under builtin:restricted@v1.34 (no user-namespace relaxation before v1.35)"
if [[ "$ERR" == *"builtin:restricted@v1.34"*runAsUser* ]]; then
	pass "4 the denial names the pinned profile and runAsUser"
else
	fail "4 the denial names the pinned profile and runAsUser" "$(err_excerpt)"
fi
adv_run userns-root-r135 "$(cmd userns-root-r135 "$IDCMD"); restricted(); user()['uid'] = 0; user()['gid'] = 0; user()['additionalGids'] = [0]; userns($FULL, $FULL)" --profile builtin:restricted@v1.35
expect_runs "4 twin: root mapped to host uid 100000 runs under builtin:restricted@v1.35" \
	"HOSTuid:0->100000"
PSP=(--policy "$POLICY")
adv_run userns-psp-uid-real "$(cmd userns-psp-uid-real "$IDCMD"); userns([(0, 100000, 32767), (32767, 0, 1), (32768, 132768, 32768)], $FULL)"
expect_real "4 uid 32767 mapped to host uid 0: without the hook it really is host root" "HOSTuid:32767->0" "PRIV-HOST-ROOT-uid"
adv_run userns-psp-uid "$(cmd userns-psp-uid "$IDCMD"); userns([(0, 100000, 32767), (32767, 0, 1), (32768, 132768, 32768)], $FULL)" "${PSP[@]}"
expect_blocked "4 uid 32767 mapped to host uid 0 is blocked under restricted-psp.yaml (runAsUser 32767-32768)"
adv_run userns-psp-gid-real "$(cmd userns-psp-gid-real "$IDCMD"); userns($FULL, [(0, 100000, 32767), (32767, 0, 1), (32768, 132768, 32768)])"
expect_real "4 gid 32767 mapped to host gid 0: without the hook the container's groups really are host gid 0" \
	"HOSTgid:32767->0" "PRIV-HOST-ROOT-gid"
adv_run userns-psp-gid "$(cmd userns-psp-gid "$IDCMD"); userns($FULL, [(0, 100000, 32767), (32767, 0, 1), (32768, 132768, 32768)])" "${PSP[@]}"
expect_blocked "4 gid 32767 mapped to host gid 0 is blocked under restricted-psp.yaml (supplementalGroups/fsGroup 32767)"
adv_run userns-psp-twin "$(cmd userns-psp-twin "$IDCMD"); userns($FULL, $FULL)" "${PSP[@]}"
expect_runs "4 twin: uid/gid 32767 mapped to host 132767 runs under restricted-psp.yaml" \
	"HOSTuid:32767->132767" "HOSTgid:32767->132767"

# A user namespace joined by path: runc writes no mapping (the namespace has
# its own), whatever uidMappings/gidMappings claim.
# userns_holder MAP: start a process in a new user namespace whose uid and
# gid maps are MAP ("inside outside count"); leaves its pid in HOLDER.
userns_holder() {
	unshare --user sleep 300 </dev/null >/dev/null 2>&1 &
	HOLDER=$!
	on_exit "kill $HOLDER"
	local i
	for ((i = 0; i < 50; i++)); do
		[ "$(readlink "/proc/$HOLDER/ns/user")" != "$(readlink /proc/self/ns/user)" ] && break
		sleep 0.1
	done
	echo "$1" >"/proc/$HOLDER/uid_map" && echo "$1" >"/proc/$HOLDER/gid_map"
}
if userns_holder "0 0 65536"; then
	HOST_NS=/proc/$HOLDER/ns/user
	adv_run userns-path-real "$(cmd userns-path-real "$IDCMD"); user()['uid'] = 0; user()['gid'] = 0; user()['additionalGids'] = [0]; userns($FULL, $FULL, '$HOST_NS')"
	expect_real "4 a user namespace joined by path that maps 0 to host 0 (config claims 100000): without the hook root is host root" \
		"HOSTuid:0->0" "PRIV-HOST-ROOT-uid"
	adv_run userns-path-r "$(cmd userns-path-r "$IDCMD"); restricted(); user()['uid'] = 0; user()['gid'] = 0; user()['additionalGids'] = [0]; userns($FULL, $FULL, '$HOST_NS')" "${R[@]}"
	expect_blocked "4 a user namespace joined by path, mappings claimed unprivileged, really mapping root to host 0: blocked under builtin:restricted"
else
	fail "4 a user namespace to join by path" "could not write its id maps"
fi
if userns_holder "0 100000 65536"; then
	adv_run userns-path-twin "$(cmd userns-path-twin "$IDCMD"); restricted(); user()['uid'] = 1000; user()['gid'] = 1000; user()['additionalGids'] = [1000]; userns($FULL, $FULL, '/proc/$HOLDER/ns/user')" "${R[@]}"
	expect_runs "4 twin: uid 1000 in a user namespace joined by path that really maps it to host 101000 runs under builtin:restricted" \
		"HOSTuid:1000->101000"
else
	fail "4 twin: a user namespace to join by path" "could not write its id maps"
fi

# ===========================================================================
# 5. Mount options and filesystem types, under the example policy plus
# hostPath readOnly under HOSTDATA (readonly_hostpath_policy).
log "-- 5. mount options and filesystem types"
# updots PATH: as many "../" as PATH has components ("/a/b" -> "../../").
updots() {
	local rest=${1#/} out=""
	while [ -n "$rest" ]; do
		out+="../"
		[[ "$rest" == */* ]] && rest=${rest#*/} || rest=""
	done
	printf '%s' "$out"
}
UP=$(updots "$HOSTDATA")
MNTCMD='probe mnt /sys /data /proc2; probe write /data; probe read /data/marker /data/s;'
mnt() { echo "add_mount({'destination': '$1', 'type': '$2', 'source': '$3', 'options': $4})"; }
# mount_case NAME MOUNT DESCRIPTION PROOF...: without the hook (PROOF), then
# blocked under the readOnly hostPath policy.
mount_case() {
	local name=$1 mount=$2 what=$3
	shift 3
	adv_run "$name-real" "$(cmd "$name-real" "$MNTCMD"); $mount"
	expect_real "5 $what: without the hook runc really does it ($*)" "$@"
	adv_run "$name-ro" "$(cmd "$name-ro" "$MNTCMD"); $mount" "${RO[@]}"
	expect_blocked "5 $what: blocked under the readOnly hostPath policy"
}
mount_case remount-sys "$(mnt /sys tmpfs tmpfs "['remount', 'rw']")" \
	"a tmpfs entry at /sys with [remount, rw]" "PRIV-MNT-RW:/sys"
adv_run remount-sys-b "$(cmd remount-sys-b "$MNTCMD"); root_default_caps(); $(mnt /sys tmpfs tmpfs "['remount', 'rw']")" "${B[@]}"
expect_blocked "5 a tmpfs entry at /sys with [remount, rw]: blocked under builtin:baseline (root)"
mount_case remount-sysfs "$(mnt /sys sysfs sysfs "['remount', 'rw']")" \
	"a sysfs entry at /sys with [remount, rw]" "PRIV-MNT-RW:/sys"
mount_case rrw "$(mnt /data bind "$HOSTDATA" "['rbind', 'ro', 'rrw']")" \
	"[rbind, ro, rrw] of the readOnly path" "PRIV-WRITE:/data"
# runc passes an option it does not know to the kernel as data, which a bind
# mount ignores: the container runs. The hook must block (exit 2) naming it.
adv_run frob-real "$(cmd frob-real "$MNTCMD"); $(mnt /data bind "$HOSTDATA" "['rbind', 'ro', 'frobnicate']")"
expect_real "5 an unknown option (frobnicate): without the hook runc runs the container" "MNT:/data"
adv_run frob-ro "$(cmd frob-ro "$MNTCMD"); $(mnt /data bind "$HOSTDATA" "['rbind', 'ro', 'frobnicate']")" "${RO[@]}"
expect_blocked_exit2 "5 an unknown option (frobnicate) blocks the container (exit 2, naming it)" frobnicate
# An option runc does not know is no option to it: "RO" (runc's table is
# case-sensitive) leaves the bind read-write.
adv_run upper-ro-real "$(cmd upper-ro-real "$MNTCMD"); $(mnt /data bind "$HOSTDATA" "['rbind', 'RO']")"
expect_real "5 [rbind, RO] (upper case): without the hook runc mounts the readOnly path writable" "PRIV-WRITE:/data"
adv_run upper-ro "$(cmd upper-ro "$MNTCMD"); $(mnt /data bind "$HOSTDATA" "['rbind', 'RO']")" "${RO[@]}"
expect_blocked_exit2 "5 [rbind, RO] (an option runc does not know) blocks the container (exit 2, naming it)" RO
# (on a tmpfs an unknown option reaches the kernel as data and the mount
# fails in runc before any hook: nothing to test there)
mount_case ext4 "$(mnt /data ext4 "$LOOP" "['ro']")" \
	"an ext4 mount of the block device $LOOP" "READ:/data/marker:ext4-content"
mount_case ext4-dotdot "$(mnt /data ext4 "$HOSTDATA/$UP${LOOP#/}" "['ro']")" \
	"an ext4 mount of <allowed prefix>/$UP${LOOP#/}" "READ:/data/marker:ext4-content"
mount_case proc2 "$(mnt /proc2 proc proc "[]")" \
	"a second proc at /proc2" "MNT:/proc2:proc:rw"
adv_run proc2-root-real "$(cmd proc2-root-real 'probe openw /proc2/sys/kernel/core_pattern;'); root_default_caps(); $(mnt /proc2 proc proc "[]")"
expect_real "5 a second proc at /proc2: without the hook root opens /proc2/sys for writing" "PRIV-OPENW:/proc2/sys/kernel/core_pattern"
adv_run proc2-b "$(cmd proc2-b "$MNTCMD"); root_default_caps(); $(mnt /proc2 proc proc "[]")" "${B[@]}"
expect_blocked "5 a second proc at /proc2: blocked under builtin:baseline (root)"
# (an overlay without upperdir needs two lower directories)
mkdir -p "$WORK/lower2"
mount_case overlay "$(mnt /data overlay overlay "['lowerdir=$SECRET:$WORK/lower2']")" \
	"an overlay with the host lowerdir $SECRET" "READ:/data/s:host-secret"
mount_case overlay-dotdot "$(mnt /data overlay "$HOSTDATA" "['lowerdir=$HOSTDATA/../secret:$HOSTDATA']")" \
	"an overlay, source the allowed prefix, lowerdir <prefix>/../secret" "READ:/data/s:host-secret"
# Twins: the same mounts done compliantly.
adv_run mnt-twin-ro "$(cmd mnt-twin-ro "$MNTCMD"); $(mnt /data bind "$HOSTDATA" "['rbind', 'ro']")" "${RO[@]}"
expect_runs "5 twin: [rbind, ro] of the allowed prefix runs, read-only" "NO-WRITE:/data"
adv_run mnt-twin-ro-rro "$(cmd mnt-twin-ro-rro "$MNTCMD"); $(mnt /data bind "$HOSTDATA" "['rbind', 'ro', 'rro']")" "${RO[@]}"
expect_runs "5 twin: [rbind, ro, rro] of the allowed prefix runs, read-only" "NO-WRITE:/data"
adv_run mnt-twin-rro "$(cmd mnt-twin-rro "$MNTCMD"); $(mnt /data bind "$HOSTDATA" "['rbind', 'rro']")" "${RO[@]}"
expect_runs "5 twin: [rbind, rro] (recursively read-only, no plain ro) of the allowed prefix runs, read-only" "NO-WRITE:/data"
adv_run mnt-twin-opts "$(cmd mnt-twin-opts "$MNTCMD"); $(mnt /data bind "$HOSTDATA" "['bind', 'ro', 'nosuid', 'nodev', 'noexec', 'rprivate']")" "${RO[@]}"
expect_runs "5 twin: [bind, ro, nosuid, nodev, noexec, rprivate] of the allowed prefix runs, read-only" "NO-WRITE:/data"
adv_run mnt-twin-tmpfs "$(cmd mnt-twin-tmpfs "$MNTCMD"); $(mnt /scratch tmpfs tmpfs "['nosuid', 'nodev', 'mode=1777', 'size=1m']")" "${RO[@]}"
expect_runs "5 twin: a tmpfs at /scratch runs"
adv_run mnt-twin-sys "$(cmd mnt-twin-sys "$MNTCMD"); root_default_caps()" "${B[@]}"
expect_runs "5 twin: runc's own read-only sysfs runs under builtin:baseline (root)" "MNT:/sys:sysfs:ro"

# ===========================================================================
# 6. Kernel truth. In hook mode the hook reads the container's mount table:
# it must find the real mount, whatever config.json's destination says, and
# account for every mount in it.
log "-- 6. kernel truth"
# remount-rw.sh PATH / inject.sh SRC PATH: createRuntime hooks (run before
# oci-psp-hook) changing the container's mount namespace, as another hook
# of the node might.
cat >"$WORK/remount-rw.sh" <<'SH'
#!/bin/sh
pid=$(sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p')
exec nsenter -t "$pid" -m mount -o remount,bind,rw "$1"
SH
cat >"$WORK/inject.sh" <<'SH'
#!/bin/sh
pid=$(sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p')
exec nsenter -t "$pid" -m mount --bind "$1" "$2"
SH
chmod 755 "$WORK/remount-rw.sh" "$WORK/inject.sh"
# inject_over SRC PATH: the config edit running inject.sh before oci-psp-hook.
inject_over() { echo "BEFORE['createRuntime'] = [{'path': '$WORK/inject.sh', 'args': ['inject.sh', '$1', '$2']}]"; }
LINKCMD='probe write /linkdata /elsewhere /injected; probe read /injected/s; probe mnt /linkdata /elsewhere /injected;'
REMOUNT_HOOK="BEFORE['createRuntime'] = [{'path': '$WORK/remount-rw.sh', 'args': ['remount-rw.sh', '$ROOTFS/elsewhere']}]"
LINK_RO="$(mnt /linkdata bind "$HOSTDATA" "['rbind', 'ro']")"
# The rootfs has /linkdata -> /elsewhere: runc mounts at /elsewhere.
adv_run link-remount-real "$(cmd link-remount-real "$LINKCMD"); $LINK_RO; $REMOUNT_HOOK"
expect_real "6 ro bind at a symlinked destination, remounted rw by an earlier hook: without oci-psp-hook the readOnly path is written" \
	"PRIV-WRITE:/linkdata" "PRIV-MNT-RW:/elsewhere"
adv_run link-remount-ro "$(cmd link-remount-ro "$LINKCMD"); $LINK_RO; $REMOUNT_HOOK" "${RO[@]}"
expect_blocked "6 ro bind at a symlinked destination, remounted rw by an earlier hook: blocked"
LINK_RRW="$(mnt /linkdata bind "$HOSTDATA" "['rbind', 'ro', 'rrw']")"
adv_run link-rrw-real "$(cmd link-rrw-real "$LINKCMD"); $LINK_RRW"
expect_real "6 [rbind, ro, rrw] at a symlinked destination: without the hook the readOnly path is written" "PRIV-WRITE:/linkdata"
adv_run link-rrw-ro "$(cmd link-rrw-ro "$LINKCMD"); $LINK_RRW" "${RO[@]}"
expect_blocked "6 [rbind, ro, rrw] at a symlinked destination: blocked"
adv_run link-twin "$(cmd link-twin "$LINKCMD"); $LINK_RO" "${RO[@]}"
expect_runs "6 twin: [rbind, ro] at a symlinked destination runs, read-only" "NO-WRITE:/linkdata" "MNT:/elsewhere"

INJECT_HOOK="$(inject_over "$SECRET" "$ROOTFS/injected")"
adv_run inject-real "$(cmd inject-real "$LINKCMD"); $INJECT_HOOK"
expect_real "6 a mount config.json never declares (added by an earlier hook): without oci-psp-hook the host directory is in the container" \
	"READ:/injected/s:host-secret" "PRIV-WRITE:/injected"
adv_run inject-r "$(cmd inject-r "$LINKCMD"); restricted(); $INJECT_HOOK" "${R[@]}"
expect_blocked "6 a mount config.json never declares (added by an earlier hook): blocked under builtin:restricted"
adv_run inject-twin "$(cmd inject-twin "$LINKCMD"); restricted()" "${R[@]}"
expect_runs "6 twin: the same container without the injected mount runs under builtin:restricted" "UNREADABLE:/injected/s"

# The same through a hook the node allows (allowedHooks): the mount it adds
# over one runc made (the host's /proc over the container's, a host tmpfs
# over /dev/shm) has the declared type but is the host's filesystem.
INJCONF="$WORK/hookconf-inject"
mkdir -p "$INJCONF/policies.d"
cat >"$INJCONF/config.yaml" <<YAML
apiVersion: oci-psp-hook/v1alpha1
kind: HookConfiguration
policyDirectory: policies.d
mode: enforce
defaultPolicies: [builtin:restricted]
allowedHooks: [$WORK/inject.sh, /bin/true]
YAML
chmod 644 "$INJCONF/config.yaml"
INJ=(--config "$INJCONF/config.yaml")
HOSTSHM="$WORK/host-tmpfs"
mkdir -p "$HOSTSHM"
if mount -t tmpfs -o size=1m adv-host-tmpfs "$HOSTSHM"; then
	on_exit "umount '$HOSTSHM'"
	echo host-tmpfs-secret >"$HOSTSHM/s"
	OVERCMD='probe read /dev/shm/s; probe read /proc/1/comm;'
	# over_case NAME SRC PATH WHAT SHOWS PROOF: SRC bound at PATH by an
	# earlier hook is real without oci-psp-hook (PROOF), and blocked when
	# the node allows that hook.
	over_case() {
		local edit
		edit="restricted(); $(inject_over "$2" "$3")"
		adv_run "$1-real" "$(cmd "$1-real" "$OVERCMD"); $edit"
		expect_real "6 $4 by an earlier hook: without oci-psp-hook $5" "$6"
		adv_run "$1-r" "$(cmd "$1-r" "$OVERCMD"); $edit" "${INJ[@]}"
		expect_blocked "6 $4 by a hook the node allows is blocked under builtin:restricted"
	}
	over_case procover /proc "$ROOTFS/proc" "the host's /proc bound over /proc" \
		"the container reads the host's init" "READ:/proc/1/comm:$(cat /proc/1/comm)"
	over_case shmover "$HOSTSHM" "$ROOTFS/dev/shm" "a host tmpfs bound over /dev/shm" \
		"the container reads it" "READ:/dev/shm/s:host-tmpfs-secret"
	adv_run over-twin "$(cmd over-twin "$OVERCMD"); restricted(); BEFORE['createRuntime'] = [{'path': '/bin/true'}]" "${INJ[@]}"
	expect_runs "6 twin: the same container with an allowed earlier hook that mounts nothing runs under builtin:restricted" \
		"UNREADABLE:/dev/shm/s"
else
	fail "6 a host tmpfs" "mounting a tmpfs at $HOSTSHM failed"
fi

# Submounts: HOSTDATA2 (readOnly allowed) has a tmpfs mounted below it on
# the host; runc's `ro` remounts the top of an rbind only.
HOSTDATA2="$WORK/hostdata2"
mkdir -p "$HOSTDATA2/sub"
RO2_POLICY="$WORK/readonly-hostpath2-psp.yaml"
readonly_hostpath_policy "$HOSTDATA2" "$RO2_POLICY"
RO2=(--policy "$RO2_POLICY")
if mount -t tmpfs -o mode=1777,size=1m adv-submount "$HOSTDATA2/sub"; then
	on_exit "umount '$HOSTDATA2/sub'"
	SUBCMD='probe write /data /data/sub; probe mnt /data /data/sub;'
	adv_run sub-real "$(cmd sub-real "$SUBCMD"); $(mnt /data bind "$HOSTDATA2" "['rbind', 'ro']")"
	expect_real "6 [rbind, ro] of a path with a host submount: without the hook the submount is writable" \
		"NO-WRITE:/data" "PRIV-WRITE:/data/sub"
	adv_run sub-ro "$(cmd sub-ro "$SUBCMD"); $(mnt /data bind "$HOSTDATA2" "['rbind', 'ro']")" "${RO2[@]}"
	expect_blocked "6 [rbind, ro] of a path with a writable host submount: blocked under its readOnly hostPath policy"
	# The source spelled through a symlink (and `..`), with a tmpfs declared
	# at the submount's place first: the submount is found all the same.
	ln -sfn "$HOSTDATA2" "$WORK/hostdata2-link"
	DECOY="$(mnt /data/sub tmpfs tmpfs "['nosuid', 'nodev']")"
	adv_run sub-link-ro "$(cmd sub-link-ro "$SUBCMD"); $DECOY; $(mnt /data bind "$WORK/hostdata2-link" "['rbind', 'ro']")" "${RO2[@]}"
	expect_blocked "6 [rbind, ro] of a symlink to a path with a writable host submount, a tmpfs declared there first: blocked under its readOnly hostPath policy"
	adv_run sub-dots-ro "$(cmd sub-dots-ro "$SUBCMD"); $DECOY; $(mnt /data bind "$WORK/spec/../hostdata2" "['rbind', 'ro']")" "${RO2[@]}"
	expect_blocked "6 [rbind, ro] of <dir>/../hostdata2 (a writable host submount), a tmpfs declared there first: blocked under its readOnly hostPath policy"
	adv_run sub-twin-bind "$(cmd sub-twin-bind "$SUBCMD"); $(mnt /data bind "$HOSTDATA2" "['bind', 'ro']")" "${RO2[@]}"
	expect_runs "6 twin: [bind, ro] (not recursive) of the same path runs, read-only" "NO-WRITE:/data" "NO-WRITE:/data/sub"
	adv_run sub-twin-rro "$(cmd sub-twin-rro "$SUBCMD"); $(mnt /data bind "$HOSTDATA2" "['rbind', 'ro', 'rro']")" "${RO2[@]}"
	expect_runs "6 twin: [rbind, ro, rro] of the same path runs, the submount read-only too" "NO-WRITE:/data" "NO-WRITE:/data/sub"
else
	fail "6 a host submount" "mounting a tmpfs at $HOSTDATA2/sub failed"
fi

# ===========================================================================
# 7. Hooks in config.json: a hook is a host program run as root. A compliant
# restricted container with one more hook of its own is blocked, and a hook
# after oci-psp-hook's must not run.
log "-- 7. hooks in config.json"
# extra_hook WHERE STAGE NAME: a hook leaving $HOOK_LOG/NAME (or, run inside
# the container after pivot_root, /markers/hook-NAME).
extra_hook() {
	echo "$1['$2'] = [sh_hook('touch $HOOK_LOG/$3 2>/dev/null || touch /markers/hook-$3')]"
}
hook_ran() {
	[ -e "$HOOK_LOG/$1" ] || [ -e "$ROOTFS/markers/hook-$1" ]
}
# hook_case WHERE STAGE MUST_NOT_RUN: proof without oci-psp-hook, then
# blocked under builtin:restricted with the extra hook not run (when
# MUST_NOT_RUN; runc runs prestart hooks, and createRuntime hooks listed
# before oci-psp-hook's, before it: those are only reported).
hook_case() {
	local where=$1 stage=$2 must_not=$3 name="hook-$2-${1,,}"
	adv_run "$name-real" "command('$name-real', ''); restricted(); $(extra_hook "$where" "$stage" "$name-real")"
	if [ "$RC" -eq 0 ] && hook_ran "$name-real"; then
		pass "7 an extra $stage hook: without oci-psp-hook runc runs it"
	else
		fail "7 an extra $stage hook: without oci-psp-hook runc runs it" "exit $RC, hook ran: $(hook_ran "$name-real" && echo yes || echo no); $(err_excerpt)"
	fi
	adv_run "$name" "command('$name', ''); restricted(); $(extra_hook "$where" "$stage" "$name")" "${R[@]}"
	expect_blocked "7 a compliant restricted container with an extra $stage hook ($where oci-psp-hook's) is blocked"
	if [ "$must_not" = 1 ]; then
		if hook_ran "$name"; then
			fail "7 the extra $stage hook did not run" "it ran"
		else
			pass "7 the extra $stage hook did not run"
		fi
	elif [ "$RC" -ne 0 ] && hook_ran "$name"; then
		log "note - the extra $stage hook ($where oci-psp-hook's) ran although the container was blocked: outside the hook's reach"
	fi
}
# What runc 1.1 runs when oci-psp-hook denies (uid 0 under restricted, denied
# by any version of the hook): prestart hooks and createRuntime hooks listed
# before it have run already, poststop hooks run when runc destroys the
# container; the later stages must not run.
ORDER="BEFORE['prestart'] = [sh_hook('touch $HOOK_LOG/order-prestart')]; BEFORE['createRuntime'] = [sh_hook('touch $HOOK_LOG/order-createRuntime-before')]; AFTER['createContainer'] = [sh_hook('touch $HOOK_LOG/order-createContainer')]; AFTER['poststart'] = [sh_hook('touch $HOOK_LOG/order-poststart')]; AFTER['poststop'] = [sh_hook('touch $HOOK_LOG/order-poststop')]"
adv_run hook-order "command('hook-order', ''); restricted(); user()['uid'] = 0; $ORDER" "${R[@]}"
expect_blocked "7 (runc's order) a container oci-psp-hook denies for uid 0 is blocked"
if [ -e "$HOOK_LOG/order-createContainer" ] || [ -e "$HOOK_LOG/order-poststart" ]; then
	fail "7 (runc's order) no createContainer or poststart hook runs after oci-psp-hook's denial" "one ran"
else
	pass "7 (runc's order) no createContainer or poststart hook runs after oci-psp-hook's denial"
fi
for h in prestart createRuntime-before poststop; do
	if [ -e "$HOOK_LOG/order-$h" ]; then
		log "note - runc ran the $h hook of a container oci-psp-hook denied"
	else
		log "note - runc did not run the $h hook of a container oci-psp-hook denied"
	fi
done
hook_case AFTER createRuntime 1
hook_case AFTER createContainer 1
hook_case AFTER startContainer 1
hook_case AFTER poststart 1
hook_case AFTER prestart 0
hook_case AFTER poststop 0
hook_case BEFORE createRuntime 0
# A hook path naming a file of the process that follows it: runc follows
# /proc/self/exe to runc itself, not to oci-psp-hook, whatever the arguments.
adv_run hook-proc-self "command('hook-proc-self', ''); restricted(); AFTER['createRuntime'] = [{'path': '/proc/self/exe', 'args': ['oci-psp-hook', 'hook']}]" "${R[@]}"
expect_blocked "7 a createRuntime hook /proc/self/exe with oci-psp-hook's arguments (runc runs itself) is blocked"
# A path spelled with `..`: runc resolves a createContainer hook in the
# container's mount namespace, where a mount can change where `..` leads.
DOTDOT="$(dirname "$HOOK_BIN")/../$(basename "$(dirname "$HOOK_BIN")")/$(basename "$HOOK_BIN")"
adv_run hook-dotdot "command('hook-dotdot', ''); restricted(); AFTER['createContainer'] = [{'path': '$DOTDOT', 'args': ['oci-psp-hook', 'hook'] + $(pylist "${R[@]}")}]" "${R[@]}"
expect_blocked "7 a createContainer hook naming oci-psp-hook through '..' is blocked"
if [[ "$ERR" == *"createContainer hook $DOTDOT is none the node installed"* ]]; then
	pass "7 the '..' createContainer hook is refused by oci-psp-hook's judgement of it"
else
	fail "7 the '..' createContainer hook is refused by oci-psp-hook's judgement of it" "$(err_excerpt)"
fi
# A hook path through the container's own files: the image's root-owned
# link /adv-lnk -> adv-w/x, adv-w the container user's, x leading to
# oci-psp-hook while the hook judges it. The container then points x at a
# script of the host, which runc runs as root at poststop.
SWAPPED="$WORK/swapped-hook.sh"
printf '#!/bin/sh\ntouch %s/swapped-hook-ran\n' "$HOOK_LOG" >"$SWAPPED"
chmod 755 "$SWAPPED"
swap_run() { # NAME [HOOK_ARG...]
	local name=$1
	shift
	mkdir -p "$ROOTFS/adv-w"
	ln -sfn "$HOOK_BIN" "$ROOTFS/adv-w/x"
	chown -h 32767:32767 "$ROOTFS/adv-w" "$ROOTFS/adv-w/x"
	ln -sfn adv-w/x "$ROOTFS/adv-lnk"
	rm -f "$HOOK_LOG/swapped-hook-ran"
	adv_run "$name" "command('$name', 'ln -sfn $SWAPPED /adv-w/x;'); restricted(); AFTER['poststop'] = [{'path': '$ROOTFS/adv-lnk', 'args': ['oci-psp-hook', 'hook']}]" "$@"
}
swap_run hook-swap-real
if [ "$RC" -eq 0 ] && [ -e "$HOOK_LOG/swapped-hook-ran" ]; then
	pass "7 a poststop hook through a link of the image: without oci-psp-hook the container's script runs as root"
else
	fail "7 a poststop hook through a link of the image: without oci-psp-hook the container's script runs as root" "exit $RC; $(err_excerpt)"
fi
swap_run hook-swap "${R[@]}"
expect_blocked "7 a hook path through a link of the container's root filesystem (leading to oci-psp-hook when judged) is blocked"
if [ -e "$HOOK_LOG/swapped-hook-ran" ]; then
	fail "7 the container's script did not run as a hook" "it ran"
else
	pass "7 the container's script did not run as a hook"
fi
rm -rf "$ROOTFS/adv-w" "$ROOTFS/adv-lnk"
adv_run hook-twin "command('hook-twin', ''); restricted()" "${R[@]}"
expect_runs "7 twin: the same container with only oci-psp-hook's hook runs under builtin:restricted"
adv_run hook-twin-empty "command('hook-twin-empty', ''); restricted(); AFTER['prestart'] = []; AFTER['poststop'] = []" "${R[@]}"
expect_runs "7 twin: empty prestart and poststop lists run under builtin:restricted"

# ===========================================================================
# 8. The bundle: config.json is read again by the hook after runc read it, so
# whoever else can write it (or the directories above it) can swap it in
# between. Blocked with exit 2.
log "-- 8. the bundle"
PARENTS="$WORK/parents"
mkdir -p "$PARENTS"
# bundle_at DIR NAME: a bundle at DIR with a copy of the rootfs and the
# compliant restricted config.json (root-owned 0644, directories 0755).
bundle_at() {
	mkdir -p "$1" && chmod 755 "$(dirname "$1")" "$1" &&
		cp -a "$ROOTFS" "$1/rootfs" &&
		adv_config "$1" "$2" "restricted()" "${R[@]}" &&
		chmod 644 "$1/config.json"
}
# bundle_case NAME DESCRIPTION SETUP EXPECT(blocked|runs): SETUP (a command
# given the bundle directory) after bundle_at.
bundle_case() {
	local name=$1 what=$2 setup=$3 expect=$4 b="$PARENTS/$1/bundle"
	RUN_N=$((RUN_N + 1))
	MARKER_FILE="$b/rootfs/markers/$name"
	if ! bundle_at "$b" "$name" || ! $setup "$b"; then
		fail "8 $what" "test setup failed"
		return
	fi
	adv_start "$b" "adv-$$-$RUN_N"
	if [ "$expect" = blocked ]; then
		expect_blocked_exit2 "8 $what: blocked (exit 2)"
	else
		expect_runs "8 $what: runs"
	fi
}
cfg_nobody() { chown 65534 "$1/config.json"; }
cfg_0666() { chmod 666 "$1/config.json"; }
cfg_group() { chgrp 65534 "$1/config.json" && chmod 664 "$1/config.json"; }
dir_0777() { chmod 777 "$1"; }
dir_nobody() { chown 65534 "$1"; }
parent_0777() { chmod 777 "$(dirname "$1")"; }
parent_nobody() { chown 65534 "$(dirname "$1")"; }
cfg_0600() { chmod 600 "$1/config.json"; }
parent_sticky() { chmod 1777 "$(dirname "$1")"; }
bundle_case cfg-nobody "config.json owned by uid 65534" cfg_nobody blocked
bundle_case cfg-0666 "config.json mode 0666" cfg_0666 blocked
bundle_case cfg-group "config.json group-writable, group 65534" cfg_group blocked
bundle_case dir-0777 "the bundle directory mode 0777" dir_0777 blocked
bundle_case dir-nobody "the bundle directory owned by uid 65534" dir_nobody blocked
bundle_case parent-0777 "the bundle's parent directory mode 0777" parent_0777 blocked
bundle_case parent-nobody "the bundle's parent directory owned by uid 65534" parent_nobody blocked
bundle_case twin-root "twin: root-owned config.json 0644 in a root-owned 0755 bundle and parent" true runs
bundle_case twin-0600 "twin: root-owned config.json 0600" cfg_0600 runs
bundle_case twin-sticky "twin: a root-owned bundle in a root-owned sticky 1777 parent (like /tmp)" parent_sticky runs

# ===========================================================================
# 9. Identity claims: annotations are claims, honoured only where the
# runtime, not whoever wrote config.json, could have made them.
log "-- 9. identity claims"
hex64() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
SANDBOX_ID=$(hex64)
POD_UID=$(cat /proc/sys/kernel/random/uuid)
CRI_SANDBOX="{'io.kubernetes.cri.container-type': 'sandbox', 'io.kubernetes.cri.sandbox-id': '$SANDBOX_ID', 'io.kubernetes.cri.sandbox-name': 'web-0', 'io.kubernetes.cri.sandbox-namespace': 'default', 'io.kubernetes.cri.sandbox-uid': '$POD_UID', 'io.kubernetes.cri.sandbox-log-directory': '/var/log/pods/default_web-0_$POD_UID'}"
CRIO_SANDBOX="{'io.kubernetes.cri-o.ContainerType': 'sandbox', 'io.kubernetes.cri-o.SandboxID': '$SANDBOX_ID', 'io.kubernetes.pod.namespace': 'default', 'io.kubernetes.pod.name': 'web-0', 'io.kubernetes.pod.uid': '$POD_UID', 'io.kubernetes.container.name': 'POD'}"
LOOSE="root_default_caps(); c['linux'].pop('seccomp', None); c['root']['readonly'] = False"
SYS_ADMIN="set_caps(['CAP_SYS_ADMIN', 'CAP_KILL'], ('bounding', 'effective', 'permitted'))"
adv_run sandbox-cri "command('sandbox-cri', ''); $LOOSE; annotate($CRI_SANDBOX)" "${R[@]}"
expect_blocked "9 a runc container claiming io.kubernetes.cri.container-type sandbox (root, no no_new_privs, no seccomp) is blocked under builtin:restricted"
adv_run sandbox-crio "command('sandbox-crio', ''); $LOOSE; annotate($CRIO_SANDBOX)" "${R[@]}"
expect_blocked "9 a runc container claiming io.kubernetes.cri-o.ContainerType sandbox (root, no no_new_privs, no seccomp) is blocked under builtin:restricted"
RUN_ID=$SANDBOX_ID adv_run sandbox-same-id "command('sandbox-same-id', ''); $LOOSE; $SYS_ADMIN; annotate($CRI_SANDBOX)" "${R[@]}"
expect_blocked "9 a sandbox claim whose sandbox-id is the OCI id, with CAP_SYS_ADMIN (no sandbox needs it), is blocked under builtin:restricted"
adv_run sandbox-twin "command('sandbox-twin', ''); restricted(); annotate($CRI_SANDBOX)" "${R[@]}"
expect_runs "9 twin: a compliant restricted container with the same sandbox annotations runs"
adv_run sandbox-twin-crio "command('sandbox-twin-crio', ''); restricted(); annotate($CRIO_SANDBOX)" "${R[@]}"
expect_runs "9 twin: a compliant restricted container with the CRI-O sandbox annotations runs"

# Bindings: kube-system is bound to builtin:privileged, everything else to
# builtin:restricted. A container runc started from a local bundle is no CRI
# container: its namespace annotation picks nothing.
HOOKCONF="$WORK/hookconf"
mkdir -p "$HOOKCONF/policies.d"
cat >"$HOOKCONF/config.yaml" <<'YAML'
apiVersion: oci-psp-hook/v1alpha1
kind: HookConfiguration
policyDirectory: policies.d
mode: enforce
defaultPolicies: [builtin:restricted]
bindings:
  - namespaces: [kube-system]
    policies: [builtin:privileged]
YAML
chmod 644 "$HOOKCONF/config.yaml"
CONF=(--config "$HOOKCONF/config.yaml")
CRI_KS="{'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-id': '$SANDBOX_ID', 'io.kubernetes.cri.sandbox-name': 'kube-proxy-x', 'io.kubernetes.cri.sandbox-namespace': 'kube-system', 'io.kubernetes.cri.sandbox-uid': '$POD_UID', 'io.kubernetes.cri.container-name': 'kube-proxy'}"
CRIO_KS="{'io.kubernetes.cri-o.ContainerType': 'container', 'io.kubernetes.cri-o.SandboxID': '$SANDBOX_ID', 'io.kubernetes.pod.namespace': 'kube-system', 'io.kubernetes.pod.name': 'kube-proxy-x', 'io.kubernetes.pod.uid': '$POD_UID', 'io.kubernetes.container.name': 'kube-proxy'}"
adv_run ks-cri "command('ks-cri', ''); $LOOSE; $SYS_ADMIN; annotate($CRI_KS)" "${CONF[@]}"
expect_blocked "9 a runc container claiming namespace kube-system (cri annotations; root, CAP_SYS_ADMIN, no seccomp) is blocked under a config binding kube-system to builtin:privileged"
adv_run ks-crio "command('ks-crio', ''); $LOOSE; $SYS_ADMIN; annotate($CRIO_KS)" "${CONF[@]}"
expect_blocked "9 a runc container claiming namespace kube-system (CRI-O annotations) is blocked under the same config"
adv_run ks-twin "command('ks-twin', ''); restricted(); annotate($CRI_KS)" "${CONF[@]}"
expect_runs "9 twin: a compliant restricted container with the kube-system annotations runs under the config"
adv_run ks-twin-plain "command('ks-twin-plain', ''); restricted()" "${CONF[@]}"
expect_runs "9 twin: a compliant restricted container without annotations runs under the config"

# Another pod's kubelet volume, and another pod's etc-hosts, when config.json
# carries no pod uid: hostPaths.
OTHER_POD=$(cat /proc/sys/kernel/random/uuid)
KUBELET_POD="/var/lib/kubelet/pods/$OTHER_POD"
KUBELET_SECRET="$KUBELET_POD/volumes/kubernetes.io~secret/token"
if host_mkdir "$KUBELET_POD" && mkdir -p "$KUBELET_SECRET"; then
	echo other-pod-secret >"$KUBELET_SECRET/s"
	echo "127.0.0.1 other-pod" >"$KUBELET_POD/etc-hosts"
	chmod 755 "$KUBELET_SECRET"
	chmod 644 "$KUBELET_SECRET/s" "$KUBELET_POD/etc-hosts"
	SECRET_MOUNT="$(mnt /secret bind "$KUBELET_SECRET" "['rbind', 'ro']")"
	ETCHOSTS_MOUNT="$(mnt /etc/hosts bind "$KUBELET_POD/etc-hosts" "['rbind', 'ro']")"
	IDCMD9='probe read /secret/s /etc/hosts;'
	adv_run kubelet-real "$(cmd kubelet-real "$IDCMD9"); $SECRET_MOUNT; $ETCHOSTS_MOUNT"
	expect_real "9 another pod's secret volume and etc-hosts: without the hook the container reads them" \
		"READ:/secret/s:other-pod-secret" "READ:/etc/hosts:127.0.0.1 other-pod"
	adv_run kubelet-secret "$(cmd kubelet-secret "$IDCMD9"); restricted(); $SECRET_MOUNT" "${R[@]}"
	expect_blocked "9 another pod's kubelet secret volume (config.json has no pod uid) is blocked under builtin:restricted"
	adv_run kubelet-etchosts "$(cmd kubelet-etchosts "$IDCMD9"); restricted(); $ETCHOSTS_MOUNT" "${R[@]}"
	expect_blocked "9 another pod's kubelet etc-hosts (config.json has no pod uid) is blocked under builtin:restricted"
	adv_run kubelet-twin "$(cmd kubelet-twin "$IDCMD9"); restricted(); $(mnt /secret tmpfs tmpfs "['nosuid', 'nodev', 'size=1m']")" "${R[@]}"
	expect_runs "9 twin: a tmpfs at /secret instead runs under builtin:restricted" "UNREADABLE:/secret/s"
else
	fail "9 another pod's kubelet volume" "could not create $KUBELET_SECRET"
fi

# A pod UID is honoured in containerd's task directory: one spelling a path
# into another pod's volumes must not make a directory there the pod's own.
TASK_ID=$(hex64)
TASKB="/run/containerd/io.containerd.runtime.v2.task/k8s.io/$TASK_ID"
OWN_POD=$(cat /proc/sys/kernel/random/uuid)
NESTED_UID="$OTHER_POD/volumes/kubernetes.io~empty-dir/d"
NESTED_SECRET="/var/lib/kubelet/pods/$NESTED_UID/volumes/kubernetes.io~secret/token"
OWN_SECRET="/var/lib/kubelet/pods/$OWN_POD/volumes/kubernetes.io~secret/token"
if [ -d "$KUBELET_POD" ] && host_mkdir "$TASKB" && host_mkdir "/var/lib/kubelet/pods/$OWN_POD" &&
	mkdir -p "$NESTED_SECRET" "$OWN_SECRET" && cp -a "$BUNDLE/rootfs" "$TASKB/rootfs"; then
	echo nested-secret >"$NESTED_SECRET/s"
	echo own-secret >"$OWN_SECRET/s"
	chmod 644 "$NESTED_SECRET/s" "$OWN_SECRET/s"
	chmod 755 "$NESTED_SECRET" "$OWN_SECRET" "$TASKB"
	cri_app() { echo "{'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-id': '$SANDBOX_ID', 'io.kubernetes.cri.sandbox-name': 'web-0', 'io.kubernetes.cri.sandbox-namespace': 'default', 'io.kubernetes.cri.sandbox-uid': '$1', 'io.kubernetes.cri.container-name': 'app'}"; }
	# pod_run NAME PROBE POD_UID EDIT [HOOK_ARG...]: adv_run_in containerd's
	# task directory, as an app container of pod POD_UID.
	pod_run() {
		local name=$1 probe=$2 uid=$3 edit=$4
		shift 4
		RUN_ID=$TASK_ID adv_run_in "$TASKB" "$name" "$(cmd "$name" "$probe"); annotate($(cri_app "$uid")); $edit" "$@"
	}
	pod_run uid-path-real 'probe read /secret/s;' "$NESTED_UID" "$(mnt /secret bind "$NESTED_SECRET" "['rbind', 'ro']")"
	expect_real "9 a directory inside another pod's emptyDir: without the hook the container reads it" "READ:/secret/s:nested-secret"
	pod_run uid-path 'probe read /secret/s;' "$NESTED_UID" "restricted(); $(mnt /secret bind "$NESTED_SECRET" "['rbind', 'ro']")" "${R[@]}"
	expect_blocked "9 a pod UID spelling a path into another pod's emptyDir, its secret-shaped directory bound, is blocked under builtin:restricted"
	pod_run uid-own 'probe read /secret/s;' "$OWN_POD" "restricted(); $(mnt /secret bind "$OWN_SECRET" "['rbind', 'ro']")" "${R[@]}"
	expect_runs "9 twin: the pod's own secret volume, in containerd's task directory, runs under builtin:restricted" "READ:/secret/s:own-secret"
	# Kernel truth: a hook the node allows binds a host directory whose name
	# is not UTF-8 over the pod's emptyDir; a link at that name's lossy text
	# (U+FFFD for the byte) leads to the emptyDir.
	OWN_EMPTY="/var/lib/kubelet/pods/$OWN_POD/volumes/kubernetes.io~empty-dir/data"
	WEIRD="$WORK/x"$'\xff'
	mkdir -p "$OWN_EMPTY" "$WEIRD" "$TASKB/rootfs/data"
	echo weird-host-secret >"$WEIRD/s"
	chmod 644 "$WEIRD/s"
	ln -s "$OWN_EMPTY" "$WORK/x"$'\xef\xbf\xbd'
	ln -s "$WEIRD" "$WORK/weird-link"
	EMPTY_MOUNT="$(mnt /data bind "$OWN_EMPTY" "['rbind', 'rw']")"
	over_data() { inject_over "$1" "$TASKB/rootfs/data"; }
	pod_run weird-real 'probe read /data/s;' "$OWN_POD" "restricted(); $EMPTY_MOUNT; $(over_data "$WORK/weird-link")"
	expect_real "6 a host directory named with a byte that is not UTF-8, bound over the pod's emptyDir by an earlier hook: without oci-psp-hook the container reads it" \
		"READ:/data/s:weird-host-secret"
	pod_run weird-r 'probe read /data/s;' "$OWN_POD" "restricted(); $EMPTY_MOUNT; $(over_data "$WORK/weird-link")" "${INJ[@]}"
	expect_blocked "6 that directory, bound by a hook the node allows, is a hostPath (not the emptyDir its lossy name links to): blocked under builtin:restricted"
	pod_run weird-twin 'probe read /data/s;' "$OWN_POD" "restricted(); $EMPTY_MOUNT; $(over_data "$OWN_EMPTY")" "${INJ[@]}"
	expect_runs "6 twin: the allowed hook binding the pod's emptyDir itself over it runs under builtin:restricted" "UNREADABLE:/data/s"
	# A subPath of a hostPath volume named after the pod's PV: kubelet binds
	# it at volume-subpaths/<volume name>, beside the PV's directory
	# volumes/kubernetes.io~csi/<PV name>.
	PV="pvc-$(cat /proc/sys/kernel/random/uuid)"
	OWN_DIR="/var/lib/kubelet/pods/$OWN_POD"
	PV_SUB="$OWN_DIR/volume-subpaths/$PV/app/0"
	CFG_SUB="$OWN_DIR/volume-subpaths/cfg/app/1"
	HOSTDIR9="$WORK/host-dir-9"
	mkdir -p "$OWN_DIR/volumes/kubernetes.io~csi/$PV/mount" "$OWN_DIR/volumes/kubernetes.io~configmap/cfg" \
		"$HOSTDIR9" "$PV_SUB" "$CFG_SUB"
	echo "{\"driverName\": \"ebs.csi.aws.com\", \"specVolID\": \"$PV\"}" >"$OWN_DIR/volumes/kubernetes.io~csi/$PV/vol_data.json"
	echo host-dir-secret >"$HOSTDIR9/s"
	echo config-value >"$OWN_DIR/volumes/kubernetes.io~configmap/cfg/s"
	chmod 644 "$HOSTDIR9/s" "$OWN_DIR/volumes/kubernetes.io~configmap/cfg/s"
	if mount --bind "$HOSTDIR9" "$PV_SUB" && on_exit "umount '$PV_SUB'" &&
		mount --bind "$OWN_DIR/volumes/kubernetes.io~configmap/cfg" "$CFG_SUB" && on_exit "umount '$CFG_SUB'"; then
		pod_run pvname-real 'probe read /data/s;' "$OWN_POD" "restricted(); $(mnt /data bind "$PV_SUB" "['rbind', 'ro']")"
		expect_real "9 a hostPath volume's subPath named after the pod's PV: without the hook the container reads the host directory" "READ:/data/s:host-dir-secret"
		pod_run pvname-r 'probe read /data/s;' "$OWN_POD" "restricted(); $(mnt /data bind "$PV_SUB" "['rbind', 'ro']")" "${R[@]}"
		expect_blocked "9 a hostPath volume's subPath named after the pod's PV is a hostPath, not the PV's csi volume: blocked under builtin:restricted"
		pod_run pvname-twin 'probe read /data/s;' "$OWN_POD" "restricted(); $(mnt /data bind "$CFG_SUB" "['rbind', 'ro']")" "${R[@]}"
		expect_runs "9 twin: a configMap volume's subPath runs under builtin:restricted" "READ:/data/s:config-value"
	else
		fail "9 a subPath named after the pod's PV" "bind-mounting the subpath directories failed"
	fi
else
	fail "9 a pod UID spelling a path" "could not create $TASKB or the pods' volume directories"
fi

# Another container's runtime files: podman/CRI-O userdata, a containerd
# sandbox's: the id in the path is not this container's.
OTHER_ID=$(hex64)
RUNROOT_C="/run/containers/storage/overlay-containers/$OTHER_ID"
GRAPHROOT_C="/var/lib/containers/storage/overlay-containers/$OTHER_ID"
CRI_SB="/run/containerd/io.containerd.grpc.v1.cri/sandboxes/$OTHER_ID"
if host_mkdir "$RUNROOT_C" && host_mkdir "$GRAPHROOT_C" && host_mkdir "$CRI_SB" &&
	mkdir -p "$RUNROOT_C/userdata" "$GRAPHROOT_C/userdata"; then
	echo "10.0.0.1 other-container" >"$RUNROOT_C/userdata/hosts"
	echo "nameserver 10.0.0.2" >"$GRAPHROOT_C/userdata/resolv.conf"
	echo other-sandbox >"$CRI_SB/hostname"
	chmod 644 "$RUNROOT_C/userdata/hosts" "$GRAPHROOT_C/userdata/resolv.conf" "$CRI_SB/hostname"
	HOSTS_MOUNT="$(mnt /etc/hosts bind "$RUNROOT_C/userdata/hosts" "['rbind', 'ro']")"
	RESOLV_MOUNT="$(mnt /etc/resolv.conf bind "$GRAPHROOT_C/userdata/resolv.conf" "['rbind', 'ro']")"
	HOSTNAME_MOUNT="$(mnt /etc/hostname bind "$CRI_SB/hostname" "['rbind', 'ro']")"
	RTCMD='probe read /etc/hosts /etc/resolv.conf /etc/hostname;'
	adv_run userdata-real "$(cmd userdata-real "$RTCMD"); $HOSTS_MOUNT; $RESOLV_MOUNT; $HOSTNAME_MOUNT"
	expect_real "9 another container's userdata files and another sandbox's hostname: without the hook the container reads them" \
		"READ:/etc/hosts:10.0.0.1 other-container" "READ:/etc/resolv.conf:nameserver 10.0.0.2" "READ:/etc/hostname:other-sandbox"
	adv_run userdata-hosts "$(cmd userdata-hosts "$RTCMD"); restricted(); $HOSTS_MOUNT" "${R[@]}"
	expect_blocked "9 another container's /run/containers/storage/overlay-containers/<id>/userdata/hosts is blocked under builtin:restricted"
	adv_run userdata-resolv "$(cmd userdata-resolv "$RTCMD"); restricted(); $RESOLV_MOUNT" "${R[@]}"
	expect_blocked "9 another container's /var/lib/containers/storage/overlay-containers/<id>/userdata/resolv.conf is blocked under builtin:restricted"
	adv_run cri-sandbox-hostname "$(cmd cri-sandbox-hostname "$RTCMD"); restricted(); $HOSTNAME_MOUNT" "${R[@]}"
	expect_blocked "9 another containerd sandbox's sandboxes/<id>/hostname is blocked under builtin:restricted"
	adv_run userdata-twin "$(cmd userdata-twin "$RTCMD"); restricted()" "${R[@]}"
	expect_runs "9 twin: the same container without those mounts runs under builtin:restricted"
else
	fail "9 another container's runtime files" "could not create $RUNROOT_C, $GRAPHROOT_C or $CRI_SB"
fi

# ===========================================================================
# 10. Namespace files that cannot be read in hook mode block (exit 2); no
# fallback to what config.json claims.
log "-- 10. unreadable namespace files"
adv_config "$BUNDLE" ns-state "restricted()" "${R[@]}"
# hook_state PID: run the hook binary as runc would, with PID in the state.
hook_state() {
	local state
	state=$(printf '{"ociVersion":"1.0.2","id":"adv-ns-%s","status":"creating","pid":%s,"bundle":"%s"}' "$$" "$1" "$BUNDLE")
	RC=0
	ERR=$(printf '%s' "$state" | timeout 30 "$HOOK_BIN" hook "${R[@]}" 2>&1 >/dev/null) || RC=$?
}
hook_state 999999999
if [ "$RC" -eq 2 ] && [[ "$ERR" == *"oci-psp-hook:"* ]]; then
	pass "10 a pid with no /proc entry (999999999): the hook exits 2"
else
	fail "10 a pid with no /proc entry (999999999): the hook exits 2" "exit $RC: $ERR"
fi
sh -c 'exit 0' &
GONE=$!
wait "$GONE"
hook_state "$GONE"
if [ "$RC" -eq 2 ]; then
	pass "10 the pid of a process that has exited: the hook exits 2"
else
	fail "10 the pid of a process that has exited: the hook exits 2" "exit $RC: $ERR"
fi
# Twins: a live process in namespaces of its own gets a verdict (0 or 1).
# (unshare ignores SIGTERM while it waits, and a pid namespace's init ignores
# what it has no handler for: SIGKILL, and --kill-child takes the child along)
unshare -p -n -i -u -m --fork --kill-child --mount-proc sleep 120 </dev/null >/dev/null 2>&1 &
UNSHARE=$!
on_exit "kill -9 $UNSHARE"
CHILD=""
for ((i = 0; i < 50; i++)); do
	CHILD=$(tr -d ' ' <"/proc/$UNSHARE/task/$UNSHARE/children" 2>/dev/null)
	[ -n "$CHILD" ] && [ "$(readlink "/proc/$CHILD/ns/pid")" != "$(readlink /proc/self/ns/pid)" ] && break
	sleep 0.1
done
if [ -n "$CHILD" ]; then
	hook_state "$CHILD"
	if [ "$RC" -eq 0 ] || [ "$RC" -eq 1 ]; then
		pass "10 twin: a live process in its own namespaces gets a verdict, not an error (exit $RC)"
	else
		fail "10 twin: a live process in its own namespaces gets a verdict, not an error" "exit $RC: $ERR"
	fi
else
	fail "10 twin: a live process in its own namespaces" "unshare's child did not appear"
fi
# ... and so does a real container runc created (without the hook).
adv_config "$BUNDLE" ns-created "restricted()"
NS_ID="adv-$$-created"
if timeout 30 runc --root "$RUNC_ROOT" create --bundle "$BUNDLE" "$NS_ID" </dev/null >/dev/null 2>&1; then
	NS_PID=$(runc --root "$RUNC_ROOT" state "$NS_ID" | sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p')
	adv_config "$BUNDLE" ns-created "restricted()" "${R[@]}"
	hook_state "$NS_PID"
	if [ "$RC" -eq 0 ] || [ "$RC" -eq 1 ]; then
		pass "10 twin: the init process of a container runc created gets a verdict, not an error (exit $RC)"
	else
		fail "10 twin: the init process of a container runc created gets a verdict, not an error" "exit $RC: $ERR"
	fi
	timeout 30 runc --root "$RUNC_ROOT" delete -f "$NS_ID" >/dev/null 2>&1
else
	fail "10 twin: a container runc created" "runc create failed"
fi

# ---------------------------------------------------------------------------
# 19.1 Runtime settings beyond the container, as runc 1.1.5 applies them.
# (A cgroupsPath of "/" is judged offline only: runc sets the cgroup's limits
# before createRuntime, so even a denied run would touch the host's root.)

# A cgroup holding another process: runc moves the container into it (on
# cgroup v1, the pids hierarchy; on a unified host, the one hierarchy).
VICTIM_CG="psp-adv-victim-$$"
if [ -d /sys/fs/cgroup/pids ]; then CG_DIR=/sys/fs/cgroup/pids CG_LINE=":pids:"; else CG_DIR=/sys/fs/cgroup CG_LINE="0::"; fi
mkdir -p "$CG_DIR/$VICTIM_CG"
sleep 300 >/dev/null 2>&1 &
VICTIM=$!
echo "$VICTIM" >"$CG_DIR/$VICTIM_CG/cgroup.procs"
on_exit "kill -9 $VICTIM; sleep 0.2; rmdir /sys/fs/cgroup/*/$VICTIM_CG /sys/fs/cgroup/*/psp-adv-own-$$ /sys/fs/cgroup/$VICTIM_CG /sys/fs/cgroup/psp-adv-own-$$ 2>/dev/null"
CGCMD="grep -q $CG_LINE/$VICTIM_CG\$ /proc/self/cgroup && echo PRIV-CGROUP;"
adv_run cgroup-real "$(cmd cgroup-real "$CGCMD"); restricted(); c['linux']['cgroupsPath'] = '/$VICTIM_CG'"
expect_real "19 cgroupsPath of another process's cgroup: without the hook runc puts the container in it" "PRIV-CGROUP"
adv_run cgroup-r "$(cmd cgroup-r "$CGCMD"); restricted(); c['linux']['cgroupsPath'] = '/$VICTIM_CG'" "${R[@]}"
expect_blocked "19 cgroupsPath of another process's cgroup is blocked under builtin:restricted"
adv_run cgroup-twin "$(cmd cgroup-twin "$CGCMD"); restricted(); c['linux']['cgroupsPath'] = '/psp-adv-own-$$'" "${R[@]}"
expect_runs "19 twin: a cgroup of its own runs under builtin:restricted"

# rlimits and oomScoreAdj beyond the host's need CAP_SYS_RESOURCE, which this
# machine's root lacks (runc fails to apply them before any verdict): they are
# judged offline in the unit tests (checks::privileged).

# Annotations a runtime acts on (crun's; runc ignores them, so no proof here).
adv_run annot-r "$(cmd annot-r ''); restricted(); annotate({'run.oci.keep_original_groups': '1'})" "${R[@]}"
expect_blocked "19 annotation run.oci.keep_original_groups is blocked under builtin:restricted"
adv_run annot-twin "$(cmd annot-twin ''); restricted(); annotate({'org.opencontainers.image.title': 'x'})" "${R[@]}"
expect_runs "19 twin: an annotation no runtime acts on runs under builtin:restricted"

# ===========================================================================
# 20. Findings of a security review: configurations an older hook admitted.
log "-- 20. review findings"

# 20.1 Namespaces joined by path: another process's mount namespace (runc
# would set the rootfs up in it and pivot that process's root: never run
# without the hook) or cgroup namespace is the host's business, not the
# container's.
unshare -m -C --propagation private sleep 300 </dev/null >/dev/null 2>&1 &
NS_VICTIM=$!
on_exit "kill -9 $NS_VICTIM"
for ((i = 0; i < 50; i++)); do
	[ "$(readlink "/proc/$NS_VICTIM/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] && break
	sleep 0.1
done
if [ "$(readlink "/proc/$NS_VICTIM/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] &&
	[ "$(readlink "/proc/$NS_VICTIM/ns/cgroup")" != "$(readlink /proc/self/ns/cgroup)" ]; then
	JOIN_MNT="c['linux']['namespaces'] = [dict(n, path='/proc/$NS_VICTIM/ns/mnt') if n['type'] == 'mount' else n for n in c['linux']['namespaces']]"
	adv_run join-mnt "$(cmd join-mnt ''); restricted(); $JOIN_MNT" "${R[@]}"
	expect_blocked "20.1 a mount namespace joined by path (/proc/<another process>/ns/mnt) is blocked under builtin:restricted"
	JOIN_CG="c['linux']['namespaces'].append({'type': 'cgroup', 'path': '/proc/$NS_VICTIM/ns/cgroup'})"
	adv_run join-cgroup "$(cmd join-cgroup ''); restricted(); $JOIN_CG" "${R[@]}"
	expect_blocked "20.1 a cgroup namespace joined by path (/proc/<another process>/ns/cgroup) is blocked under builtin:restricted"
else
	fail "20.1 a mount and cgroup namespace to join by path" "unshare's process did not get namespaces of its own"
fi
adv_run join-twin "$(cmd join-twin ''); restricted()" "${R[@]}"
expect_runs "20.1 twin: a private mount namespace of its own runs under builtin:restricted"
adv_run join-twin-cg "$(cmd join-twin-cg ''); restricted(); c['linux']['namespaces'].append({'type': 'cgroup'})" "${R[@]}"
expect_runs "20.1 twin: a cgroup namespace of its own runs under builtin:restricted"

# 20.2 Hook entries dressed as oci-psp-hook, or reaching an executable
# through a path others can change.
R_PY=$(pylist "${R[@]}")
LINT_HOOK="AFTER['poststart'] = [{'path': hook_bin, 'args': ['oci-psp-hook', 'lint', '--profile', 'builtin:privileged']}]"
adv_run self-lint "$(cmd self-lint ''); restricted(); $LINT_HOOK" "${R[@]}"
expect_blocked "20.2 a poststart hook running oci-psp-hook's lint command (not hook) is blocked under builtin:restricted"
# What runc hands a hook's env: the loader of a dynamically linked program
# honours LD_PRELOAD.
PRELOAD_PROOF="AFTER['createRuntime'] = [dict(sh_hook('[ \"\$LD_PRELOAD\" = /nonexistent.so ] && touch $HOOK_LOG/preload-real'), env=['LD_PRELOAD=/nonexistent.so'])]"
adv_run preload-real "$(cmd preload-real ''); restricted(); $PRELOAD_PROOF"
if [ "$RC" -eq 0 ] && [ -e "$HOOK_LOG/preload-real" ]; then
	pass "20.2 a hook's env: without oci-psp-hook runc runs the hook with LD_PRELOAD set"
else
	fail "20.2 a hook's env: without oci-psp-hook runc runs the hook with LD_PRELOAD set" "exit $RC; $(err_excerpt)"
fi
PRELOAD_HOOK="AFTER['createRuntime'] = [dict(oci($R_PY), env=['LD_PRELOAD=/nonexistent.so'])]"
adv_run self-preload "$(cmd self-preload ''); restricted(); $PRELOAD_HOOK" "${R[@]}"
expect_blocked "20.2 an oci-psp-hook hook entry with env LD_PRELOAD=/nonexistent.so is blocked under builtin:restricted"
adv_run self-twin "$(cmd self-twin ''); restricted(); AFTER['createRuntime'] = [oci($R_PY)]" "${R[@]}"
expect_runs "20.2 twin: a second createRuntime entry identical to oci-psp-hook's own runs under builtin:restricted"

# A hook path through a symlink in a directory anyone can write (no sticky
# bit): judged now, swapped before runc runs it. Under a configuration that
# allows /bin/true as a hook, so only the path is at stake.
OPEN_DIR="$WORK/open"
CLOSED_DIR="$WORK/closed"
mkdir -p "$OPEN_DIR" "$CLOSED_DIR"
chmod 0777 "$OPEN_DIR"
chmod 0755 "$CLOSED_DIR"
ln -s /bin/true "$OPEN_DIR/hooklink"
ln -s /bin/true "$CLOSED_DIR/hooklink"
printf '#!/bin/sh\ntouch %s/open-real\n' "$HOOK_LOG" >"$WORK/open-real.sh"
chmod 755 "$WORK/open-real.sh"
ln -s "$WORK/open-real.sh" "$OPEN_DIR/swapped"
ALLOWCONF="$WORK/hookconf-allowed"
mkdir -p "$ALLOWCONF/policies.d"
cat >"$ALLOWCONF/config.yaml" <<'YAML'
apiVersion: oci-psp-hook/v1alpha1
kind: HookConfiguration
policyDirectory: policies.d
mode: enforce
defaultPolicies: [builtin:restricted]
allowedHooks: [/bin/true]
YAML
chmod 644 "$ALLOWCONF/config.yaml"
ALLOW=(--config "$ALLOWCONF/config.yaml")
adv_run open-real "$(cmd open-real ''); restricted(); AFTER['poststop'] = [{'path': '$OPEN_DIR/swapped'}]"
if [ "$RC" -eq 0 ] && [ -e "$HOOK_LOG/open-real" ]; then
	pass "20.2 a hook path through a symlink in a 0777 directory: without oci-psp-hook runc runs whatever the link names now"
else
	fail "20.2 a hook path through a symlink in a 0777 directory: without oci-psp-hook runc runs whatever the link names now" "exit $RC; $(err_excerpt)"
fi
adv_run open-link "$(cmd open-link ''); restricted(); AFTER['poststop'] = [{'path': '$OPEN_DIR/hooklink'}]" "${ALLOW[@]}"
expect_blocked "20.2 a poststop hook $OPEN_DIR/hooklink -> /bin/true (directory 0777, not sticky) is blocked under a configuration allowing /bin/true"
# Root owns a root container's files too: a link is followed only as the
# node writes it.
adv_run closed-link "$(cmd closed-link ''); restricted(); AFTER['poststop'] = [{'path': '$CLOSED_DIR/hooklink'}]" "${ALLOW[@]}"
expect_blocked "20.2 the same link in a root-owned 0755 directory is blocked under that configuration"
# An allowed program with an environment of the config's: BASH_ENV, PATH…
# would have it run the container's code.
adv_run allowed-env "$(cmd allowed-env ''); restricted(); AFTER['poststop'] = [{'path': '/bin/true', 'env': ['BASH_ENV=tmp/x.sh']}]" "${ALLOW[@]}"
expect_blocked "20.2 /bin/true, allowed, with an env of config.json's (BASH_ENV) is blocked under that configuration"
adv_run open-twin-link "$(cmd open-twin-link ''); restricted(); AFTER['poststop'] = [{'path': '/bin/true'}]" "${ALLOW[@]}"
expect_runs "20.2 twin: /bin/true, as the configuration writes it, runs under that configuration"
adv_run open-twin-true "$(cmd open-twin-true ''); restricted(); AFTER['poststop'] = [{'path': '/bin/true'}]" "${ALLOW[@]}"
expect_runs "20.2 twin: a poststop hook /bin/true runs under that configuration"

# 20.3 The /proc masks spelled through a symlink: in the container /proc/net
# is self/net, so /proc/net/../sys is /proc/1/sys, which does not exist, and
# runc skips it: /proc/sys stays writable.
SPELLCMD='probe openw /proc/sys/kernel/core_pattern /proc/sysrq-trigger; probe mnt /proc/sys /proc/sysrq-trigger;'
SPELLED="c['linux']['readonlyPaths'] = [{'/proc/sys': '/proc/net/../sys', '/proc/sysrq-trigger': '/proc/net/../sysrq-trigger'}.get(p, p) for p in c['linux']['readonlyPaths']]"
PROOF=("PRIV-OPENW:/proc/sys/kernel/core_pattern" "UNMOUNTED:/proc/sys")
[ -e /proc/sysrq-trigger ] && PROOF+=("PRIV-OPENW:/proc/sysrq-trigger")
adv_run spelled-real "$(cmd spelled-real "$SPELLCMD"); root_default_caps(); $SPELLED"
expect_real "20.3 readonlyPaths /proc/net/../sys and /proc/net/../sysrq-trigger: without the hook root opens them for writing" "${PROOF[@]}"
adv_run spelled-b "$(cmd spelled-b "$SPELLCMD"); root_default_caps(); $SPELLED" "${B[@]}"
expect_blocked "20.3 readonlyPaths /proc/net/../sys and /proc/net/../sysrq-trigger are blocked under builtin:baseline (root)"
adv_run spelled-twin "$(cmd spelled-twin "$SPELLCMD"); root_default_caps()" "${B[@]}"
expect_runs "20.3 twin: the exact default lists run under builtin:baseline (root), /proc/sys not writable" \
	"NO-OPENW:/proc/sys/kernel/core_pattern" "MNT:/proc/sys:proc:ro"

# 20.4 rro on a filesystem runc mounts itself: runc 1.1 applies rro (and
# rrw) to bind mounts only, so a sysfs with rro and no ro is read-write.
SYSFILE=/sys/kernel/mm/transparent_hugepage/enabled
[ -e "$SYSFILE" ] || SYSFILE=/sys/kernel/uevent_helper
SYSCMD="probe openw $SYSFILE; probe mnt /sys;"
sys_opts() { echo "next(m for m in c['mounts'] if m['destination'] == '/sys')['options'] = $1"; }
SYS_RRO=$(sys_opts "['nosuid', 'noexec', 'nodev', 'rro']")
adv_run sysrro-real "$(cmd sysrro-real "$SYSCMD"); root_default_caps(); $SYS_RRO"
expect_real "20.4 sysfs at /sys with [nosuid, noexec, nodev, rro]: without the hook root opens $SYSFILE for writing" \
	"PRIV-OPENW:$SYSFILE" "PRIV-MNT-RW:/sys"
adv_run sysrro-b "$(cmd sysrro-b "$SYSCMD"); root_default_caps(); $SYS_RRO" "${B[@]}"
expect_blocked "20.4 sysfs at /sys with [nosuid, noexec, nodev, rro] (no ro) is blocked under builtin:baseline (root)"
adv_run sysrro-twin "$(cmd sysrro-twin "$SYSCMD"); root_default_caps(); $(sys_opts "['nosuid', 'noexec', 'nodev', 'ro']")" "${B[@]}"
expect_runs "20.4 twin: sysfs at /sys with [nosuid, noexec, nodev, ro] runs under builtin:baseline (root), read-only" \
	"NO-OPENW:$SYSFILE" "MNT:/sys:sysfs:ro"

# 20.5 A bind source inside the container's own rootfs: runc mounts proc at
# rootfs/proc first, so rootfs/proc/sys is the container's own /proc/sys,
# bound again where readonlyPaths does not reach.
OWNCMD='probe openw /mnt/kernel/core_pattern /proc/sys/kernel/core_pattern; probe mnt /mnt;'
OWN_BIND=$(mnt /mnt bind "$ROOTFS/proc/sys" "['rbind', 'nosuid', 'nodev']")
adv_run ownproc-real "$(cmd ownproc-real "$OWNCMD"); root_default_caps(); $OWN_BIND"
expect_real "20.5 a bind of <bundle>/rootfs/proc/sys at /mnt: without the hook root opens /mnt/kernel/core_pattern for writing" \
	"PRIV-OPENW:/mnt/kernel/core_pattern" "NO-OPENW:/proc/sys/kernel/core_pattern"
adv_run ownproc-b "$(cmd ownproc-b "$OWNCMD"); root_default_caps(); $OWN_BIND" "${B[@]}"
expect_blocked "20.5 a bind of <bundle>/rootfs/proc/sys at /mnt is blocked under builtin:baseline (root)"
adv_run ownproc-twin "$(cmd ownproc-twin "$OWNCMD"); root_default_caps()" "${B[@]}"
expect_runs "20.5 twin: the same container without that mount runs under builtin:baseline (root)" \
	"NO-OPENW:/mnt/kernel/core_pattern" "NO-OPENW:/proc/sys/kernel/core_pattern"

# 20.6 Entries running oci-psp-hook's own hook command, but not as the node
# runs it: with the environment variable that moves its cache (where it
# writes and prunes as root), or with a root-only file as its configuration
# (read as root, its first line shown in the error runc passes on).
VICTIM_DIR="$WORK/cache-victim"
mkdir -p -m 700 "$VICTIM_DIR"
SECRET="$WORK/root-only.yaml"
printf 'SECRET-LINE-%s: 1\n' "$$" >"$SECRET"
chmod 600 "$SECRET"
CACHE_HOOK="AFTER['poststart'] = [dict(oci($R_PY), env=['OCI_PSP_HOOK_CACHE_DIR=$VICTIM_DIR'])]"
echo '{}' >"$VICTIM_DIR/node.json"
adv_run cachedir-real "$(cmd cachedir-real ''); restricted(); $CACHE_HOOK"
if [ "$RC" -eq 0 ] && [ ! -e "$VICTIM_DIR/node.json" ]; then
	pass "20.6 an oci-psp-hook entry with OCI_PSP_HOOK_CACHE_DIR: without the judging hook it deletes *.json there as root"
else
	fail "20.6 an oci-psp-hook entry with OCI_PSP_HOOK_CACHE_DIR: without the judging hook it deletes *.json there as root" "exit $RC; $(err_excerpt)"
fi
echo '{}' >"$VICTIM_DIR/node.json"
adv_run cachedir-r "$(cmd cachedir-r ''); restricted(); $CACHE_HOOK" "${R[@]}"
expect_blocked "20.6 a poststart oci-psp-hook entry with env OCI_PSP_HOOK_CACHE_DIR is blocked under builtin:restricted"
if [ -e "$VICTIM_DIR/node.json" ]; then
	pass "20.6 the entry with OCI_PSP_HOOK_CACHE_DIR did not run"
else
	fail "20.6 the entry with OCI_PSP_HOOK_CACHE_DIR did not run" "$VICTIM_DIR/node.json is gone"
fi
LEAK_HOOK="AFTER['createRuntime'] = [{'path': hook_bin, 'args': ['oci-psp-hook', 'hook', '--config', '$SECRET']}]"
adv_run leak-real "$(cmd leak-real ''); restricted(); $LEAK_HOOK"
if [[ "$ERR" == *"SECRET-LINE-$$"* ]]; then
	pass "20.6 an oci-psp-hook entry with --config <a root-only file>: without the judging hook runc shows the file's first line"
else
	fail "20.6 an oci-psp-hook entry with --config <a root-only file>: without the judging hook runc shows the file's first line" "exit $RC; $(err_excerpt)"
fi
adv_run leak-r "$(cmd leak-r ''); restricted(); $LEAK_HOOK" "${R[@]}"
expect_blocked "20.6 a createRuntime oci-psp-hook entry with --config <a root-only file> after the node's is blocked under builtin:restricted"
if [[ "$ERR" == *"SECRET-LINE-$$"* ]]; then
	fail "20.6 the root-only file's line is not shown" "it is: $(err_excerpt)"
else
	pass "20.6 the root-only file's line is not shown"
fi
INSTALLED_FORM="AFTER['poststop'] = [{'path': hook_bin, 'args': ['oci-psp-hook', 'hook']}]"
adv_run selfform-twin "$(cmd selfform-twin ''); restricted(); $INSTALLED_FORM" "${R[@]}"
expect_runs "20.6 twin: a poststop entry as the hooks.d file writes it (oci-psp-hook hook) runs under builtin:restricted"

# 20.7 A mount option holding a comma: runc hands it to the kernel whole,
# which reads each piece as an option (a data option the hook never saw).
COMMA=$(mnt /scratch tmpfs tmpfs "['nosuid', 'mode=1777,nr_inodes=0']")
adv_run comma-r "$(cmd comma-r ''); restricted(); $COMMA" "${R[@]}"
expect_blocked_exit2 "20.7 a tmpfs option 'mode=1777,nr_inodes=0' is blocked under builtin:restricted (exit 2)" "mode=1777,nr_inodes=0"
adv_run comma-twin "$(cmd comma-twin ''); restricted(); $(mnt /scratch tmpfs tmpfs "['nosuid', 'mode=1777']")" "${R[@]}"
expect_runs "20.7 twin: the tmpfs with 'mode=1777' runs under builtin:restricted"

# 20.8 Seccomp rules read as runc applies them: an argument condition that
# holds for every call (unsigned >= 0), and names cut at a NUL by the C
# string runc hands libseccomp.
GE0="c['linux']['seccomp']['syscalls'].append({'names': ['io_uring_setup', 'userfaultfd', 'bpf'], 'action': 'SCMP_ACT_ALLOW', 'args': [{'index': 0, 'value': 0, 'op': 'SCMP_CMP_GE'}]})"
adv_run seccomp-ge0 "$(cmd seccomp-ge0 ''); restricted(); $GE0" "${R[@]}"
expect_blocked "20.8 a seccomp rule allowing io_uring_setup, userfaultfd and bpf when argument 0 >= 0 is blocked under builtin:restricted"
NUL="c['linux']['seccomp']['syscalls'].append({'names': ['io_uring_setup\\u0000', 'bpf\\u0000x'], 'action': 'SCMP_ACT_ALLOW'})"
adv_run seccomp-nul "$(cmd seccomp-nul ''); restricted(); $NUL" "${R[@]}"
expect_blocked "20.8 a seccomp rule allowing 'io_uring_setup\\0' and 'bpf\\0x' is blocked under builtin:restricted"
ERRNO_TWIN="c['linux']['seccomp']['syscalls'].append({'names': ['io_uring_setup', 'bpf\\u0000x'], 'action': 'SCMP_ACT_ERRNO', 'args': [{'index': 0, 'value': 0, 'op': 'SCMP_CMP_GE'}]})"
adv_run seccomp-twin "$(cmd seccomp-twin ''); restricted(); $ERRNO_TWIN" "${R[@]}"
expect_runs "20.8 twin: the same rules refusing the calls run under builtin:restricted"

# 20.9 cgroupsPath naming a cgroup whose own list is empty but below which
# another process runs (a parent cgroup: runc sets its limits there), or the
# cgroup runc itself was started in.
PARENT_CG="psp-adv-parent-$$"
mkdir -p "$CG_DIR/$PARENT_CG/child"
sleep 300 >/dev/null 2>&1 &
CHILD_VICTIM=$!
echo "$CHILD_VICTIM" >"$CG_DIR/$PARENT_CG/child/cgroup.procs"
on_exit "kill -9 $CHILD_VICTIM; sleep 0.2; rmdir $CG_DIR/$PARENT_CG/child $CG_DIR/$PARENT_CG 2>/dev/null"
adv_run cgparent-r "$(cmd cgparent-r ''); restricted(); c['linux']['cgroupsPath'] = '/$PARENT_CG'" "${R[@]}"
expect_blocked "20.9 cgroupsPath of a cgroup with another process in a cgroup below it is blocked under builtin:restricted"
CALLER_CG="psp-adv-caller-$$"
mkdir -p "$CG_DIR/$CALLER_CG"
on_exit "rmdir $CG_DIR/$CALLER_CG 2>/dev/null"
HOME_CG=$(grep "$CG_LINE" /proc/self/cgroup | head -n 1 | cut -d: -f3)
echo $$ >"$CG_DIR/$CALLER_CG/cgroup.procs"
adv_run cgcaller-r "$(cmd cgcaller-r ''); restricted(); c['linux']['cgroupsPath'] = '/$CALLER_CG'" "${R[@]}"
echo $$ >"$CG_DIR$HOME_CG/cgroup.procs"
expect_blocked "20.9 cgroupsPath of the cgroup runc was started in is blocked under builtin:restricted"
adv_run cgcaller-twin "$(cmd cgcaller-twin ''); restricted(); c['linux']['cgroupsPath'] = '/psp-adv-fresh-$$'" "${R[@]}"
expect_runs "20.9 twin: a fresh cgroup of its own runs under builtin:restricted"
on_exit "rmdir $CG_DIR/psp-adv-fresh-$$ 2>/dev/null"

# 20.10 A hook the node's hooks.d defines for one stage, written into
# config.json at another: a poststop cleanup run at createRuntime, on a
# container not yet started. The definition applies only to containers
# annotated for it, so no other runtime on this machine injects it.
NODE_HOOKS_DIR=/etc/containers/oci/hooks.d
[ -d "$NODE_HOOKS_DIR" ] || { mkdir -p "$NODE_HOOKS_DIR" && on_exit "rmdir $NODE_HOOKS_DIR 2>/dev/null"; }
STAGE_DEF="$NODE_HOOKS_DIR/zz-psp-adv-stage-$$.json"
STAGE_CMD="touch $HOOK_LOG/stage-ran"
python3 - "$STAGE_DEF" "$STAGE_CMD" <<'PY'
import json, sys
json.dump({"version": "1.0.0", "hook": {"path": "/bin/sh", "args": ["sh", "-c", sys.argv[2]]},
           "when": {"annotations": {"^psp-adv-stage$": "^never$"}}, "stages": ["poststop"]},
          open(sys.argv[1], "w"))
PY
on_exit "rm -f $STAGE_DEF"
STAGE_PY="{'path': '/bin/sh', 'args': ['sh', '-c', '$STAGE_CMD']}"
adv_run stage-r "$(cmd stage-r ''); restricted(); AFTER['createRuntime'] = [$STAGE_PY]" "${R[@]}"
expect_blocked "20.10 a hooks.d hook defined for poststop, in config.json's createRuntime, is blocked under builtin:restricted"
if [ -e "$HOOK_LOG/stage-ran" ]; then
	fail "20.10 the hook moved to createRuntime did not run" "$HOOK_LOG/stage-ran exists"
else
	pass "20.10 the hook moved to createRuntime did not run"
fi
adv_run stage-twin "$(cmd stage-twin ''); restricted(); AFTER['poststop'] = [$STAGE_PY]" "${R[@]}"
expect_runs "20.10 twin: the same hook at poststop, as defined, runs under builtin:restricted"

summary
