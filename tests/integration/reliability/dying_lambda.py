"""Runs one mirror Lambda handler in this process and SIGKILLs the process after N committed writes.

``python dying_lambda.py image|archive KILL_AFTER EVENT_JSON``: the handler runs exactly as Lambda
runs it (settings from the environment); after the KILL_AFTER-th committed blob (image) or uploaded
part (archive) the process kills itself with SIGKILL, as Lambda does on a timeout: no ``finally``,
no cleanup, no answer. Exit code 0 means the handler finished before the kill (the test fails then).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from eksd_adopt.local.lambdas import LambdaContext, load_handler

REPO = Path(__file__).resolve().parents[3]


def _die_after(cls: type, method: str, limit: int) -> None:
    original = getattr(cls, method)
    lock = threading.Lock()
    done = [0]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        with lock:
            done[0] += 1
            if done[0] >= limit:
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(cls, method, wrapper)


def main() -> int:
    kind, limit, event = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    if kind == "image":
        from eksd_adopt.images.client import RegistryClient

        _die_after(RegistryClient, "finish_upload", limit)  # a blob is in the target once its upload is committed
        directory = "images_mirror"
    else:
        from eksd_adopt.archives.s3store import S3ArchiveStore

        _die_after(S3ArchiveStore, "upload_part", limit)
        directory = "archives_mirror"
    load_handler(directory).handler(event, LambdaContext.of(directory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
