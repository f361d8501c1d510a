# shellcheck shell=bash
# containerd 2.x's CRI plugin for the CRI suites (cri.sh, psa-cri.sh): the
# peers built (integration/peers/build.sh), the state layout, crictl's and
# ctr's commands, cri-lib.sh's shared matrix, containerd's configuration per
# route, start and stop, and the base runtime spec that runs the hook. Source
# it after lib.sh, need_root and need_hook_bin, with CRI_LAYOUT, CRI_RUNC and
# CRI_CAPTURE as cri.sh documents them; HOOK_EXTRA_BINDINGS (cri-lib.sh) may
# add bindings to the hook's configuration, CONTAINERD_RUNC_EXTRA a line of
# TOML to the runc runtime's table of containerd's configuration.

CRI_LAYOUT=${CRI_LAYOUT:-default}
CAPTURE=${CRI_CAPTURE:-}

# --- the peers -----------------------------------------------------------
peers_out=$("$IT_DIR/peers/build.sh" containerd crictl runc nri-hook-injector)
peers_rc=$?
peer_bin() { printf '%s\n' "$peers_out" | awk -v n="$1" '$1 == n {print $2}'; }
CONTAINERD_BIN=$(peer_bin containerd)
CRICTL_BIN=$(peer_bin crictl)
RUNC_PEER=$(peer_bin runc)
NRI_BIN=$(peer_bin nri-hook-injector)
if [ -z "$CONTAINERD_BIN" ] || [ -z "$CRICTL_BIN" ]; then
	log "$(basename "$0"): containerd 2.x or crictl could not be built (integration/peers/build.sh exit $peers_rc)"
	fail "peers" "containerd and crictl built"
	summary
	exit 1
fi
RUNC=${CRI_RUNC:-${RUNC_PEER:+$RUNC_PEER/runc}}
RUNC=${RUNC:-/usr/sbin/runc}
RUNTIME=containerd
CRI_RUNP_ARGS=()

case $CRI_LAYOUT in
default)
	STATE=/run/containerd
	ROOT=/var/lib/containerd
	;;
k3s)
	STATE=/run/k3s/containerd
	ROOT=/var/lib/rancher/k3s/agent/containerd
	;;
*)
	log "CRI_LAYOUT must be default or k3s" >&2
	exit 2
	;;
esac
SOCK=$WORK/containerd.sock
# A state directory this script creates is removed again at the end.
[ -e "$STATE" ] || on_exit "umount -R '$STATE' 2>/dev/null; rm -rf '$STATE'"
printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 60\n' "$SOCK" "$SOCK" >"$WORK/crictl.yaml"
CRICTL=("$CRICTL_BIN/crictl" --config "$WORK/crictl.yaml" --runtime-endpoint "unix://$SOCK" --image-endpoint "unix://$SOCK" --timeout 60s)
CTR=("$CONTAINERD_BIN/ctr" --address "$SOCK" -n k8s.io)

# shellcheck source=integration/cri-lib.sh
. "$IT_DIR/cri-lib.sh"

# --- containerd --------------------------------------------------------------
CONTAINERD_PID=""
NRI_PID=""
MOVED_ROOT=""

# Stop any other containerd using $STATE: two cannot share it.
stop_other_containerd() {
	local pid i
	for pid in $(pgrep -x containerd); do
		[ "$pid" = "$CONTAINERD_PID" ] && continue
		# Only one whose state is ours: the default when it names none.
		if [ "$CRI_LAYOUT" = k3s ] && ! tr '\0' ' ' </proc/"$pid"/cmdline | grep -q k3s; then
			continue
		fi
		log "stopping containerd (pid $pid) that uses $STATE"
		kill "$pid"
		for ((i = 0; i < 20; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
		kill -9 "$pid" 2>/dev/null
	done
	return 0
}

write_containerd_config() { # ROUTE
	local route=$1 base=""
	if [ "$route" = base-spec ]; then
		base="base_runtime_spec = \"$WORK/base-spec.json\""
	fi
	cat >"$WORK/containerd.toml" <<EOF
version = 3
root = "$ROOT"
state = "$STATE"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$PAUSE_IMAGE"
[plugins.'io.containerd.cri.v1.runtime']
  enable_unprivileged_ports = true
  enable_unprivileged_icmp = true
  # This machine's root lacks CAP_SYS_RESOURCE (no lowering oom_score_adj:
  # the sandbox's -998 fails in runc); the option meant for that.
  restrict_oom_score_adj = $RESTRICT_OOM
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      $base
      ${CONTAINERD_RUNC_EXTRA:-}
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "$RUNC"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$CNI_CONF"
[plugins.'io.containerd.nri.v1.nri']
  disable = $([ "$route" = nri ] && echo false || echo true)
  socket_path = "$WORK/nri.sock"
  plugin_path = "$WORK/nri-plugins"
  plugin_config_path = "$WORK/nri-conf"
EOF
}

start_containerd() { # ROUTE
	local route=$1 i
	stop_other_containerd
	if [ "$CRI_LAYOUT" = default ] && [ -e "$ROOT" ] && [ ! -e "$ROOT/.oci-psp-hook-cri" ] && [ -z "$MOVED_ROOT" ]; then
		MOVED_ROOT=$ROOT.before-oci-psp-hook-cri.$$
		mv "$ROOT" "$MOVED_ROOT"
		on_exit "stop_containerd_cri; rm -rf '$ROOT' && mv '$MOVED_ROOT' '$ROOT'"
	elif [ -z "$MOVED_ROOT" ]; then
		on_exit "stop_containerd_cri; rm -rf '$ROOT'"
		MOVED_ROOT=none
	fi
	mkdir -p "$ROOT" && touch "$ROOT/.oci-psp-hook-cri"
	write_containerd_config "$route"
	PATH="$CONTAINERD_BIN:$PATH" "$CONTAINERD_BIN/containerd" --config "$WORK/containerd.toml" \
		</dev/null >>"$WORK/containerd-$route.log" 2>&1 &
	CONTAINERD_PID=$!
	wait_for_cri containerd "$CONTAINERD_PID" "$WORK/containerd-$route.log" || return 1
	if [ "$route" = nri ]; then
		[ -n "$NRI_BIN" ] || return 1
		"$NRI_BIN/nri-hook-injector" -idx 10 -socket-path "$WORK/nri.sock" -hooks-dir "$WORK/hooks.d" \
			</dev/null >>"$WORK/nri-$route.log" 2>&1 &
		NRI_PID=$!
		for ((i = 0; i < 20; i++)); do
			grep -q 'watching' "$WORK/nri-$route.log" && break
			sleep 0.5
		done
		sleep 1
	fi
	"${CTR[@]}" images import "$IMG_DIR/pause.tar" >/dev/null &&
		"${CTR[@]}" images import "$IMG_DIR/busybox.tar" >/dev/null &&
		"${CTR[@]}" images import "$IMG_DIR/busybox-volume.tar" >/dev/null
}

stop_containerd_cri() {
	local i
	[ -n "$NRI_PID" ] && kill "$NRI_PID" 2>/dev/null
	NRI_PID=""
	stop_runtime "$CONTAINERD_PID"
	[ -n "$CONTAINERD_PID" ] || return 0
	# The shims of containers left behind (none when rm/rmp worked).
	for i in $(pgrep -f "containerd-shim-runc-v2 -namespace k8s.io -id [0-9a-f]* -address $SOCK"); do kill -9 "$i"; done
	CONTAINERD_PID=""
}
on_exit stop_containerd_cri
# CRI_DEBUG_DIR: keep containerd's and the plugin's logs there.
[ -n "${CRI_DEBUG_DIR:-}" ] && on_exit "mkdir -p '$CRI_DEBUG_DIR' && cp '$WORK'/*.log '$CRI_DEBUG_DIR'/"

bundle_of() { printf '%s/io.containerd.runtime.v2.task/k8s.io/%s\n' "$STATE" "$1"; }
# containerd's bundles are in the host's mount namespace.
in_runtime_ns() { "$@"; }

log "== containerd $("$CONTAINERD_BIN/containerd" --version | awk '{print $3}'), crictl $("$CRICTL_BIN/crictl" --version | awk '{print $3}'), runc $("$RUNC" --version | awk 'NR==1{print $3}'), layout $CRI_LAYOUT ($STATE, $ROOT)"

"$CONTAINERD_BIN/ctr" oci spec >"$WORK/ctr-oci-spec.json"
if ! "$HOOK" containerd-base-spec --from "$WORK/ctr-oci-spec.json" --hook-path "$HOOK" \
	--hook-arg=--config --hook-arg="$HOOK_DIR/config.yaml" --output "$WORK/base-spec.json"; then
	fail "containerd-base-spec" "exit $?"
fi
python3 - "$WORK/base-spec.json" "${HOOK_ENV[@]}" <<'PY'
import json, sys
base, *env = sys.argv[1:]
b = json.load(open(base))
for h in b["hooks"]["createRuntime"]:
    h["env"] = env
json.dump(b, open(base, "w"), indent=2)
PY
