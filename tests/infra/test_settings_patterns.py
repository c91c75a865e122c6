"""Deployment settings: the channel a deployment tracks from is ASCII digits (pydantic's \\d is Unicode)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.settings import DeploymentSettings


def test_track_from_minor_refuses_non_ascii_digits() -> None:
    assert DeploymentSettings(track_from_minor="1-31").track_from_minor == "1-31"
    with pytest.raises(ValidationError):
        DeploymentSettings(track_from_minor="1-3\u0661")
