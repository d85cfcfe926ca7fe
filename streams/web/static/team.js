// Miroir team page: the chart is server-rendered; this only offers a reload when a new alert
// for this team arrives on the live feed.
"use strict";

(() => {
  const team = document.body.dataset.team;
  const news = document.getElementById("team-news");
  const status = document.getElementById("status");
  if (!team || !news || typeof EventSource === "undefined") return;
  const shown = new Set([...document.querySelectorAll("tr.alert-row")].map((r) => r.dataset.alertId));
  const source = new EventSource("/alerts/stream");
  source.onopen = () => { status.textContent = "live"; status.className = "status live"; };
  source.onerror = () => { status.textContent = "reconnecting…"; status.className = "status down"; };
  source.addEventListener("alert", (event) => {
    const alert = JSON.parse(event.data);
    if (alert.team_id !== team || shown.has(alert.alert_id)) return;
    news.hidden = false;
    news.querySelector("a").href = window.location.pathname + window.location.search;
  });
})();
