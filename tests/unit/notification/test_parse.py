"""The notification parser: every real body, older styles, envelopes, and refusal of garbage."""

from __future__ import annotations

import json
from collections.abc import Callable

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


# --- Hostile announcements: ASCII digits only, bounded numbers, bounded JSON ---------------------------


@pytest.mark.reliability(
    area="notification",
    fault="non-ASCII digits in a release tag or subject channel (\\d is Unicode)",
    expected="never read as a release: only ASCII digits count",
)
@pytest.mark.parametrize(
    ("message", "subject"),
    [
        ("Amazon EKS Distro v1-2\u0668-eks-21 is now available.", None),  # ARABIC-INDIC DIGIT EIGHT
        ("Amazon EKS Distro v1-28-eks-\uff12\uff11 is now available.", None),  # FULLWIDTH DIGITS
        ("A new minor.", "New Release of EKS-D v1-\u0662\u0669"),
        ("Kubernetes version 1.\u0663\u0660 is supported.", None),
    ],
)
def test_non_ascii_digits_are_not_digits(message: str, subject: str | None) -> None:
    with pytest.raises(NotificationError, match="names no EKS-D release"):
        parse_announcement(message, subject=subject)


@pytest.mark.reliability(
    area="notification",
    fault="5,000-digit release number, a channel with 400-digit parts or a leading zero",
    expected="clear error (exit 1), no ValueError traceback",
)
@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("Amazon EKS Distro v1-28-eks-" + "9" * 5000 + " is now available.", "out of range"),
        ("Amazon EKS Distro v1-28-eks-" + "9" * 19 + " is now available.", "out of range"),
        ("Amazon EKS Distro v" + "1" * 400 + "-28-eks-1 is now available.", "not a release channel"),
        ("Amazon EKS Distro v01-28-eks-1 is now available.", "not a release channel"),
        ("Amazon EKS Distro v1." + "2" * 5000 + "-3 is now available.", "not a release channel"),
    ],
)
def test_numbers_out_of_range_are_clear_errors(message: str, error: str, observed: Callable[[str], None]) -> None:
    with pytest.raises(NotificationError, match=error) as info:
        parse_announcement(message)
    observed(str(info.value))


@pytest.mark.reliability(
    area="notification",
    fault="envelope: 100,000 nested arrays, a 5,000-digit integer, 1 MiB of JSON",
    expected="clear error (exit 1) before or while parsing, no RecursionError or ValueError traceback",
)
@pytest.mark.parametrize(
    ("envelope", "error"),
    [
        ('{"Message": ' + "[" * 100_000 + "]" * 100_000 + "}", "nests deeper than"),
        ('{"a": ' + '{"a": ' * 50_000 + "1" + "}" * 50_000 + "}", "nests deeper than"),
        ('{"Type": "Notification", "X": ' + "1" * 5000 + "}", "integer of 5000 digits"),
        ('{"Message": "' + "x" * (1024 * 1024) + '"}', "longer than"),
    ],
)
def test_hostile_envelopes_are_clear_errors(envelope: str, error: str, observed: Callable[[str], None]) -> None:
    with pytest.raises(NotificationError, match=error) as info:
        parse_envelope(envelope, topic_arn=DEFAULT_TOPIC_ARN)
    observed(str(info.value)[:120])


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    message = "Amazon EKS Distro v1-28-eks-21 is now available. " + "[{" * 100
    parsed = parse_envelope(json.dumps(_envelope(message)), topic_arn=DEFAULT_TOPIC_ARN)
    assert (parsed.channel, parsed.number) == ("1-28", 21)


def test_a_message_id_that_is_no_uuid_is_not_kept() -> None:
    envelope = _envelope("Amazon EKS Distro v1-28-eks-21 is now available.")
    envelope["MessageId"] = "x" * 10_000
    assert parse_envelope(envelope, topic_arn=DEFAULT_TOPIC_ARN).message_id is None
