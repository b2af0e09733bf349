// Generate: the shot (mode, prompt, model, ratio, duration, seed), first/last frame, keyframes on a
// timeline, the controls summary, and the create call. Builds exactly the public API's request body.

import { api, ApiError } from "./api.js";
import * as brush from "./brush.js";
import * as camera from "./camera.js";
import * as references from "./references.js";
import { clearErrors, setAliases, showApiError } from "./errors.js";
import { $, $$, bus, DATA_OMITTED, dropImages, FPS, frameCount, h, localBodies, modelInfo, models, outputSize, state, toast } from "./store.js";

let kfSeq = 0;
let sourceSeconds = null;
let lastSize = "224x128"; // the output size before a model change (kept across Kino / Runway ratio names)

const MODE_ENDPOINTS = { t2v: ["text_to_video", "image_to_video"], v2v: ["video_to_video"], extend: ["text_to_video"] };

export function init() {
  $("#gen-form").addEventListener("submit", submit);
  for (const r of $$("input[name=mode]")) r.addEventListener("change", () => setMode(r.value));
  $("#promptText").addEventListener("input", () => {
    state.shot.prompt = $("#promptText").value;
    promptCount();
  });
  $("#model").addEventListener("change", () => {
    state.shot.model = $("#model").value;
    fillRatios();
    changed();
  });
  $("#ratio").addEventListener("change", () => {
    state.shot.ratio = $("#ratio").value;
    changed();
  });
  $("#duration").addEventListener("input", () => {
    const v = Number($("#duration").value);
    if (Number.isFinite(v) && v > 0) state.shot.duration = v;
    changed();
  });
  $("#seed").addEventListener("input", () => {
    const v = $("#seed").value.trim();
    state.shot.seed = v === "" ? null : Number(v);
  });
  $("#seed-dice").addEventListener("click", () => {
    const v = crypto.getRandomValues(new Uint32Array(1))[0];
    $("#seed").value = String(v);
    state.shot.seed = v;
  });
  $("#warp-guide").addEventListener("input", () => {
    state.shot.warpGuide = Number($("#warp-guide").value);
    $("#warp-guide-out").value = state.shot.warpGuide.toFixed(2);
  });
  $("#guidance").addEventListener("input", () => {
    state.shot.guidance = Number($("#guidance").value);
    $("#guidance-out").value = state.shot.guidance.toFixed(1);
  });
  $("#strength").addEventListener("input", () => {
    state.shot.strength = Number($("#strength").value);
    $("#strength-out").value = state.shot.strength.toFixed(2);
  });
  for (const c of ["use-brush", "use-brush-2"]) $(`#${c}`).addEventListener("change", (e) => setUse("useBrush", e.target.checked));
  for (const c of ["use-camera", "use-camera-2"]) $(`#${c}`).addEventListener("change", (e) => setUse("useCamera", e.target.checked));
  for (const b of $$("[data-goto]")) b.addEventListener("click", () => bus.emit("goto", b.dataset.goto));

  for (const pos of ["first", "last"]) {
    $(`#${pos}-file`).addEventListener("change", (e) => {
      if (e.target.files[0]) setFrameImage(pos, e.target.files[0]);
      e.target.value = "";
    });
    $(`#${pos}-clear`).addEventListener("click", () => {
      state.shot[pos] = null;
      renderFrames();
      changed();
    });
    dropTarget($(`#slot-${pos}`), (file) => setFrameImage(pos, file));
  }
  $("#source-file").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (!file) return;
    const preview = URL.createObjectURL(file);
    setSource({ uri: null, preview, label: `Uploading ${file.name}…` });
    try {
      const uri = await api.upload(file);
      state.previews.set(uri, preview);
      setSource({ uri, preview, label: `${file.name} (uploaded)` });
    } catch (err) {
      setSource(null);
      fieldError("videoUri", err.message);
    }
  });

  // keyframes
  $("#kf-file").addEventListener("change", (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (file) addKeyframe(file, Number($("#kf-frame").value) || 0);
  });
  const tl = $("#kf-timeline");
  dropTarget(tl, (file, ev) => {
    const r = $("#kf-markers").getBoundingClientRect(); // markers are placed across this box
    const f = Math.round(Math.max(0, Math.min(1, (ev.clientX - r.left) / r.width)) * (frameCount() - 1));
    addKeyframe(file, f);
  });
  window.addEventListener("resize", renderTimeline);
  references.init();
  bus.on("controls-changed", summary);
  bus.on("org", onOrg);
}

function setUse(which, on) {
  state.shot[which] = on;
  const ids = which === "useBrush" ? ["use-brush", "use-brush-2"] : ["use-camera", "use-camera-2"];
  for (const id of ids) $(`#${id}`).checked = on;
  summary();
}

function dropTarget(el, onFile) {
  dropImages(el, (files, e) => onFile(files[0], e)); // one image per slot or timeline drop
}

function fieldError(key, msg) {
  const el = document.querySelector(`[data-err="${key}"]`);
  if (el) {
    el.textContent = msg;
    el.classList.add("show");
  }
}

// ------------------------------------------------------------------------------ model / ratio / mode
function onOrg() {
  const names = Object.keys(models());
  if (!state.shot.model || !names.includes(state.shot.model)) state.shot.model = names.includes("kino-tiny") ? "kino-tiny" : names[0] || "";
  fillModels();
  fillRatios();
  changed();
}

function fillModels() {
  const sel = $("#model");
  const want = MODE_ENDPOINTS[state.shot.mode];
  const tierModels = Object.keys((state.org && state.org.tier && state.org.tier.models) || {});
  sel.replaceChildren();
  for (const name of tierModels) {
    const info = models()[name];
    const ok = !info || info.modes.some((m) => want.includes(m));
    const label = info && info.aliasOf ? `${name} — ${info.creditsPerSecond} cr/s (alias)` : info ? `${name} — ${info.creditsPerSecond} cr/s` : name;
    sel.append(h("option", { value: name, disabled: !ok }, label));
  }
  const current = modelInfo();
  if (!current || !current.modes.some((m) => want.includes(m))) {
    const first = tierModels.find((n) => models()[n] && models()[n].modes.some((m) => want.includes(m)));
    if (first) state.shot.model = first;
  }
  sel.value = state.shot.model;
}

function fillRatios() {
  const sel = $("#ratio");
  const info = modelInfo();
  const ratios = info ? info.ratios : { "16:9": "224x128" };
  const prevSize = lastSize;
  sel.replaceChildren();
  for (const [r, size] of Object.entries(ratios)) sel.append(h("option", { value: r }, `${r}  ·  ${size.replace("x", "×")}`));
  if (!(state.shot.ratio in ratios)) {
    // keep the same native size across Kino / Runway ratio names (16:9 ↔ 1280:720)
    const same = Object.entries(ratios).find(([, s]) => s === prevSize);
    state.shot.ratio = same ? same[0] : Object.keys(ratios)[0];
  }
  sel.value = state.shot.ratio;
  const d = $("#duration");
  if (info) {
    d.min = info.minSeconds;
    d.max = info.maxSeconds;
  }
}

export function setMode(mode) {
  state.shot.mode = mode;
  $(`#mode-${mode}`).checked = true;
  $("#source-box").hidden = mode === "t2v";
  $("#strength-row").hidden = mode !== "v2v";
  $("#duration").closest(".field").classList.toggle("dim", mode === "v2v");
  $("#duration").disabled = mode === "v2v";
  fillModels();
  fillRatios();
  changed();
}

function promptCount() {
  const n = $("#promptText").value.length; // UTF-16 code units, as the server counts
  const max = (state.org && state.org.kino && state.org.kino.limits.promptUnits) || 1000;
  const c = $("#prompt-count");
  c.textContent = `${n} / ${max}`;
  c.classList.toggle("over", n > max);
}

function changed() {
  lastSize = outputSize().join("x");
  $("#ratio-size").textContent = `renders ${outputSize().join("×")} at ${FPS} fps`;
  renderTimeline();
  estimate();
  summary();
  bus.emit("shot-changed");
}

function estimate() {
  const info = modelInfo();
  if (!info) return;
  const secs = state.shot.mode === "v2v" ? sourceSeconds : frameCount() / FPS;
  if (secs == null) {
    $("#estimate").textContent = `${info.creditsPerSecond} credits / s`;
    $("#estimate-detail").textContent = " · priced on the source video's length";
    return;
  }
  const clamped = Math.min(info.maxSeconds, Math.max(info.minSeconds, secs));
  $("#estimate").textContent = `≈ ${Math.round(info.creditsPerSecond * clamped)} credits`;
  $("#estimate-detail").textContent = ` · ${outputSize().join("×")} · ${Math.round(clamped * FPS)} frames · ${state.shot.model}`;
}

function summary() {
  $("#brush-summary").textContent = state.shot.useBrush ? brush.summary() : "Off for this shot.";
  $("#camera-summary").textContent = state.shot.useCamera ? camera.summary() : "Off for this shot.";
}

// ------------------------------------------------------------------------------ images
async function uploadImage(file) {
  const preview = URL.createObjectURL(file);
  const uri = await api.upload(file);
  state.previews.set(uri, preview);
  return { uri, preview, name: file.name };
}

async function setFrameImage(pos, file) {
  const slot = $(`#${pos}-img`);
  slot.classList.add("busy");
  fieldError(`promptImage.${pos}`, "");
  try {
    state.shot[pos] = await uploadImage(file);
  } catch (err) {
    fieldError(`promptImage.${pos}`, `Upload failed: ${err.message}`);
  } finally {
    slot.classList.remove("busy");
  }
  renderFrames();
  changed();
  if (pos === "first") bus.emit("first-frame");
}

function imageTile(img) {
  if (!img) return [h("span", {}, "Drop an image")];
  const src = img.preview || state.previews.get(img.uri);
  if (src) return [h("img", { src, alt: "" })];
  return [h("span", { class: "uri" }, img.uri && img.uri.startsWith(DATA_OMITTED) ? "image not kept by the server — upload again" : `${(img.uri || "").slice(0, 28)}…`)];
}

function renderFrames() {
  for (const pos of ["first", "last"]) {
    $(`#${pos}-img`).replaceChildren(...imageTile(state.shot[pos]));
    $(`#${pos}-img`).classList.toggle("filled", !!state.shot[pos]);
    $(`#${pos}-clear`).hidden = !state.shot[pos];
  }
}

export function firstFramePreview() {
  const f = state.shot.first;
  return f ? f.preview || state.previews.get(f.uri) || null : null;
}

// ------------------------------------------------------------------------------ keyframes timeline
async function addKeyframe(file, frame) {
  const n = frameCount();
  const kf = { id: ++kfSeq, uri: null, preview: URL.createObjectURL(file), name: file.name, frame: Math.max(0, Math.min(n - 1, Math.round(frame))) };
  state.shot.keyframes.push(kf);
  renderTimeline();
  try {
    const up = await uploadImage(file);
    kf.uri = up.uri;
  } catch (err) {
    state.shot.keyframes = state.shot.keyframes.filter((k) => k !== kf);
    fieldError("keyframes", `Upload failed: ${err.message}`);
  }
  renderTimeline();
}

function renderTimeline() {
  const n = frameCount();
  const ticks = $("#kf-ticks");
  ticks.replaceChildren();
  const secs = n / FPS;
  for (let s = 0; s <= secs + 1e-9; s += 1) {
    ticks.append(h("span", { style: `left:${(Math.min(s * FPS, n - 1) / (n - 1)) * 100}%` }, `${s}s`));
  }
  $("#kf-frame").max = n - 1;
  const markers = $("#kf-markers");
  markers.replaceChildren();
  const list = $("#kf-list");
  list.replaceChildren();
  state.shot.keyframes.sort((a, b) => a.frame - b.frame);
  for (const kf of state.shot.keyframes) {
    kf.frame = Math.min(kf.frame, n - 1);
    const src = kf.preview || state.previews.get(kf.uri);
    const m = h(
      "button",
      {
        type: "button",
        class: `marker${kf.uri ? "" : " pending"}`,
        style: `left:${(kf.frame / (n - 1)) * 100}%`,
        "aria-label": `Keyframe ${kf.name || ""} at frame ${kf.frame}; arrow keys move it`,
        title: `frame ${kf.frame}`,
      },
      src ? h("img", { src, alt: "" }) : h("span", {}, "?"),
      h("i", {}, String(kf.frame)),
    );
    m.addEventListener("keydown", (e) => {
      const step = e.shiftKey ? 8 : 1;
      if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
        e.preventDefault();
        kf.frame = Math.max(0, Math.min(n - 1, kf.frame + (e.key === "ArrowRight" ? step : -step)));
        renderTimeline();
        const again = [...$("#kf-markers").children][state.shot.keyframes.indexOf(kf)];
        if (again) again.focus();
      } else if (e.key === "Delete" || e.key === "Backspace") {
        state.shot.keyframes = state.shot.keyframes.filter((k) => k !== kf);
        renderTimeline();
      }
    });
    m.addEventListener("pointerdown", (e) => {
      const tl = $("#kf-markers").getBoundingClientRect();
      m.setPointerCapture(e.pointerId);
      const move = (ev) => {
        kf.frame = Math.max(0, Math.min(n - 1, Math.round(((ev.clientX - tl.left) / tl.width) * (n - 1))));
        m.style.left = `${(kf.frame / (n - 1)) * 100}%`;
        m.querySelector("i").textContent = String(kf.frame);
      };
      const up = () => {
        m.removeEventListener("pointermove", move);
        renderTimeline();
      };
      m.addEventListener("pointermove", move);
      m.addEventListener("pointerup", up, { once: true });
    });
    markers.append(m);
    const input = h("input", { type: "number", min: 0, max: n - 1, value: kf.frame, id: `kf-${kf.id}-frame`, "aria-describedby": `err-kf-${kf.id}` });
    input.addEventListener("change", () => {
      kf.frame = Math.max(0, Math.min(n - 1, Math.round(Number(input.value) || 0)));
      renderTimeline();
    });
    list.append(
      h(
        "li",
        {},
        src ? h("img", { src, alt: "" }) : h("span", { class: "noimg" }, "?"),
        h("label", { for: `kf-${kf.id}-frame` }, `${kf.name || "image"} at frame`),
        input,
        h("span", { class: "hint" }, `${(kf.frame / FPS).toFixed(2)} s`),
        h("button", { type: "button", class: "ghost small", onclick: () => ((state.shot.keyframes = state.shot.keyframes.filter((k) => k !== kf)), renderTimeline()) }, "Remove"),
        h("p", { class: "error", id: `err-kf-${kf.id}`, "data-err": `keyframes.${kf.id}` }),
      ),
    );
  }
}

// ------------------------------------------------------------------------------ source video (v2v / Extend)
export function setSource(src) {
  state.shot.source = src;
  const v = $("#source-video");
  sourceSeconds = null;
  if (src && src.preview) {
    v.src = src.preview;
    v.onloadedmetadata = () => {
      sourceSeconds = Number.isFinite(v.duration) ? v.duration : null;
      estimate();
    };
    v.play().catch(() => {});
  } else {
    v.removeAttribute("src");
    v.load();
  }
  $("#source-label").textContent = src ? src.label : "No source video yet: pick a result in the Library (“Video → video” or “Extend”) or upload one.";
  estimate();
}

/** v2v / Extend from a finished task: download its signed output and upload it (the server refuses loopback URLs). */
export async function fromResult(task, mode) {
  setMode(mode);
  bus.emit("goto", "generate");
  setSource({ uri: null, preview: null, label: "Copying the result into an upload…" });
  try {
    const blob = await (await fetch(task.output[0])).blob();
    const file = new File([blob], `kino-${task.id.slice(0, 8)}.mp4`, { type: "video/mp4" });
    const preview = URL.createObjectURL(file);
    const uri = await api.upload(file);
    state.previews.set(uri, preview);
    setSource({ uri, preview, label: `Result ${task.id.slice(0, 8)} (${mode === "extend" ? "continued" : "restyled"} from its frames)` });
    if (task.request && task.request.promptText && !state.shot.prompt) {
      $("#promptText").value = state.shot.prompt = task.request.promptText;
      promptCount();
    }
  } catch (err) {
    setSource(null);
    fieldError("videoUri", `Could not copy the result: ${err.message}`);
  }
}

// ------------------------------------------------------------------------------ request
export function buildRequest() {
  const s = state.shot;
  const aliases = {};
  const body = { model: s.model };
  let endpoint;
  if (s.mode === "v2v") {
    endpoint = "video_to_video";
    body.videoUri = s.source && s.source.uri ? s.source.uri : "";
    if (s.prompt) body.promptText = s.prompt;
    body.ratio = s.ratio;
    body.strength = s.strength;
  } else {
    const images = [];
    if (s.mode === "t2v") {
      for (const pos of ["first", "last"]) {
        if (s[pos] && s[pos].uri) {
          aliases[`promptImage.${images.length}`] = `promptImage.${pos}`;
          images.push({ uri: s[pos].uri, position: pos });
        }
      }
    }
    endpoint = images.length ? "image_to_video" : "text_to_video";
    if (images.length) {
      body.promptImage = images;
      if (s.prompt) body.promptText = s.prompt;
    } else body.promptText = s.prompt;
    body.ratio = s.ratio;
    body.duration = Math.round(s.duration);
    if (s.mode === "extend") {
      body.extend = s.source && s.source.uri ? { videoUri: s.source.uri } : {};
      aliases["extend.videoUri"] = "videoUri";
    }
  }
  if (s.seed !== null && s.seed !== "" && Number.isFinite(s.seed)) body.seed = s.seed;
  const kfs = state.shot.keyframes.filter((k) => k.uri);
  if (kfs.length) {
    body.keyframes = kfs.map((k, i) => {
      aliases[`keyframes.${i}`] = `keyframes.${k.id}`;
      return s.mode === "v2v" ? { uri: k.uri, seconds: k.frame / FPS } : { uri: k.uri, frame: k.frame };
    });
  }
  if (s.useCamera) {
    const cam = camera.toRequest();
    if (cam) body.camera = cam;
  }
  if (s.useBrush) {
    const mb = brush.toRequest(aliases);
    if (mb) body.motionBrush = mb;
  }
  if (body.camera || body.motionBrush) body.warpGuide = s.warpGuide;
  if (s.guidance !== 1) body.guidance = s.guidance;
  const refs = references.toRequest(aliases);
  if (refs) body.references = refs;
  return { endpoint, body, aliases };
}

async function submit(e) {
  e.preventDefault();
  clearErrors();
  if (state.shot.keyframes.some((k) => !k.uri)) {
    fieldError("keyframes", "Wait for the keyframe uploads to finish.");
    return;
  }
  if (references.pending()) {
    fieldError("references", "Wait for the reference images to load.");
    return;
  }
  const { endpoint, body, aliases } = buildRequest();
  setAliases(aliases);
  const btn = $("#generate");
  btn.disabled = true;
  btn.textContent = "Submitting…";
  try {
    const r = await api.create(endpoint, body);
    localBodies.put(r.id, { endpoint, body });
    bus.emit("created", { id: r.id, estimated: r.estimatedCost && r.estimatedCost.credits });
  } catch (err) {
    if (err instanceof ApiError) showApiError(err);
    else fieldError("_", `Could not reach the server: ${err.message}`);
  } finally {
    btn.disabled = false;
    btn.textContent = "Generate";
  }
}

// ------------------------------------------------------------------------------ re-open a request
function image(uri) {
  return uri ? { uri, preview: state.previews.get(uri) || null, name: "" } : null;
}

/** Load a library task's request (the full local copy when this tab made it) into the editors. */
export function reopen(task) {
  const local = localBodies.get(task.id);
  const body = (local && local.body) || task.request || {};
  const kind = task.kind || (local && local.endpoint) || "text_to_video";
  clearErrors();
  const mode = kind === "video_to_video" ? "v2v" : body.extend ? "extend" : "t2v";
  if (body.model) state.shot.model = body.model;
  state.shot.ratio = body.ratio || (task.kino && task.kino.requestedRatio) || state.shot.ratio;
  state.shot.duration = body.duration || Math.round((task.kino && task.kino.seconds) || state.shot.duration);
  state.shot.seed = body.seed ?? (task.kino && task.kino.seed) ?? null;
  state.shot.prompt = body.promptText || "";
  state.shot.first = state.shot.last = null;
  if (typeof body.promptImage === "string") state.shot.first = image(body.promptImage);
  else for (const p of body.promptImage || []) state.shot[p.position] = image(p.uri);
  state.shot.keyframes = (body.keyframes || []).map((k) => ({
    id: ++kfSeq,
    uri: k.uri,
    preview: state.previews.get(k.uri) || null,
    name: "",
    frame: k.frame != null ? (k.frame < 0 ? k.frame + frameCount() : k.frame) : k.seconds != null ? Math.round(k.seconds * FPS) : Math.round((k.at || 0) * (frameCount() - 1)),
  }));
  const omitted = [];
  for (const k of ["first", "last"]) if (state.shot[k] && state.shot[k].uri.startsWith(DATA_OMITTED)) (omitted.push(`${k} frame`), (state.shot[k] = null));
  const before = state.shot.keyframes.length;
  state.shot.keyframes = state.shot.keyframes.filter((k) => !String(k.uri).startsWith(DATA_OMITTED));
  if (state.shot.keyframes.length < before) omitted.push("keyframe images");
  if (references.load(body.references)) omitted.push("reference images");
  if (kind === "video_to_video") state.shot.strength = body.strength ?? 0.7;
  if (body.warpGuide != null) state.shot.warpGuide = body.warpGuide;
  // the slider's range and step (the API takes 0..20): anything else is reported as not kept, like the other fields
  state.shot.guidance = Math.min(8, Math.max(1, Math.round((body.guidance ?? 1) * 2) / 2));
  const unsupported = []; // API fields the Studio has no control for
  if (body.guidance != null && body.guidance !== state.shot.guidance) unsupported.push(`guidance ${body.guidance} (now ${state.shot.guidance})`);
  if (body.guidanceChunks != null) unsupported.push("guidanceChunks");
  if (body.negativePromptText) unsupported.push("negativePromptText");
  const src = body.videoUri || (body.extend && body.extend.videoUri);
  setSource(src && !src.startsWith(DATA_OMITTED) ? { uri: src, preview: state.previews.get(src) || null, label: `Source of ${task.id.slice(0, 8)}: ${src.slice(0, 40)}` } : null);
  $("#promptText").value = state.shot.prompt;
  $("#seed").value = state.shot.seed ?? "";
  $("#duration").value = state.shot.duration;
  $("#strength").value = state.shot.strength;
  $("#strength-out").value = Number(state.shot.strength).toFixed(2);
  $("#warp-guide").value = state.shot.warpGuide;
  $("#warp-guide-out").value = Number(state.shot.warpGuide).toFixed(2);
  $("#guidance").value = state.shot.guidance;
  $("#guidance-out").value = Number(state.shot.guidance).toFixed(1);
  setUse("useCamera", !!body.camera || state.shot.useCamera);
  camera.load(body.camera || null);
  const lost = brush.load(body.motionBrush || null);
  if (lost) omitted.push("brush masks");
  setUse("useBrush", !!body.motionBrush || state.shot.useBrush);
  setMode(mode);
  renderFrames();
  promptCount();
  bus.emit("first-frame");
  bus.emit("goto", "generate");
  const notes = [];
  if (omitted.length) notes.push(`Not kept by the server: ${omitted.join(", ")} — add them again.`);
  if (unsupported.length) notes.push(`Not settable here: ${unsupported.join(", ")}.`);
  toast(notes.length ? `Request re-opened. ${notes.join(" ")}` : "Request re-opened: tweak it and generate again.");
}
