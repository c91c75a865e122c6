"""SNS data access for release events: publishing, and subscribing teams' endpoints with filter policies.

The only module of the events package that touches boto3; AWS errors leave it as domain errors.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from eksd_adopt.events.errors import EventPublishError, SubscriptionError, SubscriptionNotFoundError
from eksd_adopt.events.filters import EventFilter
from eksd_adopt.events.model import ReleaseEvent
from eksd_adopt.events.subscriptions import Endpoint, Subscription, topic_region


def sns_client(topic_arn: str) -> Any:
    """An SNS client in the topic's own region (``AWS_ENDPOINT_URL`` still redirects it, e.g. to moto)."""
    return boto3.client("sns", region_name=topic_region(topic_arn))


class SnsEventPublisher:
    """Publishes each event as JSON with the ``event_type``, ``channel``, ``kubernetes_minor`` and ``stage`` attributes."""

    def __init__(self, topic_arn: str, client: Any | None = None) -> None:
        self.topic_arn = topic_arn
        self.sns = client or sns_client(topic_arn)

    def publish(self, event: ReleaseEvent) -> None:
        try:
            self.sns.publish(
                TopicArn=self.topic_arn,
                Subject=event.subject(),
                Message=event.model_dump_json(),
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value}
                    for name, value in event.message_attributes().items()
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise EventPublishError(
                f"cannot publish {event.event_type.value} of {event.release_id} to {self.topic_arn}: {exc}"
            ) from exc


class SnsSubscriptions:
    """Subscribe, list and unsubscribe endpoints of one topic (the caller's credentials decide what is allowed)."""

    def __init__(self, topic_arn: str, client: Any | None = None) -> None:
        self.topic_arn = topic_arn
        self.sns = client or sns_client(topic_arn)

    def subscribe(self, endpoint: Endpoint, event_filter: EventFilter) -> Subscription:
        attributes: dict[str, str] = {}
        policy = event_filter.policy()
        if policy is not None:
            attributes["FilterPolicy"] = json.dumps(policy, sort_keys=True)
            attributes["FilterPolicyScope"] = "MessageAttributes"
        if endpoint.raw_delivery:
            attributes["RawMessageDelivery"] = "true"
        try:
            response = self.sns.subscribe(
                TopicArn=self.topic_arn,
                Protocol=endpoint.protocol.value,
                Endpoint=endpoint.address,
                Attributes=attributes,
                ReturnSubscriptionArn=True,
            )
        except (ClientError, BotoCoreError) as exc:
            raise SubscriptionError(f"cannot subscribe {endpoint.address} to {self.topic_arn}: {exc}") from exc
        arn = str(response["SubscriptionArn"])
        if arn.startswith(f"{self.topic_arn}:"):
            pending = self._attributes(arn).get("PendingConfirmation") == "true"
        else:
            pending = True
        return Subscription(
            arn="PendingConfirmation" if pending else arn,
            protocol=endpoint.protocol.value,
            endpoint=endpoint.address,
            filter_policy=policy,
        )

    def list_subscriptions(self) -> list[Subscription]:
        """Every subscription of the topic (topic owner), else the caller's own subscriptions to it."""
        try:
            raw = self._paginate("list_subscriptions_by_topic", TopicArn=self.topic_arn)
        except ClientError as exc:
            if _code(exc) not in {"AuthorizationError", "AccessDenied", "AccessDeniedException"}:
                raise SubscriptionError(f"cannot list subscriptions of {self.topic_arn}: {exc}") from exc
            # A subscriber account may Subscribe but not list the topic: show what it owns.
            raw = [s for s in self._paginate("list_subscriptions") if s.get("TopicArn") == self.topic_arn]
        except BotoCoreError as exc:
            raise SubscriptionError(f"cannot list subscriptions of {self.topic_arn}: {exc}") from exc
        found: list[Subscription] = []
        for item in raw:
            arn = str(item["SubscriptionArn"])
            policy = None
            if arn.startswith("arn:"):
                text = self._attributes(arn).get("FilterPolicy")
                policy = json.loads(text) if text else None
            found.append(
                Subscription(
                    arn=arn,
                    protocol=str(item.get("Protocol", "")),
                    endpoint=str(item.get("Endpoint", "")),
                    owner=item.get("Owner"),
                    filter_policy=policy,
                )
            )
        return found

    def unsubscribe(self, subscription_arn: str) -> None:
        try:
            self.sns.get_subscription_attributes(SubscriptionArn=subscription_arn)
            self.sns.unsubscribe(SubscriptionArn=subscription_arn)
        except ClientError as exc:
            if _code(exc) == "NotFound":
                raise SubscriptionNotFoundError(f"no subscription {subscription_arn}") from exc
            raise SubscriptionError(f"cannot unsubscribe {subscription_arn}: {exc}") from exc
        except BotoCoreError as exc:
            raise SubscriptionError(f"cannot unsubscribe {subscription_arn}: {exc}") from exc

    def _attributes(self, subscription_arn: str) -> dict[str, str]:
        try:
            response = self.sns.get_subscription_attributes(SubscriptionArn=subscription_arn)
        except (ClientError, BotoCoreError) as exc:
            raise SubscriptionError(f"cannot read subscription {subscription_arn}: {exc}") from exc
        return dict(response.get("Attributes", {}))

    def _paginate(self, operation: str, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in self.sns.get_paginator(operation).paginate(**kwargs):
            items.extend(page.get("Subscriptions", []))
        return items


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
