"""Hostile input at volume, end to end: nothing lost, nothing twice, no crash.

    python benchmarks/hostile_input.py                          # 100,000 records, 30% hostile
    python benchmarks/hostile_input.py --records 20000 --hostile-share 0.5 --seed 3
    MIROIR_TEST_KAFKA_BOOTSTRAP=127.0.0.1:9092 python benchmarks/hostile_input.py  # your broker

Starts its own Apache Kafka broker (KRaft, in a temporary directory; or uses
``MIROIR_TEST_KAFKA_BOOTSTRAP``), produces valid simulator records interleaved with hostile
messages (random bytes, truncated Avro, trailing garbage, Confluent framing with garbage,
scores out of range, no score, empty identifiers, identifiers holding a newline, ESC or a
bidi override or 60 KB long, records over 64 KiB, comments over the
limit, unknown channel symbols, empty values and tombstones, far-future timestamps, the other
signal's schema) to fresh topics, runs ``miroir worker`` as a subprocess until the dead-letter
topic holds every hostile message and the idle timer has closed every window, stops it and
reads ClickHouse (chDB). Prints what was sent, stored and the rate; exits 1 if a hostile
message has no dead letter (or one too many), a valid record is missing or counted twice, or
the worker died.

The traffic is generated with a seeded ``random.Random`` (``make_traffic``), so a run is
reproducible; ``tests/integration/test_hostile_input.py`` runs the same traffic at ~5,000
records. Each hostile message is sent with the key ``hostile-<n>``, which is how its topic,
partition and offset are found on the broker afterwards.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the harness lives in tests/
    sys.path.insert(0, str(REPO))

import fastavro  # noqa: E402
from kafka import KafkaConsumer, TopicPartition  # noqa: E402

from schemas.codec import (  # noqa: E402
    CUSTOMER_FEEDBACK_SCHEMA,
    DEFAULT_MAX_RECORD_BYTES,
    EMPLOYEE_PULSE_SCHEMA,
    encode,
    record_to_json,
)
from schemas.records import (  # noqa: E402
    CHANNELS,
    CUSTOMER_SCORE_RANGES,
    EMPLOYEE_SCORE_RANGES,
    MAX_COMMENT_CHARS,
    CustomerFeedback,
    Signal,
)
from streams.runtime.publish import SignalPublisher  # noqa: E402
from streams.runtime.topics import ensure_topics  # noqa: E402
from streams.tools.simulator import Simulator, TeamPlan  # noqa: E402
from tests.integration.harness import (  # noqa: E402
    PipelineEnv,
    WorkerProcess,
    all_windows_closed,
    read_topic,
)

WINDOW_MS = 10_000  # PipelineEnv's MIROIR_WINDOW_SECONDS
MAX_FUTURE_MS = 86_400_000  # PipelineEnv's MIROIR_MAX_FUTURE_SECONDS
# Dead-letter kinds of records that decoded: their customer payloads are stored, re-keyed.
DECODED = frozenset({"future", "too_old", "duplicate"})
RECORDS_PER_TEAM_WINDOW = 52  # TeamPlan defaults: 12 pulses + 40 feedback records
UNREGISTERED_ID = 1  # a Confluent id the worker does not know: read with Miroir's schema
CUSTOMER, EMPLOYEE = "customer", "employee"
# Settings for the worker under test: a 3 s idle timeout instead of 1 s, so a side that is
# briefly not fetched while the other streams on does not close windows early.
WORKER_SETTINGS = {"MIROIR_IDLE_CLOSE_SECONDS": "3"}


def wire_schema(schema: dict[str, Any], **field_types: Any) -> dict[str, Any]:
    """``schema`` as the codec reads it (occurred_at a plain long), some field types replaced."""
    types: dict[str, Any] = {"occurred_at": "long", **field_types}
    fields = [{**f, "type": types.get(f["name"], f["type"])} for f in schema["fields"]]
    parsed = fastavro.parse_schema({**schema, "fields": fields})
    assert isinstance(parsed, dict)
    return parsed


WIRE = {
    CUSTOMER: wire_schema(CUSTOMER_FEEDBACK_SCHEMA),
    EMPLOYEE: wire_schema(EMPLOYEE_PULSE_SCHEMA),
}
_CHANNEL = next(f["type"] for f in CUSTOMER_FEEDBACK_SCHEMA["fields"] if f["name"] == "channel")
EXTRA_CHANNELS_WIRE = wire_schema(
    CUSTOMER_FEEDBACK_SCHEMA,
    channel={**_CHANNEL, "symbols": [*CHANNELS, *(f"x{i}" for i in range(50))]},
)


def avro_body(schema: dict[str, Any], values: dict[str, Any]) -> bytes:
    """A schemaless body written by fastavro directly, bypassing the codec's checks."""
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, values)
    return buffer.getvalue()


def framed(schema_id: int, body: bytes) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + body


def reads_whole(data: bytes, schema: dict[str, Any]) -> bool:
    """Whether fastavro reads ``data`` as exactly one record of ``schema``."""
    buffer = io.BytesIO(data)
    try:
        fastavro.schemaless_reader(buffer, schema, None)
    except Exception:
        return False
    return buffer.tell() == len(data)


def never_a_record(side: str, data: bytes) -> bytes:
    """``data``, with bytes appended until neither the plain nor the framed reading takes it as
    one whole record (random bytes almost never are; this makes "hostile" certain)."""
    schema = WIRE[side]
    while reads_whole(data, schema) or (
        data[:1] == b"\x00" and len(data) >= 5 and reads_whole(data[5:], schema)
    ):
        data += b"\x01"
    return data


# --- traffic -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostileMessage:
    label: str
    side: str  # CUSTOMER or EMPLOYEE: the topic it is sent to
    value: bytes | None
    kind: str | None  # the dead-letter kind it must get (None: depends on the bytes)


@dataclass
class Traffic:
    valid: list[Signal]
    hostile: list[HostileMessage]
    order: list[tuple[bool, int]]  # (is_hostile, index), in sending order
    teams: list[str]
    last_window_end: int
    customers: int = field(init=False)
    employees: int = field(init=False)

    def __post_init__(self) -> None:
        self.customers = sum(isinstance(r, CustomerFeedback) for r in self.valid)
        self.employees = len(self.valid) - self.customers


Maker = Callable[[random.Random, Signal], tuple[str, str, bytes | None, str | None]]


def _unchecked(record: Signal, **values: Any) -> bytes:
    side = CUSTOMER if isinstance(record, CustomerFeedback) else EMPLOYEE
    return avro_body(WIRE[side], {**record_to_json(record), **values})


def _side(record: Signal) -> str:
    return CUSTOMER if isinstance(record, CustomerFeedback) else EMPLOYEE


def _random_bytes(rng: random.Random, record: Signal) -> tuple[str, str, bytes | None, str | None]:
    side = rng.choice([CUSTOMER, EMPLOYEE])
    return "random bytes", side, never_a_record(side, rng.randbytes(rng.randint(1, 300))), None


def _framed_garbage(
    rng: random.Random, record: Signal
) -> tuple[str, str, bytes | None, str | None]:
    side = rng.choice([CUSTOMER, EMPLOYEE])
    data = framed(rng.randrange(2**32), rng.randbytes(rng.randint(0, 200)))
    return "Confluent framing with garbage", side, never_a_record(side, data), None


def _truncated(rng: random.Random, record: Signal) -> tuple[str, str, bytes | None, str | None]:
    data = encode(record)
    return "truncated Avro", _side(record), data[: rng.randint(1, len(data) - 1)], "undecodable"


def _trailing(rng: random.Random, record: Signal) -> tuple[str, str, bytes | None, str | None]:
    data = encode(record) + rng.randbytes(rng.randint(1, 32))
    return "trailing garbage", _side(record), data, "undecodable"


def _out_of_range(rng: random.Random, record: Signal) -> tuple[str, str, bytes | None, str | None]:
    ranges = (
        CUSTOMER_SCORE_RANGES if isinstance(record, CustomerFeedback) else EMPLOYEE_SCORE_RANGES
    )
    name = rng.choice(sorted(ranges))
    low, high = ranges[name]
    value = rng.choice([low - 1, high + 1, -(2**31), 2**31 - 1, rng.randint(high + 1, 1000)])
    return "score out of range", _side(record), _unchecked(record, **{name: value}), "range"


def _no_score(rng: random.Random, record: Signal) -> tuple[str, str, bytes | None, str | None]:
    ranges = (
        CUSTOMER_SCORE_RANGES if isinstance(record, CustomerFeedback) else EMPLOYEE_SCORE_RANGES
    )
    return "no score", _side(record), _unchecked(record, **dict.fromkeys(ranges)), "no_score"


def _empty_id(rng: random.Random, record: Signal) -> tuple[str, str, bytes | None, str | None]:
    if rng.random() < 0.5:
        return "empty team_id", _side(record), encode(replace(record, team_id=" ")), "invalid"
    # Framed, so that the body's leading 0x00 (the empty string) is not read as the magic byte.
    data = encode(replace(record, event_id=""), schema_id=UNREGISTERED_ID)
    return "empty event_id", _side(record), data, "invalid"


def _hostile_id(rng: random.Random, record: Signal) -> tuple[str, str, bytes | None, str | None]:
    # Issue 15's findings: a newline forging log lines, ESC driving terminals, a bidi override,
    # a 60 KB team id (under the 64 KiB record limit, so the identifier rule refuses it).
    if rng.random() < 0.05:
        huge = encode(replace(record, team_id="t" * 60_000))
        return "60 KB team_id", _side(record), huge, "oversize"
    name = rng.choice(["team_id", "event_id", "source"])
    bad = rng.choice(["\n", "\r\n", "\x1b[31m", "\u202e", "\u2028", "\x00"])
    data = encode(replace(record, **{name: getattr(record, name) + bad + "INFO forged"}))
    return "control character in an id", _side(record), data, "invalid"


def _oversized(rng: random.Random, record: Signal) -> tuple[str, str, bytes | None, str | None]:
    source = "s" * (DEFAULT_MAX_RECORD_BYTES + rng.randint(1, 2048))
    return "record over 64 KiB", _side(record), encode(replace(record, source=source)), "oversize"


def _long_comment(rng: random.Random, record: Signal) -> tuple[str, str, bytes | None, str | None]:
    comment = rng.choice("aé€") * rng.randint(MAX_COMMENT_CHARS + 1, 2 * MAX_COMMENT_CHARS)
    return (
        "comment over the limit",
        _side(record),
        encode(replace(record, comment=comment)),
        ("oversize"),
    )


def _unknown_channel(
    rng: random.Random, record: Signal
) -> tuple[str, str, bytes | None, str | None]:
    if not isinstance(record, CustomerFeedback):
        record = CustomerFeedback(
            record.event_id, record.occurred_at, record.team_id, "web", record.source, csat=4
        )
    values = {**record_to_json(record), "channel": f"x{rng.randrange(50)}"}
    return "unknown channel", CUSTOMER, avro_body(EXTRA_CHANNELS_WIRE, values), "undecodable"


def _empty(rng: random.Random, record: Signal) -> tuple[str, str, bytes | None, str | None]:
    return "empty value", rng.choice([CUSTOMER, EMPLOYEE]), b"", "undecodable"


def _tombstone(rng: random.Random, record: Signal) -> tuple[str, str, bytes | None, str | None]:
    return "tombstone", rng.choice([CUSTOMER, EMPLOYEE]), None, "undecodable"


def _future(rng: random.Random, record: Signal) -> tuple[str, str, bytes | None, str | None]:
    at = int(time.time() * 1000) + MAX_FUTURE_MS + rng.randint(3_600_000, 10 * 365 * 86_400_000)
    return "far future", _side(record), encode(replace(record, occurred_at=at)), "future"


def _wrong_topic(rng: random.Random, record: Signal) -> tuple[str, str, bytes | None, str | None]:
    # A simulator pulse on the customer topic: its source "simulator" (9 characters) is read
    # as channel index 9, beyond the 7 symbols. A feedback body on the employee topic is
    # checked with fastavro to be no pulse.
    other = EMPLOYEE if isinstance(record, CustomerFeedback) else CUSTOMER
    data = encode(record)
    if other == EMPLOYEE and reads_whole(data, WIRE[EMPLOYEE]):
        data += b"\x01"
    return "the other signal's schema", other, data, "undecodable"


# (maker, weight): oversize records are rare (64 KiB each), the cheap kinds common.
MAKERS: list[tuple[Maker, int]] = [
    (_random_bytes, 10),
    (_framed_garbage, 8),
    (_truncated, 10),
    (_trailing, 8),
    (_out_of_range, 10),
    (_no_score, 8),
    (_empty_id, 8),
    (_hostile_id, 8),
    (_oversized, 1),
    (_long_comment, 5),
    (_unknown_channel, 8),
    (_empty, 4),
    (_tombstone, 4),
    (_future, 8),
    (_wrong_topic, 8),
]


def make_traffic(
    records: int, hostile_share: float, seed: int, now_ms: int | None = None
) -> Traffic:
    """About ``records`` messages, ``hostile_share`` of them hostile, the rest valid simulator
    records of teams of 12 employees (never suppressed) in whole windows of recent history."""
    rng = random.Random(seed)
    hostile_count = round(records * hostile_share)
    team_windows = max(1, round((records - hostile_count) / RECORDS_PER_TEAM_WINDOW))
    windows = max(1, min(60, round(team_windows**0.5)))
    teams = max(1, round(team_windows / windows))
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    start = now_ms - now_ms % WINDOW_MS - (windows + 30) * WINDOW_MS
    team_ids = [f"team-{i:03d}" for i in range(teams)]
    simulator = Simulator([TeamPlan(t) for t in team_ids], WINDOW_MS, start, seed=seed)
    valid = [e for index in range(windows) for e in simulator.window(index)]
    makers, weights = zip(*MAKERS, strict=True)
    hostile = []
    for _ in range(hostile_count):
        maker = rng.choices(makers, weights)[0]
        hostile.append(HostileMessage(*maker(rng, rng.choice(valid))))
    order = [(False, i) for i in range(len(valid))]
    slots = sorted(rng.randrange(len(order) + 1) for _ in hostile)
    for j, slot in reversed(list(enumerate(slots))):
        order.insert(slot, (True, j))
    return Traffic(valid, hostile, order, team_ids, simulator.start_ms + windows * WINDOW_MS)


# --- the run -----------------------------------------------------------------------------------


def prepare_topics(env: PipelineEnv) -> None:
    names = [env.customer_topic, env.employee_topic, env.alerts_topic, env.dead_letter_topic]
    ensure_topics(env.bootstrap, dict.fromkeys(names, 4))


def publish(env: PipelineEnv, traffic: Traffic) -> None:
    topic = {CUSTOMER: env.customer_topic, EMPLOYEE: env.employee_topic}
    with SignalPublisher(env.bootstrap, env.customer_topic, env.employee_topic) as publisher:
        for position, (is_hostile, index) in enumerate(traffic.order):
            if is_hostile:
                message = traffic.hostile[index]
                # None is a tombstone: kafka-python sends it as a null value.
                publisher.send_raw(topic[message.side], f"hostile-{index}".encode(), message.value)  # type: ignore[arg-type]
            else:
                record = traffic.valid[index]
                value = encode(record, UNREGISTERED_ID if position % 2 else None)
                publisher.send_raw(publisher.topic_for(record), record.team_id.encode(), value)


def hostile_coordinates(env: PipelineEnv) -> dict[tuple[str, int, int], int]:
    """(topic, partition, offset) → hostile index, read back from the source topics."""
    found = {}
    for topic in (env.customer_topic, env.employee_topic):
        for record in read_topic(env.bootstrap, topic, timeout=120):
            if record.key and record.key.startswith(b"hostile-"):
                found[(topic, record.partition, record.offset)] = int(record.key[8:])
    return found


def topic_size(bootstrap: str, topic: str) -> int:
    """Records on ``topic`` (sum of its partitions' end offsets): a cheap progress probe."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def dead_letters_on_topic(env: PipelineEnv) -> set[tuple[str, int, int]]:
    seen = set()
    for record in read_topic(env.bootstrap, env.dead_letter_topic, timeout=120):
        headers = {k: v for k, v in record.headers or []}
        seen.add(
            (
                headers["miroir.source.topic"].decode(),
                int(headers["miroir.source.partition"]),
                int(headers["miroir.source.offset"]),
            )
        )
    return seen


def _wait(condition: Callable[[], bool], timeout: float, what: str, worker: WorkerProcess) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if not worker.alive():
            raise RuntimeError(f"the worker died while waiting for {what}:\n{worker.log()[-4000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(1.0)


@dataclass
class Outcome:
    sent_valid: int
    sent_hostile: int
    expected: dict[tuple[str, int, int], int]
    letters: list[dict[str, Any]]
    letters_raw: int
    customer_rows: int
    customer_rows_raw: int
    window_sums: dict[str, int]
    late: int
    elapsed: float
    letters_done: float
    worker_alive: bool
    worker_exit: int
    problems: list[str] = field(default_factory=list)


def run_pipeline(env: PipelineEnv, traffic: Traffic, timeout: float = 240) -> Outcome:
    """Publish ``traffic``, run a worker until it is all handled, stop it and read the store."""
    prepare_topics(env)
    publish(env, traffic)
    expected = hostile_coordinates(env)
    worker = WorkerProcess(env).start()
    started = time.monotonic()
    try:
        _wait(
            lambda: (
                topic_size(env.bootstrap, env.dead_letter_topic) >= len(expected)
                and dead_letters_on_topic(env) >= set(expected)
            ),
            timeout,
            "every hostile message on the dead-letter topic",
            worker,
        )
        letters_done = time.monotonic() - started
        _wait(
            lambda: all_windows_closed(env, dict.fromkeys(traffic.teams, traffic.last_window_end)),
            timeout,
            "every window closed",
            worker,
        )
        elapsed = time.monotonic() - started
        alive = worker.alive()
    finally:
        exit_code = worker.stop()
    letters = env.query(
        "SELECT topic, partition, offset, reason, error_kind, payload IS NULL AS no_payload, "
        "length(payload) AS size FROM dead_letters FINAL"
    )
    raw = env.query(
        "SELECT (SELECT count() FROM dead_letters) AS letters, "
        "(SELECT count() FROM customer_feedback) AS rows_raw, "
        "(SELECT count() FROM customer_feedback FINAL) AS rows, "
        "(SELECT count() FROM late_events) AS late"
    )[0]
    sums = env.query(
        "SELECT sum(customer_n) AS customers, sum(employee_n) AS employees, "
        "countIf(employee_n IS NULL) AS suppressed, count() AS windows "
        "FROM team_window_metrics FINAL"
    )[0]
    outcome = Outcome(
        sent_valid=len(traffic.valid),
        sent_hostile=len(traffic.hostile),
        expected=expected,
        letters=letters,
        letters_raw=int(raw["letters"]),
        customer_rows=int(raw["rows"]),
        customer_rows_raw=int(raw["rows_raw"]),
        window_sums={k: int(v or 0) for k, v in sums.items()},
        late=int(raw["late"]),
        elapsed=elapsed,
        letters_done=letters_done,
        worker_alive=alive,
        worker_exit=exit_code,
    )
    outcome.problems = check(outcome, traffic)
    return outcome


def check(outcome: Outcome, traffic: Traffic) -> list[str]:
    """Everything that is missing, doubled or wrong; empty when the run is clean."""
    problems = []
    if len(outcome.expected) != len(traffic.hostile):
        problems.append(f"found {len(outcome.expected)} of {len(traffic.hostile)} hostile on Kafka")
    where = Counter((r["topic"], int(r["partition"]), int(r["offset"])) for r in outcome.letters)
    missing = set(outcome.expected) - set(where)
    extra = set(where) - set(outcome.expected)
    if missing:
        problems.append(f"{len(missing)} hostile messages have no dead letter, e.g. {min(missing)}")
    if extra:
        problems.append(f"{len(extra)} dead letters for messages that were valid: {min(extra)}")
    if len(outcome.letters) != len(where) or outcome.letters_raw != len(outcome.expected):
        problems.append(
            f"dead letters twice: {outcome.letters_raw} rows stored, {len(outcome.expected)} sent"
        )
    for row in outcome.letters:
        key = (row["topic"], int(row["partition"]), int(row["offset"]))
        message = traffic.hostile[outcome.expected[key]] if key in outcome.expected else None
        if not row["reason"].strip():
            problems.append(f"empty reason for {key}")
        if message and message.kind and row["error_kind"] != message.kind:
            problems.append(
                f"{message.label} at {key}: kind {row['error_kind']}, expected {message.kind}"
                f" ({row['reason'][:200]})"
            )
        # Only a customer record that decoded may be stored (as re-keyed JSON); an employee
        # pulse never, undecodable bytes never (a reference in them cannot be re-keyed).
        storable = message is not None and message.side == CUSTOMER and message.kind in DECODED
        if message and storable == bool(row["no_payload"]):
            problems.append(
                f"{message.label} at {key}: payload "
                + ("missing" if storable else "stored (personal or not re-keyable)")
            )
    if outcome.customer_rows != traffic.customers:
        problems.append(f"customer_feedback holds {outcome.customer_rows} of {traffic.customers}")
    sums = outcome.window_sums
    if sums["customers"] != traffic.customers or sums["employees"] != traffic.employees:
        problems.append(
            f"team_window_metrics count {sums['customers']} customers of {traffic.customers} "
            f"and {sums['employees']} employees of {traffic.employees}"
        )
    if sums["suppressed"] or outcome.late:
        problems.append(f"{sums['suppressed']} suppressed windows, {outcome.late} late events")
    if not outcome.worker_alive or outcome.worker_exit != 0:
        problems.append(
            f"the worker crashed (alive {outcome.worker_alive}, exit {outcome.worker_exit})"
        )
    return problems


def report(outcome: Outcome, traffic: Traffic) -> str:
    labels = Counter(m.label for m in traffic.hostile)
    kinds = Counter(r["error_kind"] for r in outcome.letters)
    total = outcome.sent_valid + outcome.sent_hostile
    processed = outcome.window_sums["customers"] + outcome.window_sums["employees"]
    lines = [
        f"sent            {total:>9,} records: {outcome.sent_valid:,} valid "
        f"({traffic.customers:,} customer, {traffic.employees:,} employee), "
        f"{outcome.sent_hostile:,} hostile",
        "hostile kinds   " + ", ".join(f"{label} {n}" for label, n in labels.most_common()),
        f"dead letters    {len(outcome.letters):>9,} stored (FINAL; {outcome.letters_raw:,} rows), "
        + ", ".join(f"{kind} {n}" for kind, n in kinds.most_common()),
        f"valid processed {processed:>9,} in {outcome.window_sums['windows']:,} team-windows; "
        f"customer_feedback {outcome.customer_rows:,} rows "
        f"(FINAL; {outcome.customer_rows_raw:,} raw)",
        f"elapsed         {outcome.elapsed:>9.1f} s from worker start (Faust start-up "
        f"and the {WORKER_SETTINGS['MIROIR_IDLE_CLOSE_SECONDS']} s idle close included) to every "
        f"window closed: {total / outcome.elapsed:,.0f} records/s; every dead letter on the "
        f"topic after {outcome.letters_done:.1f} s",
        f"worker          {'alive' if outcome.worker_alive else 'DEAD'}, "
        f"exit {outcome.worker_exit}",
    ]
    lines += [f"PROBLEM {p}" for p in outcome.problems] or ["OK: nothing lost, nothing twice"]
    return "\n".join(lines)


def _broker(stack: ExitStack) -> str:
    external = os.environ.get("MIROIR_TEST_KAFKA_BOOTSTRAP")
    if external:
        return external
    from streams.tools.kafka_broker import ApacheKafkaBroker

    broker = stack.enter_context(ApacheKafkaBroker())
    return broker.bootstrap


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--hostile-share", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=240, help="seconds per wait")
    args = parser.parse_args(argv)
    traffic = make_traffic(args.records, args.hostile_share, args.seed)
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="miroir-hostile-") as tmp:
        bootstrap = _broker(stack)
        prefix = f"hostile-bench-{os.getpid()}-{int(time.time())}"
        env = PipelineEnv(bootstrap, Path(tmp), prefix, extra=dict(WORKER_SETTINGS))
        started = time.monotonic()
        outcome = run_pipeline(env, traffic, timeout=args.timeout)
        print(report(outcome, traffic))
        print(f"total           {time.monotonic() - started:>9.1f} s (produce, run, read back)")
    return 1 if outcome.problems else 0


if __name__ == "__main__":
    sys.exit(main())
