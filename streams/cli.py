"""The ``miroir`` command: demo, worker, simulate, alerts, query."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from streams.errors import MiroirError

ALERT_COLUMNS = (
    "alert_id, team_id, window_start, window_end, kind, severity, dimension, message, "
    "customer_n, employee_n, customer_index, employee_index, customer_delta, employee_delta, "
    "customer_z, employee_z, detector, detector_version"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="miroir",
        description="Mirror-effect alerts from customer feedback and employee pulses. "
        "Settings come from MIROIR_* environment variables (see the README).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="embedded broker + worker + simulated teams, live alerts")
    demo.add_argument("--duration", type=float, default=75.0, help="seconds to run (default 75)")
    demo.add_argument("--teams", type=int, default=6, help="simulated teams (default 6, min 2)")
    demo.add_argument("--no-colour", action="store_true", help="plain output")

    sub.add_parser("worker", help="run the pipeline against MIROIR_KAFKA_BOOTSTRAP")

    simulate = sub.add_parser("simulate", help="produce synthetic teams to the broker")
    simulate.add_argument("--teams", type=int, default=6, help="teams (default 6)")
    simulate.add_argument("--windows", type=int, default=8, help="windows to produce (fast mode)")
    simulate.add_argument(
        "--scenario",
        choices=("demo", "steady"),
        default="demo",
        help="demo: one mirror decline, one inner warning, rest steady",
    )
    simulate.add_argument(
        "--realtime",
        action="store_true",
        help="pace events by the wall clock until --duration or Ctrl-C",
    )
    simulate.add_argument("--duration", type=float, default=None, help="seconds, with --realtime")
    simulate.add_argument("--seed", type=int, default=7)

    alerts = sub.add_parser("alerts", help="list stored alerts, or --follow the alerts topic")
    alerts.add_argument("--follow", "-f", action="store_true", help="tail the alerts topic")
    alerts.add_argument("--from-beginning", action="store_true", help="with --follow")
    alerts.add_argument("--limit", type=int, default=50)
    alerts.add_argument("--team", default=None, help="only this team")
    alerts.add_argument("--json", action="store_true", help="JSON lines")
    alerts.add_argument("--no-colour", action="store_true")

    query = sub.add_parser("query", help="run a read-only SQL query on the ClickHouse store")
    query.add_argument("sql")
    query.add_argument("--format", choices=("table", "json", "csv"), default="table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(COMMANDS[args.command](args) or 0)
    except MiroirError as e:
        print(f"miroir: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`miroir alerts -f | head`): stop quietly, like other CLI tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from streams.demo import run_demo

    return run_demo(args.duration, args.teams, colour=_colour(args))


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.settings import load_settings
    from streams.worker import run_worker

    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)  # kafka-python's admin chatter
    run_worker(settings)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from streams.feed import print_progress, publish_fast, publish_realtime
    from streams.publish import SignalPublisher
    from streams.settings import load_settings
    from streams.simulator import Simulator, TeamPlan, demo_plans
    from streams.topics import ensure_topics
    from streams.worker import required_topics

    settings = load_settings()
    bootstrap = _require_bootstrap(settings.kafka_bootstrap)
    ensure_topics(bootstrap, required_topics(settings))
    plans = (
        demo_plans(args.teams)
        if args.scenario == "demo"
        else [TeamPlan(f"team-{i:02d}") for i in range(1, args.teams + 1)]
    )
    with SignalPublisher(bootstrap, settings.topic_customer, settings.topic_employee) as publisher:
        if args.realtime:
            simulator = Simulator(
                plans, settings.window_ms, int(time.time() * 1000), seed=args.seed
            )
            deadline = time.time() + args.duration if args.duration else None
            print(f"simulate: producing live to {bootstrap}; Ctrl-C to stop", file=sys.stderr)
            try:
                sent = publish_realtime(simulator, publisher, threading.Event(), deadline)
            except KeyboardInterrupt:
                sent = publisher.sent
        else:
            start = int(time.time() * 1000) - args.windows * settings.window_ms
            simulator = Simulator(plans, settings.window_ms, start, seed=args.seed)
            sent = publish_fast(simulator, publisher, args.windows, print_progress)
    print(f"simulate: {sent} events sent to {bootstrap}", file=sys.stderr)
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    from streams.settings import load_settings

    settings = load_settings()
    if args.follow:
        return _follow(args, _require_bootstrap(settings.kafka_bootstrap), settings.topic_alerts)
    where = "WHERE team_id = {team:String}" if args.team else ""
    sql = (
        f"SELECT {ALERT_COLUMNS} FROM mirror_alerts FINAL {where} "
        f"ORDER BY window_start DESC, team_id LIMIT {int(args.limit)}"
    )
    columns, rows = _query(settings, sql, {"team": args.team} if args.team else None)
    if args.json:
        for row in rows:
            print(json.dumps(dict(zip(columns, row, strict=True)), default=str))
        return 0
    if not rows:
        print("no alerts stored yet")
    from streams.follow import RESET, SEVERITY_COLOURS

    for row in rows:
        r = dict(zip(columns, row, strict=True))
        line = (
            f"{r['severity'].upper():8} {r['kind']:15} {r['team_id']:12} "
            f"window {r['window_start']}  {r['message']}"
        )
        if _colour(args):
            line = SEVERITY_COLOURS.get(r["severity"], "") + line + RESET
        print(line)
    return 0


def _follow(args: argparse.Namespace, bootstrap: str, topic: str) -> int:
    from schemas.codec import alert_to_json
    from streams.follow import follow_alerts, format_alert

    colour = _colour(args)

    def show(alert: Any) -> None:
        if args.team and alert.team_id != args.team:
            return
        print(
            json.dumps(alert_to_json(alert)) if args.json else format_alert(alert, colour),
            flush=True,
        )

    stop = threading.Event()
    try:
        follow_alerts(bootstrap, topic, show, stop, from_beginning=args.from_beginning)
    except KeyboardInterrupt:
        stop.set()
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from streams.settings import load_settings

    columns, rows = _query(load_settings(), args.sql, None)
    if args.format == "json":
        for row in rows:
            print(json.dumps(dict(zip(columns, row, strict=True)), default=str))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        print(_table(columns, rows))
    return 0


def _query(
    settings: Any, sql: str, parameters: dict[str, Any] | None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    from sinks.clickhouse import ClickHouseSink

    sink = ClickHouseSink(
        settings.clickhouse_dsn, database=settings.clickhouse_database, read_only=True
    )
    sink.open()
    try:
        return sink.query(sql, parameters)
    finally:
        sink.close()


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not columns:
        return "(0 rows)"
    cells = [[str(c) for c in columns]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = [" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return "NULL" if value is None else str(value)


def _require_bootstrap(bootstrap: str | None) -> str:
    from streams.errors import ConfigError

    if not bootstrap:
        raise ConfigError(
            "MIROIR_KAFKA_BOOTSTRAP is not set: point it at a Kafka broker (host:port)"
        )
    return bootstrap


def _colour(args: argparse.Namespace) -> bool:
    return not getattr(args, "no_colour", False) and sys.stdout.isatty()


COMMANDS = {
    "demo": cmd_demo,
    "worker": cmd_worker,
    "simulate": cmd_simulate,
    "alerts": cmd_alerts,
    "query": cmd_query,
}
