"""kino.eval.metrics: every metric scores the ground-truth render at its floor and known corruptions worse.

Each case renders a small Kino World clip, parses the ground-truth render (the floor) and corrupted copies
(frozen, reversed, shuffled, jitter, mirrored, recoloured, vanished, resized, reshaped, flickering), and
asserts a margin between them. Margins come from measured values (printed with -s).
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest

from kino.eval import METRICS, Metric, parse_video, score_clip
from kino.eval.metrics import gt_camera_motion, passes
from kino.eval.metrics.camera import (
    classify_motion,
    focus_blur_correlation,
    focus_pairs,
    gt_camera_class,
    measured_blur,
    requested_coc,
)
from kino.eval.metrics.drift import drift_slope
from kino.world import ground_truth, render, sample_scene
from kino.world.scene import Body, CameraKey, CameraSpec, Look, Scene


# ------------------------------------------------------------------------------------------- corruptions
def _mask(clip, f: int, oid: int, grow: int = 0) -> np.ndarray:
    m = (clip.layers[f].instance == oid).astype(np.uint8)
    return cv2.dilate(m, np.ones((2 * grow + 1,) * 2, np.uint8)) if grow else m


def frozen(frames, clip, oid):
    return np.repeat(frames[:1], len(frames), 0)


def reversed_(frames, clip, oid):
    return frames[::-1].copy()


def shuffled(frames, clip, oid):
    return frames[np.random.default_rng(0).permutation(len(frames))]


def jitter(frames, clip, oid, lo=2.0, hi=4.0):
    """Random 2-4 px shifts per frame (a shaking camera)."""
    rng = np.random.default_rng(1)
    h, w = frames.shape[1:3]
    out = np.empty_like(frames)
    for f, im in enumerate(frames):
        d = rng.uniform(lo, hi, 2) * rng.choice([-1, 1], 2)
        out[f] = cv2.warpAffine(im, np.float32([[1, 0, d[0]], [0, 1, d[1]]]), (w, h), borderMode=cv2.BORDER_REPLICATE)
    return out


def growing_jitter(frames, clip, oid):
    """Shake that grows from nothing to 4 px over the clip (drift under Extend)."""
    rng = np.random.default_rng(2)
    h, w = frames.shape[1:3]
    out = np.empty_like(frames)
    for f, im in enumerate(frames):
        d = rng.uniform(-4, 4, 2) * f / max(1, len(frames) - 1)
        out[f] = cv2.warpAffine(im, np.float32([[1, 0, d[0]], [0, 1, d[1]]]), (w, h), borderMode=cv2.BORDER_REPLICATE)
    return out


def mirror(frames, clip, oid):
    """Left-right mirror: objects and a panning camera move the wrong way."""
    return frames[:, :, ::-1].copy()


def recolor(frames, clip, oid, rgb=(40, 80, 220)):
    """One object painted another colour (blue), keeping its shading."""
    out = frames.copy()
    for f in range(len(frames)):
        m = _mask(clip, f, oid) > 0
        if m.any():
            lum = frames[f][m].astype(np.float32).max(-1, keepdims=True) / 255.0
            out[f][m] = np.clip(np.asarray(rgb, np.float32) * lum / (max(rgb) / 255.0), 0, 255).astype(np.uint8)
    return out


def vanish(frames, clip, oid, start=0.3, stop=0.7):
    """The object is inpainted away (local background) for the middle of the clip."""
    out = frames.copy()
    T = len(frames)
    for f in range(int(start * T), int(stop * T)):
        m = _mask(clip, f, oid, 2)
        if m.any():
            out[f] = cv2.inpaint(frames[f], m, 3, cv2.INPAINT_TELEA)
    return out


def morph(frames, clip, oid):
    """Every other frame the object grows by 2 px: a breathing size."""
    out = frames.copy()
    for f in range(1, len(frames), 2):
        m = _mask(clip, f, oid) > 0
        if m.any():
            grown = cv2.dilate(m.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            out[f][grown & ~m] = np.median(frames[f][m], axis=0)
    return out


def reshape(frames, clip, oid):
    """The ball drawn as a filled square (its bounding box) in its median colour."""
    out = frames.copy()
    for f in range(len(frames)):
        m = _mask(clip, f, oid) > 0
        if m.sum() >= 5:
            ys, xs = np.nonzero(m)
            out[f][ys.min():ys.max() + 1, xs.min():xs.max() + 1] = np.median(frames[f][m], axis=0)
    return out


def flicker(frames, clip, oid):
    """Every other frame 15% brighter."""
    out = frames.astype(np.float32)
    out[1::2] *= 1.15
    return np.clip(out, 0, 255).astype(np.uint8)


def hue_drift(frames, clip, oid, to=(40, 80, 220)):
    """The object's colour slides linearly to blue over the clip."""
    out = frames.copy()
    T = len(frames)
    for f in range(T):
        m = _mask(clip, f, oid) > 0
        if m.any():
            a = f / (T - 1)
            out[f][m] = np.clip((1 - a) * frames[f][m] + a * np.asarray(to), 0, 255).astype(np.uint8)
    return out


def shrink(frames, clip, oid):
    """The object is eaten from its rim, up to 3 px by the end: it shrinks over time."""
    out = frames.copy()
    T = len(frames)
    for f in range(T):
        m = _mask(clip, f, oid)
        k = int(round(3 * f / (T - 1)))
        if m.any() and k > 0:
            inner = cv2.erode(m, np.ones((2 * k + 1,) * 2, np.uint8)) > 0
            ring = (cv2.dilate(m, np.ones((3, 3), np.uint8)) > 0) & ~inner
            out[f] = cv2.inpaint(frames[f], ring.astype(np.uint8), 3, cv2.INPAINT_TELEA)
            out[f][inner] = frames[f][inner]
    return out


def fade_out(frames, clip, oid):
    """The object is gone for the whole second half."""
    return vanish(frames, clip, oid, 0.5, 1.0)


CORRUPTIONS = {f.__name__.rstrip("_"): f for f in (frozen, reversed_, shuffled, jitter, growing_jitter, mirror, recolor,
                                                   vanish, morph, reshape, flicker, hue_drift, shrink, fade_out)}


# ------------------------------------------------------------------------------------------- scenes
def _sampled(scenario: str, seed: int, move: str | None = None, amount: float = 0.0, fps: int = 12):
    """A 96 px, 2 s sampled scene with its camera replaced by one linear move (or none)."""
    s = sample_scene(seed, scenario=scenario, width=96, height=96, fps=fps, seconds=2.0)
    focus = s.camera.keys[0].focus
    keys = (CameraKey(t=0.0, focus=focus), CameraKey(t=1.0, focus=focus, ease="linear", **({move: amount} if move else {})))
    return dataclasses.replace(s, camera=dataclasses.replace(s.camera, keys=keys))


def _long() -> Scene:
    """8 s at 64 px, 8 fps: a slow metal ball and a box that stay in view (an Extend-length clip)."""
    bodies = (Body(1, "ball", "red", (-1.0, 0.3, 0.5), (0.3, 0.3, 0.3), (0.25, 0.0, 0.0), material="metal"),
              Body(2, "box", "yellow", (1.2, 0.3, 0.8), (0.3, 0.3, 0.3)))
    cam = CameraSpec(position=(0.0, 1.3, -6.0), target=(0.0, 0.5, 0.0), fov=45.0, keys=(CameraKey(t=0.0, focus=6.0),))
    return Scene(bodies=bodies, look=Look(style="shaded", backdrop="dusk", floor="grass"), camera=cam, width=64, height=64, fps=8, seconds=8.0)


SCENES = {
    "collide": lambda: _sampled("collide", 3),  # flat; a cyan ball hits an orange one (collision event)
    "throw": lambda: _sampled("throw", 0, fps=16),  # a pink ball thrown up: free flight and bounces
    "occlude": lambda: _sampled("occlude", 1),  # a green ball passes behind a brown pillar
    "pan": lambda: _sampled("roll", 3, "pan", 15.0),  # two rolling balls; the camera pans right
    "zoom": lambda: _sampled("roll", 5, "zoom", 1.6),  # a rolling ball; the camera zooms in
    "long": _long,
}


class World:
    """Renders each scene once and caches parsed clips, ground truth first (the floor), then corruptions."""

    def __init__(self):
        self.clips: dict[str, tuple] = {}
        self.parsed: dict[tuple[str, str], object] = {}

    def clip(self, name: str):
        if name not in self.clips:
            clip = render(SCENES[name]())
            truth = ground_truth(clip)
            oid = next(o["id"] for o in truth["objects"] if not o["static"])  # the main moving object
            self.clips[name] = (clip, truth, oid)
        return self.clips[name]

    def parse(self, name: str, corruption: str = "gt"):
        if (name, corruption) not in self.parsed:
            clip, truth, oid = self.clip(name)
            frames = clip.frames if corruption == "gt" else CORRUPTIONS[corruption](clip.frames, clip, oid)
            self.parsed[name, corruption] = parse_video(frames, truth)
        return self.parsed[name, corruption]

    def score(self, name: str, metric: str, corruption: str = "gt") -> float | None:
        return METRICS[metric].fn(self.parse(name, corruption), self.clip(name)[1])


@pytest.fixture(scope="module")
def world() -> World:
    return World()


# ------------------------------------------------------------------------------------------- registry
def test_registry_is_complete_and_documented():
    families = {
        "motion": {"velocity_error", "trajectory_error", "trajectory_final", "motion_direction_accuracy"},
        "physics": {"gravity_residual", "collision_f1", "causality_violations"},
        "permanence": {"object_permanence", "unexplained_vanish", "count_accuracy"},
        "identity": {"color_fidelity", "area_stability", "shape_consistency"},
        "temporal": {"flicker", "motion_smoothness", "dynamic_degree"},
        "camera": {"camera_class_accuracy", "camera_motion_error", "focus_blur_correlation"},
        "drift": {"drift_color", "drift_area", "drift_permanence", "drift_velocity"},
    }
    mine = set().union(*families.values())
    assert mine <= set(METRICS)  # other families (prompt, brush) may register more
    for name in mine:
        m = METRICS[name]
        assert isinstance(m, Metric) and m.name == name and callable(m.fn)
        assert len(m.definition) > 150 and "Mirrors" in m.definition and "Pass" in m.definition, name
        assert m.threshold is not None and isinstance(m.higher_is_better, bool) and isinstance(m.relative_to_floor, bool)


def test_score_clip_and_passes(world):
    p = world.parse("collide")
    truth = world.clip("collide")[1]
    scores = score_clip(p, truth)
    assert set(scores) == set(METRICS)
    assert all(v is None or isinstance(v, float) for v in scores.values())
    assert scores["drift_color"] is None  # a 2 s clip is not long
    assert score_clip(p, truth, ["velocity_error"]).keys() == {"velocity_error"}
    with pytest.raises(KeyError, match="unknown metric"):
        score_clip(p, truth, ["nope"])
    ve = METRICS["velocity_error"]  # lower is better, relative to the floor (x3)
    assert passes(ve, 0.2, floor=0.1) and not passes(ve, 0.4, floor=0.1) and passes(ve, 0.2) is None
    perm = METRICS["object_permanence"]  # higher is better, relative (x0.95)
    assert passes(perm, 0.96, floor=1.0) and not passes(perm, 0.9, floor=1.0)
    vanish_count = METRICS["unexplained_vanish"]  # absolute
    assert passes(vanish_count, 0.0) and not passes(vanish_count, 1.0)
    assert passes(ve, None, floor=0.1) is None
    cam = METRICS["camera_motion_error"]  # a static camera's floor is ~0: the bound uses its resolution instead
    assert cam.resolution > 0 and passes(cam, 0.15, floor=0.0) and not passes(cam, 0.5, floor=0.0)


# ------------------------------------------------------------------------------------------- floors vs corruptions
# (scene, metric, floor bound, corruptions that must score worse, by at least `margin` (absolute))
CASES = [
    ("collide", "velocity_error", 0.3, ("reversed", "shuffled", "jitter", "mirror"), 1.0),
    ("pan", "velocity_error", 0.3, ("frozen", "reversed", "shuffled", "jitter", "mirror"), 0.6),
    ("collide", "trajectory_error", 0.5, ("reversed", "shuffled", "jitter", "mirror"), 2.0),
    ("pan", "trajectory_error", 0.5, ("frozen", "reversed", "shuffled", "jitter", "mirror"), 2.0),
    ("collide", "trajectory_final", 0.5, ("reversed", "jitter", "mirror"), 1.5),
    ("pan", "trajectory_final", 0.5, ("frozen", "reversed", "shuffled", "jitter", "mirror"), 2.0),
    ("collide", "motion_direction_accuracy", 1.0, ("frozen", "reversed", "shuffled", "mirror"), 0.5),
    ("throw", "gravity_residual", 0.1, ("frozen", "reversed", "shuffled", "jitter", "vanish", "reshape"), 0.2),
    ("collide", "collision_f1", 1.0, ("frozen", "reversed", "shuffled", "recolor"), 0.5),
    ("collide", "causality_violations", 0.01, ("reversed", "shuffled", "jitter"), 0.02),
    ("throw", "causality_violations", 0.01, ("reversed", "shuffled", "jitter"), 0.1),
    ("occlude", "object_permanence", 1.0, ("frozen", "reversed", "shuffled", "recolor", "vanish"), 0.05),
    ("collide", "object_permanence", 1.0, ("frozen", "recolor", "vanish"), 0.1),
    ("occlude", "unexplained_vanish", 0.0, ("frozen", "reversed", "shuffled", "vanish"), 1.0),
    ("collide", "count_accuracy", 1.0, ("frozen", "recolor", "vanish"), 0.1),
    ("collide", "color_fidelity", 25.0, ("recolor", "vanish"), 8.0),
    ("pan", "color_fidelity", 35.0, ("recolor", "vanish"), 6.0),
    ("collide", "area_stability", 0.03, ("reversed", "shuffled", "morph"), 0.05),
    ("throw", "area_stability", 0.1, ("morph",), 0.3),
    ("collide", "shape_consistency", 1.0, ("reshape",), 0.3),
    ("occlude", "shape_consistency", 1.0, ("reshape",), 0.5),
    ("pan", "flicker", 0.3, ("flicker", "jitter", "shuffled"), 0.5),
    ("collide", "flicker", 0.1, ("flicker", "jitter"), 1.0),
    ("collide", "motion_smoothness", 0.998, ("jitter", "shuffled", "flicker"), 0.004),
    ("zoom", "motion_smoothness", 0.998, ("jitter", "shuffled", "flicker"), 0.01),
    ("collide", "dynamic_degree", 1.0, ("frozen",), 1.0),
    ("pan", "dynamic_degree", 1.0, ("frozen",), 1.0),
    ("pan", "camera_class_accuracy", 1.0, ("frozen", "reversed", "mirror", "shuffled"), 1.0),
    ("zoom", "camera_class_accuracy", 1.0, ("frozen", "reversed", "shuffled"), 1.0),
    # a static camera's shake: its net motion is still static (the class holds), its per-step motion is not
    ("collide", "camera_motion_error", 0.1, ("jitter", "growing_jitter"), 1.0),
    ("pan", "camera_motion_error", 0.6, ("frozen", "reversed", "mirror", "shuffled", "jitter"), 1.0),
    ("zoom", "camera_motion_error", 0.7, ("frozen", "reversed", "shuffled", "jitter"), 0.5),
    ("long", "drift_color", 1.0, ("hue_drift", "shrink", "fade_out"), 10.0),
    ("long", "drift_area", 0.05, ("shrink",), 0.2),
    ("long", "drift_permanence", 0.02, ("hue_drift", "fade_out"), 0.3),
    ("long", "drift_velocity", 0.1, ("growing_jitter",), 1.0),
]


@pytest.mark.parametrize(("scene", "metric", "bound", "corruptions", "margin"), CASES, ids=[f"{c[1]}-{c[0]}" for c in CASES])
def test_floor_and_corruptions(world, scene, metric, bound, corruptions, margin):
    m = METRICS[metric]
    floor = world.score(scene, metric)
    assert floor is not None, f"{metric} does not apply to {scene}"
    got = {c: world.score(scene, metric, c) for c in corruptions}
    print(f"\n{metric} on {scene}: floor {floor:.4f} | " + " ".join(f"{c} {'n/a' if v is None else f'{v:.4f}'}" for c, v in got.items()))
    # the ground-truth render scores at its floor ...
    assert (floor >= bound) if m.higher_is_better else (floor <= bound), f"floor {floor}"
    # ... and every corruption measurably worse
    for c, v in got.items():
        assert v is not None, f"{metric} is not applicable to {scene}/{c}"
        worse = floor - v if m.higher_is_better else v - floor
        assert worse >= margin, f"{metric} on {scene}/{c}: {v:.4f} vs floor {floor:.4f}"


def test_metrics_not_applicable_are_none(world):
    assert world.score("occlude", "collision_f1") is None  # no contacts in this clip
    assert world.score("pan", "gravity_residual") is None  # nothing in free flight
    assert world.score("collide", "drift_area") is None  # 2 s is no Extend clip


# ------------------------------------------------------------------------------------------- camera details
def test_camera_classes_follow_image_conventions():
    w = h = 96
    step = np.zeros((10, 4))
    assert classify_motion(step, w, h) == "static"
    for col, value, want in ((0, -1.0, "pan_right"), (0, 1.0, "pan_left"), (1, 1.0, "tilt_up"), (1, -1.0, "tilt_down"),
                             (2, 0.03, "zoom_in"), (2, -0.03, "zoom_out"), (3, 0.03, "other")):
        s = step.copy()
        s[:, col] = value
        assert classify_motion(s, w, h) == want


@pytest.mark.parametrize(("move", "amount", "want"), [
    (None, 0.0, "static"), ("pan", 12.0, "pan_right"), ("pan", -12.0, "pan_left"), ("tilt", 8.0, "tilt_up"),
    ("tilt", -8.0, "tilt_down"), ("zoom", 1.5, "zoom_in"), ("zoom", 0.7, "zoom_out"), ("dolly", 1.5, "zoom_in"),
    ("roll", 15.0, "other"), ("orbit", 20.0, None),
])
def test_ground_truth_camera_class_and_motion(move, amount, want):
    s = dataclasses.replace(_sampled("roll", 3, move, amount), width=32, height=32, fps=4)
    truth = ground_truth(render(s))
    assert gt_camera_class(truth) == want
    motion = gt_camera_motion(truth)  # exact background motion: its class agrees with the commanded move
    if want is not None:
        assert classify_motion(motion, 32, 32) == want


def test_drift_slope():
    fps = 8.0
    t = np.arange(80) / fps
    assert drift_slope(0.3 * t + 1.0, fps) == pytest.approx(3.0, rel=1e-6)  # per 10 s
    assert drift_slope(np.full(80, 2.0), fps) == pytest.approx(0.0, abs=1e-9)
    assert drift_slope(np.full(16, 1.0), fps) is None  # two windows are not a trend
    noisy = np.where(np.arange(80) % 3 == 0, np.nan, 0.1 * t)
    assert drift_slope(noisy, fps) == pytest.approx(1.0, rel=0.05)
    assert not math.isnan(drift_slope(noisy, fps))


def test_true_runs_finds_maximal_runs():
    from kino.eval.metrics import true_runs

    assert true_runs(np.array([1, 1, 0, 1, 0, 0, 1], bool)) == [(0, 1), (3, 3), (6, 6)]
    assert true_runs(np.zeros(3, bool)) == [] and true_runs(np.ones(2, bool)) == [(0, 1)]


def test_reference_identity_floors_at_the_truth_and_catches_swaps_recolours_and_patterns():
    """Two shots of the same two balls (the second pans): references are crops from shot 1, scored on shot 2."""
    from kino.eval.metrics.identity import REFERENCE_IDENTITY, reference_identity
    from kino.world.controls import reference_crops

    def shot(c1: str, c2: str, pan: float = 0.0, pattern: str = "solid") -> Scene:
        bodies = (Body(1, "ball", c1, (-1.0, 0.3, 0.5), (0.3, 0.3, 0.3), (0.5, 0.0, 0.0), pattern=pattern, material="metal"),
                  Body(2, "ball", c2, (1.0, 0.3, 0.8), (0.3, 0.3, 0.3), (-0.3, 0.0, 0.0)))
        cam = CameraSpec(position=(0.0, 1.3, -6.0), target=(0.0, 0.5, 0.0), fov=45.0, keys=(CameraKey(t=0.0, focus=6.0), CameraKey(t=1.0, focus=6.0, pan=pan)))
        return Scene(bodies=bodies, look=Look(style="shaded", backdrop="dusk", floor="grass"), camera=cam, width=96, height=96, fps=8, seconds=1.0)

    refs = {("hero" if c["object"] == 1 else "villain"): c for c in reference_crops(render(shot("red", "blue")), bodies=True)}
    second = render(shot("red", "blue", pan=8.0))
    truth = ground_truth(second)
    floor = reference_identity(second.frames, truth, refs)
    swapped = reference_identity(render(shot("blue", "red", pan=8.0)).frames, truth, refs)
    recoloured = reference_identity(render(shot("green", "blue", pan=8.0)).frames, truth, refs)
    striped = reference_identity(render(shot("red", "blue", pan=8.0, pattern="stripes")).frames, truth, refs)
    print(f"\nreference_identity floor {floor}\n swapped {swapped}\n recoloured {recoloured}\n striped {striped}")
    assert floor["similarity"] > 0.85 and floor["swaps"] == 0  # measured 0.947
    assert swapped["similarity"] < floor["similarity"] - 0.3 and swapped["swaps"] == 1  # measured 0.387
    assert recoloured["subjects"]["hero"] < floor["subjects"]["hero"] - 0.3 and recoloured["swaps"] == 0  # 0.374
    assert recoloured["subjects"]["villain"] == pytest.approx(floor["subjects"]["villain"])  # untouched subject
    assert striped["subjects"]["hero"] < floor["subjects"]["hero"] - 0.15  # pattern, same colour: 0.672
    assert "swaps" in REFERENCE_IDENTITY
    with pytest.raises(KeyError, match="object"):
        reference_identity(second.frames, truth, {"x": {**refs["hero"], "object": 99}})


# ------------------------------------------------------------------------------------------- depth of field
def test_measured_blur_grows_with_the_blur_and_ignores_contrast():
    disc = np.zeros((64, 64), np.uint8)
    cv2.circle(disc, (32, 32), 14, 1, -1)
    reads = []
    for sigma in (0.5, 1.5, 3.0):
        for contrast in (200, 60):
            img = np.full((64, 64, 3), 40.0)
            img[disc > 0] += contrast
            img = cv2.GaussianBlur(img, (0, 0), sigma)
            reads.append(measured_blur(img.astype(np.uint8), disc > 0))
    assert all(r is not None for r in reads)
    assert reads[0] < reads[2] < reads[4] and reads[1] < reads[3] < reads[5]  # blurrier reads blurrier
    assert all(abs(a - b) / a < 0.1 for a, b in zip(reads[::2], reads[1::2], strict=True))  # whatever the contrast
    assert measured_blur(np.full((64, 64, 3), 90, np.uint8), disc > 0) is None  # nothing to judge by


def test_rack_focus_scores_the_truth_and_not_a_sharp_render_of_the_same_shot():
    from kino.eval.suites import build_suite

    for case in build_suite("controls", seconds=2.0).cases[38:40]:  # controls-rack-002, -003
        g = case.render()
        sc = case.scene()
        pinhole = sc.with_(camera=dataclasses.replace(sc.camera, keys=tuple(dataclasses.replace(k, aperture=0.0) for k in sc.camera.keys)))
        truth_rho = focus_blur_correlation(parse_video(g.frames, g.truth), g.truth)
        sharp_rho = focus_blur_correlation(parse_video(render(pinhole, seed=case.seed).frames, g.truth), g.truth)
        assert truth_rho > 0.6 and sharp_rho < truth_rho - 0.4, (case.id, truth_rho, sharp_rho)
        coc = requested_coc(g.truth, next(iter(focus_pairs(parse_video(g.frames, g.truth), g.truth))))
        assert coc.max() - coc.min() > 2.0  # the pull changes the requested blur
    pinhole_truth = {**g.truth, "camera": [{**c, "aperture": 0.0} for c in g.truth["camera"]]}
    assert focus_blur_correlation(parse_video(g.frames, pinhole_truth), pinhole_truth) is None  # no lens asked for: nothing to score


# ------------------------------------------------------------------------------------------- motion brush, static region
def test_brush_static_drift_is_zero_on_the_truth_and_measures_what_was_dragged_along():
    from kino.eval.metrics.brush import _static, static_drift
    from kino.eval.suites import build_suite

    case = next(c for c in build_suite("controls", seconds=2.0).cases if c.id == "controls-brush-img-001")
    g = case.render()
    parsed = parse_video(g.frames, g.truth)
    rep = static_drift(parsed, g.truth)
    assert rep[0]["object"] == "background" and len(rep) == 2  # the background, and one ball the brush leaves still
    diag = math.hypot(g.truth["width"], g.truth["height"])
    assert _static(parsed, g.truth) < 0.2  # the floor: nothing in the static region moves
    oid = rep[1]["object"]
    assert oid not in {r["object"] for r in g.truth["brush"]["regions"]}
    # a video that drags the still ball 30 px to the right: its drift is 30 px, the background's unchanged
    dragged = dataclasses.replace(parsed, tracks={**parsed.tracks, oid: parsed.tracks[oid] + np.c_[np.linspace(0, 30, len(parsed.frames)), np.zeros((len(parsed.frames), 3))]})
    assert static_drift(dragged, g.truth)[1]["moved_px"] == pytest.approx(30.0, abs=0.1)
    assert _static(dragged, g.truth) == pytest.approx((rep[0]["moved_px"] + 30.0) / 2 / diag * 100, abs=0.05)
    # a video whose whole background slides 1 px a frame under a still camera: the background term sees it
    slid = dataclasses.replace(parsed, camera=parsed.camera + np.array([1.0, 0, 0, 0]))
    assert static_drift(slid, g.truth)[0]["moved_px"] == pytest.approx(len(parsed.frames) - 1, abs=0.2)
    assert static_drift(slid, g.truth)[1]["moved_px"] == pytest.approx(len(parsed.frames) - 1, abs=0.2)  # and the ball, held still in the image, moved against it
    assert static_drift(parsed, {**g.truth, "brush": None}) is None
