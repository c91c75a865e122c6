"""Retry policy for network calls to registries, the CDN and AWS: backoff with jitter, honouring Retry-After.

Built on tenacity. Callers raise :class:`TransientError` (or let httpx transport errors through) for
what is worth retrying; everything else fails at once. httpx is not imported here: the image mirror
runs on urllib3 and should not pay httpx's import at start-up.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class TransientError(Exception):
    """A failure worth retrying (408/429/5xx, a reset, a truncated body)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def retry_after_seconds(headers: Mapping[str, str], *, cap: float = 60.0) -> float | None:
    """Seconds asked for by a Retry-After header (delta-seconds or HTTP date), capped.

    ``headers`` must look names up case-insensitively (httpx's and urllib3's header maps do).
    """
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(seconds, cap))


def raise_for_transient_status(status: int, headers: Mapping[str, str], what: str) -> None:
    """Turn a retryable status into :class:`TransientError`; leave the rest to the caller."""
    if status in RETRYABLE_STATUS:
        raise TransientError(f"{what}: HTTP {status}", retry_after=retry_after_seconds(headers))


def raise_for_transient(response: httpx.Response, what: str) -> None:
    """:func:`raise_for_transient_status` for an httpx response."""
    raise_for_transient_status(response.status_code, response.headers, what)


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TransientError):
        return True
    # An httpx error can only exist once httpx has been imported by whoever raised it.
    httpx_module = sys.modules.get("httpx")
    return httpx_module is not None and isinstance(exc, httpx_module.TransportError)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    initial_backoff: float = 0.2
    max_backoff: float = 10.0

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return exc.retry_after
        jitter = wait_random_exponential(multiplier=self.initial_backoff, max=self.max_backoff)
        return float(jitter(state))

    def retrying(self, on_retry: Callable[[RetryCallState], None] | None = None) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception(_is_transient),
            reraise=True,
            before_sleep=on_retry,
        )

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return self.retrying()(fn, *args, **kwargs)

    def retrying_with_progress(
        self, progress: Callable[[], int], on_retry: Callable[[RetryCallState], None] | None = None
    ) -> Retrying:
        """Like :meth:`retrying`, but only attempts that made no progress count towards ``attempts``.

        For resumable transfers: a long download over a flaky link keeps going while each
        attempt moves ``progress()`` (e.g. bytes received) forward, and stops after ``attempts``
        attempts in a row that got nowhere.
        """
        seen = {"progress": progress(), "stalled": 0}

        def stop(state: RetryCallState) -> bool:
            now = progress()
            seen["stalled"] = 1 if now > seen["progress"] else seen["stalled"] + 1
            seen["progress"] = now
            return seen["stalled"] >= self.attempts

        return Retrying(
            stop=stop, wait=self._wait, retry=retry_if_exception(_is_transient), reraise=True, before_sleep=on_retry
        )
