#!/usr/bin/env python3
"""Whole-process cost of the hook, side by side with /bin/true and runc.

Prints the ratios of the budget issue 16 sets (median hook / median /bin/true
<= 1.15; runc run with the hook / without <= 1.10 on lower quartiles of 60
alternating runs; 1000 mounts and 100 policies each <= 1.5x the typical case;
peak RSS under 8 MiB) and exits 1 when one is missed. Timing is spawn-to-reap wall time of
each process (posix_spawn + wait4), the same harness for both sides of a
ratio; runs alternate so load drifts hit both alike. The hook logs every
decision to a datagram socket standing in for journald, in journald's native
protocol, as on a node running journald (the record carries every mount's
facts, so logging grows with mounts; a syslog-only node adds the record's
signature with the node's log key, see docs/performance.md).

Usage: integration/perf.py HOOK_BINARY [--runs N]   (root, for runc)
       integration/perf.py --setup DIR   (write the cases, print their command lines)
"""
import json
import os
import atexit
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POLICY = os.path.join(REPO, "examples", "restricted-psp.yaml")


# The environment of every measured process: the log sink's socket.
ENV = {}


def spawn(argv, stdin_path):
    """Wall time in microseconds and exit code of one process."""
    fd = os.open(stdin_path, os.O_RDONLY)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        start = time.perf_counter_ns()
        pid = os.posix_spawn(argv[0], argv, ENV, file_actions=[
            (os.POSIX_SPAWN_DUP2, fd, 0),
            (os.POSIX_SPAWN_DUP2, null, 1),
            (os.POSIX_SPAWN_DUP2, null, 2),
        ])
        _, status = os.waitpid(pid, 0)
        elapsed = (time.perf_counter_ns() - start) / 1000
    finally:
        os.close(fd)
        os.close(null)
    return elapsed, os.waitstatus_to_exitcode(status)


def peak_rss(argv, stdin_path):
    with open(stdin_path) as stdin:
        # The timed runs' environment: the record goes to the sink, as there.
        out = subprocess.run(["/usr/bin/time", "-f", "%M"] + argv, stdin=stdin, env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return int(out.stderr.strip().splitlines()[-1])


def versus(name, goal, base, case, runs):
    """Median wall time of `case` over that of `base`, each an (argv, stdin)
    pair, over alternating runs so load drifts hit both alike."""
    t_base, t_case = [], []
    for _ in range(runs):
        t_base.append(spawn(*base)[0])
        t_case.append(spawn(*case)[0])
    m_base, m_case = statistics.median(t_base), statistics.median(t_case)
    return (name, m_case / m_base, goal, f"{m_case:.0f} us vs {m_base:.0f} us")


def state_file(work, bundle, name, container_id):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        json.dump({"ociVersion": "1.0.2", "id": container_id, "status": "creating", "bundle": bundle}, f)
    return path


# containerd's CRI plugin keeps a task's bundle here (the hook honours a
# container's Kubernetes annotations only from such a bundle).
CRI_TASKS = "/run/containerd/io.containerd.runtime.v2.task/k8s.io"
CRI_FIXTURE = os.path.join(REPO, "tests", "fixtures", "cri-captured", "base-spec",
                           "containerd-restricted-ok-app.json")


def bundle_with(work, name, config):
    """config.json written as containerd writes it: Go's encoding/json, no
    whitespace (the captured fixtures are indented for reading)."""
    bundle = os.path.join(work, name)
    os.makedirs(bundle)
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f, separators=(",", ":"))
    return bundle


class LogSink:
    """A datagram socket that takes the hook's decision records and counts
    them, read by a thread as journald would read them."""

    def __init__(self, work):
        self.path = os.path.join(work, "log.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.records = 0
        threading.Thread(target=self.drain, daemon=True).start()

    def drain(self):
        # One buffer for every record: recv(n) would allocate n bytes each time.
        buf = bytearray(1 << 22)
        while True:
            try:
                self.sock.recv_into(buf)
            except OSError:
                return
            self.records += 1


def lower_quartile(values):
    return statistics.quantiles(values, n=4)[0]


def cri_case(work, name, extra_mounts):
    """A pod's container as containerd's CRI plugin makes it (the restricted
    app containerd 2.x wrote, of tests/fixtures/cri-captured) with `extra_mounts` more, its bundle in
    containerd's task directory (the hook honours its pod's identity only
    there; removed at exit)."""
    base = json.load(open(CRI_FIXTURE))
    # The capture joins its sandbox's namespaces by the pid the pause process
    # had then; a process of this machine that happens to have that pid now
    # would make them the host's (denied). A pid above the kernel's maximum
    # never exists: the namespaces stay unresolved, every run alike.
    for ns in base["linux"]["namespaces"]:
        if "path" in ns:
            ns["path"] = re.sub(r"^/proc/\d+/", f"/proc/{PID_NEVER}/", ns["path"])
    base["mounts"] += extra_mounts(base)
    container_id = f"{os.getpid():056x}{len(CREATED):08x}"
    os.makedirs(CRI_TASKS, mode=0o711, exist_ok=True)
    bundle = bundle_with(CRI_TASKS, container_id, base)
    CREATED.append(bundle)
    return state_file(work, bundle, f"{name}.json", container_id)


# Above any pid_max (2^22 at most).
PID_NEVER = (1 << 22) + 1

# The task directories this run made.
CREATED = []
atexit.register(lambda: [shutil.rmtree(b, ignore_errors=True) for b in CREATED])


def typical_case(work):
    """The restricted example policy, a pod's container (~10 KB of
    config.json) as containerd's CRI plugin writes it."""
    return cri_case(work, "typical", lambda base: [])


def root_case(work):
    """The same container run as root with the runtime's default
    capabilities and privilege escalation: the 100-policy case, which only
    its last policy admits."""
    def as_root(base):
        base["process"]["user"] = {"uid": 0, "gid": 0, "additionalGids": [0]}
        caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETUID", "CAP_SETGID"]
        base["process"]["capabilities"] = {s: caps for s in ("bounding", "effective", "permitted")}
        base["process"]["noNewPrivileges"] = False
        return []
    return cri_case(work, "root", as_root)


def mounts_case(work):
    """The same container with 1000 mounts more: kubelet volumes of its pod
    (configMaps, each its own directory) and tmpfs (emptyDir), all admitted
    by the policy."""
    def thousand(base):
        uid = base["annotations"]["io.kubernetes.cri.sandbox-uid"]
        pod = f"/var/lib/kubelet/pods/{uid}/volumes"
        return [
            {"destination": f"/m{i}", "type": "bind", "source": f"{pod}/kubernetes.io~configmap/cfg-{i}",
             "options": ["rbind", "ro"]}
            if i % 2 else {"destination": f"/m{i}", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}
            for i in range(1000)]
    return cri_case(work, "mounts", thousand)


def policies_case(work):
    """100 PSPs, only the last admits (all bound, evaluated in order); returns
    the configuration file."""
    policies = os.path.join(work, "policies.d")
    os.makedirs(policies)
    text = open(POLICY).read()
    for i in range(1, 101):
        body = text.replace("name: restricted", f"name: p{i:03d}")
        if i == 100:
            body = body.replace("max: 32768", "max: 65535").replace("min: 32767\n    rule: MustRunAs\n  seLinux", "min: 0\n    rule: MustRunAs\n  seLinux")
            body = body.replace("requiredDropCapabilities:\n  - ALL", "allowedCapabilities:\n  - '*'")
            body = body.replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true")
            body = body.replace("  fsGroup:\n    ranges:\n    - max: 32767\n      min: 32767\n    rule: MustRunAs", "  fsGroup:\n    rule: RunAsAny")
            body = body.replace("  supplementalGroups:\n    ranges:\n    - max: 32767\n      min: 32767\n    rule: MustRunAs", "  supplementalGroups:\n    rule: RunAsAny")
        with open(os.path.join(policies, f"p{i:03d}.yaml"), "w") as f:
            f.write(body)
    config = os.path.join(work, "config.yaml")
    with open(config, "w") as f:
        f.write("apiVersion: oci-psp-hook/v1alpha1\nkind: HookConfiguration\npolicyDirectory: policies.d\n"
                "defaultPolicies: [" + ", ".join(f"p{i:03d}" for i in range(1, 101)) + "]\n")
    return config


def setup(work):
    """Write the cases into WORK and print how to run each (for profiling)."""
    os.makedirs(work, exist_ok=True)
    typical, mounts, root = typical_case(work), mounts_case(work), root_case(work)
    config = policies_case(work)
    print(f"typical:      HOOK hook --policy {POLICY} < {typical}")
    print(f"1000 mounts:  HOOK hook --policy {POLICY} < {mounts}")
    print(f"100 policies: HOOK hook --config {config} < {root}")
    print(f"(the bundles stay in {CRI_TASKS} until removed: " + " ".join(CREATED) + ")")
    CREATED.clear()
    print("(perf.py also sets OCI_PSP_HOOK_JOURNAL_SOCKET to a datagram socket it reads: logging counts)")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if sys.argv[1] == "--setup":
        return setup(os.path.abspath(sys.argv[2]))
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 400
    results = []
    work = tempfile.mkdtemp(prefix="oci-psp-hook-perf.")
    # Measure a copy, as the package and `install` put it on a node: a file
    # the linker just wrote sits in the page cache in small pieces, and every
    # exec of it takes ~10 more page faults than of the same bytes written
    # in one go (as dpkg, `install` and cp write them).
    hook = os.path.join(work, "oci-psp-hook")
    shutil.copy2(sys.argv[1], hook)

    sink = LogSink(work)
    ENV["OCI_PSP_HOOK_JOURNAL_SOCKET"] = sink.path
    typical = typical_case(work)
    argv = [hook, "hook", "--policy", POLICY]
    spawn(argv, typical)  # warm the page cache and the policy cache
    time.sleep(0.1)
    if sink.records != 1:
        sys.exit("perf.py: the hook did not log its decision to the sink")
    results.append(versus("hook vs /bin/true (median)", 1.15,
                          (["/bin/true"], typical), (argv, typical), runs))

    mounts = mounts_case(work)
    _, code = spawn(argv, mounts)
    if code != 0:
        sys.exit(f"perf.py: the 1000-mount case should be admitted, its mounts all volumes of its pod (exit {code})")
    results.append(versus("1000 mounts vs typical (median)", 1.5,
                          (argv, typical), (argv, mounts), runs // 2))

    root = root_case(work)
    argv100 = [hook, "hook", "--config", policies_case(work)]
    _, code = spawn(argv100, root)
    if code != 0:
        sys.exit(f"perf.py: the 100-policy case should be admitted by the last policy (exit {code})")
    results.append(versus("100 policies, last admits, vs one (median)", 1.5,
                          (argv, root), (argv100, root), runs // 2))

    # Peak RSS, typical case: through GNU time, which forks (a vfork'd child
    # would report the parent's RSS from before its exec).
    rss = max(peak_rss(argv, typical) for _ in range(10))
    results.append(("peak RSS, typical (MiB)", rss / 1024, 8.0, f"{rss} KiB"))

    # runc run with and without the hook: 60 alternating runs, lower quartiles.
    if os.geteuid() == 0 and subprocess.run(["which", "runc"], capture_output=True).returncode == 0:
        results.append(runc_ratio(work, hook, sink.path))
    else:
        print("skip: runc run ratio needs root and runc")

    print(f"{'measure':<50} {'ratio':>8} {'goal':>6}  detail")
    failed = 0
    for name, value, goal, detail in results:
        ok = value <= goal
        failed += not ok
        print(f"{name:<50} {value:8.2f} {goal:6.2f}  {detail}{'' if ok else '   <-- missed'}")
    print(f"machine: {os.cpu_count()} cores, {os.uname().release}, load {os.getloadavg()[0]:.2f}")
    print(f"decision records logged to the sink: {sink.records}")
    subprocess.run(["rm", "-rf", work])
    print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def runc_ratio(work, hook, log_socket):
    bundles = {}
    for name, hooked in (("plain", False), ("hooked", True)):
        bundle = os.path.join(work, "runc-" + name)
        os.makedirs(bundle)
        # the rootfs in the bundle, as runtimes keep it
        rootfs = os.path.join(bundle, "rootfs")
        os.makedirs(os.path.join(rootfs, "bin"))
        subprocess.run(["cp", "/bin/busybox", os.path.join(rootfs, "bin", "busybox")], check=True)
        os.symlink("busybox", os.path.join(rootfs, "bin", "true"))
        subprocess.run(["runc", "spec", "--bundle", bundle], check=True)
        c = json.load(open(os.path.join(bundle, "config.json")))
        c["root"] = {"path": "rootfs", "readonly": True}
        c["process"].update(terminal=False, args=["/bin/true"], noNewPrivileges=True,
                            user={"uid": 32767, "gid": 32767, "additionalGids": [32767]}, capabilities={})
        if hooked:
            c["hooks"] = {"createRuntime": [{"path": hook, "args": ["oci-psp-hook", "hook", "--policy", POLICY],
                                             "env": [f"OCI_PSP_HOOK_JOURNAL_SOCKET={log_socket}"]}]}
        json.dump(c, open(os.path.join(bundle, "config.json"), "w"))
        bundles[name] = bundle
    state = os.path.join(work, "runc-state")
    times = {"plain": [], "hooked": []}
    for i in range(60):
        for name in ("plain", "hooked"):
            argv = ["/usr/sbin/runc", "--root", state, "run", "--bundle", bundles[name], f"perf-{name}-{i}"]
            elapsed, code = spawn(argv, os.devnull)
            if code != 0:
                sys.exit(f"perf.py: runc run {name} failed with {code}")
            times[name].append(elapsed)
    plain, hooked = lower_quartile(times["plain"]), lower_quartile(times["hooked"])
    return ("runc run with hook vs without (lower quartile)", hooked / plain, 1.10,
            f"{hooked:.0f} us vs {plain:.0f} us")


if __name__ == "__main__":
    main()
