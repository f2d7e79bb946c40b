#!/usr/bin/env bash
# Stops what up.sh started: LocalStack (if this checkout started it) and the
# local PostgreSQL cluster (only with --postgres, since other projects may use it).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ -s "$STATE_DIR/localstack.pid" ]; then
    pid="$(cat "$STATE_DIR/localstack.pid")"
    if kill -0 "$pid" 2>/dev/null; then
        log "stopping LocalStack (pid $pid)"
        kill "$pid"
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$STATE_DIR/localstack.pid"
fi
if [ "${1:-}" = "--postgres" ] && command -v pg_lsclusters >/dev/null; then
    pg_lsclusters -h | awk '$2=="main" && $4=="online" {print $1}' | while read -r v; do
        log "stopping PostgreSQL $v"
        as_root pg_ctlcluster "$v" main stop
    done
fi
log "stopped"
