# Common settings of the local scripts; sourced, not run.
# Everything here is idempotent: the scripts may be re-run at any time.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${STATE_DIR:-$REPO_ROOT/.local}"
mkdir -p "$STATE_DIR"

export SAM_CLI_TELEMETRY=0
export LOCALSTACK_VENV="${LOCALSTACK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/receipt-ocr/localstack-venv}"
# LocalStack and the local Postgres, unless a script works on AWS itself
# (infra/deploy.sh sets RECEIPTS_TARGET=aws: the caller's own credentials).
if [ "${RECEIPTS_TARGET:-local}" = "local" ]; then
    export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}"
    export AWS_REGION="${AWS_REGION:-us-east-1}"
    export AWS_DEFAULT_REGION="$AWS_REGION"
    export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
    export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
    export DATABASE_URL="${DATABASE_URL:-postgres://receipts:receipts@127.0.0.1:5432/receipts}"
fi

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=0
# apt_install PKG...: installs the Debian packages that are missing.
apt_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them"
    log "installing ${missing[*]}"
    if [ "$APT_UPDATED" -eq 0 ]; then
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# A Python of at least 3.11 (LocalStack's venv).
find_python() {
    for py in python3.11 python3.12 python3.13 python3; do
        if command -v "$py" >/dev/null && "$py" -c 'import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            command -v "$py"
            return 0
        fi
    done
    return 1
}

# new_venv DIR: a fresh venv at DIR on a Python >= 3.11 (installed from
# Debian when missing), with an up-to-date pip.
new_venv() {
    local py
    py="$(find_python)" || { apt_install python3 python3-venv python3-pip; py="$(find_python)"; } \
        || die "no Python >= 3.11 with venv found"
    log "creating a venv at $1"
    rm -rf "$1"
    mkdir -p "$(dirname "$1")"
    "$py" -m venv "$1"
    "$1/bin/pip" install -q --upgrade pip
}

# The deploy tools, in one venv so that SAM finds cargo-lambda's zig:
# cargo-lambda (brings zig), aws-sam-cli, cfn-lint, and samlocal (SAM
# against LocalStack in Docker). Pinned; from PyPI only.
export TOOLS_VENV="${TOOLS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/receipt-ocr/sam-venv}"
TOOLS_PINS=(cargo-lambda==1.9.2 aws-sam-cli==1.170.0 aws-sam-cli-local==1.71.0 cfn-lint==1.58.0)
ensure_tools_venv() {
    if [ -x "$TOOLS_VENV/bin/sam" ] && [ -x "$TOOLS_VENV/bin/cargo-lambda" ] \
        && "$TOOLS_VENV/bin/python" - "${TOOLS_PINS[@]}" <<'PY' 2>/dev/null; then
import importlib.metadata as m, sys
sys.exit(any(m.version(p.split("==")[0]) != p.split("==")[1] for p in sys.argv[1:]))
PY
        export PATH="$TOOLS_VENV/bin:$PATH"
        return 0
    fi
    [ -x "$TOOLS_VENV/bin/pip" ] || new_venv "$TOOLS_VENV"
    log "installing ${TOOLS_PINS[*]} in $TOOLS_VENV"
    "$TOOLS_VENV/bin/pip" install -q "${TOOLS_PINS[@]}"
    export PATH="$TOOLS_VENV/bin:$PATH"
}
