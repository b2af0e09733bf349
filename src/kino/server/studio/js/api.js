// The public Kino API, as any script would use it: Bearer key, JSON bodies, 400 `issues[].path`.
// Nothing here is private to the studio: every call is documented in docs/api.md.

const KEY = "kino.apiKey";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.issues = Array.isArray(this.body.issues) ? this.body.issues : [];
  }
}

export const auth = {
  get key() {
    return sessionStorage.getItem(KEY) || "";
  },
  set key(v) {
    if (v) sessionStorage.setItem(KEY, v);
    else sessionStorage.removeItem(KEY);
  },
};

function headers(extra = {}) {
  return { Authorization: `Bearer ${auth.key}`, "X-Runway-Version": "2024-11-06", ...extra };
}

/** The response body as JSON, or null when it has none (or is not JSON). */
async function jsonOrNull(res) {
  try {
    return await res.json();
  } catch {
    return null;
  }
}

export async function call(method, path, body, { signal } = {}) {
  const init = { method, headers: headers(), signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (res.status === 204) return null;
  const data = await jsonOrNull(res);
  if (!res.ok) {
    if (res.status === 401) window.dispatchEvent(new CustomEvent("kino:unauthorized"));
    throw new ApiError(res.status, data);
  }
  return data;
}

export const api = {
  organization: () => call("GET", "/v1/organization"),
  create: (endpoint, body) => call("POST", `/v1/${endpoint}`, body),
  task: (id) => call("GET", `/v1/tasks/${encodeURIComponent(id)}`),
  tasks: (limit = 24, before = null) => call("GET", `/v1/tasks?limit=${limit}${before ? `&before=${encodeURIComponent(before)}` : ""}`),
  remove: (id) => call("DELETE", `/v1/tasks/${encodeURIComponent(id)}`),

  /** POST /v1/uploads, then the multipart upload target; returns the runway:// URI. */
  async upload(file, name) {
    const slot = await call("POST", "/v1/uploads", { filename: name || file.name || "upload.bin", type: "ephemeral" });
    const form = new FormData();
    for (const [k, v] of Object.entries(slot.fields || {})) form.append(k, v);
    form.append("file", file, name || file.name || "upload.bin");
    const res = await fetch(slot.uploadUrl, { method: "POST", body: form });
    if (!res.ok) throw new ApiError(res.status, await jsonOrNull(res));
    return slot.runwayUri;
  },

  /**
   * GET /v1/tasks/{id}/events read with fetch() (EventSource cannot send the Authorization header).
   * Calls onEvent(name, data) for each event; resolves when the stream ends.
   */
  async events(id, onEvent, signal) {
    const res = await fetch(`/v1/tasks/${encodeURIComponent(id)}/events`, { headers: headers({ Accept: "text/event-stream" }), signal });
    if (!res.ok) throw new ApiError(res.status, await jsonOrNull(res));
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut).replace(/^\r?\n\r?\n/, "");
        let name = "message";
        const data = [];
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith(":")) continue; // keep-alive comment
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (!data.length) continue;
        let parsed;
        try {
          parsed = JSON.parse(data.join("\n"));
        } catch {
          parsed = data.join("\n");
        }
        onEvent(name, parsed);
      }
    }
  },
};

/** UTF-16 code units, as the server counts promptText. */
export const utf16 = (s) => s.length;
