// Miroir episode page: sends the acknowledge and resolve forms without leaving the page, then
// shows the worker's answer (the episode's acknowledged or resolved event on the live feed).
// Without JavaScript the forms still work: the server answers with a plain page.
"use strict";

(() => {
  const episodeId = document.body.dataset.episodeId;
  const status = document.getElementById("status");
  const news = document.getElementById("action-status");
  if (!episodeId || !news) return;

  function say(text) {
    news.textContent = text;
    news.hidden = false;
  }

  function setField(name, text) {
    const field = document.querySelector('[data-field="' + name + '"]');
    if (field) field.textContent = text;
  }

  // The worker may answer on the feed before the POST returns: "sent" must not hide it.
  let answered = false;

  async function send(form, event) {
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    answered = false;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        headers: { Accept: "application/json" },
        body: new URLSearchParams(new FormData(form)),
      });
      const body = await response.json().catch(() => ({}));
      if (response.status !== 202) throw new Error(body.error || "HTTP " + response.status);
      if (!answered) say("Sent (action " + body.action_id + "); waiting for the worker to apply it…");
    } catch (error) {
      say("Not sent: " + error.message);
    } finally {
      button.disabled = false;
    }
  }

  for (const form of document.querySelectorAll("form.episode-action")) {
    form.addEventListener("submit", (event) => send(form, event));
  }

  if (typeof EventSource === "undefined") return;
  // The feed first replays recent records: those already in the history are not news.
  const shown = new Set([...document.querySelectorAll("tr.alert-row")].map((r) => r.dataset.alertId));
  const source = new EventSource("/alerts/stream");
  source.onopen = () => { status.textContent = "live"; status.className = "status live"; };
  source.onerror = () => { status.textContent = "reconnecting…"; status.className = "status down"; };
  source.addEventListener("alert", (event) => {
    const alert = JSON.parse(event.data);
    if (alert.episode_id !== episodeId || shown.has(alert.alert_id)) return;
    if (alert.event === "acknowledged" || alert.event === "resolved") answered = true;
    if (alert.event === "acknowledged") {
      setField("acknowledged", "by " + alert.actor);
      if (alert.note) setField("note", alert.note);
      say("Acknowledged by " + alert.actor + ".");
    } else if (alert.event === "resolved") {
      setField("state", "resolved");
      if (alert.note) setField("note", alert.note);
      for (const form of document.querySelectorAll("form.episode-action")) form.hidden = true;
      say(alert.actor ? "Resolved by " + alert.actor + "." : "Resolved: " + alert.message);
    } else if (alert.event === "updated" || alert.event === "escalated") {
      say("A new window of this episode raised an alert: reload to see it in the history.");
    }
  });
})();
