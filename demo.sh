#!/usr/bin/env bash
# The demo: build oci-psp-hook, then start two containers through runc with the
# hook in hooks.createRuntime and the restricted example policy — one that
# complies, one that runs as root with capabilities — and show both verdicts.
# Run as root on Debian: sudo ./demo.sh
set -euo pipefail
cd "$(dirname "$0")"
repo=$(pwd)

if [ "$(id -u)" -ne 0 ]; then echo "demo.sh: run as root (runc needs it)" >&2; exit 2; fi
if ! command -v runc >/dev/null || [ ! -x /bin/busybox ]; then
  echo "== installing runc and busybox-static"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc busybox-static >/dev/null
fi
echo "== building oci-psp-hook"
cargo build --release --quiet
bin="$repo/target/release/oci-psp-hook"
policy="$repo/examples/restricted-psp.yaml"

work=$(mktemp -d /tmp/oci-psp-hook-demo.XXXXXX)
trap 'runc delete -f demo-ok-$$ >/dev/null 2>&1; runc delete -f demo-root-$$ >/dev/null 2>&1; rm -rf "$work"' EXIT

mkdir -p "$work/rootfs/bin" "$work/rootfs/etc"
cp /bin/busybox "$work/rootfs/bin/busybox"
for tool in sh id echo; do ln -s busybox "$work/rootfs/bin/$tool"; done
printf 'root:x:0:0:root:/:/bin/sh\napp:x:32767:32767:app:/:/bin/sh\n' > "$work/rootfs/etc/passwd"
printf 'root:x:0:\napp:x:32767:\n' > "$work/rootfs/etc/group"

# bundle NAME PYTHON-EDIT: a runc bundle (its own copy of the rootfs inside
# it, as runtimes keep it) whose config.json carries the hook.
bundle() {
  local dir="$work/$1"
  mkdir -p "$dir"
  cp -a "$work/rootfs" "$dir/rootfs"
  (cd "$dir" && runc spec)
  python3 - "$dir/config.json" "$bin" "$policy" "$2" <<'PY'
import json, sys
path, binary, policy, edit = sys.argv[1:]
c = json.load(open(path))
c["root"]["path"] = "rootfs"
c["process"]["terminal"] = False
c["process"]["args"] = ["id"]
c["hooks"] = {"createRuntime": [{"path": binary, "args": ["oci-psp-hook", "hook", "--policy", policy]}]}
if edit == "compliant":
    c["process"]["user"] = {"uid": 32767, "gid": 32767, "additionalGids": [32767]}
    c["process"]["capabilities"] = {}
    c["process"]["noNewPrivileges"] = True
    c["root"]["readonly"] = True
else:
    c["process"]["noNewPrivileges"] = False
    c["process"]["capabilities"]["bounding"] += ["CAP_SYS_ADMIN"]
json.dump(c, open(path, "w"), indent=2)
PY
}

run() {
  local name=$1 id=$2
  echo
  echo "== $name: runc run $id"
  set +e
  (cd "$work/$name" && runc run "$id")
  local rc=$?
  set -e
  echo "-- runc exit status: $rc"
  echo "-- offline verdict: oci-psp-hook check --policy examples/restricted-psp.yaml $name/"
  "$bin" check --policy "$policy" "$work/$name" || true
}

bundle compliant compliant
bundle root root
echo
echo "Policy: examples/restricted-psp.yaml (uid 32767-32768, groups 32767, drop ALL capabilities, no privilege escalation)"
run compliant "demo-ok-$$"
run root "demo-root-$$"
