"""moto's S3 made atomic on conditional creates (``If-None-Match: *``), as S3 is.

moto checks that the key is absent and then stores the object, with nothing held in between: two
conditional PUTs racing for one key can both pass the check and both answer 200, the later one
overwriting the earlier. S3 lets one create win and refuses the others with 412 PreconditionFailed
(409 ConditionalRequestConflict while a conflicting operation is under way): PutObject's IfNoneMatch,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html. With this patch moto does the
same, so a test of racing write-once writers fails when the code relies on anything weaker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.Lock()
_MARK = "_eksd_adopt_atomic_conditional_put"


def atomic_conditional_puts() -> Callable[[], None]:
    """Serialize moto's conditional PutObject requests (check and store as one step); returns the undo."""
    from moto.s3.responses import S3Response

    original = S3Response.put_object
    if getattr(original, _MARK, False):  # already in place (another runtime in this process): leave it
        return lambda: None

    def put_object(self: Any) -> Any:
        if self.headers.get("If-None-Match") != "*":
            return original(self)
        with _LOCK:
            return original(self)

    setattr(put_object, _MARK, True)
    S3Response.put_object = put_object  # type: ignore[method-assign]

    def undo() -> None:
        S3Response.put_object = original  # type: ignore[method-assign]

    return undo
