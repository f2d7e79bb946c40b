#!/usr/bin/env bash
# Cold starts of the six functions, side by side with a bare lambda_runtime
# function built with the same release profile: each release binary is
# started under the project's Lambda Runtime API stand-in against the local
# stack, and its init, first and warm invocations are timed (medians).
#   ./infra/coldstart-bench.sh [--starts N] [--warm M] [--only api,worker,...]
#                              [--no-build] [--dir DIR]
# --no-build measures the binaries already in target/lambda (or DIR: another
# build's target/lambda, to compare two builds in one run of the stack).
# Its output goes in BENCHMARKS.md.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

build=1
args=()
for a in "$@"; do
    if [ "$a" = "--no-build" ]; then build=0; else args+=("$a"); fi
done
if [ "$build" = 1 ]; then
    ensure_tools_venv
    pkgs=()
    for f in api worker ingest reconciler events webhooks bare-lambda; do pkgs+=(-p "$f"); done
    log "cargo lambda build --release --x86-64 (the functions and bare-lambda)"
    cargo lambda build --release --locked --x86-64 "${pkgs[@]}"
fi
"$REPO_ROOT/infra/up.sh"
set -a
# shellcheck disable=SC1091
source "$STATE_DIR/env"
set +a
exec cargo run --locked --release -q -p testkit --bin coldstart-bench -- "${args[@]}"
