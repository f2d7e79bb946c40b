#!/usr/bin/env bash
# Lints template.yaml as CI does: `sam validate --lint`, cfn-lint on the SAM
# source, then the SAM transform (infra/sam_translate.py, which also checks
# the design's rules: visibility timeout >= 6x the worker's timeout,
# ReportBatchItemFailures, a maximum concurrency, a DLQ) and cfn-lint on the
# translated template, where circular dependencies and mistakes across the
# generated resources show. No AWS account is needed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
ensure_tools_venv

log "sam validate --lint"
sam validate --lint --template template.yaml --region "$AWS_REGION"
log "cfn-lint template.yaml"
cfn-lint template.yaml
log "SAM transform and the design's checks"
python infra/sam_translate.py template.yaml "$STATE_DIR/template.aws.json"
log "cfn-lint on the translated template"
cfn-lint "$STATE_DIR/template.aws.json"
log "template checks passed"
