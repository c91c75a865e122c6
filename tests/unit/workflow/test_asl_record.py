"""What the ASL hands Promote for the signed record: the state's entry time (the same on each retry of the
state, so a retried invocation writes the same record), the execution, and the checks' summaries."""

from __future__ import annotations

import json
from typing import Any

from eksd_adopt.workflow.state import PromotionState
from tests.unit.workflow.test_asl import ASL


def _states() -> dict[str, Any]:
    states: dict[str, Any] = json.loads(ASL.read_text())["States"]
    return states


def test_promote_gets_the_entry_time_the_execution_and_the_checks() -> None:
    promote = _states()["Stages"]["ItemProcessor"]["States"]["Promote"]
    payload = promote["Parameters"]["Payload"]
    assert payload["recorded_at.$"] == "$$.State.EnteredTime"
    assert payload["execution.$"] == "$$.Execution.Id"
    assert payload["verification.$"] == "$.verify.verification" and payload["tests.$"] == "$.tests"
    # Exactly the keys the handler's state model takes (it refuses others).
    assert {k.removesuffix(".$") for k in payload} == set(PromotionState.model_fields)


def test_record_tested_keeps_both_results_and_when_they_were_found_passed() -> None:
    tested = _states()["RecordTested"]
    assert tested["ResultPath"] == "$.tests"
    assert tested["ResultSelector"] == {
        "smoke.$": "$.Payload.smoke",
        "team.$": "$.Payload.team",
        "tested_at.$": "$.Payload.tested_at",
    }
    assert _states()["Stages"]["ItemSelector"]["tests.$"] == "$.tests"
