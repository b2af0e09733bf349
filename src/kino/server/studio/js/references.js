// Reference images with tags (Generate): up to the organization's maxReferences images, each named @tag in
// the prompt, sent as the API's `references: [{uri, tag}]` extension (docs/api.md). Tags are checked by the
// server (kino.controls: 3-16 letters, digits or underscores, a letter first); its errors land next to the
// reference they name through the aliases references.<index> → references.<id>.

import { $, bus, DATA_OMITTED, dropImages, h, state } from "./store.js";

// the model sees a reference as a 64-pixel square: larger photos are scaled down before they are sent, so a
// phone picture as a data: URI stays far below the server's 5 MB image limit
const MAX_SIDE = 512;
let seq = 0;

export function init() {
  $("#ref-file").addEventListener("change", (e) => {
    for (const file of [...e.target.files]) add(file);
    e.target.value = "";
  });
  const box = $("#ref-box");
  dropImages(box, (files) => files.forEach(add));
  bus.on("org", render); // the organization's maxReferences
  render();
}

export function max() {
  return (state.org && state.org.kino && state.org.kino.limits.maxReferences) || 4;
}

/** The tag as the API wants it: what the user typed, without a leading "@". */
const clean = (tag) => tag.trim().replace(/^@/, "");

async function add(file) {
  if (state.shot.references.length >= max()) {
    error("references", `At most ${max()} reference images.`);
    return;
  }
  error("references", "");
  const ref = { id: ++seq, uri: null, preview: URL.createObjectURL(file), name: file.name, tag: suggestTag() };
  state.shot.references.push(ref);
  render();
  try {
    ref.uri = await dataUri(file);
  } catch {
    state.shot.references = state.shot.references.filter((r) => r !== ref);
    error("references", `${file.name} is not an image this browser can read.`);
  }
  render();
}

/** "hero", then "ref2", "ref3" …: a valid tag to edit, never one already taken. */
function suggestTag() {
  const taken = new Set(state.shot.references.map((r) => r.tag));
  if (!taken.has("hero")) return "hero";
  let n = 2;
  while (taken.has(`ref${n}`)) n++;
  return `ref${n}`;
}

async function dataUri(file) {
  const bmp = await createImageBitmap(file); // throws for anything that is not an image
  const scale = Math.min(1, MAX_SIDE / Math.max(bmp.width, bmp.height));
  if (scale === 1 && file.size <= 2 ** 20) {
    bmp.close();
    return await new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve(r.result);
      r.onerror = () => reject(r.error);
      r.readAsDataURL(file);
    });
  }
  const c = document.createElement("canvas");
  c.width = Math.max(1, Math.round(bmp.width * scale));
  c.height = Math.max(1, Math.round(bmp.height * scale));
  c.getContext("2d").drawImage(bmp, 0, 0, c.width, c.height);
  bmp.close();
  return c.toDataURL("image/png");
}

function error(key, msg) {
  const el = document.querySelector(`[data-err="${key}"]`);
  if (!el) return;
  el.textContent = msg;
  el.classList.toggle("show", !!msg);
}

function remove(ref) {
  state.shot.references = state.shot.references.filter((r) => r !== ref);
  error("references", "");
  render();
}

export function render() {
  const list = $("#ref-list");
  list.replaceChildren();
  for (const ref of state.shot.references) {
    const tag = h("input", {
      type: "text",
      id: `ref-${ref.id}-tag`,
      value: ref.tag,
      "aria-label": `Tag of reference ${ref.name || ref.id}, named @tag in the prompt`,
      maxlength: 17,
      autocomplete: "off",
      spellcheck: false,
      "aria-describedby": `err-ref-${ref.id}-tag err-ref-${ref.id}`,
    });
    tag.addEventListener("input", () => (ref.tag = clean(tag.value)));
    const src = ref.preview || (ref.uri && !ref.uri.startsWith(DATA_OMITTED) ? ref.uri : null);
    list.append(
      h(
        "li",
        { class: ref.uri ? "" : "pending", dataset: { ref: String(ref.id) } },
        src ? h("img", { src, alt: `Reference ${ref.name || ""}` }) : h("span", { class: "noimg" }, "?"),
        h("label", { for: `ref-${ref.id}-tag` }, "@"),
        tag,
        h("button", { type: "button", class: "ghost small", "aria-label": `Remove reference ${ref.name || ref.id}`, onclick: () => remove(ref) }, "Remove"),
        h("p", { class: "error", id: `err-ref-${ref.id}-tag`, "data-err": `references.${ref.id}.tag` }),
        h("p", { class: "error", id: `err-ref-${ref.id}`, "data-err": `references.${ref.id}` }),
      ),
    );
  }
  const full = state.shot.references.length >= max();
  $("#ref-file").disabled = full;
  $("#ref-add").classList.toggle("disabled", full);
  $("#ref-count").textContent = `${state.shot.references.length} / ${max()}`;
}

export const pending = () => state.shot.references.some((r) => !r.uri);

/** The request's `references` (null when there are none); registers where each item's errors go. An empty
 * tag sends an untagged reference (the API allows one: an identity the prompt does not name). */
export function toRequest(aliases) {
  const refs = state.shot.references.filter((r) => r.uri);
  if (!refs.length) return null;
  return refs.map((r, i) => {
    aliases[`references.${i}`] = `references.${r.id}`;
    aliases[`references.${i}.tag`] = `references.${r.id}.tag`;
    const tag = clean(r.tag);
    return tag ? { uri: r.uri, tag } : { uri: r.uri };
  });
}

/** Re-open a request's references; returns how many the server did not keep (long data: URIs). */
export function load(list) {
  const all = list || [];
  state.shot.references = all
    .filter((r) => r && r.uri && !String(r.uri).startsWith(DATA_OMITTED))
    .map((r) => ({ id: ++seq, uri: r.uri, preview: null, name: "", tag: r.tag || "" }));
  render();
  return all.length - state.shot.references.length;
}
