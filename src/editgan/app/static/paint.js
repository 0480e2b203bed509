// Label maps and painting, shared by the page's modes (app.js: editing, annotate.js: annotation).
// A label map is a Uint8Array [H*W] of label indices, row-major, on a w x h grid; points are
// continuous grid coordinates (pixel (px, py) covers [px, px + 1) x [py, py + 1)).
"use strict";

const UNDO_LIMIT = 100;
const ZOOMS = [1, 1.5, 2, 3, 4, 6, 8];

function decodeLabels(b64) { return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)); }

function encodeLabels(labels) {
  let s = "";
  for (let i = 0; i < labels.length; i += 8192) s += String.fromCharCode.apply(null, labels.subarray(i, i + 8192));
  return btoa(s);
}

function renderLabels(canvas, labels, colors) {  // the map in the label colours, one canvas pixel per label
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(canvas.width, canvas.height);
  for (let i = 0; i < labels.length; i++) {
    const c = colors[labels[i]] || [0, 0, 0];
    img.data[4 * i] = c[0]; img.data[4 * i + 1] = c[1]; img.data[4 * i + 2] = c[2]; img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

function gridPointOf(element, event, w, h) {  // the pointer's grid point over an element showing the w x h grid
  const rect = element.getBoundingClientRect();
  return [(event.clientX - rect.left) / rect.width * w, (event.clientY - rect.top) / rect.height * h];
}

// A disc of the given diameter centred at (x, y) (at least the pixel under it): value(i) is written at index i.
function paintDisc(labels, w, h, x, y, diameter, value) {
  const r = diameter / 2;
  for (let py = Math.max(0, Math.floor(y - r)); py < Math.min(h, Math.ceil(y + r)); py++) {
    for (let px = Math.max(0, Math.floor(x - r)); px < Math.min(w, Math.ceil(x + r)); px++) {
      const dx = px + 0.5 - x, dy = py + 0.5 - y;
      if (dx * dx + dy * dy <= r * r || (Math.floor(x) === px && Math.floor(y) === py)) {
        const i = py * w + px;
        labels[i] = value(i);
      }
    }
  }
}

function paintLine(from, to, dab) {  // dab(x, y) along the segment, half a pixel apart (not at `from`)
  const steps = Math.max(1, Math.ceil(Math.hypot(to[0] - from[0], to[1] - from[1]) * 2));
  for (let s = 1; s <= steps; s++) dab(from[0] + (to[0] - from[0]) * s / steps, from[1] + (to[1] - from[1]) * s / steps);
}

function floodFill(labels, w, h, x, y, value) {  // 4-connected fill of the label under (x, y)
  const start = Math.floor(y) * w + Math.floor(x), old = labels[start];
  if (old === value) return;
  const stack = [start];
  while (stack.length) {
    const i = stack.pop();
    if (labels[i] !== old) continue;
    labels[i] = value;
    const px = i % w, py = (i - px) / w;
    if (px > 0) stack.push(i - 1);
    if (px < w - 1) stack.push(i + 1);
    if (py > 0) stack.push(i - w);
    if (py < h - 1) stack.push(i + w);
  }
}

function fillPolygon(labels, w, h, points, value) {  // the pixels whose centre lies inside (even-odd rule)
  for (let py = 0; py < h; py++) {
    const cy = py + 0.5, crossings = [];
    for (let k = 0; k < points.length; k++) {
      const [x0, y0] = points[k], [x1, y1] = points[(k + 1) % points.length];
      if ((y0 <= cy) !== (y1 <= cy)) crossings.push(x0 + (cy - y0) / (y1 - y0) * (x1 - x0));
    }
    crossings.sort((a, b) => a - b);
    for (let k = 0; k + 1 < crossings.length; k += 2) {
      for (let px = Math.max(0, Math.ceil(crossings[k] - 0.5)); px < Math.min(w, Math.ceil(crossings[k + 1] - 0.5)); px++) {
        labels[py * w + px] = value;
      }
    }
  }
}

// Undo history {undo: [maps], redo: [maps]}: record the map before a change; step back or forward.
function historyPush(history, labels) {
  history.undo.push(labels.slice());
  if (history.undo.length > UNDO_LIMIT) history.undo.shift();
  history.redo = [];
}

function historyStep(history, labels, back) {  // -> the map to show, or null when there is none
  const [from, to] = back ? [history.undo, history.redo] : [history.redo, history.undo];
  if (!from.length) return null;
  to.push(labels);
  return from.pop();
}

// Zoom a stage (its width a percentage of its scrolling viewport) from one factor to another, keeping
// the centre, and show it: the elements `${prefix}viewport`, `stage`, `zoom-value`, `zoom-in`, `zoom-out`.
function zoomStage(prefix, from, to) {
  const el = (id) => document.getElementById(prefix + id);
  const viewport = el("viewport"), ratio = to / from;
  const cx = viewport.scrollLeft + viewport.clientWidth / 2, cy = viewport.scrollTop + viewport.clientHeight / 2;
  el("stage").style.width = `${to * 100}%`;
  viewport.scrollTo(cx * ratio - viewport.clientWidth / 2, cy * ratio - viewport.clientHeight / 2);
  el("zoom-value").textContent = `${Math.round(to * 100)}%`;
  el("zoom-out").disabled = to === ZOOMS[0];
  el("zoom-in").disabled = to === ZOOMS[ZOOMS.length - 1];
}

function nextZoom(zoom, direction) {
  return ZOOMS[Math.min(ZOOMS.length - 1, Math.max(0, ZOOMS.indexOf(zoom) + direction))];
}
