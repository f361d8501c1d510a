"""Compliant seeds: real runtime-spec shapes made into runc bundles.

Each seed is a config.json as a runtime wrote it (tests/fixtures: `runc
spec`, podman, `ctr run`, the containerd and CRI-O CRI shapes), adapted to
run here through runc with the probe as its process, then made compliant
with the policy under test. Strings may hold placeholders (see oracle.py):
@WORK@, @BUNDLE@, @HOOK@.

Adapting (what a captured config cannot keep on this machine):
- root.path is "rootfs" (the bundle's own, as runc and ctr write it);
- the process is the probe: terminal off, cwd /, PATH=/bin;
- namespaces joined by path (a netns under /run/netns, the sandbox's
  /proc/<pid>/ns/*) become new namespaces: those paths do not exist here;
- bind mounts of the runtime's and kubelet's per-container files (their
  sources do not exist here) are dropped; kubelet volume directories
  become tmpfs at the same destination (emptyDir-like), keeping ro/rw;
- cgroupsPath is dropped (runc's default, /<id>), and resources keep only
  devices and pids (memory/cpu limits say nothing of privilege);
- SELinux and AppArmor labels are dropped where the host has no such LSM
  (runc refuses them there);
- rlimits are clamped to the harness's own hard limits;
- hooks are dropped (the oracle adds the hook under test);
- a seccomp profile is kept, with the syscalls the probe and runc's init
  need added to its allow rule (never keyctl or add_key: the probe's test of
  a confining profile).
"""

import copy
import json
import os
import resource
import subprocess
import tempfile

CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")

# What runc's init, a static Rust binary and busybox need under a default-deny
# profile (integration/lib.sh's seccomp_allowlist, plus the probe's own).
ALLOW_SYSCALLS = sorted(set("""accept accept4 access alarm arch_prctl bind brk capget capset chdir
    chmod chown clock_getres clock_gettime clock_nanosleep clone clone3 close
    close_range connect dup dup2 dup3 epoll_create epoll_create1 epoll_ctl
    epoll_pwait epoll_wait eventfd eventfd2 execve execveat exit exit_group
    faccessat faccessat2 fadvise64 fchdir fchmod fchmodat fchown fchownat fcntl
    fdatasync flock fork fstat fstatfs fsync ftruncate futex getcwd getdents
    getdents64 getegid geteuid getgid getgroups getitimer getpeername getpgid
    getpgrp getpid getppid getpriority getrandom getresgid getresuid getrlimit
    getrusage getsid getsockname getsockopt gettid gettimeofday getuid getxattr
    ioctl kill lchown lgetxattr link linkat listen lseek lstat madvise membarrier
    mkdir mkdirat mmap mprotect mremap munmap nanosleep newfstatat open openat
    openat2 pause pipe pipe2 poll ppoll prctl pread64 preadv prlimit64 pselect6
    pwrite64 pwritev read readahead readlink readlinkat readv recvfrom recvmsg
    rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction
    rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
    rt_sigtimedwait sched_getaffinity sched_yield select sendmsg sendto
    set_robust_list set_tid_address setitimer setpgid setsid setsockopt
    shutdown sigaltstack socket socketpair stat statfs statx symlink symlinkat
    sync sysinfo tgkill time times tkill truncate umask uname unlink unlinkat
    utimensat vfork wait4 waitid write writev mknod mknodat sched_getparam
    sched_getscheduler getcpu setgroups setuid setgid setresuid setresgid setfsuid
    setfsgid setreuid setregid""".split()))


def seccomp_allowlist():
    """A default-deny profile (a Localhost-style profile, as restricted wants)."""
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
        "syscalls": [{"names": list(ALLOW_SYSCALLS), "action": "SCMP_ACT_ALLOW"}],
    }


def confining(seccomp):
    return (isinstance(seccomp, dict)
            and seccomp.get("defaultAction") not in (None, "SCMP_ACT_ALLOW", "SCMP_ACT_LOG"))


def runc_spec():
    """`runc spec` of the installed runc (the fixture when runc is absent)."""
    with tempfile.TemporaryDirectory() as d:
        try:
            subprocess.run(["runc", "spec", "--bundle", d], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(os.path.join(d, "config.json")) as f:
                return json.load(f)
        except (OSError, subprocess.CalledProcessError):
            return None


def adapt(c):
    """A captured config made into a runc bundle's config here."""
    c = copy.deepcopy(c)
    p = c.setdefault("process", {})
    p["terminal"] = False
    p.pop("consoleSize", None)
    p["cwd"] = "/"
    p["args"] = ["/oracle-probe"]
    p["env"] = ["PATH=/bin", "HOME=/tmp"]
    # runc refuses an SELinux label where SELinux is off (and an AppArmor
    # profile where AppArmor is): the labels of the CRI shapes go there.
    if not os.path.isdir("/sys/fs/selinux"):
        p.pop("selinuxLabel", None)
        c.get("linux", {}).pop("mountLabel", None)
    if not os.path.exists("/sys/kernel/security/apparmor") and not _apparmor_enabled():
        p.pop("apparmorProfile", None)
    # rlimits above this process's own hard limits need CAP_SYS_RESOURCE,
    # which a sandboxed host may lack: clamp them (they grant nothing).
    rl = []
    for r in p.get("rlimits") or []:
        res = getattr(resource, r.get("type", ""), None)
        if res is None:
            continue
        hard = resource.getrlimit(res)[1]
        if hard != resource.RLIM_INFINITY:
            r = dict(r, hard=min(r.get("hard", hard), hard), soft=min(r.get("soft", hard), hard))
        rl.append(r)
    if "rlimits" in p:
        p["rlimits"] = rl
    c["root"] = {"path": "rootfs", "readonly": bool(c.get("root", {}).get("readonly", False))}
    c.pop("hooks", None)
    lx = c.setdefault("linux", {})
    lx.pop("cgroupsPath", None)
    res = lx.get("resources") or {}
    lx["resources"] = {k: v for k, v in res.items() if k in ("devices", "pids")}
    for ns in lx.get("namespaces") or []:
        ns.pop("path", None)
    mounts = []
    for m in c.get("mounts") or []:
        opts = m.get("options") or []
        is_bind = m.get("type") == "bind" or "bind" in opts or "rbind" in opts
        if is_bind and not os.path.exists(m.get("source", "")):
            if "/volumes/" in m.get("source", ""):
                mounts.append({"destination": m["destination"], "type": "tmpfs", "source": "tmpfs",
                               "options": ["nosuid", "nodev"] + (["ro"] if "ro" in opts else [])})
            continue
        mounts.append(m)
    c["mounts"] = mounts
    sc = lx.get("seccomp")
    if confining(sc):
        for rule in sc.get("syscalls") or []:
            if rule.get("action") == "SCMP_ACT_ALLOW" and not rule.get("args") and not rule.get("includes") \
                    and not rule.get("excludes"):
                rule["names"] = sorted(set(rule["names"]) | set(ALLOW_SYSCALLS))
                break
        else:
            sc.setdefault("syscalls", []).append({"names": list(ALLOW_SYSCALLS), "action": "SCMP_ACT_ALLOW"})
    return c


def _apparmor_enabled():
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def make_compliant(c, policy):
    """The smallest edit that makes a runtime's config compliant with the
    policy (integration/lib.sh's compliant(), per policy)."""
    c = copy.deepcopy(c)
    p = c["process"]
    if policy in ("restricted", "psp", "psp-hostpath"):
        umask = (p.get("user") or {}).get("umask")
        p["user"] = {"uid": 32767, "gid": 32767, "additionalGids": [32767]}
        if umask is not None:
            p["user"]["umask"] = umask
        caps = p.get("capabilities")
        if caps is not None:
            p["capabilities"] = {k: [] for k in caps}
        p["noNewPrivileges"] = True
    if policy == "restricted" and not confining(c["linux"].get("seccomp")):
        c["linux"]["seccomp"] = seccomp_allowlist()
    return c


def load(repo, policy):
    """[(name, config)] for the policy: every seed family."""
    fx = os.path.join(repo, "tests", "fixtures")

    def fixture(rel):
        with open(os.path.join(fx, rel)) as f:
            return json.load(f)

    spec = runc_spec() or fixture("runc-spec-default.json")
    raw = [
        ("runc-spec", spec),
        ("podman-default", fixture("podman-default.json")),
        ("podman-restricted-ok", fixture("podman-restricted-ok.json")),
        ("ctr-run-default", fixture("ctr-run-default.json")),
        ("cri-containerd-app", fixture("cri-captured/base-spec/containerd-restricted-ok-app.json")),
        ("cri-crio-app", fixture("cri-captured/hooks-dir/crio-restricted-ok-app.json")),
    ]
    return [(name, make_compliant(adapt(c), policy)) for name, c in raw]
