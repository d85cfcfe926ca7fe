"""The ``miroir`` command's papercuts: version, help, flags named as flags, no store, progress."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas.records import EpisodeAction
from streams.cli import build_parser, main
from streams.errors import ConfigError
from streams.tools.progress import progress_line


@pytest.fixture
def empty_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no store, and no MIROIR_* variable pointing elsewhere."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("MIROIR_"):
            monkeypatch.delenv(name)
    return tmp_path


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("miroir 0.")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_option_of_every_command_has_help() -> None:
    missing = [
        f"{name} {'/'.join(action.option_strings) or action.dest}"
        for name, sub in _subparsers(build_parser()).items()
        for action in sub._actions
        if not isinstance(action, argparse._HelpAction) and not action.help
    ]
    assert missing == []


@pytest.mark.parametrize("command", [["query", "SELECT 1"], ["alerts"]])
def test_reading_where_nothing_is_stored_says_so_and_creates_nothing(
    command: list[str], empty_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(command) == 2
    error = capsys.readouterr().err
    assert "nothing stored here yet" in error
    assert "miroir demo" in error and "MIROIR_CLICKHOUSE_DSN" in error
    assert list(empty_dir.iterdir()) == []  # no .miroir/ as a side effect


def test_a_bad_flag_value_is_reported_under_the_flag(
    empty_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = empty_dir / "events.jsonl"
    events.write_text("")
    assert main(["replay", "--events", str(events), "--z-crit", "-1"]) == 2
    error = capsys.readouterr().err
    assert "--z-crit" in error and "MIROIR_Z_CRIT" not in error


def test_truth_without_an_events_file_is_refused(
    empty_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "declines.yaml"
    assert main(["simulate", "--scenario", str(scenario), "--truth", "truth.json"]) == 2
    assert "--to-file" in capsys.readouterr().err
    assert not (empty_dir / "truth.json").exists()


def test_progress_shows_totals_and_an_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("streams.tools.progress.time.monotonic", lambda: 110.0)
    assert progress_line("replay", 2_500, 10_000, started=100.0) == (
        "replay: 2,500/10,000 events (25%), 250/s, ETA 30 s"
    )
    assert progress_line("replay", 2_500, 0, started=100.0) == "replay: 2,500 events (250/s)"


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["demo", "--teams", "1"], "--teams"),
        (["demo", "--duration", "0"], "--duration"),
        (["simulate", "--windows", "0"], "--windows"),
        (["alerts", "--limit", "-5"], "--limit"),
    ],
)
def test_out_of_range_flags_are_refused_before_anything_starts(
    argv: list[str], flag: str, empty_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert f"argument {flag}" in capsys.readouterr().err
    assert list(empty_dir.iterdir()) == []


SMALL_SCENARIO = """\
name: cli-small
seed: 11
window_seconds: 86400
windows: 9
teams:
  - prefix: steady-
    count: 3
    employees: 30
    customers: 40
  - id: decline-01
    employees: 30
    customers: 40
    effects:
      - {kind: mirror_decline, start: 6, end: 8, magnitude: 0.35}
"""


@pytest.fixture
def small_run(empty_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    """EVENTS and TRUTH files of a small scenario with one strong mirror decline."""
    scenario = empty_dir / "small.yaml"
    scenario.write_text(SMALL_SCENARIO, encoding="utf-8")
    events, truth = empty_dir / "events.jsonl", empty_dir / "truth.json"
    argv = ["simulate", "--scenario", str(scenario), "--to-file", str(events)]
    assert main([*argv, "--truth", str(truth)]) == 0
    capsys.readouterr()
    return events, truth


def test_replay_json_prints_one_alert_object_per_line(
    small_run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    events, _ = small_run
    assert main(["replay", "--events", str(events), "--window", "86400", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    alerts = [json.loads(line) for line in lines]  # every line is one JSON object
    assert alerts and all(isinstance(a, dict) for a in alerts)
    assert all({"team_id", "kind", "window_start"} <= set(a) for a in alerts)
    assert ("decline-01", "mirror_decline") in {(a["team_id"], a["kind"]) for a in alerts}
    assert all(isinstance(a["window_start"], int) for a in alerts)  # epoch ms


def test_evaluate_json_prints_the_whole_report_as_one_object(
    small_run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    events, truth = small_run
    argv = ["evaluate", "--events", str(events), "--truth", str(truth), "--window", "86400"]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"kinds", "total"} <= set(report)  # the keys scripts already read
    assert {
        "steady_false_alerts",
        "recall_by_effect_size",
        "recall_by_team_size",
        "time_to_detection",
        "acceptance",
    } <= set(report)
    # 4 teams × 9 closed windows, minus the 2 planted ones
    assert report["steady_false_alerts"]["steady_team_windows"] == 34
    (item,) = report["time_to_detection"]["items"]
    assert (item["team_id"], item["detected"]) == ("decline-01", True)
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert text.startswith("kind ")
    assert "false alerts on steady team-windows" in text and "acceptance (issue 11)" in text


def test_thresholds_prints_the_false_alert_bound_and_the_thresholds_for_a_budget(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Defaults 3.5 / 2.85: 2 · (Φ(-3.5) + Φ(-2.85)) = 0.484 %; 500 teams: 2.42 a window.
    # A budget of 0.5 for 500 teams: 3.72 and 3.35 (tests/unit/test_multiplicity.py).
    assert main(["thresholds", "--teams", "500", "--false-alerts-per-window", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "at most 0.484%" in out and "at most 2.42 false alerts per window" in out
    assert "MIROIR_Z_CRIT=3.72 MIROIR_SEQUENTIAL_Z_CRIT=3.35" in out


def test_simulate_realistic_writes_a_generated_company_and_its_truth(tmp_path: Path) -> None:
    events, truth = tmp_path / "events.jsonl", tmp_path / "truth.json"
    argv = ["simulate", "--scenario", "realistic", "--seed", "5", "--teams", "10"]
    assert main([*argv, "--windows", "12", "--to-file", str(events), "--truth", str(truth)]) == 0
    items = json.loads(truth.read_text())
    teams = {json.loads(line)["value"]["team_id"] for line in events.read_text().splitlines()}
    assert len(teams) == 10
    assert items and all("effect_points" in item for item in items)


# -- episodes: miroir alerts lists them first, miroir ack acts on them ----------------------------

EPISODE_ID = "c055c57c" + "0" * 24


def test_ack_parses_its_arguments() -> None:
    args = build_parser().parse_args(
        ["ack", EPISODE_ID, "--by", "Dana", "--note", "on it", "--resolve", "--team", "t1"]
    )
    assert (args.episode_id, args.by, args.note, args.resolve, args.team, args.timeout) == (
        EPISODE_ID,
        "Dana",
        "on it",
        True,
        "t1",
        30.0,
    )
    plain = build_parser().parse_args(["ack", EPISODE_ID, "--by", "Dana"])
    assert (plain.resolve, plain.team, plain.note) == (False, None, None)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--by", "x" * 257], "--by must be 1 to 256 characters"),
        (["--by", "   "], "--by must be 1 to 256 characters"),
        (["--by", "Dana", "--note", "n" * 1001], "--note must be at most 1000 characters"),
        (["--by", "Dana"], "MIROIR_KAFKA_BOOTSTRAP is not set"),
    ],
)
def test_ack_refuses_clearly_before_asking_a_broker(
    argv: list[str], says: str, empty_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ack", EPISODE_ID, *argv]) == 2
    assert says in capsys.readouterr().err


def test_ack_finds_the_team_then_sends_and_says_what_it_sent(
    empty_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from streams.runtime import acks

    monkeypatch.setenv("MIROIR_KAFKA_BOOTSTRAP", "broker:9092")
    looked_up: list[tuple[str, str]] = []
    sent: list[tuple[str, EpisodeAction]] = []

    def find(bootstrap: str, topic: str, episode_id: str, timeout: float) -> acks.EpisodeRef:
        looked_up.append((topic, episode_id))
        return acks.EpisodeRef(EPISODE_ID, "decline")

    def send(bootstrap: str, topic: str, action: EpisodeAction, timeout: float) -> None:
        sent.append((topic, action))

    monkeypatch.setattr(acks, "find_episode", find)
    monkeypatch.setattr(acks, "send_action", send)
    assert main(["ack", "c055c57c", "--by", "Dana", "--note", "on it"]) == 0
    assert looked_up == [("mirror-alerts", "c055c57c")]  # a short id is found by its start
    ((topic, action),) = sent
    assert topic == "mirror-alerts-actions"
    assert (action.episode_id, action.team_id, action.action, action.actor, action.note) == (
        EPISODE_ID,
        "decline",
        "ack",
        "Dana",
        "on it",
    )
    out = capsys.readouterr().out
    assert f"sent acknowledgement of episode {EPISODE_ID} (team decline) by Dana" in out
    assert "'acknowledged' event" in out

    # With --team nothing is searched: the id is taken as given.
    assert main(["ack", EPISODE_ID, "--by", "Lee", "--resolve", "--team", "t1"]) == 0
    assert len(looked_up) == 1
    assert (sent[-1][1].action, sent[-1][1].team_id) == ("resolve", "t1")
    assert "sent resolution" in capsys.readouterr().out


def test_ack_says_when_the_episode_is_not_on_the_topic(
    empty_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from streams.runtime import acks

    monkeypatch.setenv("MIROIR_KAFKA_BOOTSTRAP", "broker:9092")

    def missing(*_: object) -> acks.EpisodeRef:
        raise acks.EpisodeLookupError("no record of the alerts topic names episode 'zz'")

    monkeypatch.setattr(acks, "find_episode", missing)
    assert main(["ack", "zz", "--by", "Dana"]) == 2
    assert "names episode 'zz'" in capsys.readouterr().err


def test_alerts_lists_the_open_episodes_first_then_every_alert() -> None:
    from streams.cli import alerts_listing

    episode = {
        "episode_id": EPISODE_ID,
        "team_id": "decline",
        "kind": "mirror_decline",
        "severity": "critical",
        "opened_window_start": datetime(2026, 1, 5, tzinfo=UTC),
        "alerts": 3,
        "acknowledged_by": "Dana",
    }
    alert = {
        "team_id": "decline",
        "kind": "mirror_decline",
        "severity": "critical",
        "window_start": datetime(2026, 1, 6, tzinfo=UTC),
        "message": "Both sides fell.",
        "episode_id": EPISODE_ID,
    }
    lines = alerts_listing([episode], [alert], colour=False)
    assert lines[0] == "open episodes (1):"
    assert lines[1] == (
        "CRITICAL mirror_decline  decline      opened 2026-01-05 00:00:00Z  3 alerts  "
        "episode c055c57c  acknowledged by Dana"
    )
    assert lines[3] == "recent alerts (1):"
    assert lines[4] == (
        "CRITICAL mirror_decline  decline      window 2026-01-06 00:00:00Z  [c055c57c]  "
        "Both sides fell."
    )
    assert alerts_listing([], [], colour=False) == ["no open episodes", "", "no alerts stored yet"]
    # A store from before episodes: the alerts alone, as before.
    assert alerts_listing([], [], colour=False, episodes_kept=False) == ["no alerts stored yet"]


def test_following_shows_each_record_as_its_episode_event() -> None:
    from schemas.records import MirrorAlert
    from streams.runtime.follow import format_alert

    alert = MirrorAlert(
        alert_id="a",
        team_id="decline",
        window_start=1_767_571_200_000,
        window_end=1_767_571_210_000,
        kind="mirror_decline",
        severity="critical",
        detector="mirror_change",
        detector_version="v1",
        message="Both sides fell.",
        created_at=0,
    )
    plain = format_alert(alert)
    assert plain.startswith("CRITICAL mirror_decline  decline      window 2026-01-05 00:00:00Z")
    opened = format_alert(replace(alert, event="opened", episode_id=EPISODE_ID))
    assert opened.startswith("OPENED       CRITICAL mirror_decline")
    assert opened.splitlines()[0].endswith("episode c055c57c")
    acknowledged = format_alert(
        replace(alert, event="acknowledged", episode_id=EPISODE_ID, actor="Dana", note="on it")
    )
    head, message, note = acknowledged.splitlines()
    assert head.startswith("ACKNOWLEDGED CRITICAL") and head.endswith("by Dana")
    assert note.strip() == "note: on it"


def test_backfill_database_flag_overrides_the_setting() -> None:
    from streams.cli import BACKFILL_OVERRIDES, _settings, build_parser

    args = build_parser().parse_args(["backfill", "--from", "2026-01-01", "--database", "trial"])
    assert _settings(args, BACKFILL_OVERRIDES).clickhouse_database == "trial"
    bad = build_parser().parse_args(["backfill", "--from", "2026-01-01", "--database", "x;y"])
    with pytest.raises(ConfigError, match="--database"):
        _settings(bad, BACKFILL_OVERRIDES)
