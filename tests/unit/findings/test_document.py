"""The findings document: deterministic bytes, write-once beside the staged manifest, read back checked."""

from __future__ import annotations

import hashlib
import json

import pytest

from eksd_adopt.findings import FindingsDocumentError, findings_key, load_findings, store_findings
from eksd_adopt.findings import document as document_module
from tests.unit.findings.builders import MemoryDocuments, finding, release_findings, scan

PROXY = "eks-distro/kubernetes/kube-proxy"


def test_the_key_sits_beside_the_staged_manifest() -> None:
    assert findings_key("eksd", "1-20", 3) == "eksd/staging/kubernetes-1-20/kubernetes-1-20-eks-3.findings.json"


def test_stored_write_once_and_read_back_whole() -> None:
    documents = MemoryDocuments()
    findings = release_findings([scan(PROXY, [finding("CVE-2024-0001")], release="3")])
    ref = store_findings(findings, documents, prefix="eksd", channel="1-20", number=3)
    assert documents.puts == [(findings_key("eksd", "1-20", 3), True, "application/json")]
    assert ref.sha256 == hashlib.sha256(documents.objects[findings_key("eksd", "1-20", 3)]).hexdigest()
    assert load_findings(ref.location, documents, release_id="1-20-3", sha256=ref.sha256) == findings
    # The same scans again (a retried step) give the same bytes: accepted.
    again = release_findings([scan(PROXY, [finding("CVE-2024-0001")], release="3")])
    assert store_findings(again, documents, prefix="eksd", channel="1-20", number=3) == ref


def test_other_results_for_the_same_release_are_refused() -> None:
    documents = MemoryDocuments()
    store_findings(release_findings([scan(PROXY, release="3")]), documents, prefix="eksd", channel="1-20", number=3)
    other = release_findings([scan(PROXY, [finding("CVE-2024-0001")], release="3")])
    with pytest.raises(FindingsDocumentError, match="different content"):
        store_findings(other, documents, prefix="eksd", channel="1-20", number=3)


def test_a_release_is_stored_under_its_own_number_only() -> None:
    with pytest.raises(FindingsDocumentError, match="cannot be stored as release 1-20-4"):
        store_findings(release_findings([scan(PROXY)]), MemoryDocuments(), prefix="eksd", channel="1-20", number=4)


def test_reading_refuses_an_altered_a_foreign_or_a_malformed_document(monkeypatch: pytest.MonkeyPatch) -> None:
    documents = MemoryDocuments()
    ref = store_findings(release_findings([scan(PROXY)]), documents, prefix="eksd", channel="1-20", number=3)
    key = findings_key("eksd", "1-20", 3)
    with pytest.raises(FindingsDocumentError, match="holds the findings of 1-20-3, not 1-20-2"):
        load_findings(ref.location, documents, release_id="1-20-2")
    original = documents.objects[key]
    document = json.loads(original)
    document["scans"][0]["findings"] = [{"id": "CVE-2024-0001\n", "severity": "HIGH"}]
    documents.objects[key] = json.dumps(document).encode()
    with pytest.raises(FindingsDocumentError, match="changed after it was written"):
        load_findings(ref.location, documents, sha256=ref.sha256)
    with pytest.raises(FindingsDocumentError, match="not a findings document"):
        load_findings(ref.location, documents)
    documents.objects[key] = original
    monkeypatch.setattr(document_module, "MAX_DOCUMENT_BYTES", len(original) - 1)
    with pytest.raises(FindingsDocumentError, match="over the"):
        load_findings(ref.location, documents)
