#!/usr/bin/env python3
"""template.yaml as `sam build` would leave it, for `sam local` on this
machine: each function's CodeUri is its cargo-lambda build
(target/lambda/<binary>/), the architecture is this machine's, and the
variables `sam local` must be able to set (`--env-vars` only sets those a
function declares) are declared.

Usage: sam_local_template.py TEMPLATE OUT [x86_64|arm64]
Runs in the tools venv (it reads the template with SAM CLI's own parser).
"""

import sys
from pathlib import Path

from samcli.yamlhelper import yaml_dump, yaml_parse

# Declared on every function, so that --env-vars can point them at the local
# stack: LocalStack, the agent, and the page's and the API's local settings.
LOCAL_VARIABLES = [
    "AWS_ENDPOINT_URL",
    "AGENT_URL",
    "AGENT_TOKEN",
    "AGENT_FETCH_ALLOW_INTERNAL",
    "AUTH_MODE",
    "AUTH_JWT_SECRET",
    "WEBHOOK_ALLOW_HTTP_LOOPBACK",
]


# Conditions as they stand locally (no Cognito): `sam local start-api`
# does not resolve an Fn::If inside an API's OpenAPI body.
LOCAL_CONDITIONS = {"WithCognito": False}


def resolve_ifs(node):
    """The node with each Fn::If on a local condition replaced by its
    branch; a branch that is AWS::NoValue removes the key."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            value = resolve_ifs(value)
            if value is not NO_VALUE:
                out[key] = value
        if list(out) == ["Fn::If"] and out["Fn::If"][0] in LOCAL_CONDITIONS:
            cond, yes, no = out["Fn::If"]
            branch = yes if LOCAL_CONDITIONS[cond] else no
            return NO_VALUE if branch == {"Ref": "AWS::NoValue"} else branch
        return out
    if isinstance(node, list):
        return [v for v in (resolve_ifs(v) for v in node) if v is not NO_VALUE]
    return node


NO_VALUE = object()


def main() -> None:
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    arch = sys.argv[3] if len(sys.argv) > 3 else "x86_64"
    repo = src.resolve().parent
    doc = yaml_parse(src.read_text())

    glob = doc.setdefault("Globals", {}).setdefault("Function", {})
    glob["Architectures"] = [arch]
    variables = glob.setdefault("Environment", {}).setdefault("Variables", {})
    for name in LOCAL_VARIABLES:
        variables.setdefault(name, "")

    for res in doc["Resources"].values():
        if res.get("Type") == "AWS::Serverless::Api" and "DefinitionBody" in res.get("Properties", {}):
            res["Properties"]["DefinitionBody"] = resolve_ifs(res["Properties"]["DefinitionBody"])

    built = []
    for name, res in doc["Resources"].items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        binary = res.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        if not binary:
            continue
        # What `sam build` does: the code is the build's output, and the
        # build metadata is gone. The functions' condition (DeployFunctions)
        # is for deploying; locally every function can be invoked.
        res.pop("Metadata", None)
        res.pop("Condition", None)
        res["Properties"]["CodeUri"] = str(repo / "target" / "lambda" / binary)
        built.append(name)

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml_dump(doc))
    print(" ".join(built))


if __name__ == "__main__":
    main()
