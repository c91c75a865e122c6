"""The local CDN's Range parsing: ASCII digits only, matched whole, no int() of thousands of digits."""

from __future__ import annotations

import pytest

from eksd_adopt.local.cdn import _parse_range


@pytest.mark.parametrize("header", ["bytes=" + "9" * 5000 + "-", "bytes=\u0661-2", "bytes=0-1,3-4", "bytes=0-1x"])
def test_a_range_that_is_not_one_plain_range_is_unsatisfiable(header: str) -> None:
    assert _parse_range(header, 10) is None


def test_plain_ranges_are_read() -> None:
    assert _parse_range("bytes=2-", 10) == (2, 9)
    assert _parse_range("bytes=-3", 10) == (7, 9)
    assert _parse_range("bytes=0-1", 10) == (0, 1)
