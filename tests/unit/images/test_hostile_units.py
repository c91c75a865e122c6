"""Pure parts of the image mirror's defences: the request policy, addresses, challenges, descriptors,
manifest limits, digests checked before use, and the whole-transfer deadline."""

from __future__ import annotations

import json
import threading
import time

import pytest

from eksd_adopt.deadline import TransferDeadline, watch
from eksd_adopt.endpoints import DestinationRefusedError, EndpointMap, RequestPolicy, is_public_address
from eksd_adopt.images.client import AddressGuard, RegistryClient, parse_challenge
from eksd_adopt.images.copier import ImageCopier
from eksd_adopt.images.errors import RegistryError
from eksd_adopt.images.media import (
    MAX_INDEX_CHILDREN,
    MAX_MANIFEST_BLOBS,
    MAX_MANIFEST_BYTES,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Manifest,
)
from eksd_adopt.plan import ImageCopyJob

DIGEST = "sha256:" + "a" * 64
ROUTES = RequestPolicy(
    EndpointMap.parse(["public.ecr.aws=http://127.0.0.1:5001", "cdn.example.test=http://127.0.0.1:5002"]),
    frozenset({"auth.example.test"}),
).for_registry("http://127.0.0.1:5001", "public.ecr.aws")


# --- the request policy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "sent_to", "credentials"),
    [
        ("http://127.0.0.1:5001/v2/x/blobs/uploads/1", "http://127.0.0.1:5001/v2/x/blobs/uploads/1", True),
        ("https://public.ecr.aws/v2/x/manifests/v1", "http://127.0.0.1:5001/v2/x/manifests/v1", True),
        ("https://cdn.example.test/blob?sig=1", "http://127.0.0.1:5002/blob?sig=1", False),
        ("http://127.0.0.1:5002/blob", "http://127.0.0.1:5002/blob", False),
        ("https://prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com/x?X-Amz-Signature=1", None, False),
        ("https://8.8.8.8/x", None, False),
    ],
)
def test_the_policy_allows_configured_origins_mapped_hosts_and_public_https(
    url: str, sent_to: str | None, credentials: bool
) -> None:
    destination = ROUTES.destination(url)
    assert destination.url == (sent_to or url)
    assert destination.credentials is credentials  # credentials only ever to the registry's own origin


@pytest.mark.reliability(
    area="images",
    fault="request URLs: plain http elsewhere, loopback/private/link-local/shared/IPv4-mapped addresses, "
    "numeric host forms (2130706433, 127.1, 0x7f.1), credentials, bad ports, non-ASCII, controls, overlong",
    expected="DestinationRefusedError before any connection",
)
@pytest.mark.parametrize(
    "url",
    [
        "http://registry.example.com/v2/",
        "http://127.0.0.2:5001/v2/",
        "https://127.0.0.1/v2/",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/",
        "https://100.64.0.1/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[fe80::1]/",
        "https://[2002:7f00:1::1]/",
        "https://2130706433/",
        "https://127.1/",
        "https://0x7f.1/",
        "https://user:pw@registry.example.com/",
        "https://registry.example.com:0/",
        "https://registry.example.com:65536/",
        "https://public.ecr.aws:8443/v2/",
        "https://r\u00e9gistry.example.com/",
        "https://registry.example.com/\nHost: evil",
        "https://registry.example.com/" + "a" * 9000,
        "file:///etc/passwd",
        "//registry.example.com/",
        "https://[1.2.3.4]/",
        "https://a..b/",
    ],
)
def test_the_policy_refuses_everything_else(url: str) -> None:
    with pytest.raises(DestinationRefusedError, match="refusing"):
        ROUTES.destination(url)


@pytest.mark.parametrize(
    ("realm", "allowed"),
    [
        ("https://public.ecr.aws/token/", True),  # ECR Public's own realm
        ("http://127.0.0.1:5001/token", True),  # the registry's own origin
        ("https://auth.example.test/token", True),  # allow-listed
        ("https://auth.elsewhere.example/token", False),
        ("http://127.0.0.1:5002/token", False),  # a configured origin, but the CDN's
        ("https://s3.amazonaws.com/token", False),
    ],
)
def test_a_token_realm_must_be_the_registry_or_an_allow_listed_auth_host(realm: str, allowed: bool) -> None:
    if allowed:
        ROUTES.destination(realm, token_realm=True)
    else:
        with pytest.raises(DestinationRefusedError, match="neither the registry's own host"):
            ROUTES.destination(realm, token_realm=True)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1", True),
        ("127.0.0.2", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:10.0.0.1", False),
        ("2002:a00:1::1", False),  # 6to4 of 10.0.0.1
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("not an address", False),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_the_address_guard_refuses_a_name_resolving_to_loopback_unless_configured() -> None:
    guard = AddressGuard()
    with pytest.raises(DestinationRefusedError, match="not a public address"):
        guard.addresses("localhost", 443)
    guard.trust([("localhost", 443)])
    assert guard.addresses("localhost", 443)


# --- challenges -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer realm="https://public.ecr.aws/token/",service="public.ecr.aws",scope="aws"',
            ("bearer", {"realm": "https://public.ecr.aws/token/", "service": "public.ecr.aws", "scope": "aws"}),
        ),
        (
            'Bearer realm="https://gcr.io/v2/token",service=gcr.io',
            ("bearer", {"realm": "https://gcr.io/v2/token", "service": "gcr.io"}),
        ),
        ('Basic realm="x"', ("basic", {"realm": "x"})),
        ('bearer REALM="a\\"b"', ("bearer", {"realm": 'a"b'})),
        ("Bearer", ("bearer", {})),
    ],
)
def test_well_formed_challenges_parse(header: str, expected: tuple[str, dict[str, str]]) -> None:
    assert parse_challenge(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        'Bearer realm="a",realm="b"',
        'Bearer r\u00e9alm="a"',
        'Bearer realm="\u00e9"',
        'Bearer realm="a' + "x" * 5000 + '"',
        'Bearer realm="unterminated',
        "Bearer realm=a b=c",
        'Bearer realm="a"\r\nX-Injected: 1',
        "",
    ],
)
def test_malformed_challenges_are_refused(header: str) -> None:
    assert parse_challenge(header) is None


# --- descriptors and manifests --------------------------------------------------------------------


@pytest.mark.reliability(
    area="images",
    fault="descriptors with a size of '1', true, 1.0, -1 or 2**70, a crafted or sha512 digest, a non-string "
    "mediaType, a non-object platform",
    expected="RegistryError naming the descriptor field",
)
@pytest.mark.parametrize(
    ("descriptor", "message"),
    [
        ({"digest": DIGEST, "size": "1"}, "not an integer"),
        ({"digest": DIGEST, "size": True}, "not an integer"),
        ({"digest": DIGEST, "size": 1.0}, "not an integer"),
        ({"digest": DIGEST, "size": -1}, "not an integer"),
        ({"digest": DIGEST, "size": 2**70}, "not an integer"),
        ({"digest": "sha256:" + "../" * 21 + "v", "size": 1}, "not a sha256 digest"),
        ({"digest": "sha256:" + "a" * 63 + "\n", "size": 1}, "not a sha256 digest"),
        ({"digest": "sha512:" + "a" * 128, "size": 1}, "only sha256 is copied"),
        ({"digest": DIGEST, "size": 1, "mediaType": {"x": 1}}, "media type"),
        ({"digest": DIGEST, "size": 1, "mediaType": "text/plain\n"}, "media type"),
        ({"digest": DIGEST, "size": 1, "platform": ["linux"]}, "platform"),
        (["not", "an", "object"], "not a JSON object"),
    ],
)
def test_descriptors_are_strictly_typed(descriptor: object, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        Descriptor.parse(descriptor, "img")


def _index(children: int) -> bytes:
    return json.dumps({"mediaType": OCI_INDEX, "manifests": [{"digest": DIGEST, "size": 1}] * children}).encode()


@pytest.mark.parametrize(
    ("body", "media_type", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, OCI_MANIFEST, "not JSON"),  # deeper than the parser's stack
        (b'{"n": ' + b"9" * 5000 + b"}", OCI_MANIFEST, "not JSON"),  # over Python's int digit limit
        (json.dumps({"mediaType": OCI_MANIFEST}).encode(), OCI_INDEX, "mediaType says"),
        (b" " * (MAX_MANIFEST_BYTES + 1), OCI_MANIFEST, "over the 4194304-byte limit"),
    ],
    ids=["nested", "huge-number", "type-mismatch", "over-4-mib"],
)
def test_manifests_that_cannot_be_read_safely_are_refused(body: bytes, media_type: str, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        Manifest.from_bytes(body, media_type, "img")


def test_an_index_may_list_at_most_the_children_limit() -> None:
    assert len(Manifest.from_bytes(_index(MAX_INDEX_CHILDREN), OCI_INDEX, "img").children("img")) == MAX_INDEX_CHILDREN
    with pytest.raises(RegistryError, match=f"limit of {MAX_INDEX_CHILDREN} per index"):
        Manifest.from_bytes(_index(MAX_INDEX_CHILDREN + 1), OCI_INDEX, "img").children("img")


def test_a_manifest_may_list_at_most_the_blobs_limit() -> None:
    layers = [{"digest": DIGEST, "size": 1}] * MAX_MANIFEST_BLOBS
    body = json.dumps({"mediaType": OCI_MANIFEST, "config": {"digest": DIGEST, "size": 1}, "layers": layers}).encode()
    with pytest.raises(RegistryError, match=f"limit of {MAX_MANIFEST_BLOBS - 1}"):
        Manifest.from_bytes(body, OCI_MANIFEST, "img").blobs("img")


# --- digests and names checked before any request (no server runs here: nothing may be contacted) --


def _unreachable_client() -> RegistryClient:
    # Port 9 on loopback: a request would fail with a transient error, not the RegistryError expected.
    return RegistryClient("http://127.0.0.1:9")


@pytest.mark.reliability(
    area="images",
    fault="a job's imageDigest, a promotion digest, a manifest reference or a repository name that is not "
    "in the OCI grammar",
    expected="RegistryError before any request",
)
@pytest.mark.parametrize(
    "call",
    [
        lambda client: client.get_manifest("eks-distro/x", "sha256:../../v2/"),
        lambda client: client.get_manifest("eks-distro/../x", "v1"),
        lambda client: client.head_manifest("eks-distro/x", "v1\n"),
        lambda client: client.blob_exists("eks-distro/x", "sha256:" + "A" * 64),
        lambda client: client.open_blob("eks-distro/x", "sha256:" + "a" * 60 + "?x=1").__enter__(),
    ],
    ids=["digest-reference", "repository", "tag", "blob-digest", "open-blob"],
)
def test_names_and_digests_are_checked_before_any_request(call: object) -> None:
    client = _unreachable_client()
    with pytest.raises(RegistryError, match=r"is not a|neither a tag"):
        call(client)  # type: ignore[operator]


@pytest.mark.parametrize("digest", ["sha256:" + "../" * 21 + "v", "sha256:" + "a" * 64 + "\n", "md5:abc"])
def test_a_crafted_image_digest_is_refused_before_any_request(digest: str) -> None:
    # The job model refuses such a digest too (tests/unit/workflow/test_checks_digest.py); built unchecked
    # here, the copier's own check is what stands between it and a request path.
    job = ImageCopyJob.model_construct(
        component="c",
        asset="a-image",
        source="public.ecr.aws/eks-distro/x:v1",
        known_digest=digest,
        target_repository="eksd/staging/eks-distro/x",
        tag="v1",
    )
    with ImageCopier(_unreachable_client()) as copier:
        with pytest.raises(RegistryError, match=r"imageDigest .* is not a sha256 digest"):
            copier.copy(job)
        with pytest.raises(RegistryError, match="is not a sha256 digest"):
            copier.promote_image("eksd/staging/x", "eksd/prod/x", digest, "v1")


# --- the whole-transfer deadline ------------------------------------------------------------------


def test_a_transfer_deadline_comes_from_size_and_throughput() -> None:
    deadline = TransferDeadline(min_throughput=1024, allowance=2.0)
    assert deadline.seconds_for(10 * 1024) == 12.0
    assert "not done within 12 s" in deadline.describe(10 * 1024)
    with pytest.raises(ValueError, match="min_throughput"):
        TransferDeadline(min_throughput=0)


def test_a_watch_runs_its_callback_when_the_deadline_passes_and_not_after_the_transfer_ends() -> None:
    fired = threading.Event()
    with watch(0.05) as late:
        late.on_expiry(fired.set)
        assert fired.wait(5)
    assert late.expired

    quiet = threading.Event()
    with watch(0.2) as early:
        early.on_expiry(quiet.set)
    time.sleep(0.4)
    assert not quiet.is_set() and not early.expired


def test_a_watch_can_be_reset_once_the_size_is_known() -> None:
    fired = threading.Event()
    with watch(0.05) as transfer:
        transfer.on_expiry(fired.set)
        transfer.reset(30.0)
        time.sleep(0.3)
        assert not fired.is_set()
        transfer.reset(0.0)  # already past: fires at once
        assert fired.wait(5)
