"""What CloudFormation sees of `template.yaml`: the SAM transform, run
offline, and the dependency graph of the resources it produces.

`samtranslator` (it comes with aws-sam-cli) expands the `AWS::Serverless`
resources exactly as `sam deploy` has CloudFormation do it. The graph is
CloudFormation's: an edge for every `Ref`, `Fn::GetAtt`, `${...}` in
`Fn::Sub` and `DependsOn` that names another resource. CloudFormation
refuses a template whose graph has a cycle ("Circular dependency between
resources"), so `cycles` must be empty.
"""
from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
# Where the rehearsal's placeholder code object lives (moto's S3).
PLACEHOLDER_CODE = ("rehearsal-code", "bootstrap.zip")


def load(path: Path = TEMPLATE) -> dict:
    """The template as the translator reads it (short-form tags expanded)."""
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(path.read_text())


def transform(template: dict) -> dict:
    """The template after the `AWS::Serverless-2016-10-31` transform.

    Each function's `CodeUri` (a local folder `sam build` compiles) becomes
    the placeholder object `sam package` would have uploaded: the transform
    needs an S3 location, and nothing here runs the code.
    """
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from samtranslator.translator.transform import transform as sam_transform

    template = copy.deepcopy(template)
    bucket, key = PLACEHOLDER_CODE
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://{bucket}/{key}"

    class NoManagedPolicies:
        """Managed policies are named by ARN in our template: nothing to look up."""

        def load(self):
            return {}

    return sam_transform(template, {}, NoManagedPolicies())


def _references(value, out: set[str]) -> None:
    if isinstance(value, dict):
        if len(value) == 1:
            ((k, x),) = value.items()
            if k == "Ref" and isinstance(x, str):
                out.add(x)
                return
            if k == "Fn::GetAtt":
                out.add(x[0] if isinstance(x, list) else x.split(".")[0])
                return
            if k == "Fn::Sub":
                text = x[0] if isinstance(x, list) else x
                # ${Name} and ${Name.Attr}; ${!Literal} is not a reference.
                for m in re.finditer(r"\$\{([^!}][^}]*)\}", text):
                    out.add(m.group(1).split(".")[0].strip())
                if isinstance(x, list) and len(x) > 1:
                    _references(x[1], out)
                return
        for v in value.values():
            _references(v, out)
    elif isinstance(value, list):
        for v in value:
            _references(v, out)


def graph(template: dict) -> dict[str, list[str]]:
    """Resource -> the resources it depends on."""
    resources = template["Resources"]
    edges = {}
    for name, resource in resources.items():
        found: set[str] = set()
        for part in ("Properties", "Metadata", "UpdatePolicy", "CreationPolicy"):
            _references(resource.get(part, {}), found)
        depends = resource.get("DependsOn", [])
        found |= {depends} if isinstance(depends, str) else set(depends)
        edges[name] = sorted(x for x in found if x in resources)
    return edges


def cycles(template: dict) -> list[list[str]]:
    """Every set of resources that depend on each other (Tarjan's strongly
    connected components of more than one resource, or a self-reference),
    each as one path around the loop."""
    edges = graph(template)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        # Iterative, so a long chain cannot exhaust Python's recursion limit.
        work = [(v, iter(edges[v]))]
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    found.append(_loop(component, edges))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _loop(component: list[str], edges: dict[str, list[str]]) -> list[str]:
    """A path through `component` that returns to its start: A -> B -> A."""
    members = set(component)
    start = min(component)
    # Breadth-first from start back to start, inside the component.
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in edges[node]:
            if nxt == start:
                return paths[node] + [start]
            if nxt in members and nxt not in paths:
                paths[nxt] = paths[node] + [nxt]
                queue.append(nxt)
    return sorted(component)


def moto_client(service: str):
    """A boto3 client of moto (MOTO_ENDPOINT), with the test command's
    credentials and region."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=os.environ["MOTO_ENDPOINT"],
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )


def dump(template: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(template, indent=1, sort_keys=True, default=str))
