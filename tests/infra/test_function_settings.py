"""The stack and the functions agree on every setting: each variable a function's environment holds is one
its handler's settings model reads, and every setting a model requires is there, with a value that parses."""

from __future__ import annotations

import re
from typing import Any

import pytest

from eksd_adopt import observability
from eksd_adopt.local.lambdas import load_handler
from eksd_adopt.settings import EnvSettings
from infra.function_factory import HANDLER_METADATA
from tests.infra.conftest import resources_of


def _functions(template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """functions/<dir> -> the environment variables the stack gives it."""
    found = {}
    for resource in resources_of(template_json, "AWS::Lambda::Function").values():
        directory = resource.get("Metadata", {}).get(HANDLER_METADATA)
        if directory:
            found[directory] = resource["Properties"].get("Environment", {}).get("Variables", {})
    return found


def _settings_models(directory: str) -> list[type[EnvSettings]]:
    module = load_handler(directory)
    return [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, EnvSettings)]


# Deploy-time values (tokens) as well-formed ones of their kind, so each model can parse the whole set.
_PLACEHOLDERS = {
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:eksd-adopt-release",
    "UPSTREAM_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:eksd-release-topic",
    "TARGET_REGISTRY_URL": "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
}


def _placeholder(alias: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    return _PLACEHOLDERS.get(alias, "resolved-at-deploy")


def test_every_function_reads_its_settings_from_a_model(template_json: dict[str, Any]) -> None:
    functions = _functions(template_json)
    assert len(functions) >= 13
    for directory in functions:
        assert _settings_models(directory), f"functions/{directory} reads no EnvSettings model"


@pytest.mark.parametrize(
    "directory",
    sorted(
        p
        for p in (
            "images_mirror",
            "archives_mirror",
            "intake_notification",
            "intake_reconcile",
            "approvals_watch",
            "approvals_api",
            "approvals_request",
            "workflow_validate",
            "workflow_verify",
            "workflow_smoke_test",
            "workflow_record_tested",
            "workflow_promote",
            "workflow_record_outcome",
            "findings_scan",
        )
    ),
)
def test_the_stack_sets_only_what_the_handler_reads_and_all_it_requires(
    template_json: dict[str, Any], directory: str
) -> None:
    environment = _functions(template_json)[directory]
    models = _settings_models(directory)
    read = {f.alias for m in models for f in m.model_fields.values() if f.alias}
    unread = set(environment) - read - set(observability.ENVIRONMENT)
    assert not unread, f"functions/{directory} is given {sorted(unread)}, which no settings model it uses reads"
    resolved = {alias: _placeholder(alias, value) for alias, value in environment.items()}
    for model in models:
        model.from_env(resolved)  # raises naming the missing or malformed setting


def test_to_env_refuses_a_name_the_model_does_not_have() -> None:
    from eksd_adopt.approvals.settings import ApprovalWatchSettings

    with pytest.raises(TypeError, match=re.escape("ApprovalWatchSettings has no setting 'approval_table'")):
        ApprovalWatchSettings.to_env(approval_table="x")
    assert ApprovalWatchSettings.to_env(approvals_table="t") == {"APPROVALS_TABLE": "t"}
