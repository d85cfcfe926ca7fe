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
