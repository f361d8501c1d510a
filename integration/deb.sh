#!/usr/bin/env bash
# The Debian package, end to end: build it with `cargo deb`, install it with
# dpkg, then run containers through podman using ONLY podman's default hooks
# directories (no --hooks-dir): the package's hooks.d file must be what puts
# the hook in place. A --privileged container is blocked with the hook's
# message, a plain one runs (the default config applies builtin:baseline to
# non-Kubernetes containers), `oci-psp-hook lint` passes on the installed
# configuration, the systemd units verify. Then `dpkg --purge` must leave
# nothing behind, and both containers run again (no hook any more).
#
# Run as root. Installs cargo-deb (cargo install cargo-deb --locked, ~1.5 min)
# when missing. The package is purged when the script exits, whether the tests
# passed or not. It refuses to run when oci-psp-hook is already installed
# (as a package or by hand in the package's paths): it would replace and then
# purge that installation.
#
# While it runs, every podman (and CRI-O) container on this machine that uses
# the default hooks directories is judged by the installed hook.

if [ -f "$(dirname "$0")/lib.sh" ]; then
	# shellcheck source=integration/lib.sh
	. "$(dirname "$0")/lib.sh"
else
	# Minimal stand-ins for lib.sh's helpers (pass/fail/summary, the work
	# directory and its cleanups), should this file run without it.
	set -u
	REPO=$(cd "$(dirname "$0")/.." && pwd)
	RAN_MARKER="CONTAINER-RAN"
	PASSED=0 FAILED=0 RC=0 OUT="" ERR="" MARKER_FILE=""
	WORK=$(mktemp -d "/tmp/oci-psp-hook-it.$$.XXXXXX") || exit 1
	chmod 755 "$WORK"
	CLEANUPS=()
	on_exit() { CLEANUPS+=("$1"); }
	run_cleanups() {
		local i
		trap - EXIT INT TERM
		for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do
			eval "${CLEANUPS[i]}" >/dev/null 2>&1 || true
		done
		rm -rf "$WORK"
	}
	trap run_cleanups EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	log() { printf '%s\n' "$*"; }
	pass() { PASSED=$((PASSED + 1)); log "ok   - $1"; }
	fail() { FAILED=$((FAILED + 1)); log "FAIL - $1: $2"; }
	summary() { log "$PASSED passed, $FAILED failed"; [ "$FAILED" -eq 0 ]; }
	need_root() { [ "$(id -u)" = 0 ] || { log "deb.sh: run as root" >&2; exit 1; }; }
	run_capture() {
		"$@" </dev/null >"$WORK/last.out" 2>"$WORK/last.err"
		RC=$?
		OUT=$(cat "$WORK/last.out")
		ERR=$(cat "$WORK/last.err")
	}
	err_excerpt() { printf '%s' "$ERR" | tr '\n' ' ' | cut -c1-400; }
	expect_allowed() {
		if [ "$RC" -ne 0 ]; then
			fail "$1" "expected the container to run, exit $RC; stderr: $(err_excerpt)"
		elif [[ "$OUT" != *"$RAN_MARKER"* ]] || [[ "$OUT" != *"${2:-}"* ]]; then
			fail "$1" "the container output lacks $RAN_MARKER ${2:-}; stdout: $OUT"
		else pass "$1"; fi
	}
	expect_denied() {
		if [ "$RC" -eq 0 ] || [[ "$OUT" == *"$RAN_MARKER"* ]]; then
			fail "$1" "expected the container to be blocked, exit $RC; stdout: $OUT"
		elif [[ "$ERR" != *"oci-psp-hook: denied by policy"* ]] || [[ "$ERR" != *"$2:"* ]]; then
			fail "$1" "blocked (exit $RC) but the hook's denial naming $2 is not on stderr: $(err_excerpt)"
		else pass "$1"; fi
	}
	static_busybox() {
		local bb
		for bb in /bin/busybox /usr/bin/busybox; do
			[ -x "$bb" ] && ! ldd "$bb" >/dev/null 2>&1 && { printf '%s\n' "$bb"; return 0; }
		done
		log "no statically linked busybox found (apt-get install busybox-static)" >&2
		return 1
	}
	make_rootfs() {
		local dir=$1 bb applet
		bb=$(static_busybox) || return 1
		mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/proc" "$dir/sys" "$dir/dev" || return 1
		cp "$bb" "$dir/bin/busybox" || return 1
		for applet in $("$dir/bin/busybox" --list); do
			[ -e "$dir/bin/$applet" ] || ln -s busybox "$dir/bin/$applet"
		done
		printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' >"$dir/etc/passwd"
		printf '%s\n' 'root:x:0:' >"$dir/etc/group"
		chmod 1777 "$dir/tmp"
	}
fi

need_root

PKG=oci-psp-hook
IMAGE=localhost/oci-psp-hook-test:latest
BIN=/usr/libexec/oci/hooks.d/oci-psp-hook
LINK=/usr/bin/oci-psp-hook
HOOKS_FILE=/usr/share/containers/oci/hooks.d/oci-psp-hook.json
CONFIG=/etc/oci-psp-hook/config.yaml
POLICY_FILE=/etc/oci-psp-hook/policies.d/restricted.yaml
CRIO_DROPIN=/etc/crio/crio.conf.d/50-oci-psp-hook.conf
UNIT_DIR=/usr/lib/systemd/system
# podman on this kind of host: runc (crun is not what the hook is tested
# with), and explicit ulimits (the default ones exceed the sandbox's hard
# limits). No --hooks-dir: the default hooks directories are under test.
PODMAN=(timeout 120 podman --runtime runc)
RUN_OPTS=(--rm --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
SCRIPT="echo $RAN_MARKER; echo deb-test-output"

for cmd in podman runc dpkg dpkg-deb python3; do
	if ! command -v "$cmd" >/dev/null 2>&1; then
		log "deb.sh: $cmd is missing (apt-get install podman runc python3 busybox-static)" >&2
		exit 1
	fi
done

if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -qv 'not-installed'; then
	log "deb.sh: package $PKG is installed ($(dpkg-query -W -f='${Status}' "$PKG")); this test would purge it: remove it first (dpkg --purge $PKG)" >&2
	exit 1
fi
for f in "$BIN" "$LINK" "$HOOKS_FILE" "$CONFIG"; do
	if [ -e "$f" ] || [ -L "$f" ]; then
		log "deb.sh: $f exists (installed by hand?); this test would replace and then delete it: remove it first" >&2
		exit 1
	fi
done

# --- cargo-deb ---------------------------------------------------------------
if ! command -v cargo-deb >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo-deb" ]; then
	PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo-deb >/dev/null 2>&1; then
	log "installing cargo-deb (cargo install cargo-deb --locked; about 1.5 min on 2 cores)"
	if ! cargo install cargo-deb --locked --quiet; then
		log "deb.sh: cargo install cargo-deb failed" >&2
		exit 1
	fi
	PATH="$HOME/.cargo/bin:$PATH"
fi
log "cargo-deb: $(cargo deb --version 2>/dev/null || echo '?')"

# --- the test image ----------------------------------------------------------
# FROM scratch with a static busybox: no registry needed. Built only when
# missing (the podman tests use the same tag), removed again if built here.
if ! podman image exists "$IMAGE"; then
	log "building $IMAGE"
	mkdir -p "$WORK/image/rootfs"
	make_rootfs "$WORK/image/rootfs" || exit 1
	printf '%s\n' 'FROM scratch' 'COPY rootfs/ /' 'CMD ["/bin/sh"]' >"$WORK/image/Containerfile"
	if ! podman build -q --layers=false -t "$IMAGE" -f "$WORK/image/Containerfile" "$WORK/image" >/dev/null; then
		log "deb.sh: cannot build $IMAGE" >&2
		exit 1
	fi
	on_exit "podman rmi -f $IMAGE"
fi

# --- syslog ------------------------------------------------------------------
# A real node has /dev/log (journald, rsyslog). Without it the hook says on
# stderr, first, that its decision was not logged, and podman reports only
# that line (it even takes its "No such file or directory" for a missing
# runtime command), hiding the denial. So when no /dev/log exists, this test
# provides one for its duration and reads the decisions the hook logs there.
SYSLOG_SINK=""
if [ ! -S /dev/log ] && [ ! -e /dev/log ]; then
	SYSLOG_SINK="$WORK/syslog.txt"
	: >"$SYSLOG_SINK"
	python3 - /dev/log "$SYSLOG_SINK" <<'EOF' &
import os, socket, sys
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
with open(out, "ab", buffering=0) as f:
    while True:
        f.write(s.recv(1 << 20).rstrip(b"\n") + b"\n")
EOF
	SINK_PID=$!
	on_exit "kill $SINK_PID; rm -f /dev/log"
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		[ -S /dev/log ] && break
		sleep 0.2
	done
	[ -S /dev/log ] || { log "deb.sh: could not create a syslog socket at /dev/log" >&2; exit 1; }
fi

# logged_decision NAME CIDFILE VERDICT: the hook logged VERDICT for the
# container whose id podman wrote to CIDFILE (only with our own /dev/log).
logged_decision() {
	local name=$1 cidfile=$2 verdict=$3 cid
	[ -n "$SYSLOG_SINK" ] || return 0
	cid=$(cat "$cidfile" 2>/dev/null)
	if [ -z "$cid" ]; then
		fail "$name" "podman wrote no container id to $cidfile"
	elif grep -F "\"id\":\"$cid\"" "$SYSLOG_SINK" | grep -qF "\"verdict\":\"$verdict\""; then
		pass "$name"
	else
		fail "$name" "no '$verdict' decision for container ${cid:0:12} in the log"
	fi
}

# run_podman NAME [OPTION]...: run the test image, leaving RC/OUT/ERR and the
# container id in $WORK/NAME.cid.
run_podman() {
	local name=$1
	shift
	rm -f "$WORK/$name.cid"
	on_exit "podman rm -f $name"
	run_capture "${PODMAN[@]}" run "${RUN_OPTS[@]}" --name "$name" --cidfile "$WORK/$name.cid" "$@" \
		"$IMAGE" sh -c "$SCRIPT"
}

# --- build -------------------------------------------------------------------
log "== cargo deb (the static binary of integration/build-static.sh)"
cd "$REPO" || exit 1
if ! integration/build-static.sh >"$WORK/cargo-deb.out" 2>"$WORK/cargo-deb.err" ||
	! cargo deb --no-build --target x86_64-unknown-linux-musl --output "$WORK/" \
		>>"$WORK/cargo-deb.out" 2>>"$WORK/cargo-deb.err"; then
	fail "cargo deb builds the package" "$(tail -n 20 "$WORK/cargo-deb.err")"
	summary
	exit 1
fi
DEB=$(find "$WORK" -maxdepth 1 -name "${PKG}_*.deb" | head -n 1)
if [ -n "$DEB" ]; then pass "cargo deb builds the package ($(basename "$DEB"))"; else
	fail "cargo deb builds the package" "no .deb in $WORK: $(cat "$WORK/cargo-deb.out")"
	summary
	exit 1
fi

# Which of the package's paths exist before installing (/, /usr, /etc, ...):
# only the others must be gone after the purge.
dpkg-deb --fsys-tarfile "$DEB" | tar -t | sed -e 's#^\./#/#' -e 's#/$##' | grep -v '^$' | sort -u >"$WORK/deb-paths"
: >"$WORK/preexisting"
while IFS= read -r p; do
	if [ -e "$p" ] || [ -L "$p" ]; then printf '%s\n' "$p" >>"$WORK/preexisting"; fi
done <"$WORK/deb-paths"

# --- install -----------------------------------------------------------------
log "== dpkg -i"
on_exit "dpkg --purge $PKG"
run_capture dpkg -i "$DEB"
if [ "$RC" -eq 0 ] && [ "$(dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null)" = "install ok installed" ]; then
	pass "dpkg -i installs the package"
else
	fail "dpkg -i installs the package" "exit $RC: $(err_excerpt) $OUT"
	summary
	exit 1
fi
if [[ "$ERR" == *WARNING* ]]; then
	fail "postinst: the shipped policy validates" "$(err_excerpt)"
else
	pass "postinst: the shipped policy validates (no warning)"
fi

if [ -x "$BIN" ] && [ -f "$BIN" ] && [ ! -L "$BIN" ]; then pass "binary at $BIN"; else fail "binary at $BIN" "missing or not executable"; fi
if [ -L "$LINK" ] && [ "$(readlink -f "$LINK")" = "$BIN" ]; then pass "$LINK links to $BIN"; else
	fail "$LINK links to $BIN" "$(ls -l "$LINK" 2>&1)"
fi
if cmp -s "$HOOKS_FILE" "$REPO/hooks.d/oci-psp-hook.json"; then pass "hooks.d file at $HOOKS_FILE"; else
	fail "hooks.d file at $HOOKS_FILE" "missing or differs from hooks.d/oci-psp-hook.json"
fi
KEY=/etc/oci-psp-hook/log.key
if [ "$(stat -c '%U %a' "$KEY" 2>/dev/null)" = "root 600" ] && grep -qxE '[0-9a-f]{64}' "$KEY"; then
	pass "postinst: the node's log key $KEY (root, 0600)"
else
	fail "postinst: the node's log key $KEY" "missing, not root's 0600, or not 64 hex digits"
fi
if cmp -s "$CONFIG" "$REPO/examples/config.yaml" && cmp -s "$POLICY_FILE" "$REPO/examples/restricted-psp.yaml"; then
	pass "default config and restricted policy installed"
else
	fail "default config and restricted policy installed" "$CONFIG or $POLICY_FILE missing or differs from examples/"
fi
conffiles=$(dpkg-query -W -f='${Conffiles}\n' "$PKG" | awk 'NF {print $1}' | sort | tr '\n' ' ')
want_conffiles=$(printf '%s\n' "$CONFIG" "$POLICY_FILE" "$CRIO_DROPIN" | sort | tr '\n' ' ')
if [ "$conffiles" = "$want_conffiles" ]; then pass "conffiles: $conffiles"; else
	fail "conffiles" "got '$conffiles', want '$want_conffiles'"
fi
if grep -q '^\[crio\.runtime\]' "$CRIO_DROPIN" && grep -q '"/usr/share/containers/oci/hooks.d"' "$CRIO_DROPIN"; then
	pass "CRI-O drop-in sets hooks_dir"
else
	fail "CRI-O drop-in sets hooks_dir" "$CRIO_DROPIN: $(tr '\n' ' ' <"$CRIO_DROPIN" 2>&1)"
fi
for f in "$UNIT_DIR/oci-psp-hook-lint.path" "$UNIT_DIR/oci-psp-hook-lint.service" \
	"$UNIT_DIR/crio.service.d/oci-psp-hook.conf" "$UNIT_DIR/containerd.service.d/oci-psp-hook.conf" \
	/usr/share/doc/$PKG/README.md; do
	if [ -f "$f" ]; then pass "installed $f"; else fail "installed $f" "missing"; fi
done

# --- lint and units ----------------------------------------------------------
run_capture oci-psp-hook lint
if [ "$RC" -eq 0 ] && [[ "$OUT" == *"$CONFIG"* ]]; then pass "oci-psp-hook lint: the installed config is valid"; else
	fail "oci-psp-hook lint: the installed config is valid" "exit $RC; stdout: $OUT; stderr: $(err_excerpt)"
fi

if command -v systemd-analyze >/dev/null 2>&1; then
	run_capture systemd-analyze verify "$UNIT_DIR/oci-psp-hook-lint.path" "$UNIT_DIR/oci-psp-hook-lint.service"
	if [ "$RC" -eq 0 ] && [ -z "$ERR$OUT" ]; then pass "systemd-analyze verify oci-psp-hook-lint.path/.service"; else
		fail "systemd-analyze verify oci-psp-hook-lint.path/.service" "exit $RC: $(err_excerpt) $OUT"
	fi
	# The runtimes' drop-ins, on stand-in units (neither runtime needs to
	# be installed): verify reads each unit's .d/ directory from the unit
	# path and checks that the ExecStartPre binary exists.
	mkdir -p "$WORK/units"
	for svc in crio containerd; do
		printf '%s\n' '[Unit]' "Description=stand-in $svc" '[Service]' 'ExecStart=/bin/true' >"$WORK/units/$svc.service"
		mkdir -p "$WORK/units/$svc.service.d"
		cp "$UNIT_DIR/$svc.service.d/oci-psp-hook.conf" "$WORK/units/$svc.service.d/"
		run_capture env SYSTEMD_UNIT_PATH="$WORK/units:" systemd-analyze verify "$svc.service"
		if [ "$RC" -eq 0 ] && [ -z "$ERR$OUT" ]; then pass "systemd-analyze verify $svc.service with its drop-in"; else
			fail "systemd-analyze verify $svc.service with its drop-in" "exit $RC: $(err_excerpt) $OUT"
		fi
	done
else
	log "skip - systemd-analyze not installed: units not verified"
fi

# --- containers with the package installed -----------------------------------
log "== podman with the package installed (default hooks directories)"
run_podman oci-psp-hook-deb-plain
expect_allowed "plain container runs (builtin:baseline)" deb-test-output
logged_decision "plain container: the hook ran and logged allow" "$WORK/oci-psp-hook-deb-plain.cid" allow

run_podman oci-psp-hook-deb-priv --privileged
expect_denied "--privileged container is blocked by the hook" privileged
logged_decision "--privileged container: the hook logged deny" "$WORK/oci-psp-hook-deb-priv.cid" deny

# --- purge -------------------------------------------------------------------
# The admin's own files must go too: an edited conffile and an extra policy.
log "== dpkg --purge"
dpkg -L "$PKG" | sort -u >"$WORK/installed-paths"
printf '# edited by the admin\n' >>"$CONFIG"
sed 's/name: restricted/name: admin-extra/' "$POLICY_FILE" >/etc/oci-psp-hook/policies.d/admin-extra.yaml
run_capture oci-psp-hook lint
if [ "$RC" -eq 0 ] && [[ "$OUT" == *"2 policies"* ]]; then pass "lint sees the admin's extra policy"; else
	fail "lint sees the admin's extra policy" "exit $RC; stdout: $OUT; stderr: $(err_excerpt)"
fi

run_capture dpkg --purge "$PKG"
status=$(dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null)
if [ "$RC" -eq 0 ] && { [ -z "$status" ] || [[ "$status" == *not-installed* ]]; }; then
	pass "dpkg --purge removes the package"
else
	fail "dpkg --purge removes the package" "exit $RC, status '$status': $(err_excerpt)"
fi
left=""
while IFS= read -r p; do
	[ -n "$p" ] || continue
	grep -qxF "$p" "$WORK/preexisting" && continue
	if [ -e "$p" ] || [ -L "$p" ]; then left="$left $p"; fi
done < <(sort -u "$WORK/installed-paths" "$WORK/deb-paths")
for p in /etc/oci-psp-hook /var/lib/oci-psp-hook /etc/systemd/system/multi-user.target.wants/oci-psp-hook-lint.path; do
	if [ -e "$p" ] || [ -L "$p" ]; then left="$left $p"; fi
done
if [ -z "$left" ]; then pass "nothing of the package is left after the purge"; else
	fail "nothing of the package is left after the purge" "still there:$left"
fi

# --- containers after the purge ----------------------------------------------
log "== podman after the purge"
run_podman oci-psp-hook-deb-plain2
expect_allowed "plain container runs after the purge" deb-test-output
run_podman oci-psp-hook-deb-priv2 --privileged
expect_allowed "--privileged container runs after the purge (no hook)" deb-test-output

summary
