"""The metric registry: one `Metric` per score, filled by one small module per family (design/eval.md).

Every metric is a pure per-clip function `fn(parsed, truth) -> float | None` (None: not applicable to this
clip, e.g. collision F1 in a clip without collisions). Report each score beside its *floor*, the same
metric on the ground-truth render; `threshold` is relative to that floor when `relative_to_floor`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from kino.eval.parse import Parsed

__all__ = [
    "true_runs",
    "Metric", "METRICS", "register", "score_clip", "passes", "gt_tracks", "gt_radius_px", "gt_camera_motion",
    "GT_SEEN", "GT_HIDDEN", "dynamic_ids",
]

GT_SEEN = 0.5  # ground truth `visible` above this: the object should be found in the pixels
GT_HIDDEN = 0.02  # below this: it should not be (fully occluded or out of frame)
WALL_Z = 8.0  # kino.world.render.WALL_Z, the back wall of the "wall" and "studio" backdrops


@dataclass(frozen=True)
class Metric:
    """One exact metric: its name, a one-paragraph definition, direction, pass bound and per-clip function."""

    name: str  # e.g. "velocity_error"
    definition: str  # what is measured, units, and its public counterpart (eval.md table)
    higher_is_better: bool
    threshold: float | None  # pass/fail bound; relative to the floor when relative_to_floor
    relative_to_floor: bool  # True: pass iff value <= floor * threshold (>= when higher_is_better)
    fn: Callable[[Parsed, dict], float | None]  # per-clip score; None = not applicable to this clip
    resolution: float = 0.0  # smallest meaningful value: a relative bound uses max(floor, resolution)


METRICS: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    """Add a metric to the registry (names are unique)."""
    if metric.name in METRICS:
        raise ValueError(f"metric {metric.name!r} is registered twice")
    METRICS[metric.name] = metric
    return metric


def score_clip(parsed: Parsed, truth: dict, names: Iterable[str] | None = None) -> dict[str, float | None]:
    """Every (or the named) metric on one parsed clip; None where a metric does not apply."""
    if len(parsed.frames) != int(truth["num_frames"]):
        raise ValueError(f"score_clip: the video has {len(parsed.frames)} frames but its ground truth {truth['num_frames']}; "
                         "resample or slice one to the other first")
    names = list(METRICS) if names is None else list(names)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise KeyError(f"unknown metric(s) {unknown}; choose from {sorted(METRICS)}")
    out: dict[str, float | None] = {}
    for n in names:
        v = METRICS[n].fn(parsed, truth)
        out[n] = None if v is None else float(v)
    return out


def passes(metric: Metric, value: float | None, floor: float | None = None) -> bool | None:
    """Whether `value` meets the metric's documented bound (None when it cannot be decided)."""
    if value is None or metric.threshold is None:
        return None
    bound = metric.threshold
    if metric.relative_to_floor:
        if floor is None:
            return None
        # a near-zero floor (a static camera's motion error) must not make the bound unreachable
        base = floor if metric.higher_is_better else max(floor, metric.resolution)
        bound = base * metric.threshold
    return value >= bound if metric.higher_is_better else value <= bound


# ------------------------------------------------------------------------------------------- ground truth
def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of True in a 1-D mask, as inclusive (start, end) index pairs."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(m[1:] != m[:-1])
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def gt_tracks(truth: dict) -> dict[int, np.ndarray]:
    """Object id -> (T, 3) ground-truth [x, y, visible] pixel track."""
    return {o["id"]: np.asarray(o["track"], np.float64).reshape(-1, 3) for o in truth["objects"]}


def dynamic_ids(truth: dict) -> list[int]:
    """Ids of the objects that can move (bodies that are not scenery, and characters)."""
    return [o["id"] for o in truth["objects"] if not o.get("static", False)]


def gt_radius_px(truth: dict, oid: int) -> np.ndarray:
    """(T,) projected half size in pixels of object `oid`: focal * min(half width, half height) / depth."""
    obj = next(o for o in truth["objects"] if o["id"] == oid)
    half = min(obj["size"][0], obj["size"][1])
    out = np.zeros(len(truth["camera"]))
    for f, (cam, pos) in enumerate(zip(truth["camera"], obj["position"], strict=True)):
        R, t = np.asarray(cam["R"]), np.asarray(cam["t"])
        z = float((R @ np.asarray(pos) + t)[2])
        out[f] = cam["K"][0][0] * half / max(z, 1e-3)
    return out


def _cast(cam: dict, uv: np.ndarray, walled: bool) -> np.ndarray:
    """World points (N, 3) where the rays through pixels uv (N, 2) meet the floor, the back wall or the far sky."""
    K, R, t = np.asarray(cam["K"]), np.asarray(cam["R"]), np.asarray(cam["t"])
    c = -R.T @ t
    d = np.c_[uv, np.ones(len(uv))] @ np.linalg.inv(K).T @ R  # world directions (R^-1 = R^T)
    with np.errstate(divide="ignore", invalid="ignore"):
        tf = np.where(d[:, 1] < -1e-9, -c[1] / d[:, 1], np.inf)
        tw = np.where(d[:, 2] > 1e-9, (WALL_Z - c[2]) / d[:, 2], np.inf) if walled else np.full(len(uv), np.inf)
    s = np.minimum(tf, tw)
    s = np.where(np.isfinite(s) & (s > 0), s, 1e4)
    return c + d * s[:, None]


def fit_similarity(p0: np.ndarray, p1: np.ndarray, w: int, h: int) -> np.ndarray:
    """Least-squares [dx, dy, log_scale, rotation] with p1 - c = s R(θ) (p0 - c) + d, c the image centre."""
    c = np.array([w / 2, h / 2])
    a, b = p0 - c, p1 - c
    n = len(a)
    A = np.zeros((2 * n, 4))
    A[0::2] = np.c_[a[:, 0], -a[:, 1], np.ones(n), np.zeros(n)]
    A[1::2] = np.c_[a[:, 1], a[:, 0], np.zeros(n), np.ones(n)]
    sol = np.linalg.lstsq(A, b.ravel(), rcond=None)[0]
    return np.array([sol[2], sol[3], math.log(max(math.hypot(sol[0], sol[1]), 1e-6)), math.atan2(sol[1], sol[0])])


def gt_camera_motion(truth: dict, grid: int = 12) -> np.ndarray:
    """(T-1, 4) exact background motion [dx, dy, log_scale, rotation]: a pixel grid of frame f is cast onto
    the floor / back wall / far sky with the ground-truth camera, projected by camera f+1, and fitted with
    the same similarity the parser estimates."""
    w, h = truth["width"], truth["height"]
    walled = truth.get("scene", {}).get("look", {}).get("backdrop") in ("wall", "studio")
    g = (np.arange(grid) + 0.5) / grid
    uv = np.stack(np.meshgrid(g * w, g * h), -1).reshape(-1, 2)
    cams = truth["camera"]
    out = np.zeros((max(len(cams) - 1, 0), 4))
    for f in range(len(cams) - 1):
        X = _cast(cams[f], uv, walled)
        K, R, t = (np.asarray(cams[f + 1][k]) for k in ("K", "R", "t"))
        pc = X @ R.T + t
        ok = pc[:, 2] > 1e-3
        q = pc[ok] @ K.T
        out[f] = fit_similarity(uv[ok], q[:, :2] / q[:, 2:3], w, h)
    return out


# the families register themselves on import (kept last: they import Metric and register from here)
from kino.eval.metrics import camera, drift, identity, motion, permanence, physics, temporal  # noqa: E402, F401, I001

_FAMILIES = ("motion", "physics", "permanence", "identity", "temporal", "camera", "drift")
_ordered = sorted(METRICS.values(), key=lambda m: _FAMILIES.index(m.fn.__module__.rsplit(".", 1)[-1]))
METRICS.clear()
METRICS.update({m.name: m for m in _ordered})  # report order: motion first, drift last
