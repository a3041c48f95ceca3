"""IAM, as far as our functions' roles need it: what each recorded AWS call
asks IAM for, and whether a role's policies allow it.

- `requests(call)`: the IAM requests one recorded SDK call makes (action,
  resource ARN, condition keys), following each service's authorization
  reference: a `TransactWriteItems` is one `PutItem`/`UpdateItem`/
  `DeleteItem`/`ConditionCheckItem` request per item, `BatchGetItem` one per
  table with every partition key as `dynamodb:LeadingKeys`, a `Query` on an
  index is on the index's ARN, `ListObjectsV2` is `s3:ListBucket` on the
  bucket with `s3:prefix`, `HeadBucket` is `s3:ListBucket`, and so on.
- `Resolver`: the template's intrinsic functions (`Ref`, `Fn::GetAtt`,
  `Fn::Sub`, `Fn::If`, `Fn::Join`, conditions) evaluated for one stack: its
  parameters and the physical names CloudFormation gave its resources.
- `evaluate(policies, request)`: IAM's identity-policy logic: an explicit
  Deny wins, then any Allow whose Action, Resource and Condition all match;
  otherwise the implicit deny.

Anything outside what we support (NotAction, an unknown condition operator,
an operation we have no mapping for) raises `Unsupported` rather than
guessing: the check must never pass because it did not understand.
"""
from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlparse


class Unsupported(Exception):
    """Something this checker cannot evaluate faithfully."""


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    # Condition keys: name -> list of values (single-valued keys hold one).
    context: tuple = ()

    def keys(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.context}

    def describe(self) -> str:
        ctx = ", ".join(f"{k}={list(v)}" for k, v in self.context)
        return f"{self.action} on {self.resource}" + (f" [{ctx}]" if ctx else "")


def _request(action: str, resource: str, **context: list[str]) -> Request:
    return Request(
        action,
        resource,
        tuple(sorted((k.replace("__", ":"), tuple(v)) for k, v in context.items())),
    )


# ---------------------------------------------------------------- requests

TABLE_PK = "pk"
INDEX_PK = {"gsi1": "gsi1pk"}


def _value(attribute: dict) -> str:
    """A DynamoDB attribute value ({"S": "x"}) as the string IAM compares."""
    if not isinstance(attribute, dict) or len(attribute) != 1:
        raise Unsupported(f"attribute value {attribute!r}")
    ((kind, v),) = attribute.items()
    if kind not in ("S", "N", "B"):
        raise Unsupported(f"key attribute of type {kind}")
    return str(v)


def _partition_key(item: dict, attribute: str = TABLE_PK) -> str:
    if attribute not in item:
        raise Unsupported(f"no {attribute} in recorded key {item!r}")
    return _value(item[attribute])


def _query_partition(body: dict) -> str:
    """The partition key value of a Query's key condition (`#n = :v`)."""
    expression = body.get("KeyConditionExpression", "")
    names = body.get("ExpressionAttributeNames", {})
    values = body.get("ExpressionAttributeValues", {})
    wanted = INDEX_PK.get(body["IndexName"]) if "IndexName" in body else TABLE_PK
    if wanted is None:
        raise Unsupported(f"index {body['IndexName']}")
    for left, right in re.findall(r"([#\w]+)\s*=\s*(:\w+)", expression):
        if names.get(left, left) == wanted:
            return _value(values[right])
    raise Unsupported(f"no equality on {wanted} in {expression!r}")


def _table_arn(ctx: "CallContext", table: str) -> str:
    return f"arn:{ctx.partition}:dynamodb:{ctx.region}:{ctx.account}:table/{table}"


@dataclass
class CallContext:
    """The account a call was made in (moto's, in the tests)."""

    account: str = "123456789012"
    region: str = "us-east-1"
    partition: str = "aws"
    # secret name -> ARN, for calls that name a secret by its name.
    secret_arns: dict = field(default_factory=dict)


def _dynamodb(op: str, body: dict, ctx: CallContext) -> list[Request]:
    def item_request(action: str, table: str, pk: str, index: str | None = None) -> Request:
        resource = _table_arn(ctx, table) + (f"/index/{index}" if index else "")
        return _request(action, resource, dynamodb__LeadingKeys=[pk])

    if op in ("GetItem", "DeleteItem", "UpdateItem"):
        return [item_request(op, body["TableName"], _partition_key(body["Key"]))]
    if op == "PutItem":
        return [item_request(op, body["TableName"], _partition_key(body["Item"]))]
    if op == "Query":
        return [item_request("Query", body["TableName"], _query_partition(body), body.get("IndexName"))]
    if op == "Scan":
        resource = _table_arn(ctx, body["TableName"])
        if "IndexName" in body:
            resource += f"/index/{body['IndexName']}"
        return [_request("Scan", resource)]
    if op in ("BatchGetItem", "BatchWriteItem"):
        out = []
        for table, req in body["RequestItems"].items():
            if op == "BatchGetItem":
                keys = [_partition_key(k) for k in req["Keys"]]
            else:
                keys = []
                for w in req:
                    if "PutRequest" in w:
                        keys.append(_partition_key(w["PutRequest"]["Item"]))
                    else:
                        keys.append(_partition_key(w["DeleteRequest"]["Key"]))
            out.append(_request(op, _table_arn(ctx, table), dynamodb__LeadingKeys=sorted(set(keys))))
        return out
    if op == "TransactWriteItems":
        out = []
        for entry in body["TransactItems"]:
            ((kind, part),) = entry.items()
            action = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                      "ConditionCheck": "ConditionCheckItem"}[kind]
            key = part["Item"] if kind == "Put" else part["Key"]
            out.append(item_request(action, part["TableName"], _partition_key(key)))
        return out
    if op == "TransactGetItems":
        return [item_request("GetItem", e["Get"]["TableName"], _partition_key(e["Get"]["Key"]))
                for e in body["TransactItems"]]
    if op in ("DescribeTable", "DescribeTimeToLive"):
        return [_request(op, _table_arn(ctx, body["TableName"]))]
    raise Unsupported(f"DynamoDB {op}")


def _s3(op: str, call: dict, ctx: CallContext) -> list[Request]:
    url = urlparse(call["uri"])
    # Path-style (moto, AWS_ENDPOINT_URL): /bucket/key; else bucket.host/key.
    path = unquote(url.path)
    if url.hostname and url.hostname.count(".") >= 3 and ".s3." in url.hostname:
        bucket, key = url.hostname.split(".s3.")[0], path.lstrip("/")
    else:
        bucket, _, key = path.lstrip("/").partition("/")
    query = parse_qs(url.query)
    bucket_arn = f"arn:{ctx.partition}:s3:::{bucket}"
    if op in ("GetObject", "HeadObject"):
        return [_request("s3:GetObject", f"{bucket_arn}/{key}")]
    if op == "PutObject":
        return [_request("s3:PutObject", f"{bucket_arn}/{key}")]
    if op == "DeleteObject":
        return [_request("s3:DeleteObject", f"{bucket_arn}/{key}")]
    if op in ("ListObjectsV2", "ListObjects"):
        prefix = query.get("prefix", [""])
        return [_request("s3:ListBucket", bucket_arn, s3__prefix=prefix)]
    if op == "HeadBucket":
        return [_request("s3:ListBucket", bucket_arn)]
    raise Unsupported(f"S3 {op}")


SQS_ACTIONS = {
    "SendMessage": "SendMessage",
    "SendMessageBatch": "SendMessage",
    "ReceiveMessage": "ReceiveMessage",
    "DeleteMessage": "DeleteMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibility": "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
    "GetQueueAttributes": "GetQueueAttributes",
    "PurgeQueue": "PurgeQueue",
}


def queue_arn(url: str, ctx: CallContext) -> str:
    name = urlparse(url).path.rstrip("/").rsplit("/", 1)[-1]
    account = urlparse(url).path.strip("/").split("/")[0]
    return f"arn:{ctx.partition}:sqs:{ctx.region}:{account or ctx.account}:{name}"


def requests(call: dict, ctx: CallContext | None = None) -> list[Request]:
    """The IAM requests one recorded call makes."""
    ctx = ctx or CallContext()
    service, op, body = call["service"], call["operation"], call.get("body") or {}
    if service == "DynamoDB":
        return [Request(f"dynamodb:{r.action}", r.resource, r.context) for r in _dynamodb(op, body, ctx)]
    if service == "S3":
        return _s3(op, call, ctx)
    if service == "SQS":
        if op not in SQS_ACTIONS:
            raise Unsupported(f"SQS {op}")
        return [_request(f"sqs:{SQS_ACTIONS[op]}", queue_arn(body["QueueUrl"], ctx))]
    if service == "SESv2":
        if op != "SendEmail":
            raise Unsupported(f"SESv2 {op}")
        sender = body.get("FromEmailAddress", "")
        address = sender.rsplit("<", 1)[-1].rstrip(">").strip()
        return [_request("ses:SendEmail",
                         f"arn:{ctx.partition}:ses:{ctx.region}:{ctx.account}:identity/{address}")]
    if service == "Secrets Manager":
        if op != "GetSecretValue":
            raise Unsupported(f"Secrets Manager {op}")
        secret = body["SecretId"]
        if not secret.startswith("arn:"):
            if secret not in ctx.secret_arns:
                raise Unsupported(f"secret {secret!r} has no known ARN")
            secret = ctx.secret_arns[secret]
        return [_request("secretsmanager:GetSecretValue", secret)]
    raise Unsupported(f"service {service}")


# ---------------------------------------------------------------- policies

def _as_list(v) -> list:
    return v if isinstance(v, list) else [v]


@functools.lru_cache(maxsize=None)
def _compiled(pattern: str, case_sensitive: bool) -> re.Pattern:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, 0 if case_sensitive else re.IGNORECASE)


def _glob(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    """IAM's wildcards: `*` any run of characters, `?` one character."""
    return _compiled(pattern, case_sensitive).fullmatch(value) is not None


def _string_test(operator: str):
    if operator == "StringLike":
        return lambda pattern, value: _glob(pattern, value)
    if operator == "StringEquals":
        return lambda pattern, value: pattern == value
    if operator == "StringEqualsIgnoreCase":
        return lambda pattern, value: pattern.lower() == value.lower()
    raise Unsupported(f"condition operator {operator}")


def _condition_holds(condition: dict, keys: dict[str, list[str]]) -> bool:
    for full_operator, tests in condition.items():
        qualifier, _, operator = full_operator.rpartition(":")
        if operator.endswith("IfExists"):
            raise Unsupported(f"condition operator {full_operator}")
        for key, patterns in tests.items():
            patterns = [str(p) for p in _as_list(patterns)]
            present = keys.get(key)
            if operator == "Bool":
                if present is None:
                    return False
                if not all(str(v).lower() in [p.lower() for p in patterns] for v in present):
                    return False
                continue
            test = _string_test(operator)
            if qualifier == "ForAllValues":
                # Vacuously true when the request has no such key.
                if not all(any(test(p, v) for p in patterns) for v in (present or [])):
                    return False
            elif qualifier == "ForAnyValue":
                if not any(test(p, v) for p in patterns for v in (present or [])):
                    return False
            elif qualifier == "":
                if present is None or len(present) != 1:
                    # A single-valued operator on a missing or multi-valued key.
                    return False
                if not any(test(p, present[0]) for p in patterns):
                    return False
            else:
                raise Unsupported(f"condition qualifier {qualifier}")
    return True


def _statement_matches(statement: dict, request: Request) -> bool:
    for unsupported in ("NotAction", "NotResource", "NotPrincipal"):
        if unsupported in statement:
            raise Unsupported(f"{unsupported} in {statement}")
    if not any(_glob(a, request.action, case_sensitive=False) for a in _as_list(statement["Action"])):
        return False
    if not any(_glob(r, request.resource) for r in _as_list(statement["Resource"])):
        return False
    return _condition_holds(statement.get("Condition", {}), request.keys())


def statements(policies: list[dict]) -> list[dict]:
    out = []
    for policy in policies:
        out.extend(_as_list(policy.get("Statement", [])))
    return out


def evaluate(policies: list[dict], request: Request) -> tuple[bool, list[dict]]:
    """(allowed, the statements that allowed it)."""
    all_statements = statements(policies)
    for s in all_statements:
        if s.get("Effect") == "Deny" and _statement_matches(s, request):
            return False, []
    allowing = [s for s in all_statements if s.get("Effect") == "Allow" and _statement_matches(s, request)]
    return bool(allowing), allowing


# ---------------------------------------------------------------- the template

class Resolver:
    """The template's intrinsic functions, evaluated for one stack."""

    def __init__(self, template: dict, parameters: dict[str, str], physical: dict[str, str],
                 ctx: CallContext, stack_name: str = "stack"):
        self.template = template
        self.ctx = ctx
        self.physical = physical
        self.values = {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}
        self.values.update(parameters)
        self.values.update({
            "AWS::AccountId": ctx.account,
            "AWS::Region": ctx.region,
            "AWS::Partition": ctx.partition,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack_name,
        })

    def _ref(self, name: str):
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.values:
            return self.values[name]
        if name in self.physical:
            return self.physical[name]
        raise Unsupported(f"Ref {name} (no such parameter or created resource)")

    def _get_att(self, name: str, attribute: str) -> str:
        resource = self.template["Resources"].get(name)
        if resource is None or name not in self.physical:
            raise Unsupported(f"GetAtt {name}.{attribute}: not created in this stack")
        kind, physical, c = resource["Type"], self.physical[name], self.ctx
        if attribute == "Arn":
            if kind == "AWS::DynamoDB::Table":
                return f"arn:{c.partition}:dynamodb:{c.region}:{c.account}:table/{physical}"
            if kind == "AWS::S3::Bucket":
                return f"arn:{c.partition}:s3:::{physical}"
            if kind == "AWS::SQS::Queue":
                return queue_arn(physical, c)
            if kind == "AWS::Lambda::Function":
                return f"arn:{c.partition}:lambda:{c.region}:{c.account}:function:{physical}"
        raise Unsupported(f"GetAtt {name}.{attribute} of {kind}")

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, value):
        if isinstance(value, list):
            return [x for x in (self.resolve(v) for v in value) if x is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((k, x),) = value.items()
            if k == "Ref":
                return self._ref(x)
            if k == "Fn::GetAtt":
                name, attribute = x if isinstance(x, list) else x.split(".", 1)
                return self._get_att(name, attribute)
            if k == "Fn::Sub":
                text, extra = (x[0], self.resolve(x[1])) if isinstance(x, list) else (x, {})

                def one(m):
                    inner = m.group(1)
                    if inner.startswith("!"):
                        return "${" + inner[1:] + "}"
                    if inner in extra:
                        return str(extra[inner])
                    if "." in inner and inner.split(".")[0] in self.template["Resources"]:
                        return self._get_att(*inner.split(".", 1))
                    return str(self._ref(inner))

                return re.sub(r"\$\{([^}]*)\}", one, text)
            if k == "Fn::Join":
                sep, parts = x
                return sep.join(str(p) for p in self.resolve(parts))
            if k == "Fn::If":
                name, yes, no = x
                return self.resolve(yes if self.condition(name) else no)
            if k == "Fn::Equals":
                a, b = self.resolve(x)
                return str(a) == str(b)
            if k == "Fn::Not":
                return not self.resolve(x[0])
            if k == "Fn::And":
                return all(self.resolve(v) for v in x)
            if k == "Fn::Or":
                return any(self.resolve(v) for v in x)
            if k == "Condition":
                return self.condition(x)
            if k.startswith("Fn::"):
                raise Unsupported(k)
        return {k: self.resolve(v) for k, v in value.items()}


class _NoValue:
    def __repr__(self):
        return "AWS::NoValue"


_NO_VALUE = _NoValue()


@functools.lru_cache(maxsize=None)
def _managed_policies() -> dict:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return json.loads(aws_managed_policies_data)


def managed_policy(arn: str) -> dict:
    """An AWS managed policy's document (moto carries AWS's own copies)."""
    name = arn.rsplit("/", 1)[-1]
    if name not in _managed_policies():
        raise Unsupported(f"managed policy {arn}")
    return copy.deepcopy(_managed_policies()[name]["Document"])


def function_roles(transformed: dict) -> dict[str, str]:
    """Binary name -> logical id of its function's role."""
    out = {}
    for name, resource in transformed["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        role = resource["Properties"]["Role"]
        if not (isinstance(role, dict) and "Fn::GetAtt" in role):
            raise Unsupported(f"{name}: a role not made by the template")
        out[binary] = role["Fn::GetAtt"][0]
    return out


def role_policies(transformed: dict, role: str, resolver: Resolver) -> list[dict]:
    """The role's inline policies (resolved for one stack) and managed ones."""
    properties = transformed["Resources"][role]["Properties"]
    documents = [resolver.resolve(p["PolicyDocument"]) for p in properties.get("Policies", [])]
    for arn in properties.get("ManagedPolicyArns", []):
        documents.append(managed_policy(resolver.resolve(arn)))
    return documents
