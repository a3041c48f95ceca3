"""The deploy checks' own logic: the cycle finder, the IAM evaluator, and
what a recorded call asks IAM for. Each case could fail: the denials are
as specific as the grants.

Run: python -m unittest discover -s tests/deploy -p 'test_*.py'
"""
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cfn  # noqa: E402
import iam  # noqa: E402

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/t"


def dynamo(operation, **body):
    return {"service": "DynamoDB", "operation": operation, "body": body, "uri": "http://x/"}


def key(pk, sk="S"):
    return {"pk": {"S": pk}, "sk": {"S": sk}}


class Cycles(unittest.TestCase):
    def test_a_loop_through_three_resources_is_found_and_a_chain_is_not(self):
        loop = {"Resources": {
            "Bucket": {"Type": "x", "DependsOn": "Permission"},
            "Permission": {"Type": "x", "Properties": {"F": {"Ref": "Function"}}},
            "Function": {"Type": "x", "Properties": {"Env": {"Fn::Sub": "${Bucket.Arn}/x"}}},
            "Other": {"Type": "x", "Properties": {"B": {"Fn::GetAtt": ["Bucket", "Arn"]}}},
        }}
        found = cfn.cycles(loop)
        self.assertEqual(len(found), 1)
        self.assertEqual(set(found[0]), {"Bucket", "Permission", "Function"})
        self.assertEqual(found[0][0], found[0][-1], "a path around the loop")
        chain = {"Resources": {
            "A": {"Type": "x", "Properties": {"B": {"Ref": "B"}}},
            "B": {"Type": "x", "Properties": {"P": {"Ref": "SomeParameter"}, "L": {"Fn::Sub": "${!Literal}"}}},
        }}
        self.assertEqual(cfn.cycles(chain), [])


class Requests(unittest.TestCase):
    def test_transactions_are_one_request_per_item_with_its_own_action(self):
        call = dynamo("TransactWriteItems", TransactItems=[
            {"Put": {"TableName": "t", "Item": key("USER#1")}},
            {"ConditionCheck": {"TableName": "t", "Key": key("EMAIL#a")}},
        ])
        got = [(r.action, r.keys()["dynamodb:LeadingKeys"]) for r in iam.requests(call)]
        self.assertEqual(got, [("dynamodb:PutItem", ["USER#1"]), ("dynamodb:ConditionCheckItem", ["EMAIL#a"])])

    def test_a_batch_get_names_every_partition_and_a_query_its_index(self):
        call = dynamo("BatchGetItem", RequestItems={"t": {"Keys": [key("USER#1", "P"), key("USER#1", "S#1")]}})
        (r,) = iam.requests(call)
        self.assertEqual((r.action, r.resource, r.keys()), ("dynamodb:BatchGetItem", TABLE,
                                                            {"dynamodb:LeadingKeys": ["USER#1"]}))
        call = dynamo("Query", TableName="t", IndexName="gsi1", KeyConditionExpression="#n0 = :v0",
                      ExpressionAttributeNames={"#n0": "gsi1pk"}, ExpressionAttributeValues={":v0": {"S": "BOOKS"}})
        (r,) = iam.requests(call)
        self.assertEqual((r.resource, r.keys()["dynamodb:LeadingKeys"]), (TABLE + "/index/gsi1", ["BOOKS"]))

    def test_s3_listing_is_list_bucket_with_its_prefix(self):
        call = {"service": "S3", "operation": "ListObjectsV2", "body": None,
                "uri": "http://127.0.0.1:5000/files-1?list-type=2&prefix=avatars%2Fu1%2F"}
        (r,) = iam.requests(call)
        self.assertEqual((r.action, r.resource, r.keys()),
                         ("s3:ListBucket", "arn:aws:s3:::files-1", {"s3:prefix": ["avatars/u1/"]}))

    def test_an_operation_without_a_mapping_is_refused_not_guessed(self):
        with self.assertRaises(iam.Unsupported):
            iam.requests(dynamo("ExecuteStatement", Statement="SELECT * FROM t"))


class Evaluate(unittest.TestCase):
    leading = [{"Statement": [{"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:BatchGetItem"],
                               "Resource": TABLE,
                               "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["USER#*"]}}}]}]

    def test_the_authorizer_gap_get_item_does_not_allow_batch_get_item(self):
        policy = [{"Statement": [{"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": TABLE}]}]
        request = iam.requests(dynamo("BatchGetItem", RequestItems={"t": {"Keys": [key("USER#1")]}}))[0]
        self.assertFalse(iam.evaluate(policy, request)[0])
        self.assertTrue(iam.evaluate(self.leading, request)[0])

    def test_leading_keys_refuse_one_foreign_partition_among_many(self):
        ok = iam.requests(dynamo("GetItem", TableName="t", Key=key("USER#1")))[0]
        self.assertTrue(iam.evaluate(self.leading, ok)[0])
        mixed = iam.requests(dynamo("BatchGetItem", RequestItems={"t": {"Keys": [key("USER#1"), key("EMAIL#a")]}}))[0]
        self.assertFalse(iam.evaluate(self.leading, mixed)[0])
        other_table = iam.requests(dynamo("GetItem", TableName="u", Key=key("USER#1")))[0]
        self.assertFalse(iam.evaluate(self.leading, other_table)[0])

    def test_wildcards_prefix_conditions_and_an_explicit_deny(self):
        policy = [{"Statement": [
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b",
             "Condition": {"StringLike": {"s3:prefix": ["avatars/*"]}}},
            {"Effect": "Allow", "Action": "s3:*Object", "Resource": "arn:aws:s3:::b/avatars/*"},
            {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::b/avatars/keep"},
        ]}]
        allowed = lambda action, resource, **ctx: iam.evaluate(  # noqa: E731
            policy, iam._request(action, resource, **ctx))[0]
        self.assertTrue(allowed("s3:ListBucket", "arn:aws:s3:::b", s3__prefix=["avatars/u/"]))
        self.assertFalse(allowed("s3:ListBucket", "arn:aws:s3:::b", s3__prefix=["pdfs/u/"]))
        self.assertFalse(allowed("s3:ListBucket", "arn:aws:s3:::b"), "no prefix: StringLike fails")
        self.assertTrue(allowed("s3:GetObject", "arn:aws:s3:::b/avatars/u/1.jpg"))
        self.assertFalse(allowed("s3:GetObject", "arn:aws:s3:::b/pdfs/u.pdf"))
        self.assertFalse(allowed("s3:DeleteObject", "arn:aws:s3:::b/avatars/keep"))
        self.assertTrue(allowed("s3:DeleteObject", "arn:aws:s3:::b/avatars/other"))

    def test_secrets_match_with_the_six_character_suffix_only(self):
        policy = [{"Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                                  "Resource": "arn:aws:secretsmanager:us-east-1:1:secret:app/key-??????"}]}]
        check = lambda arn: iam.evaluate(policy, iam._request("secretsmanager:GetSecretValue", arn))[0]  # noqa: E731
        self.assertTrue(check("arn:aws:secretsmanager:us-east-1:1:secret:app/key-AbC123"))
        self.assertFalse(check("arn:aws:secretsmanager:us-east-1:1:secret:app/key-other-AbC123"))

    def test_unknown_operators_are_refused(self):
        policy = [{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                                  "Condition": {"NumericLessThan": {"x": "1"}}}]}]
        with self.assertRaises(iam.Unsupported):
            iam.evaluate(policy, iam._request("s3:GetObject", "arn:aws:s3:::b/k"))


class Resolve(unittest.TestCase):
    def test_policies_resolve_for_one_stack(self):
        template = {
            "Parameters": {"Prefix": {"Type": "String", "Default": "files"}, "On": {"Default": ""}},
            "Conditions": {"IsOn": {"Fn::Not": [{"Fn::Equals": [{"Ref": "On"}, ""]}]}},
            "Resources": {"Table": {"Type": "AWS::DynamoDB::Table"}, "Bucket": {"Type": "AWS::S3::Bucket"}},
        }
        r = iam.Resolver(template, {"On": "yes"}, {"Table": "s-Table-X", "Bucket": "b1"}, iam.CallContext())
        self.assertEqual(r.resolve({"Fn::GetAtt": ["Table", "Arn"]}),
                         "arn:aws:dynamodb:us-east-1:123456789012:table/s-Table-X")
        self.assertEqual(r.resolve({"Fn::Sub": "${Bucket.Arn}/avatars/*"}), "arn:aws:s3:::b1/avatars/*")
        self.assertEqual(r.resolve({"Fn::Sub": "arn:${AWS::Partition}:s3:::${Prefix}-${AWS::Region}"}),
                         "arn:aws:s3:::files-us-east-1")
        self.assertEqual(r.resolve({"Fn::If": ["IsOn", "a", "b"]}), "a")
        self.assertEqual(r.resolve([{"Fn::If": ["IsOn", {"Ref": "AWS::NoValue"}, "b"]}, "c"]), ["c"])
        with self.assertRaises(iam.Unsupported):
            r.resolve({"Fn::GetAtt": ["Missing", "Arn"]})


if __name__ == "__main__":
    unittest.main()
