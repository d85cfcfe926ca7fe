"""Writer schemas from a Schema Registry, on the real broker, the real worker and ClickHouse.

The registry is a small Confluent-compatible HTTP server started by the test (``GET
/schemas/ids/{id}`` behind basic auth). Producers frame customer feedback with registry ids of
an older schema, a newer one and one with Miroir's fields in another order; the worker has no
local writer schemas. Two outages: the registry is not listening when the worker starts, and
later answers 503 while records with an id not seen yet arrive. Each time the batch waits
(nothing decoded, dead-lettered or committed); when the registry answers again every record
arrives, read with its writer's schema, and an id the registry does not have is a dead letter
saying so.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from schemas.codec import CUSTOMER_FEEDBACK_SCHEMA, SignalCodec, encode
from schemas.records import CUSTOMER_FEEDBACK_TOPIC, CustomerFeedback
from streams.errors import ConfigError, DecodeError
from streams.runtime.publish import SignalPublisher
from streams.runtime.schema_registry import (
    MAX_CONCURRENT_REQUESTS,
    MAX_NEW_IDS_PER_BATCH,
    NOT_FOUND_RETRY_SECONDS,
    RegistryRefused,
    SchemaRegistry,
)
from streams.settings import load_settings
from streams.tools.certificates import make_test_pki
from streams.tools.kafka_broker import free_port
from tests.integration.harness import (
    PipelineEnv,
    WorkerProcess,
    committed_offsets,
    create_topics,
    read_topic,
    wait_until,
)
from tests.integration.test_metrics import scrape
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
REORDERED_ID = 103
ROTATED_ID = 104
USER, PASSWORD = "miroir", "registry-Secret-31"


class Registry:
    """A registry-compatible server holding ``schemas``; started and stopped on one port."""

    def __init__(
        self, port: int, schemas: dict[int, dict[str, Any]], tls: ssl.SSLContext | None = None
    ) -> None:
        self.port = port
        self.schemas = schemas
        self.tls = tls
        self.asked: list[int] = []
        self.unavailable = False  # True: every request is answered 503, as by a failing node
        self.refusing = False  # True: every login is refused (401), as after a rotation
        self.answer_delay = 0.0  # seconds each schema request takes
        self.in_flight = self.most_in_flight = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> None:
        registry = self
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                if registry.unavailable:
                    if self.path.startswith("/schemas/ids/"):
                        registry.asked.append(int(self.path.rsplit("/", 1)[1]))
                    self._answer(503, {"error_code": 50003, "message": "Service Unavailable"})
                elif registry.refusing or self.headers.get("Authorization") != expected:
                    self._answer(401, {"error_code": 401, "message": "Unauthorized"})
                elif self.path == "/schemas/types":
                    self._answer(200, ["AVRO", "JSON", "PROTOBUF"])
                elif self.path.startswith("/schemas/ids/"):
                    schema_id = int(self.path.rsplit("/", 1)[1])
                    with registry._lock:
                        registry.asked.append(schema_id)
                        registry.in_flight += 1
                        registry.most_in_flight = max(registry.most_in_flight, registry.in_flight)
                    time.sleep(registry.answer_delay)
                    with registry._lock:
                        registry.in_flight -= 1
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
        if self.tls is not None:  # a failed handshake is an OSError: the server shrugs it off
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _client_of(registry: Registry, **settings: Any) -> SchemaRegistry:
    """The worker's registry client for ``registry``, built from settings as the worker does."""
    built = SchemaRegistry.from_settings(
        load_settings(
            schema_registry_url=registry.url,
            schema_registry_username=USER,
            schema_registry_password=PASSWORD,
            **settings,
        )
    )
    assert built is not None
    return built


def reordered_schema() -> dict[str, Any]:
    """Miroir's customer feedback with its fields in reverse order (resolved by name)."""
    schema = copy.deepcopy(CUSTOMER_FEEDBACK_SCHEMA)
    schema["fields"].reverse()
    return schema


def test_registry_schemas_decode_and_a_registry_outage_loses_nothing(
    kafka_broker, tmp_path: Path, unique_name
) -> None:
    old, new, reordered = older_schema(), newer_schema(), reordered_schema()
    registry = Registry(
        free_port(),
        {OLDER_ID: old, NEWER_ID: new, REORDERED_ID: reordered, ROTATED_ID: new},
    )
    web_port = free_port()
    env = PipelineEnv(
        kafka_broker.bootstrap,
        tmp_path,
        unique_name("registry"),
        extra={
            "MIROIR_SCHEMA_REGISTRY_URL": registry.url,
            "MIROIR_SCHEMA_REGISTRY_USERNAME": USER,
            "MIROIR_SCHEMA_REGISTRY_PASSWORD": PASSWORD,
            "MIROIR_SCHEMA_REGISTRY_TIMEOUT_SECONDS": "2",
            "MIROIR_WEB_PORT": str(web_port),
        },
    )
    create_topics(env)
    now = int(time.time() * 1000)
    at = now - now % 10_000 - 50_000
    first = [
        framed(OLDER_ID, old, _values(old, "old-1", at, channel="chat", csat=4, trust=5)),
        framed(NEWER_ID, new, _values(new, "new-1", at + 1, channel="kiosk", nps=9, courtesy=5)),
        framed(
            NEWER_ID, new, _values(new, "new-2", at + 2, channel="web", tags=["billing"], ces=6)
        ),
        framed(UNKNOWN_ID, new, _values(new, "lost-1", at + 3, channel="web", nps=3)),
        encode(CustomerFeedback("plain-1", at + 4, TEAM, "email", "survey", csat=5)),
    ]
    # Sent while the registry answers 503, a little ahead of the wall clock so that no window
    # closes under them meanwhile. The first carries an id not seen yet: it, and everything
    # after it on the partition (a cached id, a plain body), waits.
    later = int(time.time() * 1000) + 20_000
    second = [
        framed(
            REORDERED_ID,
            reordered,
            _values(reordered, f"reordered-{i}", later + i, channel="phone", csat=2, trust=i),
        )
        for i in (1, 2, 3)
    ]
    second += [
        framed(NEWER_ID, new, _values(new, "new-3", later + 4, channel="store", nps=10)),
        encode(CustomerFeedback("plain-2", later + 5, TEAM, "email", "survey", csat=1)),
    ]

    rotated = [framed(ROTATED_ID, new, _values(new, "rotated-1", later + 6, channel="web", nps=8))]

    def publish(values: list[bytes]) -> None:
        with SignalPublisher(env.bootstrap, env.customer_topic, env.employee_topic) as publisher:
            for value in values:
                publisher.send_raw(env.customer_topic, TEAM.encode(), value)

    def dead_letters() -> list[Any]:
        return read_topic(env.bootstrap, env.dead_letter_topic)

    publish(first)
    worker = WorkerProcess(env).start()  # the registry is not listening
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
            lambda: committed_offsets(env) == len(first), 90, "the first records handled", worker
        )
        assert len(dead_letters()) == 1

        registry.unavailable = True
        publish(second)
        wait_until(
            lambda: registry.asked.count(REORDERED_ID) >= 3,
            60,
            "the worker asking the failing registry again",
            worker,
        )
        assert f"the schema registry at {registry.url} answered 503" in worker.log()
        assert worker.alive()
        assert len(dead_letters()) == 1  # still only the unknown id
        assert committed_offsets(env) == len(first)  # nothing committed past the held records
        samples = scrape(web_port)
        assert samples["miroir_sink_paused"] == 1
        assert samples["miroir_schema_registry_failures_total"] >= 3

        registry.unavailable = False
        wait_until(
            lambda: committed_offsets(env) == len(first) + len(second),
            90,
            "the held records handled",
            worker,
        )
        samples = scrape(web_port)

        # The registry's credentials rotated under the running worker: it refuses our login
        # again and again. The worker stops (exit 78) naming the setting, nothing acknowledged;
        # restarted once the registry takes it again, it reads the held record.
        registry.refusing = True
        publish(rotated)
        worker.process.wait(timeout=90)  # type: ignore[union-attr]
        assert worker.process.returncode == 78, worker.log()[-4000:]  # type: ignore[union-attr]
        assert "MIROIR_SCHEMA_REGISTRY_PASSWORD" in worker.log().rsplit("refused", 1)[-1]
        assert committed_offsets(env) == len(first) + len(second)
        registry.refusing = False
        worker.start()
        wait_until(
            lambda: committed_offsets(env) == len(first) + len(second) + len(rotated),
            90,
            "the record held by the refusals handled after a restart",
            worker,
        )
    finally:
        try:
            assert worker.stop() == 0, worker.log()[-4000:]
        finally:
            registry.stop()
    log = worker.log()
    assert PASSWORD not in log
    assert sorted(set(registry.asked)) == [OLDER_ID, NEWER_ID, REORDERED_ID, ROTATED_ID, UNKNOWN_ID]
    assert registry.asked.count(NEWER_ID) == 1  # cached after the first answer
    assert samples['miroir_schema_registry_ids_total{outcome="schema"}'] == 3
    assert samples['miroir_schema_registry_ids_total{outcome="unusable"}'] == 1
    assert samples["miroir_sink_paused"] == 0

    letters = dead_letters()
    assert len(letters) == 1, [dict(r.headers).get("miroir.error.reason") for r in letters]
    headers = {k: v.decode() for k, v in letters[0].headers}
    reason = f"writer schema id {UNKNOWN_ID}: the schema registry has no schema with this id"
    assert headers["miroir.error.reason"] == reason
    assert headers["miroir.error.kind"] == "schema"
    assert env.query("SELECT reason, error_kind FROM dead_letters FINAL") == [
        {"reason": reason, "error_kind": "schema"}
    ]
    rows = env.query("SELECT event_id, channel, nps, csat, trust, courtesy FROM customer_feedback")
    by_id = {row.pop("event_id"): row for row in rows}
    assert len(rows) == len(by_id) == len(first) - 1 + len(second) + 1  # each once, none lost
    assert sorted(by_id) == sorted(
        ["old-1", "new-1", "new-2", "plain-1", "new-3", "plain-2", "rotated-1"]
        + [f"reordered-{i}" for i in (1, 2, 3)]
    )
    # The newer writer's extra channel resolves to "other", its fields are read.
    assert by_id["new-1"] == {
        "channel": "other",
        "nps": 9,
        "csat": None,
        "trust": None,
        "courtesy": 5,
    }
    # Fields written in another order are read by name.
    for i in (1, 2, 3):
        assert by_id[f"reordered-{i}"] == {
            "channel": "phone",
            "nps": None,
            "csat": 2,
            "trust": i,
            "courtesy": None,
        }


@pytest.mark.parametrize(
    ("fault", "named"),
    [
        ("wrong password", "MIROIR_SCHEMA_REGISTRY_PASSWORD"),
        ("untrusted CA", "MIROIR_SCHEMA_REGISTRY_CA_FILE"),
    ],
)
def test_a_refused_registry_login_or_certificate_stops_start_up(
    kafka_broker, tmp_path: Path, unique_name, fault: str, named: str
) -> None:
    extra = {"MIROIR_SCHEMA_REGISTRY_USERNAME": USER, "MIROIR_CREATE_TOPICS": "false"}
    tls = None
    if fault == "wrong password":
        extra["MIROIR_SCHEMA_REGISTRY_PASSWORD"] = "wrong-" + PASSWORD
    else:
        pki = make_test_pki(tmp_path / "pki")
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(pki.broker_cert, pki.broker_key)
        extra["MIROIR_SCHEMA_REGISTRY_PASSWORD"] = PASSWORD
        extra["MIROIR_SCHEMA_REGISTRY_CA_FILE"] = str(pki.rogue_ca_cert)
    registry = Registry(free_port(), {}, tls=tls)
    registry.start()
    extra["MIROIR_SCHEMA_REGISTRY_URL"] = registry.url
    env = PipelineEnv(kafka_broker.bootstrap, tmp_path, unique_name("registry-refused"), extra)
    try:
        result = env.run_cli("worker", timeout=120)
    finally:
        registry.stop()
    assert result.returncode != 0
    assert named in result.stderr and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert PASSWORD not in result.stderr + result.stdout


def test_an_https_registry_is_trusted_through_the_configured_ca_only(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path / "pki")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(pki.broker_cert, pki.broker_key)
    registry = Registry(free_port(), {NEWER_ID: newer_schema()}, tls=tls)
    registry.start()
    value = framed(
        NEWER_ID, newer_schema(), _values(newer_schema(), "tls-1", 1, channel="web", nps=7)
    )

    def client(ca_file: Path) -> SchemaRegistry:
        return _client_of(registry, schema_registry_ca_file=ca_file)

    try:
        trusted, codec = client(pki.ca_cert), SignalCodec()
        asyncio.run(trusted.check())
        learnt = asyncio.run(trusted.teach(codec, [value]))
        assert list(learnt) == [NEWER_ID] and learnt[NEWER_ID].schema == newer_schema()
        record = codec.decode(CUSTOMER_FEEDBACK_TOPIC, value)
        assert isinstance(record, CustomerFeedback) and record.nps == 7

        rogue = client(pki.rogue_ca_cert)
        with pytest.raises(ConfigError, match="MIROIR_SCHEMA_REGISTRY_CA_FILE") as error:
            asyncio.run(rogue.check())
        assert "not trusted" in str(error.value)
        with pytest.raises(RegistryRefused, match="MIROIR_SCHEMA_REGISTRY_CA_FILE"):
            asyncio.run(rogue.teach(SignalCodec(), [value]))
        assert registry.asked == [NEWER_ID]  # the rogue client never got a request through
    finally:
        registry.stop()


def test_a_flood_of_random_schema_ids_costs_a_bounded_number_of_requests() -> None:
    """A producer framing every record with a random id: one batch asks for at most
    MAX_NEW_IDS_PER_BATCH of them (the lowest: real registries number from 1 up), at most
    MAX_CONCURRENT_REQUESTS at a time, and the others' records are dead letters saying why,
    asked for again when seen again. A real id among them is still learnt."""
    registry = Registry(free_port(), {NEWER_ID: newer_schema()})
    registry.answer_delay = 0.05
    registry.start()
    client = _client_of(registry)
    codec = SignalCodec()
    codec.strict_ids = True  # as the worker sets it when a registry is configured
    record = CustomerFeedback("flood", 1, TEAM, "web", "survey", nps=5)
    flood = [200_000 + 7 * i for i in range(500)]  # far above any real registry's ids
    values = [encode(record, schema_id=schema_id) for schema_id in [NEWER_ID, *flood]]
    try:
        started = time.monotonic()
        learnt = asyncio.run(client.teach(codec, values))
        took = time.monotonic() - started
    finally:
        registry.stop()
    assert len(registry.asked) == MAX_NEW_IDS_PER_BATCH
    assert sorted(registry.asked) == [NEWER_ID, *flood[: MAX_NEW_IDS_PER_BATCH - 1]]
    assert 1 < registry.most_in_flight <= MAX_CONCURRENT_REQUESTS
    # 64 requests of 50 ms, 4 at a time: about 0.8 s, not the 3.2 s of one after another.
    assert took < 0.05 * MAX_NEW_IDS_PER_BATCH / 2, took
    assert learnt[NEWER_ID].schema is not None
    assert codec.decode(CUSTOMER_FEEDBACK_TOPIC, values[0]).event_id == "flood"
    with pytest.raises(DecodeError, match="no schema with this id") as unusable:
        codec.decode(CUSTOMER_FEEDBACK_TOPIC, values[1])
    assert unusable.value.kind == "schema"
    with pytest.raises(DecodeError, match="not asked for: over 64 schema ids") as deferred:
        codec.decode(CUSTOMER_FEEDBACK_TOPIC, values[-1])
    assert deferred.value.kind == "schema"
    # The ids left unasked are asked for when seen again, the next 64 of them.
    assert len(codec.unknown_schema_ids(values)) == len(flood) - (MAX_NEW_IDS_PER_BATCH - 1)


def test_backfill_reads_framed_history_with_the_registrys_schemas(
    kafka_broker, tmp_path: Path, unique_name
) -> None:
    """``miroir backfill`` asks the registry as the worker does: framed records are read with
    their writer's schema, an id the registry lacks is refused with its reason; a registry
    that refuses the login stops it at once, naming the setting."""
    old, new = older_schema(), newer_schema()
    registry = Registry(free_port(), {OLDER_ID: old, NEWER_ID: new})
    registry.start()
    env = PipelineEnv(
        kafka_broker.bootstrap,
        tmp_path,
        unique_name("registry-backfill"),
        extra={
            "MIROIR_SCHEMA_REGISTRY_URL": registry.url,
            "MIROIR_SCHEMA_REGISTRY_USERNAME": USER,
            "MIROIR_SCHEMA_REGISTRY_PASSWORD": PASSWORD,
        },
    )
    create_topics(env)
    at = int(time.time() * 1000) - 3_600_000
    values = [
        framed(OLDER_ID, old, _values(old, "old-1", at, channel="chat", csat=4)),
        framed(NEWER_ID, new, _values(new, "new-1", at + 1, channel="kiosk", nps=9)),
        framed(UNKNOWN_ID, new, _values(new, "lost-1", at + 2, channel="web", nps=3)),
    ]
    with SignalPublisher(env.bootstrap, env.customer_topic, env.employee_topic) as publisher:
        for value in values:
            publisher.send_raw(env.customer_topic, TEAM.encode(), value)
    since = time.strftime("%Y-%m-%d", time.gmtime(at / 1000 - 86_400))
    try:
        result = env.run_cli("backfill", "--from", since)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "3 events" in result.stderr and "1 invalid" in result.stderr, result.stderr
        assert "no schema with this id" in result.stderr
        assert sorted(set(registry.asked)) == [OLDER_ID, NEWER_ID, UNKNOWN_ID]

        registry.refusing = True
        refused = env.run_cli("backfill", "--from", since)
    finally:
        registry.stop()
    assert refused.returncode != 0
    assert "MIROIR_SCHEMA_REGISTRY_PASSWORD" in refused.stderr, refused.stderr[-3000:]
    assert "Traceback" not in refused.stderr and PASSWORD not in refused.stderr


def test_an_id_the_registry_did_not_have_is_asked_again_after_a_while() -> None:
    """Registries give ids as schemas are registered: a producer may use an id before its
    schema reaches this registry. "Not found" is remembered for NOT_FOUND_RETRY_SECONDS, then
    asked again; a schema, once had, is never asked for again."""
    registry = Registry(free_port(), {})
    registry.start()
    now = [0.0]
    client = _client_of(registry)
    client._clock = lambda: now[0]
    codec = SignalCodec()
    codec.strict_ids = True
    value = encode(CustomerFeedback("late-schema", 1, TEAM, "web", "survey", nps=5), schema_id=77)
    try:
        asyncio.run(client.teach(codec, [value]))
        with pytest.raises(DecodeError, match="no schema with this id"):
            codec.decode(CUSTOMER_FEEDBACK_TOPIC, value)
        registry.schemas[77] = newer_schema()  # registered meanwhile
        now[0] = NOT_FOUND_RETRY_SECONDS - 1
        asyncio.run(client.teach(codec, [value]))
        assert registry.asked == [77]  # still remembered as not found
        now[0] = NOT_FOUND_RETRY_SECONDS
        learnt = asyncio.run(client.teach(codec, [value]))
        assert registry.asked == [77, 77] and learnt[77].schema == newer_schema()
        assert codec.decode(CUSTOMER_FEEDBACK_TOPIC, value).event_id == "late-schema"
        now[0] = 10 * NOT_FOUND_RETRY_SECONDS
        asyncio.run(client.teach(codec, [value]))
        assert registry.asked == [77, 77]  # a schema is kept for good
    finally:
        registry.stop()
