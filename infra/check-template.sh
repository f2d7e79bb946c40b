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
# The checks must be able to fail: a copy whose OCR queue hides a message
# for less than six worker timeouts, and whose worker drops
# ReportBatchItemFailures, must be refused.
sed -e 's/QueueVisibilitySecs: 1980/QueueVisibilitySecs: 600/' \
    -e 's/FunctionResponseTypes: \[ReportBatchItemFailures\]/FunctionResponseTypes: []/' \
    -e 's/responseTransferMode: STREAM/responseTransferMode: BUFFERED/' \
    template.yaml >"$STATE_DIR/template.broken.yaml"
cmp -s template.yaml "$STATE_DIR/template.broken.yaml" && die "the negative control did not change the template"
if python infra/sam_translate.py "$STATE_DIR/template.broken.yaml" 2>"$STATE_DIR/template.broken.err"; then
    die "sam_translate.py accepted a template that breaks the design's rules"
fi
grep -q "under 6x the function timeout" "$STATE_DIR/template.broken.err" \
    && grep -q "no ReportBatchItemFailures" "$STATE_DIR/template.broken.err" \
    && grep -q "responseTransferMode is not STREAM" "$STATE_DIR/template.broken.err" \
    || die "sam_translate.py refused the broken copy for the wrong reasons: $(cat "$STATE_DIR/template.broken.err")"
log "cfn-lint on the translated template"
cfn-lint "$STATE_DIR/template.aws.json"
log "template checks passed"
