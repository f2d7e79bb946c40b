#!/usr/bin/env python3
"""`sam local invoke` against the local stack, each effect checked in
Postgres (and S3/SQS), not by the exit code:

1. the API answers GET /health, and POST /receipts stores an upload (a
   `pending` row whose object is in the bucket);
2. ingest, given the S3 event of an object put under uploads/, registers
   the receipt and queues its OCR (a `queued` row, its message in the OCR
   queue);
3. the worker, given that message as an SQS event, reads the receipt with
   the OCR agent (a `completed` row with a total).

Run by ./infra/sam-local.sh check (in the tools venv: boto3 is SAM's);
its arguments are sam's flags. Needs the local stack's variables in the
environment and an OCR agent at AGENT_URL (started here if none answers).
"""

import base64
import functools
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parent.parent
EVENTS = REPO / "fixtures" / "lambda-events"
SAM_FLAGS = sys.argv[1:]
USER = "sam-local-" + uuid.uuid4().hex[:8]


def log(msg: str) -> None:
    print(f"\033[1;34m==>\033[0m {msg}", file=sys.stderr, flush=True)


def fail(msg: str) -> None:
    print(f"\033[1;31mFAILED:\033[0m {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def invoke(function: str, event: dict) -> dict:
    """`sam local invoke FUNCTION` with EVENT; the function's answer."""
    path = REPO / ".local" / "sam" / f"event-{function}.json"
    path.write_text(json.dumps(event))
    started = time.monotonic()
    run = subprocess.run(
        ["sam", "local", "invoke", function, "--event", str(path), *SAM_FLAGS],
        capture_output=True,
        text=True,
        timeout=600,
    )
    took = time.monotonic() - started
    (REPO / ".local" / "sam" / f"{function}.log").write_text(run.stderr)
    if run.returncode != 0:
        print(run.stderr[-4000:], file=sys.stderr)
        fail(f"sam local invoke {function} exited {run.returncode}")
    lines = [line for line in run.stdout.splitlines() if line.strip().startswith("{")]
    if not lines:
        print(run.stderr[-4000:], file=sys.stderr)
        fail(f"{function} gave no answer on stdout")
    log(f"sam local invoke {function}: {took:.1f} s")
    return json.loads(lines[-1])


def sql(query: str) -> str:
    out = subprocess.run(
        ["psql", os.environ["DATABASE_URL"], "-Atc", query],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def receipt_png() -> bytes:
    """A receipt the test kit draws (docs/examples/aldi.txt)."""
    out = REPO / ".local" / "sam" / "receipt.png"
    subprocess.run(
        ["cargo", "run", "-q", "--locked", "-p", "testkit", "--bin", "render-receipt", "--",
         str(REPO / "docs" / "examples" / "aldi.txt"), str(out)],
        check=True,
        cwd=REPO,
    )
    return out.read_bytes()


@functools.cache
def token() -> str:
    """A token for the test's user, minted once."""
    out = subprocess.run(
        ["cargo", "run", "-q", "--locked", "-p", "api", "--", "mint-token", USER, "3600"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return out.stdout.strip()


def api_event(fixture: str, method: str, path: str, headers: dict, body: bytes | None) -> dict:
    ev = json.loads((EVENTS / fixture).read_text())
    ev["httpMethod"] = method
    ev["path"] = path
    ev["resource"] = "/{proxy+}"
    ev["pathParameters"] = {"proxy": path.lstrip("/")}
    ev["queryStringParameters"] = None
    ev["multiValueQueryStringParameters"] = None
    ev["headers"] = headers
    ev["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    ev["requestContext"]["httpMethod"] = method
    ev["requestContext"]["path"] = path
    ev["requestContext"].pop("authorizer", None)
    ev["body"] = base64.b64encode(body).decode() if body is not None else None
    ev["isBase64Encoded"] = body is not None
    return ev


def check_api(png: bytes) -> None:
    ev = json.loads((EVENTS / "api-health.json").read_text())
    answer = invoke("ApiFunction", ev)
    body = json.loads(answer["body"])
    if answer["statusCode"] != 200 or body.get("status") != "ok":
        fail(f"GET /health answered {answer}")
    log("the API answers /health: 200 ok")

    boundary = "sam-local-" + uuid.uuid4().hex
    form = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"aldi.png\"\r\n"
        f"Content-Type: image/png\r\n\r\n"
    ).encode() + png + f"\r\n--{boundary}--\r\n".encode()
    headers = {
        "Authorization": f"Bearer {token()}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Host": "localhost",
    }
    answer = invoke("ApiFunction", api_event("api-upload-url.json", "POST", "/receipts", headers, form))
    body = json.loads(answer["body"])
    if answer["statusCode"] != 201:
        fail(f"POST /receipts answered {answer['statusCode']}: {body}")
    rid = int(body["id"])
    row = sql(f"SELECT user_id, ocr_status, bucket, object_key FROM receipts WHERE id = {rid}")
    user, status, bucket, key = row.split("|")
    if user != USER or status != "pending":
        fail(f"receipt {rid} is {row!r}, expected {USER}'s, pending")
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    if s3.head_object(Bucket=bucket, Key=key)["ContentLength"] != len(png):
        fail(f"the object of receipt {rid} is not the upload")
    log(f"the API stored an upload: receipt {rid}, pending, {len(png)} bytes in s3://{bucket}/{key}")


def check_ingest(png: bytes) -> int:
    bucket = os.environ["RECEIPTS_BUCKET"]
    key = f"uploads/{USER}/{uuid.uuid4().hex}.png"
    boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).put_object(
        Bucket=bucket, Key=key, Body=png, ContentType="image/png"
    )
    ev = json.loads((EVENTS / "sqs-ingest.json").read_text())
    rec = ev["Records"][0]
    s3_event = json.loads(rec["body"])
    obj = s3_event["Records"][0]["s3"]
    obj["bucket"]["name"] = bucket
    obj["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    obj["object"]["key"] = key
    obj["object"]["size"] = len(png)
    rec["body"] = json.dumps(s3_event)
    rec["messageId"] = str(uuid.uuid4())
    answer = invoke("IngestFunction", ev)
    if answer.get("batchItemFailures"):
        fail(f"ingest reported failures: {answer}")
    row = sql(f"SELECT id, ocr_status FROM receipts WHERE object_key = '{key}'")
    if not row:
        fail(f"ingest registered no receipt for {key}")
    rid, status = row.split("|")
    if status != "queued":
        fail(f"receipt {rid} of {key} is {status}, expected queued")
    log(f"ingest registered and queued receipt {rid} for s3://{bucket}/{key}")
    return int(rid)


def take_message(rid: int) -> dict:
    sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    url = os.environ["OCR_QUEUE_URL"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2,
            AttributeNames=["All"], VisibilityTimeout=120,
        )
        for m in got.get("Messages", []):
            if json.loads(m["Body"]).get("receipt_id") == rid:
                return m
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    fail(f"no OCR message for receipt {rid} in {url}")
    return {}


def ensure_agent() -> subprocess.Popen | None:
    url = os.environ["AGENT_URL"].rstrip("/") + "/health"
    try:
        urllib.request.urlopen(url, timeout=3)
        log(f"an OCR agent answers at {url}: it must fetch from this host's address "
            "(AGENT_FETCH_HOSTS), as the functions name LocalStack by it")
        return None
    except OSError:
        pass
    log("starting the OCR agent")
    subprocess.run(["cargo", "build", "-q", "--locked", "--release", "-p", "agent"], check=True, cwd=REPO)
    hostport = os.environ["AGENT_URL"].split("//", 1)[1].rstrip("/")
    # The worker's presigned links name LocalStack by this host's address
    # (what the functions are given), which the agent must fetch from.
    seen = json.loads((REPO / ".local" / "sam" / "env.json").read_text())["Parameters"]
    s3 = seen["AWS_ENDPOINT_URL"].split("//", 1)[1].rstrip("/")
    proc = subprocess.Popen(
        [str(REPO / "target" / "release" / "agent"), "serve"],
        env={**os.environ, "AGENT_BIND": hostport, "AGENT_FETCH_HOSTS": s3},
        stdout=open(REPO / ".local" / "sam" / "agent.log", "w"),
        stderr=subprocess.STDOUT,
    )
    for _ in range(120):
        try:
            urllib.request.urlopen(url, timeout=3)
            return proc
        except OSError:
            time.sleep(1)
    fail("the OCR agent did not start (see .local/sam/agent.log)")
    return proc


def check_worker(rid: int) -> None:
    agent = ensure_agent()
    try:
        m = take_message(rid)
        ev = json.loads((EVENTS / "sqs-ocr.json").read_text())
        rec = ev["Records"][0]
        rec.update(
            messageId=m["MessageId"],
            receiptHandle=m["ReceiptHandle"],
            body=m["Body"],
            md5OfBody=m["MD5OfBody"],
            attributes={k: m["Attributes"][k] for k in rec["attributes"] if k in m["Attributes"]},
        )
        answer = invoke("WorkerFunction", ev)
    finally:
        if agent:
            agent.terminate()
    if answer.get("batchItemFailures"):
        fail(f"the worker reported failures: {answer} (its log: .local/sam/WorkerFunction.log)")
    # What the event source mapping does with a message not reported failed.
    boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).delete_message(
        QueueUrl=os.environ["OCR_QUEUE_URL"], ReceiptHandle=m["ReceiptHandle"]
    )
    row = sql(
        f"SELECT r.ocr_status, m.total, m.merchant_name FROM receipts r "
        f"LEFT JOIN receipt_metadata m ON m.receipt_id = r.id WHERE r.id = {rid}"
    )
    status, total, merchant = row.split("|")
    if status != "completed" or not total:
        fail(f"receipt {rid} is {row!r} after the worker, expected completed with a total")
    log(f"the worker completed receipt {rid}: {merchant or '?'}, total {total}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_start_api(rid: int) -> None:
    """`sam local start-api` serves /health, and GET /receipts with a token
    lists the receipt the worker completed."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    logfile = open(REPO / ".local" / "sam" / "start-api.log", "w")
    server = subprocess.Popen(
        ["sam", "local", "start-api", "--port", str(port), *SAM_FLAGS],
        stdout=logfile,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=60) as r:
                    health = json.load(r)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    fail("sam local start-api did not serve /health (see .local/sam/start-api.log)")
                time.sleep(1)
        if health.get("status") != "ok":
            fail(f"GET /health answered {health}")
        req = urllib.request.Request(
            f"{base}/receipts?per_page=10", headers={"Authorization": f"Bearer {token()}"}
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            listed = json.load(r)
        mine = {item["id"]: item["status"] for item in listed["items"]}
        if mine.get(rid) != "completed":
            fail(f"GET /receipts lists {mine}, not receipt {rid} completed")
        log(f"sam local start-api on :{port}: /health ok, GET /receipts lists {len(mine)} receipts of {USER}")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    png = receipt_png()
    check_api(png)
    rid = check_ingest(png)
    check_worker(rid)
    check_start_api(rid)
    log("sam local: the API, ingest and the worker work against the local stack, and start-api serves the API")


if __name__ == "__main__":
    main()
