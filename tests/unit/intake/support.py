"""Test helpers for the intake suites: valid manifests for any release, rewritten from a real one."""

from __future__ import annotations

import re
from pathlib import Path

TESTDATA = Path(__file__).resolve().parents[3] / "testdata" / "eksd"
TEMPLATE = (TESTDATA / "kubernetes-1-20-eks-1.yaml").read_text()
CHANNEL_TEMPLATE = (TESTDATA / "releasechannels" / "1-28.config.yaml").read_text()


def make_manifest(channel: str, number: int, patch: int = 4) -> str:
    """kubernetes-1-20-eks-1 re-homed as ``channel``/``number``: name, spec, tags, image and archive URIs."""
    major, minor = channel.split("-")
    text = TEMPLATE
    text = text.replace("name: kubernetes-1-20-eks-1", f"name: kubernetes-{channel}-eks-{number}")
    text = re.sub(r"(?m)^  channel: 1-20$", f"  channel: {channel}", text)
    text = re.sub(r"(?m)^  number: 1$", f"  number: {number}", text)
    text = re.sub(r"-eks-1-20-1\b", f"-eks-{channel}-{number}", text)
    text = text.replace("/kubernetes-1-20/releases/1/", f"/kubernetes-{channel}/releases/{number}/")
    return text.replace("v1.20.4", f"v{major}.{minor}.{patch}")


def make_channel_file(channel: str, latest: int, *, active: bool = True) -> str:
    """A releasechannels/<ch>.yaml like the real one (licence header and all)."""
    text = CHANNEL_TEMPLATE.replace("name: 1-28", f"name: {channel}")
    text = text.replace("latestRelease: 1", f"latestRelease: {latest}")
    return text.replace("active: true", f"active: {'true' if active else 'false'}")


def manifest_path(channel: str, number: int) -> str:
    return f"/kubernetes-{channel}/kubernetes-{channel}-eks-{number}.yaml"


def channel_path(channel: str) -> str:
    return f"/releasechannels/{channel}.yaml"
