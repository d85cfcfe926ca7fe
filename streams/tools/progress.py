"""One progress line for long commands: what is done, of how much, how fast, and when it ends."""

from __future__ import annotations

import time


def progress_line(what: str, done: int, total: int, started: float) -> str:
    """``what: done/total events (pct), rate/s, ETA`` (total 0: unknown, no ETA)."""
    elapsed = max(time.monotonic() - started, 1e-9)
    rate = done / elapsed
    if total <= 0:
        return f"{what}: {done:,} events ({rate:,.0f}/s)"
    left = max(total - done, 0) / rate if rate > 0 else 0.0
    return (
        f"{what}: {done:,}/{total:,} events ({100 * min(done / total, 1):.0f}%), "
        f"{rate:,.0f}/s, ETA {left:,.0f} s"
    )


__all__ = ["progress_line"]
