"""Translates template.yaml (AWS SAM) into the plain CloudFormation that AWS
deploys, and checks on the result what the design requires of the queues and
event sources -- things a lint of the SAM source cannot see.

    python infra/sam_translate.py [TEMPLATE] [OUT.json]
    python infra/sam_translate.py --no-docker-build TEMPLATE OUT.json

Runs in any venv with samtranslator and PyYAML: the tools venv (aws-sam-cli)
or LocalStack's (localstack-core depends on samtranslator). Local code
locations are replaced by placeholders, as `sam validate` does: the output is
for linting and for provisioning without functions, never for deploying code.
Exits non-zero, naming each problem, when a check fails.
"""

import json
import os
import sys

import yaml
from samtranslator.translator.transform import transform


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (!Ref, !Sub, !GetAtt, ...)."""


def _short_form(loader, tag_suffix, node):
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _short_form)


def yaml_parse(text):
    return yaml.load(text, Loader=CfnLoader)


class NoManagedPolicies:
    """The template names managed policies by ARN: nothing to look up."""

    def load(self):
        return {}


def with_placeholder_code(template):
    for name, res in template.get("Resources", {}).items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res.setdefault("Properties", {})
        if props.get("PackageType") == "Image":
            props["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/receipt-ocr:placeholder"
        else:
            props["CodeUri"] = f"s3://placeholder-bucket/{name}.zip"
    return template


def check(translated):
    """The design's rules for queues and event sources, on the translated template."""
    problems = []
    resources = translated["Resources"]
    mappings = [r for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    if not mappings:
        problems.append("no SQS event source mapping")
    for esm in mappings:
        props = esm["Properties"]
        fn = props["FunctionName"]["Ref"]
        queue = props["EventSourceArn"]["Fn::GetAtt"][0]
        fn_timeout = int(resources[fn]["Properties"].get("Timeout", 3))
        qprops = resources[queue]["Properties"]
        visibility = int(qprops.get("VisibilityTimeout", 30))
        where = f"{fn} <- {queue}"
        if visibility < 6 * fn_timeout:
            problems.append(f"{where}: visibility timeout {visibility}s is under 6x the function timeout {fn_timeout}s")
        if "ReportBatchItemFailures" not in props.get("FunctionResponseTypes", []):
            problems.append(f"{where}: no ReportBatchItemFailures")
        if "MaximumConcurrency" not in props.get("ScalingConfig", {}):
            problems.append(f"{where}: no ScalingConfig.MaximumConcurrency")
        redrive = qprops.get("RedrivePolicy")
        if not redrive:
            problems.append(f"{queue}: no RedrivePolicy (dead-letter queue)")
    # Priority: the worker reads both OCR queues, each through a mapping of
    # its own (so each has its own MaximumConcurrency).
    worker_queues = sorted(
        esm["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
        for esm in mappings
        if esm["Properties"]["FunctionName"]["Ref"] == "WorkerFunction"
    )
    if mappings and worker_queues != ["OcrHighQueue", "OcrQueue"]:
        problems.append(f"WorkerFunction reads {worker_queues}, not OcrHighQueue and OcrQueue each once")
    problems.extend(check_stream_route(resources))
    return problems


def check_stream_route(resources, needs_authorizer=True):
    """GET /receipts/events must stream: the REST API's integration has
    responseTransferMode STREAM and the response-streaming-invocations URI,
    and the route keeps the authorizer of the rest of the API."""
    apis = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    if not apis:
        return []
    problems = []
    for api in apis:
        paths = api["Properties"].get("Body", {}).get("paths", {})
        get = paths.get("/receipts/events", {}).get("get")
        if not get:
            problems.append("the REST API has no GET /receipts/events")
            continue
        integration = get.get("x-amazon-apigateway-integration", {})
        if integration.get("responseTransferMode") != "STREAM":
            problems.append("GET /receipts/events: responseTransferMode is not STREAM")
        if "response-streaming-invocations" not in json.dumps(integration.get("uri")):
            problems.append("GET /receipts/events: the integration URI is not response-streaming-invocations")
        if needs_authorizer and json.dumps(get.get("security")) != json.dumps(paths.get("/{proxy+}", {}).get("x-amazon-apigateway-any-method", {}).get("security")):
            problems.append("GET /receipts/events: its authorizer differs from the rest of the API's")
        if needs_authorizer:
            # The page's shell and assets, and the OpenAPI document: public, GET only.
            for public in ("/", "/ui/assets/{name}", "/openapi.json"):
                methods = paths.get(public)
                if not methods or set(methods) != {"get"}:
                    problems.append(f"the page's {public} is not a GET route of its own")
                elif "security" in methods["get"]:
                    problems.append(f"GET {public}: the page's shell must be public")
            allowed = {"/", "/ui/assets/{name}", "/openapi.json", "/health", "/receipts/events", "/{proxy+}"}
            for extra in sorted(set(paths) - allowed):
                problems.append(f"{extra}: a route outside the ones checked here")
    return problems


def check_pinned_sam_streams():
    """The pinned SAM translates an Api event's ResponseTransferMode:
    RESPONSE_STREAM into what template.yaml writes by hand for the event
    stream (see the comment there)."""
    tiny = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "s3://placeholder-bucket/fn.zip",
                    "Runtime": "provided.al2023",
                    "Handler": "bootstrap",
                    "Events": {
                        "Stream": {
                            "Type": "Api",
                            "Properties": {
                                "Path": "/receipts/events",
                                "Method": "get",
                                "ResponseTransferMode": "RESPONSE_STREAM",
                            },
                        }
                    },
                },
            }
        },
    }
    out = transform(tiny, {}, NoManagedPolicies())
    problems = check_stream_route(out["Resources"], needs_authorizer=False)
    return [f"the pinned SAM: {p}" for p in problems]


def resolve_for_checks(template, translated):
    """Replaces FindInMap and parameter Refs of numeric properties by their
    values, so that `check` can compare numbers."""

    def resolve(value):
        if isinstance(value, dict) and "Fn::FindInMap" in value:
            m, k1, k2 = value["Fn::FindInMap"]
            return translated["Mappings"][m][k1][k2]
        if isinstance(value, dict) and "Ref" in value and value["Ref"] in template.get("Parameters", {}):
            return template["Parameters"][value["Ref"]].get("Default")
        return value

    for res in translated["Resources"].values():
        props = res.get("Properties", {})
        for key in ("Timeout", "VisibilityTimeout"):
            if key in props:
                props[key] = resolve(props[key])
    return translated


def _assume_false(node, condition):
    """`node` with every Fn::If on `condition` replaced by its false branch."""
    if isinstance(node, dict):
        if list(node) == ["Fn::If"] and node["Fn::If"][0] == condition:
            return _assume_false(node["Fn::If"][2], condition)
        return {k: _assume_false(v, condition) for k, v in node.items()}
    if isinstance(node, list):
        return [_assume_false(v, condition) for v in node]
    return node


def without_image_builds(template, root):
    """The SAM template for `sam build` and `sam deploy` on a machine
    without Docker: SAM builds (and packages) every function whatever its
    condition, and an image needs Docker. So the resources of the condition
    that deploys the agent's image are taken out, that condition is taken as
    false (the worker then calls AgentUrl), a rule makes AgentUrl required,
    and code paths are made absolute since the copy lives elsewhere."""
    resources = template["Resources"]
    image_conditions = {
        r.get("Condition")
        for r in resources.values()
        if r.get("Properties", {}).get("PackageType") == "Image"
    }
    for condition in image_conditions - {None}:
        for section in ("Resources", "Outputs"):
            entries = template.get(section, {})
            for name in [n for n, r in entries.items() if r.get("Condition") == condition]:
                del entries[name]
        template = _assume_false(template, condition)
        template["Conditions"].pop(condition, None)
    template.setdefault("Rules", {})["NoDockerNeedsAnAgentUrl"] = {
        "Assertions": [
            {
                "Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AgentUrl"}, ""]}]},
                "AssertDescription": "Built without Docker, the stack has no agent of its own: give AgentUrl.",
            }
        ]
    }
    for res in template["Resources"].values():
        props = res.get("Properties", {})
        if res.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = os.path.normpath(os.path.join(root, props["CodeUri"]))
    return template


def main(argv):
    if len(argv) == 4 and argv[1] == "--no-docker-build":
        with open(argv[2]) as f:
            template = yaml_parse(f.read())
        root = os.path.dirname(os.path.abspath(argv[2]))
        with open(argv[3], "w") as f:
            json.dump(without_image_builds(template, root), f, indent=2)
        return 0
    # The translator fills in pseudo parameters from the boto session.
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))
    src = argv[1] if len(argv) > 1 else "template.yaml"
    out = argv[2] if len(argv) > 2 else None
    with open(src) as f:
        template = yaml_parse(f.read())
    translated = transform(with_placeholder_code(template), {}, NoManagedPolicies())
    if out:
        with open(out, "w") as f:
            json.dump(translated, f, indent=2, sort_keys=True)
    problems = check(resolve_for_checks(template, json.loads(json.dumps(translated))))
    problems.extend(check_pinned_sam_streams())
    for p in problems:
        print(f"template check failed: {p}", file=sys.stderr)
    if problems:
        return 1
    kinds = sorted({r["Type"] for r in translated["Resources"].values()})
    print(f"{src}: {len(translated['Resources'])} resources after the SAM transform ({', '.join(kinds)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
