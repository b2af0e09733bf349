"""Attribute identity: colour fidelity (CIE ΔE), area stability and shape consistency over time, and
reference identity (a tagged subject against its reference image, across separately generated shots)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from kino.eval.metrics import GT_SEEN, Metric, gt_radius_px, gt_tracks, register

__all__ = [
    "lab", "delta_e", "color_series", "color_fidelity", "area_ratio", "area_stability", "shape_consistency",
    "identity_descriptor", "reference_descriptor", "reference_identity", "REFERENCE_IDENTITY",
]

FULL = 0.9  # ground-truth visible above this: the whole object is in view (area and shape are judged)
ROUND = 0.87  # hull circularity at or above this reads as round (a disc ≈ 0.95, a square ≈ 0.785)
MIN_SHAPE_AREA = 30  # px: smaller blobs have no reliable shape


def lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB 0..255 (..., 3) → CIE L*a*b* (..., 3) via OpenCV (D65)."""
    c = np.asarray(rgb, np.float32).reshape(-1, 1, 3) / 255.0
    return cv2.cvtColor(c, cv2.COLOR_RGB2Lab).reshape(np.shape(rgb))


def delta_e(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """CIE76 ΔE between sRGB colours (0..255)."""
    return np.linalg.norm(lab(a) - lab(b), axis=-1)


def _disk_color(frame: np.ndarray, x: float, y: float, r: float) -> np.ndarray:
    h, w = frame.shape[:2]
    ys, xs = np.ogrid[:h, :w]
    m = (xs + 0.5 - x) ** 2 + (ys + 0.5 - y) ** 2 <= max(r, 1.0) ** 2
    return np.median(frame[m].astype(np.float64), axis=0) if m.any() else np.full(3, np.nan)


def color_series(parsed, truth: dict) -> dict[int, np.ndarray]:
    """Object id -> (T,) ΔE of its colour (nan where the ground truth does not see it).

    Where the parser finds the object: the median colour of its pixels. Where it does not (its colour is
    gone — swapped, faded, painted over): the median colour of a disc of 0.6x its projected radius at its
    ground-truth place, so a wrong colour scores as wrong instead of disappearing from the average."""
    out = {}
    for o in truth["objects"]:
        g = gt_tracks(truth)[o["id"]]
        col = parsed.color.get(o["id"])
        T = len(g)
        de = np.full(T, np.nan)
        radius = None
        for f in np.flatnonzero(g[:, 2] > GT_SEEN):
            c = col[f] if col is not None else np.full(3, np.nan)
            if np.isnan(c).any():
                if radius is None:
                    radius = gt_radius_px(truth, o["id"])
                c = _disk_color(parsed.frames[f], g[f, 0], g[f, 1], 0.6 * radius[f])
            if not np.isnan(c).any():
                de[f] = float(delta_e(c, np.asarray(o["color_rgb"], np.float64)))
        out[o["id"]] = de
    return out


def color_fidelity(parsed, truth: dict) -> float | None:
    """Mean CIE76 ΔE between parsed object colours and their palette colours over seen object-frames."""
    v = np.concatenate([s[~np.isnan(s)] for s in color_series(parsed, truth).values()] or [np.zeros(0)])
    return float(v.mean()) if len(v) else None


def area_ratio(parsed, truth: dict) -> dict[int, np.ndarray]:
    """Object id -> (T,) parsed area / projected radius² (nan unless fully seen and found): constant for a
    faithful video, whatever zoom, dolly or depth do to the object's size."""
    out = {}
    for oid, g in gt_tracks(truth).items():
        q = parsed.tracks.get(oid)
        r = np.full(len(g), np.nan)
        if q is not None:
            ok = (g[:, 2] > FULL) & (q[:, 3] > 0)
            if ok.any():
                rad = gt_radius_px(truth, oid)
                r[ok] = q[ok, 2] / np.maximum(rad[ok], 1e-6) ** 2
        out[oid] = r
    return out


def area_stability(parsed, truth: dict) -> float | None:
    """Mean over objects of std / mean of the parsed-to-projected area ratio (objects with >= 4 judged frames)."""
    cv = []
    for r in area_ratio(parsed, truth).values():
        r = r[~np.isnan(r)]
        if len(r) >= 4 and r.mean() > 0:
            cv.append(float(r.std() / r.mean()))
    return float(np.mean(cv)) if cv else None


def shape_consistency(parsed, truth: dict) -> float | None:
    """Share of fully seen ball / box frames whose parsed hull circularity reads as the right shape."""
    gts, right = gt_tracks(truth), []
    for o in truth["objects"]:
        if o["kind"] not in ("ball", "box"):
            continue
        q, sh, g = parsed.tracks.get(o["id"]), parsed.shape.get(o["id"]), gts[o["id"]]
        if q is None or sh is None:
            continue
        ok = (g[:, 2] > FULL) & (q[:, 3] > 0) & (q[:, 2] >= MIN_SHAPE_AREA) & ~np.isnan(sh[:, 0])
        round_ = sh[ok, 0] >= ROUND
        right.extend((round_ if o["kind"] == "ball" else ~round_).tolist())
    return float(np.mean(right)) if right else None


register(Metric(
    "color_fidelity",
    "Mean CIE76 ΔE (L*a*b*, OpenCV D65) between each object's colour and its palette albedo, over object-frames "
    "the ground truth sees: the median colour of the parsed object's pixels, or — where the parser finds none of "
    "its colour — of a disc at its ground-truth place. Shading and light tint make the floor non-zero. Mirrors "
    "VBench subject consistency (attribute identity). Pass: at most 1.5x the floor (at least 2 ΔE).",
    higher_is_better=False, threshold=1.5, relative_to_floor=True, fn=color_fidelity, resolution=2.0,
))
register(Metric(
    "area_stability",
    "Coefficient of variation (std / mean) over time of each fully seen object's parsed pixel area divided by "
    "its projected radius² (focal x half size / depth, from the ground-truth camera), so zoom and depth changes "
    "cancel; averaged over objects. Mirrors VBench subject consistency / eval.md area ratio. Pass: at most 2x "
    "the floor (at least 0.01).",
    higher_is_better=False, threshold=2.0, relative_to_floor=True, fn=area_stability, resolution=0.01,
))
register(Metric(
    "shape_consistency",
    f"Share of fully seen ball and box frames (parsed area >= {MIN_SHAPE_AREA} px) whose convex-hull circularity "
    f"4πA/P² reads as the right shape: >= {ROUND} round for balls, below it for boxes; shape flips over time "
    "lower it. Mirrors VBench subject consistency (shape identity). Pass: at least 0.9 of the floor.",
    higher_is_better=True, threshold=0.9, relative_to_floor=True, fn=shape_consistency,
))


# ------------------------------------------------------------------------------------------- reference identity
REFERENCE_IDENTITY = (
    "reference_identity: for each tagged subject (a reference image of one ground-truth object, e.g. a crop from "
    "an earlier shot by kino.world.controls.reference_crops), the histogram intersection (0..1) of two descriptors "
    "of its pixels — colour, a 6x6 histogram of CIE a*b* chroma, and pattern, a 6-bin histogram of L* (a stripe or "
    "dot second tone makes it bimodal) — between the reference (a disc of 0.8x the object's half size at its mask "
    "centroid) and the generated clip (the same disc at the object's ground-truth place and projected size, in "
    "every frame where the ground truth sees it whole), averaged over frames and subjects. `swaps` counts pairs "
    "of tagged subjects whose descriptors match each other's place better than their own in most jointly seen "
    "frames (an identity swap: the hero painted in the villain's colours and vice versa). Shape is judged by "
    "shape_consistency. Floor: the ground-truth render of the shot (swaps 0); higher similarity is better. "
    "Mirrors the identity similarity of references across shots in controls.md (Phantom / OpenS2V's subject "
    "consistency, with exact pixels instead of a learned embedding)."
)
_AB_EDGES = np.linspace(-80, 80, 7)
_L_EDGES = np.linspace(0, 100, 7)
DISC = 0.8  # the sampled disc's radius as a share of the object's half size: inside it, away from its outline


def identity_descriptor(pixels: np.ndarray) -> np.ndarray | None:
    """(N, 3) sRGB 0..255 → colour (a*b*, 36 bins) and pattern (L*, 6 bins) histograms, each summing to 0.5."""
    if len(pixels) < 4:
        return None
    c = lab(np.asarray(pixels, np.float64).reshape(-1, 3))
    ab = np.histogram2d(np.clip(c[:, 1], -79.9, 79.9), np.clip(c[:, 2], -79.9, 79.9), bins=(_AB_EDGES, _AB_EDGES))[0].ravel()
    lum = np.histogram(np.clip(c[:, 0], 0, 99.9), bins=_L_EDGES)[0].astype(np.float64)
    return np.concatenate([0.5 * ab / ab.sum(), 0.5 * lum / lum.sum()])


def _disc_pixels(image: np.ndarray, x: float, y: float, r: float) -> np.ndarray:
    h, w = image.shape[:2]
    ys, xs = np.ogrid[:h, :w]
    return image[(xs + 0.5 - x) ** 2 + (ys + 0.5 - y) ** 2 <= max(r, 1.0) ** 2]


def reference_descriptor(ref: dict) -> np.ndarray | None:
    """A reference {"image", "mask"?}: the disc at its mask's centroid (or, without a mask, the centre of a crop
    padded by reference_crops' 15% a side); {"descriptor"}: that, computed earlier (a truth JSON keeps it)."""
    if "descriptor" in ref:
        return None if ref["descriptor"] is None else np.asarray(ref["descriptor"], np.float64)
    img = np.asarray(ref["image"])
    mask = ref.get("mask")
    if mask is not None and np.any(mask):
        ys, xs = np.nonzero(mask)
        x, y = xs.mean() + 0.5, ys.mean() + 0.5
        half = min(np.ptp(xs) + 1, np.ptp(ys) + 1) / 2
    else:
        x, y = img.shape[1] / 2, img.shape[0] / 2
        half = min(img.shape[:2]) / 2 / 1.3
    return identity_descriptor(_disc_pixels(img, x, y, DISC * half))


def reference_identity(frames: np.ndarray, truth: dict, references: dict[str, dict]) -> dict:
    """Similarity of each tagged subject to its reference, and identity swaps between subjects (see REFERENCE_IDENTITY).

    references: tag -> {"object": ground-truth id, "image": (h, w, 3) uint8, "mask": optional (h, w) bool}
    (or {"object", "descriptor"}: see reference_descriptor).
    Returns {"similarity": mean over subjects or None, "subjects": {tag: similarity or None}, "swaps": int}."""
    tracks = gt_tracks(truth)
    per: dict[str, np.ndarray] = {}  # tag -> (T,) similarity at its own place (nan: not judged)
    cross: dict[tuple[str, str], np.ndarray] = {}  # (tag a, tag b) -> (T,) a's reference at b's place
    descs = {tag: reference_descriptor(ref) for tag, ref in references.items()}
    places = {}
    for tag, ref in references.items():
        oid = ref["object"]
        if oid not in tracks:
            raise KeyError(f"references[{tag!r}].object: {oid} is not an object of this clip")
        g, rad = tracks[oid], gt_radius_px(truth, oid)
        places[tag] = [(g[f, 0], g[f, 1], DISC * rad[f]) if g[f, 2] > FULL and rad[f] >= 2 else None for f in range(len(frames))]
    gen = {tag: [identity_descriptor(_disc_pixels(frames[f], *p)) if p else None for f, p in enumerate(pl)] for tag, pl in places.items()}

    def sim(a: np.ndarray | None, b: np.ndarray | None) -> float:
        return float(np.minimum(a, b).sum()) if a is not None and b is not None else math.nan

    for tag in references:
        per[tag] = np.array([sim(descs[tag], d) for d in gen[tag]])
        for other in references:
            if other != tag:
                cross[tag, other] = np.array([sim(descs[tag], d) for d in gen[other]])
    subjects = {tag: float(np.nanmean(v)) if np.isfinite(v).any() else None for tag, v in per.items()}
    tags, swaps = list(references), 0
    for i, a in enumerate(tags):
        for b in tags[i + 1 :]:
            own, swapped = per[a] + per[b], cross[a, b] + cross[b, a]
            ok = np.isfinite(own) & np.isfinite(swapped)
            swaps += int(ok.any() and (swapped[ok] > own[ok]).mean() > 0.5)
    seen = [v for v in subjects.values() if v is not None]
    return {"similarity": float(np.mean(seen)) if seen else None, "subjects": subjects, "swaps": swaps}


# the two registered metrics: cases whose truth JSON carries "references" (the controls suite's reference cases,
# kino.eval.suites: {tag: {"object", "descriptor", ...}}); every other clip is not applicable (None)
REFERENCE_PASS = 0.85  # similarity at least this share of the floor: a striped hero (0.71x) or a recoloured one (0.39x) fails


def reference_similarity(parsed, truth: dict) -> float | None:
    """reference_identity's mean similarity over the tagged subjects (None: no references, or none seen whole)."""
    refs = truth.get("references")
    return reference_identity(parsed.frames, truth, refs)["similarity"] if refs else None


def reference_swaps(parsed, truth: dict) -> float | None:
    """reference_identity's swap count (None: fewer than two tagged subjects)."""
    refs = truth.get("references")
    return float(reference_identity(parsed.frames, truth, refs)["swaps"]) if refs and len(refs) >= 2 else None


register(Metric(
    "reference_identity",
    REFERENCE_IDENTITY.removeprefix("reference_identity: ") + f" Pass: at least {REFERENCE_PASS} of the floor. Applies only "
    "to clips with tagged reference images.",
    higher_is_better=True, threshold=REFERENCE_PASS, relative_to_floor=True, fn=reference_similarity,
))
register(Metric(
    "reference_swaps",
    "Identity swaps per clip with two or more tagged reference subjects: pairs whose reference descriptors "
    "(reference_identity's colour and pattern histograms) match each other's ground-truth place better than "
    "their own in most jointly seen frames: the hero painted in the villain's look and vice versa, which a mean "
    "similarity can hide. Pass: no more than the floor (the ground truth has none).",
    higher_is_better=False, threshold=1.0, relative_to_floor=True, fn=reference_swaps,
))
