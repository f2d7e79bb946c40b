#!/usr/bin/env bash
# `sam local invoke` and `sam local start-api` on a machine without a
# Docker engine: podman serves SAM the Docker API, on a socket of the
# project's, with the settings this machine needs (runc, cgroupfs, no
# raised rlimits) in a containers.conf the script writes.
#
#   ./infra/sam-local.sh check                  invoke the API, ingest and the worker against the
#                                               local stack and check their effects in Postgres,
#                                               serve start-api, and build and try the agent's image
#   ./infra/sam-local.sh invoke FUNCTION [EVENT] sam local invoke (e.g. WorkerFunction
#                                               fixtures/lambda-events/sqs-ocr.json)
#   ./infra/sam-local.sh start-api [PORT]       sam local start-api (default port 3001)
#   ./infra/sam-local.sh agent-image            build functions/agent/Dockerfile from local bases, run it,
#                                               and read a receipt with it over HTTP
#   ./infra/sam-local.sh env                    start podman's API; print the exports that point sam at it
#   ./infra/sam-local.sh stop                   stop the podman service
#
# The local stack must be up (./infra/up.sh). The functions are built with
# cargo lambda for this machine's architecture; the base image is a
# stand-in for Amazon's provided:al2023 (see README, "sam local").
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

SAM_DIR="$STATE_DIR/sam"
PODMAN_DIR="$STATE_DIR/podman"
SOCK="$PODMAN_DIR/podman.sock"
BASE_IMAGE="public.ecr.aws/lambda/provided:al2023-x86_64"
ROOTFS_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/receipt-ocr/lambda-base-bookworm.tar"
FUNCTIONS=(api worker ingest reconciler events webhooks)

export CONTAINERS_CONF="$PODMAN_DIR/containers.conf"
export DOCKER_HOST="unix://$SOCK"

# What podman needs on this machine, written once: crun refuses hybrid
# cgroups, systemd's cgroup manager is not usable, and raising rlimits
# needs a capability the machine withholds.
write_containers_conf() {
    mkdir -p "$PODMAN_DIR"
    cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
}

# This host's address, which a container on podman's bridge reaches.
host_ip() {
    local ip
    ip="$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "src") print $(i + 1)}')"
    [ -n "$ip" ] || ip="$(hostname -I | awk '{print $1}')"
    [ -n "$ip" ] || die "no address of this host that a container can reach"
    echo "$ip"
}

# SAM's containers run on podman's bridge (SAM publishes the emulator's
# port). LocalStack listens on every address; Postgres and the agent on
# the loopback only, so each gets a forwarder on this host's address that
# answers podman's subnet and no one else, while sam runs.
start_forwarders() {
    local ip subnet
    ip="$(host_ip)"
    subnet="$(podman network inspect podman --format '{{range .Subnets}}{{.Subnet}}{{end}}' 2>/dev/null)"
    [ -n "$subnet" ] || subnet="10.88.0.0/16"
    stop_forwarders
    for port in 5432 8002; do
        socat "TCP-LISTEN:$port,bind=$ip,reuseaddr,fork,range=$subnet" "TCP:127.0.0.1:$port" \
            >>"$PODMAN_DIR/socat.log" 2>&1 &
        echo $! >>"$PODMAN_DIR/socat.pids"
    done
}

stop_forwarders() {
    [ -f "$PODMAN_DIR/socat.pids" ] || return 0
    while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$PODMAN_DIR/socat.pids"
    rm -f "$PODMAN_DIR/socat.pids"
}

start_service() {
    apt_install podman runc uidmap mmdebstrap socat
    write_containers_conf
    if curl -fsS --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; then
        return 0
    fi
    log "starting podman's Docker API on $SOCK"
    rm -f "$SOCK"
    nohup podman system service --time=0 "unix://$SOCK" >"$PODMAN_DIR/service.log" 2>&1 &
    echo $! >"$PODMAN_DIR/service.pid"
    for _ in $(seq 1 50); do
        curl -fsS --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    tail -n 20 "$PODMAN_DIR/service.log" >&2
    die "podman's Docker API did not answer on $SOCK"
}

# The stand-in for Amazon's provided:al2023 image, under the name SAM
# builds its emulation image from: Debian bookworm (minbase, from Debian's
# packages) with CA certificates and the Lambda directories. The functions
# are static-PIE-free glibc binaries from cargo-lambda, which need no more.
base_image() {
    podman image exists "$BASE_IMAGE" && return 0
    if [ ! -s "$ROOTFS_CACHE" ]; then
        log "building the base image's root file system (mmdebstrap, bookworm minbase)"
        mkdir -p "$(dirname "$ROOTFS_CACHE")"
        mmdebstrap --variant=minbase --format=tar --include=ca-certificates \
            --customize-hook='mkdir -p "$1/var/task" "$1/var/runtime" "$1/opt"' \
            bookworm "$ROOTFS_CACHE.part" >"$PODMAN_DIR/mmdebstrap.log" 2>&1 \
            || { tail -n 20 "$PODMAN_DIR/mmdebstrap.log" >&2; die "mmdebstrap failed"; }
        mv "$ROOTFS_CACHE.part" "$ROOTFS_CACHE"
    fi
    log "importing it as $BASE_IMAGE"
    podman import \
        --change 'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin' \
        --change 'ENV LAMBDA_TASK_ROOT=/var/task' \
        --change 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'WORKDIR /var/task' \
        "$ROOTFS_CACHE" "$BASE_IMAGE" >"$PODMAN_DIR/import.log" 2>&1 \
        || { tail -n 20 "$PODMAN_DIR/import.log" >&2; die "podman import failed"; }
}

# Local stand-ins for the two bases functions/agent/Dockerfile names, which
# no reachable registry serves: debian:bookworm-slim (Debian minbase) and
# rust:1-bookworm (Debian with a C toolchain and this machine's own Rust
# toolchain copied in). The build itself fetches from Debian, PyPI and
# crates.io, which containers reach.
agent_bases() {
    local slim="docker.io/library/debian:bookworm-slim" rust="docker.io/library/rust:1-bookworm"
    local cache="${XDG_CACHE_HOME:-$HOME/.cache}/receipt-ocr"
    # The certificate authorities this machine adds to Debian's (a proxy's,
    # say), so that the build trusts what the host trusts.
    local copy_cas='mkdir -p "$1/usr/local/share/ca-certificates"; for c in /usr/local/share/ca-certificates/*.crt; do [ -e "$c" ] && cp "$c" "$1/usr/local/share/ca-certificates/"; done; true'
    if ! podman image exists "$slim"; then
        log "building the stand-in for $slim (mmdebstrap, bookworm minbase)"
        mmdebstrap --variant=minbase --format=tar --customize-hook="$copy_cas" \
            bookworm "$cache/bookworm-slim.tar" \
            >"$PODMAN_DIR/mmdebstrap-slim.log" 2>&1 || die "mmdebstrap failed (see $PODMAN_DIR/mmdebstrap-slim.log)"
        podman import --change 'CMD ["bash"]' "$cache/bookworm-slim.tar" "$slim" >/dev/null 2>&1
        rm -f "$cache/bookworm-slim.tar"
    fi
    if ! podman image exists "$rust"; then
        local sysroot
        sysroot="$(rustc --print sysroot)"
        log "building the stand-in for $rust (bookworm, gcc, and the Rust toolchain at $sysroot)"
        mmdebstrap --variant=minbase --format=tar \
            --include=ca-certificates,gcc,libc6-dev,make,pkg-config,git,curl \
            --customize-hook="cp -a '$sysroot/bin' '$sysroot/lib' \"\$1/usr/local/\"" \
            --customize-hook="$copy_cas" --customize-hook='chroot "$1" update-ca-certificates' \
            bookworm "$cache/rust-bookworm.tar" >"$PODMAN_DIR/mmdebstrap-rust.log" 2>&1 \
            || die "mmdebstrap failed (see $PODMAN_DIR/mmdebstrap-rust.log)"
        podman import --change 'ENV CARGO_HOME=/usr/local/cargo' \
            --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
            --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/bin:/usr/bin:/bin' \
            --change 'CMD ["bash"]' "$cache/rust-bookworm.tar" "$rust" >/dev/null 2>&1
        rm -f "$cache/rust-bookworm.tar"
    fi
}

# The agent's image from functions/agent/Dockerfile, run, and a receipt
# read by it over HTTP.
agent_image() {
    start_service
    agent_bases
    log "podman build -f functions/agent/Dockerfile (the agent's release build inside: minutes)"
    podman build --network host -f functions/agent/Dockerfile -t receipt-ocr-agent:local . \
        >"$PODMAN_DIR/agent-build.log" 2>&1 || { tail -n 30 "$PODMAN_DIR/agent-build.log" >&2; die "the agent's image did not build"; }
    podman rm -f receipt-ocr-agent >/dev/null 2>&1 || true
    podman run -d --name receipt-ocr-agent -p 127.0.0.1:8012:8002 receipt-ocr-agent:local >/dev/null
    trap 'podman rm -f receipt-ocr-agent >/dev/null 2>&1 || true' EXIT
    for _ in $(seq 1 60); do
        curl -fsS http://127.0.0.1:8012/health >/dev/null 2>&1 && break
        sleep 1
    done
    cargo run -q --locked -p testkit --bin render-receipt -- docs/examples/aldi.txt "$SAM_DIR/agent-receipt.png"
    local answer
    answer="$(curl -fsS -H 'Content-Type: image/png' -H 'Content-Language: de-DE' \
        --data-binary @"$SAM_DIR/agent-receipt.png" http://127.0.0.1:8012/v1/extract)" \
        || die "the agent's container did not read the receipt"
    echo "$answer" | python3 -c 'import json,sys; a=json.load(sys.stdin); m=a.get("metadata", a); print("merchant", (a.get("merchant") or {}).get("name"), "total", a.get("total"), "items", len(a.get("items") or []))' >&2
    echo "$answer" | grep -q '"total":"7.65"' || die "the agent's container read the receipt wrong: $answer"
    log "the agent's image (functions/agent/Dockerfile, local bases) reads a receipt over HTTP"
}

# The functions, built by cargo lambda for x86_64 (as ./infra/build-lambdas.sh
# builds them) unless every bootstrap is newer than the sources.
build_functions() {
    ensure_tools_venv
    local stale=0 bin
    for f in "${FUNCTIONS[@]}"; do
        bin="target/lambda/$f/bootstrap"
        if [ ! -x "$bin" ] || [ -n "$(find shared functions migrations Cargo.lock -newer "$bin" \( -name '*.rs' -o -name '*.sql' -o -name '*.toml' -o -name Cargo.lock -o -name '*.html' -o -name '*.js' -o -name '*.css' -o -name '*.json' \) -print -quit)" ]; then
            stale=1
        fi
    done
    [ "$stale" -eq 0 ] && return 0
    local pkgs=()
    for f in "${FUNCTIONS[@]}"; do pkgs+=(-p "$f"); done
    log "cargo lambda build --release --x86-64 ${FUNCTIONS[*]}"
    cargo lambda build --release --locked --x86-64 "${pkgs[@]}" >&2
}

# The template as `sam build` would leave it, and the functions'
# variables for the local stack, as the containers see it.
prepare() {
    ensure_tools_venv
    [ -f "$STATE_DIR/env" ] || die "no $STATE_DIR/env: start the local stack first (./infra/up.sh)"
    mkdir -p "$SAM_DIR"
    python "$REPO_ROOT/infra/sam_local_template.py" template.yaml "$SAM_DIR/template.yaml" x86_64 >/dev/null
    # The local stack by this host's address, as a container reaches it
    # (and as the agent, on the host, fetches the worker's presigned links).
    python - "$STATE_DIR/env" "$SAM_DIR/env.json" "$(host_ip)" <<'PY'
import json, sys
env = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if not line or line.startswith("#") or "=" not in line:
        continue
    k, v = line.split("=", 1)
    env[k] = v.replace("127.0.0.1", sys.argv[3]).replace("localhost", sys.argv[3])
json.dump({"Parameters": env}, open(sys.argv[2], "w"), indent=1)
PY
}

sam_flags() {
    printf '%s\n' --template "$SAM_DIR/template.yaml" --env-vars "$SAM_DIR/env.json" \
        --skip-pull-image --container-host 127.0.0.1 --region "${AWS_REGION:-us-east-1}"
}

setup() {
    start_service
    base_image
    build_functions
    prepare
    start_forwarders
    trap stop_forwarders EXIT
}

cmd="${1:-check}"
shift || true
case "$cmd" in
    env)
        start_service
        echo "export CONTAINERS_CONF=$CONTAINERS_CONF DOCKER_HOST=$DOCKER_HOST SAM_CLI_TELEMETRY=0"
        ;;
    stop)
        stop_forwarders
        [ -f "$PODMAN_DIR/service.pid" ] && kill "$(cat "$PODMAN_DIR/service.pid")" 2>/dev/null || true
        rm -f "$PODMAN_DIR/service.pid" "$SOCK"
        ;;
    invoke)
        setup
        fn="${1:?usage: sam-local.sh invoke FUNCTION [EVENT]}"
        mapfile -t flags < <(sam_flags)
        sam local invoke "$fn" "${flags[@]}" ${2:+--event "$2"}
        ;;
    start-api)
        setup
        mapfile -t flags < <(sam_flags)
        sam local start-api "${flags[@]}" --port "${1:-3001}"
        ;;
    agent-image)
        mkdir -p "$SAM_DIR"
        agent_image
        ;;
    check)
        "$REPO_ROOT/infra/up.sh"
        "$REPO_ROOT/infra/fetch-models.sh"
        setup
        mapfile -t flags < <(sam_flags)
        set -a && source "$STATE_DIR/env" && set +a
        python "$REPO_ROOT/infra/sam_local_check.py" "${flags[@]}"
        agent_image
        ;;
    *) die "unknown command $cmd (check, invoke, start-api, agent-image, env, stop)" ;;
esac
