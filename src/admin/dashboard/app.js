// Switchboard dashboard: fetches /api/dashboard every few seconds and draws it.
// Plain DOM, no framework. Every value from the server is written with textContent
// (caller numbers and names come from the network), never as HTML.
"use strict";

const REFRESH_MS = 5000;
const TOKEN_KEY = "switchboard.token";
const SVG = "http://www.w3.org/2000/svg";

// The token comes from a "#token=..." fragment (never sent to the server, so it stays
// out of logs) or the form, lives in sessionStorage (this tab only) and travels only
// in the Authorization header.
function takeToken() {
  const m = location.hash.match(/(?:^#|&)token=([^&]*)/);
  if (m) {
    try {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    } catch (e) {
      // Storage disabled: the token still works for this page view.
      window.switchboardToken = decodeURIComponent(m[1]);
    }
    // Drop it from the address bar and history.
    history.replaceState(null, "", location.pathname + location.search);
  }
}

function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || window.switchboardToken || "";
  } catch (e) {
    return window.switchboardToken || "";
  }
}

function authHeaders() {
  const t = token();
  return t ? { Authorization: "Bearer " + t } : {};
}

function $(id) {
  return document.getElementById(id);
}

function el(tag, text, testid) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (testid) e.setAttribute("data-testid", testid);
  return e;
}

// A figure cell: formatted text plus the raw value in data-value.
function figure(tag, raw, text, testid) {
  const e = el(tag, text, testid);
  e.setAttribute("data-value", raw === null || raw === undefined ? "" : String(raw));
  return e;
}

function setFigure(testid, raw, text) {
  const e = document.querySelector('[data-testid="' + testid + '"]');
  if (!e) return;
  e.textContent = text === undefined ? String(raw) : text;
  e.setAttribute("data-value", String(raw));
}

function pad2(n) {
  return n < 10 ? "0" + n : String(n);
}

// 30000 -> "30 s", 12345 -> "12.3 s", 95000 -> "1:35", null -> "—".
function fmtAnswer(ms) {
  if (ms === null || ms === undefined) return "—";
  const s = ms / 1000;
  if (s < 60) return (Number.isInteger(s) ? String(s) : s.toFixed(1)) + " s";
  const whole = Math.round(s);
  return Math.floor(whole / 60) + ":" + pad2(whole % 60);
}

// Talk time like the text report: H:MM:SS.
function fmtHms(ms) {
  const s = Math.floor(ms / 1000);
  return Math.floor(s / 3600) + ":" + pad2(Math.floor(s / 60) % 60) + ":" + pad2(s % 60);
}

// Call duration: M:SS, or H:MM:SS past an hour.
function fmtDuration(secs) {
  if (secs >= 3600) return fmtHms(secs * 1000);
  return Math.floor(secs / 60) + ":" + pad2(secs % 60);
}

// Age of a request: "45 s", "12 min", "3 h 5 min", "2 d 4 h".
function fmtAge(secs) {
  if (secs < 60) return secs + " s";
  const min = Math.floor(secs / 60);
  if (min < 60) return min + " min";
  const h = Math.floor(min / 60);
  if (h < 24) return h + " h " + (min % 60) + " min";
  return Math.floor(h / 24) + " d " + (h % 24) + " h";
}

function localTime(iso) {
  const d = new Date(iso);
  return pad2(d.getHours()) + ":" + pad2(d.getMinutes());
}

function emptyRow(tbody, cols, text) {
  const tr = document.createElement("tr");
  const td = el("td", text);
  td.colSpan = cols;
  td.className = "empty";
  tr.appendChild(td);
  tbody.appendChild(tr);
}

function renderSummary(d) {
  const s = d.summary;
  setFigure("calls-today", s.calls);
  setFigure("answered-today", s.answered);
  setFigure("ivr-today", s.completed_in_ivr);
  setFigure("missed-today", s.missed);
  setFigure("voicemail-today", s.voicemail);
  setFigure("abandoned-today", s.abandoned);
  setFigure("failed-today", s.failed);
  setFigure("live-count", s.live);
  $("today").textContent = d.date + " (" + d.time_zone + ")";
}

const STATE_TEXT = { menu: "in menu", ringing: "ringing", talking: "talking" };

function renderLive(d) {
  const tbody = $("live-rows");
  tbody.replaceChildren();
  if (d.live.length === 0) return emptyRow(tbody, 7, "no calls in progress");
  for (const c of d.live) {
    const id = "live-" + c.call_id;
    const tr = el("tr", null, id);
    tr.className = "state-" + c.state;
    const who = c.caller_name ? c.caller + " (" + c.caller_name + ")" : c.caller;
    tr.append(
      el("td", who, id + "-caller"),
      el("td", c.dialled, id + "-dialled"),
      el("td", c.source, id + "-source"),
      el("td", STATE_TEXT[c.state] || c.state, id + "-state"),
      el("td", c.department || "—", id + "-department"),
      el("td", c.manager || "—", id + "-manager"),
      figure("td", c.duration_s, fmtDuration(c.duration_s), id + "-duration"),
    );
    tbody.appendChild(tr);
  }
}

function renderManagers(d) {
  const tbody = $("manager-rows");
  tbody.replaceChildren();
  const rows = d.report.per_manager;
  if (rows.length === 0) return emptyRow(tbody, 6, "no calls for managers yet today");
  for (const m of rows) {
    const id = "manager-" + m.manager;
    const tr = el("tr", null, id);
    tr.append(
      el("td", m.manager),
      figure("td", m.offered, String(m.offered), id + "-offered"),
      figure("td", m.answered, String(m.answered), id + "-answered"),
      figure("td", m.missed, String(m.missed), id + "-missed"),
      figure("td", m.answer_ms_median, fmtAnswer(m.answer_ms_median), id + "-answer-median"),
      figure("td", m.talk_ms, fmtHms(m.talk_ms), id + "-talk"),
    );
    tbody.appendChild(tr);
  }
}

function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const k in attrs) e.setAttribute(k, String(attrs[k]));
  return e;
}

// A bar chart of 24 hourly values. bars: [{value, part, label, testid}] where part (if
// set) is drawn as a darker inner bar (e.g. answered out of calls).
function barChart(container, bars, unit, fmt) {
  const W = 480, H = 170, left = 36, bottom = 20, top = 10;
  const max = Math.max(1, ...bars.map((b) => b.value || 0));
  const bw = (W - left) / bars.length;
  const y = (v) => top + (H - top - bottom) * (1 - v / max);
  const svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, role: "img" });
  svg.appendChild(svgEl("line", { x1: left, y1: y(0), x2: W, y2: y(0), class: "axis" }));
  for (const frac of [0.5, 1]) {
    const v = max * frac;
    svg.appendChild(svgEl("line", { x1: left, y1: y(v), x2: W, y2: y(v), class: "grid" }));
    const t = svgEl("text", { x: left - 4, y: y(v) + 4, class: "tick", "text-anchor": "end" });
    t.textContent = fmt(v);
    svg.appendChild(t);
  }
  bars.forEach((b, i) => {
    const x = left + i * bw + 1;
    const v = b.value || 0;
    const r = svgEl("rect", {
      x: x, y: y(v), width: bw - 2, height: y(0) - y(v), class: "bar",
      "data-testid": b.testid, "data-value": b.value === null ? "" : b.value,
    });
    const title = svgEl("title", {});
    title.textContent = b.label;
    r.appendChild(title);
    svg.appendChild(r);
    if (b.part !== undefined) {
      svg.appendChild(svgEl("rect", {
        x: x, y: y(b.part), width: bw - 2, height: y(0) - y(b.part), class: "bar part",
        "data-testid": b.testid + "-part", "data-value": b.part,
      }));
    }
    if (i % 3 === 0) {
      const t = svgEl("text", { x: x + bw / 2, y: H - 5, class: "tick", "text-anchor": "middle" });
      t.textContent = pad2(i);
      svg.appendChild(t);
    }
  });
  container.replaceChildren(svg);
  const cap = el("p", unit);
  cap.className = "caption";
  container.appendChild(cap);
}

function renderCharts(d) {
  barChart(
    $("chart-calls"),
    d.hours.map((h) => ({
      value: h.calls, part: h.answered, testid: "hour-" + pad2(h.hour) + "-calls",
      label: pad2(h.hour) + ":00 " + h.calls + " calls, " + h.answered + " answered",
    })),
    "calls (light) and answered (dark) per hour",
    (v) => String(Math.round(v)),
  );
  barChart(
    $("chart-answer"),
    d.hours.map((h) => ({
      value: h.answer_ms_median, testid: "hour-" + pad2(h.hour) + "-answer",
      label: pad2(h.hour) + ":00 median answer " + fmtAnswer(h.answer_ms_median),
    })),
    "median time to answer (caller's whole wait)",
    (v) => fmtAnswer(Math.round(v)),
  );
}

// Missed work the plan's [alerts] thresholds flag; hidden when there is none.
function renderAlerts(d) {
  const list = document.getElementById("alert-rows");
  list.replaceChildren();
  const alerts = d.alerts || [];
  document.getElementById("alerts").hidden = alerts.length === 0;
  for (const a of alerts) list.appendChild(el("li", a.message, "alert-" + a.key));
}

function renderMissed(d) {
  $("missed-since").textContent = "(since " + d.missed_since + ")";
  const tbody = $("missed-rows");
  tbody.replaceChildren();
  if (d.missed_not_called_back.length === 0) return emptyRow(tbody, 6, "none: every missed call was dealt with");
  for (const m of d.missed_not_called_back) {
    const id = "missed-" + m.call_id;
    const tr = el("tr", null, id);
    let cb = "none";
    if (m.callback_id !== null) {
      cb = "#" + m.callback_id + " " + m.callback_status + (m.claimed_by ? " by " + m.claimed_by : "");
    }
    tr.append(
      el("td", m.started_local, id + "-time"),
      el("td", m.caller, id + "-caller"),
      el("td", m.source, id + "-source"),
      el("td", m.department || "—", id + "-department"),
      el("td", m.outcome.replace(/_/g, " "), id + "-outcome"),
      el("td", cb, id + "-callback"),
    );
    tbody.appendChild(tr);
  }
}

// Recordings need the token too, so a plain link would get a 401: fetch with the
// header and play the result from a blob: URL in place.
function recordingCell(c, id) {
  const td = el("td");
  if (!c.has_recording) {
    td.textContent = "—";
    return td;
  }
  const a = el("a", (c.recording_secs !== null ? c.recording_secs.toFixed(1) + " s" : "play") +
    (c.recording_flag ? " (" + c.recording_flag + ")" : ""), id + "-recording");
  return playable(td, a, "/api/callbacks/" + encodeURIComponent(c.id) + "/recording");
}

function playable(td, a, href) {
  a.href = href;
  a.addEventListener("click", async (ev) => {
    ev.preventDefault();
    try {
      const r = await fetch(a.href, { headers: authHeaders(), cache: "no-store" });
      if (!r.ok) throw new Error("HTTP " + r.status);
      const url = URL.createObjectURL(await r.blob());
      const audio = document.createElement("audio");
      audio.controls = true;
      audio.src = url;
      td.replaceChildren(audio);
      audio.play().catch(() => {});
    } catch (e) {
      a.textContent = "cannot load (" + e.message + ")";
    }
  });
  td.appendChild(a);
  return td;
}

function renderRecordings(d) {
  const tbody = $("recording-rows");
  tbody.replaceChildren();
  const rows = d.recordings || [];
  if (rows.length === 0) return emptyRow(tbody, 5, "no recorded conversations today");
  rows.forEach((c, i) => {
    const id = "recording-" + i;
    const tr = el("tr", null, id);
    const td = el("td");
    tr.append(
      el("td", localTime(c.started_at), id + "-time"),
      el("td", c.caller, id + "-caller"),
      el("td", c.department || "—", id + "-department"),
      el("td", c.answered_by || "—", id + "-manager"),
      playable(td, el("a", "play", id + "-play"), c.url),
    );
    tbody.appendChild(tr);
  });
}

function renderCallbacks(d) {
  const tbody = $("callback-rows");
  tbody.replaceChildren();
  if (d.callbacks.length === 0) return emptyRow(tbody, 8, "the queue is empty");
  for (const c of d.callbacks) {
    const id = "callback-" + c.id;
    const tr = el("tr", null, id);
    const status = c.status + (c.claimed_by ? " by " + c.claimed_by : "");
    tr.append(
      el("td", "#" + c.id),
      el("td", c.caller, id + "-caller"),
      el("td", c.department, id + "-department"),
      el("td", c.reason.replace(/_/g, " "), id + "-reason"),
      figure("td", c.age_s, fmtAge(c.age_s), id + "-age"),
      el("td", status, id + "-status"),
      recordingCell(c, id),
      callbackActions(c, id),
    );
    tbody.appendChild(tr);
  }
}

// ---- acting on the data (issue 13) --------------------------------------------------

const ACTING_KEY = "switchboard.acting";
// Outcomes being typed, kept across refreshes (the table is redrawn every few seconds).
const editing = {};

function actingAs() {
  return $("acting-as").value;
}

// POST JSON with the token; on success refresh at once, else show why.
async function act(path, body) {
  try {
    const headers = Object.assign({ "Content-Type": "application/json" }, authHeaders());
    const r = await fetch(path, { method: "POST", headers, body: JSON.stringify(body || {}) });
    if (!r.ok) {
      let msg = "HTTP " + r.status;
      try {
        msg = (await r.json()).error || msg;
      } catch (e) {}
      throw new Error(msg);
    }
    setStatus("ok", "done");
  } catch (e) {
    setStatus("error", e.message);
  }
  refresh();
}

function button(text, testid, onClick) {
  const b = el("button", text, testid);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

function needManager() {
  const m = actingAs();
  if (!m) setStatus("error", "choose who you are (acting as) first");
  return m;
}

function callbackActions(c, id) {
  const td = el("td");
  td.className = "actions";
  if (c.status === "open") {
    td.appendChild(button("claim", id + "-claim", () => {
      const m = needManager();
      if (m) act("/api/callbacks/" + c.id + "/claim", { manager: m });
    }));
  }
  const input = el("input", null, id + "-outcome");
  input.placeholder = "outcome";
  input.value = editing[c.id] || "";
  input.addEventListener("input", () => { editing[c.id] = input.value; });
  td.appendChild(input);
  td.appendChild(button("close", id + "-close", () => {
    const m = needManager();
    const outcome = input.value.trim();
    if (!m) return;
    if (!outcome) return setStatus("error", "write what happened (outcome) first");
    delete editing[c.id];
    act("/api/callbacks/" + c.id + "/done", { manager: m, outcome: outcome });
  }));
  return td;
}

function renderActing(d) {
  const sel = $("acting-as");
  const managers = Array.isArray(d.managers) ? d.managers : [];
  const want = sel.value || sessionGet(ACTING_KEY);
  sel.replaceChildren(el("option", "(choose)"));
  sel.firstChild.value = "";
  for (const m of managers) {
    const o = el("option", m.display_name || m.name);
    o.value = m.name;
    sel.appendChild(o);
  }
  sel.value = managers.some((m) => m.name === want) ? want : "";
  $("acting").hidden = managers.length === 0;
}

function sessionGet(key) {
  try {
    return sessionStorage.getItem(key) || "";
  } catch (e) {
    return "";
  }
}

const AGENT_TEXT = {
  free: "free", ringing: "ringing", talking: "talking", wrap_up: "wrap-up",
  paused: "paused", dnd: "do not disturb", offline: "offline",
};

function renderAgents(d) {
  const tbody = $("agent-rows");
  tbody.replaceChildren();
  const managers = Array.isArray(d.managers) ? d.managers : [];
  if (managers.length === 0) return emptyRow(tbody, 5, "no managers");
  for (const m of managers) {
    const id = "agent-" + m.name;
    const tr = el("tr", null, id);
    tr.className = "agent-" + m.state;
    const since = m.paused ? m.paused.reason + " since " + localTime(m.paused.since) : "—";
    const td = el("td");
    td.className = "actions";
    if (m.paused) {
      td.appendChild(button("unpause", id + "-unpause", () =>
        act("/api/managers/" + encodeURIComponent(m.name) + "/unpause")));
    } else {
      const reason = el("input", null, id + "-reason");
      reason.placeholder = "reason";
      reason.value = editing["agent:" + m.name] || "break";
      reason.addEventListener("input", () => { editing["agent:" + m.name] = reason.value; });
      td.appendChild(reason);
      td.appendChild(button("pause", id + "-pause", () => {
        const r = reason.value.trim() || "break";
        act("/api/managers/" + encodeURIComponent(m.name) + "/pause", { reason: r });
      }));
    }
    td.appendChild(button(m.dnd ? "DND off" : "DND on", id + "-dnd", () =>
      act("/api/managers/" + encodeURIComponent(m.name) + "/dnd", { on: !m.dnd })));
    tr.append(
      el("td", m.display_name || m.name, id + "-name"),
      el("td", AGENT_TEXT[m.state] || m.state, id + "-state"),
      el("td", since, id + "-reason-since"),
      el("td", (m.signed_out_of || []).join(", ") || "—", id + "-signed-out"),
      td,
    );
    tbody.appendChild(tr);
  }
}

function fmtEstimate(s) {
  if (s === null || s === undefined) return "—";
  if (s < 60) return "< 1 min";
  return "~" + Math.round(s / 60) + " min";
}

function renderQueues(d) {
  const box = $("queues");
  box.replaceChildren();
  const levels = (d.report && d.report.service_level) || [];
  const queues = d.queues || [];
  if (queues.length === 0) {
    const p = el("p", "no departments");
    p.className = "caption";
    box.appendChild(p);
  }
  for (const q of queues) {
    const id = "queue-" + q.department;
    const card = el("div", null, id);
    card.className = "queue";
    card.appendChild(el("h4", q.department));
    const sl = levels.find((l) => l.department === q.department && l.date === d.date);
    const facts = el("div");
    facts.className = "facts";
    facts.append(
      figure("span", q.waiting.length, q.waiting.length + " waiting", id + "-waiting"),
      document.createTextNode(" · "),
      figure("span", q.signed_in, q.signed_in + " signed in", id + "-signed-in"),
      document.createTextNode(" · service level "),
    );
    const slText = sl && sl.share !== null
      ? Math.round(sl.share * 100) + "% ≤ " + sl.threshold_secs + " s (" + sl.answered_within + "/" + sl.offered + ")"
      : "—";
    const slEl = figure("span", sl && sl.share !== null ? sl.share : "", slText, id + "-service-level");
    slEl.className = "sl";
    facts.appendChild(slEl);
    card.appendChild(facts);
    const table = el("table");
    const tbody = el("tbody", null, id + "-rows");
    if (q.waiting.length === 0) emptyRow(tbody, 5, "nobody waiting");
    for (const w of q.waiting) {
      const wid = "queued-" + w.call_id;
      const tr = el("tr", null, wid);
      const who = el("td", w.caller, wid + "-caller");
      if (w.callback) {
        const tag = el("span", "callback", wid + "-callback");
        tag.className = "tag";
        who.append(" ", tag);
      }
      tr.append(
        figure("td", w.position, "#" + w.position, wid + "-position"),
        who,
        figure("td", w.waited_s, fmtDuration(w.waited_s), wid + "-waited"),
        figure("td", w.estimate_s, fmtEstimate(w.estimate_s), wid + "-estimate"),
        el("td", w.priority > 0 ? "priority " + w.priority : ""),
      );
      tbody.appendChild(tr);
    }
    table.appendChild(tbody);
    card.appendChild(table);
    box.appendChild(card);
  }
  const rows = $("dialback-rows");
  rows.replaceChildren();
  const dialbacks = d.dialbacks || [];
  if (dialbacks.length === 0) return emptyRow(rows, 7, "nobody waits for a callback");
  for (const c of dialbacks) {
    const id = "dialback-" + c.id;
    const tr = el("tr", null, id);
    const td = el("td");
    td.className = "actions";
    if (c.status === "waiting") {
      td.appendChild(button("take out", id + "-cancel", () =>
        act("/api/queue/callbacks/" + encodeURIComponent(c.id) + "/cancel")));
    }
    tr.append(
      el("td", c.caller, id + "-caller"),
      el("td", c.number, id + "-number"),
      el("td", c.department, id + "-department"),
      el("td", localTime(c.queued_at), id + "-since"),
      el("td", c.status, id + "-status"),
      figure("td", c.attempts, String(c.attempts), id + "-attempts"),
      td,
    );
    rows.appendChild(tr);
  }
}

function setStatus(state, text) {
  const s = $("status");
  s.setAttribute("data-state", state);
  s.textContent = text;
}

function showAuth() {
  $("data").hidden = true;
  $("auth").hidden = false;
  $("forget").hidden = true;
  setStatus("auth", token() ? "wrong token" : "token needed");
}

let timer = null;

async function refresh() {
  clearTimeout(timer);
  try {
    const r = await fetch("/api/dashboard", { headers: authHeaders(), cache: "no-store" });
    if (r.status === 401) {
      showAuth();
      return; // no polling until a token is given
    }
    if (!r.ok) {
      let msg = "HTTP " + r.status;
      try {
        msg = (await r.json()).error || msg;
      } catch (e) {}
      throw new Error(msg);
    }
    const d = await r.json();
    renderSummary(d);
    renderLive(d);
    renderManagers(d);
    renderCharts(d);
    renderMissed(d);
    renderCallbacks(d);
    renderRecordings(d);
    renderAlerts(d);
    renderActing(d);
    renderQueues(d);
    renderAgents(d);
    $("auth").hidden = true;
    $("data").hidden = false;
    $("forget").hidden = !token();
    setStatus("ok", "updated " + localTime(d.generated_at));
  } catch (e) {
    // Keep the last figures on screen; say they are stale.
    setStatus("error", "update failed: " + e.message);
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

function start() {
  takeToken();
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("token-input").value.trim();
    try {
      sessionStorage.setItem(TOKEN_KEY, t);
    } catch (e) {
      window.switchboardToken = t;
    }
    $("token-input").value = "";
    refresh();
  });
  $("acting-as").addEventListener("change", () => {
    try {
      sessionStorage.setItem(ACTING_KEY, $("acting-as").value);
    } catch (e) {}
  });
  $("forget").addEventListener("click", () => {
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) {}
    window.switchboardToken = "";
    location.reload();
  });
  refresh();
}

start();
