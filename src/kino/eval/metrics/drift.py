"""Drift under Extend: how fast identity, size, permanence and velocity errors grow over a long clip.

Each per-frame error series is averaged per 1-second window; a least-squares line through the window means
gives the slope, reported per 10 seconds. Applicable to clips of at least 8 s (VBench-Long's concern).
"""

from __future__ import annotations

import numpy as np

from kino.eval.metrics import Metric, register
from kino.eval.metrics.identity import area_ratio, color_series
from kino.eval.metrics.motion import velocity_error_series
from kino.eval.metrics.permanence import permanence_series

__all__ = ["MIN_SECONDS", "drift_slope", "window_means"]

MIN_SECONDS = 8.0
WINDOW = 1.0  # seconds


def window_means(series: np.ndarray, fps: float, window: float = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """(centre times in s, nan-mean of each full window) of a per-frame series; empty windows are dropped."""
    n = max(1, int(round(window * fps)))
    t, m = [], []
    for s in range(0, len(series) - n + 1, n):
        w = series[s:s + n]
        w = w[~np.isnan(w)]
        if len(w):
            t.append((s + n / 2) / fps)
            m.append(float(w.mean()))
    return np.asarray(t), np.asarray(m)


def drift_slope(series: np.ndarray, fps: float, per: float = 10.0) -> float | None:
    """Slope of a per-frame series' 1-second window means, in units per `per` seconds (None: < 3 windows)."""
    t, m = window_means(np.asarray(series, np.float64), fps)
    if len(t) < 3:
        return None
    return float(np.polyfit(t, m, 1)[0] * per)


def _long(parsed, truth: dict) -> bool:
    return len(parsed.frames) / parsed.fps >= MIN_SECONDS - 1e-9


def _mean_over(series: dict[int, np.ndarray], T: int) -> np.ndarray:
    if not series:
        return np.full(T, np.nan)
    s = np.stack(list(series.values()))
    cnt = (~np.isnan(s)).sum(axis=0)
    return np.where(cnt > 0, np.nansum(s, axis=0) / np.maximum(cnt, 1), np.nan)


def drift_color(parsed, truth: dict) -> float | None:
    """Slope of the colour ΔE per 10 s."""
    if not _long(parsed, truth):
        return None
    return drift_slope(_mean_over(color_series(parsed, truth), len(parsed.frames)), parsed.fps)


def drift_area(parsed, truth: dict) -> float | None:
    """Slope per 10 s of |log(area ratio / its first-second median)|, averaged over objects."""
    if not _long(parsed, truth):
        return None
    n = max(1, int(round(WINDOW * parsed.fps)))
    dev = {}
    for oid, r in area_ratio(parsed, truth).items():
        head = r[:n][~np.isnan(r[:n])]
        if len(head) and head.mean() > 0:
            with np.errstate(divide="ignore", invalid="ignore"):
                dev[oid] = np.abs(np.log(r / np.median(head)))
    return drift_slope(_mean_over(dev, len(parsed.frames)), parsed.fps)


def drift_permanence(parsed, truth: dict) -> float | None:
    """Slope per 10 s of the permanence error (1 - per-frame permanence accuracy)."""
    if not _long(parsed, truth):
        return None
    return drift_slope(1.0 - permanence_series(parsed, truth), parsed.fps)


def drift_velocity(parsed, truth: dict) -> float | None:
    """Slope per 10 s of the per-step velocity error (px/frame)."""
    if not _long(parsed, truth):
        return None
    return drift_slope(velocity_error_series(parsed, truth), parsed.fps)


_COMMON = ("averaged per 1-second window, with the least-squares slope over the windows reported per 10 s; "
           f"only for clips of at least {MIN_SECONDS:g} s. Mirrors VBench-Long's drift over extended generation.")
register(Metric(
    "drift_color",
    "Growth of colour error under Extend: the per-frame mean colour ΔE of color_fidelity, " + _COMMON
    + " Pass: at most 2 ΔE per 10 s absolute.",
    higher_is_better=False, threshold=2.0, relative_to_floor=False, fn=drift_color,
))
register(Metric(
    "drift_area",
    "Growth of size error under Extend: per object |log(area ratio / its first-second median)| (area ratio as "
    "in area_stability, so zoom and depth cancel), averaged over objects, " + _COMMON
    + " Pass: at most 0.1 per 10 s absolute (about 10% of size).",
    higher_is_better=False, threshold=0.1, relative_to_floor=False, fn=drift_area,
))
register(Metric(
    "drift_permanence",
    "Growth of permanence error under Extend: 1 - the per-frame object_permanence accuracy, " + _COMMON
    + " Pass: at most 0.05 per 10 s absolute.",
    higher_is_better=False, threshold=0.05, relative_to_floor=False, fn=drift_permanence,
))
register(Metric(
    "drift_velocity",
    "Growth of velocity error under Extend: the per-step velocity error (px/frame) of velocity_error, "
    + _COMMON + " Pass: at most 0.5 px/frame per 10 s absolute.",
    higher_is_better=False, threshold=0.5, relative_to_floor=False, fn=drift_velocity,
))
