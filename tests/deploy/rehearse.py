"""A deploy rehearsal: `template.yaml`, transformed as `sam deploy` has it
transformed, created as a stack by moto's CloudFormation.

Usage: python tests/deploy/rehearse.py LOCAL_BIN OUT_ENV
Environment: MOTO_ENDPOINT, and AWS credentials for moto.

What it does, in the order a new user's deployment does it:
1. the signing key into Secrets Manager and its public JWKS into SSM
   (README, "Deploying to AWS"), with LOCAL_BIN's `gen-key`/`public-jwks`;
2. a placeholder code object for every function (moto runs no functions);
3. `CreateStack` with the transformed template, as CloudFormation gets it;
4. what moto did not create: every resource the template creates (its
   condition true) that the stack lacks is listed, loudly (moto has no
   `AWS::ApiGatewayV2` and no `AWS::S3::BucketPolicy`);
5. the data resources as created against the template: key schema, index,
   TTL, billing, encryption, queue redrive and timeouts, bucket rules and
   the S3 notification of media-process. A mismatch fails; a property moto
   did not apply is listed, loudly, as not proven here;
6. every function's configuration as created: no key material in it, the
   signing functions told the secret's name and the others not;
7. OUT_ENV: the resources' names from the stack's outputs and the signing
   secret, as `export` lines for the local server that then serves the
   smoke test on them (tests/run-all.sh).
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cfn  # noqa: E402
import iam  # noqa: E402

STACK = "user-platform-rehearsal"
SECRET = "user-platform/rehearsal/jwt-private-key"
JWKS_PARAMETER = "/user-platform/rehearsal/jwt-public-jwks"
PASSED: list[str] = []
FAILED: list[str] = []
NOT_PROVEN: list[str] = []


def ok(what: str) -> None:
    PASSED.append(what)
    print(f"rehearsal: ok   {what}")


def fail(what: str) -> None:
    FAILED.append(what)
    print(f"rehearsal: FAIL {what}")


def not_proven(what: str) -> None:
    NOT_PROVEN.append(what)
    print(f"rehearsal: NOT PROVEN ON MOTO: {what}")


def same(what: str, live, declared) -> None:
    if live == declared:
        ok(f"{what}: {json.dumps(declared, sort_keys=True)}")
    else:
        fail(f"{what}: declared {json.dumps(declared, sort_keys=True)}, created {json.dumps(live, sort_keys=True)}")


def clients():
    return {name: cfn.moto_client(name)
            for name in ("cloudformation", "s3", "ssm", "secretsmanager", "dynamodb", "sqs", "lambda")}


def check_table(c, declared: dict, name: str) -> None:
    table = c["dynamodb"].describe_table(TableName=name)["Table"]
    same("Table key schema", table["KeySchema"], declared["KeySchema"])
    same("Table attributes",
         sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
         sorted(declared["AttributeDefinitions"], key=lambda a: a["AttributeName"]))
    same("Table billing", table.get("BillingModeSummary", {}).get("BillingMode"), declared["BillingMode"])
    live_indexes = {g["IndexName"]: (g["KeySchema"], g["Projection"]["ProjectionType"])
                    for g in table.get("GlobalSecondaryIndexes", [])}
    declared_indexes = {g["IndexName"]: (g["KeySchema"], g["Projection"]["ProjectionType"])
                        for g in declared.get("GlobalSecondaryIndexes", [])}
    same("Table indexes", live_indexes, declared_indexes)
    ttl = c["dynamodb"].describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    want = declared["TimeToLiveSpecification"]
    if ttl.get("TimeToLiveStatus") == "ENABLED":
        same("Table TTL attribute", ttl.get("AttributeName"), want["AttributeName"])
    else:
        not_proven(f"Table TimeToLiveSpecification ({want['AttributeName']}): moto's CloudFormation "
                   "leaves TTL disabled (local/tests/template.rs checks the attribute against the code)")
    if declared.get("SSESpecification", {}).get("SSEEnabled"):
        sse = table.get("SSEDescription", {}).get("Status")
        if sse in ("ENABLED", "ENABLING"):
            ok("Table encryption at rest")
        else:
            not_proven("Table SSESpecification: moto reports no SSE description")
    backups = c["dynamodb"].describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    pitr = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
    if pitr == "ENABLED":
        ok("Table point-in-time recovery")
    else:
        not_proven("Table PointInTimeRecoverySpecification: moto's CloudFormation does not apply it")


def check_queues(c, resolver: iam.Resolver, template: dict, physical: dict) -> None:
    for logical in ("EventsQueue", "EventsDeadLetterQueue"):
        declared = resolver.resolve(template["Resources"][logical]["Properties"])
        attrs = c["sqs"].get_queue_attributes(QueueUrl=physical[logical], AttributeNames=["All"])["Attributes"]
        for key in ("VisibilityTimeout", "MessageRetentionPeriod"):
            if key in declared:
                same(f"{logical} {key}", int(attrs.get(key, -1)), int(declared[key]))
        if declared.get("SqsManagedSseEnabled"):
            same(f"{logical} SqsManagedSseEnabled", attrs.get("SqsManagedSseEnabled"), "true")
        if "RedrivePolicy" in declared:
            live = json.loads(attrs.get("RedrivePolicy", "{}"))
            same(f"{logical} redrive policy",
                 {"deadLetterTargetArn": live.get("deadLetterTargetArn"),
                  "maxReceiveCount": int(live.get("maxReceiveCount", -1))},
                 {"deadLetterTargetArn": declared["RedrivePolicy"]["deadLetterTargetArn"],
                  "maxReceiveCount": int(declared["RedrivePolicy"]["maxReceiveCount"])})


def check_bucket(c, resolver: iam.Resolver, template: dict, bucket: str) -> None:
    s3 = c["s3"]
    declared = resolver.resolve(template["Resources"]["Bucket"]["Properties"])
    same("Bucket name", bucket, declared["BucketName"])
    versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    if versioning is None:
        not_proven("Bucket VersioningConfiguration: moto's CloudFormation does not apply it")
    else:
        same("Bucket versioning", versioning, declared["VersioningConfiguration"]["Status"])
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        same("Bucket encryption", rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"],
             declared["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
             ["ServerSideEncryptionByDefault"]["SSEAlgorithm"])
    except s3.exceptions.ClientError:
        not_proven("Bucket BucketEncryption: not applied by moto")
    optional = {
        "LifecycleConfiguration": lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"],
        "CorsConfiguration": lambda: s3.get_bucket_cors(Bucket=bucket)["CORSRules"],
        "PublicAccessBlockConfiguration":
            lambda: s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
    }
    for prop, read in optional.items():
        try:
            live = read()
        except s3.exceptions.ClientError:
            not_proven(f"Bucket {prop}: moto's CloudFormation does not apply it")
            continue
        if prop == "CorsConfiguration":
            want = [{"AllowedMethods": r["AllowedMethods"], "AllowedOrigins": r["AllowedOrigins"]}
                    for r in declared[prop]["CorsRules"]]
            same("Bucket CORS", [{k: r[k] for k in ("AllowedMethods", "AllowedOrigins")} for r in live], want)
        elif prop == "PublicAccessBlockConfiguration":
            same("Bucket public access block", live, declared[prop])
        else:
            same("Bucket lifecycle rule ids", sorted(r["ID"] for r in live),
                 sorted(r["Id"] for r in declared[prop]["Rules"]))
    notification = s3.get_bucket_notification_configuration(Bucket=bucket)
    configs = notification.get("LambdaFunctionConfigurations", [])
    want = declared.get("NotificationConfiguration", {}).get("LambdaConfigurations", [])
    if not configs and want:
        not_proven("Bucket NotificationConfiguration (uploads/ -> media-process): moto's "
                   "CloudFormation does not apply it")
    else:
        same("Bucket notifications",
             sorted((x["LambdaFunctionArn"], tuple(x["Events"])) for x in configs),
             sorted((w["Function"], (w["Event"],)) for w in want))


def main() -> int:
    local_bin, out_env = sys.argv[1], Path(sys.argv[2])
    c = clients()

    # 1. The signing key where a deployment keeps it.
    pem = subprocess.run([local_bin, "gen-key"], check=True, capture_output=True, text=True).stdout
    jwks = subprocess.run([local_bin, "public-jwks"], input=pem, check=True,
                          capture_output=True, text=True).stdout.strip()
    secret_arn = c["secretsmanager"].create_secret(Name=SECRET, SecretString=pem)["ARN"]
    c["ssm"].put_parameter(Name=JWKS_PARAMETER, Value=jwks, Type="String", Overwrite=True)

    # 2. What `sam package` would have uploaded.
    bucket, key = cfn.PLACEHOLDER_CODE
    c["s3"].create_bucket(Bucket=bucket)
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\necho 'placeholder: the rehearsal runs no code' >&2\nexit 1\n")
    c["s3"].put_object(Bucket=bucket, Key=key, Body=code.getvalue())

    # 3. The stack, from the transformed template.
    template = cfn.transform(cfn.load())
    parameters = {
        "JwtPrivateKeySecret": SECRET,
        "JwtPublicJwksParameter": JWKS_PARAMETER,
        "AppOrigin": "http://localhost:5173",
    }
    cf = c["cloudformation"]
    cf.create_stack(
        StackName=STACK,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = cf.describe_stacks(StackName=STACK)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        fail(f"stack {STACK}: {stack['StackStatus']} {stack.get('StackStatusReason', '')}")
        return report()
    ok(f"stack {STACK} created from the transformed template ({len(template['Resources'])} resources)")
    physical = {}
    for page in cf.get_paginator("list_stack_resources").paginate(StackName=STACK):
        for r in page["StackResourceSummaries"]:
            physical[r["LogicalResourceId"]] = r["PhysicalResourceId"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    # 4. What moto skipped.
    resolver = iam.Resolver(template, parameters, physical, iam.CallContext(), STACK)
    skipped = []
    for name, resource in sorted(template["Resources"].items()):
        condition = resource.get("Condition")
        if condition and not resolver.condition(condition):
            print(f"rehearsal: not created (condition {condition} is false): {name}")
            continue
        if name not in physical:
            skipped.append(f"{name} ({resource['Type']})")
    if skipped:
        print("rehearsal: " + "!" * 72)
        print(f"rehearsal: moto's CloudFormation SKIPPED {len(skipped)} resources the template creates;")
        print("rehearsal: they are not rehearsed here (moto supports no such resource type):")
        for s in skipped:
            print(f"rehearsal:   SKIPPED {s}")
        print("rehearsal: " + "!" * 72)
    unexpected = [s for s in skipped if "AWS::ApiGatewayV2::" not in s and "AWS::S3::BucketPolicy" not in s]
    if unexpected:
        fail(f"moto skipped resources of a type it creates elsewhere: {unexpected}")

    # 5. The data resources, as declared.
    check_table(c, template["Resources"]["Table"]["Properties"], physical["Table"])
    check_queues(c, resolver, template, physical)
    check_bucket(c, resolver, template, physical["Bucket"])

    # 6. The functions' configuration.
    functions = {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}
    signers = []
    for name in sorted(functions):
        config = c["lambda"].get_function_configuration(FunctionName=physical[name])
        variables = config.get("Environment", {}).get("Variables", {})
        text = json.dumps(variables)
        if "PRIVATE KEY" in text or "resolve:secretsmanager" in text:
            fail(f"{name}'s configuration holds key material")
        if "JWT_PRIVATE_KEY_SECRET" in variables:
            signers.append(name)
            same(f"{name} reads the signing key from", variables["JWT_PRIVATE_KEY_SECRET"], SECRET)
        if variables.get("BUCKET_NAME") != physical["Bucket"]:
            fail(f"{name}: BUCKET_NAME {variables.get('BUCKET_NAME')} is not the bucket {physical['Bucket']}")
    same("functions told the signing key's secret", signers, ["LoginFunction", "RefreshFunction"])
    ok(f"{len(functions)} functions: no key material in any configuration, BUCKET_NAME is the stack's bucket")

    # 7. The names the smoke test's server runs on.
    env = {
        "TABLE_NAME": outputs["TableName"],
        "BUCKET_NAME": outputs["BucketName"],
        "QUEUE_URL": outputs["EventsQueueUrl"],
        "DEAD_LETTER_QUEUE_URL": outputs["EventsDeadLetterQueueUrl"],
        "JWT_PRIVATE_KEY_SECRET": secret_arn,
    }
    for k, v in env.items():
        if not v:
            fail(f"the stack gives no {k}")
    out_env.write_text("".join(f"export {k}={v}\n" for k, v in env.items()))
    return report()


def report() -> int:
    if NOT_PROVEN:
        print(f"rehearsal: {len(NOT_PROVEN)} declared properties moto did not apply (listed above)")
    print(f"deploy-rehearsal: {len(PASSED)} passed, {len(FAILED)} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
