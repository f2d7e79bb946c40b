#!/usr/bin/env bash
# Deploys the whole stack, functions included, to LocalStack running in
# Docker (localstack/docker-compose.yml), with samlocal:
#   PROVISION_LOCAL_STACK=false docker compose -f localstack/docker-compose.yml up -d --build
#   ./localstack/deploy.sh
# Builds the Rust functions with cargo lambda (sam build), applies the
# migrations to the compose Postgres, deploys with the compose services as
# the database and the agent, and prints the API's URL. LocalStack's free
# edition has no ECR, so the agent is the compose container (AgentUrl), not
# the template's container-image function.
source "$(dirname "${BASH_SOURCE[0]}")/../infra/lib.sh"
cd "$REPO_ROOT"
ensure_tools_venv
curl -sf -m 3 "$AWS_ENDPOINT_URL/_localstack/health" | grep -q '"lambda"' \
    || die "no LocalStack with Lambda at $AWS_ENDPOINT_URL: start localstack/docker-compose.yml first"

STACK="${STACK_NAME:-receipt-ocr}"
AGENT_TOKEN="${AGENT_TOKEN:-local-agent-token-change-me-0123456789}"
[ -s "$STATE_DIR/jwt-secret" ] || (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$STATE_DIR/jwt-secret")

log "applying migrations to the compose Postgres"
DATABASE_URL=postgres://receipts:receipts@127.0.0.1:5432/receipts "$REPO_ROOT/infra/migrate.sh"

# Without the agent's image resources (no ECR in LocalStack's free edition;
# its engine also trips over references to conditioned-out resources).
python "$REPO_ROOT/infra/sam_translate.py" --no-docker-build template.yaml "$STATE_DIR/template.no-docker.json"
log "sam build"
samlocal build --template-file "$STATE_DIR/template.no-docker.json"
log "samlocal deploy (stack $STACK)"
samlocal deploy --stack-name "$STACK" --resolve-s3 --no-confirm-changeset \
    --no-fail-on-empty-changeset --capabilities CAPABILITY_IAM \
    --parameter-overrides \
    EnvironmentName=docker \
    DatabaseUrl=postgres://receipts:receipts@postgres:5432/receipts \
    AgentUrl=http://agent:8002 \
    AgentToken="$AGENT_TOKEN" \
    JwtSecret="$(cat "$STATE_DIR/jwt-secret")" \
    AdminUsers=admin

"$TOOLS_VENV/bin/python" "$REPO_ROOT/infra/provision_stack.py" --outputs "$STACK"
