"""The shipped scenarios, replayed: the detectors find what was planted and little else."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.codec import record_to_json, topic_of
from streams.settings import load_settings
from streams.tools.evaluate import evaluate
from streams.tools.replay import replay
from streams.tools.scenario import Scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "examples" / "scenarios"


def _evaluate(name: str):
    scenario = Scenario.load(SCENARIOS / f"{name}.yaml")
    settings = load_settings()
    window_ms = scenario.window_ms(settings.window_ms)
    lateness_ms = scenario.allowed_lateness_ms(settings.allowed_lateness_ms)
    settings = settings.model_copy(
        update={"window_seconds": window_ms / 1000, "allowed_lateness_seconds": lateness_ms / 1000}
    )
    events = ((topic_of(r), record_to_json(r)) for r in scenario.events(window_ms, lateness_ms))
    result = replay(events, settings)
    return evaluate(result.alerts, scenario.truth(window_ms)), result


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        ("declines", ["mirror_decline"]),
        ("inner-then-outer", ["inner_warning", "mirror_decline"]),
        ("outer", ["outer_warning"]),
    ],
)
def test_planted_effects_are_found_with_precision_and_recall_of_at_least_0_9(name, kinds) -> None:
    evaluation, _ = _evaluate(name)
    for kind in kinds:
        row = evaluation.row(kind)
        assert row.recall is not None and row.recall >= 0.9, row
        assert row.precision is not None and row.precision >= 0.9, row


def test_steady_teams_raise_at_most_one_percent_false_alerts() -> None:
    evaluation, result = _evaluate("steady")
    assert len(result.windows) >= 1000
    assert evaluation.total.alerts <= 0.01 * len(result.windows)
