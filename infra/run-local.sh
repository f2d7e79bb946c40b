#!/usr/bin/env bash
# The run command: brings up Postgres and LocalStack on this host (no Docker),
# provisions the bucket and queues, applies the migrations, and serves the
# API on API_BIND (default http://127.0.0.1:3000) until Ctrl-C.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

"$REPO_ROOT/infra/up.sh"
set -a
# shellcheck disable=SC1091
source "$STATE_DIR/env"
set +a

log "building"
cargo build --locked -q -p api
API_BIN="$REPO_ROOT/target/debug/api"
"$API_BIN" migrate

cat >&2 <<MSG

  API:    http://$API_BIND
  Token:  TOKEN=\$(./infra/token.sh alice)
  Try:    curl -s http://$API_BIND/health

MSG
exec "$API_BIN" serve
