"""Throughput of the Miroir worker beside its peers, on the real Apache Kafka broker the tests use:
one dataset produced once, then each consumer reading all of it, one after another.

    python benchmarks/throughput.py                          # 240 teams × 26 weeks, 8 partitions
    python benchmarks/throughput.py --teams 24 --windows 2   # a smoke run (about 2 minutes)
    python benchmarks/throughput.py --rows ceiling,worker    # some rows only
    python benchmarks/throughput.py --only memory            # the engine's memory, no broker
    python benchmarks/throughput.py --skip-quix --json out.json

The dataset is a generated company (``streams.tools.realistic``, seed 1): by default 240 teams
over 26 weekly windows, about 360,000 Avro records (customer feedback and employee pulses)
encoded with the project's codec, keyed by team and partitioned as ``partition_for`` says, on two
fresh source topics; the organisation goes to a teams topic. The rows, each a fresh process with
a fresh consumer group (or app id) reading from the earliest offset:

    ceiling   a raw aiokafka consumer + fastavro decode (peers/ceiling.py)
    faust     a plain Faust agent over both topics that only counts (peers/faust_count.py)
    naive     Faust, the textbook design: decode, then one changelog-backed Table update per
              event, per team and week (peers/faust_naive.py)
    quix      Quix Streams: per-team 7-day tumbling windows on event time, count + sum, final
              results (peers/quix_windows.py), installed on first use into its own virtualenv
              (~/.cache/miroir/bench-quix-venv: python -m venv, pip install quixstreams
              fastavro; the version pip gave is printed and kept until that folder is removed)
    worker    the real ``miroir worker`` (embedded ClickHouse, /metrics)
    workers2  two ``miroir worker`` processes in one consumer group (each its own chDB store, as
              in tests/integration/test_crash_recovery.py); events/s is their combined rate
    memory    the pure engine holding --memory-teams teams with a window open each, no broker
              (peers/engine_memory.py)

events/s runs from the first record consumed to the last (the peers time themselves; the worker
is read from its Prometheus counter ``miroir_events_consumed_total`` every 0.2 s, from the first
non-zero reading); CPU µs per event is the process's CPU time (all threads) over the same span;
peak RSS is the kernel's high-water mark (VmHWM) of the consumer process. For the worker it also
reports the time from start to the last record, its RSS before any record was counted (idle),
the p50/p99 of ``miroir_window_close_to_store_seconds`` and ``miroir_fetch_to_store_seconds``
estimated from their buckets, and when the group's committed offsets reached the end. Above the
table: how many cores other processes used while each row ran (the machine's busy time minus
the row's processes, the benchmark and its broker), since a shared machine skews the figures.

The broker is a real Apache Kafka 4.1 (KRaft) started for the run (jars cached in
~/.cache/miroir, Java 17) with Kafka's default group.initial.rebalance.delay.ms of 3 s, so two
workers starting together join one generation; with MIROIR_KAFKA_BOOTSTRAP set that broker is
used instead, and the run's topics are deleted at the end. Progress goes to stderr; the table
to stdout; the same figures as JSON to --json (default benchmarks/results/throughput-<time>.json;
that folder ignores its own contents). A row that fails or times out is reported as failed and
the others still run; the exit status is then 1. This is a 2-core machine's benchmark: rows
never run in parallel.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere: the project's packages
    sys.path.insert(0, str(REPO))

PEERS = REPO / "benchmarks" / "peers"
SCHEMAS = REPO / "schemas"
RESULTS = REPO / "benchmarks" / "results"
QUIX_VENV = Path.home() / ".cache" / "miroir" / "bench-quix-venv"
WEEK_MS = 7 * 86_400_000
LATENESS_MS = 3_600_000
SEED = 1

ROWS = ("ceiling", "faust", "naive", "quix", "worker", "workers2", "memory")
LABELS = {
    "ceiling": "ceiling (aiokafka + fastavro)",
    "faust": "plain Faust (count only)",
    "naive": "naive Faust (Table per event)",
    "quix": "Quix Streams (7-day windows)",
    "worker": "Miroir worker",
    "workers2": "two Miroir workers",
}
PEER_SCRIPTS = {
    "ceiling": "ceiling.py",
    "faust": "faust_count.py",
    "naive": "faust_naive.py",
    "quix": "quix_windows.py",
}
# Targets of the speed work (/work/shared/DESIGN.md, "Speed targets"; issue 13).
TARGET_WORKER_VS_QUIX = 1.5
TARGET_TWO_VS_ONE = 1.6
TARGET_CLOSE_P99_S = 1.0
TARGET_WORKER_RSS_MB = 300
TARGET_MEMORY_MB = 50

METRICS_POLL_S = 0.2
START_TIMEOUT_S = 180.0  # from spawn to the first record
STALL_TIMEOUT_S = 90.0  # no progress at all for this long once records flow
COMMITTED_TIMEOUT_S = 30.0  # after the last record, for the worker's committed offsets
LATENCY_METRICS = ("miroir_window_close_to_store_seconds", "miroir_fetch_to_store_seconds")
BROKER_PID: int | None = None  # the broker this run started (its CPU is not "other load")


class RowFailed(Exception):
    """A row did not finish: why, with the tail of its log."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- processes ---------------------------------------------------------------------------------


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid``, all threads (``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_memory_mb(pid: int, field: str = "VmRSS") -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (its peak) of ``pid``, in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def system_busy_seconds() -> float:
    """CPU seconds every core has spent busy since boot (``/proc/stat``)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """How busy the rest of the machine was while a row ran: system-wide busy CPU minus what the
    measured processes, the benchmark itself and the broker it started (``BROKER_PID``) used,
    as cores on average (a shared machine: anything else running skews the row)."""

    def __init__(self) -> None:
        self.started = time.time()
        self.busy = system_busy_seconds()
        self.ours = self._ours()

    @staticmethod
    def _ours() -> float:
        times = os.times()
        own = times.user + times.system
        if BROKER_PID is not None:
            with contextlib.suppress(OSError):
                own += proc_cpu_seconds(BROKER_PID)
        return own

    def cores(self, measured_cpu_seconds: float) -> float:
        """Cores used by everything else since the start; ``measured_cpu_seconds``: the CPU of
        the measured processes over the same time."""
        busy = system_busy_seconds() - self.busy
        ours = self._ours() - self.ours
        return max(0.0, busy - ours - measured_cpu_seconds) / max(time.time() - self.started, 1e-9)


class Child:
    """One measured process: its own session (Ctrl-C reaches the benchmark, which stops it),
    stderr (and stdout unless read) to a log file, stdout lines queued when read."""

    running: set[Child] = set()

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        read_stdout: bool = True,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self.lines: queue.Queue[str] = queue.Queue()
        self.started = time.time()
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                list(command),
                cwd=REPO,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if read_stdout else log,
                stderr=log,
                start_new_session=True,
            )
        Child.running.add(self)
        if read_stdout:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        for raw in stdout:
            self.lines.put(raw.decode(errors="replace"))

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds. Safe to call twice (an interrupted
        stop leaves the child listed, for ``stop_all``)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                self.process.wait()
        Child.running.discard(self)
        if self.process.stdout is not None:
            self.process.stdout.close()

    @classmethod
    def stop_all(cls) -> None:
        for child in list(cls.running):
            with contextlib.suppress(Exception):
                child.stop(grace=5.0)


atexit.register(Child.stop_all)  # a second Ctrl-C during clean-up must not orphan a child


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


# -- results -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Row:
    """One consumer's figures (None where not measured); ``error`` when it failed."""

    name: str
    label: str
    events: int | None = None  # records read
    timed_events: int | None = None  # of those, the ones read in the timed span (None: all)
    seconds: float | None = None  # the timed span: first record to last
    cpu_seconds: float | None = None  # over the same span
    peak_rss_mb: float | None = None
    total_seconds: float | None = None  # from spawn to the last record
    error: str | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def _timed(self) -> int | None:
        return self.events if self.timed_events is None else self.timed_events

    @property
    def rate(self) -> float | None:
        timed = self._timed
        if timed is None or not self.seconds:
            return None
        return timed / self.seconds

    @property
    def cpu_us(self) -> float | None:
        timed = self._timed
        if self.cpu_seconds is None or not timed:
            return None
        return self.cpu_seconds / timed * 1e6

    def as_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["events_per_second"] = self.rate
        data["cpu_us_per_event"] = self.cpu_us
        return data


def ratio(row: Row | None, reference: Row | None) -> float | None:
    """``row``'s events/s over ``reference``'s (None when either is missing)."""
    if row is None or reference is None or row.rate is None or reference.rate is None:
        return None
    return row.rate / reference.rate


def _number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def format_table(rows: Sequence[Row]) -> str:
    """The one table: consumer | events | events/s | CPU µs/event | peak RSS MB | ÷ ceiling |
    ÷ Quix. A failed row says so in place of its figures."""
    by_name = {row.name: row for row in rows}
    header = (
        "consumer",
        "events",
        "events/s",
        "CPU µs/event",
        "peak RSS MB",
        "ratio to ceiling",
        "ratio to Quix",
    )
    body: list[tuple[str, ...]] = []
    for row in rows:
        if row.error is not None:
            body.append((row.label, "FAILED", "", "", "", "", ""))
            continue
        body.append(
            (
                row.label,
                _number(row.events),
                _number(row.rate),
                _number(row.cpu_us, 1),
                _number(row.peak_rss_mb),
                _number(ratio(row, by_name.get("ceiling")), 2),
                _number(ratio(row, by_name.get("quix")), 2),
            )
        )
    widths = [max(len(line[i]) for line in (header, *body)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return " | ".join((first, *rest))

    rule = "-+-".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(cells) for cells in body)])


# -- Prometheus text -----------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Samples of the Prometheus text exposition: (name, labels, value)."""
    samples = []
    for raw in text.splitlines():
        match = _SAMPLE.match(raw)
        if match is None or raw.startswith("#"):
            continue
        name, labels, value = match.groups()
        samples.append((name, dict(_LABEL.findall(labels or "")), float(value)))
    return samples


def consumed(samples: Sequence[tuple[str, dict[str, str], float]], topics: Sequence[str]) -> int:
    """``miroir_events_consumed_total`` summed over ``topics``."""
    return int(
        sum(
            value
            for name, labels, value in samples
            if name == "miroir_events_consumed_total" and labels.get("topic") in topics
        )
    )


def histogram(
    samples: Sequence[tuple[str, dict[str, str], float]], name: str
) -> list[tuple[float, float]] | None:
    """Cumulative buckets [(upper bound, count), …] of histogram ``name``, or None if absent."""
    buckets = [
        (float(labels["le"]), value)
        for sample, labels, value in samples
        if sample == f"{name}_bucket" and "le" in labels
    ]
    return sorted(buckets) if buckets else None


def quantile(buckets: Sequence[tuple[float, float]], q: float) -> float | None:
    """The q-quantile estimated from cumulative buckets as Prometheus' histogram_quantile does:
    linear inside the bucket that holds it; the last finite bound when it falls in +Inf; None
    with no observations."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def merge_histograms(
    parts: Sequence[list[tuple[float, float]] | None],
) -> list[tuple[float, float]] | None:
    """Buckets of several processes' histograms of the same name, added bound by bound."""
    present = [part for part in parts if part]
    if not present:
        return None
    totals: dict[float, float] = {}
    for part in present:
        for bound, count in part:
            totals[bound] = totals.get(bound, 0.0) + count
    return sorted(totals.items())


def latency_summary(buckets: list[tuple[float, float]] | None) -> dict[str, float | None] | None:
    if buckets is None:
        return None
    return {
        "count": buckets[-1][1],
        "p50": quantile(buckets, 0.5),
        "p99": quantile(buckets, 0.99),
    }


def scrape(port: int) -> list[tuple[str, dict[str, str], float]] | None:
    """The worker's /metrics samples, or None while it does not answer yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return parse_metrics(response.read().decode())
    except (OSError, urllib.error.URLError, ValueError):
        return None


# -- broker and dataset ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Dataset:
    """What was produced, once, for every row to read."""

    bootstrap: str
    prefix: str
    customer_topic: str
    employee_topic: str
    teams_topic: str
    partitions: int
    teams: int
    windows: int
    events: int
    customers: int
    ends: dict[str, int]  # "topic/partition" -> end offset
    produce_seconds: float  # generating, encoding and producing (interleaved)

    @property
    def topics(self) -> tuple[str, str]:
        return (self.customer_topic, self.employee_topic)


@contextlib.contextmanager
def kafka(workdir: Path) -> Iterator[tuple[str, str]]:
    """(bootstrap, description) of the broker: MIROIR_KAFKA_BOOTSTRAP's, or one started now."""
    from streams.runtime.broker_probe import wait_for_broker
    from streams.tools.kafka_broker import ApacheKafkaBroker

    global BROKER_PID
    external = os.environ.get("MIROIR_KAFKA_BOOTSTRAP")
    if external:
        wait_for_broker(external, timeout=30)
        yield external, f"existing broker at {external} (MIROIR_KAFKA_BOOTSTRAP)"
        return
    say("broker: starting Apache Kafka (KRaft) on loopback …")
    broker = ApacheKafkaBroker(
        workdir / "kafka", extra_config={"group.initial.rebalance.delay.ms": "3000"}
    )
    with broker:
        description = (
            f"Apache Kafka {broker.version} (KRaft, single node) at {broker.bootstrap}, "
            f"ready in {broker.startup_seconds:.1f} s"
        )
        say(f"broker: {description}")
        process = getattr(broker, "_process", None)
        BROKER_PID = process.pid if process is not None else None
        try:
            yield broker.bootstrap, description
        finally:
            BROKER_PID = None


def scenario_for(teams: int, windows: int) -> Any:
    """The generated company (planted effects only when the run is long enough for them; fewer
    department shocks when the default number does not fit the weeks), its weeks moved back if
    they would reach past last week."""
    from streams.tools.realistic import (
        FIRST_EFFECT_WINDOW,
        MIN_EFFECT_WEEKS,
        default_shocks,
        realistic_scenario,
    )

    planted = windows >= FIRST_EFFECT_WINDOW + MIN_EFFECT_WEEKS
    department_shocks, company_shocks = default_shocks(teams, windows)
    while True:
        try:
            scenario = realistic_scenario(
                SEED,
                teams=teams,
                windows=windows,
                effect_share=0.3 if planted else 0.0,
                department_shocks=department_shocks,
                company_shocks=company_shocks,
            )
            break
        except ValueError as e:
            if "shocks do not fit" not in str(e) or not department_shocks:
                raise
            department_shocks -= 1
    now_ms = int(time.time() * 1000)
    latest_start = now_ms - now_ms % WEEK_MS - (windows + 1) * WEEK_MS
    if scenario.start_ms > latest_start:
        scenario = dataclasses.replace(scenario, start_ms=latest_start)
    return scenario


def produce(bootstrap: str, prefix: str, teams: int, windows: int, partitions: int) -> Dataset:
    """Generate the company and produce it to fresh source topics, once."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    from schemas.codec import encode
    from schemas.records import CustomerFeedback
    from streams.core.partitioning import partition_for
    from streams.runtime.org_topic import publish_teams
    from streams.runtime.topics import TopicSpec, ensure_topics

    customer_topic, employee_topic = f"{prefix}-customer", f"{prefix}-employee"
    teams_topic = f"{prefix}-teams"
    ensure_topics(
        bootstrap,
        [
            TopicSpec(customer_topic, partitions),
            TopicSpec(employee_topic, partitions),
            TopicSpec(teams_topic, 1, configs={"cleanup.policy": "compact"}),
        ],
    )
    scenario = scenario_for(teams, windows)
    say(f"dataset: {scenario.description}")
    if scenario.organisation:
        publish_teams(bootstrap, teams_topic, scenario.organisation)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap.split(","),
        acks="all",
        linger_ms=50,
        batch_size=1024 * 1024,
        max_request_size=16 * 1024 * 1024,
    )
    counts: dict[tuple[str, int], int] = {}
    sent = customers = 0
    produce_started = time.perf_counter()
    last_report = produce_started
    try:
        for event in scenario.events(WEEK_MS, LATENESS_MS):
            is_customer = isinstance(event, CustomerFeedback)
            topic = customer_topic if is_customer else employee_topic
            partition = partition_for(event.team_id, partitions)
            producer.send(
                topic, key=event.team_id.encode(), value=encode(event), partition=partition
            )
            counts[(topic, partition)] = counts.get((topic, partition), 0) + 1
            sent += 1
            customers += is_customer
            now = time.perf_counter()
            if now - last_report >= 2.0:
                last_report = now
                say(f"  produced {sent:,} records ({sent / (now - produce_started):,.0f}/s)")
        producer.flush(timeout=300)
    finally:
        producer.close()
    produce_seconds = time.perf_counter() - produce_started
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","))
    try:
        tps = [
            TopicPartition(t, p)
            for t in (customer_topic, employee_topic)
            for p in range(partitions)
        ]
        found = consumer.end_offsets(tps)
    finally:
        consumer.close()
    ends = {f"{tp.topic}/{tp.partition}": int(found[tp]) for tp in tps}
    expected = {
        f"{t}/{p}": counts.get((t, p), 0)
        for t in (customer_topic, employee_topic)
        for p in range(partitions)
    }
    if ends != expected:
        raise RuntimeError(
            f"the broker holds other end offsets than produced: {ends} vs {expected}"
        )
    say(
        f"dataset: {sent:,} records ({customers:,} customer feedback, {sent - customers:,} "
        f"pulses) on {customer_topic} and {employee_topic} ({partitions} partitions each), "
        f"{sent / produce_seconds:,.0f} records/s produced"
    )
    return Dataset(
        bootstrap=bootstrap,
        prefix=prefix,
        customer_topic=customer_topic,
        employee_topic=employee_topic,
        teams_topic=teams_topic,
        partitions=partitions,
        teams=teams,
        windows=windows,
        events=sent,
        customers=customers,
        ends=ends,
        produce_seconds=produce_seconds,
    )


def delete_run_topics(bootstrap: str, prefix: str) -> None:
    """Every topic whose name holds the run's prefix (sources, changelogs, outputs)."""
    from streams.runtime.topics import admin_client, delete_topics

    with admin_client(bootstrap) as admin:
        names = [name for name in admin.list_topics() if prefix in name]
    delete_topics(bootstrap, names, timeout=60)


# -- the rows ----------------------------------------------------------------------------------


class Progress:
    """A progress line on stderr about every two seconds: events so far, rate since the last."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self._last: tuple[float, int] | None = None

    def update(self, events: int, now: float) -> None:
        if self._last is not None and now - self._last[0] < 2.0:
            return
        rate = ""
        if self._last is not None:
            rate = f", {(events - self._last[1]) / (now - self._last[0]):,.0f}/s"
        self._last = (now, events)
        say(f"  {self.label}: {events:,} / {self.total:,} events{rate}")


def timeout_for(dataset: Dataset, given: float | None) -> float:
    """Seconds a row may take from spawn to its last record: --timeout, or start-up plus the
    dataset at 1,000 events/s."""
    return given if given is not None else START_TIMEOUT_S + dataset.events / 1000


def peer_command(
    name: str, dataset: Dataset, group: str, state_dir: Path, python: str
) -> list[str]:
    command = [
        python,
        str(PEERS / PEER_SCRIPTS[name]),
        "--bootstrap",
        dataset.bootstrap,
        "--group",
        group,
        "--expect",
        str(dataset.events),
        "--partitions",
        str(dataset.partitions),
        "--state-dir",
        str(state_dir),
    ]
    for topic, schema in (
        (dataset.customer_topic, "customer_feedback.avsc"),
        (dataset.employee_topic, "employee_pulse.avsc"),
    ):
        command += ["--topic", f"{topic}={SCHEMAS / schema}"]
    return command


def run_peer(
    name: str, dataset: Dataset, workdir: Path, timeout: float, python: str = sys.executable
) -> Row:
    """A peer consumer: spawn, follow its report lines, read its peak RSS, stop it."""
    row = Row(name, LABELS[name])
    state_dir = workdir / name
    state_dir.mkdir(parents=True, exist_ok=True)
    group = f"{dataset.prefix}-{name}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIROIR_")}
    env["PYTHONUNBUFFERED"] = "1"
    say(f"{row.label}: starting ({group})")
    load = OtherLoad()
    child = Child(
        name,
        peer_command(name, dataset, group, state_dir, python),
        workdir / f"{name}.log",
        env,
    )
    progress = Progress(name, dataset.events)
    deadline = child.started + timeout
    last_progress = time.time()
    done: dict[str, Any] | None = None
    try:
        while done is None:
            try:
                line = child.lines.get(timeout=0.5)
            except queue.Empty:
                line = ""
            now = time.time()
            report_at = line.find('{"bench"')  # after whatever a library printed before it
            if report_at >= 0:
                report = json.loads(line[report_at:])
                last_progress = now
                if report["bench"] == "progress":
                    progress.update(report["events"], now)
                elif report["bench"] == "done":
                    done = report
                    break
            if not child.alive() and child.lines.empty():
                raise RowFailed(
                    f"{name} exited with code {child.process.returncode} before reading "
                    f"{dataset.events:,} records; log {child.log_path}:\n{child.log_tail()}"
                )
            if now > deadline:
                raise RowFailed(
                    f"{name} did not read {dataset.events:,} records within {timeout:.0f} s; "
                    f"log {child.log_path}:\n{child.log_tail()}"
                )
            if now - last_progress > STALL_TIMEOUT_S and now - child.started > START_TIMEOUT_S:
                raise RowFailed(
                    f"{name} made no progress for {STALL_TIMEOUT_S:.0f} s; log "
                    f"{child.log_path}:\n{child.log_tail()}"
                )
        row.peak_rss_mb = proc_memory_mb(child.pid, "VmHWM")
        row.details["other_load_cores"] = load.cores(proc_cpu_seconds(child.pid))
    finally:
        child.stop(grace=10.0)
    row.events = int(done["events"])
    row.seconds = done["last"] - done["first"]
    row.cpu_seconds = done["cpu_last"] - done["cpu_first"]
    row.total_seconds = done["last"] - child.started
    row.details["startup_seconds"] = done["first"] - child.started
    return row


def worker_env(dataset: Dataset, app_id: str, store: Path, port: int) -> dict[str, str]:
    """The worker's settings, as tests/integration/harness.py's PipelineEnv builds them, on the
    benchmark's topics with 7-day windows (the rest Miroir's defaults)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIROIR_")}
    env.update(
        {
            "MIROIR_KAFKA_BOOTSTRAP": dataset.bootstrap,
            "MIROIR_APP_ID": app_id,
            "MIROIR_TOPIC_CUSTOMER": dataset.customer_topic,
            "MIROIR_TOPIC_EMPLOYEE": dataset.employee_topic,
            "MIROIR_TOPIC_ALERTS": f"{app_id}-alerts",
            "MIROIR_TOPIC_DEAD_LETTERS": f"{app_id}-dead",
            "MIROIR_TOPIC_TEAMS": dataset.teams_topic,
            "MIROIR_TOPIC_PARTITIONS": str(dataset.partitions),
            "MIROIR_CLICKHOUSE_DSN": f"chdb://{store / 'clickhouse'}",
            "MIROIR_DATA_DIR": str(store / "worker"),
            "MIROIR_WINDOW_SECONDS": str(WEEK_MS // 1000),
            "MIROIR_WEB_PORT": str(port),
            "MIROIR_ALLOW_DEMO_SECRETS": "true",
        }
    )
    return env


@dataclasses.dataclass
class _Worker:
    child: Child
    port: int
    events: int = 0  # at the latest reading
    cpu: float = 0.0  # CPU seconds at the latest reading
    answered_rss_mb: float | None = None  # RSS when /metrics first answered
    idle_rss_mb: float | None = None  # RSS at its last reading before it counted a record
    samples: list[tuple[str, dict[str, str], float]] | None = None

    def read(self, topics: Sequence[str]) -> None:
        """One reading: /metrics (if it answers yet), CPU and RSS from /proc."""
        if not self.child.alive():
            raise RowFailed(
                f"{self.child.name} exited with code {self.child.process.returncode}; log "
                f"{self.child.log_path}:\n{self.child.log_tail()}"
            )
        self.cpu = proc_cpu_seconds(self.child.pid)
        samples = scrape(self.port)
        if samples is None:
            return
        self.samples = samples
        self.events = consumed(samples, topics)
        if self.answered_rss_mb is None:
            self.answered_rss_mb = proc_memory_mb(self.child.pid)
        if self.events == 0:
            self.idle_rss_mb = proc_memory_mb(self.child.pid)


def run_workers(name: str, dataset: Dataset, workdir: Path, timeout: float, count: int) -> Row:
    """``count`` worker processes in one consumer group, read from their /metrics.

    Every METRICS_POLL_S all workers are read in one round. The timed span runs from the first
    round with a record counted to the round where the counts reach the dataset: its events are
    those counted after the first round, its CPU what the workers spent between the two rounds.
    """
    from streams.tools.kafka_broker import free_port

    row = Row(name, LABELS[name])
    app_id = f"{dataset.prefix}-{name}"
    workers: list[_Worker] = []
    load = OtherLoad()
    say(f"{row.label}: starting ({app_id})")
    try:
        for index in range(count):
            store = workdir / f"{name}-{index + 1}"
            store.mkdir(parents=True, exist_ok=True)
            port = free_port()
            child = Child(
                f"{name}-{index + 1}",
                [sys.executable, "-m", "streams", "worker"],
                workdir / f"{name}-{index + 1}.log",
                worker_env(dataset, app_id, store, port),
                read_stdout=False,
            )
            workers.append(_Worker(child, port))
        started = min(worker.child.started for worker in workers)
        deadline = started + timeout
        progress = Progress(name, dataset.events)
        first: tuple[float, int, float] | None = None  # (time, events, CPU) of the first round
        last_change = (time.time(), 0)
        while True:
            time.sleep(METRICS_POLL_S)
            now = time.time()
            for worker in workers:
                worker.read(dataset.topics)
            total = sum(worker.events for worker in workers)
            cpu = sum(worker.cpu for worker in workers)
            if total and first is None:
                first = (now, total, cpu)
            if total != last_change[1]:
                last_change = (now, total)
                if total:
                    progress.update(total, now)
            if total >= dataset.events:
                break
            if now > deadline:
                raise RowFailed(
                    f"{name} read {total:,} of {dataset.events:,} records in {timeout:.0f} s; "
                    + "; ".join(f"log {w.child.log_path}:\n{w.child.log_tail()}" for w in workers)
                )
            if total and now - last_change[0] > STALL_TIMEOUT_S:
                raise RowFailed(
                    f"{name} stuck at {total:,} of {dataset.events:,} records for "
                    f"{STALL_TIMEOUT_S:.0f} s; "
                    + "; ".join(f"log {w.child.log_path}" for w in workers)
                )
        assert first is not None
        row.events = total
        row.timed_events = total - first[1]
        row.seconds = now - first[0]
        row.cpu_seconds = cpu - first[2]
        row.total_seconds = now - started
        row.peak_rss_mb = max(proc_memory_mb(w.child.pid, "VmHWM") for w in workers)
        row.details["other_load_cores"] = load.cores(sum(w.cpu for w in workers))
        row.details["startup_seconds"] = first[0] - started
        row.details["events_counted_at_first_reading"] = first[1]
        if not row.timed_events:
            row.details["note"] = (
                "every record was counted by the first reading: too few to time "
                "(a larger --teams/--windows)"
            )
        # Durable: the group's committed offsets at the ends of the source partitions.
        row.details["committed_seconds_after_last"] = _wait_committed(dataset, app_id, now)
        for worker in workers:
            worker.samples = scrape(worker.port) or worker.samples
        row.details["workers"] = [
            {
                "events": worker.events,
                "rss_when_metrics_answered_mb": worker.answered_rss_mb,
                "idle_rss_mb": worker.idle_rss_mb,
                "peak_rss_mb": proc_memory_mb(worker.child.pid, "VmHWM"),
                "log": str(worker.child.log_path),
            }
            for worker in workers
        ]
        idle = [worker.idle_rss_mb for worker in workers if worker.idle_rss_mb is not None]
        row.details["idle_rss_mb"] = max(idle) if idle else None
        for metric in LATENCY_METRICS:
            merged = merge_histograms([histogram(w.samples or [], metric) for w in workers])
            row.details[metric] = latency_summary(merged)
    finally:
        for worker in workers:
            worker.child.stop(grace=30.0)
    return row


def _wait_committed(dataset: Dataset, group: str, since: float) -> float | None:
    """Seconds after ``since`` at which the group had committed every source partition's end
    offset (read without joining the group), or None if not within COMMITTED_TIMEOUT_S."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=dataset.bootstrap.split(","), group_id=group, enable_auto_commit=False
    )
    try:
        ends: dict[Any, int] = {}
        for key, end in dataset.ends.items():
            topic, partition = key.rsplit("/", 1)
            ends[TopicPartition(topic, int(partition))] = end
        while time.time() - since < COMMITTED_TIMEOUT_S:
            if all((consumer.committed(tp) or 0) >= end for tp, end in ends.items()):
                return time.time() - since
            time.sleep(0.25)
        return None
    finally:
        consumer.close()


def quix_python(venv: Path) -> tuple[str, str]:
    """The Quix Streams virtualenv's python and the installed version; made on first use."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import fastavro, quixstreams; print(quixstreams.__version__)"]
    if python.is_file():
        found = subprocess.run(probe, capture_output=True, text=True, check=False)
        if found.returncode == 0:
            return str(python), found.stdout.strip()
    say(f"quix: making {venv} (python -m venv, pip install quixstreams fastavro) …")
    base = getattr(sys, "_base_executable", None) or sys.executable
    steps = [
        [base, "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "-q", "quixstreams", "fastavro"],
    ]
    for step in steps:
        done = subprocess.run(
            step, capture_output=True, text=True, timeout=900, check=False, stdin=subprocess.DEVNULL
        )
        if done.returncode != 0:
            raise RowFailed(
                f"could not install Quix Streams ({' '.join(step)}): "
                f"{(done.stdout + done.stderr).strip()[-1500:]}; use --skip-quix offline"
            )
    found = subprocess.run(probe, capture_output=True, text=True, check=False)
    if found.returncode != 0:
        raise RowFailed(f"Quix Streams does not import in {venv}: {found.stderr[-1500:]}")
    return str(python), found.stdout.strip()


def run_memory(workdir: Path, teams: int, partitions: int, timeout: float) -> Row:
    """The pure engine holding ``teams`` open windows (benchmarks/peers/engine_memory.py), twice:
    each window a whole week of the simulator's default team (40 feedback records, 12 pulses),
    then one record each (the cost of a team and its window alone)."""
    row = Row("memory", f"engine, {teams:,} open team-windows")
    for variant, sizes in (("full", ("40", "12")), ("single", ("1", "0"))):
        say(f"memory: {teams:,} teams with an open window each ({variant}), pure engine …")
        command = [
            sys.executable,
            str(PEERS / "engine_memory.py"),
            "--teams",
            str(teams),
            "--partitions",
            str(partitions),
            "--customers",
            sizes[0],
            "--employees",
            sizes[1],
        ]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        child = Child(f"memory-{variant}", command, workdir / f"memory-{variant}.log", env)
        try:
            deadline = time.time() + timeout
            while True:
                try:
                    line = child.lines.get(timeout=1.0)
                except queue.Empty:
                    line = ""
                if line.find('{"bench"') >= 0:
                    figures = json.loads(line[line.find('{"bench"') :])
                    break
                if not child.alive() and child.lines.empty():
                    raise RowFailed(f"engine_memory.py exited:\n{child.log_tail()}")
                if time.time() > deadline:
                    raise RowFailed(f"engine_memory.py took over {timeout:.0f} s")
        finally:
            child.stop()
        figures.pop("bench", None)
        figures["above_empty_mb"] = figures["rss_mb"] - figures["rss_empty_mb"]
        row.details[variant] = figures
    return row


# -- the report --------------------------------------------------------------------------------


def _seconds(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f} s"


def format_notes(rows: Sequence[Row], memory: Row | None) -> str:
    """What goes beneath the table: the worker's start-up, memory and latencies, the memory row,
    the ratios the issue asks for, and every failure."""
    by_name = {row.name: row for row in rows}
    lines: list[str] = []
    for name in ("worker", "workers2"):
        row = by_name.get(name)
        if row is None or row.error is not None:
            continue
        details = row.details
        idle = details.get("idle_rss_mb")
        grown = None if idle is None or row.peak_rss_mb is None else row.peak_rss_mb - idle
        lines.append(
            f"{row.label}: first record {_seconds(details.get('startup_seconds'), 1)} after "
            f"start, last {_seconds(row.total_seconds, 1)} after start; offsets committed "
            f"{_seconds(details.get('committed_seconds_after_last'), 1)} after the last record"
        )
        lines.append(
            f"  RSS: idle {_number(idle)} MB (before its first record), peak "
            f"{_number(row.peak_rss_mb)} MB (+{_number(grown)} MB while consuming; target "
            f"≤ {TARGET_WORKER_RSS_MB} MB)"
        )
        if details.get("note"):
            lines.append(f"  note: {details['note']}")
        if name == "workers2" and details.get("workers"):
            shares = ", ".join(f"{w['events']:,}" for w in details["workers"])
            lines.append(f"  events per worker: {shares}")
        for metric, what in zip(
            LATENCY_METRICS, ("window close → ClickHouse", "fetch → ClickHouse"), strict=True
        ):
            summary = details.get(metric)
            if summary is None:
                lines.append(f"  {what}: n/a (no {metric} on /metrics)")
                continue
            target = f" (target p99 ≤ {TARGET_CLOSE_P99_S:g} s)" if "close" in metric else ""
            lines.append(
                f"  {what}: p50 {_seconds(summary['p50'])}, p99 {_seconds(summary['p99'])} "
                f"over {summary['count']:,.0f} observations{target}"
            )
    if memory is not None:
        if memory.error is not None:
            lines.append(f"memory: FAILED ({memory.error.splitlines()[0]})")
        else:
            full, single = memory.details["full"], memory.details["single"]
            lines.append(
                f"memory: the pure engine with {full['teams']:,} teams, a window open each "
                f"({full['events'] / max(full['teams'], 1):.0f} events in it): "
                f"{full['above_empty_mb']:.0f} MB RSS above the empty engine "
                f"(goal ≤ {TARGET_MEMORY_MB} MB); with one event each: "
                f"{single['above_empty_mb']:.0f} MB"
            )
    worker_vs_quix = ratio(by_name.get("worker"), by_name.get("quix"))
    two_vs_one = ratio(by_name.get("workers2"), by_name.get("worker"))
    worker = by_name.get("worker")
    if worker is not None and worker.rate is not None:
        lines.append(f"worker events/s: {worker.rate:,.0f} (target ≥ 30,000)")
    lines.append(f"worker ÷ Quix: {_number(worker_vs_quix, 2)} (target ≥ {TARGET_WORKER_VS_QUIX})")
    lines.append(
        f"two workers ÷ one worker: {_number(two_vs_one, 2)} (target ≥ {TARGET_TWO_VS_ONE})"
    )
    for row in [*rows, *([memory] if memory else [])]:
        if row.error is not None:
            lines.append(f"FAILED {row.label}: {row.error.splitlines()[0]}")
    return "\n".join(lines)


def results_path(given: str | None) -> Path:
    if given:
        return Path(given)
    RESULTS.mkdir(parents=True, exist_ok=True)
    ignore = RESULTS / ".gitignore"
    if not ignore.exists():
        ignore.write_text(
            "# benchmarks/throughput.py writes its results here; never committed\n*\n"
        )
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return RESULTS / f"throughput-{stamp}.json"


def parse_rows(text: str | None, skip_quix: bool) -> list[str]:
    rows = list(ROWS) if not text else [part.strip() for part in text.split(",") if part.strip()]
    unknown = [row for row in rows if row not in ROWS]
    if unknown:
        raise SystemExit(f"unknown rows {', '.join(unknown)}: choose from {', '.join(ROWS)}")
    return [row for row in ROWS if row in rows and not (skip_quix and row == "quix")]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--teams", type=int, default=240, help="teams (default 240)")
    parser.add_argument(
        "--windows", type=int, default=26, help="7-day windows (default 26: ≈360k records)"
    )
    parser.add_argument("--partitions", type=int, default=8, help="partitions (default 8)")
    parser.add_argument(
        "--rows",
        "--only",
        dest="rows",
        metavar="ROW,…",
        help=f"rows to run, comma-separated, from {','.join(ROWS)} (default all)",
    )
    parser.add_argument("--skip-quix", action="store_true", help="no Quix Streams row (offline)")
    parser.add_argument("--json", metavar="PATH", help="where the JSON goes")
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds a row may take from start to its last record "
        "(default 180 + one second per 1,000 records)",
    )
    parser.add_argument(
        "--memory-teams", type=int, default=10_000, help="teams of the memory row (10,000)"
    )
    parser.add_argument("--quix-venv", type=Path, default=QUIX_VENV, help=f"(default {QUIX_VENV})")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, stores)")
    args = parser.parse_args(argv)
    rows = parse_rows(args.rows, args.skip_quix)
    signal.signal(signal.SIGTERM, _on_sigterm)
    workdir = Path(tempfile.mkdtemp(prefix="miroir-throughput-"))
    say(f"work dir {workdir} (logs of every process)")
    started = time.time()
    report: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_at_start": os.getloadavg(),
        },
        "options": {
            "teams": args.teams,
            "windows": args.windows,
            "partitions": args.partitions,
            "rows": rows,
        },
    }
    results: list[Row] = []
    memory: Row | None = None
    try:
        broker_rows = [row for row in rows if row != "memory"]
        if broker_rows:
            results = run_broker_rows(broker_rows, args, workdir, report)
        if "memory" in rows:
            memory = Row("memory", "engine memory")
            try:
                memory = run_memory(workdir, args.memory_teams, args.partitions, 900)
            except RowFailed as e:
                memory.error = str(e)
    finally:
        Child.stop_all()
        failed = any(row.error for row in results) or (memory is not None and memory.error)
        if args.keep or failed:
            say(f"kept {workdir} (logs{' of the failed rows' if failed else ''})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report["seconds"] = round(time.time() - started, 1)
    report["rows"] = [row.as_json() for row in results]
    report["memory"] = None if memory is None else memory.as_json()
    by_name = {row.name: row for row in results}
    report["ratios"] = {
        "worker_vs_quix": ratio(by_name.get("worker"), by_name.get("quix")),
        "two_workers_vs_one": ratio(by_name.get("workers2"), by_name.get("worker")),
    }
    print()
    if results:
        dataset = report.get("dataset", {})
        print(
            f"{dataset.get('events', 0):,} records, {args.teams} teams × {args.windows} weeks, "
            f"{args.partitions} partitions; {report.get('broker', '')}"
        )
        if report.get("quix_version"):
            print(f"Quix Streams {report['quix_version']}")
        loads = ", ".join(
            f"{row.name} {row.details['other_load_cores']:.2f}"
            for row in results
            if "other_load_cores" in row.details
        )
        print(f"other processes' CPU while each row ran, in cores of {os.cpu_count()}: {loads}")
        print(format_table(results))
        print()
    print(format_notes(results, memory))
    path = results_path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    say(f"results: {path} ({report['seconds']:.0f} s in all)")
    return 1 if failed else 0


def run_broker_rows(
    rows: Sequence[str], args: argparse.Namespace, workdir: Path, report: dict[str, Any]
) -> list[Row]:
    """Start (or reuse) the broker, produce the dataset once, run each row in turn."""
    prefix = f"bench-{dt.datetime.now():%H%M%S}-{uuid.uuid4().hex[:6]}"
    results: list[Row] = []
    with kafka(workdir) as (bootstrap, description):
        report["broker"] = description
        try:
            dataset = produce(bootstrap, prefix, args.teams, args.windows, args.partitions)
            report["dataset"] = {
                k: v for k, v in dataclasses.asdict(dataset).items() if k != "ends"
            }
            timeout = timeout_for(dataset, args.timeout)
            runners: dict[str, Callable[[], Row]] = {
                "ceiling": lambda: run_peer("ceiling", dataset, workdir, timeout),
                "faust": lambda: run_peer("faust", dataset, workdir, timeout),
                "naive": lambda: run_peer("naive", dataset, workdir, timeout),
                "quix": lambda: run_quix(dataset, workdir, timeout, args.quix_venv, report),
                "worker": lambda: run_workers("worker", dataset, workdir, timeout, 1),
                "workers2": lambda: run_workers("workers2", dataset, workdir, timeout, 2),
            }
            for name in rows:
                try:
                    row = runners[name]()
                except RowFailed as e:
                    row = Row(name, LABELS[name], error=str(e))
                    say(f"{LABELS[name]}: FAILED: {e}")
                else:
                    say(
                        f"{row.label}: {_number(row.events)} events in "
                        f"{_seconds(row.seconds, 1)}: {_number(row.rate)} events/s, "
                        f"{_number(row.cpu_us, 1)} µs CPU each, peak RSS "
                        f"{_number(row.peak_rss_mb)} MB; other processes used "
                        f"{row.details.get('other_load_cores', 0):.2f} cores meanwhile"
                    )
                results.append(row)
        finally:
            Child.stop_all()
            if os.environ.get("MIROIR_KAFKA_BOOTSTRAP"):
                with contextlib.suppress(Exception):
                    delete_run_topics(bootstrap, prefix)
    return results


def run_quix(
    dataset: Dataset, workdir: Path, timeout: float, venv: Path, report: dict[str, Any]
) -> Row:
    python, version = quix_python(venv)
    report["quix_version"] = version
    say(f"quix: Quix Streams {version} in {venv}")
    return run_peer("quix", dataset, workdir, timeout, python)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        say("interrupted: every process this run started has been stopped")
        sys.exit(130)
