"""HTML of the live page, the team index, the team pages, the episode pages and the incident
pages (server-rendered, escaped).

No external assets: the stylesheet and scripts are served by the worker under ``/static/``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from urllib.parse import urlencode

from schemas.records import MAX_IDENTIFIER_CHARS, MAX_NOTE_CHARS, MirrorAlert
from streams.core.episodes import Episode
from streams.web.chart import WindowPoint, format_time
from streams.web.describe import (
    KIND_LABELS,
    dimension_text,
    episode_path,
    evidence_lines,
    family_label,
    incident_path,
    kind_label,
    team_path,
    unit_label,
)
from streams.web.store import (
    EpisodeHistory,
    IncidentDetail,
    StoredIncident,
    TeamsPage,
    TeamSummary,
    UnitWindowPoint,
)

__all__ = [
    "action_sent_page",
    "episode_page",
    "incident_page",
    "live_page",
    "message_page",
    "team_page",
    "teams_index",
]


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
    """The live page: the open incidents, the open episodes and the alert list (all filled and
    kept live by live.js), and the team finder."""
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
        # One card per incident: many teams of one unit with one problem, above their episodes.
        '<section class="incidents-panel" aria-labelledby="incidents-title">'
        '<h2 id="incidents-title">Incidents <span id="incident-count" class="muted"></span>'
        "</h2>"
        '<p id="incidents-empty" class="muted">No open incident.</p>'
        '<ol id="incidents" class="incidents"></ol></section>'
        # One card per episode: a problem that lasts many windows shows once, above the list
        # of every window's alert.
        '<section class="episodes-panel" aria-labelledby="episodes-title">'
        '<h2 id="episodes-title">Open episodes <span id="episode-count" class="muted"></span>'
        "</h2>"
        '<p id="episodes-empty" class="muted">No open episode.</p>'
        '<ol id="episodes" class="episodes"></ol></section>'
        '<h2 class="alerts-title">Alerts</h2>'
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


def episode_page(
    history: EpisodeHistory, incident: StoredIncident | None = None, *, actor: str | None = None
) -> str:
    """One episode: what it is and where it stands (and the incident it is part of, if any), the
    forms to acknowledge or resolve it, and its history (every window's alert, oldest first).
    ``actor``: the signed-in user the worker records as acting (the forms show it, fixed),
    or None when the form's name is what gets recorded."""
    episode = history.episode
    state = "open" if episode.state == "open" else "resolved"
    body = (
        f'<h1>Episode <span class="episode-id">{_e(episode.episode_id)}</span></h1>'
        f"{_episode_facts(episode, incident)}"
        f"{_episode_forms(episode, actor) if state == 'open' else _resolved_note(episode)}"
        f"<h2>History</h2>{_history_table(history.alerts)}"
    )
    return _page(
        f"Miroir — episode of team {episode.team_id}",
        body,
        script="episode.js",
        attrs={"data-episode-id": episode.episode_id, "data-state": state},
    )


def _episode_facts(episode: Episode, incident: StoredIncident | None = None) -> str:
    severity = _e(episode.severity)
    acknowledged = "not yet"
    if episode.acknowledged_by:
        acknowledged = f"by {episode.acknowledged_by}"
        if episode.acknowledged_at is not None:
            acknowledged += f" at {_moment(episode.acknowledged_at)} UTC"
    facts = [
        ("Team", f'<a href="{_e(team_path(episode.team_id))}">{_e(episode.team_id)}</a>'),
        (
            "Problem",
            f'<span class="badge sev-{severity}">{severity}</span> '
            f"{_e(kind_label(episode.kind))} ({_e(episode.family)})",
        ),
        ("State", f'<span data-field="state">{_e(episode.state)}</span>'),
        ("Opened", f"window {_e(_moment(episode.opened_window_start))} UTC"),
        ("Latest alert", f"window {_e(_moment(episode.last_alert_window_start))} UTC"),
        ("Alerts", f"{episode.alerts} window{'s' if episode.alerts != 1 else ''}"),
        ("Quiet windows since", str(episode.quiet_windows)),
        ("Largest moves", _e(_peaks(episode))),
        ("Acknowledged", f'<span data-field="acknowledged">{_e(acknowledged)}</span>'),
    ]
    if incident is not None:
        facts.insert(
            2,
            (
                "Part of incident",
                f'<a class="incident-link" href="{_e(incident_path(incident.incident_id))}">'
                f"at {_e(unit_label(incident.level, incident.unit_id))}</a> "
                f'<span class="muted">({_e(_teams_text(incident))}, {_e(incident.state)})</span>',
            ),
        )
    if episode.resolved_by:
        facts.append(("Resolved by hand", _e(episode.resolved_by)))
    facts.append(("Note", f'<span data-field="note">{_e(episode.note or "—")}</span>'))
    rows = "".join(f"<dt>{_e(name)}</dt><dd>{value}</dd>" for name, value in facts)
    return f'<dl class="episode-facts sev-{severity}">{rows}</dl>'


def _peaks(episode: Episode) -> str:
    sides = [
        f"{name} {delta:+.1f} points".replace("-", "−")
        for name, delta in (
            ("customers C", episode.peak_customer_delta),
            ("employees E", episode.peak_employee_delta),
        )
        if delta is not None
    ]
    return ", ".join(sides) or "—"


def _episode_forms(episode: Episode, actor: str | None) -> str:
    path = _e(episode_path(episode.episode_id))
    if actor:
        # The worker records the signed-in user whatever the field says: show it, fixed.
        who = f'<label>Signed in as <input name="by" value="{_e(actor)}" readonly></label>'
    else:
        who = (
            f'<label>Your name <input name="by" required maxlength="{MAX_IDENTIFIER_CHARS}" '
            'autocomplete="name"></label>'
        )
    forms = []
    for verb, button, hint in (
        ("ack", "Acknowledge", "Someone is on it (no page is sent)."),
        ("resolve", "Resolve", "Close it by hand (a page is sent); a new alert opens a new one."),
    ):
        forms.append(
            f'<form class="episode-action" id="{verb}-form" method="post" '
            f'action="/api{path}/{verb}"><fieldset><legend>{button}</legend>{who}'
            f'<label>Note <input name="note" maxlength="{MAX_NOTE_CHARS}" '
            'placeholder="optional"></label>'
            f'<button type="submit">{button}</button>'
            f'<span class="muted">{_e(hint)}</span></fieldset></form>'
        )
    return (
        f'<section class="episode-actions">{"".join(forms)}'
        '<p id="action-status" class="news" aria-live="polite" hidden></p></section>'
    )


def _resolved_note(episode: Episode) -> str:
    who = f"by hand by {episode.resolved_by}" if episode.resolved_by else "after quiet windows"
    return (
        f'<p class="muted">This episode is resolved ({_e(who)}). A new alert of its family '
        "opens a new episode.</p>"
    )


def _history_table(alerts: Sequence[MirrorAlert]) -> str:
    if not alerts:
        return '<p class="muted">No alert of this episode is stored yet.</p>'
    rows = "".join(
        f'<tr class="alert-row sev-{_e(alert.severity)}" data-alert-id="{_e(alert.alert_id)}">'
        f"<td>{_e(_moment(alert.window_start))} UTC</td>"
        f'<td><span class="badge sev-{_e(alert.severity)}">{_e(alert.severity)}</span> '
        f"{_e(kind_label(alert.kind))}</td>"
        f'<td class="number">{_e(_delta(alert.customer_delta))}</td>'
        f'<td class="number">{_e(_delta(alert.employee_delta))}</td>'
        f'<td><p class="message">{_e(alert.message)}</p></td></tr>'
        for alert in alerts
    )
    return (
        '<table class="alerts-table history"><thead><tr><th>Window</th><th>Alert</th>'
        "<th>C Δ</th><th>E Δ</th><th>In plain words</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _delta(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1f}".replace("-", "−")


def _moment(epoch_ms: int) -> str:
    """Date and time: an episode may span days, so its page never shows a time alone."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def incident_page(
    detail: IncidentDetail,
    windows: Sequence[UnitWindowPoint],
    k_anonymity: int,
) -> str:
    """One incident: its unit and problem, the affected teams with their episodes, and the
    unit's C and E over recent windows (E only where it may be shown)."""
    incident = detail.incident
    severity = _e(incident.severity)
    unit = unit_label(incident.level, incident.unit_id)
    facts = [
        ("Unit", f'<span class="unit">{_e(unit)}</span>'),
        (
            "Problem",
            f'<span class="badge sev-{severity}">{severity}</span> '
            f"{_e(family_label(incident.family))} ({_e(incident.family)})",
        ),
        ("State", f'<span data-field="state">{_e(incident.state)}</span>'),
        ("Opened", f"window {_e(_moment(incident.opened_window_start))} UTC"),
        ("Latest change", f"window ending {_e(_moment(incident.last_window_end))} UTC"),
        ("Teams", _e(_teams_text(incident))),
    ]
    rows = "".join(f"<dt>{_e(name)}</dt><dd>{value}</dd>" for name, value in facts)
    state_note = (
        "Their episodes are followed here rather than paged one by one; the incident resolves "
        "when all of them have."
        if incident.state == "open"
        else "Resolved: the episodes of all its teams have resolved."
    )
    body = (
        f'<h1>Incident at <span class="unit">{_e(unit)}</span></h1>'
        f'<dl class="episode-facts incident-facts sev-{severity}">{rows}</dl>'
        f'<p class="muted">{_e(state_note)} Many teams of one unit moving together in the same '
        "window is usually a shared shock (a reorganisation, an outage, a product change). "
        "Co-movement, not causation.</p>"
        f"<h2>Affected teams</h2>{_incident_teams_table(detail)}"
        f"<h2>The {_e(incident.level or 'unit')} over recent windows</h2>"
        f"{_unit_windows_table(windows, incident, k_anonymity)}"
    )
    return _page(
        f"Miroir — incident at {unit}",
        body,
        attrs={"data-incident-id": incident.incident_id, "data-state": incident.state},
    )


def _teams_text(incident: StoredIncident) -> str:
    """``"3 of 6 teams"``: affected teams of the teams reporting in the opening window."""
    return f"{len(incident.teams)} of {incident.unit_teams} teams"


def _incident_teams_table(detail: IncidentDetail) -> str:
    incident = detail.incident
    if not incident.teams:
        return '<p class="muted">No team is listed.</p>'
    rows = []
    for team, episode_id in zip(incident.teams, incident.episode_ids, strict=False):
        episode = detail.episode_of(team)
        link = f'<a class="team" href="{_e(team_path(team))}">{_e(team)}</a>'
        if episode is None:
            rows.append(
                f'<tr class="incident-team" data-team="{_e(team)}">'
                f"<td>{link}</td>"
                f'<td colspan="4"><a class="episode-link" href="{_e(episode_path(episode_id))}">'
                f'episode <span class="episode-id">{_e(episode_id[:8])}</span></a> '
                '<span class="muted">(not stored yet)</span></td></tr>'
            )
            continue
        severity = _e(episode.severity)
        acknowledged = (
            f"acknowledged by {episode.acknowledged_by}" if episode.acknowledged_by else ""
        )
        rows.append(
            f'<tr class="incident-team alert-row sev-{severity}" data-team="{_e(team)}" '
            f'data-episode-id="{_e(episode.episode_id)}">'
            f"<td>{link}</td>"
            f'<td><a class="episode-link" href="{_e(episode_path(episode.episode_id))}">'
            f'episode <span class="episode-id">{_e(episode.episode_id[:8])}</span></a></td>'
            f'<td><span class="badge sev-{severity}">{severity}</span> '
            f"{_e(kind_label(episode.kind))}</td>"
            f'<td class="episode-state">{_e(episode.state)}; {episode.alerts} '
            f"alert{'s' if episode.alerts != 1 else ''}; opened "
            f"{_e(_moment(episode.opened_window_start))} UTC</td>"
            f'<td class="muted">{_e(acknowledged)}</td></tr>'
        )
    return (
        '<table class="alerts-table incident-teams"><thead><tr><th>Team</th><th>Episode</th>'
        "<th>Problem</th><th>Where it stands</th><th></th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _unit_windows_table(
    windows: Sequence[UnitWindowPoint], incident: StoredIncident, k_anonymity: int
) -> str:
    if not windows:
        return '<p class="muted">No closed window of this unit is stored.</p>'
    rows = []
    for window in windows:
        opened = window.window_start == incident.opened_window_start
        # An open incident lasts to now; a resolved one ended with its last window.
        during = window.window_start >= incident.opened_window_start and (
            incident.state == "open" or window.window_start < incident.last_window_end
        )
        classes = "unit-window" + (" incident-opened" if opened else "")
        classes += " in-incident" if during else ""
        customer = _index_text(window.customer_index, window.customer_index_se, window.customer_n)
        if window.employee_suppressed or window.employee_index is None:
            employee = '<span class="muted">hidden</span>'
        else:
            employee = _e(
                _index_text(window.employee_index, window.employee_index_se, window.employee_n)
            )
        kinds = ", ".join(kind_label(kind) for kind in window.alert_kinds)
        note = "incident opened" if opened else ""
        rows.append(
            f'<tr class="{classes}" data-window-start="{window.window_start}">'
            f"<td>{_e(_moment(window.window_start))} UTC</td>"
            f'<td class="number">{window.teams}</td>'
            f'<td class="number customer">{_e(customer)}</td>'
            f'<td class="number employee">{employee}</td>'
            f"<td>{_e(kinds or '—')}</td><td>{_e(note)}</td></tr>"
        )
    return (
        '<table class="alerts-table unit-windows"><thead><tr><th>Window</th><th>Teams</th>'
        "<th>C (customers)</th><th>E (employees)</th><th>Alerts on the unit</th><th></th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        '<p class="muted">C and E are 0–100, pooled over the teams that closed each window '
        "(± standard error, n respondents). E is hidden when fewer than "
        f"{k_anonymity} people answered, or when showing it would reveal a hidden team's "
        "answers by subtraction (k-anonymity).</p>"
    )


def _index_text(index: float | None, se: float | None, n: int | None) -> str:
    if index is None:
        return "—"
    text = f"{index:.1f}"
    if se is not None:
        text += f" ± {se:.1f}"
    return text + (f" (n = {n})" if n is not None else "")


def action_sent_page(verb: str, episode_id: str, action_id: str) -> str:
    """The answer to a form sent without JavaScript: the action is on its way."""
    what = "Acknowledgement" if verb == "ack" else "Resolution"
    body = (
        f"<h1>{what} sent</h1><p>The worker holding the team applies it in a moment "
        f'(action <span class="episode-id">{_e(action_id)}</span>).</p>'
        f'<p><a href="{_e(episode_path(episode_id))}">Back to the episode</a></p>'
    )
    return _page(f"Miroir — {what.lower()} sent", body)


def message_page(title: str, text: str) -> str:
    """A plain page for errors (not found, store unavailable)."""
    return _page(f"Miroir — {title}", f"<h1>{_e(title)}</h1><p>{_e(text)}</p>")
