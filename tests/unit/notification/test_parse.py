"""The notification parser: every real body, older styles, envelopes, and refusal of garbage."""

from __future__ import annotations

import json

import pytest

from eksd_adopt.errors import NotificationError
from eksd_adopt.notification import parse_announcement, parse_envelope
from eksd_adopt.policy import DEFAULT_TOPIC_ARN
from tests.conftest import REAL_ANNOUNCEMENTS

EXPECTED = {
    "1-19-1": ("1-19", None),  # free-text new-minor announcement: no release tag
    "1-22-28": ("1-22", 28),
    "1-24-8": ("1-24", 8),
    "1-26-6": ("1-26", 6),
    "1-28-21": ("1-28", 21),
    "1-36-7": ("1-36", 7),
}


def _envelope(message: str, subject: str | None = None, topic: str = DEFAULT_TOPIC_ARN) -> dict[str, object]:
    envelope: dict[str, object] = {
        "Type": "Notification",
        "MessageId": "5f1b2c3d-0000-4000-8000-000000000001",
        "TopicArn": topic,
        "Message": message,
        "Timestamp": "2024-03-01T12:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "c2ln",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/x.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }
    if subject is not None:
        envelope["Subject"] = subject
    return envelope


def test_all_real_samples_are_covered() -> None:
    assert {p.name.split(".")[0] for p in REAL_ANNOUNCEMENTS} == set(EXPECTED)


@pytest.mark.parametrize("path", REAL_ANNOUNCEMENTS, ids=lambda p: p.name)
def test_every_real_body_in_an_envelope(path: object) -> None:
    name = path.name.split(".")[0]  # type: ignore[attr-defined]
    channel, number = EXPECTED[name]
    body = path.read_text()  # type: ignore[attr-defined]
    # The real sender strips trailing newlines ($(<file)); a trailing TAB stays.
    message = body.rstrip("\n")
    parsed = parse_envelope(
        json.dumps(_envelope(message, f"New Release of EKS-D v{channel}")), topic_arn=DEFAULT_TOPIC_ARN
    )
    assert (parsed.channel, parsed.number) == (channel, number)
    assert parsed.message_id == "5f1b2c3d-0000-4000-8000-000000000001"


def test_new_minor_channel_comes_from_the_subject() -> None:
    parsed = parse_announcement("We are happy to announce a new minor.", subject="New Release of EKS-D v1-19")
    assert (parsed.channel, parsed.number) == ("1-19", None)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Amazon EKS Distro v1.21-18 is now available.", ("1-21", 18)),
        ("Amazon EKS Distro v1-22-eks-28 is now available. THIS WILL BE THE LAST RELEASE FOR 1.22.\n\t", ("1-22", 28)),
        ("Amazon EKS Distro v1-30-eks-58 is now available. Another sentence. And more.\n\t", ("1-30", 58)),
        ("Amazon EKS Distro v1-30-eks-58 is now available. Also v1-30-eks-58 again.", ("1-30", 58)),
    ],
)
def test_older_and_variant_bodies(message: str, expected: tuple[str, int]) -> None:
    parsed = parse_announcement(message, subject="New Release of EKS-D v" + expected[0])
    assert (parsed.channel, parsed.number) == expected
    assert parsed.release_id == f"{expected[0]}-{expected[1]}"


@pytest.mark.reliability(area="notification", fault="message from another topic ARN", expected="refused")
def test_message_from_another_topic_is_refused() -> None:
    envelope = _envelope(
        "Amazon EKS Distro v1-28-eks-21 is now available.", topic="arn:aws:sns:us-east-1:999999999999:evil"
    )
    with pytest.raises(NotificationError, match="refused"):
        parse_envelope(envelope, topic_arn=DEFAULT_TOPIC_ARN)


@pytest.mark.reliability(
    area="notification",
    fault="garbage, ambiguous or conflicting announcement text",
    expected="clear error, never a guess",
)
@pytest.mark.parametrize(
    ("message", "subject", "error"),
    [
        ("hello world", None, "names no EKS-D release"),
        ("", None, "names no EKS-D release"),
        ("Amazon EKS Distro v1-28-eks-21 and v1-29-eks-3 are available", None, "several releases"),
        (
            "Amazon EKS Distro v1-28-eks-21 is now available.",
            "New Release of EKS-D v1-29",
            "subject names channel 1-29",
        ),
        ("Kubernetes 1.19 and Kubernetes 1.20", None, "several Kubernetes minors"),
        ("x" * 70000, None, "longer than"),
        ("Amazon EKS Distro v1-28-eks-0 is now available.", None, "not >= 1"),
    ],
)
def test_garbage_gives_a_clear_error_never_a_guess(message: str, subject: str | None, error: str) -> None:
    with pytest.raises(NotificationError, match=error):
        parse_announcement(message, subject=subject)


@pytest.mark.parametrize(
    ("envelope", "error"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "must be a JSON object"),
        (json.dumps({"Type": "SubscriptionConfirmation", "TopicArn": DEFAULT_TOPIC_ARN}), "not a Notification"),
        (json.dumps({"Type": "Notification", "TopicArn": DEFAULT_TOPIC_ARN}), "no Message"),
    ],
)
def test_malformed_envelopes(envelope: str, error: str) -> None:
    with pytest.raises(NotificationError, match=error):
        parse_envelope(envelope, topic_arn=DEFAULT_TOPIC_ARN)
