"""Object permanence: found where the ground truth sees it, gone where it is hidden, counted right.

A frame is judged only where the ground truth is clear: visible > 0.5 (should be found) or < 0.02 (fully
occluded or out of frame: should not be). In between (partly hidden) is not scored.
"""

from __future__ import annotations

import numpy as np

from kino.eval.metrics import GT_HIDDEN, GT_SEEN, Metric, gt_tracks, register, true_runs

__all__ = ["object_permanence", "permanence_series", "unexplained_vanish", "count_accuracy"]

MIN_RUN = 2  # frames: a vanish or appearance shorter than this is parser noise, not an event


def _states(parsed, truth: dict):
    for oid, g in gt_tracks(truth).items():
        q = parsed.tracks.get(oid)
        found = q[:, 3] > 0 if q is not None else np.zeros(len(g), bool)
        yield oid, g[:, 2] > GT_SEEN, g[:, 2] < GT_HIDDEN, found


def permanence_series(parsed, truth: dict) -> np.ndarray:
    """(T,) share of judged objects whose found / not-found state matches the ground truth; nan if none."""
    T = len(parsed.frames)
    right, judged = np.zeros(T), np.zeros(T)
    for _, seen, hidden, found in _states(parsed, truth):
        right += (seen & found) | (hidden & ~found)
        judged += seen | hidden
    with np.errstate(invalid="ignore"):
        return np.where(judged > 0, right / np.maximum(judged, 1), np.nan)


def object_permanence(parsed, truth: dict) -> float | None:
    """Accuracy over judged object-frames: found when seen, absent when fully hidden or out of frame."""
    right = judged = 0
    for _, seen, hidden, found in _states(parsed, truth):
        right += int(((seen & found) | (hidden & ~found)).sum())
        judged += int((seen | hidden).sum())
    return right / judged if judged else None


def unexplained_vanish(parsed, truth: dict) -> float:
    """Disappearances (runs of >= 2 frames not found while seen, after being found) plus appearances (runs of
    >= 2 frames found while fully hidden or out of frame), per clip."""
    n = 0
    for _, seen, hidden, found in _states(parsed, truth):
        for s, e in true_runs(seen & ~found):
            if e - s + 1 >= MIN_RUN and found[:s].any():
                n += 1
        for s, e in true_runs(hidden & found):
            if e - s + 1 >= MIN_RUN:
                n += 1
    return float(n)


def count_accuracy(parsed, truth: dict) -> float | None:
    """Share of (frame, colour) cells where the parsed component count equals the ground-truth visible count;
    cells with a partly hidden object of that colour are not judged."""
    by_color: dict[str, list[np.ndarray]] = {}
    for o in truth["objects"]:
        by_color.setdefault(o["color"], []).append(np.asarray(o["track"], np.float64)[:, 2])
    right = judged = 0
    for color, vis in by_color.items():
        counts = parsed.counts.get(color)
        if counts is None:
            continue
        v = np.stack(vis)  # (objects, T)
        clear = ((v > GT_SEEN) | (v < GT_HIDDEN)).all(axis=0)
        want = (v > GT_SEEN).sum(axis=0)
        right += int((clear & (counts == want)).sum())
        judged += int(clear.sum())
    return right / judged if judged else None


register(Metric(
    "object_permanence",
    "Accuracy over object-frames the ground truth is clear about: the parser finds the object where ground-truth "
    "visible > 0.5, and finds nothing of it where visible < 0.02 (fully occluded or out of frame). Mirrors "
    "VBench-2.0 instance preservation and IntPhys 2 permanence. Pass: at least 0.95 of the floor.",
    higher_is_better=True, threshold=0.95, relative_to_floor=True, fn=object_permanence,
))
register(Metric(
    "unexplained_vanish",
    "Count per clip of unexplained disappearances (an object found earlier goes unfound for >= 2 frames while "
    "the ground truth sees more than half of it) and appearances (found for >= 2 frames while the ground truth "
    "has it fully hidden or out of frame). Mirrors IntPhys 2 / VBench-2.0 unexplained (dis)appearances. Pass: "
    "at most the floor + 0.5, i.e. threshold 0.5 absolute above a floor of 0.",
    higher_is_better=False, threshold=0.5, relative_to_floor=False, fn=unexplained_vanish,
))
register(Metric(
    "count_accuracy",
    "Share of (frame, colour) cells where the number of parsed connected components of that palette colour "
    "(above the parser's minimum area, after a 3x3 closing) equals the number of objects of that colour the "
    "ground truth sees (visible > 0.5); cells with a partly hidden object are skipped. Mirrors VBench-2.0 "
    "instance preservation / T2V-CompBench numeracy. Pass: at least 0.9 of the floor.",
    higher_is_better=True, threshold=0.9, relative_to_floor=True, fn=count_accuracy,
))
