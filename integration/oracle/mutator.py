"""The mutator: runtime-spec mutations drawn from the whole spec and runc's
extensions, deterministic from a seed.

A mutation is a JSON object {"kind", "label", ...params}: `generate(rng,
facts)` draws one, `apply(config, extras, mutation)` applies it to a config
(in place) and to the bundle's extras (symlinks, directories the bundle needs).
A config's mutations are a list, so minimisation can drop them one at a time
and a finding records them as they were drawn. Strings may hold the
placeholders of oracle.py (@WORK@, @BUNDLE@, @ROOTDISK@).

`safe(config)` refuses combinations that could touch the host beyond the
container (see README.md, "Safety"): a remount that could reconfigure a
superblock the host shares, sysctls written through a namespace runc would
not have made for the container, the host's mount namespace.
"""

import copy

CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")

# Capabilities worth adding (CAP_SYS_RESOURCE is left out: this host's own
# bounding set lacks it, so runc cannot grant it), and spellings runc reads
# differently from what a careless reader would.
CAPS = ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH",
        "CAP_SYS_MODULE", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SYS_RAWIO", "CAP_BPF",
        "CAP_PERFMON", "CAP_SYS_BOOT", "CAP_SETUID", "CAP_NET_BIND_SERVICE", "CAP_CHOWN",
        "CAP_DAC_OVERRIDE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_LINUX_IMMUTABLE"]
CAP_SPELLINGS = ["cap_sys_admin", "SYS_ADMIN", "Cap_Sys_Admin", "CAP_SYS_ADMIN ", "CAP_FOO"]

# Destinations through symlinks the rootfs ships (oracle.py's make_rootfs):
# /lnk-sys -> /sys, /lnk-proc -> /proc, /lnk-mnt -> mnt (relative),
# /lnk-data -> /data, /lnk-up -> ../../.. (escapes, runc clamps it).
SYMLINKS = {"/lnk-sys": "/sys", "/lnk-proc": "/proc", "/lnk-mnt": "/mnt", "/lnk-data": "/data"}

BIND_OPTS = [["rbind"], ["bind"], ["rbind", "ro"], ["bind", "ro"], ["ro", "rbind"],
             ["rbind", "ro", "rw"], ["rbind", "rro"], ["rbind", "rrw"], ["rbind", "ro", "rrw"],
             ["rbind", "rw"], ["rbind", "rprivate", "ro"], ["bind", "nosuid", "nodev", "ro"]]
BIND_EXTRA = ["", "", "", "rshared", "shared", "rslave", "private", "unbindable", "nosuid",
              "bogus-option", "x-oracle.unknown", "nosymfollow", "idmap", "rro", "remount",
              "strictatime", "mode=0755"]
PLAIN_EXTRA = ["", "", "ro", "rw", "nosuid", "bogus-option", "remount"]

# (label, mount, option variants: "bind" or "plain").
MOUNTS = [
    ("proc-extra", {"destination": "/mnt/proc2", "type": "proc", "source": "proc"}, "plain"),
    ("proc-over-proc", {"destination": "/proc", "type": "proc", "source": "proc"}, "plain"),
    ("sysfs-extra-rw", {"destination": "/mnt/sys", "type": "sysfs", "source": "sysfs",
                        "options": ["rw", "nosuid", "nodev", "noexec"]}, "plain"),
    ("sysfs-over-sys", {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["rw"]},
     "plain"),
    ("cgroup-rw", {"destination": "/mnt/cg", "type": "cgroup", "source": "cgroup",
                   "options": ["rw", "nosuid", "nodev", "noexec"]}, "plain"),
    ("cgroup2", {"destination": "/mnt/cg2", "type": "cgroup2", "source": "cgroup2", "options": ["rw"]},
     "plain"),
    ("remount-sys", {"destination": "/sys", "type": "tmpfs", "source": "tmpfs", "options": ["remount"]},
     "remount"),
    ("remount-sys-link", {"destination": "/lnk-sys", "type": "tmpfs", "source": "tmpfs",
                          "options": ["remount", "rw"]}, "remount"),
    ("remount-proc", {"destination": "/proc", "type": "proc", "source": "proc",
                      "options": ["remount", "rw"]}, "remount"),
    ("remount-bind-sys", {"destination": "/sys", "type": "none", "source": "none",
                          "options": ["remount", "bind", "rw"]}, "remount"),
    ("bind-hostdata", {"destination": "/data", "type": "bind", "source": "@WORK@/hostdata"}, "bind"),
    ("bind-root", {"destination": "/host", "type": "bind", "source": "/"}, "bind"),
    ("bind-etc", {"destination": "/host-etc", "type": "bind", "source": "/etc"}, "bind"),
    ("bind-dev", {"destination": "/host-dev", "type": "bind", "source": "/dev"}, "bind"),
    ("bind-devshm", {"destination": "/dev/shm", "type": "bind", "source": "/dev/shm"}, "bind"),
    ("bind-run", {"destination": "/host-run", "type": "bind", "source": "/run"}, "bind"),
    ("bind-sys", {"destination": "/host-sys", "type": "bind", "source": "/sys"}, "bind"),
    ("bind-proc", {"destination": "/host-proc", "type": "bind", "source": "/proc"}, "bind"),
    ("bind-cgroup", {"destination": "/host-cg", "type": "bind", "source": "/sys/fs/cgroup"}, "bind"),
    ("bind-rootdisk", {"destination": "/mnt/disknode", "type": "bind", "source": "@ROOTDISK@"}, "bind"),
    ("bind-netns", {"destination": "/mnt/netns", "type": "bind", "source": "/proc/@HOSTPID@/ns/net"},
     "bind"),
    ("bind-typed-tmpfs", {"destination": "/data", "type": "tmpfs", "source": "@WORK@/hostdata",
                          "options": ["bind"]}, "plain"),
    ("bind-type-none", {"destination": "/data", "type": "none", "source": "@WORK@/hostdata",
                        "options": ["rbind"]}, "plain"),
    ("bind-no-type", {"destination": "/data", "source": "@WORK@/hostdata", "options": ["rbind", "ro"]},
     "plain"),
    ("bind-symlink-to-etc", {"destination": "/data", "type": "bind", "source": "@WORK@/etc-link"}, "bind"),
    ("bind-proc-self-root", {"destination": "/data", "type": "bind", "source": "/proc/self/root/etc"},
     "bind"),
    ("bind-relative-source", {"destination": "/data", "type": "bind",
                              "source": "rootfs/../../../../../../../../etc"}, "bind"),
    ("bind-dotdot", {"destination": "/data", "type": "bind", "source": "@WORK@/allowed/../hostdata"},
     "bind"),
    ("bind-allowed", {"destination": "/data", "type": "bind", "source": "@WORK@/allowed"}, "bind"),
    ("bind-allowed-link-out", {"destination": "/data", "type": "bind",
                               "source": "@WORK@/allowed/link-out"}, "bind"),
    ("bind-allowed-dotdot", {"destination": "/data", "type": "bind",
                             "source": "@WORK@/allowed/sub/../../hostdata"}, "bind"),
    ("bind-bundle-dotdot", {"destination": "/data", "type": "bind", "source": "@BUNDLE@/rootfs/../.."},
     "bind"),
    ("bind-lookalike-userdata", {
        "destination": "/etc/hosts", "type": "bind",
        "source": "@WORK@/lookalike/run/containers/storage/overlay-containers/"
                  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/userdata/hosts",
        "options": ["bind", "rprivate"]}, "plain"),
    ("bind-lookalike-kubelet", {
        "destination": "/etc/cfg", "type": "bind",
        "source": "@WORK@/lookalike/var/lib/kubelet/pods/3f6b1c2a-9d4e-4f7a-8b1c-2d3e4f5a6b7c/"
                  "volumes/kubernetes.io~configmap/cfg",
        "options": ["rbind", "rprivate", "ro"]}, "plain"),
    ("ext4-rootdisk", {"destination": "/mnt/disk", "type": "ext4", "source": "@ROOTDISK@"}, "plain"),
    ("overlay-host-lower", {"destination": "/mnt/ov", "type": "overlay", "source": "overlay",
                            "options": ["lowerdir=@WORK@/hostdata:@WORK@/allowed"]}, "plain"),
    ("overlay-host-upper", {"destination": "/mnt/ov", "type": "overlay", "source": "overlay",
                            "options": ["lowerdir=@WORK@/hostdata", "upperdir=@BUNDLE@/ovl/upper",
                                        "workdir=@BUNDLE@/ovl/work"]}, "plain"),
    ("devtmpfs", {"destination": "/mnt/devtmpfs", "type": "devtmpfs", "source": "devtmpfs"}, "plain"),
    ("debugfs", {"destination": "/mnt/debug", "type": "debugfs", "source": "debugfs"}, "plain"),
    ("tracefs", {"destination": "/mnt/trace", "type": "tracefs", "source": "tracefs"}, "plain"),
    ("securityfs", {"destination": "/mnt/security", "type": "securityfs", "source": "securityfs"},
     "plain"),
    ("bpf", {"destination": "/mnt/bpf", "type": "bpf", "source": "bpf"}, "plain"),
    ("configfs", {"destination": "/mnt/config", "type": "configfs", "source": "configfs"}, "plain"),
    ("hugetlbfs", {"destination": "/mnt/huge", "type": "hugetlbfs", "source": "hugetlbfs"}, "plain"),
    ("pstore", {"destination": "/mnt/pstore", "type": "pstore", "source": "pstore"}, "plain"),
    ("mqueue", {"destination": "/mnt/mq", "type": "mqueue", "source": "mqueue"}, "plain"),
    ("devpts", {"destination": "/mnt/pts", "type": "devpts", "source": "devpts",
                "options": ["newinstance", "ptmxmode=0666"]}, "plain"),
    ("tmpfs-emptydir", {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                        "options": ["nosuid", "nodev", "mode=1777"]}, "plain"),
    ("tmpfs-over-dev", {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                        "options": ["mode=755"]}, "plain"),
]

# Where a symlink in the rootfs leads a destination.
DEST_VIA_SYMLINK = {"/data": "/lnk-data", "/mnt/": "/lnk-mnt/", "/sys": "/lnk-sys", "/proc": "/lnk-proc"}

MASKED_DEFAULT = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                  "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                  "/proc/scsi"]

# Spellings of a /proc path in maskedPaths/readonlyPaths: some runc applies
# to the same file, some name nothing (runc skips a path that does not exist).
SPELLINGS = ["{}/", "/{}", "{}/.", "/proc/./{}", "{} ", "{upper}", "{rel}"]


def spell(path, idx):
    form = SPELLINGS[idx % len(SPELLINGS)]
    if form == "{upper}":
        return path[:-1] + path[-1].upper()
    if form == "{rel}":
        return path.lstrip("/")
    if form == "/proc/./{}":
        return path.replace("/proc/", "/proc/./", 1)
    return form.format(path)


# (key, value): namespaced sysctls, values away from the kernel's defaults.
SYSCTLS = [("kernel.msgmax", "65536"), ("kernel.shmmni", "4000"), ("fs.mqueue.msg_max", "20"),
           ("net.ipv4.ip_forward", "1"), ("net.core.somaxconn", "1000"),
           ("net.ipv4.conf.all.forwarding", "1"), ("kernel.sem", "250 32000 32 200"),
           ("net.ipv4.ip_unprivileged_port_start", "80"), ("kernel.shm_rmid_forced", "1"),
           ("net.ipv4.ping_group_range", "0 2147483647"), ("net.ipv4.tcp_syncookies", "0")]

ANNOTATIONS = [
    ("io.kubernetes.cri.container-type", "sandbox"),
    ("io.kubernetes.cri.container-type", "container"),
    ("io.kubernetes.cri.sandbox-id", "@ID@"),
    ("io.kubernetes.cri-o.ContainerType", "sandbox"),
    ("io.kubernetes.cri.sandbox-namespace", "kube-system"),
    ("io.kubernetes.pod.namespace", "kube-system"),
    ("io.kubernetes.cri.sandbox-uid", "3f6b1c2a-9d4e-4f7a-8b1c-2d3e4f5a6b7c"),
    ("io.podman.annotations.privileged", "TRUE"),
    ("io.kubernetes.cri-o.SandboxID", "@ID@"),
    # A container claiming to be its own pod's sandbox, as the runtimes write one.
    ("sandbox-self:containerd", {"io.kubernetes.cri.container-type": "sandbox",
                                 "io.kubernetes.cri.sandbox-id": "@ID@",
                                 "io.kubernetes.cri.sandbox-namespace": "team-b",
                                 "io.kubernetes.cri.sandbox-name": "web-7d9f8b6c5-x2k4q",
                                 "io.kubernetes.cri.sandbox-uid": "3f6b1c2a-9d4e-4f7a-8b1c-2d3e4f5a6b7c"}),
    ("sandbox-self:cri-o", {"io.kubernetes.cri-o.ContainerType": "sandbox",
                            "io.kubernetes.cri-o.SandboxID": "@ID@",
                            "io.kubernetes.cri-o.ContainerID": "@ID@",
                            "io.kubernetes.pod.namespace": "team-b",
                            "io.kubernetes.container.name": "POD"}),
]

# Weights of the mutation families.
WEIGHTS = {
    "dev_rule": 10, "dev_rule_pair": 3, "dev_rules_clear": 2, "linux_device": 6,
    "mount_add": 22, "mount_modify": 6,
    "masked": 4, "readonly": 4,
    "userns": 6, "ns_remove": 5, "ns_join": 4,
    "root": 3, "caps_add": 8, "hook_add": 3, "sysctl_add": 3, "annotation": 4,
    "seccomp": 4, "nnp": 2, "user": 4, "propagation": 2, "key_case": 2, "raw_key": 6,
}


def generate(rng, facts):
    """One mutation, drawn by `rng` (random.Random)."""
    kinds = sorted(WEIGHTS)
    kind = rng.choices(kinds, weights=[WEIGHTS[k] for k in kinds])[0]
    return GENERATORS[kind](rng, facts)


# ------------------------------------------------------------------ generators

def g_dev_rule(rng, facts):
    t = rng.choice(["a", "b", "c", None, "b", "c"])
    nums = [None, -1, 7, 8, facts["rootdisk"][1], 1, 10, 4, 253, 0]
    major = rng.choice(nums)
    minor = rng.choice([None, -1, 0, 1, 3, 11, 229])
    access = rng.choice(["rwm", "r", "rw", "w", "m", "mrw", "wr", "rrw", "wm"])
    allow = rng.random() < 0.9
    pos = rng.choice(["append", "prepend"])
    rule = {"allow": allow, "access": access}
    if t is not None:
        rule["type"] = t
    if major is not None:
        rule["major"] = major
    if minor is not None:
        rule["minor"] = minor
    star = lambda v: "*" if v in (None, -1) else str(v)
    label = f"{'allow' if allow else 'deny'} {t or '?'} {star(major)}:{star(minor)} {access or '-'} {pos}"
    return {"kind": "dev_rule", "label": label, "rule": rule, "pos": pos}


def g_dev_rule_pair(rng, facts):
    """A broad rule and a narrow one of the opposite verdict after it: the
    kernel's v1 device cgroup removes only an exactly matching exception."""
    t = rng.choice(["b", "c"])
    broad_allow = rng.random() < 0.7
    major = 7 if t == "b" else 1
    access = rng.choice(["r", "rw", "rwm"])
    broad = {"allow": broad_allow, "type": t, "access": access}
    narrow = {"allow": not broad_allow, "type": t, "major": major, "minor": 0 if t == "b" else 11,
              "access": access}
    label = f"{'allow' if broad_allow else 'deny'} {t} *:* then {'deny' if broad_allow else 'allow'} " \
            f"{t} {narrow['major']}:{narrow['minor']} {access}"
    return {"kind": "dev_rule_pair", "label": label, "rules": [broad, narrow]}


def g_dev_rules_clear(rng, facts):
    how = rng.choice(["empty", "delete", "no-resources"])
    return {"kind": "dev_rules_clear", "label": how, "how": how}


def g_linux_device(rng, facts):
    name, t, ma, mi = rng.choice(facts["host_devices"])
    if t == "c" and rng.random() < 0.25:
        t = "u"  # runc: an unbuffered character device, made as a character device
    rule = rng.choice([None, "r", "rw", "rwm", "m"])
    path = rng.choice([f"/dev/{name}", f"/dev/oracle-{name}"])
    return {"kind": "linux_device", "label": f"{t} {ma}:{mi} {path} rule={rule}",
            "device": {"path": path, "type": t, "major": ma, "minor": mi, "fileMode": 0o666,
                       "uid": 0, "gid": 0}, "rule": rule}


def g_mount_add(rng, facts):
    label, m, variant = rng.choice(MOUNTS)
    m = copy.deepcopy(m)
    extra = ""
    if variant == "bind":
        m["options"] = list(rng.choice(BIND_OPTS))
        extra = rng.choice(BIND_EXTRA)
    elif variant == "plain":
        extra = rng.choice(PLAIN_EXTRA)
    if extra:
        m["options"] = m.get("options", []) + [extra]
    if rng.random() < 0.2:
        for plain, via in DEST_VIA_SYMLINK.items():
            d = m["destination"]
            if d == plain or (plain.endswith("/") and d.startswith(plain)):
                m["destination"] = via + d[len(plain):]
                label += "@symlink"
                break
    if rng.random() < 0.15:
        d = m["destination"]
        how, m["destination"] = rng.choice([("relative", d.lstrip("/")), ("trailing-slash", d + "/"),
                                            ("double-slash", "/" + d), ("dot", "/." + d),
                                            ("dotdot", "/mnt/.." + d)])
        label += f"@dest-{how}"
    opts = ",".join(m.get("options", []))
    pos = "append" if rng.random() < 0.8 else "prepend"
    return {"kind": "mount_add", "label": f"{label}[{opts}]", "mount": m, "pos": pos}


def g_mount_modify(rng, facts):
    what = rng.choice(["sys-rw", "sys-drop-ro", "sys-ro-then-rw", "cgroup-rw", "cgroup-drop-ro",
                       "shm-host-bind", "sys-as-bind", "proc-as-bind", "dev-drop-nosuid",
                       "sys-rro-rrw"])
    return {"kind": "mount_modify", "label": what, "what": what}


def g_masked(rng, facts):
    how = rng.choice(["drop-one", "drop-one", "empty", "delete", "drop-kcore-keys", "via-symlink",
                      "spell"])
    idx = rng.randrange(16)
    label = how
    if how == "drop-one":
        label = f"drop-one#{idx}"
    elif how == "spell":
        label = f"spell:{SPELLINGS[idx % len(SPELLINGS)]}"
    return {"kind": "masked", "label": label, "how": how, "index": idx}


def g_readonly(rng, facts):
    how = rng.choice(["drop-sys", "drop-sysrq", "drop-one", "empty", "delete", "only-bus", "spell"])
    idx = rng.randrange(8)
    label = how
    if how == "drop-one":
        label = f"drop-one#{idx}"
    elif how == "spell":
        label = f"spell:{SPELLINGS[idx % len(SPELLINGS)]}"
    return {"kind": "readonly", "label": label, "how": how, "index": idx}


def g_userns(rng, facts):
    how = rng.choice(["private", "private", "uid-to-host-root", "gid-to-host-root", "identity",
                      "joined-identity", "joined-identity-claims-private", "root-only-mapped",
                      "joined-hostroot-claims-private"])
    return {"kind": "userns", "label": how, "how": how}


def g_ns_remove(rng, facts):
    t = rng.choice(["pid", "network", "ipc", "uts", "cgroup"])
    return {"kind": "ns_remove", "label": t, "type": t}


NS_FILE = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "cgroup": "cgroup"}


def g_ns_join(rng, facts):
    t = rng.choice(["pid", "network", "ipc", "uts", "cgroup"])
    # runc opens the path before it joins anything: /proc/self is runc, in
    # the host's namespaces; @HOSTPID@ is the oracle itself; @WORK@/ns/* are
    # nsfs bind mounts of the oracle's namespaces, @WORK@/nslink/* symlinks
    # to them.
    who = rng.choice(["/proc/self", "/proc/@HOSTPID@", "/proc/thread-self", "@WORK@", "@WORK@/nslink"])
    if who == "@WORK@":
        path = f"@WORK@/ns/{NS_FILE[t]}"
    elif who == "@WORK@/nslink":
        path = f"@WORK@/nslink/{NS_FILE[t]}"
    else:
        path = f"{who}/ns/{NS_FILE[t]}"
    return {"kind": "ns_join", "label": f"{t}@{who.replace('@WORK@', 'work/ns')}", "type": t, "path": path}


def g_root(rng, facts):
    # runc refuses a symlinked root.path: drawn seldom, to keep the check.
    how = rng.choice(["abs-bundle", "host-dir", "host-dir", "dotdot", "readonly-false", "readonly-true",
                      "abs-bundle", "symlink-host-dir" if rng.random() < 0.3 else "host-dir"])
    return {"kind": "root", "label": how, "how": how}


def g_caps_add(rng, facts):
    cap = rng.choice(CAPS) if rng.random() < 0.9 else rng.choice(CAP_SPELLINGS)
    sets = rng.choice(["all", "all", "bounding", "effective", "permitted", "inheritable", "ambient",
                       "eff+perm", "inh+amb+perm"])
    return {"kind": "caps_add", "label": f"{cap.strip()}->{sets}", "cap": cap, "sets": sets}


def g_hook_add(rng, facts):
    stage = rng.choice(["prestart", "createRuntime-before", "createRuntime-after", "createContainer",
                        "poststart", "poststop"])
    return {"kind": "hook_add", "label": stage, "stage": stage}


def g_sysctl_add(rng, facts):
    k, v = rng.choice(SYSCTLS)
    return {"kind": "sysctl_add", "label": k, "key": k, "value": v}


def g_annotation(rng, facts):
    k, v = rng.choice(ANNOTATIONS)
    if isinstance(v, dict):
        return {"kind": "annotation", "label": k, "set": v}
    return {"kind": "annotation", "label": f"{k}={v}", "key": k, "value": v}


def g_seccomp(rng, facts):
    how = rng.choice(["null", "delete", "allow-default", "log-default", "allow-default-block-getpid",
                      "errno-default-no-arch"])
    return {"kind": "seccomp", "label": how, "how": how}


def g_nnp(rng, facts):
    how = rng.choice(["false", "delete"])
    return {"kind": "nnp", "label": how, "how": how}


def g_user(rng, facts):
    how = rng.choice(["uid0", "gid0", "uid0-gid0", "group0", "uid1000", "uid32768", "groups-many"])
    return {"kind": "user", "label": how, "how": how}


def g_propagation(rng, facts):
    how = rng.choice(["shared", "rshared", "slave", "rslave", "private", "unbindable"])
    return {"kind": "propagation", "label": how, "how": how}


def g_key_case(rng, facts):
    how = rng.choice(["Capabilities", "NoNewPrivileges", "User", "Mounts", "Seccomp", "Resources",
                      "Namespaces"])
    return {"kind": "key_case", "label": how, "how": how}


# Fields runc reads, each with a value that grants what the seed withheld:
# (object path, key, value).
RAW_TARGETS = [
    ("process", "noNewPrivileges", False),
    ("process", "user", {"uid": 0, "gid": 0}),
    ("process", "capabilities", {s: ["CAP_SYS_ADMIN"] for s in ("bounding", "effective", "permitted")}),
    ("linux", "seccomp", None),
    ("linux", "namespaces", "@WITHOUT-NETWORK@"),
    ("linux", "maskedPaths", []),
    ("linux", "readonlyPaths", []),
    ("linux", "resources", {"devices": [{"allow": True, "access": "rwm"}]}),
    ("", "mounts", "@PLUS-HOST-ROOT@"),
    ("", "root", {"path": "@WORK@/altroot"}),
]


def raw_spellings(key):
    """How Go's encoding/json (runc) still reads `key`: the same text again,
    a \\u escape, and its case folding, which also folds U+017F (long s)
    to s and U+212A (Kelvin) to k."""
    out = [("dup", key), ("escape", key[:2] + "\\u%04x" % ord(key[2]) + key[3:])]
    if "s" in key:
        i = key.rindex("s")
        out.append(("long-s", key[:i] + "\\u017f" + key[i + 1:]))
    if "k" in key:
        i = key.index("k")
        out.append(("kelvin", key[:i] + "\\u212a" + key[i + 1:]))
    return out


def g_raw_key(rng, facts):
    obj, key, value = rng.choice(RAW_TARGETS)
    form, raw = rng.choice(raw_spellings(key))
    mode = rng.choice(["after", "after", "rename"]) if form != "dup" else "after"
    return {"kind": "raw_key", "label": f"{obj + '.' if obj else ''}{key}:{form}:{mode}",
            "obj": obj, "key": key, "raw": raw, "mode": mode, "value": value}


GENERATORS = {
    "dev_rule": g_dev_rule, "dev_rule_pair": g_dev_rule_pair, "dev_rules_clear": g_dev_rules_clear, "linux_device": g_linux_device,
    "mount_add": g_mount_add, "mount_modify": g_mount_modify, "masked": g_masked,
    "readonly": g_readonly, "userns": g_userns, "ns_remove": g_ns_remove, "ns_join": g_ns_join,
    "root": g_root, "caps_add": g_caps_add, "hook_add": g_hook_add, "sysctl_add": g_sysctl_add,
    "annotation": g_annotation, "seccomp": g_seccomp, "nnp": g_nnp, "user": g_user,
    "propagation": g_propagation, "key_case": g_key_case, "raw_key": g_raw_key,
}


# ------------------------------------------------------------------ apply

def _proc(c):
    return c.setdefault("process", {})


def _linux(c):
    return c.setdefault("linux", {})


def _caps(c):
    return _proc(c).setdefault("capabilities", {})


def _find_mount(c, dest):
    for m in c.get("mounts") or []:
        if m.get("destination") == dest:
            return m
    return None


def apply(c, extras, m):
    """Apply mutation `m` to config `c` and bundle extras `extras` (in place)."""
    k = m["kind"]
    if k == "dev_rule":
        devs = _linux(c).setdefault("resources", {}).setdefault("devices", [])
        if m["pos"] == "append":
            devs.append(copy.deepcopy(m["rule"]))
        else:
            devs.insert(0, copy.deepcopy(m["rule"]))
    elif k == "dev_rule_pair":
        _linux(c).setdefault("resources", {}).setdefault("devices", []).extend(copy.deepcopy(m["rules"]))
    elif k == "dev_rules_clear":
        res = _linux(c).setdefault("resources", {})
        if m["how"] == "empty":
            res["devices"] = []
        elif m["how"] == "delete":
            res.pop("devices", None)
        else:
            _linux(c).pop("resources", None)
    elif k == "linux_device":
        _linux(c).setdefault("devices", []).append(copy.deepcopy(m["device"]))
        if m["rule"]:
            d = m["device"]
            _linux(c).setdefault("resources", {}).setdefault("devices", []).append(
                {"allow": True, "type": "c" if d["type"] == "u" else d["type"], "major": d["major"],
                 "minor": d["minor"], "access": m["rule"]})
    elif k == "mount_add":
        mounts = c.setdefault("mounts", [])
        mm = copy.deepcopy(m["mount"])
        if mm.get("type") == "overlay" and any("upperdir" in o for o in mm.get("options", [])):
            extras.setdefault("mkdirs", []).extend(["ovl/upper", "ovl/work"])
        if m["pos"] == "append":
            mounts.append(mm)
        else:
            mounts.insert(0, mm)
    elif k == "mount_modify":
        modify_mount(c, m["what"])
    elif k == "masked":
        lx = _linux(c)
        mp = lx.get("maskedPaths")
        how = m["how"]
        if how == "empty":
            lx["maskedPaths"] = []
        elif how == "delete":
            lx.pop("maskedPaths", None)
        elif mp:
            if how == "drop-one":
                mp.pop(m["index"] % len(mp))
            elif how == "drop-kcore-keys":
                lx["maskedPaths"] = [p for p in mp if p not in ("/proc/kcore", "/proc/keys",
                                                                 "/proc/timer_list")]
            elif how == "via-symlink":
                lx["maskedPaths"] = [p.replace("/proc/", "/lnk-proc/", 1) for p in mp]
            elif how == "spell":
                lx["maskedPaths"] = [spell(p, m["index"]) if p in ("/proc/keys", "/proc/timer_list",
                                                                    "/proc/kcore") else p for p in mp]
    elif k == "readonly":
        lx = _linux(c)
        rp = lx.get("readonlyPaths")
        how = m["how"]
        if how == "empty":
            lx["readonlyPaths"] = []
        elif how == "delete":
            lx.pop("readonlyPaths", None)
        elif how == "only-bus":
            lx["readonlyPaths"] = ["/proc/bus"]
        elif rp:
            if how == "drop-sys":
                lx["readonlyPaths"] = [p for p in rp if p != "/proc/sys"]
            elif how == "drop-sysrq":
                lx["readonlyPaths"] = [p for p in rp if p != "/proc/sysrq-trigger"]
            elif how == "drop-one":
                rp.pop(m["index"] % len(rp))
            elif how == "spell":
                lx["readonlyPaths"] = [spell(p, m["index"]) if p in ("/proc/sys", "/proc/sysrq-trigger")
                                       else p for p in rp]
    elif k == "userns":
        apply_userns(c, m["how"])
    elif k == "ns_remove":
        lx = _linux(c)
        lx["namespaces"] = [n for n in lx.get("namespaces", []) if n.get("type") != m["type"]]
    elif k == "ns_join":
        lx = _linux(c)
        nss = [n for n in lx.get("namespaces", []) if n.get("type") != m["type"]]
        nss.append({"type": m["type"], "path": m["path"]})
        lx["namespaces"] = nss
    elif k == "root":
        how = m["how"]
        root = c.setdefault("root", {"path": "rootfs"})
        if how == "abs-bundle":
            root["path"] = "@BUNDLE@/rootfs"
        elif how == "host-dir":
            root["path"] = "@WORK@/altroot"
        elif how == "symlink-host-dir":
            extras.setdefault("symlinks", {})["rootlink"] = "@WORK@/altroot"
            root["path"] = "rootlink"
        elif how == "symlink-bundle":
            extras.setdefault("symlinks", {})["rootlink"] = "rootfs"
            root["path"] = "rootlink"
        elif how == "dotdot":
            root["path"] = "rootfs/../rootfs"
        elif how == "readonly-false":
            root["readonly"] = False
        elif how == "readonly-true":
            root["readonly"] = True
    elif k == "caps_add":
        caps = _caps(c)
        sets = {"all": CAP_SETS, "eff+perm": ("effective", "permitted"),
                "inh+amb+perm": ("inheritable", "ambient", "permitted")}.get(m["sets"], (m["sets"],))
        for s in sets:
            lst = caps.setdefault(s, [])
            if m["cap"] not in lst:
                lst.append(m["cap"])
    elif k == "hook_add":
        stage = m["stage"]
        hook = {"path": "/bin/sh", "args": ["sh", "-c", f"touch @BUNDLE@/hook-ran-{stage}"]}
        if stage == "createContainer":
            # Runs in the container's namespaces, with the host's filesystem
            # still visible before pivot_root in runc; a path on the host.
            pass
        extras.setdefault("hooks", []).append({"stage": stage, "hook": hook})
    elif k == "sysctl_add":
        _linux(c).setdefault("sysctl", {})[m["key"]] = m["value"]
    elif k == "annotation":
        if "set" in m:
            c.setdefault("annotations", {}).update(m["set"])
        else:
            c.setdefault("annotations", {})[m["key"]] = m["value"]
    elif k == "seccomp":
        apply_seccomp(c, m["how"])
    elif k == "nnp":
        if m["how"] == "false":
            _proc(c)["noNewPrivileges"] = False
        else:
            _proc(c).pop("noNewPrivileges", None)
    elif k == "user":
        u = _proc(c).setdefault("user", {"uid": 0, "gid": 0})
        how = m["how"]
        if how in ("uid0", "uid0-gid0"):
            u["uid"] = 0
        if how in ("gid0", "uid0-gid0"):
            u["gid"] = 0
        if how == "group0":
            u["additionalGids"] = list(u.get("additionalGids") or []) + [0]
        if how == "uid1000":
            u["uid"] = 1000
        if how == "uid32768":
            u["uid"] = 32768
        if how == "groups-many":
            u["additionalGids"] = [32767, 4, 6, 27]
    elif k == "propagation":
        _linux(c)["rootfsPropagation"] = m["how"]
    elif k == "key_case":
        apply_key_case(c, m["how"])
    elif k == "raw_key":
        apply_raw_key(c, extras, m)
    else:
        raise ValueError(f"unknown mutation kind {k}")


def modify_mount(c, what):
    sysm = _find_mount(c, "/sys")
    cg = _find_mount(c, "/sys/fs/cgroup")
    if what == "sys-rw" and sysm:
        sysm["options"] = [o for o in sysm.get("options", []) if o != "ro"] + ["rw"]
    elif what == "sys-drop-ro" and sysm:
        sysm["options"] = [o for o in sysm.get("options", []) if o != "ro"]
    elif what == "sys-ro-then-rw" and sysm:
        sysm["options"] = sysm.get("options", []) + ["rw"]
    elif what == "sys-rro-rrw" and sysm:
        sysm["options"] = [o for o in sysm.get("options", []) if o != "ro"] + ["rro", "rrw"]
    elif what in ("cgroup-rw", "cgroup-drop-ro"):
        if cg is None:
            cg = {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                  "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
            c.setdefault("mounts", []).append(cg)
        cg["options"] = [o for o in cg.get("options", []) if o != "ro"]
        if what == "cgroup-rw":
            cg["options"].append("rw")
    elif what == "shm-host-bind":
        shm = _find_mount(c, "/dev/shm")
        new = {"destination": "/dev/shm", "type": "bind", "source": "/dev/shm",
               "options": ["rbind", "nosuid", "noexec", "nodev"]}
        if shm:
            shm.clear()
            shm.update(new)
        else:
            c.setdefault("mounts", []).append(new)
    elif what == "sys-as-bind" and sysm:
        sysm.clear()
        sysm.update({"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "ro"]})
    elif what == "proc-as-bind":
        pm = _find_mount(c, "/proc")
        if pm:
            pm.clear()
            pm.update({"destination": "/proc", "type": "bind", "source": "/proc", "options": ["rbind"]})
    elif what == "dev-drop-nosuid":
        dm = _find_mount(c, "/dev")
        if dm:
            dm["options"] = [o for o in dm.get("options", []) if o not in ("nosuid", "noexec")]


def apply_userns(c, how):
    lx = _linux(c)
    nss = [n for n in lx.get("namespaces", []) if n.get("type") != "user"]
    private = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    if how == "private":
        nss.append({"type": "user"})
        lx["uidMappings"] = private
        lx["gidMappings"] = copy.deepcopy(private)
    elif how == "uid-to-host-root":
        nss.append({"type": "user"})
        uid = _proc(c).get("user", {}).get("uid", 0)
        if uid == 0:
            lx["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 1},
                                 {"containerID": 1, "hostID": 100001, "size": 65535}]
        else:
            lx["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 1},
                                 {"containerID": uid, "hostID": 0, "size": 1}]
        lx["gidMappings"] = copy.deepcopy(private)
    elif how == "gid-to-host-root":
        nss.append({"type": "user"})
        lx["uidMappings"] = private
        lx["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 1},
                             {"containerID": 32767, "hostID": 0, "size": 1},
                             {"containerID": 1, "hostID": 100001, "size": 32766}]
    elif how == "identity":
        nss.append({"type": "user"})
        lx["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
        lx["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
    elif how == "joined-identity":
        # @USERNS@: a user namespace oracle.py holds open, mapping 0-65535
        # to the same host ids. runc wants mappings even when it joins one.
        nss.append({"type": "user", "path": "@USERNS@"})
        lx["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
        lx["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
    elif how == "joined-identity-claims-private":
        # The same namespace, config.json claiming a private mapping that
        # runc never applies (it joins the namespace as it is).
        nss.append({"type": "user", "path": "@USERNS@"})
        lx["uidMappings"] = private
        lx["gidMappings"] = copy.deepcopy(private)
    elif how == "joined-hostroot-claims-private":
        # @USERNS_HOSTROOT@ maps 32767 to host uid and gid 0; config.json
        # claims the harmless private mapping.
        nss.append({"type": "user", "path": "@USERNS_HOSTROOT@"})
        lx["uidMappings"] = private
        lx["gidMappings"] = copy.deepcopy(private)
    elif how == "root-only-mapped":
        nss.append({"type": "user"})
        lx["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 1},
                             {"containerID": 32767, "hostID": 132767, "size": 2}]
        lx["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 1},
                             {"containerID": 32767, "hostID": 132767, "size": 1}]
    lx["namespaces"] = nss


def apply_seccomp(c, how):
    lx = _linux(c)
    if how == "null":
        lx["seccomp"] = None
    elif how == "delete":
        lx.pop("seccomp", None)
    elif how == "allow-default":
        lx["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}
    elif how == "log-default":
        lx["seccomp"] = {"defaultAction": "SCMP_ACT_LOG",
                         "architectures": ["SCMP_ARCH_X86_64"], "syscalls": []}
    elif how == "allow-default-block-getpid":
        lx["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                         "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO"}]}
    elif how == "errno-default-no-arch":
        sc = lx.get("seccomp")
        if isinstance(sc, dict):
            sc.pop("architectures", None)


RAW_PREFIX = "__oracle_key_"


def apply_raw_key(c, extras, m):
    """A key written as raw JSON text (a duplicate, an escape, a folding):
    the config holds a sentinel key, replaced by the raw text when the
    bundle is written (extras["raw_keys"]: sentinel -> raw key text)."""
    obj = c if not m["obj"] else c.setdefault(m["obj"], {})
    value = copy.deepcopy(m["value"])
    if value == "@WITHOUT-NETWORK@":
        value = [n for n in obj.get("namespaces", []) if n.get("type") != "network"]
    elif value == "@PLUS-HOST-ROOT@":
        value = copy.deepcopy(obj.get("mounts", [])) + [
            {"destination": "/host", "type": "bind", "source": "/", "options": ["rbind", "ro"]}]
    raw_keys = extras.setdefault("raw_keys", {})
    sentinel = f"{RAW_PREFIX}{len(raw_keys)}__"
    raw_keys[sentinel] = m["raw"]
    if m["mode"] == "rename":
        obj.pop(m["key"], None)
    obj[sentinel] = value


def apply_key_case(c, how):
    """A second key that Go's encoding/json (runc) reads as the same field,
    written after the real one, so runc takes its value."""
    p, lx = _proc(c), _linux(c)
    if how == "Capabilities":
        p["Capabilities"] = {s: ["CAP_SYS_ADMIN"] for s in ("bounding", "effective", "permitted")}
    elif how == "NoNewPrivileges":
        p["NoNewPrivileges"] = False
    elif how == "User":
        p["User"] = {"uid": 0, "gid": 0}
    elif how == "Mounts":
        c["Mounts"] = copy.deepcopy(c.get("mounts", [])) + [
            {"destination": "/host", "type": "bind", "source": "/", "options": ["rbind", "ro"]}]
    elif how == "Seccomp":
        lx["Seccomp"] = None
    elif how == "Resources":
        lx["Resources"] = {"devices": [{"allow": True, "access": "rwm"}]}
    elif how == "Namespaces":
        lx["Namespaces"] = [n for n in lx.get("namespaces", []) if n.get("type") != "network"]


# ------------------------------------------------------------------ safety

# A remount that is not a bind remount reconfigures the superblock: only
# these destinations (resolved through the rootfs's symlinks) hold a
# superblock of the container's own (its sysfs only with a network
# namespace of its own), and only these options leave a superblock as it
# was (rw is what the host's already are; ro or data options could change
# the host's).
SAFE_REMOUNT_DESTS = {"/sys", "/proc", "/proc/sys", "/dev", "/dev/shm"}
SAFE_REMOUNT_OPTS = {"remount", "rw", "nosuid", "nodev", "noexec", "relatime", "strictatime",
                     "noatime", "bind"}
SAFE_MOUNT_TYPES = {None, "", "bind", "none", "proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup",
                    "cgroup2", "ext4", "overlay", "devtmpfs", "debugfs", "tracefs", "securityfs",
                    "bpf", "configfs", "hugetlbfs", "pstore"}


def resolve_dest(d):
    for link, target in SYMLINKS.items():
        if d == link or d.startswith(link + "/"):
            return target + d[len(link):]
    return d


def own_ns(c, t):
    """True when config.json gives the container a new namespace of type t."""
    for key in ("namespaces", "Namespaces"):
        for n in (c.get("linux") or {}).get(key) or []:
            if n.get("type") == t and n.get("path"):
                return False
    return any(n.get("type") == t and not n.get("path")
               for n in (c.get("linux") or {}).get("namespaces") or [])


def has_raw_keys(v):
    if isinstance(v, dict):
        return any(k.startswith(RAW_PREFIX) or has_raw_keys(x) for k, x in v.items())
    if isinstance(v, list):
        return any(has_raw_keys(x) for x in v)
    return False


def safe(c):
    """None when the config is safe to run here, else why not."""
    lx = c.get("linux") or {}
    if not own_ns(c, "mount"):
        return "the host's mount namespace"
    all_mounts = list(c.get("mounts") or []) + list(c.get("Mounts") or [])
    for m in all_mounts:
        if m.get("type") not in SAFE_MOUNT_TYPES:
            return f"mount type {m.get('type')}"
        opts = m.get("options") or []
        if m.get("type") == "cgroup" and any("=" in o or o.startswith("name") for o in opts):
            return "cgroup mount options"
        if "remount" in opts:
            if "bind" in opts:
                continue
            if not set(opts) <= SAFE_REMOUNT_OPTS:
                return f"remount with {opts}"
            dest = resolve_dest(m.get("destination", ""))
            if dest not in SAFE_REMOUNT_DESTS:
                return f"remount of {dest}"
            if dest == "/sys" and not own_ns(c, "network"):
                return "remount of the host's sysfs"
    for m in all_mounts:
        opts = m.get("options") or []
        if "remount" not in opts or "bind" in opts:
            continue
        dest = resolve_dest(m.get("destination", ""))
        ancestors = {dest} | {dest[:i] for i in range(1, len(dest)) if dest[i] == "/"}
        for other in all_mounts:
            if other is m:
                continue
            oo = other.get("options") or []
            if resolve_dest(other.get("destination", "")) in ancestors and (
                    other.get("type") in ("bind", "none", None, "") or "bind" in oo or "rbind" in oo):
                return f"remount of {dest} under a bind mount"
    if has_raw_keys(c) and (lx.get("sysctl") or any("remount" in (m.get("options") or [])
                                                     for m in all_mounts)):
        return "raw keys with sysctls or a remount (what runc reads is not what safe() sees)"
    if (c.get("hostname") or c.get("domainname")) and not own_ns(c, "uts"):
        return "a hostname without a uts namespace of its own"
    if lx.get("sysctl") or lx.get("Sysctl"):
        for t in ("ipc", "uts", "network"):
            if not own_ns(c, t):
                return f"sysctls without a {t} namespace of its own"
    return None
