#!/usr/bin/env bash
# Captures the config.json files containerd 2.x's CRI plugin really writes
# for kubelet-shaped pods into tests/fixtures/cri-captured/ (as root):
#
#   integration/cri-capture.sh [OUT_DIR]     # default: tests/fixtures/cri-captured
#
# Runs integration/cri.sh with CRI_CAPTURE (the hook in audit mode, so every
# case starts, denied ones included) and copies each started bundle's
# config.json from /run/containerd/io.containerd.runtime.v2.task/k8s.io/<id>/
# as <route>/containerd-<case>-{sandbox,app}.json. Then, so the files do not
# name this run's temporary directory, the hook entries the route added are
# rewritten to the installed paths (/usr/libexec/oci/hooks.d/oci-psp-hook,
# --config /etc/oci-psp-hook/config.yaml). Everything else is as containerd
# wrote it: the runtime ids (the file's name does not carry them: see
# ids.tsv), the pod UIDs, the netns and /proc/<pid>/ns paths, the kubelet
# directories under /var/lib/kubelet/pods/<uid>. VERSIONS records the peers.
# The hook entry's env (the test's log socket) is dropped.

set -u
IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$IT_DIR/.." && pwd)
OUT=${1:-$REPO/tests/fixtures/cri-captured}
TMP=$(mktemp -d /tmp/oci-psp-hook-capture.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
chmod 755 "$TMP"

CRI_CAPTURE=$TMP "$IT_DIR/cri.sh" | tee "$TMP/cri.log"
rc=${PIPESTATUS[0]}
if ! ls "$TMP"/*/containerd-*.json >/dev/null 2>&1; then
	echo "cri-capture: nothing captured (cri.sh exit $rc)" >&2
	exit 1
fi

mkdir -p "$OUT"
python3 - "$TMP" "$OUT" <<'PY'
import glob, json, os, sys
tmp, out = sys.argv[1:3]
INSTALLED = "/usr/libexec/oci/hooks.d/oci-psp-hook"
for path in sorted(glob.glob(f"{tmp}/*/containerd-*.json")):
    route = os.path.basename(os.path.dirname(path))
    with open(path) as f:
        c = json.load(f)
    for stage, hooks in (c.get("hooks") or {}).items():
        for h in hooks:
            if os.path.basename(h.get("path", "")) == "oci-psp-hook":
                h["path"] = INSTALLED
                h.pop("env", None)  # the test's log socket
                args = h.get("args", [])
                for i, a in enumerate(args[:-1]):
                    if a == "--config":
                        args[i + 1] = "/etc/oci-psp-hook/config.yaml"
    a = c.get("annotations", {})
    os.makedirs(f"{out}/{route}", exist_ok=True)
    name = os.path.basename(path)
    with open(f"{out}/{route}/{name}", "w") as f:
        json.dump(c, f, indent=2)
        f.write("\n")
PY
cp "$TMP/ids.tsv" "$OUT/ids.tsv" 2>/dev/null
{
	echo "# Captured by integration/cri-capture.sh on $(date -u +%Y-%m-%d)"
	"$IT_DIR/peers/build.sh" --print containerd crictl runc nri-hook-injector | while read -r name dir; do
		printf '%s\t%s\n' "$name" "$(sed -n 's/^version=//p' "$dir/.build-info")"
	done
	printf 'kernel\t%s\n' "$(uname -r)"
	printf 'cgroups\t%s\n' "$([ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] && echo v2 || echo v1)"
} >"$OUT/VERSIONS"
echo "cri-capture: $(find "$OUT" -name 'containerd-*.json' | wc -l) files in $OUT"
