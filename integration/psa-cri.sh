#!/usr/bin/env bash
# Kubernetes' own Pod Security Admission test pods (tests/psa/pods,
# v1.37: <level>/<pass|fail>/*.yaml) sent through CRI as kubelet sends them,
# to containerd 2.x's CRI plugin with the hook in its base_runtime_spec
# (containerd-lib.sh, as cri.sh's base-spec route; its runc runtime also
# passes kubelet's io.kubernetes.container.ports annotation through
# container_annotations), crictl making kubelet's
# calls: runp, then create + start of each init and regular container in
# order. integration/psa-cri.py translates each pod into those requests (its
# docstring says what kubelet does and where) and decides which fixtures the
# node cannot decide, and why.
#
#   integration/psa-cri.sh     # as root
#
# Namespace psa-baseline is bound to builtin:baseline@v1.37 and
# psa-restricted to builtin:restricted@v1.37 (enforce). Each level's fixtures
# run in its namespace, and restricted's pass pods in psa-baseline too (the
# levels nest). A `fail` fixture agrees when the sandbox or a container is
# refused with the hook's denial in crictl's error; a `pass` fixture when the
# sandbox and every container start. One pass/fail line a fixture run; a
# fixture not run is printed as `skip <fixture>: <kind>: <reason>` and not
# counted: `undecidable` (what the PSA check judges never reaches the node),
# `kubelet` (kubelet stops the pod or container before any CRI call, so the
# hook never sees it), `host` (this machine cannot show it: AppArmor or
# SELinux disabled). Known gaps of the hook are listed in psa-cri.py's
# KNOWN_GAPS: run, reported, not counted.
#
# Environment: PSA_FIXTURES (default tests/psa/pods, the v1.37 pods),
# CRI_LAYOUT / CRI_RUNC as cri.sh.

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=integration/lib.sh
. "$IT_DIR/lib.sh"

need_root
need_hook_bin

FIXTURES=${PSA_FIXTURES:-$REPO/tests/psa/pods}
if [ ! -d "$FIXTURES/baseline/pass" ] || [ ! -d "$FIXTURES/restricted/fail" ]; then
	fail "PSA fixtures" "no <level>/<pass|fail> directories under $FIXTURES"
	summary
	exit 1
fi
START=$SECONDS

HOOK_EXTRA_BINDINGS='  - namespaces: [psa-baseline]
    policies: [builtin:baseline@v1.37]
  - namespaces: [psa-restricted]
    policies: [builtin:restricted@v1.37]
'
# kubelet's io.kubernetes.container.ports annotation passed into config.json
# (containerd passes none by default): the hostports fixtures can then be
# decided at the node.
CONTAINERD_RUNC_EXTRA='container_annotations = ["io.kubernetes.container.ports"]'
# shellcheck source=integration/containerd-lib.sh
. "$IT_DIR/containerd-lib.sh"

# The base spec without `ctr oci spec`'s RLIMIT_NOFILE (CRI's own default
# spec has no rlimits): runc sets rlimits on a user-namespaced process from
# outside, which needs CAP_SYS_RESOURCE, which root lacks on some machines
# (this VM); the hostUsers: false fixtures would fail for that alone.
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); s["process"].pop("rlimits", None); json.dump(s, open(sys.argv[1], "w"), indent=2)' "$WORK/base-spec.json"

# The fixtures' image as kubelet would find it: root, or USER 1000 where a
# container's effective runAsNonRoot is true (psa-cri.py says why).
NONROOT_IMAGE=localhost/oci-psp-hook/busybox:nonroot
image_archive "$IMG_DIR/busybox-root" "$NONROOT_IMAGE" "$IMG_DIR/busybox-nonroot.tar" '[]' "1000" || exit 1

ROUTE="base-spec"
log "== containerd $("$CONTAINERD_BIN/containerd" --version | awk '{print $3}'), crictl $("$CRICTL_BIN/crictl" --version | awk '{print $3}'), route $ROUTE, fixtures $FIXTURES"
if ! start_containerd "$ROUTE" || ! "${CTR[@]}" images import "$IMG_DIR/busybox-nonroot.tar" >/dev/null; then
	fail "containerd starts and imports the images" "see above"
	summary
	exit 1
fi

# --- the CRI requests ----------------------------------------------------------
PLAN=$WORK/psa
on_exit "[ -f '$PLAN/created' ] && while read -r p; do rm -rf \"\$p\"; done <'$PLAN/created'"
if ! KUBELET=$KUBELET CONTAINER_PORTS_ANNOTATION=1 ROOT_IMAGE=$TEST_IMAGE NONROOT_IMAGE=$NONROOT_IMAGE \
	python3 "$IT_DIR/psa-cri.py" "$FIXTURES" "$PLAN" \
	baseline:pass,fail:psa-baseline restricted:pass,fail:psa-restricted restricted:pass:psa-baseline; then
	fail "psa-cri.py translates the fixtures" "see above"
	summary
	exit 1
fi

# The hook's denial in crictl's error: its first violation, one line.
denial() {
	printf '%s' "$ERR" | tr '\n' ' ' | grep -o 'oci-psp-hook: denied[^;]*' | head -n1 |
		sed -e 's/ (container [^)]*).*//' -e 's/\\*" containerID=.*//' | cut -c1-240
}

# run_fixture DIR: the CRI calls of one pod, in kubelet's order, until one
# fails. STEP names the step that failed (empty: everything started).
run_fixture() {
	local dir=$1 f kind id
	STEP=""
	POD_ID=""
	run_capture "${CRICTL[@]}" runp "$dir/pod.json"
	if [ "$RC" -ne 0 ]; then
		STEP=sandbox
		return
	fi
	POD_ID=$(printf '%s' "$OUT" | tail -n1)
	for f in "$dir"/ctr-*.json; do
		kind=$(cat "${f%.json}.kind")
		run_capture "${CRICTL[@]}" create "$POD_ID" "$f" "$dir/pod.json"
		if [ "$RC" -eq 0 ]; then
			id=$(printf '%s' "$OUT" | tail -n1)
			run_capture "${CRICTL[@]}" start "$id"
		fi
		if [ "$RC" -ne 0 ]; then
			STEP="$kind container $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["name"])' "$f")"
			return
		fi
	done
}

declare -A SKIPS=()
GAPS=0
while IFS=$'\t' read -r name ns what action fields note; do
	case $action in
	run | gap) ;;
	*)
		log "skip $what (in $ns): $action: $note"
		SKIPS[$action]=$((${SKIPS[$action]:-0} + 1))
		continue
		;;
	esac
	verdict=${what#*/}
	verdict=${verdict%%/*}
	run_fixture "$PLAN/$name"
	if [ "$verdict" = pass ]; then
		if [ -z "$STEP" ]; then
			result=ok
			detail="the sandbox and every container started"
		else
			result=bad
			detail="expected to start, but the $STEP failed (exit $RC): $(err_excerpt)"
		fi
	elif [ -z "$STEP" ]; then
		result=bad
		detail="expected a refusal, but the sandbox and every container started"
	elif [[ "$ERR" != *"oci-psp-hook: denied"* ]]; then
		result=bad
		detail="the $STEP failed (exit $RC) without the hook's denial: $(err_excerpt)"
	elif ! printf '%s' "$ERR" | grep -Eq "(^|[ \"])($fields): "; then
		result=bad
		detail="the $STEP was refused, but for none of $fields: $(denial)"
	else
		result=ok
		detail="the $STEP was refused: $(denial)"
	fi
	[ -n "$note" ] && detail="$detail [$note]"
	if [ "$action" = gap ]; then
		GAPS=$((GAPS + 1))
		log "known gap $what in $ns ($result): $detail"
	elif [ "$result" = ok ]; then
		pass "$what in $ns: $detail"
	else
		fail "$what in $ns" "$detail"
	fi
	[ -n "$POD_ID" ] && "${CRICTL[@]}" rmp -f "$POD_ID" >/dev/null 2>&1
done <"$PLAN/plan.tsv"

skipped=""
for k in "${!SKIPS[@]}"; do skipped="$skipped $k ${SKIPS[$k]},"; done
log "psa-cri: $((PASSED + FAILED)) fixture runs decided at the node, $GAPS known gaps; not run:${skipped%,}; $((SECONDS - START)) s"
summary
