"""Schema evolution both ways on the real broker, the real worker and ClickHouse (chDB).

Producers write customer feedback with an older schema (no ``courtesy``, ``language`` or
``tags``), a newer one (an extra ``sentiment`` field with a default, an extra ``kiosk``
channel) and an incompatible one (``csat`` as a string), each framed in the Confluent wire
format with its registry id; the worker knows those ids from ``MIROIR_WRITER_SCHEMAS_DIR``.
Plain bodies of Miroir's own schema travel alongside. See docs/schema-evolution.md.
"""

from __future__ import annotations

import copy
import io
import json
import time
from pathlib import Path
from typing import Any

import fastavro
import pytest

from schemas.codec import CUSTOMER_FEEDBACK_SCHEMA, encode
from schemas.records import CustomerFeedback
from streams.runtime.publish import SignalPublisher
from streams.runtime.topics import ensure_topics
from tests.integration.harness import PipelineEnv, WorkerProcess, read_topic, wait_until

pytestmark = pytest.mark.integration

OLDER_ID, NEWER_ID, INCOMPATIBLE_ID = 100, 101, 102
TEAM = "team-evolution"  # one key: one partition, so the records are read in sending order


def _fields(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {field["name"]: field for field in schema["fields"]}


def older_schema() -> dict[str, Any]:
    """Miroir's customer feedback before ``tags``, ``language`` and ``courtesy`` existed, with
    one channel fewer (``web``)."""
    schema = copy.deepcopy(CUSTOMER_FEEDBACK_SCHEMA)
    schema["fields"] = [
        f for f in schema["fields"] if f["name"] not in {"tags", "language", "courtesy"}
    ]
    channel = _fields(schema)["channel"]["type"]
    channel["symbols"] = [s for s in channel["symbols"] if s != "web"]
    return schema


def newer_schema() -> dict[str, Any]:
    """A later version: a ``sentiment`` score with a default and a ``kiosk`` channel."""
    schema = copy.deepcopy(CUSTOMER_FEEDBACK_SCHEMA)
    _fields(schema)["channel"]["type"]["symbols"].append("kiosk")
    schema["fields"].append(
        {"name": "sentiment", "type": "double", "default": 0.0, "doc": "Model score, -1..1."}
    )
    return schema


def incompatible_schema() -> dict[str, Any]:
    """``csat`` turned into a free-text string: it cannot resolve to an optional int."""
    schema = copy.deepcopy(CUSTOMER_FEEDBACK_SCHEMA)
    csat = _fields(schema)["csat"]
    csat["type"] = "string"
    del csat["default"]
    return schema


def framed(schema_id: int, schema: dict[str, Any], values: dict[str, Any]) -> bytes:
    """A Confluent wire-format message written with ``schema`` (not Miroir's)."""
    buffer = io.BytesIO()
    buffer.write(b"\x00" + schema_id.to_bytes(4, "big"))
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), values)
    return buffer.getvalue()


def _values(schema: dict[str, Any], event_id: str, at: int, **values: Any) -> dict[str, Any]:
    """Every field of ``schema``: its default, or ``values``."""
    base = {"event_id": event_id, "occurred_at": at, "team_id": TEAM, "source": "legacy-crm"}
    out = {}
    for name, field in _fields(schema).items():
        if name in values:
            out[name] = values[name]
        elif name in base:
            out[name] = base[name]
        else:
            out[name] = field.get("default")
    return out


def test_older_newer_and_plain_writers_are_read_and_an_incompatible_one_is_dead_lettered(
    kafka_broker, tmp_path: Path, unique_name
) -> None:
    writers = tmp_path / "writer-schemas"
    writers.mkdir()
    for schema_id, schema in (
        (OLDER_ID, older_schema()),
        (NEWER_ID, newer_schema()),
        (INCOMPATIBLE_ID, incompatible_schema()),
    ):
        (writers / f"{schema_id}.avsc").write_text(json.dumps(schema), encoding="utf-8")
    env = PipelineEnv(
        kafka_broker.bootstrap,
        tmp_path,
        unique_name("evolution"),
        extra={"MIROIR_WRITER_SCHEMAS_DIR": str(writers)},
    )
    ensure_topics(
        env.bootstrap,
        dict.fromkeys(
            [env.customer_topic, env.employee_topic, env.alerts_topic, env.dead_letter_topic], 4
        ),
    )
    now = int(time.time() * 1000)
    at = now - now % 10_000 - 50_000
    old, new, bad = older_schema(), newer_schema(), incompatible_schema()
    first = [
        framed(OLDER_ID, old, _values(old, "old-1", at, channel="chat", csat=4, trust=5)),
        framed(
            OLDER_ID,
            old,
            _values(old, "old-2", at + 1, channel="store", comment="ok", customer_ref="c-9", nps=7),
        ),
        framed(
            NEWER_ID,
            new,
            _values(new, "new-1", at + 2, channel="kiosk", nps=9, sentiment=0.8, courtesy=5),
        ),
        framed(
            NEWER_ID,
            new,
            _values(new, "new-2", at + 3, channel="web", tags=["billing"], language="fr", ces=6),
        ),
        encode(
            CustomerFeedback(
                "plain-1", at + 4, TEAM, "email", "survey", None, ("app",), "en", "fine", csat=5
            )
        ),
        framed(INCOMPATIBLE_ID, bad, _values(bad, "bad-1", at + 5, channel="chat", csat="4")),
        framed(INCOMPATIBLE_ID, bad, _values(bad, "bad-2", at + 6, channel="web", csat="good")),
    ]
    # After the incompatible writer: the worker must still read on.
    second = [
        framed(NEWER_ID, new, _values(new, "new-3", at + 7, channel="phone", listened=4)),
        framed(INCOMPATIBLE_ID, bad, _values(bad, "bad-3", at + 8, channel="chat", csat="5")),
    ]

    def send(values: list[bytes]) -> None:
        with SignalPublisher(env.bootstrap, env.customer_topic, env.employee_topic) as publisher:
            for value in values:
                publisher.send_raw(env.customer_topic, TEAM.encode(), value)

    def dead_letters() -> int:
        return len(read_topic(env.bootstrap, env.dead_letter_topic))

    send(first)
    worker = WorkerProcess(env).start()
    try:
        wait_until(lambda: dead_letters() >= 2, 60, "the incompatible records", worker)
        send(second)
        # Same partition: once bad-3 is a dead letter, new-3 before it has been handled.
        wait_until(lambda: dead_letters() >= 3, 30, "the records sent afterwards", worker)
        assert worker.alive()
    finally:
        assert worker.stop() == 0, worker.log()[-4000:]

    rows = env.query(
        "SELECT event_id, channel, source, tags, language, comment, "
        "customer_ref IS NULL AS no_ref, "
        "nps, csat, ces, listened, trust, courtesy FROM customer_feedback FINAL ORDER BY event_id"
    )
    by_id = {row.pop("event_id"): row for row in rows}
    assert sorted(by_id) == ["new-1", "new-2", "new-3", "old-1", "old-2", "plain-1"]
    # Older writer: the fields it lacks take our defaults.
    assert by_id["old-1"] == {
        "channel": "chat",
        "source": "legacy-crm",
        "tags": [],
        "language": None,
        "comment": None,
        "no_ref": 1,
        "nps": None,
        "csat": 4,
        "ces": None,
        "listened": None,
        "trust": 5,
        "courtesy": None,
    }
    assert (by_id["old-2"]["channel"], by_id["old-2"]["comment"], by_id["old-2"]["nps"]) == (
        "store",
        "ok",
        7,
    )
    assert by_id["old-2"]["no_ref"] == 0  # present (stored re-keyed)
    # Newer writer: the unknown channel symbol becomes "other", the extra field is ignored.
    assert (by_id["new-1"]["channel"], by_id["new-1"]["nps"], by_id["new-1"]["courtesy"]) == (
        "other",
        9,
        5,
    )
    assert "sentiment" not in by_id["new-1"]
    assert (by_id["new-2"]["channel"], by_id["new-2"]["tags"], by_id["new-2"]["language"]) == (
        "web",
        ["billing"],
        "fr",
    )
    assert (by_id["new-3"]["channel"], by_id["new-3"]["listened"]) == ("phone", 4)
    # Plain body of our own schema: as written.
    assert (by_id["plain-1"]["channel"], by_id["plain-1"]["tags"], by_id["plain-1"]["csat"]) == (
        "email",
        ["app"],
        5,
    )

    letters = env.query(
        "SELECT topic, `offset`, error_kind, reason FROM dead_letters FINAL ORDER BY `offset`"
    )
    assert [(r["topic"], r["error_kind"]) for r in letters] == [(env.customer_topic, "schema")] * 3
    for letter in letters:
        assert f"schema id {INCOMPATIBLE_ID}" in letter["reason"], letter["reason"]
        assert "does not resolve" in letter["reason"], letter["reason"]
