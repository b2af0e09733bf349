// Shared studio state, a tiny event bus and DOM helpers.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** Create an element: h("button", {class: "x", onclick}, "text", child). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "style") el.style.cssText = v; // CSSOM: allowed under the studio's CSP (style attributes are not)
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

const listeners = new Map();
export const bus = {
  on(name, fn) {
    if (!listeners.has(name)) listeners.set(name, new Set());
    listeners.get(name).add(fn);
  },
  emit(name, data) {
    for (const fn of listeners.get(name) || []) fn(data);
  },
};

export const FPS = 16;

export const state = {
  org: null, // GET /v1/organization
  shot: {
    mode: "t2v", // t2v | v2v | extend
    model: "",
    prompt: "",
    ratio: "16:9",
    duration: 2,
    seed: null,
    first: null, // {uri, preview, name}
    last: null,
    keyframes: [], // {id, uri, preview, name, frame}
    references: [], // {id, uri (data: URI once read), preview, name, tag}
    source: null, // {uri, preview, label}
    strength: 0.7,
    warpGuide: 0.2, // = kino.generate.GenerateRequest.warp_guide
    guidance: 1, // = kino.generate.GenerateRequest.guidance (off)
    useBrush: true,
    useCamera: true,
  },
  previews: new Map(), // runway:// URI → object URL (this tab only)
};

export function models() {
  return (state.org && state.org.kino && state.org.kino.models) || {};
}

export function modelInfo(name = state.shot.model) {
  return models()[name] || null;
}

/** The output size the server renders for the shot's model + ratio: [w, h]. */
export function outputSize() {
  const m = modelInfo();
  const s = (m && m.ratios && m.ratios[state.shot.ratio]) || "224x128";
  const [w, h] = s.split("x").map(Number);
  return [w, h];
}

export function frameCount() {
  return Math.max(2, Math.floor(Math.round(state.shot.duration * FPS) / 2) * 2);
}

let toastTimer = null;
export function toast(msg) {
  const t = $("#toast");
  t.textContent = msg;
  t.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove("show"), 3500);
}

export const DATA_OMITTED = "[data URI omitted";

/** Full request bodies this tab created (masks included), so a re-open restores what the server elided. */
export const localBodies = {
  get(id) {
    try {
      return JSON.parse(sessionStorage.getItem("kino.bodies") || "{}")[id] || null;
    } catch {
      return null;
    }
  },
  put(id, entry) {
    let all = {};
    try {
      all = JSON.parse(sessionStorage.getItem("kino.bodies") || "{}");
    } catch {
      all = {};
    }
    all[id] = entry;
    const ids = Object.keys(all);
    for (const old of ids.slice(0, Math.max(0, ids.length - 30))) delete all[old];
    try {
      sessionStorage.setItem("kino.bodies", JSON.stringify(all));
    } catch {
      /* storage full: the server's copy still has everything but long data: URIs */
    }
  },
};

/** Make `el` a drop zone for image files: onFiles(images, event) with the dropped image files (none: no call). */
export function dropImages(el, onFiles) {
  el.addEventListener("dragover", (e) => {
    if ([...(e.dataTransfer?.types || [])].includes("Files")) {
      e.preventDefault();
      el.classList.add("dragover");
    }
  });
  el.addEventListener("dragleave", () => el.classList.remove("dragover"));
  el.addEventListener("drop", (e) => {
    e.preventDefault();
    el.classList.remove("dragover");
    const images = [...(e.dataTransfer?.files || [])].filter((f) => f.type.startsWith("image/"));
    if (images.length) onFiles(images, e);
  });
}
