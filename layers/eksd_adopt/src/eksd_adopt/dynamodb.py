"""What every DynamoDB adapter of ours shares: reading every page of a scan or query."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any


def all_items(call: Callable[..., Any], **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item ``call`` (a table's or client's ``scan``/``query``) returns, page after page: DynamoDB stops a
    page at 1 MB and names where to go on in ``LastEvaluatedKey``
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Scan.html#Scan.Pagination)."""
    while True:
        page = call(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
