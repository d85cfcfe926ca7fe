// Miroir live page: alerts newest first, kept live by server-sent events from /alerts/stream.
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
    head.append(el("span", "kind", alert.kind_label || alert.kind));
    const team = el("a", "team", alert.team_id);
    team.href = alert.team_url;
    head.append(team);
    head.append(el("span", "window muted", "window " + utc(alert.window_start)));
    head.append(el("span", "when", "fired " + utc(alert.created_at)));
    li.append(head);
    li.append(el("p", "message", alert.message));
    if (alert.dimension_text) li.append(el("p", "dimension", alert.dimension_text));
    const evidence = el("ul", "evidence");
    for (const line of alert.evidence_text || []) evidence.append(el("li", null, line));
    li.append(evidence);
    li.alert = alert;
    return li;
  }

  function addKindOption(kind) {
    if (!kind || [...kindFilter.options].some((o) => o.value === kind)) return;
    const option = el("option", null, kind.replace(/_/g, " "));
    option.value = kind;
    kindFilter.append(option);
  }

  function add(alert, live) {
    if (rows.has(alert.alert_id)) return;
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
    refreshCounts();
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
      add(JSON.parse(event.data), true);
      refreshCounts();
      teamsSoon(); // the team finder shows each team's latest alert
    });
    // The server dropped alerts for this page (it fell behind, or the feed restarted).
    source.addEventListener("resync", () => load());
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

  connect(); // first, so nothing fired while the list loads is missed (rows de-duplicate)
  load();
  loadTeams();
  setInterval(loadTeams, 30000);
})();
