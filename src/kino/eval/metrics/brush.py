"""Motion-brush adherence (T2V-CompBench motion binding), for clips generated from a motion-brush request.

The truth of such a clip carries the brush (`truth["brush"]`, `kino.world.controls.MotionBrush.to_dict`):
painted frame-0 regions, one per moving object, each with a vector in px/s (right, down). For each region,
the *requested* net motion is vector x (time the object stays visible) minus the motion the truth camera
alone gives a still point at the object's start (zero for a still camera); the *generated* net motion is
the parsed displacement of that object's blob over the same frames minus the parsed background motion
(sum of the frame-to-frame camera shifts). `brush_adherence` is the share of regions whose generated
motion points the requested way (cosine > 0.7; an object that is missing or does not move fails);
`brush_endpoint_error` is the mean distance between generated and requested net displacement, in % of the
frame diagonal (a missing object counts as not moving). `brush_static_drift` is the mean net displacement,
in % of the diagonal, of the brush's static region: its background (beyond the truth camera's motion) and each
object it holds that the truth keeps still (background subtracted). Painted motion must not drag the rest of
the scene along. All are None for clips without a brush.
"""

from __future__ import annotations

import numpy as np

from kino.eval.metrics import Metric, gt_camera_motion, register
from kino.eval.metrics.camera import mean_radius
from kino.world.controls import MOVING_PX

__all__ = ["brush_report", "decode_rle", "static_drift", "COSINE_OK"]

COSINE_OK = 0.7


def decode_rle(rle: dict) -> np.ndarray:
    """Inverse of `kino.world.controls.rle`: runs alternate False, True, ... row-major."""
    h, w = rle["size"]
    counts = np.asarray(rle["counts"], dtype=np.int64)
    values = np.arange(len(counts)) % 2 == 1
    return np.repeat(values, counts)[: h * w].reshape(h, w)


def _project(cam: dict, X: np.ndarray) -> np.ndarray:
    p = np.asarray(cam["K"]) @ (np.asarray(cam["R"]) @ X + np.asarray(cam["t"]))
    return p[:2] / p[2]


def brush_report(parsed, truth: dict) -> list[dict] | None:
    """Per painted region: requested and generated net displacement (px), cosine, ok, endpoint error (px)."""
    brush = truth.get("brush")
    if not brush or not brush.get("regions"):
        return None
    if _memo[0] is parsed and _memo[1] is truth:
        return _memo[2]
    objs = {o["id"]: o for o in truth["objects"]}
    fps = float(truth["fps"])
    T = min(len(parsed.frames), int(truth["num_frames"]))
    out = []
    for reg in brush["regions"]:
        oid = reg["object"]
        o = objs.get(oid)
        if o is None:
            continue
        vis = np.asarray(o["track"], dtype=np.float64)[:T, 2]
        seen = np.flatnonzero(vis > 0.05)
        last = int(seen[-1]) if seen.size else 0
        if last == 0:
            continue
        want = np.asarray(reg["vector"][:2], dtype=np.float64) * (last / fps)
        X0 = np.asarray(o["position"][0], dtype=np.float64)
        want = want - (_project(truth["camera"][last], X0) - _project(truth["camera"][0], X0))
        tr = np.asarray(parsed.tracks.get(oid, np.zeros((T, 4))), dtype=np.float64)[: last + 1]
        here = np.flatnonzero(tr[:, 3] > 0.5)
        if len(here) >= 2:
            a, b = int(here[0]), int(here[-1])
            got = tr[b, :2] - tr[a, :2] - np.asarray(parsed.camera, dtype=np.float64)[a:b, :2].sum(0)
        else:
            got = np.zeros(2)
        n_want, n_got = float(np.linalg.norm(want)), float(np.linalg.norm(got))
        cos = float(got @ want / (n_want * n_got)) if n_want > 1e-9 and n_got > 1e-9 else 0.0
        out.append({"object": oid, "requested": want.round(2).tolist(), "generated": got.round(2).tolist(), "cosine": round(cos, 4),
                    "ok": cos > COSINE_OK, "endpoint_error_px": float(np.linalg.norm(got - want))})
    _memo[:] = [parsed, truth, out or None]
    return out or None


_memo: list = [None, None, None]


def _direction(parsed, truth: dict) -> float | None:
    rep = brush_report(parsed, truth)
    return None if rep is None else float(np.mean([r["ok"] for r in rep]))


def _endpoint(parsed, truth: dict) -> float | None:
    rep = brush_report(parsed, truth)
    if rep is None:
        return None
    diag = float(np.hypot(truth["width"], truth["height"]))
    return float(np.mean([r["endpoint_error_px"] for r in rep]) / diag * 100.0)


def static_drift(parsed, truth: dict) -> list[dict] | None:
    """The background's net motion beyond the truth camera's, then each object in the brush's static region (its
    frame-0 centre there, painted by no region) that the truth shows on frame 0 and keeps still: its parsed net
    displacement minus the parsed background motion (px)."""
    brush = truth.get("brush")
    if not brush or "static_mask" not in brush:
        return None
    static = decode_rle(brush["static_mask"])
    painted = {r["object"] for r in brush.get("regions", [])}
    T = min(len(parsed.frames), int(truth["num_frames"]))
    cam = np.asarray(parsed.camera, dtype=np.float64)
    # the background (the static region's largest part): its net motion beyond what the truth camera gives it,
    # as the displacement of its average pixel (zoom and roll move it by |log s| or |angle| x the mean radius)
    d = cam[: T - 1].sum(0) - gt_camera_motion(truth)[: T - 1].sum(0)
    rho = mean_radius(truth["width"], truth["height"])
    out = [{"object": "background", "moved": d[:2].round(2).tolist(), "moved_px": float(np.hypot(d[0], d[1]) + rho * (abs(d[2]) + abs(d[3])))}]
    for o in truth["objects"]:
        tr_gt = np.asarray(o["track"], dtype=np.float64)[:T]
        x, y, vis = tr_gt[0]
        inside = 0 <= int(y) < static.shape[0] and 0 <= int(x) < static.shape[1] and static[int(y), int(x)]
        seen = np.flatnonzero(tr_gt[:, 2] > 0.05)
        if o["id"] in painted or not inside or vis < 0.5 or seen.size < 2:
            continue
        if np.linalg.norm(tr_gt[seen[-1], :2] - tr_gt[0, :2]) >= MOVING_PX:  # what the brush itself calls still
            continue  # pushed or knocked by a brushed object: moving is right
        tr = np.asarray(parsed.tracks.get(o["id"], np.zeros((T, 4))), dtype=np.float64)[: int(seen[-1]) + 1]
        here = np.flatnonzero(tr[:, 3] > 0.5)
        if len(here) < 2:
            continue  # not found: object permanence counts that, not drift
        a, b = int(here[0]), int(here[-1])
        moved = tr[b, :2] - tr[a, :2] - cam[a:b, :2].sum(0)
        out.append({"object": o["id"], "moved": moved.round(2).tolist(), "moved_px": float(np.linalg.norm(moved))})
    return out


def _static(parsed, truth: dict) -> float | None:
    rep = static_drift(parsed, truth)
    if rep is None:
        return None
    return float(np.mean([r["moved_px"] for r in rep]) / np.hypot(truth["width"], truth["height"]) * 100.0)


register(Metric(
    "brush_adherence",
    "Motion brush, direction: share of painted regions whose generated net displacement (object blob minus parsed "
    "background motion) has cosine > 0.7 with the requested one (brush vector x visible time, minus what the camera "
    "alone would do). T2V-CompBench motion binding.",
    higher_is_better=True, threshold=0.8, relative_to_floor=False, fn=_direction))
register(Metric(
    "brush_endpoint_error",
    "Motion brush, endpoint: mean distance between generated and requested net displacement of each painted region, "
    "% of the frame diagonal (a missing object counts as not moving). T2V-CompBench motion binding.",
    higher_is_better=False, threshold=5.0, relative_to_floor=False, fn=_endpoint))
register(Metric(
    "brush_static_drift",
    "Motion brush, static region: mean net displacement over the clip, in % of the frame diagonal, of the parts of "
    "the brush's static region that should stay put: the background (parsed background motion beyond the truth "
    "camera's, as its average pixel's displacement) and each object there that the truth keeps still (under 4 px; "
    "blob minus background motion, first to last frame it is found). Objects the brushed ones push are left out "
    "(they should move); painted motion must not drag the rest of the scene along. Mirrors the static-region check of Motion-I2V and MOFA-Video. Pass: at most 2.",
    higher_is_better=False, threshold=2.0, relative_to_floor=False, fn=_static))
