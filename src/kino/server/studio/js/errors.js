// API errors shown next to the field they concern: the 400 body's `issues[].path` (and, for the
// camera / motion brush objects, the exact field the message starts with) → an element [data-err=...].

import { $, $$, bus } from "./store.js";

/** Aliases from request paths to UI slots, registered while a body is built (e.g. promptImage.0 → promptImage.first). */
let aliases = {};
export function setAliases(map) {
  aliases = map || {};
}

export function clearErrors(root = document) {
  for (const el of $$("[data-err]", root)) {
    el.textContent = "";
    el.classList.remove("show");
  }
  for (const el of $$("[aria-invalid=true]", root)) el.removeAttribute("aria-invalid");
}

/** ["camera"] + "camera.keys[1].t: keys must…" → ["camera", "keys", "1", "t"]. */
export function issuePath(issue) {
  let path = (issue.path || []).map(String);
  const msg = String(issue.message || "");
  const m = msg.match(/^(camera|motionBrush|motion_brush)((?:\.[A-Za-z_]+|\[\d+\])*):\s/);
  if (m && (path.length <= 1 || path[0] === m[1])) {
    const root = m[1] === "motion_brush" ? "motionBrush" : m[1];
    const rest = m[2].replace(/\[(\d+)\]/g, ".$1").split(".").filter(Boolean);
    path = [root, ...rest.map((p) => (p === "static_mask" ? "staticMask" : p))];
  }
  return path;
}

function slotFor(path) {
  for (let n = path.length; n > 0; n--) {
    let key = path.slice(0, n).join(".");
    if (aliases[key]) key = aliases[key];
    const el = document.querySelector(`[data-err="${CSS.escape(key)}"]`);
    if (el && (el.offsetParent !== null || el.closest(".screen"))) return el;
  }
  return null;
}

/** Show an ApiError; returns the element that got the first message. */
export function showApiError(err, fallback = "#gen-error") {
  clearErrors();
  const issues = err.issues && err.issues.length ? err.issues : [{ path: [], message: err.message }];
  let first = null;
  for (const issue of issues) {
    const path = issuePath(issue);
    const slot = slotFor(path) || $(fallback);
    // the field is where the message now sits: drop its "camera.keys[1].t: " / "references[1].tag: " lead
    const text = String(issue.message || err.message).replace(/^(camera|motionBrush|motion_brush|references)((?:\.[A-Za-z_]+|\[\d+\])*):\s/, "");
    slot.textContent = slot.textContent ? `${slot.textContent} · ${text}` : text;
    slot.classList.add("show");
    const input = slot.dataset.for ? document.getElementById(slot.dataset.for) : document.querySelector(`[aria-describedby~="${slot.id}"]`);
    if (input) input.setAttribute("aria-invalid", "true");
    if (!first) first = { slot, input };
  }
  if (first && first.slot.id !== fallback.slice(1)) {
    const banner = $(fallback);
    banner.textContent = issues.length > 1 ? `${issues.length} problems — see the marked fields.` : `${err.message}`;
    banner.classList.add("show");
  }
  if (first) {
    const screen = first.slot.closest(".screen");
    if (screen && screen.hidden) bus.emit("goto", screen.id.replace("screen-", ""));
    requestAnimationFrame(() => {
      (first.input || first.slot).scrollIntoView({ block: "center", behavior: "instant" });
      if (first.input) first.input.focus({ preventScroll: true });
    });
  }
  return first && first.slot;
}
