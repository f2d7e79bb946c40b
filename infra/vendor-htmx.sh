#!/usr/bin/env bash
# Fetches htmx from the npm registry (the pinned version), checks it against
# the pinned sha256, and writes it to functions/api/assets/htmx.min.js, where
# the API builds it into its binary. No CDN: the page loads it from the API.
#   ./infra/vendor-htmx.sh          fetch and write (needs npm)
#   ./infra/vendor-htmx.sh --check  only check the committed file's sha256
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HTMX_VERSION=2.0.8
HTMX_SHA256=22283ef68cb7545914f0a88a1bdedc7256a703d1d580c1d255217d0a50d31313
TARGET="$REPO_ROOT/functions/api/assets/htmx.min.js"

check() {
    echo "$HTMX_SHA256  $1" | sha256sum --check --quiet - \
        || die "$1 is not htmx.org@$HTMX_VERSION's dist/htmx.min.js (sha256 differs)"
}

if [ "${1:-}" = "--check" ]; then
    check "$TARGET"
    log "htmx.min.js is htmx.org@$HTMX_VERSION"
    exit 0
fi

command -v npm >/dev/null || die "npm is needed to fetch htmx.org from the npm registry"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "htmx.org@$HTMX_VERSION" >/dev/null && tar xzf "htmx.org-$HTMX_VERSION.tgz")
check "$tmp/package/dist/htmx.min.js"
cp "$tmp/package/dist/htmx.min.js" "$TARGET"
log "wrote $TARGET (htmx.org@$HTMX_VERSION, 0BSD)"
