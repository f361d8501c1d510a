#!/usr/bin/env bash
# Builds the CRI peers the integration tests drive (containerd 2.x, crictl,
# a current runc, NRI's hook injector, CRI-O with pinns) from their published
# Go modules, pinned to the exact versions below, into a cache outside the
# clone keyed by name and version:
#
#   ${OCI_PSP_HOOK_PEERS:-/var/cache/oci-psp-hook-peers}/<name>-<version>/bin
#
# A peer whose directory is complete (it has .complete) is not built again.
# Prints one line per peer, `<name> <bin dir>`, on stdout; progress and build
# times go to stderr. Exit 0 when every requested peer is there, 1 otherwise
# (the others are still built). See integration/peers/README.md.
#
#   integration/peers/build.sh [PEER...]     # default: all
#   integration/peers/build.sh --print       # only print the bin dirs, build nothing
#
# Needs Go (GOTOOLCHAIN=local: the module's `go` line must not be newer than
# the installed Go), gcc, pkg-config and libseccomp-dev (apt-get installs the
# missing ones unless OCI_PSP_HOOK_PEERS_NO_APT=1).

set -euo pipefail

CACHE=${OCI_PSP_HOOK_PEERS:-/var/cache/oci-psp-hook-peers}

CONTAINERD_VERSION=v2.4.2
CRICTL_VERSION=v1.37.0
RUNC_VERSION=v1.5.3
NRI_VERSION=v0.12.5
CRIO_VERSION=v1.34.0

ALL_PEERS=(containerd crictl runc nri-hook-injector cri-o)
# Debian packages the builds need (headers, pkg-config) or the tests run
# beside the peers (conmon for CRI-O, CNI plugins).
APT_PACKAGES=(gcc make pkg-config libc6-dev libseccomp-dev conmon containernetworking-plugins)

export GOFLAGS=-mod=mod
export GOTOOLCHAIN=local
export GOPROXY=${GOPROXY:-https://proxy.golang.org}

say() { printf '%s\n' "$*" >&2; }

peer_version() {
	case $1 in
	containerd) echo "$CONTAINERD_VERSION" ;;
	crictl) echo "$CRICTL_VERSION" ;;
	runc) echo "$RUNC_VERSION" ;;
	nri-hook-injector) echo "$NRI_VERSION" ;;
	cri-o) echo "$CRIO_VERSION" ;;
	*) return 1 ;;
	esac
}

peer_dir() { echo "$CACHE/$1-$(peer_version "$1")"; }

ensure_apt() {
	[ "${OCI_PSP_HOOK_PEERS_NO_APT:-0}" = 1 ] && return 0
	local missing=() p
	for p in "${APT_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	say "peers: apt-get install ${missing[*]}"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2; then
		apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
	fi
}

# module_src MODULE VERSION DEST: the module's published zip (through the Go
# module proxy), copied writable to DEST (go may add to go.sum).
module_src() {
	local dir
	dir=$(go mod download -json "$1@$2" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	if [ -z "$dir" ] || [ ! -d "$dir" ]; then
		say "peers: go mod download $1@$2 failed"
		return 1
	fi
	cp -a "$dir" "$3"
	chmod -R u+w "$3"
}

build_containerd() { # $1 work dir, $2 bin dir
	local v=$CONTAINERD_VERSION pkg=github.com/containerd/containerd/v2
	module_src "$pkg" "$v" "$1/src"
	cd "$1/src"
	local ld="-X $pkg/version.Version=$v -X $pkg/version.Package=$pkg -X $pkg/version.Revision=module-$v"
	# no_btrfs: the btrfs snapshotter needs libbtrfs headers and is not used.
	go build -trimpath -tags "urfave_cli_no_docs no_btrfs" -ldflags "$ld" \
		-o "$2/" ./cmd/containerd ./cmd/ctr
	# The shim is static, without cgo or gRPC, as containerd's Makefile builds it.
	CGO_ENABLED=0 go build -trimpath -tags "urfave_cli_no_docs no_btrfs no_grpc" \
		-ldflags "$ld -extldflags -static" -o "$2/" ./cmd/containerd-shim-runc-v2
}

build_crictl() {
	module_src sigs.k8s.io/cri-tools "$CRICTL_VERSION" "$1/src"
	cd "$1/src"
	CGO_ENABLED=0 go build -trimpath \
		-ldflags "-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" \
		-o "$2/" ./cmd/crictl
}

build_runc() {
	module_src github.com/opencontainers/runc "$RUNC_VERSION" "$1/src"
	cd "$1/src"
	# runc's Makefile default tags less libpathrs (a Rust library Debian does
	# not ship; runc falls back to its Go implementation, pathrs-lite).
	CGO_ENABLED=1 go build -trimpath -buildmode=pie -tags "seccomp urfave_cli_no_docs" \
		-ldflags "-X main.gitCommit=module-$RUNC_VERSION -X main.version=${RUNC_VERSION#v}" \
		-o "$2/runc" .
}

# NRI's hook-injector is its own Go module (plugins/hook-injector/go.mod, with
# `replace github.com/containerd/nri => ../..`) that is never tagged, so the
# module proxy serves no version of it, and the github.com/containerd/nri zip
# leaves the nested module out. This builds the same plugin from what is
# published: NRI's stub (github.com/containerd/nri, $NRI_VERSION) and the
# hooks.d reader podman and CRI-O use (go.podman.io/common/pkg/hooks): on
# CreateContainer it returns the hooks the hooks.d files select, exactly as
# upstream's plugins/hook-injector/hook-injector.go does (upstream has no
# RunPodSandbox handler either: NRI cannot adjust a sandbox's spec). Its
# directories: upstream's two (/usr/share/containers/oci/hooks.d,
# /etc/containers/oci/hooks.d), or -hooks-dir DIR (repeatable).
build_nri-hook-injector() {
	mkdir -p "$1/src"
	cd "$1/src"
	cat >go.mod <<EOF
module oci-psp-hook.test/nri-hook-injector

go 1.24
EOF
	cat >main.go <<'EOF'
// The NRI hook-injector plugin (after containerd/nri plugins/hook-injector),
// built from published modules by oci-psp-hook's integration/peers/build.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"go.podman.io/common/pkg/hooks"
)

type plugin struct {
	mgr *hooks.Manager
}

type dirList []string

func (d *dirList) String() string     { return strings.Join(*d, ",") }
func (d *dirList) Set(s string) error { *d = append(*d, s); return nil }

func (p *plugin) CreateContainer(_ context.Context, pod *api.PodSandbox, ctr *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	name := ctr.Name
	if pod != nil {
		name = pod.Name + "/" + ctr.Name
	}
	annotations := map[string]string{}
	for k, v := range ctr.Annotations {
		annotations[k] = v
	}
	for k, v := range pod.Annotations {
		annotations[k] = v
	}
	spec := &rspec.Spec{Process: &rspec.Process{Args: ctr.Args}}
	if _, err := p.mgr.Hooks(spec, annotations, len(ctr.Mounts) > 0); err != nil {
		log.Printf("%s: failed to generate hooks: %v", name, err)
		return nil, nil, fmt.Errorf("hook generation failed: %w", err)
	}
	if spec.Hooks == nil {
		log.Printf("%s: no hooks to inject", name)
		return nil, nil, nil
	}
	adjust := &api.ContainerAdjustment{}
	adjust.AddHooks(api.FromOCIHooks(spec.Hooks))
	log.Printf("%s: OCI hooks injected", name)
	return adjust, nil, nil
}

func main() {
	var (
		idx, socket string
		dirs        dirList
		opts        []stub.Option
	)
	flag.StringVar(&idx, "idx", "", "plugin index to register to NRI")
	flag.StringVar(&socket, "socket-path", "", "path of the NRI socket file")
	flag.Var(&dirs, "hooks-dir", "hooks.d directory (repeatable; default: podman's two)")
	flag.Parse()
	if idx != "" {
		opts = append(opts, stub.WithPluginIdx(idx))
	}
	if socket != "" {
		opts = append(opts, stub.WithSocketPath(socket))
	}
	if len(dirs) == 0 {
		dirs = dirList{hooks.DefaultDir, hooks.OverrideDir}
	}
	p := &plugin{}
	s, err := stub.New(p, opts...)
	if err != nil {
		log.Fatalf("failed to create plugin stub: %v", err)
	}
	ctx := context.Background()
	if p.mgr, err = hooks.New(ctx, dirs, []string{}); err != nil {
		log.Fatalf("failed to set up hook manager: %v", err)
	}
	sync := make(chan error, 2)
	go p.mgr.Monitor(ctx, sync)
	if err = <-sync; err != nil {
		log.Fatalf("failed to monitor hook directories: %v", err)
	}
	log.Printf("watching %q", dirs.String())
	if err = s.Run(ctx); err != nil {
		log.Fatalf("plugin exited with error %v", err)
	}
	os.Exit(0)
}
EOF
	go get "github.com/containerd/nri@$NRI_VERSION" "go.podman.io/common@${NRI_PODMAN_COMMON_VERSION:-v0.66.1}" \
		"github.com/opencontainers/runtime-spec@v1.3.0"
	go mod tidy
	CGO_ENABLED=0 go build -trimpath -o "$2/nri-hook-injector" .
}

build_cri-o() {
	module_src github.com/cri-o/cri-o "$CRIO_VERSION" "$1/src"
	cd "$1/src"
	# The tags CRI-O's Makefile picks on a host without gpgme, btrfs,
	# SELinux or AppArmor headers: the OpenPGP signature code in Go, no btrfs
	# graph driver, seccomp through libseccomp.
	CGO_ENABLED=1 go build -trimpath \
		-tags "containers_image_ostree_stub containers_image_openpgp exclude_graphdriver_btrfs seccomp" \
		-ldflags "-s -w -X github.com/cri-o/cri-o/internal/version.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		-o "$2/crio" ./cmd/crio
	# pinns is C in CRI-O's tree (pinns/src), part of the module zip.
	make -C pinns CC="${CC:-gcc}" >&2
	install -m 0755 bin/pinns "$2/pinns"
}

build_peer() { # NAME
	local name=$1 dir work start rc
	dir=$(peer_dir "$name")
	if [ -f "$dir/.complete" ]; then
		say "peers: $name $(peer_version "$name") already built in $dir"
		return 0
	fi
	mkdir -p "$CACHE"
	work=$(mktemp -d "$CACHE/.build-$name.XXXXXX")
	mkdir -p "$work/bin"
	say "peers: building $name $(peer_version "$name") ..."
	start=$(date +%s)
	# Not in an `if`: bash would turn errexit off inside the subshell.
	set +e
	(
		set -e
		build_"$name" "$work" "$work/bin"
	) >"$work/build.log" 2>&1
	rc=$?
	set -e
	local secs=$(($(date +%s) - start))
	if [ $rc -ne 0 ]; then
		say "peers: building $name failed (exit $rc, ${secs}s); last lines of $work/build.log:"
		tail -25 "$work/build.log" >&2
		return 1
	fi
	{
		echo "name=$name"
		echo "version=$(peer_version "$name")"
		echo "go=$(go env GOVERSION)"
		echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "seconds=$secs"
	} >"$work/bin/.build-info"
	rm -rf "$dir"
	mkdir -p "$dir"
	mv "$work/bin" "$dir/bin"
	mv "$work/build.log" "$dir/build.log"
	cp "$dir/bin/.build-info" "$dir/.complete"
	rm -rf "$work"
	say "peers: built $name $(peer_version "$name") in ${secs}s"
}

main() {
	local print_only=0 peers=() p failed=0
	for p in "$@"; do
		case $p in
		--print) print_only=1 ;;
		-h | --help)
			sed -n '2,20p' "$0"
			return 0
			;;
		*)
			peer_version "$p" >/dev/null || {
				say "peers: unknown peer $p (known: ${ALL_PEERS[*]})"
				return 2
			}
			peers+=("$p")
			;;
		esac
	done
	[ ${#peers[@]} -eq 0 ] && peers=("${ALL_PEERS[@]}")
	if [ $print_only = 0 ]; then
		command -v go >/dev/null || {
			say "peers: go is not installed"
			return 1
		}
		ensure_apt
		for p in "${peers[@]}"; do
			build_peer "$p" || failed=1
		done
	fi
	for p in "${peers[@]}"; do
		if [ -f "$(peer_dir "$p")/.complete" ]; then
			echo "$p $(peer_dir "$p")/bin"
		else
			failed=1
		fi
	done
	return $failed
}

main "$@"
