"""The local approvers' endpoint serves its function as one Lambda execution environment does: one request
at a time, so a handler's per-request module state (Powertools' ``app.current_event``) is never shared."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from eksd_adopt.local.aws import APPROVALS_FUNCTION, LocalAws


@pytest.mark.reliability(
    area="local runtime",
    fault="four signed requests to the approvers' endpoint at once",
    expected="the function serves them one at a time, each with its own caller (as one execution environment)",
)
def test_concurrent_requests_reach_the_function_one_at_a_time() -> None:
    in_flight, most = 0, 0
    lock = threading.Lock()

    def one_environment(event: dict[str, Any], context: Any) -> dict[str, Any]:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        time.sleep(0.2)
        with lock:
            in_flight -= 1
        return {"statusCode": 200, "body": event["requestContext"]["authorizer"]["iam"]["userArn"]}

    with LocalAws() as aws:
        aws.register_function(APPROVALS_FUNCTION, one_environment)
        callers = [aws.add_identity(f"arn:aws:iam::123456789012:user/approver-{n}") for n in range(4)]

        def call(n: int) -> str:
            request = AWSRequest(method="GET", url=aws.approvals_url + "/approvals")
            SigV4Auth(callers[n].credentials, "lambda", "us-east-1").add_auth(request)
            response = httpx.get(aws.approvals_url + "/approvals", headers=dict(request.headers.items()))
            assert response.status_code == 200, response.text
            return response.text

        with ThreadPoolExecutor(4) as pool:
            answered = list(pool.map(call, range(4)))

    assert most == 1
    assert answered == [f"arn:aws:iam::123456789012:user/approver-{n}" for n in range(4)]
