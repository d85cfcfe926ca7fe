"""HTML of the live page, the team index and the team pages (server-rendered, escaped).

No external assets: the stylesheet and scripts are served by the worker under ``/static/``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from urllib.parse import urlencode

from schemas.records import MirrorAlert
from streams.web.chart import WindowPoint, format_time
from streams.web.describe import KIND_LABELS, dimension_text, evidence_lines, kind_label, team_path
from streams.web.store import TeamsPage, TeamSummary

__all__ = ["live_page", "message_page", "team_page", "teams_index"]


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _page(
    title: str, body: str, *, script: str | None = None, attrs: Mapping[str, str] | None = None
) -> str:
    body_attrs = "".join(f' {name}="{_e(value)}"' for name, value in (attrs or {}).items())
    script_tag = f'<script src="/static/{script}" defer></script>' if script else ""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title>"
        '<link rel="stylesheet" href="/static/style.css">'
        f"{script_tag}</head><body{body_attrs}>"
        '<header class="top"><a class="brand" href="/">Miroir</a>'
        '<nav><a href="/">Live alerts</a><a href="/teams">Teams</a></nav>'
        '<span id="status" class="status" aria-live="polite"></span></header>'
        f"<main>{body}</main></body></html>\n"
    )


def live_page() -> str:
    """The live page: the alert list (filled and kept live by live.js) and the team finder."""
    kinds = "".join(
        f'<option value="{_e(kind)}">{_e(label)}</option>' for kind, label in KIND_LABELS.items()
    )
    body = (
        '<section class="alerts-panel"><h1>Live alerts</h1>'
        '<form class="filters" id="filters" role="search">'
        '<label>Team <input id="filter-team" type="search" placeholder="any team" '
        'autocomplete="off"></label>'
        f'<label>Kind <select id="filter-kind"><option value="">any kind</option>{kinds}'
        "</select></label>"
        '<span id="alert-count" class="muted"></span></form>'
        '<p id="alerts-empty" class="muted">No alerts yet. They appear here as windows close, '
        "newest first.</p>"
        '<ol id="alerts" class="alerts"></ol></section>'
        '<aside class="teams-panel"><h2>Teams</h2>'
        '<input id="team-search" type="search" placeholder="Search teams" autocomplete="off">'
        '<ul id="teams" class="teams"></ul>'
        '<div class="pager"><button type="button" id="teams-prev">Previous</button>'
        '<span id="teams-range" class="muted"></span>'
        '<button type="button" id="teams-next">Next</button></div></aside>'
    )
    return _page("Miroir — live alerts", body, script="live.js", attrs={"class": "live"})


def teams_index(page: TeamsPage, query: str) -> str:
    """The searchable, paginated team list (works without JavaScript)."""
    rows = "".join(_team_row(team) for team in page.teams) or (
        '<li class="muted">No team matches.</li>'
    )
    first = page.offset + 1 if page.teams else 0
    last = page.offset + len(page.teams)
    links = []
    if page.offset > 0:
        previous = urlencode({"q": query, "offset": max(0, page.offset - page.limit)})
        links.append(f'<a href="/teams?{_e(previous)}">Previous</a>')
    if last < page.total:
        following = urlencode({"q": query, "offset": last})
        links.append(f'<a href="/teams?{_e(following)}">Next</a>')
    body = (
        "<h1>Teams</h1>"
        '<form class="filters" method="get" action="/teams" role="search">'
        f'<input name="q" type="search" value="{_e(query)}" placeholder="Search teams">'
        '<button type="submit">Search</button></form>'
        f'<p class="muted">{first}–{last} of {page.total} teams, latest alerts first.</p>'
        f'<ul class="teams">{rows}</ul><div class="pager">{" ".join(links)}</div>'
    )
    return _page("Miroir — teams", body)


def _team_row(team: TeamSummary) -> str:
    latest = ""
    if team.latest_kind:
        severity = team.latest_severity or ""
        latest = f'<span class="badge sev-{_e(severity)}">{_e(kind_label(team.latest_kind))}</span>'
    return (
        f'<li><a href="{_e(team_path(team.team_id))}">{_e(team.team_id)}</a> {latest}'
        f'<span class="muted"> {team.alerts} alert{"s" if team.alerts != 1 else ""}, '
        f"{team.windows} windows</span></li>"
    )


def team_page(
    team_id: str,
    chart_svg: str,
    points: Sequence[WindowPoint],
    alerts: Sequence[MirrorAlert],
    k_anonymity: int,
) -> str:
    """One team: E and C over its recent windows, and its alerts in plain words."""
    step = _step(points)
    latest = points[-1] if points else None
    summary = ""
    if latest is not None:
        employee = (
            f"{latest.employee_index:.1f}"
            if latest.employee_index is not None and not latest.employee_suppressed
            else f"hidden (fewer than {k_anonymity} respondents)"
        )
        customer = f"{latest.customer_index:.1f}" if latest.customer_index is not None else "—"
        summary = (
            f'<p class="summary">Latest window {_e(format_time(latest.window_start, step))} UTC: '
            f"employee index E {_e(employee)}, customer index C {_e(customer)}. "
            f"{len(points)} windows shown.</p>"
        )
    body = (
        f'<h1>Team <span class="team-id">{_e(team_id)}</span></h1>{summary}'
        f'<figure class="chart">{chart_svg}<figcaption class="muted">'
        "E: what the team's own people say (pulse surveys); C: what its customers say. "
        f"Both 0–100. A gap in E means fewer than {k_anonymity} respondents answered in that "
        "window (k-anonymity): the employee side is never shown then. Markers are alerts. "
        "Co-movement, not causation.</figcaption></figure>"
        f'<p id="team-news" class="news" hidden><a href="">New alert for this team: reload</a></p>'
        f"<h2>Alerts</h2>{_alerts_table(alerts, step)}"
    )
    return _page(f"Miroir — team {team_id}", body, script="team.js", attrs={"data-team": team_id})


def _alerts_table(alerts: Sequence[MirrorAlert], step: int | None) -> str:
    if not alerts:
        return '<p class="muted">No alert in these windows.</p>'
    rows = []
    for alert in alerts:
        dimension = dimension_text(alert.dimension) or "No paired dimension named."
        evidence = "".join(f"<li>{_e(line)}</li>" for line in evidence_lines(alert))
        rows.append(
            f'<tr class="alert-row sev-{_e(alert.severity)}" data-kind="{_e(alert.kind)}" '
            f'data-alert-id="{_e(alert.alert_id)}">'
            f"<td>{_e(format_time(alert.window_start, step))} UTC</td>"
            f'<td><span class="badge sev-{_e(alert.severity)}">{_e(alert.severity)}</span> '
            f"{_e(kind_label(alert.kind))}</td>"
            f'<td><p class="message">{_e(alert.message)}</p>'
            f'<p class="dimension">{_e(dimension)}</p><ul class="evidence">{evidence}</ul></td>'
            "</tr>"
        )
    return (
        '<table class="alerts-table"><thead><tr><th>Window</th><th>Alert</th>'
        f"<th>In plain words</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _step(points: Sequence[WindowPoint]) -> int | None:
    steps = [b.window_start - a.window_start for a, b in zip(points, points[1:], strict=False)]
    return min((s for s in steps if s > 0), default=None)


def message_page(title: str, text: str) -> str:
    """A plain page for errors (not found, store unavailable)."""
    return _page(f"Miroir — {title}", f"<h1>{_e(title)}</h1><p>{_e(text)}</p>")
