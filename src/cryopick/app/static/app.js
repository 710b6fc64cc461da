"use strict";
// cryopick app: the page. Plain JS, no build step. Coordinates sent to and received from the
// server are particle centres in original-micrograph pixels; the SVG's user units are the
// displayed image's pixels, pixel centres on integers, so original = user * orig_px_per_image_px.

const token = new URLSearchParams(location.search).get("token") || "";
const SVG_NS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

const app = {
  micrographs: [],      // [{name, n_labels, n_picks, ...}] in list order
  byName: new Map(),
  index: 0,             // the current micrograph's place in the list
  current: null,        // {name, image_shape, orig_px_per_image_px, labels, picks}
  threshold: 0,
  radiusOrig: 1,
  regions: new Map(),   // "Which next?": name -> [[x, y], ...] most uncertain picks
  training: null,
  polling: null,
  listTimer: null,
  viewBox: null,        // [x, y, width, height] in image pixels
};

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: {"X-Cryopick-Token": token, "Content-Type": "application/json"},
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}
const post = (path, data) => api(path, {method: "POST", body: JSON.stringify(data || {})});

function say(text) { $("message").textContent = text || ""; }
async function attempt(action) {
  try { say(""); await action(); } catch (error) { say(error.message); }
}

// ---- the list ---------------------------------------------------------------------------------

function renderList() {
  const body = document.querySelector("#micrographs tbody");
  body.replaceChildren(...app.micrographs.map((m, i) => {
    const row = document.createElement("tr");
    row.dataset.name = m.name;
    if (i === app.index) row.className = "current";
    for (const [text, cls] of [[m.name, ""], [m.n_labels, "n n-labels"], [m.n_picks, "n n-picks"]]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      if (cls) cell.className = cls;
      row.append(cell);
    }
    row.addEventListener("click", () => go(i));
    return row;
  }));
  const labels = app.micrographs.reduce((sum, m) => sum + m.n_labels, 0);
  const picks = app.micrographs.reduce((sum, m) => sum + m.n_picks, 0);
  $("totals").textContent = `${app.micrographs.length} micrographs, ${labels} labels, ${picks} picks at or above ${app.threshold.toFixed(1)}`;
  $("totals").dataset.labels = labels;
}

function setCounts(name, nLabels, nPicks) {
  const entry = app.byName.get(name);
  if (!entry) return;
  entry.n_labels = nLabels;
  if (nPicks !== undefined) entry.n_picks = nPicks;
  renderList();
}

async function refreshCounts() {
  const data = await api(`/api/micrographs?threshold=${app.threshold}`);
  for (const m of data.micrographs) {
    const entry = app.byName.get(m.name);
    if (entry) { entry.n_labels = m.n_labels; entry.n_picks = m.n_picks; }
  }
  renderList();
}

function scheduleCounts() {
  clearTimeout(app.listTimer);
  app.listTimer = setTimeout(() => attempt(refreshCounts), 150);
}

function order(names) {
  const current = app.micrographs[app.index] && app.micrographs[app.index].name;
  app.micrographs = names.map((n) => app.byName.get(n)).filter(Boolean);
  app.index = Math.max(0, app.micrographs.findIndex((m) => m.name === current));
  renderList();
}

// ---- the viewer -------------------------------------------------------------------------------

function svgPoint(event) {
  const svg = $("viewer");
  const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
  return [point.x, point.y];
}

function setViewBox(box) {
  app.viewBox = box;
  $("viewer").setAttribute("viewBox", box.join(" "));
}

function fit() {
  if (!app.current) return;
  const [rows, cols] = app.current.image_shape;
  setViewBox([-0.5, -0.5, cols, rows]);
}

function circle(cls, x, y, radius, extra) {
  const c = document.createElementNS(SVG_NS, "circle");
  c.setAttribute("class", cls);
  c.setAttribute("cx", x);
  c.setAttribute("cy", y);
  c.setAttribute("r", radius);
  for (const [k, v] of Object.entries(extra || {})) c.setAttribute(k, v);
  return c;
}

function scoreColour(score) {
  // violet (near the threshold) through red to yellow (four log-odds units above): never the labels' green
  const t = Math.max(0, Math.min(1, (score - app.threshold) / 4));
  return `hsl(${(280 + 130 * t) % 360}, 100%, 62%)`;
}

function shownPicks() {
  return app.current ? app.current.picks.filter((p) => p[2] >= app.threshold) : [];
}

function renderMarks() {
  const m = app.current;
  if (!m) return;
  const scale = m.orig_px_per_image_px;
  const radius = app.radiusOrig / scale;
  const shown = shownPicks();
  $("picks").replaceChildren(...shown.map(([x, y, s]) => circle("pick", x / scale, y / scale, radius,
    {"data-x": x, "data-y": y, stroke: scoreColour(s), "data-score": s.toFixed(2)})));
  $("labels").replaceChildren(...m.labels.map(([x, y]) => circle("label", x / scale, y / scale, radius,
    {"data-x": x, "data-y": y})));
  const regions = app.regions.get(m.name) || [];
  $("suggestions").replaceChildren(...regions.map(([x, y]) => circle("suggest", x / scale, y / scale, radius * 1.6)));
  $("pick-count").textContent = `${shown.length} of ${m.picks.length} picks shown`;
  $("pick-count").dataset.count = shown.length;
  $("label-count").textContent = `${m.labels.length} labels`;
  $("label-count").dataset.count = m.labels.length;
  setCounts(m.name, m.labels.length, shown.length);
}

function show(micrograph) {
  const changed = !app.current || app.current.name !== micrograph.name;
  app.current = micrograph;
  if (changed) {
    const [rows, cols] = micrograph.image_shape;
    const image = $("micrograph-image");
    $("viewer").dataset.loaded = "";
    image.onload = () => { $("viewer").dataset.loaded = micrograph.name; };
    image.setAttribute("width", cols);
    image.setAttribute("height", rows);
    image.setAttribute("href", imageUrl(micrograph.name));
    $("title").textContent = micrograph.name;
    fit();
    prefetch(app.index + 1);
  }
  renderMarks();
}

const imageUrl = (name) => `/api/micrographs/${enc(name)}/image?token=${enc(token)}`;
function prefetch(index) {
  const next = app.micrographs[index];
  if (next) new Image().src = imageUrl(next.name);
}

async function go(index) {
  if (!app.micrographs.length) return;
  app.index = (index + app.micrographs.length) % app.micrographs.length;
  renderList();
  const row = document.querySelector("#micrographs tr.current");
  if (row) row.scrollIntoView({block: "nearest"});
  await attempt(async () => show(await api(`/api/micrographs/${enc(app.micrographs[app.index].name)}`)));
}

async function reloadCurrent() {
  if (app.current) show(await api(`/api/micrographs/${enc(app.current.name)}`));
}

// ---- clicks, zoom and pan ---------------------------------------------------------------------

let drag = null;

function onPointerDown(event) {
  if (event.button !== 0 || !app.current) return;
  drag = {x: event.clientX, y: event.clientY, box: app.viewBox.slice(), moved: false, target: event.target,
          scale: 1 / $("viewer").getScreenCTM().a, shift: event.shiftKey};
  $("viewer").setPointerCapture(event.pointerId);
}

function onPointerMove(event) {
  if (!drag) return;
  const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
  if (!drag.moved && Math.hypot(dx, dy) < 4) return;
  drag.moved = true;
  $("viewer").classList.add("panning");
  setViewBox([drag.box[0] - dx * drag.scale, drag.box[1] - dy * drag.scale, drag.box[2], drag.box[3]]);
}

function onPointerUp(event) {
  if (!drag) return;
  const done = drag;
  drag = null;
  $("viewer").classList.remove("panning");
  if (!done.moved) attempt(() => click(event, done.target, done.shift));
}

async function click(event, target, shift) {
  const m = app.current;
  const path = `/api/micrographs/${enc(m.name)}`;
  let response;
  if (target.classList && target.classList.contains("label")) {
    response = await post(`${path}/labels/remove`, {x_orig_px: +target.dataset.x, y_orig_px: +target.dataset.y});
  } else if (target.classList && target.classList.contains("pick")) {
    response = await post(`${path}/picks/${shift ? "reject" : "accept"}`,
                          {x_orig_px: +target.dataset.x, y_orig_px: +target.dataset.y});
  } else {
    const [u, v] = svgPoint(event);
    const [rows, cols] = m.image_shape;
    if (u < -0.5 || v < -0.5 || u > cols - 0.5 || v > rows - 0.5) return;
    const [maxX, maxY] = [m.shape_orig_px[1] - 1, m.shape_orig_px[0] - 1];
    const x = Math.min(maxX, Math.max(0, u * m.orig_px_per_image_px));
    const y = Math.min(maxY, Math.max(0, v * m.orig_px_per_image_px));
    response = await post(`${path}/labels`, {x_orig_px: x, y_orig_px: y});
  }
  show(response.micrograph);
}

function onWheel(event) {
  if (!app.current) return;
  event.preventDefault();
  const [u, v] = svgPoint(event);
  const factor = Math.pow(1.0015, event.deltaY);
  const [x, y, w, h] = app.viewBox;
  setViewBox([u - (u - x) * factor, v - (v - y) * factor, w * factor, h * factor]);
}

// ---- picks, undo ------------------------------------------------------------------------------

function setThresholdRange(range) {
  const slider = $("threshold");
  if (range) {
    slider.min = Math.floor(range[0] * 10) / 10;
    slider.max = Math.ceil(range[1] * 10) / 10;
  }
  slider.value = app.threshold;
  app.threshold = +slider.value;
  $("threshold-value").textContent = app.threshold.toFixed(1);
}

function onThreshold() {
  app.threshold = +$("threshold").value;
  $("threshold-value").textContent = app.threshold.toFixed(1);
  renderMarks();
  scheduleCounts();
}

async function judgeShown(accept) {
  const m = app.current;
  if (!m) return;
  const response = await post(`/api/micrographs/${enc(m.name)}/picks/${accept ? "accept" : "reject"}`,
                              {min_score: app.threshold});
  say(`${accept ? "accepted" : "rejected"} ${response.result} picks`);
  show(response.micrograph);
}

async function undo() {
  const response = await post("/api/undo");
  const name = response.micrograph.name;
  const index = app.micrographs.findIndex((m) => m.name === name);
  if (app.current && app.current.name !== name && index >= 0) { app.index = index; renderList(); }
  show(response.micrograph);
  say(`undone on ${name}`);
}

// ---- training and "Which next?" ---------------------------------------------------------------

function renderTraining(status) {
  app.training = status;
  const box = $("train-status");
  box.dataset.state = status.state;
  $("train-progress").value = status.progress;
  const elapsed = status.state === "running" && status.elapsed_s !== undefined ? ` (${status.elapsed_s} s)` : "";
  const took = status.state === "done" && status.seconds !== null ? ` in ${status.seconds} s` : "";
  box.textContent = status.state === "idle" && !status.message ? "no training yet" : `${status.message}${elapsed}${took}`;
  $("train").disabled = status.state === "running";
}

async function pollTraining() {
  const status = await api("/api/train");
  const was = app.training && app.training.state;
  if (status.state !== "running") {
    clearInterval(app.polling);
    app.polling = null;
    // the new picks are loaded before the status says "done", so that "done" means they are shown
    if (was === "running" && status.state === "done") return loadState(true);
  }
  renderTraining(status);
}

function startPolling() {
  if (!app.polling) app.polling = setInterval(() => attempt(pollTraining), 1000);
}

async function train() {
  const value = $("expected").value.trim();
  const body = value ? {expected_particles_per_micrograph: +value} : {};
  renderTraining(await post("/api/train", body));
  startPolling();
}

async function whichNext() {
  const data = await api("/api/next");
  app.regions = new Map(data.order.map((s) => [s.name, s.regions]));
  order(data.order.map((s) => s.name));
  await go(0);
  const first = data.order[0];
  say(first && first.uncertainty_bits !== null
    ? `most uncertain first: ${first.name} (${first.uncertainty_bits.toFixed(1)} bits; orange: its least certain picks)`
    : "fewest labels first (no picks yet to be uncertain about)");
}

function byName() {
  app.regions = new Map();
  order([...app.byName.keys()].sort());
  renderMarks();
}

// ---- start ------------------------------------------------------------------------------------

async function loadState(keepPlace) {
  const state = await api(`/api/state?threshold=${app.threshold}`);
  const names = keepPlace ? app.micrographs.map((m) => m.name) : state.micrographs.map((m) => m.name);
  app.byName = new Map(state.micrographs.map((m) => [m.name, m]));
  app.micrographs = names.map((n) => app.byName.get(n)).filter(Boolean);
  app.radiusOrig = state.particle_radius_orig_px;
  if (state.expected_particles_per_micrograph !== null && !$("expected").value) {
    $("expected").value = state.expected_particles_per_micrograph;
  }
  setThresholdRange(state.score_range);
  renderList();
  if (keepPlace && app.current) await reloadCurrent(); else await go(app.index);
  renderTraining(state.training);
  if (state.training.state === "running") startPolling();
}

function onKey(event) {
  const key = event.key;
  // a number being typed, or the slider's own arrow keys
  if (event.target instanceof HTMLInputElement && (event.target.type !== "range" || key.startsWith("Arrow"))) return;
  if (key === "ArrowRight" || key === "n") go(app.index + 1);
  else if (key === "ArrowLeft" || key === "p") go(app.index - 1);
  else if (key === "u" || ((event.ctrlKey || event.metaKey) && key === "z")) attempt(undo);
  else if (key === "f") fit();
  else return;
  event.preventDefault();
}

function start() {
  const svg = $("viewer");
  svg.addEventListener("pointerdown", onPointerDown);
  svg.addEventListener("pointermove", onPointerMove);
  svg.addEventListener("pointerup", onPointerUp);
  svg.addEventListener("wheel", onWheel, {passive: false});
  $("threshold").addEventListener("input", onThreshold);
  $("accept-shown").addEventListener("click", () => attempt(() => judgeShown(true)));
  $("reject-shown").addEventListener("click", () => attempt(() => judgeShown(false)));
  $("undo").addEventListener("click", () => attempt(undo));
  $("fit").addEventListener("click", fit);
  $("train").addEventListener("click", () => attempt(train));
  $("which-next").addEventListener("click", () => attempt(whichNext));
  $("by-name").addEventListener("click", byName);
  document.addEventListener("keydown", onKey);
  attempt(() => loadState(false));
}

start();
