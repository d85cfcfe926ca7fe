"""Is the Kafka broker there? Wait until it answers admin requests (the worker's first step).

Used by the worker before it creates topics and by the broker launchers of ``streams.tools``
(which wait for the broker they started, and stop waiting when its process exits).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Final

from streams.errors import BrokerError
from streams.kafka_config import KafkaTarget, as_connection
from streams.runtime.topics import admin_client

DEFAULT_WAIT_SECONDS: Final = 60.0


def _port_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _split_bootstrap(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit():
        raise BrokerError(f"bootstrap {bootstrap!r} is not host:port; use e.g. 127.0.0.1:9092")
    return host.strip("[]"), int(port)


def _admin_answers(kafka: KafkaTarget, timeout: float) -> str | None:
    """None when an admin client can list topics, else why not."""
    try:
        with admin_client(kafka, max(timeout, 1.0)) as admin:
            admin.list_topics()
    except BrokerError as e:
        return str(e)
    except Exception as e:  # noqa: BLE001 - any failure means "not ready yet"
        return f"list_topics failed: {e!r}"
    return None


def wait_ready(
    kafka: KafkaTarget,
    timeout: float,
    exited: Callable[[], str | None] = lambda: None,
) -> None:
    """Wait until the port accepts and an admin client can list topics; raise BrokerError if not.

    ``exited`` reports why the broker process is gone (or None while it runs), so a crashed
    broker fails fast instead of after the whole timeout.
    """
    bootstrap = as_connection(kafka).bootstrap
    host, port = _split_bootstrap(bootstrap)
    deadline = time.monotonic() + timeout
    last_problem = "port never accepted a connection"
    while True:
        why_exited = exited()
        if why_exited is not None:
            raise BrokerError(f"broker at {bootstrap} exited while starting: {why_exited}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BrokerError(
                f"broker at {bootstrap} not ready after {timeout:.0f}s ({last_problem})"
            )
        if _port_accepts(host, port):
            problem = _admin_answers(kafka, min(remaining, 10.0))
            if problem is None:
                return
            last_problem = problem
        time.sleep(0.1)


def wait_for_broker(kafka: KafkaTarget, timeout: float = DEFAULT_WAIT_SECONDS) -> None:
    """Block until the broker at ``kafka`` answers admin requests, or raise BrokerError."""
    wait_ready(kafka, timeout)


__all__ = ["DEFAULT_WAIT_SECONDS", "wait_for_broker", "wait_ready"]
