"""Approvals: the signing region comes from a function URL's host only; the rollback API's channel is ASCII."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from eksd_adopt.cli.approvals import url_region


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://abc123.lambda-url.eu-west-1.on.aws/", "eu-west-1"),
        ("https://evil.example/?next=x.lambda-url.eu-west-1.on.aws", None),  # found by search() before
        ("https://abc.lambda-url.eu-west-1.on.aws.evil.example/", None),
    ],
)
def test_the_region_is_read_from_the_host_alone(url: str, region: str | None) -> None:
    assert url_region(url) == region


def test_the_rollback_api_refuses_a_channel_with_non_ascii_digits() -> None:
    from eksd_adopt.approvals.api import RollbackBody as body

    assert body.model_validate({"stage": "prod", "channel": "1-30", "to": 3}).channel == "1-30"
    with pytest.raises(ValidationError):
        body.model_validate({"stage": "prod", "channel": "1-3\u0660", "to": 3})
