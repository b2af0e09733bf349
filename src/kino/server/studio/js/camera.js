// Camera Director: preset sliders, a keyed path (t, easing, focus, aperture per key) on a timeline, and a
// live preview computed here (campath.js mirrors kino.controls): the path and frustum from above, the
// view through the lens at the output size (ray-cast floor + the Kino World ball and box, focus plane
// lit), and focus / aperture over the clip.

import { cameraAt, EASINGS, interpolate, KEY_DEFAULTS, toKeys } from "./campath.js";
import { $, bus, FPS, frameCount, h, outputSize } from "./store.js";

const MOVES = [
  ["pan", "Pan", "turn right +"],
  ["tilt", "Tilt", "look up +"],
  ["zoom", "Zoom", "in +"],
  ["roll", "Roll", "clockwise +"],
  ["dolly", "Dolly", "forward +"],
  ["orbit", "Orbit", "counter-clockwise +"],
  ["crane", "Crane", "rise +"],
];
const FIELDS = [
  ["t", 0.01, 0, 1],
  ["pan", 1, -360, 360],
  ["tilt", 1, -360, 360],
  ["roll", 1, -360, 360],
  ["zoom", 0.05, 0.1, 10],
  ["dolly", 0.1, -360, 360],
  ["orbit", 1, -360, 360],
  ["crane", 0.1, -20, 20],
  ["focus", 0.1, 0.1, 1000],
  ["aperture", 0.1, 0, 64],
];
const EASE_LABELS = { linear: "Linear", ease_in: "Ease in", ease_out: "Ease out", smooth: "Smooth" };

const preset = { pan: 0, tilt: 0, roll: 0, zoom: 0, dolly: 0, orbit: 0, crane: 0 };
let keys = []; // rows in the order the user keeps them (the API checks the order)
let lens = { focus: null, aperture: null }; // whole-clip focus / aperture when there are no keys
let u = 0;
let playing = false;
let lastTs = 0;

export function init() {
  const box = $("#preset-sliders");
  for (const [name, label, hint] of MOVES) {
    const out = h("output", { for: `preset-${name}`, id: `preset-${name}-out` }, "0");
    const input = h("input", { type: "range", id: `preset-${name}`, min: -10, max: 10, step: 0.5, value: 0, "aria-describedby": `preset-${name}-hint err-preset-${name}` });
    input.addEventListener("input", () => {
      preset[name] = Number(input.value);
      out.value = fmtSigned(preset[name]);
      changed();
    });
    box.append(
      h(
        "div",
        { class: "slider" },
        h("label", { for: `preset-${name}` }, label),
        input,
        out,
        h("span", { class: "hint", id: `preset-${name}-hint` }, hint),
        h("p", { class: "error", id: `err-preset-${name}`, "data-err": `camera.preset.${name}`, "data-for": `preset-${name}` }),
      ),
    );
  }
  const lensRow = h("div", { class: "grid2 lens-row", id: "lens-row" });
  for (const [name, label, step] of [
    ["focus", "Focus (m), whole clip", 0.1],
    ["aperture", "Aperture (f/), whole clip", 0.1],
  ]) {
    const input = h("input", { type: "number", id: `camera-${name}`, step, min: 0, placeholder: name === "focus" ? "7" : "0 (all sharp)", "aria-describedby": `err-camera-${name}` });
    input.addEventListener("input", () => {
      lens[name] = input.value === "" ? null : Number(input.value);
      changed();
    });
    lensRow.append(h("div", { class: "field" }, h("label", { for: `camera-${name}` }, label), input, h("p", { class: "error", id: `err-camera-${name}`, "data-err": `camera.${name}`, "data-for": `camera-${name}` })));
  }
  box.after(lensRow);
  $("#preset-reset").addEventListener("click", () => {
    for (const k of Object.keys(preset)) preset[k] = 0;
    syncPreset();
    changed();
  });
  $("#add-key").addEventListener("click", () => {
    keys.push({ ...KEY_DEFAULTS, t: nextT() });
    changed(keys.length - 1);
  });
  $("#add-rack").addEventListener("click", () => {
    keys = [
      { ...KEY_DEFAULTS, t: 0, focus: 3, aperture: 2.8 },
      { ...KEY_DEFAULTS, t: 1, focus: 10, aperture: 2.8 },
    ];
    changed(0);
  });
  $("#cam-scrub").addEventListener("input", () => {
    u = Number($("#cam-scrub").value);
    playing = false;
    $("#cam-play").textContent = "▶ Play";
    $("#cam-play").setAttribute("aria-pressed", "false");
    draw();
  });
  $("#cam-play").addEventListener("click", () => {
    playing = !playing;
    $("#cam-play").textContent = playing ? "❚❚ Pause" : "▶ Play";
    $("#cam-play").setAttribute("aria-pressed", String(playing));
    lastTs = performance.now();
    if (playing) requestAnimationFrame(tick);
  });
  bus.on("shot-changed", () => {
    timeline();
    draw();
  });
  changed();
}

const fmtSigned = (v) => (v > 0 ? `+${v}` : String(v));

function nextT() {
  if (!keys.length) return 0;
  const last = keys[keys.length - 1].t;
  if (last < 1) return Math.min(1, Math.round((last + (last >= 0.5 ? 1 - last : 0.5)) * 100) / 100);
  const ts = [...new Set(keys.map((k) => k.t))].sort((a, b) => a - b);
  let best = [0, 0];
  for (let i = 1; i < ts.length; i++) if (ts[i] - ts[i - 1] > best[1] - best[0]) best = [ts[i - 1], ts[i]];
  return Math.round(((best[0] + best[1]) / 2) * 100) / 100;
}

function tick(ts) {
  if (!playing) return;
  const secs = frameCount() / FPS;
  u = (u + (ts - lastTs) / 1000 / secs) % 1;
  lastTs = ts;
  $("#cam-scrub").value = u;
  draw();
  requestAnimationFrame(tick);
}

function syncPreset() {
  for (const [name] of MOVES) {
    $(`#preset-${name}`).value = preset[name];
    $(`#preset-${name}-out`).value = fmtSigned(preset[name]);
  }
  $("#camera-focus").value = lens.focus ?? "";
  $("#camera-aperture").value = lens.aperture ?? "";
}

// ------------------------------------------------------------------------------ keys table + timeline
function table(focusRow) {
  const body = $("#keys-body");
  body.replaceChildren();
  keys.forEach((k, i) => {
    const tr = h("tr", { class: "key-row", "data-index": i });
    for (const [name, step, min, max] of FIELDS) {
      const id = `key-${i}-${name}`;
      const input = h("input", {
        type: "number",
        id,
        step,
        min,
        max,
        value: k[name] ?? "",
        "aria-label": `Key ${i + 1} ${name}`,
        "aria-describedby": `err-key-${i}-${name}`,
        class: name === "t" ? "t" : "",
      });
      input.addEventListener("input", () => {
        k[name] = input.value === "" ? null : Number(input.value);
        changed(null);
      });
      tr.append(h("td", {}, input));
    }
    const ease = h("select", { id: `key-${i}-ease`, "aria-label": `Key ${i + 1} easing (into this key)` }, ...EASINGS.map((e) => h("option", { value: e, selected: e === k.ease }, EASE_LABELS[e])));
    ease.addEventListener("change", () => {
      k.ease = ease.value;
      changed(null);
    });
    tr.append(h("td", {}, ease));
    tr.append(h("td", {}, h("button", { type: "button", class: "icon", "aria-label": `Remove key ${i + 1}`, title: "Remove key", onclick: () => ((keys = keys.filter((x) => x !== k)), changed()) }, "×")));
    body.append(tr);
    const errs = h("td", { colspan: 11 }, h("p", { class: "error", id: `err-key-${i}`, "data-err": `camera.keys.${i}`, "data-for": `key-${i}-t` }));
    for (const [name] of [...FIELDS, ["ease"]]) errs.append(h("p", { class: "error", id: `err-key-${i}-${name}`, "data-err": `camera.keys.${i}.${name}`, "data-for": `key-${i}-${name}` }));
    body.append(h("tr", { class: "err-row" }, errs));
  });
  $("#keys-empty").hidden = keys.length > 0;
  $("#keys-wrap").hidden = keys.length === 0;
  if (focusRow != null) {
    const el = document.getElementById(`key-${focusRow}-t`);
    if (el) el.focus();
  }
  $("#lens-row").classList.toggle("dim", keys.length > 0);
}

function timeline() {
  const ticks = $("#cam-ticks");
  ticks.replaceChildren();
  const secs = frameCount() / FPS;
  for (let s = 0; s <= secs + 1e-9; s += 1) ticks.append(h("span", { style: `left:${(s / secs) * 100}%` }, `${s}s`));
  const m = $("#cam-markers");
  m.replaceChildren();
  keys.forEach((k, i) => {
    const t = Number.isFinite(k.t) ? Math.max(0, Math.min(1, k.t)) : 0;
    const b = h("button", { type: "button", class: "marker cam", style: `left:${t * 100}%`, "aria-label": `Key ${i + 1} at t ${t.toFixed(2)}; arrow keys move it`, title: `key ${i + 1} · t ${t.toFixed(2)}` }, h("i", {}, String(i + 1)));
    b.addEventListener("keydown", (e) => {
      if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
      e.preventDefault();
      const step = e.shiftKey ? 0.1 : 0.01;
      k.t = Math.round(Math.max(0, Math.min(1, t + (e.key === "ArrowRight" ? step : -step))) * 100) / 100;
      changed(null);
      m.children[i]?.focus();
    });
    b.addEventListener("click", () => {
      u = t;
      $("#cam-scrub").value = u;
      draw();
    });
    b.addEventListener("pointerdown", (e) => {
      const r = $("#cam-markers").getBoundingClientRect();
      b.setPointerCapture(e.pointerId);
      const move = (ev) => {
        k.t = Math.round(Math.max(0, Math.min(1, (ev.clientX - r.left) / r.width)) * 100) / 100;
        b.style.left = `${k.t * 100}%`;
        const inp = document.getElementById(`key-${i}-t`);
        if (inp) inp.value = k.t;
        draw();
      };
      b.addEventListener("pointermove", move);
      b.addEventListener("pointerup", () => (b.removeEventListener("pointermove", move), changed(null)), { once: true });
    });
    m.append(b);
  });
  m.append(h("span", { class: "playhead", style: `left:${u * 100}%`, "aria-hidden": "true" }));
}

function changed(focusRow) {
  if (focusRow !== null) table(focusRow);
  timeline();
  draw();
  bus.emit("controls-changed");
}

// ------------------------------------------------------------------------------ request
export function toRequest() {
  const out = {};
  const p = Object.fromEntries(Object.entries(preset).filter(([, v]) => v !== 0));
  if (Object.keys(p).length) out.preset = p;
  if (keys.length) out.keys = keys.map((k) => ({ t: k.t, pan: k.pan, tilt: k.tilt, roll: k.roll, zoom: k.zoom, dolly: k.dolly, orbit: k.orbit, crane: k.crane, focus: k.focus, aperture: k.aperture, ease: k.ease }));
  else {
    if (lens.focus != null) out.focus = lens.focus;
    if (lens.aperture != null) out.aperture = lens.aperture;
  }
  return Object.keys(out).length ? out : null;
}

export function summary() {
  const parts = Object.entries(preset)
    .filter(([, v]) => v)
    .map(([k, v]) => `${k} ${fmtSigned(v)}`);
  const bits = [];
  if (parts.length) bits.push(`Preset ${parts.join(", ")}`);
  if (keys.length) {
    const f = keys.map((k) => k.focus).filter((x) => x != null);
    const rack = f.length > 1 && Math.min(...f) !== Math.max(...f) ? ` · rack focus ${Math.min(...f)}→${Math.max(...f)} m` : "";
    bits.push(`${keys.length} key${keys.length > 1 ? "s" : ""}${rack}`);
  } else if (lens.focus != null || lens.aperture != null) bits.push(`focus ${lens.focus ?? 7} m, f/${lens.aperture ?? 0}`);
  return bits.length ? `${bits.join(" · ")}.` : "Locked-off camera.";
}

export function load(cam) {
  for (const k of Object.keys(preset)) preset[k] = Number((cam && cam.preset && cam.preset[k]) || 0);
  keys = ((cam && cam.keys) || []).map((k) => ({ ...KEY_DEFAULTS, ...k }));
  lens = { focus: cam && cam.focus != null ? cam.focus : null, aperture: cam && cam.aperture != null ? cam.aperture : null };
  syncPreset();
  changed();
}

// ------------------------------------------------------------------------------ preview
function control() {
  const c = toRequest() || {};
  // the preview tolerates half-typed keys: nulls take the defaults, the order is the user's
  if (c.keys) c.keys = c.keys.map((k) => Object.fromEntries(Object.entries(k).map(([n, v]) => [n, v == null || Number.isNaN(v) ? KEY_DEFAULTS[n] : v])));
  if (c.keys) c.keys = c.keys.map((k) => ({ ...k, zoom: k.zoom > 0 ? k.zoom : 1 }));
  return c;
}

const SCENE = {
  ball: { c: [-1.2, 0.5, 0.2], r: 0.5, color: [226, 62, 62] },
  box: { lo: [0.6, 0, -0.2], hi: [1.8, 1.2, 1.0], color: [60, 110, 225] },
};

/** What the camera sees at the output size: ray-cast floor (checker), the Kino World ball and box, the focus plane lit. */
function lensImage(cam, w, hh) {
  const img = new ImageData(w, hh);
  const d = img.data;
  const { position: o, forward: f, right: r, up } = cam;
  const ball = SCENE.ball;
  const box = SCENE.box;
  for (let y = 0; y < hh; y++) {
    for (let x = 0; x < w; x++) {
      const xs = (x + 0.5 - w / 2) / cam.focal;
      const ys = (y + 0.5 - hh / 2) / cam.focal;
      const dir = [f[0] + xs * r[0] - ys * up[0], f[1] + xs * r[1] - ys * up[1], f[2] + xs * r[2] - ys * up[2]]; // depth along the view axis = t
      let t = Infinity;
      let col = null;
      // ball
      const oc = [o[0] - ball.c[0], o[1] - ball.c[1], o[2] - ball.c[2]];
      const a = dir[0] ** 2 + dir[1] ** 2 + dir[2] ** 2;
      const b = 2 * (oc[0] * dir[0] + oc[1] * dir[1] + oc[2] * dir[2]);
      const c = oc[0] ** 2 + oc[1] ** 2 + oc[2] ** 2 - ball.r ** 2;
      const disc = b * b - 4 * a * c;
      if (disc > 0) {
        const tb = (-b - Math.sqrt(disc)) / (2 * a);
        if (tb > 0.05 && tb < t) {
          t = tb;
          const p = [o[0] + dir[0] * t, o[1] + dir[1] * t, o[2] + dir[2] * t];
          const n = [(p[0] - ball.c[0]) / ball.r, (p[1] - ball.c[1]) / ball.r, (p[2] - ball.c[2]) / ball.r];
          const lit = 0.45 + 0.55 * Math.max(0, -0.5 * n[0] + 0.7 * n[1] - 0.5 * n[2]);
          col = ball.color.map((v) => v * lit);
        }
      }
      // box (slabs)
      let t0 = -Infinity;
      let t1 = Infinity;
      let axis = 0;
      for (let k = 0; k < 3; k++) {
        const inv = 1 / (dir[k] || 1e-9);
        let ta = (box.lo[k] - o[k]) * inv;
        let tb = (box.hi[k] - o[k]) * inv;
        if (ta > tb) [ta, tb] = [tb, ta];
        if (ta > t0) {
          t0 = ta;
          axis = k;
        }
        t1 = Math.min(t1, tb);
      }
      if (t0 < t1 && t0 > 0.05 && t0 < t) {
        t = t0;
        const shade = [0.75, 1.0, 0.6][axis];
        col = box.color.map((v) => v * shade);
      }
      // floor y = 0
      if (dir[1] < -1e-6) {
        const tf = -o[1] / dir[1];
        if (tf > 0 && tf < t) {
          t = tf;
          const px = o[0] + dir[0] * tf;
          const pz = o[2] + dir[2] * tf;
          const chk = (Math.floor(px) + Math.floor(pz)) & 1;
          const fog = Math.min(1, tf / 40);
          const base = chk ? 205 : 150;
          col = [base * (1 - fog) + 150 * fog, base * 0.97 * (1 - fog) + 170 * fog, base * 0.9 * (1 - fog) + 200 * fog];
        }
      }
      if (!col) {
        const s = Math.max(0, Math.min(1, 0.5 + dir[1] * 0.8));
        col = [120 + 60 * s, 160 + 50 * s, 210 + 30 * s];
      } else if (Math.abs(t - cam.focus) < 0.03 + 0.006 * cam.focus) {
        col = [col[0] * 0.5 + 255 * 0.5, col[1] * 0.5 + 200 * 0.5, col[2] * 0.5 + 70 * 0.5]; // where the focus plane cuts the scene
      }
      const i = (y * w + x) * 4;
      d[i] = col[0];
      d[i + 1] = col[1];
      d[i + 2] = col[2];
      d[i + 3] = 255;
    }
  }
  return img;
}

function draw() {
  const cv = $("#cam-canvas");
  if (!cv) return;
  const ctx = cv.getContext("2d");
  const CW = cv.width;
  const CH = cv.height;
  const [w, hh] = outputSize();
  const n = Math.max(2, frameCount());
  const ctl = control();
  let keysAll;
  try {
    keysAll = toKeys(ctl);
  } catch {
    return;
  }
  const cams = [];
  for (let i = 0; i < n; i++) cams.push(cameraAt(interpolate(keysAll, i / (n - 1)), w, hh));
  const cur = cameraAt(interpolate(keysAll, u), w, hh);

  ctx.fillStyle = "#101218";
  ctx.fillRect(0, 0, CW, CH);

  // ---- top view (x right, z up the page)
  const TV = { x: 0, y: 0, w: 500, h: CH };
  ctx.save();
  ctx.beginPath();
  ctx.rect(TV.x, TV.y, TV.w, TV.h);
  ctx.clip();
  const pts = cams.map((c) => [c.position[0], c.position[2]]).concat([[0, 0], [-2, -1], [2, 1.5]]);
  let [x0, z0, x1, z1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, z] of pts) {
    x0 = Math.min(x0, x);
    x1 = Math.max(x1, x);
    z0 = Math.min(z0, z);
    z1 = Math.max(z1, z);
  }
  const span = Math.max(x1 - x0, z1 - z0, 8) + 3;
  const sc = (TV.h - 60) / span;
  const mx = (x0 + x1) / 2;
  const mz = (z0 + z1) / 2;
  const P = (x, z) => [TV.x + TV.w / 2 + (x - mx) * sc, TV.y + TV.h / 2 + 10 - (z - mz) * sc];
  ctx.strokeStyle = "rgba(255,255,255,0.05)";
  ctx.lineWidth = 1;
  for (let g = Math.floor(mx - span); g <= mx + span; g++) {
    const a = P(g, mz - span);
    const b = P(g, mz + span);
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
    ctx.stroke();
  }
  for (let g = Math.floor(mz - span); g <= mz + span; g++) {
    const a = P(mx - span, g);
    const b = P(mx + span, g);
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
    ctx.stroke();
  }
  // the scene from above
  const bc = P(SCENE.ball.c[0], SCENE.ball.c[2]);
  ctx.fillStyle = "rgba(226,62,62,0.85)";
  ctx.beginPath();
  ctx.arc(bc[0], bc[1], SCENE.ball.r * sc, 0, Math.PI * 2);
  ctx.fill();
  const b0 = P(SCENE.box.lo[0], SCENE.box.hi[2]);
  ctx.fillStyle = "rgba(60,110,225,0.85)";
  ctx.fillRect(b0[0], b0[1], (SCENE.box.hi[0] - SCENE.box.lo[0]) * sc, (SCENE.box.hi[2] - SCENE.box.lo[2]) * sc);
  const tg = P(0, 0);
  ctx.strokeStyle = "rgba(255,255,255,0.6)";
  ctx.beginPath();
  ctx.moveTo(tg[0] - 6, tg[1]);
  ctx.lineTo(tg[0] + 6, tg[1]);
  ctx.moveTo(tg[0], tg[1] - 6);
  ctx.lineTo(tg[0], tg[1] + 6);
  ctx.stroke();

  const frustum = (c, alpha, current) => {
    // the cone (short), then dashed rays out to the focus distance and the focus plane across them
    const half = Math.atan(w / 2 / c.focal);
    const cone = Math.min(Math.max(c.focus, 0.5), span * 0.28);
    const dirs = [-1, 1].map((s) => [c.forward[0] + Math.tan(half) * s * c.right[0], c.forward[2] + Math.tan(half) * s * c.right[2]]);
    const at = (d, len) => P(c.position[0] + d[0] * len, c.position[2] + d[1] * len);
    const o = P(c.position[0], c.position[2]);
    const ends = dirs.map((d) => at(d, cone));
    ctx.beginPath();
    ctx.moveTo(o[0], o[1]);
    ctx.lineTo(ends[0][0], ends[0][1]);
    ctx.lineTo(ends[1][0], ends[1][1]);
    ctx.closePath();
    if (current) {
      ctx.fillStyle = "rgba(245,165,36,0.22)";
      ctx.fill();
    }
    ctx.strokeStyle = `rgba(245,165,36,${alpha})`;
    ctx.lineWidth = current ? 2 : 1;
    ctx.stroke();
    if (!current) return;
    const far = dirs.map((d) => at(d, c.focus));
    ctx.setLineDash([4, 5]);
    ctx.strokeStyle = "rgba(245,165,36,0.45)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let i = 0; i < 2; i++) {
      ctx.moveTo(ends[i][0], ends[i][1]);
      ctx.lineTo(far[i][0], far[i][1]);
    }
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.strokeStyle = "#ffd27a";
    ctx.lineWidth = 3;
    ctx.beginPath();
    ctx.moveTo(far[0][0], far[0][1]);
    ctx.lineTo(far[1][0], far[1][1]);
    ctx.stroke();
    const mid = [(far[0][0] + far[1][0]) / 2, (far[0][1] + far[1][1]) / 2];
    ctx.fillStyle = "#ffd27a";
    ctx.font = "600 12px system-ui, sans-serif";
    ctx.fillText(`focus ${c.focus.toFixed(1)} m${c.aperture > 0 ? ` · f/${c.aperture.toFixed(1)}` : ""}`, mid[0] + 8, mid[1] - 8);
  };
  for (const k of keysAll) frustum(cameraAt(k, w, hh), 0.35, false);
  // path, start → end
  ctx.lineWidth = 3;
  for (let i = 1; i < cams.length; i++) {
    const a = P(cams[i - 1].position[0], cams[i - 1].position[2]);
    const b = P(cams[i].position[0], cams[i].position[2]);
    const s = i / (cams.length - 1);
    ctx.strokeStyle = `rgb(${Math.round(80 + 170 * s)},${Math.round(200 - 120 * s)},${Math.round(120 - 40 * s)})`;
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
    ctx.stroke();
  }
  frustum(cur, 1, true);
  const s0 = P(cams[0].position[0], cams[0].position[2]);
  const s1 = P(cams[cams.length - 1].position[0], cams[cams.length - 1].position[2]);
  for (const [p, c] of [
    [s0, "#4cd964"],
    [s1, "#ff5d5d"],
  ]) {
    ctx.fillStyle = c;
    ctx.beginPath();
    ctx.arc(p[0], p[1], 5, 0, Math.PI * 2);
    ctx.fill();
  }
  const cp = P(cur.position[0], cur.position[2]);
  ctx.fillStyle = "#fff";
  ctx.beginPath();
  ctx.arc(cp[0], cp[1], 6, 0, Math.PI * 2);
  ctx.fill();
  ctx.restore();
  ctx.fillStyle = "rgba(255,255,255,0.75)";
  ctx.font = "600 15px system-ui, sans-serif";
  ctx.fillText("TOP VIEW", 16, 26);
  ctx.font = "13px system-ui, sans-serif";
  ctx.fillStyle = "rgba(255,255,255,0.5)";
  let lx0 = 16;
  for (const [text, color] of [
    ["● ", "#4cd964"],
    ["start   ", "rgba(255,255,255,0.55)"],
    ["● ", "#ff5d5d"],
    ["end   ", "rgba(255,255,255,0.55)"],
    ["▲ ", "#f5a524"],
    ["view cone · dashed to the focus plane", "rgba(255,255,255,0.55)"],
  ]) {
    ctx.fillStyle = color;
    ctx.fillText(text, lx0, CH - 14);
    lx0 += ctx.measureText(text).width;
  }

  // ---- through the lens (output size), right column
  const LX = 520;
  const LW = CW - LX - 20;
  const LH = Math.round((LW * hh) / w);
  const lh = Math.min(LH, 300);
  const lw = Math.round((lh * w) / hh);
  const lx = LX + (LW - lw) / 2;
  const ly = 40;
  const off = document.createElement("canvas");
  off.width = w;
  off.height = hh;
  off.getContext("2d").putImageData(lensImage(cur, w, hh), 0, 0);
  ctx.save();
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(off, lx, ly, lw, lh);
  ctx.restore();
  ctx.strokeStyle = "rgba(255,255,255,0.35)";
  ctx.lineWidth = 1;
  ctx.strokeRect(lx + 0.5, ly + 0.5, lw - 1, lh - 1);
  // thirds
  ctx.strokeStyle = "rgba(255,255,255,0.18)";
  for (const f of [1 / 3, 2 / 3]) {
    ctx.beginPath();
    ctx.moveTo(lx + lw * f, ly);
    ctx.lineTo(lx + lw * f, ly + lh);
    ctx.moveTo(lx, ly + lh * f);
    ctx.lineTo(lx + lw, ly + lh * f);
    ctx.stroke();
  }
  ctx.fillStyle = "rgba(255,255,255,0.75)";
  ctx.font = "600 15px system-ui, sans-serif";
  ctx.fillText(`THROUGH THE LENS · ${w}×${hh}`, LX, 26);

  // ---- focus / aperture over the clip
  const gy = ly + lh + 34;
  const gh = CH - gy - 34;
  const gx = LX;
  const gw = LW;
  ctx.fillStyle = "rgba(255,255,255,0.04)";
  ctx.fillRect(gx, gy, gw, gh);
  const fmax = Math.max(10, ...cams.map((c) => c.focus)) * 1.1;
  const amax = Math.max(8, ...cams.map((c) => c.aperture)) * 1.1;
  const line = (vals, max, color, dash) => {
    ctx.strokeStyle = color;
    ctx.lineWidth = 2.5;
    ctx.setLineDash(dash);
    ctx.beginPath();
    vals.forEach((v, i) => {
      const x = gx + (i / (vals.length - 1)) * gw;
      const y = gy + gh - (v / max) * gh;
      if (i) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
    });
    ctx.stroke();
    ctx.setLineDash([]);
  };
  line(
    cams.map((c) => c.focus),
    fmax,
    "#f5a524",
    [],
  );
  line(
    cams.map((c) => c.aperture),
    amax,
    "#3ec7ff",
    [6, 5],
  );
  ctx.strokeStyle = "#fff";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  ctx.moveTo(gx + u * gw, gy);
  ctx.lineTo(gx + u * gw, gy + gh);
  ctx.stroke();
  ctx.font = "13px system-ui, sans-serif";
  ctx.fillStyle = "#f5a524";
  ctx.fillText(`focus ${cur.focus.toFixed(1)} m`, gx, gy - 8);
  ctx.fillStyle = "#3ec7ff";
  ctx.fillText(cur.aperture > 0 ? `aperture f/${cur.aperture.toFixed(1)}` : "aperture 0 (all sharp)", gx + 130, gy - 8);

  const secs = frameCount() / FPS;
  $("#cam-time").value = `${(u * secs).toFixed(2)} s`;
  const k = cur.key;
  $("#cam-readout").textContent = `t ${u.toFixed(2)} · pan ${k.pan.toFixed(1)}° · tilt ${k.tilt.toFixed(1)}° · roll ${k.roll.toFixed(1)}° · zoom ${k.zoom.toFixed(2)}× · dolly ${k.dolly.toFixed(2)} m · orbit ${k.orbit.toFixed(1)}° · crane ${k.crane.toFixed(2)} m`;
  const ph = $("#cam-markers .playhead");
  if (ph) ph.style.left = `${u * 100}%`;

}
