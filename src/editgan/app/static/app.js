// EditGAN web tool: the page side. Plain JS, no libraries. Talks to the JSON API under /api
// (see /docs). Label maps live here as Uint8Array [H*W] on the segmenter's grid.
"use strict";

const $ = (id) => document.getElementById(id);
const DISPLAY = 512;       // longest side of the painting stage, CSS pixels
const UNDO_LIMIT = 100;
const TOOL_KEYS = { b: "brush", e: "eraser", f: "fill", i: "picker" };

const state = {
  info: null, session: null,
  original: null,          // Uint8Array: the segmentation of the image (eraser target)
  labels: null,            // Uint8Array: the painted map
  undo: [], redo: [],
  tool: "brush", current: 1, parts: new Set(),
  job: null,               // {id, source: EventSource}
  scales: {},              // vector name -> slider value
  applying: false, pending: null, // a slider request in flight; the inputs waiting behind it
  latencies: [],           // ms from slider input to the image shown, newest last
};
window.editgan = state;    // for tests and benchmarks

// ---------------------------------------------------------------- API
async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) { options.body = JSON.stringify(body); options.headers["Content-Type"] = "application/json"; }
  const response = await fetch(path, options);
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).detail || message; } catch (e) { /* not JSON */ }
    throw new Error(`${message} (HTTP ${response.status})`);
  }
  const type = response.headers.get("Content-Type") || "";
  if (response.status === 204) return null;
  return type.includes("application/json") ? response.json() : response;
}

function sessionPath(suffix) { return `/api/sessions/${state.session}${suffix}`; }

function status(text, isError = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

async function guarded(fn) {
  try { await fn(); } catch (err) { status(err.message, true); }
}

// ---------------------------------------------------------------- label maps
function decodeLabels(b64) { return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)); }

function encodeLabels(labels) {
  let s = "";
  for (let i = 0; i < labels.length; i += 8192) s += String.fromCharCode.apply(null, labels.subarray(i, i + 8192));
  return btoa(s);
}

function drawLabels() {
  const [h, w] = state.info.label_size;
  const canvas = $("overlay"), ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  const colors = state.info.labels.map((l) => l.color);
  for (let i = 0; i < state.labels.length; i++) {
    const c = colors[state.labels[i]];
    img.data[4 * i] = c[0]; img.data[4 * i + 1] = c[1]; img.data[4 * i + 2] = c[2]; img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

function setImage(payload) {
  $("image").src = payload.image;
  state.original = decodeLabels(payload.labels);
  state.labels = state.original.slice();
  state.undo = []; state.redo = [];
  $("source").textContent = payload.source;
  $("result").hidden = true;
  drawLabels();
  updateDownloads(false);
  applyScales();
}

// ---------------------------------------------------------------- painting
function gridPoint(event) {
  const [h, w] = state.info.label_size;
  const rect = $("overlay").getBoundingClientRect();
  return [(event.clientX - rect.left) / rect.width * w, (event.clientY - rect.top) / rect.height * h];
}

function snapshot() {
  state.undo.push(state.labels.slice());
  if (state.undo.length > UNDO_LIMIT) state.undo.shift();
  state.redo = [];
}

function dab(x, y) {   // a disc of the brush's diameter, centred at continuous grid point (x, y)
  const [h, w] = state.info.label_size;
  const r = Number($("brush-size").value) / 2;
  for (let py = Math.max(0, Math.floor(y - r)); py < Math.min(h, Math.ceil(y + r)); py++) {
    for (let px = Math.max(0, Math.floor(x - r)); px < Math.min(w, Math.ceil(x + r)); px++) {
      const dx = px + 0.5 - x, dy = py + 0.5 - y;
      if (dx * dx + dy * dy <= r * r || (Math.floor(x) === px && Math.floor(y) === py)) {
        const i = py * w + px;
        state.labels[i] = state.tool === "eraser" ? state.original[i] : state.current;
      }
    }
  }
}

function strokeTo(from, to) {
  const steps = Math.max(1, Math.ceil(Math.hypot(to[0] - from[0], to[1] - from[1]) * 2));
  for (let s = 1; s <= steps; s++) dab(from[0] + (to[0] - from[0]) * s / steps, from[1] + (to[1] - from[1]) * s / steps);
}

function fill(x, y) {  // 4-connected flood fill of the label under (x, y) with the current label
  const [h, w] = state.info.label_size;
  const start = Math.floor(y) * w + Math.floor(x), old = state.labels[start];
  if (old === state.current) return;
  const stack = [start];
  while (stack.length) {
    const i = stack.pop();
    if (state.labels[i] !== old) continue;
    state.labels[i] = state.current;
    const px = i % w, py = (i - px) / w;
    if (px > 0) stack.push(i - 1);
    if (px < w - 1) stack.push(i + 1);
    if (py > 0) stack.push(i - w);
    if (py < h - 1) stack.push(i + w);
  }
}

let lastPoint = null;
function onPointerDown(event) {
  if (!state.labels) return;
  const [x, y] = gridPoint(event);
  const [h, w] = state.info.label_size;
  if (x < 0 || y < 0 || x >= w || y >= h) return;
  if (state.tool === "picker") { selectLabel(state.labels[Math.floor(y) * w + Math.floor(x)]); setTool("brush"); return; }
  snapshot();
  if (state.tool === "fill") { fill(x, y); drawLabels(); return; }
  $("overlay").setPointerCapture(event.pointerId);
  lastPoint = [x, y];
  dab(x, y);
  drawLabels();
}

function onPointerMove(event) {
  if (lastPoint === null) return;
  const point = gridPoint(event);
  strokeTo(lastPoint, point);
  lastPoint = point;
  drawLabels();
}

function onPointerUp() { lastPoint = null; }

function undo() { if (state.undo.length) { state.redo.push(state.labels); state.labels = state.undo.pop(); drawLabels(); } }
function redo() { if (state.redo.length) { state.undo.push(state.labels); state.labels = state.redo.pop(); drawLabels(); } }
function reset() { if (state.original) { snapshot(); state.labels = state.original.slice(); drawLabels(); } }

function setTool(tool) {
  state.tool = tool;
  document.querySelectorAll(".tool").forEach((b) => b.classList.toggle("active", b.dataset.tool === tool));
}

// ---------------------------------------------------------------- palette
function buildPalette() {
  const list = $("palette");
  list.innerHTML = "";
  for (const label of state.info.labels) {
    const li = document.createElement("li");
    li.dataset.index = label.index;
    li.title = `label ${label.index}`;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = `rgb(${label.color.join(",")})`;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = label.name;
    const part = document.createElement("input");
    part.type = "checkbox";
    part.title = "edit this part";
    part.setAttribute("aria-label", `edit ${label.name}`);
    part.addEventListener("click", (e) => e.stopPropagation());
    part.addEventListener("change", () => { part.checked ? state.parts.add(label.name) : state.parts.delete(label.name); });
    li.append(swatch, name, part);
    li.addEventListener("click", () => { selectLabel(label.index); if (state.tool !== "fill") setTool("brush"); });
    list.append(li);
  }
  selectLabel(Math.min(1, state.info.labels.length - 1));
}

function selectLabel(index) {
  state.current = index;
  document.querySelectorAll("#palette li").forEach((li) => li.classList.toggle("current", Number(li.dataset.index) === index));
}

// ---------------------------------------------------------------- jobs (server-sent events)
function runJob(jobId, label, handlers) {
  $("job").hidden = false;
  $("job-label").textContent = label;
  $("job-progress").value = 0;
  setBusy(true);
  const source = new EventSource(`/api/jobs/${jobId}/events`);
  state.job = { id: jobId, source };
  let finished = false;
  const finish = (text, isError) => {
    finished = true;
    source.close();
    state.job = null;
    $("job").hidden = true;
    setBusy(false);
    status(text, isError);
  };
  source.addEventListener("queued", (e) => {
    const ahead = JSON.parse(e.data).position;
    if (ahead) status(`${label}: waiting for ${ahead} job(s) of other tabs`);
  });
  source.addEventListener("progress", (e) => {
    const d = JSON.parse(e.data);
    $("job-progress").value = d.step / Math.max(1, d.total);
    const loss = d.losses.loss;
    status(`${label}: step ${d.step}/${d.total}` + (loss !== undefined ? `, loss ${loss.toFixed(4)}` : ""));
  });
  source.addEventListener("done", (e) => { if (!finished) { finish(`${label}: done`); handlers.done(JSON.parse(e.data)); } });
  source.addEventListener("cancelled", (e) => {
    if (finished) return;
    const d = JSON.parse(e.data);
    finish(`${label}: cancelled`);
    if (d.after && handlers.done) handlers.done(d);   // a cancelled edit keeps its best step so far
  });
  source.addEventListener("failed", (e) => { if (!finished) finish(`${label} failed: ${JSON.parse(e.data).message}`, true); });
}

function setBusy(busy) {
  for (const id of ["sample-btn", "random-btn", "upload-btn", "edit-btn", "refine-btn"]) $(id).disabled = busy;
}

async function cancelJob() {
  if (state.job) await api("POST", `/api/jobs/${state.job.id}/cancel`);
}

// ---------------------------------------------------------------- image sources
async function sample(seed) {
  const payload = await api("POST", sessionPath("/sample"), seed === null ? {} : { seed });
  $("seed").value = payload.seed;
  setImage(payload);
  status(`sampled seed ${payload.seed}`);
}

async function upload() {
  const file = $("upload-file").files[0];
  if (!file) throw new Error("choose an image file first");
  if (file.size > state.info.max_upload_bytes) throw new Error(`the file is ${file.size} bytes; at most ${state.info.max_upload_bytes} are accepted`);
  const form = new FormData();
  form.append("file", file);
  form.append("steps", $("embed-steps").value);
  const { job_id } = await api("POST", sessionPath("/upload"), form);
  runJob(job_id, "embedding", { done: setImage });
}

// ---------------------------------------------------------------- optimisation edit
async function runEdit() {
  if (!state.labels) throw new Error("sample or upload an image first");
  const body = { labels: encodeLabels(state.labels), steps: Number($("edit-steps").value) };
  if (state.parts.size) body.parts = [...state.parts];
  const { job_id } = await api("POST", sessionPath("/edit"), body);
  runJob(job_id, "edit", { done: showResult });
}

function showResult(r) {
  $("before").src = r.before; $("after").src = r.after; $("difference").src = r.difference;
  $("result-info").textContent = `parts: ${r.parts.join(", ")}; best step ${r.best_step} of ${r.steps}` +
    (r.cancelled ? " (cancelled early)" : "") + `; region CE ${r.losses.first.ce.toFixed(3)} → ${r.losses.best.ce.toFixed(3)}`;
  $("result").hidden = false;
  if (!$("vector-name").value) $("vector-name").value = r.parts.join("_").slice(0, 40) || "edit";
  updateDownloads(true);
}

async function saveVector() {
  const saved = await api("POST", sessionPath("/vectors"), { name: $("vector-name").value.trim(), overwrite: $("overwrite").checked });
  status(`saved vector ${saved.name}`);
  await loadLibrary();
}

// ---------------------------------------------------------------- library and sliders
async function loadLibrary() {
  const { vectors, problems } = await api("GET", "/api/vectors");
  const list = $("library");
  list.innerHTML = "";
  const names = new Set(vectors.map((v) => v.name));
  for (const name of Object.keys(state.scales)) if (!names.has(name)) delete state.scales[name];
  for (const v of vectors) {
    const li = document.createElement("li");
    li.dataset.name = v.name;
    const value = state.scales[v.name] ?? 0;
    li.innerHTML = `<div class="head"><span class="name"></span>
      <span class="scale">${value.toFixed(2)}</span><span class="actions">
      <a class="download" title="download the vector (zip)">⇩</a><button class="delete" title="delete">✕</button></span></div>
      <span class="muted parts"></span>
      <input type="range" min="-2" max="2" step="0.05" value="${value}">`;
    li.querySelector(".name").textContent = v.name;
    for (const key of ["before", "after"].filter((k) => v.thumbnails.includes(k))) {
      const thumb = document.createElement("img");
      thumb.className = "thumb";
      thumb.alt = thumb.title = `${key} (the image it was learned on)`;
      thumb.src = `/api/vectors/${encodeURIComponent(v.name)}/thumbnail/${key}.png`;
      li.querySelector(".head").insertBefore(thumb, li.querySelector(".name"));
    }
    li.querySelector(".parts").textContent = v.parts.join(", ");
    li.querySelector(".download").href = `/api/vectors/${encodeURIComponent(v.name)}/download`;
    const slider = li.querySelector("input");
    slider.setAttribute("aria-label", `scale of ${v.name}`);
    slider.addEventListener("input", () => {
      state.scales[v.name] = Number(slider.value);
      li.querySelector(".scale").textContent = Number(slider.value).toFixed(2);
      applyScales(performance.now());
    });
    li.querySelector(".delete").addEventListener("click", () => guarded(async () => {
      if (!confirm(`Delete vector ${v.name}?`)) return;
      await api("DELETE", `/api/vectors/${encodeURIComponent(v.name)}`);
      await loadLibrary();
      applyScales();
    }));
    list.append(li);
  }
  if (!vectors.length) list.innerHTML = '<li class="muted">no vectors yet: run an edit and save it</li>';
  $("library-problems").textContent = problems.length ? `skipped: ${problems.join("; ")}` : "";
}

function activeScales() {
  return Object.fromEntries(Object.entries(state.scales).filter(([, s]) => s !== 0));
}

// One request in flight at a time; inputs that arrive meanwhile coalesce into one follow-up request.
async function applyScales(startedAt) {
  if (!state.session || !state.original) return;
  if (state.applying) { state.pending = { startedAt: state.pending?.startedAt ?? startedAt }; return; }
  state.applying = true;
  try {
    const response = await api("POST", sessionPath("/apply"), { scales: activeScales() });
    const serverMs = Number(response.headers.get("X-Compute-Ms"));
    const url = URL.createObjectURL(await response.blob());
    const img = $("applied");
    await new Promise((resolve) => { img.onload = resolve; img.onerror = resolve; img.src = url; });
    const old = img.dataset.url;
    if (old) URL.revokeObjectURL(old);
    img.dataset.url = url;
    let text = `server ${serverMs.toFixed(0)} ms`;
    if (typeof startedAt === "number") {
      const total = performance.now() - startedAt;
      state.latencies.push(total);
      text += `, slider → image ${total.toFixed(0)} ms`;
    }
    $("applied-info").textContent = text;
    updateDownloads(true);
  } catch (err) {
    status(err.message, true);
  } finally {
    state.applying = false;
    const pending = state.pending;
    state.pending = null;
    if (pending) applyScales(pending.startedAt);
  }
}

async function refine() {
  const scales = activeScales();
  if (!Object.keys(scales).length) throw new Error("move a slider first: refinement starts from the applied vectors");
  const { job_id } = await api("POST", sessionPath("/refine"), { scales, steps: Number($("refine-steps").value) });
  runJob(job_id, "refinement", { done: (d) => { $("applied").src = d.image; $("applied-info").textContent = "refined"; } });
}

async function adoptEdited() {
  const payload = await api("POST", sessionPath("/adopt"));
  zeroSliders(false);
  setImage(payload);
  status("continuing from the edited image");
}

function zeroSliders(apply = true) {
  for (const name of Object.keys(state.scales)) state.scales[name] = 0;
  document.querySelectorAll("#library li").forEach((li) => {
    const slider = li.querySelector("input");
    if (slider) { slider.value = 0; li.querySelector(".scale").textContent = "0.00"; }
  });
  if (apply) applyScales();
}

function updateDownloads(hasEdit) {
  const links = { "dl-edited": "edited", "dl-mask": "edited-mask", "dl-painted": "painted-mask" };
  for (const [id, what] of Object.entries(links)) {
    $(id).href = hasEdit ? sessionPath(`/download/${what}.png`) : "#";
    $(id).setAttribute("aria-disabled", String(!hasEdit));
  }
}

// ---------------------------------------------------------------- start
function layoutStage() {
  const [ih, iw] = state.info.image_size;
  const [lh, lw] = state.info.label_size;
  const scale = DISPLAY / Math.max(ih, iw);
  for (const el of [$("image"), $("stage")]) { el.style.width = `${iw * scale}px`; el.style.height = `${ih * scale}px`; }
  $("overlay").width = lw; $("overlay").height = lh;
}

function bind() {
  $("sample-btn").addEventListener("click", () => guarded(() => sample(Number($("seed").value))));
  $("random-btn").addEventListener("click", () => guarded(() => sample(null)));
  $("upload-btn").addEventListener("click", () => guarded(upload));
  $("cancel-btn").addEventListener("click", () => guarded(cancelJob));
  $("edit-btn").addEventListener("click", () => guarded(runEdit));
  $("save-btn").addEventListener("click", () => guarded(saveVector));
  $("refine-btn").addEventListener("click", () => guarded(refine));
  $("zero-btn").addEventListener("click", () => zeroSliders());
  $("adopt-btn").addEventListener("click", () => guarded(adoptEdited));
  $("undo-btn").addEventListener("click", undo);
  $("redo-btn").addEventListener("click", redo);
  $("reset-btn").addEventListener("click", reset);
  document.querySelectorAll(".tool").forEach((b) => b.addEventListener("click", () => setTool(b.dataset.tool)));
  $("brush-size").addEventListener("input", () => { $("brush-size-value").textContent = $("brush-size").value; });
  $("opacity").addEventListener("input", () => { $("overlay").style.opacity = $("opacity").value; });
  const overlay = $("overlay");
  overlay.addEventListener("pointerdown", onPointerDown);
  overlay.addEventListener("pointermove", onPointerMove);
  overlay.addEventListener("pointerup", onPointerUp);
  overlay.addEventListener("pointercancel", onPointerUp);
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT") return;
    const key = e.key.toLowerCase();
    if ((e.ctrlKey || e.metaKey) && key === "z") { e.preventDefault(); e.shiftKey ? redo() : undo(); }
    else if ((e.ctrlKey || e.metaKey) && key === "y") { e.preventDefault(); redo(); }
    else if (!e.ctrlKey && !e.metaKey && TOOL_KEYS[key]) setTool(TOOL_KEYS[key]);
  });
}

async function start() {
  state.info = await api("GET", "/api/info");
  $("bundle-name").textContent = `bundle ${state.info.bundle} (${state.info.image_size.join("×")})`;
  $("edit-steps").value = state.info.defaults.edit_steps;
  $("refine-steps").value = state.info.defaults.refine_steps;
  $("embed-steps").value = state.info.defaults.embed_steps;
  state.session = (await api("POST", "/api/sessions")).session_id;
  window.addEventListener("pagehide", () => fetch(sessionPath(""), { method: "DELETE", keepalive: true }));
  layoutStage();
  $("overlay").style.opacity = $("opacity").value;
  buildPalette();
  bind();
  updateDownloads(false);
  await loadLibrary();
  await sample(Number($("seed").value));
  document.body.dataset.ready = "true";
}

guarded(start);
