#!/usr/bin/env bash
# Builds the six Rust functions for Lambda with cargo lambda (release) and
# prints each one's size: the bootstrap binary and the zip Lambda receives.
#   ./infra/build-lambdas.sh            x86_64 (what CI builds)
#   ./infra/build-lambdas.sh --arm64    arm64 (what template.yaml deploys)
# `sam build` runs the same cargo lambda build for each function.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
ensure_tools_venv

arch="--x86-64"
[ "${1:-}" = "--arm64" ] && arch="--arm64"
FUNCTIONS=(api worker ingest reconciler events webhooks)
pkgs=()
for f in "${FUNCTIONS[@]}"; do pkgs+=(-p "$f"); done

log "cargo lambda build --release $arch ${FUNCTIONS[*]}"
cargo lambda build --release --locked "$arch" "${pkgs[@]}"
# The same binaries packed as Lambda receives them (no new compilation).
cargo lambda build --release --locked "$arch" --output-format zip "${pkgs[@]}"

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
printf '%-12s %14s %14s\n' function "bootstrap MiB" "zip MiB"
for f in "${FUNCTIONS[@]}"; do
    zip="target/lambda/$f/bootstrap.zip"
    bin="target/lambda/$f/bootstrap"
    [ -s "$zip" ] && [ -s "$bin" ] || die "no $bin or $zip after the build"
    printf '%-12s %14s %14s\n' "$f" "$(mib "$(stat -c %s "$bin")")" "$(mib "$(stat -c %s "$zip")")"
done
