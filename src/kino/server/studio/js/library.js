// Library: GET /v1/tasks (the organization's tasks, newest first) as a gallery with status, thumbnail,
// cost, and per task: watch, re-open the request, download, v2v, Extend, delete (two-step).

import { api } from "./api.js";
import { $, bus, DATA_OMITTED, h, localBodies, toast } from "./store.js";

let next = null;
let poll = null;
const tasks = new Map();

export function init() {
  $("#lib-refresh").addEventListener("click", () => load());
  $("#lib-more").addEventListener("click", () => load(next));
  bus.on("task-finished", () => {
    if (!$("#screen-library").hidden) load();
  });
}

export async function load(before = null) {
  clearTimeout(poll);
  let page;
  try {
    page = await api.tasks(24, before);
  } catch (err) {
    toast(`Library: ${err.message}`);
    return;
  }
  const g = $("#gallery");
  if (!before) {
    g.replaceChildren();
    tasks.clear();
  }
  for (const t of page.tasks) {
    tasks.set(t.id, t);
    g.append(card(t));
  }
  next = page.nextBefore;
  $("#lib-more").hidden = !page.hasMore;
  $("#lib-empty").hidden = tasks.size > 0;
  if ([...tasks.values()].some((t) => ["PENDING", "THROTTLED", "RUNNING"].includes(t.status)) && !$("#screen-library").hidden) {
    poll = setTimeout(() => load(), 2000);
  }
}

function ago(iso) {
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

const KIND = { text_to_video: "Text → video", image_to_video: "Image → video", video_to_video: "Video → video" };

function describe(t) {
  const r = t.request || (localBodies.get(t.id) || {}).body || {};
  const prompt = r.promptText || (r.extend ? "Extend" : "") || "(no prompt)";
  const tags = [];
  if (r.extend) tags.push("Extend");
  if (r.camera) tags.push("Camera");
  if (r.motionBrush) tags.push("Motion Brush");
  if (r.keyframes && r.keyframes.length) tags.push(`${r.keyframes.length} keyframe${r.keyframes.length > 1 ? "s" : ""}`);
  if (r.references && r.references.length) tags.push(r.references.map((x) => (x.tag ? `@${x.tag}` : "untagged")).join(" "));
  return { prompt, tags };
}

function card(t) {
  const { prompt, tags } = describe(t);
  const status = t.status.toLowerCase();
  const cost = t.cost ? `${t.cost.credits} credits` : t.estimatedCost ? `≈ ${t.estimatedCost.credits} credits` : "";
  const k = t.kino || {};
  const thumb = t.thumbnail
    ? h("img", { src: t.thumbnail, alt: `First frame of “${prompt.slice(0, 60)}”`, loading: "lazy" })
    : h("div", { class: "nothumb", "aria-hidden": "true" }, status === "failed" ? "✕" : status === "cancelled" ? "—" : "…");
  const del = h("button", { type: "button", class: "ghost small danger", "aria-label": `Delete “${prompt.slice(0, 40)}”` }, "Delete");
  let armed = null;
  del.addEventListener("click", async () => {
    if (!armed) {
      del.textContent = "Confirm delete";
      del.classList.add("armed");
      armed = setTimeout(() => {
        armed = null;
        del.textContent = "Delete";
        del.classList.remove("armed");
      }, 4000);
      return;
    }
    clearTimeout(armed);
    del.disabled = true;
    try {
      await api.remove(t.id);
      el.remove();
      tasks.delete(t.id);
      $("#lib-empty").hidden = tasks.size > 0;
      toast(["PENDING", "THROTTLED", "RUNNING"].includes(t.status) ? "Cancelled and refunded." : "Deleted.");
      bus.emit("balance");
    } catch (err) {
      del.disabled = false;
      toast(`Delete failed: ${err.message}`);
    }
  });
  const done = t.status === "SUCCEEDED";
  const canReopen = t.request || localBodies.get(t.id);
  const el = h(
    "article",
    { class: `card task ${status}`, "data-id": t.id, "aria-label": `${KIND[t.kind] || "Task"}: ${prompt}` },
    h(
      "div",
      { class: "thumb" },
      thumb,
      h("span", { class: `badge ${status}` }, t.status + (t.status === "RUNNING" && typeof t.progress === "number" ? ` ${Math.round(t.progress * 100)}%` : "")),
      k.seconds ? h("span", { class: "dur" }, `${k.seconds}s · ${k.size || ""}`) : null,
    ),
    h(
      "div",
      { class: "meta" },
      h("p", { class: "prompt", title: prompt }, prompt),
      h("p", { class: "sub" }, `${k.model || ""} · ${KIND[t.kind] || ""} · ${ago(t.createdAt)}`),
      h("p", { class: "sub" }, h("b", { class: "cost" }, cost), tags.length ? ` · ${tags.join(" · ")}` : ""),
      t.failure ? h("p", { class: "error show" }, t.failure) : null,
    ),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", class: "ghost small", onclick: () => bus.emit("watch", t) }, done ? "Play" : "Watch"),
      h("button", { type: "button", class: "ghost small", disabled: !canReopen, onclick: () => bus.emit("reopen", t) }, "Re-open"),
      done ? h("a", { class: "button small", href: t.output[0], download: `kino-${t.id.slice(0, 8)}.mp4` }, "Download") : null,
      done ? h("button", { type: "button", class: "ghost small", onclick: () => bus.emit("from-result", { task: t, mode: "v2v" }) }, "V2V") : null,
      done ? h("button", { type: "button", class: "ghost small", onclick: () => bus.emit("from-result", { task: t, mode: "extend" }) }, "Extend") : null,
      del,
    ),
  );
  if (t.request && JSON.stringify(t.request).includes(DATA_OMITTED) && !localBodies.get(t.id)) el.dataset.partial = "true";
  return el;
}
