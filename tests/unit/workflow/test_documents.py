"""The workflow's one document store over the bucket's store: locations, write-once, reads by location."""

from __future__ import annotations

import pytest

from eksd_adopt.archives import InMemoryArchiveStore, ManifestConflictError
from eksd_adopt.workflow.documents import BucketDocuments
from eksd_adopt.workflow.errors import ArtifactMissingError


def test_write_once_keeps_the_first_bytes_and_reads_by_location() -> None:
    buckets = {"mirror": InMemoryArchiveStore(), "other": InMemoryArchiveStore()}
    documents = BucketDocuments("mirror", buckets.__getitem__)
    location = documents.put("eksd/upstream/a.yaml", b"kind: Release\n", write_once=True)
    assert location == "s3://mirror/eksd/upstream/a.yaml"
    assert documents.put("eksd/upstream/a.yaml", b"kind: Release\n", write_once=True) == location  # same bytes: fine
    with pytest.raises(ManifestConflictError, match="a document is written once"):
        documents.put("eksd/upstream/a.yaml", b"kind: Other\n", write_once=True)
    assert documents.get(location) == b"kind: Release\n"
    documents.put("eksd/upstream/a.plan.json", b"{}", content_type="application/json")
    documents.put("eksd/upstream/a.plan.json", b"{ }", content_type="application/json")  # not write-once: replaced
    assert documents.get("s3://mirror/eksd/upstream/a.plan.json") == b"{ }"
    buckets["other"].put("x.json", b"[]", metadata={})
    reader = BucketDocuments(None, buckets.__getitem__)
    assert reader.get("s3://other/x.json") == b"[]"  # a location names its own bucket
    with pytest.raises(ValueError, match="only reads"):
        reader.put("x.json", b"[]")
    with pytest.raises(ArtifactMissingError, match="does not exist"):
        reader.get("s3://mirror/eksd/none.yaml")
    with pytest.raises(ArtifactMissingError, match="not an s3:// location"):
        reader.get("https://mirror/eksd/upstream/a.yaml")
