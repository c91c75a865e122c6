"""What the constructs share about their functions' policies: the plan reads of the mirrors, and the cdk-nag
acknowledgments of the wildcard shapes our policies may hold, with why."""

from __future__ import annotations

import json
import re
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import IConstruct


def grant_plan_reads(function: lambda_.IFunction, bucket: s3.IBucket, prefix: str) -> None:
    """A mirror function reads its job from the plan Validate stored beside the upstream manifest."""
    function.add_to_role_policy(
        iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{prefix}/upstream/*")])
    )
    if bucket.encryption_key is not None:
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[bucket.encryption_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{cdk.Aws.REGION}.amazonaws.com"}},
            )
        )


def acknowledge_scoped_wildcards(construct: IConstruct, prefix: str) -> None:
    """Acknowledge, in ``construct``'s own policies only, the wildcard findings that fall in the allowed shapes."""
    cdk.Aspects.of(construct).add(_ScopedWildcards(prefix.strip("/")))


# Wildcards these policies may hold, each with why it is as narrow as IAM allows. Anything else is
# left for cdk-nag to fail on.
_ALLOWED_ACTIONS = {
    "s3:GetObject*",
    "s3:GetBucket*",
    "s3:List*",
    "s3:DeleteObject*",
    "s3:Abort*",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
}
_REASON = (
    "Wildcards scoped to this service: bucket keys under the service prefix, ECR repositories under "
    "<prefix>/<stage>/, SSM parameters under /eksd-adopt/, the ledger's indexes, function versions, "
    "log groups for DescribeLogGroups (a list call for log delivery); CDK's "
    "grant action groups; and '*' only for APIs with no resource-level permissions (ecr:GetAuthorizationToken, "
    "X-Ray, log delivery, states:SendTask*)."
)


def _nag_form(value: Any) -> str:
    """A resolved CloudFormation value as cdk-nag spells it in a finding id."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "Ref" in value:
            return f"<{value['Ref']}>"
        if "Fn::GetAtt" in value:
            return "<" + ".".join(value["Fn::GetAtt"]) + ">"
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return str(sep).join(_nag_form(p) for p in parts)
    return json.dumps(value)


@jsii.implements(cdk.IAspect)
class _ScopedWildcards:
    """Acknowledges the wildcard findings of this construct's policies that fall in the allowed shapes."""

    def __init__(self, prefix: str) -> None:
        self.resource_patterns = [
            re.compile(rf".*/{re.escape(prefix)}/(upstream/|staging/)?\*$"),
            re.compile(rf".*:repository/{re.escape(prefix)}/(staging|\*)/\*$"),
            re.compile(r".*:parameter/eksd-adopt/\*$"),
            re.compile(r".*:log-group:\*$"),
            re.compile(r".*/index/\*$"),
            re.compile(r"^<[A-Za-z0-9]+\.Arn>:\*$"),
            re.compile(r"^\*$"),
        ]

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, iam.CfnPolicy):
            return
        document = cdk.Stack.of(node).resolve(node.policy_document)
        findings: set[str] = set()
        for statement in document.get("Statement", []):
            actions = statement.get("Action", [])
            resources = statement.get("Resource", [])
            for action in actions if isinstance(actions, list) else [actions]:
                if "*" in action and action in _ALLOWED_ACTIONS:
                    findings.add(f"Action::{action}")
            for resource in resources if isinstance(resources, list) else [resources]:
                text = _nag_form(resource)
                if "*" in text and any(p.match(text) for p in self.resource_patterns):
                    findings.add(f"Resource::{text}")
        for finding in sorted(findings):
            cdk.Validations.of(node).acknowledge(
                cdk.Acknowledgment(id=f"AwsSolutions::AwsSolutions-IAM5[{finding}]", reason=_REASON)
            )
