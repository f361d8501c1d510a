#!/usr/bin/env bash
# oci-psp-hook through runc itself: a `runc spec` config.json made compliant
# with examples/restricted-psp.yaml, the hook in hooks.createRuntime, and
# `runc run`. Every verdict of the example policy is exercised by changing one
# thing at a time; a denied container must not run, and runc's stderr must
# carry the hook's reason naming the PSP field.
#
# Needs root. Uses a private runc state directory (--root), so nothing shows
# up in the host's `runc list`.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_root
ensure_packages || exit 1
need_hook_bin

ROOTFS="$WORK/rootfs"
RUNC_ROOT="$WORK/runc-state"
SPEC="$WORK/spec/config.json"
make_rootfs "$ROOTFS" || exit 1
mkdir -p "$WORK/spec" "$RUNC_ROOT"
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

# runc_case NAME EDIT HOOK_ARG...: run a container whose config.json is the
# compliant one changed by the python statements EDIT (see edit_config), with
# the hook called with HOOK_ARG...; leaves RC/OUT/ERR and MARKER_FILE.
runc_case() {
	local name=$1 edit=$2 bundle="$WORK/bundles/$1" id="psp-$1-$$"
	shift 2
	# The rootfs inside the bundle, as runtimes keep it (one outside is a
	# host path): a hard-linked copy of the shared one.
	rm -rf "$bundle"
	mkdir -p "$bundle"
	cp -al "$ROOTFS" "$bundle/rootfs"
	MARKER_FILE="$bundle/rootfs/markers/$name"
	if ! edit_config "$SPEC" "$bundle/config.json" "compliant('$bundle/rootfs', '$name'); $edit" "$@"; then
		RC=125 OUT="" ERR="test setup: editing config.json for $name failed"
		return
	fi
	run_capture timeout 30 runc --root "$RUNC_ROOT" run --bundle "$bundle" "$id"
	runc --root "$RUNC_ROOT" delete -f "$id" >/dev/null 2>&1
}

P=(--policy "$POLICY")

log "== runc $(runc --version | head -n 1), policy $POLICY"

# The example policy, verdict by verdict.
runc_case compliant "" "${P[@]}"
expect_allowed "restricted: compliant container (uid 32767, no caps, no_new_privs) runs" "uid=32767"

runc_case uid-32768 "user()['uid'] = 32768" "${P[@]}"
expect_allowed "restricted: uid 32768 (top of the range) runs" "uid=32768"

runc_case uid-0 "user()['uid'] = 0" "${P[@]}"
expect_denied_only "restricted: uid 0 is denied (runAsUser)" runAsUser

runc_case uid-40000 "user()['uid'] = 40000" "${P[@]}"
expect_denied_only "restricted: uid 40000 is denied (runAsUser)" runAsUser

runc_case nnp-false "process()['noNewPrivileges'] = False" "${P[@]}"
expect_denied_only "restricted: noNewPrivileges false is denied (allowPrivilegeEscalation)" allowPrivilegeEscalation

runc_case cap-net-raw "caps()['bounding'] = ['CAP_NET_RAW']" "${P[@]}"
expect_denied_only "restricted: CAP_NET_RAW in bounding is denied (requiredDropCapabilities)" requiredDropCapabilities

runc_case gid-0 "user()['additionalGids'] = [0, 32767]" "${P[@]}"
expect_denied_only "restricted: additionalGids [0, 32767] is denied (supplementalGroups)" supplementalGroups

runc_case bind-etc "add_mount({'destination': '/host-etc', 'type': 'bind', 'source': '/etc', 'options': ['rbind', 'ro']})" "${P[@]}"
expect_denied_only "restricted: bind mount of /etc is denied (volumes)" volumes

runc_case tmpfs "add_mount({'destination': '/scratch', 'type': 'tmpfs', 'source': 'tmpfs', 'options': ['nosuid', 'nodev', 'mode=1777']}); command('tmpfs', 'echo scratch > /scratch/f && cat /scratch/f;')" "${P[@]}"
expect_allowed "restricted: tmpfs at /scratch (emptyDir) runs" "scratch"

runc_case host-pid "drop_namespace('pid')" "${P[@]}"
expect_denied_only "restricted: no pid namespace is denied (hostPID)" hostPID

runc_case host-network "drop_namespace('network')" "${P[@]}"
expect_denied_only "restricted: no network namespace is denied (hostNetwork)" hostNetwork

runc_case host-ipc "drop_namespace('ipc')" "${P[@]}"
expect_denied_only "restricted: no ipc namespace is denied (hostIPC)" hostIPC

runc_case devices-all "c['linux']['resources']['devices'] = [{'allow': True, 'access': 'rwm'}]" "${P[@]}"
expect_denied_only "restricted: device cgroup allowing all devices is denied (privileged)" privileged

# Built-in Pod Security Standards profiles.
runc_case restricted-seccomp "c['linux']['seccomp'] = seccomp_allowlist()" --profile restricted
expect_allowed "--profile restricted: compliant container with a seccomp profile runs" "uid=32767"

runc_case restricted-unconfined "" --profile restricted
expect_denied_only "--profile restricted: no seccomp profile is denied (seccomp)" seccomp

runc_case baseline-root "user()['uid'] = 0; user()['gid'] = 0; process()['noNewPrivileges'] = False; set_caps(['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'], ('bounding', 'effective', 'permitted'))" --profile baseline
expect_allowed "--profile baseline: root with runc's default capabilities runs" "uid=0"

runc_case baseline-sys-admin "caps()['bounding'] = ['CAP_SYS_ADMIN']" --profile baseline
expect_denied_only "--profile baseline: CAP_SYS_ADMIN is denied (allowedCapabilities)" allowedCapabilities

runc_case baseline-host-pid "drop_namespace('pid')" --profile baseline
expect_denied_only "--profile baseline: no pid namespace is denied (hostPID)" hostPID

runc_case policy-or-baseline "user()['uid'] = 0" "${P[@]}" --profile baseline
expect_allowed "--policy restricted --profile baseline: root runs (any policy admits)" "uid=0"

# runc reads config.json keys case-insensitively (Go's encoding/json): a
# capability set under "CAPABILITIES" is applied by runc, so the hook must not
# judge the exactly-spelled "capabilities" alone.
runc_case go-key-folding "process()['CAPABILITIES'] = {'bounding': ['CAP_SYS_ADMIN'], 'effective': ['CAP_SYS_ADMIN'], 'permitted': ['CAP_SYS_ADMIN']}" --profile baseline
expect_error "a key runc reads as \"capabilities\" (\"CAPABILITIES\") blocks the container" "would read it as that"

# allowedHostPaths readOnly: runc applies mount options in order, so
# ["rbind", "ro", "rw"] mounts read-write and must not pass as read-only.
HOSTDATA="$WORK/hostdata"
mkdir -p "$HOSTDATA"
chmod 1777 "$HOSTDATA" # only the mount's ro can stop the container's user writing
RO_POLICY="$WORK/readonly-hostpath-psp.yaml"
readonly_hostpath_policy "$HOSTDATA" "$RO_POLICY"
RO=(--policy "$RO_POLICY")
ro_mount() { echo "add_mount({'destination': '/data', 'type': 'bind', 'source': '$HOSTDATA', 'options': $1})"; }

runc_case hostpath-ro "$(ro_mount "['rbind', 'ro']"); command('hostpath-ro', 'if touch /data/f 2>/dev/null; then echo data-writable; else echo data-read-only; fi;')" "${RO[@]}"
expect_allowed "allowedHostPaths readOnly: a read-only bind of the allowed path runs, and cannot write there" "data-read-only"

runc_case hostpath-rw "$(ro_mount "['rbind']")" "${RO[@]}"
expect_denied_only "allowedHostPaths readOnly: a read-write bind of the allowed path is denied" allowedHostPaths

runc_case hostpath-ro-then-rw "$(ro_mount "['rbind', 'ro', 'rw']")" "${RO[@]}"
expect_denied_only "allowedHostPaths readOnly: options [\"ro\", \"rw\"] (runc mounts read-write) are denied" allowedHostPaths

# Fail closed: a policy that cannot be read or parsed blocks the container.
runc_case missing-policy "" --policy "$WORK/no-such-policy.yaml"
expect_error "a missing --policy file blocks the container" "no-such-policy.yaml"

printf 'apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nspec: [unclosed\n' >"$WORK/broken-policy.yaml"
runc_case broken-policy "" --policy "$WORK/broken-policy.yaml"
expect_error "an unparseable --policy file blocks the container" "broken-policy.yaml"

summary
