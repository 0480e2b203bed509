// EditGAN web tool: the page side. Plain JS, no libraries. Talks to the JSON API under /api
// (see /docs). Label maps live here as Uint8Array [H*W] on the segmenter's grid.
"use strict";

const $ = (id) => document.getElementById(id);
const TOOL_KEYS = { b: "brush", e: "eraser", f: "fill", i: "picker" };
// Parts too large to be a sensible first brush (compared with the last "***" segment of a name).
const BROAD_PARTS = new Set(["background", "head", "skin", "face", "neck", "hair", "cloth", "clothes", "body", "car body"]);

const state = {
  info: null, session: null,
  statusOf: {},            // per mode (edit, annotate): the status line it showed last
  original: null,          // Uint8Array: the segmentation of the image (eraser target)
  labels: null,            // Uint8Array: the painted map
  sent: null,              // Uint8Array: the map last sent with an edit on this image (null: none)
  imageSrc: null,          // the image being edited (data URL)
  undo: [], redo: [],
  tool: "brush", current: 1, parts: new Set(),
  job: null,               // {id, source: EventSource}
  scales: {},              // vector name -> slider value
  applying: false, pending: null, // a slider request in flight; the inputs waiting behind it
  latencies: [],           // ms from slider input to the image shown, newest last
  hasEdit: false,          // the "Edited image" view shows an edit (edit result, vectors, refinement)
  unsavedEdit: false,      // an edit result not saved as a vector
  comparing: false,        // the big stage shows the edited image instead of the original
  uploadCropped: false,    // the last upload was centre-cropped (its note shows beside it)
  zoom: 1,
};
window.editgan = state;    // for tests and benchmarks

// ---------------------------------------------------------------- API
async function api(method, path, body, retried = false) {
  const options = { method, headers: {}, cache: "no-store" };
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) { options.body = JSON.stringify(body); options.headers["Content-Type"] = "application/json"; }
  const response = await fetch(path, options);
  const old = state.session;
  if (response.status === 404 && old && path.startsWith(`/api/sessions/${old}/`) && !retried) {
    await recoverSession();  // evicted while idle: a new session continues from the same image
    return api(method, path.replace(old, state.session), body, true);
  }
  if (!response.ok) {
    let message = response.statusText, data = null;
    try { data = await response.json(); message = data.detail || message; } catch (e) { /* not JSON */ }
    const error = new Error(`${message} (HTTP ${response.status})`);
    error.status = response.status;
    error.data = data;  // e.g. a conflict's {id, version}
    throw error;
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

function clearError() { if ($("status").classList.contains("error")) status(""); }

async function guarded(fn) {
  const stale = $("status").classList.contains("error") ? $("status").textContent : null;
  try {
    await fn();
    if (stale !== null && $("status").textContent === stale) clearError();  // a later success clears an old error
  } catch (err) { status(err.message, true); }
}

// ---------------------------------------------------------------- label maps
function drawLabels() { renderLabels($("overlay"), state.labels, state.info.labels.map((l) => l.color)); }

function setImage(payload, remember = true) {
  if (remember) rememberImage();  // in the background; it never touches the status line
  state.imageSrc = payload.image;
  state.original = decodeLabels(payload.labels);
  state.labels = state.original.slice();
  state.sent = null;
  state.undo = []; state.redo = [];
  state.unsavedEdit = false;
  if (!localStorage.getItem(labelMemoryKey())) selectLabel(defaultLabel());  // a part this image has
  $("source").textContent = payload.source;
  $("result").hidden = true;
  $("upload-compare").hidden = true;
  $("upload-note").hidden = true;
  setComparing(false);
  drawLabels();
  showEdited(payload.image, "", false);  // until the sliders' image arrives
  applyScales();
}

// Painting not yet sent with an edit, or an edit result not saved as a vector, is lost when the image
// changes: ask first. `withResult` false where the result is what the new image continues from.
function confirmDiscard(action, withResult = true) {
  const lost = [];
  const reference = state.sent || state.original;
  if (state.labels && state.labels.some((v, i) => v !== reference[i])) lost.push("your painting");
  if (withResult && state.unsavedEdit) lost.push("the edit result (not saved as a vector)");
  return !lost.length || confirm(`${action} replaces the image and discards ${lost.join(" and ")}. Go on?`);
}

// ---------------------------------------------------------------- painting
function gridPoint(event) {
  const [h, w] = state.info.label_size;
  return gridPointOf($("overlay"), event, w, h);
}

function snapshot() { historyPush(state, state.labels); }

function dab(x, y) {   // the brush (the eraser restores the original labels) at continuous grid point (x, y)
  const [h, w] = state.info.label_size;
  paintDisc(state.labels, w, h, x, y, Number($("brush-size").value),
            (i) => (state.tool === "eraser" ? state.original[i] : state.current));
}

let lastPoint = null;
function onPointerDown(event) {
  if (!state.labels) return;
  const [x, y] = gridPoint(event);
  const [h, w] = state.info.label_size;
  if (x < 0 || y < 0 || x >= w || y >= h) return;
  if (state.tool === "picker") { selectLabel(state.labels[Math.floor(y) * w + Math.floor(x)], true); setTool("brush"); return; }
  snapshot();
  if (state.tool === "fill") { floodFill(state.labels, w, h, x, y, state.current); drawLabels(); return; }
  $("overlay").setPointerCapture(event.pointerId);
  lastPoint = [x, y];
  dab(x, y);
  drawLabels();
}

function onPointerMove(event) {
  if (lastPoint === null) return;
  const point = gridPoint(event);
  paintLine(lastPoint, point, dab);
  lastPoint = point;
  drawLabels();
}

function onPointerUp() { lastPoint = null; }

function stepHistory(back) {
  const labels = historyStep(state, state.labels, back);
  if (labels) { state.labels = labels; drawLabels(); }
}
function undo() { stepHistory(true); }
function redo() { stepHistory(false); }
function reset() { if (state.original) { snapshot(); state.labels = state.original.slice(); drawLabels(); } }

function setTool(tool) {
  state.tool = tool;
  document.querySelectorAll(".tool").forEach((b) => b.classList.toggle("active", b.dataset.tool === tool));
}

// ---------------------------------------------------------------- view: zoom, before / after
function setZoom(zoom) {
  zoomStage("", state.zoom, zoom);
  state.zoom = zoom;
}

function stepZoom(direction) { setZoom(nextZoom(state.zoom, direction)); }

function setComparing(on) {
  state.comparing = on && state.hasEdit;
  $("image").src = state.comparing ? $("applied").src : state.imageSrc;
  $("stage").dataset.view = state.comparing ? "edited" : "original";
  $("compare-btn").setAttribute("aria-pressed", String(state.comparing));
  $("compare-btn").textContent = state.comparing ? "Show original" : "Show edited";
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
    if (label.segmented === false) {  // added to the scheme since the segmenter was trained
      li.classList.add("unsegmented");
      li.title = `label ${label.index}: the segmenter does not predict it yet; retrain it in the Annotate tab`;
      part.disabled = true;
    } else {
      li.addEventListener("click", () => { selectLabel(label.index, true); if (state.tool !== "fill") setTool("brush"); });
    }
    list.append(li);
  }
  $("scheme-note").hidden = !state.info.scheme_note;
  $("scheme-note").textContent = state.info.scheme_note ?? "";
  selectLabel(defaultLabel());
}

function labelMemoryKey() { return `editgan.label.${state.info.bundle}`; }

// The label used last with this bundle (remembered in the browser); else the first part that is not
// broad (background, head, skin, neck, hair...) and that the image shown has (the segmenter draws it
// there): a small part is what one usually repaints.
function defaultLabel() {
  const labels = state.info.labels;
  const drawn = state.original ? new Set(state.original) : null;  // labels in the image shown
  const paintable = labels.filter((l) => l.segmented !== false && (!drawn || drawn.has(l.index)));
  const remembered = labels.find((l) => l.name === localStorage.getItem(labelMemoryKey()) && l.segmented !== false);
  const small = paintable.find((l) => l.index > 0 && !BROAD_PARTS.has(l.name.split("***").pop().toLowerCase()));
  return (remembered ?? small ?? paintable.find((l) => l.index > 0) ?? labels[Math.min(1, labels.length - 1)]).index;
}

function selectLabel(index, remember = false) {
  state.current = index;
  document.querySelectorAll("#palette li").forEach((li) => li.classList.toggle("current", Number(li.dataset.index) === index));
  if (remember) localStorage.setItem(labelMemoryKey(), state.info.labels[index].name);
}

// ---------------------------------------------------------------- jobs (server-sent events)
// A job's progress row: the element `row` holding `${row}-label` and `${row}-progress` (each mode has its own).
function showJob(label, row = "job") {  // the progress row at once, indeterminate until the first progress event
  $(row).hidden = false;
  $(`${row}-label`).textContent = label;
  $(`${row}-progress`).removeAttribute("value");
  setBusy(true);
}

function endJob(row = "job") {
  $(row).hidden = true;
  setBusy(false);
  stageBusy(null);
}

// Follow a job's events: handlers.done(payload), optional handlers.progress(event) (which may return
// the label its phase goes by in the status line) and handlers.end(done).
function runJob(jobId, label, handlers, row = "job") {
  showJob(label, row);
  const source = new EventSource(`/api/jobs/${jobId}/events`);
  state.job = { id: jobId, source };
  let finished = false;
  const finish = (text, isError, done) => {
    finished = true;
    source.close();
    state.job = null;
    endJob(row);
    status(text, isError);
    if (handlers.end) handlers.end(done);
  };
  source.addEventListener("queued", (e) => {
    const ahead = JSON.parse(e.data).position;
    status(ahead ? `${label}: waiting for ${ahead} job(s) of other tabs` : `${label}: queued`);
  });
  source.addEventListener("started", () => status(`${label}: started, preparing`));
  source.addEventListener("progress", (e) => {
    const d = JSON.parse(e.data);
    $(`${row}-progress`).value = d.step / Math.max(1, d.total);
    const shown = (handlers.progress && handlers.progress(d)) || label;
    const loss = d.losses.loss;
    const eta = d.eta_s === null || d.eta_s === undefined ? "" : `, ${duration(d.eta_s)} left`;
    status(`${shown}: step ${d.step}/${d.total}` + (loss !== undefined ? `, loss ${loss.toFixed(4)}` : "") + eta);
    $(`${row}-label`).title = eta ? `${duration(d.elapsed_s)} so far${eta}` : "";
  });
  source.addEventListener("done", (e) => { if (!finished) { finish(`${label}: done`, false, true); handlers.done(JSON.parse(e.data)); } });
  source.addEventListener("cancelled", (e) => {
    if (finished) return;
    const d = JSON.parse(e.data);
    const kept = Boolean(d.after);   // a cancelled edit keeps its best step so far
    finish(`${label}: cancelled`, false, kept);
    if (kept) handlers.done(d);
  });
  source.addEventListener("failed", (e) => { if (!finished) finish(`${label} failed: ${JSON.parse(e.data).message}`, true, false); });
}

function setBusy(busy) {  // one job at a time: the buttons that start one wait
  for (const id of ["sample-btn", "random-btn", "upload-btn", "tuned-toggle", "edit-btn", "refine-btn", "annot-train-btn",
                    "annot-suggest-btn"]) $(id).disabled = busy;
}

function seedOf(id) {  // a seed input's value; seeds stop at 2^53 - 1, the largest integer a page holds exactly
  const text = $(id).value.trim(), seed = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(seed)) {
    throw new Error(`a seed is a whole number from 0 to ${Number.MAX_SAFE_INTEGER} (2^53 - 1)`);
  }
  return seed;
}

function duration(seconds) {  // "about 3 min", "12 s": an estimate, rounded
  if (seconds >= 5400) return `about ${(seconds / 3600).toFixed(1)} h`;
  if (seconds >= 90) return `about ${Math.round(seconds / 60)} min`;
  return `${Math.max(1, Math.round(seconds))} s`;
}

function stageBusy(note) {  // dim the stage with a note while its image is being replaced; null: back to normal
  $("stage").classList.toggle("busy", note !== null);
  $("stage-note").hidden = note === null;
  $("stage-note").textContent = note ?? "";
}

async function cancelJob() {
  if (state.job) await api("POST", `/api/jobs/${state.job.id}/cancel`);
}

// ---------------------------------------------------------------- image sources
async function sample(seed) {
  if (!confirmDiscard("Sampling")) return;
  const payload = await api("POST", sessionPath("/sample"), seed === null ? {} : { seed });
  $("seed").value = payload.seed;
  setImage(payload);
  status(`sampled seed ${payload.seed}`);
}

// The server centre-crops an upload to the model's aspect (io.images.load_image): show which part it
// keeps, on a preview beside which the reconstruction appears once embedded. -> true when it crops.
async function previewUpload(file) {
  let bitmap;
  try { bitmap = await createImageBitmap(file); } catch (e) { return false; }  // the server says what is wrong
  const [oh, ow] = state.info.image_size;
  const W = bitmap.width, H = bitmap.height;
  const keepW = Math.min(W, Math.floor(H * ow / oh)), keepH = Math.min(H, Math.floor(W * oh / ow));
  const left = Math.floor((W - keepW) / 2), top = Math.floor((H - keepH) / 2);
  const canvas = $("upload-preview"), k = Math.min(1, 224 / Math.max(W, H));
  canvas.width = Math.round(W * k); canvas.height = Math.round(H * k);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "rgba(255, 255, 255, 0.7)";
  ctx.fillRect(0, 0, canvas.width, top * k);
  ctx.fillRect(0, (top + keepH) * k, canvas.width, canvas.height);
  ctx.fillRect(0, top * k, left * k, keepH * k);
  ctx.fillRect((left + keepW) * k, top * k, canvas.width, keepH * k);
  const cropped = keepW < W || keepH < H;
  $("upload-note").textContent = `The upload is ${W}×${H}; only its centre ${keepW}×${keepH} is used ` +
    `(the model takes ${ow}×${oh}): the dimmed parts are cut off.`;
  $("upload-note").hidden = !cropped;
  $("reconstruction").removeAttribute("src");
  $("reconstruction-info").textContent = "embedding…";
  $("upload-compare").hidden = false;
  return cropped;
}

async function upload() {
  const file = $("upload-file").files[0];
  if (!file) throw new Error("choose an image file first");
  if (file.size > state.info.max_upload_bytes) throw new Error(`the file is ${file.size} bytes; at most ${state.info.max_upload_bytes} are accepted`);
  if (!confirmDiscard("Uploading")) return;
  showJob("uploading");
  stageBusy("uploading and embedding…");
  const form = new FormData();
  form.append("file", file);
  form.append("steps", $("embed-steps").value);
  form.append("tune", $("tune").checked);
  if ($("tune").checked) form.append("tune_steps", $("tune-steps").value);
  let job_id, cropped;
  try {
    cropped = await previewUpload(file);
    ({ job_id } = await api("POST", sessionPath("/upload"), form));
  } catch (err) {
    endJob();
    $("upload-compare").hidden = true;
    $("upload-note").hidden = true;
    throw err;
  }
  runJob(job_id, "embedding", {
    progress: (d) => { $("job-label").textContent = d.phase; return d.phase; },  // embedding, then tuning
    done: (payload) => {
      setImage(payload);
      state.uploadCropped = cropped;
      showEmbedding(payload);
    },
    end: (done) => { if (!done) { $("upload-compare").hidden = true; $("upload-note").hidden = true; } },
  });
}

// Beside the upload: its reconstruction (by G′ when tuned, else by G), the W+ pivot by G when tuned,
// how faithful each is (PSNR, perceptual distance) and the warning when G cannot draw the photo.
function showEmbedding(r) {
  const fidelity = (f) => `PSNR ${f.psnr.toFixed(1)} dB, ${f.perceptual} ${f.distance.toFixed(4)}`;
  const tuned = r.pivot_fidelity !== null;
  $("reconstruction").src = r.image;
  $("reconstruction-info").textContent = tuned ? "tuned (G′)" : `reconstruction (loss ${r.loss.toFixed(4)})`;
  $("pivot-figure").hidden = $("tuned-row").hidden = $("fidelity-pivot").hidden = !tuned;
  if (tuned) $("pivot").src = r.pivot_image;
  $("fidelity-reconstruction").textContent = (tuned ? `tuned (${r.tune_steps} steps): ` : "") + fidelity(r.fidelity);
  $("fidelity-pivot").textContent = tuned ? `W+ pivot (${r.embed_steps} steps): ${fidelity(r.pivot_fidelity)}` : "";
  $("fidelity-warning").textContent = r.warning ?? "";
  $("fidelity-warning").hidden = !r.warning;
  showUploadCompare(r.tuned);
}

function showUploadCompare(tuned) {  // which reconstruction is the image being edited
  $("tuned-toggle").checked = tuned;
  $("reconstruction-figure").classList.toggle("editing", tuned || $("pivot-figure").hidden);
  $("pivot-figure").classList.toggle("editing", !tuned && !$("pivot-figure").hidden);
  $("upload-compare").hidden = false;
  $("upload-note").hidden = !state.uploadCropped;
}

// A tuned upload is edited as drawn by G′ or, to compare, its W+ pivot as drawn by G; the sliders stay.
async function setTuned(on) {
  if (!confirmDiscard(on ? "Editing with G′" : "Editing the W+ pivot with G")) { $("tuned-toggle").checked = !on; return; }
  let payload;
  try {
    payload = await api("POST", sessionPath("/tuning"), { use: on });
  } catch (err) {
    $("tuned-toggle").checked = !on;
    throw err;
  }
  setImage(payload);
  showUploadCompare(payload.tuned);
  status(payload.tuned ? "editing the tuned reconstruction (G′)" : "editing the W+ pivot (G)");
}

// ---------------------------------------------------------------- optimisation edit
async function runEdit() {
  if (!state.labels) throw new Error("sample or upload an image first");
  const body = { labels: encodeLabels(state.labels), steps: Number($("edit-steps").value) };
  if (state.parts.size) body.parts = [...state.parts];
  const { job_id } = await api("POST", sessionPath("/edit"), body);
  state.sent = state.labels.slice();
  updateDownloads();
  runJob(job_id, "edit", { done: showResult });
}

function showResult(r) {
  $("before").src = r.before; $("after").src = r.after; $("difference").src = r.difference;
  const summary = `parts: ${r.parts.join(", ")}; best step ${r.best_step} of ${r.steps}` + (r.cancelled ? " (cancelled early)" : "");
  $("result-info").textContent = `${summary}; region CE ${r.losses.first.ce.toFixed(3)} → ${r.losses.best.ce.toFixed(3)}`;
  $("result").hidden = false;
  if (!$("vector-name").value) $("vector-name").value = r.parts.join("_").slice(0, 40) || "edit";
  state.unsavedEdit = true;
  showEdited(r.after, `edit result (${summary})`, true);
}

async function saveVector() {
  const saved = await api("POST", sessionPath("/vectors"), { name: $("vector-name").value.trim(), overwrite: $("overwrite").checked });
  state.unsavedEdit = false;
  status(`saved vector ${saved.name}`);
  await loadLibrary();
}

// ---------------------------------------------------------------- the edited image
// One view shows the latest edited image (edit result, vectors applied, refinement): the server's
// "edited" image, which "Continue from this image", the downloads and "Show edited" all use.
function showEdited(src, caption, hasEdit) {
  $("applied").src = src;
  $("applied-info").textContent = caption;
  state.hasEdit = hasEdit;
  setComparing(state.comparing);
  for (const id of ["adopt-btn", "compare-btn", "seg-toggle"]) $(id).disabled = !hasEdit;
  updateDownloads();
  guarded(showEditedSegmentation);
}

let segmentationVersion = 0;
async function showEditedSegmentation() {  // the edited image's segmentation, in the label colours, over it
  const seg = $("applied-seg"), version = ++segmentationVersion;
  seg.hidden = true;
  if (!state.hasEdit || !$("seg-toggle").checked) return;
  const response = await api("GET", downloadPath("edited-mask", "colour=1"));
  const blob = await response.blob();
  if (version !== segmentationVersion) return;  // a newer image came meanwhile
  if (seg.dataset.url) URL.revokeObjectURL(seg.dataset.url);
  seg.dataset.url = seg.src = URL.createObjectURL(blob);
  seg.hidden = false;
}

function downloadPath(what, query) { return sessionPath(`/download/${what}.png`) + (query ? `?${query}` : ""); }

function updateDownloads() {  // live only when there is something to download (else the server answers 409)
  for (const link of document.querySelectorAll(".downloads a")) {
    const ready = link.dataset.what === "painted-mask" ? state.sent !== null : state.hasEdit;
    if (ready) link.href = downloadPath(link.dataset.what, link.dataset.query);
    else link.removeAttribute("href");
    link.download = "";
    link.setAttribute("aria-disabled", String(!ready));
  }
}

async function adoptEdited() {
  if (!confirmDiscard("Continuing from the edited image", false)) return;
  const payload = await api("POST", sessionPath("/adopt"));
  zeroSliders(false);
  setImage(payload);
  status("continuing from the edited image");
}

// ---------------------------------------------------------------- library and sliders
function formatScale(value, span) { return value.toFixed(Math.max(2, 2 - Math.floor(Math.log10(span)))); }

async function loadLibrary() {
  const { vectors, problems } = await api("GET", "/api/vectors");
  const list = $("library");
  list.innerHTML = "";
  const names = new Set(vectors.map((v) => v.name));
  for (const name of Object.keys(state.scales)) if (!names.has(name)) delete state.scales[name];
  vectors.forEach((v) => list.append(vectorItem(v)));
  if (!vectors.length) list.innerHTML = '<li class="muted">no vectors yet: run an edit and save it</li>';
  $("library-problems").textContent = problems.length ? `skipped: ${problems.join("; ")}` : "";
}

// A vector's row: its slider spans ±2×|default scale| and starts at 0; a tick and a button mark the default.
function vectorItem(v) {
  const li = document.createElement("li");
  li.dataset.name = v.name;
  const span = Math.min(2 * Math.abs(v.default_scale) || 2, state.info.max_scale || Infinity);  // the server's bound
  const readOnly = v.shipped === true;
  li.innerHTML = `<div class="head"><span class="name"></span><span class="scale"></span><span class="actions">
    <button class="default" title="set to the vector's default scale"></button>
    <a class="download" title="download the vector (zip)">⇩</a></span></div>
    <span class="muted parts"></span>
    <input type="range"><datalist><option value="0"></option><option></option></datalist>`;
  li.querySelector(".name").textContent = v.name;
  const actions = li.querySelector(".actions");
  if (readOnly) {
    const lock = document.createElement("span");
    lock.className = "lock";
    lock.textContent = "shipped";  // text: headless browsers often lack emoji fonts
    lock.title = "shipped with the bundle: read-only";
    actions.prepend(lock);
  } else {
    const del = document.createElement("button");
    del.className = "delete";
    del.title = "delete";
    del.textContent = "✕";
    del.addEventListener("click", () => guarded(async () => {
      if (!confirm(`Delete vector ${v.name}?`)) return;
      await api("DELETE", `/api/vectors/${encodeURIComponent(v.name)}`);
      await loadLibrary();
      applyScales();
      status(`deleted vector ${v.name}`);
    }));
    const rename = document.createElement("button");
    rename.className = "rename";
    rename.title = "rename";
    rename.textContent = "✎";
    rename.addEventListener("click", () => guarded(async () => {
      const name = (prompt(`New name for vector ${v.name}:`, v.name) ?? "").trim();
      if (!name || name === v.name) return;
      await api("POST", `/api/vectors/${encodeURIComponent(v.name)}/rename`, { new_name: name });
      if (v.name in state.scales) { state.scales[name] = state.scales[v.name]; delete state.scales[v.name]; }
      await loadLibrary();
      status(`renamed vector ${v.name} to ${name}`);
    }));
    actions.append(rename, del);
  }
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
  const ticks = li.querySelector("datalist");
  ticks.id = `ticks-${v.name}`;
  ticks.lastElementChild.value = v.default_scale;
  Object.assign(slider, { min: -span, max: span, step: span / 100 });
  slider.setAttribute("list", ticks.id);
  slider.setAttribute("aria-label", `scale of ${v.name}`);
  const set = (value) => {
    state.scales[v.name] = value;
    slider.value = value;
    li.querySelector(".scale").textContent = formatScale(value, span);
  };
  set(Math.max(-span, Math.min(span, state.scales[v.name] ?? 0)));
  const defaultBtn = li.querySelector(".default");
  defaultBtn.textContent = `⟲ ${formatScale(v.default_scale, span)}`;
  defaultBtn.addEventListener("click", () => { set(v.default_scale); applyScales(performance.now()); });
  slider.addEventListener("input", () => { set(Number(slider.value)); applyScales(performance.now()); });
  return li;
}

function activeScales() {
  return Object.fromEntries(Object.entries(state.scales).filter(([, s]) => s !== 0));
}

// A 404 naming vectors that another tab deleted: reload the library (their sliders go) and say so.
// -> true when that was the cause.
async function dropVanished(err) {
  if (err.status !== 404) return false;
  const before = Object.keys(state.scales);
  await loadLibrary();
  const gone = before.filter((name) => !(name in state.scales));
  if (gone.length) status(`vector ${gone.join(", ")} no longer exists (deleted elsewhere): its slider was removed`);
  return gone.length > 0;
}

// One request in flight at a time; inputs that arrive meanwhile coalesce into one follow-up request.
async function applyScales(startedAt) {
  if (!state.session || !state.original) return;
  if (state.applying) { state.pending = { startedAt: state.pending?.startedAt ?? startedAt }; return; }
  state.applying = true;
  try {
    const scales = activeScales();
    const response = await api("POST", sessionPath("/apply"), { scales });
    const serverMs = Number(response.headers.get("X-Compute-Ms"));
    const url = URL.createObjectURL(await response.blob());
    const img = $("applied");
    await new Promise((resolve) => { img.onload = resolve; img.onerror = resolve; img.src = url; });
    const old = img.dataset.url;
    if (old) URL.revokeObjectURL(old);
    img.dataset.url = url;
    const applied = Object.entries(scales).map(([name, s]) => `${name} ×${s}`).join(", ");
    let text = (applied ? `vectors: ${applied}` : "the image itself (all sliders at 0)") + ` · server ${serverMs.toFixed(0)} ms`;
    if (typeof startedAt === "number") {
      const total = performance.now() - startedAt;
      state.latencies.push(total);
      text += `, slider → image ${total.toFixed(0)} ms`;
    }
    showEdited(url, text, Boolean(applied));
    clearError();
  } catch (err) {
    if (await dropVanished(err)) state.pending = { startedAt: state.pending?.startedAt ?? startedAt };
    else status(err.message, true);
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
  let job_id;
  try {
    ({ job_id } = await api("POST", sessionPath("/refine"), { scales, steps: Number($("refine-steps").value) }));
  } catch (err) {
    if (await dropVanished(err)) return;
    throw err;
  }
  runJob(job_id, "refinement", { done: (d) => showEdited(d.image, `refined: ${Object.keys(scales).join(", ")}`, true) });
}

function zeroSliders(apply = true) {
  for (const name of Object.keys(state.scales)) state.scales[name] = 0;
  document.querySelectorAll("#library li").forEach((li) => {
    const slider = li.querySelector("input");
    if (slider) { slider.value = 0; li.querySelector(".scale").textContent = formatScale(0, Number(slider.max)); }
  });
  if (apply) applyScales();
}

// ---------------------------------------------------------------- start
function setMode(mode) {  // one <main class="mode" data-mode=...> per tab of #modes; each keeps its own status line
  const previous = document.body.dataset.mode, el = $("status");
  if (previous && previous !== mode) {
    state.statusOf[previous] = { text: el.textContent, error: el.classList.contains("error") };
    const kept = state.statusOf[mode] ?? { text: "", error: false };
    el.textContent = kept.text;
    el.classList.toggle("error", kept.error);
  }
  document.body.dataset.mode = mode;
  document.querySelectorAll("#modes [data-mode]").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.mode === mode)));
  document.querySelectorAll("main.mode").forEach((m) => { m.hidden = m.dataset.mode !== mode; });
}

// The labels changed on the server (scheme edited, segmenter trained): reload them; the image's
// segmentation comes from the segmenter of the time it was sampled.
async function refreshInfo() {
  state.info = await api("GET", "/api/info");
  layoutStage();
  buildPalette();
  if (state.labels) drawLabels();
}

function layoutStage() {
  const [ih, iw] = state.info.image_size;
  const [lh, lw] = state.info.label_size;
  $("stage").style.aspectRatio = `${iw} / ${ih}`;
  document.documentElement.style.setProperty("--result-px", `${Math.max(128, iw)}px`);
  $("overlay").width = lw; $("overlay").height = lh;
  setZoom(1);
}

function bind() {
  $("sample-btn").addEventListener("click", () => guarded(() => sample(seedOf("seed"))));
  $("random-btn").addEventListener("click", () => guarded(() => sample(null)));
  $("upload-btn").addEventListener("click", () => guarded(upload));
  $("tuned-toggle").addEventListener("change", () => guarded(() => setTuned($("tuned-toggle").checked)));
  $("tune").addEventListener("change", () => { $("tune-steps").disabled = !$("tune").checked; });
  $("cancel-btn").addEventListener("click", () => guarded(cancelJob));
  document.querySelectorAll(".triple figure, .pair figure").forEach((f) => f.addEventListener("click", () => {
    f.classList.toggle("enlarged");  // a result at the panel's width, or back
  }));
  $("edit-btn").addEventListener("click", () => guarded(runEdit));
  $("save-btn").addEventListener("click", () => guarded(saveVector));
  $("refine-btn").addEventListener("click", () => guarded(refine));
  $("zero-btn").addEventListener("click", () => zeroSliders());
  $("adopt-btn").addEventListener("click", () => guarded(adoptEdited));
  $("seg-toggle").addEventListener("change", () => guarded(showEditedSegmentation));
  $("undo-btn").addEventListener("click", undo);
  $("redo-btn").addEventListener("click", redo);
  $("reset-btn").addEventListener("click", reset);
  $("zoom-in").addEventListener("click", () => stepZoom(1));
  $("zoom-out").addEventListener("click", () => stepZoom(-1));
  $("zoom-fit").addEventListener("click", () => setZoom(1));
  $("compare-btn").addEventListener("click", () => setComparing(!state.comparing));
  $("viewport").addEventListener("wheel", (e) => {
    if (!e.ctrlKey && !e.metaKey) return;
    e.preventDefault();
    stepZoom(e.deltaY < 0 ? 1 : -1);
  }, { passive: false });
  document.querySelectorAll("#modes [data-mode]").forEach((b) => b.addEventListener("click", () => setMode(b.dataset.mode)));
  document.querySelectorAll(".tool").forEach((b) => b.addEventListener("click", () => setTool(b.dataset.tool)));
  $("brush-size").addEventListener("input", () => { $("brush-size-value").textContent = $("brush-size").value; });
  $("opacity").addEventListener("input", () => { $("overlay").style.opacity = $("opacity").value; });
  const overlay = $("overlay");
  overlay.addEventListener("pointerdown", onPointerDown);
  overlay.addEventListener("pointermove", onPointerMove);
  overlay.addEventListener("pointerup", onPointerUp);
  overlay.addEventListener("pointercancel", onPointerUp);
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" || document.body.dataset.mode !== "edit") return;
    const key = e.key.toLowerCase();
    if ((e.ctrlKey || e.metaKey) && key === "z") { e.preventDefault(); e.shiftKey ? redo() : undo(); }
    else if ((e.ctrlKey || e.metaKey) && key === "y") { e.preventDefault(); redo(); }
    else if (!e.ctrlKey && !e.metaKey && TOOL_KEYS[key]) setTool(TOOL_KEYS[key]);
    else if (!e.ctrlKey && !e.metaKey && key === "a") setComparing(!state.comparing);
  });
}

// ---------------------------------------------------------------- keeping a tab's state
// The image's w+ (GET .../state) and the painting are kept in this tab's sessionStorage, so a reload,
// or a session the server dropped while the tab was idle, continues from the same image.
const KEPT_HISTORY = 20;  // undo (and redo) steps a reload keeps

function keptKey() { return `editgan.tab.${state.info.bundle}`; }

function readKept() {
  try { return JSON.parse(sessionStorage.getItem(keptKey()) || "null"); } catch (e) { return null; }
}

async function rememberImage() {
  try {
    const kept = await api("GET", sessionPath("/state"));
    sessionStorage.setItem(keptKey(), JSON.stringify({ ...kept, seed: $("seed").value }));
  } catch (e) { /* storage full or unavailable: the tab just cannot be restored */ }
}

function rememberPainting() {  // the painting and its undo / redo history (the last KEPT_HISTORY steps of each)
  const kept = readKept();
  if (!kept || !state.labels) return;
  const last = (maps) => maps.slice(-KEPT_HISTORY).map(encodeLabels);
  try {
    sessionStorage.setItem(keptKey(), JSON.stringify({ ...kept, labels: encodeLabels(state.labels),
                                                       undo: last(state.undo), redo: last(state.redo) }));
  } catch (e) { /* as above */ }
}

async function restoreKept(kept, why) {
  const payload = await api("POST", sessionPath("/restore"), { source: kept.source, wplus: kept.wplus });
  setImage(payload, false);
  if (kept.seed !== undefined) $("seed").value = kept.seed;
  const labels = kept.labels ? decodeLabels(kept.labels) : null;
  if (labels && labels.length === state.labels.length) {
    state.labels = labels;
    state.undo = (kept.undo || []).map(decodeLabels).filter((m) => m.length === labels.length);
    state.redo = (kept.redo || []).map(decodeLabels).filter((m) => m.length === labels.length);
    drawLabels();
  }
  status(`${why}: continuing from ${payload.source}` + (kept.tuned ? " (its W+ pivot: the tuned generator is not kept)" : ""));
}

async function recoverSession() {
  const kept = readKept();
  state.session = (await api("POST", "/api/sessions", undefined, true)).session_id;
  if (kept) {
    const painting = state.labels;
    await restoreKept({ ...kept, labels: null }, "this tab's session had expired");
    if (painting && painting.length === state.labels.length) { state.labels = painting; drawLabels(); }
  }
}

async function start() {
  state.info = await api("GET", "/api/info");
  $("bundle-name").textContent = `bundle ${state.info.bundle} (${state.info.image_size.join("×")})`;
  $("edit-steps").value = state.info.defaults.edit_steps;
  $("refine-steps").value = state.info.defaults.refine_steps;
  $("embed-steps").value = state.info.defaults.embed_steps;
  $("embed-steps").max = state.info.max_embed_steps;
  $("tune").checked = state.info.defaults.tune;
  $("tune-steps").disabled = !state.info.defaults.tune;
  $("tune-steps").value = state.info.defaults.tune_steps;
  $("tune-steps").max = state.info.max_tune_steps;
  state.session = (await api("POST", "/api/sessions")).session_id;
  window.addEventListener("pagehide", () => fetch(sessionPath(""), { method: "DELETE", keepalive: true }));
  layoutStage();
  $("overlay").style.opacity = $("opacity").value;
  buildPalette();
  bind();
  setMode("edit");
  await loadLibrary();
  const kept = readKept();
  if (kept) await guarded(() => restoreKept(kept, "restored this tab"));
  if (!state.original) await sample(Number($("seed").value));
  window.addEventListener("pagehide", rememberPainting);
  window.addEventListener("beforeunload", (e) => { if (state.job || state.unsavedEdit) e.preventDefault(); });
  document.body.dataset.ready = "true";
}

guarded(start);
