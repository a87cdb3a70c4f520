# syntax=docker/dockerfile:1
#
# superpeer container image: a static, non-root binary on distroless.
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t superpeer .
#   docker run --rm --network host -v $PWD/superpeer.yaml:/etc/superpeer/superpeer.yaml:ro superpeer
#   docker run --rm --network host superpeer demo     # offline demo on http://127.0.0.1:8080
#
# Ports (see docs/operations.md):
#   9090/tcp   admin HTTP: /metrics, /healthz, /readyz (http.listen, default ":9090")
#   50000/udp  WebRTC: every browser connection on one UDP port. This is NOT
#              superpeer's default: set webrtc.udp_port: 50000 in the
#              configuration, or superpeer uses one ephemeral UDP port per
#              connection, which a published port or a firewall cannot follow.
#   8000/tcp   only with tracker_server.listen: ":8000", the embedded WebTorrent
#              tracker (publish it yourself; it is not EXPOSEd)

ARG GO_VERSION=1.26
ARG NODE_VERSION=22
# The base images. Override them only to build without a registry, as the
# container test does (test/container: stand-ins made from the machine's
# own files); the defaults are what the image is meant to be built from.
ARG NODE_IMAGE=node:${NODE_VERSION}-bookworm-slim
ARG GO_IMAGE=golang:${GO_VERSION}
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

# The demo page's browser scripts (hls.js, Shaka Player, P2P Media Loader) come from npm
# and are embedded in the binary (pkg/demo/gen.sh; never committed), so
# `superpeer demo` works from the image too.
FROM ${NODE_IMAGE} AS demo-js
WORKDIR /src/pkg/demo
COPY pkg/demo/package.json pkg/demo/package-lock.json pkg/demo/gen.sh ./
COPY pkg/demo/thirdparty/README.md thirdparty/
RUN bash gen.sh

FROM ${GO_IMAGE} AS build
WORKDIR /src
# Modules first: this layer is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
COPY --from=demo-js /src/pkg/demo/thirdparty/ pkg/demo/thirdparty/
ARG VERSION=""
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/superpeer ./cmd/superpeer

# distroless/static: CA certificates (https origins, wss trackers), tzdata,
# /etc/passwd with user nonroot (65532); no shell, no package manager.
FROM ${RUNTIME_IMAGE}
COPY --from=build /out/superpeer /superpeer
USER nonroot:nonroot
EXPOSE 9090/tcp 50000/udp
ENTRYPOINT ["/superpeer"]
CMD ["-config", "/etc/superpeer/superpeer.yaml"]
