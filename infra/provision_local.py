"""Creates (or brings up to date) the local AWS resources on LocalStack:
the receipts bucket, the OCR queue and the ingest queue with their DLQs and
redrive policies, and the S3 -> ingest queue notification for uploads.

Idempotent: re-running it changes nothing that is already right. Prints the
resulting settings as KEY=value lines for an env file.
"""

import json
import os
import sys

import boto3
from botocore.exceptions import ClientError

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
REGION = os.environ.get("AWS_REGION", "us-east-1")
PREFIX = os.environ.get("STACK_PREFIX", "receipts")
BUCKET = os.environ.get("RECEIPTS_BUCKET", f"{PREFIX}-local")
UPLOAD_PREFIX = os.environ.get("UPLOAD_PREFIX", "uploads/")
MAX_RECEIVE_COUNT = int(os.environ.get("MAX_RECEIVE_COUNT", "5"))
# The worker's own timeout on Lambda is the agent timeout plus a margin; the
# queue's visibility timeout is at least six times that (AWS's advice).
AGENT_TIMEOUT = int(os.environ.get("AGENT_TIMEOUT_SECS", "300"))
OCR_VISIBILITY = int(os.environ.get("OCR_VISIBILITY_TIMEOUT", str(6 * (AGENT_TIMEOUT + 30))))
INGEST_VISIBILITY = int(os.environ.get("INGEST_VISIBILITY_TIMEOUT", "180"))
RETENTION = str(14 * 24 * 3600)

session = boto3.session.Session(
    aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
    aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
    region_name=REGION,
)
sqs = session.client("sqs", endpoint_url=ENDPOINT)
s3 = session.client("s3", endpoint_url=ENDPOINT)


def queue(name, attributes):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    # create_queue refuses changed attributes on an existing queue; set them apart.
    sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def queue_with_dlq(name, visibility):
    dlq_url, dlq_arn = queue(f"{name}-dlq", {"MessageRetentionPeriod": RETENTION})
    url, arn = queue(
        name,
        {
            "VisibilityTimeout": str(visibility),
            "MessageRetentionPeriod": RETENTION,
            "ReceiveMessageWaitTimeSeconds": "20",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        },
    )
    sqs.set_queue_attributes(
        QueueUrl=dlq_url,
        Attributes={"RedriveAllowPolicy": json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [arn]})},
    )
    return url, arn, dlq_url


def main():
    ocr_url, _, ocr_dlq_url = queue_with_dlq(f"{PREFIX}-ocr", OCR_VISIBILITY)
    ingest_url, ingest_arn, ingest_dlq_url = queue_with_dlq(f"{PREFIX}-ingest", INGEST_VISIBILITY)

    try:
        if REGION == "us-east-1":
            s3.create_bucket(Bucket=BUCKET)
        else:
            s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise

    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowReceiptsBucket",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": ingest_arn,
                "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{BUCKET}"}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=ingest_url, Attributes={"Policy": json.dumps(policy)})
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "receipt-uploads",
                    "QueueArn": ingest_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": UPLOAD_PREFIX}]}},
                }
            ]
        },
    )

    settings = {
        "RECEIPTS_BUCKET": BUCKET,
        "UPLOAD_PREFIX": UPLOAD_PREFIX,
        "OCR_QUEUE_URL": ocr_url,
        "OCR_DLQ_URL": ocr_dlq_url,
        "INGEST_QUEUE_URL": ingest_url,
        "INGEST_DLQ_URL": ingest_dlq_url,
        "MAX_RECEIVE_COUNT": str(MAX_RECEIVE_COUNT),
    }
    for k, v in settings.items():
        print(f"{k}={v}")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a clear one-line reason for the shell script
        print(f"provisioning LocalStack failed: {e}", file=sys.stderr)
        sys.exit(1)
