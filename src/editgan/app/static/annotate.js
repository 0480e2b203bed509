// The Annotate tab: paint whole label maps on GAN samples (or the Edit tab's image, e.g. an embedded
// upload), autosaved to the bundle's annotation set (/api/annotations); edit the label scheme; train
// the segmenter and read its held-out IoU. Builds on paint.js (label maps, painting) and app.js
// (api, status, guarded, runJob, cancelJob, refreshInfo).
"use strict";

const ANNOT_TOOL_KEYS = { b: "brush", e: "eraser", f: "fill", p: "polygon", h: "pan" };
const AUTOSAVE_MS = 500;
const CLOSE_PX = 8;  // a polygon closes on a click this near (screen pixels) its first point

const annot = {
  overview: null, size: null,  // GET /api/annotations; its label_size [h, w]
  scheme: null,                // the scheme editor's copy {name, names, colors}
  origins: [],                 // per label of that copy: its index in the stored scheme (null: added)
  id: null,                    // the stored annotation shown (null: a sample not saved yet)
  source: null,                // that sample: {seed, psi} | {session_id}
  labels: null, undo: [], redo: [],
  tool: "brush", current: 1, zoom: 1,
  polygon: [],                 // grid points of the polygon being drawn
  dirty: false, saving: null, timer: null,  // a change not saved yet; the save in flight
  version: null,               // the stored annotation's version this painting started from
  conflict: null,              // {id, version, creating}: a save refused as stale, or a second annotation of a seed
  stroke: null,                // {point} while painting, {pan: [x, y, left, top]} while panning
  started: false,
};
window.editganAnnotate = annot;  // for tests

function annotColors() { return annot.overview.scheme.colors; }

function drawAnnot() { renderLabels($("annot-canvas"), annot.labels, annotColors()); }

function setSaveState(text, bad = false) {
  $("annot-save").textContent = text;
  $("annot-save").classList.toggle("error", bad);
}

// ---------------------------------------------------------------- the set
async function loadOverview() {
  annot.overview = await api("GET", "/api/annotations");
  const [h, w] = annot.size = annot.overview.label_size;
  const canvas = $("annot-canvas");
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w; canvas.height = h;
    $("annot-stage").style.aspectRatio = `${w} / ${h}`;
    $("annot-guides").setAttribute("viewBox", `0 0 ${w} ${h}`);
  }
  $("annot-segmenter").textContent = annot.overview.segmenter.present ? "(installed)" : "(none yet)";
  if (!annot.overview.scheme) status("this bundle has no label scheme yet: add labels under Label scheme and save it", true);
  buildAnnotPalette();
  listAnnotations();
  trainBudget();
  if (annot.labels) drawAnnot();
}

function swatch(color) {
  const el = document.createElement("span");
  el.className = "swatch";
  el.style.background = `rgb(${color.join(",")})`;
  return el;
}

function listAnnotations() {
  const list = $("annot-list"), { annotations, scheme } = annot.overview;
  list.innerHTML = "";
  $("annot-count").textContent = `(${annotations.length})`;
  for (const meta of annotations) {
    const li = document.createElement("li");
    li.dataset.id = meta.id;
    li.classList.toggle("current", meta.id === annot.id);
    const open = document.createElement("button");
    open.className = "open";
    open.textContent = `${meta.id} · ${meta.source}`;
    open.title = `reopen ${meta.id}`;
    open.addEventListener("click", () => guarded(() => openAnnotation(meta.id)));
    const present = document.createElement("span");
    present.className = "present";
    for (const i of meta.labels) {
      const s = swatch(scheme ? scheme.colors[i] || [0, 0, 0] : [0, 0, 0]);
      s.title = scheme ? scheme.names[i] : `label ${i}`;
      present.append(s);
    }
    const del = document.createElement("button");
    del.className = "delete";
    del.textContent = "✕";
    del.title = `delete ${meta.id}`;
    del.addEventListener("click", () => guarded(() => deleteAnnotation(meta.id)));
    li.append(open, present, del);
    list.append(li);
  }
  if (!annotations.length) list.innerHTML = '<li class="muted">none yet: sample an image and paint it</li>';
}

function showSample(payload, id, source) {
  annot.id = id;
  annot.source = source;
  annot.labels = decodeLabels(payload.labels);
  annot.undo = []; annot.redo = []; annot.polygon = [];
  annot.dirty = false;
  annot.version = payload.version ?? null;
  showConflict(null);
  $("annot-image").src = payload.image;
  $("annot-image").alt = "image being annotated";
  $("annot-image").hidden = false;
  $("annot-note").hidden = true;
  drawAnnot();
  drawGuides();
  setSaveState(id ? `saved as ${id}` : "not saved yet: it is saved when you paint");
  document.querySelectorAll("#annot-list li").forEach((li) => li.classList.toggle("current", li.dataset.id === id));
  loadBackups().catch(() => { $("annot-history").hidden = true; });  // in the background: the status line is the user's
}

async function loadBackups() {  // the earlier maps the server keeps of the annotation shown
  const select = $("annot-backups");
  select.innerHTML = "";
  const list = annot.id ? (await api("GET", `/api/annotations/${annot.id}/backups`)).backups : [];
  for (const b of list) {
    const option = document.createElement("option");
    option.value = b.name;
    option.textContent = new Date(b.time).toLocaleString();
    select.append(option);
  }
  $("annot-history").hidden = !list.length;
}

async function restoreBackup() {
  const name = $("annot-backups").value, id = annot.id, shown = $("annot-backups").selectedOptions[0]?.textContent;
  if (!name || !id) return;
  await flushSave();
  await api("POST", `/api/annotations/${id}/backups/${name}/restore`, { version: annot.version });
  await openAnnotation(id);
  status(`${id}: restored the map of ${shown ?? name} (the one before is kept too)`);
}

function showConflict(conflict) {
  annot.conflict = conflict;
  $("annot-conflict").hidden = !conflict;
  if (!conflict) return;
  $("annot-conflict-text").textContent = conflict.creating
    ? `This sample is annotated already as ${conflict.id} (another tab?). Your painting is not saved.`
    : `${conflict.id} was saved elsewhere (another tab?) since you opened it. Your changes are not saved.`;
  $("annot-reload-btn").textContent = conflict.creating ? `Open ${conflict.id}` : "Reload theirs";
}

async function reloadTheirs() {  // drop this painting for the stored one
  const id = annot.conflict.id;
  annot.dirty = false;
  showConflict(null);
  await openAnnotation(id);
}

async function saveAsCopy() {  // keep this painting as a new annotation of the same sample
  const labels = encodeLabels(annot.labels), conflict = annot.conflict;
  const meta = conflict.creating ? await api("POST", "/api/annotations", { ...annot.source, labels, allow_duplicate: true })
    : await api("POST", `/api/annotations/${conflict.id}/copy`, { labels });
  annot.id = meta.id;
  annot.version = meta.version;
  annot.dirty = false;
  showConflict(null);
  setSaveState(`saved as ${meta.id}`);
  status(`your painting is saved as ${meta.id}`);
  await loadOverview();
  await loadBackups();
}

async function openSample(source) {
  if (!annot.overview.scheme) throw new Error("this bundle has no label scheme yet: add labels under Label scheme and save it");
  await flushSave();
  const payload = await api("POST", "/api/annotations/predict", source);
  showSample(payload, null, source);
  $("annot-source").textContent = payload.source;
  status(payload.predicted ? `${payload.source}: prefilled from the segmenter (mean uncertainty ${payload.mean_uncertainty.toFixed(3)} nats)`
    : `${payload.source}: no segmenter yet, so it starts all background`);
}

async function openAnnotation(id) {
  await flushSave();
  const payload = await api("GET", `/api/annotations/${id}`);
  showSample(payload, id, null);
  $("annot-source").textContent = `${id}: ${payload.source}`;
  status(`reopened ${id}`);
}

async function deleteAnnotation(id) {
  if (!confirm(`Delete annotation ${id}? (it moves to the annotation trash folder)`)) return;
  if (id === annot.id) await flushSave();
  await api("DELETE", `/api/annotations/${id}`);
  if (id === annot.id) {  // the deleted map leaves the stage
    annot.id = null;
    annot.labels = null;
    annot.version = null;
    $("annot-history").hidden = true;
    $("annot-image").removeAttribute("src");
    $("annot-image").hidden = true;
    $("annot-canvas").getContext("2d").clearRect(0, 0, annot.size[1], annot.size[0]);
    $("annot-note").hidden = false;
    setSaveState("");
  }
  await loadOverview();
  status(`deleted ${id}`);
}

async function suggest() {  // a job: scoring candidates with the ensemble takes seconds to a minute
  const job_id = await startJob("suggesting seeds", () => api("POST", "/api/annotations/suggest", { count: 5 }));
  runJob(job_id, "suggesting seeds", {
    progress: (d) => (d.phase === "scoring" ? "scoring candidates" : "drawing candidates"),
    done: (r) => showSuggestions(r),
  }, "annot-job");
}

async function startJob(label, post) {  // the progress row and waiting buttons from the click on, not from the answer
  showJob(label, "annot-job");
  try {
    return (await post()).job_id;
  } catch (err) {
    endJob("annot-job");
    throw err;
  }
}

function showSuggestions(r) {
  $("annot-suggest-rule").textContent = r.rule === "uncertainty" ? "most uncertain first" : "spread out in W";
  const list = $("annot-suggestions");
  list.innerHTML = "";
  for (const { seed, score } of r.suggestions) {
    const button = document.createElement("button");
    button.textContent = `seed ${seed} · ${score.toFixed(3)}`;
    button.dataset.seed = seed;
    button.addEventListener("click", () => guarded(() => { $("annot-seed").value = seed; return openSample({ seed, psi: r.psi }); }));
    const li = document.createElement("li");
    li.append(button);
    list.append(li);
  }
}

// ---------------------------------------------------------------- autosave
function changed() {
  annot.dirty = true;
  drawAnnot();
  setSaveState("unsaved changes");
  clearTimeout(annot.timer);
  annot.timer = setTimeout(() => guarded(saveNow), AUTOSAVE_MS);
}

async function saveNow() {  // one save at a time; the first creates the annotation, the next ones replace its map
  clearTimeout(annot.timer);
  while (annot.saving) await annot.saving.catch(() => {});
  if (!annot.dirty || annot.conflict) return;  // a conflict waits for the user's choice
  annot.dirty = false;
  setSaveState("saving…");
  const labels = encodeLabels(annot.labels), creating = !annot.id;
  annot.saving = creating ? api("POST", "/api/annotations", { ...annot.source, labels })
    : api("PUT", `/api/annotations/${annot.id}`, { labels, version: annot.version });
  try {
    const meta = await annot.saving;
    annot.id = meta.id;
    annot.version = meta.version;
    setSaveState(`saved as ${meta.id}`);
  } catch (err) {
    annot.dirty = true;
    if (err.status === 409 && err.data && err.data.id) {  // stale, or the sample is annotated already
      setSaveState("not saved: see below", true);
      showConflict({ id: err.data.id, version: err.data.version, creating });
      return;
    }
    setSaveState("not saved", true);
    throw err;
  } finally {
    annot.saving = null;
  }
  await loadOverview();
  if (!creating) await loadBackups();
}

async function flushSave() {
  if (annot.conflict && annot.dirty) throw new Error("your painting is not saved: reload theirs or save yours as a copy first");
  if (annot.dirty || annot.saving) await saveNow();
}

// ---------------------------------------------------------------- painting
function annotPoint(event) {
  const [h, w] = annot.size;
  return gridPointOf($("annot-canvas"), event, w, h);
}

function annotDab(x, y) {
  const [h, w] = annot.size, value = annot.tool === "eraser" ? 0 : annot.current;
  paintDisc(annot.labels, w, h, x, y, Number($("annot-size").value), () => value);
}

function onAnnotDown(event) {
  if (!annot.labels) return;
  const view = $("annot-viewport");
  if (annot.tool === "pan" || event.button === 1) {
    event.preventDefault();
    annot.stroke = { pan: [event.clientX, event.clientY, view.scrollLeft, view.scrollTop] };
    $("annot-canvas").setPointerCapture(event.pointerId);
    return;
  }
  const [h, w] = annot.size, [x, y] = annotPoint(event);
  if (event.button !== 0 || x < 0 || y < 0 || x >= w || y >= h) return;
  if (annot.tool === "polygon") { addPolygonPoint([x, y]); return; }
  historyPush(annot, annot.labels);
  if (annot.tool === "fill") { floodFill(annot.labels, w, h, x, y, annot.current); changed(); return; }
  $("annot-canvas").setPointerCapture(event.pointerId);
  annot.stroke = { point: [x, y] };
  annotDab(x, y);
  drawAnnot();
}

function onAnnotMove(event) {
  drawGuides(annotPoint(event));
  const stroke = annot.stroke;
  if (!stroke) return;
  if (stroke.pan) {
    const [x, y, left, top] = stroke.pan;
    $("annot-viewport").scrollTo(left - (event.clientX - x), top - (event.clientY - y));
    return;
  }
  const point = annotPoint(event);
  paintLine(stroke.point, point, annotDab);
  stroke.point = point;
  drawAnnot();
}

function onAnnotUp() {
  if (annot.stroke && annot.stroke.point) changed();
  annot.stroke = null;
}

function addPolygonPoint(point) {
  const first = annot.polygon[0];
  const gridPx = $("annot-canvas").getBoundingClientRect().width / annot.size[1];  // screen pixels per grid pixel
  if (first && annot.polygon.length >= 3 && Math.hypot(point[0] - first[0], point[1] - first[1]) * gridPx <= CLOSE_PX) closePolygon();
  else { annot.polygon.push(point); drawGuides(point); }
}

function closePolygon() {
  if (annot.polygon.length >= 3) {
    const [h, w] = annot.size;
    historyPush(annot, annot.labels);
    fillPolygon(annot.labels, w, h, annot.polygon, annot.current);
    changed();
  }
  annot.polygon = [];
  drawGuides();
}

// The brush outline and the polygon being drawn (with its edge to the pointer), in grid units.
function drawGuides(pointer) {
  const brush = pointer && (annot.tool === "brush" || annot.tool === "eraser");
  const cursor = $("annot-cursor");
  cursor.setAttribute("r", brush ? Number($("annot-size").value) / 2 : 0);
  if (pointer) { cursor.setAttribute("cx", pointer[0]); cursor.setAttribute("cy", pointer[1]); }
  const points = annot.tool === "polygon" && annot.polygon.length && pointer ? [...annot.polygon, pointer] : annot.polygon;
  $("annot-poly").setAttribute("points", points.map((p) => p.join(",")).join(" "));
}

function stepAnnotHistory(back) {
  const labels = annot.labels && historyStep(annot, annot.labels, back);
  if (labels) { annot.labels = labels; changed(); }
}

function setAnnotTool(tool) {
  annot.tool = tool;
  if (tool !== "polygon") annot.polygon = [];
  drawGuides();
  $("annot-canvas").dataset.tool = tool;
  document.querySelectorAll(".annot-tool").forEach((b) => b.classList.toggle("active", b.dataset.tool === tool));
}

function setAnnotZoom(zoom) {
  zoomStage("annot-", annot.zoom, zoom);
  annot.zoom = zoom;
}

// ---------------------------------------------------------------- labels and the scheme
function buildAnnotPalette() {
  const list = $("annot-palette"), scheme = annot.overview.scheme;
  list.innerHTML = "";
  if (!scheme) return;
  annot.current = Math.min(annot.current, scheme.names.length - 1);
  scheme.names.forEach((name, index) => {
    const li = document.createElement("li");
    li.dataset.index = index;
    li.classList.toggle("current", index === annot.current);
    const label = document.createElement("span");
    label.className = "name";
    label.textContent = name;
    const key = document.createElement("kbd");
    key.textContent = index <= 9 ? String(index) : "";
    li.append(swatch(scheme.colors[index]), label, key);
    li.addEventListener("click", () => selectAnnotLabel(index));
    list.append(li);
  });
}

function selectAnnotLabel(index) {
  if (!annot.overview.scheme || index >= annot.overview.scheme.names.length) return;
  annot.current = index;
  if (annot.tool === "eraser" || annot.tool === "pan") setAnnotTool("brush");
  document.querySelectorAll("#annot-palette li").forEach((li) => li.classList.toggle("current", Number(li.dataset.index) === index));
}

const toHex = (c) => `#${c.map((v) => v.toString(16).padStart(2, "0")).join("")}`;
const fromHex = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

function editScheme(scheme) {  // the editor starts from the stored scheme (or background + one label)
  annot.scheme = scheme ? structuredClone(scheme)
    : { name: state.info.bundle, names: ["background", "label 1"], colors: [[0, 0, 0], [230, 25, 75]] };
  annot.origins = scheme ? scheme.names.map((_, i) => i) : [null, null];
  buildSchemeEditor();
}

function buildSchemeEditor() {
  const list = $("scheme-list"), inUse = new Set(annot.overview.labels_in_use);
  list.innerHTML = "";
  annot.scheme.names.forEach((name, index) => {
    const li = document.createElement("li");
    li.innerHTML = '<span class="index"></span><input type="color"><input class="name" maxlength="64"><button class="remove">✕</button>';
    li.querySelector(".index").textContent = index;
    const colour = li.querySelector("input[type=color]"), text = li.querySelector("input.name"), remove = li.querySelector(".remove");
    colour.value = toHex(annot.scheme.colors[index]);
    colour.setAttribute("aria-label", `colour of label ${index}`);
    colour.addEventListener("input", () => { annot.scheme.colors[index] = fromHex(colour.value); });
    text.value = name;
    text.setAttribute("aria-label", `name of label ${index}`);
    text.addEventListener("input", () => { annot.scheme.names[index] = text.value; });
    remove.title = inUse.has(index) ? "used by stored maps: the server refuses to remove it" : "remove this label";
    remove.addEventListener("click", () => {
      for (const list of [annot.scheme.names, annot.scheme.colors, annot.origins]) list.splice(index, 1);
      buildSchemeEditor();
    });
    list.append(li);
  });
}

function addSchemeLabel() {  // a new label, in a colour no label has
  const used = new Set(annot.scheme.colors.map(toHex));
  let color, k = annot.scheme.names.length;
  do { color = [(k * 97) % 256, (k * 57 + 90) % 256, (k * 151 + 30) % 256]; k++; } while (used.has(toHex(color)));
  annot.scheme.names.push(`label ${annot.scheme.names.length}`);
  annot.scheme.colors.push(color);
  annot.origins.push(null);
  buildSchemeEditor();
}

// The server tells labels apart by index: a label removed before the end, with a later one moving into
// its place, would read as a rename. So a removed label that stored maps use is refused here.
async function saveScheme() {
  const removed = annot.overview.labels_in_use.filter((i) => !annot.origins.includes(i));
  if (removed.length) {
    const names = removed.map((i) => `'${annot.overview.scheme.names[i]}'`).join(", ");
    throw new Error(`cannot remove ${names}: stored annotations use it; delete or repaint those first`);
  }
  const r = await api("PUT", "/api/annotations/scheme", annot.scheme);
  await loadOverview();
  editScheme(r.scheme);
  await refreshInfo();  // the Edit tab's labels
  status(state.info.scheme_note ? `label scheme saved; ${state.info.scheme_note}` : "label scheme saved");
}

// ---------------------------------------------------------------- training
function trainBudget() {  // what a training run may take, shown before it starts
  const n = annot.overview ? annot.overview.annotations.length : 0;
  const steps = Number($("train-steps").value), holdout = Number($("train-holdout").value) > 0 && n >= 2;
  const phases = holdout ? 2 : 1;
  $("train-budget").textContent = `Budget: at most ${(phases * steps).toLocaleString("en")} steps` +
    (holdout ? ` (${steps.toLocaleString("en")} for the held-out estimate, then ${steps.toLocaleString("en")} on all)` : "") +
    ` of ${$("train-members").value} member(s); each phase stops early once the loss plateaus. ` +
    "The time left shows while it runs; Cancel keeps the installed segmenter.";
}

async function trainSegmenter() {
  await flushSave();
  const body = { holdout: Number($("train-holdout").value), members: Number($("train-members").value),
                 max_steps: Number($("train-steps").value) };
  const job_id = await startJob("training the segmenter", () => api("POST", "/api/annotations/train", body));
  $("train-result").hidden = true;
  runJob(job_id, "training the segmenter", {
    progress: (d) => { $("annot-job-label").textContent = `training (${d.phase === "holdout" ? "held-out estimate" : "final"})`; },
    done: (d) => guarded(() => showTraining(d)),
  }, "annot-job");
}

async function showTraining(d) {
  const body = $("iou-table").querySelector("tbody");
  body.innerHTML = "";
  const rows = d.iou ? Object.entries(d.iou) : [];
  if (d.mean_iou !== null && d.mean_iou !== undefined) rows.push(["mean", d.mean_iou]);
  for (const [name, iou] of rows) {
    const tr = document.createElement("tr");
    tr.innerHTML = "<td></td><td></td>";
    tr.children[0].textContent = name;
    tr.children[1].textContent = iou === null ? "— (absent)" : iou.toFixed(3);
    body.append(tr);
  }
  $("iou-table").hidden = !rows.length;
  const n = d.annotations.length;
  $("train-info").textContent = (d.iou ? `held out ${d.held_out.join(", ")} (${d.held_out.length} of ${n} annotations); `
    : `no held-out estimate (${n} annotation(s)); `) + "the installed segmenter was trained on all of them";
  $("train-result").hidden = false;
  await loadOverview();
  await refreshInfo();
  status("segmenter installed: the Edit tab segments with it (sample again there)");
}

// ---------------------------------------------------------------- start
async function startAnnotate() {
  if (annot.started) return;
  annot.started = true;
  await loadOverview();
  editScheme(annot.overview.scheme);
  setAnnotTool("brush");
  $("annot-canvas").style.opacity = $("annot-opacity").value;
}

function onAnnotKey(e) {
  if (document.body.dataset.mode !== "annotate" || e.target.tagName === "INPUT") return;
  const key = e.key.toLowerCase(), ctrl = e.ctrlKey || e.metaKey;
  if (ctrl && key === "z") { e.preventDefault(); stepAnnotHistory(!e.shiftKey); }
  else if (ctrl && key === "y") { e.preventDefault(); stepAnnotHistory(false); }
  else if (ctrl) return;
  else if (/^[0-9]$/.test(key)) selectAnnotLabel(Number(key));
  else if (ANNOT_TOOL_KEYS[key]) setAnnotTool(ANNOT_TOOL_KEYS[key]);
  else if (key === "enter") closePolygon();
  else if (key === "escape") { annot.polygon = []; drawGuides(); }
}

function bindAnnotate() {
  $("modes").querySelector("[data-mode=annotate]").addEventListener("click", () => guarded(startAnnotate));
  $("annot-sample-btn").addEventListener("click", () => guarded(() => openSample({ seed: seedOf("annot-seed"), psi: 1 })));
  $("annot-random-btn").addEventListener("click", () => guarded(() => {
    $("annot-seed").value = Math.floor(Math.random() * 2 ** 31);
    return openSample({ seed: Number($("annot-seed").value), psi: 1 });
  }));
  $("annot-session-btn").addEventListener("click", () => guarded(() => openSample({ session_id: state.session })));
  $("annot-suggest-btn").addEventListener("click", () => guarded(suggest));
  $("annot-undo").addEventListener("click", () => stepAnnotHistory(true));
  $("annot-redo").addEventListener("click", () => stepAnnotHistory(false));
  $("annot-zoom-in").addEventListener("click", () => setAnnotZoom(nextZoom(annot.zoom, 1)));
  $("annot-zoom-out").addEventListener("click", () => setAnnotZoom(nextZoom(annot.zoom, -1)));
  $("annot-zoom-fit").addEventListener("click", () => setAnnotZoom(1));
  $("annot-viewport").addEventListener("wheel", (e) => {
    if (!e.ctrlKey && !e.metaKey) return;
    e.preventDefault();
    setAnnotZoom(nextZoom(annot.zoom, e.deltaY < 0 ? 1 : -1));
  }, { passive: false });
  $("annot-opacity").addEventListener("input", () => { $("annot-canvas").style.opacity = $("annot-opacity").value; });
  $("annot-size").addEventListener("input", () => { $("annot-size-value").textContent = $("annot-size").value; });
  document.querySelectorAll(".annot-tool").forEach((b) => b.addEventListener("click", () => setAnnotTool(b.dataset.tool)));
  const canvas = $("annot-canvas");
  canvas.addEventListener("pointerdown", onAnnotDown);
  canvas.addEventListener("pointermove", onAnnotMove);
  canvas.addEventListener("pointerup", onAnnotUp);
  canvas.addEventListener("pointercancel", onAnnotUp);
  canvas.addEventListener("pointerleave", () => drawGuides());
  canvas.addEventListener("dblclick", closePolygon);
  document.addEventListener("keydown", onAnnotKey);
  $("scheme-add-btn").addEventListener("click", addSchemeLabel);
  $("scheme-save-btn").addEventListener("click", () => guarded(saveScheme));
  $("scheme-revert-btn").addEventListener("click", () => editScheme(annot.overview.scheme));
  $("annot-train-btn").addEventListener("click", () => guarded(trainSegmenter));
  $("annot-reload-btn").addEventListener("click", () => guarded(reloadTheirs));
  $("annot-copy-btn").addEventListener("click", () => guarded(saveAsCopy));
  $("annot-restore-btn").addEventListener("click", () => guarded(restoreBackup));
  for (const id of ["train-steps", "train-holdout", "train-members"]) $(id).addEventListener("input", trainBudget);
  $("annot-cancel-btn").addEventListener("click", () => guarded(cancelJob));
  window.addEventListener("beforeunload", (e) => { if (annot.dirty || annot.saving) e.preventDefault(); });
}

bindAnnotate();
