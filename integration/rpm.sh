#!/usr/bin/env bash
# The RPM, end to end on a Debian host: build it with `cargo generate-rpm`
# from the static binary, check it with rpmlint (errors fail; the accepted
# warnings are listed below, each with its reason), its files, modes,
# %config(noreplace) files, requirements and scriptlets; install it with
# `rpm --root SCRATCH --nodeps -i` into a scratch root (the scriptlets run
# chrooted there: a static busybox is its /bin/sh), run the installed binary
# there (lint, check), upgrade it, and erase it while inotify watches which
# file goes first: the hooks.d file must go before any file rpm removes (the
# binary included). An erase with --nopreun must show another order, so the
# watch can tell. What the erase leaves is what the README says (rpm has no
# purge).
#
# Run as root. Needs rpm, rpmlint, inotify-tools and busybox-static (./test.sh
# installs them) and installs cargo-generate-rpm 0.21.1 when missing
# (cargo install --locked: about 4.5 min on 2 cores). Nothing is installed on
# the host: the scratch root is in the work directory.

# shellcheck source=integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_root

PKG=oci-psp-hook
CGR_VERSION=0.21.1
TARGET=x86_64-unknown-linux-musl
BIN=/usr/libexec/oci/hooks.d/oci-psp-hook
WRAPPER=/usr/bin/oci-psp-hook
HOOKS_FILE=/usr/share/containers/oci/hooks.d/oci-psp-hook.json
CONFIG=/etc/oci-psp-hook/config.yaml
POLICY_FILE=/etc/oci-psp-hook/policies.d/restricted.yaml
CRIO_DROPIN=/etc/crio/crio.conf.d/50-oci-psp-hook.conf
KEY=/etc/oci-psp-hook/log.key
UNIT_DIR=/usr/lib/systemd/system
README_DOC=/usr/share/doc/oci-psp-hook/README.md
SCRATCH="$WORK/root"

# Every file of the package with its mode: the .deb's layout, except the
# wrapper in /usr/bin where the .deb has a link (see packaging/oci-psp-hook.sh).
EXPECTED_FILES="\
-rwxr-xr-x $WRAPPER
-rwxr-xr-x $BIN
-rw-r--r-- $CONFIG
-rw-r--r-- $POLICY_FILE
-rw-r--r-- $CRIO_DROPIN
-rw-r--r-- $UNIT_DIR/oci-psp-hook-lint.path
-rw-r--r-- $UNIT_DIR/oci-psp-hook-lint.service
-rw-r--r-- $UNIT_DIR/crio.service.d/oci-psp-hook.conf
-rw-r--r-- $UNIT_DIR/containerd.service.d/oci-psp-hook.conf
-rw-r--r-- $README_DOC
-rw-r--r-- $HOOKS_FILE"
# The .deb's conffiles: %config(noreplace) here. rpm adds the requirement
# config(oci-psp-hook) for them.
EXPECTED_CONFIG="$CRIO_DROPIN
$CONFIG
$POLICY_FILE"

# rpmlint findings accepted, each for its reason; any other warning or error
# fails the test.
ACCEPTED_LINT=(
	# Errors: headers cargo-generate-rpm 0.21.1 cannot write (it builds
	# without a spec file and has no setting for them): %changelog,
	# Packager, Group (obsolete in Fedora since rpm 4.x anyway), BuildHost.
	no-changelogname-tag
	no-packager-tag
	no-group-tag
	no-buildhost-tag
	# Error: unsigned. Signing is the publisher's step, with the
	# repository's key (cargo generate-rpm --signing-key, or rpmsign).
	no-signature
	# Warning: Debian's rpmlint has an empty list of known licenses
	# (`rpmlint -e invalid-license`: "Known values are: ''"); Apache-2.0 is
	# the SPDX name Fedora uses.
	invalid-license
	# Error and warning: the shipped binary is static and non-PIE on
	# purpose, to start fast on every container start (README,
	# "Performance"; integration/build-static.sh).
	statically-linked-binary
	position-independent-executable-suggested
	# Warning: the project names no public home (no URL to give).
	no-url-tag
	# Warning: no man page; `oci-psp-hook --help` and the README (%doc) are
	# the reference.
	no-manual-page-for-binary
	# Warning: /usr/lib holds only the systemd units, which belong there
	# (/usr/lib/systemd/system), not in /usr/share.
	only-non-binary-in-usr-lib
)

for cmd in rpm rpmlint inotifywait chroot; do
	if ! command -v "$cmd" >/dev/null 2>&1; then
		log "rpm.sh: $cmd is missing (apt-get install rpm rpmlint inotify-tools busybox-static)" >&2
		exit 1
	fi
done
static_busybox >/dev/null || exit 1

# --- cargo-generate-rpm --------------------------------------------------------
if ! command -v cargo-generate-rpm >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo-generate-rpm" ]; then
	PATH="$HOME/.cargo/bin:$PATH"
fi
if [ "$(cargo-generate-rpm --version 2>/dev/null)" != "cargo-generate-rpm $CGR_VERSION" ]; then
	log "installing cargo-generate-rpm $CGR_VERSION (cargo install --locked; about 4.5 min on 2 cores)"
	if ! cargo install cargo-generate-rpm --version "$CGR_VERSION" --locked --force --quiet; then
		log "rpm.sh: cargo install cargo-generate-rpm failed" >&2
		exit 1
	fi
	PATH="$HOME/.cargo/bin:$PATH"
fi
log "$(cargo-generate-rpm --version)"

# --- build ---------------------------------------------------------------------
log "== cargo generate-rpm (the static binary of integration/build-static.sh)"
cd "$REPO" || exit 1
# build_rpm OUT [OPTION]...: the RPM of the static binary at OUT.
build_rpm() {
	local out=$1
	shift
	cargo generate-rpm --target "$TARGET" --output "$out" "$@" >>"$WORK/build.out" 2>>"$WORK/build.err"
}
mkdir -p "$WORK/rpm" "$WORK/rpm2"
if ! integration/build-static.sh >"$WORK/build.out" 2>"$WORK/build.err" || ! build_rpm "$WORK/rpm/"; then
	fail "cargo generate-rpm builds the package" "$(tail -n 20 "$WORK/build.err")"
	summary
	exit 1
fi
RPM=$(find "$WORK/rpm" -name "$PKG-*.rpm" | head -n 1)
[ -n "$RPM" ] || { fail "cargo generate-rpm builds the package" "no .rpm in $WORK/rpm"; summary; exit 1; }
pass "cargo generate-rpm builds the package ($(rpm -qp --qf '%{NEVRA}' "$RPM" 2>/dev/null))"

# --- the package itself --------------------------------------------------------
run_capture rpmlint "$RPM"
accepted=$(IFS='|' && printf '%s' "${ACCEPTED_LINT[*]}")
unaccepted=$(printf '%s\n' "$OUT" | grep -E '^[^ ]+: [EW]: ' | grep -vE ": [EW]: ($accepted)( |\$)")
if ! printf '%s\n' "$OUT" | grep -qE '^ *[0-9]+ packages and [0-9]+ specfiles checked'; then
	fail "rpmlint checks the package" "no summary line (exit $RC): $(err_excerpt) $OUT"
elif [ -n "$unaccepted" ]; then
	fail "rpmlint: no error or warning beyond the accepted ones" "$(printf '%s' "$unaccepted" | tr '\n' ' ')"
else
	pass "rpmlint: only the accepted findings ($(printf '%s\n' "$OUT" | grep -cE ': [EW]: ') of ${#ACCEPTED_LINT[@]} kinds)"
fi

files=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$RPM" 2>&1 | sort)
if [ "$files" = "$(printf '%s\n' "$EXPECTED_FILES" | sort)" ]; then pass "files and modes as the .deb's"; else
	fail "files and modes as the .deb's" "$(diff <(printf '%s\n' "$EXPECTED_FILES" | sort) <(printf '%s\n' "$files") | tr '\n' ' ')"
fi
owners=$(rpm -qp --qf '[%{FILEUSERNAME}:%{FILEGROUPNAME}\n]' "$RPM" 2>&1 | sort -u)
if [ "$owners" = "root:root" ]; then pass "every file root:root"; else fail "every file root:root" "$owners"; fi
noreplace=$(rpm -qp --qf '[%{FILEFLAGS:fflags}|%{FILENAMES}\n]' "$RPM" 2>&1 | awk -F'|' '$1 ~ /c/ && $1 ~ /n/ {print $2}' | sort)
config=$(rpm -qpc "$RPM" 2>&1 | sort)
if [ "$config" = "$EXPECTED_CONFIG" ] && [ "$noreplace" = "$EXPECTED_CONFIG" ]; then
	pass "%config(noreplace): $(printf '%s' "$config" | tr '\n' ' ')"
else
	fail "%config(noreplace)" "config: $(printf '%s' "$config" | tr '\n' ' '); noreplace: $(printf '%s' "$noreplace" | tr '\n' ' ')"
fi
if [ "$(rpm -qpd "$RPM" 2>&1)" = "$README_DOC" ]; then pass "%doc $README_DOC"; else
	fail "%doc $README_DOC" "$(rpm -qpd "$RPM" 2>&1 | tr '\n' ' ')"
fi
requires=$(rpm -qpR "$RPM" 2>&1 | grep -v '^rpmlib(' | sort -u)
want_requires=$(printf '%s\n' /bin/sh "config($PKG) = $(rpm -qp --qf '%{VERSION}-%{RELEASE}' "$RPM")")
if [ "$requires" = "$want_requires" ]; then pass "requires /bin/sh only (static binary)"; else
	fail "requires /bin/sh only (static binary)" "$(printf '%s' "$requires" | tr '\n' ' ')"
fi
# The scriptlets are the Debian maintainer scripts, verbatim.
for pair in "POSTIN:postinst" "PREUN:prerm" "POSTUN:postrm"; do
	tag=${pair%%:*} script=${pair##*:}
	if [ "$(rpm -qp --qf "%{${tag}}" "$RPM" 2>&1)" = "$(cat "debian/$script")" ]; then pass "%$tag is debian/$script"; else
		fail "%$tag is debian/$script" "$(rpm -qp --qf "%{${tag}}" "$RPM" 2>&1 | head -n 3 | tr '\n' ' ')"
	fi
done

# --- the scratch root ----------------------------------------------------------
# The scriptlets run chrooted into it: a static busybox for /bin/sh and its
# tools, /dev/null and /dev/urandom (the log key), root in /etc/passwd.
make_rootfs "$SCRATCH" || exit 1
mknod -m 666 "$SCRATCH/dev/null" c 1 3 && mknod -m 444 "$SCRATCH/dev/urandom" c 1 9 || exit 1
mkdir -p "$SCRATCH/var/lib/rpm"
run_capture rpm --root "$SCRATCH" --initdb
if [ "$RC" -eq 0 ]; then pass "rpm --root SCRATCH --initdb"; else fail "rpm --root SCRATCH --initdb" "exit $RC: $(err_excerpt)"; fi

# --- install -------------------------------------------------------------------
log "== rpm --root SCRATCH --nodeps -i"
run_capture rpm --root "$SCRATCH" --nodeps -i "$RPM"
if [ "$RC" -eq 0 ] && rpm --root "$SCRATCH" -q "$PKG" >/dev/null 2>&1; then pass "rpm -i installs the package"; else
	fail "rpm -i installs the package" "exit $RC: $(err_excerpt) $OUT"
	summary
	exit 1
fi
if [[ "$ERR$OUT" == *WARNING* ]] || [[ "$ERR" == *scriptlet* ]]; then
	fail "%post: the shipped policy validates, the scriptlet succeeds" "$(err_excerpt) $OUT"
else
	pass "%post: the shipped policy validates, the scriptlet succeeds (no warning)"
fi
run_capture rpm --root "$SCRATCH" -V --nodeps "$PKG"
if [ "$RC" -eq 0 ] && [ -z "$OUT" ]; then pass "rpm -V: the installed files are the package's (contents, modes, owners)"; else
	fail "rpm -V" "exit $RC: $OUT $(err_excerpt)"
fi
while read -r perms path; do
	if [ -f "$SCRATCH$path" ] && [ ! -L "$SCRATCH$path" ] && [ "$(stat -c '%A %U' "$SCRATCH$path")" = "$perms root" ]; then
		pass "installed $path ($perms)"
	else
		fail "installed $path ($perms)" "$(ls -l "$SCRATCH$path" 2>&1)"
	fi
done <<<"$EXPECTED_FILES"
if cmp -s "$SCRATCH$HOOKS_FILE" hooks.d/oci-psp-hook.json && cmp -s "$SCRATCH$CONFIG" examples/config.yaml &&
	cmp -s "$SCRATCH$POLICY_FILE" examples/restricted-psp.yaml && cmp -s "$SCRATCH$BIN" "target/$TARGET/release/$PKG"; then
	pass "hooks.d file, config, policy and binary are the repository's"
else
	fail "hooks.d file, config, policy and binary are the repository's" "one differs"
fi
if [ "$(stat -c '%U %a' "$SCRATCH$KEY" 2>/dev/null)" = "root 600" ] && grep -qxE '[0-9a-f]{64}' "$SCRATCH$KEY"; then
	pass "%post: the node's log key $KEY (root, 0600)"
else
	fail "%post: the node's log key $KEY" "missing, not root's 0600, or not 64 hex digits"
fi
KEY_SUM=$(sha256sum <"$SCRATCH$KEY")

# --- the installed binary ------------------------------------------------------
# Run inside the scratch root: the wrapper, the binary and the default
# configuration path, with its policy directory, are the installed ones.
run_capture chroot "$SCRATCH" "$WRAPPER" lint
if [ "$RC" -eq 0 ] && [[ "$OUT" == *"$CONFIG"* ]] && [[ "$OUT" == *"1 polic"* ]]; then
	pass "installed oci-psp-hook lint: the installed config and policies.d are valid"
else
	fail "installed oci-psp-hook lint" "exit $RC; stdout: $OUT; stderr: $(err_excerpt)"
fi
cp tests/fixtures/podman-privileged.json tests/fixtures/runc-restricted-ok.json "$SCRATCH/tmp/"
run_capture chroot "$SCRATCH" "$WRAPPER" check /tmp/podman-privileged.json
if [ "$RC" -eq 1 ] && [[ "$OUT$ERR" == *privileged* ]]; then pass "installed oci-psp-hook check: a privileged container is denied (builtin:baseline)"; else
	fail "installed oci-psp-hook check: a privileged container is denied" "exit $RC; stdout: $OUT; stderr: $(err_excerpt)"
fi
run_capture chroot "$SCRATCH" "$WRAPPER" check /tmp/runc-restricted-ok.json
if [ "$RC" -eq 0 ]; then pass "installed oci-psp-hook check: a compliant container is allowed"; else
	fail "installed oci-psp-hook check: a compliant container is allowed" "exit $RC; stdout: $OUT; stderr: $(err_excerpt)"
fi

# --- upgrade -------------------------------------------------------------------
# The new %post runs with 2, the old %preun with 1: the hooks.d file must
# stay, the edited config too (the packaged one is unchanged, so rpm writes no
# .rpmnew), the log key is kept.
log "== rpm --root SCRATCH -U (release 2)"
printf '# edited by the admin\n' >>"$SCRATCH$CONFIG"
build_rpm "$WORK/rpm2/" --set-metadata 'release = "2"'
run_capture rpm --root "$SCRATCH" --nodeps -U "$WORK"/rpm2/*.rpm
if [ "$RC" -eq 0 ] && [ "$(rpm --root "$SCRATCH" -q --qf '%{RELEASE}' "$PKG" 2>&1)" = 2 ] && [[ "$ERR" != *scriptlet* ]]; then
	pass "rpm -U upgrades to release 2"
else
	fail "rpm -U upgrades to release 2" "exit $RC: $(err_excerpt) $OUT"
fi
if cmp -s "$SCRATCH$HOOKS_FILE" hooks.d/oci-psp-hook.json && [ -x "$SCRATCH$BIN" ]; then pass "upgrade: the hooks.d file and the binary stay"; else
	fail "upgrade: the hooks.d file and the binary stay" "$(ls -l "$SCRATCH$HOOKS_FILE" "$SCRATCH$BIN" 2>&1 | tr '\n' ' ')"
fi
if tail -n 1 "$SCRATCH$CONFIG" | grep -q 'edited by the admin' && [ ! -e "$SCRATCH$CONFIG.rpmnew" ] &&
	[ "$(sha256sum <"$SCRATCH$KEY")" = "$KEY_SUM" ]; then
	pass "upgrade: the edited config stays, the log key is kept"
else
	fail "upgrade: the edited config stays, the log key is kept" "$(ls "$SCRATCH/etc/oci-psp-hook" | tr '\n' ' ')"
fi

# --- erase ---------------------------------------------------------------------
# watched_erase EVENTS [OPTION]...: rpm -e with inotify recording, in order,
# every file deleted or renamed away under the scratch root's /usr and /etc.
watched_erase() {
	local events=$1
	shift
	inotifywait -m -r -q -e delete -e moved_from --format '%w%f' "$SCRATCH/usr" "$SCRATCH/etc" \
		>"$events" 2>"$events.err" &
	local watcher=$!
	on_exit "kill $watcher"
	# -q drops "Watches established." but the watches are set before the
	# first event is read; give it a moment to set them all.
	sleep 1
	run_capture rpm --root "$SCRATCH" "$@" -e "$PKG"
	sleep 0.5
	kill "$watcher" 2>/dev/null
	wait "$watcher" 2>/dev/null
	sed -i "s#^$SCRATCH##" "$events"
}
# line_of EVENTS PATH: the line number of PATH's event (empty: none).
line_of() { grep -nxF "$2" "$1" | head -n 1 | cut -d: -f1; }

log "== rpm --root SCRATCH -e"
# What the admin adds, and a decision record no log took: all kept.
sed 's/name: restricted/name: admin-extra/' "$SCRATCH$POLICY_FILE" >"$SCRATCH/etc/oci-psp-hook/policies.d/admin-extra.yaml"
mkdir -p "$SCRATCH/var/lib/oci-psp-hook/undelivered"
printf '{}\n' >"$SCRATCH/var/lib/oci-psp-hook/undelivered/record.json"
watched_erase "$WORK/erase.events"
if [ "$RC" -eq 0 ] && ! rpm --root "$SCRATCH" -q "$PKG" >/dev/null 2>&1; then pass "rpm -e erases the package"; else
	fail "rpm -e erases the package" "exit $RC: $(err_excerpt) $OUT"
fi
first=$(head -n 1 "$WORK/erase.events")
hooks_at=$(line_of "$WORK/erase.events" "$HOOKS_FILE")
bin_at=$(line_of "$WORK/erase.events" "$BIN")
if [ "$first" = "$HOOKS_FILE" ] && [ -n "$bin_at" ] && [ "$hooks_at" -lt "$bin_at" ]; then
	pass "erase: the hooks.d file goes first (%preun), before the binary (file $hooks_at of $(wc -l <"$WORK/erase.events"), binary $bin_at)"
else
	fail "erase: the hooks.d file goes first, before the binary" "order: $(tr '\n' ' ' <"$WORK/erase.events")"
fi
left=""
while read -r _ path; do
	if [ -e "$SCRATCH$path" ] || [ -L "$SCRATCH$path" ]; then left="$left $path"; fi
done <<<"$EXPECTED_FILES"
if [ -z "$left" ]; then pass "erase: every file of the package is gone"; else fail "erase: every file of the package is gone" "still there:$left"; fi
kept_ok=1
tail -n 1 "$SCRATCH$CONFIG.rpmsave" 2>/dev/null | grep -q 'edited by the admin' || kept_ok=0
[ "$(sha256sum <"$SCRATCH$KEY" 2>/dev/null)" = "$KEY_SUM" ] || kept_ok=0
[ -f "$SCRATCH/etc/oci-psp-hook/policies.d/admin-extra.yaml" ] || kept_ok=0
[ -f "$SCRATCH/var/lib/oci-psp-hook/undelivered/record.json" ] || kept_ok=0
if [ "$kept_ok" = 1 ]; then
	pass "erase keeps what the README says: config.yaml.rpmsave, the log key, the admin's policy, /var/lib/oci-psp-hook"
else
	fail "erase keeps the edited config (.rpmsave), the log key, the admin's policy, /var/lib/oci-psp-hook" \
		"$(find "$SCRATCH/etc/oci-psp-hook" "$SCRATCH/var/lib/oci-psp-hook" 2>&1 | sed "s#^$SCRATCH##" | tr '\n' ' ')"
fi

# The watch can tell: without %preun, rpm's own removal comes first (it
# removes in reverse path order: /usr/share/doc before /usr/share/containers).
log "== rpm --root SCRATCH -e --nopreun (the watch's control)"
rm -rf "$SCRATCH/etc/oci-psp-hook" "$SCRATCH/var/lib/oci-psp-hook"
run_capture rpm --root "$SCRATCH" --nodeps -i "$RPM"
watched_erase "$WORK/nopreun.events" --nopreun
first=$(head -n 1 "$WORK/nopreun.events")
if [ "$RC" -eq 0 ] && [ -n "$first" ] && [ "$first" != "$HOOKS_FILE" ]; then
	pass "control: without %preun another file goes first ($first)"
else
	fail "control: without %preun another file goes first" "exit $RC; order: $(tr '\n' ' ' <"$WORK/nopreun.events")"
fi

summary
