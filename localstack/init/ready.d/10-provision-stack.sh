#!/bin/bash
# LocalStack init hook (ready stage), run inside the LocalStack container:
# provisions the queues, DLQs, bucket and notification of template.yaml as
# stack `receipts-local`, with the same two scripts infra/up.sh runs on the
# host (their Python needs only boto3, PyYAML and samtranslator, which
# LocalStack's own venv has). Off with PROVISION_LOCAL_STACK=false, when
# ./localstack/deploy.sh deploys the full stack instead.
set -euo pipefail
if [ "${PROVISION_LOCAL_STACK:-true}" != "true" ]; then
    echo "receipt-ocr: PROVISION_LOCAL_STACK=false, not provisioning receipts-local"
    exit 0
fi
PY=/opt/code/localstack/.venv/bin/python
export AWS_ENDPOINT_URL=http://localhost:4566 AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
"$PY" /project/infra/sam_translate.py /project/template.yaml /tmp/receipts-template.json
"$PY" /project/infra/provision_stack.py /tmp/receipts-template.json receipts-local \
    DeployFunctions=false EnvironmentName=local | tee /tmp/receipts-local.env
echo "receipt-ocr: stack receipts-local is ready"
