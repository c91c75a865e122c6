"""Every AWS call a function makes must be allowed by that function's role in the synthesized template.

moto enforces no IAM, so a grant the code needs but the stack lacks only shows on the first real
deploy. ``CallRecorder`` hooks botocore in the process where the local runtime runs the handlers
(``eksd_adopt.local.aws``): every client the default boto3 session creates gets a
``provide-client-params`` handler that records the service, the operation and the parameters naming
the resource, attributed to the function whose handler made the call (``local.aws.current_function``,
or for a client used from a worker thread, the function that created it). ``check_calls`` then maps
each call to the IAM actions and resource ARNs it needs (the table below, from the Service
Authorization Reference) and evaluates them against the Allow statements of that function's role,
with the template's ``Ref``/``Fn::GetAtt``/``Fn::Join`` resolved to the local runtime's resources.
Conditions are evaluated for the keys the request context is known to carry here; other keys are
noted, not evaluated. ``check_approver_calls`` does the same for the approvers' signed requests to the
function URL against ``ApproversPolicy``.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any

import boto3

from eksd_adopt.local import aws as local_aws

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"
DOMAIN_DIR = REPO_ROOT / "layers" / "eksd_adopt" / "src" / "eksd_adopt"
HARNESS_DIRS = (DOMAIN_DIR / "local", DOMAIN_DIR / "cli", REPO_ROOT / "tests")
HANDLER_METADATA = "eksd-adopt:handler"  # infra.function_factory.HANDLER_METADATA
UNATTRIBUTED = "<unattributed>"
# Parameters that name what a call touches (bodies and streams are never kept).
KEPT_PARAMS = (
    "TableName",
    "IndexName",
    "Bucket",
    "Key",
    "CopySource",
    "Prefix",
    "TopicArn",
    "TargetArn",
    "stateMachineArn",
    "executionArn",
    "Name",
    "Path",
    "repositoryName",
    "registryId",
    "QueueUrl",
    "QueueName",
    "FunctionName",
    "KeyId",
    "SigningAlgorithm",
    "Namespace",
    "SubscriptionArn",
)


@dataclass(frozen=True)
class AwsCall:
    function: str  # Lambda name in the local runtime, e.g. eksd-adopt-workflow-validate
    service: str  # the IAM prefix (botocore's signing name: "states" for Step Functions)
    operation: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Need:
    """One IAM authorization a call needs: an action on a resource, with the context keys we know."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Miss:
    who: str
    operation: str
    need: Need

    def __str__(self) -> str:
        context = f" (context {dict(self.need.context)})" if self.need.context else ""
        return f"{self.who}: {self.operation} needs {self.need.action} on {self.need.resource}{context}"


class CallRecorder:
    """Records the AWS calls made in this process while active (a context manager)."""

    def __init__(self) -> None:
        self.calls: list[AwsCall] = []
        self._lock = threading.Lock()
        self._session: Any = None

    def __enter__(self) -> CallRecorder:
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        self._session = boto3.DEFAULT_SESSION
        self._session.events.register("creating-client-class", self._add_recording_base, unique_id=id(self))
        return self

    def __exit__(self, *exc: object) -> None:
        self._session.events.unregister("creating-client-class", unique_id=id(self))

    def _add_recording_base(self, base_classes: list[type], **_: Any) -> None:
        recorder = self

        class Recorded:
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                created_by = local_aws.current_function.get() or _domain_caller()
                self.meta.events.register("provide-client-params", partial(recorder._record, created_by))  # type: ignore[attr-defined]

        base_classes.insert(0, Recorded)

    def _record(self, created_by: str | None, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        function = local_aws.current_function.get() or created_by
        if function is None:  # the harness itself (the runtime creating resources, the test reading them)
            return
        kept: dict[str, Any] = {k: params[k] for k in KEPT_PARAMS if k in params}
        if "TransactItems" in params:
            kept["TransactItems"] = [
                (kind, body["TableName"]) for item in params["TransactItems"] for kind, body in item.items()
            ]
        for batch in ("RequestItems",):
            if batch in params:
                kept[batch] = sorted(params[batch])
        call = AwsCall(function, model.service_model.signing_name, model.name, kept)
        with self._lock:
            self.calls.append(call)


def _domain_caller() -> str | None:
    """UNATTRIBUTED when a client is created by service code outside any handler (a test would miss its
    calls), None when the harness (local runtime, CLI, tests, moto) creates it."""
    frame = sys._getframe(2)
    domain = False
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if any(path.is_relative_to(d) for d in HARNESS_DIRS):
            return None
        if path.is_relative_to(FUNCTIONS_DIR) or path.is_relative_to(DOMAIN_DIR):
            domain = True
        frame = frame.f_back  # type: ignore[assignment]
    return UNATTRIBUTED if domain else None


# ----- what each call needs ------------------------------------------------------------------------

REGION, ACCOUNT = local_aws.REGION, local_aws.ACCOUNT


def _arn(service: str, resource: str, *, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def _table(name: str, index: str | None = None) -> str:
    return _arn("dynamodb", f"table/{name}" + (f"/index/{index}" if index else ""))


def _object(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _copy_source(source: Any) -> tuple[str, str]:
    if isinstance(source, Mapping):
        return str(source["Bucket"]), str(source["Key"])
    bucket, _, key = str(source).lstrip("/").partition("/")
    return bucket, key.split("?versionId=")[0]


_TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
# S3 operations whose IAM action has another name (Service Authorization Reference, Amazon S3).
_S3_OBJECT_ACTIONS = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "ListParts": "s3:ListMultipartUploadParts",
    "DeleteObject": "s3:DeleteObject",
    "GetObjectTagging": "s3:GetObjectTagging",
    "PutObjectTagging": "s3:PutObjectTagging",
}
# What an SSE-KMS object operation asks of the bucket key with the caller's rights
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#require-sse-kms).
_S3_KMS = {
    "GetObject": ("kms:Decrypt",),
    "PutObject": ("kms:GenerateDataKey",),
    "CreateMultipartUpload": ("kms:GenerateDataKey",),
    "CompleteMultipartUpload": ("kms:Decrypt",),
}
# Calls that need no IAM permission at all.
_FREE = {("sts", "GetCallerIdentity")}


@dataclass
class Needs:
    """Turns a recorded call into what it needs, knowing which key encrypts which local resource."""

    keys: Mapping[str, str]  # bucket name / topic ARN / state machine ARN -> KMS key ARN
    state_machine_arn: str

    def __call__(self, call: AwsCall) -> list[Need]:
        s, op, p = call.service, call.operation, call.params
        if (s, op) in _FREE:
            return []
        if s == "dynamodb":
            if op in ("TransactWriteItems", "TransactGetItems"):
                return [Need(f"dynamodb:{_TRANSACT.get(k, 'GetItem')}", _table(t)) for k, t in p["TransactItems"]]
            if op in ("BatchGetItem", "BatchWriteItem"):
                return [Need(f"dynamodb:{op}", _table(t)) for t in p["RequestItems"]]
            return [Need(f"dynamodb:{op}", _table(p["TableName"], p.get("IndexName")))]
        if s == "s3":
            return self._s3(op, p)
        if s == "sns" and op == "Publish":
            # Publishing to an SSE topic asks its key for a data key with the publisher's rights:
            # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html
            topic = p.get("TopicArn") or p["TargetArn"]
            return [Need("sns:Publish", topic), *self._kms(topic, ("kms:GenerateDataKey", "kms:Decrypt"), "sns")]
        if s == "sns" and op in ("Subscribe", "ListSubscriptionsByTopic"):
            return [Need(f"sns:{op}", p["TopicArn"])]
        if s == "states" and op == "StartExecution":
            machine = p["stateMachineArn"]
            return [Need("states:StartExecution", machine), *self._states_kms(machine)]
        if s == "states" and op in ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"):
            # No resource type for these in the Service Authorization Reference: only "*" matches.
            return [Need(f"states:{op}", "*"), *self._states_kms(self.state_machine_arn)]
        if s == "states" and op in ("DescribeExecution", "StopExecution", "GetExecutionHistory"):
            return [Need(f"states:{op}", p["executionArn"])]
        if s == "ssm" and op in ("GetParameter", "PutParameter", "DeleteParameter"):
            return [Need(f"ssm:{op}", _arn("ssm", "parameter/" + str(p["Name"]).lstrip("/")))]
        if s == "ecr" and op == "GetAuthorizationToken":
            return [Need("ecr:GetAuthorizationToken", "*")]
        if s == "ecr" and "repositoryName" in p:
            return [Need(f"ecr:{op}", _arn("ecr", f"repository/{p['repositoryName']}"))]
        if s == "sqs" and "QueueUrl" in p:
            return [Need(f"sqs:{op}", _arn("sqs", str(p["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1]))]
        if s == "monitoring" and op == "PutMetricData":
            return [Need("cloudwatch:PutMetricData", "*", (("cloudwatch:namespace", str(p.get("Namespace", ""))),))]
        if s == "lambda" and op == "Invoke":
            return [Need("lambda:InvokeFunction", str(p["FunctionName"]))]
        if s == "kms" and op in ("Sign", "GetPublicKey"):
            # The adoption record's signing key, named by ARN (Service Authorization Reference, AWS KMS: key).
            context = (("kms:SigningAlgorithm", str(p["SigningAlgorithm"])),) if "SigningAlgorithm" in p else ()
            return [Need(f"kms:{op}", str(p["KeyId"]), context)]
        raise LookupError(f"{call.function}: no IAM mapping for {s}:{op} in tests/iam_coverage.py; add it")

    def _s3(self, op: str, p: Mapping[str, Any]) -> list[Need]:
        bucket = str(p["Bucket"])
        if op in ("ListObjectsV2", "ListObjects", "HeadBucket"):
            return [Need("s3:ListBucket", f"arn:aws:s3:::{bucket}", (("s3:prefix", str(p.get("Prefix", ""))),))]
        if op == "ListMultipartUploads":
            return [Need("s3:ListBucketMultipartUploads", f"arn:aws:s3:::{bucket}")]
        if op in ("CopyObject", "UploadPartCopy"):
            src_bucket, src_key = _copy_source(p["CopySource"])
            return [
                Need("s3:GetObject", _object(src_bucket, src_key)),
                *self._kms(src_bucket, ("kms:Decrypt",), "s3"),
                Need("s3:PutObject", _object(bucket, str(p["Key"]))),
                *self._kms(bucket, ("kms:GenerateDataKey",), "s3"),
            ]
        if op in _S3_OBJECT_ACTIONS:
            return [
                Need(_S3_OBJECT_ACTIONS[op], _object(bucket, str(p["Key"]))),
                *self._kms(bucket, _S3_KMS.get(op, ()), "s3"),
            ]
        raise LookupError(f"no IAM mapping for s3:{op} in tests/iam_coverage.py; add it")

    def _kms(self, resource: str, actions: Iterable[str], via: str) -> list[Need]:
        key = self.keys.get(resource)
        if key is None:
            return []
        return [Need(a, key, (("kms:ViaService", f"{via}.{REGION}.amazonaws.com"),)) for a in actions]

    def _states_kms(self, machine: str) -> list[Need]:
        # The caller's rights encrypt the input/output on a CMK state machine (encryption-at-rest.html).
        key = self.keys.get(machine)
        if key is None:
            return []
        context = (("kms:EncryptionContext:aws:states:stateMachineArn", machine),)
        return [Need(a, key, context) for a in ("kms:GenerateDataKey", "kms:Decrypt")]


# ----- the template, resolved to the local runtime --------------------------------------------------


class LocalTemplate:
    """The synthesized template with its intrinsic functions resolved to the local runtime's names."""

    def __init__(self, template: Mapping[str, Any], runtime: local_aws.LocalAws) -> None:
        self.template = template
        self.resources: Mapping[str, Any] = template["Resources"]
        self.refs: dict[str, str] = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "EksdAdopt",
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/EksdAdopt/local",
        }
        self.atts: dict[tuple[str, str], str] = {}
        for name, resource in self.resources.items():
            self._name(name, resource, runtime)

    def _name(self, name: str, resource: Mapping[str, Any], runtime: local_aws.LocalAws) -> None:
        kind = resource["Type"]
        if kind == "AWS::DynamoDB::Table":
            table = {"Ledger": runtime.ledger_table, "Approvals": runtime.approvals_table}.get(
                next((p for p in ("Ledger", "Approvals") if name.startswith(p)), ""), f"not-local-{name}"
            )
            self.refs[name], self.atts[(name, "Arn")] = table, _table(table)
        elif kind == "AWS::S3::Bucket":
            bucket = runtime.bucket if name.startswith("MirrorStorageArtifacts") else f"not-local-{name.lower()}"
            self.refs[name], self.atts[(name, "Arn")] = bucket, f"arn:aws:s3:::{bucket}"
        elif kind == "AWS::SNS::Topic":
            topic = (
                runtime.events_topic_arn
                if name.startswith("ReleaseEventsTopic")
                else runtime.approvers_topic_arn
                if name.startswith("ApprovalsApproversTopic")
                else _arn("sns", f"not-local-{name}")
            )
            self.refs[name], self.atts[(name, "TopicName")] = topic, topic.rsplit(":", 1)[-1]
            self.atts[(name, "TopicArn")] = topic
        elif kind == "AWS::StepFunctions::StateMachine":
            self.refs[name] = runtime.state_machine_arn
            self.atts[(name, "Name")] = runtime.state_machine_arn.rsplit(":", 1)[-1]
            self.atts[(name, "Arn")] = runtime.state_machine_arn
        elif kind == "AWS::KMS::Key" and name.startswith("AttestationSigningKey"):
            self.refs[name] = self.atts[(name, "Arn")] = runtime.attestation_key_arn
        elif kind == "AWS::KMS::Key":
            self.refs[name], self.atts[(name, "Arn")] = name, _arn("kms", f"key/{name}")
        elif kind == "AWS::Lambda::Function":
            directory = resource.get("Metadata", {}).get(HANDLER_METADATA)
            arn = local_aws.function_arn(directory) if directory else _arn("lambda", f"function:not-local-{name}")
            self.refs[name], self.atts[(name, "Arn")] = arn.rsplit(":", 1)[-1], arn
        elif kind == "AWS::SQS::Queue":
            self.refs[name] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
            self.atts[(name, "Arn")], self.atts[(name, "QueueName")] = _arn("sqs", name), name
        elif kind == "AWS::Logs::LogGroup":
            self.refs[name], self.atts[(name, "Arn")] = name, _arn("logs", f"log-group:{name}:*")
        else:
            self.refs[name] = f"<{kind} {name}>"

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.resolve(v) for k, v in value.items()}
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return self.refs.get(arg, f"<unresolved Ref {arg}>")
        if fn == "Fn::GetAtt":
            return self.atts.get((arg[0], arg[1]), f"<unresolved GetAtt {arg[0]}.{arg[1]}>")
        if fn == "Fn::Join":
            separator, parts = arg
            return str(separator).join(str(self.resolve(p)) for p in parts)
        if fn == "Fn::Select":
            return self.resolve(arg[1])[int(arg[0])]
        if fn == "Fn::Split":
            return str(self.resolve(arg[1])).split(arg[0])
        if fn == "Fn::Sub" and isinstance(arg, str):
            return re.sub(r"\$\{([A-Za-z0-9:.]+)\}", lambda m: str(self._sub(m.group(1))), arg)
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub(self, name: str) -> str:
        if "." in name:
            resource, attribute = name.split(".", 1)
            return self.atts.get((resource, attribute), f"<unresolved {name}>")
        return self.refs.get(name, f"<unresolved {name}>")

    # -- who may do what --

    def function_logical_id(self, handler_dir: str) -> str | None:
        for name, resource in self.resources.items():
            if (
                resource["Type"] == "AWS::Lambda::Function"
                and resource.get("Metadata", {}).get(HANDLER_METADATA) == handler_dir
            ):
                return name
        return None

    def role_statements(self, function_logical_id: str) -> list[dict[str, Any]]:
        role = self.resources[function_logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
        documents: list[Any] = []
        for resource in self.resources.values():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role} in props.get("Roles", []):
                documents.append(props["PolicyDocument"])
            if resource["Type"] == "AWS::IAM::ManagedPolicy" and {"Ref": role} in props.get("Roles", []):
                documents.append(props["PolicyDocument"])
        role_props = self.resources[role]["Properties"]
        documents += [p["PolicyDocument"] for p in role_props.get("Policies", [])]
        for managed in role_props.get("ManagedPolicyArns", []):
            if isinstance(managed, dict) and "Ref" in managed and managed["Ref"] in self.resources:
                documents.append(self.resources[managed["Ref"]]["Properties"]["PolicyDocument"])
        return [self.resolve(s) for d in documents for s in d["Statement"]]

    def managed_policy_statements(self, prefix: str) -> list[dict[str, Any]]:
        (policy,) = [
            r for n, r in self.resources.items() if r["Type"] == "AWS::IAM::ManagedPolicy" and n.startswith(prefix)
        ]
        return [self.resolve(s) for s in policy["Properties"]["PolicyDocument"]["Statement"]]

    def encryption_keys(self) -> dict[str, str]:
        """Local bucket name / topic ARN / state machine ARN -> the ARN of the KMS key encrypting it."""
        keys: dict[str, str] = {}
        for name, resource in self.resources.items():
            props = resource.get("Properties", {})
            key: Any = None
            if resource["Type"] == "AWS::S3::Bucket":
                rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
                key = rules[0]["ServerSideEncryptionByDefault"].get("KMSMasterKeyID") if rules else None
            elif resource["Type"] == "AWS::SNS::Topic":
                key = props.get("KmsMasterKeyId")
            elif resource["Type"] == "AWS::StepFunctions::StateMachine":
                key = props.get("EncryptionConfiguration", {}).get("KmsKeyId")
            if key is not None:
                keys[str(self.resolve({"Ref": name}))] = str(self.resolve(key))
        return keys


# ----- the evaluator -----------------------------------------------------------------------------------


def _pattern(text: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(body, re.ASCII | (re.IGNORECASE if ignore_case else 0) | re.DOTALL)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda actual, expected: actual == expected,
    "StringLike": lambda actual, expected: bool(_pattern(expected).fullmatch(actual)),
    "ArnEquals": lambda actual, expected: actual == expected,
    "ArnLike": lambda actual, expected: bool(_pattern(expected).fullmatch(actual)),
    "Bool": lambda actual, expected: actual.lower() == str(expected).lower(),
}


def _conditions_hold(statement: Mapping[str, Any], context: Mapping[str, str], noted: set[str]) -> bool:
    for operator, pairs in statement.get("Condition", {}).items():
        test = _OPERATORS.get(operator)
        for key, expected in pairs.items():
            if test is None or key not in context:
                noted.add(f"{operator} {key}")  # not evaluated: the local request context lacks it
                continue
            if not any(test(context[key], str(e)) for e in _as_list(expected)):
                return False
    return True


def allows(statements: Iterable[Mapping[str, Any]], need: Need, noted: set[str] | None = None) -> bool:
    """IAM's answer for one identity policy set: an explicit Deny wins, then any Allow, else implicit deny."""
    noted = noted if noted is not None else set()

    def matches(statement: Mapping[str, Any]) -> bool:
        actions = _as_list(statement.get("Action", []))
        resources = _as_list(statement.get("Resource", []))
        return (
            any(_pattern(a, ignore_case=True).fullmatch(need.action) for a in actions)
            and any(_pattern(str(r)).fullmatch(need.resource) for r in resources)
            and _conditions_hold(statement, dict(need.context), noted)
        )

    statements = list(statements)
    if any(s["Effect"] == "Deny" and matches(s) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and matches(s) for s in statements)


# ----- the checks ----------------------------------------------------------------------------------------


def _handler_dir(function_name: str) -> str:
    return function_name.removeprefix("eksd-adopt-").replace("-", "_")


def check_calls(calls: Iterable[AwsCall], template: LocalTemplate, *, noted: set[str] | None = None) -> list[Miss]:
    """The calls whose function's role does not allow them (an unknown caller is a miss too)."""
    needs = Needs(template.encryption_keys(), template.resolve({"Ref": _state_machine_id(template)}))
    misses: list[Miss] = []
    statements: dict[str, list[dict[str, Any]]] = {}
    seen: set[tuple[str, str, Need]] = set()
    for call in calls:
        for need in needs(call):
            if (call.function, call.operation, need) in seen:
                continue
            seen.add((call.function, call.operation, need))
            directory = _handler_dir(call.function)
            if call.function == UNATTRIBUTED:
                misses.append(Miss("a client created outside any handler", call.operation, need))
                continue
            if not (FUNCTIONS_DIR / directory / "handler.py").is_file():
                continue  # a stand-in a test registered (a team's test step): not part of the stack
            logical_id = template.function_logical_id(directory)
            if logical_id is None:
                misses.append(Miss(f"functions/{directory} (no such function in the stack)", call.operation, need))
                continue
            if logical_id not in statements:
                statements[logical_id] = template.role_statements(logical_id)
            if not allows(statements[logical_id], need, noted):
                misses.append(Miss(f"functions/{directory} ({logical_id})", call.operation, need))
    return misses


def _state_machine_id(template: LocalTemplate) -> str:
    (name,) = [n for n, r in template.resources.items() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    return name


def approver_requests(invocations: Iterable[tuple[str, Mapping[str, Any]]]) -> Iterator[tuple[str, str]]:
    """(caller ARN, route) of every signed request that reached the approvals function through its URL."""
    for name, event in invocations:
        if name != local_aws.function_arn(local_aws.APPROVALS_FUNCTION).rsplit(":", 1)[-1]:
            continue
        caller = ((event.get("requestContext") or {}).get("authorizer") or {}).get("iam", {}).get("userArn")
        if caller:
            yield str(caller), f"{event['requestContext']['http']['method']} {event.get('rawPath')}"


def check_approver_calls(
    invocations: Iterable[tuple[str, Mapping[str, Any]]], template: LocalTemplate, *, noted: set[str] | None = None
) -> tuple[int, list[Miss]]:
    """Each request to an AWS_IAM function URL needs both actions (Lambda developer guide, urls-auth.html)."""
    statements = template.managed_policy_statements("ApprovalsApproversPolicy")
    function = local_aws.function_arn(local_aws.APPROVALS_FUNCTION)
    context = (("lambda:FunctionUrlAuthType", "AWS_IAM"), ("lambda:InvokedViaFunctionUrl", "true"))
    requests = list(approver_requests(invocations))
    misses = [
        Miss(f"approver {caller} (ApproversPolicy)", route, need)
        for caller, route in requests
        for need in (
            Need("lambda:InvokeFunctionUrl", function, context),
            Need("lambda:InvokeFunction", function, context),
        )
        if not allows(statements, need, noted)
    ]
    return len(requests), misses


def scanner_calls(runtime: local_aws.LocalAws) -> list[AwsCall]:
    """The ECR calls the scan step's in-memory scanner stands for: one ``DescribeImageScanFindings`` per read.

    moto's ECR has no scanner, so the local runtime hands the step a ``FakeScanner``; its reads are the
    calls the ECR adapter (``eksd_adopt.findings.ecr``) makes in AWS, and the role must allow them.
    """
    function = local_aws.function_arn(local_aws.FINDINGS_FUNCTION).rsplit(":", 1)[-1]
    return [
        AwsCall(function, "ecr", "DescribeImageScanFindings", {"repositoryName": repository})
        for repository in sorted({repository for repository, _ in runtime.scanner.reads})
    ]


@cache
def synthesized_template() -> dict[str, Any]:
    """The stack's template, synthesized once per process (as tests/infra/conftest.py does, cdk-nag on)."""
    import tempfile

    from app import build_app

    outdir = Path(tempfile.mkdtemp(prefix="iam-coverage-cdk."))
    build_app(outdir=str(outdir)).synth()
    return dict(json.loads((outdir / "EksdAdopt.template.json").read_text()))


def assert_calls_allowed(recorder: CallRecorder, runtime: local_aws.LocalAws, *, callers: Iterable[str] = ()) -> None:
    """Fail, naming the function, the action and the resource, on any recorded call the stack would refuse."""
    template = LocalTemplate(synthesized_template(), runtime)
    seen = {call.function for call in recorder.calls}
    missing = sorted(f"eksd-adopt-{c}" for c in callers if f"eksd-adopt-{c}" not in seen)
    assert not missing, f"no AWS call recorded for {missing}: the recorder did not see the whole path"
    misses = check_calls([*recorder.calls, *scanner_calls(runtime)], template)
    _, approver_misses = check_approver_calls(runtime.invocations, template)
    refused = [*misses, *approver_misses]
    assert not refused, "calls the stack's IAM policies would refuse:\n" + "\n".join(map(str, refused))
