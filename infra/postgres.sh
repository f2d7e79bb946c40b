#!/usr/bin/env bash
# Makes DATABASE_URL answer: uses it as it is when it does; otherwise starts
# Debian's PostgreSQL on this host (installing it if missing) and creates the
# role and database the URL names.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

db_answers() { psql "$DATABASE_URL" -Atqc 'select 1' >/dev/null 2>&1; }

command -v psql >/dev/null || apt_install postgresql-client
command -v python3 >/dev/null || apt_install python3
if db_answers; then
    log "Postgres answers at DATABASE_URL"
    exit 0
fi

# Parse postgres://user:password@host:port/dbname
eval "$(python3 - "$DATABASE_URL" <<'PY'
import sys, shlex
from urllib.parse import urlparse, unquote
u = urlparse(sys.argv[1])
print(f"PG_USER={shlex.quote(unquote(u.username or 'receipts'))}")
print(f"PG_PASS={shlex.quote(unquote(u.password or 'receipts'))}")
print(f"PG_HOST={shlex.quote(u.hostname or '127.0.0.1')}")
print(f"PG_PORT={u.port or 5432}")
print(f"PG_DB={shlex.quote((u.path or '/receipts').lstrip('/') or 'receipts')}")
PY
)"
case "$PG_HOST" in
    127.0.0.1|localhost|::1) ;;
    *) die "DATABASE_URL points at $PG_HOST, which does not answer; start it, or unset DATABASE_URL to use a local PostgreSQL" ;;
esac

apt_install postgresql postgresql-client
PG_VERSION="$(ls /usr/lib/postgresql | sort -V | tail -1)"
[ -n "$PG_VERSION" ] || die "PostgreSQL is installed but no server version was found under /usr/lib/postgresql"

if ! pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}' | grep -qx "$PG_VERSION/main"; then
    log "creating PostgreSQL $PG_VERSION cluster"
    as_root pg_createcluster --port "$PG_PORT" "$PG_VERSION" main >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$PG_VERSION" '$1==v && $2=="main" {print $4}' | grep -q online; then
    log "starting PostgreSQL $PG_VERSION"
    as_root pg_ctlcluster "$PG_VERSION" main start
fi
for _ in $(seq 1 30); do
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && break
    sleep 1
done
pg_isready -q -h "$PG_HOST" -p "$PG_PORT" || die "PostgreSQL did not become ready on $PG_HOST:$PG_PORT"

as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}
# The role may create databases: the tests make a fresh one each.
as_postgres psql -p "$PG_PORT" -v ON_ERROR_STOP=1 -qAt \
    -v user="$PG_USER" -v pass="$PG_PASS" -v db="$PG_DB" <<'SQL' >/dev/null
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', :'user', :'pass')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB PASSWORD %L', :'user', :'pass') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL

db_answers || die "PostgreSQL is running but DATABASE_URL still does not answer"
log "Postgres ready at $PG_HOST:$PG_PORT/$PG_DB"
