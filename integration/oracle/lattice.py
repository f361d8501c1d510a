"""The privilege lattice: what each policy permits, written once, and the
comparison "observed <= permitted" of a probe report against it.

A policy here is not the hook's reading of config.json: it is the set of
privileges the kernel may show a container the policy admits. `excess()`
returns every observed privilege outside that set, each as an `Excess`
with a stable `kind` (used to group and minimise findings) and a detail.

Policies (see README.md, "The lattice"):

- `restricted`  builtin:restricted (Pod Security Standards, as the hook's
  README translates them to a node)
- `baseline`    builtin:baseline
- `psp`         examples/restricted-psp.yaml
- `psp-hostpath` the same PSP, also admitting hostPath volumes under the
  oracle's `allowed/` directory read-only (allowedHostPaths readOnly: true;
  the policy file is written by oracle.py)
"""

import os
from dataclasses import dataclass, field

# The capabilities a runtime grants by default (containerd's set, the hook's
# RUNTIME_DEFAULT_CAPABILITIES) and the Pod Security Standards' baseline add
# list: baseline admits their union.
RUNTIME_DEFAULT_CAPS = {
    "CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_MKNOD", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP",
    "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
}
BASELINE_ADD_CAPS = {
    "CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_MKNOD", "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID",
    "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
}

# Kubernetes' safe sysctls (namespaced, isolated from the node).
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem", "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_notsent_lowat",
}

# The devices every container may open: runc's default device rules (and
# the nodes runc makes in /dev): null zero full random urandom tty console
# ptmx, the pts, tun. (major, minor); minor None = any.
DEFAULT_DEVICES = {
    ("c", 1, 3), ("c", 1, 5), ("c", 1, 7), ("c", 1, 8), ("c", 1, 9),
    ("c", 5, 0), ("c", 5, 1), ("c", 5, 2), ("c", 136, None), ("c", 10, 200),
}

# Namespaces a container must not share with the host (hostNetwork, hostPID,
# hostIPC; the mount namespace: the host's whole filesystem).
FORBIDDEN_HOST_NS = ("net", "pid", "ipc", "mnt")

# /proc and /sys paths every runtime masks (a mount sits on them) and makes
# read-only: the entries runc's, containerd's, CRI-O's and podman's default
# lists share. Checked only where the path exists on this kernel.
MASKED_PATHS = ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug",
                "/proc/latency_stats", "/proc/acpi", "/proc/scsi", "/sys/firmware")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# Filesystem types a runtime makes fresh for the container (or that are the
# container's own): tmpfs, devpts, mqueue. proc, sysfs and cgroup are
# judged on their own.
FRESH_FS = {"tmpfs", "devpts", "mqueue"}
# Kernel interfaces no policy short of privileged admits.
KERNEL_FS = {"debugfs", "tracefs", "securityfs", "bpf", "configfs", "pstore", "efivarfs",
             "binfmt_misc", "fusectl", "hugetlbfs", "nsfs", "autofs", "devtmpfs",
             "rpc_pipefs", "selinuxfs", "ramfs"}
# What runc binds from the host's /dev in a user namespace (it cannot mknod
# there), and the /dev/null it binds over masked files.
RUNC_DEV_BINDS = {"/null", "/zero", "/full", "/random", "/urandom", "/tty"}

# An open that reached the driver: the device cgroup let it through.
OPENED = {"ok"}
CGROUP_ADMITTED = {"ENXIO", "ENODEV", "ENOMEDIUM", "EIO", "EBUSY"}


@dataclass
class Policy:
    name: str
    hook_args: list
    caps: set
    host_root: bool = False          # a uid mapped to host uid 0
    uid_range: tuple = None          # in-container uids (PSP runAsUser MustRunAs)
    groups: set = None               # in-container supplementary groups (+ the primary gid)
    host_group0: bool = True         # a supplementary group mapped to host gid 0
    nnp: bool = False                # no_new_privs required
    seccomp: bool = False            # a confining seccomp filter required
    unmasked_in_userns: bool = False  # unmasked /proc tolerated in a user namespace
    host_paths: list = field(default_factory=list)  # [(host prefix, read_only)]


def policies(repo, work):
    """Every policy the oracle knows, by name."""
    restricted = Policy(
        name="restricted", hook_args=["--profile", "builtin:restricted"],
        caps={"CAP_NET_BIND_SERVICE"}, nnp=True, seccomp=True)
    baseline = Policy(
        name="baseline", hook_args=["--profile", "builtin:baseline"],
        caps=RUNTIME_DEFAULT_CAPS | BASELINE_ADD_CAPS, host_root=True,
        unmasked_in_userns=True)
    psp = Policy(
        name="psp", hook_args=["--policy", os.path.join(repo, "examples/restricted-psp.yaml")],
        caps=set(), uid_range=(32767, 32768), groups={32767}, host_group0=False, nnp=True)
    psp_hostpath = Policy(
        name="psp-hostpath", hook_args=["--policy", os.path.join(work, "psp-hostpath.yaml")],
        caps=set(), uid_range=(32767, 32768), groups={32767}, host_group0=False, nnp=True,
        host_paths=[(os.path.join(work, "allowed"), True)])
    return {p.name: p for p in (restricted, baseline, psp, psp_hostpath)}


@dataclass
class Excess:
    kind: str      # stable, coarse: what minimisation keeps and findings are grouped by
    detail: str    # what exactly was seen

    def __str__(self):
        return f"{self.kind}: {self.detail}"


# ------------------------------------------------------------------ host facts

def parse_mountinfo(text):
    out = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        l, r = left.split(" "), right.split(" ")
        if len(l) < 6 or len(r) < 3:
            continue
        out.append({
            "id": int(l[0]), "parent": int(l[1]), "dev": l[2], "root": unescape(l[3]),
            "mountpoint": unescape(l[4]), "opts": l[5], "optional": l[6:],
            "fstype": r[0], "source": unescape(r[1]), "super": " ".join(r[2:]),
        })
    return out


def unescape(v):
    out, i = [], 0
    while i < len(v):
        if v[i] == "\\" and i + 4 <= len(v) and all(c in "01234567" for c in v[i + 1:i + 4]):
            out.append(chr(int(v[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(v[i])
            i += 1
    return "".join(out)


@dataclass
class Host:
    """What the oracle knows of the host, read once."""
    ns: dict
    mounts: list
    apparmor: bool

    @classmethod
    def read(cls):
        ns = {}
        for name in os.listdir("/proc/self/ns"):
            try:
                link = os.readlink(f"/proc/self/ns/{name}")
                ns[name] = int(link.rsplit("[", 1)[1].rstrip("]"))
            except (OSError, ValueError, IndexError):
                pass
        with open("/proc/self/mountinfo") as f:
            mounts = parse_mountinfo(f.read())
        try:
            with open("/sys/module/apparmor/parameters/enabled") as f:
                apparmor = f.read().strip() == "Y"
        except OSError:
            apparmor = False
        return cls(ns=ns, mounts=mounts, apparmor=apparmor)

    def devs(self):
        return {m["dev"] for m in self.mounts}

    def peer_groups(self):
        return {o.split(":", 1)[1] for m in self.mounts for o in m["optional"]
                if o.startswith("shared:")}

    def host_path(self, dev, root):
        """The host path of a mount of device `dev` at `root` in that
        filesystem, through the host's own mounts of it; None if the host
        has no mount of that filesystem covering it."""
        best = None
        for m in self.mounts:
            if m["dev"] != dev:
                continue
            hr = m["root"].rstrip("/")
            if root == m["root"] or root.startswith(hr + "/") or hr == "":
                if best is None or len(m["root"]) > len(best["root"]):
                    best = m
        if best is None:
            return None
        rel = root[len(best["root"].rstrip("/")):].rstrip("/")
        mp = best["mountpoint"].rstrip("/")
        return (mp + rel) or "/"

    def env_ns(self):
        return ",".join(f"{k}={v}" for k, v in sorted(self.ns.items()))


@dataclass
class Run:
    """What the harness saw of one run besides the probe's report."""
    rootfs: tuple                                   # (dev "maj:min", inode, host path)
    sysctls: dict = field(default_factory=dict)     # what config.json asked for
    hooks_ran: list = field(default_factory=list)  # stages whose extra hook ran on the host
    host_mount_leaks: list = field(default_factory=list)


# ------------------------------------------------------------------ comparison

def visible_mount(mounts, path):
    """The mount that serves `path` in the container: walk the components
    from the root, following stacked mounts (a later mount on the same
    mountpoint, child of the one below) before descending."""
    by_parent = {}
    for i, m in enumerate(mounts):
        by_parent.setdefault(m["parent"], []).append((i, m))

    def top(m):
        while True:
            stacked = [c for _, c in by_parent.get(m["id"], []) if c["mountpoint"] == m["mountpoint"]]
            if not stacked:
                return m
            m = stacked[-1]

    roots = [m for m in mounts if m["mountpoint"] == "/"]
    if not roots:
        return None
    cur = top(roots[0])
    prefix = ""
    for part in [p for p in path.split("/") if p]:
        prefix = prefix + "/" + part
        kids = [c for _, c in by_parent.get(cur["id"], []) if c["mountpoint"] == prefix]
        if kids:
            cur = top(kids[-1])
    return cur


def ro(m):
    return "ro" in m["opts"].split(",")


def excess(report, policy, host, run):
    """Every privilege in `report` that `policy` does not permit."""
    out = []

    def add(kind, detail):
        out.append(Excess(kind, detail))

    ids = report.get("ids") or {}
    # ------------------------------------------------------------ identity
    in_userns = report.get("ns", {}).get("user", {}).get("host") is False
    host_uids = ids.get("host_uid") or []
    if not policy.host_root and 0 in host_uids:
        add("host-root", f"uids {ids.get('uid')} are host uids {host_uids} (uid_map {ids.get('uid_map')})")
    if policy.uid_range:
        lo, hi = policy.uid_range
        bad = [u for u in (ids.get("uid") or []) if not lo <= u <= hi]
        if bad:
            add("uid-not-allowed", f"uids {ids.get('uid')} outside {lo}-{hi}")
    if policy.groups is not None:
        primary = (ids.get("gid") or [None])[0]
        bad = [g for g in (ids.get("groups") or []) if g not in policy.groups and g != primary]
        if bad:
            add("group-not-allowed", f"supplementary groups {bad} (allowed {sorted(policy.groups)})")
    if not policy.host_group0:
        hg = ids.get("host_groups") or []
        if 0 in hg:
            add("host-group-0", f"supplementary groups {ids.get('groups')} are host gids {hg}")
    # ------------------------------------------------------------ capabilities
    for set_name, v in sorted((report.get("caps") or {}).items()):
        for cap in (v or {}).get("names") or []:
            if cap not in policy.caps:
                add(f"cap:{cap}", f"{cap} in the {set_name} set")
    # ------------------------------------------------------------ nnp, seccomp
    if policy.nnp and report.get("no_new_privs") != 1:
        add("no-new-privs-off", f"NoNewPrivs is {report.get('no_new_privs')}")
    if policy.seccomp:
        tests = report.get("seccomp_tests") or {}
        blocked = [k for k, v in tests.items()
                   if v not in ("ok", "EOPNOTSUPP", "EFAULT", "EINVAL", "fork-failed")]
        if report.get("seccomp") != 2 or not blocked:
            add("seccomp-unconfined",
                f"seccomp mode {report.get('seccomp')}, keyctl/add_key answered {tests}")
    # ------------------------------------------------------------ namespaces
    for ns in FORBIDDEN_HOST_NS:
        inode = (report.get("ns", {}).get(ns) or {}).get("inode")
        if inode is not None and inode == host.ns.get(ns):
            add(f"host-ns:{ns}", f"the container's {ns} namespace is the host's ({inode})")
    # ------------------------------------------------------------ the root
    mounts = report.get("mounts") or []
    root = report.get("root") or {}
    rdev, rino, rpath = run.rootfs
    if root and (root.get("dev") != rdev or root.get("ino") != rino):
        rm = visible_mount(mounts, "/")
        where = host.host_path(rm["dev"], rm["root"]) if rm else None
        add("rootfs-not-bundle", f"/ is {where or root} (dev {root.get('dev')} ino {root.get('ino')}), "
            f"not the bundle's rootfs")
    # ------------------------------------------------------------ mounts
    host_devs = host.devs()
    host_peers = host.peer_groups()
    for m in mounts:
        fs, mp = m["fstype"], m["mountpoint"]
        for o in m["optional"]:
            if o.startswith("shared:") and o.split(":", 1)[1] in host_peers:
                add("propagation-shared-with-host", f"{mp} is in the host's peer group {o}")
        if fs in ("proc", "sysfs") and m["dev"] in host_devs:
            # Every proc mount is a superblock of its own, and so is the
            # sysfs of a network namespace of the container's own: the
            # host's device number is a bind of the host's /proc or /sys.
            add("host-mount", f"the host's {fs} ({host.host_path(m['dev'], m['root']) or m['root']}) "
                f"mounted at {mp}{' read-only' if ro(m) else ' read-write'}")
        if fs == "proc":
            if m["root"] == "/" and mp != "/proc":
                add("proc-unmasked", f"a second proc mounted at {mp}")
            continue
        if fs == "sysfs":
            if not ro(m):
                add("writable-sysfs", f"sysfs at {mp} is read-write")
            continue
        if fs in ("cgroup", "cgroup2"):
            if not ro(m):
                add("writable-cgroupfs", f"{fs} at {mp} ({m['super']}) is read-write")
            continue
        if fs == "devtmpfs" and m["root"] in RUNC_DEV_BINDS:
            continue
        if fs in KERNEL_FS:
            add(f"kernel-fs:{fs}", f"{fs} mounted at {mp} (root {m['root']})")
            continue
        if fs in FRESH_FS and m["dev"] not in host_devs:
            continue
        # A filesystem the host has mounted (a bind of a host path), or a
        # disk/overlay filesystem.
        if m["dev"] == rdev and (m["root"] == rpath_root(host, rdev, rpath)
                                 or m["root"].startswith(rpath_root(host, rdev, rpath) + "/")):
            continue  # the bundle's own rootfs, or a part of it
        hp = host.host_path(m["dev"], m["root"])
        if fs == "overlay":
            hp = f"overlay ({m['super']})"
        if mp == "/":
            continue  # judged as rootfs-not-bundle above
        allowed = False
        for prefix, read_only in policy.host_paths:
            if hp and (hp == prefix or hp.startswith(prefix.rstrip("/") + "/")):
                if read_only and not ro(m):
                    add("hostpath-writable", f"{hp} mounted read-write at {mp} (allowed read-only)")
                allowed = True
        if not allowed:
            add("host-mount", f"{fs} {hp or m['root']} (dev {m['dev']}) mounted at {mp}"
                f"{' read-only' if ro(m) else ' read-write'}")
    # /proc masking: every runtime's default masked and read-only paths.
    if not (policy.unmasked_in_userns and in_userns):
        paths = report.get("proc_paths") or {}
        for p in MASKED_PATHS:
            if not (paths.get(p) or {}).get("exists"):
                continue
            vm = visible_mount(mounts, p)
            if vm is None or vm["mountpoint"] != p:
                add("proc-unmasked", f"{p} is not masked")
        for p in READONLY_PATHS:
            if not (paths.get(p) or {}).get("exists"):
                continue
            vm = visible_mount(mounts, p)
            if vm is None or not ro(vm):
                add("proc-unmasked", f"{p} is not read-only (served by {vm and vm['mountpoint']})")
    # ------------------------------------------------------------ writes
    for p, res in sorted((report.get("writable") or {}).items()):
        if res == "ok":
            kind = ("write-proc-sys" if p.startswith("/proc/sys/") else
                    "write-sysrq" if p == "/proc/sysrq-trigger" else
                    "write-cgroupfs" if "/cgroup" in p else "write-sysfs")
            add(kind, f"opened {p} for writing")
    # ------------------------------------------------------------ devices
    for d in report.get("devices") or []:
        key = (d["type"], d["major"], d["minor"])
        if key in DEFAULT_DEVICES or (d["type"], d["major"], None) in DEFAULT_DEVICES:
            continue
        for how in ("read", "write"):
            res = d.get(how)
            if res in OPENED:
                add(f"device-open:{d['type']}", f"{d['path']} ({d['type']} {d['major']}:{d['minor']}) "
                    f"opened for {how}")
            elif res in CGROUP_ADMITTED:
                add(f"device-allowed:{d['type']}", f"{d['path']} ({d['type']} {d['major']}:{d['minor']}) "
                    f"admitted by the device cgroup for {how} ({res})")
    for n in report.get("mknod") or []:
        res = n.get("read")
        if res in OPENED:
            add("device-open:mknod", f"mknod {n['spec']} in {n['dir']} and opened it")
        elif res in CGROUP_ADMITTED:
            add("device-allowed:mknod", f"mknod {n['spec']} in {n['dir']}: the device cgroup admits it ({res})")
    # ------------------------------------------------------------ sysctls
    seen = report.get("sysctls") or {}
    for key, want in sorted(run.sysctls.items()):
        if key in SAFE_SYSCTLS:
            continue
        got = seen.get(key)
        if got is not None and " ".join(str(want).split()) == got:
            add("unsafe-sysctl", f"{key} = {got} in the container")
    # ------------------------------------------------------------ LSM
    label = (report.get("lsm") or {}).get("current")
    if host.apparmor and label in (None, "unconfined"):
        add("apparmor-unconfined", f"label {label!r}")
    # ------------------------------------------------------------ the harness's own
    for stage in run.hooks_ran:
        add("host-hook", f"a {stage} hook of config.json ran a host program as root")
    for m in run.host_mount_leaks:
        add("host-mount-leak", f"{m} appeared in the host's mount table")
    return dedupe(out)


_rpath_cache = {}


def rpath_root(host, dev, path):
    """The mountinfo `root` a bind of host path `path` (on device `dev`) shows."""
    key = (dev, path)
    if key not in _rpath_cache:
        best = None
        for m in host.mounts:
            mp = m["mountpoint"].rstrip("/")
            if m["dev"] == dev and (path == m["mountpoint"] or path.startswith(mp + "/") or mp == ""):
                if best is None or len(m["mountpoint"]) > len(best["mountpoint"]):
                    best = m
        if best is None:
            _rpath_cache[key] = path
        else:
            rel = path[len(best["mountpoint"].rstrip("/")):]
            _rpath_cache[key] = (best["root"].rstrip("/") + rel) or "/"
    return _rpath_cache[key]


def dedupe(items):
    seen, out = set(), []
    for e in items:
        k = (e.kind, e.detail)
        if k not in seen:
            seen.add(k)
            out.append(e)
    return out
