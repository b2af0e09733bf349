"""Temporal quality: background flicker, motion smoothness, dynamic degree (VBench, with classical flow)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from kino.eval.metrics import GT_SEEN, Metric, gt_camera_motion, gt_tracks, register
from kino.eval.parse import BACKGROUND, flow_of

__all__ = ["flicker", "motion_smoothness", "dynamic_degree", "is_dynamic", "gt_is_dynamic"]

VBENCH_FPS = 8.0  # VBench reads dynamic degree from frames sampled at about 8 fps
TOP = 0.01  # share of fastest pixels averaged (VBench: 5%; Kino World objects cover only 1-5% of a frame)


def _similarity_matrix(m: np.ndarray, w: int, h: int) -> np.ndarray:
    """2x3 affine of p' = c + s R (p - c) + d from [dx, dy, log_scale, rotation]."""
    dx, dy, ls, th = m
    s = math.exp(ls)
    A = s * np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    c = np.array([w / 2, h / 2])
    return np.c_[A, c + np.array([dx, dy]) - A @ c]


def flicker(parsed, truth: dict) -> float | None:
    """Mean |I_f - I_{f+1} ∘ camera| (0-255) over background pixels, camera-compensated (VBench flickering)."""
    fr = parsed.frames.astype(np.float32)
    T, H, W, _ = fr.shape
    if T < 2 or parsed.labels is None:
        return None
    size = max(5, int(0.1 * min(H, W))) | 1
    kernel = np.ones((size, size), np.uint8)
    errs = []
    for f in range(T - 1):
        M = _similarity_matrix(parsed.camera[f], W, H)
        # dst(p) = frame_{f+1}(M p): frame f+1 brought back onto frame f
        nxt = cv2.warpAffine(fr[f + 1], M, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=(-1, -1, -1))
        things = (parsed.labels[f] != BACKGROUND) | (parsed.labels[f + 1] != BACKGROUND)
        bg = cv2.dilate(things.astype(np.uint8), kernel) == 0
        ok = bg & (nxt[..., 0] >= 0)
        ok[:2], ok[-2:], ok[:, :2], ok[:, -2:] = False, False, False, False
        if ok.sum() > 0.02 * H * W:
            errs.append(float(np.abs(fr[f] - nxt)[ok].mean()))
    return float(np.mean(errs)) if errs else None


def _backward_warp(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def motion_smoothness(parsed, truth: dict) -> float | None:
    """VBench-style motion smoothness: 1 - MAE/255 of odd frames interpolated from their neighbours by flow."""
    fr = parsed.frames
    T = len(fr)
    if T < 3:
        return None
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in fr]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    errs = []
    for f in range(1, T - 1, 2):
        a, b = fr[f - 1].astype(np.float32), fr[f + 1].astype(np.float32)
        fab = dis.calc(grey[f - 1], grey[f + 1], None)  # a pixel p of a is at p + fab(p) in b
        fba = dis.calc(grey[f + 1], grey[f - 1], None)
        # the middle frame at x shows a at x - fab/2 and b at x - fba/2 (flow sampled at x: smooth-flow approximation)
        mid = 0.5 * (_backward_warp(a, -0.5 * fab) + _backward_warp(b, -0.5 * fba))
        errs.append(float(np.abs(mid - fr[f].astype(np.float32)).mean()))
    return 1.0 - float(np.mean(errs)) / 255.0


def _vbench_rule(magnitudes: np.ndarray, size: int, T: int, fps: float) -> bool:
    """VBench dynamic degree: dynamic iff enough steps move their fastest pixels over 6 px at 256 px, 8 fps."""
    thres = 6.0 * size / 256.0
    count = max(1, round(4 * (T * VBENCH_FPS / max(fps, 1e-6)) / 16.0))
    return int((magnitudes * fps / VBENCH_FPS > thres).sum()) >= count


def is_dynamic(parsed) -> bool:
    """The VBench rule on the parsed clip's classical (DIS) optical flow."""
    fl = flow_of(parsed)
    T, H, W = parsed.frames.shape[:3]
    if len(fl) == 0:
        return False
    mag = np.linalg.norm(fl, axis=-1).reshape(len(fl), -1)
    k = max(1, int(TOP * mag.shape[1]))
    top = np.sort(mag, axis=1)[:, -k:].mean(axis=1)
    return _vbench_rule(top, min(H, W), T, parsed.fps)


def gt_is_dynamic(truth: dict) -> bool:
    """The same rule on the exact ground truth ("something moves"): per step, the fastest image motion of any
    seen object or of the camera-induced background motion."""
    w, h, T, fps = truth["width"], truth["height"], truth["num_frames"], truth["fps"]
    cam = gt_camera_motion(truth)
    half = math.hypot(w, h) / 2
    speed = np.hypot(cam[:, 0], cam[:, 1]) + 0.5 * half * (np.abs(cam[:, 2]) + np.abs(cam[:, 3]))
    for g in gt_tracks(truth).values():
        both = (g[:-1, 2] > GT_SEEN) & (g[1:, 2] > GT_SEEN)
        speed = np.maximum(speed, np.where(both, np.linalg.norm(np.diff(g[:, :2], axis=0), axis=1), 0.0))
    return _vbench_rule(speed, min(w, h), T, fps)


def dynamic_degree(parsed, truth: dict) -> float:
    """1.0 when the VBench dynamic/static verdict on the parsed flow agrees with the ground truth's, else 0.0."""
    return float(is_dynamic(parsed) == gt_is_dynamic(truth))


register(Metric(
    "flicker",
    "VBench temporal flickering on the background: mean absolute difference (0-255 per channel) between each "
    "frame and the next one warped back by the parsed camera similarity, over pixels that are background in "
    "both frames and away from every keyed object (and so from most shadows). Lower is steadier. Mirrors "
    "VBench temporal flickering (there reported as (255 - MAE) / 255). Pass: at most 1.0 grey level absolute "
    "(floors measured 0.00-0.5: camera compensation is a similarity, so perspective floors leave a little).",
    higher_is_better=False, threshold=1.0, relative_to_floor=False, fn=flicker,
))
register(Metric(
    "motion_smoothness",
    "VBench-style motion smoothness by frame interpolation with classical flow instead of AMT: each odd frame "
    "is predicted from its neighbours by warping both halfway along their DIS optical flow (OpenCV), and the "
    "score is 1 - MAE/255 of the prediction; higher is smoother. Frozen video scores perfectly (as in VBench), "
    "so read it beside dynamic degree. Mirrors VBench motion smoothness. Pass: at least 0.99 of the floor.",
    higher_is_better=True, threshold=0.99, relative_to_floor=True, fn=motion_smoothness,
))
register(Metric(
    "dynamic_degree",
    "Agreement of the VBench dynamic-degree verdict with the ground truth: a clip is dynamic iff at least "
    "round(4 · n/16) of its steps (n frames resampled to 8 fps) move their fastest 1% of pixels (VBench: 5%, "
    "but Kino World objects cover only 1-5% of a frame) more than 6 px · min(H, W)/256 per 1/8 s; parsed from "
    "DIS optical flow, ground truth from exact object image "
    "velocities and camera-induced background motion (the fastest thing that moves). Per clip 1 (agree) or 0; its mean over clips is the "
    "share that agree. Mirrors VBench dynamic degree. Pass: at least 0.9 of the floor.",
    higher_is_better=True, threshold=0.9, relative_to_floor=True, fn=dynamic_degree,
))
