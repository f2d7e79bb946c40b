#!/usr/bin/env bash
# Brings up everything the system needs locally, without Docker: Postgres,
# LocalStack, and on it the stack of template.yaml without its functions
# (queues, DLQs, bucket, notification) through CloudFormation, as in AWS.
# Writes the settings to .local/env (source it to talk to the local stack).
# Safe to re-run.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$REPO_ROOT/infra/postgres.sh"
"$REPO_ROOT/infra/localstack.sh"

STACK_NAME="${STACK_NAME:-receipts-local}"
log "provisioning stack $STACK_NAME from template.yaml on LocalStack (DeployFunctions=false)"
"$LOCALSTACK_VENV/bin/python" "$REPO_ROOT/infra/sam_translate.py" \
    "$REPO_ROOT/template.yaml" "$STATE_DIR/template.json" >/dev/null
stack_env="$("$LOCALSTACK_VENV/bin/python" "$REPO_ROOT/infra/provision_stack.py" \
    "$STATE_DIR/template.json" "$STACK_NAME" \
    DeployFunctions=false EnvironmentName=local MaxReceiveCount="${MAX_RECEIVE_COUNT:-5}")"

# A local JWT secret, made once and kept.
if [ ! -s "$STATE_DIR/jwt-secret" ]; then
    (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$STATE_DIR/jwt-secret")
fi

{
    echo "# Written by infra/up.sh; source it to talk to the local stack."
    echo "DATABASE_URL=$DATABASE_URL"
    echo "AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL"
    echo "AWS_REGION=$AWS_REGION"
    echo "AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID"
    echo "AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY"
    echo "STACK_NAME=$STACK_NAME"
    echo "$stack_env"
    echo "AUTH_MODE=jwt"
    echo "AUTH_JWT_SECRET=$(cat "$STATE_DIR/jwt-secret")"
    echo "API_BIND=${API_BIND:-127.0.0.1:3000}"
    echo "AUTO_OCR=${AUTO_OCR:-true}"
    echo "AGENT_URL=${AGENT_URL:-http://127.0.0.1:8002}"
    # Local mode: the agent fetches images from LocalStack on 127.0.0.1
    # (AWS_ENDPOINT_URL's host, trusted by default); off on AWS.
    echo "AGENT_FETCH_ALLOW_INTERNAL=true"
    # Local mode: webhook receivers on 127.0.0.1 over plain http (a
    # receiver you run next to the stack); off on AWS.
    echo "WEBHOOK_ALLOW_HTTP_LOOPBACK=true"
    echo "ADMIN_USERS=${ADMIN_USERS:-admin}"
    # Local mode: the page's development sign-in (any user name); off by
    # default and refused behind API Gateway's authorizer.
    echo "DEV_SIGN_IN=${DEV_SIGN_IN:-true}"
} >"$STATE_DIR/env"
chmod 600 "$STATE_DIR/env"
log "local stack is up; settings in $STATE_DIR/env"
