// Camera Director path math, the same as kino.controls.CameraControl.to_keys + kino.world.camera
// (interpolate_key, camera_at) so the preview shows the move the model is conditioned on.
// Base pose: Kino World's default camera at (0, 1.3, -7) looking at (0, 0.7, 0), 40° on the short side.

export const PRESET_SCALE = { pan: 30, tilt: 15, roll: 30, zoom: 1, dolly: 3, orbit: 45, crane: 2 }; // deg, deg, deg, log2 zoom, m, deg, m
export const EASINGS = ["linear", "ease_in", "ease_out", "smooth"];
export const BASE = { position: [0, 1.3, -7], target: [0, 0.7, 0], fov: 40 };
export const KEY_DEFAULTS = { t: 0, pan: 0, tilt: 0, roll: 0, zoom: 1, dolly: 0, orbit: 0, crane: 0, focus: 7, aperture: 0, ease: "smooth" };

export function ease(s, kind) {
  if (kind === "linear") return s;
  if (kind === "ease_in") return s * s;
  if (kind === "ease_out") return 1 - (1 - s) * (1 - s);
  return s * s * (3 - 2 * s);
}

const num = (v, d) => (typeof v === "number" && Number.isFinite(v) ? v : d);

/** camera object (API shape) → keys covering t = 0..1 with the preset added (CameraControl.to_keys). */
export function toKeys(camera) {
  const cam = camera || {};
  const given = Array.isArray(cam.keys) && cam.keys.length > 0;
  let keys = given
    ? cam.keys.map((k) => ({ ...KEY_DEFAULTS, ...Object.fromEntries(Object.entries(k).filter(([, v]) => v !== undefined && v !== null)) }))
    : [{ ...KEY_DEFAULTS, t: 0 }, { ...KEY_DEFAULTS, t: 1, ease: cam.ease || "smooth" }];
  if (keys[0].t > 0) keys = [{ ...keys[0], t: 0 }, ...keys];
  if (keys[keys.length - 1].t < 1) keys = [...keys, { ...keys[keys.length - 1], t: 1 }];
  const p = cam.preset || {};
  return keys.map((k) => {
    const s = k.t;
    return {
      ...k,
      pan: k.pan + (s * num(p.pan, 0)) / 10 * PRESET_SCALE.pan,
      tilt: k.tilt + (s * num(p.tilt, 0)) / 10 * PRESET_SCALE.tilt,
      roll: k.roll + (s * num(p.roll, 0)) / 10 * PRESET_SCALE.roll,
      zoom: k.zoom * 2 ** ((s * num(p.zoom, 0)) / 10 * PRESET_SCALE.zoom),
      dolly: k.dolly + (s * num(p.dolly, 0)) / 10 * PRESET_SCALE.dolly,
      orbit: k.orbit + (s * num(p.orbit, 0)) / 10 * PRESET_SCALE.orbit,
      crane: k.crane + (s * num(p.crane, 0)) / 10 * PRESET_SCALE.crane,
      focus: cam.focus != null && !given ? cam.focus : k.focus,
      aperture: cam.aperture != null && !given ? cam.aperture : k.aperture,
    };
  });
}

/** The key at clip fraction u: piecewise, with the later key's easing (interpolate_key). */
export function interpolate(keys, u) {
  if (u <= keys[0].t || keys.length === 1) return keys[0];
  if (u >= keys[keys.length - 1].t) return keys[keys.length - 1];
  let j = 0;
  for (let i = 0; i < keys.length; i++) if (keys[i].t <= u) j = i;
  const a = keys[j];
  const b = keys[Math.min(j + 1, keys.length - 1)];
  const span = b.t - a.t;
  const s = span > 0 ? ease((u - a.t) / span, b.ease) : 1;
  const lerp = (x, y) => x + (y - x) * s;
  return {
    t: u,
    pan: lerp(a.pan, b.pan),
    tilt: lerp(a.tilt, b.tilt),
    roll: lerp(a.roll, b.roll),
    zoom: Math.exp(lerp(Math.log(a.zoom), Math.log(b.zoom))),
    dolly: lerp(a.dolly, b.dolly),
    orbit: lerp(a.orbit, b.orbit),
    crane: lerp(a.crane, b.crane),
    focus: lerp(a.focus, b.focus),
    aperture: lerp(a.aperture, b.aperture),
    ease: b.ease,
  };
}

const rad = (d) => (d * Math.PI) / 180;
const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const add = (a, b) => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
const mul = (a, s) => [a[0] * s, a[1] * s, a[2] * s];
const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];

/** The camera for one interpolated key (camera_at): position, axes, focal length in pixels, lens. */
export function cameraAt(key, width, height) {
  const target = BASE.target;
  const rel = sub(BASE.position, target);
  const o = rad(-key.orbit); // orbit: circle the target about the vertical axis, still looking at it
  let pos = add(target, [Math.cos(o) * rel[0] + Math.sin(o) * rel[2], rel[1], -Math.sin(o) * rel[0] + Math.cos(o) * rel[2]]);
  let fwd = sub(target, pos);
  fwd = mul(fwd, 1 / Math.hypot(...fwd));
  const yaw = Math.atan2(fwd[0], fwd[2]) + rad(key.pan);
  let pitch = Math.asin(Math.max(-1, Math.min(1, fwd[1]))) + rad(key.tilt);
  pitch = Math.max(-1.45, Math.min(1.45, pitch));
  const f = [Math.sin(yaw) * Math.cos(pitch), Math.sin(pitch), Math.cos(yaw) * Math.cos(pitch)];
  const r = [Math.cos(yaw), 0, -Math.sin(yaw)];
  const up = cross(f, r);
  const roll = rad(key.roll);
  const r2 = sub(mul(r, Math.cos(roll)), mul(up, Math.sin(roll)));
  const up2 = add(mul(r, Math.sin(roll)), mul(up, Math.cos(roll)));
  pos = add(pos, mul(f, key.dolly));
  pos = add(pos, [0, key.crane, 0]); // crane: straight up, the look direction kept
  const focal = (Math.min(width, height) / 2 / Math.tan(rad(BASE.fov) / 2)) * key.zoom;
  return { position: pos, forward: f, right: r2, up: up2, focal, width, height, focus: key.focus, aperture: key.aperture, key };
}

/** One camera per frame (kino.controls.camera_path). */
export function cameraPath(camera, frames, width, height) {
  const keys = toKeys(camera);
  const out = [];
  for (let i = 0; i < frames; i++) out.push(cameraAt(interpolate(keys, i / Math.max(1, frames - 1)), width, height));
  return out;
}

/** World point → image pixel [u, v, depth] for a camera (rows right, -up, forward as in camera_at). */
export function project(cam, p) {
  const d = sub(p, cam.position);
  const x = dot(cam.right, d);
  const y = -dot(cam.up, d);
  const z = dot(cam.forward, d);
  return [cam.focal * (x / z) + cam.width / 2, cam.focal * (y / z) + cam.height / 2, z];
}
