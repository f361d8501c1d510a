#!/usr/bin/env bash
# oci-psp-hook through containerd: a `ctr oci spec` config made compliant
# with examples/restricted-psp.yaml, the hook in hooks.createRuntime, run with
#
#   ctr -n NS run --rm --config CONFIG.json ID
#
# No image and no --rootfs: with --config, ctr takes the spec as it is, and
# runc (through the containerd shim) uses its absolute root.path. The spec of
# `ctr oci spec` has no process.env, so PATH is set. containerd shows the
# hook's stderr in full in ctr's error ("failed to create shim task: OCI
# runtime create failed: ... stderr: oci-psp-hook: denied ...").
#
# Uses a namespace of its own (removed at the end) and a cgroup per container.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_root
ensure_packages || exit 1
need_hook_bin
ensure_containerd || exit 1

NS="oci-psp-hook-test-$$"
CTR=(ctr -n "$NS")
ROOTFS="$WORK/rootfs"
SPEC="$WORK/ctr-spec.json"
IDS=()
make_rootfs "$ROOTFS" || exit 1
if ! "${CTR[@]}" oci spec >"$SPEC"; then
	log "ctr oci spec failed" >&2
	exit 1
fi

ctr_remove() {
	"${CTR[@]}" task kill -s SIGKILL "$1"
	"${CTR[@]}" task rm -f "$1"
	"${CTR[@]}" container rm "$1"
}

# shellcheck disable=SC2317 # called through on_exit
ctr_cleanup() {
	local id
	for id in "${IDS[@]}"; do
		ctr_remove "$id" >/dev/null 2>&1
	done
	ctr namespaces remove "$NS"
}
on_exit ctr_cleanup

# ctr_case NAME EDIT HOOK_ARG...: like runc_case in runc.sh, through ctr.
ctr_case() {
	local name=$1 edit=$2 id="psp-$1-$$" config="$WORK/ctr-$1.json"
	shift 2
	IDS+=("$id")
	MARKER_FILE="$ROOTFS/markers/$name"
	rm -f "$MARKER_FILE"
	if ! edit_config "$SPEC" "$config" "compliant('$ROOTFS', '$name'); c['linux']['cgroupsPath'] = '/$id'; $edit" "$@"; then
		RC=125 OUT="" ERR="test setup: editing config.json for $name failed"
		return
	fi
	run_capture timeout 60 "${CTR[@]}" run --rm --config "$config" "$id"
	ctr_remove "$id" >/dev/null 2>&1
}

P=(--policy "$POLICY")

log "== containerd $(ctr version 2>/dev/null | awk '/Server:/{s=1} s && /Version:/{print $2; exit}'), policy $POLICY"

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

ctr_case baseline-default "spec = json.load(open('$SPEC')); c['process']['user'] = spec['process']['user']; c['process']['capabilities'] = spec['process']['capabilities']" --profile baseline
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
	SPEC="$WORK/base-spec.json"
	ctr_case base-spec-compliant ""
	expect_allowed "ctr with the generated base spec: compliant container runs" "uid=32767"
	ctr_case base-spec-root "user()['uid'] = 0"
	expect_denied_only "ctr with the generated base spec: uid 0 is denied (runAsUser)" runAsUser
else
	fail "containerd-base-spec generates a spec" "exit $?"
fi

summary
