#!/usr/bin/env python3
"""Write the seed corpora of fuzz/corpus/ from the repository's fixtures,
examples and test snippets. Run from the repository root."""
import hashlib, json, os, shutil, glob

root = os.getcwd()
corpus = os.path.join(root, "fuzz", "corpus")

def put(target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

# --- config.json: real fixtures (config_view, decision) -------------------
configs = sorted(glob.glob("tests/fixtures/ctr-*.json") + glob.glob("tests/fixtures/runc-*.json"))
# config.json files containerd 2.x and CRI-O wrote (tests/fixtures/cri-captured)
configs += ["tests/fixtures/cri-captured/base-spec/containerd-" + n for n in [
    "restricted-ok-app.json", "restricted-ok-sandbox.json", "hostnetwork-app.json",
    "hostnetwork-sandbox.json", "hostpath-varlog-app.json", "nfs-volume-app.json",
    "flexvolume-app.json", "csi-volume-app.json", "subpath-app.json",
    "image-defined-volume-app.json", "image-volume-app.json", "share-pid-app.json",
    "privileged-app.json", "unsafe-sysctl-sandbox.json"]]
configs += ["tests/fixtures/cri-captured/nri/containerd-userns-root-app.json"]
configs += ["tests/fixtures/cri-captured/hooks-dir/crio-" + n for n in [
    "restricted-ok-app.json", "hostport-sandbox.json", "hostport-app.json", "subpath-app.json",
    "hostnetwork-sandbox.json", "csi-volume-app.json", "image-volume-app.json"]]
configs += ["tests/fixtures/" + n for n in [
    "podman-default.json", "podman-privileged.json", "podman-seccomp-unconfined.json"]]
# Kubernetes' PSA test pods as the node sees them (tests/psa: v1.37's cases).
psa = {}
for line in open("tests/psa/index.tsv"):
    f = line.rstrip("\n").split("\t")
    if not line.startswith("#") and len(f) >= 5 and f[1] == "v1.37" and f[4] != "-":
        psa[f"{f[0]}/{f[2]}/{f[3]}.json"] = f"tests/psa/configs/{f[4]}.json"
named = {}
for case in [
    "restricted/pass/base-container1.json",
    "baseline/fail/privileged0-container1.json",
    "baseline/fail/hostnamespaces0-POD.json",
    "baseline/fail/hostpathvolumes0-container1.json",
    "baseline/fail/selinuxoptions0-container1.json",
    "baseline/fail/procmount0-container1.json",
]:
    named["psa/" + case] = psa[case]
for target in ["config_view", "decision"]:
    for path in configs:
        name = path.replace("tests/", "").replace("/", "_")
        put(target, name, open(path, "rb").read())
    for name, path in named.items():
        put(target, name.replace("/", "_"), open(path, "rb").read())
    # small hand-written shapes: minimal, null sets, odd types
    put(target, "min-object.json", "{}")
    put(target, "min-process.json", json.dumps({
        "ociVersion": "1.2.0",
        "process": {"user": {"uid": 0, "gid": 0, "additionalGids": [0, 10]},
                    "cwd": "/", "noNewPrivileges": True,
                    "capabilities": {"bounding": ["CAP_CHOWN", "net_raw", "SYS_ADMIN", "CAP_NEW_2030"],
                                     "effective": None, "ambient": []},
                    "apparmorProfile": "unconfined",
                    "selinuxLabel": "system_u:system_r:spc_t:s0"},
        "root": {"path": "rootfs", "readonly": True},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/data", "type": "none", "source": "/etc/../etc/./", "options": ["rbind", "ro", "rshared"]},
            {"destination": "/v", "type": "bind", "source": "/var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/pvc/mount"},
            {"destination": "/f", "source": "/var/lib/kubelet/pods/u/volumes/acme~nfs/x", "options": ["bind"]},
            {"destination": "/t", "type": "tmpfs", "source": "tmpfs"}],
        "annotations": {
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.sandbox-namespace": "ns\n2",
            "io.kubernetes.cri.sandbox-name": "pod",
            "io.kubernetes.cri.container-name": "c\u001b[31m",
            "io.kubernetes.container.ports": "[{\"hostPort\":80,\"protocol\":\"udp\"},{\"hostport\":70000}]",
            "io.kubernetes.cri-o.PortMappings": "null"},
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"},
                           {"type": "user"}, {"type": "ipc", "path": "/var/run/netns/x"}],
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "sysctl": {"net/ipv4/ip_forward": "1", "kernel.shm_rmid_forced": "1"},
            "seccomp": {"defaultAction": "SCMP_ACT_ALLOW"},
            "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}],
            "resources": {"devices": [{"allow": True, "access": "rwm"}]},
            "maskedPaths": [], "rootfsPropagation": "shared"}}, indent=1))
    put(target, "bad-caps.json", '{"process":{"capabilities":{"bounding":[1]},"user":{"uid":0,"gid":0},"cwd":"/"}}')
    put(target, "bad-seccomp.json", '{"linux":{"seccomp":{"defaultAction":7}}}')
    put(target, "not-object.json", '[1,2,3]')

# --- OCI state (oci_state) ------------------------------------------------
def annotations(path):
    return json.load(open(path)).get("annotations", {})

states = {
    "runc-creating.json": {"ociVersion": "1.0.2", "id": "c1", "status": "creating", "pid": 4242,
                           "bundle": "/run/containerd/io.containerd.runtime.v2.task/default/c1"},
    "runc-created-annotations.json": {"ociVersion": "1.2.0", "id": "c2", "status": "created", "pid": 1,
                                      "bundle": "/tmp/b", "annotations": {"a": "b"}},
    "podman.json": {"ociVersion": "1.0.0", "id": "ab" * 32, "status": "created", "pid": 99,
                    "bundle": "/var/lib/containers/storage/overlay-containers/" + "ab" * 32 + "/userdata",
                    "annotations": annotations("tests/fixtures/podman-default.json")},
    "containerd-cri.json": {"ociVersion": "1.1.0", "id": "cd" * 32, "status": "creating",
                            "bundle": "/run/containerd/io.containerd.runtime.v2.task/k8s.io/" + "cd" * 32,
                            "annotations": annotations("tests/fixtures/cri-captured/base-spec/containerd-restricted-ok-app.json")},
    "crio.json": {"ociVersion": "1.0.2-dev", "id": "ef" * 32, "status": "created", "pid": 31337,
                  "bundle": "/run/containers/storage/overlay-containers/" + "ef" * 32 + "/userdata",
                  "annotations": annotations("tests/fixtures/cri-captured/hooks-dir/crio-restricted-ok-app.json"),
                  "rootless": False},
}
for name, state in states.items():
    put("oci_state", name, json.dumps(state))
for name, text in {
    "no-bundle.json": '{"ociVersion":"1.0.2","id":"c-nobundle","status":"creating","pid":0}',
    "empty-bundle.json": '{"id":"c-nobundle","bundle":""}',
    "bundle-number.json": '{"id":"c-nobundle","bundle":42}',
    "pid-null.json": '{"id":"x","pid":null,"bundle":"/b","annotations":{}}',
    "pid-negative.json": '{"id":"x","pid":-1,"bundle":"/b"}',
    "pid-huge.json": '{"id":"x","pid":99999999999,"bundle":"/b"}',
    "escapes.json": '{"id":"\\u0000\\n\\ud83d\\ude00","bundle":"/b\\u0000","annotations":{"k\\n":"v\\r"}}',
    "whitespace.txt": " \n\t ",
    "nested.json": '{"ignored":' + "[" * 200,
}.items():
    put("oci_state", name, text)

# --- PSP manifests (policy) -----------------------------------------------
HEAD = "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata:\n  name: p\nspec:\n"
RULES = "  runAsUser: {rule: RunAsAny}\n  seLinux: {rule: RunAsAny}\n  supplementalGroups: {rule: RunAsAny}\n  fsGroup: {rule: RunAsAny}\n"
put("policy", "examples-restricted-psp.yaml", open("examples/restricted-psp.yaml").read())
snippets = {
    "minimal.yaml": HEAD + RULES,
    "unknown-field.yaml": HEAD + "  hostNetwrok: true\n" + RULES,
    "duplicate-key.yaml": HEAD + "  privileged: false\n  privileged: true\n" + RULES,
    "malformed.yaml": HEAD + "  volumes: [configMap\n" + RULES,
    "a-b-c.yaml": "a: b: c\n",
    "capabilities.yaml": HEAD + "  allowedCapabilities: [net_admin, CAP_SYS_TIME, \"*\"]\n  defaultAddCapabilities: [CHOWN]\n" + RULES,
    "drop-all.yaml": HEAD + "  allowedCapabilities: [NET_BIND_SERVICE]\n  requiredDropCapabilities: [ALL]\n" + RULES,
    "bad-capability.yaml": HEAD + "  allowedCapabilities: [NET_ADMIN, NET_ADMN]\n" + RULES,
    "drop-and-allow.yaml": HEAD + "  allowedCapabilities: [NET_RAW]\n  requiredDropCapabilities: [NET_RAW]\n" + RULES,
    "bad-rule.yaml": HEAD + "  runAsUser: {rule: MustRunAsRoot}\n  seLinux: {rule: RunAsAny}\n  supplementalGroups: {rule: RunAsAny}\n  fsGroup: {rule: RunAsAny}\n",
    "missing-rule.yaml": HEAD + "  seLinux: {rule: RunAsAny}\n  supplementalGroups: {rule: RunAsAny}\n  fsGroup: {rule: RunAsAny}\n",
    "bad-range.yaml": HEAD + "  runAsGroup: {rule: MustRunAs, ranges: [{min: 5, max: 1}]}\n" + RULES,
    "bad-volume.yaml": HEAD + "  volumes: [secrets]\n" + RULES,
    "bad-procmount.yaml": HEAD + "  allowedProcMountTypes: [Masked]\n" + RULES,
    "relative-host-path.yaml": HEAD + "  allowedHostPaths: [{pathPrefix: data}]\n" + RULES,
    "bad-sysctl.yaml": HEAD + "  forbiddenSysctls: [\"kernel.*.x\"]\n" + RULES,
    "configmap.yaml": "apiVersion: v1\nkind: ConfigMap\n",
    "policy-v1.yaml": "apiVersion: policy/v1\nkind: PodSecurityPolicy\nmetadata:\n  name: p\nspec:\n" + RULES,
    "multi-document.yaml": HEAD + RULES + "---\n" + HEAD.replace("name: p", "name: q").replace("policy/v1beta1", "extensions/v1beta1") + RULES,
    "json.json": '{"apiVersion":"policy/v1beta1","kind":"PodSecurityPolicy","metadata":{"name":"j"},\n"spec":{"runAsUser":{"rule":"MustRunAsNonRoot"},"seLinux":{"rule":"RunAsAny"},"supplementalGroups":{"rule":"RunAsAny"},"fsGroup":{"rule":"RunAsAny"},"hostPID":true}}',
    "open.json": '{"apiVersion":"policy/v1beta1","kind":"PodSecurityPolicy","metadata":{"name":"open"},"spec":{"privileged":true,"runAsUser":{"rule":"RunAsAny"},"seLinux":{"rule":"RunAsAny"},"supplementalGroups":{"rule":"RunAsAny"},"fsGroup":{"rule":"RunAsAny"},"volumes":["*"]}}',
    "not-enforced.yaml": HEAD + "  runtimeClass: {allowedRuntimeClassNames: [gvisor]}\n  defaultAllowPrivilegeEscalation: false\n" + RULES,
    "profile-annotations.yaml": "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata:\n  name: p\n  annotations:\n    seccomp.security.alpha.kubernetes.io/allowedProfileNames: 'runtime/default,localhost/strict'\n    apparmor.security.beta.kubernetes.io/allowedProfileNames: bogus\nspec:\n" + RULES,
    "every-field.yaml": """apiVersion: extensions/v1beta1
kind: PodSecurityPolicy
metadata:
  name: every-field
  labels: {a: b}
  resourceVersion: "1"
  annotations:
    seccomp.security.alpha.kubernetes.io/allowedProfileNames: 'docker/default,runtime/default,localhost/*'
    seccomp.security.alpha.kubernetes.io/defaultProfileName: runtime/default
    apparmor.security.beta.kubernetes.io/allowedProfileNames: 'runtime/default,localhost/k8s'
    apparmor.security.beta.kubernetes.io/defaultProfileName: runtime/default
spec:
  privileged: false
  hostNetwork: true
  hostPID: false
  hostIPC: false
  hostPorts: [{min: 80, max: 80}, {min: 8000, max: 9000}]
  defaultAddCapabilities: [NET_BIND_SERVICE]
  requiredDropCapabilities: [NET_RAW, SYS_ADMIN]
  allowedCapabilities: [CHOWN, KILL]
  volumes: [configMap, secret, emptyDir, projected, downwardAPI, persistentVolumeClaim, ephemeral, csi, flexVolume, hostPath, nfs]
  allowedHostPaths:
    - {pathPrefix: /var/log, readOnly: true}
    - pathPrefix: /data/../data/x/
  allowedFlexVolumes: [{driver: example/lvm}]
  allowedCSIDrivers: [{name: csi.example.com}]
  readOnlyRootFilesystem: true
  allowPrivilegeEscalation: false
  defaultAllowPrivilegeEscalation: false
  runAsUser: {rule: MustRunAs, ranges: [{min: 1000, max: 2000}, {min: 0, max: 0}]}
  runAsGroup: {rule: MustRunAs, ranges: [{min: 1, max: 4294967295}]}
  supplementalGroups: {rule: MayRunAs, ranges: [{min: 1, max: 65535}]}
  fsGroup: {rule: MustRunAs, ranges: [{min: 1, max: 65535}]}
  seLinux:
    rule: MustRunAs
    seLinuxOptions: {user: system_u, role: system_r, type: container_t, level: "s0:c1,c2"}
  allowedProcMountTypes: [Default, Unmasked]
  allowedUnsafeSysctls: [net.core.somaxconn, "kernel.msg*"]
  forbiddenSysctls: [kernel.shm_rmid_forced, "net.ipv4.*"]
  runtimeClass: {allowedRuntimeClassNames: [runc], defaultRuntimeClassName: runc}
""",
}
for name, text in snippets.items():
    put("policy", name, text)
# the restricted PSP as the deploy ConfigMap carries it
put("policy", "deploy-restricted.yaml", """apiVersion: extensions/v1beta1
kind: PodSecurityPolicy
metadata:
  name: restricted
spec:
  allowPrivilegeEscalation: false
  fsGroup:
    ranges:
    - max: 32767
      min: 32767
    rule: MustRunAs
  requiredDropCapabilities:
  - ALL
  runAsUser:
    ranges:
    - max: 32768
      min: 32767
    rule: MustRunAs
  seLinux:
    rule: RunAsAny
  supplementalGroups:
    ranges:
    - max: 32767
      min: 32767
    rule: MustRunAs
  volumes:
  - configMap
  - emptyDir
  - projected
  - secret
  - downwardAPI
""")

# --- HookConfiguration (hook_config) --------------------------------------
H = "apiVersion: oci-psp-hook/v1alpha1\nkind: HookConfiguration\n"
example = open("examples/config.yaml").read().replace(
    "policyDirectory: /etc/oci-psp-hook/policies.d", "policyDirectory: policies.d")
put("hook_config", "examples-config.yaml", example)
confs = {
    "team.yaml": H + "policyDirectory: policies.d\nbindings:\n  - namespaces: [kube-system]\n    policies: [builtin:privileged]\n  - namespaces: [team-a, team-b]\n    policies: [restricted, builtin:baseline]\n  - namespaces: [team-a]\n    policies: [builtin:restricted]\n",
    "audit.yaml": H + "policyDirectory: policies.d\nmode: audit\n",
    "dot.yaml": H + "policyDirectory: .\n",
    "empty-directory.yaml": H + "policyDirectory: \"\"\n",
    "nowhere.yaml": H + "policyDirectory: nowhere\n",
    "header-only.yaml": H,
    "unknown-key.yaml": H + "policyDirectory: policies.d\npolicyDir: x\n",
    "unknown-binding-key.yaml": H + "policyDirectory: policies.d\nbindings:\n  - namespaces: [a]\n    policies: [builtin:baseline]\n    namespace: b\n",
    "wrong-api.yaml": "apiVersion: v1\nkind: HookConfiguration\npolicyDirectory: policies.d\n",
    "wrong-kind.yaml": "# a comment\napiVersion: oci-psp-hook/v1alpha1\nkind: PodSecurityPolicy\npolicyDirectory: policies.d\n",
    "bad-mode.yaml": H + "policyDirectory: policies.d\nmode: permissive\n",
    "duplicate-key.yaml": H + "policyDirectory: policies.d\nmode: audit\nmode: enforce\n",
    "empty-defaults.yaml": H + "policyDirectory: policies.d\ndefaultPolicies: []\n",
    "empty-namespaces.yaml": H + "policyDirectory: policies.d\nbindings:\n  - namespaces: []\n    policies: [builtin:baseline]\n",
    "missing-policy.yaml": H + "policyDirectory: policies.d\nbindings:\n  - namespaces: [team-a]\n    policies: [restricted]\n  - namespaces: [team-b, default]\n    policies: [builtin:baseline, nosuch]\n",
    "defaults.yaml": H + "policyDirectory: policies.d\ndefaultPolicies: [restricted, builtin:restricted, builtin:strict]\n",
    "json.json": '{"apiVersion":"oci-psp-hook/v1alpha1","kind":"HookConfiguration","policyDirectory":"policies.d","mode":"enforce","defaultPolicies":["builtin:baseline"],"bindings":[{"namespaces":["team-b"],"policies":["builtin:privileged"]}]}',
}
for name, text in confs.items():
    put("hook_config", name, text)
