"""Send simulated windows to Kafka, either as fast as possible or paced by the wall clock."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from streams.runtime.publish import SignalPublisher
from streams.tools.simulator import Simulator


def publish_fast(
    simulator: Simulator,
    publisher: SignalPublisher,
    windows: int,
    progress: Callable[[int, int, int, float], None] | None = None,
) -> int:
    """Send ``windows`` whole windows back to back; return the number of events sent.
    ``progress(windows done, windows, events sent, time.monotonic() at the start)``."""
    sent = 0
    started = time.monotonic()
    for index, events in simulator.windows(windows):
        publisher.send_all(events)
        sent += len(events)
        if progress:
            progress(index + 1, windows, sent, started)
    publisher.flush()
    return sent


def publish_realtime(
    simulator: Simulator,
    publisher: SignalPublisher,
    stop: threading.Event,
    deadline: float | None = None,
    slice_seconds: float = 0.25,
) -> int:
    """Send each event when the wall clock reaches its event time, until ``stop`` or ``deadline``.

    The simulator's clock must start near now: events are released in small slices so that
    event time and wall time advance together, like a live survey feed.
    """
    sent = 0
    for _index, events in simulator.windows():
        position = 0
        while position < len(events):
            if stop.is_set() or (deadline is not None and time.time() >= deadline):
                publisher.flush()
                return sent
            now_ms = time.time() * 1000
            while position < len(events) and events[position].occurred_at <= now_ms:
                publisher.send(events[position])
                position += 1
                sent += 1
            publisher.flush()
            stop.wait(slice_seconds)
    return sent


def print_progress(done: int, total: int, sent: int, started: float) -> None:
    """A one-line progress bar on stderr: windows done of the total, events sent, and an ETA
    (``started``: ``time.monotonic()`` when sending began)."""
    width = 30
    filled = int(width * done / max(total, 1))
    bar = "#" * filled + "-" * (width - filled)
    end = "\n" if done >= total else ""
    elapsed = max(time.monotonic() - started, 1e-9)
    eta = (total - done) * elapsed / done if done else 0.0
    print(
        f"\r[{bar}] window {done}/{total}, {sent:,} events sent, ETA {eta:,.0f} s",
        end=end,
        file=sys.stderr,
        flush=True,
    )
