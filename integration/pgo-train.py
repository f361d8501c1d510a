#!/usr/bin/env python3
"""The training run of the shipped binary's profile-guided build
(integration/build-static.sh): the instrumented binary judges every
config.json captured from a real runtime in tests/fixtures (podman, runc,
ctr, containerd's and CRI-O's CRI plugins) as the hook does on a node, with
the example policy, the built-in profiles and a long list of policies, then
a pod with a thousand volumes, and `check --cri` for the Kubernetes paths.
Each start writes its counters to LLVM_PROFILE_FILE's directory.

Runs as any user: the bundles, the policy cache and the journal socket the
records go to are under WORK (inside the clone, not a world-writable /tmp,
which the hook refuses to trust).

Usage: integration/pgo-train.py INSTRUMENTED_BINARY WORK
"""
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import threading

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POLICY = os.path.join(REPO, "examples", "restricted-psp.yaml")


def fixtures():
    found = sorted(glob.glob(os.path.join(REPO, "tests", "fixtures", "*.json")))
    found += sorted(glob.glob(os.path.join(REPO, "tests", "fixtures", "cri-captured", "**", "*.json"),
                              recursive=True))
    configs = []
    for path in found:
        with open(path) as f:
            config = json.load(f)
        if isinstance(config, dict) and "process" in config:
            configs.append(config)
    return configs


def with_volumes(config, count):
    """A pod's container with `count` more mounts: configMap volumes of its
    pod and emptyDirs (tmpfs), as a pod with many volumes has."""
    config = json.loads(json.dumps(config))
    uid = config.get("annotations", {}).get("io.kubernetes.cri.sandbox-uid", "pod-uid")
    pod = f"/var/lib/kubelet/pods/{uid}/volumes"
    config.setdefault("mounts", []).extend(
        {"destination": f"/v{i}", "type": "bind", "source": f"{pod}/kubernetes.io~configmap/c{i}",
         "options": ["rbind", "ro"]}
        if i % 2 else {"destination": f"/v{i}", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}
        for i in range(count))
    return config


def sink(path):
    """A journald stand-in: take every record, keep none."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    def drain():
        while True:
            s.recv(1 << 23)
    threading.Thread(target=drain, daemon=True).start()


def main():
    binary, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work, mode=0o755)
    journal = os.path.join(work, "journal.sock")
    sink(journal)
    env = dict(os.environ, OCI_PSP_HOOK_JOURNAL_SOCKET=journal,
               OCI_PSP_HOOK_CACHE_DIR=os.path.join(work, "cache"))
    many = []
    for i in range(30):
        path = os.path.join(work, f"policy-{i:02d}.yaml")
        with open(POLICY) as f:
            text = f.read().replace("name: restricted", f"name: p{i:02d}")
        with open(path, "w") as f:
            f.write(text)
        many += ["--policy", path]
    policy_lines = [["--policy", POLICY], ["--profile", "baseline"], ["--profile", "restricted"], many]

    configs = fixtures()
    configs += [with_volumes(c, 1000) for c in configs if "io.kubernetes.cri.sandbox-uid" in c.get("annotations", {})][:3]
    starts = 0
    for n, config in enumerate(configs):
        bundle = os.path.join(work, f"{n:064x}")
        os.makedirs(bundle, mode=0o755)
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(config, f)
        state = json.dumps({"ociVersion": "1.0.2", "id": f"{n:064x}", "status": "creating", "bundle": bundle})
        for flags in policy_lines:
            # Twice: the first start fills the policy cache, the rest read it.
            for _ in range(2):
                subprocess.run([binary, "hook", *flags], input=state.encode(), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
                starts += 1
        subprocess.run([binary, "check", "--cri", "--output", "json", "--policy", POLICY, bundle],
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        starts += 1
    print(f"pgo-train.py: {starts} starts over {len(configs)} configs", file=sys.stderr)


if __name__ == "__main__":
    main()
