"""Real registries and moto for the adoption record: a docker-registry upstream and one private, KMS held to AWS's rules."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from eksd_adopt.local.kms import enforce_kms_message_types
from eksd_adopt.local.registry import LocalRegistry

_names = itertools.count()


@pytest.fixture(scope="package")
def upstream() -> Iterator[LocalRegistry]:
    with LocalRegistry() as registry:
        yield registry


@pytest.fixture(scope="package")
def private() -> Iterator[LocalRegistry]:
    with LocalRegistry() as registry:
        yield registry


@pytest.fixture
def name() -> str:
    """A repository path no other test uses."""
    return f"eks-distro/attest/image-{next(_names)}"


@pytest.fixture
def kms_as_aws() -> Iterator[None]:
    """moto's KMS signing as KMS does (DIGEST not hashed again, RAW at most 4096 bytes), undone afterwards."""
    undo = enforce_kms_message_types()
    try:
        yield
    finally:
        undo()
