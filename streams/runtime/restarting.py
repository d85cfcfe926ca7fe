"""Run a side task of the worker until asked to stop, restarting it after any failure.

The webhook relay and the unit stage are side tasks: the team stage must never depend on them,
and they must not die for good on a broker hiccup. Each failure is logged with what failed and
the task starts again after a pause (from its committed offset or saved state).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

__all__ = ["RESTART_BACKOFF_SECONDS", "run_restarting"]

RESTART_BACKOFF_SECONDS = 5.0


async def run_restarting(
    what: str,
    once: Callable[[asyncio.Event], Awaitable[None]],
    stop: asyncio.Event,
    log: logging.Logger,
    backoff: float = RESTART_BACKOFF_SECONDS,
) -> None:
    """Await ``once(stop)`` again and again until ``stop`` is set; cancellation ends it."""
    while not stop.is_set():
        try:
            await once(stop)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - keep going; the error is logged
            log.error("%s failed (%s: %s); restarting in %.0fs", what, type(e).__name__, e, backoff)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
