"""The IAM call-coverage checker (tests/iam_coverage.py) itself: it must refuse what IAM would refuse.

The end-to-end adoption (tests/e2e/test_demo_pipeline.py) feeds it every recorded call; here it gets
calls and policies made to order, against the stack's real template.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from eksd_adopt.local import aws as local_aws
from tests.iam_coverage import (
    UNATTRIBUTED,
    AwsCall,
    CallRecorder,
    LocalTemplate,
    Need,
    allows,
    check_approver_calls,
    check_calls,
)

EVENTS_TOPIC = f"arn:aws:sns:us-east-1:{local_aws.ACCOUNT}:eksd-adopt-release-events"
STATE_MACHINE = f"arn:aws:states:us-east-1:{local_aws.ACCOUNT}:stateMachine:eksd-adopt-release"


def _runtime() -> local_aws.LocalAws:
    runtime = local_aws.LocalAws()  # never started: only its resource names are used
    runtime.events_topic_arn = EVENTS_TOPIC
    runtime.approvers_topic_arn = f"arn:aws:sns:us-east-1:{local_aws.ACCOUNT}:eksd-adopt-approvers"
    runtime.state_machine_arn = STATE_MACHINE
    return runtime


@pytest.fixture(scope="module")
def local_template(template_json: dict[str, Any]) -> LocalTemplate:
    return LocalTemplate(template_json, _runtime())


def _publish(function: str) -> AwsCall:
    return AwsCall(f"eksd-adopt-{function}", "sns", "Publish", {"TopicArn": EVENTS_TOPIC})


def test_a_granted_call_passes_and_the_same_call_without_its_grant_is_reported(
    template_json: dict[str, Any], local_template: LocalTemplate
) -> None:
    calls = [_publish("workflow-record-tested")]
    assert check_calls(calls, local_template) == []
    # Remove the publish grant from record_tested's role, as a regression in the stack would.
    broken = copy.deepcopy(template_json)
    role = broken["Resources"][local_template.function_logical_id("workflow_record_tested")]["Properties"]["Role"][
        "Fn::GetAtt"
    ][0]
    for resource in broken["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role} in resource["Properties"]["Roles"]:
            statements = resource["Properties"]["PolicyDocument"]["Statement"]
            statements[:] = [s for s in statements if "sns:Publish" not in str(s["Action"])]
    misses = check_calls(calls, LocalTemplate(broken, _runtime()))
    assert [(m.need.action, m.need.resource) for m in misses] == [("sns:Publish", EVENTS_TOPIC)]
    assert "functions/workflow_record_tested" in str(misses[0])


def test_encrypted_topics_also_need_the_key(template_json: dict[str, Any], local_template: LocalTemplate) -> None:
    broken = copy.deepcopy(template_json)
    role = broken["Resources"][local_template.function_logical_id("workflow_record_tested")]["Properties"]["Role"][
        "Fn::GetAtt"
    ][0]
    for resource in broken["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role} in resource["Properties"]["Roles"]:
            statements = resource["Properties"]["PolicyDocument"]["Statement"]
            statements[:] = [s for s in statements if "kms:GenerateDataKey" not in str(s["Action"])]
    misses = check_calls([_publish("workflow-record-tested")], LocalTemplate(broken, _runtime()))
    # SNS encrypts with a data key from the topic's key and needs Decrypt on it too (sns-key-management.html).
    assert sorted(m.need.action for m in misses) == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_a_function_without_the_grant_is_reported(local_template: LocalTemplate) -> None:
    # The approval watch only scans the approvals table: it may not publish release events.
    (miss,) = [m for m in check_calls([_publish("approvals-watch")], local_template) if m.need.action == "sns:Publish"]
    assert "functions/approvals_watch" in str(miss)


def test_send_task_actions_match_only_a_star_resource() -> None:
    # The Service Authorization Reference lists no resource type for SendTask*: a statement naming the
    # state machine (as CDK's grantTaskResponse does) does not allow them.
    need = Need("states:SendTaskSuccess", "*")
    scoped = [{"Effect": "Allow", "Action": "states:SendTaskSuccess", "Resource": STATE_MACHINE}]
    assert not allows(scoped, need)
    assert allows([{"Effect": "Allow", "Action": "states:SendTask*", "Resource": "*"}], need)


def test_conditions_known_to_the_request_are_evaluated_and_others_noted() -> None:
    statement = {
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": "arn:aws:kms:us-east-1:1:key/*",
        "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com", "aws:PrincipalTag/x": "y"}},
    }
    noted: set[str] = set()
    via_s3 = Need("kms:Decrypt", "arn:aws:kms:us-east-1:1:key/k", (("kms:ViaService", "s3.us-east-1.amazonaws.com"),))
    via_sns = Need("kms:Decrypt", "arn:aws:kms:us-east-1:1:key/k", (("kms:ViaService", "sns.us-east-1.amazonaws.com"),))
    assert allows([statement], via_s3, noted) and not allows([statement], via_sns, noted)
    assert noted == {"StringEquals aws:PrincipalTag/x"}
    deny = {"Effect": "Deny", "Action": "kms:*", "Resource": "*"}
    assert not allows([statement, deny], via_s3)


def test_approvers_need_both_function_url_actions(template_json: dict[str, Any], local_template: LocalTemplate) -> None:
    event = {
        "rawPath": "/decisions",
        "requestContext": {
            "http": {"method": "POST"},
            "authorizer": {"iam": {"userArn": "arn:aws:iam::123456789012:role/Approvers"}},
        },
    }
    invocations = [("eksd-adopt-approvals-api", event)]
    assert check_approver_calls(invocations, local_template) == (1, [])
    # The policy as it was before October 2025's change: InvokeFunctionUrl alone.
    old = copy.deepcopy(template_json)
    for name, resource in old["Resources"].items():
        if name.startswith("ApprovalsApproversPolicy"):
            statements = resource["Properties"]["PolicyDocument"]["Statement"]
            statements[:] = [s for s in statements if s["Action"] == "lambda:InvokeFunctionUrl"]
    requests, misses = check_approver_calls(invocations, LocalTemplate(old, _runtime()))
    assert requests == 1 and [m.need.action for m in misses] == ["lambda:InvokeFunction"]


def test_unmapped_operations_and_unattributed_clients_fail_loudly(local_template: LocalTemplate) -> None:
    with pytest.raises(LookupError, match="no IAM mapping for sns:CreateTopic"):
        check_calls([AwsCall("eksd-adopt-intake-notification", "sns", "CreateTopic", {})], local_template)
    (miss,) = check_calls([AwsCall(UNATTRIBUTED, "sns", "Publish", {"TopicArn": EVENTS_TOPIC})], local_template)[:1]
    assert "outside any handler" in str(miss)


def test_the_recorder_attributes_calls_to_the_function_that_created_the_client() -> None:
    with CallRecorder() as recorder:
        token = local_aws.current_function.set("eksd-adopt-workflow-record-tested")
        try:
            client = boto3.client("sns", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        finally:
            local_aws.current_function.reset(token)
        harness = boto3.client("sns", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        with Stubber(client) as stub, Stubber(harness) as harness_stub:
            stub.add_response("publish", {"MessageId": "1"}, {"TopicArn": EVENTS_TOPIC, "Message": "m"})
            harness_stub.add_response("publish", {"MessageId": "2"}, {"TopicArn": EVENTS_TOPIC, "Message": "m"})
            # From a worker thread, as the archive copier's uploads run: no function in its context.
            worker = threading.Thread(target=lambda: client.publish(TopicArn=EVENTS_TOPIC, Message="m"))
            worker.start()
            worker.join()
            harness.publish(TopicArn=EVENTS_TOPIC, Message="m")
    assert recorder.calls == [
        AwsCall("eksd-adopt-workflow-record-tested", "sns", "Publish", {"TopicArn": EVENTS_TOPIC})
    ]
