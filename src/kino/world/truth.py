"""Ground truth of a rendered clip, as the documented JSON schema (docs/world.md, schema "kino-world/1").

Tracks are measured on the rendered frame: x, y is the centroid of the object's visible pixels (pixel
centres at half-integers) and `visible` is visible pixels / the object's whole projected area (so a
half-occluded or half-out-of-frame object scores 0.5). When nothing is visible, x, y is the projection
of the object's centre and visible is 0.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kino.world.camera import interpolate_key
from kino.world.palette import rgb
from kino.world.physics import Event
from kino.world.render import Clip

__all__ = ["SCHEMA", "object_table", "measure_tracks", "visibility_events", "ground_truth"]

SCHEMA = "kino-world/1"


def object_table(clip: Clip) -> list[dict]:
    """Identity of every object: bodies first, then characters (whose `color` is the shirt colour)."""
    out = []
    for b in clip.scene.bodies:
        out.append({
            "id": b.id, "kind": b.kind, "color": b.color, "color_rgb": list(rgb(b.color)),
            "pattern": b.pattern, "material": b.material, "size": [round(v, 4) for v in b.size], "static": b.static,
        })
    for c in clip.scene.characters:
        out.append({
            "id": c.id, "kind": "character", "color": c.shirt, "color_rgb": list(rgb(c.shirt)), "pattern": "solid",
            "material": "cloth", "size": [0.16 * c.height, c.height / 2, 0.12 * c.height], "static": False,
            "identity": {"skin": c.skin, "hair": c.hair, "shirt": c.shirt, "trousers": c.trousers, "hat": c.hat, "height": c.height},
        })
    return out


def _anchor_positions(clip: Clip) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Object ids, 3-D centres (T, N, 3) and velocities (T, N, 3); characters by body centre."""
    m, sc = clip.motion, clip.scene
    ids = [b.id for b in sc.bodies] + [c.id for c in sc.characters]
    lift = np.array([[0.0, c.height / 2, 0.0] for c in sc.characters]).reshape(1, -1, 3)
    pos = np.concatenate([m.positions, m.char_positions + lift], axis=1)
    vel = np.concatenate([m.velocities, m.char_velocities], axis=1)
    return ids, pos, vel


def measure_tracks(clip: Clip) -> dict[int, dict[str, np.ndarray]]:
    """Per object: xy (T, 2) pixel centroid, visible (T,), in_frame (T,) fractions, area (T,) pixels."""
    ids, pos, _ = _anchor_positions(clip)
    T = len(clip.layers)
    h, w = clip.scene.height, clip.scene.width
    xs = np.broadcast_to(np.arange(w, dtype=np.float64) + 0.5, (h, w)).ravel()
    ys = np.broadcast_to(np.arange(h, dtype=np.float64)[:, None] + 0.5, (h, w)).ravel()
    n = max(ids, default=0) + 1
    out = {i: {"xy": np.zeros((T, 2)), "visible": np.zeros(T), "in_frame": np.zeros(T), "area": np.zeros(T)} for i in ids}
    for f, ly in enumerate(clip.layers):
        inst = ly.instance.ravel()
        cnt = np.bincount(inst, minlength=n)
        sx = np.bincount(inst, weights=xs, minlength=n)
        sy = np.bincount(inst, weights=ys, minlength=n)
        u, v, _ = clip.cameras[f].project(pos[f])
        for j, oid in enumerate(ids):
            tr = out[oid]
            own = ly.own_area.get(oid, 0.0)
            tr["area"][f] = cnt[oid]
            if cnt[oid] > 0:
                tr["xy"][f] = (sx[oid] / cnt[oid], sy[oid] / cnt[oid])
            else:
                tr["xy"][f] = (u[j], v[j])
            if own > 0:
                tr["visible"][f] = min(1.0, cnt[oid] / own)
                tr["in_frame"][f] = min(1.0, ly.frame_area.get(oid, 0.0) / own)
    return out


def visibility_events(clip: Clip, tracks: dict[int, dict[str, np.ndarray]]) -> list[Event]:
    """occluded / emerged (behind something, while in frame) and exit_frame / enter_frame events."""
    events = []
    fps = clip.scene.fps
    ids, pos, _ = _anchor_positions(clip)
    centres = {oid: pos[:, j] for j, oid in enumerate(ids)}
    for oid, tr in tracks.items():
        vis, inside = tr["visible"], tr["in_frame"]
        state = None
        for f in range(len(vis)):
            occ = vis[f] / inside[f] if inside[f] > 0 else 0.0  # share of the in-frame part that is seen
            if inside[f] < 0.1:
                new = "out"
            elif inside[f] >= 0.5 and occ < 0.1:
                new = "hidden"
            elif inside[f] >= 0.5 and occ > 0.6:
                new = "seen"
            else:
                continue  # partial: keep the previous state (hysteresis)
            if state is not None and new != state:
                kind = {("seen", "hidden"): "occluded", ("hidden", "seen"): "emerged", ("seen", "out"): "exit_frame", ("out", "seen"): "enter_frame"}.get((state, new))
                if kind:
                    objects: tuple[int, ...] = (oid,)
                    if kind == "occluded":  # the occluder: what the instance map shows at the hidden centre
                        u, v, _ = clip.cameras[f].project(centres[oid][f])
                        x, y = int(np.clip(u, 0, clip.scene.width - 1)), int(np.clip(v, 0, clip.scene.height - 1))
                        by = int(clip.layers[f].instance[y, x])
                        objects = (oid, by) if by not in (0, oid) else (oid,)
                    events.append(Event(kind, f, f / fps, objects))
            state = new
    return events


def ground_truth(clip: Clip, captions: list[str] | None = None) -> dict:
    """The clip's ground-truth JSON (see docs/world.md for every field)."""
    sc = clip.scene
    tracks = measure_tracks(clip)
    ids, pos, vel = _anchor_positions(clip)
    objects = object_table(clip)
    for j, obj in enumerate(objects):
        tr = tracks[obj["id"]]
        obj["track"] = [[round(float(x), 3), round(float(y), 3), round(float(v), 4)] for (x, y), v in zip(tr["xy"], tr["visible"], strict=True)]
        obj["in_frame"] = [round(float(v), 4) for v in tr["in_frame"]]
        obj["position"] = np.round(pos[:, j], 5).tolist()
        obj["velocity"] = np.round(vel[:, j], 5).tolist()
        if obj["kind"] != "character":
            obj["angle"] = np.round(clip.motion.angles[:, ids.index(obj["id"])], 5).tolist()
    events = sorted(clip.motion.events + visibility_events(clip, tracks), key=lambda e: (e.frame, e.time, e.type, e.objects))
    where = {id(e): i for i, e in enumerate(events)}
    n = sc.num_frames
    cams = []
    for f, cam in enumerate(clip.cameras):
        entry = cam.to_dict()
        key = dataclasses.asdict(interpolate_key(sc.camera.keys, f / max(1, n - 1)))
        entry["key"] = {k: (round(v, 5) if isinstance(v, float) else v) for k, v in key.items()}
        cams.append(entry)
    caps = captions if captions is not None else []
    return {
        "schema": SCHEMA,
        "caption": caps[0] if caps else "",
        "captions": caps,
        "fps": sc.fps,
        "width": sc.width,
        "height": sc.height,
        "num_frames": n,
        "seconds": sc.seconds,
        "split": sc.split,
        "objects": objects,
        "camera": cams,
        "events": [e.to_dict() for e in events],
        "effects": [
            {"type": "dust", "cause": where[id(clip.motion.events[p.cause])], "frame_born": int(np.ceil(p.t0 * sc.fps - 1e-9)), "position": [round(v, 4) for v in p.position]}
            for p in clip.motion.particles
        ],
        "scene": sc.to_dict(),
    }
