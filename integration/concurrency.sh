#!/usr/bin/env bash
# 50 containers started at once through runc, the hook in hooks.createRuntime
# judging each against examples/restricted-psp.yaml: every one gets the right
# verdict, and every decision is logged exactly once.
#
# Half the containers comply (uid 32767, no capabilities, no_new_privs); the
# other half each break one rule (uid 0, noNewPrivileges false, CAP_NET_RAW,
# the host's PID namespace, supplementary group 0). All share one rootfs; a
# container that runs writes its id into /markers, a directory of that
# rootfs, so the host sees which ones ran. The runtime runs a hook with the
# hook entry's `env` only, so the entry carries OCI_PSP_HOOK_LOG_SOCKET,
# pointing at a unix datagram socket served by a small python3 receiver that
# writes one line per record.
#
# Needs root. Uses a private runc state directory (--root); every container
# is deleted at exit, whatever the outcome.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_root
ensure_packages || exit 1
need_hook_bin

COUNT=50
ROOTFS="$WORK/rootfs"
RUNC_ROOT="$WORK/runc-state"
SPEC="$WORK/spec/config.json"
SOCKET="$WORK/log.sock"
RECORDS="$WORK/records.log"
GATE="$WORK/gate"
RESULTS="$WORK/results"
make_rootfs "$ROOTFS" || exit 1
mkdir -p "$WORK/spec" "$RUNC_ROOT" "$RESULTS"
if ! runc spec --bundle "$WORK/spec"; then
	log "runc spec failed" >&2
	exit 1
fi

# shellcheck disable=SC2317 # called through on_exit
runc_cleanup() {
	local id
	for id in $(runc --root "$RUNC_ROOT" list -q 2>/dev/null); do
		runc --root "$RUNC_ROOT" delete -f "$id"
	done
}
on_exit runc_cleanup

# --------------------------------------------------------------- the log sink

# A unix datagram receiver: one line per record (newlines escaped), for at
# most LIMIT seconds; it says it is ready by creating OUT.ready.
cat >"$WORK/receiver.py" <<'PY'
import os
import socket
import sys
import time

path, out, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(0.2)
end = time.monotonic() + limit
with open(out, "w") as f:
    open(out + ".ready", "w").close()
    while time.monotonic() < end:
        try:
            data = s.recv(1 << 20)
        except socket.timeout:
            continue
        f.write(data.decode("utf-8", "replace").replace("\n", "\\n") + "\n")
        f.flush()
PY

python3 "$WORK/receiver.py" "$SOCKET" "$RECORDS" 300 </dev/null >"$WORK/receiver.out" 2>&1 &
RECEIVER_PID=$!
# shellcheck disable=SC2317 # called through on_exit
stop_receiver() { kill "$RECEIVER_PID" 2>/dev/null; wait "$RECEIVER_PID" 2>/dev/null; }
on_exit stop_receiver
for ((i = 0; i < 100; i++)); do
	[ -e "$RECORDS.ready" ] && break
	kill -0 "$RECEIVER_PID" 2>/dev/null || break
	sleep 0.1
done
if [ ! -e "$RECORDS.ready" ]; then
	log "the log receiver did not start: $(cat "$WORK/receiver.out")" >&2
	exit 1
fi

# ---------------------------------------------------------------- the bundles

# The non-compliant changes, by index (cycled), and the PSP field each
# denial must name.
BREAKS=(
	"user()['uid'] = 0"
	"process()['noNewPrivileges'] = False"
	"caps()['bounding'] = ['CAP_NET_RAW']"
	"drop_namespace('pid')"
	"user()['additionalGids'] = [0, 32767]"
)
BREAK_FIELDS=(runAsUser allowPrivilegeEscalation requiredDropCapabilities hostPID supplementalGroups)

# The hook entry: the policy, and the log socket in the entry's own env.
HOOK_EDIT="c['hooks'] = {'createRuntime': [{'path': hook_bin, 'args': ['oci-psp-hook', 'hook', '--policy', '$POLICY'], 'env': ['OCI_PSP_HOOK_LOG_SOCKET=$SOCKET'], 'timeout': 30}]}"

IDS=()
EXPECT=()  # allow, or the PSP field the denial names
for ((i = 0; i < COUNT; i++)); do
	id=$(printf 'psp-conc-%s-%02d' "$$" "$i")
	bundle="$WORK/bundles/$id"
	mkdir -p "$bundle"
	# the rootfs inside the bundle (one outside is a host path)
	cp -al "$ROOTFS" "$bundle/rootfs"
	if ((i % 2 == 0)); then
		edit="compliant('$bundle/rootfs', '$id'); $HOOK_EDIT"
		EXPECT+=(allow)
	else
		k=$(((i / 2) % ${#BREAKS[@]}))
		edit="compliant('$bundle/rootfs', '$id'); ${BREAKS[k]}; $HOOK_EDIT"
		EXPECT+=("${BREAK_FIELDS[k]}")
	fi
	if ! edit_config "$SPEC" "$bundle/config.json" "$edit"; then
		log "test setup: editing config.json for $id failed" >&2
		exit 1
	fi
	IDS+=("$id")
done

# ------------------------------------------------------------ start them all

log "== runc $(runc --version | head -n 1), $COUNT containers at once, policy $POLICY"

# Each job waits at the gate, then runs its container (bounded in time);
# opening the gate starts all of them together.
PIDS=()
for id in "${IDS[@]}"; do
	(
		while [ ! -e "$GATE" ]; do sleep 0.01; done
		timeout 60 runc --root "$RUNC_ROOT" run --bundle "$WORK/bundles/$id" "$id" \
			</dev/null >"$RESULTS/$id.out" 2>"$RESULTS/$id.err"
		echo $? >"$RESULTS/$id.rc"
	) &
	PIDS+=($!)
done
sleep 0.5
start=$(date +%s%N)
touch "$GATE"
for pid in "${PIDS[@]}"; do
	wait "$pid"
done
elapsed=$((($(date +%s%N) - start) / 1000000))
log "all $COUNT runs returned after ${elapsed} ms"

# -------------------------------------------------------------- the verdicts

for ((i = 0; i < COUNT; i++)); do
	id=${IDS[i]} expect=${EXPECT[i]}
	RC=$(cat "$RESULTS/$id.rc" 2>/dev/null || echo missing)
	OUT=$(cat "$RESULTS/$id.out" 2>/dev/null)
	ERR=$(cat "$RESULTS/$id.err" 2>/dev/null)
	MARKER_FILE="$WORK/bundles/$id/rootfs/markers/$id"
	if [ "$RC" = missing ]; then
		fail "$id" "runc run left no exit code"
	elif [ "$expect" = allow ]; then
		expect_allowed "$id: compliant container ran" "uid=32767"
	else
		expect_denied_only "$id: denied ($expect)" "$expect"
	fi
done

# ---------------------------------------------------------------- the log

# Wait until the records stop coming (at most ~5 s), then stop the receiver.
last=-1
for ((i = 0; i < 50; i++)); do
	n=$(wc -l <"$RECORDS")
	[ "$n" -ge "$COUNT" ] && [ "$n" = "$last" ] && break
	last=$n
	sleep 0.1
done
stop_receiver

expected="$WORK/expected.txt"
for ((i = 0; i < COUNT; i++)); do
	printf '%s %s\n' "${IDS[i]}" "${EXPECT[i]}"
done >"$expected"

# One line per problem; nothing when the log is right.
check_log() {
	python3 - "$RECORDS" "$expected" "$1" <<'PY'
import collections
import json
import sys

records_file, expected_file, what = sys.argv[1:]
expected = dict(line.split() for line in open(expected_file))
decisions = []
for n, line in enumerate(open(records_file), 1):
    at = line.find("decision {")
    if at < 0:
        print(f"record {n} is not a decision: {line[:200]}")
        continue
    try:
        decisions.append(json.loads(line[at + len("decision "):]))
    except ValueError as e:
        print(f"record {n} is not JSON ({e}): {line[:200]}")
ids = collections.Counter(d.get("container", {}).get("id") for d in decisions)

if what == "count":
    if len(decisions) != len(expected):
        print(f"{len(decisions)} decision records, expected {len(expected)}")
elif what == "once":
    for cid in sorted(expected):
        if ids[cid] != 1:
            print(f"{cid}: logged {ids[cid]} times")
    for cid in sorted(set(ids) - set(expected)):
        print(f"unexpected record for {cid!r} ({ids[cid]} times)")
elif what == "verdicts":
    for d in decisions:
        cid = d.get("container", {}).get("id")
        want = expected.get(cid)
        if want is None:
            continue
        fields = {v["field"] for v in d.get("violations", [])}
        if want == "allow":
            if d.get("verdict") != "allow" or not d.get("allowed"):
                print(f"{cid}: logged {d.get('verdict')} {sorted(fields)}, expected allow")
        elif d.get("verdict") != "deny" or d.get("allowed") or fields != {want}:
            print(f"{cid}: logged {d.get('verdict')} {sorted(fields)}, expected deny naming only {want}")
PY
}

problems=$(check_log count)
if [ -z "$problems" ]; then
	pass "$COUNT decision records were logged"
else
	fail "$COUNT decision records were logged" "$problems"
fi

problems=$(check_log once)
if [ -z "$problems" ]; then
	pass "every container's decision was logged exactly once"
else
	fail "every container's decision was logged exactly once" "$(printf '%s' "$problems" | head -n 10 | tr '\n' ';')"
fi

problems=$(check_log verdicts)
if [ -z "$problems" ]; then
	pass "every logged verdict matches the container (allow, or deny naming its one broken field)"
else
	fail "logged verdicts" "$(printf '%s' "$problems" | head -n 10 | tr '\n' ';')"
fi

grep_not_logged=$(grep -l "not logged" "$RESULTS"/*.err 2>/dev/null | wc -l)
if [ "$grep_not_logged" -eq 0 ]; then
	pass "no hook said its decision was not logged"
else
	fail "no hook said its decision was not logged" "$grep_not_logged containers' stderr say so"
fi

# Nothing is left behind in runc's state: denied containers were destroyed
# by runc, the others exited and were deleted by `runc run`.
left=$(runc --root "$RUNC_ROOT" list -q 2>/dev/null | wc -l)
if [ "$left" -eq 0 ]; then
	pass "no container is left in runc's state"
else
	fail "no container is left in runc's state" "$left left: $(runc --root "$RUNC_ROOT" list -q | head -n 5 | tr '\n' ' ')"
fi

summary
