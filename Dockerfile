# syntax=docker/dockerfile:1
#
# The hooksupd container image: a static binary on a small Debian base
# (hooks are programs, and most want /bin/sh). Build from a source tree:
#
#   docker build -t hooksupd:$(cat VERSION) --build-arg COMMIT=$(git rev-parse --short=12 HEAD) .
#
# hooksupd is per host by nature: it caps hooks with the kernel's cgroups,
# so a container of it supervises the hooks of its own node. It needs a
# cgroup v2 subtree it may write (a private cgroup namespace with
# /sys/fs/cgroup mounted read-write) and the capabilities of the systemd
# unit; dist/k8s/daemonset.yaml runs it that way and docs/fleet.md says
# why.

ARG GO_VERSION=1.26
ARG DEBIAN_VERSION=bookworm

# Build: as an unprivileged user, with the module cache in its home. The
# binary is static (CGO_ENABLED=0; the launcher it embeds is a static
# blob), so the runtime image needs no libc of a particular version.
FROM golang:${GO_VERSION}-${DEBIAN_VERSION} AS build
RUN useradd --uid 65532 --create-home --home-dir /home/build build
USER 65532:65532
WORKDIR /home/build/src
COPY --chown=65532:65532 go.mod go.sum ./
RUN go mod download
COPY --chown=65532:65532 . .
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
	-ldflags "-s -w -X main.version=v$(cat VERSION) -X main.commit=${COMMIT}" \
	-o /home/build/hooksupd ./cmd/hooksupd && \
	/home/build/hooksupd version >/dev/null

# Runtime: the binary, the example configuration, the example hooks as
# documentation and one of them where dist/k8s's configuration runs it.
FROM debian:${DEBIAN_VERSION}-slim
COPY --from=build /home/build/hooksupd /usr/bin/hooksupd
COPY dist/hooks.toml /etc/hooksupd/hooks.toml
COPY examples/hooks/ /usr/share/doc/hooksupd/examples/hooks/
COPY --chmod=0755 examples/hooks/deny-secrets.sh /usr/lib/hooksupd/deny-secrets
# An unprivileged user for what needs no privilege: `hooksupd check` of a
# configuration, `hooksupd fire` of uncapped hooks, completions:
#   docker run --rm --user hooksupd -v $PWD/hooks.toml:/etc/hooksupd/hooks.toml:ro hooksupd check
RUN useradd --system --uid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin hooksupd
# `serve` runs as root (in the container's user namespace when the runtime
# gives it one): it writes its cgroup subtree, starts hooks as the users
# their configuration names and puts them in PID namespaces. The pod spec
# limits it to the capabilities of the systemd unit (dist/k8s).
USER 0:0
# The socket and the metrics endpoint ([server] metrics_listen).
VOLUME /run/hooksupd
EXPOSE 9464
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/hooksupd"]
CMD ["serve", "-c", "/etc/hooksupd/hooks.toml"]
