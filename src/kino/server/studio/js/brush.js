// Motion Brush: paint regions (brush / eraser / size) over the first frame or a blank frame at the
// output size, several regions in distinct colours, an arrow per region (drag: where it travels in one
// second → vector px/s), depth, speed curve, ambient, a static area; every vector drawn over the
// picture. Exported as mask PNG data URIs at exactly the output size (what the API checks).

import { $, bus, h, outputSize, state, toast } from "./store.js";

const COLORS = ["#ff5d73", "#3ec7ff", "#9be15d", "#ffc53d", "#c77dff", "#2ee6c5", "#ff8f40", "#7c8cff"];
const SPEEDS = { linear: "Constant", ease_in: "Speed up", ease_out: "Slow down", smooth: "Smooth" };
const S = 4; // display pixels per output pixel (crisp overlays)

let W = 224;
let H = 128;
let regions = []; // {id, color, mask (canvas W×H, white = painted), vector: [dx, dy], dz, speed, ambient, lost}
let staticLayer = null;
let active = null; // region id or "static"
let seq = 0;
let bg = null; // HTMLImageElement of the first frame
let hover = null;
const centroids = new Map();

const layerCanvas = () => {
  const c = document.createElement("canvas");
  c.width = W;
  c.height = H;
  c.getContext("2d", { willReadFrequently: true }); // masks are read back (coverage, export)
  return c;
};

export function init() {
  [W, H] = outputSize();
  staticLayer = layerCanvas();
  addRegion();
  const cv = $("#brush-canvas");
  cv.addEventListener("pointerdown", down);
  cv.addEventListener("pointermove", (e) => {
    hover = toOut(e);
    if (!cv.hasPointerCapture(e.pointerId)) render();
  });
  cv.addEventListener("pointerleave", () => {
    hover = null;
    render();
  });
  $("#brush-size").addEventListener("input", () => ($("#brush-size-out").value = $("#brush-size").value));
  $("#add-region").addEventListener("click", () => {
    addRegion();
    changed();
  });
  $("#brush-clear").addEventListener("click", () => {
    const c = layer();
    c.getContext("2d").clearRect(0, 0, W, H);
    changed();
  });
  $("#brush-fill").addEventListener("click", () => {
    const ctx = layer().getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, W, H);
    changed();
  });
  document.addEventListener("keydown", (e) => {
    if ($("#screen-brush").hidden || e.target.matches("input, textarea, select") || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = { b: "brush", e: "eraser", a: "arrow" }[e.key.toLowerCase()];
    if (t) $(`#tool-${t}`).checked = true;
    if (e.key === "[" || e.key === "]") {
      const s = $("#brush-size");
      s.value = Number(s.value) + (e.key === "]" ? 2 : -2);
      $("#brush-size-out").value = s.value;
    }
  });
  bus.on("shot-changed", resize);
  bus.on("first-frame", loadBackground);
  changed();
}

const tool = () => document.querySelector("input[name=tool]:checked").value;
const layer = () => (active === "static" ? staticLayer : regions.find((r) => r.id === active).mask);
const activeRegion = () => regions.find((r) => r.id === active) || null;

function addRegion() {
  const used = new Set(regions.map((r) => r.color));
  const color = COLORS.find((c) => !used.has(c)) || COLORS[seq % COLORS.length];
  const r = { id: ++seq, color, mask: layerCanvas(), vector: [0, 0], dz: 0, speed: "linear", ambient: 0, lost: false };
  regions.push(r);
  active = r.id;
  return r;
}

function toOut(e) {
  const cv = $("#brush-canvas");
  const rect = cv.getBoundingClientRect();
  return [((e.clientX - rect.left) / rect.width) * W, ((e.clientY - rect.top) / rect.height) * H];
}

function down(e) {
  const cv = $("#brush-canvas");
  e.preventDefault();
  cv.setPointerCapture(e.pointerId);
  const t = tool();
  let last = toOut(e);
  if (t === "arrow") {
    const r = activeRegion();
    if (!r) {
      toast("Select a region to give it a motion arrow.");
      return;
    }
    const anchor = centroid(r) || last;
    const move = (ev) => {
      const p = toOut(ev);
      r.vector = [Math.round((p[0] - anchor[0]) * 2) / 2, Math.round((p[1] - anchor[1]) * 2) / 2];
      hover = p;
      render();
      editor();
    };
    move(e);
    cv.addEventListener("pointermove", move);
    cv.addEventListener("pointerup", () => (cv.removeEventListener("pointermove", move), changed()), { once: true });
    return;
  }
  const ctx = layer().getContext("2d");
  ctx.globalCompositeOperation = t === "eraser" ? "destination-out" : "source-over";
  ctx.strokeStyle = ctx.fillStyle = "#fff";
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.lineWidth = Number($("#brush-size").value);
  const dot = (p) => {
    ctx.beginPath();
    ctx.arc(p[0], p[1], ctx.lineWidth / 2, 0, Math.PI * 2);
    ctx.fill();
  };
  dot(last);
  centroids.clear();
  render();
  const move = (ev) => {
    const p = toOut(ev);
    ctx.beginPath();
    ctx.moveTo(last[0], last[1]);
    ctx.lineTo(p[0], p[1]);
    ctx.stroke();
    last = p;
    hover = p;
    centroids.clear();
    render();
  };
  cv.addEventListener("pointermove", move);
  cv.addEventListener("pointerup", () => {
    cv.removeEventListener("pointermove", move);
    ctx.globalCompositeOperation = "source-over";
    changed();
  }, { once: true });
}

function coverage(c) {
  const d = c.getContext("2d").getImageData(0, 0, W, H).data;
  let n = 0;
  let sx = 0;
  let sy = 0;
  for (let i = 3, p = 0; i < d.length; i += 4, p++) {
    if (d[i] > 127) {
      n++;
      sx += p % W;
      sy += Math.floor(p / W);
    }
  }
  return n ? { n, cx: sx / n + 0.5, cy: sy / n + 0.5 } : { n: 0 };
}

function centroid(r) {
  if (!centroids.has(r.id)) {
    const c = coverage(r.mask);
    centroids.set(r.id, c.n ? [c.cx, c.cy] : null);
  }
  return centroids.get(r.id);
}

// ------------------------------------------------------------------------------ drawing
function tinted(mask, color) {
  const t = document.createElement("canvas");
  t.width = W * S;
  t.height = H * S;
  const ctx = t.getContext("2d");
  ctx.fillStyle = color;
  ctx.fillRect(0, 0, t.width, t.height);
  ctx.globalCompositeOperation = "destination-in";
  ctx.drawImage(mask, 0, 0, t.width, t.height);
  return t;
}

let hatch = null;
function hatched(mask) {
  if (!hatch) {
    const p = document.createElement("canvas");
    p.width = p.height = 16;
    const c = p.getContext("2d");
    c.fillStyle = "rgba(20,22,28,0.55)";
    c.fillRect(0, 0, 16, 16);
    c.strokeStyle = "rgba(230,232,240,0.75)";
    c.lineWidth = 2;
    c.beginPath();
    c.moveTo(-4, 20);
    c.lineTo(20, -4);
    c.moveTo(-4, 4);
    c.lineTo(4, -4);
    c.moveTo(12, 20);
    c.lineTo(20, 12);
    c.stroke();
    hatch = p;
  }
  const t = document.createElement("canvas");
  t.width = W * S;
  t.height = H * S;
  const ctx = t.getContext("2d");
  ctx.fillStyle = ctx.createPattern(hatch, "repeat");
  ctx.fillRect(0, 0, t.width, t.height);
  ctx.globalCompositeOperation = "destination-in";
  ctx.drawImage(mask, 0, 0, t.width, t.height);
  return t;
}

function drawBackground(ctx) {
  const cw = W * S;
  const ch = H * S;
  if (bg && bg.complete && bg.naturalWidth) {
    // centre crop to the output aspect, as the server does with a first frame
    const s = Math.max(cw / bg.naturalWidth, ch / bg.naturalHeight);
    const w = bg.naturalWidth * s;
    const hh = bg.naturalHeight * s;
    ctx.drawImage(bg, (cw - w) / 2, (ch - hh) / 2, w, hh);
    ctx.fillStyle = "rgba(10,12,16,0.18)";
    ctx.fillRect(0, 0, cw, ch);
  } else {
    const g = ctx.createLinearGradient(0, 0, 0, ch);
    g.addColorStop(0, "#232838");
    g.addColorStop(1, "#14161d");
    ctx.fillStyle = g;
    ctx.fillRect(0, 0, cw, ch);
    ctx.strokeStyle = "rgba(255,255,255,0.06)";
    ctx.lineWidth = 1;
    for (let x = 32; x < W; x += 32) {
      ctx.beginPath();
      ctx.moveTo(x * S + 0.5, 0);
      ctx.lineTo(x * S + 0.5, ch);
      ctx.stroke();
    }
    for (let y = 32; y < H; y += 32) {
      ctx.beginPath();
      ctx.moveTo(0, y * S + 0.5);
      ctx.lineTo(cw, y * S + 0.5);
      ctx.stroke();
    }
    ctx.fillStyle = "rgba(255,255,255,0.35)";
    ctx.font = `${Math.round(5 * S)}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    ctx.fillText(`blank ${W}×${H} frame — upload a first frame to paint on it`, cw / 2, ch / 2);
    ctx.textAlign = "left";
  }
}

function arrow(ctx, from, to, color, label, dz) {
  const [x0, y0] = [from[0] * S, from[1] * S];
  const [x1, y1] = [to[0] * S, to[1] * S];
  const len = Math.hypot(x1 - x0, y1 - y0);
  const a = Math.atan2(y1 - y0, x1 - x0);
  for (const [w, c] of [
    [9, "rgba(0,0,0,0.55)"],
    [4.5, color],
  ]) {
    ctx.strokeStyle = c;
    ctx.fillStyle = c;
    ctx.lineWidth = w;
    ctx.lineCap = "round";
    if (len > 6) {
      ctx.beginPath();
      ctx.moveTo(x0, y0);
      ctx.lineTo(x1 - Math.cos(a) * 10, y1 - Math.sin(a) * 10);
      ctx.stroke();
      const hs = w > 5 ? 24 : 20;
      ctx.beginPath();
      ctx.moveTo(x1 + Math.cos(a) * (w > 5 ? 3 : 0), y1 + Math.sin(a) * (w > 5 ? 3 : 0));
      ctx.lineTo(x1 - Math.cos(a - 0.45) * hs, y1 - Math.sin(a - 0.45) * hs);
      ctx.lineTo(x1 - Math.cos(a + 0.45) * hs, y1 - Math.sin(a + 0.45) * hs);
      ctx.closePath();
      ctx.fill();
    }
  }
  // tail: depth glyph (dot = toward the camera, cross = away)
  const r = 9 + Math.min(12, Math.abs(dz) * 5);
  ctx.lineWidth = 3;
  ctx.strokeStyle = "#fff";
  ctx.fillStyle = color;
  ctx.beginPath();
  ctx.arc(x0, y0, r, 0, Math.PI * 2);
  ctx.fill();
  ctx.stroke();
  ctx.fillStyle = ctx.strokeStyle = "#111";
  if (dz > 0.01) {
    ctx.beginPath();
    ctx.arc(x0, y0, 3.5, 0, Math.PI * 2);
    ctx.fill();
  } else if (dz < -0.01) {
    ctx.beginPath();
    ctx.moveTo(x0 - 5, y0 - 5);
    ctx.lineTo(x0 + 5, y0 + 5);
    ctx.moveTo(x0 + 5, y0 - 5);
    ctx.lineTo(x0 - 5, y0 + 5);
    ctx.stroke();
  }
  ctx.font = `600 ${Math.round(4.2 * S)}px system-ui, sans-serif`;
  const tx = (len > 6 ? x1 : x0) + 14;
  const ty = (len > 6 ? y1 : y0) - 14;
  const tw = ctx.measureText(label).width;
  ctx.fillStyle = "rgba(12,14,20,0.78)";
  roundRect(ctx, Math.min(tx - 6, W * S - tw - 14), Math.max(ty - 22, 4), tw + 12, 28, 7);
  ctx.fill();
  ctx.fillStyle = color;
  ctx.fillText(label, Math.min(tx, W * S - tw - 8), Math.max(ty - 2, 24));
}

function roundRect(ctx, x, y, w, hh, r) {
  ctx.beginPath();
  ctx.moveTo(x + r, y);
  ctx.arcTo(x + w, y, x + w, y + hh, r);
  ctx.arcTo(x + w, y + hh, x, y + hh, r);
  ctx.arcTo(x, y + hh, x, y, r);
  ctx.arcTo(x, y, x + w, y, r);
  ctx.closePath();
}

export function render() {
  const cv = $("#brush-canvas");
  if (cv.width !== W * S || cv.height !== H * S) {
    cv.width = W * S;
    cv.height = H * S;
  }
  cv.style.aspectRatio = `${W} / ${H}`;
  const ctx = cv.getContext("2d");
  ctx.clearRect(0, 0, cv.width, cv.height);
  drawBackground(ctx);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(hatched(staticLayer), 0, 0);
  for (const r of regions) {
    ctx.globalAlpha = r.id === active ? 0.55 : 0.42;
    ctx.drawImage(tinted(r.mask, r.color), 0, 0);
  }
  ctx.globalAlpha = 1;
  regions.forEach((r, i) => {
    const c = centroid(r);
    if (!c) return;
    const speed = Math.hypot(r.vector[0], r.vector[1]);
    arrow(ctx, c, [c[0] + r.vector[0], c[1] + r.vector[1]], r.color, `R${i + 1} · ${speed.toFixed(0)} px/s${r.dz ? ` · z ${r.dz > 0 ? "+" : ""}${r.dz.toFixed(1)}` : ""}`, r.dz);
  });
  if (hover && tool() !== "arrow") {
    ctx.strokeStyle = "rgba(255,255,255,0.9)";
    ctx.lineWidth = 1.5;
    ctx.setLineDash([5, 4]);
    ctx.beginPath();
    ctx.arc(hover[0] * S, hover[1] * S, (Number($("#brush-size").value) / 2) * S, 0, Math.PI * 2);
    ctx.stroke();
    ctx.setLineDash([]);
  }
}

// ------------------------------------------------------------------------------ side panel
function layersList() {
  const ul = $("#layers");
  ul.replaceChildren();
  regions.forEach((r, i) => {
    const painted = coverage(r.mask).n > 0;
    ul.append(
      h(
        "li",
        { class: r.id === active ? "active" : "" },
        h(
          "button",
          { type: "button", class: "layer", "aria-pressed": String(r.id === active), onclick: () => select(r.id) },
          h("span", { class: "dot", style: `background:${r.color}` }),
          h("span", { class: "name" }, `Region ${i + 1}`),
          h("span", { class: "muted small" }, painted ? `${Math.round(Math.hypot(...r.vector))} px/s` : r.lost ? "mask not kept — repaint" : "empty"),
        ),
        h("button", { type: "button", class: "icon", "aria-label": `Delete region ${i + 1}`, title: "Delete region", onclick: () => remove(r.id) }, "×"),
        h("p", { class: "error", "data-err": `motionBrush.regions.r${r.id}` }),
      ),
    );
  });
  const staticPainted = coverage(staticLayer).n > 0;
  ul.append(
    h(
      "li",
      { class: active === "static" ? "active" : "" },
      h(
        "button",
        { type: "button", class: "layer", "aria-pressed": String(active === "static"), onclick: () => select("static") },
        h("span", { class: "dot hatch" }),
        h("span", { class: "name" }, "Static area"),
        h("span", { class: "muted small" }, staticPainted ? "keep still" : "empty"),
      ),
      h("p", { class: "error", "data-err": "motionBrush.staticMask" }),
    ),
  );
}

function select(id) {
  active = id;
  if (id === "static" && $("#tool-arrow").checked) $("#tool-brush").checked = true;
  changed();
}

function remove(id) {
  regions = regions.filter((r) => r.id !== id);
  if (!regions.length) addRegion();
  if (active === id) active = regions[regions.length - 1].id;
  changed();
}

function numberField(id, label, value, attrs, onInput) {
  const input = h("input", { type: "number", id, value, step: "any", ...attrs });
  input.addEventListener("input", () => {
    const v = Number(input.value);
    if (Number.isFinite(v)) onInput(v);
  });
  return h("div", { class: "field" }, h("label", { for: id }, label), input);
}

function rangeField(id, label, value, attrs, fmt, onInput) {
  const out = h("output", { for: id }, fmt(value));
  const input = h("input", { type: "range", id, value, ...attrs });
  input.addEventListener("input", () => {
    onInput(Number(input.value));
    out.value = fmt(Number(input.value));
  });
  return h("div", { class: "field" }, h("label", { for: id }, `${label} `, out), input);
}

function editor() {
  const box = $("#region-editor");
  const r = activeRegion();
  if (!r) {
    box.replaceChildren(h("p", { class: "muted" }, "The static area stays still in the video. Everything you leave unpainted is free to move with the prompt and the camera."));
    return;
  }
  const i = regions.indexOf(r) + 1;
  const upd = () => {
    render();
    layersList();
    bus.emit("controls-changed");
  };
  const speed = h("select", { id: "region-speed" }, ...Object.entries(SPEEDS).map(([k, v]) => h("option", { value: k, selected: k === r.speed }, v)));
  speed.addEventListener("change", () => ((r.speed = speed.value), upd()));
  box.replaceChildren(
    h("h3", {}, h("span", { class: "dot", style: `background:${r.color}` }), ` Region ${i} motion`),
    h(
      "div",
      { class: "grid2" },
      numberField("region-dx", "→ x (px/s)", r.vector[0], { min: -2000, max: 2000 }, (v) => ((r.vector = [v, r.vector[1]]), upd())),
      numberField("region-dy", "↓ y (px/s)", r.vector[1], { min: -2000, max: 2000 }, (v) => ((r.vector = [r.vector[0], v]), upd())),
    ),
    rangeField("region-dz", "Depth (toward camera, m/s)", r.dz, { min: -3, max: 3, step: 0.1 }, (v) => (v > 0 ? `+${v.toFixed(1)}` : v.toFixed(1)), (v) => ((r.dz = v), upd())),
    h("div", { class: "field" }, h("label", { for: "region-speed" }, "Speed over the clip"), speed),
    rangeField("region-ambient", "Ambient motion", r.ambient, { min: 0, max: 1, step: 0.05 }, (v) => v.toFixed(2), (v) => ((r.ambient = v), upd())),
  );
}

function changed() {
  render();
  layersList();
  editor();
  bus.emit("controls-changed");
}

// ------------------------------------------------------------------------------ ratio / first frame
function resize() {
  const [w, hh] = outputSize();
  if (w === W && hh === H) return;
  const scale = (c) => {
    const n = document.createElement("canvas");
    n.width = w;
    n.height = hh;
    n.getContext("2d", { willReadFrequently: true }).drawImage(c, 0, 0, w, hh);
    return n;
  };
  for (const r of regions) r.mask = scale(r.mask);
  staticLayer = scale(staticLayer);
  W = w;
  H = hh;
  centroids.clear();
  changed();
}

function loadBackground() {
  const f = state.shot.first;
  const src = f ? f.preview || state.previews.get(f.uri) : null;
  if (!src) {
    bg = null;
    render();
    return;
  }
  const img = new Image();
  img.onload = () => {
    bg = img;
    render();
  };
  img.src = src;
}

// ------------------------------------------------------------------------------ request
function png(mask) {
  const c = document.createElement("canvas");
  c.width = W;
  c.height = H;
  const ctx = c.getContext("2d");
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, W, H);
  ctx.drawImage(mask, 0, 0);
  return c.toDataURL("image/png");
}

/** The API's motionBrush object, or null when nothing is painted. Registers index → region aliases for errors. */
export function toRequest(aliases = {}) {
  const out = [];
  for (const r of regions) {
    if (!coverage(r.mask).n) continue;
    aliases[`motionBrush.regions.${out.length}`] = `motionBrush.regions.r${r.id}`;
    const region = { mask: png(r.mask), vector: r.dz ? [r.vector[0], r.vector[1], r.dz] : [r.vector[0], r.vector[1]] };
    if (r.speed !== "linear") region.speed = r.speed;
    if (r.ambient > 0) region.ambient = r.ambient;
    out.push(region);
  }
  if (!out.length) return null;
  const mb = { regions: out };
  if (coverage(staticLayer).n) mb.staticMask = png(staticLayer);
  return mb;
}

export function summary() {
  const painted = regions.filter((r) => coverage(r.mask).n);
  const st = coverage(staticLayer).n > 0;
  if (!painted.length) return st ? "Static area painted — paint a moving region too." : "No regions painted.";
  const v = painted.map((r) => `${Math.round(Math.hypot(...r.vector))} px/s`).join(", ");
  return `${painted.length} region${painted.length > 1 ? "s" : ""} (${v})${st ? " + static area" : ""} at ${W}×${H}.`;
}

function drawMaskUri(uri, canvas) {
  const img = new Image();
  img.onload = () => {
    const ctx = canvas.getContext("2d");
    // white-on-black PNG → white on transparent
    const t = document.createElement("canvas");
    t.width = W;
    t.height = H;
    const tc = t.getContext("2d");
    tc.drawImage(img, 0, 0, W, H);
    const d = tc.getImageData(0, 0, W, H);
    for (let i = 0; i < d.data.length; i += 4) {
      const on = Math.max(d.data[i], d.data[i + 1], d.data[i + 2]) > 127 && d.data[i + 3] > 127;
      d.data[i] = d.data[i + 1] = d.data[i + 2] = 255;
      d.data[i + 3] = on ? 255 : 0;
    }
    ctx.putImageData(d, 0, 0);
    centroids.clear();
    changed();
  };
  img.src = uri;
}

/** Load an API motionBrush object; returns true when a mask was not kept by the server (placeholder). */
export function load(mb) {
  [W, H] = outputSize();
  regions = [];
  staticLayer = layerCanvas();
  centroids.clear();
  let lost = false;
  for (const src of (mb && mb.regions) || []) {
    const r = addRegion();
    const v = Array.isArray(src.vector) ? src.vector : [0, 0];
    r.vector = [Number(v[0]) || 0, Number(v[1]) || 0];
    r.dz = Number(v[2]) || 0;
    r.speed = src.speed || "linear";
    r.ambient = Number(src.ambient) || 0;
    if (typeof src.mask === "string" && src.mask.startsWith("data:")) drawMaskUri(src.mask, r.mask);
    else if (Array.isArray(src.polygon)) {
      const ctx = r.mask.getContext("2d");
      ctx.fillStyle = "#fff";
      ctx.beginPath();
      src.polygon.forEach((p, i) => (i ? ctx.lineTo(p[0], p[1]) : ctx.moveTo(p[0], p[1])));
      ctx.closePath();
      ctx.fill();
    } else if (src.mask) {
      r.lost = true;
      lost = true;
    }
  }
  const st = mb && (mb.staticMask || mb.static_mask);
  if (typeof st === "string" && st.startsWith("data:")) drawMaskUri(st, staticLayer);
  else if (st) lost = true;
  if (!regions.length) addRegion();
  active = regions[0].id;
  changed();
  return lost;
}
