#!/usr/bin/env bash
# Prints a bearer token (HS256, 24 h by default) for the user named as
# argument: TOKEN=$(./infra/token.sh alice [TTL_SECS])
# Signed with AUTH_JWT_SECRET when it is set in the environment (a deployed
# stack's JwtSecret), else with the local stack's secret from .local/env.
RECEIPTS_TARGET=aws # only the secret is needed: leave the AWS settings alone
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
if [ -z "${AUTH_JWT_SECRET:-}" ]; then
    [ -s "$STATE_DIR/env" ] || die "set AUTH_JWT_SECRET, or run ./infra/run-local.sh first for the local secret"
    AUTH_JWT_SECRET="$(sed -n 's/^AUTH_JWT_SECRET=//p' "$STATE_DIR/env")"
fi
export AUTH_JWT_SECRET
cargo build --locked -q --release -p api
exec "$REPO_ROOT/target/release/api" mint-token "${1:?usage: token.sh USER [TTL_SECS]}" "${2:-86400}"
