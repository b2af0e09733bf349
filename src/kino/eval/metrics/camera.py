"""Camera control: which move the background shows (class accuracy) and how far off its motion is.

Image conventions (y down): a camera panning RIGHT moves the background LEFT (dx < 0); tilting UP moves it
DOWN (dy > 0); zooming in (or dollying forward) enlarges it (log_scale > 0).
"""

from __future__ import annotations

import math

import numpy as np

from kino.eval.metrics import Metric, gt_camera_motion, register

__all__ = ["CLASSES", "classify_motion", "gt_camera_class", "camera_class_accuracy", "camera_motion_error"]

CLASSES = ("static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "other")
STILL = 0.05  # the average background pixel moves under 5% of the short side over the clip: a static camera


def _mean_radius(width: int, height: int) -> float:
    """Mean distance of a pixel from the image centre."""
    xs = np.arange(width) + 0.5 - width / 2
    ys = np.arange(height) + 0.5 - height / 2
    return float(np.hypot(xs[None, :], ys[:, None]).mean())


def classify_motion(camera: np.ndarray, width: int, height: int) -> str:
    """Class of a (T-1, 4) [dx, dy, log_scale, rotation] background motion, from its sum over the clip."""
    if len(camera) == 0:
        return "static"
    dx, dy, ls, rot = np.asarray(camera, np.float64).sum(axis=0)
    rho = _mean_radius(width, height)  # zoom and roll displace the average pixel by |log s| or |θ| times this
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
