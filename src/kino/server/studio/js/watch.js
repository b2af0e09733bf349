// Watch: the task's events stream (fetch(), since EventSource cannot send the Authorization header).
// Each `chunk` (a small signed mp4) is queued on the live player and painted into the filmstrip as it
// arrives; `status` moves the progress; `done` shows the final cost and plays the final video.

import { api } from "./api.js";
import { $, bus, h, localBodies } from "./store.js";

let current = null; // {id, abort, task}
const stats = { chunksBeforeDone: 0 };

export function init() {
  bus.on("created", ({ id, estimated }) => open(id, estimated));
  $("#watch-v2v").addEventListener("click", () => current && current.task && bus.emit("from-result", { task: current.task, mode: "v2v" }));
  $("#watch-extend").addEventListener("click", () => current && current.task && bus.emit("from-result", { task: current.task, mode: "extend" }));
  $("#watch-reopen").addEventListener("click", async () => {
    if (!current) return;
    const page = await api.tasks(100);
    const item = page.tasks.find((t) => t.id === current.id);
    bus.emit("reopen", item || { id: current.id, ...current.task });
  });
}

function badge(status) {
  const b = $("#watch-status");
  b.textContent = status;
  b.className = `badge ${String(status).toLowerCase()}`;
}

/** Start watching a task (new or from the library). */
export function open(id, estimated = null, request = null) {
  if (current) current.abort.abort();
  const abort = new AbortController();
  current = { id, abort, task: null, queue: [], playingLive: false, done: false, chunks: 0 };
  stats.chunksBeforeDone = 0;
  const c = current;
  $("#watch-id").textContent = id.slice(0, 8);
  $("#watch-id").title = id;
  const body = request || (localBodies.get(id) || {}).body || {};
  $("#watch-prompt").textContent = body.promptText || (body.extend ? "Extend" : "");
  badge("PENDING");
  $("#watch-progress").value = 0;
  $("#watch-chunks").textContent = "waiting for the first chunk…";
  $("#watch-estimated").textContent = estimated != null ? `${estimated} credits` : "—";
  $("#watch-cost").textContent = "—";
  $("#watch-size").textContent = "—";
  $("#watch-error").textContent = "";
  $("#watch-actions").hidden = true;
  $("#filmstrip").replaceChildren();
  $("#player").dataset.state = "waiting";
  const v = $("#watch-video");
  v.removeAttribute("src");
  v.controls = false;
  v.loop = false;
  v.load();
  $("#player-empty").hidden = false;
  $("#player-empty").textContent = "Queued — the first chunk appears here as soon as it exists.";
  $("#live-badge").hidden = true;
  bus.emit("goto", "watch");
  run(c).catch((err) => {
    if (err.name === "AbortError") return;
    $("#watch-error").textContent = `Stream interrupted: ${err.message}`;
  });
}

async function run(c) {
  await api.events(
    c.id,
    (name, data) => {
      if (c !== current) return;
      if (name === "chunk") onChunk(c, data);
      else if (name === "status") onStatus(c, data);
      else if (name === "done") onDone(c, data);
      else if (name === "deleted") {
        badge("DELETED");
        $("#watch-error").textContent = "This task was deleted.";
      }
    },
    c.abort.signal,
  );
}

function onStatus(c, task) {
  c.task = task;
  badge(task.status);
  if (task.estimatedCost) $("#watch-estimated").textContent = `${task.estimatedCost.credits} credits`;
  if (typeof task.progress === "number") $("#watch-progress").value = task.progress;
  if (task.kino && task.kino.size) $("#watch-size").textContent = `${task.kino.size.replace("x", "×")} · ${task.kino.frames} frames @ ${task.kino.fps} fps`;
  if (task.status === "RUNNING" && !c.chunks) $("#player-empty").textContent = "Generating…";
}

function onChunk(c, chunk) {
  c.chunks += 1;
  if (!c.done) stats.chunksBeforeDone += 1;
  const total = c.task && c.task.kino && c.task.kino.frames ? Math.ceil(c.task.kino.frames / chunk.frames) : null;
  $("#watch-chunks").textContent = `${c.chunks}${total ? ` / ${total}` : ""} chunks streamed`;
  $("#player").dataset.chunks = String(c.chunks);
  $("#player").dataset.chunksBeforeDone = String(stats.chunksBeforeDone);
  const tile = h("canvas", { width: 96, height: 54, "aria-hidden": "true" });
  const fig = h("figure", { class: "chunk", role: "listitem", "data-index": chunk.index, title: `chunk ${chunk.index} · frames ${chunk.startFrame}–${chunk.startFrame + chunk.frames - 1}` }, tile, h("figcaption", {}, `f${chunk.startFrame}`));
  $("#filmstrip").append(fig);
  fig.scrollIntoView({ block: "nearest", inline: "end" });
  paintTile(chunk.url, tile);
  if (!c.done) {
    c.queue.push(chunk.url);
    if (!c.playingLive) playNext(c);
  }
}

// decode each chunk's first frame into its filmstrip tile, one at a time
const tileQueue = [];
let tileBusy = false;
function paintTile(url, canvas) {
  tileQueue.push([url, canvas]);
  if (!tileBusy) nextTile();
}
function nextTile() {
  const job = tileQueue.shift();
  if (!job) {
    tileBusy = false;
    return;
  }
  tileBusy = true;
  const [url, canvas] = job;
  const v = document.createElement("video");
  v.muted = true;
  v.preload = "auto";
  let over = false;
  const finish = () => {
    if (over) return;
    over = true;
    v.removeEventListener("seeked", paint);
    v.removeAttribute("src");
    v.load();
    nextTile();
  };
  let tries = 0;
  const paint = () => {
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    canvas.height = Math.round((canvas.width * v.videoHeight) / Math.max(1, v.videoWidth)) || canvas.height;
    ctx.drawImage(v, 0, 0, canvas.width, canvas.height);
    const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let lit = false;
    for (let i = 0; i < px.length && !lit; i += 16) lit = px[i + 3] > 0 && px[i] + px[i + 1] + px[i + 2] > 0;
    if (!lit && tries++ < 3) {
      v.currentTime = 0.001 * tries; // the frame was not decoded yet: seek (re-decodes) and paint again
      return;
    }
    canvas.parentElement?.classList.add("ready");
    finish();
  };
  v.addEventListener("loadeddata", paint, { once: true });
  v.addEventListener("seeked", paint);
  v.addEventListener("error", finish, { once: true });
  v.src = url;
}

function playNext(c) {
  if (c !== current || c.done) return;
  const url = c.queue.shift();
  if (!url) {
    c.playingLive = false;
    return;
  }
  c.playingLive = true;
  const v = $("#watch-video");
  $("#player-empty").hidden = true;
  $("#live-badge").hidden = false;
  $("#player").dataset.state = "live";
  v.loop = false;
  v.src = url;
  v.onended = () => playNext(c);
  v.onerror = () => playNext(c);
  v.play().catch(() => playNext(c));
}

function onDone(c, task) {
  c.done = true;
  c.task = task;
  onStatus(c, task);
  $("#live-badge").hidden = true;
  if (task.cost) $("#watch-cost").textContent = `${task.cost.credits} credits`;
  bus.emit("balance");
  const v = $("#watch-video");
  v.onended = v.onerror = null;
  if (task.status === "SUCCEEDED") {
    $("#watch-progress").value = 1;
    $("#player").dataset.state = "final";
    $("#player-empty").hidden = true;
    v.src = task.output[0];
    v.loop = true;
    v.controls = true;
    v.muted = true;
    v.play().catch(() => {});
    const a = $("#watch-download");
    a.href = task.output[0];
    a.setAttribute("download", `kino-${task.id.slice(0, 8)}.mp4`);
    $("#watch-actions").hidden = false;
  } else {
    $("#player").dataset.state = "ended";
    $("#player-empty").hidden = false;
    $("#player-empty").textContent = task.status === "CANCELLED" ? "Cancelled (refunded)." : "No video.";
    if (task.failure) $("#watch-error").textContent = `${task.failure} (${task.failureCode})`;
  }
  $("#filmstrip").scrollTo({ left: 0 });
  bus.emit("task-finished", task);

}
