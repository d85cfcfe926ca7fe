"""The README must match the code: every setting documented, the detector example runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from schemas.records import CustomerFeedback, EmployeePulse
from streams.core.aggregate import WindowAggregate
from streams.core.metrics import compute_team_window
from streams.core.model import TeamWindowMetrics
from streams.detectors import DetectionSettings, Detector
from streams.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_readme_table() -> None:
    documented = set(re.findall(r"`(MIROIR_[A-Z0-9_]+)`", README))
    expected = {f"MIROIR_{name.upper()}" for name in Settings.model_fields}
    assert expected - documented == set()


def _window(team: str, start: int, trust: int, n: int = 30) -> TeamWindowMetrics:
    aggregate = WindowAggregate()
    for i in range(n):
        aggregate.add(
            CustomerFeedback(
                event_id=f"c{i}",
                occurred_at=start + i,
                team_id=team,
                channel="web",
                source="t",
                trust=trust if i % 3 else trust - 1,
            )
        )
        aggregate.add(
            EmployeePulse(
                event_id=f"e{i}",
                occurred_at=start + i,
                team_id=team,
                source="t",
                trust=4,
                enps=8 if i % 2 else 9,
            )
        )
    return compute_team_window(team, start, start + 1000, aggregate, k_anonymity=5)


def test_the_readme_detector_example_runs_and_fires() -> None:
    code = README.split("# my_detectors/trust_drop.py\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    detector = namespace["TrustDropDetector"]()
    assert isinstance(detector, Detector)
    history = [_window("t", i * 1000, trust=5) for i in range(3)]
    settings = DetectionSettings()
    assert detector.detect(_window("t", 3000, trust=5), history, settings) == []
    alerts = detector.detect(_window("t", 3000, trust=2), history, settings)
    assert [(a.kind, a.team_id, a.window_start) for a in alerts] == [
        ("customer_trust_drop", "t", 3000)
    ]


SCENARIOS_DOC = (Path(__file__).resolve().parents[2] / "docs" / "scenarios.md").read_text()


def test_the_scenario_docs_state_the_code_defaults() -> None:
    from streams.tools import scenario, simulator

    def default_of(key: str) -> str:
        match = re.search(rf"^\s*{key}:.*\(default ([^)]+)\)", SCENARIOS_DOC, re.MULTILINE)
        assert match, f"docs/scenarios.md gives no default for {key}"
        return match.group(1).split(")")[0].split(":")[0].strip()

    assert default_of("seed") == str(scenario.DEFAULT_SEED)
    assert default_of("employees") == str(scenario.DEFAULT_EMPLOYEES)
    assert default_of("customers") == str(scenario.DEFAULT_CUSTOMERS)
    assert float(default_of("magnitude")) == scenario.DEFAULT_EFFECT_MAGNITUDE
    assert float(default_of("noise")) == simulator.NOISE
    assert f"default {simulator.STEADY_LEVEL}" in SCENARIOS_DOC
    assert "default 2026-01-05T00:00:00Z" in SCENARIOS_DOC
    assert scenario.DEFAULT_SCENARIO_START_MS == 1_767_571_200_000  # 2026-01-05T00:00:00Z
    z_crit = Settings.model_fields["z_crit"].default
    min_effect = Settings.model_fields["min_effect"].default
    assert f"`MIROIR_Z_CRIT={z_crit:g}`" in SCENARIOS_DOC
    assert f"`MIROIR_MIN_EFFECT={min_effect:g}`" in SCENARIOS_DOC
