"""The ``miroir`` command: demo, worker, simulate, replay, backfill, alerts, ack, query."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streams.errors import MiroirError

if TYPE_CHECKING:
    from schemas.records import EpisodeAction
    from sinks.clickhouse import ClickHouseSink
    from streams.kafka_config import KafkaConnection
    from streams.tools.scenario import Scenario

ALERT_COLUMNS = (
    "alert_id, team_id, window_start, window_end, kind, severity, dimension, message, "
    "customer_n, employee_n, customer_index, employee_index, customer_delta, employee_delta, "
    "customer_z, employee_z, detector, detector_version"
)
EPISODE_COLUMNS = (
    "episode_id, team_id, family, kind, severity, opened_window_start, "
    "last_alert_window_start, alerts, quiet_windows, acknowledged_by, acknowledged_at, note"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="miroir",
        description="Mirror-effect alerts from customer feedback and employee pulses. "
        "Settings come from MIROIR_* environment variables (see the README).",
    )
    parser.add_argument("--version", action="version", version=f"miroir {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="embedded broker + worker + simulated teams, live alerts")
    demo.add_argument(
        "--duration", type=_positive(float), default=75.0, help="seconds to run (default 75)"
    )
    demo.add_argument(
        "--teams", type=_at_least(2), default=6, help="simulated teams (default 6, min 2)"
    )
    demo.add_argument("--no-colour", action="store_true", help="plain output")

    sub.add_parser("worker", help="run the pipeline against MIROIR_KAFKA_BOOTSTRAP")

    simulate = sub.add_parser("simulate", help="produce synthetic teams to the broker")
    simulate.add_argument(
        "--teams", type=_at_least(1), default=None, help="teams (default 6; realistic: 80)"
    )
    simulate.add_argument(
        "--windows",
        type=_at_least(1),
        default=None,
        help="windows to produce (fast mode; default 8; realistic: 26 weekly windows)",
    )
    simulate.add_argument(
        "--scenario",
        default="demo",
        metavar="demo|steady|realistic|FILE",
        help="built-in 'demo' (one mirror decline, one inner warning, the rest steady), "
        "'steady', 'realistic' (a generated company from --seed: correlated answers, small "
        "teams, drift, planted effects of several sizes), or a scenario file (YAML or JSON, "
        "see docs/scenarios.md)",
    )
    simulate.add_argument(
        "--realtime",
        action="store_true",
        help="pace events by the wall clock until --duration or Ctrl-C",
    )
    simulate.add_argument(
        "--duration", type=_positive(float), default=None, help="seconds, with --realtime"
    )
    simulate.add_argument(
        "--seed", type=int, default=7, help="random seed: the same seed, the same events"
    )
    simulate.add_argument(
        "--to-file",
        default=None,
        metavar="EVENTS",
        help="with a scenario file: write the events (JSON lines) here instead of producing them",
    )
    simulate.add_argument(
        "--truth",
        default=None,
        metavar="TRUTH",
        help="with --to-file: write the scenario's ground truth here",
    )
    simulate.add_argument(
        "--org",
        default=None,
        metavar="TEAMS_CSV",
        help="write the scenario's organisation here, as the CSV `miroir teams load` reads",
    )
    _add_detection_overrides(simulate)

    replay = sub.add_parser("replay", help="run detection over a file of events, no broker")
    replay.add_argument("--events", required=True, metavar="EVENTS", help="JSON lines file")
    replay.add_argument(
        "--json",
        action="store_true",
        help="alerts as JSON lines: one object per alert (team_id, kind, window_start, ...)",
    )
    replay.add_argument("--no-colour", action="store_true", help="plain output")
    _add_detection_overrides(replay)

    backfill = sub.add_parser(
        "backfill",
        help="run detection over history on the source topics (or a file) from a time, at full "
        "speed; with --to-store, write alerts and windows to ClickHouse under a run id "
        "(docs/backfill.md)",
    )
    backfill.add_argument(
        "--database",
        dest="clickhouse_database",
        default=None,
        help="ClickHouse database to write to (default: MIROIR_CLICKHOUSE_DATABASE). Rows are "
        "keyed like the live worker's: to try other detectors or thresholds without replacing "
        "the live rows of the windows a run covers, write to another database",
    )
    backfill.add_argument(
        "--from",
        dest="from_time",
        required=True,
        metavar="TIME",
        help="event time to start at: a date (2026-01-01) or ISO 8601 time, UTC unless it has "
        "an offset; aligned down to the start of its window",
    )
    backfill.add_argument(
        "--to",
        dest="to_time",
        default=None,
        metavar="TIME",
        help="event time to stop at (exclusive): the windows ending by then are closed and "
        "written. Default: the end of the topics; windows still open there are left to the "
        "live worker",
    )
    backfill.add_argument(
        "--warm-up",
        type=_at_least(0),
        default=None,
        metavar="WINDOWS",
        help="windows read before --from to rebuild each team's baselines as the live worker "
        "had them; nothing of them is written (default: as many as a team's history keeps, "
        "16 with the default settings)",
    )
    backfill.add_argument(
        "--file",
        default=None,
        metavar="EVENTS",
        help="read a JSON lines file (as `miroir replay --events`) instead of the topics",
    )
    backfill.add_argument(
        "--org",
        default=None,
        metavar="TEAMS_CSV",
        help="with --file: the organisation (a `miroir teams load` CSV); from Kafka the teams "
        "topic is read",
    )
    backfill.add_argument(
        "--to-store",
        action="store_true",
        help="write alerts, team-windows, episodes, unit windows and incidents to ClickHouse "
        "(MIROIR_CLICKHOUSE_*); without it nothing is written",
    )
    backfill.add_argument(
        "--publish",
        action="store_true",
        help="also send the alert records to the live alerts topic (MIROIR_TOPIC_ALERTS); "
        "never done without it",
    )
    backfill.add_argument(
        "--run-id",
        default=None,
        metavar="ID",
        help="the run id stamped on the rows (default: derived from the source, the range, "
        "the detectors and the settings, so a rerun replaces its own rows)",
    )
    backfill.add_argument(
        "--json", action="store_true", help="without --to-store: alerts as JSON lines"
    )
    backfill.add_argument("--no-colour", action="store_true", help="plain output")
    backfill.add_argument(
        "--progress-every",
        type=_positive(float),
        default=10.0,
        metavar="SECONDS",
        help="when stderr is not a terminal: a progress line this often (default 10)",
    )
    _add_detection_overrides(backfill)

    evaluate = sub.add_parser(
        "evaluate",
        help="precision and recall, false alerts per steady team-window, recall by effect and "
        "team size, time to detection and the acceptance check, on events with known truth",
    )
    evaluate.add_argument(
        "--events", required=True, metavar="EVENTS", help="JSON lines file of events"
    )
    evaluate.add_argument(
        "--truth", required=True, metavar="TRUTH", help="JSON file of the planted effects"
    )
    evaluate.add_argument("--json", action="store_true", help="the whole report as one JSON object")
    evaluate.add_argument(
        "--org",
        default=None,
        metavar="TEAMS_CSV",
        help="the organisation (a `miroir teams load` CSV): also report incidents against the "
        "truth's shared shocks, and false incidents",
    )
    _add_detection_overrides(evaluate)

    thresholds = sub.add_parser(
        "thresholds",
        help="expected false alerts per window for N teams at the current thresholds, and the "
        "thresholds for a budget (docs/statistics.md, 'Many teams at once')",
    )
    thresholds.add_argument(
        "--teams", type=_at_least(1), required=True, help="teams whose windows close together"
    )
    thresholds.add_argument(
        "--false-alerts-per-window",
        type=_positive(float),
        default=None,
        metavar="BUDGET",
        help="also print the MIROIR_Z_CRIT and MIROIR_SEQUENTIAL_Z_CRIT that spend this budget",
    )

    alerts = sub.add_parser("alerts", help="list stored alerts, or --follow the alerts topic")
    alerts.add_argument("--follow", "-f", action="store_true", help="tail the alerts topic")
    alerts.add_argument("--from-beginning", action="store_true", help="with --follow")
    alerts.add_argument(
        "--limit", type=_at_least(1), default=50, help="at most this many alerts (default 50)"
    )
    alerts.add_argument("--team", default=None, help="only this team")
    alerts.add_argument("--kind", default=None, help="only this kind, e.g. mirror_decline")
    alerts.add_argument(
        "--min-severity",
        choices=SEVERITIES,
        default="info",
        help="only alerts at or above this severity",
    )
    alerts.add_argument(
        "--json",
        action="store_true",
        help='JSON lines: the open episodes ("type": "episode"), then the alerts '
        '("type": "alert"); with --follow, one alert-topic record per line',
    )
    alerts.add_argument("--no-colour", action="store_true", help="plain output")

    ack = sub.add_parser(
        "ack",
        help="acknowledge (or --resolve) an open episode: publishes the action for the worker",
    )
    ack.add_argument(
        "episode_id",
        metavar="EPISODE_ID",
        help="the episode's id; without --team, its first characters will do (as `miroir "
        "alerts` shows them)",
    )
    ack.add_argument(
        "--by", required=True, metavar="NAME", help="who acts (a name or an e-mail address)"
    )
    ack.add_argument("--note", default=None, metavar="TEXT", help="why, in a sentence")
    ack.add_argument(
        "--resolve",
        action="store_true",
        help="resolve the episode by hand (a page is sent) instead of acknowledging it",
    )
    ack.add_argument(
        "--team",
        default=None,
        help="the episode's team; without it the alerts topic is searched for the episode",
    )
    ack.add_argument(
        "--timeout",
        type=_positive(float),
        default=30.0,
        metavar="SECONDS",
        help="give up searching the alerts topic or sending after this long (default 30)",
    )

    teams = sub.add_parser("teams", help="the organisation: load teams and their units")
    teams_sub = teams.add_subparsers(dest="teams_command", required=True, help="what to do")
    load = teams_sub.add_parser(
        "load",
        help="check a CSV (team_id,display_name,<levels...>) and write it to the teams topic",
    )
    load.add_argument("csv", type=Path, help="the CSV file; the header names the levels")
    load.add_argument("--dry-run", action="store_true", help="check the file, write nothing")

    query = sub.add_parser("query", help="run a read-only SQL query on the ClickHouse store")
    query.add_argument("sql", help="one SELECT (or SHOW, DESCRIBE, EXPLAIN, WITH) statement")
    query.add_argument(
        "--format",
        choices=("table", "json", "csv"),
        default="table",
        help="output format (default table; json: one object per line)",
    )
    web_user = sub.add_parser(
        "web-user",
        help="print a MIROIR_WEB_USERS entry (name:hash) for a live-page user",
        description="Reads the password from the terminal (twice), or one line of standard "
        "input when it is not a terminal; never from the command line, where other users "
        "and the shell history would see it.",
    )
    web_user.add_argument("name", help="the user's name, as the live page records who acted")
    return parser


def _at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``minimum`` (argparse names the flag)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    """An argparse type: a number above zero."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {value}")
        return value

    return parse


BUILTIN_SCENARIOS = ("demo", "steady")
DEFAULT_SIMULATED_TEAMS = 6
DEFAULT_SIMULATED_WINDOWS = 8
SEVERITIES = ("info", "warning", "critical")  # ascending

# Command-line flags that override a setting for one run: flag -> (setting, type).
OVERRIDES: dict[str, tuple[str, type]] = {
    "--window": ("window_seconds", float),
    "--lateness": ("allowed_lateness_seconds", float),
    "--partitions": ("topic_partitions", int),
    "--z-crit": ("z_crit", float),
    "--min-effect": ("min_effect", float),
    "--k-anonymity": ("k_anonymity", int),
    "--detectors": ("detectors", str),
}

# ... and those of backfill alone.
BACKFILL_OVERRIDES: dict[str, tuple[str, type]] = {"--database": ("clickhouse_database", str)}


def _add_detection_overrides(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("setting overrides (default: the MIROIR_* settings)")
    for flag, (setting, kind) in OVERRIDES.items():
        group.add_argument(
            flag, dest=setting, type=kind, default=None, help=f"overrides MIROIR_{setting.upper()}"
        )


def _settings(args: argparse.Namespace, extra: dict[str, tuple[str, type]] | None = None) -> Any:
    """The settings, with the command's override flags (``OVERRIDES`` and ``extra``) applied."""
    from streams.settings import load_settings_labelled

    known = {**OVERRIDES, **(extra or {})}
    overrides = {
        setting: getattr(args, setting)
        for setting, _ in known.values()
        if getattr(args, setting, None) is not None
    }
    # A bad flag value is reported under the flag's name, not its environment variable's.
    flags = {setting: flag for flag, (setting, _) in known.items() if setting in overrides}
    return load_settings_labelled(overrides, flags)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("miroir")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


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
    from streams.tools.demo import run_demo

    return run_demo(args.duration, args.teams, colour=_colour(args))


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.runtime.worker import run_worker
    from streams.settings import load_settings

    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)  # kafka-python's admin chatter
    # Faust leaves the root logger at DEBUG and filters in its handler: aiokafka's per-record
    # debug calls then build a log record for every message sent (2 % of the worker's CPU).
    logging.getLogger("aiokafka").setLevel(settings.log_level.upper())
    run_worker(settings)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from streams.runtime.publish import SignalPublisher
    from streams.runtime.topics import ensure_topics
    from streams.runtime.worker import required_topics
    from streams.tools.feed import print_progress, publish_fast, publish_realtime
    from streams.tools.simulator import Simulator, TeamPlan, demo_plans

    settings = _settings(args)
    if args.scenario == "realistic":
        from streams.tools.realistic import realistic_scenario

        generated = realistic_scenario(
            args.seed, teams=args.teams or 80, windows=args.windows or 26
        )
        return _simulate_scenario(args, settings, generated)
    if args.scenario not in BUILTIN_SCENARIOS:
        return _simulate_scenario(args, settings)
    teams = args.teams or DEFAULT_SIMULATED_TEAMS
    windows = args.windows or DEFAULT_SIMULATED_WINDOWS
    if args.to_file or args.truth or args.org:
        from streams.errors import ConfigError

        raise ConfigError("--to-file, --truth and --org need a scenario file: --scenario FILE")
    if args.duration is not None and not args.realtime:
        from streams.errors import ConfigError

        raise ConfigError("--duration paces a live feed: add --realtime, or use --windows")
    kafka = _require_kafka(settings)
    ensure_topics(kafka, required_topics(settings))
    plans = (
        demo_plans(teams)
        if args.scenario == "demo"
        else [TeamPlan(f"team-{i:02d}") for i in range(1, teams + 1)]
    )
    with SignalPublisher(kafka, settings.topic_customer, settings.topic_employee) as publisher:
        if args.realtime:
            simulator = Simulator(
                plans, settings.window_ms, int(time.time() * 1000), seed=args.seed
            )
            deadline = time.time() + args.duration if args.duration else None
            print(f"simulate: producing live to {kafka.bootstrap}; Ctrl-C to stop", file=sys.stderr)
            try:
                sent = publish_realtime(simulator, publisher, threading.Event(), deadline)
            except KeyboardInterrupt:
                sent = publisher.sent
        else:
            start = int(time.time() * 1000) - windows * settings.window_ms
            simulator = Simulator(plans, settings.window_ms, start, seed=args.seed)
            sent = publish_fast(simulator, publisher, windows, print_progress)
    print(f"simulate: {sent} events sent to {kafka.bootstrap}", file=sys.stderr)
    return 0


def _simulate_scenario(
    args: argparse.Namespace, settings: Any, generated: Scenario | None = None
) -> int:
    from streams.tools.evaluate import write_events, write_organisation, write_truth
    from streams.tools.scenario import Scenario

    if args.truth and not args.to_file:
        from streams.errors import ConfigError

        raise ConfigError(
            "--truth is written next to the events file: add --to-file EVENTS (the truth of "
            "events sent to a broker is not kept)"
        )
    scenario = generated if generated is not None else Scenario.load(args.scenario)
    if args.org:
        if not scenario.organisation:
            from streams.errors import ConfigError

            raise ConfigError(
                f"--org: scenario {scenario.name!r} has no organisation (give its team groups "
                "a unit, docs/scenarios.md)"
            )
        teams = write_organisation(args.org, scenario.organisation)
        print(f"simulate: {teams} teams of the organisation written to {args.org}", file=sys.stderr)
    window_ms = scenario.window_ms(settings.window_ms)
    events = scenario.events(window_ms, scenario.allowed_lateness_ms(settings.allowed_lateness_ms))
    if args.to_file:
        count = write_events(args.to_file, events)
        print(f"simulate: {count} events written to {args.to_file}", file=sys.stderr)
        if args.truth:
            truth, shocks = scenario.truth(window_ms), scenario.shock_truth(window_ms)
            write_truth(args.truth, truth, shocks)
            print(
                f"simulate: {len(truth)} truth items and {len(shocks)} shocks written to "
                f"{args.truth}",
                file=sys.stderr,
            )
        return 0
    from streams.runtime.publish import SignalPublisher
    from streams.runtime.topics import ensure_topics
    from streams.runtime.worker import required_topics

    kafka = _require_kafka(settings)
    ensure_topics(kafka, required_topics(settings))
    with SignalPublisher(kafka, settings.topic_customer, settings.topic_employee) as publisher:
        for record in events:
            publisher.send(record)
            if publisher.sent % 10_000 == 0:
                print(f"\rsimulate: {publisher.sent} events sent", end="", file=sys.stderr)
        sent = publisher.sent
    print(
        f"\rsimulate: {sent} events of scenario {scenario.name!r} sent to {kafka.bootstrap}",
        file=sys.stderr,
    )
    return 0


def _replay(args: argparse.Namespace, settings: Any, org: Any = None) -> Any:
    from streams.core.redact import printable
    from streams.tools.evaluate import read_events
    from streams.tools.progress import progress_line
    from streams.tools.replay import replay

    started = time.monotonic()
    live = sys.stderr.isatty()  # a progress line only where it can be redrawn
    total = _count_lines(args.events) if live else 0

    def progress(count: int) -> None:
        print(f"\r{progress_line('replay', count, total, started)}", end="", file=sys.stderr)

    result = replay(
        read_events(args.events), settings, progress=progress if live else None, org=org
    )
    if live:
        print(file=sys.stderr)
    kinds: dict[str, int] = {}
    for alert in result.alerts:
        kinds[alert.kind] = kinds.get(alert.kind, 0) + 1
    summary = ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items())) or "none"
    print(
        f"replay: {result.events:,} events, {len(result.windows):,} team-windows closed, "
        f"{result.late:,} late, {result.duplicates:,} duplicates, "
        f"{len(result.invalid):,} invalid; alerts: {summary}",
        file=sys.stderr,
    )
    for number, reason in result.invalid[:10]:  # a reason may quote the file: escaped
        print(f"replay: event {number} skipped: {printable(reason)}", file=sys.stderr)
    return result


def cmd_replay(args: argparse.Namespace) -> int:
    from schemas.codec import alert_to_json
    from streams.runtime.follow import format_alert

    result = _replay(args, _settings(args))
    for alert in sorted(result.alerts, key=lambda a: (a.window_start, a.team_id, a.kind)):
        if args.json:
            print(json.dumps(alert_to_json(alert)))
        else:
            print(format_alert(alert, _colour(args)))
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from streams.tools.backfill import BackfillOptions, run_backfill

    options = BackfillOptions(
        from_text=args.from_time,
        to_text=args.to_time,
        file=args.file,
        org=args.org,
        to_store=args.to_store,
        publish=args.publish,
        run_id=args.run_id,
        json=args.json,
        progress_every=args.progress_every,
        warm_up=args.warm_up,
    )
    settings = _settings(args, BACKFILL_OVERRIDES)
    return run_backfill(settings, options, colour=_colour(args))


def cmd_evaluate(args: argparse.Namespace) -> int:
    from streams.errors import ConfigError
    from streams.tools.evaluate import read_organisation, read_truth_file
    from streams.tools.evaluation_report import build_report, incident_figures
    from streams.tools.evaluation_text import format_report

    truth = read_truth_file(args.truth)
    if truth.shocks and not args.org:
        raise ConfigError(
            f"{args.truth} plants {len(truth.shocks)} shared shocks: add --org TEAMS_CSV (the "
            "organisation incidents are placed in; `miroir simulate --org` writes it)"
        )
    org = read_organisation(args.org) if args.org else None
    settings = _settings(args)
    result = _replay(args, settings, org)
    # The closed windows are the universe of the false-alert rate; the window size turns
    # time to detection into windows.
    incidents = None
    if org is not None:
        incidents = incident_figures(
            truth.shocks,
            result.incidents.values(),
            result.pages,
            result.unit_windows,
            settings.window_ms,
        )
    report = build_report(
        result.alerts, list(truth.items), result.windows, settings.window_ms, incidents=incidents
    )
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(format_report(report))
    return 0


def cmd_thresholds(args: argparse.Namespace) -> int:
    from streams.detectors.multiplicity import (
        expected_false_alerts,
        false_alert_rate,
        thresholds_for_budget,
    )
    from streams.settings import load_settings

    settings = load_settings()
    z, z_chart = settings.z_crit, settings.sequential_z_crit
    chart = z_chart if settings.sequential_windows > 1 else None
    print(
        f"MIROIR_Z_CRIT={z:g}, MIROIR_SEQUENTIAL_Z_CRIT={z_chart:g}: a steady team-window "
        f"raises a false change alert with probability at most {false_alert_rate(z, chart):.3%}; "
        f"{args.teams} teams: at most {expected_false_alerts(args.teams, z, chart):.2f} "
        "false alerts per window"
    )
    if args.false_alerts_per_window is not None:
        single, sequential = thresholds_for_budget(args.teams, args.false_alerts_per_window)
        print(
            f"for at most {args.false_alerts_per_window:g} per window: "
            f"MIROIR_Z_CRIT={single:.2f} MIROIR_SEQUENTIAL_Z_CRIT={sequential:.2f}"
        )
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    from streams.settings import load_settings

    settings = load_settings()
    if args.follow:
        return _follow(args, _require_kafka(settings), settings.topic_alerts)
    conditions, parameters = alert_filters(args)
    limit = int(args.limit)
    with _reader(settings) as reader:
        # A store written before episodes has no episodes table, and no episode_id column.
        episodes_kept = _has_table(reader, "episodes")
        episodes: tuple[list[str], list[tuple[Any, ...]]] = ([], [])
        if episodes_kept:
            episodes = reader.query(
                f"SELECT {EPISODE_COLUMNS} FROM episodes FINAL "
                f"WHERE state = 'open' AND {' AND '.join(conditions)} "
                f"ORDER BY opened_window_start DESC, team_id LIMIT {limit}",
                parameters,
            )
        alert_columns = ALERT_COLUMNS + (", episode_id" if episodes_kept else "")
        alerts = reader.query(
            f"SELECT {alert_columns} FROM mirror_alerts FINAL WHERE {' AND '.join(conditions)} "
            f"ORDER BY window_start DESC, team_id LIMIT {limit}",
            parameters,
        )
    episode_rows = [dict(zip(episodes[0], row, strict=True)) for row in episodes[1]]
    alert_rows = [dict(zip(alerts[0], row, strict=True)) for row in alerts[1]]
    if args.json:
        for kind, rows in (("episode", episode_rows), ("alert", alert_rows)):
            for row in rows:
                print(json.dumps({"type": kind, **row}, default=str))
        return 0
    for line in alerts_listing(episode_rows, alert_rows, _colour(args), episodes_kept):
        print(line)
    return 0


def alert_filters(args: argparse.Namespace) -> tuple[list[str], dict[str, Any]]:
    """The WHERE conditions and their parameters of ``--team``, ``--kind`` and
    ``--min-severity``: the same for the episodes and the alerts (both tables have the
    columns)."""
    conditions = ["severity IN {severities:Array(String)}"]
    parameters: dict[str, Any] = {"severities": _severities_from(args.min_severity)}
    if args.team:
        conditions.append("team_id = {team:String}")
        parameters["team"] = args.team
    if args.kind:
        conditions.append("kind = {kind:String}")
        parameters["kind"] = args.kind
    return conditions, parameters


def alerts_listing(
    episodes: Sequence[dict[str, Any]],
    alerts: Sequence[dict[str, Any]],
    colour: bool,
    episodes_kept: bool = True,
) -> list[str]:
    """What ``miroir alerts`` prints: the open episodes first (each problem once), then the
    recent alerts (every window's)."""
    from streams.runtime.follow import format_alert_row, format_episode_row

    lines: list[str] = []
    if episodes_kept:
        lines.append(f"open episodes ({len(episodes)}):" if episodes else "no open episodes")
        lines.extend(format_episode_row(row, colour) for row in episodes)
        lines.append("")
    if not alerts:
        lines.append("no alerts stored yet")
    else:
        lines.append(f"recent alerts ({len(alerts)}):")
        lines.extend(format_alert_row(row, colour) for row in alerts)
    return lines


def _follow(args: argparse.Namespace, kafka: KafkaConnection, topic: str) -> int:
    from schemas.codec import alert_to_json
    from streams.runtime.follow import follow_alerts, format_alert

    colour = _colour(args)

    severities = set(_severities_from(args.min_severity))

    def show(alert: Any) -> None:
        if args.team and alert.team_id != args.team:
            return
        if args.kind and alert.kind != args.kind:
            return
        if alert.severity in SEVERITIES and alert.severity not in severities:
            return
        print(
            json.dumps(alert_to_json(alert)) if args.json else format_alert(alert, colour),
            flush=True,
        )

    stop = threading.Event()
    try:
        follow_alerts(kafka, topic, show, stop, from_beginning=args.from_beginning)
    except KeyboardInterrupt:
        stop.set()
    return 0


def cmd_ack(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from streams.runtime.acks import find_episode, send_action
    from streams.settings import load_settings

    settings = load_settings()
    # Checked before any broker is asked: a too-long note fails at once.
    action = ack_action(args, team_id=args.team or "?", at_ms=int(time.time() * 1000))
    kafka = _require_kafka(settings)
    if args.team is None:
        print(f"ack: searching {settings.topic_alerts} for the episode…", file=sys.stderr)
        ref = find_episode(kafka, settings.topic_alerts, args.episode_id, args.timeout)
        action = replace(action, episode_id=ref.episode_id, team_id=ref.team_id)
    send_action(kafka, settings.actions_topic, action, args.timeout)
    print(describe_sent(action, settings.actions_topic))
    return 0


# What check_action names, as the command's own arguments.
_ACK_ARGUMENTS = {
    "actor": "--by",
    "note": "--note",
    "team_id": "--team",
    "episode_id": "EPISODE_ID",
}


def ack_action(args: argparse.Namespace, team_id: str, at_ms: int) -> EpisodeAction:
    """The action ``miroir ack`` publishes (a fresh random id), checked as the worker checks
    it; ConfigError naming the argument when it would be refused."""
    import uuid

    from schemas.codec import check_action
    from schemas.records import EpisodeAction
    from streams.errors import ConfigError

    action = EpisodeAction(
        action_id=uuid.uuid4().hex,
        team_id=team_id,
        episode_id=args.episode_id,
        action="resolve" if args.resolve else "ack",
        actor=args.by.strip(),
        at=at_ms,
        note=(args.note or "").strip() or None,
    )
    try:
        check_action(action)
    except ValueError as e:
        message = str(e)
        for field, argument in _ACK_ARGUMENTS.items():
            if message.startswith(field + " "):
                message = argument + message[len(field) :]
        raise ConfigError(f"ack: {message}") from e
    return action


def describe_sent(action: EpisodeAction, topic: str) -> str:
    """What ``miroir ack`` says it sent."""
    verb = "resolution" if action.action == "resolve" else "acknowledgement"
    text = (
        f"sent {verb} of episode {action.episode_id} (team {action.team_id}) by {action.actor}"
        + (f", note: {action.note}" if action.note else "")
        + f"\n  action {action.action_id} on {topic}; the worker answers with an "
        + ("'resolved'" if action.action == "resolve" else "'acknowledged'")
        + " event on the alerts topic (`miroir alerts -f` shows it)"
    )
    return text


def _severities_from(minimum: str) -> list[str]:
    return list(SEVERITIES[SEVERITIES.index(minimum) :])


def _count_lines(path: str) -> int:
    """Lines of a file (an upper bound of its events), read in large chunks: cheap next to
    replaying them."""
    try:
        with open(path, "rb") as lines:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: lines.read(1 << 20), b""))
    except OSError:
        return 0  # read_events reports the problem


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
    with _reader(settings) as reader:
        return reader.query(sql, parameters)


@contextmanager
def _reader(settings: Any) -> Iterator[ClickHouseSink]:
    """A read-only sink on the store, closed after use; ConfigError where nothing is stored."""
    from sinks.clickhouse import ClickHouseSink
    from streams.errors import ConfigError, SinkError

    sink = ClickHouseSink.from_settings(settings, read_only=True)
    store = sink.store_path
    if store is not None and not (store / "metadata").is_dir():
        # No chDB store here (a store always has its metadata directory): say so, and never
        # create one as a side effect of reading.
        raise ConfigError(NOTHING_STORED.format(where=store))
    sink.open()
    try:
        yield sink
    except SinkError as e:
        if "UNKNOWN_DATABASE" in str(e) or "Database " in str(e) and "does not exist" in str(e):
            raise ConfigError(NOTHING_STORED.format(where=settings.clickhouse_database)) from e
        raise
    finally:
        sink.close()


def _has_table(reader: ClickHouseSink, table: str) -> bool:
    _, rows = reader.query(
        "SELECT count() FROM system.tables WHERE database = currentDatabase() "
        "AND name = {table:String}",
        {"table": table},
    )
    return bool(rows and rows[0][0])


NOTHING_STORED = (
    "nothing stored here yet ({where}) — run `miroir demo` or point MIROIR_CLICKHOUSE_DSN at a "
    "store"
)


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
    from streams.core.redact import printable

    if isinstance(value, float):
        return f"{value:.2f}"
    return "NULL" if value is None else printable(str(value))


def _require_kafka(settings: Any) -> KafkaConnection:
    """The Kafka connection of ``settings``; ConfigError when MIROIR_KAFKA_BOOTSTRAP is unset."""
    from streams.kafka_config import KafkaConnection

    return KafkaConnection.from_settings(settings)


def _colour(args: argparse.Namespace) -> bool:
    return not getattr(args, "no_colour", False) and sys.stdout.isatty()


def cmd_teams(args: argparse.Namespace) -> int:
    from streams.settings import load_settings
    from streams.tools.teams_load import load_teams

    load_teams(load_settings(), args.csv, dry_run=args.dry_run)
    return 0


def cmd_web_user(args: argparse.Namespace) -> int:
    import getpass

    from streams.errors import ConfigError
    from streams.web.access import hash_password

    name = args.name.strip()
    if not name or any(c in name for c in ":,\n\r") or not name.isprintable():
        raise ConfigError("the name must be printable, without ':', ',' or line breaks")
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != password:
            raise ConfigError("the two passwords differ; nothing printed")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 12:
        raise ConfigError("use a password of at least 12 characters")
    print(f"{name}:{hash_password(password)}")
    return 0


COMMANDS = {
    "demo": cmd_demo,
    "worker": cmd_worker,
    "simulate": cmd_simulate,
    "replay": cmd_replay,
    "backfill": cmd_backfill,
    "evaluate": cmd_evaluate,
    "thresholds": cmd_thresholds,
    "alerts": cmd_alerts,
    "ack": cmd_ack,
    "query": cmd_query,
    "teams": cmd_teams,
    "web-user": cmd_web_user,
}
