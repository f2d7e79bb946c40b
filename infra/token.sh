#!/usr/bin/env bash
# Prints a local bearer token (HS256, 24 h) for the user named as argument,
# signed with the local stack's secret: TOKEN=$(./infra/token.sh alice)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
[ -s "$STATE_DIR/env" ] || die "no local settings yet: run ./infra/run-local.sh first"
set -a
# shellcheck disable=SC1091
source "$STATE_DIR/env"
set +a
cargo build --locked -q --release -p api
exec "$REPO_ROOT/target/release/api" mint-token "${1:?usage: token.sh USER}" "${2:-86400}"
