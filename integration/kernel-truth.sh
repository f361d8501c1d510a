#!/usr/bin/env bash
# Kernel truth in hook mode: a bind mount whose source path is swapped for a
# symlink between the runtime's resolution and the hook (the CVE-2021-25741
# class) is judged by what the kernel really mounted.
#
# config.json binds /data from LINK. When runc mounts it, LINK points at /etc;
# a first createRuntime hook then re-points LINK into the allowed prefix, as an
# attacker racing the runtime would. Re-resolving config.json's path now gives
# an allowed path; the container's /proc/<pid>/mountinfo still shows /etc.
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
mkdir -p "$ROOTFS/data" "$ALLOWED/data" "$RUNC_ROOT" "$WORK/bundle"
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

runc spec --bundle "$WORK/bundle" || exit 1
python3 - "$WORK/bundle/config.json" "$ROOTFS" "$LINK" "$WORK/swap.sh" "$OCI_PSP_HOOK_BIN" "$WORK/paths.yaml" <<'PY' || exit 1
import json, sys
path, rootfs, link, swap, hook, policy = sys.argv[1:]
c = json.load(open(path))
c["root"] = {"path": rootfs, "readonly": True}
c["process"]["terminal"] = False
c["process"]["args"] = ["cat", "/data/marker"]
c["mounts"].append({"destination": "/data", "type": "bind", "source": link, "options": ["rbind", "ro"]})
c["hooks"] = {"createRuntime": [
    {"path": swap},
    {"path": hook, "args": ["oci-psp-hook", "hook", "--policy", policy]},
]}
json.dump(c, open(path, "w"), indent=1)
PY

# shellcheck disable=SC2317 # called through on_exit
truth_cleanup() { runc --root "$RUNC_ROOT" delete -f "psp-truth-$$" >/dev/null 2>&1; }
on_exit truth_cleanup

log "== kernel truth: runc $(runc --version | head -n 1)"

# Control: LINK points into the allowed prefix all along.
ln -sfn "$ALLOWED/data" "$LINK"
run_capture timeout 30 runc --root "$RUNC_ROOT" run --bundle "$WORK/bundle" "psp-truth-$$"
truth_cleanup
if [ "$RC" -eq 0 ] && [[ "$OUT" == *allowed-content* ]]; then
	pass "a bind mount of an allowed host path runs"
else
	fail "a bind mount of an allowed host path runs" "rc=$RC out=$OUT err=$(err_excerpt)"
fi

# Attack: LINK points at /etc when runc mounts, then is swapped.
ln -sfn /etc "$LINK"
run_capture timeout 30 runc --root "$RUNC_ROOT" run --bundle "$WORK/bundle" "psp-truth-$$"
truth_cleanup
if [ "$RC" -ne 0 ] && [[ "$ERR" == *"allowedHostPaths: host path /etc (the kernel mounted it; config.json names $LINK)"* ]] &&
	[[ "$OUT" != *allowed-content* ]]; then
	pass "a symlink swapped after the runtime's resolution is caught (the kernel mounted /etc)"
else
	fail "a symlink swapped after the runtime's resolution is caught" "rc=$RC out=$OUT err=$(err_excerpt)"
fi
if [ "$(readlink "$LINK")" = "$ALLOWED/data" ]; then
	pass "the swap really happened before the hook judged"
else
	fail "the swap really happened before the hook judged" "link is $(readlink "$LINK")"
fi

summary
