#!/usr/bin/env bash
# The run command: brings up Postgres and LocalStack on this host (no Docker),
# provisions the bucket and queues, starts the OCR agent (PP-OCRv6) unless
# AGENT_URL already answers, and runs the local runner: the API on API_BIND
# (default http://127.0.0.1:3000), and the worker and ingest handlers fed from
# the queues as AWS's event source mappings would. Ctrl-C stops it all.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

command -v cargo >/dev/null || die "cargo is not installed (a Rust toolchain is required)"
apt_install ca-certificates curl gcc libc6-dev pkg-config poppler-utils libheif-examples
"$REPO_ROOT/infra/fetch-models.sh"

"$REPO_ROOT/infra/up.sh"
set -a
# shellcheck disable=SC1091
source "$STATE_DIR/env"
set +a

log "building"
cargo build --locked -q --release -p agent -p local-runner -p api

agent_pid=""
cleanup() { [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true; }
trap cleanup EXIT
if curl -sf -m 2 "${AGENT_URL%/}/health" >/dev/null; then
    log "an OCR agent already answers at $AGENT_URL"
else
    hostport="${AGENT_URL#*://}"; hostport="${hostport%%/*}"
    log "starting the OCR agent on $hostport (log: $STATE_DIR/agent.log)"
    AGENT_BIND="$hostport" "$REPO_ROOT/target/release/agent" serve >"$STATE_DIR/agent.log" 2>&1 &
    agent_pid=$!
    for _ in $(seq 1 30); do
        curl -sf -m 2 "${AGENT_URL%/}/health" >/dev/null && break
        kill -0 "$agent_pid" 2>/dev/null || { tail -n 20 "$STATE_DIR/agent.log" >&2; die "the agent exited"; }
        sleep 0.5
    done
fi

cat >&2 <<MSG

  Page:   http://$API_BIND/       (sign in with any user name)
  API:    http://$API_BIND        (OCR agent: $AGENT_URL)
  Token:  TOKEN=\$(./infra/token.sh alice)
  Try:    curl -s http://$API_BIND/health

MSG
"$REPO_ROOT/target/release/local-runner"
