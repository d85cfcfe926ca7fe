"""Acknowledging and resolving episodes from the web pages: the request checked, then an
``EpisodeAction`` published to the actions topic (key ``team_id``, so it reaches the worker
holding the team), which applies it and answers with an event on the alerts topic.

The producer is kafka-python's (blocking): it is made on the first action, not at start-up, so
a page that nobody acts on never opens a producer, and every call runs in an executor thread.

MiroirError
 ├── ActionRequestError   the request is not a valid action (the page answers 400)
 └── ActionsUnavailable   no broker is configured, or it did not take the action (503)
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from kafka.errors import KafkaError

from schemas.codec import check_action, encode_action
from schemas.records import MAX_IDENTIFIER_CHARS, MAX_NOTE_CHARS, EpisodeAction
from streams.errors import MiroirError
from streams.kafka_config import KafkaTarget, as_connection

__all__ = [
    "SEND_TIMEOUT_SECONDS",
    "VERBS",
    "ActionPublisher",
    "ActionRequest",
    "ActionRequestError",
    "ActionsUnavailable",
    "kafka_producer_factory",
    "new_action",
    "parse_action_request",
]

# Route suffix -> EpisodeAction.action.
VERBS: Final[Mapping[str, str]] = {"ack": "ack", "resolve": "resolve"}
SEND_TIMEOUT_SECONDS: Final = 10.0  # a browser is waiting: fail with 503 rather than hang


class ActionRequestError(MiroirError):
    """The request is not a valid action; the message says which field and why."""


class ActionsUnavailable(MiroirError):
    """Actions cannot be published now (no broker configured, or the broker failed)."""


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """Who acts, and why (the note), as a person typed it in a form or a JSON body."""

    actor: str
    note: str | None = None


def parse_action_request(values: Mapping[str, Any]) -> ActionRequest:
    """The ``by`` and ``note`` of a form or JSON body, trimmed; ActionRequestError when ``by``
    is missing or longer than 256 characters, or ``note`` longer than 1000."""
    actor = values.get("by")
    if not isinstance(actor, str) or not actor.strip():
        raise ActionRequestError("'by' is required: who acts (a name or an e-mail address)")
    actor = actor.strip()
    if len(actor) > MAX_IDENTIFIER_CHARS:
        raise ActionRequestError(
            f"'by' must be at most {MAX_IDENTIFIER_CHARS} characters, got {len(actor)}"
        )
    note = values.get("note")
    if note is not None and not isinstance(note, str):
        raise ActionRequestError("'note' must be text")
    note = (note or "").strip() or None  # an empty field of a form is no note
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise ActionRequestError(
            f"'note' must be at most {MAX_NOTE_CHARS} characters, got {len(note)}"
        )
    return ActionRequest(actor, note)


def new_action(
    team_id: str, episode_id: str, verb: str, request: ActionRequest, at_ms: int
) -> EpisodeAction:
    """A fresh action (its own random id) as the codec accepts it; ActionRequestError if not."""
    action = EpisodeAction(
        action_id=uuid.uuid4().hex,
        team_id=team_id,
        episode_id=episode_id,
        action=verb,
        actor=request.actor,
        at=at_ms,
        note=request.note,
    )
    try:
        check_action(action)
    except ValueError as e:
        raise ActionRequestError(str(e)) from e
    return action


class _Producer(Protocol):
    """What is used of kafka-python's ``KafkaProducer`` (tests pass a fake)."""

    def send(self, topic: str, *, key: bytes, value: bytes) -> Any: ...

    def close(self, timeout: float | None = None) -> None: ...


ProducerFactory = Callable[[], _Producer]


def kafka_producer_factory(kafka: KafkaTarget) -> ProducerFactory:
    """Makes kafka-python producers for ``kafka``, bounded so a dead broker fails fast."""

    def make() -> _Producer:
        from kafka import KafkaProducer

        timeout_ms = int(SEND_TIMEOUT_SECONDS * 1000)
        producer: _Producer = KafkaProducer(
            **as_connection(kafka).client_options(),
            acks="all",
            retries=3,
            max_block_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=timeout_ms,
            client_id="miroir-live-page-actions",
        )
        return producer

    return make


class ActionPublisher:
    """Publishes actions to ``topic``; the producer is made on first use and kept."""

    def __init__(self, topic: str, factory: ProducerFactory) -> None:
        self.topic = topic
        self._factory = factory
        self._producer: _Producer | None = None
        self._lock = threading.Lock()  # executor threads may race to make the producer

    async def publish(self, action: EpisodeAction) -> None:
        """Send ``action`` and wait until the broker has it; ActionsUnavailable if it fails."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._send, action)

    def _send(self, action: EpisodeAction) -> None:
        value = encode_action(action)
        try:
            with self._lock:
                if self._producer is None:
                    self._producer = self._factory()
                producer = self._producer
            future = producer.send(self.topic, key=action.team_id.encode("utf-8"), value=value)
            future.get(timeout=SEND_TIMEOUT_SECONDS)
        except (KafkaError, OSError) as e:
            raise ActionsUnavailable(
                f"the action could not be sent to {self.topic!r} ({e!r}); try again shortly"
            ) from e

    async def close(self) -> None:
        """Flush and close the producer, if one was made."""
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, producer.close, SEND_TIMEOUT_SECONDS)
