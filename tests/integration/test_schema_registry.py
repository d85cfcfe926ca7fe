"""Writer schemas from a Schema Registry, on the real broker, the real worker and ClickHouse.

The registry is a small Confluent-compatible HTTP server started by the test (``GET
/schemas/ids/{id}`` behind basic auth). Producers frame customer feedback with registry ids of
an older and a newer schema; the worker has no local writer schemas. The registry is down when
the worker starts: the batch waits (nothing decoded, nothing dead-lettered, nothing committed);
when the registry comes up every record arrives, read with its writer's schema, and an id the
registry does not have is a dead letter saying so.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from schemas.codec import encode
from schemas.records import CustomerFeedback
from streams.runtime.publish import SignalPublisher
from streams.tools.kafka_broker import free_port
from tests.integration.harness import (
    PipelineEnv,
    WorkerProcess,
    committed_offsets,
    create_topics,
    read_topic,
    wait_until,
)
from tests.integration.test_schema_evolution import (
    NEWER_ID,
    OLDER_ID,
    TEAM,
    _values,
    framed,
    newer_schema,
    older_schema,
)

pytestmark = pytest.mark.integration

UNKNOWN_ID = 999
USER, PASSWORD = "miroir", "registry-Secret-31"


class Registry:
    """A registry-compatible server holding ``schemas``; started and stopped on one port."""

    def __init__(self, port: int, schemas: dict[int, dict[str, Any]]) -> None:
        self.port = port
        self.schemas = schemas
        self.asked: list[int] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        registry = self
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                if self.headers.get("Authorization") != expected:
                    self._answer(401, {"error_code": 401, "message": "Unauthorized"})
                elif self.path == "/schemas/types":
                    self._answer(200, ["AVRO", "JSON", "PROTOBUF"])
                elif self.path.startswith("/schemas/ids/"):
                    schema_id = int(self.path.rsplit("/", 1)[1])
                    registry.asked.append(schema_id)
                    schema = registry.schemas.get(schema_id)
                    if schema is None:
                        self._answer(404, {"error_code": 40403, "message": "Schema not found"})
                    else:
                        self._answer(200, {"schema": json.dumps(schema)})
                else:
                    self._answer(404, {"error_code": 404, "message": "HTTP 404 Not Found"})

            def _answer(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def test_registry_schemas_decode_and_a_registry_outage_loses_nothing(
    kafka_broker, tmp_path: Path, unique_name
) -> None:
    old, new = older_schema(), newer_schema()
    registry = Registry(free_port(), {OLDER_ID: old, NEWER_ID: new})
    env = PipelineEnv(
        kafka_broker.bootstrap,
        tmp_path,
        unique_name("registry"),
        extra={
            "MIROIR_SCHEMA_REGISTRY_URL": registry.url,
            "MIROIR_SCHEMA_REGISTRY_USERNAME": USER,
            "MIROIR_SCHEMA_REGISTRY_PASSWORD": PASSWORD,
            "MIROIR_SCHEMA_REGISTRY_TIMEOUT_SECONDS": "2",
        },
    )
    create_topics(env)
    now = int(time.time() * 1000)
    at = now - now % 10_000 - 50_000
    records = [
        framed(OLDER_ID, old, _values(old, "old-1", at, channel="chat", csat=4, trust=5)),
        framed(NEWER_ID, new, _values(new, "new-1", at + 1, channel="kiosk", nps=9, courtesy=5)),
        framed(
            NEWER_ID, new, _values(new, "new-2", at + 2, channel="web", tags=["billing"], ces=6)
        ),
        framed(UNKNOWN_ID, new, _values(new, "lost-1", at + 3, channel="web", nps=3)),
        encode(CustomerFeedback("plain-1", at + 4, TEAM, "email", "survey", csat=5)),
    ]
    with SignalPublisher(env.bootstrap, env.customer_topic, env.employee_topic) as publisher:
        for value in records:
            publisher.send_raw(env.customer_topic, TEAM.encode(), value)

    def dead_letters() -> list[Any]:
        return read_topic(env.bootstrap, env.dead_letter_topic)

    worker = WorkerProcess(env).start()  # the registry is down
    try:
        wait_until(
            lambda: "schema registry" in worker.log() and "cannot be reached" in worker.log(),
            60,
            "the worker finding the registry down",
            worker,
        )
        time.sleep(3)  # another retry or two
        assert worker.alive()
        assert dead_letters() == []  # nothing was read without its writer's schema
        assert committed_offsets(env) == 0  # and nothing acknowledged
        registry.start()
        wait_until(
            lambda: committed_offsets(env) >= len(records), 90, "every record handled", worker
        )
    finally:
        try:
            assert worker.stop() == 0, worker.log()[-4000:]
        finally:
            registry.stop()
    log = worker.log()
    assert PASSWORD not in log
    assert sorted(set(registry.asked)) == [OLDER_ID, NEWER_ID, UNKNOWN_ID]
    assert registry.asked.count(NEWER_ID) == 1  # cached after the first answer

    letters = dead_letters()
    assert len(letters) == 1, [dict(r.headers).get("miroir.error.reason") for r in letters]
    reasons = {k: v.decode() for k, v in letters[0].headers}
    assert "no schema with this id" in json.dumps(reasons)
    rows = env.query("SELECT event_id, channel, nps, courtesy FROM customer_feedback FINAL")
    by_id = {row.pop("event_id"): row for row in rows}
    assert sorted(by_id) == ["new-1", "new-2", "old-1", "plain-1"]
    # The newer writer's extra channel resolves to "other", its fields are read.
    assert by_id["new-1"] == {"channel": "other", "nps": 9, "courtesy": 5}


def test_a_refused_registry_login_stops_start_up(kafka_broker, tmp_path: Path, unique_name) -> None:
    registry = Registry(free_port(), {})
    registry.start()
    env = PipelineEnv(
        kafka_broker.bootstrap,
        tmp_path,
        unique_name("registry-login"),
        extra={
            "MIROIR_SCHEMA_REGISTRY_URL": registry.url,
            "MIROIR_SCHEMA_REGISTRY_USERNAME": USER,
            "MIROIR_SCHEMA_REGISTRY_PASSWORD": "wrong-" + PASSWORD,
            "MIROIR_CREATE_TOPICS": "false",
        },
    )
    try:
        result = env.run_cli("worker", timeout=120)
    finally:
        registry.stop()
    assert result.returncode != 0
    assert "MIROIR_SCHEMA_REGISTRY_PASSWORD" in result.stderr
    assert PASSWORD not in result.stderr + result.stdout
