"""``subscribe``, ``subscriptions``, ``unsubscribe``: a team's endpoints on the release-events topic, with filters."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

from eksd_adopt.cli.common import EXIT_INVALID, EXIT_USAGE, console, fail, print_json
from eksd_adopt.events.errors import (
    EventFilterError,
    SubscriptionEndpointError,
    SubscriptionError,
    SubscriptionNotFoundError,
)
from eksd_adopt.events.filters import EventFilter
from eksd_adopt.events.subscriptions import parse_endpoint, topic_region

if TYPE_CHECKING:
    from eksd_adopt.events.sns import SnsSubscriptions

TOPIC_ENV = "EKSD_ADOPT_EVENTS_TOPIC_ARN"
TopicArnOption = typer.Option(None, "--topic-arn", envvar=TOPIC_ENV, help="The release-events topic ARN.")


def _subscriptions(topic: str) -> SnsSubscriptions:
    from eksd_adopt.events.sns import SnsSubscriptions  # boto3 loads only for the commands that use it

    return SnsSubscriptions(topic)


def _topic(topic_arn: str | None) -> str:
    if not topic_arn:
        fail(f"name the release-events topic: --topic-arn or {TOPIC_ENV}", EXIT_USAGE)
    try:
        topic_region(topic_arn)
    except SubscriptionEndpointError as exc:
        fail(str(exc), EXIT_USAGE)
    return topic_arn


def subscribe(
    endpoint: str = typer.Option(
        ..., "--endpoint", help="An SQS queue ARN, a Lambda function ARN, an email address or an https:// URL."
    ),
    channel: list[str] | None = typer.Option(None, "--channel", help="Only this channel, e.g. 1-30 (repeatable)."),
    event: list[str] | None = typer.Option(
        None, "--event", help="Only this event type, e.g. release.promoted or promoted (repeatable)."
    ),
    stage: list[str] | None = typer.Option(
        None, "--stage", help="Only this stage, e.g. prod; 'none' for events without a stage (repeatable)."
    ),
    kubernetes_minor: list[str] | None = typer.Option(
        None, "--kubernetes-minor", help="Only this Kubernetes minor, e.g. 1.30 (repeatable)."
    ),
    topic_arn: str | None = TopicArnOption,
    as_json: bool = typer.Option(False, "--json", help="Print the subscription as JSON."),
) -> None:
    """Subscribe an endpoint to release events, filtered by channel, event type, stage and Kubernetes minor."""
    topic = _topic(topic_arn)
    try:
        target = parse_endpoint(endpoint)
        event_filter = EventFilter.of(
            channels=channel or [],
            event_types=event or [],
            stages=stage or [],
            kubernetes_minors=kubernetes_minor or [],
        )
    except (SubscriptionEndpointError, EventFilterError) as exc:
        fail(str(exc), EXIT_USAGE)
    try:
        subscription = _subscriptions(topic).subscribe(target, event_filter)
    except SubscriptionError as exc:
        fail(str(exc), EXIT_INVALID)
    if as_json:
        print_json(subscription.model_dump_json())
        return
    if subscription.pending:
        console.print(
            f"{target.address}: pending confirmation (confirm the message SNS sent to the endpoint)", soft_wrap=True
        )
    else:
        # soft_wrap: an ARN is copied from here, so it must not be folded or cut at the terminal's width.
        console.print(f"subscribed {target.address}: {subscription.arn}", highlight=False, soft_wrap=True)
    policy = json.dumps(subscription.filter_policy, sort_keys=True) if subscription.filter_policy else "none (all)"
    console.print(f"filter policy: {policy}", highlight=False, markup=False, soft_wrap=True)


def subscriptions(
    topic_arn: str | None = TopicArnOption,
    as_json: bool = typer.Option(False, "--json", help="Print the subscriptions as JSON."),
) -> None:
    """List the subscriptions to the release-events topic (yours only, unless you own the topic)."""
    topic = _topic(topic_arn)
    try:
        found = _subscriptions(topic).list_subscriptions()
    except SubscriptionError as exc:
        fail(str(exc), EXIT_INVALID)
    if as_json:
        print_json(json.dumps([s.model_dump(mode="json") for s in found]))
        return
    if not found:
        console.print(f"no subscriptions to {topic}", highlight=False)
        return
    # One block per subscription, never a table: ARNs are copied from here, so they are printed whole.
    for s in found:
        policy = json.dumps(s.filter_policy, sort_keys=True) if s.filter_policy else "(all events)"
        console.print(s.arn, highlight=False, markup=False, soft_wrap=True)
        console.print(f"  {s.protocol} {s.endpoint}", highlight=False, markup=False, soft_wrap=True)
        console.print(f"  filter policy: {policy}", highlight=False, markup=False, soft_wrap=True)


def unsubscribe(
    subscription_arn: str = typer.Argument(..., help="The subscription ARN (see `eksd-adopt subscriptions`)."),
    topic_arn: str | None = TopicArnOption,
) -> None:
    """Remove one subscription from the release-events topic."""
    owner_topic, _, suffix = subscription_arn.rpartition(":")
    if not suffix or not owner_topic:
        fail(f"{subscription_arn!r} is not a subscription ARN (<topic ARN>:<id>)", EXIT_USAGE)
    if topic_arn and owner_topic != topic_arn:
        fail(f"{subscription_arn} is not a subscription of {topic_arn}", EXIT_USAGE)
    topic = _topic(owner_topic)
    try:
        _subscriptions(topic).unsubscribe(subscription_arn)
    except SubscriptionNotFoundError as exc:
        fail(str(exc), EXIT_INVALID)
    except SubscriptionError as exc:
        fail(str(exc), EXIT_INVALID)
    console.print(f"unsubscribed {subscription_arn}", highlight=False, soft_wrap=True)
