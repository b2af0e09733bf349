"""Where `kino eval` gets each case's video: the ground-truth render itself ("truth", the floor), a directory of
<case_id>.mp4 files (a foreign model's output), or a checkpoint that generates it with `kino.generate` at the
case's prompt, seed, length, ratio and controls (timed: first chunk, frames per second, peak RSS).

`resolve_source(source, ...)` picks one; each has `prepare(cases)` (check up front), `video(gt, out_dir)` ->
(frames, timing or None, note or None) and `stats()` (generation timing over the run, or None).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import time
from pathlib import Path

import numpy as np

from kino.eval.suites import Case, GroundTruth

__all__ = ["Source", "resolve_source"]


def _resize(frames: np.ndarray, w: int, h: int) -> np.ndarray:
    if frames.shape[1:3] == (h, w):
        return frames
    import cv2

    return np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])


class Source:
    """The ground-truth render itself (the floor); the base of every source."""

    kind, path = "truth", None

    def __init__(self):
        self.meta: dict = {}

    def stats(self) -> dict | None:
        """Generation timing over the run (sources that generate)."""
        return None

    def prepare(self, cases: list[Case]) -> None:
        pass

    def video(self, gt: GroundTruth, out_dir: Path) -> tuple[np.ndarray, dict | None, str | None]:
        return gt.frames, None, None


class _Videos(Source):
    kind = "videos"

    def __init__(self, path: Path):
        super().__init__()
        self.path = path

    def prepare(self, cases: list[Case]) -> None:
        missing = [f"{c.id}.mp4" for c in cases if not (self.path / f"{c.id}.mp4").is_file()]
        if missing:
            raise ValueError(f"videos: {len(missing)} of {len(cases)} case videos are missing from {str(self.path)!r}: {', '.join(missing)}")

    def video(self, gt: GroundTruth, out_dir: Path) -> tuple[np.ndarray, dict | None, str | None]:
        from kino.io.video import read_mp4

        frames, _fps = read_mp4(self.path / f"{gt.case.id}.mp4")
        frames = _resize(frames, gt.case.width, gt.case.height)
        n, note = len(gt.frames), None
        if gt.source is not None and len(frames) == n - len(gt.source):  # only the continuation: prepend the source
            frames = np.concatenate([gt.source, frames])
        if len(frames) > n:
            frames = frames[:n]
        elif len(frames) < n:
            note = f"video has {len(frames)} of {n} frames: scored over those"
        return frames, None, note


class _Checkpoint(Source):
    kind = "checkpoint"

    def __init__(self, path: Path, steps: int = 4, device: str | None = None, without_controls: bool = False, warp_guide: float | None = None,
                 guidance: dict | None = None):
        super().__init__()
        import torch

        from kino.generate import GenerateRequest
        from kino.model.checkpoint import load_checkpoint
        from kino.model.text import text_encoder

        # the ablation of issue 6: the same case, seed and prompt with its control (keyframes, brush, camera
        # path, reference images) left out, so `kino eval compare` shows what each control adds over the text alone
        self.path, self.steps, self.without_controls = path, steps, without_controls
        # camera / brush cases get the warp guide as `generate` gives it (its default level unless set; 1 = the model alone)
        self.warp_guide = GenerateRequest.warp_guide if warp_guide is None else warp_guide
        # classifier-free guidance fields of GenerateRequest (guidance, guidance_chunks), generate's defaults unless set
        self.guidance = {"guidance": GenerateRequest.guidance, "guidance_chunks": GenerateRequest.guidance_chunks, **(guidance or {})}
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        t = time.perf_counter()
        self.model = load_checkpoint(path, self.device)
        text_encoder(self.model.cfg.backbone.max_text).encode(["warm up"])  # loading MiniLM is a one-off, not per-clip latency
        self.load_s = time.perf_counter() - t
        self.meta = {"config": json.loads(self.model.cfg.to_json()), "meta": getattr(self.model, "meta", {}), "steps": steps, "device": self.device,
                     "without_controls": without_controls, "warp_guide": self.warp_guide, **self.guidance}
        self.timings: list[dict] = []
        self._warm: set[str] = set()

    def video(self, gt: GroundTruth, out_dir: Path) -> tuple[np.ndarray, dict | None, str | None]:
        from kino.controls import Reference, prompt_words
        from kino.generate import GenerateRequest, Keyframe, parse_ratio, stream
        from kino.io.video import write_mp4

        c = gt.case
        mode = c.controls.get("mode", "t2v")
        w, h = parse_ratio(c.ratio)
        seconds = c.seconds
        # without its reference images a case keeps its words: "@hero" becomes "hero", as the text encoder reads it anyway
        prompt = gt.prompt if gt.references and not self.without_controls else prompt_words(gt.prompt)
        fields: dict = {"prompt": prompt, "fps": c.fps, "ratio": c.ratio, "seed": c.seed, "steps": self.steps, **self.guidance}
        # the ablation drops what a mode controls with: a brush case keeps its first frame (the brush is the
        # control there, the image is the input it paints on), an image-to-video or keyframe case does not
        if gt.keyframes and (not self.without_controls or mode == "brush"):
            fields["keyframes"] = tuple(Keyframe(img, f) for f, img in gt.keyframes)
        if gt.references and not self.without_controls:
            fields["references"] = tuple(Reference(tag, img) for tag, img in gt.references)
        if gt.source is not None:
            fields["extend"] = gt.source
            seconds = (len(gt.frames) - len(gt.source)) / c.fps
        req = GenerateRequest(seconds=seconds, **fields)
        if c.ratio not in self._warm:  # one-off kernel set-up per frame size is not per-clip latency
            for _ in stream(GenerateRequest(prompt=prompt_words(gt.prompt), seconds=4 / c.fps, fps=c.fps, ratio=c.ratio, steps=self.steps), self.model):
                pass
            self._warm.add(c.ratio)
        camera = _camera_tensor(gt.truth) if mode in ("camera", "dof") and not self.without_controls else None
        brush = _brush_tensor(self.model, gt, w, h) if mode == "brush" and not self.without_controls else None
        # one guide from the truth, as `generate` builds one from controls: it starts the chunks (when the level or
        # the model asks for it) and renders the camera path's depth of field on the frames shown (`WarpGuide.lens`)
        warp = _warp_guide(self.model, gt, w, h, camera is not None, brush is not None)
        guide = warp.for_latents(self.model.tokenizer) if warp is not None and (self.warp_guide < 1 or self.model.decoder.guide_ch) else None
        t = 0 if gt.source is None else len(gt.source)
        chunks, first = [], None
        t0 = time.perf_counter()
        with _conditioned(self.model, camera, brush, guide, self.warp_guide):
            for chunk in stream(req, self.model):
                if warp is not None:
                    chunk = warp.lens(t, chunk)
                t += len(chunk)
                if first is None:
                    first = time.perf_counter() - t0
                chunks.append(chunk)
        wall = time.perf_counter() - t0
        frames = np.concatenate(chunks)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        timing = {"time_to_first_chunk_s": first, "wall_s": wall, "frames": len(frames), "frames_per_s": len(frames) / wall, "peak_rss_mb": rss}
        self.timings.append(timing)
        write_mp4(out_dir / "videos" / f"{c.id}.mp4", frames, c.fps)
        frames = _resize(frames, c.width, c.height)
        if gt.source is not None:
            frames = np.concatenate([gt.source, frames])
        n, note = len(gt.frames), None
        if len(frames) < n:
            note = f"generated {len(frames)} of {n} frames"
        return frames[:n], timing, note

    def stats(self) -> dict | None:
        if not self.timings:
            return None
        ts = self.timings
        return {"load_s": self.load_s, "time_to_first_chunk_s": float(np.mean([t["time_to_first_chunk_s"] for t in ts])),
                "frames_per_s": float(sum(t["frames"] for t in ts) / sum(t["wall_s"] for t in ts)),
                "peak_rss_mb": float(max(t["peak_rss_mb"] for t in ts)), "device": self.device}


def _camera_tensor(truth: dict):
    """(1, T, CAMERA_DIM) Camera Director conditioning from the truth cameras (as the trainer builds it)."""
    import torch

    from kino.model.a2d import camera_features

    cams = truth["camera"]
    R, t, f, focus, ap = (torch.tensor([c[k] for c in cams], dtype=torch.float32) for k in ("R", "t", "focal_px", "focus", "aperture"))
    return camera_features(R, t, f, focus, ap)[None]


def _brush_tensor(model, gt: GroundTruth, w: int, h: int):
    """(1, hp, wp, BRUSH_DIM) Motion Brush conditioning from the truth (as the trainer builds it)."""
    import cv2

    from kino.train import brush_grid

    hp, wp = h // model.tokenizer.down // model.patch, w // model.tokenizer.down // model.patch
    inst = gt.instance0
    truth = gt.truth
    if inst.shape != (h, w):  # the generator works at its ratio's size: scale the ids map and the tracks
        sx, sy = w / inst.shape[1], h / inst.shape[0]
        inst = cv2.resize(inst.astype(np.int32).astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST).astype(np.int16)
        truth = {**truth, "objects": [{**o, "track": [[x * sx, y * sy, v] for x, y, v in o["track"]]} for o in truth["objects"]]}
    return brush_grid(truth, inst, hp, wp)[None]


def _warp_guide(model, gt: GroundTruth, w: int, h: int, camera: bool, brush: bool):
    """`kino.guide.WarpGuide` from the truth cameras / brushed objects, as `generate` builds it from controls; None
    without either."""
    from kino.guide import guide_from_truth

    return guide_from_truth(gt.truth, gt.instance0, (w, h), model.cfg.chunk, camera, brush)


@contextlib.contextmanager
def _conditioned(model, camera, brush, guide=None, level: float = 1.0):
    """Add camera / brush conditions (and their warp guide) to every `model.stream` call inside: the truth's
    cameras and tracks are not `kino.generate` controls, so they go to the model directly."""
    if camera is None and brush is None:
        yield
        return
    orig = model.stream

    def stream(cond, *args, **kw):
        dev = cond.text.device
        for c in (cond, kw.get("uncond")):  # guidance's branch without the prompt keeps every control too
            if c is not None and camera is not None:
                c.camera = camera.to(dev)
            if c is not None and brush is not None:
                c.brush = brush.to(dev)
        if guide is not None:
            kw.update(guide=guide, guide_level=level)
        return orig(cond, *args, **kw)

    model.stream = stream
    try:
        yield
    finally:
        del model.stream


def resolve_source(source: str | os.PathLike, steps: int = 4, device: str | None = None, without_controls: bool = False, warp_guide: float | None = None,
                   guidance: dict | None = None):
    """"truth", a directory of <case_id>.mp4, or a checkpoint file (optionally generating with controls left out)."""
    p = Path(source)
    if without_controls and not p.is_file():
        raise ValueError("without_controls: only applies when generating from a checkpoint")
    if warp_guide is not None and not p.is_file():
        raise ValueError("warp_guide: only applies when generating from a checkpoint")
    if warp_guide is not None and not 0 < warp_guide <= 1:
        raise ValueError(f"warp_guide: must be in (0, 1] (1 = the model alone), got {warp_guide!r}")
    if guidance and not p.is_file():
        raise ValueError("guidance: only applies when generating from a checkpoint")
    if guidance:
        from kino.generate import GenerateRequest, RequestError, _validate

        try:  # the same checks generate makes, before any case runs
            _validate(GenerateRequest(prompt="x", **guidance), 2, 10**9)
        except (RequestError, TypeError) as exc:
            raise ValueError(str(exc)) from None
    if str(source) == "truth":
        return Source()
    if p.is_dir():
        return _Videos(p)
    if p.is_file():
        return _Checkpoint(p, steps, device, without_controls, warp_guide, guidance)
    raise ValueError(f"source: {str(source)!r} is neither a checkpoint file, a directory of videos nor 'truth'")
