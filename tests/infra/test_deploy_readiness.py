"""What a first real deploy needs that moto never checks: approvers reach the URL, alarms reach the
operators, the task token stays out of logs and is encrypted with our key, redeploys after a delete,
regions, and an execution timeout that fits the gates.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from infra.constants import DEPLOY_REGIONS
from tests.infra.conftest import resources_of

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _one(template: dict[str, Any], kind: str, prefix: str) -> tuple[str, dict[str, Any]]:
    (found,) = [(name, r) for name, r in resources_of(template, kind).items() if name.startswith(prefix)]
    return found


def _statements_of_role(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [
        s
        for p in resources_of(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def _function_role(template: dict[str, Any], prefix: str) -> str:
    _, function = _one(template, "AWS::Lambda::Function", prefix)
    return str(function["Properties"]["Role"]["Fn::GetAtt"][0])


# ----- item 4: approvers -------------------------------------------------------------------------


def test_approvers_policy_allows_both_actions_a_function_url_needs(template_json: dict[str, Any]) -> None:
    _, policy = _one(template_json, "AWS::IAM::ManagedPolicy", "ApprovalsApproversPolicy")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    api = {"Fn::GetAtt": [_one(template_json, "AWS::Lambda::Function", "ApprovalsApprovalsApiFunction")[0], "Arn"]}
    by_action = {s["Action"]: s for s in statements}
    assert set(by_action) == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    assert all(s["Effect"] == "Allow" and s["Resource"] == api for s in statements)
    assert by_action["lambda:InvokeFunctionUrl"]["Condition"] == {
        "StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}
    }
    # Only through the URL: the policy must not let approvers invoke the function directly.
    assert by_action["lambda:InvokeFunction"]["Condition"] == {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}


@pytest.fixture(scope="module")
def cross_account_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from app import build_app

    outdir = tmp_path_factory.mktemp("cross-account")
    app = build_app(
        outdir=str(outdir),
        context={
            "approverAccounts": "222222222222",
            "approverPrincipals": "arn:aws:iam::333333333333:role/ReleaseApprovers",
        },
    )
    app.synth()
    return dict(json.loads((outdir / "EksdAdopt.template.json").read_text()))


def test_approvers_in_other_accounts_are_admitted_by_the_functions_resource_policy(
    cross_account_template: dict[str, Any],
) -> None:
    api = _one(cross_account_template, "AWS::Lambda::Function", "ApprovalsApprovalsApiFunction")[0]
    permissions = [
        p["Properties"]
        for p in resources_of(cross_account_template, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [api, "Arn"]}
    ]
    for principal in ("222222222222", "arn:aws:iam::333333333333:role/ReleaseApprovers"):
        mine = {p["Action"]: p for p in permissions if p["Principal"] == principal}
        assert set(mine) == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}, principal
        assert mine["lambda:InvokeFunctionUrl"]["FunctionUrlAuthType"] == "AWS_IAM"
        assert mine["lambda:InvokeFunction"]["InvokedViaFunctionUrl"] is True


def test_approver_accounts_and_principals_are_validated() -> None:
    from pydantic import ValidationError

    from infra.settings import DeploymentSettings

    with pytest.raises(ValidationError, match="approverAccounts must be 12-digit"):
        DeploymentSettings(approver_accounts=("12345",))
    with pytest.raises(ValidationError, match="approverPrincipals must be IAM role or user ARNs"):
        DeploymentSettings(approver_principals=("arn:aws:iam::111111111111:group/Everyone",))


# ----- item 5: alarms reach the operators ------------------------------------------------------------


def test_cloudwatch_alarms_of_this_account_may_publish_to_the_operators_topic(template_json: dict[str, Any]) -> None:
    topic, _ = _one(template_json, "AWS::SNS::Topic", "OperatorsTopic")
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources_of(template_json, "AWS::SNS::TopicPolicy").values()
        if {"Ref": topic} in p["Properties"]["Topics"]
    ]
    allows = [s for s in policy if s["Effect"] == "Allow"]
    assert [s["Principal"] for s in allows] == [{"Service": "cloudwatch.amazonaws.com"}]
    (allow,) = allows
    assert allow["Action"] == "sns:Publish" and allow["Resource"] == {"Ref": topic}
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert ":alarm:*" in json.dumps(allow["Condition"]["ArnLike"]["aws:SourceArn"])
    # Every alarm of the stack notifies that topic.
    for name, alarm in resources_of(template_json, "AWS::CloudWatch::Alarm").items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}], name


# ----- item 6: the task token ----------------------------------------------------------------------


def test_state_machine_is_encrypted_with_the_workflow_key_which_its_log_delivery_may_use(
    template_json: dict[str, Any],
) -> None:
    _, machine = _one(template_json, "AWS::StepFunctions::StateMachine", "WorkflowStateMachine")
    encryption = machine["Properties"]["EncryptionConfiguration"]
    assert encryption["Type"] == "CUSTOMER_MANAGED_KMS_KEY"
    key = encryption["KmsKeyId"]["Fn::GetAtt"][0]
    group = machine["Properties"]["LoggingConfiguration"]["Destinations"][0]["CloudWatchLogsLogGroup"]
    group_props = template_json["Resources"][group["LogGroupArn"]["Fn::GetAtt"][0]]["Properties"]
    assert group_props["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]}  # one key: history and logs
    statements = template_json["Resources"][key]["Properties"]["KeyPolicy"]["Statement"]
    (delivery,) = [s for s in statements if s["Principal"] == {"Service": "delivery.logs.amazonaws.com"}]
    assert delivery["Action"] == "kms:Decrypt"
    assert set(delivery["Condition"]) == {"StringEquals", "ArnLike"}
    # The state machine's role may use the key for this state machine's history and for its log delivery.
    role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    kms = [s for s in _statements_of_role(template_json, role) if any(a.startswith("kms:") for a in _list(s["Action"]))]
    contexts = {next(iter(s["Condition"]["StringEquals"])) for s in kms}
    assert contexts == {"kms:EncryptionContext:aws:states:stateMachineArn", "kms:EncryptionContext:SourceArn"}
    assert all(s["Resource"] == {"Fn::GetAtt": [key, "Arn"]} for s in kms)


def test_callers_of_the_encrypted_state_machine_may_use_its_key_for_it_only(template_json: dict[str, Any]) -> None:
    _, machine = _one(template_json, "AWS::StepFunctions::StateMachine", "WorkflowStateMachine")
    key = machine["Properties"]["EncryptionConfiguration"]["KmsKeyId"]
    for function in ("IntakeIntakeFunction", "IntakeReconcileFunction", "ApprovalsApprovalsApiFunction"):
        statements = _statements_of_role(template_json, _function_role(template_json, function))
        grants = [s for s in statements if s["Resource"] == key]
        assert grants, function
        for grant in grants:
            context = grant["Condition"]["StringEquals"]["kms:EncryptionContext:aws:states:stateMachineArn"]
            assert ":stateMachine:eksd-adopt-release" in json.dumps(context), function


def test_only_the_decision_handler_sends_task_results_and_never_a_heartbeat(template_json: dict[str, Any]) -> None:
    holders = {
        (name, action)
        for name, policy in resources_of(template_json, "AWS::IAM::Policy").items()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in _list(s["Action"])
        if action.startswith("states:SendTask")
    }
    assert {action for _, action in holders} == {"states:SendTaskSuccess", "states:SendTaskFailure"}
    assert {name.startswith("ApprovalsApprovalsApi") for name, _ in holders} == {True}


# ----- item 8: a second deploy after a delete --------------------------------------------------------

# Resources that survive a stack delete and keep a name of their own, each with why.
RETAINED_WITH_FIXED_NAMES = {
    # Subscribers in other accounts know its ARN; a new stack imports it (docs/operations.md).
    "ReleaseEventsTopic": "TopicName",
}
NAME_PROPERTIES = ("TableName", "LogGroupName", "BucketName", "TopicName", "QueueName", "StateMachineName")


def test_retained_resources_have_names_unique_to_the_stack_or_are_listed(template_json: dict[str, Any]) -> None:
    for name, resource in template_json["Resources"].items():
        if resource.get("DeletionPolicy") != "Retain" and resource.get("UpdateReplacePolicy") != "Retain":
            continue
        for field in NAME_PROPERTIES:
            value = resource.get("Properties", {}).get(field)
            if value is None:
                continue
            if any(name.startswith(prefix) and field == f for prefix, f in RETAINED_WITH_FIXED_NAMES.items()):
                continue
            # A name computed from the stack id differs for every stack creation.
            assert "AWS::StackId" in json.dumps(value), (name, field, value)


def test_the_approvals_table_and_the_workflow_logs_are_named_per_stack(template_json: dict[str, Any]) -> None:
    _, table = _one(template_json, "AWS::DynamoDB::Table", "ApprovalsTable")
    assert "TableName" not in table["Properties"] and table["DeletionPolicy"] == "Retain"
    _, group = _one(template_json, "AWS::Logs::LogGroup", "WorkflowLogs")
    name = json.dumps(group["Properties"]["LogGroupName"])
    assert "/aws/vendedlogs/states/eksd-adopt-release-" in name and "AWS::StackId" in name


# ----- item 9: regions ---------------------------------------------------------------------------------


def test_synth_fails_clearly_in_a_region_without_function_urls(tmp_path: Path) -> None:
    from app import build_app

    with pytest.raises(ValueError, match=r"region us-gov-west-1: eksd-adopt deploys only to .*us-east-1"):
        app = cdk.App(outdir=str(tmp_path))
        from infra.settings import DeploymentSettings
        from infra.stack import EksdAdoptStack

        EksdAdoptStack(
            app,
            "EksdAdopt",
            settings=DeploymentSettings(),
            layer_dir=Path("build/layer"),
            env=cdk.Environment(account="111111111111", region="us-gov-west-1"),
        )
    assert build_app  # the app builds the same stack


def test_region_agnostic_template_refuses_other_regions_before_creating_anything(template_json: dict[str, Any]) -> None:
    (assertion,) = template_json["Rules"]["SupportedRegion"]["Assertions"]
    regions, region = assertion["Assert"]["Fn::Contains"]
    assert regions == list(DEPLOY_REGIONS) and region == {"Ref": "AWS::Region"}
    assert "function URLs" in assertion["AssertDescription"]


def test_a_listed_region_synthesizes(tmp_path: Path) -> None:
    from infra.settings import DeploymentSettings
    from infra.stack import EksdAdoptStack

    app = cdk.App(outdir=str(tmp_path))
    stack = EksdAdoptStack(
        app,
        "EksdAdopt",
        settings=DeploymentSettings(),
        layer_dir=Path("build/layer"),
        env=cdk.Environment(account="111111111111", region="eu-west-1"),
    )
    assert stack.region == "eu-west-1"


# ----- item 11: execution timeout, release-events topic -----------------------------------------------


def test_execution_timeout_covers_every_gate_and_the_team_test() -> None:
    from infra.constructs.workflow import PREPARE_BUDGET, PROMOTE_BUDGET, execution_timeout

    week, six_hours = cdk.Duration.days(7), cdk.Duration.hours(6)
    one = execution_timeout(1, week, six_hours).to_seconds()
    three = execution_timeout(3, week, six_hours).to_seconds()
    per_stage = week.to_seconds() + PROMOTE_BUDGET.to_seconds()
    assert one == PREPARE_BUDGET.to_seconds() + six_hours.to_seconds() + per_stage
    assert three - one == 2 * per_stage
    with pytest.raises(ValueError, match="more than a Step Functions execution may last"):
        execution_timeout(60, week, six_hours)


def test_state_machine_timeout_is_derived_from_the_stages(template_json: dict[str, Any]) -> None:
    from infra.constructs.workflow import execution_timeout

    _, machine = _one(template_json, "AWS::StepFunctions::StateMachine", "WorkflowStateMachine")
    definition = machine["Properties"]["DefinitionString"]
    expected = execution_timeout(1, cdk.Duration.days(7), cdk.Duration.hours(6)).to_seconds()
    # The top-level field, appended last to the ASL document (CDK ignores timeout= for file definitions).
    assert isinstance(definition, str) and definition.rstrip().endswith(f'"TimeoutSeconds": {int(expected)}\n}}')


def test_release_events_topic_is_retained_like_its_key(template_json: dict[str, Any]) -> None:
    name, topic = _one(template_json, "AWS::SNS::Topic", "ReleaseEventsTopic")
    key_name = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key = template_json["Resources"][key_name]
    assert topic.get("DeletionPolicy") == key.get("DeletionPolicy") == "Retain"
    assert topic.get("UpdateReplacePolicy") == key.get("UpdateReplacePolicy") == "Retain"
    (policy,) = [
        p
        for p in resources_of(template_json, "AWS::SNS::TopicPolicy").values()
        if p["Properties"]["Topics"] == [{"Ref": name}]
    ]
    assert policy.get("DeletionPolicy") == "Retain"  # TLS only and the subscribers' rights stay with the topic
