#!/usr/bin/env bash
# oci-psp-hook through containerd, the way containerd runs real containers:
# from an image, whose snapshot the shim mounts at <bundle>/rootfs, with
# root.path "rootfs" in the config.json containerd writes into the bundle.
#
# The image is built here (no registry): a single layer with a static busybox
# and its applets, /etc/passwd and /etc/group, and world-writable /markers and
# /tmp (make_rootfs), written as an OCI image layout tar (oci_image_archive)
# and loaded with `ctr images import`. Each case runs
#
#   ctr -n NS run --runc-binary WRAPPER IMAGE ID
#
# `ctr run --config` would ignore the image, so the case's config fields and
# the hook go in through WRAPPER, a runc wrapper the containerd shim runs in
# place of runc: on `runc create --bundle B` it applies the case's edit
# (edit_config) to B/config.json in place (the file stays containerd's,
# root-owned and not writable by others) and then execs runc. The edit keeps
# containerd's own root (path "rootfs"), mounts, device rules and
# cgroupsPath, makes the container compliant with
# examples/restricted-psp.yaml (compliant()), applies the case's change and
# puts the hook in hooks.createRuntime. The base-spec cases start instead
# from the spec `oci-psp-hook containerd-base-spec` generates (as the CRI
# plugin starts from its base_runtime_spec), with containerd's root and
# cgroupsPath, and the hook it carries.
#
# Proof that a container ran: its stdout, and the marker file it writes into
# its own snapshot, read after the run through `ctr snapshots mounts` before
# the container and its snapshot are removed. containerd shows the hook's
# stderr in full in ctr's error ("failed to create shim task: OCI runtime
# create failed: ... stderr: oci-psp-hook: denied ...").
#
# Uses a namespace of its own; its containers, snapshots and image are
# removed at the end, then the namespace and its cgroup.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_root
ensure_packages || exit 1
need_hook_bin
ensure_containerd || exit 1

NS="oci-psp-hook-test-$$"
CTR=(ctr -n "$NS")
IMAGE="localhost/oci-psp-hook-test:$$"
CASES="$WORK/ctr-cases"
WRAPPER="$WORK/runc-psp-wrapper"
SNAP_MNT="$WORK/snapshot"
BASE_SPEC=""
IDS=()

ctr_remove() {
	"${CTR[@]}" task kill -s SIGKILL "$1"
	"${CTR[@]}" task rm -f "$1"
	# Removes the container's snapshot too.
	"${CTR[@]}" container rm "$1"
}

# shellcheck disable=SC2317 # called through on_exit
ctr_cleanup() {
	local id lease
	mountpoint -q "$SNAP_MNT" && umount "$SNAP_MNT"
	for id in "${IDS[@]}"; do
		ctr_remove "$id" >/dev/null 2>&1
	done
	IDS=()
	# --sync: wait until the garbage collector has removed the image's
	# content and unpacked snapshots, which would keep the namespace.
	"${CTR[@]}" images rm --sync "$IMAGE" >/dev/null 2>&1
	# What an interrupted import may leave: its lease.
	for lease in $("${CTR[@]}" leases ls -q 2>/dev/null); do
		"${CTR[@]}" leases rm --sync "$lease" >/dev/null 2>&1
	done
	ctr namespaces remove "$NS" >/dev/null 2>&1
	# The cgroup /NS that holds containerd's /NS/ID cgroups (empty by now);
	# runc removes only the containers' own.
	find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d -name "$NS" -exec rmdir {} + 2>/dev/null
}
on_exit ctr_cleanup

RUNC=$(command -v runc) || {
	log "runc not found" >&2
	exit 1
}
mkdir -p "$CASES" "$SNAP_MNT" "$WORK/markers"
make_rootfs "$WORK/image-rootfs" || exit 1
if ! oci_image_archive "$WORK/image-rootfs" "$IMAGE" "$WORK/image.tar" ||
	! "${CTR[@]}" images import "$WORK/image.tar" >"$WORK/import.log" 2>&1; then
	log "building or importing the test image failed:" >&2
	cat "$WORK/import.log" >&2 2>/dev/null
	exit 1
fi

# The runc wrapper. The shim runs it with containerd's environment, so the
# paths it needs are written into it. A case's files are in $CASES/ID/:
# case.sh (EDIT and HOOK_ARGS, written by ctr_case), and after the create
# containerd.json (the config.json containerd wrote) and config.json (what
# runc got). edit_config runs in a subshell that sources lib.sh, whose own
# work directory that subshell's exit removes.
{
	printf '#!/bin/bash\n'
	printf '# runc for ctr.sh: edits the bundle config.json of a ctr.sh case on create.\n'
	printf 'CASES=%q LIB=%q RUNC=%q HOOK_BIN=%q\n' "$CASES" "$IT_DIR/lib.sh" "$RUNC" "$HOOK_BIN"
	cat <<'WRAPPER'
set -u
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
create="" bundle="" runc_log="" prev=""
for arg in "$@"; do
	case $prev in
	--bundle | -b) bundle=$arg ;;
	--log) runc_log=$arg ;;
	esac
	case $arg in
	create) create=1 ;;
	--bundle=*) bundle=${arg#--bundle=} ;;
	esac
	prev=$arg
done
dir="$CASES/${bundle##*/}"
if [ -n "$create" ] && [ -n "$bundle" ] && [ -f "$dir/case.sh" ]; then
	if ! (
		# shellcheck disable=SC1090,SC1091 # case.sh and lib.sh, paths known at run time
		. "$dir/case.sh" && cp "$bundle/config.json" "$dir/containerd.json" &&
			export OCI_PSP_HOOK_BIN="$HOOK_BIN" && . "$LIB" &&
			edit_config "$dir/containerd.json" "$dir/config.json" "$EDIT" "${HOOK_ARGS[@]}"
	); then
		msg="ctr.sh runc wrapper: editing $bundle/config.json failed"
		echo "$msg" >&2
		# The shim reports the error runc logged there.
		[ -n "$runc_log" ] && printf '{"level":"error","msg":"%s"}\n' "$msg" >>"$runc_log"
		exit 1
	fi
	# In place: the file keeps containerd's owner and mode.
	cat "$dir/config.json" >"$bundle/config.json" || exit 1
fi
exec "$RUNC" "$@"
WRAPPER
} >"$WRAPPER"
chmod 755 "$WRAPPER"

# ctr_marker ID NAME: copy /markers/NAME out of container ID's snapshot to
# $WORK/markers/NAME when the container wrote it.
ctr_marker() {
	local id=$1 name=$2 mount_cmd
	mount_cmd=$("${CTR[@]}" snapshots mounts "$SNAP_MNT" "$id" 2>/dev/null) || return 0
	sh -c "$mount_cmd" || return 0
	if [ -e "$SNAP_MNT/markers/$name" ]; then
		cp "$SNAP_MNT/markers/$name" "$WORK/markers/$name"
	fi
	umount "$SNAP_MNT"
}

# ctr_case NAME EDIT HOOK_ARG...: like runc_case in runc.sh, through ctr:
# the container runs from the image, and the wrapper edits containerd's
# config.json (starting from $BASE_SPEC instead when it is set): orig is
# containerd's config as it wrote it.
ctr_case() {
	local name=$1 edit=$2 id="psp-$1-$$" prefix
	shift 2
	IDS+=("$id")
	MARKER_FILE="$WORK/markers/$name"
	rm -f "$MARKER_FILE"
	prefix="orig = json.loads(json.dumps(c))"
	if [ -n "$BASE_SPEC" ]; then
		prefix="$prefix; c.clear(); c.update(json.load(open('$BASE_SPEC'))); c['linux']['cgroupsPath'] = orig['linux']['cgroupsPath']"
	fi
	prefix="$prefix; compliant(orig['root']['path'], '$name'); c['root'] = orig['root']"
	mkdir -p "$CASES/$id"
	{
		printf 'EDIT=%q\n' "$prefix; $edit"
		printf 'HOOK_ARGS=('
		[ $# -gt 0 ] && printf ' %q' "$@"
		printf ' )\n'
	} >"$CASES/$id/case.sh"
	run_capture timeout 60 "${CTR[@]}" run --runc-binary "$WRAPPER" "$IMAGE" "$id"
	ctr_marker "$id" "$name"
	ctr_remove "$id" >/dev/null 2>&1
}

P=(--policy "$POLICY")

log "== containerd $(ctr version 2>/dev/null | awk '/Server:/{s=1} s && /Version:/{print $2; exit}'), image $IMAGE, policy $POLICY"

ctr_case compliant "" "${P[@]}"
expect_allowed "ctr: compliant container (uid 32767, no caps, no_new_privs) runs" "uid=32767"

ctr_case uid-0 "user()['uid'] = 0" "${P[@]}"
expect_denied_only "ctr: uid 0 is denied (runAsUser)" runAsUser

ctr_case devices-all "c['linux']['resources']['devices'] = [{'allow': True, 'access': 'rwm'}]" "${P[@]}"
expect_denied_only "ctr: device cgroup allowing all devices is denied (privileged)" privileged

ctr_case host-pid "drop_namespace('pid')" "${P[@]}"
expect_denied_only "ctr: no pid namespace is denied (hostPID)" hostPID

ctr_case cap-sys-admin "set_caps(['CAP_SYS_ADMIN'], ('bounding', 'effective', 'permitted'))" "${P[@]}"
expect_denied_only "ctr: CAP_SYS_ADMIN is denied (requiredDropCapabilities)" requiredDropCapabilities

ctr_case baseline-default "c['process']['user'] = orig['process']['user']; c['process']['capabilities'] = orig['process']['capabilities']" --profile baseline
expect_allowed "ctr --profile baseline: root with containerd's default capabilities runs" "uid=0"

# allowedHostPaths readOnly: containerd's runc makes the ro bind read-only
# before the hook reads the mount's own flag.
HOSTDATA="$WORK/hostdata"
mkdir -p "$HOSTDATA"
readonly_hostpath_policy "$HOSTDATA" "$WORK/readonly-hostpath-psp.yaml"
ctr_case hostpath-ro "add_mount({'destination': '/data', 'type': 'bind', 'source': '$HOSTDATA', 'options': ['rbind', 'ro']})" --policy "$WORK/readonly-hostpath-psp.yaml"
expect_allowed "ctr: an ro bind under a readOnly allowedHostPaths prefix runs" "uid=32767"

ctr_case missing-policy "" --policy "$WORK/no-such-policy.yaml"
expect_error "ctr: a missing --policy file blocks the container" "no-such-policy.yaml"

# The base spec `oci-psp-hook containerd-base-spec` generates for the CRI
# plugin's base_runtime_spec: the hook comes from it (no hook arguments here).
if "$HOOK_BIN" containerd-base-spec --hook-path "$HOOK_BIN" --hook-arg=--policy --hook-arg="$POLICY" >"$WORK/base-spec.json"; then
	BASE_SPEC="$WORK/base-spec.json"
	ctr_case base-spec-compliant ""
	expect_allowed "ctr with the generated base spec: compliant container runs" "uid=32767"
	ctr_case base-spec-root "user()['uid'] = 0"
	expect_denied_only "ctr with the generated base spec: uid 0 is denied (runAsUser)" runAsUser
else
	fail "containerd-base-spec generates a spec" "exit $?"
fi

ctr_cleanup
if ctr namespaces ls -q 2>/dev/null | grep -qxF "$NS"; then
	log "warning: containerd namespace $NS was not removed (ctr -n $NS images ls; snapshots ls; content ls)" >&2
fi

summary
