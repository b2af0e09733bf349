"""Camera control: which move the background shows (class accuracy), how far off its motion is, and whether
the blur follows the requested lens (depth of field, rack focus).

Image conventions (y down): a camera panning RIGHT moves the background LEFT (dx < 0); tilting UP moves it
DOWN (dy > 0); zooming in (or dollying forward) enlarges it (log_scale > 0).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy.stats import spearmanr

from kino.eval.metrics import GT_SEEN, Metric, gt_camera_motion, register
from kino.world.camera import circle_of_confusion

__all__ = ["CLASSES", "classify_motion", "gt_camera_class", "camera_class_accuracy", "camera_motion_error",
           "mean_radius", "requested_coc", "measured_blur", "focus_pairs", "focus_blur_correlation"]

CLASSES = ("static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "other")
STILL = 0.05  # the average background pixel moves under 5% of the short side over the clip: a static camera


def mean_radius(width: int, height: int) -> float:
    """Mean distance of a pixel from the image centre."""
    xs = np.arange(width) + 0.5 - width / 2
    ys = np.arange(height) + 0.5 - height / 2
    return float(np.hypot(xs[None, :], ys[:, None]).mean())


def classify_motion(camera: np.ndarray, width: int, height: int) -> str:
    """Class of a (T-1, 4) [dx, dy, log_scale, rotation] background motion, from its sum over the clip."""
    if len(camera) == 0:
        return "static"
    dx, dy, ls, rot = np.asarray(camera, np.float64).sum(axis=0)
    rho = mean_radius(width, height)  # zoom and roll displace the average pixel by |log s| or |θ| times this
    size = {"pan": abs(dx), "tilt": abs(dy), "zoom": abs(ls) * rho, "roll": abs(rot) * rho}
    move = max(size, key=size.get)
    if size[move] < STILL * min(width, height):
        return "static"
    if move == "pan":
        return "pan_right" if dx < 0 else "pan_left"
    if move == "tilt":
        return "tilt_up" if dy > 0 else "tilt_down"
    if move == "zoom":
        return "zoom_in" if ls > 0 else "zoom_out"
    return "other"


def gt_camera_class(truth: dict) -> str | None:
    """The commanded move from the ground-truth camera keys (first vs last frame); None for an orbit, whose
    image motion is a pan plus parallax and is not classified from pixels."""
    k0, k1 = truth["camera"][0]["key"], truth["camera"][-1]["key"]
    scene_cam = truth.get("scene", {}).get("camera", {})
    fov = float(scene_cam.get("fov", 45.0))
    pos, target = np.asarray(scene_cam.get("position", (0, 1.3, -7))), np.asarray(scene_cam.get("target", (0, 0.7, 0)))
    dist = float(np.linalg.norm(target - pos))
    d = {k: k1[k] - k0[k] for k in ("pan", "tilt", "roll", "dolly", "orbit")}
    size = {
        "pan": abs(d["pan"]) / fov,
        "tilt": abs(d["tilt"]) / fov,
        "zoom": abs(math.log(k1["zoom"] / k0["zoom"])),
        "dolly": abs(math.log(max(dist - k0["dolly"], 1e-3) / max(dist - k1["dolly"], 1e-3))),
        "roll": abs(math.radians(d["roll"])) * 0.7,
        "orbit": abs(d["orbit"]) / fov,
    }
    move = max(size, key=size.get)
    if size[move] < 1e-6:
        return "static"
    if move == "orbit":
        return None
    if move == "pan":
        return "pan_right" if d["pan"] > 0 else "pan_left"
    if move == "tilt":
        return "tilt_up" if d["tilt"] > 0 else "tilt_down"
    if move == "zoom":
        return "zoom_in" if k1["zoom"] > k0["zoom"] else "zoom_out"
    if move == "dolly":
        return "zoom_in" if d["dolly"] > 0 else "zoom_out"
    return "other"


def camera_class_accuracy(parsed, truth: dict) -> float | None:
    """1.0 when the parsed background motion's class is the commanded camera move, else 0.0 (None: orbit)."""
    want = gt_camera_class(truth)
    if want is None:
        return None
    return float(classify_motion(parsed.camera, truth["width"], truth["height"]) == want)


def camera_motion_error(parsed, truth: dict) -> float | None:
    """Mean per-step |parsed - exact| background motion in px: translation distance + half-diagonal x
    (|Δ log scale| + |Δ rotation|)."""
    gt = gt_camera_motion(truth)
    if len(gt) == 0:
        return None
    half = math.hypot(truth["width"], truth["height"]) / 2
    d = np.asarray(parsed.camera, np.float64) - gt
    return float(np.mean(np.hypot(d[:, 0], d[:, 1]) + half * (np.abs(d[:, 2]) + np.abs(d[:, 3]))))


register(Metric(
    "camera_class_accuracy",
    "1 when the class of the parsed background motion summed over the clip equals the commanded move read from "
    "the ground-truth camera keys, else 0. The dominant term is the one displacing the average pixel most — "
    "|dx| (pan_left / pan_right; panning right moves the background left), |dy| (tilt_up / tilt_down; tilting "
    "up moves it down), |log scale| or |rotation| x the mean pixel radius (zoom_in / zoom_out, dolly counting "
    "as zoom; roll is 'other') — and under 5% of the short side is static. "
    "Orbit clips are not scored. Its mean "
    "over clips is the class accuracy. Mirrors VBench-2.0 camera motion and WorldScore camera control. Pass: "
    "at least 0.9 of the floor.",
    higher_is_better=True, threshold=0.9, relative_to_floor=True, fn=camera_class_accuracy,
))
register(Metric(
    "camera_motion_error",
    "Mean per-step error of the parsed background similarity against the exact one, in pixels: |Δ(dx, dy)| + "
    "half-diagonal x (|Δ log scale| + |Δ rotation|). The exact motion casts a pixel grid onto the floor, back "
    "wall or far sky with the ground-truth camera of frame f, projects it with camera f+1 and fits the same "
    "similarity. Mirrors WorldScore's rotation / scale-aligned translation error. Pass: at most 2x the floor (at least 0.1 px).",
    higher_is_better=False, threshold=2.0, relative_to_floor=True, fn=camera_motion_error, resolution=0.1,
))


# ------------------------------------------------------------------------------------------- depth of field
FOCUS_MIN_SAMPLES = 8  # frames an object needs before its rank correlation means anything
EDGE_BAND = 4  # px either side of an object's outline: its blurred edge (CoC radius up to ~6 px in the suite)
FOCUS_MIN_SPREAD = 1.0  # px: its requested blur must vary this much (std of the CoC) over them


def requested_coc(truth: dict, oid: int) -> np.ndarray:
    """(T,) thin-lens circle-of-confusion diameter in px that the truth lens gives object `oid`'s centre:
    `kino.world.camera.circle_of_confusion`, the renderer's own; 0 where the aperture is 0."""
    obj = next(o for o in truth["objects"] if o["id"] == oid)
    out = np.zeros(len(truth["camera"]))
    for f, (cam, pos) in enumerate(zip(truth["camera"], obj["position"], strict=True)):
        z = float((np.asarray(cam["R"]) @ np.asarray(pos) + np.asarray(cam["t"]))[2])
        out[f] = circle_of_confusion(cam["focal_px"], cam["aperture"], cam["focus"], z)
    return out


def measured_blur(frame: np.ndarray, mask: np.ndarray) -> float | None:
    """Blur scale in px of an object's outline: sqrt(colour variance / gradient energy) over the ring of pixels
    within EDGE_BAND of its parsed mask's border (its edges against what lies right behind them, not the
    horizon or a neighbour further off). A step edge blurred by a kernel of width s reads ~s, whatever its
    contrast; None when the ring is under 16 px or flat."""
    k = np.ones((2 * int(EDGE_BAND) + 1,) * 2, np.uint8)
    m = mask.astype(np.uint8)
    ring = (cv2.dilate(m, k) > 0) & ~(cv2.erode(m, k) > 0)
    if ring.sum() < 16:
        return None
    p = frame.astype(np.float64)
    gy, gx = np.gradient(p, axis=(0, 1))
    var = float(p[ring].var(axis=0).sum())
    grad = float((gx[ring] ** 2 + gy[ring] ** 2).mean(axis=0).sum())
    if var < 4.0 or grad <= 0:  # under 2 grey levels of spread: nothing to judge sharpness by
        return None
    return math.sqrt(var / grad)


def focus_pairs(parsed, truth: dict) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Object id -> requested CoC and measured blur (px) over the frames where the truth shows it whole and the
    parser finds it in the video (its mask: the pixels of its colour within its radius plus EDGE_BAND of its
    parsed centre)."""
    if parsed.labels is None:
        return {}
    H, W = parsed.labels.shape[1:]
    yy, xx = np.mgrid[:H, :W]
    out = {}
    for o in truth["objects"]:
        oid, tr = o["id"], parsed.tracks.get(o["id"])
        if tr is None or o["color"] not in parsed.colors:
            continue
        ci = parsed.colors.index(o["color"])
        gt = np.asarray(o["track"], np.float64).reshape(-1, 3)
        coc = requested_coc(truth, oid)
        want, got = [], []
        for f in range(min(len(parsed.frames), len(coc))):
            if gt[f, 2] < GT_SEEN or tr[f, 3] < 0.5:
                continue
            r = math.sqrt(max(tr[f, 2], 1.0) / math.pi) + EDGE_BAND
            near = (np.abs(xx - tr[f, 0]) <= r) & (np.abs(yy - tr[f, 1]) <= r)
            b = measured_blur(parsed.frames[f], (parsed.labels[f] == ci) & near)
            if b is not None:
                want.append(coc[f])
                got.append(b)
        out[oid] = (np.asarray(want), np.asarray(got))
    return out


def focus_blur_correlation(parsed, truth: dict) -> float | None:
    """Per object whose requested blur changes over the clip (a rack focus, or a move in depth): Spearman rank
    correlation between its requested CoC and its measured blur over time; the clip's score is their mean
    weighted by frames. Within one object, so its size, texture and distance do not enter (across objects they
    would: a far object is both smaller and, focused near, blurrier). None without depth of field or where no
    object's requested blur varies."""
    if not any(c["aperture"] > 0 for c in truth["camera"]):
        return None
    rhos, weights = [], []
    for want, got in focus_pairs(parsed, truth).values():
        if len(want) < FOCUS_MIN_SAMPLES or want.std() < FOCUS_MIN_SPREAD:
            continue
        rho = spearmanr(want, got).statistic
        rhos.append(float(rho) if np.isfinite(rho) else 0.0)  # a blur that never changes follows nothing
        weights.append(len(want))
    return float(np.average(rhos, weights=weights)) if rhos else None


register(Metric(
    "focus_blur_correlation",
    "Depth of field and rack focus: for each object whose requested blur changes over the clip (the thin-lens "
    "circle of confusion in px from its depth, the focus distance and the f-number of each frame), the Spearman "
    "rank correlation over the frames the truth shows it whole and the parser finds it between that requested "
    "blur and the blur measured in the video (sqrt(colour variance / gradient energy) in a 4 px ring about its "
    "parsed outline: an edge blurred by s px reads ~s); mean over objects weighted by frames. Within one object, so size, texture and "
    "distance cancel. Clips without an aperture, or where no object's requested blur varies by 1 px (std), are "
    "not scored. Mirrors the requested-vs-measured blur correlation of Generative Photography and CineCtrl. "
    "Pass: at least 0.5 of the floor.",
    higher_is_better=True, threshold=0.5, relative_to_floor=True, fn=focus_blur_correlation,
))
