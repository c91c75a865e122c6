"""Intake settings: channels and ARNs matched with ASCII-only, whole-string patterns."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from eksd_adopt.intake.settings import IntakeSettings

ENV = {
    "LEDGER_TABLE": "ledger",
    "STATE_MACHINE_ARN": "arn:aws:states:eu-west-1:111122223333:stateMachine:adopt",
}


@pytest.mark.parametrize(
    "override",
    [
        {"TRACKED_CHANNELS": "1-30,1-3\u0661"},  # ARABIC-INDIC DIGIT ONE
        {"TRACK_FROM_MINOR": "1-3\u0660"},
        {"STATE_MACHINE_ARN": "arn:aws\u00e9:states:eu-west-1:111122223333:stateMachine:x"},  # \w took it
        {"UPSTREAM_TOPIC_ARN": "arn:aws\u00e9:sns:us-east-1:379412251201:eks-distro-updates"},
    ],
)
def test_non_ascii_or_trailing_characters_are_refused(override: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        IntakeSettings.from_env({**ENV, **override})


def test_ascii_settings_are_read() -> None:
    settings = IntakeSettings.from_env({**ENV, "TRACKED_CHANNELS": "1-30, 1-31"})
    assert settings.tracked_channels == ("1-30", "1-31")
