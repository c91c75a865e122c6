"""A local SQS event source mapping: polls a queue and invokes a function with Lambda's SQS event shape.

Like the real mapping, it deletes the messages the function reports as processed (partial batch
responses) and leaves the failed ones to come back after the visibility timeout.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

from eksd_adopt.local.aws import REGION, LocalAws

_log = logging.getLogger(__name__)


class SqsEventSource:
    def __init__(self, runtime: LocalAws, queue_url: str, function: str, *, batch_size: int = 10) -> None:
        self.runtime = runtime
        self.queue_url = queue_url
        self.function = function
        self.batch_size = batch_size
        self.queue_arn = runtime.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.invocations = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sqs-{function}", daemon=True)

    def start(self) -> SqsEventSource:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def poll_once(self, wait_seconds: int = 1) -> int:
        """One receive → invoke → delete cycle; returns how many messages were received."""
        sqs = self.runtime.client("sqs")
        messages = sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [self._record(m) for m in messages]}
        self.invocations += 1
        try:
            response = self.runtime.invoke(self.function, event) or {}
        except Exception:  # the whole batch comes back after the visibility timeout, as in Lambda
            _log.exception("function %s failed a batch", self.function)
            self.failures += len(messages)
            return len(messages)
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        self.failures += len(failed)
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # keep polling, as the managed mapping does
                _log.exception("polling %s failed", self.queue_url)
                self._stop.wait(1)
