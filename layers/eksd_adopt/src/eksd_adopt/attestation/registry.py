"""The private registry as the adoption record's ports: digests read back, referrers attached (OCI client adapters)."""

from __future__ import annotations

from eksd_adopt.images.client import RegistryClient
from eksd_adopt.images.media import Descriptor, Manifest


class RegistryDigests:
    """:class:`~eksd_adopt.attestation.ports.ManifestDigests` over the OCI client: one HEAD per lookup."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client

    @property
    def host(self) -> str:
        return self.client.host

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        found = self.client.head_manifest(repository, reference)
        return None if found is None else found.digest


class RegistryReferrers:
    """:class:`~eksd_adopt.attestation.ports.ReferrerTarget` over the OCI client."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client

    def subject(self, repository: str, digest: str) -> Descriptor:
        # The index's bytes, not a HEAD: the subject descriptor needs its exact size and media type.
        return self.client.get_manifest(repository, digest).descriptor()

    def attach(self, repository: str, manifest: Manifest, blobs: dict[str, bytes], subject: Descriptor) -> str:
        # Loaded here: verify reads digests through this module and needs none of the referrers code.
        from eksd_adopt.images.referrers import attach

        return attach(self.client, repository, manifest, blobs, subject).value
