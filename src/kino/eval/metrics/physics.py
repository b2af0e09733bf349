"""Physics metrics: gravity residual on free flight, collision F1, causality violations.

Ground truth tells *when* to look (free-flight segments from the 3-D velocities, collision and kick events);
every measured quantity — acceleration, velocity changes, contacts — comes from the parsed pixel tracks.
"""

from __future__ import annotations

import math

import numpy as np

from kino.eval.metrics import GT_SEEN, Metric, dynamic_ids, gt_tracks, register, true_runs

__all__ = ["gravity_residual", "collision_f1", "causality_violations", "free_flight_segments", "velocity_jumps"]

MIN_FLIGHT = 6  # frames: shorter free flights do not pin down a parabola
TOL = 2  # frames: an event explains what happens this close to it (eval.md: collision F1 at ±2 frames)
CONTACT_TYPES = ("collision", "kick")


def free_flight_segments(truth: dict, oid: int) -> list[tuple[int, int]]:
    """Inclusive frame ranges where object `oid` is in free flight: its ground-truth vertical acceleration is
    -g between every pair of consecutive frames (no floor, ledge, ramp or collision in between)."""
    obj = next(o for o in truth["objects"] if o["id"] == oid)
    if obj.get("static") or obj["kind"] == "character":
        return []
    g = float(truth.get("scene", {}).get("gravity", 9.81))
    vy = np.asarray(obj["velocity"], np.float64)[:, 1]
    ay = np.diff(vy) * truth["fps"]
    free = np.abs(ay + g) < 0.05 * g
    # a run of free-flight steps f..e covers frames f..e+1
    return [(f, e + 1) for f, e in true_runs(free) if e + 2 - f >= MIN_FLIGHT]


def _accel(t: np.ndarray, y: np.ndarray) -> float:
    return 2.0 * float(np.polyfit(t, y, 2)[0])


def gravity_residual(parsed, truth: dict) -> float | None:
    """Mean |a - a_gt| / |a_gt| over free-flight segments; a is the parabola fit to parsed image y."""
    gts, res = gt_tracks(truth), []
    for oid in dynamic_ids(truth):
        q, g = parsed.tracks.get(oid), gts[oid]
        if q is None:
            continue
        for s, e in free_flight_segments(truth, oid):
            fr = np.arange(s, e + 1)
            fr = fr[g[fr, 2] > GT_SEEN]
            if len(fr) < MIN_FLIGHT:
                continue
            a_gt = _accel(fr.astype(float), g[fr, 1])
            if abs(a_gt) < 0.05:  # px/frame²: too far away to see gravity
                continue
            got = fr[q[fr, 3] > 0]
            a = _accel(got.astype(float), q[got, 1]) if len(got) >= 4 else 0.0  # lost in flight: no gravity seen
            res.append(abs(a - a_gt) / abs(a_gt))
    return float(np.mean(res)) if res else None


def velocity_jumps(track: np.ndarray, thr: float) -> np.ndarray:
    """(T,) velocity change (px/frame) across frame f where it exceeds thr, else 0.

    The change is |v(f+1→f+2) - v(f-2→f-1)|: the two steps either side of f are skipped, so a contact that
    falls between two frames (events are stamped at the first frame after them) shows in full rather than
    split over two second differences."""
    T = len(track)
    out = np.zeros(T)
    ok = track[:, 3] > 0
    for f in range(2, T - 2):
        if ok[f - 2] and ok[f - 1] and ok[f + 1] and ok[f + 2]:
            dv = float(np.linalg.norm(track[f + 2, :2] - track[f + 1, :2] - track[f - 1, :2] + track[f - 2, :2]))
            out[f] = dv if dv > thr else 0.0
    return out


def _jump_threshold(truth: dict) -> float:
    return max(1.2, 0.01 * math.hypot(truth["width"], truth["height"]))


def _extent(truth_kind: str, track: np.ndarray, shape: np.ndarray | None, f: int) -> np.ndarray:
    """[x0, y0, x1, y1] of a parsed object; a character (keyed by its shirt) gains its head, arms and legs."""
    x, y = track[f, :2]
    if shape is None or np.isnan(shape[f, 1]):
        r = math.sqrt(max(track[f, 2], 0.0) / math.pi)
        bw = bh = 2 * r
    else:
        bw, bh = shape[f, 1], shape[f, 2]
    if truth_kind == "character":  # the shirt is ~0.34 of the height: head above, legs (1.4 shirts) below
        return np.array([x - bw, y - 1.0 * bh, x + bw, y + 2.0 * bh])
    return np.array([x - bw / 2, y - bh / 2, x + bw / 2, y + bh / 2])


def collision_f1(parsed, truth: dict) -> float | None:
    """F1 of parsed contacts against ground-truth collision and kick events (±2 frames, same pair)."""
    events = [e for e in truth["events"] if e["type"] in CONTACT_TYPES and len(e["objects"]) == 2]
    if not events:
        return None
    thr = _jump_threshold(truth)
    kinds = {o["id"]: o["kind"] for o in truth["objects"]}
    dyn = [i for i in dynamic_ids(truth) if i in parsed.tracks]
    jumps = {i: velocity_jumps(parsed.tracks[i], thr) if kinds[i] != "character" else np.zeros(len(parsed.frames)) for i in dyn}
    detected: list[tuple[int, frozenset]] = []
    ids = sorted(set(dyn) | {i for e in events for i in e["objects"] if i in parsed.tracks})
    for ai, a in enumerate(ids):
        for b in ids[ai + 1:]:
            qa, qb = parsed.tracks[a], parsed.tracks[b]
            ja = jumps.get(a, np.zeros(len(qa)))
            jb = jumps.get(b, np.zeros(len(qb)))
            strength = np.zeros(len(qa))
            for f in range(len(qa)):
                if (ja[f] > 0 or jb[f] > 0) and qa[f, 3] > 0 and qb[f, 3] > 0:
                    ea = _extent(kinds[a], qa, parsed.shape.get(a), f)
                    eb = _extent(kinds[b], qb, parsed.shape.get(b), f)
                    gap = max(ea[0] - eb[2], eb[0] - ea[2], ea[1] - eb[3], eb[1] - ea[3])
                    if gap <= 2.0 + 0.3 * min(ea[2] - ea[0], eb[2] - eb[0]):
                        strength[f] = max(ja[f], jb[f])
            # one contact per run of frames, at its strongest frame
            f = 0
            while f < len(strength):
                if strength[f] > 0:
                    e = f
                    while e + 1 < len(strength) and (strength[e + 1] > 0 or (e + 2 < len(strength) and strength[e + 2] > 0)):
                        e += 1
                    detected.append((f + int(np.argmax(strength[f:e + 1])), frozenset((a, b))))
                    f = e + 1
                else:
                    f += 1
    truth_pairs = [(e["frame"], frozenset(e["objects"])) for e in events]
    used, tp = set(), 0
    for f, pair in detected:
        for k, (fe, pe) in enumerate(truth_pairs):
            if k not in used and pe == pair and abs(f - fe) <= TOL:
                used.add(k)
                tp += 1
                break
    if tp == 0:
        return 0.0
    precision, recall = tp / len(detected), tp / len(truth_pairs)
    return 2 * precision * recall / (precision + recall)


def causality_violations(parsed, truth: dict) -> float:
    """Share of found dynamic object-frames with an unexplained velocity jump, or where a struck body moves
    before its ground-truth contact."""
    thr = _jump_threshold(truth)
    gts = gt_tracks(truth)
    T = len(parsed.frames)
    near_event: dict[int, np.ndarray] = {}
    for e in truth["events"]:
        for i in e["objects"]:
            m = near_event.setdefault(i, np.zeros(T, bool))
            m[max(0, e["frame"] - TOL): e["frame"] + TOL + 1] = True
    bad = total = 0
    for oid in dynamic_ids(truth):
        q = parsed.tracks.get(oid)
        if q is None:
            continue
        g = gts[oid]
        gtrack = np.c_[g[:, :2], np.zeros(len(g)), g[:, 2] > 0]  # ground truth in the parsed layout
        jq = velocity_jumps(q, thr)
        jg = velocity_jumps(gtrack, 0.0)
        ev = near_event.get(oid, np.zeros(T, bool))
        total += int((q[:, 3] > 0).sum())
        for f in range(T):
            if jq[f] > 0 and not ev[f]:
                lo, hi = max(0, f - TOL), min(T, f + TOL + 1)
                if jg[lo:hi].max() < 0.5 * jq[f]:  # the ground-truth track does not jump here either
                    bad += 1
    # a body at rest before its first contact must not move before it
    for e in truth["events"]:
        if e["type"] not in CONTACT_TYPES:
            continue
        for oid in e["objects"]:
            obj = next((o for o in truth["objects"] if o["id"] == oid), None)
            q = parsed.tracks.get(oid)
            if obj is None or q is None or obj["kind"] == "character":
                continue
            v = np.linalg.norm(np.asarray(obj["velocity"], np.float64)[: e["frame"]], axis=1)
            if not len(v) or v.max() > 1e-3:
                continue
            rest = np.flatnonzero(q[: max(0, e["frame"] - TOL), 3] > 0)
            if len(rest) >= 2:
                base = q[rest[0], :2]
                moved = np.linalg.norm(q[rest, :2] - base, axis=1) > thr
                bad += int(moved.sum())  # these frames are already in the total above
    return min(1.0, bad / total) if total else 0.0


register(Metric(
    "gravity_residual",
    "|a - a_gt| / |a_gt| averaged over free-flight segments (ground-truth 3-D velocity falls at exactly g for "
    f">= {MIN_FLIGHT} frames): a is twice the quadratic coefficient of a parabola fitted to the parsed image y "
    "(px/frame²), a_gt the same fit to the ground-truth image track over the same frames (so perspective and "
    "camera are shared). An object lost in flight counts as no acceleration (residual 1). Mirrors the "
    "physical-law residuals of VideoPhy-2 / FVMD. Pass: at most 0.25 absolute.",
    higher_is_better=False, threshold=0.25, relative_to_floor=False, fn=gravity_residual,
))
register(Metric(
    "collision_f1",
    "F1 of detected contacts against ground-truth collision and kick events. A contact is a parsed velocity "
    "change across a frame (|v(f+1→f+2) - v(f-2→f-1)| above max(1.2 px, 1% of the diagonal) per frame; a "
    "character's own gait is not counted) of either object while their parsed boxes (a character's shirt box "
    "grown to its whole body) are within 2 px + 30% of the smaller box; one contact per run of such frames, "
    "matched to an event of the same pair within ±2 frames. Not applicable "
    "without ground-truth contacts. Mirrors VBench-2.0 mechanics / PhyGenBench. Pass: at least 0.8 of the floor.",
    higher_is_better=True, threshold=0.8, relative_to_floor=True, fn=collision_f1,
))
register(Metric(
    "causality_violations",
    "Share of dynamic object-frames whose parsed velocity jumps (threshold as collision F1) with no ground-truth "
    "event of that object within ±2 frames and no comparable jump (half its size) in the ground-truth image "
    "track (occlusion and frame exits move a visible centroid), plus frames where a body the ground truth "
    "keeps at rest until its first contact has already moved before it. Mirrors VBench-2.0 motion "
    "rationality. Pass: at most 0.05 absolute.",
    higher_is_better=False, threshold=0.05, relative_to_floor=False, fn=causality_violations,
))
