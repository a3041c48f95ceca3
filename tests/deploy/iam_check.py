"""Every AWS call a function made in the suites is one its own role allows.

Usage: python tests/deploy/iam_check.py CALLS.jsonl [--require-binaries] [--template FILE]
Environment: MOTO_ENDPOINT (the moto the suites ran on, still up).

The suites run with `AWS_CALL_LOG` set: every SDK call of every function is
recorded (adapters_aws::call_log), in the local server (each
invocation labelled with its function) and in the function binaries
(`TEST_FUNCTIONS=binaries`, one process per function). For each recorded
call this check:

1. finds the function's role in the transformed template (its
   `BuildProperties.Binary` -> `Role`) and the stack the call was made
   against (the one whose table, bucket, queue or signing-key secret it
   names: every test runs on a stack made from the template, and the deploy
   rehearsal's stack is one more);
2. resolves the role's policies for that stack (its parameters and the
   names CloudFormation gave its resources), adds the managed policies the
   role attaches;
3. turns the call into the IAM requests AWS makes of it (tests/deploy/iam.py)
   and evaluates each one: action, resource ARN and conditions
   (`dynamodb:LeadingKeys`, `s3:prefix`).

A request the role would refuse fails the check. Every allowed action that
no call ever used is reported (least privilege), as is every function with
AWS permissions that no suite exercised. The check proves it can fail: it
runs again on a copy of the template whose authorizer may only `GetItem`
(the role as it was before issue 25), and that copy must be refused.

Calls made outside any function (the tests' own setup and assertions) are
counted and skipped. With --require-binaries, the record must also hold
calls made by the function binaries' own processes (the binary pass must
not have run without the recorder).
"""
from __future__ import annotations

import argparse
import collections
import copy
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cfn  # noqa: E402
import iam  # noqa: E402


class Stacks:
    """Every stack on moto: parameters, physical names, and which stack owns
    a given table, bucket, queue or secret."""

    def __init__(self, cf, sm):
        self.stacks: dict[str, dict] = {}
        self.owner: dict[tuple[str, str], str] = {}
        self.secret_arns: dict[str, str] = {}
        paginator = cf.get_paginator("describe_stacks")
        for page in paginator.paginate():
            for stack in page["Stacks"]:
                if stack["StackStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
                    continue
                name = stack["StackName"]
                params = {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])}
                physical = {}
                for page2 in cf.get_paginator("list_stack_resources").paginate(StackName=name):
                    for r in page2["StackResourceSummaries"]:
                        physical[r["LogicalResourceId"]] = r["PhysicalResourceId"]
                self.stacks[name] = {"parameters": params, "physical": physical}
                if "Table" in physical:
                    self.owner[("table", physical["Table"])] = name
                if "Bucket" in physical:
                    self.owner[("bucket", physical["Bucket"])] = name
                for q in ("EventsQueue", "EventsDeadLetterQueue"):
                    if q in physical:
                        self.owner[("queue", physical[q].rstrip("/").rsplit("/", 1)[-1])] = name
                secret = params.get("JwtPrivateKeySecret")
                if secret:
                    self.owner[("secret", secret)] = name
        for page in sm.get_paginator("list_secrets").paginate():
            for s in page["SecretList"]:
                self.secret_arns[s["Name"]] = s["ARN"]

    def of_call(self, call: dict) -> str | None:
        """The stack whose resource the call names."""
        body = call.get("body") or {}
        service = call["service"]
        keys = []
        if service == "DynamoDB":
            tables = set()
            if "TableName" in body:
                tables.add(body["TableName"])
            tables |= set(body.get("RequestItems", {}))
            for item in body.get("TransactItems", []):
                for part in item.values():
                    tables.add(part["TableName"])
            keys = [("table", t) for t in tables]
        elif service == "S3":
            path = call["uri"].split("://", 1)[-1].split("/", 1)[-1]
            keys = [("bucket", path.split("/", 1)[0].split("?", 1)[0])]
        elif service == "SQS":
            keys = [("queue", body["QueueUrl"].rstrip("/").rsplit("/", 1)[-1])]
        elif service == "Secrets Manager":
            secret = body["SecretId"]
            if secret.startswith("arn:"):
                # ...:secret:NAME-AbCdEf
                secret = secret.split(":secret:", 1)[1].rsplit("-", 1)[0]
            keys = [("secret", secret)]
        owners = {self.owner.get(k) for k in keys}
        if len(owners) == 1:
            return owners.pop()
        return None


def partition_layout(value: str) -> str:
    """The key layout of a partition key value (`USER#01ab…` -> `USER#`)."""
    return value.split("#", 1)[0] + "#" if "#" in value else value


def grant_shape(resource: str, stack: dict) -> str:
    """A resource ARN with its stack's names as logical ids and object keys
    cut to their prefix: `arn:aws:s3:::{Bucket}/avatars/*`, the same for
    every test's stack."""
    for logical in ("Table", "Bucket", "EventsQueue", "EventsDeadLetterQueue"):
        physical = stack["physical"].get(logical, "")
        name = physical.rstrip("/").rsplit("/", 1)[-1] if physical.startswith("http") else physical
        if name:
            resource = resource.replace(name, "{" + logical + "}")
    secret = stack["parameters"].get("JwtPrivateKeySecret")
    if secret and ":secret:" in resource:
        resource = resource.split(":secret:")[0] + ":secret:{JwtPrivateKeySecret}"
    if ":s3:::" in resource and "/" in resource:
        bucket, key = resource.split("/", 1)
        resource = f"{bucket}/{key.split('/', 1)[0]}/*"
    if ":ses:" in resource:
        resource = resource.split(":identity/")[0] + ":identity/{MailFrom}"
    return resource


def check(transformed: dict, calls: list[dict], stacks: Stacks, layouts=None, shapes=None):
    """(requests checked, denials, used grants, functions seen). With
    `layouts` (a dict), records each function's table partitions by layout;
    with `shapes` (a set), each (function, action, resource shape) checked."""
    roles = iam.function_roles(transformed)
    ctx = iam.CallContext(secret_arns=stacks.secret_arns)
    resolved: dict[tuple[str, str], list[dict]] = {}
    denials = []
    used: set[tuple[str, int, int, str]] = set()
    checked = 0
    seen = collections.Counter()
    any_stack = next(iter(stacks.stacks), None)
    for call in calls:
        function = call["function"]
        if function not in roles:
            denials.append((function, call["operation"], f"no function builds the binary {function!r}"))
            continue
        role = roles[function]
        stack = stacks.of_call(call)
        if stack is None and call["service"] == "SESv2":
            stack = any_stack  # its policy names no resource of a stack
        if stack is None:
            denials.append((function, call["operation"], f"made against no known stack: {call}"))
            continue
        key = (role, stack)
        if key not in resolved:
            s = stacks.stacks[stack]
            resolver = iam.Resolver(transformed, s["parameters"], s["physical"], ctx, stack)
            try:
                resolved[key] = iam.role_policies(transformed, role, resolver)
            except iam.Unsupported as e:
                denials.append((function, call["operation"], f"{role} cannot be resolved: {e}"))
                continue
        policies = resolved[key]
        seen[function] += 1
        try:
            wanted = iam.requests(call, ctx)
        except (iam.Unsupported, KeyError) as e:
            denials.append((function, call["operation"], f"cannot be checked: {e!r}"))
            continue
        for request in wanted:
            checked += 1
            if shapes is not None:
                shapes.add((function, request.action, grant_shape(request.resource, stacks.stacks[stack])))
            if layouts is not None and request.action.startswith("dynamodb:"):
                target = "index" if "/index/" in request.resource else "table"
                for pk in request.keys().get("dynamodb:LeadingKeys", []):
                    layouts.setdefault((function, target), set()).add(partition_layout(pk))
            allowed, by = iam.evaluate(policies, request)
            if not allowed:
                denials.append((function, call["operation"], request.describe()))
                continue
            inline = transformed["Resources"][role]["Properties"].get("Policies", [])
            for pi, policy in enumerate(policies[: len(inline)]):
                for si, statement in enumerate(iam.statements([policy])):
                    if any(statement is b for b in by):
                        for action in iam._as_list(statement["Action"]):
                            if iam._glob(action, request.action, case_sensitive=False):
                                used.add((role, pi, si, action))
    return checked, denials, used, seen


def unused_grants(transformed: dict, used: set) -> list[str]:
    out = []
    for binary, role in sorted(iam.function_roles(transformed).items()):
        policies = transformed["Resources"][role]["Properties"].get("Policies", [])
        for pi, policy in enumerate(policies):
            for si, statement in enumerate(iam.statements([policy["PolicyDocument"]])):
                if statement.get("Effect") != "Allow":
                    continue
                for action in iam._as_list(statement["Action"]):
                    if (role, pi, si, action) not in used:
                        resource = json.dumps(statement["Resource"], sort_keys=True)
                        out.append(f"{binary}: {action} on {resource}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("calls")
    parser.add_argument("--require-binaries", action="store_true")
    parser.add_argument("--template", type=Path, default=cfn.TEMPLATE,
                        help="check against another template (e.g. an older one: git show REV:template.yaml)")
    args = parser.parse_args()
    records = []
    for number, line in enumerate(Path(args.calls).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            print(f"iam: FAIL line {number} of {args.calls} is not a whole record ({e}): "
                  "something was still writing it when the check began")
            print("iam-recorded-calls: 0 passed, 1 failed")
            return 1
    attributed = [r for r in records if r.get("function")]
    skipped = len(records) - len(attributed)
    # One check per distinct call (retries and repeats ask the same).
    distinct = list({json.dumps(r, sort_keys=True): r for r in attributed}.values())
    stacks = Stacks(cfn.moto_client("cloudformation"), cfn.moto_client("secretsmanager"))
    transformed = cfn.transform(cfn.load(args.template))
    layouts: dict = {}
    shapes: set = set()
    checked, denials, used, seen = check(transformed, distinct, stacks, layouts, shapes)

    print(f"iam: {len(records)} recorded calls, {len(attributed)} made by functions "
          f"({len(distinct)} distinct), {skipped} by the tests themselves (skipped); "
          f"{len(stacks.stacks)} stacks on moto")
    by_process = collections.Counter(r.get("process") for r in attributed)
    print(f"iam: calls by process: {dict(by_process)}")
    for function, n in sorted(seen.items()):
        print(f"iam:   {function}: {n} distinct calls")
    never = sorted(set(iam.function_roles(transformed)) - set(seen))
    for binary in never:
        role = iam.function_roles(transformed)[binary]
        if transformed["Resources"][role]["Properties"].get("Policies"):
            print(f"iam: NOT EXERCISED: {binary} has AWS permissions but made no call in the suites")
    # What `dynamodb:LeadingKeys` conditions could name (shared::keys).
    for (function, target), found in sorted(layouts.items()):
        print(f"iam: partitions of the {target} {function} used: {' '.join(sorted(found))}")
    for grant in unused_grants(transformed, used):
        print(f"iam: allowed, never used: {grant}")
    failures = []
    for function, operation, why in sorted(set(denials)):
        print(f"iam: DENIED {function} {operation}: {why}")
    if denials:
        failures.append(f"{len(set(denials))} calls their role would refuse")
    if args.require_binaries and not by_process.get("lambda"):
        failures.append("no call was recorded from a function binary (built without `call-log`?)")

    # The check can fail: the authorizer's role as it was (GetItem only)
    # must refuse the authorizer's BatchGetItem.
    old = copy.deepcopy(transformed)
    for p in old["Resources"]["AuthorizerFunctionRole"]["Properties"]["Policies"]:
        for s in iam.statements([p["PolicyDocument"]]):
            if any(str(a).startswith("dynamodb:") for a in iam._as_list(s["Action"])):
                s["Action"] = ["dynamodb:GetItem"]
    authorizer_calls = [c for c in distinct if c["function"] == "authorizer"]
    _, old_denials, _, _ = check(old, authorizer_calls, stacks)
    if not authorizer_calls or not any("BatchGetItem" in d[1] for d in old_denials):
        failures.append("self-check: the authorizer with GetItem alone was not refused "
                        f"({len(authorizer_calls)} authorizer calls recorded)")
    else:
        print(f"iam: self-check: with GetItem alone the authorizer is refused "
              f"({len(set(old_denials))} calls)")

    for f in failures:
        print(f"iam: FAIL {f}")
    other = len(failures) - (1 if denials else 0)
    denied_shapes = {(f, op) for f, op, _ in denials}
    for function, action, resource in sorted(shapes):
        print(f"iam: checked {function}: {action} on {resource}")
    print(f"iam: {checked} IAM requests checked, {len(shapes)} distinct (function, action, resource)")
    # One line per distinct grant exercised, so the count means something.
    print(f"iam-recorded-calls: {len(shapes)} passed, {len(denied_shapes) + other} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
