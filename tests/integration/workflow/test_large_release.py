"""A release of 600 copy jobs (about ten times today's) adopts end to end within Step Functions' 256 KiB quota.

The local runtime fails any state input or output and any Lambda payload over 256 KiB with the
uncatchable ``States.DataLimitExceeded``, as AWS does (``test_state_limits``); this release would
have crossed it at about 250 jobs when every job and every copy result rode in the state.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from eksd_adopt.approvals.aws import DynamoDbApprovalStore
from eksd_adopt.ledger import ReleaseStatus
from eksd_adopt.ledger.dynamodb import DynamoDbLedger
from eksd_adopt.local.aws import STATE_PAYLOAD_LIMIT, LocalAws, state_payload_bytes
from eksd_adopt.local.upstream import UpstreamSimulator
from tests.conftest import TESTDATA
from tests.integration.workflow.conftest import APPROVER_B, workflow_input
from tests.integration.workflow.test_adoption import decide

pytestmark = [pytest.mark.xdist_group("workflow"), pytest.mark.slow]

JOBS = 600
IMAGES = 4
# What the state may hold at most, whatever the release's size: a reference to the plan, one ~30-byte
# item per job for the Map, summaries. A tenth of the quota leaves room for releases far larger still.
STATE_BUDGET = STATE_PAYLOAD_LIMIT // 10
GATE_TIMEOUT = 300  # a bound, not a speed check: 600 jobs through moto take about a minute on an idle machine


def large_template(jobs: int = JOBS, images: int = IMAGES) -> str:
    """kubernetes-1-20-eks-1's kubernetes component with a few of its images and ``jobs`` archives in all."""
    document = yaml.safe_load((TESTDATA / "kubernetes-1-20-eks-1.yaml").read_text())
    component = next(c for c in document["status"]["components"] if c["name"] == "kubernetes")
    kept = [a for a in component["assets"] if a["type"] == "Image"][:images]
    binary = next(a for a in component["assets"] if a["name"] == "bin/linux/amd64/kubectl")
    for n in range(jobs - len(kept)):
        archive = copy.deepcopy(binary)
        archive["name"] = f"bin/linux/amd64/tool-{n:04d}"
        archive["archive"]["uri"] = binary["archive"]["uri"].replace("/kubectl", f"/tool-{n:04d}")
        kept.append(archive)
    component["assets"] = kept
    document["status"]["components"] = [component]
    return yaml.safe_dump(document)


def history(aws: LocalAws, execution_arn: str) -> Iterator[dict[str, Any]]:
    sfn = aws.client("stepfunctions")
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000, "includeExecutionData": True}
    while True:
        page = sfn.get_execution_history(**kwargs)
        yield from page["events"]
        if not page.get("nextToken"):
            return
        kwargs["nextToken"] = page["nextToken"]


def largest_payloads(events: Iterator[dict[str, Any]]) -> dict[str, int]:
    """The largest state input, state output, task parameters (a Lambda's request) and task result seen."""
    fields = {
        "state input": ("stateEnteredEventDetails", "input"),
        "state output": ("stateExitedEventDetails", "output"),
        "task parameters": ("taskScheduledEventDetails", "parameters"),
        "task result": ("taskSucceededEventDetails", "output"),
    }
    largest = dict.fromkeys(fields, 0)
    for event in events:
        for what, (details, field) in fields.items():
            text = (event.get(details) or {}).get(field)
            if text is not None:
                largest[what] = max(largest[what], state_payload_bytes(json.loads(text)))
    return largest


def test_a_600_job_release_adopts_with_every_state_far_below_the_quota(
    aws: LocalAws, upstream: UpstreamSimulator
) -> None:
    release = upstream.publish_release(large_template(), channel="1-20", number=60, archive_size=64)
    assert len(release.archives) + len(release.images) == JOBS
    # The manifest alone is over the quota: it cannot be the execution's input, so Validate fetches it.
    assert state_payload_bytes(release.manifest_text) > STATE_PAYLOAD_LIMIT
    execution_input = {k: v for k, v in workflow_input(release).items() if k != "manifest_yaml"}

    arn = aws.start_adoption(execution_input)
    gates = DynamoDbApprovalStore(aws.approvals_table)

    def gate_open() -> bool:
        if aws.describe(arn)["status"] != "RUNNING":
            raise AssertionError(f"execution ended before its gate opened: {aws.describe(arn)}")
        return gates.get(release.release_id, "prod") is not None

    aws.wait_until(gate_open, timeout=GATE_TIMEOUT, what=f"the approval gate of {release.release_id}")
    bob = aws.add_identity(APPROVER_B)
    assert decide(aws, bob, release.release_id, "approve").status_code == 200
    final = aws.wait_for_execution(arn, timeout=GATE_TIMEOUT)
    assert final["status"] == "SUCCEEDED", final

    record = DynamoDbLedger(aws.ledger_table).get(release.release_id)
    assert record.status is ReleaseStatus.PROMOTED and "prod" in record.promoted_stages
    pointer = json.loads(aws.client("ssm").get_parameter(Name="/eksd-adopt/prod/1-20")["Parameter"]["Value"])
    assert pointer["release_id"] == release.release_id
    key = pointer["manifest_location"].split("/", 3)[3]
    promoted = yaml.safe_load(aws.client("s3").get_object(Bucket=aws.bucket, Key=key)["Body"].read())
    assets = [a for c in promoted["status"]["components"] for a in c["assets"]]
    archives = [a["archive"]["uri"] for a in assets if a["type"] == "Archive"]
    assert len(assets) == JOBS and len(archives) == JOBS - IMAGES
    assert all(u.startswith(f"s3://{aws.bucket}/eksd/prod/kubernetes-1-20/releases/60/") for u in archives)
    listed = aws.client("s3").list_objects_v2(Bucket=aws.bucket, Prefix=archives[-1].split("/", 3)[3])
    assert listed["KeyCount"] >= 1  # the last archive is there in prod, not only named

    largest = largest_payloads(history(aws, arn))
    assert all(size < STATE_BUDGET for size in largest.values()), largest
    mirrored = [
        event for name, event in aws.invocations if name in ("eksd-adopt-images-mirror", "eksd-adopt-archives-mirror")
    ]
    assert len([e for e in mirrored if e.get("release_id") == release.release_id]) == JOBS
    assert max(state_payload_bytes(e) for e in mirrored) < 2048  # each Lambda request: a plan reference and an item
