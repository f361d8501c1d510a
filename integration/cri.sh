#!/usr/bin/env bash
# oci-psp-hook on a Kubernetes node's runtime, driven through CRI: containerd
# 2.x's CRI plugin (built by integration/peers/build.sh), crictl as the
# client making the calls kubelet makes (runp, create, start) with pod and
# container configs shaped as kubelet sends them (its labels, annotations,
# masked paths, /etc/hosts and termination-log mounts, volume directories
# under /var/lib/kubelet/pods/<uid>).
#
#   integration/cri.sh                    # the tests (as root)
#   CRI_CAPTURE=DIR integration/cri.sh    # also copy every started bundle's
#                                         # config.json to DIR (see cri-capture.sh)
#
# Environment:
#   CRI_ROUTES="base-spec nri"  how the hook reaches containerd: its
#        base_runtime_spec, and/or NRI's hook-injector reading a hooks.d dir
#   CRI_LAYOUT=default|k3s  where containerd keeps its state and root. The
#        hook honours Kubernetes annotations only for bundles under a state
#        directory it knows, and takes the CRI plugin's sandbox files
#        (hostname, resolv.conf, shm) as the runtime's only under a root it
#        knows. `default`: /run/containerd and /var/lib/containerd, as a
#        node has them; any other containerd is stopped first (two cannot
#        share them) and an existing /var/lib/containerd is moved aside and
#        put back at the end. `k3s`: k3s's /run/k3s/containerd and
#        /var/lib/rancher/k3s/agent/containerd, beside a running containerd.
#   CRI_RUNC=PATH  the runc containerd's shim runs (default: the one the
#        peers build; /usr/sbin/runc for Debian's)
#
# No registry: the pause image (a static pause of a few lines of C) and the
# test image (static busybox) are built here and imported into containerd's
# k8s.io namespace. CNI: Debian's containernetworking-plugins, a bridge
# network written here (10.203.0.0/24, on a bridge only this machine sees).

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=integration/lib.sh
. "$IT_DIR/lib.sh"

need_root
need_hook_bin

CRI_ROUTES=${CRI_ROUTES:-base-spec nri}
# shellcheck source=integration/containerd-lib.sh
. "$IT_DIR/containerd-lib.sh"

# doctor on this route's containerd configuration, laid out as a node has it
# (/etc/containerd/config.toml and the files it names, under doctor --root):
# the base-spec route's spec runs the hook (and a spec without it fails);
# on the NRI route doctor says what it cannot see.
doctor_containerd() {
	local root=$WORK/doctor-$ROUTE
	mkdir -p "$root/etc/containerd" "$root$WORK" "$root$(dirname "$HOOK")"
	cp "$WORK/containerd.toml" "$root/etc/containerd/config.toml"
	cp "$HOOK" "$root$HOOK"
	case $ROUTE in
	base-spec)
		cp "$WORK/base-spec.json" "$root$WORK/base-spec.json"
		run_capture "$HOOK" doctor --root "$root"
		if [[ "$OUT" == *"ok   containerd base_runtime_spec: runtime \"runc\" takes its spec from $WORK/base-spec.json, which runs $HOOK"* ]]; then
			pass "$ROUTE: doctor finds the hook in containerd's base_runtime_spec"
		else
			fail "$ROUTE: doctor finds the hook in containerd's base_runtime_spec" "exit $RC: $OUT"
		fi
		python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); s.pop("hooks"); json.dump(s, open(sys.argv[1], "w"))' "$root$WORK/base-spec.json"
		run_capture "$HOOK" doctor --root "$root"
		if [ "$RC" -ne 0 ] && [[ "$OUT" == *"FAIL containerd base_runtime_spec:"*"run no oci-psp-hook"* ]]; then
			pass "$ROUTE: doctor fails on a base_runtime_spec without the hook"
		else
			fail "$ROUTE: doctor fails on a base_runtime_spec without the hook" "exit $RC: $OUT"
		fi
		;;
	nri)
		run_capture "$HOOK" doctor --root "$root"
		if [[ "$OUT" == *"info containerd: no base_runtime_spec for the default runtime \"runc\"; NRI is enabled"* ]]; then
			pass "$ROUTE: doctor tells the NRI route it cannot see"
		else
			fail "$ROUTE: doctor tells the NRI route it cannot see" "exit $RC: $OUT"
		fi
		;;
	esac
	rm -rf "$root"
}

for ROUTE in $CRI_ROUTES; do
	if [ "$ROUTE" = nri ] && [ -z "$NRI_BIN" ]; then
		fail "nri route" "the hook-injector could not be built"
		continue
	fi
	log "== route $ROUTE"
	if ! start_containerd "$ROUTE"; then
		fail "$ROUTE: containerd starts and imports the images" "see above"
		stop_containerd_cri
		continue
	fi
	sandboxes_seen
	run_cases
	report_checks
	stop_containerd_cri
	doctor_containerd
done

[ -f "$WORK/sandbox-routes" ] && log "pod sandboxes: $(tr '\n' ';' <"$WORK/sandbox-routes")"
summary
