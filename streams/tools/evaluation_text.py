"""The evaluation report as aligned text: the tables `miroir evaluate` and the benchmark print.

docs/evaluation.md explains each figure; ``streams.tools.evaluation_report`` computes them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Final

from streams.tools.evaluate import format_table
from streams.tools.evaluation_report import (
    CUSTOMER_ONLY_KINDS,
    DEADLINE_WINDOWS,
    MAX_FALSE_ALERT_RATE,
    TARGET_EFFECT_POINTS,
    TARGET_EMPLOYEE_RESPONDENTS,
    Acceptance,
    BucketRecall,
    DelaySummary,
    EvaluationReport,
    IncidentFigures,
    ItemDetection,
    SteadyFalseAlerts,
    share,
)

__all__ = [
    "format_acceptance",
    "format_incidents",
    "format_recall_buckets",
    "format_report",
    "format_steady",
    "format_time_to_detection",
]


_LATE_SHOWN: Final = 10  # late or missed targeted items listed by name; the rest are counted
_FALSE_SHOWN: Final = 10  # false incidents listed; the rest are counted
_OUTCOME_TEXT: Final = {
    "found": "found",
    "split": "found, split",
    "late": "late",
    "wrong_unit": "wrong unit",
    "several": "several",
    "missed": "missed",
}


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _aligned(
    header: Sequence[str],
    body: Sequence[Sequence[str]],
    text_columns: int = 1,
    left: Collection[int] = (),
) -> list[str]:
    """A table like format_table's: the first ``text_columns`` and the ``left`` columns
    left-aligned, the numbers right-aligned under their header, a rule under the header."""
    widths = [max(len(line[i]) for line in (header, *body)) for i in range(len(header))]

    def render(cells: Sequence[str]) -> str:
        padded = (
            cell.ljust(width) if column < text_columns or column in left else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        return "  ".join(padded).rstrip()

    return [render(header), "  ".join("-" * width for width in widths), *map(render, body)]


def _when(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def format_steady(steady: SteadyFalseAlerts) -> str:
    labels = ("steady team-windows", "with at least one alert", "false alerts on them", "rate")
    values = (
        f"{steady.steady_windows:,}",
        f"{steady.windows_with_alert:,}",
        f"{steady.false_alerts:,}",
        _percent(steady.rate),
    )
    label_width = max(map(len, labels))
    value_width = max(map(len, values))
    lines = [
        f"  {label.ljust(label_width)}  {value.rjust(value_width)}"
        for label, value in zip(labels, values, strict=True)
    ]
    lines[-1] += f"  (target <= {MAX_FALSE_ALERT_RATE:.2%})"
    title = "false alerts on steady team-windows (no truth item of the team overlaps the window)"
    return "\n".join([title, *lines])


def format_recall_buckets(title: str, column: str, rows: Sequence[BucketRecall]) -> str:
    deadline = f"<={DEADLINE_WINDOWS} windows"
    header = (column, "truth", "detected", "recall", deadline, f"recall <={DEADLINE_WINDOWS}")
    body = [
        (
            row.bucket,
            str(row.truth_items),
            str(row.detected),
            _ratio(row.recall),
            str(row.within_deadline),
            _ratio(row.recall_within_deadline),
        )
        for row in rows
    ]
    return "\n".join([title, *_aligned(header, body)])


def format_time_to_detection(
    summaries: Sequence[DelaySummary], detections: Sequence[ItemDetection] = ()
) -> str:
    """The summary per kind; with ``detections``, one line per truth item after it."""
    deadline = f"<={DEADLINE_WINDOWS} windows"
    header = ("kind", "truth", "detected", "median", "max", deadline, "of detected", "of items")
    body = [
        (
            row.kind,
            str(row.truth_items),
            str(row.detected),
            "-" if row.median_windows is None else f"{row.median_windows:g}",
            "-" if row.max_windows is None else str(row.max_windows),
            str(row.within_deadline),
            _ratio(row.share_of_detected),
            _ratio(row.share_of_items),
        )
        for row in summaries
    ]
    title = "time to detection (windows from the onset to the first matching alert; 0 = onset)"
    lines = [title, *_aligned(header, body)]
    if detections:
        item_header = ("team", "kind", "onset (UTC)", "effect", "employees", "windows")
        items = [
            (
                d.item.team_id,
                d.item.kind,
                _when(d.item.start),
                "-" if d.item.effect_points is None else f"{d.item.effect_points:.2f}",
                "-"
                if d.item.employee_respondents is None
                else f"{d.item.employee_respondents:.1f}",
                "missed" if d.windows_to_detection is None else str(d.windows_to_detection),
            )
            for d in detections
        ]
        lines += ["", "per truth item", *_aligned(item_header, items, text_columns=3)]
    return "\n".join(lines)


def _verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "N/A "}[passed]


def format_acceptance(acceptance: Acceptance) -> str:
    steady = acceptance.steady
    target = f"target <= {MAX_FALSE_ALERT_RATE:.2%}"
    if steady.rate is None:
        rate_line = f"no steady team-window: the false-alert rate cannot be measured ({target})"
    else:
        rate_line = (
            f"false alerts on {steady.windows_with_alert:,} of {steady.steady_windows:,} steady "
            f"team-windows = {steady.rate:.2%} ({target})"
        )
    targeted = len(acceptance.targeted)
    condition = (
        f"effect >= {TARGET_EFFECT_POINTS} points and, except {', '.join(CUSTOMER_ONLY_KINDS)}, "
        f">= {TARGET_EMPLOYEE_RESPONDENTS} employee respondents per window"
    )
    within = targeted - len(acceptance.late_or_missed)
    detection_line = (
        f"{within} of {targeted} targeted truth items detected within {DEADLINE_WINDOWS} "
        f"windows of their onset (target: all)"
        if targeted
        else "no targeted truth item (none with a known effect and team size over the target)"
    )
    lines = [
        "acceptance (issue 11)",
        f"{_verdict(acceptance.false_alerts_passed)}  {rate_line}",
        f"{_verdict(acceptance.detection_passed)}  {detection_line}",
        f"      targeted: {condition}",
    ]
    for d in acceptance.late_or_missed[:_LATE_SHOWN]:
        when = "missed" if d.windows_to_detection is None else f"{d.windows_to_detection} windows"
        lines.append(
            f"      late or missed: {d.item.team_id} {d.item.kind} {_when(d.item.start)} ({when})"
        )
    if len(acceptance.late_or_missed) > _LATE_SHOWN:
        lines.append(f"      ... and {len(acceptance.late_or_missed) - _LATE_SHOWN} more")
    others = acceptance.others
    detected = sum(1 for d in others if d.detected)
    in_time = sum(1 for d in others if d.within())
    lines.append(
        f"      outside the target (no target): {len(others)} truth items, {detected} detected "
        f"({_ratio(share(detected, len(others)))}), {in_time} within {DEADLINE_WINDOWS} windows "
        f"({_ratio(share(in_time, len(others)))})"
    )
    lines.append(f"{_verdict(acceptance.passed)}  overall")
    return "\n".join(lines)


def format_incidents(figures: IncidentFigures) -> str:
    """One line per planted shock, then the counts and the false incidents."""
    title = (
        "incidents (shared shocks: one incident at the shock's unit, opened in its first window)"
    )
    lines = [title]
    if figures.shocks:
        header = (
            "unit",
            "level",
            "kind",
            "onset (UTC)",
            "teams",
            "outcome",
            "incident at (+windows)",
            "covered",
            "team pages",
        )
        body = [
            (
                d.shock.unit_id,
                d.shock.level,
                d.shock.kind,
                _when(d.shock.start),
                str(len(d.shock.teams)),
                _OUTCOME_TEXT[d.outcome],
                ", ".join(f"{i.unit_id} +{d.windows_after_onset(i)}" for i in d.incidents) or "-",
                f"{d.covered} of {len(d.shock.teams)}",
                str(d.team_pages),
            )
            for d in figures.shocks
        ]
        lines += _aligned(header, body, text_columns=4, left=(5, 6))
        paged = sum(d.paged_teams for d in figures.shocks)
        split = sum(1 for d in figures.shocks if d.outcome == "split")
        lines += [
            f"  found: {figures.found} of {len(figures.shocks)} shocks (exactly one incident "
            "opened in the shock's first window, at its unit)"
            + (f"; {split} split: more incidents of it opened later" if split else ""),
            f"  team pages from the shocks' teams during their shocks: "
            f"{figures.shock_team_pages} ({paged} teams)",
        ]
    else:
        lines.append("  no shock planted")
    rate = "" if figures.false_rate is None else f" = {figures.false_rate:.2%}"
    elsewhere = len(figures.false_incidents) - figures.false_on_steady
    lines.append(
        f"  false incidents: {figures.false_on_steady} on {figures.steady_unit_windows:,} steady "
        f"unit-windows{rate}" + (f", {elsewhere} more during a shock" if elsewhere else "")
    )
    for incident in figures.false_incidents[:_FALSE_SHOWN]:
        lines.append(
            f"      false incident: {incident.unit_id} {incident.family} "
            f"{_when(incident.opened_window_start)} ({len(incident.teams)} teams)"
        )
    if len(figures.false_incidents) > _FALSE_SHOWN:
        lines.append(f"      ... and {len(figures.false_incidents) - _FALSE_SHOWN} more")
    lines.append(
        f"  all: {figures.incidents_opened} incidents opened, {figures.team_pages:,} team pages, "
        f"{figures.unit_windows:,} unit-windows"
    )
    return "\n".join(lines)


def format_report(report: EvaluationReport, *, items: bool = True) -> str:
    """The per-kind table, then each section of the report; ``items``: list every truth item's
    time to detection too (long for a pooled benchmark)."""
    sections = [
        format_table(report.evaluation),
        format_steady(report.steady),
        format_recall_buckets(
            "recall by effect size (points on a 1-5 scale)", "effect", report.by_effect_size
        ),
        format_recall_buckets(
            "recall by team size (employee respondents per window)",
            "employees",
            report.by_team_size,
        ),
        format_time_to_detection(report.delays, report.detections if items else ()),
        format_acceptance(report.acceptance),
    ]
    if report.incidents is not None:
        sections.append(format_incidents(report.incidents))
    return "\n\n".join(sections)
