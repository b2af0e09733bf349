"""Evaluation suites: reproducible case lists generated from seeds, each able to render its own ground truth.

A suite is a name, a description and a list of `Case`s. A case fixes everything a generator is asked for
(the prompt is the ground-truth caption, plus seed, length, fps, aspect ratio and controls) and everything
the scorer needs (the Kino World scene; `case.render()` gives the ground-truth frames and truth JSON).
The same suite name, seed and options always give the same cases and the same ground truth.

| suite | what | default cases |
|---|---|---|
| `standard` | in-distribution text-to-video (`train` split), 2-4 s | 40 |
| `ood` | held-out colour-shape pairs and launch speeds (`ood` split), 2-4 s | 40 |
| `controls` | image-to-video, first+last keyframes, motion brush, camera keys, depth of field, short Extend; then tagged reference images; then motion brush on a given first frame; then rack focus | 24 + 6 + 6 + 4 |
| `long` | Extend a real 4 s clip to 60 s; scored over the continuation and per 4 s window (drift) | 4 |

Seeds start at `EVAL_SEED` (far above the indices `kino world render` and training streams use), one
block per suite, so evaluation scenes are never training scenes by accident. `reference_cases` is a second,
disjoint set of ground-truth scenes of the same suite: the reference of the distribution distance, whose
real-vs-real distance to the suite's own ground truth is that metric's floor.

Cases are only ever appended: `controls` gained its reference-image cases (`controls-refs-NNN`, seeds from
their own offset in the block) after its 24 numbered ones, so those keep their ids, seeds and order and
`--limit 24` is exactly the earlier suite (reports made before stay comparable case for case).

A reference case is text-to-video of a scene with one or two tagged subjects (balls and boxes of distinct
colours). Each reference image is a crop from a *second render of the same scene*, a photo of that subject:
the camera aimed at where it starts, from another angle (orbited 20-35 degrees, dollied in 1 m: other
shading, background and size), at twice the case's resolution, before anything moves. Kino World gives
every object of a scene a unique colour and no other seed has the same object, so the same identity in
another shot is the same scene shot again. The prompt is the ground-truth caption with each tagged subject named
only by its tag ("@hero rolls to the left and hits @villain."): its colour and pattern are in the image
alone, and `--without-controls` (the same words, no images) shows what the images add.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
from dataclasses import dataclass, field

import numpy as np

from kino.eval.metrics.identity import FULL, reference_descriptor
from kino.world.captions import captions
from kino.world.controls import REFERENCE_TAGS, motion_brush, reference_crops
from kino.world.render import render
from kino.world.sample import rack_focus, sample_scene
from kino.world.scene import Body, CameraKey, Scene
from kino.world.truth import ground_truth, measure_tracks

__all__ = ["Case", "GroundTruth", "Suite", "SUITES", "EVAL_SEED", "build_suite", "reference_cases", "RATIO_SIZES", "REFERENCE_CASES", "REFERENCE_TAGS"]

EVAL_SEED = 2_000_000_000  # scene seeds of evaluation cases start here (< 2**31)
_BLOCK = {"standard": 0, "ood": 10_000_000, "controls": 20_000_000, "long": 30_000_000}
_REFERENCE = 5_000_000  # offset of the reference (real-vs-real) scenes inside a suite's block
_REFERENCE_IMAGES = 2_500_000  # offset of the controls suite's reference-image cases (clear of both for suite seeds < 25)
_BRUSH_IMAGES = 3_500_000  # offset of its brush-on-the-first-frame cases (likewise)
_RACK = 4_500_000  # offset of its rack-focus cases (likewise; + _REFERENCE stays inside the block)
RATIO_SIZES = {"16:9": (224, 128), "9:16": (128, 224), "1:1": (128, 128)}  # = kino.generate.RATIOS
CONTROL_MODES = ("i2v", "keyframes", "brush", "camera", "dof", "extend")
LONG_SOURCE_S, LONG_TOTAL_S, WINDOW_S = 4.0, 60.0, 4.0
# reference-image cases appended to `controls`: (scenario, tagged subjects); collide and topple always have two
# movable bodies, roll and throw one main ball
REFERENCE_CASES = (("collide", 2), ("roll", 1), ("topple", 2), ("throw", 1), ("collide", 2), ("topple", 1))
# Motion Brush as creators use it (Runway, MOFA-Video): painted on the first frame they give, appended after the
# reference cases; the numbered brush cases are text-only, so the painted objects are wherever the model draws them
BRUSH_IMAGE_CASES = ("roll", "collide", "throw", "roll", "collide", "throw")
RACK_CASES = 4  # rack focus, appended last: the focus pulled between the subjects' distance and the far field

REF_ORBIT, REF_DOLLY = (20.0, 35.0), 1.0  # a reference photo's viewpoint: degrees around the subject, metres in
REF_MIN_VISIBLE, REF_MIN_PIXELS = 0.5, 16  # a subject's crop must show it (kino.world.data's training crops use the same)
REF_SEEN_FRAMES = 4  # ... and the case must show it whole in this many frames, or reference_identity cannot judge it


@dataclass(frozen=True)
class Case:
    """One request to the generator and the scene it should reproduce.

    controls (JSON): {"mode": "t2v" | "i2v" | "keyframes" | "brush" | "camera" | "dof" | "extend" | "references",
    "rack": true (dof: the focus is pulled across the clip),
    "keyframes": [frame, ...] (negative from the end), "extend_frames": N (source frames given to Extend),
    "subjects": N (references: how many objects get a tagged reference image, at most)}.
    """

    id: str
    suite: str
    seed: int
    split: str = "train"
    seconds: float = 4.0  # length of the scored clip (for Extend: source + continuation)
    fps: int = 16
    ratio: str = "16:9"
    width: int = 224  # ground-truth render size; a generator's output is resized to it when they differ
    height: int = 128
    scenario: str | None = None
    controls: dict = field(default_factory=lambda: {"mode": "t2v"})

    @property
    def num_frames(self) -> int:
        return max(1, round(self.seconds * self.fps))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def scene(self) -> Scene:
        """The Kino World scene of this case (with the control mode's camera edits)."""
        sc = sample_scene(self.seed, self.split, width=self.width, height=self.height, fps=self.fps, seconds=self.seconds, scenario=self.scenario)
        mode = self.controls.get("mode", "t2v")
        rng = np.random.default_rng([self.seed, 7])
        keys = sc.camera.keys
        if mode == "brush":  # the brush is the only motion control: a still camera
            keys = (dataclasses.replace(keys[0], aperture=0.0),)
        elif self.controls.get("rack"):  # the focus is pulled between the subjects and the far field
            keys = rack_focus(sc.camera, rng)
        elif mode in ("camera", "dof") and len(keys) == 1:  # every camera case moves the camera
            move = ("pan", "tilt", "zoom", "orbit", "dolly", "roll")[int(rng.integers(6))]
            sign = 1 if rng.random() < 0.5 else -1
            amount = {"pan": sign * rng.uniform(8, 20), "tilt": sign * rng.uniform(5, 12), "zoom": math.exp(sign * rng.uniform(0.25, 0.6)),
                      "roll": sign * rng.uniform(8, 20), "dolly": sign * rng.uniform(1.0, 2.5), "orbit": sign * rng.uniform(10, 25)}[move]
            keys = (keys[0], CameraKey(t=1.0, focus=keys[0].focus, aperture=keys[0].aperture, ease="smooth", **{move: float(amount)}))
        if mode == "dof" and all(k.aperture == 0 for k in keys):
            dist = float(np.linalg.norm(np.subtract(sc.camera.position, sc.camera.target)))
            focus, ap = dist + float(rng.uniform(-2.0, 3.0)), float(rng.uniform(1.4, 4.0))
            keys = tuple(dataclasses.replace(k, focus=focus, aperture=ap) for k in keys)
        if keys != sc.camera.keys:
            sc = sc.with_(camera=dataclasses.replace(sc.camera, keys=keys))
        return sc

    def render(self) -> GroundTruth:
        """Simulate and render the case: frames, truth JSON (kino-world/1 + "case"; "brush" for brush cases;
        "references" and the tagged "prompt" for reference cases) and the control inputs a generator gets
        (keyframe images, Extend source, reference images)."""
        sc = self.scene()
        clip = render(sc, seed=self.seed)
        tracks = measure_tracks(clip)
        truth = ground_truth(clip, captions(clip, tracks))
        truth["seed"], truth["index"] = self.seed, self.id
        truth["case"] = self.to_dict()
        mode = self.controls.get("mode", "t2v")
        if mode == "brush":
            truth["brush"] = motion_brush(clip, tracks).to_dict()
        refs: list[tuple[str, np.ndarray]] = []
        if mode == "references":
            truth["references"], refs = self._references(sc, tracks)
            names = {r["object"]: f"@{tag}" for tag, r in truth["references"].items()}
            truth["prompt"] = captions(clip, tracks, n=1, names=names)[0]  # the caption, subjects named by tag
        n = len(clip.frames)
        keyframes = [(f if f >= 0 else n + f, clip.frames[f if f >= 0 else n + f]) for f in self.controls.get("keyframes", [])]
        ext = int(self.controls.get("extend_frames", 0))
        return GroundTruth(self, clip.frames, truth, keyframes, clip.frames[:ext] if ext else None, clip.layers[0].instance.astype(np.int16), refs)

    def reference_shot(self, sc: Scene, body: Body):
        """A photo of `body` for its reference image: the case's scene shot again with the camera aimed at where
        the body starts, orbited and dollied in, at twice the resolution, two frames (before anything moves)
        and no depth of field."""
        rng = np.random.default_rng([self.seed, 11, body.id])
        orbit = (1 if rng.random() < 0.5 else -1) * float(rng.uniform(*REF_ORBIT))
        offset = np.subtract(sc.camera.position, sc.camera.target)  # the case camera's view direction and distance
        cam = dataclasses.replace(sc.camera, position=tuple(float(v) for v in np.add(body.position, offset)), target=tuple(body.position),
                                  keys=(CameraKey(t=0.0, orbit=orbit, dolly=REF_DOLLY, aperture=0.0),))
        return render(sc.with_(camera=cam, width=2 * sc.width, height=2 * sc.height, seconds=2 / sc.fps), seed=self.seed + body.id)

    def _references(self, sc: Scene, tracks: dict) -> tuple[dict, list[tuple[str, np.ndarray]]]:
        """Up to `subjects` movable bodies (scene order: the scenario's main object first) that the case shows
        whole and their reference photo shows well, tagged in REFERENCE_TAGS order. Returns the truth JSON's
        "references" (tag -> object id, the crop's frame and box in its photo, its reference_identity
        descriptor) and [(tag, crop image)], the generator's references."""
        truth_refs, images = {}, []
        for b in sc.bodies:
            if len(images) >= int(self.controls.get("subjects", 1)):
                break
            if b.static or (tracks[b.id]["visible"] > FULL).sum() < REF_SEEN_FRAMES:
                continue
            crop = next((c for c in reference_crops(self.reference_shot(sc, b), bodies=True) if c["object"] == b.id), None)
            if crop is None or crop["visible"] < REF_MIN_VISIBLE or crop["mask"].sum() < REF_MIN_PIXELS:
                continue  # hidden behind another object from there
            tag = REFERENCE_TAGS[len(images)]
            truth_refs[tag] = {"object": b.id, "frame": crop["frame"], "box": crop["box"], "descriptor": reference_descriptor(crop).tolist()}
            images.append((tag, crop["image"]))
        return truth_refs, images


@dataclass
class GroundTruth:
    """A rendered case: the frames to match, the truth JSON, and what the generator is given."""

    case: Case
    frames: np.ndarray  # (T, H, W, 3) uint8
    truth: dict
    keyframes: list[tuple[int, np.ndarray]]  # (frame index in the scored clip, image)
    source: np.ndarray | None  # Extend: the real frames the generator continues (the clip's first frames)
    instance0: np.ndarray  # (H, W) object ids of frame 0 (motion-brush conditioning)
    references: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (tag, (h, w, 3) uint8 image), prompt order

    @property
    def prompt(self) -> str:
        """What the generator is asked: the caption, or for reference cases the caption naming subjects by @tag."""
        return self.truth.get("prompt", self.truth["caption"])

    @property
    def score_from(self) -> int:
        """First frame that counts: after the Extend source (which the generator is given), else 0."""
        return 0 if self.source is None else len(self.source)


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    cases: tuple[Case, ...]
    seed: int = 0
    window_s: float | None = None  # score per window of this many seconds too (drift under Extend)

    def limited(self, limit: int | None) -> Suite:
        if limit is not None and limit < 1:
            raise ValueError(f"limit: must be >= 1, got {limit}")
        return self if limit is None else dataclasses.replace(self, cases=self.cases[:limit])

    def only(self, patterns: str | None) -> Suite:
        """The cases whose id matches one of the comma-separated shell patterns (`controls-rack-*,controls-004`),
        in suite order; None keeps them all."""
        if patterns is None:
            return self
        pats = [p.strip() for p in patterns.split(",") if p.strip()]
        kept = tuple(c for c in self.cases if any(fnmatch.fnmatchcase(c.id, p) for p in pats))
        if not kept:
            raise ValueError(f"cases: no case of suite {self.name!r} matches {patterns!r} (ids look like {self.cases[0].id!r})")
        return dataclasses.replace(self, cases=kept)


SUITES = {
    "standard": "In-distribution text-to-video: Kino World train-split scenes, 2-4 s, prompt = ground-truth caption.",
    "ood": "Out-of-distribution: held-out colour-shape pairs and launch speeds (ood split), 2-4 s.",
    "controls": "Controls: image-to-video, first+last keyframes, motion brush, camera keys, depth of field, short Extend, tagged reference images, motion brush on a first frame, rack focus.",
    "long": "Long horizon: Extend a real 4 s clip to 60 s; scored over the continuation and per 4 s window.",
}
DEFAULT_CASES = {"standard": 40, "ood": 40, "controls": 24, "long": 4}


def _base(name: str, seed: int) -> int:
    return EVAL_SEED + _BLOCK[name] + seed * 100_000


def build_suite(name: str, seed: int = 0, limit: int | None = None, size: tuple[int, int] | None = None,
                seconds: float | None = None, fps: int = 16, ratio: str | None = None, count: int | None = None) -> Suite:
    """The named suite. `size` (W, H) and `seconds` shrink it for quick runs (tests); `count` overrides the
    number of numbered cases (controls: its reference cases follow them) before `limit` truncates. Same
    arguments, same cases."""
    if name not in SUITES:
        raise ValueError(f"suite: must be one of {sorted(SUITES)}, got {name!r}")
    if size is not None and (len(size) != 2 or any(v < 16 or v % 2 for v in size)):
        raise ValueError(f"size: must be (width, height), even and >= 16, got {size!r}")
    if seconds is not None and not 0 < seconds <= 600:
        raise ValueError(f"seconds: must be in (0, 600], got {seconds!r}")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError(f"count: must be a positive integer, got {count!r}")
    n = DEFAULT_CASES[name] if count is None else count
    cases = [_case(name, i, _base(name, seed) + i, size, seconds, fps, ratio) for i in range(n)]
    if name == "controls":  # appended, never interleaved: the numbered cases keep their ids, seeds and order
        base = _base(name, seed) + _REFERENCE_IMAGES
        cases += [_reference_case(j, base + j, scenario, k, size, seconds, fps, ratio) for j, (scenario, k) in enumerate(REFERENCE_CASES)]
        base = _base(name, seed) + _BRUSH_IMAGES
        cases += [_brush_image_case(j, base + j, scenario, size, seconds, fps, ratio) for j, scenario in enumerate(BRUSH_IMAGE_CASES)]
        base = _base(name, seed) + _RACK
        cases += [_rack_case(j, base + j, size, seconds, fps, ratio) for j in range(RACK_CASES)]
    suite = Suite(name, SUITES[name], tuple(cases), seed, WINDOW_S if name == "long" else None)
    return suite.limited(limit)


def reference_cases(suite: Suite) -> list[Case]:
    """A disjoint set of ground-truth scenes like the suite's (same split, sizes, lengths, controls), one per
    case: the reference set of the distribution distance."""
    return [dataclasses.replace(c, id=f"{c.id}-ref", seed=c.seed + _REFERENCE) for c in suite.cases]


def _case(name: str, i: int, seed: int, size, seconds, fps: int, ratio: str | None) -> Case:
    ratio = ratio or ("16:9" if size is None else _nearest_ratio(size))
    w, h = size or RATIO_SIZES[ratio]
    rng = np.random.default_rng([seed, 1])
    length = seconds if seconds is not None else float(rng.choice([2.0, 3.0, 4.0]))
    common = {"id": f"{name}-{i:03d}", "suite": name, "seed": seed, "fps": fps, "ratio": ratio, "width": w, "height": h}
    if name in ("standard", "ood"):
        return Case(split="train" if name == "standard" else "ood", seconds=_even(length, fps), **common)
    if name == "controls":
        mode = CONTROL_MODES[i % len(CONTROL_MODES)]
        length = seconds if seconds is not None else 4.0
        ctl: dict = {"mode": mode}
        if mode == "i2v":
            ctl["keyframes"] = [0]
        elif mode == "keyframes":
            ctl["keyframes"] = [0, -1]
        elif mode == "extend":
            ctl["extend_frames"] = int(round(_even(length / 2, fps) * fps))
        scenario = ("roll", "collide", "throw")[int(rng.integers(3))] if mode == "brush" else None
        return Case(seconds=_even(length, fps), scenario=scenario, controls=ctl, **common)
    # long: a real 4 s source continued to 60 s
    total = seconds if seconds is not None else LONG_TOTAL_S
    src = min(LONG_SOURCE_S, total / 2)
    return Case(seconds=_even(total, fps), controls={"mode": "extend", "extend_frames": int(round(_even(src, fps) * fps))}, **common)


def _reference_case(j: int, seed: int, scenario: str, subjects: int, size, seconds, fps: int, ratio: str | None) -> Case:
    ratio = ratio or ("16:9" if size is None else _nearest_ratio(size))
    w, h = size or RATIO_SIZES[ratio]
    length = _even(seconds if seconds is not None else 4.0, fps)  # as long as the numbered controls cases
    return Case(id=f"controls-refs-{j:03d}", suite="controls", seed=seed, seconds=length, fps=fps, ratio=ratio, width=w, height=h,
                scenario=scenario, controls={"mode": "references", "subjects": subjects})


def _brush_image_case(j: int, seed: int, scenario: str, size, seconds, fps: int, ratio: str | None) -> Case:
    ratio = ratio or ("16:9" if size is None else _nearest_ratio(size))
    w, h = size or RATIO_SIZES[ratio]
    return Case(id=f"controls-brush-img-{j:03d}", suite="controls", seed=seed, seconds=_even(seconds if seconds is not None else 4.0, fps), fps=fps,
                ratio=ratio, width=w, height=h, scenario=scenario, controls={"mode": "brush", "keyframes": [0]})


def _rack_case(j: int, seed: int, size, seconds, fps: int, ratio: str | None) -> Case:
    ratio = ratio or ("16:9" if size is None else _nearest_ratio(size))
    w, h = size or RATIO_SIZES[ratio]
    return Case(id=f"controls-rack-{j:03d}", suite="controls", seed=seed, seconds=_even(seconds if seconds is not None else 4.0, fps), fps=fps,
                ratio=ratio, width=w, height=h, controls={"mode": "dof", "rack": True})


def _even(seconds: float, fps: int) -> float:
    """Seconds rounded so the clip has an even number of frames (>= 2): generators work in 2-frame chunks."""
    frames = max(2, int(round(seconds * fps)) // 2 * 2)
    return frames / fps


def _nearest_ratio(size: tuple[int, int]) -> str:
    w, h = size
    return min(RATIO_SIZES, key=lambda r: abs(math.log((RATIO_SIZES[r][0] / RATIO_SIZES[r][1]) / (w / h))))
