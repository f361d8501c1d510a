#!/usr/bin/env python3
"""Translate Kubernetes' Pod Security Admission test pods into the config.json
files containerd's CRI plugin would write for them.

    python3 tests/psa/translate.py [PSA_FIXTURES_DIR] [OUTPUT_DIR]

PSA_FIXTURES_DIR (`<level>/<version>/<pass|fail>/*.yaml`, every Pod Security
Standards version) defaults to ../shared/psa-fixtures-by-version beside the
repository, OUTPUT_DIR to tests/psa: `configs/<hash>.json`, each distinct
config.json once (most pods are the same in many versions), and `index.tsv`,
which case is which config. The outputs are committed; the test
(tests/psa_fixtures.rs) never runs this script. Python 3 standard library only
(PyYAML is used when importable, else the small parser below, which handles the
subset of YAML the fixtures use; both give the same result on them).

What is modelled, and why, is in tests/psa/README.md ("Translation rules"):
in short, a node running kubelet v1.37 and containerd 2.x (cgroup v2, AppArmor
enabled, SELinux labels only for pods that ask for one) with the hook's
`containerd-base-spec` as the CRI plugin's base_runtime_spec.
"""

import hashlib
import json
import re
import sys
import uuid
from pathlib import Path

# --------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------

_KEY = re.compile(r"^([A-Za-z0-9_.\-/]+):(?:\s+(.*))?$")


def _scalar(text):
    text = text.strip()
    if text == "{}":
        return {}
    if text == "[]":
        return []
    if text.startswith('"'):
        return json.loads(text)
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("''", "'")
    if text in ("true", "True"):
        return True
    if text in ("false", "False"):
        return False
    if text in ("null", "~", "Null"):
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def _is_item(text):
    return text == "-" or text.startswith("- ")


def _block(lines, i, indent):
    if _is_item(lines[i][1]):
        return _seq(lines, i, indent)
    return _map(lines, i, indent)


def _map(lines, i, indent):
    out = {}
    while i < len(lines) and lines[i][0] == indent and not _is_item(lines[i][1]):
        m = _KEY.match(lines[i][1])
        if not m:
            raise ValueError(f"unsupported YAML line: {lines[i][1]!r}")
        key, rest = m.group(1), (m.group(2) or "").strip()
        i += 1
        if rest:
            out[key] = _scalar(rest)
        elif i < len(lines) and (
            lines[i][0] > indent or (lines[i][0] == indent and _is_item(lines[i][1]))
        ):
            out[key], i = _block(lines, i, lines[i][0])
        else:
            out[key] = None
    return out, i


def _seq(lines, i, indent):
    out = []
    while i < len(lines) and lines[i][0] == indent and _is_item(lines[i][1]):
        content = lines[i][1][1:].lstrip()
        if not content:
            i += 1
            item, i = _block(lines, i, lines[i][0])
        elif _KEY.match(content):
            offset = indent + len(lines[i][1]) - len(content)
            lines[i] = (offset, content)
            item, i = _map(lines, i, offset)
        else:
            item, i = _scalar(content), i + 1
        out.append(item)
    return out, i


def parse_yaml(text):
    lines = []
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#") or stripped == "---":
            continue
        lines.append((len(raw) - len(raw.lstrip(" ")), stripped))
    value, _ = _block(lines, 0, lines[0][0])
    return value


def load_yaml(path):
    text = Path(path).read_text()
    try:
        import yaml  # noqa: PLC0415
    except ImportError:
        return parse_yaml(text)
    return yaml.safe_load(text)


# --------------------------------------------------------------------------
# Node constants (kubelet v1.37, containerd 2.x)
# --------------------------------------------------------------------------

NAMESPACE = "psa-fixtures"
IMAGE = "registry.k8s.io/pause"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
PAUSE_USER = 65535  # USER 65535:65535 of the pause image
NON_ROOT_IMAGE_USER = 1000
KUBELET = "/var/lib/kubelet"
CRI_ROOT = "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes"
CRI_STATE = "/run/containerd/io.containerd.grpc.v1.cri/sandboxes"
# The pause process of every pod: one above the kernel's PID_MAX_LIMIT
# (4194304 on 64-bit), so /proc/<pid>/ns/* never resolves on the machine that
# runs the test: the hook sees "joins another namespace", as it would for a
# pod's own namespaces on a node.
SANDBOX_PID = 4194304
# A pause process in the host's namespaces (hostNetwork/hostPID/hostIPC pods),
# offline: a process known to be in the checker's namespaces, itself.
HOST_NS_PROC = "/proc/self"
USERNS_HOST_ID = 196608  # kubelet's userns manager: a 65536 block, not the first
HOOK = {"path": "/usr/libexec/oci/hooks.d/oci-psp-hook", "args": ["oci-psp-hook", "hook"]}

# containerd's default set (populateDefaultUnixSpec), in its order.
DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]
# WithAllCurrentCapabilities on a Linux 6.x node (all 41).
ALL_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]
# Pod Security Standards v1.37.
PSS_BASELINE_CAPS = [
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
]
# What the Pod Security Standards allow, each with the minor version (v1.N)
# that added it: the translator judges a fixture's evidence by the rules of
# the fixture's own version.
PSS_SELINUX_TYPES = [("container_t", 0), ("container_init_t", 0), ("container_kvm_t", 0),
                     ("container_engine_t", 31)]
PSS_SAFE_SYSCTLS = [
    ("kernel.shm_rmid_forced", 0), ("net.ipv4.ip_local_port_range", 0),
    ("net.ipv4.ip_unprivileged_port_start", 0), ("net.ipv4.tcp_syncookies", 0),
    ("net.ipv4.ping_group_range", 0), ("net.ipv4.ip_local_reserved_ports", 27),
    ("net.ipv4.tcp_keepalive_time", 29), ("net.ipv4.tcp_fin_timeout", 29),
    ("net.ipv4.tcp_keepalive_intvl", 29), ("net.ipv4.tcp_keepalive_probes", 29),
    ("net.ipv4.tcp_rmem", 32), ("net.ipv4.tcp_wmem", 32),
    ("net.ipv4.tcp_slow_start_after_idle", 37), ("net.ipv4.tcp_notsent_lowat", 37),
]
# Restricted's own rules began in these versions; before, restricted judged
# capabilities and seccomp as baseline does.
RESTRICTED_CAPABILITIES, RESTRICTED_SECCOMP = 22, 19
# hostUsers: false relaxes baseline's procMount from this version.
USER_NAMESPACE_RELAXATIONS = 35


def at(versioned, minor):
    return {name for name, since in versioned if since <= minor}


PSS_RESTRICTED_VOLUMES = [
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
    "persistentVolumeClaim", "projected", "secret",
]

# kubelet's pkg/securitycontext defaults for procMount Default.
MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
# containerd's own defaults, which only the sandbox keeps.
CONTAINERD_MASKED_PATHS = [
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
    "/sys/devices/virtual/powercap", "/proc/scsi",
]

DEFAULT_DEVICE_RULES = [{"allow": False, "access": "rwm"}] + [
    {"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"}
    for major, minor in [(1, 3), (1, 8), (1, 7), (5, 0), (1, 5), (1, 9), (5, 1), (136, None),
                         (5, 2), (10, 200)]
]
for _rule in DEFAULT_DEVICE_RULES:
    if "minor" in _rule and _rule["minor"] is None:
        del _rule["minor"]

# oci.WithHostDevices on a typical VM node (an excerpt; every node differs).
HOST_DEVICES = [
    ("/dev/fuse", "c", 10, 229, 0o666), ("/dev/kmsg", "c", 1, 11, 0o644),
    ("/dev/kvm", "c", 10, 232, 0o660), ("/dev/loop0", "b", 7, 0, 0o660),
    ("/dev/mem", "c", 1, 1, 0o640), ("/dev/net/tun", "c", 10, 200, 0o666),
    ("/dev/nvme0n1", "b", 259, 0, 0o660), ("/dev/tty0", "c", 4, 0, 0o620),
    ("/dev/vda", "b", 254, 0, 0o660), ("/dev/vda1", "b", 254, 1, 0o660),
]

# containerd's RuntimeDefault profile (contrib/seccomp), abridged: the hook
# reads only that a profile is there and its defaultAction.
RUNTIME_DEFAULT_SYSCALLS = [
    "accept", "accept4", "access", "arch_prctl", "bind", "brk", "capget", "capset", "chdir",
    "chmod", "chown", "clock_gettime", "clone", "clone3", "close", "connect", "dup", "dup2",
    "dup3", "epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_wait", "execve", "exit",
    "exit_group", "faccessat", "faccessat2", "fchdir", "fchmod", "fchown", "fcntl", "fstat",
    "fstatfs", "futex", "getcwd", "getdents64", "getegid", "geteuid", "getgid", "getpid",
    "getppid", "getrandom", "getuid", "ioctl", "kill", "listen", "lseek", "madvise", "mkdirat",
    "mmap", "mprotect", "munmap", "nanosleep", "newfstatat", "openat", "pause", "pipe2",
    "poll", "prctl", "pread64", "prlimit64", "read", "readlinkat", "recvfrom", "recvmsg",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sched_yield", "sendmsg", "sendto",
    "set_robust_list", "set_tid_address", "setgid", "setgroups", "setsockopt", "setuid",
    "sigaltstack", "socket", "statx", "tgkill", "uname", "unlinkat", "wait4", "write", "writev",
]


def runtime_default_seccomp():
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": RUNTIME_DEFAULT_SYSCALLS, "action": "SCMP_ACT_ALLOW"},
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}],
            },
        ],
        "defaultErrnoRet": 1,
    }


def localhost_seccomp(name):
    # What /var/lib/kubelet/seccomp/<name> holds is the node admin's; a
    # confining stand-in.
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": RUNTIME_DEFAULT_SYSCALLS, "action": "SCMP_ACT_ALLOW"}],
    }


# In-tree volume plugins: PSP volume field -> kubelet plugin directory.
VOLUME_PLUGIN_DIRS = {
    "emptyDir": "kubernetes.io~empty-dir",
    "secret": "kubernetes.io~secret",
    "configMap": "kubernetes.io~configmap",
    "downwardAPI": "kubernetes.io~downward-api",
    "projected": "kubernetes.io~projected",
    "csi": "kubernetes.io~csi",
    "gitRepo": "kubernetes.io~git-repo",
    "nfs": "kubernetes.io~nfs",
    "iscsi": "kubernetes.io~iscsi",
    "glusterfs": "kubernetes.io~glusterfs",
    "rbd": "kubernetes.io~rbd",
    "cephfs": "kubernetes.io~cephfs",
    "fc": "kubernetes.io~fc",
    "flocker": "kubernetes.io~flocker",
    "quobyte": "kubernetes.io~quobyte",
    "storageos": "kubernetes.io~storageos",
    "scaleIO": "kubernetes.io~scaleio",
    "photonPersistentDisk": "kubernetes.io~photon-pd",
}
# Inline volumes of these types are served by a CSI driver since CSI migration
# (the in-tree code is gone): the kubelet mounts them under kubernetes.io~csi.
CSI_MIGRATED = {
    "gcePersistentDisk": "pd.csi.storage.gke.io",
    "awsElasticBlockStore": "ebs.csi.aws.com",
    "azureDisk": "disk.csi.azure.com",
    "azureFile": "file.csi.azure.com",
    "vsphereVolume": "csi.vsphere.vmware.com",
    "cinder": "cinder.csi.openstack.org",
    "portworxVolume": "pxd.portworx.com",
}
# Volume types that can back a PersistentVolume: on the node their mount looks
# the same whether the pod named them inline or through a claim.
PV_CAPABLE = set(CSI_MIGRATED) | {
    "nfs", "iscsi", "glusterfs", "rbd", "cephfs", "fc", "flocker", "quobyte", "storageos",
    "scaleIO", "photonPersistentDisk", "flexVolume", "csi",
}
# In-tree plugins a v1.37 kubelet no longer has (the pod would not start);
# translated as a kubelet that still had them would mount them.
REMOVED_PLUGINS = {
    "scaleIO": "v1.22", "flocker": "v1.25", "quobyte": "v1.25", "storageos": "v1.25",
    "glusterfs": "v1.26", "rbd": "v1.31", "cephfs": "v1.31",
}
# Read-only by the plugin (atomic writer volumes).
READ_ONLY_PLUGINS = {"secret", "configMap", "downwardAPI", "projected"}


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def digest(*parts):
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def stable_uuid(*parts):
    return str(uuid.UUID(digest(*parts)[:32]))


def volume_type(volume):
    types = [k for k in volume if k != "name" and not k.startswith("_")]
    return types[0] if types else "emptyDir"


def containers_of(pod):
    spec = pod["spec"]
    for kind, key in (("init", "initContainers"), ("regular", "containers"),
                      ("ephemeral", "ephemeralContainers")):
        for c in spec.get(key) or []:
            yield kind, c


def pod_sc(pod):
    return pod["spec"].get("securityContext") or {}


def effective_sc(pod, container):
    """kubelet's DetermineEffectiveSecurityContext: the pod's fields the
    container inherits, each overridden by the container's own; seLinuxOptions
    is replaced as a whole."""
    psc = pod_sc(pod)
    eff = {k: psc[k] for k in ("seLinuxOptions", "windowsOptions", "runAsUser", "runAsGroup",
                               "runAsNonRoot", "procMount") if k in psc}
    csc = container.get("securityContext") or {}
    eff.update(csc)
    return eff


def seccomp_type(pod, container):
    """kubelet's getSeccompProfile: container, then pod; unset is Unconfined
    (no SeccompDefault). Returns (type, localhostProfile)."""
    for sc in ((container.get("securityContext") or {}), pod_sc(pod)):
        prof = sc.get("seccompProfile")
        if prof:
            return prof.get("type"), prof.get("localhostProfile")
    return None, None


def apparmor_type(pod, container):
    """kubelet's getAppArmorProfile: container field, pod field, then the
    deprecated annotation. Returns (type, localhostProfile) or (None, None)."""
    for sc in ((container.get("securityContext") or {}), pod_sc(pod)):
        prof = sc.get("appArmorProfile")
        if prof:
            return prof.get("type"), prof.get("localhostProfile")
    ann = (pod["metadata"].get("annotations") or {}).get(
        "container.apparmor.security.beta.kubernetes.io/" + container["name"])
    if ann is None:
        return None, None
    if ann == "runtime/default":
        return "RuntimeDefault", None
    if ann == "unconfined":
        return "Unconfined", None
    if ann.startswith("localhost/"):
        return "Localhost", ann[len("localhost/"):]
    return ann, None


def host_ns(pod):
    spec = pod["spec"]
    return {
        "network": bool(spec.get("hostNetwork")),
        "pid": bool(spec.get("hostPID")),
        "ipc": bool(spec.get("hostIPC")),
    }


def user_namespaced(pod):
    return pod["spec"].get("hostUsers") is False


def pod_uses_selinux(pod):
    if "seLinuxOptions" in pod_sc(pod):
        return True
    return any("seLinuxOptions" in (c.get("securityContext") or {})
               for _, c in containers_of(pod))


SELINUX_DEFAULT = {"user": "system_u", "role": "system_r", "type": "container_t",
                   "level": "s0:c123,c456"}


def selinux_label(options):
    """go-selinux InitLabels: the runtime default label with the given
    fields replaced (the level's categories are random per pod on a node)."""
    fields = dict(SELINUX_DEFAULT)
    for key in ("user", "role", "type", "level"):
        if (options or {}).get(key):
            fields[key] = options[key]
    return ":".join(fields[k] for k in ("user", "role", "type", "level"))


def mount_label(process_label):
    user, role, _, level = process_label.split(":", 3)
    return ":".join((user, "object_r", "container_file_t", level))


def sandbox_label(pod):
    if not pod_uses_selinux(pod):
        return None
    return selinux_label(pod_sc(pod).get("seLinuxOptions"))


def container_label(pod, container):
    """containerd: the container's own options when any field is set, else
    the sandbox's label (which came from the pod's options)."""
    if not pod_uses_selinux(pod):
        return None
    if container_privileged(pod, container):
        return None
    own = effective_sc(pod, container).get("seLinuxOptions") or {}
    if any(own.get(k) for k in ("user", "role", "type", "level")):
        return selinux_label(own)
    return sandbox_label(pod)


def container_privileged(pod, container):
    return bool((container.get("securityContext") or {}).get("privileged"))


def container_caps(pod, container):
    """containerd WithCapabilities (add ALL, drop ALL, then each add/drop as
    "CAP_" + upper case), or every capability for a privileged container."""
    if container_privileged(pod, container):
        return list(ALL_CAPS)
    caps = list(DEFAULT_CAPS)
    req = (container.get("securityContext") or {}).get("capabilities")
    if req is None:
        return caps
    add, drop = req.get("add") or [], req.get("drop") or []
    if "ALL" in add:
        caps = list(ALL_CAPS)
    if "ALL" in drop:
        caps = []
    for c in add:
        if c.upper() != "ALL":
            name = "CAP_" + c.upper()
            if name not in caps:
                caps.append(name)
    dropped = {"CAP_" + c.upper() for c in drop if c.upper() != "ALL"}
    return [c for c in caps if c not in dropped]


def container_uid(pod, container):
    """runAsUser, else the image's user: root, unless the container declares
    runAsNonRoot (then the kubelet would refuse a root image, so the image's
    user is taken to be a non-root one)."""
    eff = effective_sc(pod, container)
    if eff.get("runAsUser") is not None:
        return eff["runAsUser"]
    return NON_ROOT_IMAGE_USER if eff.get("runAsNonRoot") is True else 0


def container_gid(pod, container):
    eff = effective_sc(pod, container)
    return eff["runAsGroup"] if eff.get("runAsGroup") is not None else 0


def supplemental_gids(pod):
    psc = pod_sc(pod)
    gids = []
    if psc.get("fsGroup") is not None:
        gids.append(psc["fsGroup"])
    gids.extend(psc.get("supplementalGroups") or [])
    return gids


def unmasked(pod, container):
    return effective_sc(pod, container).get("procMount") == "Unmasked"


def no_new_privs(pod, container):
    return (container.get("securityContext") or {}).get("allowPrivilegeEscalation") is False


# --------------------------------------------------------------------------
# API defaulting and admission
# --------------------------------------------------------------------------


def admitted(pod):
    """What the API server stores: a volume with no source becomes emptyDir,
    ports get protocol TCP, containers a terminationMessagePath; the
    ServiceAccount admission plugin adds the kube-api-access volume."""
    pod = json.loads(json.dumps(pod))
    spec = pod["spec"]
    spec.setdefault("volumes", [])
    for v in spec["volumes"]:
        if volume_type(v) == "emptyDir" and "emptyDir" not in v:
            v["emptyDir"] = {}
    spec["volumes"].append({
        "name": "kube-api-access-" + digest(pod["metadata"]["name"])[:5],
        "projected": {"sources": [{"serviceAccountToken": {"path": "token"}},
                                  {"configMap": {"name": "kube-root-ca.crt"}},
                                  {"downwardAPI": {}}]},
        "_serviceAccount": True,
    })
    for _, c in containers_of(pod):
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        for p in c.get("ports") or []:
            p.setdefault("protocol", "TCP")
    return pod


# --------------------------------------------------------------------------
# config.json
# --------------------------------------------------------------------------


class Unit:
    """One config.json: the pod sandbox or one container."""

    def __init__(self, level, verdict, fixture, pod, kind, container=None):
        self.pod = pod
        self.kind = kind  # sandbox, init, regular, ephemeral
        self.container = container
        self.name = "POD" if kind == "sandbox" else container["name"]
        name = pod["metadata"]["name"]
        self.pod_uid = stable_uuid(level, verdict, fixture)
        self.sandbox_id = digest(level, verdict, fixture, "sandbox")
        self.id = self.sandbox_id if kind == "sandbox" else digest(
            level, verdict, fixture, self.name)
        self.pod_name = name


def ns_path(unit, kind, host):
    proc = HOST_NS_PROC if host else f"/proc/{SANDBOX_PID}"
    return f"{proc}/ns/{kind}"


def cgroups_path(unit):
    uid = unit.pod_uid.replace("-", "_")
    return f"kubepods-besteffort-pod{uid}.slice:cri-containerd:{unit.id}"


def std_mounts(sysfs_rw=False):
    return [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "rw" if sysfs_rw else "ro"]},
    ]


def id_mappings():
    return [{"containerID": 0, "hostID": USERNS_HOST_ID, "size": 65536}]


def volume_source(unit, volume):
    """The host path kubelet hands to the runtime for a pod volume."""
    pod_dir = f"{KUBELET}/pods/{unit.pod_uid}"
    vtype = volume_type(volume)
    name = volume["name"]
    if vtype == "hostPath":
        return volume["hostPath"]["path"]
    if vtype in ("persistentVolumeClaim", "ephemeral"):
        # a claim bound to a CSI persistent volume
        pv = "pvc-" + stable_uuid(unit.pod_uid, name)
        return f"{pod_dir}/volumes/kubernetes.io~csi/{pv}/mount"
    if vtype in CSI_MIGRATED:
        return f"{pod_dir}/volumes/kubernetes.io~csi/{name}/mount"
    if vtype == "csi":
        return f"{pod_dir}/volumes/kubernetes.io~csi/{name}/mount"
    if vtype == "flexVolume":
        driver = volume["flexVolume"]["driver"].replace("/", "~")
        return f"{pod_dir}/volumes/{driver}/{name}"
    return f"{pod_dir}/volumes/{VOLUME_PLUGIN_DIRS[vtype]}/{name}"


def bind(src, dst, read_only, userns):
    m = {"destination": dst, "type": "bind", "source": src,
         "options": ["rbind", "rprivate", "ro" if read_only else "rw"]}
    if userns:
        m["uidMappings"] = id_mappings()
        m["gidMappings"] = id_mappings()
    return m


def container_mounts(unit):
    """kubelet's mounts (every pod volume at /mnt/<name>, the token at its
    usual place, /etc/hosts, the termination log), then containerd's sandbox
    files, sorted by depth as containerd's WithMounts does."""
    pod, c = unit.pod, unit.container
    userns = user_namespaced(pod)
    pod_dir = f"{KUBELET}/pods/{unit.pod_uid}"
    kubelet = []
    for v in pod["spec"]["volumes"]:
        dst = ("/var/run/secrets/kubernetes.io/serviceaccount" if v.get("_serviceAccount")
               else "/mnt/" + v["name"])
        ro = volume_type(v) in READ_ONLY_PLUGINS
        kubelet.append(bind(volume_source(unit, v), dst, ro, userns))
    kubelet.append(bind(f"{pod_dir}/etc-hosts", "/etc/hosts", False, userns))
    log = digest(unit.id, "termination-log")[:8]
    kubelet.append(bind(f"{pod_dir}/containers/{c['name']}/{log}",
                        c["terminationMessagePath"], False, userns))
    shm = "/dev/shm" if host_ns(pod)["ipc"] else f"{CRI_STATE}/{unit.sandbox_id}/shm"
    extra = [
        bind(f"{CRI_ROOT}/{unit.sandbox_id}/hostname", "/etc/hostname", False, userns),
        bind(f"{CRI_ROOT}/{unit.sandbox_id}/resolv.conf", "/etc/resolv.conf", False, userns),
        bind(shm, "/dev/shm", False, False),
    ]
    mounts = kubelet + [e for e in extra
                        if e["destination"] not in {k["destination"] for k in kubelet}]
    mounts.sort(key=lambda m: m["destination"].rstrip("/").count("/"))
    return mounts


def container_config(unit):
    pod, c = unit.pod, unit.container
    eff = effective_sc(pod, c)
    privileged = container_privileged(pod, c)
    hosts = host_ns(pod)
    userns = user_namespaced(pod)
    caps = container_caps(pod, c)

    process = {
        "user": {
            "uid": container_uid(pod, c),
            "gid": container_gid(pod, c),
            "additionalGids": sorted({container_gid(pod, c), *supplemental_gids(pod)}),
        },
        "args": ["/pause"],
        "env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOSTNAME=" + unit.pod_name,
        ],
        "cwd": "/",
        "capabilities": ({"bounding": caps, "effective": caps, "permitted": caps}
                         if caps else {}),
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": no_new_privs(pod, c),
        "oomScoreAdj": 1000,
    }
    # containerd's GenerateApparmorSpecOpts on a node with AppArmor: nothing
    # asked for means RuntimeDefault, which privileged containers do without;
    # Unconfined means no profile at all.
    aa_type, aa_name = apparmor_type(pod, c)
    if aa_type in (None, "RuntimeDefault") and not privileged:
        process["apparmorProfile"] = "cri-containerd.apparmor.d"
    elif aa_type == "Localhost":
        process["apparmorProfile"] = aa_name
    label = container_label(pod, c)
    if label:
        process["selinuxLabel"] = label

    namespaces = [{"type": "pid"}]
    if hosts["pid"]:
        namespaces = [{"type": "pid", "path": ns_path(unit, "pid", True)}]
    namespaces += [
        {"type": "ipc", "path": ns_path(unit, "ipc", hosts["ipc"])},
        {"type": "uts", "path": ns_path(unit, "uts", hosts["network"])},
        {"type": "mount"},
        {"type": "network", "path": ns_path(unit, "net", hosts["network"])},
    ]
    if not privileged:
        namespaces.append({"type": "cgroup"})
    if userns:
        namespaces.append({"type": "user", "path": ns_path(unit, "user", False)})

    mounts = std_mounts(sysfs_rw=privileged)
    mounts.append({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                   "options": ["nosuid", "noexec", "nodev", "relatime",
                               "rw" if privileged else "ro"]})
    mounts += container_mounts(unit)

    linux = {
        "resources": {
            "devices": ([{"allow": True, "access": "rwm"}] if privileged
                        else DEFAULT_DEVICE_RULES),
            "memory": {},
            "cpu": {"shares": 2},
        },
        "cgroupsPath": cgroups_path(unit),
        "namespaces": namespaces,
    }
    if userns:
        linux["uidMappings"] = id_mappings()
        linux["gidMappings"] = id_mappings()
    if privileged:
        linux["devices"] = [
            {"path": p, "type": t, "major": ma, "minor": mi,
             "fileMode": (0o20000 if t == "c" else 0o60000) | mode, "uid": 0, "gid": 0}
            for p, t, ma, mi, mode in HOST_DEVICES
        ]
    elif not unmasked(pod, c):
        linux["maskedPaths"] = MASKED_PATHS
        linux["readonlyPaths"] = READONLY_PATHS
    s_type, s_name = seccomp_type(pod, c)
    if not privileged:
        if s_type == "RuntimeDefault":
            linux["seccomp"] = runtime_default_seccomp()
        elif s_type == "Localhost":
            linux["seccomp"] = localhost_seccomp(s_name)
    if label:
        linux["mountLabel"] = mount_label(label)

    annotations = {
        "io.kubernetes.cri.container-name": c["name"],
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.image-name": c.get("image", IMAGE),
        "io.kubernetes.cri.sandbox-id": unit.sandbox_id,
        "io.kubernetes.cri.sandbox-name": unit.pod_name,
        "io.kubernetes.cri.sandbox-namespace": NAMESPACE,
        "io.kubernetes.cri.sandbox-uid": unit.pod_uid,
    }
    if c.get("ports"):
        # kubelet's container annotation, passed through by containerd's
        # container_annotations (CRI-O passes every kubelet annotation)
        annotations["io.kubernetes.container.ports"] = json.dumps(
            c["ports"], separators=(",", ":"))

    config = {
        "ociVersion": "1.2.1",
        "process": process,
        "root": {"path": "rootfs"},
        "mounts": mounts,
        "hooks": {"createRuntime": [HOOK]},
        "annotations": dict(sorted(annotations.items())),
        "linux": linux,
    }
    if eff.get("readOnlyRootFilesystem"):
        config["root"]["readonly"] = True
    return config


def sandbox_config(unit):
    pod = unit.pod
    psc = pod_sc(pod)
    hosts = host_ns(pod)
    userns = user_namespaced(pod)
    uid = psc.get("runAsUser", PAUSE_USER)
    gid = psc.get("runAsGroup", PAUSE_USER if "runAsUser" not in psc else 0)
    process = {
        "user": {"uid": uid, "gid": gid},
        "args": ["/pause"],
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "cwd": "/",
        "capabilities": {"bounding": DEFAULT_CAPS, "effective": DEFAULT_CAPS,
                         "permitted": DEFAULT_CAPS},
        "noNewPrivileges": True,
        "oomScoreAdj": -998,
    }
    gids = supplemental_gids(pod)
    if gids:
        process["user"]["additionalGids"] = sorted(set(gids))
    label = sandbox_label(pod)
    if label:
        process["selinuxLabel"] = label

    namespaces = []
    if not hosts["pid"]:
        namespaces.append({"type": "pid"})
    if not hosts["ipc"]:
        namespaces.append({"type": "ipc"})
    if not hosts["network"]:
        namespaces.append({"type": "uts"})
    namespaces.append({"type": "mount"})
    if not hosts["network"]:
        namespaces.append({"type": "network",
                           "path": "/var/run/netns/cni-" + stable_uuid(unit.sandbox_id)})
    if userns:
        namespaces.append({"type": "user", "path": f"{CRI_STATE}/{unit.sandbox_id}/userns"})

    shm = "/dev/shm" if hosts["ipc"] else f"{CRI_STATE}/{unit.sandbox_id}/shm"
    mounts = std_mounts() + [
        {"destination": "/dev/shm", "type": "bind", "source": shm,
         "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]},
        {"destination": "/etc/resolv.conf", "type": "bind",
         "source": f"{CRI_ROOT}/{unit.sandbox_id}/resolv.conf",
         "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]},
    ]

    sysctls = {s["name"]: str(s["value"]) for s in psc.get("sysctls") or []}
    if not hosts["network"]:
        sysctls.setdefault("net.ipv4.ip_unprivileged_port_start", "0")
        if not userns:
            sysctls.setdefault("net.ipv4.ping_group_range", "0 2147483647")

    linux = {
        "sysctl": sysctls,
        "resources": {"devices": DEFAULT_DEVICE_RULES, "cpu": {"shares": 2}},
        "cgroupsPath": cgroups_path(unit),
        "namespaces": namespaces,
        "maskedPaths": CONTAINERD_MASKED_PATHS,
        "readonlyPaths": READONLY_PATHS,
    }
    if userns:
        linux["uidMappings"] = id_mappings()
        linux["gidMappings"] = id_mappings()
    privileged = any(container_privileged(pod, c) for _, c in containers_of(pod))
    s_type, s_name = seccomp_type(pod, {})
    if not privileged:
        if s_type == "RuntimeDefault":
            linux["seccomp"] = runtime_default_seccomp()
        elif s_type == "Localhost":
            linux["seccomp"] = localhost_seccomp(s_name)
    if label:
        linux["mountLabel"] = mount_label(label)

    annotations = {
        "io.kubernetes.cri.container-type": "sandbox",
        "io.kubernetes.cri.podsandbox.image-name": PAUSE_IMAGE,
        "io.kubernetes.cri.sandbox-id": unit.sandbox_id,
        "io.kubernetes.cri.sandbox-log-directory":
            f"/var/log/pods/{NAMESPACE}_{unit.pod_name}_{unit.pod_uid}",
        "io.kubernetes.cri.sandbox-name": unit.pod_name,
        "io.kubernetes.cri.sandbox-namespace": NAMESPACE,
        "io.kubernetes.cri.sandbox-uid": unit.pod_uid,
    }
    config = {
        "ociVersion": "1.2.1",
        "process": process,
        "root": {"path": "rootfs", "readonly": True},
        "mounts": mounts,
        "annotations": annotations,
        "linux": linux,
    }
    if not hosts["network"]:
        config["hostname"] = unit.pod_name
    return config


# --------------------------------------------------------------------------
# Which configs of a failing pod carry the violation
# --------------------------------------------------------------------------


def caps_beyond(level, caps, minor):
    if level == "baseline" or minor < RESTRICTED_CAPABILITIES:
        allowed = set(DEFAULT_CAPS) | {"CAP_" + c for c in PSS_BASELINE_CAPS}
    else:
        allowed = {"CAP_NET_BIND_SERVICE"}
    return [c for c in caps if c not in allowed]


def has_evidence(level, minor, check, unit):
    """Whether this config.json shows what makes the pod fail `check` at
    `level` v1.`minor`, judged from the pod the way the node sees it. The
    sandbox carries only pod-level settings."""
    pod = unit.pod
    sandbox = unit.kind == "sandbox"
    c = unit.container
    if check == "hostnamespaces":
        return any(host_ns(pod).values())
    if check == "sysctls":
        return sandbox and any(s["name"] not in at(PSS_SAFE_SYSCTLS, minor)
                               for s in pod_sc(pod).get("sysctls") or [])
    if sandbox:
        return False
    if check in ("capabilities_baseline", "capabilities_restricted"):
        return bool(caps_beyond(level, container_caps(pod, c), minor))
    if check == "privileged":
        return container_privileged(pod, c)
    if check == "hostpathvolumes":
        return any(volume_type(v) == "hostPath" for v in pod["spec"]["volumes"])
    if check == "restrictedvolumes":
        return any(volume_type(v) not in PSS_RESTRICTED_VOLUMES
                   and volume_type(v) not in PV_CAPABLE for v in pod["spec"]["volumes"])
    if check == "hostports":
        return any(p.get("hostPort") for p in c.get("ports") or [])
    if check == "procmount":
        return unmasked(pod, c) and not (level == "baseline" and user_namespaced(pod)
                                         and minor >= USER_NAMESPACE_RELAXATIONS)
    if check == "procmount_restricted":
        return unmasked(pod, c)
    if check in ("seccompprofile_baseline", "seccompprofile_restricted"):
        if level == "baseline" or minor < RESTRICTED_SECCOMP:
            return False  # explicit Unconfined looks like unset
        return seccomp_type(pod, c)[0] not in ("RuntimeDefault", "Localhost")
    if check == "selinuxoptions":
        label = container_label(pod, c)
        if not label:
            return False
        user, role, type_, _ = label.split(":", 3)
        return (type_ not in at(PSS_SELINUX_TYPES, minor) or user != SELINUX_DEFAULT["user"]
                or role != SELINUX_DEFAULT["role"])
    if check in ("runasnonroot", "runasuser"):
        return container_uid(pod, c) == 0
    if check == "allowprivilegeescalation":
        return not no_new_privs(pod, c)
    if check == "apparmorprofile":
        return apparmor_type(pod, c)[0] == "Unconfined"
    raise ValueError(f"no evidence rule for check {check}")


# Fixtures skipped before translation, with the reason.
def skip_before(level, verdict, check, pod):
    spec = pod["spec"]
    if check == "windowshostprocess":
        return ("Windows only: windowsOptions.hostProcess has no meaning on a Linux node "
                "(the pod's hostNetwork would show, but that is another check)")
    if (spec.get("os") or {}).get("name") == "windows":
        return "Windows pod (spec.os.name: windows): no Linux config.json"
    if check == "hostprobesandhostlifecycle" and verdict == "fail":
        return ("probe/lifecycle handler host: the kubelet runs probes and hooks, "
                "nothing reaches config.json")
    return None


def no_trace_reason(level, check, pod):
    if check == "capabilities_baseline":
        adds = sorted({a for _, c in containers_of(pod)
                       for a in ((c.get("securityContext") or {}).get("capabilities") or {})
                       .get("add") or []})
        inexact = [a for a in adds if a.upper() in PSS_BASELINE_CAPS and a not in PSS_BASELINE_CAPS]
        note = (f" (PSA refuses {', '.join(inexact)} for its spelling; containerd upper-cases it)"
                if inexact else "")
        return f"adds {', '.join(adds)}, which containerd grants by default{note}"
    if check == "seccompprofile_baseline":
        return ("explicit Unconfined seccomp vs unset: without SeccompDefault the kubelet "
                "sends Unconfined for both; containerd writes no linux.seccomp either way")
    if check == "restrictedvolumes":
        types = sorted({volume_type(v) for v in pod["spec"]["volumes"]
                        if not v.get("_serviceAccount")})
        how = ("served by its CSI driver since CSI migration (kubernetes.io~csi), like an "
               "allowed csi volume or claim" if any(t in CSI_MIGRATED for t in types) else
               "a PV-capable plugin: its mount looks the same whether inline or through an "
               "allowed persistentVolumeClaim")
        gone = [t for t in types if t in REMOVED_PLUGINS]
        if gone:
            how += f"; the in-tree plugin left the kubelet in {REMOVED_PLUGINS[gone[0]]}"
        return f"inline {', '.join(types)} volume: {how}"
    return "no container's config.json differs from a compliant one"


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def to_json(value, indent=0, width=100):
    """JSON with objects one key a line and arrays of scalars packed into
    lines of at most `width` columns (readable diffs, a third of the size)."""
    pad, inner = " " * indent, " " * (indent + 4)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {to_json(v, indent + 4, width)}"
                 for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        if all(not isinstance(v, (dict, list)) for v in value):
            flat = "[" + ", ".join(json.dumps(v) for v in value) + "]"
            if indent + len(flat) <= width:
                return flat
            lines, line = [], ""
            for v in (json.dumps(v) for v in value):
                if line and len(inner) + len(line) + len(v) + 2 > width:
                    lines.append(line + ",")
                    line = ""
                line += (", " if line else "") + v
            lines.append(line)
            return "[\n" + "\n".join(inner + ln for ln in lines) + "\n" + pad + "]"
        return "[\n" + ",\n".join(inner + to_json(v, indent + 4, width)
                                    for v in value) + "\n" + pad + "]"
    return json.dumps(value)


def version_key(name):
    return tuple(int(x) for x in name.lstrip("v").split("."))


def version_ranges(versions):
    """`v1.0–v1.7, v1.37` for a sorted list of versions (consecutive minors
    joined)."""
    minors = [version_key(v)[1] for v in versions]
    runs, start = [], None
    for i, m in enumerate(minors):
        if start is None:
            start = m
        if i + 1 == len(minors) or minors[i + 1] != m + 1:
            runs.append(f"v1.{start}" if start == m else f"v1.{start}–v1.{m}")
            start = None
    return ", ".join(runs)


def translate(src, level, verdict, version, written, skipped, configs):
    """Translate one `<level>/<version>/<verdict>` directory."""
    for path in sorted((src / level / version / verdict).glob("*.yaml")):
        fixture = path.stem
        check = re.sub(r"\d+$", "", fixture)
        pod = load_yaml(path)
        reason = skip_before(level, verdict, check, pod)
        if reason:
            skipped.append((f"{level}/{verdict}/{fixture}", version, reason))
            continue
        pod = admitted(pod)
        units = [Unit(level, verdict, fixture, pod, "sandbox")] + [
            Unit(level, verdict, fixture, pod, kind, c)
            for kind, c in containers_of(pod)]
        emitted = 0
        for unit in units:
            if verdict == "fail" and not has_evidence(level, version_key(version)[1], check, unit):
                continue
            config = (sandbox_config(unit) if unit.kind == "sandbox"
                      else container_config(unit))
            text = to_json(config) + "\n"
            assert json.loads(text) == config
            key = hashlib.sha256(text.encode()).hexdigest()[:16]
            configs[key] = text
            written.append((level, version, verdict, f"{fixture}-{unit.name}", key))
            emitted += 1
        if emitted == 0:
            skipped.append((f"{level}/{verdict}/{fixture}", version,
                            no_trace_reason(level, check, pod)))


def main(argv):
    repo = Path(__file__).resolve().parents[2]
    src = (Path(argv[1]) if len(argv) > 1
           else repo.parent / "shared" / "psa-fixtures-by-version")
    dst = Path(argv[2]) if len(argv) > 2 else repo / "tests" / "psa"
    written, skipped, configs = [], [], {}
    for level in ("baseline", "restricted"):
        versions = sorted((d.name for d in (src / level).iterdir() if d.is_dir()),
                          key=version_key)
        for version in versions:
            for verdict in ("pass", "fail"):
                translate(src, level, verdict, version, written, skipped, configs)
    out = dst / "configs"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.json"):
        old.unlink()
    for key, text in configs.items():
        (out / f"{key}.json").write_text(text)
    with open(dst / "index.tsv", "w") as f:
        f.write("# level\tversion\tverdict\tfixture-container (or fixture)\t"
                "config: configs/<config>.json (or - and why no config.json shows it)\n")
        for row in written:
            f.write("\t".join(row) + "\n")
        for name, version, reason in skipped:
            level, verdict, fixture = name.split("/")
            f.write("\t".join((level, version, verdict, fixture, "-", reason)) + "\n")
    update_readme(dst / "README.md", skipped, written, configs)
    print(f"wrote {len(configs)} distinct config.json files for {len(written)} "
          f"(level, version, fixture, container) cases; {len(skipped)} skips")
    return 0


BEGIN, END = "<!-- BEGIN SKIPPED (written by translate.py) -->", "<!-- END SKIPPED -->"


def update_readme(readme, skipped, written, configs):
    if not readme.exists():
        return
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        return
    counts = {}
    for level, version, verdict, _, _ in written:
        key = f"{level}/{verdict}"
        counts[key] = counts.get(key, 0) + 1
    by_fixture = {}
    for name, version, reason in skipped:
        by_fixture.setdefault((name, reason), []).append(version)
    rows = [f"{len(written)} cases (level, version, fixture, container) in "
            f"{len(configs)} distinct config.json files: " + ", ".join(
                f"{k} {v}" for k, v in sorted(counts.items()))
            + f"; {len(by_fixture)} fixtures skipped, in the versions listed.",
            "", "| fixture | versions | why it is skipped |", "|---|---|---|"]
    rows += [f"| `{name}` | {version_ranges(sorted(vs, key=version_key))} | {reason} |"
             for (name, reason), vs in sorted(by_fixture.items())]
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + BEGIN + "\n" + "\n".join(rows) + "\n" + END + tail)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
