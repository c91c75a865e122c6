"""Fixtures shared by every suite: the repository's real EKS-D test data."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.reliability"]

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTDATA = REPO_ROOT / "testdata" / "eksd"
REAL_MANIFESTS = sorted(TESTDATA.glob("kubernetes-*.yaml"))
REAL_ANNOUNCEMENTS = sorted((TESTDATA / "sns-announcements").glob("*.txt"))


@pytest.fixture(scope="session")
def testdata() -> Path:
    return TESTDATA


@pytest.fixture(scope="session")
def manifest_1_20() -> str:
    return (TESTDATA / "kubernetes-1-20-eks-1.yaml").read_text()
