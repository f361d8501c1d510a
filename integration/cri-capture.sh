#!/usr/bin/env bash
# Captures the config.json files the CRI runtimes really write for
# kubelet-shaped pods into tests/fixtures/cri-captured/ (as root):
#
#   integration/cri-capture.sh [containerd|crio|all] [OUT_DIR]
#                    # default: all, tests/fixtures/cri-captured
#
# Runs integration/cri.sh (containerd 2.x's CRI plugin) and/or
# integration/crio.sh (CRI-O, runtime handler runc only) with CRI_CAPTURE
# (the hook in audit mode, so every case starts, denied ones included) and
# copies each started bundle's config.json (containerd:
# /run/containerd/io.containerd.runtime.v2.task/k8s.io/<id>/, CRI-O:
# /run/containers/storage/overlay-containers/<id>/userdata/) as
# <route>/<runtime>-<case>-{sandbox,app}.json. Then, so the files do not
# name this run's temporary directory, the hook entries the route added are
# rewritten to the installed paths (/usr/libexec/oci/hooks.d/oci-psp-hook,
# --config /etc/oci-psp-hook/config.yaml). Everything else is as the
# runtime wrote it: the runtime ids (the file's name does not carry them:
# see ids.tsv, whose lines of the runtimes captured are replaced), the pod
# UIDs, the netns and /proc/<pid>/ns paths, the kubelet directories under
# /var/lib/kubelet/pods/<uid>. VERSIONS records the peers. The hook entry's
# env (the test's log socket) is dropped. verdicts.tsv is then rewritten by
# integration/cri-verdicts.py (offline verdicts; the node's verdicts and
# notes of known files kept, new and changed ones listed for review, see
# its README).

set -u
IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$IT_DIR/.." && pwd)
WHICH=${1:-all}
case $WHICH in
containerd | crio) RUNTIMES=("$WHICH") ;;
all) RUNTIMES=(containerd crio) ;;
*)
	echo "cri-capture: which runtime: containerd, crio or all (not '$WHICH')" >&2
	exit 2
	;;
esac
OUT=${2:-$REPO/tests/fixtures/cri-captured}
TMP=$(mktemp -d /tmp/oci-psp-hook-capture.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
chmod 755 "$TMP"

for runtime in "${RUNTIMES[@]}"; do
	case $runtime in
	containerd) CRI_CAPTURE=$TMP "$IT_DIR/cri.sh" | tee "$TMP/$runtime.log" ;;
	crio) CRI_CAPTURE=$TMP CRIO_HANDLERS=runc "$IT_DIR/crio.sh" | tee "$TMP/$runtime.log" ;;
	esac
	rc=${PIPESTATUS[0]}
	if ! ls "$TMP"/*/"$runtime"-*.json >/dev/null 2>&1; then
		echo "cri-capture: nothing captured of $runtime (exit $rc)" >&2
		exit 1
	fi
done

mkdir -p "$OUT"
python3 - "$TMP" "$OUT" <<'PY'
import glob, json, os, sys
tmp, out = sys.argv[1:3]
INSTALLED = "/usr/libexec/oci/hooks.d/oci-psp-hook"
for path in sorted(glob.glob(f"{tmp}/*/*.json")):
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
# ids.tsv: the lines of the runtimes not captured now are kept.
pattern=$(printf '/%s-|' "${RUNTIMES[@]}")
{
	grep -Ev "${pattern%|}" "$OUT/ids.tsv" 2>/dev/null
	cat "$TMP/ids.tsv"
} >"$TMP/ids.merged" && mv "$TMP/ids.merged" "$OUT/ids.tsv"
# VERSIONS: one section per runtime, the others kept.
for runtime in "${RUNTIMES[@]}"; do
	{
		echo "# $runtime: captured by integration/cri-capture.sh on $(date -u +%Y-%m-%d)"
		case $runtime in
		containerd) peers="containerd crictl runc nri-hook-injector" ;;
		crio) peers="cri-o crictl" ;;
		esac
		# shellcheck disable=SC2086 # a list of names
		"$IT_DIR/peers/build.sh" --print $peers | while read -r name dir; do
			printf '%s\t%s\n' "$name" "$(sed -n 's/^version=//p' "$dir/.build-info")"
		done
		if [ "$runtime" = crio ]; then
			printf 'conmon\t%s\n' "$(conmon --version | awk 'NR==1{print $3}')"
			printf 'runc\t%s\n' "$(/usr/sbin/runc --version | awk 'NR==1{print $3}')"
		fi
		printf 'kernel\t%s\n' "$(uname -r)"
		printf 'cgroups\t%s\n' "$([ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] && echo v2 || echo v1)"
	} >"$TMP/VERSIONS.$runtime"
done
python3 - "$OUT/VERSIONS" "$TMP" "${RUNTIMES[@]}" <<'PY'
import os, sys
path, tmp, *runtimes = sys.argv[1:]
sections, current = {}, None
if os.path.exists(path):
    for line in open(path):
        if line.startswith("# ") and ":" in line:
            current = line[2:].split(":", 1)[0]
            # the single section of older captures is containerd's
            if current not in ("containerd", "crio"):
                current = "containerd"
        sections.setdefault(current or "containerd", []).append(line)
for r in runtimes:
    sections[r] = open(f"{tmp}/VERSIONS.{r}").readlines()
with open(path, "w") as f:
    for r in ("containerd", "crio"):
        f.writelines(sections.get(r, []))
PY
"$IT_DIR/cri-verdicts.py" "${OCI_PSP_HOOK_BIN:-$REPO/target/release/oci-psp-hook}" "$OUT" ||
	echo "cri-capture: verdicts.tsv not rewritten" >&2
echo "cri-capture: $(find "$OUT" -name '*.json' | wc -l) files in $OUT"
