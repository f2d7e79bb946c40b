#!/usr/bin/env bash
# The test command. On a fresh Debian machine (as root) it installs and
# starts everything the tests need — PostgreSQL, LocalStack in a Python venv
# — then runs the whole suite against them, and the format and lint checks.
#   ./infra/test.sh            everything
#   ./infra/test.sh -- ARGS    extra arguments for `cargo test`
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

command -v cargo >/dev/null || die "cargo is not installed (a Rust toolchain is required)"
# Tesseract (the agent links libtesseract), its English data, and a font the
# agent's tests render receipts with.
apt_install ca-certificates curl gcc libc6-dev pkg-config \
    tesseract-ocr tesseract-ocr-eng libtesseract-dev fonts-dejavu-core

"$REPO_ROOT/infra/up.sh"
set -a
# shellcheck disable=SC1091
source "$STATE_DIR/env"
set +a

[ "${1:-}" = "--" ] && shift
log "running the test suite"
cargo test --workspace --locked "$@"

if [ "${SKIP_LINT:-0}" != "1" ]; then
    log "checking format and lints"
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --locked -- -D warnings
fi
log "all tests passed"
