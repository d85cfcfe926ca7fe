"""Alerts and episodes in plain words for the web pages: the named dimension, the evidence (n per
side, index, baseline, delta, z, thresholds), the event an alert-topic record is, and the JSON a
browser gets."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, Final
from urllib.parse import quote

from schemas.codec import alert_to_json
from schemas.records import MirrorAlert
from streams.core.episodes import Episode

__all__ = [
    "EVENT_LABELS",
    "KIND_LABELS",
    "alert_payload",
    "dimension_text",
    "episode_path",
    "episode_payload",
    "event_label",
    "evidence_lines",
    "kind_label",
    "team_path",
]

KIND_LABELS: Final = {
    "mirror_decline": "mirror decline",
    "mirror_rise": "mirror rise",
    "inner_warning": "inner warning",
    "outer_warning": "outer warning",
    "symmetry_gap": "symmetry gap",
}

# What an alerts-topic record is in the life of its episode ("alert": a writer before episodes,
# or a row read back from mirror_alerts, which does not keep the event).
EVENT_LABELS: Final = {
    "opened": "opened",
    "updated": "updated",
    "escalated": "escalated",
    "resolved": "resolved",
    "acknowledged": "acknowledged",
}

# What each component of a mirrored pair asks, in the words of the surveys (DOMAIN.md).
_EMPLOYEE_WORDS: Final = {
    "trust": "trust in their manager and colleagues",
    "recognition": "feeling their work is recognised",
    "ambiance": "a friendly atmosphere at work",
    "empowerment": "being able to solve their customers' problems",
    "enps": "recommending the team as a place to work (eNPS)",
}
_CUSTOMER_WORDS: Final = {
    "trust": "trust and transparency",
    "listened": "feeling listened to and understood",
    "courtesy": "the courtesy of the person who served them",
    "ces": "how easy it was to get things done (CES)",
    "nps": "how likely they are to recommend (NPS)",
}
# Evidence keys already said in plain words elsewhere (the sides' figures, the thresholds).
_SAID: Final = frozenset(
    {
        "min_effect",
        "z_crit",
        "gap",
        "gap_threshold",
        "run_windows",
        "smallest_gap_in_run",
        "customer_baseline_windows",
        "employee_baseline_windows",
    }
)


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind.replace("_", " "))


def team_path(team_id: str) -> str:
    """The URL path of a team's page (any team id, safely quoted)."""
    return "/teams/" + quote(team_id, safe="")


def event_label(event: str) -> str | None:
    """The badge of an episode event, or None for a plain alert."""
    return EVENT_LABELS.get(event)


def episode_path(episode_id: str) -> str:
    """The URL path of an episode's page (any id, safely quoted)."""
    return "/episodes/" + quote(episode_id, safe="")


def dimension_text(dimension: str | None) -> str | None:
    """``"trust"`` -> a sentence naming what employees and customers were asked, or None."""
    if not dimension:
        return None
    employee, _, customer = dimension.partition("/")
    customer = customer or employee
    if employee not in _EMPLOYEE_WORDS or customer not in _CUSTOMER_WORDS:
        return f"Dimension named: {dimension}."
    return (
        f"Dimension named: {dimension} — employees on {_EMPLOYEE_WORDS[employee]}, "
        f"customers on {_CUSTOMER_WORDS[customer]}."
    )


def evidence_lines(alert: MirrorAlert) -> list[str]:
    """The evidence behind ``alert``, one short plain sentence per line."""
    evidence = alert.evidence
    lines = [
        _side_line(
            "Customers",
            "C",
            alert.customer_n,
            alert.customer_index,
            alert.customer_baseline,
            alert.customer_delta,
            alert.customer_z,
            evidence.get("customer_baseline_windows"),
        )
    ]
    if alert.employee_n is None:
        lines.append("Employees: not shown (too few respondents for k-anonymity).")
    else:
        lines.append(
            _side_line(
                "Employees",
                "E",
                alert.employee_n,
                alert.employee_index,
                alert.employee_baseline,
                alert.employee_delta,
                alert.employee_z,
                evidence.get("employee_baseline_windows"),
            )
        )
    if "gap" in evidence:
        run = evidence.get("run_windows")
        lines.append(
            f"Gap |E − C| = {abs(evidence['gap']):.1f} points"
            + (f" (threshold {evidence['gap_threshold']:g})" if "gap_threshold" in evidence else "")
            + (f" for {run:.0f} consecutive windows" if run is not None else "")
            + "."
        )
    if "min_effect" in evidence and "z_crit" in evidence:
        lines.append(
            f"A change counts when it is at least {evidence['min_effect']:g} points "
            f"and |z| ≥ {evidence['z_crit']:g}."
        )
    others = [f"{key} = {value:.3g}" for key, value in sorted(evidence.items()) if _other(key)]
    if others:
        lines.append("Other figures: " + ", ".join(others) + ".")
    return lines


def alert_payload(alert: MirrorAlert) -> dict[str, Any]:
    """The alert as JSON-safe values for a browser, with its plain-words texts and team link."""
    values = _finite(alert_to_json(alert))
    values["kind_label"] = kind_label(alert.kind)
    values["dimension_text"] = dimension_text(alert.dimension)
    # An acknowledgement or a resolution is not a window's measurement: its sentence says it all.
    about_a_window = alert.event not in ("acknowledged", "resolved")
    values["evidence_text"] = evidence_lines(alert) if about_a_window else []
    values["team_url"] = team_path(alert.team_id)
    values["event_label"] = event_label(alert.event)
    values["episode_url"] = episode_path(alert.episode_id) if alert.episode_id else None
    return values


def episode_payload(episode: Episode) -> dict[str, Any]:
    """The episode as JSON-safe values (times in epoch ms) with its links and kind label."""
    values = _finite(asdict(episode))
    values["kind_label"] = kind_label(episode.kind)
    values["team_url"] = team_path(episode.team_id)
    values["episode_url"] = episode_path(episode.episode_id)
    return values


def _side_line(
    who: str,
    letter: str,
    n: int | None,
    index: float | None,
    baseline: float | None,
    delta: float | None,
    z: float | None,
    windows: float | None,
) -> str:
    text = f"{who}: n = {n if n is not None else '?'}"
    if _number(index):
        text += f", index {letter} {index:.1f}"
    if _number(baseline):
        text += f" against a baseline of {baseline:.1f}"
        if _number(windows):
            text += f" ({windows:.0f} previous window{'s' if windows != 1 else ''})"
    figures = []
    if _number(delta):
        figures.append(f"{delta:+.1f} points".replace("-", "−"))
    if _number(z):
        figures.append(f"z = {z:+.1f}".replace("-", "−"))
    if figures:
        text += " (" + ", ".join(figures) + ")"
    return text + "."


def _other(key: str) -> bool:
    if key in _SAID:
        return False
    # Standard errors are behind the z values already shown.
    return not key.endswith("_se")


def _number(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _finite(values: Mapping[str, Any]) -> dict[str, Any]:
    """JSON has no NaN or infinity: such figures become null."""
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            clean[key] = None
        elif isinstance(value, Mapping):
            clean[key] = _finite(value)
        else:
            clean[key] = value
    return clean
