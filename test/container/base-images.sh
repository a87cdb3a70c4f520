#!/usr/bin/env bash
# base-images.sh builds, from this machine's own files, stand-ins for the
# three base images the Dockerfile names, for machines that have a container
# engine but cannot reach a registry (CI sandboxes, air-gapped hosts). The
# container test then builds the unchanged Dockerfile with
#
#   --build-arg NODE_IMAGE=localhost/superpeer-base/node:local
#   --build-arg GO_IMAGE=localhost/superpeer-base/golang:local
#   --build-arg RUNTIME_IMAGE=localhost/superpeer-base/static:nonroot
#
# They have what the Dockerfile's stages use, laid out as in the real images:
#   node:    bash, sh, cp, node and npm (this machine's Debian nodejs)
#   golang:  sh and this machine's Go at /usr/local/go, GOPATH=/go
#   static:  like distroless/static: /etc/passwd with nonroot (65532),
#            CA certificates, tzdata, user 65532; no shell
# Each is imported from a tarball (`ENGINE import`), so nothing is pulled.
# An image is rebuilt only when what it was built from changed.
#
#   ENGINE=podman test/container/base-images.sh
set -euo pipefail
engine=${ENGINE:-podman}
prefix=localhost/superpeer-base

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# copy FILE... copies files (following symlinks) into the root $root.
copy() {
	local f
	for f in "$@"; do
		mkdir -p "$root$(dirname "$f")"
		cp -aL "$f" "$root$f"
	done
}

# libs BIN... lists the shared libraries BIN... load, the loader included.
libs() {
	ldd "$@" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && NF == 2 { print $1 }' | sort -u
}

# newroot NAME starts an empty root with the usual directories, in $root.
newroot() {
	root=$work/$1
	mkdir -p "$root"/{etc,tmp,root,usr/bin,usr/lib,lib64,usr/local/bin}
	chmod 1777 "$root/tmp"
	# merged /usr, as in Debian 12
	ln -s usr/bin "$root/bin"
	ln -s usr/lib "$root/lib"
	mkdir -p "$root/etc/ssl/certs"
	cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
	printf 'root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
	printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
	printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
}

# import NAME STAMP CHANGE... imports $root as $prefix/NAME unless an image
# with the same stamp is there already.
import() {
	local name=$1 stamp=$2
	shift 2
	local image=$prefix/$name
	if [[ $("$engine" image inspect --format '{{index .Config.Labels "superpeer.base"}}' "$image" 2>/dev/null) == "$stamp" ]]; then
		echo "$image: up to date ($stamp)"
		return
	fi
	local args=(--change "LABEL superpeer.base=$stamp")
	local c
	for c in "$@"; do args+=(--change "$c"); done
	tar --numeric-owner -C "$root" -cf "$work/image.tar" .
	local out
	if ! out=$("$engine" import "${args[@]}" "$work/image.tar" "$image" 2>&1); then
		echo "$out" >&2
		exit 1
	fi
	rm -f "$work/image.tar"
	echo "$image: imported ($stamp)"
}

shells=(/usr/bin/bash /usr/bin/dash)
# shellcheck disable=SC2046
stamp_of() { sha256sum "$@" | sha256sum | cut -c1-16; }

# node: gen.sh runs `dirname`, `npm ci`, `cp` and `node -p`. npm trusts
# this machine's CA certificates, as node does here (a TLS-inspecting proxy).
node=$(command -v node)
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
newroot node
bins=("${shells[@]}" /usr/bin/cp /usr/bin/dirname /usr/bin/env "$node")
copy "${bins[@]}" $(libs "${bins[@]}")
ln -s dash "$root/usr/bin/sh"
mkdir -p "$root/usr/lib/node_modules"
cp -a "$npm_dir" "$root/usr/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/bin/npx"
import node:local "node-$("$node" --version)-$(stamp_of "${bins[@]}")" \
	'ENV PATH=/usr/local/bin:/usr/bin' 'ENV HOME=/root' \
	'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' 'CMD ["node"]'

# golang: `go mod download` and `go build`, CGO_ENABLED=0.
goroot=$(go env GOROOT)
newroot golang
copy "${shells[@]}" $(libs "${shells[@]}")
ln -s dash "$root/usr/bin/sh"
cp -a "$goroot" "$root/usr/local/go"
rm -rf "$root/usr/local/go/pkg/obj" "$root/usr/local/go/test"
mkdir -p "$root/go/bin" "$root/go/src"
import golang:local "$(go env GOVERSION)-$(stamp_of "${shells[@]}" "$goroot/bin/go")" \
	'ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/bin:/usr/bin' 'ENV GOPATH=/go' 'ENV GOTOOLCHAIN=local' \
	'ENV HOME=/root' 'WORKDIR /go' 'CMD ["bash"]'

# static: no shell, like distroless.
newroot static
rm -f "$root/bin" "$root/lib"
mkdir -p "$root/home/nonroot" "$root/usr/share"
chown 65532:65532 "$root/home/nonroot"
cp -a /usr/share/zoneinfo "$root/usr/share/zoneinfo"
import static:nonroot "static-$(stamp_of /etc/ssl/certs/ca-certificates.crt)" \
	'ENV PATH=/usr/local/bin:/usr/bin:/bin' 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
	'USER 65532' 'WORKDIR /home/nonroot'
