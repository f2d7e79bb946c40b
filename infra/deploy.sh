#!/usr/bin/env bash
# Deploys the pipeline to your AWS account with SAM, then applies the
# database migrations. Uses your own AWS credentials (profile or variables),
# never LocalStack's.
#   ./infra/deploy.sh --guided     the first time: asks for the parameters
#                                  (database, auth, agent) and saves them in
#                                  samconfig.toml
#   ./infra/deploy.sh [ARGS]       again, with the saved settings; ARGS go to
#                                  `sam deploy` (e.g. --parameter-overrides ...)
# Needs: Docker only when the template builds the agent image (AgentUrl
# empty; without Docker, give AgentUrl); DATABASE_URL set to the deployed database for the migrations (or
# SKIP_MIGRATIONS=1, and run ./infra/migrate.sh yourself later).
RECEIPTS_TARGET=aws
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
ensure_tools_venv
command -v cargo >/dev/null || die "cargo is not installed (a Rust toolchain is required)"

log "sam validate --lint"
sam validate --lint
if docker info >/dev/null 2>&1; then
    log "sam build (cargo lambda for the Rust functions, Docker for the agent image)"
    sam build
else
    # SAM builds every function whatever its condition, and an image needs
    # Docker: build from a copy of the template without the agent's image.
    log "no Docker: sam build without the agent image; deploy with AgentUrl set to an agent you run"
    python "$REPO_ROOT/infra/sam_translate.py" --no-docker-build template.yaml "$STATE_DIR/template.no-docker.json"
    sam build --template-file "$STATE_DIR/template.no-docker.json"
fi
log "sam deploy $*"
sam deploy "$@"

if [ "${SKIP_MIGRATIONS:-0}" != "1" ]; then
    "$REPO_ROOT/infra/migrate.sh"
fi
