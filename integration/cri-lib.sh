# shellcheck shell=bash
# The CRI matrix shared by cri.sh (containerd 2.x's CRI plugin) and crio.sh
# (CRI-O): the hook's configuration and hooks.d file, the pause and test
# images, the CNI network, pods and containers as kubelet sends them through
# crictl, the cases and their expectations, the decision records. Source it
# after lib.sh, with CAPTURE set (empty: enforce). The runtime's script
# defines, before it runs a case:
#
#   RUNTIME       its name, for captured files (<route>/<RUNTIME>-<case>-*.json)
#   ROUTE         how the hook reaches it this round (a directory of captures)
#   CRICTL        the crictl command (array) talking to its socket
#   CRI_RUNP_ARGS more arguments of `crictl runp` (array; e.g. --runtime)
#   bundle_of ID  the bundle directory of container ID
#   in_runtime_ns CMD...  run CMD where the runtime's bundles are (its mount
#                 namespace)
#
# and may set HOOK_EXTRA_BINDINGS (more entries of the configuration's
# `bindings`, YAML lines ending in a newline), SANDBOX_PROBE_POD_EDIT (the pod of the sandbox probe),
# HOSTPORT_EXPECT and CHECK_SANDBOXES=no (compliant
# sandboxes' files are not required to pass `check --cri`).

for p in ip iptables; do command -v $p >/dev/null || apt-get install -y -qq iproute2 iptables >/dev/null 2>&1; done
[ -x /usr/lib/cni/bridge ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containernetworking-plugins >/dev/null
KUBELET=/var/lib/kubelet
PODS_CREATED=()
# Root without CAP_SYS_RESOURCE (this VM) cannot lower an oom_score_adj
# below its own, which runtimes ask for their pod sandboxes (-998), nor set
# rlimits on a user-namespaced process from outside.
RESTRICT_OOM=false
grep -q '^CapEff:.*' /proc/self/status &&
	[ $((0x$(awk '/^CapEff/{print $2}' /proc/self/status) >> 24 & 1)) = 0 ] && RESTRICT_OOM=true

# --- the hook's configuration ---------------------------------------------
HOOK_DIR=$WORK/hook
mkdir -p "$HOOK_DIR/policies.d"
# shellcheck disable=SC2153 # HOOK_BIN: lib.sh's
cp "$HOOK_BIN" "$HOOK_DIR/oci-psp-hook"
HOOK=$HOOK_DIR/oci-psp-hook
cp "$REPO/examples/restricted-psp.yaml" "$HOOK_DIR/policies.d/restricted.yaml"
MODE=enforce
[ -n "$CAPTURE" ] && MODE=audit
cat >"$HOOK_DIR/config.yaml" <<EOF
apiVersion: oci-psp-hook/v1alpha1
kind: HookConfiguration
policyDirectory: $HOOK_DIR/policies.d
mode: $MODE
defaultPolicies:
  - builtin:baseline
bindings:
  - namespaces: [kube-system]
    policies: [builtin:privileged]
  - namespaces: [team-restricted]
    policies: [restricted]
  - namespaces: [team-pss]
    policies: [builtin:restricted]
  - namespaces: [team-baseline]
    policies: [builtin:baseline]
  - namespaces: [team-exempt]
    policies: [builtin:restricted]
${HOOK_EXTRA_BINDINGS:-}exemptions:
  - namespaces: [team-exempt]
    containerNames: [app]
    images: ["localhost/oci-psp-hook/busybox:*"]
EOF
chmod -R go-w "$HOOK_DIR"
if ! "$HOOK" lint --config "$HOOK_DIR/config.yaml" >"$WORK/lint.out" 2>&1; then
	fail "lint the test configuration" "$(cat "$WORK/lint.out")"
fi
HOOK_ARGS=(--config "$HOOK_DIR/config.yaml")

# The decision records go to a datagram socket read here (this machine has
# no syslog); a hook entry's env is the hook's whole environment.
LOG_SOCK=$WORK/log.sock
HOOK_ENV=("OCI_PSP_HOOK_LOG_SOCKET=$LOG_SOCK")

# hooks.d (NRI's hook-injector, CRI-O's hooks_dir): the project's file, the
# binary's path, the configuration and the environment adjusted.
mkdir -p "$WORK/hooks.d"
python3 - "$REPO/hooks.d/oci-psp-hook.json" "$WORK/hooks.d/oci-psp-hook.json" "$HOOK" "${HOOK_ENV[0]}" "${HOOK_ARGS[@]}" <<'PY'
import json, sys
src, dst, hook, env, *args = sys.argv[1:]
h = json.load(open(src))
h["hook"]["path"] = hook
h["hook"]["args"] = h["hook"]["args"] + args
h["hook"]["env"] = [env]
json.dump(h, open(dst, "w"), indent=2)
PY

# --- images ---------------------------------------------------------------
IMG_DIR=$WORK/images
mkdir -p "$IMG_DIR/pause-root/bin" "$IMG_DIR/busybox-root"
cat >"$IMG_DIR/pause.c" <<'EOF'
/* A pod sandbox's pause process, as Kubernetes' build/pause/linux/pause.c. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static void down(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, NULL, WNOHANG) > 0) ; }
int main(void) {
	struct sigaction a = {0}, r = {0};
	a.sa_handler = down; sigaction(SIGINT, &a, NULL); sigaction(SIGTERM, &a, NULL);
	r.sa_handler = reap; r.sa_flags = SA_NOCLDSTOP; sigaction(SIGCHLD, &r, NULL);
	for (;;) pause();
}
EOF
gcc -static -Os -o "$IMG_DIR/pause-root/pause" "$IMG_DIR/pause.c" || {
	fail "build the pause image" "gcc -static failed"
	summary
	exit 1
}
make_rootfs "$IMG_DIR/busybox-root" || exit 1
PAUSE_IMAGE=localhost/oci-psp-hook/pause:3.10
TEST_IMAGE=localhost/oci-psp-hook/busybox:test
# The test image declaring `VOLUME /data` (an image-defined volume).
VOLUME_IMAGE=localhost/oci-psp-hook/busybox:volume

# image_archive DIR NAME OUT ENTRYPOINT_JSON USER [VOLUMES_JSON]: an OCI
# image layout tar.
image_archive() {
	python3 - "$@" <<'PY'
import hashlib, io, json, os, sys, tarfile
src, name, out, entrypoint, user = sys.argv[1:6]
volumes = json.loads(sys.argv[6]) if len(sys.argv) > 6 else None
def root_owned(i):
    i.uid = i.gid = 0; i.uname = i.gname = "root"; i.mtime = 0; return i
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
    for e in sorted(os.listdir(src)):
        t.add(os.path.join(src, e), arcname=e, filter=root_owned)
layer = buf.getvalue()
def digest(b): return "sha256:" + hashlib.sha256(b).hexdigest()
cfg = {"architecture": "amd64", "os": "linux",
       "config": {"Env": ["PATH=/bin:/usr/bin"], "Entrypoint": json.loads(entrypoint), "WorkingDir": "/"},
       "rootfs": {"type": "layers", "diff_ids": [digest(layer)]}}
if user:
    cfg["config"]["User"] = user
if volumes:
    cfg["config"]["Volumes"] = volumes
cfgb = json.dumps(cfg, sort_keys=True).encode()
man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(cfgb), "size": len(cfgb)},
       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(layer), "size": len(layer)}]}
manb = json.dumps(man, sort_keys=True).encode()
index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
         "digest": digest(manb), "size": len(manb), "platform": {"architecture": "amd64", "os": "linux"},
         "annotations": {"org.opencontainers.image.ref.name": name.rsplit(":", 1)[1],
                         "io.containerd.image.name": name}}]}
with tarfile.open(out, "w") as t:
    def add(path, data):
        i = tarfile.TarInfo(path); i.size = len(data); i.mode = 0o644; t.addfile(i, io.BytesIO(data))
    add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    add("index.json", json.dumps(index).encode())
    for b in (layer, cfgb, manb):
        add("blobs/sha256/" + digest(b)[7:], b)
PY
}
image_archive "$IMG_DIR/pause-root" "$PAUSE_IMAGE" "$IMG_DIR/pause.tar" '["/pause"]' "65535:65535" &&
	image_archive "$IMG_DIR/busybox-root" "$TEST_IMAGE" "$IMG_DIR/busybox.tar" '[]' "" &&
	image_archive "$IMG_DIR/busybox-root" "$VOLUME_IMAGE" "$IMG_DIR/busybox-volume.tar" '[]' "" '{"/data": {}}' || exit 1
rmdir "$IMG_DIR/pause-root/bin"

# --- CNI --------------------------------------------------------------------
CNI_CONF=$WORK/cni
mkdir -p "$CNI_CONF"
cat >"$CNI_CONF/10-oci-psp-hook.conflist" <<'EOF'
{
  "cniVersion": "0.4.0",
  "name": "oci-psp-hook-test",
  "plugins": [
    {"type": "bridge", "bridge": "psphook0", "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.203.0.0/24"}]],
              "dataDir": "/run/oci-psp-hook-cni"}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOF
on_exit "ip link del psphook0; rm -rf /run/oci-psp-hook-cni"

on_exit "for p in \${PODS_CREATED[@]}; do rm -rf '$KUBELET/pods/'\$p; done; rm -rf /var/log/pods/*_cri-sh-*"

# wait_for_cri NAME PID LOG: wait (at most 30 s) until the runtime PID
# answers crictl; else show the end of its LOG and fail.
wait_for_cri() {
	local i
	for ((i = 0; i < 60; i++)); do
		"${CRICTL[@]}" info >/dev/null 2>&1 && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.5
	done
	"${CRICTL[@]}" info >/dev/null 2>&1 && return 0
	log "$1 did not come up; its log:"
	tail -n 30 "$3"
	return 1
}

# stop_runtime PID: remove every pod and container through CRI, then stop
# the runtime PID (TERM, KILL after 10 s).
stop_runtime() {
	local i pod
	"${CRICTL[@]}" rm -af >/dev/null 2>&1
	for pod in $("${CRICTL[@]}" pods -q 2>/dev/null); do
		"${CRICTL[@]}" stopp "$pod" >/dev/null 2>&1
	done
	"${CRICTL[@]}" rmp -af >/dev/null 2>&1
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null
	for ((i = 0; i < 20; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.5; done
	kill -9 "$1" 2>/dev/null
	return 0
}

# --- pods and containers, as kubelet sends them ------------------------------
# gen_configs NAME NAMESPACE POD_EDIT CTR_EDIT: write $WORK/cases/NAME/{pod,ctr}.json.
# The edits are python statements on `pod` and `ctr` (the CRI request
# bodies), run after the defaults: a restricted-compliant pod in NAMESPACE
# with configMap, secret, projected, emptyDir and downwardAPI volumes laid
# out in kubelet's directories.
gen_configs() {
	local name=$1 ns=$2 uid other_uid
	uid=$(python3 -c 'import uuid; print(uuid.uuid4())')
	other_uid=$(python3 -c 'import uuid; print(uuid.uuid4())')
	PODS_CREATED+=("$uid" "$other_uid")
	mkdir -p "$WORK/cases/$name"
	python3 - "$WORK/cases/$name" "$name" "$ns" "$uid" "$KUBELET" "$TEST_IMAGE" "$3" "$4" "$other_uid" <<'PY'
import json, os, sys, secrets
out, name, ns, uid, kubelet, image, pod_edit, ctr_edit, other_uid = sys.argv[1:10]
pod_name = "cri-sh-" + name
poddir = f"{kubelet}/pods/{uid}"
vols = {
    "kubernetes.io~configmap": "cfg",
    "kubernetes.io~secret": "tok",
    "kubernetes.io~projected": "kube-api-access-x7k2p",
    "kubernetes.io~empty-dir": "scratch",
    "kubernetes.io~downward-api": "podinfo",
}
def open_or_empty(path):
    try:
        return open(path).read()
    except OSError:
        return ""
def mkvol(plugin, vname):
    d = f"{poddir}/volumes/{plugin}/{vname}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/data", "w") as f:
        f.write("x\n")
    return d
# csi(PV, DRIVER): a CSI persistent volume as kubelet's CSI plugin lays it
# out: the mount directory and vol_data.json beside it, naming the driver.
def csi(pv, driver):
    d = mkvol("kubernetes.io~csi", pv + "/mount")
    with open(f"{poddir}/volumes/kubernetes.io~csi/{pv}/vol_data.json", "w") as f:
        json.dump({"attachmentID": "csi-" + secrets.token_hex(32), "driverName": driver,
                   "nodeName": "node-1", "specVolID": pv, "volumeHandle": "vol-0a1b2c3d4e5f67890",
                   "volumeLifecycleMode": "Persistent"}, f)
    return d
# subpath(VOLUME, INDEX, FILE): kubelet's bind target of a subPath mount of
# container app, volume-subpaths/<volume>/<container>/<index> (a file when
# the subPath is one).
def subpath(volume, index, file=False):
    p = f"{poddir}/volume-subpaths/{volume}/app/{index}"
    if file:
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write("x\n")
    else:
        os.makedirs(p, exist_ok=True)
    return p
os.makedirs(poddir, exist_ok=True)
with open(f"{poddir}/etc-hosts", "w") as f:
    f.write("127.0.0.1 localhost\n")
term = f"{poddir}/containers/app/{secrets.token_hex(4)}"
os.makedirs(os.path.dirname(term), exist_ok=True)
open(term, "w").close()
logdir = f"/var/log/pods/{ns}_{pod_name}_{uid}"
# kubelet makes the container's log directory (CRI-O's conmon does not).
os.makedirs(f"{logdir}/app", exist_ok=True)

labels = {"io.kubernetes.pod.name": pod_name, "io.kubernetes.pod.namespace": ns,
          "io.kubernetes.pod.uid": uid, "app": name}
pod = {
    "metadata": {"name": pod_name, "uid": uid, "namespace": ns, "attempt": 0},
    "hostname": pod_name,
    "log_directory": logdir,
    "dns_config": {"servers": ["10.96.0.10"], "searches": [f"{ns}.svc.cluster.local", "svc.cluster.local", "cluster.local"], "options": ["ndots:5"]},
    "labels": labels,
    "annotations": {"kubernetes.io/config.seen": "2026-12-01T00:00:00.000000000Z",
                    "kubernetes.io/config.source": "api"},
    "linux": {
        "cgroup_parent": f"/kubepods/besteffort/pod{uid}",
        "security_context": {
            "namespace_options": {"network": 0, "pid": 1, "ipc": 0},
            "run_as_user": {"value": 32767},
            "run_as_group": {"value": 32767},
            "supplemental_groups": [32767],
            "seccomp": {"profile_type": 0},
        },
        "sysctls": {},
    },
}
masked = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
          "/sys/firmware", "/sys/devices/virtual/powercap"]
readonly = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
mounts = [
    {"container_path": "/etc/config", "host_path": mkvol("kubernetes.io~configmap", "cfg"), "readonly": True},
    {"container_path": "/etc/secret", "host_path": mkvol("kubernetes.io~secret", "tok"), "readonly": True},
    {"container_path": "/var/run/secrets/kubernetes.io/serviceaccount", "host_path": mkvol("kubernetes.io~projected", "kube-api-access-x7k2p"), "readonly": True},
    {"container_path": "/scratch", "host_path": mkvol("kubernetes.io~empty-dir", "scratch")},
    {"container_path": "/etc/podinfo", "host_path": mkvol("kubernetes.io~downward-api", "podinfo"), "readonly": True},
    {"container_path": "/etc/hosts", "host_path": f"{poddir}/etc-hosts"},
    {"container_path": "/dev/termination-log", "host_path": term},
]
ctr = {
    "metadata": {"name": "app", "attempt": 0},
    "image": {"image": image, "user_specified_image": image},
    "command": ["/bin/sh", "-c", "echo CONTAINER-RAN; id; exec sleep 3600"],
    "envs": [{"key": "KUBERNETES_SERVICE_HOST", "value": "10.96.0.1"}],
    "mounts": mounts,
    "labels": {"io.kubernetes.container.name": "app", "io.kubernetes.pod.name": pod_name,
               "io.kubernetes.pod.namespace": ns, "io.kubernetes.pod.uid": uid},
    "annotations": {"io.kubernetes.container.hash": "5d5e8d8b", "io.kubernetes.container.restartCount": "0",
                    "io.kubernetes.container.terminationMessagePath": "/dev/termination-log",
                    "io.kubernetes.container.terminationMessagePolicy": "File",
                    "io.kubernetes.pod.terminationGracePeriod": "30"},
    "log_path": "app/0.log",
    "linux": {
        "resources": {"cpu_period": 100000, "cpu_shares": 2, "oom_score_adj": 1000,
                      "hugepage_limits": [{"page_size": "2MB", "limit": 0}]},
        "security_context": {
            "capabilities": {"drop_capabilities": ["ALL"]},
            "namespace_options": {"network": 0, "pid": 1, "ipc": 0},
            "run_as_user": {"value": 32767},
            "run_as_group": {"value": 32767},
            "supplemental_groups": [32767],
            "no_new_privs": True,
            "masked_paths": masked,
            "readonly_paths": readonly,
            "seccomp": {"profile_type": 0},
        },
    },
}
# kubelet sends hugepage limits only where the hugetlb controller is (CRI-O
# passes them to runc, which fails without it; containerd drops them).
if not (os.path.isdir("/sys/fs/cgroup/hugetlb") or "hugetlb" in open_or_empty("/sys/fs/cgroup/cgroup.controllers")):
    ctr["linux"]["resources"].pop("hugepage_limits")
USERNS = {"mode": 0, "uids": [{"host_id": 1000000, "container_id": 0, "length": 65536}],
          "gids": [{"host_id": 1000000, "container_id": 0, "length": 65536}]}
exec(pod_edit)
exec(ctr_edit)
json.dump(pod, open(f"{out}/pod.json", "w"), indent=1)
json.dump(ctr, open(f"{out}/ctr.json", "w"), indent=1)
PY
}

# The last case's ids and outputs.
POD_ID=""
CTR_ID=""

# run_pod NAME: crictl runp; RC/OUT/ERR; POD_ID on success.
run_pod() {
	run_capture "${CRICTL[@]}" runp "${CRI_RUNP_ARGS[@]}" "$WORK/cases/$1/pod.json"
	POD_ID=""
	[ "$RC" = 0 ] && POD_ID=$(printf '%s' "$OUT" | tail -n1)
	capture_bundle "$1-sandbox" "$POD_ID"
}

# run_ctr NAME: crictl create + start in POD_ID; RC/OUT/ERR of the failing step.
run_ctr() {
	CTR_ID=""
	run_capture "${CRICTL[@]}" create "$POD_ID" "$WORK/cases/$1/ctr.json" "$WORK/cases/$1/pod.json"
	[ "$RC" = 0 ] || return
	CTR_ID=$(printf '%s' "$OUT" | tail -n1)
	run_capture "${CRICTL[@]}" start "$CTR_ID"
	[ "$RC" = 0 ] || return
	capture_bundle "$1-app" "$CTR_ID"
	local i
	for ((i = 0; i < 20; i++)); do
		"${CRICTL[@]}" logs "$CTR_ID" 2>/dev/null | grep -q "$RAN_MARKER" && break
		sleep 0.25
	done
	OUT=$("${CRICTL[@]}" logs "$CTR_ID" 2>&1)
}

# capture_bundle NAME ID: with CRI_CAPTURE, copy the bundle's config.json;
# always, judge it offline (check --cri) into $WORK/checks/NAME.json, with
# the node's hook flags and OCI_PSP_HOOK_* settings and no other (its hook
# entry is accepted as the node's only with those; run.sh's
# OCI_PSP_HOOK_BIN is not one of the node's).
capture_bundle() {
	local name=$1 id=$2 bundle
	[ -n "$id" ] || return 0
	bundle=$(bundle_of "$id")
	in_runtime_ns test -f "$bundle/config.json" || return 0
	mkdir -p "$WORK/checks"
	in_runtime_ns env -u OCI_PSP_HOOK_BIN "${HOOK_ENV[@]}" "$HOOK" check --cri --id "$id" "${HOOK_ARGS[@]}" --output json "$bundle" >"$WORK/checks/$name.json" 2>&1
	if [ -n "$CAPTURE" ]; then
		mkdir -p "$CAPTURE/$ROUTE"
		in_runtime_ns cat "$bundle/config.json" >"$CAPTURE/$ROUTE/$RUNTIME-$name.json"
		printf '%s\t%s\n' "$ROUTE/$RUNTIME-$name.json" "$id" >>"$CAPTURE/ids.tsv"
	fi
}

cleanup_pod() {
	[ -n "$POD_ID" ] || return 0
	# kubelet's grace period is not waited for: the test's sh ignores SIGTERM.
	[ -n "$CTR_ID" ] && "${CRICTL[@]}" stop --timeout 0 "$CTR_ID" >/dev/null 2>&1
	"${CRICTL[@]}" stopp "$POD_ID" >/dev/null 2>&1
	"${CRICTL[@]}" rmp -f "$POD_ID" >/dev/null 2>&1
}

# crictl's error, without its own log prefixes: the runtime's message.
err_excerpt() {
	printf '%s' "$ERR" | grep -v 'level=warning' | sed -e 's/.*desc = //' | tr '\n' ' ' | cut -c1-700
}

expect_started() { # NAME WHAT
	if [ "$RC" -ne 0 ]; then
		fail "$1" "expected $2 to start, exit $RC: $(err_excerpt)"
	elif [ "$2" = "the container" ] && [[ "$OUT" != *"$RAN_MARKER"* ]]; then
		fail "$1" "started but its log lacks $RAN_MARKER: $OUT"
	else
		pass "$1"
	fi
}

# expect_refused NAME FIELD: the last crictl call failed with the hook's
# denial naming FIELD in crictl's error.
expect_refused() {
	if [ "$RC" -eq 0 ]; then
		fail "$1" "expected a denial naming $2, but it started"
	elif [[ "$ERR" != *"oci-psp-hook: denied by policy"* ]]; then
		fail "$1" "failed (exit $RC) without the hook's denial in crictl's error: $(err_excerpt)"
	elif [[ "$ERR" != *"$2:"* ]]; then
		fail "$1" "denied, but the reason does not name $2: $(err_excerpt)"
	else
		pass "$1"
	fi
}

# case_app NAME NAMESPACE EXPECT POD_EDIT CTR_EDIT: the sandbox must start
# (the base spec route does not judge sandboxes; NRI neither), then the app
# container is started or refused: EXPECT is `allow`, `exempt` (started, its
# record's verdict `exempt`) or `deny:FIELD`.
case_app() {
	local name=$1 ns=$2 expect=$3
	gen_configs "$name" "$ns" "$4" "$5"
	run_pod "$name"
	if [ "$RC" -ne 0 ]; then
		fail "$ROUTE $name: sandbox" "runp failed, exit $RC: $(err_excerpt)"
		return
	fi
	run_ctr "$name"
	case $expect in
	allow) expect_started "$ROUTE $name ($ns): the container starts" "the container" ;;
	exempt)
		expect_started "$ROUTE $name ($ns): the exempt container starts" "the container"
		expect_record "$ROUTE $name: the record says exempt" "$CTR_ID" "$ns" "cri-sh-$name" app exempt
		;;
	deny:*) expect_refused "$ROUTE $name ($ns): refused, crictl shows the hook's reason" "${expect#deny:}" ;;
	esac
	case $name in
	restricted-ok | root)
		local v=allow
		[ "$expect" = allow ] || v=deny
		expect_record "$ROUTE $name: the decision record names $ns/cri-sh-$name/app" "$CTR_ID" "$ns" "cri-sh-$name" app "$v"
		;;
	esac
	cleanup_pod
}

RESTRICTED_NS=team-restricted

run_cases() {
	case_app restricted-ok $RESTRICTED_NS allow "" ""
	case_app pss-restricted-ok team-pss allow "" ""
	case_app root $RESTRICTED_NS deny:runAsUser "" \
		"ctr['linux']['security_context']['run_as_user'] = {'value': 0}"
	case_app root-baseline team-baseline allow "" \
		"ctr['linux']['security_context']['run_as_user'] = {'value': 0}"
	# kubelet marks the sandbox privileged when a container is (containerd
	# refuses a privileged container in an unprivileged sandbox).
	case_app privileged $RESTRICTED_NS deny:privileged "pod['linux']['security_context']['privileged'] = True" \
		"ctr['linux']['security_context']['privileged'] = True; ctr['linux']['security_context']['no_new_privs'] = False; ctr['linux']['security_context'].pop('masked_paths'); ctr['linux']['security_context'].pop('readonly_paths')"
	case_app hostpath-etc $RESTRICTED_NS deny:volumes "" \
		"ctr['mounts'].append({'container_path': '/host-etc', 'host_path': '/etc', 'readonly': True})"
	case_app hostpath-etc-baseline team-baseline deny:volumes "" \
		"ctr['mounts'].append({'container_path': '/host-etc', 'host_path': '/etc', 'readonly': True})"
	# kubelet's volumes beyond the compliant pod's, each in its directory
	# shape (ordinary directories: the test mounts no NFS, CSI or flex
	# driver). restricted admits none of them; the unit tests move the
	# captures to policies that do.
	case_app hostpath-varlog $RESTRICTED_NS deny:volumes "" \
		"ctr['mounts'].append({'container_path': '/var/log', 'host_path': '/var/log', 'readonly': True})"
	# A persistent volume of the in-tree nfs plugin, as kubelet mounts it.
	case_app nfs-volume $RESTRICTED_NS deny:volumes "" \
		"ctr['mounts'].append({'container_path': '/data', 'host_path': mkvol('kubernetes.io~nfs', 'pv-reports-nfs')})"
	# A flexVolume of driver example.com/lvm.
	case_app flexvolume $RESTRICTED_NS deny:volumes "" \
		"ctr['mounts'].append({'container_path': '/var/lib/ledger', 'host_path': mkvol('example.com~lvm', 'ledger')})"
	# A CSI persistent volume, its driver in vol_data.json.
	case_app csi-volume $RESTRICTED_NS deny:volumes "" \
		"ctr['mounts'].append({'container_path': '/var/cache/app', 'host_path': csi('pv-cache-csi', 'ebs.csi.aws.com')})"
	# subPath mounts: a file of a configMap volume, a directory of a CSI one.
	case_app subpath $RESTRICTED_NS deny:volumes "" \
		"mkvol('kubernetes.io~configmap', 'cache-config'); csi('pv-cache-sub', 'ebs.csi.aws.com'); ctr['mounts'] += [{'container_path': '/etc/cache/cache.conf', 'host_path': subpath('cache-config', 0, True), 'readonly': True}, {'container_path': '/var/cache/app', 'host_path': subpath('pv-cache-sub', 1)}]"
	# Another pod's secret volume is a host path, not a secret.
	case_app another-pods-secret $RESTRICTED_NS deny:volumes "" \
		"d = f'{kubelet}/pods/{other_uid}/volumes/kubernetes.io~secret/db-password'; os.makedirs(d, exist_ok=True); ctr['mounts'].append({'container_path': '/stolen', 'host_path': d, 'readonly': True})"
	# An image declaring VOLUME /data: containerd binds a directory of its
	# own (CRI-O, image_volumes = mkdir, makes a directory in the rootfs).
	case_app image-defined-volume $RESTRICTED_NS allow "" \
		"ctr['image'] = {'image': '$VOLUME_IMAGE', 'user_specified_image': '$VOLUME_IMAGE'}"
	case_app cap-add $RESTRICTED_NS deny:requiredDropCapabilities "" \
		"ctr['linux']['security_context']['capabilities']['add_capabilities'] = ['NET_ADMIN']"
	case_app seccomp-unconfined team-pss deny:seccomp "pod['linux']['security_context']['seccomp'] = {'profile_type': 1}" \
		"ctr['linux']['security_context']['seccomp'] = {'profile_type': 1}"
	case_app hostnetwork $RESTRICTED_NS deny:hostNetwork \
		"pod['linux']['security_context']['namespace_options']['network'] = 2; pod.pop('hostname')" \
		"ctr['linux']['security_context']['namespace_options']['network'] = 2"
	case_app hostpid $RESTRICTED_NS deny:hostPID \
		"pod['linux']['security_context']['namespace_options']['pid'] = 2" \
		"ctr['linux']['security_context']['namespace_options']['pid'] = 2"
	case_app hostipc $RESTRICTED_NS deny:hostIPC \
		"pod['linux']['security_context']['namespace_options']['ipc'] = 2" \
		"ctr['linux']['security_context']['namespace_options']['ipc'] = 2"
	case_app share-pid $RESTRICTED_NS allow \
		"pod['linux']['security_context']['namespace_options']['pid'] = 0" \
		"ctr['linux']['security_context']['namespace_options']['pid'] = 0"
	# Pod sysctls are set in the sandbox only (its namespaces are shared):
	# a route that does not judge sandboxes cannot see them (README).
	if [ "$SANDBOXES_SEEN" = yes ]; then
		case_app unsafe-sysctl team-baseline deny:sysctl "pod['linux']['sysctls'] = {'kernel.msgmax': '65536'}" ""
	else
		case_app unsafe-sysctl team-baseline allow "pod['linux']['sysctls'] = {'kernel.msgmax': '65536'}" ""
		log "note: $ROUTE: the pod's unsafe sysctl kernel.msgmax was not refused: it is set in the sandbox only"
	fi
	# A user-namespaced pod (hostUsers: false): root inside, mapped to an
	# unprivileged host range; the restricted profile relaxes runAsNonRoot.
	# On the base-spec route the spec carries `ctr oci spec`'s RLIMIT_NOFILE
	# 1024 (CRI's own default spec has no rlimits), which runc sets on the
	# user-namespaced process from outside: that needs CAP_SYS_RESOURCE,
	# which root lacks on some machines (this VM).
	if [ "$ROUTE" = base-spec ] && [ "$RESTRICT_OOM" = true ]; then
		log "skip - $ROUTE userns-root: runc cannot set the base spec's rlimits on a user-namespaced process without CAP_SYS_RESOURCE"
	else
	case_app userns-root team-pss allow \
		"pod['linux']['security_context']['namespace_options']['userns_options'] = USERNS" \
		"ctr['linux']['security_context']['namespace_options']['userns_options'] = USERNS; ctr['linux']['security_context']['run_as_user'] = {'value': 0}; ctr['linux']['security_context']['run_as_group'] = {'value': 0}"
	fi
	# An image volume (CRI `image` mount, Kubernetes' ImageVolume).
	# containerd binds it from its image-volumes directory, CRI-O mounts an
	# overlay of the image over an empty directory of its own: the volume
	# type image either way, which builtin:restricted admits and a PSP
	# without `image` in its volumes does not.
	case_app image-volume team-pss allow "" \
		"ctr['mounts'].append({'container_path': '/image', 'image': {'image': '$TEST_IMAGE', 'user_specified_image': '$TEST_IMAGE'}, 'readonly': True})"
	case_app image-volume-psp $RESTRICTED_NS deny:volumes "" \
		"ctr['mounts'].append({'container_path': '/image', 'image': {'image': '$TEST_IMAGE', 'user_specified_image': '$TEST_IMAGE'}, 'readonly': True})"
	# A host port: containerd hands it to CNI (portmap) and writes it into no
	# config.json (kubelet's io.kubernetes.container.ports annotation is not
	# among the container annotations containerd passes by default).
	case_app hostport $RESTRICTED_NS "${HOSTPORT_EXPECT:-allow}" \
		"pod['port_mappings'] = [{'protocol': 0, 'container_port': 8080, 'host_port': 18080}]" \
		"ctr['annotations']['io.kubernetes.container.ports'] = json.dumps([{'name': 'http', 'hostPort': 18080, 'containerPort': 8080, 'protocol': 'TCP'}, {'name': 'metrics', 'containerPort': 9090, 'protocol': 'TCP'}])"
	# Exemptions (team-exempt: builtin:restricted, but its `app` containers
	# of the test image are exempt): root runs there; the same container
	# named otherwise does not, nor a pod of another namespace whose
	# annotations and labels claim team-exempt.
	case_app exempt-root team-exempt exempt "" \
		"ctr['linux']['security_context']['run_as_user'] = {'value': 0}"
	case_app exempt-other-name team-exempt deny:runAsUser "" \
		"ctr['linux']['security_context']['run_as_user'] = {'value': 0}; ctr['metadata']['name'] = 'debugger'; ctr['labels']['io.kubernetes.container.name'] = 'debugger'"
	case_app exempt-forged $RESTRICTED_NS deny:runAsUser \
		"pod['annotations'].update({'io.kubernetes.cri.sandbox-namespace': 'team-exempt', 'io.kubernetes.pod.namespace': 'team-exempt'}); pod['labels']['io.kubernetes.pod.namespace'] = 'team-exempt'" \
		"ctr['linux']['security_context']['run_as_user'] = {'value': 0}; ctr['annotations'].update({'io.kubernetes.cri.sandbox-namespace': 'team-exempt', 'io.kubernetes.pod.namespace': 'team-exempt'}); ctr['labels']['io.kubernetes.pod.namespace'] = 'team-exempt'"
	# Identity cannot be forged through CRI: a pod in team-restricted whose
	# annotations and labels name team-baseline (and claim a sandbox) in
	# containerd's, kubelet's and CRI-O's keys is still judged as
	# team-restricted (CRI-O copies the pod's annotations into config.json).
	case_app forged-namespace $RESTRICTED_NS deny:runAsUser \
		"pod['annotations'].update({'io.kubernetes.cri.sandbox-namespace': 'team-baseline', 'io.kubernetes.pod.namespace': 'team-baseline', 'io.kubernetes.cri.container-type': 'sandbox', 'io.kubernetes.cri-o.ContainerType': 'sandbox', 'io.kubernetes.cri-o.Namespace': 'team-baseline', 'io.kubernetes.cri-o.Name': 'k8s_app_cri-sh-forged-namespace_team-baseline_' + uid + '_0', 'io.kubernetes.cri-o.SandboxName': 'k8s_cri-sh-forged-namespace_team-baseline_' + uid + '_0'}); pod['labels']['io.kubernetes.pod.namespace'] = 'team-baseline'" \
		"ctr['linux']['security_context']['run_as_user'] = {'value': 0}; ctr['annotations'].update({'io.kubernetes.cri.sandbox-namespace': 'team-baseline', 'io.kubernetes.cri.container-type': 'sandbox', 'io.kubernetes.pod.namespace': 'team-baseline'}); ctr['labels']['io.kubernetes.pod.namespace'] = 'team-baseline'"
}

# sandboxes_seen ROUTE: does the route's hook run for pod sandboxes? A pod
# whose sandbox the hook would refuse (hostNetwork in team-restricted) is
# started: it starts when the route does not hook sandboxes.
SANDBOXES_SEEN=no
sandboxes_seen() {
	SANDBOXES_SEEN=no
	gen_configs sandbox-probe $RESTRICTED_NS \
		"${SANDBOX_PROBE_POD_EDIT:-pod['linux']['security_context']['namespace_options']['network'] = 2; pod.pop('hostname')}" ""
	run_pod sandbox-probe
	if [ "$RC" -eq 0 ]; then
		log "note: $ROUTE: the hook does not see pod sandboxes (a hostNetwork sandbox in $RESTRICTED_NS started)"
		echo "$ROUTE: sandboxes not seen" >>"$WORK/sandbox-routes"
		SANDBOXES_SEEN=no
	elif [[ "$ERR" == *"oci-psp-hook: denied"* ]]; then
		log "note: $ROUTE: the hook sees pod sandboxes (a hostNetwork sandbox in $RESTRICTED_NS was refused)"
		echo "$ROUTE: sandboxes seen" >>"$WORK/sandbox-routes"
		SANDBOXES_SEEN=yes
	else
		fail "$ROUTE: sandbox probe" "runp failed without the hook's denial: $(err_excerpt)"
	fi
	cleanup_pod
}

# The offline verdicts of every bundle that started: a compliant case judged
# allowed by `check --cri` too (no false denial on the real files).
report_checks() {
	local f name verdict
	for f in "$WORK"/checks/*.json; do
		[ -e "$f" ] || continue
		name=$(basename "$f" .json)
		verdict=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("verdict"), "; ".join(v["policy"]+": "+v["field"]+": "+v["message"] for v in d.get("violations",[]))[:600], "| unverified:", "; ".join(str(u) for u in d.get("unverified",[]))[:400])' "$f" 2>/dev/null || head -c 300 "$f")
		log "  check --cri $ROUTE $name: $verdict"
		case $name in
		*-sandbox) [ "${CHECK_SANDBOXES:-yes}" = yes ] || continue ;;
		esac
		case $name in
		restricted-ok-* | pss-restricted-ok-* | root-baseline-* | share-pid-* | image-defined-volume-*)
			if [[ $verdict == allow* ]]; then
				pass "$ROUTE check --cri on the real bundle of $name: allowed"
			else
				fail "$ROUTE check --cri on the real bundle of $name" "$verdict"
			fi
			;;
		esac
	done
	rm -rf "$WORK/checks"
}

python3 - "$LOG_SOCK" "$WORK/decisions.log" </dev/null >/dev/null 2>&1 <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
with open(sys.argv[2], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(1 << 24).replace(b"\n", b" ") + b"\n")
PY
LOG_PID=$!
on_exit "kill $LOG_PID"

# expect_record NAME ID NAMESPACE POD CONTAINER VERDICT: the hook's decision
# record for container ID names the pod as the runtime wrote it.
expect_record() {
	local name=$1
	if python3 - "$WORK/decisions.log" "$2" "$3" "$4" "$5" "$6" <<'PY'; then
import json, sys
log, cid, ns, pod, ctr, verdict = sys.argv[1:7]
for line in open(log, errors="replace"):
    i = line.find("decision {")
    if i < 0:
        continue
    d = json.loads(line[i + len("decision "):])
    if cid and d.get("id", d.get("container_id")) != cid and cid not in line:
        continue
    text = json.dumps(d)
    if all(x in text for x in (ns, pod, ctr)) and d.get("verdict") == verdict:
        sys.exit(0)
sys.exit(1)
PY
		pass "$name"
	else
		fail "$name" "no $6 record naming $3/$4/$5 (id $2) in $(wc -l <"$WORK/decisions.log" 2>/dev/null) records: $(tail -c 600 "$WORK/decisions.log" 2>/dev/null)"
	fi
}

