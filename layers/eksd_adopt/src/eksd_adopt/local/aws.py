"""The local AWS runtime: moto's server in-process, the stack's resources, Lambda handlers run in-process.

``LocalAws`` starts ``moto.server.ThreadedMotoServer`` on a free loopback port with Step Functions
execution on, creates what the stack creates (ledger and approvals tables, bucket, topics, the
``eksd-adopt-release`` state machine from the same ASL file with the same substitutions, pointing at
Lambda ARNs that exist only here), and answers moto's Lambda ``Invoke`` by importing
``functions/<name>/handler.py`` and calling ``handler(event, context)``. It also serves the
approvers' endpoint on loopback: a request must carry a valid SigV4 signature by a local identity,
whose principal ARN the handler receives exactly as a Lambda function URL would pass it. Its Step
Functions holds every state's input and output and every Lambda payload to AWS's 256 KiB quota
(:func:`enforce_state_payload_quota`), so a workflow whose state grows with a release fails here too.

While it runs, the runtime owns this process's AWS configuration (endpoint, credentials, region and
the functions' environment variables are set in ``os.environ`` and restored by :meth:`stop`): the
in-process handlers build their boto3 clients exactly as they do in Lambda.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from eksd_adopt import observability
from eksd_adopt.approvals.aws import create_approvals_table
from eksd_adopt.images.settings import MirrorImageSettings
from eksd_adopt.ledger.dynamodb import create_ledger_table
from eksd_adopt.local.checkout import workflow_definition
from eksd_adopt.local.httpserver import LoopbackHTTPServer
from eksd_adopt.local.kms import enforce_kms_message_types
from eksd_adopt.local.lambdas import LambdaContext, load_handler
from eksd_adopt.local.s3conditional import atomic_conditional_puts
from eksd_adopt.local.scanner import FakeScanner
from eksd_adopt.workflow.config import ApprovalsApiSettings, PromoteSettings
from eksd_adopt.workflow.definition import FUNCTION_SUBSTITUTIONS, STATE_MACHINE_NAME
from eksd_adopt.workflow.findings import FindingsScanSettings

REGION = "us-east-1"
ACCOUNT = "123456789012"
LOCAL_KEY = "local"  # moto accepts any credentials; these never leave the machine

APPROVALS_FUNCTION = "approvals_api"
FINDINGS_FUNCTION = "findings_scan"

LambdaCallable = Callable[[dict[str, Any], Any], Any]
_log = logging.getLogger(__name__)
# The function whose handler is running (its Lambda name), unset outside handlers: lets a test attribute
# each AWS call to the function that made it (tests/iam_coverage.py).
current_function: ContextVar[str | None] = ContextVar("eksd_adopt_local_function", default=None)

# Step Functions' quota on a task's, state's or execution's input or output: 256 KiB of UTF-8 JSON.
# https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html (and the API reference's
# "Maximum length of 262144" on StateEnteredEventDetails.input / StateExitedEventDetails.output).
STATE_PAYLOAD_LIMIT = 262_144


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:eksd-adopt-{name.replace('_', '-')}"


def discard_unpublished_metrics() -> None:
    """Drop the metrics an in-process invocation added when metrics are disabled, as Lambda's flush would.

    With ``POWERTOOLS_METRICS_DISABLED`` the end-of-invocation flush prints nothing and keeps the
    values in Powertools' process-wide metric set; a long-running local process would pile them up
    until a metric's 100th value, whose automatic flush prints an EMF line whatever the switch says
    (aws-powertools/powertools-lambda-python#1062, PR #1046). In Lambda each invocation flushes.
    """
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled

    if is_metrics_disabled():
        observability.discard_metrics()


def render_definition(substitutions: Mapping[str, str], path: Path | None = None) -> str:
    """The ASL file with ``${Name}`` replaced, as CDK's ``definition_substitutions`` does; unknown names fail."""
    path = path or workflow_definition()
    text = path.read_text()
    missing = sorted(set(re.findall(r"\$\{(\w+)\}", text)) - set(substitutions))
    if missing:
        raise KeyError(f"no substitution for {', '.join(missing)} in {path.name}")
    return re.sub(r"\$\{(\w+)\}", lambda m: str(substitutions[m.group(1)]), text)


@dataclass(frozen=True)
class LocalIdentity:
    """A local IAM principal: its access key signs requests to the approvers' endpoint."""

    principal_arn: str
    access_key: str
    secret_key: str

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.access_key, self.secret_key)


@dataclass
class RuntimeSettings:
    """What the runtime's resources are called and how the workflow is configured."""

    prefix: str = "eksd"
    stages: tuple[str, ...] = ("prod",)
    approval_timeout_seconds: int = 3600
    team_test_arn: str = ""
    team_test_timeout_seconds: int = 600
    mirror_concurrency: int = 4
    stage_rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    target_registry_url: str = ""
    endpoints: tuple[str, ...] = ()  # HOST=URL: upstream hosts served locally
    extra_env: dict[str, str] = field(default_factory=dict)


class LocalAws:
    """One embedded AWS for the demo and the tests. Use as a context manager or call start()/stop()."""

    ledger_table = "eksd-adopt-ledger"
    approvals_table = "eksd-adopt-approvals"
    bucket = "eksd-adopt-mirror"

    def __init__(self, settings: RuntimeSettings | None = None) -> None:
        self.settings = settings or RuntimeSettings()
        self.url = ""
        self.approvals_url = ""
        self.events_topic_arn = ""
        self.approvers_topic_arn = ""
        self.state_machine_arn = ""
        self.attestation_key_arn = ""  # the adoption records' ECC signing key (the stack's AttestationSigningKey)
        self._undo_kms: Callable[[], None] | None = None
        self._server: Any = None
        self._endpoint: LoopbackHTTPServer | None = None
        self._saved_env: dict[str, str | None] = {}
        self._saved_invoke: Any = None
        self._undo_quota: Callable[[], None] | None = None
        self._undo_s3: Callable[[], None] | None = None
        self._modules: dict[str, ModuleType] = {}
        self._extra_functions: dict[str, LambdaCallable] = {}
        self.identities: dict[str, LocalIdentity] = {}
        # moto's ECR has no scanner and the images live in a docker-registry: the scan step reads this
        # instead of ECR's DescribeImageScanFindings (seed it; anything not seeded answers SCAN_NOT_FOUND).
        self.scanner = FakeScanner()
        self.invocations: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    # ----- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> LocalAws:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        # moto keeps its backends per process, not per server: start from an empty account, or what an
        # earlier runtime in this process created (same table names) would still be there.
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()
        response = requests.post(
            f"{self.url}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}, timeout=10
        )
        response.raise_for_status()
        self._patch_lambda_invoke()
        self._undo_quota = enforce_state_payload_quota()
        self._undo_s3 = atomic_conditional_puts()
        self._undo_kms = enforce_kms_message_types()  # Sign's MessageType as KMS does (eksd_adopt.local.kms)
        self._apply_env(
            {
                # moto's Step Functions interpreter calls Lambda at localhost:$MOTO_PORT.
                "MOTO_PORT": str(port),
                "AWS_ENDPOINT_URL": self.url,
                "AWS_ACCESS_KEY_ID": LOCAL_KEY,
                "AWS_SECRET_ACCESS_KEY": LOCAL_KEY,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",  # EMF lines on stdout mean nothing without CloudWatch
                **observability.ENVIRONMENT,
                "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            }
        )
        self._create_resources()
        self._apply_env(self.function_env())
        self._start_endpoint()

    def stop(self) -> None:
        if self._endpoint is not None:
            self._endpoint.shutdown()
            self._endpoint.server_close()
            self._endpoint = None
        if self._saved_invoke is not None:
            import moto.awslambda.models as lambda_models

            lambda_models.LambdaBackend.invoke = self._saved_invoke  # type: ignore[method-assign]
            self._saved_invoke = None
        if self._undo_quota is not None:
            self._undo_quota()
            self._undo_quota = None
        if self._undo_s3 is not None:
            self._undo_s3()
            self._undo_s3 = None
        if self._undo_kms is not None:
            self._undo_kms()
            self._undo_kms = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def _apply_env(self, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    # ----- clients and resources -------------------------------------------------------------------
    def client(self, service: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=LOCAL_KEY,
            aws_secret_access_key=LOCAL_KEY,
        )

    def resource(self, service: str) -> Any:
        return boto3.resource(
            service,  # type: ignore[call-overload]
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=LOCAL_KEY,
            aws_secret_access_key=LOCAL_KEY,
        )

    def function_env(self) -> dict[str, str]:
        """The environment every step function gets: the union of what their settings models read, spelled by
        those models as the stack spells it (each handler reads its own part)."""
        s = self.settings
        env = PromoteSettings.to_env(
            ledger_table=self.ledger_table,
            approvals_table=self.approvals_table,
            bucket=self.bucket,
            prefix=s.prefix,
            events_topic_arn=self.events_topic_arn,
            approvers_topic_arn=self.approvers_topic_arn,
            stage_rules=s.stage_rules,
            target_registry_url=s.target_registry_url,
            target_registry_auth="none",
            ecr_control_plane=False,
            attestation_key_arn=self.attestation_key_arn,
        )
        env |= ApprovalsApiSettings.to_env(promote_function=function_arn(FUNCTION_SUBSTITUTIONS["PromoteFunctionArn"]))
        env |= MirrorImageSettings.to_env(endpoints=s.endpoints, concurrency=s.mirror_concurrency)
        # The in-memory scanner answers at once; a seeded IN_PROGRESS settles within a few rounds.
        env |= FindingsScanSettings.to_env(wait_seconds=2, interval_seconds=0.1)
        return {**env, **s.extra_env}

    def substitutions(self) -> dict[str, str]:
        s = self.settings
        values = {key: function_arn(name) for key, name in FUNCTION_SUBSTITUTIONS.items()}
        values.update(
            Stages=",".join(s.stages),
            ApprovalTimeoutSeconds=str(s.approval_timeout_seconds),
            TeamTestArn=s.team_test_arn,
            TeamTestTimeoutSeconds=str(s.team_test_timeout_seconds),
            MirrorConcurrency=str(s.mirror_concurrency),
        )
        return values

    def _create_resources(self) -> None:
        dynamodb = self.client("dynamodb")
        create_ledger_table(dynamodb, self.ledger_table)
        create_approvals_table(dynamodb, self.approvals_table)
        self.client("s3").create_bucket(Bucket=self.bucket)
        sns = self.client("sns")
        self.events_topic_arn = sns.create_topic(Name="eksd-adopt-release-events")["TopicArn"]
        self.approvers_topic_arn = sns.create_topic(Name="eksd-adopt-approvers")["TopicArn"]
        self.attestation_key_arn = self.client("kms").create_key(
            KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY", Description="eksd-adopt adoption records"
        )["KeyMetadata"]["Arn"]
        self.state_machine_arn = self.create_state_machine(STATE_MACHINE_NAME)

    def create_state_machine(self, name: str, **overrides: str) -> str:
        """Another state machine from the same ASL file, e.g. with ``ApprovalTimeoutSeconds="3"`` for a test."""
        return str(
            self.client("stepfunctions").create_state_machine(
                name=name,
                definition=render_definition({**self.substitutions(), **overrides}),
                roleArn=f"arn:aws:iam::{ACCOUNT}:role/eksd-adopt-workflow",
            )["stateMachineArn"]
        )

    def subscribe_queue(self, topic_arn: str, name: str) -> str:
        """An SQS queue subscribed (raw delivery) to a topic, so a test or the demo can read what was sent."""
        sqs = self.client("sqs")
        queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.client("sns").subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
        )
        return str(queue_url)

    def drain(self, queue_url: str) -> list[str]:
        sqs = self.client("sqs")
        bodies: list[str] = []
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return bodies
            for m in messages:
                bodies.append(m["Body"])
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])

    # ----- in-process Lambda -----------------------------------------------------------------------
    def register_function(self, name: str, function: LambdaCallable) -> str:
        """Serve a Lambda ARN with a Python callable (e.g. a team's test step); returns the ARN."""
        self._extra_functions[f"eksd-adopt-{name.replace('_', '-')}"] = function
        return function_arn(name)

    def _handler_for(self, function_name: str) -> LambdaCallable:
        name = function_name.rsplit(":", 1)[-1] if function_name.startswith("arn:") else function_name
        if name in self._extra_functions:
            return self._extra_functions[name]
        if name == function_arn(FINDINGS_FUNCTION).rsplit(":", 1)[-1]:
            scan = self._module(FINDINGS_FUNCTION).handler
            return lambda event, context: scan(event, context, scanner=self.scanner)
        handler: LambdaCallable = self._module(name.removeprefix("eksd-adopt-").replace("-", "_")).handler
        return handler

    def _module(self, directory: str) -> ModuleType:
        with self._lock:
            module = self._modules.get(directory)
            if module is None:
                module = load_handler(directory)
                self._modules[directory] = module
        return module

    def load_handler(self, name: str) -> LambdaCallable:
        """The real handler of ``functions/<name>/handler.py``, even when a stand-in is registered for it."""
        handler: LambdaCallable = self._module(name.replace("-", "_")).handler
        return handler

    def invoke(self, function_name: str, event: dict[str, Any]) -> Any:
        """Run a function's handler in this process, as Lambda would."""
        arn = function_name if function_name.startswith("arn:") else function_arn(function_name)
        self.invocations.append((arn.rsplit(":", 1)[-1], event))
        context = LambdaContext(function_name=arn.rsplit(":", 1)[-1], invoked_function_arn=arn)
        token = current_function.set(context.function_name)
        try:
            return self._handler_for(arn)(event, context)
        finally:
            current_function.reset(token)
            discard_unpublished_metrics()

    def _patch_lambda_invoke(self) -> None:
        import moto.awslambda.models as lambda_models

        runtime = self
        self._saved_invoke = lambda_models.LambdaBackend.invoke

        def invoke(
            backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
        ) -> bytes:
            event = json.loads(body) if body else {}
            try:
                result = runtime.invoke(function_name, event)
            except Exception as exc:  # every handler error becomes Lambda's error payload, as in AWS
                _log.info("function %s raised %s: %s", function_name, type(exc).__name__, exc)
                response_headers["x-amz-function-error"] = "Unhandled"
                payload = json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)[:30000]})
            else:
                payload = json.dumps(result)
            response_headers["Content-Length"] = str(len(payload.encode()))
            return payload.encode()

        lambda_models.LambdaBackend.invoke = invoke  # type: ignore[method-assign,assignment]

    # ----- the approvers' endpoint -----------------------------------------------------------------
    def add_identity(self, principal_arn: str) -> LocalIdentity:
        """A local principal and its keys (the endpoint maps the signing access key to the ARN)."""
        identity = LocalIdentity(principal_arn, "AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30))
        self.identities[identity.access_key] = identity
        return identity

    def _start_endpoint(self) -> None:
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, payload = runtime.handle_signed_request(self.command, self.path, dict(self.headers), body)
                data = payload.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _serve
            do_POST = _serve

        self._endpoint_environment = threading.Lock()
        self._endpoint = LoopbackHTTPServer(("127.0.0.1", 0), Handler)
        self.approvals_url = f"http://127.0.0.1:{self._endpoint.server_address[1]}"
        threading.Thread(target=self._endpoint.serve_forever, daemon=True).start()

    def handle_signed_request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        """Check the SigV4 signature as a function URL with AWS_IAM auth does, then run the handler."""
        identity = self.verify_signature(method, path, headers, body)
        if identity is None:
            return 403, json.dumps({"message": "Forbidden: the request signature is missing or does not match"})
        event = {
            "version": "2.0",
            "rawPath": path.split("?", 1)[0],
            "rawQueryString": path.split("?", 1)[1] if "?" in path else "",
            "headers": {k.lower(): v for k, v in headers.items()},
            # A function URL's payload (API Gateway's format 2.0) names "$default" for the API Gateway
            # features it lacks: https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads
            "routeKey": "$default",
            "requestContext": {
                "stage": "$default",
                "http": {"method": method, "path": path.split("?", 1)[0]},
                "authorizer": {"iam": {"accessKey": identity.access_key, "userArn": identity.principal_arn}},
            },
            "body": body.decode() if body else None,
            "isBase64Encoded": False,
        }
        # One request at a time, as one Lambda execution environment serves them ("each instance of your
        # execution environment can handle only one request at a time":
        # https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html). The handler, like every
        # Powertools resolver, keeps the request being served in module state (``app.current_event``); in
        # this process two requests at once would read each other's caller and body.
        with self._endpoint_environment:
            response = self.invoke(APPROVALS_FUNCTION, event)
        return int(response["statusCode"]), str(response.get("body") or "")

    def verify_signature(self, method: str, path: str, headers: dict[str, str], body: bytes) -> LocalIdentity | None:
        lower = {k.lower(): v for k, v in headers.items()}
        match = re.match(
            r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
            r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$",
            lower.get("authorization", ""),
        )
        if not match:
            return None
        access_key, _day, region, service, signed, signature = match.groups()
        identity = self.identities.get(access_key)
        timestamp = lower.get("x-amz-date", "")
        if identity is None or not timestamp:
            return None
        try:
            signed_at = datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return None
        if abs((datetime.now(UTC) - signed_at).total_seconds()) > 300:  # AWS refuses skew over 5 minutes
            return None
        request = AWSRequest(
            method=method,
            url=f"http://{lower.get('host', '')}{path}",
            data=body,
            headers={name: lower.get(name, "") for name in signed.split(";")},
        )
        request.context["timestamp"] = timestamp
        auth = SigV4Auth(identity.credentials, service, region)
        expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
        return identity if hmac.compare_digest(expected, signature) else None

    # ----- driving the workflow --------------------------------------------------------------------
    def start_adoption(self, workflow_input: Mapping[str, Any], state_machine_arn: str | None = None) -> str:
        """Start ``adopt-<release_id>`` as the intake does; returns the execution ARN."""
        return str(
            self.client("stepfunctions").start_execution(
                stateMachineArn=state_machine_arn or self.state_machine_arn,
                name=f"adopt-{workflow_input['release_id']}",
                input=json.dumps(dict(workflow_input)),
            )["executionArn"]
        )

    def describe(self, execution_arn: str) -> dict[str, Any]:
        return dict(self.client("stepfunctions").describe_execution(executionArn=execution_arn))

    def wait_for_execution(self, execution_arn: str, timeout: float = 60) -> dict[str, Any]:
        """Wait until the execution leaves RUNNING; returns describe_execution's answer."""
        deadline = time.monotonic() + timeout
        while True:
            description = self.describe(execution_arn)
            if description["status"] != "RUNNING" or time.monotonic() > deadline:
                return description
            time.sleep(0.1)

    def wait_until(self, condition: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(0.1)

    @contextmanager
    def env(self, **values: str) -> Iterator[None]:
        """Temporarily change the functions' environment (e.g. a stage rule) for one test."""
        saved = {k: os.environ.get(k) for k in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def state_payload_bytes(value: Any) -> int:
    """The size Step Functions counts: the UTF-8 bytes of the value as compact JSON (a string as itself)."""
    text = (
        value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    )
    return len(text.encode("utf-8"))


def enforce_state_payload_quota() -> Callable[[], None]:
    """Make moto's Step Functions interpreter hold every payload to the 256 KiB quota as AWS does; returns the undo.

    AWS fails a state with ``States.DataLimitExceeded`` when a connector's output (a Lambda's response),
    a state's output, or a state's input after ``Parameters`` (a Lambda's request payload) is over the
    quota, and ``States.ALL`` neither catches nor retries it: the execution fails where it stands
    (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html, "States.ALL" and
    "States.DataLimitExceeded"). moto checks only outputs, counts spaced JSON, refuses exactly 262,144
    bytes, and lets ``States.ALL`` catch and retry the error; this patch closes each of those gaps.
    """
    try:
        from moto.stepfunctions.parser.asl.component.common.error_name import error_equals_decl
        from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
        from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
            StatesErrorNameType,
        )
        from moto.stepfunctions.parser.asl.component.state import state as state_module
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service
    except ImportError as exc:  # pragma: no cover - a moto release that moved its interpreter
        raise RuntimeError(f"cannot hold moto's Step Functions to the 256 KiB quota: {exc}") from exc
    state_class = state_module.CommonStateField
    service_class = state_task_service.StateTaskService
    error_equals = error_equals_decl.ErrorEqualsDecl
    quota_users = (state_module, state_task_lambda, state_task_service)
    targets: list[tuple[Any, str]] = [(m, "is_within_size_quota") for m in quota_users] + [
        (state_class, "_eval_state_input"),
        (service_class, "_before_eval_execution"),
        (error_equals, "_eval_body"),
    ]
    for owner, name in targets:
        if not hasattr(owner, name):  # pragma: no cover - fail loudly rather than stop enforcing
            raise RuntimeError(f"cannot hold moto's Step Functions to the 256 KiB quota: {owner} has no {name}")
    data_limit = StatesErrorName(typ=StatesErrorNameType.StatesStatesDataLimitExceeded)
    saved_input = state_class._eval_state_input
    saved_before = service_class._before_eval_execution
    saved_matches = error_equals._eval_body

    def within_quota(value: Any) -> bool:
        return state_payload_bytes(value) <= STATE_PAYLOAD_LIMIT

    def eval_state_input(self: Any, env: Any) -> None:
        saved_input(self, env)
        self._verify_size_quota(env, env.stack[-1])  # the state's input, as it enters

    def before_eval_execution(self: Any, env: Any, **kwargs: Any) -> None:
        self._verify_size_quota(env, kwargs["raw_parameters"])  # the input after Parameters: a Lambda's request
        saved_before(self, env, **kwargs)

    def matches(self: Any, env: Any) -> None:
        error = env.stack[-1]
        saved_matches(self, env)
        if error == data_limit:
            env.stack[-1] = False  # a terminal error: no Retry or Catch matches it

    # StartExecution itself refuses an input over the quota (the API's ``input``: "Length Constraints:
    # Maximum length of 262144", https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html),
    # as a ValidationException: nothing starts. moto starts the execution and lets its first state fail.
    from moto.stepfunctions.exceptions import ValidationException
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    targets.append((StepFunctionsParserBackend, "start_execution"))
    saved_start = StepFunctionsParserBackend.start_execution

    def start_execution(
        self: Any, state_machine_arn: str, name: Any = None, execution_input: Any = None, **kw: Any
    ) -> Any:
        if execution_input is not None and state_payload_bytes(str(execution_input)) > STATE_PAYLOAD_LIMIT:
            raise ValidationException(
                f"1 validation error detected: Value at 'input' failed to satisfy constraint: "
                f"Member must have length less than or equal to {STATE_PAYLOAD_LIMIT}"
            )
        return saved_start(self, state_machine_arn, name, execution_input, **kw)

    replacements = [within_quota] * len(quota_users) + [
        eval_state_input,
        before_eval_execution,
        matches,
        start_execution,
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name in targets]
    for (owner, name), replacement in zip(targets, replacements, strict=True):
        setattr(owner, name, replacement)

    def undo() -> None:
        for owner, name, original in saved:
            setattr(owner, name, original)

    return undo
