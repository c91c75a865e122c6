"""Real registries for referrers and the adoption record: a docker-registry upstream and a private one."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

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
