#!/usr/bin/env bash
# `oci-psp-hook install` into a temporary root, then real containers through
# podman with the installed hook, binary and configuration; policy updates,
# a refused set, doctor, uninstall; and the installer image built with
# podman build, run with --version and as the DaemonSet runs it.
#
# The installed hooks.d file names /usr/libexec/oci/hooks.d/oci-psp-hook, an
# absolute host path, not one under the temporary root: podman gets a
# templated copy (--hooks-dir) whose path points into the root and whose
# args add --config ROOT/etc/oci-psp-hook/config.yaml. Everything else is
# what install wrote.
#
# OCI_PSP_HOOK_SKIP_IMAGE=1 skips the image part (a static release build,
# minutes on a cold cache).

# shellcheck source=integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_root
ensure_packages || exit 1
need_hook_bin

IMAGE="localhost/oci-psp-hook-test:latest"
RUN_FLAGS=(--rm --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
ROOT="$WORK/root"
SRC="$WORK/source"
HOOKS="$WORK/hooks.d"
CONFIG="$ROOT/etc/oci-psp-hook/config.yaml"
mkdir -p "$ROOT" "$SRC"

# write_source DEFAULT_POLICIES [EXTRA]: the source directory (a ConfigMap's
# files): config.yaml with those defaultPolicies, and the restricted policy.
write_source() {
	cat >"$SRC/config.yaml" <<YAML
apiVersion: oci-psp-hook/v1alpha1
kind: HookConfiguration
policyDirectory: policies.d
defaultPolicies: [$1]
${2:-}
YAML
	cp "$POLICY" "$SRC/restricted-psp.yaml"
}

install_root() {
	run_capture "$HOOK_BIN" install --root "$ROOT" --config-source "$SRC"
}

active() {
	basename "$(readlink "$ROOT/etc/oci-psp-hook/current" 2>/dev/null)" 2>/dev/null
}

# --- install ---------------------------------------------------------------
write_source "builtin:baseline"
install_root
if [ "$RC" -eq 0 ] && [ -x "$ROOT/usr/libexec/oci/hooks.d/oci-psp-hook" ] &&
	[ -f "$ROOT/usr/share/containers/oci/hooks.d/oci-psp-hook.json" ] && [ -f "$CONFIG" ]; then
	pass "install: binary, hooks.d file and configuration under the root"
else
	fail "install" "exit $RC; stderr: $(err_excerpt)"
fi
if cmp -s "$HOOK_BIN" "$ROOT/usr/libexec/oci/hooks.d/oci-psp-hook" &&
	cmp -s "$REPO/hooks.d/oci-psp-hook.json" "$ROOT/usr/share/containers/oci/hooks.d/oci-psp-hook.json"; then
	pass "install: the binary is this build, the hooks.d file the repository's"
else
	fail "install: contents" "the installed files differ from the build and hooks.d/oci-psp-hook.json"
fi
run_capture "$HOOK_BIN" lint --config "$CONFIG"
if [ "$RC" -eq 0 ]; then
	pass "install: the installed configuration lints clean"
else
	fail "install: lint" "exit $RC; $(err_excerpt)"
fi

# The hooks.d file podman reads: the installed one, its path in the root.
mkdir -p "$HOOKS"
if ! python3 - "$ROOT/usr/share/containers/oci/hooks.d/oci-psp-hook.json" "$HOOKS/oci-psp-hook.json" "$ROOT" "$CONFIG" <<'PY'; then
import json
import sys

src, dst, root, config = sys.argv[1:5]
with open(src) as f:
    h = json.load(f)
assert h["hook"]["path"] == "/usr/libexec/oci/hooks.d/oci-psp-hook", h
h["hook"]["path"] = root + h["hook"]["path"]
h["hook"]["args"] = h["hook"]["args"] + ["--config", config]
with open(dst, "w") as f:
    json.dump(h, f, indent=2)
PY
	log "cannot template the installed hooks.d file" >&2
	exit 1
fi

if ! podman image exists "$IMAGE"; then
	make_rootfs "$WORK/image/rootfs" || exit 1
	printf 'FROM scratch\nCOPY rootfs/ /\nCMD ["/bin/sh"]\n' >"$WORK/image/Containerfile"
	if ! timeout 120 podman build -q -t "$IMAGE" -f "$WORK/image/Containerfile" "$WORK/image" >/dev/null; then
		log "podman build of $IMAGE failed" >&2
		exit 1
	fi
fi

NAMES=()
podman_cleanup() {
	local name
	for name in "${NAMES[@]}"; do
		podman rm -f "$name"
	done
}
on_exit podman_cleanup

# podman_case NAME FLAG...: a container through the installed hook.
podman_case() {
	local name="psp-install-$1-$$"
	shift
	NAMES+=("$name")
	run_capture timeout 60 podman --runtime runc --hooks-dir "$HOOKS" run "${RUN_FLAGS[@]}" --name "$name" "$@" \
		"$IMAGE" sh -c "echo $RAN_MARKER; id"
	podman rm -f "$name" >/dev/null 2>&1
}

log "== $(podman --version), hook installed under $ROOT"

podman_case plain
expect_allowed "installed hook (builtin:baseline): a plain container runs" "uid=0"

podman_case privileged --privileged
expect_denied "installed hook (builtin:baseline): --privileged is denied" privileged

# --- a policy update: the new set is what the hook reads ---------------------
first=$(active)
write_source "restricted"
install_root
second=$(active)
if [ "$RC" -eq 0 ] && [ -n "$second" ] && [ "$second" != "$first" ]; then
	pass "update: the new set is swapped in ($second)"
else
	fail "update" "exit $RC, active $second (was $first); $(err_excerpt)"
fi
podman_case plain-restricted
expect_denied "update: the plain container is now denied by the restricted PSP" runAsUser

podman_case compliant --user 32767:32767 --group-add 32767 --cap-drop ALL --security-opt no-new-privileges
expect_allowed "update: a restricted-compliant container runs" "uid=32767"

# --- an invalid set is refused, the last good one stays ----------------------
write_source "restricted" "bindings:
  - namespaces: [team-a]
    policies: [nosuch]"
install_root
if [ "$RC" -eq 2 ] && [[ "$ERR" == *"refused the policy set"* ]] && [ "$(active)" = "$second" ]; then
	pass "refusal: an invalid set exits 2 and the last good set stays"
else
	fail "refusal" "exit $RC, active $(active) (expected $second); $(err_excerpt)"
fi
podman_case plain-after-refusal
expect_denied "refusal: the hook still judges with the last good set" runAsUser

run_capture "$HOOK_BIN" doctor --root "$ROOT"
if [ "$RC" -ne 0 ] && [[ "$OUT" == *"FAIL installer"* ]]; then
	pass "refusal: doctor fails on the refused set"
else
	fail "refusal: doctor" "exit $RC; $OUT"
fi

write_source "restricted"
install_root
run_capture "$HOOK_BIN" doctor --root "$ROOT" --output json
digest=$(printf '%s' "$OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["digest"], d["binary"]["version"], d["ok"])' 2>/dev/null)
if [ "$RC" -eq 0 ] && [ "$digest" = "$(active) $(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO/Cargo.toml" | head -n 1) True" ]; then
	pass "doctor: ok, with the active digest and the installed binary's version"
else
	fail "doctor" "exit $RC; $OUT"
fi

# --- uninstall ---------------------------------------------------------------
run_capture "$HOOK_BIN" uninstall --root "$ROOT"
if [ "$RC" -eq 0 ] && [ ! -e "$ROOT/usr/share/containers/oci/hooks.d/oci-psp-hook.json" ] &&
	[ ! -e "$ROOT/usr/libexec/oci/hooks.d/oci-psp-hook" ] && [ -f "$CONFIG" ]; then
	pass "uninstall: hook gone, policies kept"
else
	fail "uninstall" "exit $RC; $(err_excerpt)"
fi
run_capture "$HOOK_BIN" uninstall --root "$ROOT" --purge
if [ "$RC" -eq 0 ] && [ ! -e "$ROOT/etc/oci-psp-hook" ]; then
	pass "uninstall --purge: policies gone"
else
	fail "uninstall --purge" "exit $RC; $(err_excerpt)"
fi

# --- the installer image -----------------------------------------------------
if [ "${OCI_PSP_HOOK_SKIP_IMAGE:-}" = 1 ]; then
	log "skip - the installer image (OCI_PSP_HOOK_SKIP_IMAGE=1)"
else
	INSTALLER="localhost/oci-psp-hook:it-$$"
	on_exit "podman rmi -f $INSTALLER"
	if "$REPO/integration/build-image.sh" "$INSTALLER" >"$WORK/build.out" 2>"$WORK/build.err"; then
		pass "image: static build, podman build, --version"
		IMG_FLAGS=(--rm --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --read-only)
		ROOT2="$WORK/root2"
		mkdir -p "$ROOT2"
		# As the DaemonSet runs it: read-only root, the node at /host, the
		# ConfigMap at /config.
		run_capture timeout 60 podman run "${IMG_FLAGS[@]}" -v "$ROOT2:/host" -v "$SRC:/config:ro" \
			"$INSTALLER" install --root /host --config-source /config
		if [ "$RC" -eq 0 ] && [ -x "$ROOT2/usr/libexec/oci/hooks.d/oci-psp-hook" ] &&
			! readelf -l "$ROOT2/usr/libexec/oci/hooks.d/oci-psp-hook" | grep -q 'program interpreter' &&
			[ -f "$ROOT2/etc/oci-psp-hook/config.yaml" ]; then
			pass "image: install from the image puts the static binary and the set on the root"
		else
			fail "image: install" "exit $RC; $(err_excerpt)"
		fi
		run_capture timeout 60 podman run "${IMG_FLAGS[@]}" -v "$ROOT2:/host" "$INSTALLER" doctor --root /host
		if [ "$RC" -eq 0 ]; then
			pass "image: doctor --root /host (the readiness probe) passes"
		else
			fail "image: doctor" "exit $RC; $OUT $(err_excerpt)"
		fi
	else
		fail "image" "integration/build-image.sh failed: $(tail -n 5 "$WORK/build.err" | tr '\n' ' ')"
	fi
fi

summary
