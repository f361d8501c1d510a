#!/usr/bin/env python3
"""Kubernetes' Pod Security Admission test pods as the CRI requests kubelet
sends for them: one PodSandboxConfig and one ContainerConfig per init and
regular container, as crictl's JSON (`crictl runp pod.json`, `crictl create
POD ctr.json pod.json`). Used by integration/psa-cri.sh, which runs them
through containerd 2.x with the hook; nothing here is committed output.

    psa-cri.py FIXTURES OUT RUN...

FIXTURES is `<level>/<pass|fail>/*.yaml` (tests/psa/pods, v1.37); OUT a
scratch directory; each RUN is `LEVEL:VERDICTS:NAMESPACE` (e.g.
`restricted:pass,fail:psa-restricted`): those fixtures, in that namespace.
Environment: KUBELET (/var/lib/kubelet), ROOT_IMAGE and NONROOT_IMAGE (the
test images; the second's USER is 1000), CONTAINER_PORTS_ANNOTATION=1 when
containerd passes kubelet's io.kubernetes.container.ports annotation into
config.json (its runtime's container_annotations; else the hostports
fixtures are undecidable).

Writes OUT/plan.tsv, one line a fixture of a run:
`name <TAB> namespace <TAB> level/verdict/fixture <TAB> action <TAB> fields
<TAB> note` (fields: of a `fail` fixture run, the hook's fields one of which
its denial must name, as an ERE; else `-`),
action `run` (OUT/<name>/pod.json and ctr-<i>.json, init containers first,
then regular ones, each with ctr-<i>.kind `init` or `regular`), or one of the
skip kinds in SKIP_KINDS with the reason; OUT/created (paths made here
outside OUT, to remove at the end: files first, then directories).

What kubelet does and where (kubelet v1.37, pkg/kubelet/kuberuntime):
- sandbox (kuberuntime_sandbox.go generatePodSandboxConfig,
  kuberuntime_sandbox_linux.go generatePodSandboxLinuxConfig): metadata
  name/namespace/uid/attempt, hostname (none for hostNetwork), log
  directory /var/log/pods/<ns>_<name>_<uid>, pod labels plus
  io.kubernetes.pod.{name,namespace,uid}, pod annotations, port mappings of
  the regular containers' ports; linux.security_context: privileged when any
  container is, seccomp RuntimeDefault always (kubernetes#84623), the pod's
  runAsUser/runAsGroup, fsGroup + supplementalGroups, seLinuxOptions,
  namespace_options (NamespacesForPod: network/ipc NODE for host*, pid NODE
  for hostPID, POD for shareProcessNamespace, else CONTAINER; userns POD
  with kubelet's mapping for hostUsers: false, else NODE); linux.sysctls.
- container (kuberuntime_container.go generateContainerConfig,
  kuberuntime_container_linux.go, security_context.go
  determineEffectiveSecurityContext, pkg/securitycontext/util.go): the
  pod's seLinuxOptions, runAsUser, runAsGroup, runAsNonRoot under the
  container's own; privileged, capabilities add/drop as written,
  readOnlyRootFilesystem; run_as_user from the image when unset; seccomp
  container, then pod, else Unconfined (no SeccompDefault), Localhost as
  <kubelet>/seccomp/<profile>; AppArmor field (container, pod), then the
  deprecated annotation; no_new_privs only for allowPrivilegeEscalation:
  false (never when privileged); masked/readonly paths kubelet's default
  lists, empty for procMount Unmasked; supplemental groups fsGroup +
  supplementalGroups; mounts of every volume (below), /etc/hosts and the
  termination log; labels io.kubernetes.container.name and the pod's,
  annotations hash, restartCount, terminationMessagePath/Policy, the
  grace period and, with ports, io.kubernetes.container.ports.
- verifyRunAsNonRoot (security_context_others.go): a container whose
  effective runAsNonRoot is true and whose user is 0 is never created.

The fixtures' image (registry.k8s.io/pause) is modelled as the root test
image, or, where a container's effective runAsNonRoot is true, as the test
image with USER 1000: kubelet refuses a root image there, and the real pause
image's USER 65535 would hide every runAsNonRoot failure (as in
tests/psa/translate.py). The fixtures declare volumes but mount none; as the
PSA volume checks judge declared volumes, each is mounted at /mnt/<name> in
every container, laid out as kubelet lays it out under
<kubelet>/pods/<uid>/volumes/<plugin>/<name> (CSI: .../<pv>/mount beside
vol_data.json). A hostPath is bound from the fixture's own path where that is
safe on this machine (SAFE_HOST_PATHS), else from a scratch directory under
OUT: containerd would create a missing host path on the host (any path
outside kubelet's pod directories is a hostPath to the hook either way).
"""

import json
import os
import re
import sys
import uuid
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the clone
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "psa"))
import translate as psa  # noqa: E402  (the offline translation's pod model)

KUBELET = os.environ.get("KUBELET", "/var/lib/kubelet")
POD_LOGS = os.environ.get("POD_LOGS", "/var/log/pods")
ROOT_IMAGE = os.environ.get("ROOT_IMAGE", "localhost/oci-psp-hook/busybox:test")
NONROOT_IMAGE = os.environ.get("NONROOT_IMAGE", "localhost/oci-psp-hook/busybox:nonroot")
NONROOT_UID = 1000
# kubelet's user namespace manager hands out 65536-id blocks.
USERNS_HOST_ID = psa.USERNS_HOST_ID
SAFE_HOST_PATHS = {"/dev/null"}
MARKER = "CONTAINER-RAN"

# CRI enums (k8s.io/cri-api runtime/v1).
NS_POD, NS_CONTAINER, NS_NODE = 0, 1, 2
SECCOMP = {"RuntimeDefault": 0, "Unconfined": 1, "Localhost": 2}
APPARMOR = {"RuntimeDefault": 0, "Unconfined": 1, "Localhost": 2}
APPARMOR_DEPRECATED = {"RuntimeDefault": "runtime/default", "Unconfined": "unconfined"}

# Why a fixture is not run, by kind: `undecidable` (what the check judges
# never reaches the node's config.json), `kubelet` (kubelet itself stops the
# pod or the offending container before any CRI call: the hook never sees
# it; not counted as agreement), `host` (this machine cannot show it),
# `runtime` (containerd refuses the request itself, before the hook).
SKIP_KINDS = ("undecidable", "kubelet", "host", "runtime")
MLS_LEVEL = re.compile(r"s\d+(-s\d+)?(:c\d+([.,]c\d+)*)?")

# The hook's field (`<field>:` in its denial) that a `fail` fixture's check
# must be refused for, by PSA check.
CHECK_FIELDS = {
    "allowprivilegeescalation": "allowPrivilegeEscalation",
    "capabilities_baseline": "allowedCapabilities|requiredDropCapabilities",
    "capabilities_restricted": "allowedCapabilities|requiredDropCapabilities",
    "hostnamespaces": "hostNetwork|hostPID|hostIPC",
    "hostpathvolumes": "volumes",
    "restrictedvolumes": "volumes",
    "privileged": "privileged",
    "procmount": "procMount",
    "procmount_restricted": "procMount",
    "runasnonroot": "runAsUser|runAsNonRoot",
    "runasuser": "runAsUser",
    "seccompprofile_baseline": "seccomp",
    "seccompprofile_restricted": "seccomp",
    "selinuxoptions": "seLinux",
    "apparmorprofile": "apparmor|AppArmor",
    "sysctls": "sysctl",
    "hostports": "hostPorts",
}

# Fixtures the node can decide on which the hook's verdict is known to be
# wrong: "<namespace> <level>/<verdict>/<fixture>" -> why. Run and reported
# by psa-cri.sh as `known gap`, not counted.
KNOWN_GAPS = {}


def apparmor_enabled():
    try:
        return Path("/sys/module/apparmor/parameters/enabled").read_text().strip() == "Y"
    except OSError:
        return False


def selinux_enabled():
    return Path("/sys/fs/selinux/enforce").exists()


def skip_reason(level, verdict, check, fixture, pod):
    """(kind, reason) when the fixture is not run, else None."""
    spec = pod["spec"]
    if (spec.get("os") or {}).get("name") == "windows":
        return ("kubelet", "spec.os.name: windows: a Linux kubelet rejects the pod at "
                "admission (PodOSNotSupported), no CRI call")
    levels = [(sc.get("seLinuxOptions") or {}).get("level") for sc in
              [pod_sc(pod)] + [c.get("securityContext") or {} for _, c in psa.containers_of(pod)]]
    bad = sorted({lv for lv in levels if lv and not MLS_LEVEL.fullmatch(lv)})
    if bad:
        return ("runtime", f"seLinuxOptions.level {', '.join(bad)} is not an MLS level: "
                "containerd refuses the container while generating its spec, before the "
                "hook runs (with or without SELinux on the host)")
    if check == "windowshostprocess":
        return ("undecidable", "Windows only: windowsOptions.hostProcess reaches no Linux "
                "CRI request (the pod's hostNetwork is the hostnamespaces fixtures' check)")
    if verdict == "pass":
        if any(apparmor_wanted(pod, c) for _, c in psa.containers_of(pod)) \
                and not apparmor_enabled():
            return ("host", "asks for an AppArmor profile and this host has AppArmor "
                    "disabled: kubelet's AppArmor admission rejects the pod")
        return None
    if check == "hostprobesandhostlifecycle":
        return ("undecidable", "probe/lifecycle handler host: kubelet runs probes and "
                "hooks itself, nothing reaches a CRI request")
    if level == "baseline" and check in ("capabilities_baseline", "seccompprofile_baseline"):
        caps = {a for _, c in psa.containers_of(pod)
                for a in ((c.get("securityContext") or {}).get("capabilities") or {}).get("add")
                or []}
        if check == "seccompprofile_baseline" or all(
                "CAP_" + a.upper() in psa.DEFAULT_CAPS for a in caps):
            return ("undecidable", psa.no_trace_reason(level, check, pod))
    if check == "hostports" and os.environ.get("CONTAINER_PORTS_ANNOTATION") != "1":
        return ("undecidable", "containerd hands host ports to CNI (portmap) and writes "
                "none into config.json; kubelet's io.kubernetes.container.ports annotation "
                "reaches it only if the runtime's container_annotations lists it (not by "
                "default)")
    if check == "sysctls":
        names = [s["name"] for s in pod_sc(pod).get("sysctls") or []]
        return ("kubelet", f"sysctl {', '.join(names)} is not in kubelet's safe set: its "
                "sysctl admission rejects the pod (SysctlForbidden) unless "
                "--allowed-unsafe-sysctls names it")
    if check == "restrictedvolumes":
        types = {psa.volume_type(v) for v in spec.get("volumes") or []}
        if "gitRepo" in types:
            return ("kubelet", "gitRepo volume: kubelet's in-tree plugin is off by default "
                    "since v1.33 and locked off since v1.36 (GitRepoVolumeDriver, KEP-5040): "
                    "the volume never mounts, no container is created")
        gone = sorted(t for t in types if t in psa.REMOVED_PLUGINS)
        if gone:
            return ("kubelet", f"inline {', '.join(gone)} volume: the in-tree plugin left "
                    f"the kubelet in {psa.REMOVED_PLUGINS[gone[0]]}; a v1.37 kubelet cannot "
                    "mount it")
        if types & psa.PV_CAPABLE and "hostPath" not in types:
            return ("undecidable", psa.no_trace_reason(level, check, pod))
    if check == "selinuxoptions" and not selinux_enabled():
        return ("host", "SELinux is disabled on this host: containerd writes no process "
                "label, so seLinuxOptions leave no trace")
    if check == "apparmorprofile" and not apparmor_enabled():
        return ("host", "AppArmor is disabled on this host: no container has a profile, "
                "so an Unconfined one leaves no trace")
    for _, c in psa.containers_of(pod):
        why = kubelet_refuses(pod, c)
        if why:
            return ("kubelet", why)
    return None


def pod_sc(pod):
    return psa.pod_sc(pod)


def apparmor_wanted(pod, c):
    kind, _ = psa.apparmor_type(pod, c)
    return kind not in (None, "Unconfined")


def kubelet_refuses(pod, c):
    """verifyRunAsNonRoot: effective runAsNonRoot true and uid 0."""
    eff = psa.effective_sc(pod, c)
    if eff.get("runAsNonRoot") is True and eff.get("runAsUser") == 0:
        return (f"container {c['name']}: runAsNonRoot with runAsUser 0: kubelet's "
                "verifyRunAsNonRoot refuses to create it (CreateContainerConfigError)")
    return None


class Pod:
    """One fixture pod of one run, with its kubelet directories."""

    def __init__(self, out, ns, pod, created):
        self.pod = pod
        self.ns = ns
        self.name = pod["metadata"]["name"]
        self.uid = str(uuid.uuid4())
        self.out = out
        self.created = created
        self.poddir = f"{KUBELET}/pods/{self.uid}"
        self.logdir = f"{POD_LOGS}/{ns}_{self.name}_{self.uid}"
        self.notes = []
        created.append(self.poddir)
        created.append(self.logdir)

    def mkdir(self, path):
        os.makedirs(path, exist_ok=True)
        return path

    def volume(self, v):
        """(host path, read-only) of a pod volume, made as kubelet makes it."""
        vtype = psa.volume_type(v)
        name = v["name"]
        vols = f"{self.poddir}/volumes"
        if vtype == "hostPath":
            path = v["hostPath"]["path"]
            if path in SAFE_HOST_PATHS and os.path.exists(path):
                return path, False
            scratch = str(self.out / "hostpath") + path
            self.mkdir(scratch)
            self.notes.append(f"hostPath {path}: bound from a scratch directory")
            return scratch, False
        if vtype in ("persistentVolumeClaim", "ephemeral", "csi"):
            pv = name if vtype == "csi" else "pvc-" + str(uuid.uuid4())
            driver = (v["csi"].get("driver") if vtype == "csi" else None) or "ebs.csi.aws.com"
            d = self.mkdir(f"{vols}/kubernetes.io~csi/{pv}/mount")
            with open(f"{vols}/kubernetes.io~csi/{pv}/vol_data.json", "w") as f:
                json.dump({"driverName": driver, "nodeName": "node-1", "specVolID": pv,
                           "volumeHandle": "vol-" + pv[-12:],
                           "volumeLifecycleMode":
                               "Ephemeral" if vtype == "csi" else "Persistent"}, f)
            return d, False
        if vtype == "flexVolume":
            driver = v["flexVolume"]["driver"].replace("/", "~")
            return self.mkdir(f"{vols}/{driver}/{name}"), False
        d = self.mkdir(f"{vols}/{psa.VOLUME_PLUGIN_DIRS[vtype]}/{name}")
        with open(f"{d}/data", "w") as f:
            f.write("x\n")
        return d, vtype in psa.READ_ONLY_PLUGINS

    def namespace_options(self):
        spec = self.pod["spec"]
        opts = {
            "network": NS_NODE if spec.get("hostNetwork") else NS_POD,
            "pid": NS_NODE if spec.get("hostPID") else (
                NS_POD if spec.get("shareProcessNamespace") else NS_CONTAINER),
            "ipc": NS_NODE if spec.get("hostIPC") else NS_POD,
        }
        if psa.user_namespaced(self.pod):
            ids = [{"host_id": USERNS_HOST_ID, "container_id": 0, "length": 65536}]
            opts["userns_options"] = {"mode": NS_POD, "uids": ids, "gids": ids}
        else:
            opts["userns_options"] = {"mode": NS_NODE}
        return opts

    def supplemental_groups(self):
        return psa.supplemental_gids(self.pod)

    def sandbox(self):
        pod, spec, psc = self.pod, self.pod["spec"], pod_sc(self.pod)
        labels = dict(pod["metadata"].get("labels") or {})
        labels.update({"io.kubernetes.pod.name": self.name,
                       "io.kubernetes.pod.namespace": self.ns,
                       "io.kubernetes.pod.uid": self.uid})
        annotations = dict(pod["metadata"].get("annotations") or {})
        annotations.update({"kubernetes.io/config.seen": "2026-12-01T00:00:00.000000000Z",
                            "kubernetes.io/config.source": "api"})
        sc = {
            "namespace_options": self.namespace_options(),
            "privileged": any(psa.container_privileged(pod, c)
                              for _, c in psa.containers_of(pod)),
            "seccomp": {"profile_type": SECCOMP["RuntimeDefault"]},
        }
        if psc.get("runAsUser") is not None:
            sc["run_as_user"] = {"value": psc["runAsUser"]}
        if psc.get("runAsGroup") is not None:
            sc["run_as_group"] = {"value": psc["runAsGroup"]}
        if self.supplemental_groups():
            sc["supplemental_groups"] = self.supplemental_groups()
        if psc.get("seLinuxOptions"):
            sc["selinux_options"] = psc["seLinuxOptions"]
        ports = [{"protocol": 0, "container_port": p["containerPort"],
                  "host_port": p.get("hostPort", 0)}
                 for c in spec.get("containers") or [] for p in c.get("ports") or []]
        self.mkdir(self.logdir)
        config = {
            "metadata": {"name": self.name, "uid": self.uid, "namespace": self.ns,
                         "attempt": 0},
            "log_directory": self.logdir,
            "dns_config": {"servers": ["10.96.0.10"],
                           "searches": [f"{self.ns}.svc.cluster.local", "svc.cluster.local",
                                        "cluster.local"],
                           "options": ["ndots:5"]},
            "port_mappings": ports,
            "labels": labels,
            "annotations": annotations,
            "linux": {
                "cgroup_parent": f"/kubepods/besteffort/pod{self.uid}",
                "security_context": sc,
                "sysctls": {s["name"]: str(s["value"]) for s in psc.get("sysctls") or []},
            },
        }
        if not spec.get("hostNetwork"):
            config["hostname"] = self.name
        return config

    def container(self, kind, c, index):
        pod = self.pod
        eff = psa.effective_sc(pod, c)
        csc = c.get("securityContext") or {}
        privileged = bool(csc.get("privileged"))
        image = NONROOT_IMAGE if eff.get("runAsNonRoot") is True else ROOT_IMAGE
        image_uid = NONROOT_UID if image == NONROOT_IMAGE else 0
        sc = {
            "privileged": privileged,
            "namespace_options": self.namespace_options(),
            "readonly_rootfs": bool(eff.get("readOnlyRootFilesystem")),
            "run_as_user": {"value": eff["runAsUser"] if eff.get("runAsUser") is not None
                            else image_uid},
            "no_new_privs": (not privileged) and eff.get("allowPrivilegeEscalation") is False,
        }
        if eff.get("runAsGroup") is not None:
            sc["run_as_group"] = {"value": eff["runAsGroup"]}
        if self.supplemental_groups():
            sc["supplemental_groups"] = self.supplemental_groups()
        caps = csc.get("capabilities")
        if caps:
            sc["capabilities"] = {"add_capabilities": caps.get("add") or [],
                                  "drop_capabilities": caps.get("drop") or []}
        if eff.get("seLinuxOptions"):
            sc["selinux_options"] = eff["seLinuxOptions"]
        unmasked = eff.get("procMount") == "Unmasked"
        sc["masked_paths"] = [] if unmasked else psa.MASKED_PATHS
        sc["readonly_paths"] = [] if unmasked else psa.READONLY_PATHS
        s_type, s_name = psa.seccomp_type(pod, c)
        seccomp = {"profile_type": SECCOMP.get(s_type or "Unconfined", 1)}
        if s_type == "Localhost":
            seccomp["localhost_ref"] = f"{KUBELET}/seccomp/{s_name}"
            self.localhost_seccomp(seccomp["localhost_ref"])
        sc["seccomp"] = seccomp
        a_type, a_name = psa.apparmor_type(pod, c)
        if a_type:
            sc["apparmor"] = {"profile_type": APPARMOR.get(a_type, 0)}
            if a_type == "Localhost":
                sc["apparmor"]["localhost_ref"] = a_name
            sc["apparmor_profile"] = APPARMOR_DEPRECATED.get(a_type, f"localhost/{a_name}")

        mounts = []
        for v in pod["spec"]["volumes"]:
            src, ro = self.volume(v)
            dst = ("/var/run/secrets/kubernetes.io/serviceaccount" if v.get("_serviceAccount")
                   else "/mnt/" + v["name"])
            mounts.append({"container_path": dst, "host_path": src, "readonly": ro})
        hosts = f"{self.poddir}/etc-hosts"
        if not os.path.exists(hosts):
            with open(hosts, "w") as f:
                f.write("127.0.0.1 localhost\n")
        mounts.append({"container_path": "/etc/hosts", "host_path": hosts})
        term = f"{self.poddir}/containers/{c['name']}/{uuid.uuid4().hex[:8]}"
        self.mkdir(os.path.dirname(term))
        open(term, "w").close()
        mounts.append({"container_path": c["terminationMessagePath"], "host_path": term})
        self.mkdir(f"{self.logdir}/{c['name']}")

        labels = {"io.kubernetes.container.name": c["name"],
                  "io.kubernetes.pod.name": self.name,
                  "io.kubernetes.pod.namespace": self.ns,
                  "io.kubernetes.pod.uid": self.uid}
        annotations = {"io.kubernetes.container.hash": f"{index:08x}",
                       "io.kubernetes.container.restartCount": "0",
                       "io.kubernetes.container.terminationMessagePath":
                           c["terminationMessagePath"],
                       "io.kubernetes.container.terminationMessagePolicy": "File",
                       "io.kubernetes.pod.terminationGracePeriod": "30"}
        if c.get("ports"):
            annotations["io.kubernetes.container.ports"] = json.dumps(
                [{k: p[k] for k in ("name", "hostPort", "containerPort", "protocol") if k in p}
                 for p in c["ports"]])
        # Init containers run to completion; regular ones keep running.
        script = f"echo {MARKER}" if kind == "init" else f"echo {MARKER}; exec sleep 3600"
        return {
            "metadata": {"name": c["name"], "attempt": 0},
            "image": {"image": image, "user_specified_image": image},
            "command": ["/bin/sh", "-c", script],
            "envs": [{"key": "KUBERNETES_SERVICE_HOST", "value": "10.96.0.1"}],
            "mounts": mounts,
            "labels": labels,
            "annotations": annotations,
            "log_path": f"{c['name']}/0.log",
            "linux": {
                "resources": {"cpu_period": 100000, "cpu_shares": 2, "oom_score_adj": 1000},
                "security_context": sc,
            },
        }

    def localhost_seccomp(self, path):
        """The node admin's profile under <kubelet>/seccomp, made when absent:
        the offline translation's confining stand-in (defaultAction
        SCMP_ACT_ERRNO, an allow-list within the runtime default's), plus
        what busybox's sh and sleep need."""
        if os.path.exists(path):
            return
        if not os.path.isdir(os.path.dirname(path)):
            self.created.append(os.path.dirname(path))
            self.mkdir(os.path.dirname(path))
        profile = psa.localhost_seccomp(os.path.basename(path))
        profile["syscalls"][0]["names"] = sorted(set(profile["syscalls"][0]["names"]) | {
            "clock_nanosleep", "rt_sigsuspend", "getgroups", "setpgid", "getpgrp",
            "getpgid", "getrlimit", "sched_getaffinity", "close_range", "stat", "lstat",
            "fchownat", "restart_syscall"})
        with open(path, "w") as f:
            json.dump(profile, f)
        self.created.insert(0, path)

def main(argv):
    src, out, runs = Path(argv[1]), Path(argv[2]), argv[3:]
    out.mkdir(parents=True, exist_ok=True)
    plan, created = [], []
    for run in runs:
        level, verdicts, ns = run.split(":")
        for verdict in verdicts.split(","):
            for path in sorted((src / level / verdict).glob("*.yaml")):
                fixture = path.stem
                check = re.sub(r"\d+$", "", fixture)
                what = f"{level}/{verdict}/{fixture}"
                name = f"{ns}-{verdict}-{fixture}"
                pod = psa.admitted(psa.load_yaml(path))
                skip = skip_reason(level, verdict, check, fixture, pod)
                if skip:
                    plan.append((name, ns, what, skip[0], "-", skip[1]))
                    continue
                p = Pod(out, ns, pod, created)
                d = out / name
                d.mkdir(parents=True, exist_ok=True)
                (d / "pod.json").write_text(json.dumps(p.sandbox(), indent=1))
                ctrs = [(k, c) for k, c in psa.containers_of(pod) if k != "ephemeral"]
                for i, (kind, c) in enumerate(ctrs):
                    (d / f"ctr-{i}.json").write_text(json.dumps(p.container(kind, c, i), indent=1))
                    (d / f"ctr-{i}.kind").write_text(kind + "\n")
                gap = KNOWN_GAPS.get(f"{ns} {what}")
                notes = ([f"KNOWN GAP: {gap}"] if gap else []) + list(dict.fromkeys(p.notes))
                plan.append((name, ns, what, "gap" if gap else "run",
                             CHECK_FIELDS[check] if verdict == "fail" else "-",
                             "; ".join(notes)))
    with open(out / "plan.tsv", "w") as f:
        for row in plan:
            f.write("\t".join(row) + "\n")
    with open(out / "created", "w") as f:
        for path in created:
            f.write(path + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
