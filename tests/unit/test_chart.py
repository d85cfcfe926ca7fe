"""The team chart is plain SVG rendered from known series: points, gaps, markers, escaping."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from schemas.records import MirrorAlert
from streams.web.chart import (
    CUSTOMER_COLOUR,
    EMPLOYEE_COLOUR,
    SEVERITY_COLOURS,
    AlertMark,
    WindowPoint,
    render_chart,
)
from streams.web.describe import alert_payload, dimension_text, evidence_lines, team_path

SVG = "{http://www.w3.org/2000/svg}"
STEP = 10_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % STEP


def _points(employee: list[float | None], customer: list[float | None]) -> list[WindowPoint]:
    return [
        WindowPoint(T0 + i * STEP, c, e, employee_suppressed=e is None)
        for i, (e, c) in enumerate(zip(employee, customer, strict=True))
    ]


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg"
    return root


def _path(root: ET.Element, series: str) -> ET.Element | None:
    for path in root.iter(f"{SVG}path"):
        if path.get("data-series") == series:
            return path
    return None


def _segments(path: ET.Element) -> list[list[tuple[float, float]]]:
    segments: list[list[tuple[float, float]]] = []
    for command, x, y in re.findall(r"([ML])(-?[\d.]+),(-?[\d.]+)", path.get("d", "")):
        if command == "M":
            segments.append([])
        segments[-1].append((float(x), float(y)))
    return segments


def test_both_series_have_one_point_per_window_on_a_time_axis() -> None:
    points = _points([70, 71, 69, 60], [65, 66, 64, 55])
    root = _parse(render_chart(points))
    employee, customer = _path(root, "employee"), _path(root, "customer")
    assert employee is not None and customer is not None
    assert employee.get("stroke") == EMPLOYEE_COLOUR and customer.get("stroke") == CUSTOMER_COLOUR
    (e_line,) = _segments(employee)
    (c_line,) = _segments(customer)
    assert len(e_line) == len(c_line) == 4
    xs = [x for x, _ in e_line]
    assert xs == sorted(xs) and len(set(xs)) == 4
    steps = [b - a for a, b in zip(xs, xs[1:], strict=False)]
    assert max(steps) - min(steps) < 0.5  # evenly spaced windows, evenly spaced points
    assert [x for x, _ in c_line] == xs  # both sides of a window share its x
    # Higher index, higher on the page (smaller y); the drop of the last window shows.
    assert e_line[3][1] > e_line[0][1]
    assert e_line[0][1] < c_line[0][1]  # E above C when E > C
    circles = [c for c in root.iter(f"{SVG}circle") if "point-customer" in c.get("class", "")]
    assert len(circles) == 4


def test_points_are_sorted_and_a_missing_window_leaves_a_wider_step() -> None:
    points = [
        WindowPoint(T0 + 3 * STEP, 50.0, 55.0),
        WindowPoint(T0, 52.0, 56.0),
        WindowPoint(T0 + STEP, 51.0, 57.0),
    ]
    (line,) = _segments(_path(_parse(render_chart(points)), "customer"))  # type: ignore[arg-type]
    xs = [x for x, _ in line]
    assert xs == sorted(xs)
    assert abs((xs[2] - xs[1]) - 2 * (xs[1] - xs[0])) < 0.5


def test_suppressed_employee_windows_are_gaps_with_a_legend_note() -> None:
    points = _points([70, None, 68, 67, None], [60, 61, 62, 63, 64])
    svg = render_chart(points, k_anonymity=5)
    root = _parse(svg)
    employee_segments = _segments(_path(root, "employee"))  # type: ignore[arg-type]
    assert [len(s) for s in employee_segments] == [1, 2]  # broken at the suppressed window
    (customer_line,) = _segments(_path(root, "customer"))  # type: ignore[arg-type]
    assert len(customer_line) == 5  # the customer side is never hidden
    bands = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "suppressed"]
    assert [int(b.get("data-window", "0")) for b in bands] == [T0 + STEP, T0 + 4 * STEP]
    legend = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "fewer than 5 respondents" in legend
    # No employee value is drawn for a suppressed window, even one handed over by mistake.
    leaky = [WindowPoint(T0, 60.0, 12.3, employee_suppressed=True), *points[1:]]
    assert "12.3" not in render_chart(leaky)


def test_no_gap_note_without_suppressed_windows() -> None:
    svg = render_chart(_points([70, 71], [60, 61]), k_anonymity=5)
    assert "respondents" not in svg
    assert 'class="suppressed"' not in svg


def test_alert_markers_sit_on_their_windows_coloured_by_severity() -> None:
    points = _points([70, 71, 60], [65, 66, 55])
    marks = [
        AlertMark(T0 + 2 * STEP, "mirror_decline", "critical", "critical: mirror decline"),
        AlertMark(T0 + STEP, "symmetry_gap", "warning", "warning: symmetry gap"),
        AlertMark(T0 + 99 * STEP, "mirror_rise", "info", "outside the chart"),
    ]
    root = _parse(render_chart(points, marks))
    markers = [g for g in root.iter(f"{SVG}g") if g.get("class") == "alert-marker"]
    assert [(g.get("data-kind"), g.get("data-severity")) for g in markers] == [
        ("mirror_decline", "critical"),
        ("symmetry_gap", "warning"),
    ]
    (line,) = _segments(_path(root, "employee"))  # type: ignore[arg-type]
    for marker, point_index in zip(markers, (2, 1), strict=True):
        rule = marker.find(f"{SVG}line")
        assert rule is not None
        assert float(rule.get("x1", "0")) == line[point_index][0]
        assert rule.get("stroke") == SEVERITY_COLOURS[marker.get("data-severity", "")]
        assert marker.find(f"{SVG}title") is not None


def test_text_from_data_is_escaped() -> None:
    hostile = '<script>alert("x")</script> & "quotes"'
    points = _points([70, 60], [65, 55])
    marks = [AlertMark(T0 + STEP, '"><script>', "critical", hostile)]
    svg = render_chart(points, marks, title=f"Team {hostile}")
    assert "<script>" not in svg
    root = _parse(svg)
    assert root.findtext(f"{SVG}title") == f"Team {hostile}"
    (marker,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "alert-marker"]
    assert marker.get("data-kind") == '"><script>'
    assert marker.findtext(f"{SVG}title") == hostile


def test_empty_series_renders_a_message() -> None:
    root = _parse(render_chart([]))
    assert "No closed windows yet" in "".join(root.itertext())
    assert _path(root, "employee") is None


def test_flat_or_single_window_series_still_draw() -> None:
    root = _parse(render_chart(_points([50.0], [50.0])))
    (line,) = _segments(_path(root, "employee"))  # type: ignore[arg-type]
    assert len(line) == 1


def _alert(**changes: object) -> MirrorAlert:
    values: dict[str, object] = {
        "alert_id": "a1",
        "team_id": "team/ü 1",
        "window_start": T0,
        "window_end": T0 + STEP,
        "kind": "mirror_decline",
        "severity": "critical",
        "detector": "mirror_change",
        "detector_version": "1",
        "message": "Both sides fell.",
        "created_at": T0 + 2 * STEP,
        "dimension": "recognition/listened",
        "customer_n": 40,
        "employee_n": 12,
        "customer_index": 55.04,
        "employee_index": 58.0,
        "customer_baseline": 66.0,
        "employee_baseline": 70.0,
        "customer_delta": -10.96,
        "employee_delta": -12.0,
        "customer_z": -4.2,
        "employee_z": -3.9,
        "evidence": {"min_effect": 5.0, "z_crit": 3.5, "customer_baseline_windows": 4.0},
    }
    values.update(changes)
    return MirrorAlert(**values)  # type: ignore[arg-type]


def test_evidence_in_plain_words() -> None:
    lines = evidence_lines(_alert())
    assert lines[0] == (
        "Customers: n = 40, index C 55.0 against a baseline of 66.0 (4 previous windows) "
        "(−11.0 points, z = −4.2)."
    )
    assert lines[1].startswith("Employees: n = 12, index E 58.0 against a baseline of 70.0")
    assert "at least 5 points and |z| ≥ 3.5" in lines[2]
    hidden = evidence_lines(_alert(employee_n=None, employee_index=None, kind="outer_warning"))
    assert hidden[1] == "Employees: not shown (too few respondents for k-anonymity)."
    assert dimension_text("recognition/listened") == (
        "Dimension named: recognition/listened — employees on feeling their work is "
        "recognised, customers on feeling listened to and understood."
    )
    assert dimension_text("trust") is not None and "trust in their manager" in str(
        dimension_text("trust")
    )
    assert dimension_text(None) is None


def test_browser_payload_is_json_safe_and_links_the_team() -> None:
    payload = alert_payload(_alert(customer_z=float("nan"), evidence={"x": float("inf")}))
    assert payload["customer_z"] is None and payload["evidence"] == {"x": None}
    assert payload["team_url"] == team_path("team/ü 1") == "/teams/team%2F%C3%BC%201"
    assert payload["kind_label"] == "mirror decline"


# -- the live feed behind the page: bounded per client, replay for new connections ---------------
def test_live_hub_bounds_each_client_and_replays_recent_alerts() -> None:
    import asyncio

    from streams.web.live import RESYNC, AlertHub, HubFull

    async def scenario() -> None:
        hub = AlertHub(None, client_queue=3, replay=2, max_clients=2)
        slow, _ = hub.subscribe()
        for i in range(10):  # a browser that reads nothing cannot make the hub hold more
            hub.publish(_alert(alert_id=f"a{i}"))
        assert slow.queue.qsize() <= 3
        items = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
        assert RESYNC in items  # told to reload from ClickHouse instead
        assert slow.resyncs >= 1
        fresh, recent = hub.subscribe()
        assert [a.alert_id for a in recent] == ["a8", "a9"]  # the last `replay` alerts
        try:
            hub.subscribe()
        except HubFull:
            pass
        else:
            raise AssertionError("a third client got in past max_clients=2")
        hub.unsubscribe(slow)
        hub.publish(_alert(alert_id="late"))
        assert (await fresh.get()).alert_id == "late"  # type: ignore[union-attr]
        assert hub.status()["clients"] == 1
        await hub.stop()
        assert await fresh.get() == "close"

    asyncio.run(scenario())
