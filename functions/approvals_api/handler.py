"""The approvers' endpoint (Lambda function URL, AWS_IAM auth): list and show gates, approve/reject, roll back.

The routes are ``eksd_adopt.approvals.api``; this handler reads the settings for the invocation.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from eksd_adopt.approvals.api import app
from eksd_adopt.observability import instrumented
from eksd_adopt.workflow.config import ApprovalsApiSettings


@instrumented
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    app.append_context(settings=ApprovalsApiSettings.from_env(os.environ))
    return app.resolve(event, context)
