// moodplayer's page: live state over server-sent events, commands as same-origin POSTs. No build step.
"use strict";

const COLORS = { angry: "#d64545", disgust: "#7d9a3a", fear: "#8e5bd6", happy: "#e6b422", neutral: "#8a8a8a",
                 sad: "#3f7fd6", surprise: "#e07b39", uncertain: "#cccccc" };
const SVG = "http://www.w3.org/2000/svg";
const state = { status: null, history: [], circumplex: {}, labels: [], wasDown: false };
const $ = (id) => document.getElementById(id);

function setLink(up, text) {
  const el = $("link");
  el.textContent = text;
  el.classList.toggle("down", !up);
}

async function post(op, body) {
  $("error").textContent = "";
  try {
    const r = await fetch("/api/" + op, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
    const reply = await r.json();
    if (!r.ok) $("error").textContent = reply.error || ("error " + r.status);
  } catch (e) {
    $("error").textContent = "the player did not answer: " + e;
  }
}

function svg(name, attrs, text) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function drawPoints() {
  const g = $("points");
  g.replaceChildren();
  for (const [label, [v, a]] of Object.entries(state.circumplex)) {
    g.append(svg("circle", { cx: v, cy: -a, r: 0.035, class: "point" }));
    g.append(svg("text", { x: v + 0.05, y: -a + 0.04, class: "point-label" }, label));
  }
}

function drawOverrides(labels) {
  if (labels.join() === state.labels.join()) return;
  state.labels = labels;
  const box = $("overrides");
  box.replaceChildren();
  for (const label of labels) {
    const b = document.createElement("button");
    b.type = "button";
    b.id = "override-" + label;
    b.textContent = label;
    b.addEventListener("click", () => post("mood", { mood: label, minutes: Number($("minutes").value) }));
    box.append(b);
  }
}

function render(s) {
  if (!s) return;
  state.status = s;
  $("mood").textContent = s.mood || "…";
  $("source").textContent = s.source;
  $("source").className = "badge " + s.source;
  $("confidence").textContent = s.source === "camera" ? Math.round(100 * s.confidence) + "% sure, "
    + s.faces + (s.faces === 1 ? " face" : " faces") : "";
  $("dot").setAttribute("cx", s.valence || 0);
  $("dot").setAttribute("cy", -(s.arousal || 0));
  $("song").textContent = s.song_name ? s.song_name + (s.artist ? " — " + s.artist : "") : "nothing playing";
  $("pause").textContent = s.paused ? "Resume" : "Pause";
  $("pause").dataset.paused = s.paused ? "1" : "";
  if (document.activeElement !== $("volume") && s.volume != null) $("volume").value = s.volume;
  $("strategy-match").setAttribute("aria-pressed", s.strategy === "match");
  $("strategy-uplift").setAttribute("aria-pressed", s.strategy === "uplift");
  $("privacy").setAttribute("aria-pressed", !!s.privacy);
  $("privacy").textContent = s.privacy ? "Watch again" : "Stop watching";
  $("camera-device").textContent = s.camera_device ? "camera: " + s.camera_device : "";
  $("override").textContent = s.override
    ? `holding ${s.override.mood} for ${Math.ceil(s.override.remaining_s / 60)} more min` : "";
  drawOverrides(s.labels || []);
}

function drawTimeline() {
  const box = $("timeline");
  box.replaceChildren();
  const moods = state.history.filter((e) => e.type === "mood");
  const lanes = state.labels.length ? state.labels.concat(["uncertain"]) : Object.keys(COLORS);
  const now = Date.now() / 1000;
  if (!moods.length) { $("timeline-range").textContent = "no moods yet today"; return; }
  const t0 = moods[0].time, t1 = Math.max(now, t0 + 60), left = 52, width = 320 - left - 4;
  const x = (t) => left + width * (t - t0) / (t1 - t0);
  const y = (label) => 8 + 134 * Math.max(0, lanes.indexOf(label)) / Math.max(1, lanes.length - 1);
  for (const label of lanes) box.append(svg("text", { x: 0, y: y(label) + 3, class: "lane" }, label));
  moods.forEach((e, i) => {
    const end = i + 1 < moods.length ? moods[i + 1].time : now;
    box.append(svg("line", { x1: x(e.time), x2: Math.max(x(end), x(e.time) + 2), y1: y(e.mood), y2: y(e.mood),
      class: "seg", stroke: COLORS[e.mood] || "#888", "data-mood": e.mood, "data-source": e.source || "camera" }));
  });
  const fmt = (t) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  $("timeline-range").textContent = `${fmt(t0)} – ${fmt(now)}, ${moods.length} mood${moods.length === 1 ? "" : "s"}`;
}

function handle(event) {
  switch (event.type) {
    case "hello":
      state.circumplex = event.circumplex || {};
      state.history = event.history || [];
      drawPoints();
      render(event.status);
      linkChanged(event.connected);
      drawTimeline();
      break;
    case "status":
      render(event);
      break;
    case "link":
      if (event.up) {
        state.history = event.history || state.history;
        render(event.status);
        drawTimeline();
      }
      linkChanged(event.up);
      break;
    default:
      if (["mood", "song", "override", "like", "skip"].includes(event.type)) {
        state.history.push(event);
        drawTimeline();
      }
  }
}

function linkChanged(up) {
  if (up) {
    setLink(true, state.wasDown ? "reconnected to the player" : "live");
    state.wasDown = false;
  } else {
    state.wasDown = true;
    setLink(false, "the player is not running: reconnecting…");
  }
}

function connect() {
  const events = new EventSource("/api/events");
  events.onmessage = (m) => handle(JSON.parse(m.data));
  events.onerror = () => {
    state.wasDown = true;
    setLink(false, "lost the companion: reconnecting…");
  };
}

window.addEventListener("DOMContentLoaded", () => {
  $("like").addEventListener("click", () => post("like"));
  $("skip").addEventListener("click", () => post("skip"));
  $("pause").addEventListener("click", () => post($("pause").dataset.paused ? "resume" : "pause"));
  $("volume").addEventListener("change", () => post("volume", { volume: Number($("volume").value) }));
  $("strategy-match").addEventListener("click", () => post("strategy", { strategy: "match" }));
  $("strategy-uplift").addEventListener("click", () => post("strategy", { strategy: "uplift" }));
  $("override-clear").addEventListener("click", () => post("mood", { mood: null }));
  $("privacy").addEventListener("click",
    () => post("privacy", { on: $("privacy").getAttribute("aria-pressed") !== "true" }));
  connect();
  setInterval(drawTimeline, 60000);
});
