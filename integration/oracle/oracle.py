#!/usr/bin/env python3
"""The privilege oracle: a differential fuzzer whose oracle is the kernel.

Each config (a compliant seed plus 1-4 mutations) runs through
`runc run` with the hook under test in hooks.createRuntime and the probe
as the container's process. When the hook admits it, the probe's report of
the privileges the container really has is compared with what the policy
permits (lattice.py); any excess is a finding, minimised (mutations dropped
one at a time while it still reproduces) and saved under findings/ as a
reproducer that `replay` runs again. The seeds themselves must all be
admitted: a denied seed is a false denial.

    oracle.py --smoke 200                 # the bounded run of the test command
    oracle.py --minutes 30 --seed 7       # a long run
    oracle.py replay                      # every saved finding, through the hook again

Needs root, runc on PATH, the hook (--hook or $OCI_PSP_HOOK_BIN) and the
static probe (--probe; run.sh builds it). Ends with "N passed, N failed":
failed = distinct findings + falsely denied (or broken) seeds + self-checks
the oracle did not see (replay: findings that still show an excess privilege).
"""

import argparse
import atexit
import copy
import json
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import lattice  # noqa: E402
import mutator  # noqa: E402
import seeds as seedlib  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
FINDINGS = os.path.join(HERE, "findings")
PROBE_MARK = "ORACLE-PROBE "
RUN_TIMEOUT = 20


def log(*a):
    print(*a, flush=True)


# ------------------------------------------------------------------ the work dir

class Env:
    """The oracle's private work directory and what it knows of the host."""

    def __init__(self, args):
        self.args = args
        self.hook = os.path.abspath(args.hook)
        self.probe = os.path.abspath(args.probe)
        self.work = tempfile.mkdtemp(prefix="oci-psp-oracle.", dir=args.tmp)
        os.chmod(self.work, 0o755)
        self.state = os.path.join(self.work, "runc-state")
        self.bundles = os.path.join(self.work, "bundles")
        self.template = os.path.join(self.work, "rootfs-template")
        self.own_mounts = []
        self.counter = 0
        os.makedirs(self.state)
        os.makedirs(self.bundles)
        self.host = lattice.Host.read()
        self.rootdisk = rootdisk()
        self.host_devices = host_devices(self.rootdisk)
        self.skip_dev = skip_devices()
        self.facts = {"rootdisk": (self.rootdisk[1], self.rootdisk[2], self.rootdisk[3]),
                      "host_devices": self.host_devices}
        self.policies = lattice.policies(REPO, self.work)
        self.userns_holder = None
        self.userns_root_holder = None
        try:
            self._setup()
        except BaseException:
            self.cleanup()
            raise

    def _setup(self):
        make_rootfs(self.template, self.probe, self.host_devices)
        w = self.work
        os.makedirs(f"{w}/hostdata")
        with open(f"{w}/hostdata/secret", "w") as f:
            f.write("a host file\n")
        os.makedirs(f"{w}/allowed/sub")
        os.makedirs(f"{w}/allowed/submnt")
        with open(f"{w}/allowed/file", "w") as f:
            f.write("allowed\n")
        os.symlink(f"{w}/hostdata", f"{w}/allowed/link-out")
        os.chmod(f"{w}/allowed", 0o777)
        os.chmod(f"{w}/hostdata", 0o777)
        # A writable mount under the allowed prefix: a recursive bind's
        # submount (is it read-only too?).
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=1777", "oracle-submnt",
                           f"{w}/allowed/submnt"], stderr=subprocess.DEVNULL).returncode == 0:
            self.own_mounts.append(f"{w}/allowed/submnt")
        look = (f"{w}/lookalike/run/containers/storage/overlay-containers/"
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/userdata")
        os.makedirs(look)
        with open(f"{look}/hosts", "w") as f:
            f.write("127.0.0.1 localhost\n")
        os.makedirs(f"{w}/lookalike/var/lib/kubelet/pods/3f6b1c2a-9d4e-4f7a-8b1c-2d3e4f5a6b7c/"
                    "volumes/kubernetes.io~configmap/cfg")
        subprocess.run(["cp", "-a", self.template, f"{w}/altroot"], check=True)
        with open(os.path.join(REPO, "examples/restricted-psp.yaml")) as f:
            psp = f.read()
        psp = psp.replace("name: restricted", "name: readonly-hostpath")
        psp = psp.replace("  volumes:\n", f"  allowedHostPaths:\n  - pathPrefix: {w}/allowed\n"
                          "    readOnly: true\n  volumes:\n  - hostPath\n")
        with open(f"{w}/psp-hostpath.yaml", "w") as f:
            f.write(psp)
        self.userns_holder = hold_userns("0 0 65536\n")
        # A user namespace whose 32767 is host root, for configs that join
        # it by path claiming a harmless mapping.
        self.userns_root_holder = hold_userns("0 100000 32767\n32767 0 1\n32768 132768 32768\n")
        # The oracle's own namespaces (the host's) as files a path can name:
        # nsfs bind mounts and symlinks under the work directory.
        os.makedirs(f"{w}/ns")
        os.makedirs(f"{w}/nslink")
        for name in ("net", "ipc", "uts", "pid", "cgroup"):
            open(f"{w}/ns/{name}", "w").close()
            if subprocess.run(["mount", "--bind", f"/proc/{os.getpid()}/ns/{name}", f"{w}/ns/{name}"],
                              stderr=subprocess.DEVNULL).returncode == 0:
                self.own_mounts.append(f"{w}/ns/{name}")
            os.symlink(f"/proc/{os.getpid()}/ns/{name}", f"{w}/nslink/{name}")
        os.symlink("/etc", f"{w}/etc-link")
        # The host's view after our own mounts.
        self.host = lattice.Host.read()

    def placeholders(self, bundle=None, cid=None):
        p = {"@WORK@": self.work, "@HOOK@": self.hook, "@REPO@": REPO,
             "@ROOTDISK@": self.rootdisk[0], "@HOSTPID@": str(os.getpid()),
             "@USERNS@": (f"/proc/{self.userns_holder.pid}/ns/user" if self.userns_holder
                          else "/nonexistent-userns"),
             "@USERNS_HOSTROOT@": (f"/proc/{self.userns_root_holder.pid}/ns/user"
                                   if self.userns_root_holder else "/nonexistent-userns")}
        if bundle:
            p["@BUNDLE@"] = bundle
        if cid:
            p["@ID@"] = cid
        return p

    def cleanup(self):
        kill_containers(self.state)
        for holder in (self.userns_holder, self.userns_root_holder):
            if holder:
                holder.kill()
                holder.wait()
        self.userns_holder = self.userns_root_holder = None
        for mp in leaked_mounts(self.work, []):
            subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
        for mp in reversed(self.own_mounts):
            subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
        self.own_mounts = []
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)


def hold_userns(mapping):
    """A process in a user namespace with this uid and gid mapping, for
    configs that join a user namespace by path."""
    own = os.readlink("/proc/self/ns/user")
    p = subprocess.Popen(["unshare", "--user", "--", "sleep", "1000000"], stdin=subprocess.DEVNULL)
    for _ in range(200):
        try:
            if os.readlink(f"/proc/{p.pid}/ns/user") != own:
                break
        except OSError:
            pass
        time.sleep(0.01)
    try:
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{p.pid}/{name}", "w") as f:
                f.write(mapping)
    except OSError:
        p.kill()
        p.wait()
        return None
    return p


def rootdisk():
    """(device node path, "b", major, minor) of the block device behind /."""
    st = os.stat("/")
    ma, mi = os.major(st.st_dev), os.minor(st.st_dev)
    path = None
    try:
        with open(f"/sys/dev/block/{ma}:{mi}/uevent") as f:
            for line in f:
                if line.startswith("DEVNAME="):
                    path = "/dev/" + line.split("=", 1)[1].strip()
    except OSError:
        pass
    return (path or "/dev/vda", "b", ma, mi)


def host_devices(disk):
    """Host devices the mutator adds and the image ships: (name, type, major, minor)."""
    out = [("loop0", "b", 7, 0), ("sda", "b", 8, 0), (os.path.basename(disk[0]), "b", disk[2], disk[3]),
           ("mem", "c", 1, 1), ("kmsg", "c", 1, 11), ("port", "c", 1, 4), ("fuse", "c", 10, 229),
           ("kvm", "c", 10, 232), ("tty1", "c", 4, 1), ("loop-control", "c", 10, 237)]
    seen, uniq = set(), []
    for d in out:
        if (d[1], d[2], d[3]) not in seen:
            seen.add((d[1], d[2], d[3]))
            uniq.append(d)
    return uniq


def skip_devices():
    """Character majors of watchdogs (opening one arms it)."""
    majors = []
    try:
        with open("/proc/devices") as f:
            chars = False
            for line in f:
                if line.startswith("Character"):
                    chars = True
                elif line.startswith("Block"):
                    chars = False
                elif chars and "watchdog" in line:
                    majors.append(line.split()[0])
    except OSError:
        pass
    return ",".join(majors + ["10:130", "10:231"])


def static_busybox():
    for bb in (shutil.which("busybox"), "/bin/busybox", "/usr/bin/busybox"):
        if bb and os.access(bb, os.X_OK):
            r = subprocess.run(["ldd", bb], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if r.returncode != 0:
                return bb
    return None


def make_rootfs(d, probe, devices):
    """A minimal image: a static busybox (integration/lib.sh make_rootfs), the
    probe at /oracle-probe, device nodes of host devices under /imgdev (mode
    0666: only the device cgroup stands between them and the container), and
    symlinks the mutator uses as mount destinations."""
    for sub in ("bin", "etc", "tmp", "proc", "sys", "dev", "mnt", "data", "imgdev", "root"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    bb = static_busybox()
    if bb:
        shutil.copy2(bb, os.path.join(d, "bin/busybox"))
        for applet in ("sh", "ls", "cat", "id", "touch", "true", "sleep", "echo"):
            os.symlink("busybox", os.path.join(d, "bin", applet))
    shutil.copy2(probe, os.path.join(d, "oracle-probe"))
    os.chmod(os.path.join(d, "oracle-probe"), 0o755)
    with open(os.path.join(d, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\npsp:x:32767:32767:psp:/tmp:/bin/sh\n")
    with open(os.path.join(d, "etc/group"), "w") as f:
        f.write("root:x:0:\npsp:x:32767:\n")
    os.chmod(os.path.join(d, "tmp"), 0o1777)
    for name, t, ma, mi in devices:
        node = os.path.join(d, "imgdev", name)
        mode = (stat.S_IFBLK if t == "b" else stat.S_IFCHR) | 0o666
        os.mknod(node, mode, os.makedev(ma, mi))
        os.chmod(node, 0o666)
    for link, target in (("lnk-sys", "/sys"), ("lnk-proc", "/proc"), ("lnk-mnt", "mnt"),
                         ("lnk-data", "/data"), ("lnk-up", "../../..")):
        os.symlink(target, os.path.join(d, link))


def kill_containers(state):
    try:
        ids = subprocess.run(["runc", "--root", state, "list", "-q"], capture_output=True,
                             text=True, timeout=30).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return
    for cid in ids:
        subprocess.run(["runc", "--root", state, "delete", "-f", cid], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)


def leaked_mounts(work, own):
    """Mounts in the host's table under the work directory that are not the
    oracle's own: what a container propagated to the host."""
    with open("/proc/self/mountinfo") as f:
        ms = lattice.parse_mountinfo(f.read())
    out = [m["mountpoint"] for m in ms
           if (m["mountpoint"] + "/").startswith(work + "/") and m["mountpoint"] not in own]
    return sorted(out, key=len, reverse=True)


# ------------------------------------------------------------------ configs and bundles

# The judging hook's environment: no log, and the records no log took kept
# in the work directory, not in the node's undelivered/.
HOOK_ENV = ["OCI_PSP_HOOK_LOG_SOCKET=@WORK@/no-syslog",
            "OCI_PSP_HOOK_UNDELIVERED_DIR=@WORK@/undelivered"]


def build(seed_cfg, muts, policy, env, with_hook=True):
    """The config (placeholders kept) and bundle extras of a seed plus mutations."""
    c = copy.deepcopy(seed_cfg)
    extras = {}
    for m in muts:
        mutator.apply(c, extras, m)
    ours = {"path": "@HOOK@", "args": ["oci-psp-hook", "hook"] + policy_args(policy, env),
            "env": HOOK_ENV}
    hooks = {"createRuntime": [ours] if with_hook else []}
    for h in extras.pop("hooks", []):
        stage = h["stage"]
        if stage == "createRuntime-before":
            hooks["createRuntime"].insert(0, h["hook"])
        elif stage == "createRuntime-after":
            hooks["createRuntime"].append(h["hook"])
        else:
            hooks.setdefault(stage, []).append(h["hook"])
    c["hooks"] = hooks
    return c, extras


def policy_args(policy, env):
    args = env.policies[policy].hook_args
    return [a.replace(REPO, "@REPO@").replace(env.work, "@WORK@") for a in args]


def substitute(obj, ph):
    text = json.dumps(obj)
    for k, v in ph.items():
        text = text.replace(k, v)
    return json.loads(text)


def write_bundle(env, config, extras, name):
    """A bundle directory for `config`: its own rootfs (hard links of the
    template), the extras, config.json with the placeholders filled and
    the probe's environment. Returns (bundle, cid, config as written,
    the sysctls it sets)."""
    env.counter += 1
    cid = f"oracle-{os.getpid()}-{env.counter}"
    bundle = os.path.join(env.bundles, f"{env.counter:06d}-{name}"[:80])
    os.makedirs(bundle)
    subprocess.run(["cp", "-al", env.template, os.path.join(bundle, "rootfs")], check=True)
    ph = env.placeholders(bundle, cid)
    for rel, target in (extras.get("symlinks") or {}).items():
        os.symlink(substitute(target, ph), os.path.join(bundle, rel))
    for rel in extras.get("mkdirs") or []:
        os.makedirs(os.path.join(bundle, rel), exist_ok=True)
    c = substitute(config, ph)
    own_userns_root(c, os.path.join(bundle, "rootfs"))
    p = c.setdefault("process", {})
    sysctls = {}
    for key in ("sysctl", "Sysctl"):
        sysctls.update((c.get("linux") or {}).get(key) or {})
    p["env"] = [e for e in (p.get("env") or []) if not e.startswith("ORACLE_")] + [
        f"ORACLE_HOST_NS={env.host.env_ns()}",
        f"ORACLE_MKNOD=b:7:0,b:8:0,b:{env.rootdisk[2]}:{env.rootdisk[3]}",
        f"ORACLE_SKIP_DEV={env.skip_dev}",
        f"ORACLE_SYSCTLS={','.join(sorted(sysctls))}",
    ]
    text = json.dumps(c, indent=1)
    for sentinel, raw in (extras.get("raw_keys") or {}).items():
        text = text.replace(f'"{sentinel}"', f'"{raw}"')
    with open(os.path.join(bundle, "config.json"), "w") as f:
        f.write(text)
    return bundle, cid, c, sysctls


def own_userns_root(c, rootfs):
    """With a new user namespace, the bundle's directories belong to the
    container's root, as a runtime sets it up (podman's idmapped storage):
    runc makes mountpoints as that root. Directories only: the files are
    hard links of the template's."""
    lx = c.get("linux") or {}
    userns = [n for n in lx.get("namespaces") or [] if n.get("type") == "user"]
    if not userns or userns[0].get("path"):
        return

    def host_id(maps):
        for m in maps or []:
            if m.get("containerID") == 0:
                return m.get("hostID")
        return None

    uid, gid = host_id(lx.get("uidMappings")), host_id(lx.get("gidMappings"))
    if uid is None or gid is None:
        return
    for d, dirs, _files in os.walk(rootfs):
        os.lchown(d, uid, gid)


class Outcome:
    def __init__(self, verdict, report=None, rc=None, err="", excess=(), seconds=0.0):
        self.verdict = verdict  # admitted | denied | refused (runc, not the hook) | timeout | blind
        self.report = report
        self.rc = rc
        self.err = err
        self.excess = list(excess)
        self.seconds = seconds

    def kinds(self):
        return {e.kind for e in self.excess}


def run_config(env, config, extras, policy, name="cfg"):
    """Run one config through runc; judge the probe's report if it ran."""
    bundle, cid, written, sysctls = write_bundle(env, config, extras, name)
    st = os.stat(os.path.join(bundle, "rootfs"))
    rootfs = (f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}", st.st_ino, os.path.join(bundle, "rootfs"))
    before = read_mounts()
    t0 = time.monotonic()
    try:
        r = subprocess.run(["timeout", str(RUN_TIMEOUT), "runc", "--root", env.state, "run",
                            "--bundle", bundle, cid], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, errors="replace", timeout=RUN_TIMEOUT + 10)
        rc, out, err = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = 124, e.stdout or "", e.stderr or ""
        out = out if isinstance(out, str) else out.decode(errors="replace")
        err = err if isinstance(err, str) else err.decode(errors="replace")
    seconds = time.monotonic() - t0
    subprocess.run(["runc", "--root", env.state, "delete", "-f", cid], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    hooks_ran = sorted(f[len("hook-ran-"):] for f in os.listdir(bundle) if f.startswith("hook-ran-"))
    leaks = leaked_mounts(env.work, env.own_mounts)
    for mp in leaks:
        subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
    remove_bundle(bundle, env)
    report = None
    for line in out.splitlines():
        if line.startswith(PROBE_MARK):
            try:
                report = json.loads(line[len(PROBE_MARK):])
            except json.JSONDecodeError:
                pass
    if report is not None:
        # Anonymous device numbers (tmpfs, mqueue, ...) are reused as soon as
        # a superblock goes: a host mount is one that was there before and
        # after the container, so alive while its own were.
        after = read_mounts()
        keep = {(m["dev"], m["mountpoint"], m["root"]) for m in after}
        host = lattice.Host(ns=env.host.ns, apparmor=env.host.apparmor,
                            mounts=[m for m in before if (m["dev"], m["mountpoint"], m["root"]) in keep])
        run = lattice.Run(rootfs=rootfs, sysctls=sysctls, hooks_ran=hooks_ran, host_mount_leaks=leaks)
        ex = lattice.excess(report, env.policies[policy], host, run)
        return Outcome("admitted", report, rc, err, ex, seconds)
    if "oci-psp-hook: denied" in err or "oci-psp-hook: error" in err:
        o = Outcome("denied", rc=rc, err=err, seconds=seconds)
    elif rc == 124:
        o = Outcome("timeout", rc=rc, err=err, seconds=seconds)
    elif "oci-psp-hook" not in err and rc != 0:
        o = Outcome("refused", rc=rc, err=err, seconds=seconds)
    else:
        o = Outcome("blind", rc=rc, err=err, seconds=seconds)
    # A host program of config.json that ran although the container did not
    # (a hook before ours): reported, not judged (the hook cannot stop it).
    o.hooks_ran = hooks_ran
    return o


def read_mounts():
    with open("/proc/self/mountinfo") as f:
        return lattice.parse_mountinfo(f.read())


def remove_bundle(bundle, env):
    if env.args.keep_bundles:
        return
    # Never follow a mount out of the bundle: anything still mounted inside
    # was unmounted above; rm --one-file-system refuses to cross the rest.
    subprocess.run(["rm", "-rf", "--one-file-system", bundle], stderr=subprocess.DEVNULL)


# ------------------------------------------------------------------ findings

def mclass(m):
    """A mutation's class: what distinct findings are told apart by."""
    k = m["kind"]
    if k == "dev_rule":
        r = m["rule"]
        wild = "wild" if r.get("major") in (None, -1) or r.get("minor") in (None, -1) else "num"
        return f"dev_rule:{'allow' if r['allow'] else 'deny'}-{r.get('type', 'none')}-{wild}"
    if k == "linux_device":
        return f"linux_device:{m['device']['type']}-{'rule' if m['rule'] else 'norule'}"
    if k == "mount_add":
        return "mount_add:" + m["label"].split("[", 1)[0]
    if k == "caps_add":
        return f"caps_add:{m['cap'].strip()}"
    if k in ("masked", "readonly"):
        return f"{k}:{m['label'].split('#')[0]}"
    return f"{k}:{m['label']}"


def hook_identity(path):
    """The hook a finding was found against: its build time and digest."""
    import hashlib
    st = os.stat(path)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"mtime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(st.st_mtime)),
            "sha256": h.hexdigest()[:16]}


def finding_name(policy, muts):
    """<policy>-<kind>-<class>[+...], e.g. psp-userns-gid-to-host-root."""
    classes = sorted({mclass(m) for m in muts})
    return slug(f"{policy}-" + "+".join(c.replace("_", "-").replace(":", "-", 1) for c in classes))[:100] \
        or policy


def slug(text):
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", text).strip("-")


class Findings:
    def __init__(self, directory):
        self.dir = directory
        self.known = {}     # key -> name
        self.new = []       # (name, muts, kinds, excess) found in this run
        self.observed = set()  # every finding (new or saved before) seen in this run
        self.duplicates = 0
        if os.path.isdir(directory):
            for name in sorted(os.listdir(directory)):
                try:
                    with open(os.path.join(directory, name, "meta.json")) as f:
                        meta = json.load(f)
                    self.known[self.key(meta["policy"], meta["mutations"])] = name
                except (OSError, ValueError, KeyError):
                    pass

    @staticmethod
    def key(policy, muts):
        return (policy, tuple(sorted({mclass(m) for m in muts})))

    def covered(self, policy, muts):
        """A finding already known whose mutations' classes are all among these."""
        classes = {mclass(m) for m in muts}
        for (p, ks), name in self.known.items():
            if p == policy and set(ks) <= classes:
                return name
        return None

    def save(self, env, policy, seed_name, muts, outcome, config, extras, origin):
        key = self.key(policy, muts)
        if key in self.known:
            self.duplicates += 1
            self.observed.add(self.known[key])
            return self.known[key], False
        base = finding_name(policy, muts)
        name, n = base, 2
        while os.path.exists(os.path.join(self.dir, name)):
            name, n = f"{base}-{n}", n + 1
        d = os.path.join(self.dir, name)
        os.makedirs(d)
        saved = copy.deepcopy(config)
        saved.setdefault("process", {})["env"] = [e for e in saved["process"].get("env", [])
                                                  if not e.startswith("ORACLE_")]
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(saved, f, indent=2)
            f.write("\n")
        kinds = sorted(outcome.kinds())
        meta = {"policy": policy, "seed": seed_name, "mutations": muts, "extras": extras,
                "excess": [str(e) for e in outcome.excess], "excess_kinds": kinds, "found_by": origin,
                "hook_binary": hook_identity(env.hook),
                "placeholders": "@HOOK@ hook binary, @REPO@ repository, @WORK@ oracle work dir "
                                "(hostdata/, allowed/, altroot/, lookalike/), @BUNDLE@ bundle dir, "
                                "@ROOTDISK@ the block device behind /, @HOSTPID@ the oracle's pid, "
                                "@USERNS@ a user namespace mapping 0-65535 to itself, @USERNS_HOSTROOT@ one "
                                "mapping 32767 to host root, @ID@ container "
                                "id; keys __oracle_key_N__ are written as extras.raw_keys gives them; "
                                "root.path 'rootfs' is the bundle's own rootfs (the probe image); "
                                "see integration/oracle/README.md"}
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump(meta, f, indent=2)
            f.write("\n")
        with open(os.path.join(d, "README.md"), "w") as f:
            f.write(f"{policy} (seed {seed_name}): {'; '.join(m['kind'] + ' ' + m['label'] for m in muts)}"
                    f" -> admitted with {', '.join(kinds)}\n")
        self.known[key] = name
        self.observed.add(name)
        self.new.append((name, muts, kinds, [str(e) for e in outcome.excess]))
        return name, True


# ------------------------------------------------------------------ the loop

def draw(rng, env):
    n = rng.choices([1, 2, 3, 4], weights=[45, 30, 15, 10])[0]
    return [mutator.generate(rng, env.facts) for _ in range(n)]


def minimise(env, seed_cfg, muts, policy, kind, budget):
    """Drop mutations one at a time while `kind` still shows (at most
    `budget` runs); returns (mutations, outcome, runs)."""
    cur = list(muts)
    best = None
    runs = 0
    changed = True
    while changed and len(cur) > 1 and runs < budget:
        changed = False
        for i in range(len(cur)):
            if runs >= budget:
                break
            trial = cur[:i] + cur[i + 1:]
            c, extras = build(seed_cfg, trial, policy, env)
            if mutator.safe(substitute(c, env.placeholders("/b", "x"))):
                continue
            o = run_config(env, c, extras, policy, "min")
            runs += 1
            if o.verdict == "admitted" and kind in o.kinds():
                cur, best, changed = trial, o, True
                break
    return cur, best, runs


class Stats:
    def __init__(self):
        self.tried = self.admitted = self.denied = self.refused = self.timeout = self.blind = 0
        self.unsafe = self.runs = self.excess_configs = 0
        self.hooks_before_denial = set()
        self.over_denials = {}
        self.refusals = {}
        # Per seed family: [tried, admitted].
        self.families = {}


# Privileged configurations run without the hook: the probe and the lattice
# must see each (policy, seed, mutations, the excess kind expected). An
# oracle that went blind (a kernel, runc or probe change) would otherwise
# report nothing forever.
SELF_CHECK = [
    ("restricted", [{"kind": "caps_add", "label": "", "cap": "CAP_SYS_ADMIN", "sets": "all"}],
     "cap:CAP_SYS_ADMIN"),
    ("restricted", [{"kind": "dev_rule", "label": "", "pos": "append",
                     "rule": {"allow": True, "type": "a", "access": "rwm"}}], "device-open:b"),
    ("baseline", [{"kind": "dev_rule", "label": "", "pos": "append",
                   "rule": {"allow": True, "type": "b", "access": "rwm"}},
                  {"kind": "user", "label": "", "how": "uid0-gid0"},
                  {"kind": "caps_add", "label": "", "cap": "CAP_MKNOD", "sets": "all"}], "device-open:mknod"),
    ("baseline", [{"kind": "readonly", "label": "", "how": "empty", "index": 0},
                  {"kind": "user", "label": "", "how": "uid0-gid0"}], "write-proc-sys"),
    ("restricted", [{"kind": "masked", "label": "", "how": "empty", "index": 0}], "proc-unmasked"),
    ("restricted", [{"kind": "userns", "label": "", "how": "uid-to-host-root"}], "host-root"),
    ("psp", [{"kind": "userns", "label": "", "how": "gid-to-host-root"}], "host-group-0"),
    ("restricted", [{"kind": "ns_remove", "label": "", "type": "network"}], "host-ns:net"),
    ("restricted", [{"kind": "ns_join", "label": "", "type": "pid", "path": "/proc/@HOSTPID@/ns/pid"}],
     "host-ns:pid"),
    ("restricted", [{"kind": "mount_add", "label": "", "pos": "append",
                     "mount": {"destination": "/data", "type": "bind", "source": "@WORK@/hostdata",
                               "options": ["rbind", "ro"]}}], "host-mount"),
    ("restricted", [{"kind": "mount_modify", "label": "", "what": "sys-rw"}], "writable-sysfs"),
    ("psp", [{"kind": "mount_add", "label": "", "pos": "append",
              "mount": {"destination": "/host-sys", "type": "bind", "source": "/sys",
                        "options": ["rbind", "ro"]}}], "host-mount"),
    ("restricted", [{"kind": "mount_modify", "label": "", "what": "proc-as-bind"}], "host-mount"),
    ("restricted", [{"kind": "mount_add", "label": "", "pos": "append",
                     "mount": {"destination": "/mnt/debug", "type": "debugfs", "source": "debugfs"}}],
     "kernel-fs:debugfs"),
    ("restricted", [{"kind": "seccomp", "label": "", "how": "null"}], "seccomp-unconfined"),
    ("restricted", [{"kind": "nnp", "label": "", "how": "false"}], "no-new-privs-off"),
    ("restricted", [{"kind": "root", "label": "", "how": "host-dir"}], "rootfs-not-bundle"),
    ("restricted", [{"kind": "hook_add", "label": "", "stage": "poststart"}], "host-hook"),
    ("psp", [{"kind": "user", "label": "", "how": "uid1000"}], "uid-not-allowed"),
    ("psp-hostpath", [{"kind": "mount_add", "label": "", "pos": "append",
                       "mount": {"destination": "/data", "type": "bind", "source": "@WORK@/allowed",
                                 "options": ["rbind"]}}], "hostpath-writable"),
]


def self_check(env, seed_sets, stats, failures):
    """Run SELF_CHECK without the hook; each must show its excess."""
    seen = 0
    for policy, muts, kind in SELF_CHECK:
        if policy not in seed_sets:
            seed_sets = dict(seed_sets, **{policy: seedlib.load(REPO, policy)})
        cfg = dict(seed_sets[policy])["runc-spec"]
        c, extras = build(cfg, muts, policy, env, with_hook=False)
        o = run_config(env, c, extras, policy, "self-check")
        stats.runs += 1
        if o.verdict == "admitted" and kind in o.kinds():
            seen += 1
        else:
            got = sorted(o.kinds()) if o.verdict == "admitted" else f"{o.verdict}: {first_line(o.err)}"
            log(f"SELF-CHECK FAILED {policy} {kind}: {got}")
            failures.append(f"self-check: the oracle did not see {kind} under {policy} ({got})")
    log(f"self-check: the oracle sees {seen} of {seen + sum(1 for f in failures if f.startswith('self-check'))}"
        " privileged configurations run without the hook")


def seed_check(env, policies, seed_sets, findings, stats, failures):
    for policy in policies:
        for name, cfg in seed_sets[policy]:
            c, extras = build(cfg, [], policy, env)
            o = run_config(env, c, extras, policy, f"seed-{name}")
            stats.runs += 1
            if o.verdict == "admitted" and not o.excess:
                log(f"seed ok   {policy:13} {name}")
            elif o.verdict == "admitted":
                name2, new = findings.save(env, policy, name, [], o, c, extras, "seed")
                log(f"SEED EXCESS {policy} {name}: {'; '.join(map(str, o.excess))}")
                failures.append(f"seed {name} under {policy} admitted with excess: "
                                f"{', '.join(sorted(o.kinds()))}")
            else:
                kind = "falsely denied" if o.verdict == "denied" else f"did not run ({o.verdict})"
                log(f"SEED {kind.upper()} {policy} {name}: {first_line(o.err)}")
                failures.append(f"seed {name} under {policy} {kind}: {first_line(o.err)}")


def first_line(err):
    lines = [l for l in (err or "").splitlines() if l.strip()]
    for l in lines:
        if "oci-psp-hook:" in l:
            l = l[l.index("oci-psp-hook:"):].replace('\\"', '"')
            return l.rstrip('"').strip()[:400]
    last = (lines[-1] if lines else "").strip()
    m = re.search(r'msg="(.*)"', last)
    if m:
        last = m.group(1).replace("runc run failed: ", "").replace(
            "unable to start container process: ", "").replace("error during container init: ", "")
    return last[:400]


def fuzz(env, args):
    policies = list(env.policies) if args.policy == "all" else [args.policy]
    seed_sets = {p: seedlib.load(REPO, p) for p in policies}
    names = {n for seeds in seed_sets.values() for n, _ in seeds}
    if args.family is not None and args.family not in names:
        sys.exit(f"oracle.py: no seed family {args.family!r} (there are {', '.join(sorted(names))})")
    findings = Findings(args.findings)
    stats = Stats()
    failures = []
    t_start = time.monotonic()
    log(f"oracle: runc {runc_version()}, hook {env.hook}, policies {', '.join(policies)}, seed {args.seed}")
    self_check(env, seed_sets, stats, failures)
    seed_check(env, policies, seed_sets, findings, stats, failures)
    deadline = t_start + args.minutes * 60 if args.minutes else None
    limit = None if deadline else args.smoke
    t_fuzz = time.monotonic()
    i = 0
    min_runs = 0
    while True:
        if limit is not None and i >= limit:
            break
        if args.only is not None and i != args.only:
            i += 1
            continue
        if deadline is not None and time.monotonic() >= deadline:
            break
        rng = random.Random(f"{args.seed}:{i}")
        policy = policies[i % len(policies)] if args.policy == "all" else args.policy
        family = [(n, c) for n, c in seed_sets[policy] if args.family in (None, n)]
        seed_name, seed_cfg = rng.choice(family)
        for _attempt in range(20):
            muts = draw(rng, env)
            c, extras = build(seed_cfg, muts, policy, env)
            why = mutator.safe(substitute(c, env.placeholders("/b", "x")))
            if why is None:
                break
            stats.unsafe += 1
        else:
            i += 1
            continue
        i += 1
        stats.tried += 1
        o = run_config(env, c, extras, policy, f"{i}")
        stats.runs += 1
        labels = "; ".join(f"{m['kind']} {m['label']}" for m in muts)
        tally = stats.families.setdefault(seed_name, [0, 0])
        tally[0] += 1
        if o.verdict == "admitted":
            stats.admitted += 1
            tally[1] += 1
        elif o.verdict == "denied":
            stats.denied += 1
            for h in getattr(o, "hooks_ran", []):
                stats.hooks_before_denial.add(h)
            if args.over_denials and len(muts) == 1:
                # Informational: would the container have had no privilege
                # beyond the policy's? (judged by the lattice, which knows
                # privilege, not the policy's every field)
                nc, nextras = build(seed_cfg, muts, policy, env, with_hook=False)
                no = run_config(env, nc, nextras, policy, f"{i}-nohook")
                stats.runs += 1
                if no.verdict == "admitted" and not no.excess:
                    key = (policy, mclass(muts[0]))
                    if key not in stats.over_denials:
                        stats.over_denials[key] = (muts[0]["label"], first_line(o.err))
        elif o.verdict == "timeout":
            stats.timeout += 1
        elif o.verdict == "refused":
            stats.refused += 1
            key = first_line(o.err)[:120]
            stats.refusals[key] = stats.refusals.get(key, 0) + 1
        else:
            stats.blind += 1
        if args.only is not None:
            log(json.dumps(o.report, indent=1) if o.report else o.err)
            log("\n".join(map(str, o.excess)))
        if args.verbose:
            log(f"[{i}] {policy} {seed_name}: {labels} -> {o.verdict}"
                + (f" EXCESS {sorted(o.kinds())}" if o.excess else "")
                + (f" ({first_line(o.err)[:200]})" if o.verdict in ("refused", "blind", "timeout") else ""))
        if o.verdict != "admitted" or not o.excess:
            continue
        stats.excess_configs += 1
        # One minimised finding per excess kind that no known finding
        # (whose mutations are all among these) explains already.
        pending = sorted(o.kinds())
        while pending:
            kind = pending.pop(0)
            known = findings.covered(policy, muts)
            if known and kind in known_kinds(args.findings, known):
                findings.duplicates += 1
                findings.observed.add(known)
                continue
            if args.no_minimise:
                small, so = muts, o
            else:
                small, so, runs = minimise(env, seed_cfg, muts, policy, kind, args.min_budget)
                stats.runs += runs
                min_runs += runs
                so = so or o
            # The smallest seed that still shows it: runc's own template.
            fseed_name, fseed_cfg = seed_name, seed_cfg
            if seed_name != "runc-spec" and not args.no_minimise:
                rs = dict(seed_sets[policy])["runc-spec"]
                rc_, rextras = build(rs, small, policy, env)
                if mutator.safe(substitute(rc_, env.placeholders("/b", "x"))) is None:
                    ro = run_config(env, rc_, rextras, policy, "min-seed")
                    stats.runs += 1
                    min_runs += 1
                    if ro.verdict == "admitted" and kind in ro.kinds():
                        fseed_name, fseed_cfg, so = "runc-spec", rs, ro
            sc, sextras = build(fseed_cfg, small, policy, env)
            name, new = findings.save(env, policy, fseed_name, small, so, sc, sextras,
                                      f"seed {args.seed} config {i - 1}")
            if new:
                log(f"FINDING {name}: {'; '.join(m['kind'] + ' ' + m['label'] for m in small)} -> "
                    f"{', '.join(sorted(so.kinds()))}")
            pending = [k for k in pending if k not in so.kinds()]
    elapsed = time.monotonic() - t_fuzz
    total = time.monotonic() - t_start
    rate = stats.tried / elapsed if elapsed > 0 else 0.0
    log("")
    log(f"configs tried {stats.tried}: admitted {stats.admitted}, denied {stats.denied}, "
        f"refused by runc {stats.refused}, timed out {stats.timeout}, ran without a report {stats.blind}; "
        f"{stats.unsafe} unsafe draws skipped")
    log("per seed family (tried/admitted): " + ", ".join(
        f"{n} {t}/{a}" for n, (t, a) in sorted(stats.families.items())))
    log(f"admitted with excess privilege: {stats.excess_configs} configs; distinct findings: "
        f"{len(findings.observed)} ({len(findings.new)} new, "
        f"{len(findings.observed) - len(findings.new)} saved before)")
    log(f"throughput: {rate:.2f} configs/s ({stats.runs} runc runs incl. {min_runs} minimising, "
        f"{total:.0f} s in all)")
    if stats.hooks_before_denial:
        log(f"note: config.json hooks that ran on the host although the hook denied the container: "
            f"{', '.join(sorted(stats.hooks_before_denial))} (prestart and earlier createRuntime hooks "
            f"run before the hook, poststop when runc deletes the container: the hook cannot stop them)")
    if stats.over_denials:
        log(f"denied single mutations whose container, run without the hook, shows no excess privilege "
            f"({len(stats.over_denials)}; informational):")
        for (policy, cls), (label, why) in sorted(stats.over_denials.items()):
            log(f"  {policy:13} {cls} ({label}): {why[:220]}")
    if args.verbose and stats.refusals:
        log("runc refusals:")
        for k, v in sorted(stats.refusals.items(), key=lambda kv: -kv[1])[:25]:
            log(f"  {v:4} {k}")
    for name, muts, kinds, excess in findings.new:
        log(f"FINDING {name}")
        log(f"    mutations: {'; '.join(m['kind'] + ' ' + m['label'] for m in muts) or '(the seed itself)'}")
        for e in excess[:6]:
            log(f"    excess: {e}")
        if len(excess) > 6:
            log(f"    ... {len(excess) - 6} more")
    new_names = {n for n, *_ in findings.new}
    for name in sorted(findings.observed - new_names):
        log(f"FINDING {name} (saved before; reproduced)")
    for f in failures:
        log(f"FAIL {f}")
    failed = len(findings.observed) + len(failures)
    passed = stats.tried - stats.excess_configs + sum(len(v) for v in seed_sets.values()) \
        + len(SELF_CHECK) - len(failures)
    log(f"{max(passed, 0)} passed, {failed} failed")
    return 0 if failed == 0 else 1


_kinds_cache = {}


def known_kinds(directory, name):
    key = (directory, name)
    if key not in _kinds_cache:
        try:
            with open(os.path.join(directory, name, "meta.json")) as f:
                _kinds_cache[key] = set(json.load(f).get("excess_kinds", []))
        except (OSError, ValueError):
            _kinds_cache[key] = set()
    return _kinds_cache[key]


def replay(env, args):
    d = args.findings
    names = sorted(n for n in os.listdir(d) if os.path.isfile(os.path.join(d, n, "config.json"))) \
        if os.path.isdir(d) else []
    passed = failed = 0
    log(f"replay: {len(names)} findings in {d}, runc {runc_version()}, hook {env.hook}")
    for name in names:
        with open(os.path.join(d, name, "config.json")) as f:
            config = json.load(f)
        with open(os.path.join(d, name, "meta.json")) as f:
            meta = json.load(f)
        # a finding saved with an older environment for the judging hook
        for hook in config.get("hooks", {}).get("createRuntime", []):
            if hook.get("path") == "@HOOK@" and HOOK_ENV[0] in hook.get("env", []):
                hook["env"] = HOOK_ENV
        policy = meta["policy"]
        if policy not in env.policies:
            log(f"FAIL - {name}: unknown policy {policy}")
            failed += 1
            continue
        o = run_config(env, config, meta.get("extras") or {}, policy, "replay")
        if o.verdict == "admitted" and o.excess:
            failed += 1
            log(f"FAIL - {name}: still admitted with {', '.join(sorted(o.kinds()))}")
            for e in o.excess[:4]:
                log(f"         {e}")
        elif o.verdict == "admitted":
            passed += 1
            log(f"ok   - {name}: runs, no excess privilege")
        elif o.verdict == "denied":
            passed += 1
            log(f"ok   - {name}: denied ({first_line(o.err)[:160]})")
        else:
            passed += 1
            log(f"ok   - {name}: does not run ({o.verdict}: {first_line(o.err)[:160]})")
    log(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def runc_version():
    try:
        return subprocess.run(["runc", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    except OSError:
        return "(runc not found)"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", nargs="?", default="fuzz", choices=["fuzz", "replay"])
    ap.add_argument("--smoke", type=int, default=200, metavar="N", help="configs to try (default 200)")
    ap.add_argument("--minutes", type=float, default=0, metavar="M", help="run for M minutes instead")
    ap.add_argument("--policy", default="all",
                    choices=["all", "restricted", "baseline", "psp", "psp-hostpath"],
                    help="the policy under test (default: all, in turn)")
    ap.add_argument("--seed", default="0", help="the random seed (default 0)")
    ap.add_argument("--family", default=None, metavar="NAME",
                    help="mutate only this seed family (runc-spec, podman-default, podman-restricted-ok, "
                         "ctr-run-default, cri-containerd-app, cri-crio-app); default: all")
    ap.add_argument("--hook", default=os.environ.get("OCI_PSP_HOOK_BIN",
                                                     os.path.join(REPO, "target/release/oci-psp-hook")))
    ap.add_argument("--probe", default=os.environ.get("ORACLE_PROBE_BIN", ""),
                    help="the static probe binary (run.sh builds it)")
    ap.add_argument("--findings", default=os.environ.get("ORACLE_FINDINGS", FINDINGS),
                    help=f"findings directory (default $ORACLE_FINDINGS or {FINDINGS})")
    ap.add_argument("--min-budget", type=int, default=12, help="runs per minimisation (default 12)")
    ap.add_argument("--no-minimise", action="store_true")
    ap.add_argument("--over-denials", action="store_true",
                    help="rerun each denied single mutation without the hook and list those that show "
                         "no excess privilege (informational)")
    ap.add_argument("--tmp", default=None, help="where the work directory goes (default $TMPDIR or /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--keep-bundles", action="store_true", help="keep every bundle (implies --keep)")
    ap.add_argument("--only", type=int, default=None, metavar="I",
                    help="run config I of the seed's sequence alone and print the probe's report")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if args.keep_bundles:
        args.keep = True
    if os.geteuid() != 0:
        sys.exit("oracle.py: starts real containers: run it as root")
    for what, path in (("hook", args.hook), ("probe", args.probe)):
        if not path or not os.access(path, os.X_OK):
            sys.exit(f"oracle.py: {what} binary {path or '(none)'} not found (see run.sh)")
    if shutil.which("runc") is None:
        sys.exit("oracle.py: runc not found on PATH")
    env = Env(args)
    atexit.register(env.cleanup)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: sys.exit(130))
    if args.mode == "replay":
        return replay(env, args)
    return fuzz(env, args)


if __name__ == "__main__":
    sys.exit(main())
