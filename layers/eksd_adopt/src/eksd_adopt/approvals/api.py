"""The approvers' endpoint's routes (a Lambda function URL with AWS_IAM auth): list and show gates,
approve/reject, roll back.

Routing, body decoding and errors to statuses are Powertools' ``LambdaFunctionUrlResolver``; each route
parses its body into a model and calls one use case with the settings the handler read for this
invocation (``app.context["settings"]``). The caller is the IAM principal that signed the request
(``requestContext.authorizer.iam.userArn``), never a field of the body.
"""

from __future__ import annotations

from typing import Any, Self

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response, content_types
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from eksd_adopt.approvals.errors import ApprovalError, ApprovalNotFoundError, NotAnApproverError
from eksd_adopt.approvals.gates import decide, gate_request, pending_approvals
from eksd_adopt.findings import FindingsNotAcknowledgedError, parse_accepted
from eksd_adopt.observability import handler_logger, log_keys
from eksd_adopt.shapes import RELEASE_ID, STAGE
from eksd_adopt.workflow import wiring
from eksd_adopt.workflow.config import ApprovalsApiSettings
from eksd_adopt.workflow.errors import RollbackError
from eksd_adopt.workflow.promotion import rollback

logger = handler_logger()
app = LambdaFunctionUrlResolver()


def check_gate(release_id: str, stage: str) -> None:
    """A gate's release id and stage as the caller sent them (body or path), whole and ASCII, before any use."""
    if not (isinstance(release_id, str) and RELEASE_ID.fullmatch(release_id)):
        raise ValueError(f"release_id {release_id[:80]!r} is not a release id like 1-30-58")
    if not (isinstance(stage, str) and STAGE.fullmatch(stage)):
        raise ValueError(f"stage {stage[:80]!r} is not a stage name like prod (a-z, 0-9, '-', at most 32)")


class DecisionBody(BaseModel):
    release_id: str = Field(min_length=1, max_length=64)
    stage: str = Field(min_length=1, max_length=64)
    decision: str
    comment: str | None = Field(default=None, max_length=2000)
    # Advisory ids (or incomplete-scan) the approver accepts: each matched whole by an ASCII-only pattern.
    accepted_findings: tuple[str, ...] = ()

    @field_validator("accepted_findings", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            raise ValueError("accepted_findings must be a list of advisory ids")
        return parse_accepted(value)

    @model_validator(mode="after")
    def _gate(self) -> Self:
        check_gate(self.release_id, self.stage)
        return self


class RollbackBody(BaseModel):
    stage: str = Field(min_length=1)
    channel: str = Field(pattern=r"^[0-9]+-[0-9]+$")  # [0-9]: pydantic's (Rust) \d is Unicode
    to: int = Field(ge=1)


class UnsignedRequestError(Exception):
    """The function URL passed no IAM principal (it always does with AWS_IAM auth)."""


def _error(status: int, message: str) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body={"error": message})


def _caller() -> str:
    caller = app.current_event.request_context.authorizer.iam.user_arn
    if not caller:
        raise UnsignedRequestError("the request is not signed by an IAM principal")
    log_keys(caller=caller, path=app.current_event.raw_path)
    return caller


def _settings() -> ApprovalsApiSettings:
    settings: ApprovalsApiSettings = app.context["settings"]
    return settings


@app.get("/approvals")
def list_gates() -> dict[str, Any]:
    _caller()
    return {"approvals": pending_approvals(wiring.approvals(_settings()))}


@app.get("/approvals/<release_id>/<stage>")
def show_gate(release_id: str, stage: str) -> dict[str, Any]:
    _caller()
    check_gate(release_id, stage)
    return gate_request(wiring.approvals(_settings()), release_id, stage)


@app.post("/decisions")
def post_decision() -> dict[str, Any]:
    caller, settings = _caller(), _settings()
    body = DecisionBody.model_validate(app.current_event.json_body)
    log_keys(release_id=body.release_id, stage=body.stage, decision=body.decision)
    outcome = decide(
        caller,
        body.release_id,
        body.stage,
        body.decision,
        body.comment,
        rules=settings.stage_rules,
        approvals=wiring.approvals(settings),
        callbacks=wiring.callbacks(settings),
        ledger=wiring.ledger(settings),
        publisher=wiring.publisher(settings),
        accepted_findings=body.accepted_findings,
    )
    logger.info("decision recorded", extra=outcome.model_dump(mode="json"))
    return outcome.model_dump(mode="json")


@app.post("/rollbacks")
def post_rollback() -> dict[str, Any]:
    caller, settings = _caller(), _settings()
    rb = RollbackBody.model_validate(app.current_event.json_body)
    log_keys(stage=rb.stage, channel=rb.channel, release_id=f"{rb.channel}-{rb.to}")
    pointer = rollback(
        caller,
        rb.stage,
        rb.channel,
        rb.to,
        rules=settings.stage_rules,
        ledger=wiring.ledger(settings),
        pointers=wiring.pointers(settings),
        store=wiring.documents(settings),
        publisher=wiring.publisher(settings),
        prefix=settings.prefix,
        records=wiring.rollback_records(settings),
    )
    logger.info("stage rolled back", extra={"release_id": pointer.release_id, "stage": rb.stage})
    return pointer.model_dump(mode="json")


@app.exception_handler(UnsignedRequestError)
def _unsigned(exc: UnsignedRequestError) -> Response[Any]:
    return _error(401, str(exc))


@app.exception_handler(NotAnApproverError)
def _not_an_approver(exc: NotAnApproverError) -> Response[Any]:
    logger.warning("refused", extra={"reason": str(exc), "status": 403})
    return _error(403, str(exc))


@app.exception_handler(ApprovalNotFoundError)
def _no_gate(exc: ApprovalNotFoundError) -> Response[Any]:
    return _error(404, str(exc))


@app.exception_handler([ApprovalError, RollbackError, FindingsNotAcknowledgedError])
def _refused(exc: Exception) -> Response[Any]:
    # The audit trail of refused decisions (replays, gates already decided or expired, findings not
    # accepted): who, what, why.
    logger.warning("refused", extra={"reason": str(exc), "status": 409})
    return _error(409, str(exc))


@app.exception_handler(ValidationError)
def _invalid(exc: ValidationError) -> Response[Any]:
    return _error(400, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))


@app.exception_handler(ValueError)
def _bad_request(exc: ValueError) -> Response[Any]:
    return _error(400, str(exc))


@app.not_found
def _no_route(exc: Exception) -> Response[Any]:
    return _error(404, f"no route {app.current_event.http_method} {app.current_event.raw_path}")
