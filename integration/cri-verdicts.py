#!/usr/bin/env python3
"""Rewrite tests/fixtures/cri-captured/verdicts.tsv after a capture:

    integration/cri-verdicts.py HOOK_BINARY [CAPTURE_DIR]

Each file of ids.tsv is judged by `HOOK check --cri --id <id>` with the
capture's configuration (that of tests/cri_captured.rs), its /proc/<pid>/ns
paths moved out of any pid's range first (as the test does). The node's
verdict and the note of a file already in the table are kept; a new file
gets the offline verdict as the node's (a CRI-O sandbox: `none`, CRI-O
hooks no infra container). Every new file and every changed verdict is
listed on stderr, for review: the node column is a claim about the run."""
import json, os, re, subprocess, sys, tempfile

hook = sys.argv[1]
cap = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "cri-captured")
repo = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
table = os.path.join(cap, "verdicts.tsv")
prev = {}
if os.path.exists(table):
    for line in open(table):
        if line.startswith("#") or not line.strip():
            continue
        f = line.rstrip("\n").split("\t")
        prev[f[0]] = f + [""] * (7 - len(f))

tmp = tempfile.mkdtemp(prefix="oci-psp-hook-verdicts.")
os.makedirs(f"{tmp}/policies.d")
with open(f"{repo}/examples/restricted-psp.yaml") as src, open(f"{tmp}/policies.d/restricted.yaml", "w") as dst:
    dst.write(src.read())
with open(f"{tmp}/config.yaml", "w") as f:
    f.write("apiVersion: oci-psp-hook/v1alpha1\nkind: HookConfiguration\npolicyDirectory: policies.d\n"
            "defaultPolicies: [builtin:baseline]\nbindings:\n"
            "- {namespaces: [kube-system], policies: [builtin:privileged]}\n"
            "- {namespaces: [team-restricted], policies: [restricted]}\n"
            "- {namespaces: [team-pss], policies: [builtin:restricted]}\n"
            "- {namespaces: [team-baseline], policies: [builtin:baseline]}\n")

rows = ["# file\truntime_id\tnamespace\tcheck_cri_verdict\tverdict_on_node\tfields\tnote"]
for line in open(os.path.join(cap, "ids.tsv")):
    if not line.strip():
        continue
    file, rid = line.rstrip("\n").split("\t")
    text = re.sub(r'"/proc/(\d+)/ns/', lambda m: f'"/proc/{int(m.group(1)) + (1 << 22)}/ns/',
                  open(os.path.join(cap, file)).read())
    with open(f"{tmp}/config.json", "w") as f:
        f.write(text)
    out = subprocess.run([hook, "check", "--cri", "--id", rid, "--output", "json", "--config",
                          f"{tmp}/config.yaml", f"{tmp}/config.json"], capture_output=True)
    d = json.loads(out.stdout)
    verdict = d["verdict"]
    ns = d["container"].get("namespace") or ""
    fields = "" if verdict == "allow" else "; ".join(
        sorted({f'{v["policy"]}:{v["field"]}' for v in d["violations"]}))
    p = prev.get(file)
    if p:
        node, note = p[4], p[6]
        if p[2:4] + [p[5]] != [ns, verdict, fields]:
            print(f"changed {file}: {p[2:4] + [p[5]]} -> {[ns, verdict, fields]} (node: {node})", file=sys.stderr)
    else:
        if "/crio-" in file and file.endswith("-sandbox.json"):
            node = "none"
            note = ("CRI-O runs no hook for an infra container (no hooks in its config.json); "
                    "no infra container ran (drop_infra_ctr)")
        else:
            node, note = verdict, ""
        print(f"new {file}: {ns} {verdict} {fields} (node: {node})", file=sys.stderr)
    rows.append("\t".join([file, rid, ns, verdict, node, fields, note]))
with open(table, "w") as f:
    f.write("\n".join(rows) + "\n")
os.unlink(f"{tmp}/config.json"); os.unlink(f"{tmp}/config.yaml")
os.unlink(f"{tmp}/policies.d/restricted.yaml"); os.rmdir(f"{tmp}/policies.d"); os.rmdir(tmp)
