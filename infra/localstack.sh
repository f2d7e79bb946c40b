#!/usr/bin/env bash
# Makes LocalStack answer at AWS_ENDPOINT_URL: runs it on this host, without
# Docker, from PyPI in its own venv (the pins of docs: design, "Running it
# without AWS"). Does nothing when it already answers.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LOCALSTACK_VERSION="4.13.1"
HEALTH_URL="${AWS_ENDPOINT_URL%/}/_localstack/health"

ls_answers() { curl -sf -m 3 "$HEALTH_URL" >/dev/null 2>&1; }

command -v curl >/dev/null || apt_install curl ca-certificates
if ls_answers; then
    log "LocalStack answers at $AWS_ENDPOINT_URL"
    exit 0
fi

ensure_venv() {
    if [ -x "$LOCALSTACK_VENV/bin/python" ] \
        && "$LOCALSTACK_VENV/bin/python" -c "import importlib.metadata as m, boto3; assert m.version('localstack-core') == '$LOCALSTACK_VERSION'" 2>/dev/null; then
        return 0
    fi
    log "LocalStack venv: localstack-core $LOCALSTACK_VERSION"
    new_venv "$LOCALSTACK_VENV"
    "$LOCALSTACK_VENV/bin/pip" install -q \
        "localstack-core[runtime]==$LOCALSTACK_VERSION" 'cbor2<6' 'pyopenssl<26' 'cryptography<47' service_identity boto3
}
ensure_venv

hostport="${AWS_ENDPOINT_URL#*://}"
hostport="${hostport%%/*}"
log "starting LocalStack on $hostport (log: $STATE_DIR/localstack.log)"
mkdir -p "$STATE_DIR/localstack-data"
(
    cd "$STATE_DIR"
    GATEWAY_LISTEN="$hostport" \
    LOCALSTACK_HOST="$hostport" \
    SQS_ENDPOINT_STRATEGY=path \
    SERVICES=sqs,s3,cloudformation,sts,iam \
    DNS_ADDRESS=0 \
    SKIP_SSL_CERT_DOWNLOAD=1 \
    DISABLE_EVENTS=1 \
    LOCALSTACK_TELEMETRY_DISABLED=1 \
    FILESYSTEM_ROOT="$STATE_DIR/localstack-data" \
    nohup "$LOCALSTACK_VENV/bin/python" -m localstack.runtime.main >"$STATE_DIR/localstack.log" 2>&1 &
    echo $! >"$STATE_DIR/localstack.pid"
)
for _ in $(seq 1 120); do
    ls_answers && { log "LocalStack ready at $AWS_ENDPOINT_URL"; exit 0; }
    if ! kill -0 "$(cat "$STATE_DIR/localstack.pid")" 2>/dev/null; then
        tail -n 30 "$STATE_DIR/localstack.log" >&2
        die "LocalStack exited during start-up"
    fi
    sleep 1
done
tail -n 30 "$STATE_DIR/localstack.log" >&2
die "LocalStack did not answer at $HEALTH_URL within 120 s"
