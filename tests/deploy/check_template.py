"""The template CloudFormation gets can be created: no dependency cycle
after the SAM transform, and no function's environment holds key material.

Usage: python tests/deploy/check_template.py [OUT_DIR] [TEMPLATE]
Writes the transformed template to OUT_DIR/transformed.json (the rehearsal
and the IAM check read it) and prints one summary line for the test command.

The checks prove they can fail: the same check runs on a copy of the
template that gives every function `BUCKET_NAME: !Ref Bucket` again (the
cycle `Bucket -> MediaProcessFunctionUploadedPermission ->
MediaProcessFunction -> Bucket` that once made `sam deploy` fail), and on a
copy that resolves the signing key into an environment variable; each must
be refused.
"""
from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cfn  # noqa: E402

# What key material, or a way to it at deploy time, looks like in a value.
KEY_MATERIAL = re.compile(r"PRIVATE KEY-----|resolve:secretsmanager", re.IGNORECASE)


def key_material_in_environment(transformed: dict) -> list[str]:
    """`Function: VARIABLE` for every environment variable that holds a
    private key or resolves a secret at deploy time (CloudFormation writes a
    resolved secret into the function's configuration, which anyone with
    `lambda:GetFunctionConfiguration` reads)."""
    found = []
    for name, resource in transformed["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        for var, value in variables.items():
            if KEY_MATERIAL.search(json.dumps(value)):
                found.append(f"{name}: {var}")
    return found


def main() -> int:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else cfn.ROOT / "tests" / "out"
    template = cfn.load(Path(sys.argv[2])) if len(sys.argv) > 2 else cfn.load()
    transformed = cfn.transform(template)
    cfn.dump(transformed, out_dir / "transformed.json")
    cycles = cfn.cycles(transformed)
    leaks = key_material_in_environment(transformed)
    for c in cycles:
        print(f"template: dependency cycle: {' -> '.join(c)}")
    for leak in leaks:
        print(f"template: key material in a function's configuration: {leak}")

    # The checks can fail: each known mistake, put back, is caught.
    cyclic = copy.deepcopy(template)
    cyclic["Globals"]["Function"]["Environment"]["Variables"]["BUCKET_NAME"] = {"Ref": "Bucket"}
    cyclic_found = cfn.cycles(cfn.transform(cyclic))
    leaky = copy.deepcopy(template)
    login = leaky["Resources"]["LoginFunction"]["Properties"]
    login.setdefault("Environment", {}).setdefault("Variables", {})["JWT_PRIVATE_KEY"] = {
        "Fn::Sub": "{{resolve:secretsmanager:${JwtPrivateKeySecret}:SecretString}}"
    }
    leaky_found = key_material_in_environment(cfn.transform(leaky))
    checks = {
        "no dependency cycle": not cycles,
        "no key material in any function's environment": not leaks,
        "self-check: BUCKET_NAME: !Ref Bucket again is a cycle": any(
            "MediaProcessFunction" in c for c in cyclic_found
        ),
        "self-check: a resolved secret in login's environment is caught": "LoginFunction: JWT_PRIVATE_KEY"
        in leaky_found,
    }
    for name, ok in checks.items():
        print(f"template: {'ok  ' if ok else 'FAIL'} {name}")
    print(f"template: {len(transformed['Resources'])} resources after the SAM transform, "
          f"{sum(len(v) for v in cfn.graph(transformed).values())} dependencies")
    failed = sum(not ok for ok in checks.values())
    print(f"template-deployable: {len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
