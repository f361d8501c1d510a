#!/usr/bin/env bash
# oci-psp-hook with rootless podman: `oci-psp-hook install` into a root
# directory, then containers started by an unprivileged user through the
# installed hook. Rootless podman runs the hook inside the user's user
# namespace, where root's files show as uid 65534 (see README, "Rootless
# podman"): the hook must trust root's policy files there as root's hook
# does, and judge the container as it would judge root's.
#
# The script creates a test user with its own /etc/subuid and /etc/subgid
# ranges (useradd allocates them) and removes the user, its ranges, its
# podman storage and its processes at the end.
#
# The installed hooks.d file names /usr/libexec/oci/hooks.d/oci-psp-hook, an
# absolute host path: podman gets a templated copy (--hooks-dir) whose path
# points into the root and whose args add --config, as in install.sh. The
# root is under /var/lib, not /tmp: below a sticky directory anyone can
# create entries in, a file showing uid 65534 may be any user's, and the
# rootless hook refuses it (a case below).
#
# Quirks of this host (as podman.sh): --runtime runc (crun fails on the
# hybrid cgroups), --ulimit nofile/nproc, no registry (the image is built
# FROM scratch); rootless: --network none (slirp4netns cannot open
# /dev/net/tun, mode 0600 here), and podman falls back to cgroupfs with no
# cgroup limits (cgroup v1, no systemd user session).

# shellcheck source=integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_root
ensure_packages || exit 1
need_hook_bin
if ! command -v newuidmap >/dev/null 2>&1; then
	log "installing uidmap (newuidmap, newgidmap)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq uidmap >/dev/null || exit 1
fi

IMAGE="localhost/oci-psp-hook-rootless:latest"
RUN_FLAGS=(--rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
COMPLIANT=(--user 32767:32767 --group-add 32767 --cap-drop ALL --security-opt no-new-privileges)

# --- the test user -----------------------------------------------------------
RL_USER="psp-rootless-$$"
# shellcheck disable=SC2317 # called through on_exit
remove_user() {
	local pid
	as_user podman system reset -f
	for pid in $(pgrep -u "$RL_USER"); do
		kill "$pid"
	done
	sleep 1
	for pid in $(pgrep -u "$RL_USER"); do
		kill -9 "$pid"
	done
	rm -rf "/tmp/podman-run-$RL_UID" "/tmp/containers-user-$RL_UID" "/run/user/$RL_UID"
	userdel -r "$RL_USER"
	# userdel removes the subordinate ranges; make sure.
	sed -i "/^$RL_USER:/d" /etc/subuid /etc/subgid
}
if ! useradd -m -s /bin/sh "$RL_USER"; then
	log "cannot create the test user $RL_USER" >&2
	exit 1
fi
RL_UID=$(id -u "$RL_USER")
RL_HOME=$(getent passwd "$RL_USER" | cut -d: -f6)
on_exit remove_user
grep -q "^$RL_USER:" /etc/subuid || usermod --add-subuids 300000-365535 "$RL_USER"
grep -q "^$RL_USER:" /etc/subgid || usermod --add-subgids 300000-365535 "$RL_USER"
SUBUID_START=$(sed -n "s/^$RL_USER:\([0-9]*\):.*/\1/p" /etc/subuid | head -n 1)

# as_user CMD...: CMD as the test user, in a clean login environment, from /.
as_user() {
	(cd / && runuser -u "$RL_USER" -- env -i HOME="$RL_HOME" USER="$RL_USER" LOGNAME="$RL_USER" \
		PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin "$@")
}

run_capture as_user podman unshare cat /proc/self/uid_map
if [ "$RC" -ne 0 ] || [ "$(printf '%s\n' "$OUT" | wc -l)" -lt 2 ]; then
	log "skip - rootless podman cannot make a user namespace with subordinate ids here: $(err_excerpt)"
	summary
	exit
fi
log "== $(podman --version), rootless as $RL_USER (uid $RL_UID, subordinate ids from $SUBUID_START)"

# --- install -----------------------------------------------------------------
ROOT_BASE=$(mktemp -d /var/lib/oci-psp-hook-rootless.XXXXXX) || exit 1
chmod 755 "$ROOT_BASE"
on_exit "rm -rf '$ROOT_BASE'"
SRC="$WORK/source"
mkdir -p "$SRC"
cat >"$SRC/config.yaml" <<YAML
apiVersion: oci-psp-hook/v1alpha1
kind: HookConfiguration
policyDirectory: policies.d
defaultPolicies: [restricted]
YAML
cp "$POLICY" "$SRC/restricted-psp.yaml"

# install_at ROOT HOOKS: install under ROOT (made 0755), and write HOOKS/oci-psp-hook.json,
# the installed hooks.d file pointing into ROOT.
install_at() {
	local root=$1 hooks=$2
	mkdir -p "$root" "$hooks" && chmod 755 "$root" "$hooks" || return 1
	run_capture "$HOOK_BIN" install --root "$root" --config-source "$SRC"
	[ "$RC" -eq 0 ] || return 1
	python3 - "$root/usr/share/containers/oci/hooks.d/oci-psp-hook.json" "$hooks/oci-psp-hook.json" "$root" <<'PY'
import json
import sys

src, dst, root = sys.argv[1:4]
with open(src) as f:
    h = json.load(f)
assert h["hook"]["path"] == "/usr/libexec/oci/hooks.d/oci-psp-hook", h
h["hook"]["path"] = root + h["hook"]["path"]
h["hook"]["args"] = h["hook"]["args"] + ["--config", root + "/etc/oci-psp-hook/config.yaml"]
with open(dst, "w") as f:
    json.dump(h, f, indent=2)
PY
	chmod 644 "$hooks/oci-psp-hook.json"
}

ROOT="$ROOT_BASE/root"
HOOKS="$ROOT_BASE/hooks.d"
if install_at "$ROOT" "$HOOKS"; then
	pass "install: the hook and the restricted policy under $ROOT"
else
	fail "install" "exit $RC; $(err_excerpt)"
	exit 1
fi
SET="$ROOT/etc/oci-psp-hook/$(readlink "$ROOT/etc/oci-psp-hook/current")"

# --- the image, built by the user --------------------------------------------
make_rootfs "$WORK/image/rootfs" || exit 1
printf 'FROM scratch\nCOPY rootfs/ /\nCMD ["/bin/sh"]\n' >"$WORK/image/Containerfile"
chmod -R a+rX "$WORK/image"
if ! as_user timeout 180 podman build -q -t "$IMAGE" -f "$WORK/image/Containerfile" "$WORK/image" >"$WORK/build.out" 2>&1; then
	log "rootless podman build of $IMAGE failed: $(tail -n 5 "$WORK/build.out")" >&2
	exit 1
fi

# podman_case NAME HOOKS FLAG...: as the user, podman run --rm FLAG... IMAGE
# with the hooks.d directory HOOKS, printing the marker and `id`.
podman_case() {
	local name="psp-rl-$1-$$" hooks=$2
	shift 2
	run_capture as_user timeout 60 podman --runtime runc --hooks-dir "$hooks" run "${RUN_FLAGS[@]}" \
		--name "$name" "$@" "$IMAGE" sh -c "echo $RAN_MARKER; id"
	as_user podman rm -f "$name" >/dev/null 2>&1
}

# --- the installed hook judges rootless containers ---------------------------
podman_case compliant "$HOOKS" "${COMPLIANT[@]}"
expect_allowed "rootless: a restricted-compliant container runs" "uid=32767"

podman_case privileged "$HOOKS" "${COMPLIANT[@]}" --privileged
expect_denied "rootless: its --privileged twin is denied" privileged

podman_case hostpath "$HOOKS" "${COMPLIANT[@]}" -v /etc:/host-etc:ro
expect_denied_only "rootless: its twin with a host path is denied" volumes

podman_case root "$HOOKS" --cap-drop ALL --security-opt no-new-privileges
expect_denied_only "rootless: its twin running as uid 0 is denied" runAsUser

run_capture as_user podman unshare "$ROOT/usr/libexec/oci/hooks.d/oci-psp-hook" lint --config "$ROOT/etc/oci-psp-hook/config.yaml"
if [ "$RC" -eq 0 ]; then
	pass "rootless: lint in the user's namespace trusts root's configuration"
else
	fail "rootless: lint" "exit $RC; $(err_excerpt)"
fi

# --- what is still refused in the user's namespace ---------------------------
chmod g+w "$SET/policies.d/restricted-psp.yaml"
podman_case group-writable "$HOOKS" "${COMPLIANT[@]}"
expect_error "rootless: a group-writable policy of root's is refused" "writable by its group"
chmod g-w "$SET/policies.d/restricted-psp.yaml"

# The namespace's own uid 65534 is host uid SUBUID_START+65533, one of the
# user's: it shows as 65534 as root does, and the kernel tells them apart.
chown "$((SUBUID_START + 65533))" "$SET/policies.d"
podman_case own-65534 "$HOOKS" "${COMPLIANT[@]}"
expect_error "rootless: a policy directory of the namespace's own uid 65534 is refused" \
	"the hook's user namespace's own uid 65534, one of the user's subordinate ids, owns it, not root"
chown 0 "$SET/policies.d"

# A subordinate id that shows as itself is nobody's root either.
chown "$((SUBUID_START + 99))" "$SET/policies.d"
podman_case subuid "$HOOKS" "${COMPLIANT[@]}"
expect_error "rootless: a policy directory of another of the user's ids is refused" \
	"is owned by uid 100, neither root nor the hook's user"
chown 0 "$SET/policies.d"

# Below a sticky directory (/tmp) anyone can create what shows as 65534.
if install_at "$WORK/root" "$WORK/hooks.d"; then
	podman_case sticky "$WORK/hooks.d" "${COMPLIANT[@]}"
	expect_error "rootless: a configuration below /tmp is refused" \
		"below /tmp, a sticky directory any user can create entries in, it is not taken for root's"
else
	fail "install under /tmp" "exit $RC; $(err_excerpt)"
fi

# And after all that, the installed set still admits the compliant one.
podman_case compliant-again "$HOOKS" "${COMPLIANT[@]}"
expect_allowed "rootless: the restored set admits the compliant container again" "uid=32767"

summary
