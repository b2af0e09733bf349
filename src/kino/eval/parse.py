"""Read Kino World state back out of pixels: object tracks, background camera motion, optical flow.

The parser uses the ground truth only for *what* to look for — each object's id, kind and palette colour,
the characters' clothing, and the scene's look (style, light tint, backdrop, floor) — never for *where*
anything is. Pipeline (design/eval.md "The pattern"):

1. Colour key. Every distinct pixel colour is classified by its nearest *prototype* in a shading-robust
   space (x, y) = saturation · (cos hue, sin hue), z = 0.6 · value. Object prototypes are each palette
   colour and its pattern second tone, at several brightness levels (Lambert shading, flat-style outlines)
   and tinted by the scene light; background prototypes are the scene's backdrop and floor tones, plain
   and shadowed; characters' clothing and skin, and foreign saturated palette colours, are OTHER. Shading
   scales RGB, which keeps hue and saturation, so a shaded ball stays near its own prototypes while muted
   backgrounds stay near theirs. An object colour must beat the nearest background tone by a margin. Greys
   that only a black or white object explains (its pattern's second tone, shaded white) are *weak*: kept
   only where connected to that object's unambiguous pixels.
2. Connected components (cv2.connectedComponentsWithStats) per object colour; each object takes the
   component nearest its predicted position (largest when it has no recent position), plus close
   fragments of the same colour (an object split by an occluder). Characters are keyed by their shirt and
   tracked first; a component of a colour they wear (trousers, hat, hair) on their body is clothing, not
   the ball or box of that colour.
3. Camera: a direct, coarse-to-fine similarity alignment of consecutive grey frames over background pixels
   (away from keyed things and the floor below them, where their shadows fall), about the image centre.
4. Flow (on request, or lazily via `flow_of`): OpenCV DIS optical flow on grey frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from kino.world.palette import BACKDROPS, COLORS, FLOORS, LIGHTS, SKIN_TONES
from kino.world.raster import second_tone

__all__ = ["Parsed", "parse_video", "flow_of", "classify_pixels", "BACKGROUND", "OTHER"]

BACKGROUND, OTHER = -1, -2  # label values: backdrop/floor, and colours that are no object of this scene
WEAK = 64  # classify_pixels: colour index + WEAK = a grey second tone of a black/white object (ambiguous)
V_WEIGHT = 0.6  # weight of brightness against chromaticity in the key space
LEVELS = (1.0, 0.7, 0.45, 0.25, 0.12)  # object brightness levels: lit, shaded, ambient, outline, contrast shadow
BG_LEVELS = (1.0, 0.8, 0.6, 0.4)  # backdrop and floor: plain and under soft / hard shadows
MAX_KEY_DIST = 0.3  # farther than this from every prototype: not keyed at all
GROW = 6  # px: how far weak (grey) pixels may extend a black or white object
MARGIN = 0.7  # an object colour must be this much nearer than the nearest background tone
PRIOR = 0.001  # camera alignment: weight of the "no motion" prior, as a share of background pixels


@dataclass
class Parsed:
    """What the parser read from a video: object tracks, background camera motion and (optional) flow."""

    frames: np.ndarray  # (T, H, W, 3) uint8, the video that was parsed
    fps: float
    tracks: dict[int, np.ndarray]  # object id -> (T, 4) [x, y, area_px, present 0/1], read from pixels
    camera: np.ndarray  # (T-1, 4) frame-to-frame background motion [dx, dy, log_scale, rotation_rad]
    flow: np.ndarray | None = None  # (T-1, H, W, 2) classical optical flow (DIS), when asked for
    colors: list[str] = field(default_factory=list)  # the scene's object colour names, indexed by `labels`
    labels: np.ndarray | None = None  # (T, H, W) int8: index into `colors`, BACKGROUND or OTHER
    color: dict[int, np.ndarray] = field(default_factory=dict)  # id -> (T, 3) median RGB of its pixels (nan: absent)
    shape: dict[int, np.ndarray] = field(default_factory=dict)  # id -> (T, 3) [hull circularity, bbox w, bbox h]
    counts: dict[str, np.ndarray] = field(default_factory=dict)  # colour -> (T,) components of that colour
    min_area: float = 3.0  # px: smaller components are noise


# ------------------------------------------------------------------------------------------- colour key
def _key_space(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) RGB 0..255 → (N, 3) key coordinates: chromaticity plane plus weighted value."""
    c = np.asarray(rgb, np.float64) / 255.0
    v = c.max(axis=-1)
    chroma = v - c.min(axis=-1)
    s = np.where(v > 1e-6, chroma / np.maximum(v, 1e-6), 0.0)
    hsv = cv2.cvtColor(c.reshape(-1, 1, 3).astype(np.float32), cv2.COLOR_RGB2HSV).reshape(-1, 3)
    h = np.radians(hsv[:, 0].astype(np.float64))
    return np.stack([s * np.cos(h), s * np.sin(h), V_WEIGHT * v], axis=-1)


def _second_tone(c: np.ndarray) -> np.ndarray:
    """The pattern's second tone, in 0-255 (the renderer's own rule)."""
    return second_tone(tuple(np.asarray(c, float) / 255)) * 255


def _prototypes(truth: dict) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Key-space prototypes (P, 3), their labels (P,) and the scene's object colour names."""
    scene = truth.get("scene", {})
    look = scene.get("look", {})
    style = look.get("style", "shaded")
    tint = np.asarray(LIGHTS.get(look.get("light", "white"), (1.0, 1.0, 1.0))) if style != "flat" else np.ones(3)
    colors = sorted({o["color"] for o in truth["objects"]})
    patterned = {o["color"] for o in truth["objects"] if o.get("pattern", "solid") != "solid"}
    scenery = {o["color"] for o in truth["objects"] if o.get("static")}  # big flat faces: one uniform shade
    # colours worn by characters (and their skin) are keyed as OTHER so they are neither objects nor backdrop
    worn = {v for o in truth["objects"] if o["kind"] == "character" for k, v in (o.get("identity") or {}).items()
            if k in ("skin", "hair", "trousers", "hat") and isinstance(v, str)}
    pts, labs = [], []
    for name, rgb in list(COLORS.items()) + list(SKIN_TONES.items()):
        lab = colors.index(name) if name in colors else OTHER
        base = np.asarray(rgb, np.float64)
        if lab == OTHER:
            # clothing and skin: their own (solid) tones. A foreign palette colour: only its saturated primary
            # (a wrong-coloured object is OTHER, not some nearby scene colour), never its greys or second tones,
            # which look like floors and backdrops
            if name not in worn and (name in ("black", "white", "brown") or name in SKIN_TONES):
                continue
            for lv in LEVELS if name in worn else LEVELS[:3]:
                pts.append(np.clip(base * tint * lv, 0, 255))
                labs.append(OTHER)
            continue
        tones = [(base, lab)]
        if name not in ("black", "white"):
            tones.append((_second_tone(base), lab))
        elif name in patterned:
            tones.append((_second_tone(base), lab + WEAK))
        for tone, tl in tones:
            for lv in (1.0, 0.85) + LEVELS[1:] if name == "white" else LEVELS:
                c = np.clip(tone * tint * lv, 0, 255)
                pts.append(c)
                if name == "white" and lv < 0.85 and lab >= 0 and name not in scenery:
                    tl = lab + WEAK  # shaded white is a mid grey, like much of the backdrop: only beside bright white
                labs.append(lab if c.max() < 64 else tl)  # a dark grey is as black as the black itself
    bds = [BACKDROPS[look["backdrop"]]] if look.get("backdrop") in BACKDROPS else list(BACKDROPS.values())
    fls = [FLOORS[look["floor"]]] if look.get("floor") in FLOORS else list(FLOORS.values())
    bg = []
    for bd in bds:
        top, hor = np.asarray(bd["top"], np.float64), np.asarray(bd["horizon"], np.float64)
        bg += [hor + (top - hor) * k for k in (0.0, 0.25, 0.5, 0.75, 1.0)] + [hor * 0.8]
    for a, b in fls:
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        bg += [a, b, (a + b) / 2]
        for bd in bds:  # fog toward the horizon colour
            bg.append((a + b) / 4 + np.asarray(bd["horizon"], np.float64) / 2)
    for c in bg:
        for lv in BG_LEVELS:
            pts.append(c * lv)
            labs.append(BACKGROUND)
    return _key_space(np.stack(pts)), np.asarray(labs, np.int64), colors


def classify_pixels(frames: np.ndarray, truth: dict) -> tuple[np.ndarray, list[str]]:
    """(T, H, W) int8 labels — index into the scene's colour names, BACKGROUND or OTHER — and those names."""
    frames = np.asarray(frames, np.uint8)
    protos, plabs, colors = _prototypes(truth)
    flat = frames.reshape(-1, 3)
    packed = (flat[:, 0].astype(np.int32) << 16) | (flat[:, 1].astype(np.int32) << 8) | flat[:, 2]
    uniq, inv = np.unique(packed, return_inverse=True)  # classify each distinct colour once
    rgb = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], axis=-1)
    key = _key_space(rgb)
    out = np.empty(len(uniq), np.int8)
    isbg = plabs == BACKGROUND
    for s in range(0, len(uniq), 16384):
        d = ((key[s:s + 16384, None, :] - protos[None]) ** 2).sum(-1)
        j = d.argmin(1)
        lab = plabs[j]
        best = d[np.arange(len(j)), j]
        far = best > MAX_KEY_DIST**2
        # an object colour must win clearly: a pixel about as near a background tone (white vs haze) is background
        near_bg = best > MARGIN**2 * d[:, isbg].min(1)
        lab = np.where(far & (lab != BACKGROUND), OTHER, lab)
        out[s:s + 16384] = np.where(near_bg & (lab >= 0), BACKGROUND, lab)  # weak greys too
    labels = out[inv.ravel()].reshape(frames.shape[:3])
    # a weak (grey) pixel belongs to its black/white object only if connected to that object's own pixels
    # within GROW steps (geodesic dilation), e.g. the shaded half of a white ball next to its lit half
    kernel = np.ones((3, 3), np.uint8)
    for ci in np.unique(labels[labels >= WEAK]) - WEAK:
        for f in range(len(labels)):
            weak = labels[f] == ci + WEAK
            if weak.any():
                allowed = (weak | (labels[f] == ci)).astype(np.uint8)
                grown = (labels[f] == ci).astype(np.uint8)
                for _ in range(GROW):
                    grown = cv2.dilate(grown, kernel) & allowed
                labels[f][weak] = np.where(grown[weak] > 0, ci, BACKGROUND)
    return labels, colors


# ------------------------------------------------------------------------------------------- objects
def _hull_circularity(mask: np.ndarray) -> float:
    """4πA/P² of the convex hull of a binary mask: a disc ≈ 1, a square ≈ 0.785 (nan when too small)."""
    pts = cv2.findNonZero(mask.astype(np.uint8))
    if pts is None or len(pts) < 5:
        return float("nan")
    # hull of pixel corners, so a one-pixel-wide shape still has an area
    corners = (pts.reshape(-1, 1, 2) + np.array([[[0, 0]], [[1, 0]], [[0, 1]], [[1, 1]]]).reshape(1, 4, 2)).reshape(-1, 1, 2)
    hull = cv2.convexHull(corners.astype(np.float32))
    area, per = cv2.contourArea(hull), cv2.arcLength(hull, True)
    return float(4 * math.pi * area / (per * per)) if per > 0 else float("nan")


def _pick(stats: np.ndarray, cents: np.ndarray, keep: np.ndarray, predicted: np.ndarray | None, diag: float) -> list[int]:
    """Component indices (into stats) that make up one object: an anchor plus close same-colour fragments."""
    areas = stats[keep, cv2.CC_STAT_AREA].astype(np.float64)
    idx = np.flatnonzero(keep)
    if predicted is None:
        anchor = idx[int(areas.argmax())]
    else:
        big = areas >= 0.2 * areas.max()
        d = np.linalg.norm(cents[idx] - predicted, axis=1) + np.where(big, 0.0, diag)
        anchor = idx[int(d.argmin())]
    a0 = stats[anchor, cv2.CC_STAT_AREA]
    out = [anchor]
    for j in idx:
        if j == anchor:
            continue
        aj = stats[j, cv2.CC_STAT_AREA]
        if aj >= 0.2 * a0 and np.linalg.norm(cents[j] - cents[anchor]) <= 1.2 * (math.sqrt(a0) + math.sqrt(aj)):
            out.append(j)
    return out


def _track_objects(frames: np.ndarray, labels: np.ndarray, truth: dict, colors: list[str], min_area: float):
    """Per object (T, 4) tracks, (T, 3) median colours, (T, 3) shape stats; per colour (T,) component counts."""
    T, H, W = labels.shape
    diag = math.hypot(W, H)
    objs = truth["objects"]
    tracks = {o["id"]: np.zeros((T, 4)) for o in objs}
    color = {o["id"]: np.full((T, 3), np.nan) for o in objs}
    shape = {o["id"]: np.full((T, 3), np.nan) for o in objs}
    counts = {c: np.zeros(T, np.int64) for c in colors}
    by_color: dict[int, list[int]] = {}
    for o in objs:
        by_color.setdefault(colors.index(o["color"]), []).append(o["id"])
    # characters first: their clothing (trousers, hat, hair) may share a colour with a ball or box, and a
    # component of that colour on a character's body is clothing, not the object
    clothing: dict[int, list[int]] = {}  # character id -> colour indices of its other garments
    for o in objs:
        if o["kind"] == "character":
            ident = o.get("identity") or {}
            names = {ident.get(k) for k in ("trousers", "hat", "hair")} - {None, o["color"]}
            clothing[o["id"]] = [colors.index(c) for c in names if c in colors]
    first = {colors.index(o["color"]) for o in objs if o["kind"] == "character"}
    order_colors = sorted(by_color, key=lambda ci: (ci not in first, ci))
    last: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}  # id -> (frame, position, velocity)
    kernel = np.ones((3, 3), np.uint8)
    for f in range(T):
        zones: dict[int, list[tuple[float, float, float, float]]] = {}  # colour index -> character body boxes
        for ci in order_colors:
            ids = by_color[ci]
            mask = (labels[f] == ci).astype(np.uint8)
            grouped = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)  # bridge outline and pattern seams
            n, comp, stats, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
            own = np.bincount(comp[mask > 0], minlength=n)  # keyed pixels per component (closing adds none)
            stats = stats.copy()
            stats[:, cv2.CC_STAT_AREA] = own
            keep = own >= min_area
            keep[0] = False
            ys, xs = np.nonzero(mask)
            lab = comp[ys, xs]
            cx = np.bincount(lab, weights=xs + 0.5, minlength=n) / np.maximum(own, 1)
            cy = np.bincount(lab, weights=ys + 0.5, minlength=n) / np.maximum(own, 1)
            cents = np.stack([cx, cy], axis=1)
            for zx0, zy0, zx1, zy1 in zones.get(ci, ()):
                keep &= ~((cx >= zx0) & (cx <= zx1) & (cy >= zy0) & (cy <= zy1))
            counts[colors[ci]][f] = int(keep.sum())
            if not keep.any():
                continue
            n_kept = int(keep.sum())
            free = keep.copy()
            # objects with a recent position choose first (nearest to their prediction), then the rest by size
            order = sorted(ids, key=lambda i: (i not in last or f - last[i][0] > 3, i))
            for oid in order:
                if not free.any():
                    break
                pred = None
                if oid in last and f - last[oid][0] <= 3:
                    lf, p, v = last[oid]
                    pred = p + v * (f - lf)
                chosen = _pick(stats, cents, free, pred, diag)
                free[chosen] = False
                sel = np.isin(lab, chosen)
                px, py = xs[sel], ys[sel]
                area = float(sel.sum())
                pos = np.array([px.mean() + 0.5, py.mean() + 0.5])
                tracks[oid][f] = (pos[0], pos[1], area, 1.0)
                color[oid][f] = np.median(frames[f, py, px].astype(np.float64), axis=0)
                x0, x1, y0, y1 = px.min(), px.max(), py.min(), py.max()
                sub = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
                sub[py - y0, px - x0] = 1
                shape[oid][f] = (_hull_circularity(sub), x1 - x0 + 1, y1 - y0 + 1)
                if oid in clothing:  # the body around the shirt: head above, legs (1.4 shirt heights) below
                    bw, bh = x1 - x0 + 1, y1 - y0 + 1
                    box = (x0 - 0.6 * bw, y0 - 1.0 * bh, x1 + 1 + 0.6 * bw, y1 + 1 + 1.7 * bh)
                    for cj in clothing[oid]:
                        zones.setdefault(cj, []).append(box)
                    # other pieces of its own colour on its body (an arm, a hat of the shirt colour) are not objects
                    inside = (cx >= box[0]) & (cx <= box[2]) & (cy >= box[1]) & (cy <= box[3])
                    n_kept -= int((free & inside).sum())
                    free &= ~inside
                vel = pos - last[oid][1] if oid in last and last[oid][0] == f - 1 else np.zeros(2)
                last[oid] = (f, pos, vel)
            counts[colors[ci]][f] = n_kept
    return tracks, color, shape, counts


# ------------------------------------------------------------------------------------------- camera
def _inside(mx: np.ndarray, my: np.ndarray, w: int, h: int) -> np.ndarray:
    """Sample positions whose bilinear footprint lies inside a w x h image."""
    return (mx >= 0) & (my >= 0) & (mx <= w - 1) & (my <= h - 1)


def _align(I0: np.ndarray, I1: np.ndarray, mask: np.ndarray, init: np.ndarray, levels: int = 3, iters: int = 10) -> np.ndarray:
    """Direct (intensity-based) similarity alignment of I1 to I0 over `mask`, coarse to fine.

    Gauss–Newton on the brightness residual with Tukey weights (Bergen et al., "Hierarchical model-based
    motion estimation", ECCV 1992): every background pixel contributes along its gradient, so stripes and
    gradients constrain what they can (no aperture problem, no corner detector needed on smooth scenery).
    Parameters (a, b, dx, dy): p' = p + [[a, -b], [b, a]] (p - c) + d, c the image centre. A weak prior
    keeps directions the background cannot reveal at rest; `init` only seeds the search.

    Brightness is matched up to a gain and a bias, estimated jointly (Baker & Matthews, "Lucas-Kanade 20
    years on", part 3: linear appearance variation): I0 ≈ (1 + g) I1(p') + c. Without the gain, a contrast
    change over a vertical sky gradient reads as a zoom (I(y)·s looks like I(s·y) about the centre), so a
    model that darkens its sky by 7% would be charged a 16% zoom; flicker is scored on its own metric.
    """
    W = I0.shape[1]
    pyr = [(I0.astype(np.float32), I1.astype(np.float32), mask.astype(np.float32))]
    while len(pyr) < levels and min(pyr[-1][0].shape) >= 32:
        a, b, m = pyr[-1]
        pyr.append((cv2.pyrDown(a), cv2.pyrDown(b), cv2.pyrDown(m)))
    prm = init.astype(np.float64).copy()
    gain, bias = 0.0, 0.0
    for A0, A1, M in reversed(pyr):
        h, w = A0.shape
        sc = W / w
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        xt, yt = xs - (w / 2 - 0.5), ys - (h / 2 - 0.5)
        gx = cv2.Sobel(A1, cv2.CV_32F, 1, 0, ksize=3) / 8
        gy = cv2.Sobel(A1, cv2.CV_32F, 0, 1, ksize=3) / 8
        use = M > 0.99
        for _ in range(iters):
            a, b, dx, dy = prm[0], prm[1], prm[2] / sc, prm[3] / sc
            mx = (xs + a * xt - b * yt + dx).astype(np.float32)
            my = (ys + b * xt + a * yt + dy).astype(np.float32)
            warped = cv2.remap(A1, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            ok = use & _inside(mx, my, w, h)
            if ok.sum() < 20:
                break
            ggx, ggy = cv2.remap(gx, mx, my, cv2.INTER_LINEAR)[ok], cv2.remap(gy, mx, my, cv2.INTER_LINEAR)[ok]
            xo, yo = xt[ok], yt[ok]
            wo = warped[ok].astype(np.float64)
            J = np.stack([ggx * xo + ggy * yo, -ggx * yo + ggy * xo, ggx, ggy], -1).astype(np.float64) * (1.0 + gain)
            J = np.concatenate([J, (wo - 128.0)[:, None], np.ones((len(wo), 1))], 1)  # gain about mid-grey, bias
            r = (1.0 + gain) * (wo - 128.0) + 128.0 + bias - A0[ok].astype(np.float64)
            sig = 1.4826 * np.median(np.abs(r)) + 0.5
            wt = np.clip(1.0 - (r / (4.685 * sig)) ** 2, 0.0, None) ** 2  # Tukey biweight: movers drop out
            JW = J * wt[:, None]
            # prior toward no motion, worth PRIOR of the pixels at a 2-grey-level gradient: unobservable
            # directions (a textureless backdrop, horizontal stripes under a pan) stay still, not drift; the
            # photometric pair gets a token weight (it is always observable where there is any contrast)
            lam = PRIOR * len(r) * 4.0 * np.array([(w / 4) ** 2, (w / 4) ** 2, 1.0, 1.0, 1e-2, 1e-6])
            cur = np.concatenate([(prm - init) / np.array([1, 1, sc, sc]), [gain, bias]])
            step = -np.linalg.solve(JW.T @ J + np.diag(lam), JW.T @ r + lam * cur)
            prm += step[:4] * np.array([1, 1, sc, sc])
            gain, bias = gain + step[4], bias + step[5]
            if abs(step[2]) < 1e-3 and abs(step[3]) < 1e-3 and abs(step[0]) < 1e-5 and abs(step[1]) < 1e-5:
                break
    return prm


def _residual(I0: np.ndarray, I1: np.ndarray, mask: np.ndarray, prm: np.ndarray) -> float:
    """Mean absolute difference between I0 and I1 warped by similarity parameters prm, over mask, after the
    least-squares gain and bias (as `_align` matches brightness)."""
    h, w = I0.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xt, yt = xs - (w / 2 - 0.5), ys - (h / 2 - 0.5)
    a, b, dx, dy = prm
    mx = (xs + a * xt - b * yt + dx).astype(np.float32)
    my = (ys + b * xt + a * yt + dy).astype(np.float32)
    warped = cv2.remap(I1, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    ok = mask & _inside(mx, my, w, h)
    if ok.sum() <= 20:
        return float("inf")
    x, y = warped[ok].astype(np.float64), I0[ok].astype(np.float64)
    A = np.stack([x, np.ones_like(x)], 1)
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    return float(np.abs(A @ coef - y).mean())


def _best(I0: np.ndarray, I1: np.ndarray, mask: np.ndarray, candidates: list[np.ndarray]) -> np.ndarray:
    """The candidate motion with the lowest residual (guards against a wrong basin of a periodic floor)."""
    res = [_residual(I0, I1, mask, c) for c in candidates]
    return candidates[int(np.argmin(res))]


def _camera_mask(labels: np.ndarray, size: int) -> np.ndarray:
    """Background pixels away from every keyed thing and from the floor just below it (its shadow)."""
    things = (labels != BACKGROUND).astype(np.uint8)
    grown = cv2.dilate(things, np.ones((size, size), np.uint8))
    below = cv2.dilate(things, np.ones((3 * size, 2 * size + 1), np.uint8), anchor=(size, 0))  # shadows fall below
    return (grown == 0) & (below == 0)


def _camera_motion(grey: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(T-1, 4) frame-to-frame similarity of the background: [dx, dy, log_scale, rotation_rad]."""
    T, H, W = grey.shape
    out = np.zeros((max(T - 1, 0), 4))
    size = max(5, int(0.1 * min(H, W))) | 1
    prm = np.zeros(4)
    for f in range(T - 1):
        mask = _camera_mask(labels[f], size)
        if mask.sum() < 0.02 * H * W:
            continue
        a, b = grey[f].astype(np.float32), grey[f + 1].astype(np.float32)
        b = b - b[mask].mean() + a[mask].mean()  # an exposure change (flicker) must not read as motion (a start for the bias)
        prm = _best(a, b, mask, [_align(a, b, mask, prm), _align(a, b, mask, np.zeros(4)), np.zeros(4)])
        step = (prm[2], prm[3], math.log(max(math.hypot(1 + prm[0], prm[1]), 1e-6)), math.atan2(prm[1], 1 + prm[0]))
        if math.hypot(step[0], step[1]) > 0.5 * W or abs(step[2]) > 0.5 or abs(step[3]) > 0.5:  # diverged: no estimate
            prm = np.zeros(4)
            continue
        out[f] = step
    return out


def _grey(frames: np.ndarray) -> np.ndarray:
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])


def _dis_flow(frames: np.ndarray) -> np.ndarray:
    """(T-1, H, W, 2) forward DIS optical flow between consecutive frames, in pixels."""
    grey = _grey(frames)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return np.stack([dis.calc(grey[f], grey[f + 1], None) for f in range(len(grey) - 1)]) if len(grey) > 1 else np.zeros((0, *grey.shape[1:], 2), np.float32)


def flow_of(parsed: Parsed) -> np.ndarray:
    """The parsed clip's optical flow, computed once on first use."""
    if parsed.flow is None:
        parsed.flow = _dis_flow(parsed.frames)
    return parsed.flow


# ------------------------------------------------------------------------------------------- entry point
def parse_video(frames: np.ndarray, truth: dict, flow: bool = False) -> Parsed:
    """Parse a (T, H, W, 3) uint8 video, using `truth` only for what to look for (ids, colours, kinds, look)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames: expected (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    T, H, W, _ = frames.shape
    labels, colors = classify_pixels(frames, truth)
    min_area = max(3.0, 2e-4 * H * W)
    tracks, color, shape, counts = _track_objects(frames, labels, truth, colors, min_area)
    camera = _camera_motion(_grey(frames), labels)
    parsed = Parsed(frames, float(truth.get("fps", 16)), tracks, camera, None, colors, labels, color, shape, counts, min_area)
    if flow:
        flow_of(parsed)
    return parsed
