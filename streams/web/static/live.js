// Miroir live page: the open incidents (one card per unit whose teams share a problem), the open
// episodes (one card per team problem) above every alert, newest first, all kept live by
// server-sent events from /alerts/stream.
// No framework, no external asset. Text goes in with textContent (never innerHTML).
"use strict";

(() => {
  const MAX_ROWS = 500;
  const list = document.getElementById("alerts");
  const empty = document.getElementById("alerts-empty");
  const count = document.getElementById("alert-count");
  const teamFilter = document.getElementById("filter-team");
  const kindFilter = document.getElementById("filter-kind");
  const status = document.getElementById("status");
  const rows = new Map(); // alert_id -> <li>
  const SEVERITY_RANK = { info: 0, warning: 1, critical: 2 };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function utc(ms) {
    return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  function matchesTeam(teams) {
    const team = teamFilter.value.trim().toLowerCase();
    return !team || teams.some((t) => (t || "").toLowerCase().includes(team));
  }

  function matches(alert) {
    const kind = kindFilter.value;
    // An incident's record names no team of its own: its affected teams stand for it.
    const teams = alert.teams && alert.teams.length ? alert.teams : [alert.team_id];
    return matchesTeam(teams) && (!kind || alert.kind === kind);
  }

  function render(alert) {
    const severity = /^[a-z]+$/.test(alert.severity) ? alert.severity : "other";
    const li = el("li", "alert sev-" + severity);
    li.dataset.alertId = alert.alert_id;
    li.dataset.team = alert.team_id;
    li.dataset.kind = alert.kind;
    li.dataset.createdAt = String(alert.created_at);
    const head = el("div", "alert-head");
    head.append(el("span", "badge sev-" + severity, alert.severity));
    if (alert.event_label) {
      li.dataset.event = alert.event;
      head.append(el("span", "event-badge event-" + safeClass(alert.event), alert.event_label));
    }
    head.append(el("span", "kind", alert.kind_label || alert.kind));
    if (alert.scope && alert.scope !== "team") {
      // An incident: many teams of one unit at once; it names the unit, not a team.
      const unit = el(alert.incident_url ? "a" : "span", "team unit", alert.scope + " " + (alert.unit_id || ""));
      if (alert.incident_url) unit.href = alert.incident_url;
      head.append(unit);
      li.dataset.incidentId = alert.incident_id || "";
    } else {
      const team = el("a", "team", alert.team_id);
      team.href = alert.team_url;
      head.append(team);
    }
    head.append(el("span", "window muted", "window " + utc(alert.window_start)));
    head.append(el("span", "when", "fired " + utc(alert.created_at)));
    if (alert.episode_id) {
      li.dataset.episodeId = alert.episode_id;
      const episode = el("a", "episode-ref muted", "episode " + alert.episode_id.slice(0, 8));
      episode.href = alert.episode_url;
      head.append(episode);
    }
    li.append(head);
    li.append(el("p", "message", alert.message));
    if (alert.dimension_text) li.append(el("p", "dimension", alert.dimension_text));
    const evidence = el("ul", "evidence");
    for (const line of alert.evidence_text || []) evidence.append(el("li", null, line));
    li.append(evidence);
    li.alert = alert;
    return li;
  }

  function safeClass(text) {
    return /^[a-z]+$/.test(text || "") ? text : "other";
  }

  function addKindOption(kind) {
    if (!kind || [...kindFilter.options].some((o) => o.value === kind)) return;
    const option = el("option", null, kind.replace(/_/g, " "));
    option.value = kind;
    kindFilter.append(option);
  }

  function add(alert, live) {
    const known = rows.get(alert.alert_id);
    if (known) {
      // The store does not keep the event: the feed's copy of the same alert tells it.
      if (alert.event_label && !known.dataset.event) {
        const li = render(alert);
        li.hidden = known.hidden;
        known.replaceWith(li);
        rows.set(alert.alert_id, li);
      }
      return;
    }
    addKindOption(alert.kind);
    const li = render(alert);
    if (live) li.classList.add("new");
    li.hidden = !matches(alert);
    // Newest first by firing time; live alerts are almost always the newest.
    let before = list.firstElementChild;
    while (before && Number(before.dataset.createdAt) > alert.created_at) {
      before = before.nextElementSibling;
    }
    list.insertBefore(li, before);
    rows.set(alert.alert_id, li);
    while (rows.size > MAX_ROWS) {
      const last = list.lastElementChild;
      rows.delete(last.dataset.alertId);
      last.remove();
    }
  }

  function refreshCounts() {
    let shown = 0;
    for (const li of rows.values()) if (!li.hidden) shown += 1;
    empty.hidden = shown > 0;
    count.textContent = rows.size ? shown + " of " + rows.size + " alerts shown" : "";
  }

  function applyFilters() {
    for (const li of rows.values()) li.hidden = !matches(li.alert);
    for (const { data, li } of episodes.values()) li.hidden = !matches(data);
    for (const { data, li } of incidents.values()) li.hidden = !matchesTeam(data.teams);
    refreshCounts();
    refreshEpisodeCount();
    refreshIncidentCount();
  }

  async function load() {
    const params = new URLSearchParams({
      limit: "200",
      team: teamFilter.value.trim(),
      kind: kindFilter.value,
    });
    try {
      const response = await fetch("/api/alerts?" + params);
      if (!response.ok) throw new Error("HTTP " + response.status);
      const body = await response.json();
      for (const alert of body.alerts) add(alert, false);
    } catch (error) {
      count.textContent = "Could not load past alerts (" + error.message + "); live ones still arrive.";
      return;
    }
    refreshCounts();
  }

  // -- open episodes: one card per episode, however many windows it lasts ----------------------
  const episodeList = document.getElementById("episodes");
  const episodesEmpty = document.getElementById("episodes-empty");
  const episodeCount = document.getElementById("episode-count");
  const episodes = new Map(); // episode_id -> {data, li}
  // Resolved while the page was open: a slower read of the store must not bring them back.
  const resolved = new Set();

  function higher(a, b) {
    return (SEVERITY_RANK[b] ?? -1) > (SEVERITY_RANK[a] ?? -1) ? b : a;
  }

  // Merge what one source knows (the store's row, or a live event) into the card: counts and
  // windows only grow, severity only rises, an acknowledgement stays.
  function mergeEpisode(update) {
    if (resolved.has(update.episode_id)) return;
    const known = episodes.get(update.episode_id);
    const data = known ? { ...known.data } : { ...update };
    if (known) {
      if (update.alerts != null) data.alerts = Math.max(data.alerts ?? 0, update.alerts);
      if (update.last_alert_window_start >= data.last_alert_window_start) {
        data.kind = update.kind;
        data.kind_label = update.kind_label;
        data.last_alert_window_start = update.last_alert_window_start;
      }
      if (update.opened_window_start != null) {
        data.opened_window_start = Math.min(data.opened_window_start, update.opened_window_start);
      }
      data.severity = higher(data.severity, update.severity);
      data.acknowledged_by = update.acknowledged_by || data.acknowledged_by;
      data.family = data.family || update.family;
    }
    // Until the store says when it opened, an episode first seen updating opened no later.
    if (data.opened_window_start == null) data.opened_window_start = data.last_alert_window_start;
    delete data.live;
    showEpisode(data, !!update.live);
  }

  function showEpisode(data, live) {
    const known = episodes.get(data.episode_id);
    const li = renderEpisode(data);
    if (live) li.classList.add("new");
    li.hidden = !matches(data);
    if (known) {
      known.li.replaceWith(li);
    } else {
      // Newest opened first.
      let before = episodeList.firstElementChild;
      while (before && Number(before.dataset.opened) > data.opened_window_start) {
        before = before.nextElementSibling;
      }
      episodeList.insertBefore(li, before);
    }
    episodes.set(data.episode_id, { data, li });
    refreshEpisodeCount();
  }

  function renderEpisode(data) {
    const severity = safeClass(data.severity);
    const li = el("li", "episode sev-" + severity);
    li.dataset.episodeId = data.episode_id;
    li.dataset.team = data.team_id;
    li.dataset.kind = data.kind;
    li.dataset.opened = String(data.opened_window_start);
    const head = el("div", "episode-head");
    head.append(el("span", "badge sev-" + severity, data.severity));
    head.append(el("span", "kind", data.kind_label || data.kind));
    const team = el("a", "team", data.team_id);
    team.href = "/teams/" + encodeURIComponent(data.team_id);
    head.append(team);
    if (data.acknowledged_by) {
      head.append(el("span", "episode-ack", "acknowledged by " + data.acknowledged_by));
    }
    li.append(head);
    // Part of a shared problem of its unit: the card says so and leads to the incident.
    const incident = incidentOfEpisode(data);
    li.dataset.incidentId = incident ? incident.incident_id : "";
    if (incident) {
      li.classList.add("in-incident");
      const note = el("p", "episode-incident", "part of incident at ");
      const unit = el("a", "unit", unitLabel(incident));
      unit.href = incident.incident_url;
      note.append(unit);
      li.append(note);
    }
    const facts = el("p", "episode-facts muted");
    const count = data.alerts == null ? "" : data.alerts + (data.alerts === 1 ? " alert" : " alerts");
    facts.append(el("span", "episode-alerts", count));
    facts.append(el("span", "episode-opened", "opened window " + utc(data.opened_window_start)));
    facts.append(el("span", "episode-latest", "latest window " + utc(data.last_alert_window_start)));
    li.append(facts);
    const link = el("a", "episode-link", "History, acknowledge or resolve");
    link.href = "/episodes/" + encodeURIComponent(data.episode_id);
    li.append(link);
    return li;
  }

  function removeEpisode(episodeId) {
    resolved.add(episodeId);
    const known = episodes.get(episodeId);
    if (!known) return;
    known.li.remove();
    episodes.delete(episodeId);
    refreshEpisodeCount();
  }

  function refreshEpisodeCount() {
    let shown = 0;
    for (const { li } of episodes.values()) if (!li.hidden) shown += 1;
    episodesEmpty.hidden = shown > 0;
    episodeCount.textContent = episodes.size ? "(" + episodes.size + ")" : "";
  }

  // An alerts-topic record in the life of its episode (records without one are plain alerts).
  function onEpisodeEvent(alert) {
    if (!alert.episode_id || (alert.scope && alert.scope !== "team")) return;
    const known = episodes.get(alert.episode_id);
    if (alert.event === "resolved") {
      removeEpisode(alert.episode_id);
    } else if (alert.event === "acknowledged") {
      if (!known) return episodesSoon();
      mergeEpisode({ ...known.data, acknowledged_by: alert.actor, live: true });
    } else if (["opened", "updated", "escalated"].includes(alert.event)) {
      const newWindow = !known || alert.window_start > known.data.last_alert_window_start;
      let alerts = null; // unknown: an episode opened before this page saw it
      if (known) alerts = (known.data.alerts ?? 0) + (newWindow ? 1 : 0);
      else if (alert.event === "opened") alerts = 1;
      mergeEpisode({
        episode_id: alert.episode_id,
        team_id: alert.team_id,
        family: alert.family,
        kind: alert.kind,
        kind_label: alert.kind_label,
        severity: alert.severity,
        opened_window_start: alert.event === "opened" ? alert.window_start : null,
        last_alert_window_start: alert.window_start,
        alerts: alerts,
        acknowledged_by: null,
        live: true,
      });
      if (alerts == null) episodesSoon();
    }
  }

  async function loadEpisodes() {
    try {
      const response = await fetch("/api/episodes?state=open&limit=200");
      if (!response.ok) throw new Error("HTTP " + response.status);
      const body = await response.json();
      for (const episode of body.episodes) mergeEpisode(episode);
    } catch (error) {
      episodeCount.textContent = "(could not load: " + error.message + ")";
    }
  }

  let episodeTimer = null;
  function episodesSoon() {
    // The store is written just after the topic: ask it a moment later.
    clearTimeout(episodeTimer);
    episodeTimer = setTimeout(loadEpisodes, 1500);
  }

  // -- open incidents: many teams of one unit opening episodes of one family in one window -------
  const incidentList = document.getElementById("incidents");
  const incidentsEmpty = document.getElementById("incidents-empty");
  const incidentCount = document.getElementById("incident-count");
  const incidents = new Map(); // incident_id -> {data, li}
  const resolvedIncidents = new Set();

  function unitLabel(data) {
    return (data.level ? data.level + " " : "") + data.unit_id;
  }

  // The incident a team episode belongs to. The store pairs each team with its episode id; a
  // team that joined by a live event is matched by team, family and opening window until the
  // store is read again.
  function incidentOfEpisode(episode) {
    for (const { data } of incidents.values()) {
      const known = data.episodeOf[episode.team_id];
      if (known) {
        if (known === episode.episode_id) return data;
        continue;
      }
      if (
        data.teams.includes(episode.team_id) &&
        (!episode.family || !data.family || episode.family === data.family) &&
        (data.opened_window_start == null || episode.opened_window_start >= data.opened_window_start)
      ) {
        return data;
      }
    }
    return null;
  }

  // Merge what one source knows into the card: teams only join, severity only rises.
  function mergeIncident(update, live) {
    if (resolvedIncidents.has(update.incident_id)) return;
    const known = incidents.get(update.incident_id);
    const data = known ? { ...known.data } : { ...update };
    if (known) {
      data.teams = [...known.data.teams, ...update.teams.filter((t) => !known.data.teams.includes(t))];
      data.episodeOf = { ...known.data.episodeOf, ...update.episodeOf };
      data.severity = higher(data.severity, update.severity);
      data.unit_teams = update.unit_teams || data.unit_teams;
      data.family = data.family || update.family;
      data.kind_label = data.kind_label || update.kind_label;
      if (update.opened_window_start != null) data.opened_window_start = update.opened_window_start;
    }
    const li = renderIncident(data);
    if (live) li.classList.add("new");
    li.hidden = !matchesTeam(data.teams);
    if (known) {
      known.li.replaceWith(li);
    } else {
      // Newest opened first (one not yet read from the store counts as the newest).
      const opened = data.opened_window_start ?? Infinity;
      let before = incidentList.firstElementChild;
      while (before && Number(before.dataset.opened || Infinity) > opened) {
        before = before.nextElementSibling;
      }
      incidentList.insertBefore(li, before);
    }
    incidents.set(data.incident_id, { data, li });
    refreshIncidentCount();
    refreshEpisodeIncidents();
  }

  function renderIncident(data) {
    const severity = safeClass(data.severity);
    const li = el("li", "incident sev-" + severity);
    li.dataset.incidentId = data.incident_id;
    li.dataset.unit = data.unit_id;
    li.dataset.level = data.level;
    if (data.opened_window_start != null) li.dataset.opened = String(data.opened_window_start);
    const head = el("div", "incident-head");
    head.append(el("span", "badge sev-" + severity, data.severity));
    head.append(el("span", "kind", data.kind_label || "incident"));
    const unit = el("a", "unit", unitLabel(data));
    unit.href = data.incident_url;
    head.append(unit);
    li.append(head);
    const facts = el("p", "incident-facts muted");
    const teams = data.teams.length;
    facts.append(
      el(
        "span",
        "incident-teams",
        data.unit_teams ? teams + " of " + data.unit_teams + " teams" : teams + (teams === 1 ? " team" : " teams"),
      ),
    );
    const opened = data.opened_window_start == null ? "opened recently" : "opened window " + utc(data.opened_window_start);
    facts.append(el("span", "incident-opened", opened));
    li.append(facts);
    const list = el("ul", "incident-team-list");
    for (const team of data.teams) {
      const item = el("li");
      const link = el("a", "team", team);
      link.href = "/teams/" + encodeURIComponent(team);
      item.append(link);
      list.append(item);
    }
    li.append(list);
    const link = el("a", "incident-link", "Its teams, their episodes, the unit's E and C");
    link.href = data.incident_url;
    li.append(link);
    return li;
  }

  function removeIncident(incidentId) {
    resolvedIncidents.add(incidentId);
    const known = incidents.get(incidentId);
    if (!known) return;
    known.li.remove();
    incidents.delete(incidentId);
    refreshIncidentCount();
    refreshEpisodeIncidents();
  }

  function refreshIncidentCount() {
    let shown = 0;
    for (const { li } of incidents.values()) if (!li.hidden) shown += 1;
    incidentsEmpty.hidden = shown > 0;
    incidentCount.textContent = incidents.size ? "(" + incidents.size + ")" : "";
  }

  // Team cards whose incident changed are drawn again (joined, or their incident is over).
  function refreshEpisodeIncidents() {
    for (const { data, li } of episodes.values()) {
      const incident = incidentOfEpisode(data);
      if ((incident ? incident.incident_id : "") !== li.dataset.incidentId) showEpisode(data, false);
    }
  }

  // An incident's record on the alerts topic: its scope is the unit's level, not "team".
  function onIncidentEvent(alert) {
    if (!alert.scope || alert.scope === "team" || !alert.incident_id) return;
    if (alert.event === "resolved") {
      removeIncident(alert.incident_id);
      return;
    }
    if (alert.event !== "opened" && alert.event !== "updated") return;
    mergeIncident(
      {
        incident_id: alert.incident_id,
        unit_id: alert.unit_id || "",
        level: alert.scope,
        family: alert.family,
        kind_label: alert.kind_label,
        severity: alert.severity,
        teams: alert.teams || [],
        episodeOf: {},
        unit_teams: (alert.evidence || {}).unit_teams || null,
        opened_window_start: alert.event === "opened" ? alert.window_start : null,
        incident_url: alert.incident_url,
      },
      true,
    );
    incidentsSoon(); // the store pairs its teams with their episodes
  }

  async function loadIncidents() {
    try {
      const response = await fetch("/api/incidents?state=open&limit=200");
      if (!response.ok) throw new Error("HTTP " + response.status);
      const body = await response.json();
      for (const incident of body.incidents) {
        const episodeOf = {};
        incident.teams.forEach((team, i) => {
          if (incident.episode_ids[i]) episodeOf[team] = incident.episode_ids[i];
        });
        mergeIncident({ ...incident, episodeOf }, false);
      }
    } catch (error) {
      incidentCount.textContent = "(could not load: " + error.message + ")";
    }
  }

  let incidentTimer = null;
  function incidentsSoon() {
    clearTimeout(incidentTimer);
    incidentTimer = setTimeout(loadIncidents, 1500);
  }

  function connect() {
    const source = new EventSource("/alerts/stream");
    source.onopen = () => {
      status.textContent = "live";
      status.className = "status live";
    };
    source.onerror = () => {
      status.textContent = "reconnecting…";
      status.className = "status down";
    };
    source.addEventListener("alert", (event) => {
      const alert = JSON.parse(event.data);
      add(alert, true);
      onIncidentEvent(alert);
      onEpisodeEvent(alert);
      refreshCounts();
      teamsSoon(); // the team finder shows each team's latest alert
    });
    // The server dropped alerts for this page (it fell behind, or the feed restarted).
    source.addEventListener("resync", () => {
      load();
      loadIncidents();
      loadEpisodes();
    });
  }

  let timer = null;
  function onFilter() {
    applyFilters();
    clearTimeout(timer);
    timer = setTimeout(load, 300); // fetch older alerts that match, beyond the latest 200
  }
  teamFilter.addEventListener("input", onFilter);
  kindFilter.addEventListener("change", onFilter);
  document.getElementById("filters").addEventListener("submit", (e) => e.preventDefault());

  // -- team finder: searched and paged by the server, so hundreds of teams stay usable ----------
  const teamSearch = document.getElementById("team-search");
  const teamList = document.getElementById("teams");
  const prev = document.getElementById("teams-prev");
  const next = document.getElementById("teams-next");
  const range = document.getElementById("teams-range");
  const PAGE = 20;
  let offset = 0;

  async function loadTeams() {
    const params = new URLSearchParams({ q: teamSearch.value.trim(), offset: String(offset), limit: String(PAGE) });
    let body;
    try {
      const response = await fetch("/api/teams?" + params);
      if (!response.ok) throw new Error("HTTP " + response.status);
      body = await response.json();
    } catch (error) {
      range.textContent = "teams unavailable";
      return;
    }
    teamList.replaceChildren();
    for (const team of body.teams) {
      const li = el("li");
      const link = el("a", null, team.team_id);
      link.href = "/teams/" + encodeURIComponent(team.team_id);
      li.append(link);
      if (team.latest_kind) {
        const severity = /^[a-z]+$/.test(team.latest_severity || "") ? team.latest_severity : "other";
        li.append(el("span", "badge sev-" + severity, team.latest_kind.replace(/_/g, " ")));
      }
      teamList.append(li);
    }
    if (!body.teams.length) teamList.append(el("li", "muted", "No team matches."));
    const first = body.teams.length ? body.offset + 1 : 0;
    range.textContent = first + "–" + (body.offset + body.teams.length) + " of " + body.total;
    prev.disabled = body.offset === 0;
    next.disabled = body.offset + body.teams.length >= body.total;
  }

  let teamTimer = null;
  teamSearch.addEventListener("input", () => {
    clearTimeout(teamTimer);
    teamTimer = setTimeout(() => { offset = 0; loadTeams(); }, 250);
  });
  function teamsSoon() {
    clearTimeout(teamTimer);
    teamTimer = setTimeout(loadTeams, 1500);
  }
  prev.addEventListener("click", () => { offset = Math.max(0, offset - PAGE); loadTeams(); });
  next.addEventListener("click", () => { offset += PAGE; loadTeams(); });

  connect(); // first, so nothing fired while the lists load is missed (both de-duplicate)
  load();
  loadIncidents();
  loadEpisodes();
  loadTeams();
  setInterval(loadTeams, 30000);
})();
