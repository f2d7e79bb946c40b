#!/usr/bin/env bash
# Applies the migrations in migrations/ to the database at DATABASE_URL
# (sqlx; already applied ones are skipped, so it is safe to re-run).
#   DATABASE_URL=postgres://user:pass@host:5432/db ./infra/migrate.sh
# For a database inside a VPC, run it where the database is reachable (a
# bastion, or a tunnel: DATABASE_URL=postgres://...@127.0.0.1:LOCALPORT/db).
RECEIPTS_TARGET=aws
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
[ -n "${DATABASE_URL:-}" ] || die "set DATABASE_URL to the database to migrate"
log "applying migrations to the database at ${DATABASE_URL##*@}"
cargo run --quiet --release --locked -p api -- migrate
