"""A job's digest is used only when it is a whole digest: it goes into registry request paths."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from eksd_adopt.plan import ImageCopyJob

DIGEST = "sha256:" + "c" * 64


def _job(known: object) -> ImageCopyJob:
    return ImageCopyJob.model_validate(
        {
            "component": "kubernetes",
            "asset": "pause-image",
            "source": "public.ecr.aws/eks-distro/kubernetes/pause:v1.20.4-eks-1-20-1",
            "known_digest": known,
            "target_repository": "eksd/staging/eks-distro/kubernetes/pause",
            "tag": "v1.20.4-eks-1-20-1",
        }
    )


@pytest.mark.parametrize(
    "known", ["sha256:../../../v2/_catalog", DIGEST + "\n", "sha256:" + "C" * 64, DIGEST.replace("c", "\u0660"), 7]
)
def test_a_job_whose_digest_is_no_digest_is_refused(known: object) -> None:
    with pytest.raises(ValidationError, match="known_digest"):
        _job(known)


def test_a_whole_digest_is_kept() -> None:
    assert _job(DIGEST).known_digest == DIGEST
    assert _job(None).known_digest is None
