"""The approvers' endpoint (Lambda function URL, AWS_IAM auth): list gates, approve/reject, roll back.

The caller is the IAM principal that signed the request (``requestContext.authorizer.iam.userArn``),
never a field of the body.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field, ValidationError

from eksd_adopt.approvals.errors import ApprovalError, NotAnApproverError
from eksd_adopt.approvals.gates import decide, pending_approvals
from eksd_adopt.workflow import wiring
from eksd_adopt.workflow.config import WorkflowSettings
from eksd_adopt.workflow.errors import RollbackError
from eksd_adopt.workflow.promotion import rollback

logger = Logger()
tracer = Tracer()


class DecisionBody(BaseModel):
    release_id: str = Field(min_length=1)
    stage: str = Field(min_length=1)
    decision: str
    comment: str | None = Field(default=None, max_length=2000)


class RollbackBody(BaseModel):
    stage: str = Field(min_length=1)
    channel: str = Field(pattern=r"^[0-9]+-[0-9]+$")  # [0-9]: pydantic's (Rust) \d is Unicode
    to: int = Field(ge=1)


def _response(status: int, body: Any) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def _body(event: dict[str, Any]) -> dict[str, Any]:
    raw = event.get("body") or "{}"
    if event.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode()
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("the request body must be a JSON object")
    return data


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    caller = ((event.get("requestContext") or {}).get("authorizer") or {}).get("iam", {}).get("userArn")
    if not caller:
        return _response(401, {"error": "the request is not signed by an IAM principal"})
    settings = WorkflowSettings.from_env(os.environ)
    method = (event.get("requestContext") or {}).get("http", {}).get("method", "GET")
    path = event.get("rawPath", "/")
    logger.append_keys(caller=caller, path=path)
    try:
        if method == "GET" and path == "/approvals":
            return _response(200, {"approvals": pending_approvals(wiring.approvals(settings))})
        if method == "POST" and path == "/decisions":
            body = DecisionBody.model_validate(_body(event))
            logger.append_keys(release_id=body.release_id, stage=body.stage, decision=body.decision)
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
            )
            logger.info("decision recorded", extra=outcome.model_dump(mode="json"))
            return _response(200, outcome.model_dump(mode="json"))
        if method == "POST" and path == "/rollbacks":
            rb = RollbackBody.model_validate(_body(event))
            logger.append_keys(stage=rb.stage, channel=rb.channel, release_id=f"{rb.channel}-{rb.to}")
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
            return _response(200, pointer.model_dump(mode="json"))
    except NotAnApproverError as exc:
        logger.warning("refused", extra={"reason": str(exc), "status": 403})
        return _response(403, {"error": str(exc)})
    except (ApprovalError, RollbackError) as exc:
        # The audit trail of refused decisions (replays, gates already decided or expired): who, what, why.
        logger.warning("refused", extra={"reason": str(exc), "status": 409})
        return _response(409, {"error": str(exc)})
    except ValidationError as exc:
        return _response(400, {"error": "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())})
    except ValueError as exc:
        return _response(400, {"error": str(exc)})
    return _response(404, {"error": f"no route {method} {path}"})
