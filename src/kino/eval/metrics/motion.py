"""Motion metrics: velocity error, trajectory error and motion direction, from parsed centroids.

All quantities are in image pixels (frame-to-frame), so camera motion is part of both the parsed and the
ground-truth tracks; an object counts in a frame where the ground truth sees more than half of it.
"""

from __future__ import annotations

import math

import numpy as np

from kino.eval.metrics import GT_SEEN, Metric, dynamic_ids, gt_tracks, register

__all__ = ["velocity_error", "velocity_error_series", "trajectory_error", "trajectory_final", "motion_direction_accuracy"]

MOVING = 0.05  # net displacement above this share of the frame diagonal: the object moves


def _diag(truth: dict) -> float:
    return math.hypot(truth["width"], truth["height"])


def _velocity_sums(parsed, truth: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per step (T-1,): summed |v - v_gt| (px/frame) over objects valid at both ends, and their count."""
    T = len(parsed.frames)
    tot, cnt = np.zeros(max(T - 1, 0)), np.zeros(max(T - 1, 0))
    for oid, g in gt_tracks(truth).items():
        q = parsed.tracks.get(oid)
        if q is None:
            continue
        ok = (g[:, 2] > GT_SEEN) & (q[:, 3] > 0)
        step = ok[:-1] & ok[1:]
        err = np.linalg.norm(np.diff(q[:, :2], axis=0) - np.diff(g[:, :2], axis=0), axis=1)
        tot += np.where(step, err, 0.0)
        cnt += step
    return tot, cnt


def velocity_error_series(parsed, truth: dict) -> np.ndarray:
    """(T-1,) mean |v - v_gt| (px/frame) over objects valid at both ends of each step; nan where none."""
    tot, cnt = _velocity_sums(parsed, truth)
    with np.errstate(invalid="ignore"):
        return np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)


def velocity_error(parsed, truth: dict) -> float | None:
    """Mean |v - v_gt| in px/frame, pooled over objects and valid steps."""
    tot, cnt = _velocity_sums(parsed, truth)
    return float(tot.sum() / cnt.sum()) if cnt.sum() else None


def trajectory_error(parsed, truth: dict) -> float | None:
    """Mean centroid distance, % of the frame diagonal, over frames where the object is seen and found."""
    d = []
    for oid, g in gt_tracks(truth).items():
        q = parsed.tracks.get(oid)
        if q is None:
            continue
        ok = (g[:, 2] > GT_SEEN) & (q[:, 3] > 0)
        d.append(np.linalg.norm(q[ok, :2] - g[ok, :2], axis=1))
    d = np.concatenate(d) if d else np.zeros(0)
    return float(d.mean() / _diag(truth) * 100) if len(d) else None


def trajectory_final(parsed, truth: dict) -> float | None:
    """Distance at each object's last seen frame (% of diagonal); where the parser lost it by then, its last
    parsed position is used (a vanished object is judged where it was last seen)."""
    d = []
    for oid, g in gt_tracks(truth).items():
        q = parsed.tracks.get(oid)
        seen = np.flatnonzero(g[:, 2] > GT_SEEN)
        if q is None or not len(seen):
            continue
        f = seen[-1]
        found = np.flatnonzero(q[: f + 1, 3] > 0)
        if not len(found):
            continue
        d.append(float(np.linalg.norm(q[found[-1], :2] - g[f, :2])))
    return float(np.mean(d) / _diag(truth) * 100) if d else None


def motion_direction_accuracy(parsed, truth: dict) -> float | None:
    """Share of moving objects whose parsed net displacement points the ground truth's way along its
    dominant axis, with at least a quarter of its length."""
    gts, right = gt_tracks(truth), []
    for oid in dynamic_ids(truth):
        g, q = gts[oid], parsed.tracks.get(oid)
        seen = np.flatnonzero(g[:, 2] > GT_SEEN)
        if q is None or len(seen) < 2:
            continue
        dg = g[seen[-1], :2] - g[seen[0], :2]
        if np.linalg.norm(dg) < MOVING * _diag(truth):
            continue
        axis = 0 if abs(dg[0]) >= abs(dg[1]) else 1
        found = seen[q[seen, 3] > 0]
        dq = q[found[-1], :2] - q[found[0], :2] if len(found) >= 2 else np.zeros(2)
        right.append(float(np.sign(dq[axis]) == np.sign(dg[axis]) and abs(dq[axis]) >= 0.25 * abs(dg[axis])))
    return float(np.mean(right)) if right else None


register(Metric(
    "velocity_error",
    "Mean Euclidean difference between parsed and ground-truth image velocity, in pixels per frame: finite "
    "differences of centroids, pooled over objects and steps where the ground truth sees more than half the "
    "object at both ends and the parser finds it. Mirrors PhyWorld's velocity error (there in world units). "
    "Pass: at most 3x the ground-truth render's floor (a floor under 0.1 px/frame counts as 0.1).",
    higher_is_better=False, threshold=3.0, relative_to_floor=True, fn=velocity_error, resolution=0.1,
))
register(Metric(
    "trajectory_error",
    "Mean distance between parsed and ground-truth centroids, as % of the frame diagonal, over frames where "
    "the object is seen (ground-truth visible > 0.5) and found. Mirrors MotionCtrl's ObjMC and WorldScore's "
    "trajectory error. Pass: at most 3x the floor (at least 0.1%).",
    higher_is_better=False, threshold=3.0, relative_to_floor=True, fn=trajectory_error, resolution=0.1,
))
register(Metric(
    "trajectory_final",
    "Centroid distance at each object's last seen frame, as % of the frame diagonal (the last parsed position "
    "when the parser lost it earlier), averaged over objects. Mirrors the final displacement error of "
    "trajectory benchmarks (WorldScore). Pass: at most 3x the floor (at least 0.1%).",
    higher_is_better=False, threshold=3.0, relative_to_floor=True, fn=trajectory_final, resolution=0.1,
))
register(Metric(
    "motion_direction_accuracy",
    "Share of moving objects (ground-truth net image displacement over 5% of the diagonal) whose parsed net "
    "displacement has the same sign along the dominant axis (x, or y when vertical motion dominates) and at "
    "least a quarter of its length. Mirrors T2V-CompBench motion binding / VBench-2.0 motion direction. "
    "Pass: at least 0.9 of the floor.",
    higher_is_better=True, threshold=0.9, relative_to_floor=True, fn=motion_direction_accuracy,
))
