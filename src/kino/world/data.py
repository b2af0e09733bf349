"""Kino World as data: one sample per index, written to disk or streamed to a trainer.

`make_sample(index, spec)` is the single path from an index to (frames, ground truth); the CLI's
`kino world render` and the training stream both call it, so files on disk and streamed samples are the
same clips. The stream renders in worker processes (rendering is single-threaded numpy, so N workers
give ~N cores of frames) and yields in index order, deterministically.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kino.io.video import write_mp4
from kino.world.captions import captions, named_captions
from kino.world.controls import REFERENCE_TAGS, reference_crops
from kino.world.flow import forward_flow
from kino.world.render import Clip, render
from kino.world.sample import RACK_SHARE, SPLITS, rack_focus, sample_scene
from kino.world.scene import Scene
from kino.world.truth import ground_truth, measure_tracks

__all__ = ["DataSpec", "Sample", "make_sample", "save_sample", "WorldStream", "sample_seed"]


@dataclass(frozen=True)
class DataSpec:
    """What clips to make: split, size, timing, base seed; `sizes` mixes aspect buckets by index."""

    split: str = "train"
    width: int = 128
    height: int = 128
    fps: int = 16
    seconds: float = 4.0
    seed: int = 0
    sizes: tuple[tuple[int, int], ...] = ()  # (width, height) buckets; empty = (width, height) only

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"split: must be one of {SPLITS}, got {self.split!r}")

    def size_of(self, index: int) -> tuple[int, int]:
        return self.sizes[index % len(self.sizes)] if self.sizes else (self.width, self.height)


@dataclass
class Sample:
    """One clip: uint8 frames (T, H, W, 3) and its ground-truth JSON dict."""

    index: int
    frames: np.ndarray
    truth: dict
    clip: Clip | None = None  # kept only when asked (maps need the layers)
    instance0: np.ndarray | None = None  # (H, W) int16 object ids of frame 0 (motion-brush regions)
    crops: list[np.ndarray] = field(default_factory=list)  # (h, w, 3) uint8 reference crops of its well-seen objects
    crop_ids: list[int] = field(default_factory=list)  # the object id of each crop
    tagged: dict[tuple[int, ...], str] = field(default_factory=dict)  # (id,) or (id1, id2) -> the caption naming them @hero (, @villain)
    objects: np.ndarray | None = None  # (T, H, W) bool: pixels showing any object (the object-weighted loss)


REF_MIN_VISIBLE = 0.5  # reference crops for training: the object at least half in view ...
REF_MIN_PIXELS = 16  # ... and not a speck: a crop must show what it identifies

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def sample_seed(spec: DataSpec, index: int) -> int:
    """The scene seed of clip `index`: distinct streams for distinct base seeds."""
    return (spec.seed * 1_000_003 + index) % (2**31)


def make_sample(index: int, spec: DataSpec, keep_clip: bool = False) -> Sample:
    """Sample, simulate, render and describe clip `index` of `spec` (pure function of its arguments)."""
    w, h = spec.size_of(index)
    seed = sample_seed(spec, index)
    scene = sample_scene(seed, spec.split, width=w, height=h, fps=spec.fps, seconds=spec.seconds)
    scene = _pull_focus(scene, seed)
    clip = render(scene, seed=seed)
    tracks = measure_tracks(clip)
    truth = ground_truth(clip, captions(clip, tracks))
    truth["index"], truth["seed"] = index, seed
    # every object, not only characters: Kino World has people in walk scenes only, and a batch trains with
    # references only when each of its clips has one. Cheap: one argmax and one mask per object, no rendering
    kept = [c for c in reference_crops(clip, tracks, bodies=True) if c["visible"] >= REF_MIN_VISIBLE and c["mask"].sum() >= REF_MIN_PIXELS]
    ids = [c["object"] for c in kept]
    # the caption with one or two of them named by tag, as a reference case words its prompt: the look is then
    # in the image alone, which is what teaches a model to read it (plain captions name every colour)
    combos = [(a,) for a in ids] + [(a, b) for a in ids for b in ids if a != b]
    namings = [{o: f"@{t}" for o, t in zip(combo, REFERENCE_TAGS, strict=False)} for combo in combos]
    tagged = dict(zip(combos, named_captions(clip, tracks, namings), strict=True))
    return Sample(index, clip.frames, truth, clip if keep_clip else None, clip.layers[0].instance.astype(np.int16), [c["image"] for c in kept], ids, tagged, clip.instances > 0)


def _pull_focus(scene: Scene, seed: int) -> Scene:
    """Half the clips with depth of field get a rack focus (`kino.world.sample.rack_focus`), drawn from their own
    random stream: the scene sampler's stream, and so every eval suite's scenes, stay as they were."""
    if not any(k.aperture > 0 for k in scene.camera.keys):
        return scene
    rng = np.random.default_rng([seed, 17])
    if rng.random() >= RACK_SHARE:
        return scene
    return scene.with_(camera=dataclasses.replace(scene.camera, keys=rack_focus(scene.camera, rng)))


def _work(args: tuple[int, DataSpec]) -> Sample | None:
    """make_sample for the stream: a failing index is reported and skipped, so one bad clip cannot end a
    many-hour training run (the error is printed in full, to be fixed)."""
    try:
        return make_sample(*args)
    except Exception:  # noqa: BLE001 - reported, not hidden
        import sys
        import traceback

        print(f"kino.world: sample {args[0]} of {args[1]} failed and was skipped:", file=sys.stderr)
        traceback.print_exc()
        return None


class WorldStream:
    """Iterate samples start, start+1, ... (forever when count is None), rendered by `workers` processes."""

    def __init__(self, spec: DataSpec, start: int = 0, count: int | None = None, workers: int = 0):
        if workers < 0:
            raise ValueError(f"workers: must be >= 0, got {workers}")
        self.spec, self.start, self.count, self.workers = spec, start, count, workers

    def _indices(self) -> Iterator[int]:
        i = self.start
        while self.count is None or i < self.start + self.count:
            yield i
            i += 1

    def __iter__(self) -> Iterator[Sample]:
        jobs = ((i, self.spec) for i in self._indices())
        if self.workers == 0:
            yield from (s for s in map(_work, jobs) if s is not None)
            return
        # spawn, not fork: the trainer holds torch threads that must not be forked. Each worker is one core:
        # a multi-threaded BLAS in every worker oversubscribes the machine (measured 4x slower on 16 cores)
        saved = {v: os.environ.get(v) for v in _THREAD_VARS}
        os.environ.update({v: "1" for v in _THREAD_VARS})
        try:
            pool = mp.get_context("spawn").Pool(self.workers)
        finally:
            for v, old in saved.items():
                if old is None:
                    os.environ.pop(v, None)
                else:
                    os.environ[v] = old
        with pool:
            yield from (s for s in pool.imap(_work, jobs, chunksize=2) if s is not None)


def save_sample(sample: Sample, out_dir: str | Path, maps: bool = False) -> Path:
    """Write DIR/<index>.mp4 and DIR/<index>.json (and <index>.npz with depth/instance/flow if maps)."""
    out = Path(out_dir)
    stem = f"{sample.index:06d}"
    write_mp4(out / f"{stem}.mp4", sample.frames, sample.truth["fps"])
    if maps:
        clip = sample.clip or render(Scene.from_dict(sample.truth["scene"]), seed=sample.truth["seed"])
        tmp = out / f".{stem}.npz.tmp"
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, depth=clip.depth.astype(np.float16), instance=clip.instances.astype(np.int16), flow=forward_flow(clip).astype(np.float16))
        os.replace(tmp, out / f"{stem}.npz")
    tmp = out / f".{stem}.json.tmp"
    tmp.write_text(json.dumps(sample.truth))
    os.replace(tmp, out / f"{stem}.json")  # JSON last: a clip with a JSON is complete
    return out / f"{stem}.mp4"
