#!/usr/bin/env bash
# oci-psp-hook on CRI-O (built by integration/peers/build.sh), driven through
# CRI by crictl with the matrix of cri.sh (integration/cri-lib.sh: kubelet's
# pod and container configs, the cases, the decision records).
#
#   integration/crio.sh                   # the tests (as root)
#   CRI_CAPTURE=DIR integration/crio.sh   # also copy every started bundle's
#                                         # config.json to DIR (cri-capture.sh)
#
# Environment:
#   CRIO_HANDLERS="runc runc-peer"  the runtime handlers (RuntimeClass) the
#        matrix runs on, each a route: `runc` is Debian's /usr/sbin/runc (the
#        default runtime), `runc-peer` the runc the peers build
#
# The node as the Debian package leaves it: the hook reaches CRI-O through
# the package's drop-in (systemd/crio-hooks.conf as crio.conf.d/50-oci-psp-hook.conf:
# its hooks_dir) and the project's hooks.d file in
# /usr/share/containers/oci/hooks.d (its binary path, --config and log socket
# adjusted). CRI-O keeps its containers where a node has them
# (/var/lib/containers/storage, /run/containers/storage: the hook honours
# Kubernetes identity only there). So that none of this touches the host's
# podman, CRI-O runs in a mount namespace of its own where those two
# directories are this run's, and /usr/share/containers and /etc/containers
# are overlays holding the hooks.d directories (CRI-O creates missing ones).
# Its configuration: $NODE/etc/crio/crio.conf.d (--config-dir), the
# package's drop-in and 10-oci-psp-hook-test.conf (socket, runtimes,
# cgroupfs, conmon, pinns, CNI, pause image, state files under $WORK).
# conmon is Debian's; pinns the peers'. No registry: the images are loaded
# into CRI-O's storage with podman (--root/--runroot of that storage).

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=integration/lib.sh
. "$IT_DIR/lib.sh"

need_root
need_hook_bin

CRIO_HANDLERS=${CRIO_HANDLERS:-runc runc-peer}
CAPTURE=${CRI_CAPTURE:-}
RUNTIME=crio

# --- the peers -----------------------------------------------------------
peers_out=$("$IT_DIR/peers/build.sh" cri-o crictl runc)
peers_rc=$?
peer_bin() { printf '%s\n' "$peers_out" | awk -v n="$1" '$1 == n {print $2}'; }
CRIO_BIN=$(peer_bin cri-o)
CRICTL_BIN=$(peer_bin crictl)
RUNC_PEER=$(peer_bin runc)
if [ -z "$CRIO_BIN" ] || [ -z "$CRICTL_BIN" ]; then
	log "crio.sh: CRI-O or crictl could not be built (integration/peers/build.sh exit $peers_rc)"
	fail "peers" "CRI-O and crictl built"
	summary
	exit 1
fi
command -v conmon >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq conmon >/dev/null
command -v podman >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman >/dev/null

SOCK=$WORK/crio.sock
printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 60\n' "$SOCK" "$SOCK" >"$WORK/crictl.yaml"
CRICTL=("$CRICTL_BIN/crictl" --config "$WORK/crictl.yaml" --timeout 60s)

# shellcheck source=integration/cri-lib.sh
. "$IT_DIR/cri-lib.sh"

# --- the node's files ----------------------------------------------------------
# $NODE is what the package installs (and doctor --root reads): the drop-in,
# the hooks.d file; CRI-O's storage and state are this run's.
NODE=$WORK/node
STORAGE=$WORK/crio-storage
CRIO_STATE=$WORK/crio-state
mkdir -p "$NODE/etc/crio/crio.conf.d" "$NODE/usr/share/containers/oci/hooks.d" "$NODE/etc/containers" \
	"$WORK/ovl/share" "$WORK/ovl/etc" "$STORAGE/lib" "$STORAGE/run" "$CRIO_STATE/log"
cp "$REPO/systemd/crio-hooks.conf" "$NODE/etc/crio/crio.conf.d/50-oci-psp-hook.conf"
cp "$WORK/hooks.d/oci-psp-hook.json" "$NODE/usr/share/containers/oci/hooks.d/oci-psp-hook.json"
# doctor --root $NODE looks for the binary the hooks.d file names under $NODE.
mkdir -p "$NODE$(dirname "$HOOK")" && cp "$HOOK" "$NODE$HOOK"
echo '{"default": [{"type": "insecureAcceptAnything"}]}' >"$WORK/policy.json"

# runc wrappers for a machine whose root lacks CAP_SYS_RESOURCE: CRI-O gives
# every infra container oom_score_adj -998 (no option changes it), which
# runc cannot set there ("failed to update /proc/self/oom_score_adj:
# Permission denied"). The wrapper raises process.oomScoreAdj to 0 in the
# bundle's config.json before runc reads it, and changes nothing else.
runtime_path() { # HANDLER RUNC
	[ "$RESTRICT_OOM" = true ] || {
		echo "$2"
		return
	}
	local w=$WORK/runc-oom-$1
	shift
	cat >"$w" <<EOF
#!/bin/sh
# $1, with the bundle's process.oomScoreAdj raised to 0 (see crio.sh).
bundle=""
prev=""
for a in "\$@"; do
	case \$prev in --bundle | -b) bundle=\$a ;; esac
	case \$a in --bundle=*) bundle=\${a#--bundle=} ;; esac
	prev=\$a
done
if [ -n "\$bundle" ] && [ -f "\$bundle/config.json" ]; then
	python3 -c 'import json, sys
p = sys.argv[1] + "/config.json"
c = json.load(open(p))
pr = c.get("process") or {}
if pr.get("oomScoreAdj", 0) < 0:
    pr["oomScoreAdj"] = 0
    json.dump(c, open(p, "w"))' "\$bundle" || exit 1
fi
exec $1 "\$@"
EOF
	chmod 755 "$w"
	echo "$w"
}
RUNC_DEBIAN=/usr/sbin/runc
command -v "$RUNC_DEBIAN" >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc >/dev/null

handler_table() { # NAME RUNC
	printf '[crio.runtime.runtimes.%s]\nruntime_path = "%s"\nruntime_root = "%s/runc-%s"\nmonitor_path = "/usr/bin/conmon"\nmonitor_cgroup = "pod"\n' \
		"$1" "$(runtime_path "$1" "$2")" "$CRIO_STATE" "$1"
}
cat >"$NODE/etc/crio/crio.conf.d/10-oci-psp-hook-test.conf" <<EOF
# crio.sh: this run's socket, state files and network; storage is where a
# node has it (/var/lib/containers/storage, /run/containers/storage).
[crio]
storage_driver = "overlay"
log_dir = "$CRIO_STATE/log"
version_file = "$CRIO_STATE/version"
clean_shutdown_file = "$CRIO_STATE/clean.shutdown"
[crio.api]
listen = "$SOCK"
[crio.runtime]
default_runtime = "runc"
cgroup_manager = "cgroupfs"
container_exits_dir = "$CRIO_STATE/exits"
container_attach_socket_dir = "$CRIO_STATE"
pinns_path = "$CRIO_BIN/pinns"
$(handler_table runc "$RUNC_DEBIAN")
$([ -n "$RUNC_PEER" ] && handler_table runc-peer "$RUNC_PEER/runc")
[crio.image]
pause_image = "$PAUSE_IMAGE"
signature_policy = "$WORK/policy.json"
# (CRI-O would make its default, /etc/crio/policies, on the host.)
signature_policy_dir = "$CRIO_STATE/policies"
[crio.network]
network_dir = "$CNI_CONF"
plugin_dirs = ["/usr/lib/cni"]
[crio.nri]
enable_nri = false
EOF

# The images, into CRI-O's storage.
PODMAN=(podman --root "$STORAGE/lib" --runroot "$STORAGE/run" --storage-driver overlay)
if ! "${PODMAN[@]}" load -q -i "$IMG_DIR/pause.tar" >"$WORK/load.out" 2>&1 ||
	! "${PODMAN[@]}" load -q -i "$IMG_DIR/busybox.tar" >>"$WORK/load.out" 2>&1 ||
	! "${PODMAN[@]}" load -q -i "$IMG_DIR/busybox-volume.tar" >>"$WORK/load.out" 2>&1; then
	fail "load the images into CRI-O's storage" "$(tail -c 400 "$WORK/load.out")"
	summary
	exit 1
fi

# --- CRI-O ---------------------------------------------------------------------
CRIO_PID=""
# CRI-O and pinns pin the pods' namespaces in /var/run/{ipc,uts,user,net,pid}ns: the
# directories it creates there are removed again (empty) at the end.
for d in ipcns utsns userns netns pidns; do
	[ -e "/run/$d" ] || on_exit "rmdir '/run/$d'"
done

start_crio() {
	cat >"$WORK/crio-ns.sh" <<EOF
#!/bin/sh
set -e
mount --bind '$STORAGE/lib' /var/lib/containers/storage
mount --bind '$STORAGE/run' /run/containers/storage
mkdir -p '$WORK/ovl/share/work' '$WORK/ovl/etc/work'
mount -t overlay overlay -o 'lowerdir=/usr/share/containers,upperdir=$NODE/usr/share/containers,workdir=$WORK/ovl/share/work' /usr/share/containers
mount -t overlay overlay -o 'lowerdir=/etc/containers,upperdir=$NODE/etc/containers,workdir=$WORK/ovl/etc/work' /etc/containers
exec '$CRIO_BIN/crio' --config '' --config-dir '$NODE/etc/crio/crio.conf.d' --log-level info
EOF
	chmod 755 "$WORK/crio-ns.sh"
	unshare --mount --propagation private "$WORK/crio-ns.sh" </dev/null >>"$WORK/crio.log" 2>&1 &
	# unshare execs the script, which execs crio: one pid.
	CRIO_PID=$!
	wait_for_cri CRI-O "$CRIO_PID" "$WORK/crio.log"
}

stop_crio() {
	local i
	[ -n "$CRIO_PID" ] || return 0
	stop_runtime "$CRIO_PID"
	# The conmons of containers left behind (none when rm/rmp worked).
	for i in $(pgrep -f "conmon .*--exit-dir $CRIO_STATE/exits"); do kill -9 "$i"; done
	CRIO_PID=""
}
on_exit stop_crio
[ -n "${CRI_DEBUG_DIR:-}" ] && on_exit "mkdir -p '$CRI_DEBUG_DIR' && cp '$WORK'/*.log '$CRI_DEBUG_DIR'/"

bundle_of() { printf '/run/containers/storage/overlay-containers/%s/userdata\n' "$1"; }
# CRI-O's bundles are in its mount namespace.
in_runtime_ns() { nsenter --target "$CRIO_PID" --mount -- "$@"; }

log "== CRI-O $("$CRIO_BIN/crio" --version 2>/dev/null | awk '/^crio version/{print $3}'), crictl $("$CRICTL_BIN/crictl" --version | awk '{print $3}'), conmon $(conmon --version | awk 'NR==1{print $3}'), runc $("$RUNC_DEBIAN" --version | awk 'NR==1{print $3}')${RUNC_PEER:+ and $("$RUNC_PEER/runc" --version | awk 'NR==1{print $3}')}"

if ! start_crio; then
	fail "CRI-O starts" "see above"
	summary
	exit 1
fi
pass "CRI-O starts with the package's drop-in ($(grep -c . "$NODE/etc/crio/crio.conf.d/50-oci-psp-hook.conf") lines) in its config dir"

# CRI-O's hooks_dir is the one of the package's drop-in.
HOOKS_DIR_SEEN=$(in_runtime_ns "$CRIO_BIN/crio" --config '' --config-dir "$NODE/etc/crio/crio.conf.d" config 2>/dev/null |
	python3 -c 'import sys, tomllib; print(" ".join(tomllib.loads(sys.stdin.read())["crio"]["runtime"]["hooks_dir"]))')
if [ "$HOOKS_DIR_SEEN" = "/usr/share/containers/oci/hooks.d /etc/containers/oci/hooks.d" ]; then
	pass "CRI-O's hooks_dir is the drop-in's: $HOOKS_DIR_SEEN"
else
	fail "CRI-O's hooks_dir is the drop-in's" "crio config says: $HOOKS_DIR_SEEN"
fi

# CRI-O runs an infra (pause) container only for a pod that shares its PID
# namespace (drop_infra_ctr, default true): the sandbox probe shares it, and
# infra_containers says which pods got one.
SANDBOX_PROBE_POD_EDIT="pod['linux']['security_context']['namespace_options']['network'] = 2; pod['linux']['security_context']['namespace_options']['pid'] = 0; pod.pop('hostname')"
infra_containers() { # HANDLER
	gen_configs infra-probe "$RESTRICTED_NS" "" ""
	run_pod infra-probe
	[ "$RC" = 0 ] || {
		fail "$ROUTE: a compliant pod starts" "runp failed, exit $RC: $(err_excerpt)"
		return
	}
	if in_runtime_ns "$RUNC_DEBIAN" --root "$CRIO_STATE/runc-$1" state "$POD_ID" >/dev/null 2>&1; then
		log "note: $ROUTE: CRI-O ran an infra container for a pod with its own PID namespaces"
		echo "$ROUTE: infra container for every pod" >>"$WORK/sandbox-routes"
	else
		log "note: $ROUTE: CRI-O ran no infra container for a pod whose containers have their own PID namespaces (drop_infra_ctr): no sandbox to hook"
		echo "$ROUTE: no infra container unless the pod shares its PID namespace" >>"$WORK/sandbox-routes"
	fi
	cleanup_pod
}

# CRI-O passes kubelet's container annotations, io.kubernetes.container.ports
# among them: host ports are judged.
HOSTPORT_EXPECT=deny:hostPorts
# CRI-O runs no hook for an infra container (measured: its config.json has
# no hooks), and writes no maskedPaths there: `check --cri` on such a file
# says procMount Unmasked, a verdict no node ever gives.
CHECK_SANDBOXES=no

for handler in $CRIO_HANDLERS; do
	if [ "$handler" = runc-peer ] && [ -z "$RUNC_PEER" ]; then
		fail "runc-peer route" "the peers' runc could not be built"
		continue
	fi
	ROUTE=hooks-dir
	[ "$handler" = runc ] || ROUTE=hooks-dir-$handler
	CRI_RUNP_ARGS=(--runtime "$handler")
	log "== route $ROUTE (runtime handler $handler)"
	infra_containers "$handler"
	sandboxes_seen
	run_cases
	report_checks
done

stop_crio

# doctor on the node's files CRI-O ran with: its hooks_dir (from the
# package's drop-in) holds the hooks.d file; with a later drop-in naming
# another hooks_dir it does not.
mkdir -p "$NODE/etc/oci-psp-hook/policies.d"
cp "$HOOK_DIR/policies.d/restricted.yaml" "$NODE/etc/oci-psp-hook/policies.d/"
sed "s|^policyDirectory: .*|policyDirectory: /etc/oci-psp-hook/policies.d|" "$HOOK_DIR/config.yaml" >"$NODE/etc/oci-psp-hook/config.yaml"
run_capture "$HOOK" doctor --root "$NODE"
if [[ "$OUT" == *"ok   CRI-O hooks_dir: /usr/share/containers/oci/hooks.d, /etc/containers/oci/hooks.d includes the hooks.d file"* ]]; then
	pass "doctor finds the hooks.d file in CRI-O's hooks_dir (the package's drop-in)"
else
	fail "doctor finds the hooks.d file in CRI-O's hooks_dir" "exit $RC: $OUT $ERR"
fi
printf '[crio.runtime]\nhooks_dir = ["/etc/containers/oci/hooks.d"]\n' >"$NODE/etc/crio/crio.conf.d/99-other.conf"
run_capture "$HOOK" doctor --root "$NODE"
if [ "$RC" -ne 0 ] && [[ "$OUT" == *"FAIL CRI-O hooks_dir: /etc/containers/oci/hooks.d does not include"* ]]; then
	pass "doctor fails when a later CRI-O drop-in replaces the hooks_dir"
else
	fail "doctor fails when a later CRI-O drop-in replaces the hooks_dir" "exit $RC: $OUT"
fi
rm -f "$NODE/etc/crio/crio.conf.d/99-other.conf"

[ -f "$WORK/sandbox-routes" ] && log "pod sandboxes: $(tr '\n' ';' <"$WORK/sandbox-routes")"
summary
