"""A hostile upstream registry (and a lying target) against the image mirror: every request inside the one
policy, every digest checked, every manifest bounded, every transfer ended by its deadline.

Refused destinations are ConnectionSentinels (127.0.0.2, or 127.0.0.1 behind ``localhost``): a test
passes only if they saw no connection at all.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress

import pytest

from eksd_adopt.deadline import TransferDeadline
from eksd_adopt.endpoints import EndpointMap
from eksd_adopt.images.client import RegistryClient
from eksd_adopt.images.copier import ImageCopier, SourceRegistries
from eksd_adopt.images.errors import RegistryError, RegistryUnavailableError
from eksd_adopt.images.media import OCI_INDEX, OCI_MANIFEST
from eksd_adopt.local.faultproxy import ConnectionSentinel, Fault, FaultProxy
from eksd_adopt.local.images import publish_image
from eksd_adopt.local.registry import LocalRegistry
from eksd_adopt.policy import UpstreamPolicy
from eksd_adopt.retry import RetryPolicy
from tests.integration.images.conftest import FAST_RETRY, job_for, make_copier

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def target() -> Iterator[LocalRegistry]:
    """A plain docker-registry: these tests are about a hostile upstream (and a target lying through a
    fault proxy), not about ECR, so they run once rather than against each kind of target."""
    with LocalRegistry() as registry:
        yield registry


@pytest.fixture
def sentinel() -> Iterator[ConnectionSentinel]:
    with ConnectionSentinel("127.0.0.2") as listener:
        yield listener


@pytest.fixture
def loopback_sentinel() -> Iterator[ConnectionSentinel]:
    """On 127.0.0.1, for names that resolve to loopback (``localhost``)."""
    with ConnectionSentinel("127.0.0.1") as listener:
        yield listener


def copier_for(
    source_url: str,
    target_url: str,
    *,
    endpoints: tuple[str, ...] = (),
    auth_hosts: tuple[str, ...] = (),
    deadline: TransferDeadline | None = None,
    retry: RetryPolicy = FAST_RETRY,
) -> ImageCopier:
    """A copier from ``public.ecr.aws`` served at ``source_url`` into the registry at ``target_url``."""
    sources = SourceRegistries(
        UpstreamPolicy(registry_auth_hosts=auth_hosts),
        EndpointMap.parse([f"public.ecr.aws={source_url}", *endpoints]),
        client_factory=lambda base, host, policy: RegistryClient(
            base, display_host=host, retry=retry, policy=policy, deadline=deadline
        ),
    )
    return ImageCopier(RegistryClient(target_url, retry=retry, deadline=deadline), sources=sources)


def document(media_type: str, **fields: object) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": media_type, **fields}).encode()


def digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def platform_entries(registry: LocalRegistry, repository: str, digest: str) -> list[dict[str, object]]:
    index = RegistryClient(registry.url).get_manifest(repository, digest)
    entries: list[dict[str, object]] = json.loads(index.body)["manifests"]
    return entries


def manifest_gets(proxy: FaultProxy) -> list[str]:
    return [r.path.rsplit("/", 1)[-1] for r in proxy.requests if r.method == "GET" and "/manifests/" in r.path]


# --- redirects ------------------------------------------------------------------------------------


@pytest.mark.reliability(
    area="images",
    fault="manifest GET redirected to plain http on another address, to a loopback https address, to a name "
    "resolving to loopback, to a URL with credentials",
    expected="RegistryError naming the refused URL; the refused address sees no connection",
)
@pytest.mark.parametrize(
    "kind", ["http-other-host", "https-loopback-address", "name-resolving-to-loopback", "userinfo"]
)
def test_a_redirect_outside_the_policy_is_never_followed(
    kind: str,
    upstream: LocalRegistry,
    target: LocalRegistry,
    proxy: FaultProxy,
    name: str,
    sentinel: ConnectionSentinel,
    loopback_sentinel: ConnectionSentinel,
    observed: Callable[[str], None],
) -> None:
    # Given an upstream registry that redirects the tag's manifest to an address the policy refuses
    publish_image(upstream.url, name, "v1", platforms=["linux/amd64"])
    path = f"/v2/{name}/manifests/v1"
    location, listener = {
        "http-other-host": (sentinel.url("http") + path, sentinel),
        "https-loopback-address": (sentinel.url("https") + path, sentinel),
        "name-resolving-to-loopback": (loopback_sentinel.url("https", "localhost") + path, loopback_sentinel),
        "userinfo": (sentinel.url("https", "user:secret@127.0.0.2") + path, sentinel),
    }[kind]
    proxy.inject(Fault.REDIRECT, r"/manifests/v1$", location=location, times=20)

    # When the image is copied, then the copy fails naming the refusal, and nothing reached the address
    with make_copier(proxy.url, target) as copier, pytest.raises(RegistryError, match="refusing") as caught:
        copier.copy(job_for(name, None))
    assert listener.connections == 0
    observed(f"{caught.value}"[:160] + f"; connections seen: {listener.connections}")


@pytest.mark.reliability(
    area="images",
    fault="blob GET redirected to plain http on another address (not the https CDN/S3 of ECR)",
    expected="RegistryError, nothing tagged; the address sees no connection",
)
def test_a_blob_redirect_may_not_leave_https(
    upstream: LocalRegistry, target: LocalRegistry, name: str, sentinel: ConnectionSentinel
) -> None:
    digest = publish_image(upstream.url, name, "v1", platforms=["linux/amd64"])
    with (
        FaultProxy(upstream.url, redirect_blobs_to=sentinel.url("http")) as registry,
        make_copier(registry.url, target) as copier,
        pytest.raises(RegistryError, match="only https outside the configured endpoints"),
    ):
        copier.copy(job_for(name, digest))
    assert sentinel.connections == 0
    assert RegistryClient(target.url).head_manifest(f"eksd/staging/{name}", "v1") is None


@pytest.mark.reliability(
    area="images",
    fault="manifest GET redirected to itself forever",
    expected="RegistryError after a bounded number of hops (5), no retry loop",
)
def test_a_redirect_loop_ends_after_a_bounded_number_of_hops(
    upstream: LocalRegistry, target: LocalRegistry, proxy: FaultProxy, name: str
) -> None:
    publish_image(upstream.url, name, "v1", platforms=["linux/amd64"])
    proxy.inject(Fault.REDIRECT, r"/manifests/v1$", location=f"{proxy.url}/v2/{name}/manifests/v1", times=100)
    with make_copier(proxy.url, target) as copier, pytest.raises(RegistryError, match="more than 5 redirects"):
        copier.copy(job_for(name, None))
    assert len(manifest_gets(proxy)) == 6


# --- token realms ---------------------------------------------------------------------------------


@pytest.mark.reliability(
    area="images",
    fault="WWW-Authenticate realm on plain http elsewhere, on a loopback https address, on a host that is neither "
    "the registry nor an allow-listed auth host; a challenge with the realm twice, non-ASCII, or over 4 KiB",
    expected="RegistryError naming the realm or the malformed challenge; the realm's address sees no connection",
)
@pytest.mark.parametrize(
    ("challenge", "message"),
    [
        ('Bearer realm="{sentinel_http}/token",service="s"', "refusing token realm"),
        ('Bearer realm="{sentinel_https}/token",service="s"', "refusing token realm"),
        ('Bearer realm="https://auth.elsewhere.example/token",service="s"', "neither the registry's own host"),
        ('Bearer realm="https://public.ecr.aws/token/",realm="{sentinel_http}/token"', "malformed"),
        ('Bearer r\u00e9alm="{sentinel_http}/token"', "malformed"),
        ('Bearer realm="{sentinel_http}/token",service="' + "s" * 5000 + '"', "malformed"),
    ],
    ids=["http-elsewhere", "loopback-https", "other-host", "realm-twice", "non-ascii", "over-4-kib"],
)
def test_a_token_realm_outside_the_policy_is_refused(
    challenge: str,
    message: str,
    upstream: LocalRegistry,
    target: LocalRegistry,
    proxy: FaultProxy,
    name: str,
    sentinel: ConnectionSentinel,
) -> None:
    publish_image(upstream.url, name, "v1", platforms=["linux/amd64"])
    header = challenge.format(sentinel_http=sentinel.url("http"), sentinel_https=sentinel.url("https"))
    proxy.inject(Fault.CHALLENGE, r"^/v2/", challenge=header, times=20)
    with make_copier(proxy.url, target) as copier, pytest.raises(RegistryError, match=message):
        copier.copy(job_for(name, None))
    assert sentinel.connections == 0
    assert not [r for r in proxy.requests if r.path.startswith("/token")]


@pytest.mark.reliability(
    area="images",
    fault="registry sends clients to a separate auth host for bearer tokens (as Docker Hub's auth.docker.io)",
    expected="tokens fetched there only when the host is allow-listed (registry_auth_hosts); refused otherwise",
)
@pytest.mark.parametrize("allowed", [True, False], ids=["allow-listed", "not-allow-listed"])
def test_an_auth_host_serves_tokens_only_when_allow_listed(
    allowed: bool, upstream: LocalRegistry, target: LocalRegistry, name: str
) -> None:
    digest = publish_image(upstream.url, name, "v1", platforms=["linux/amd64"])
    with (
        FaultProxy(upstream.url) as auth,
        FaultProxy(upstream.url, require_token=True, token_realm="https://auth.example.test/token") as registry,
    ):
        auth.token = registry.token  # the auth host issues what the registry accepts
        copier = copier_for(
            registry.url,
            target.url,
            endpoints=(f"auth.example.test={auth.url}",),
            auth_hosts=("auth.example.test",) if allowed else (),
        )
        with copier:
            if allowed:
                assert copier.copy(job_for(name, digest)).digest == digest
            else:
                with pytest.raises(RegistryError, match="neither the registry's own host"):
                    copier.copy(job_for(name, digest))
        tokens = [r for r in auth.requests if r.path.startswith("/token")]
    assert len(tokens) == (1 if allowed else 0)


# --- digests --------------------------------------------------------------------------------------

CRAFTED_DIGESTS = {
    "path-traversal": "sha256:" + "../" * 21 + "v",
    "upper-case-hex": "sha256:" + "A" * 64,
    "trailing-newline": "sha256:" + "a" * 63 + "\n",
    "query": "sha256:" + "a" * 60 + "?x=1",
}


@pytest.mark.reliability(
    area="images",
    fault="a manifest's layer digest crafted to pass a prefix-and-length check: path traversal, upper-case hex, "
    "a newline, a query",
    expected="RegistryError naming the descriptor before any blob request, at the source or the target",
)
@pytest.mark.parametrize("crafted", CRAFTED_DIGESTS.values(), ids=CRAFTED_DIGESTS.keys())
def test_a_crafted_descriptor_digest_is_refused_before_any_request(
    crafted: str, upstream: LocalRegistry, target: LocalRegistry, proxy: FaultProxy, name: str
) -> None:
    # Given a platform manifest (served for the tag) whose second layer has a crafted digest of the right length
    assert len(crafted) == 71
    publish_image(upstream.url, name, "v1", platforms=["linux/amd64"])
    config = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest_of(b"{}"), "size": 2}
    layers = [
        {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest_of(b"x"), "size": 1},
        {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": crafted, "size": 1},
    ]
    body = document(OCI_MANIFEST, config=config, layers=layers)
    proxy.inject(Fault.SERVE, r"/manifests/v1$", headers={"Content-Type": OCI_MANIFEST}, body=body, times=20)

    with (
        FaultProxy(target.url) as target_proxy,
        copier_for(proxy.url, target_proxy.url) as copier,
        pytest.raises(RegistryError, match="is not a sha256 digest"),
    ):
        copier.copy(job_for(name, digest_of(body)))
        # Then no blob was asked for anywhere
    assert not [r for r in proxy.requests + target_proxy.requests if "/blobs/" in r.path]


@pytest.mark.reliability(
    area="images",
    fault="target answers a blob HEAD with 200 but another Content-Length, or another Docker-Content-Digest",
    expected="blob not counted present: fetched, hashed and uploaded; the copy is complete",
)
@pytest.mark.parametrize("lie", ["size", "digest"])
def test_a_blob_is_present_only_when_the_target_confirms_digest_and_size(
    lie: str, upstream: LocalRegistry, target: LocalRegistry, proxy: FaultProxy, name: str
) -> None:
    digest = publish_image(upstream.url, name, "v1", platforms=["linux/amd64"], layer_sizes=[3000])
    layer = json.loads(
        RegistryClient(upstream.url).get_manifest(name, str(platform_entries(upstream, name, digest)[0]["digest"])).body
    )["layers"][0]
    headers = {"Docker-Content-Digest": layer["digest"], "Content-Length": str(layer["size"])}
    headers.update({"Content-Length": "1"} if lie == "size" else {"Docker-Content-Digest": digest_of(b"other")})
    with FaultProxy(target.url) as target_proxy:
        target_proxy.inject(Fault.SERVE, f"/blobs/{layer['digest']}$", method="HEAD", headers=headers, times=20)
        with copier_for(proxy.url, target_proxy.url) as copier:
            result = copier.copy(job_for(name, digest))
    assert result.digest == digest and result.blobs_uploaded == 2  # the layer and the config
    assert [r for r in proxy.requests if r.path.endswith(f"/blobs/{layer['digest']}")]  # fetched and hashed
    assert RegistryClient(target.url).blob_exists(f"eksd/staging/{name}", layer["digest"], layer["size"])


@pytest.mark.reliability(
    area="images",
    fault="target answers a manifest HEAD with a crafted Docker-Content-Digest",
    expected="RegistryError naming the header; the digest is never used",
)
def test_a_crafted_docker_content_digest_header_is_refused(
    upstream: LocalRegistry, target: LocalRegistry, proxy: FaultProxy, name: str
) -> None:
    digest = publish_image(upstream.url, name, "v1", platforms=["linux/amd64"])
    headers = {"Docker-Content-Digest": CRAFTED_DIGESTS["path-traversal"], "Content-Type": OCI_INDEX}
    with FaultProxy(target.url) as target_proxy:
        target_proxy.inject(Fault.SERVE, r"/manifests/v1$", method="HEAD", headers=headers, times=20)
        with (
            copier_for(proxy.url, target_proxy.url) as copier,
            pytest.raises(RegistryError, match=r"Docker-Content-Digest .* is not a digest"),
        ):
            copier.copy(job_for(name, digest))


# --- size and fan-out -----------------------------------------------------------------------------


@pytest.mark.reliability(
    area="images",
    fault="manifest of 150 MB (declared), and an endless chunked manifest",
    expected="RegistryError naming the 4 MiB limit; at most 4 MiB + 1 byte read",
)
@pytest.mark.parametrize("kind", ["declared-150-mb", "endless-chunked"])
def test_a_manifest_over_4_mib_is_refused_while_reading(
    kind: str, upstream: LocalRegistry, target: LocalRegistry, proxy: FaultProxy, name: str
) -> None:
    publish_image(upstream.url, name, "v1", platforms=["linux/amd64"])
    headers = {"Content-Type": OCI_INDEX}
    if kind == "declared-150-mb":
        headers["Content-Length"] = str(150 * 1000 * 1000)
    proxy.inject(
        Fault.ENDLESS, r"/manifests/v1$", headers=headers, body=b'{"manifests": [', limit=150 * 1000 * 1000, times=20
    )
    with make_copier(proxy.url, target) as copier, pytest.raises(RegistryError, match="over the 4194304-byte limit"):
        copier.copy(job_for(name, None))


@pytest.mark.reliability(
    area="images",
    fault="index listing 10,000 manifests",
    expected="RegistryError naming the 128-children limit before any child is fetched",
)
def test_an_index_over_the_children_limit_is_refused_before_fetching_any(
    upstream: LocalRegistry, target: LocalRegistry, proxy: FaultProxy, name: str
) -> None:
    publish_image(upstream.url, name, "v1", platforms=["linux/amd64"])
    children = [{"mediaType": OCI_MANIFEST, "digest": digest_of(str(i).encode()), "size": 500} for i in range(10_000)]
    body = document(OCI_INDEX, manifests=children)
    proxy.inject(Fault.SERVE, r"/manifests/v1$", headers={"Content-Type": OCI_INDEX}, body=body, times=20)
    with make_copier(proxy.url, target) as copier, pytest.raises(RegistryError, match="limit of 128 per index"):
        copier.copy(job_for(name, digest_of(body)))
    assert manifest_gets(proxy) == ["v1"]


@pytest.mark.reliability(
    area="images",
    fault="index listing one child index 50 times, which lists the platform manifests",
    expected="each distinct manifest fetched once; the image copied whole",
)
def test_repeated_children_are_fetched_once(
    upstream: LocalRegistry, target: LocalRegistry, proxy: FaultProxy, name: str
) -> None:
    # Given a root index repeating a child index (itself listing the real platform manifests)
    digest = publish_image(upstream.url, name, "v1")
    platforms = platform_entries(upstream, name, digest)
    child = document(OCI_INDEX, manifests=platforms)
    root = document(
        OCI_INDEX, manifests=[{"mediaType": OCI_INDEX, "digest": digest_of(child), "size": len(child)}] * 50
    )
    proxy.inject(Fault.SERVE, r"/manifests/v1$", headers={"Content-Type": OCI_INDEX}, body=root, times=20)
    proxy.inject(
        Fault.SERVE, f"/manifests/{digest_of(child)}$", headers={"Content-Type": OCI_INDEX}, body=child, times=200
    )

    # When it is copied
    with make_copier(proxy.url, target) as copier:
        result = copier.copy(job_for(name, digest_of(root)))

    # Then every manifest was asked for once, and the target holds the whole tree
    gets = manifest_gets(proxy)
    assert result.digest == digest_of(root)
    assert sorted(gets) == sorted(["v1", digest_of(child), *(str(p["digest"]) for p in platforms)])
    stored = RegistryClient(target.url)
    assert stored.get_manifest(f"eksd/staging/{name}", digest_of(child)).body == child


@pytest.mark.reliability(
    area="images",
    fault="an index of an index of an index of platform manifests",
    expected="RegistryError naming the nesting limit (2) before the third index is fetched",
)
def test_indexes_nested_deeper_than_the_limit_are_refused(
    upstream: LocalRegistry, target: LocalRegistry, proxy: FaultProxy, name: str
) -> None:
    digest = publish_image(upstream.url, name, "v1", platforms=["linux/amd64"])
    inner = document(OCI_INDEX, manifests=platform_entries(upstream, name, digest))
    middle = document(OCI_INDEX, manifests=[{"mediaType": OCI_INDEX, "digest": digest_of(inner), "size": len(inner)}])
    root = document(OCI_INDEX, manifests=[{"mediaType": OCI_INDEX, "digest": digest_of(middle), "size": len(middle)}])
    for path, body in ((r"/manifests/v1$", root), (f"/manifests/{digest_of(middle)}$", middle)):
        proxy.inject(Fault.SERVE, path, headers={"Content-Type": OCI_INDEX}, body=body, times=20)
    proxy.inject(
        Fault.SERVE, f"/manifests/{digest_of(inner)}$", headers={"Content-Type": OCI_INDEX}, body=inner, times=20
    )
    with (
        make_copier(proxy.url, target) as copier,
        pytest.raises(RegistryError, match="nested deeper than the limit of 2"),
    ):
        copier.copy(job_for(name, digest_of(root)))
    assert digest_of(inner) not in manifest_gets(proxy)


# --- deadlines ------------------------------------------------------------------------------------

# 1 s plus the transfer's size at 4 MiB/s: a manifest by tag (4 MiB at most) may take 2 s, a small blob 1 s.
QUICK = TransferDeadline(min_throughput=4 * MIB, allowance=1.0)
TWO_ATTEMPTS = RetryPolicy(attempts=2, initial_backoff=0.01, max_backoff=0.05)


@pytest.mark.reliability(
    area="images",
    fault="manifest body trickled one byte every 50 ms (each byte restarting the read timeout)",
    expected="cut at the whole-transfer deadline (allowance + size / min_throughput), retried, then "
    "RegistryUnavailableError naming the deadline",
)
def test_a_trickled_manifest_ends_at_its_deadline(
    upstream: LocalRegistry, target: LocalRegistry, proxy: FaultProxy, name: str, observed: Callable[[str], None]
) -> None:
    publish_image(upstream.url, name, "v1", platforms=["linux/amd64"])
    proxy.inject(Fault.TRICKLE, r"/manifests/v1$", interval=0.05, times=20)
    started = time.monotonic()
    with (
        copier_for(proxy.url, target.url, deadline=QUICK, retry=TWO_ATTEMPTS) as copier,
        pytest.raises(RegistryUnavailableError, match="not done within 2 s"),
    ):
        copier.copy(job_for(name, None))
    elapsed = time.monotonic() - started
    assert elapsed < 15  # two attempts of 2 s, not the 25 s the whole trickle takes each time
    observed(f"gave up after {elapsed:.1f} s")


@pytest.mark.reliability(
    area="images",
    fault="blob body trickled one byte every 10 ms",
    expected="cut at the blob's deadline, retried, then RegistryUnavailableError; nothing tagged",
)
def test_a_trickled_blob_ends_at_its_deadline(
    upstream: LocalRegistry, target: LocalRegistry, proxy: FaultProxy, name: str
) -> None:
    digest = publish_image(upstream.url, name, "v1", platforms=["linux/amd64"], layer_sizes=[3000])
    layer = json.loads(
        RegistryClient(upstream.url).get_manifest(name, str(platform_entries(upstream, name, digest)[0]["digest"])).body
    )["layers"][0]["digest"]
    proxy.inject(Fault.TRICKLE, f"/blobs/{layer}$", interval=0.01, times=20)
    started = time.monotonic()
    with (
        copier_for(proxy.url, target.url, deadline=QUICK, retry=TWO_ATTEMPTS) as copier,
        pytest.raises(RegistryUnavailableError, match="not done within 1 s"),
    ):
        copier.copy(job_for(name, digest))
    assert time.monotonic() - started < 15  # the whole trickle would take 30 s per attempt
    assert RegistryClient(target.url).head_manifest(f"eksd/staging/{name}", "v1") is None


def test_a_manifest_fits_its_deadline_at_a_healthy_pace(
    upstream: LocalRegistry, target: LocalRegistry, name: str
) -> None:
    # The deadline bounds hostile transfers only: a healthy copy under the same tight limits completes.
    digest = publish_image(upstream.url, name, "v1", layer_sizes=[3000, 2 * MIB])
    with copier_for(upstream.url, target.url, deadline=QUICK) as copier:
        assert copier.copy(job_for(name, digest)).digest == digest


@pytest.fixture
def header_trickler() -> Iterator[str]:
    """A server that sends its status line and one endless header a byte every 50 ms."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with suppress(OSError):
            connection, _ = server.accept()
            with connection:
                connection.recv(65536)
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 60_000:
                    connection.send(bytes([byte]))
                    time.sleep(0.05)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()


@pytest.mark.reliability(
    area="images",
    fault="response status line and headers trickled one byte every 50 ms",
    expected="cut at the request's deadline like a body; RegistryUnavailableError naming it",
)
def test_trickled_response_headers_end_at_the_deadline(header_trickler: str) -> None:
    client = RegistryClient(header_trickler, retry=RetryPolicy(attempts=1), deadline=QUICK)
    started = time.monotonic()
    with pytest.raises(RegistryUnavailableError, match="not done within 1 s"):
        client.head_manifest("eks-distro/x", "v1")
    assert time.monotonic() - started < 10  # the headers alone would take 50 minutes
    client.close()
