#!/usr/bin/env bash
# Kernel truth in hook mode: a bind mount whose source path is swapped for a
# symlink between the runtime's resolution and the hook (the CVE-2021-25741
# class) is judged by what the kernel really mounted.
#
# config.json binds /data from LINK. When runc mounts it, LINK points at /etc;
# a first createRuntime hook then re-points LINK into the allowed prefix, as an
# attacker racing the runtime would. Re-resolving config.json's path now gives
# an allowed path; the container's /proc/<pid>/mountinfo still shows /etc.
# Then the same for the mount's ro flag: a bind config.json asks for `ro`
# that a first hook remounts read-write is denied by a readOnly prefix.
# Needs root.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_root
ensure_packages || exit 1
need_hook_bin

ROOTFS="$WORK/rootfs"
RUNC_ROOT="$WORK/runc-state"
ALLOWED="$WORK/allowed"
LINK="$WORK/link"
make_rootfs "$ROOTFS" || exit 1
mkdir -p "$ROOTFS/data" "$ALLOWED/data" "$RUNC_ROOT" "$WORK/bundle" "$WORK/bundle-ro" "$WORK/bundle-ro-control"
# Each bundle holds its rootfs (one outside is a host path): hard-linked copies.
for b in bundle bundle-ro bundle-ro-control; do cp -al "$ROOTFS" "$WORK/$b/rootfs"; done
echo allowed-content >"$ALLOWED/data/marker"

cat >"$WORK/paths.yaml" <<YAML
apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata: {name: paths}
spec:
  volumes: [hostPath, emptyDir]
  allowedHostPaths: [{pathPrefix: $ALLOWED}]
  allowedCapabilities: ["*"]
  runAsUser: {rule: RunAsAny}
  seLinux: {rule: RunAsAny}
  supplementalGroups: {rule: RunAsAny}
  fsGroup: {rule: RunAsAny}
YAML
printf '#!/bin/sh\nln -sfn %s %s\n' "$ALLOWED/data" "$LINK" >"$WORK/swap.sh"
chmod +x "$WORK/swap.sh"

# hook_config NAME POLICY: a configuration judging by POLICY that allows the
# test's own earlier createRuntime hooks (a hook config.json names is
# privileged unless the node allows it).
hook_config() {
	mkdir -p "$WORK/$1/policies"
	cp "$2" "$WORK/$1/policies/"
	cat >"$WORK/$1/config.yaml" <<YAML
apiVersion: oci-psp-hook/v1alpha1
kind: HookConfiguration
policyDirectory: policies
defaultPolicies: [paths]
allowedHooks: [$WORK/swap.sh, $WORK/remount-rw.sh]
YAML
}
hook_config conf "$WORK/paths.yaml"

runc spec --bundle "$WORK/bundle" || exit 1
python3 - "$WORK/bundle/config.json" "$LINK" "$WORK/swap.sh" "$OCI_PSP_HOOK_BIN" "$WORK/conf/config.yaml" <<'PY' || exit 1
import json, sys
path, link, swap, hook, config = sys.argv[1:]
c = json.load(open(path))
c["root"] = {"path": "rootfs", "readonly": True}
c["process"]["terminal"] = False
c["process"]["args"] = ["cat", "/data/marker"]
c["mounts"].append({"destination": "/data", "type": "bind", "source": link, "options": ["rbind", "ro"]})
c["hooks"] = {"createRuntime": [
    {"path": swap},
    {"path": hook, "args": ["oci-psp-hook", "hook", "--config", config]},
]}
json.dump(c, open(path, "w"), indent=1)
PY

# shellcheck disable=SC2317 # called through on_exit
truth_cleanup() { runc --root "$RUNC_ROOT" delete -f "psp-truth-$$" >/dev/null 2>&1; }
on_exit truth_cleanup

log "== kernel truth: runc $(runc --version | head -n 1)"

# truth_run BUNDLE: run it; leaves RC/OUT/ERR.
truth_run() {
	run_capture timeout 30 runc --root "$RUNC_ROOT" run --bundle "$1" "psp-truth-$$"
	truth_cleanup
}

# expect_runs NAME: the last run read the allowed content.
expect_runs() {
	if [ "$RC" -eq 0 ] && [[ "$OUT" == *allowed-content* ]]; then
		pass "$1"
	else
		fail "$1" "rc=$RC out=$OUT err=$(err_excerpt)"
	fi
}

# expect_caught NAME TEXT: the last run was blocked with TEXT on stderr.
expect_caught() {
	if [ "$RC" -ne 0 ] && [[ "$ERR" == *"$2"* ]] && [[ "$OUT" != *allowed-content* ]]; then
		pass "$1"
	else
		fail "$1" "rc=$RC out=$OUT err=$(err_excerpt)"
	fi
}

# Control: LINK points into the allowed prefix all along.
ln -sfn "$ALLOWED/data" "$LINK"
truth_run "$WORK/bundle"
expect_runs "a bind mount of an allowed host path runs"

# Attack: LINK points at /etc when runc mounts, then is swapped.
ln -sfn /etc "$LINK"
truth_run "$WORK/bundle"
expect_caught "a symlink swapped after the runtime's resolution is caught (the kernel mounted /etc)" \
	"allowedHostPaths: host path /etc (the kernel mounted it; config.json names $LINK)"
if [ "$(readlink "$LINK")" = "$ALLOWED/data" ]; then
	pass "the swap really happened before the hook judged"
else
	fail "the swap really happened before the hook judged" "link is $(readlink "$LINK")"
fi

# readOnly: the kernel's own ro flag is judged too. A first createRuntime
# hook remounts the `ro` bind read-write in the container's mount namespace,
# as a runtime reading the options otherwise than the hook would leave it.
sed 's|allowedHostPaths: \[{pathPrefix: \(.*\)}\]|allowedHostPaths: [{pathPrefix: \1, readOnly: true}]|' \
	"$WORK/paths.yaml" >"$WORK/paths-ro.yaml"
hook_config conf-ro "$WORK/paths-ro.yaml"
cat >"$WORK/remount-rw.sh" <<SH
#!/bin/sh
pid=\$(sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p')
exec nsenter -t "\$pid" -m mount -o remount,bind,rw "$WORK/bundle-ro/rootfs/data"
SH
chmod +x "$WORK/remount-rw.sh"
python3 - "$WORK/bundle/config.json" "$WORK" "$WORK/remount-rw.sh" "$WORK/conf-ro/config.yaml" <<'PY' || exit 1
import json, sys
src, work, remount, policy = sys.argv[1:]
c = json.load(open(src))
hook = c["hooks"]["createRuntime"][1]
hook["args"][-1] = policy
for bundle, hooks in (("bundle-ro", [{"path": remount}, hook]), ("bundle-ro-control", [hook])):
    c["hooks"] = {"createRuntime": hooks}
    json.dump(c, open(f"{work}/{bundle}/config.json", "w"), indent=1)
PY
ln -sfn "$ALLOWED/data" "$LINK"

# Control: the policy admits the ro bind as runc mounts it.
truth_run "$WORK/bundle-ro-control"
expect_runs "readOnly: an ro bind mount of an allowed host path runs"

truth_run "$WORK/bundle-ro"
expect_caught "readOnly: an ro bind the kernel mounted read-write is caught" \
	"allowedHostPaths: host path $LINK -> $ALLOWED/data is mounted writable at /data (the kernel mounted it read-write though config.json asks for ro)"

summary
