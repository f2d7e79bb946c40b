#!/usr/bin/env bash
# The pipeline benchmark (release build) against the local stack:
#   ./infra/bench.sh [--receipts N]     (default 2000)
# Its output goes in BENCHMARKS.md.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
"$REPO_ROOT/infra/up.sh"
set -a
# shellcheck disable=SC1091
source "$STATE_DIR/env"
set +a
exec cargo run --locked --release -q -p testkit --bin pipeline-bench -- "$@"
