"""Alerts, episodes and incidents in plain words for the web pages: the named dimension, the
evidence (n per side, index, baseline, delta, z, thresholds), the event an alert-topic record is,
and the JSON a browser gets."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, Final
from urllib.parse import quote

from schemas.codec import alert_to_json
from schemas.records import MirrorAlert
from streams.core.episodes import Episode, family_of
from streams.web.store import StoredIncident

__all__ = [
    "EVENT_LABELS",
    "FAMILY_LABELS",
    "INCIDENT_KIND_PREFIX",
    "KIND_LABELS",
    "alert_payload",
    "dimension_text",
    "episode_path",
    "episode_payload",
    "event_label",
    "evidence_lines",
    "family_label",
    "incident_lines",
    "incident_path",
    "incident_payload",
    "kind_label",
    "record_family",
    "team_path",
    "unit_label",
]

KIND_LABELS: Final = {
    "mirror_decline": "mirror decline",
    "mirror_rise": "mirror rise",
    "inner_warning": "inner warning",
    "outer_warning": "outer warning",
    "symmetry_gap": "symmetry gap",
}

# An incident's family in words (its kind on the alerts topic is "incident_<family>").
FAMILY_LABELS: Final = {"fall": "decline", "rise": "rise", "gap": "symmetry gap"}
INCIDENT_KIND_PREFIX: Final = "incident_"

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
    if kind.startswith(INCIDENT_KIND_PREFIX):
        return family_label(kind.removeprefix(INCIDENT_KIND_PREFIX)) + " incident"
    return KIND_LABELS.get(kind, kind.replace("_", " "))


def family_label(family: str) -> str:
    """``"fall"`` -> ``"decline"``; a custom family is its own name."""
    return FAMILY_LABELS.get(family, family.replace("_", " "))


def record_family(alert: MirrorAlert) -> str:
    """The kind family an alerts-topic record is about: its episode's for a team record, its
    incident's for a unit record (kind ``incident_<family>``)."""
    if alert.scope != "team" and alert.kind.startswith(INCIDENT_KIND_PREFIX):
        return alert.kind.removeprefix(INCIDENT_KIND_PREFIX)
    return family_of(alert.kind)


def unit_label(level: str, unit_id: str) -> str:
    """``("department", "acme/d1")`` -> ``"department acme/d1"``."""
    return f"{level} {unit_id}" if level else unit_id


def team_path(team_id: str) -> str:
    """The URL path of a team's page (any team id, safely quoted)."""
    return "/teams/" + quote(team_id, safe="")


def event_label(event: str) -> str | None:
    """The badge of an episode event, or None for a plain alert."""
    return EVENT_LABELS.get(event)


def episode_path(episode_id: str) -> str:
    """The URL path of an episode's page (any id, safely quoted)."""
    return "/episodes/" + quote(episode_id, safe="")


def incident_path(incident_id: str) -> str:
    """The URL path of an incident's page (any id, safely quoted)."""
    return "/incidents/" + quote(incident_id, safe="")


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


def incident_lines(alert: MirrorAlert) -> list[str]:
    """The evidence of an incident's record: which teams, of how many the unit has."""
    if not alert.teams:
        return []
    line = f"Teams: {', '.join(alert.teams)}"
    unit_teams = alert.evidence.get("unit_teams")
    if unit_teams is not None and math.isfinite(unit_teams):
        line += f" ({len(alert.teams)} of the {unit_teams:.0f} teams of the {alert.scope})"
    return [line + "."]


def alert_payload(alert: MirrorAlert) -> dict[str, Any]:
    """The alert as JSON-safe values for a browser, with its plain-words texts and team link."""
    values = _finite(alert_to_json(alert))
    values["kind_label"] = kind_label(alert.kind)
    values["dimension_text"] = dimension_text(alert.dimension)
    # An acknowledgement or a resolution is not a window's measurement: its sentence says it all.
    about_a_window = alert.event not in ("acknowledged", "resolved")
    if alert.scope != "team":
        # An incident's figures are its teams, not one team's respondents.
        values["evidence_text"] = incident_lines(alert)
    else:
        values["evidence_text"] = evidence_lines(alert) if about_a_window else []
    values["team_url"] = team_path(alert.team_id)
    values["event_label"] = event_label(alert.event)
    values["episode_url"] = episode_path(alert.episode_id) if alert.episode_id else None
    values["family"] = record_family(alert)
    values["incident_url"] = incident_path(alert.incident_id) if alert.incident_id else None
    return values


def episode_payload(episode: Episode) -> dict[str, Any]:
    """The episode as JSON-safe values (times in epoch ms) with its links and kind label."""
    values = _finite(asdict(episode))
    values["kind_label"] = kind_label(episode.kind)
    values["team_url"] = team_path(episode.team_id)
    values["episode_url"] = episode_path(episode.episode_id)
    return values


def incident_payload(incident: StoredIncident) -> dict[str, Any]:
    """The incident as JSON-safe values (times in epoch ms) with its page, its unit in words and
    each affected team's page."""
    values = _finite(asdict(incident))
    values["teams"] = list(incident.teams)
    values["episode_ids"] = list(incident.episode_ids)
    values["kind_label"] = family_label(incident.family) + " incident"
    values["unit_label"] = unit_label(incident.level, incident.unit_id)
    values["incident_url"] = incident_path(incident.incident_id)
    values["team_urls"] = [team_path(team) for team in incident.teams]
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
