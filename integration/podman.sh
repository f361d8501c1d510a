#!/usr/bin/env bash
# oci-psp-hook through podman: the repository's hooks.d/oci-psp-hook.json,
# templated to call the built binary with examples/restricted-psp.yaml, given
# to podman with --hooks-dir. podman writes it into the container's
# config.json as a prestart hook and runc runs it.
#
# Quirks of this host: crun fails on its hybrid cgroups, so --runtime runc;
# the default ulimits are refused, so --ulimit nofile/nproc. No registry: the
# image is built FROM scratch out of a busybox rootfs.
#
# How podman shows the hook's stderr: runc puts it in its error message, and
# podman (libpod getOCIRuntimeError) shows that message in full, except when
# a line matches "permission denied", "operation not permitted" or "no such
# file or directory" (case-insensitive): then it shows only that line (exit
# 126 or 127, "OCI runtime attempted to invoke a command that was not
# found"), unless --log-level debug. So the hook's stderr must be the one
# reason line, with no other line carrying such words.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_root
ensure_packages || exit 1
need_hook_bin

IMAGE="localhost/oci-psp-hook-test:latest"
RUN_FLAGS=(--rm --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
COMPLIANT=(--user 32767:32767 --group-add 32767 --cap-drop ALL --security-opt no-new-privileges)
NAMES=()

# shellcheck disable=SC2317 # called through on_exit
podman_cleanup() {
	local name
	for name in "${NAMES[@]}"; do
		podman rm -f "$name"
	done
}
on_exit podman_cleanup

# hooks_dir DIR POLICY [FLAG]: DIR/oci-psp-hook.json, the shipped hooks.d
# file with the binary of this checkout and --policy POLICY (or FLAG POLICY).
hooks_dir() {
	mkdir -p "$1" && python3 - "$REPO/hooks.d/oci-psp-hook.json" "$1/oci-psp-hook.json" "$HOOK_BIN" "$2" "${3:---policy}" <<'PY'
import json
import sys

src, dst, hook_bin, policy, flag = sys.argv[1:6]
with open(src) as f:
    h = json.load(f)
assert h["version"] == "1.0.0" and "prestart" in h["stages"], "unexpected hooks.d file"
h["hook"]["path"] = hook_bin
h["hook"]["args"] = ["oci-psp-hook", "hook", flag, policy]
with open(dst, "w") as f:
    json.dump(h, f, indent=2)
PY
}

HOOKS="$WORK/hooks.d"
MISSING_POLICY_HOOKS="$WORK/hooks.d-missing-policy"
if ! hooks_dir "$HOOKS" "$POLICY" || ! hooks_dir "$MISSING_POLICY_HOOKS" "$WORK/no-such-policy.yaml"; then
	log "cannot template hooks.d/oci-psp-hook.json" >&2
	exit 1
fi
# The hooks directory of the next podman_case.
CASE_HOOKS="$HOOKS"

if ! podman image exists "$IMAGE"; then
	make_rootfs "$WORK/image/rootfs" || exit 1
	printf 'FROM scratch\nCOPY rootfs/ /\nCMD ["/bin/sh"]\n' >"$WORK/image/Containerfile"
	if ! timeout 120 podman build -q -t "$IMAGE" -f "$WORK/image/Containerfile" "$WORK/image" >/dev/null; then
		log "podman build of $IMAGE failed" >&2
		exit 1
	fi
fi

# The image of the next podman_case.
CASE_IMAGE="$IMAGE"

# podman_case NAME FLAG...: podman run --rm FLAG... CASE_IMAGE, printing the
# marker and `id`; leaves RC/OUT/ERR.
podman_case() {
	local name="psp-$1-$$"
	shift
	NAMES+=("$name")
	run_capture timeout 60 podman --runtime runc --hooks-dir "$CASE_HOOKS" run "${RUN_FLAGS[@]}" --name "$name" "$@" \
		"$CASE_IMAGE" sh -c "echo $RAN_MARKER; id"
	podman rm -f "$name" >/dev/null 2>&1
	if [[ "$ERR" == *"oci-psp-hook: "* ]] && [[ "$ERR" != *"oci-psp-hook: denied"* ]] &&
		[[ "$ERR" != *"oci-psp-hook: error"* ]]; then
		log "note - podman showed only another line of the hook's stderr, not its reason (see the top of podman.sh)"
	fi
}

log "== $(podman --version) (runtime runc), hooks.d from $REPO/hooks.d, policy $POLICY"

podman_case compliant "${COMPLIANT[@]}"
expect_allowed "podman: compliant container (--user 32767:32767 --group-add 32767 --cap-drop ALL no-new-privileges) runs" "uid=32767"

podman_case tmpfs "${COMPLIANT[@]}" --tmpfs /scratch
expect_allowed "podman: --tmpfs /scratch (emptyDir) runs" "uid=32767"

podman_case default
expect_denied "podman: default container (root, default capabilities) is denied (runAsUser)" runAsUser

podman_case privileged "${COMPLIANT[@]}" --privileged
expect_denied "podman: --privileged is denied (privileged)" privileged

podman_case host-pid "${COMPLIANT[@]}" --pid host
expect_denied_only "podman: --pid host is denied (hostPID)" hostPID

podman_case host-network "${COMPLIANT[@]}" --network host
expect_denied_only "podman: --network host is denied (hostNetwork)" hostNetwork

# Not expect_denied_only: podman also bind-mounts the host's /dev/shm, which
# the hook reports as a hostPath volume as well.
podman_case host-ipc "${COMPLIANT[@]}" --ipc host
expect_denied "podman: --ipc host is denied (hostIPC)" hostIPC

podman_case bind-etc "${COMPLIANT[@]}" -v /etc:/host-etc:ro
expect_denied_only "podman: -v /etc:/host-etc:ro is denied (volumes)" volumes

podman_case cap-sys-admin "${COMPLIANT[@]}" --cap-add SYS_ADMIN
expect_denied_only "podman: --cap-add SYS_ADMIN is denied (requiredDropCapabilities)" requiredDropCapabilities

# allowedHostPaths readOnly at podman's prestart: the :ro bind is read-only
# in the kernel already (the hook judges the mount's own flag), so it runs.
HOSTDATA="$WORK/hostdata"
mkdir -p "$HOSTDATA"
readonly_hostpath_policy "$HOSTDATA" "$WORK/readonly-hostpath-psp.yaml"
if hooks_dir "$WORK/hooks.d-readonly" "$WORK/readonly-hostpath-psp.yaml"; then
	CASE_HOOKS="$WORK/hooks.d-readonly"
	podman_case hostpath-ro "${COMPLIANT[@]}" -v "$HOSTDATA:/data:ro"
	expect_allowed "podman: -v DIR:/data:ro under a readOnly allowedHostPaths prefix runs" "uid=32767"
	podman_case hostpath-rw "${COMPLIANT[@]}" -v "$HOSTDATA:/data"
	expect_denied_only "podman: -v DIR:/data (writable) under a readOnly prefix is denied" allowedHostPaths
	CASE_HOOKS="$HOOKS"
else
	fail "podman: readOnly allowedHostPaths cases" "cannot template the hooks.d file"
fi

# Exemptions: a configuration exempting the test image by its id admits it
# privileged in enforce mode; its twin (the same files, another image id) is
# denied, though a rule names the twin's image name: podman's names are any
# local user's tags, so only the id, content, is revealed.
TWIN="localhost/oci-psp-hook-twin:latest"
EXEMPT="$WORK/exempt"
mkdir -p "$EXEMPT/policies.d" && cp "$POLICY" "$EXEMPT/policies.d/"
IMAGE_ID=$(podman image inspect --format '{{.Id}}' "$IMAGE")
mkdir -p "$WORK/image" &&
	printf 'FROM %s\nLABEL oci-psp-hook.twin=1\n' "$IMAGE" >"$WORK/image/Containerfile.twin"
if [[ "$IMAGE_ID" =~ ^[0-9a-f]{64}$ ]] &&
	timeout 120 podman build -q -t "$TWIN" -f "$WORK/image/Containerfile.twin" "$WORK/image" >/dev/null &&
	[ "$(podman image inspect --format '{{.Id}}' "$TWIN")" != "$IMAGE_ID" ] &&
	printf 'apiVersion: oci-psp-hook/v1alpha1\nkind: HookConfiguration\npolicyDirectory: policies.d\nmode: enforce\ndefaultPolicies: [restricted]\nexemptions:\n- images: ["sha256:%s"]\n- images: ["%s"]\n' \
		"$IMAGE_ID" "$TWIN" >"$EXEMPT/config.yaml" &&
	hooks_dir "$WORK/hooks.d-exempt" "$EXEMPT/config.yaml" --config; then
	CASE_HOOKS="$WORK/hooks.d-exempt"
	podman_case exempt-privileged "${COMPLIANT[@]}" --privileged
	expect_allowed "podman: an image exempt by its id runs --privileged in enforce mode" "uid=32767"
	CASE_IMAGE="$TWIN"
	podman_case twin-privileged "${COMPLIANT[@]}" --privileged
	expect_denied "podman: its twin image (another id, its name in a rule) is denied --privileged" privileged
	podman_case twin-compliant "${COMPLIANT[@]}"
	expect_allowed "podman: the twin runs when compliant" "uid=32767"
	CASE_IMAGE="$IMAGE"
	CASE_HOOKS="$HOOKS"
	podman rmi -f "$TWIN" >/dev/null 2>&1
else
	fail "podman: exemption cases" "cannot build the twin image or write the configuration (image id '$IMAGE_ID')"
fi

# Fail closed: a hook whose --policy file does not exist blocks everything.
CASE_HOOKS="$MISSING_POLICY_HOOKS"
podman_case missing-policy "${COMPLIANT[@]}"
expect_error "podman: a missing --policy file blocks the container" "no-such-policy.yaml"
CASE_HOOKS="$HOOKS"

summary
