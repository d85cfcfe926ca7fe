// Miroir live page: the open episodes (one card per problem) above every alert, newest first,
// both kept live by server-sent events from /alerts/stream.
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

  function matches(alert) {
    const team = teamFilter.value.trim().toLowerCase();
    const kind = kindFilter.value;
    return (!team || alert.team_id.toLowerCase().includes(team)) && (!kind || alert.kind === kind);
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
      head.append(el("span", "team unit", alert.scope + " " + (alert.unit_id || "")));
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
    refreshCounts();
    refreshEpisodeCount();
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
      onEpisodeEvent(alert);
      refreshCounts();
      teamsSoon(); // the team finder shows each team's latest alert
    });
    // The server dropped alerts for this page (it fell behind, or the feed restarted).
    source.addEventListener("resync", () => {
      load();
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
  loadEpisodes();
  loadTeams();
  setInterval(loadTeams, 30000);
})();
