"""cfn-lint over the synthesized template, for every region of the aws partition: errors fail the run.

The deploy regions (``infra.constants.DEPLOY_REGIONS``, listed in docs/operations.md) must lint clean; every
other region must fail on a resource type it lacks (E3006: AWS::Lambda::Url, the approvers' endpoint),
so the documented list is exactly where the stack can deploy.
"""

from __future__ import annotations

import re
from collections import defaultdict
from importlib.resources import files
from pathlib import Path

import pytest
from cfnlint.api import REGIONS, lint

from infra.constants import DEPLOY_REGIONS

# Regions of other partitions: the upstream topic (aws partition) cannot feed a queue there.
OTHER_PARTITIONS = ("cn-", "us-gov-", "us-iso", "eu-isoe-", "eusc-")
# Regions cfn-lint has resource schemas for (it lints a region without them against us-east-1's, so
# it could not tell whether such a region, e.g. me-south-1, lacks a type; those are not deploy regions).
SCHEMA_REGIONS = {p.name.removesuffix(".json") for p in files("cfnlint.data.schemas.providers").iterdir()}
AWS_REGIONS = sorted(r for r in REGIONS if r in SCHEMA_REGIONS and not r.startswith(OTHER_PARTITIONS))
MISSING_TYPE = re.compile(r"Resource type '([A-Za-z0-9:]+)' does not exist in '([a-z0-9-]+)'", re.ASCII)


@pytest.fixture(scope="module")
def findings(cloud_assembly: Path) -> list[tuple[str, str, str]]:
    text = (cloud_assembly / "EksdAdopt.template.json").read_text()
    # us-gov-west-1 too: the region the issue found (E3006 for AWS::Lambda::Url).
    return [(m.rule.id, str(m.message), m.path_string) for m in lint(text, regions=[*AWS_REGIONS, "us-gov-west-1"])]


def test_deploy_regions_are_known_to_cfn_lint() -> None:
    assert set(DEPLOY_REGIONS) <= set(AWS_REGIONS), set(DEPLOY_REGIONS) - set(AWS_REGIONS)


def test_no_error_but_missing_resource_types_outside_the_deploy_regions(findings: list[tuple[str, str, str]]) -> None:
    errors = [f for f in findings if f[0].startswith("E") and f[0] != "E3006"]
    assert errors == []


def test_every_deploy_region_lints_clean_and_every_other_region_lacks_a_resource_type(
    findings: list[tuple[str, str, str]],
) -> None:
    missing: dict[str, set[str]] = defaultdict(set)
    for rule, message, _ in findings:
        if rule == "E3006":
            match = MISSING_TYPE.search(message)
            assert match, message
            missing[match.group(2)].add(match.group(1))
    assert not set(missing) & set(DEPLOY_REGIONS), {r: missing[r] for r in set(missing) & set(DEPLOY_REGIONS)}
    assert set(missing) == (set(AWS_REGIONS) - set(DEPLOY_REGIONS)) | {"us-gov-west-1"}
    assert "AWS::Lambda::Url" in missing["us-gov-west-1"]
