"""Distribution distance on state-space features: a set-level Fréchet distance with a real-vs-real floor.

Each clip becomes a fixed vector of `FEATURES` read from its parsed state (no learned encoder): how many
objects are present, a histogram of object speeds, mean and spread of centroid speed, acceleration, a
coarse colour histogram of the pixels and the background (camera) motion. `frechet_state(gen, ref)` is the
Fréchet distance between Gaussians fitted to two sets of vectors (FVD's formula on exact state features,
as FVMD does with motion features); never compare it with published FVD numbers.

The runner scores a suite once: the generated clips against a *reference* set of ground-truth clips of
other scenes (same split, sizes and lengths), and — the floor — the suite's own ground-truth renders against
the same reference set (two disjoint real sets). Same set sizes on both sides, so the two numbers compare.
`frechet_ci` gives percentile bootstrap intervals (both sets resampled with replacement).
"""

from __future__ import annotations

import numpy as np

from kino.eval.metrics import Metric

__all__ = ["FEATURES", "FRECHET", "state_features", "frechet_state", "frechet_ci"]

FEATURE_CLIP = 50.0
_SPEED_BINS = (0.0, 0.1, 0.3, 0.7, 1.5, 3.0, np.inf)  # % of the frame diagonal per frame
FEATURES = (
    ("present_objects", "mean objects present per frame / 4"),
    ("found_objects", "objects present in >= 3 frames / 4"),
    *((f"speed_bin_{i}", f"share of object-frame speeds in [{_SPEED_BINS[i]}, {_SPEED_BINS[i + 1]}) % diag/frame") for i in range(6)),
    ("speed_mean", "mean object speed, % diag/frame / 3"),
    ("speed_std", "std of object speed, % diag/frame / 3"),
    ("abs_vx", "mean |horizontal velocity|, % diag/frame / 3"),
    ("abs_vy", "mean |vertical velocity|, % diag/frame / 3"),
    ("accel", "mean |acceleration|, % diag/frame^2"),
    *((f"rgb_{i}", f"share of pixels in RGB octant {i} (R,G,B halves)") for i in range(8)),
    ("cam_dx", "mean |background shift x|, % diag/frame"),
    ("cam_dy", "mean |background shift y|, % diag/frame"),
    ("cam_scale", "mean |log scale| x 100 per frame"),
    ("cam_rot", "mean |rotation|, degrees per frame"),
)

FRECHET = Metric(
    "state_frechet",
    "Fréchet distance between Gaussians fitted to per-clip state features (object counts, speed histogram, speed "
    "mean/spread, acceleration, RGB-octant colour histogram, background motion) of the generated clips and of a "
    "disjoint reference set of ground-truth clips; floor: the suite's own ground truth against the same reference "
    "(real vs real). Set-level, with bootstrap CIs. Mirrors FVD/FVMD; not comparable with published FVD.",
    higher_is_better=False, threshold=2.0, relative_to_floor=True, fn=lambda parsed, truth: None)


def state_features(parsed) -> np.ndarray:
    """The feature vector (len(FEATURES),) of one parsed clip."""
    frames = np.asarray(parsed.frames)
    T, H, W = frames.shape[:3]
    diag = float(np.hypot(W, H))
    tracks = [np.asarray(t, dtype=np.float64) for t in parsed.tracks.values()]
    present = np.stack([t[:, 3] > 0.5 for t in tracks]) if tracks else np.zeros((0, T), bool)
    speeds, vx, vy, acc = [], [], [], []
    for t, p in zip(tracks, present, strict=True):
        both = p[1:] & p[:-1]
        v = np.diff(t[:, :2], axis=0) / diag * 100.0
        speeds.append(np.linalg.norm(v[both], axis=1))
        vx.append(np.abs(v[both, 0]))
        vy.append(np.abs(v[both, 1]))
        three = both[1:] & both[:-1]
        acc.append(np.linalg.norm(np.diff(v, axis=0)[three], axis=1))
    s, ax, ay, ac = (np.concatenate(xs) if xs else np.zeros(0) for xs in (speeds, vx, vy, acc))
    hist = np.histogram(s, bins=_SPEED_BINS)[0] / max(len(s), 1)
    sub = frames[:: max(1, T // 8), ::4, ::4].reshape(-1, 3) >= 128
    octant = np.bincount(sub[:, 0] * 4 + sub[:, 1] * 2 + sub[:, 2], minlength=8) / max(len(sub), 1)
    cam = np.abs(np.asarray(parsed.camera, dtype=np.float64).reshape(-1, 4))
    cam_m = cam.mean(0) if len(cam) else np.zeros(4)
    out = [
        present.sum(0).mean() / 4 if present.size else 0.0,
        (present.sum(1) >= min(3, T)).sum() / 4,
        *hist,
        _mean(s) / 3, (float(s.std()) if s.size else 0.0) / 3, _mean(ax) / 3, _mean(ay) / 3, _mean(ac),
        *octant,
        cam_m[0] / diag * 100, cam_m[1] / diag * 100, cam_m[2] * 100, np.degrees(cam_m[3]),
    ]
    # clipped: one diverged estimate (a camera fit on noise) must not be the whole distance
    return np.clip(np.nan_to_num(np.asarray(out, dtype=np.float64), nan=0.0, posinf=FEATURE_CLIP, neginf=-FEATURE_CLIP), -FEATURE_CLIP, FEATURE_CLIP)


def _mean(a: np.ndarray) -> float:
    return float(a.mean()) if a.size else 0.0


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    mu = x.mean(0)
    cov = np.cov(x, rowvar=False) if len(x) > 1 else np.zeros((x.shape[1], x.shape[1]))
    return mu, np.atleast_2d(cov)


def _psd_sqrt(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_state(gen_features: np.ndarray, ref_features: np.ndarray) -> float:
    """||mu_g - mu_r||^2 + Tr(S_g + S_r - 2 (S_g S_r)^1/2) between two sets of feature rows (N, D)."""
    g, r = np.atleast_2d(gen_features), np.atleast_2d(ref_features)
    if g.shape[1] != r.shape[1] or not len(g) or not len(r):
        raise ValueError(f"features: need two non-empty sets of the same width, got {g.shape} and {r.shape}")
    mg, sg = _stats(g)
    mr, sr = _stats(r)
    root = _psd_sqrt(sg)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root @ sr @ root), 0, None)).sum()
    return float(max(0.0, ((mg - mr) ** 2).sum() + np.trace(sg) + np.trace(sr) - 2 * cross))


def frechet_ci(gen_features: np.ndarray, ref_features: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of `frechet_state` (both sets resampled with replacement)."""
    g, r = np.atleast_2d(gen_features), np.atleast_2d(ref_features)
    rng = np.random.default_rng(seed)
    vals = [frechet_state(g[rng.integers(0, len(g), len(g))], r[rng.integers(0, len(r), len(r))]) for _ in range(n_boot)]
    lo, hi = np.quantile(vals, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)
