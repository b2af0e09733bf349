"""Prompt adherence: the caption grammar's clauses, each checked on the state parsed from pixels.

Mirrors VBench's semantic dimensions (object class, colour, multiple objects, spatial relationship) and
T2V-CompBench (attribute binding, motion binding, action). The clauses come from the ground truth, by the
rules `kino.world.captions` uses to word a caption (an event only when the exact truth tracks show it) (so they work for any video of a Kino World case, a
foreign model's included, without re-rendering the scene):

| clause | made when | satisfied when (parsed from the generated video) |
|---|---|---|
| colour | an object seen in the clip whose colour word is in the caption | the object's colour blob is present, with an area within 1/4..4x what the truth projects, in >= half the frames where the truth shows it |
| shape | a seen ball or box of a chromatic colour, projected large enough to tell (radius >= 6 px) | its blob is round (ball) or rectangular (box): fill ratio of its minimum-area rectangle, majority over up to 5 frames |
| count | the clip has moving-kind objects (balls, boxes, people) | the number found (present with a plausible area in >= 3 frames) equals the number the truth shows |
| direction | an object's screen track moves left/right monotonically and the world motion agrees (the caption rule) | the parsed net horizontal displacement has the same sign and >= 4% of the width |
| relation | two seen movable objects start clearly apart left/right | their parsed order on the first frame both are present (within the first quarter) |
| event | a visible collision (>= 0.3 m/s) or a floor bounce that rises >= 0.1 m | collision: the two blobs come within 1.5x their radii and one of them changes velocity, +-3 frames; bounce: the vertical velocity flips from down to up, +-3 frames |

`prompt_adherence` is the share of all clauses satisfied; `prompt_color` the share of colour and shape
clauses (issue target >= 0.9), `prompt_direction` of direction clauses (target >= 0.8), `prompt_event` of
event clauses. `clause_report(parsed, truth)` lists each clause with its outcome (for reports).
"""

from __future__ import annotations

import numpy as np

from kino.eval.metrics import Metric, register

__all__ = ["clauses", "clause_report", "shape_of", "color_mask"]

MOVABLE = ("ball", "box", "character")
SEEN_VISIBLE = 0.3
MIN_DX_FRAC = 0.04  # parsed direction must move at least this share of the width
SHAPE_BOX_FILL = 0.89  # fill ratio of the min-area rectangle above which a blob is a box (disc: pi/4 = 0.785)
EVENT_SLACK = 3  # frames


# ------------------------------------------------------------------------------------------- clauses
def _track(obj: dict) -> np.ndarray:
    return np.asarray(obj["track"], dtype=np.float64).reshape(-1, 3)


def _radius_px(obj: dict, truth: dict, f: int) -> float:
    """Projected radius (px) of the object's half width at frame f (0 when behind the camera)."""
    cam = truth["camera"][min(f, len(truth["camera"]) - 1)]
    pos = np.asarray(obj["position"][f], dtype=np.float64)
    z = float(np.asarray(cam["R"])[2] @ pos + cam["t"][2])
    r = float(min(obj["size"][0], obj["size"][1]))
    return float(cam["focal_px"]) * r / z if z > 1e-3 else 0.0


_AREA_SHARE = {"ball": 1.0, "box": 1.0, "character": 0.22, "ramp": 0.5}  # keyed pixels / projected box (shirt of a person)
AREA_RANGE = (0.25, 4.0)  # a blob counts as the object when its area is within this factor of the expected one


def _expected_area(obj: dict, truth: dict, T: int) -> np.ndarray:
    """(T,) keyed pixel area the truth expects: projected size x visible share x the kind's keyed share."""
    out = np.zeros(T)
    vis = _track(obj)[:T, 2]
    for f in range(min(T, len(obj["position"]))):
        cam = truth["camera"][f]
        z = float(np.asarray(cam["R"])[2] @ np.asarray(obj["position"][f], dtype=np.float64) + cam["t"][2])
        if z <= 1e-3:
            continue
        hx, hy = (float(cam["focal_px"]) * s / z for s in obj["size"][:2])
        area = np.pi * hx * hx if obj["kind"] == "ball" else 4 * hx * hy
        out[f] = area * vis[f] * _AREA_SHARE.get(obj["kind"], 1.0)
    return out


def _found(tr: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """(T,) frames where the object's blob is present with a plausible area (any area when too small to judge)."""
    present = tr[:, 3] > 0.5
    judge = expected >= 12.0
    ratio = tr[:, 2] / np.maximum(expected, 1e-9)
    return present & (~judge | ((ratio >= AREA_RANGE[0]) & (ratio <= AREA_RANGE[1])))


def _direction(obj: dict, truth: dict) -> str:
    """left/right by the caption rule (kino.world.captions._World.direction), read from the truth JSON."""
    tr = _track(obj)
    vis = np.flatnonzero(tr[:, 2] >= SEEN_VISIBLE)
    if len(vis) < 2:
        return ""
    f0, f1 = int(vis[0]), int(vis[-1])
    x = tr[vis, 0]
    dx, path = float(x[-1] - x[0]), float(np.abs(np.diff(x)).sum())
    pos = np.asarray(obj["position"], dtype=np.float64)
    right = (np.asarray(truth["camera"][f0]["R"])[0] + np.asarray(truth["camera"][f1]["R"])[0]) / 2
    world_x = float((pos[f1] - pos[f0]) @ right)
    if abs(dx) >= max(4.0, 0.08 * truth["width"]) and abs(dx) >= 0.75 * path and abs(world_x) >= 0.3 and dx * world_x > 0:
        return "right" if dx > 0 else "left"
    return ""


def clauses(truth: dict) -> list[dict]:
    """The checkable clauses of a clip: dicts with kind, objects (ids), value and frame."""
    from kino.world.palette import MATERIALS

    caption = " " + " ".join(truth.get("captions") or [truth.get("caption", "")]).lower().replace(",", " ").replace(".", " ") + " "
    objs = {o["id"]: o for o in truth["objects"]}
    seen = [o for o in truth["objects"] if (_track(o)[:, 2] >= SEEN_VISIBLE).sum() >= 2]
    out: list[dict] = []
    for o in seen:
        if f" {o['color']} " in caption:
            out.append({"kind": "color", "objects": [o["id"]], "value": o["color"], "frame": 0})
    for o in seen:
        if o["kind"] not in ("ball", "box") or max(o["color_rgb"]) - min(o["color_rgb"]) < 40:
            continue  # white and black blobs merge with grey floors and dark backdrops: colour clause only
        tr, inf = _track(o), np.asarray(o["in_frame"])
        ok = [f for f in range(len(tr)) if tr[f, 2] >= 0.95 and inf[f] >= 0.99 and _radius_px(o, truth, f) >= 6.0]
        if ok:
            picks = [ok[int(i)] for i in np.linspace(0, len(ok) - 1, min(5, len(ok))).round()]
            out.append({"kind": "shape", "objects": [o["id"]], "value": o["kind"], "frame": picks[0], "frames": sorted(set(picks))})
    movers = [o for o in seen if o["kind"] in MOVABLE]
    if movers:
        out.append({"kind": "count", "objects": [o["id"] for o in movers], "value": len(movers), "frame": 0})
    for o in movers:
        d = _direction(o, truth)
        if d:
            out.append({"kind": "direction", "objects": [o["id"]], "value": d, "frame": 0})
    first = [o for o in movers if _track(o)[0, 2] >= 0.5]
    for i, a in enumerate(first):
        for b in first[i + 1:]:
            gap = _track(b)[0, 0] - _track(a)[0, 0]
            if abs(gap) >= 0.15 * truth["width"]:
                out.append({"kind": "relation", "objects": [a["id"], b["id"]], "value": "left of" if gap > 0 else "right of", "frame": 0})
                break
        else:
            continue
        break
    done = set()
    gravity = float(truth.get("scene", {}).get("gravity", 9.81))
    for e in truth.get("events", []):
        ids, f = tuple(e.get("objects", ())), int(e["frame"])
        if e["type"] not in ("collision", "bounce") or (e["type"], frozenset(ids)) in done or not all(i in objs for i in ids):
            continue
        if not all(f < len(_track(objs[i])) and _track(objs[i])[max(f - 1, 0):f + 1, 2].max() >= SEEN_VISIBLE for i in ids):
            continue
        speed = float(e.get("speed") or 0.0)
        if e["type"] == "collision" and len(ids) == 2 and speed >= 0.3 and all(objs[i]["kind"] in MOVABLE for i in ids):
            out.append({"kind": "event", "objects": list(ids), "value": "collision", "frame": f})
        elif e["type"] == "bounce" and len(ids) == 1 and objs[ids[0]]["kind"] == "ball":
            e_rest = MATERIALS[objs[ids[0]]["material"]].restitution if objs[ids[0]]["material"] in MATERIALS else 0.5
            if (e_rest * speed) ** 2 / (2 * max(gravity, 1e-6)) >= 0.1:
                out.append({"kind": "event", "objects": list(ids), "value": "bounce", "frame": f})
        else:
            continue
        done.add((e["type"], frozenset(ids)))
    # an event is a clause only if the exact truth tracks show it (a bounce too small to see is dropped)
    if any(c["kind"] == "event" for c in out):
        ideal = _TruthView(truth)
        out = [c for c in out if c["kind"] != "event" or _check(c, ideal, truth)]
    return out


class _TruthView:
    """The truth tracks in Parsed form ([x, y, area, present]), for checks that must hold on the truth itself."""

    def __init__(self, truth: dict):
        T = int(truth["num_frames"])
        self.frames = np.broadcast_to(np.zeros((1, int(truth["height"]), int(truth["width"]), 3), np.uint8), (T, int(truth["height"]), int(truth["width"]), 3))
        self.tracks = {}
        for o in truth["objects"]:
            tr = _track(o)[:T]
            area = np.array([np.pi * _radius_px(o, truth, f) ** 2 * tr[f, 2] for f in range(len(tr))])
            self.tracks[o["id"]] = np.c_[tr[:, :2], area, tr[:, 2] >= SEEN_VISIBLE].astype(np.float64)


# ------------------------------------------------------------------------------------------- pixels
def _chroma_mask(p: np.ndarray, c: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(p, axis=-1) + 1e-6
    cos = (p @ c) / (norm * float(np.linalg.norm(c)))
    sat = float(c.max() - c.min())
    return (cos > 0.985) & (norm > 0.3 * float(np.linalg.norm(c))) & (p.max(-1) - p.min(-1) > 0.35 * sat)


def color_mask(img: np.ndarray, rgb) -> np.ndarray:
    """Pixels of a palette colour under shading: same chromaticity as the colour or as its pattern's second
    tone (chromatic colours), or near-grey and light/dark enough (white, black)."""
    from kino.world.raster import second_tone

    p = img.astype(np.float32)
    c = np.asarray(rgb, dtype=np.float32)
    if float(c.max() - c.min()) < 40:  # white / black
        lo, hi = p.min(-1), p.max(-1)
        return (hi - lo < 45) & ((lo > 160) if c.mean() > 128 else (hi < 75))
    import cv2

    second = np.asarray(second_tone(tuple(c / 255.0)), dtype=np.float32) * 255.0
    main = _chroma_mask(p, c)
    near = cv2.dilate(main.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)  # pattern tone: only beside the colour
    return main | (_chroma_mask(p, second) & near)


def shape_of(img: np.ndarray, rgb, near: tuple[float, float] | None, radius: float | None = None) -> str | None:
    """"ball" or "box" for the blob of colour `rgb` nearest `near` (x, y) (largest when None), or None."""
    import cv2

    mask = color_mask(img, rgb).astype(np.uint8)
    if near is not None and radius is not None:  # look only around the object
        h, w = mask.shape
        x0, y0 = int(max(0, near[0] - 2.5 * radius - 3)), int(max(0, near[1] - 2.5 * radius - 3))
        x1, y1 = int(min(w, near[0] + 2.5 * radius + 4)), int(min(h, near[1] + 2.5 * radius + 4))
        keep = np.zeros_like(mask)
        keep[y0:y1, x0:x1] = 1
        mask &= keep
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contours = [c for c in contours if cv2.contourArea(c) >= 12]
    if not contours:
        return None
    if near is None:
        cnt = max(contours, key=cv2.contourArea)
    else:
        def dist(c):
            m = cv2.moments(c)
            return np.hypot(m["m10"] / m["m00"] - near[0], m["m01"] / m["m00"] - near[1]) if m["m00"] else 1e9
        cnt = min(contours, key=dist)
    (_, _), (rw, rh), _ = cv2.minAreaRect(cnt)
    fill = cv2.contourArea(cnt) / max(rw * rh, 1e-6)
    return "box" if fill >= SHAPE_BOX_FILL else "ball"


# ------------------------------------------------------------------------------------------- checks
def _present(tr: np.ndarray) -> np.ndarray:
    return tr[:, 3] > 0.5


def _vel(tr: np.ndarray, a: int, b: int) -> np.ndarray | None:
    """Mean velocity (px/frame) over present frames in [a, b)."""
    a, b = max(a, 0), min(b, len(tr))
    idx = [f for f in range(a, b) if _present(tr)[f]]
    if len(idx) < 2:
        return None
    return (tr[idx[-1], :2] - tr[idx[0], :2]) / (idx[-1] - idx[0])


def _check(c: dict, parsed, truth: dict) -> bool:
    objs = {o["id"]: o for o in truth["objects"]}
    T = len(parsed.frames)
    none = np.zeros((T, 4))
    tr = {i: np.asarray(parsed.tracks.get(i, none), dtype=np.float64) for i in c["objects"]}
    kind = c["kind"]
    if kind == "color":
        (i,) = c["objects"]
        gt = _track(objs[i])[:T, 2]
        want = np.flatnonzero(gt >= 0.5)
        want = want if len(want) else np.flatnonzero(gt >= SEEN_VISIBLE)
        found = _found(tr[i], _expected_area(objs[i], truth, T))
        return bool(len(want)) and float(found[want].mean()) >= 0.5
    if kind == "shape":
        (i,) = c["objects"]
        votes = []
        for f in c["frames"]:
            if f >= T:
                continue
            t = tr[i][f]
            near = (float(t[0]), float(t[1])) if t[3] > 0.5 else None
            rad = float(np.sqrt(max(t[2], 1.0) / np.pi)) if t[3] > 0.5 else None
            votes.append(shape_of(parsed.frames[f], objs[i]["color_rgb"], near, rad))
        good = sum(v == c["value"] for v in votes)
        return bool(votes) and good * 2 > len(votes)
    if kind == "count":
        found = sum(int(_found(tr[i], _expected_area(objs[i], truth, T)).sum() >= min(3, T)) for i in c["objects"])
        return found == c["value"]
    if kind == "direction":
        (i,) = c["objects"]
        idx = np.flatnonzero(_present(tr[i]))
        if len(idx) < 2:
            return False
        k = max(1, min(3, len(idx) // 4))
        dx = float(np.median(tr[i][idx[-k:], 0]) - np.median(tr[i][idx[:k], 0]))
        return abs(dx) >= MIN_DX_FRAC * parsed.frames.shape[2] and (dx > 0) == (c["value"] == "right")
    if kind == "relation":
        a, b = c["objects"]
        both = np.flatnonzero(_present(tr[a]) & _present(tr[b]))
        if not len(both) or both[0] > max(1, T // 4):
            return False
        gap = tr[b][both[0], 0] - tr[a][both[0], 0]
        return (gap > 0) == (c["value"] == "left of") and abs(gap) >= 2
    if kind == "event":
        f = c["frame"]
        lo, hi = f - EVENT_SLACK, f + EVENT_SLACK + 1
        if c["value"] == "bounce":
            (i,) = c["objects"]
            for g in range(max(lo, 1), min(hi, T - 1)):
                before, after = _vel(tr[i], g - 3, g + 1), _vel(tr[i], g, g + 4)
                if before is not None and after is not None and before[1] > 0.3 and after[1] < -0.3:
                    return True
            return False
        a, b = c["objects"]
        for g in range(max(lo, 0), min(hi, T)):
            if not (_present(tr[a])[g] and _present(tr[b])[g]):
                continue
            ra, rb = (np.sqrt(max(tr[j][g, 2], 1.0) / np.pi) for j in (a, b))
            if np.hypot(*(tr[a][g, :2] - tr[b][g, :2])) > 1.5 * (ra + rb) + 2:
                continue
            for j in (a, b):
                before, after = _vel(tr[j], g - 4, g + 1), _vel(tr[j], g, g + 5)
                if before is not None and after is not None:
                    change = float(np.linalg.norm(after - before))
                    if change >= max(0.5, 0.3 * float(np.linalg.norm(before))):
                        return True
        return False
    raise ValueError(f"unknown clause kind {kind!r}")


_memo: list = [None, None, None]  # the last (parsed, truth, report): the four metrics share one check


def clause_report(parsed, truth: dict) -> list[dict]:
    """Every clause of the clip with "ok": whether the parsed video satisfies it."""
    if _memo[0] is parsed and _memo[1] is truth:
        return _memo[2]
    rep = [{**c, "ok": bool(_check(c, parsed, truth))} for c in clauses(truth)]
    _memo[:] = [parsed, truth, rep]
    return rep


def _share(kinds: tuple[str, ...] | None):
    def fn(parsed, truth: dict) -> float | None:
        rep = [c for c in clause_report(parsed, truth) if kinds is None or c["kind"] in kinds]
        return float(np.mean([c["ok"] for c in rep])) if rep else None
    return fn


register(Metric(
    "prompt_adherence",
    "Share of the caption's clauses (colour, shape, count, left/right direction, start relation, collision/bounce events) "
    "that hold in the state parsed from the video; clauses come from the ground truth by the caption rules. "
    "Mirrors VBench semantic dimensions and T2V-CompBench.",
    higher_is_better=True, threshold=0.8, relative_to_floor=False, fn=_share(None)))
register(Metric(
    "prompt_color",
    "Attribute binding: share of colour clauses (the named colour's blob is present where the truth shows the object) "
    "and shape clauses (ball round, box rectangular by min-area-rectangle fill) that hold. Target >= 0.9.",
    higher_is_better=True, threshold=0.9, relative_to_floor=False, fn=_share(("color", "shape"))))
register(Metric(
    "prompt_direction",
    "Motion direction: share of objects the caption says move left/right whose parsed net horizontal displacement "
    "has that sign and at least 4% of the frame width. Target >= 0.8.",
    higher_is_better=True, threshold=0.8, relative_to_floor=False, fn=_share(("direction",))))
register(Metric(
    "prompt_event",
    "Events: share of visible collisions (blobs within 1.5x their radii and a velocity change, +-3 frames) and "
    "floor bounces (vertical velocity flips down to up, +-3 frames) found in the parsed tracks.",
    higher_is_better=True, threshold=0.8, relative_to_floor=False, fn=_share(("event",))))
