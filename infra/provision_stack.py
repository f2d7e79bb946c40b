"""Creates or updates a CloudFormation stack from the translated template.yaml
(see sam_translate.py) and prints its outputs as KEY=value settings.

    python infra/provision_stack.py TEMPLATE.json STACK_NAME [Key=Value ...]
    python infra/provision_stack.py --delete STACK_NAME
    python infra/provision_stack.py --outputs STACK_NAME

On LocalStack without Docker it is called with DeployFunctions=false: the
stack then holds the queues, the bucket and its notification, exactly as
they are in AWS. Idempotent: an unchanged template changes nothing; a stack
left in a failed state by an earlier run is deleted and created again.

The conditions are evaluated here and the resources they leave out are
dropped before the template is sent: LocalStack's engine creates a stack with
conditioned-out resources, but then refuses to update or delete it
("Unresolved resource dependencies"). What is deployed is the same.
"""

import json
import os
import sys
import time

import boto3
from botocore.exceptions import ClientError, WaiterError

# Stack outputs -> the settings the programs read (docs: design, Configuration).
SETTINGS = {
    "OcrQueueUrl": "OCR_QUEUE_URL",
    "OcrDeadLetterQueueUrl": "OCR_DLQ_URL",
    "OcrHighQueueUrl": "OCR_HIGH_QUEUE_URL",
    "OcrHighDeadLetterQueueUrl": "OCR_HIGH_DLQ_URL",
    "IngestQueueUrl": "INGEST_QUEUE_URL",
    "IngestDeadLetterQueueUrl": "INGEST_DLQ_URL",
    "WebhookQueueUrl": "WEBHOOK_QUEUE_URL",
    "WebhookDeadLetterQueueUrl": "WEBHOOK_DLQ_URL",
    "ReceiptsBucketName": "RECEIPTS_BUCKET",
    "UploadPrefix": "UPLOAD_PREFIX",
    "MaxReceiveCount": "MAX_RECEIVE_COUNT",
    "ApiUrl": "API_URL",
    "AgentFunctionUrl": "AGENT_URL",
}
RECREATE = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED", "DELETE_FAILED"}


def _value(expr, params):
    if isinstance(expr, str):
        return expr
    if isinstance(expr, dict) and list(expr) == ["Ref"]:
        return params[expr["Ref"]]
    if isinstance(expr, dict) and list(expr) == ["Fn::Join"]:
        sep, items = expr["Fn::Join"]
        items = _value(items, params)
        return sep.join(_value(i, params) for i in (items if isinstance(items, list) else [items]))
    raise ValueError(f"cannot evaluate {expr!r} in a condition")


def _holds(expr, params, conditions):
    (fn, args), = expr.items()
    if fn == "Condition":
        return _holds(conditions[args], params, conditions)
    if fn == "Fn::Equals":
        return _value(args[0], params) == _value(args[1], params)
    if fn == "Fn::Not":
        return not _holds(args[0], params, conditions)
    if fn == "Fn::And":
        return all(_holds(a, params, conditions) for a in args)
    if fn == "Fn::Or":
        return any(_holds(a, params, conditions) for a in args)
    raise ValueError(f"cannot evaluate {fn} in a condition")


def prune(template, given):
    """The template without the resources and outputs whose condition is false."""
    params = {}
    for name, p in template.get("Parameters", {}).items():
        v = given.get(name, p.get("Default"))
        if v is None:
            raise SystemExit(f"parameter {name} has no value and no default")
        params[name] = v.split(",") if p["Type"] == "CommaDelimitedList" else str(v)
    conditions = template.get("Conditions", {})
    holds = {c: _holds(e, params, conditions) for c, e in conditions.items()}
    for section in ("Resources", "Outputs"):
        entries = template.get(section, {})
        for name in [n for n, r in entries.items() if r.get("Condition") and not holds[r["Condition"]]]:
            del entries[name]
    return template


def session():
    return boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
    )


def client():
    return session().client("cloudformation", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))


def status(cf, name):
    try:
        return cf.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except ClientError as e:
        if "does not exist" in str(e):
            return None
        raise


def failure_reasons(cf, name):
    events = cf.describe_stack_events(StackName=name)["StackEvents"]
    return [
        f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
        for e in events
        if e["ResourceStatus"].endswith("FAILED") and e.get("ResourceStatusReason")
    ][:5]


def wait(cf, name, waiter):
    try:
        cf.get_waiter(waiter).wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 600})
    except WaiterError:
        raise SystemExit(f"stack {name} failed ({status(cf, name)}): " + "; ".join(failure_reasons(cf, name)))


def deploy(cf, name, body, params):
    parameters = [{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()]
    caps = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]
    current = status(cf, name)
    if current in RECREATE:
        cf.delete_stack(StackName=name)
        wait(cf, name, "stack_delete_complete")
        current = None
    if current is None:
        cf.create_stack(StackName=name, TemplateBody=body, Parameters=parameters, Capabilities=caps)
        wait(cf, name, "stack_create_complete")
        return
    try:
        cf.update_stack(StackName=name, TemplateBody=body, Parameters=parameters, Capabilities=caps)
    except ClientError as e:
        if "No updates are to be performed" in str(e):
            return
        raise
    wait(cf, name, "stack_update_complete")


def delete(cf, name):
    """Deletes the stack, emptying its bucket first (CloudFormation keeps a
    bucket that still holds objects)."""
    if status(cf, name) is None:
        return
    resources = cf.describe_stack_resources(StackName=name)["StackResources"]
    s3 = session().resource("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
    for r in resources:
        if r["ResourceType"] == "AWS::S3::Bucket" and r.get("PhysicalResourceId"):
            try:
                s3.Bucket(r["PhysicalResourceId"]).objects.all().delete()
            except ClientError as e:
                if "NoSuchBucket" not in str(e):
                    raise
    cf.delete_stack(StackName=name)
    wait(cf, name, "stack_delete_complete")


def print_outputs(cf, name):
    outputs = cf.describe_stacks(StackName=name)["Stacks"][0].get("Outputs", [])
    for o in outputs:
        key = SETTINGS.get(o["OutputKey"])
        if key:
            print(f"{key}={o['OutputValue']}")


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    if argv[1] == "--delete":
        delete(client(), argv[2])
        return
    if argv[1] == "--outputs":
        print_outputs(client(), argv[2])
        return
    template, name = argv[1], argv[2]
    params = dict(a.split("=", 1) for a in argv[3:])
    with open(template) as f:
        body = json.dumps(prune(json.load(f), params))
    cf = client()
    deploy(cf, name, body, params)
    print_outputs(cf, name)


if __name__ == "__main__":
    try:
        main(sys.argv)
    except ClientError as e:
        print(f"provisioning the stack failed: {e}", file=sys.stderr)
        sys.exit(1)
