"""One entry point for every mode: `generate(request)` (and `stream(request)`, which yields chunks).

text-to-video, image-to-video (first, or first + last frame), keyframes at any frame, Extend,
video-to-video and tagged reference images (`@hero` in the prompt) are fields of one typed request,
validated here at the entry point with errors that name the field (style.md: limits checked up front,
never discovered deep in a KV cache).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from kino.controls import (
    CameraControl,
    ControlError,
    MotionBrushControl,
    Reference,
    brush_regions,
    brush_tensor,
    camera_path,
    camera_tensor,
    check_references,
    prompt_words,
)
from kino.guide import WarpGuide, drag_from_region, views_from_cameras
from kino.model.a2d import A2D, REF_SIZE, Conditions
from kino.model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from kino.model.text import text_encoder
from kino.world.camera import ease
from kino.world.controls import square_image

__all__ = ["Keyframe", "Reference", "GenerateRequest", "RequestError", "generate", "stream", "load_references", "parse_ratio", "RATIOS"]

# native sizes on the tiny model's 32-pixel grid at a 128-pixel short side (4:3 and 21:9 are the nearest
# grid sizes: 160x128 is 5:4, 288x128 is 9:4; every output reports its real size)
RATIOS = {"16:9": (224, 128), "9:16": (128, 224), "1:1": (128, 128), "4:3": (160, 128), "3:4": (128, 160), "21:9": (288, 128)}
MAX_SECONDS = 600.0
MAX_GUIDANCE = 20.0


class RequestError(ValueError):
    """A request field is invalid; the message names the field and the reason."""


@dataclass(frozen=True)
class Keyframe:
    """An image (H, W, 3) uint8, or a path to one, pinned at output frame `frame` (negative: from the end)."""

    image: np.ndarray | str
    frame: int = 0


@dataclass(frozen=True)
class GenerateRequest:
    prompt: str = ""
    seconds: float = 4.0
    fps: int = 16
    ratio: str = "16:9"
    seed: int = 0
    steps: int = 4
    keyframes: tuple[Keyframe, ...] = ()
    extend: np.ndarray | str | None = None  # source video to continue (T, H, W, 3) or a path
    video_to_video: np.ndarray | str | None = None  # source video to restyle
    strength: float = 0.7  # video-to-video: how far from the source (0 = copy, 1 = ignore it)
    camera: CameraControl | None = None  # Camera Director: preset moves / keyed path / depth of field
    motion_brush: MotionBrushControl | None = None  # painted regions with motion vectors on frame 0
    references: tuple[Reference, ...] = ()  # identity images, named @tag in the prompt; prefix tokens in this order
    # camera / brush warp guide (kino.guide): each chunk starts from the last frame warped by the requested motion,
    # noised to this level (lower follows the warp more closely; 1 = no warped start: the model alone, which for a
    # checkpoint trained with the guide as an input, `DecoderConfig.guide_input`, still reads the warp)
    warp_guide: float = 0.2
    # classifier-free guidance on the prompt (1 = off): each guided chunk also runs without the prompt (or with
    # `negative_prompt`) and extrapolates away from it; only the first `guidance_chunks` new chunks (None: all)
    guidance: float = 1.0
    guidance_chunks: int | None = 1
    negative_prompt: str = ""
    checkpoint: str | None = None
    extra: dict = field(default_factory=dict)


def parse_ratio(ratio: str) -> tuple[int, int]:
    if ratio not in RATIOS:
        raise RequestError(f"ratio: must be one of {sorted(RATIOS)}, got {ratio!r}")
    return RATIOS[ratio]


def _open(img: np.ndarray | str, where: str):
    """A path or an (H, W, 3) uint8 array as an RGB PIL image, or a RequestError naming `where`."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(img, (str, Path)):
        try:
            return Image.open(img).convert("RGB")
        except (OSError, UnidentifiedImageError) as exc:
            raise RequestError(f"{where}: unreadable image {str(img)!r} ({exc.__class__.__name__})") from None
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise RequestError(f"{where}: expected an (H, W, 3) uint8 image, got {arr.dtype} {arr.shape}")
    return Image.fromarray(arr)


def load_references(refs: Sequence[Reference], where: str = "references") -> list[np.ndarray]:
    """Each reference's image as the REF_SIZE square the model was trained on (padded, not cropped)."""
    return [square_image(np.asarray(_open(r.image, f"{where}[{i}].image")), REF_SIZE) for i, r in enumerate(refs)]


def _image(img: np.ndarray | str, where: str, size: tuple[int, int]) -> np.ndarray:
    """Load/convert to (H, W, 3) uint8 at `size` (W, H), center-cropped to the aspect ratio."""
    from PIL import Image

    pil = _open(img, where)
    w, h = size
    scale = max(w / pil.width, h / pil.height)
    pil = pil.resize((max(w, round(pil.width * scale)), max(h, round(pil.height * scale))), Image.BICUBIC)
    left, top = (pil.width - w) // 2, (pil.height - h) // 2
    return np.asarray(pil.crop((left, top, left + w, top + h)))


def _video(src: np.ndarray | str, where: str, size: tuple[int, int]) -> np.ndarray:
    from kino.io.video import read_mp4

    if isinstance(src, (str, Path)):
        try:
            frames, _ = read_mp4(src)
        except ValueError as exc:
            raise RequestError(f"{where}: {exc}") from None
    else:
        frames = np.asarray(src)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise RequestError(f"{where}: expected (T, H, W, 3) frames, got shape {frames.shape}")
    return np.stack([_image(f, where, size) for f in frames.astype(np.uint8)])


def _validate(req: GenerateRequest, chunk: int, max_frames: int) -> tuple[tuple[int, int], int, list[int]]:
    """Check every field; return the frame size, the frame count and the resolved keyframe indices."""
    size = parse_ratio(req.ratio)
    for name in ("seconds", "strength"):
        if isinstance(getattr(req, name), bool) or not isinstance(getattr(req, name), (int, float)):
            raise RequestError(f"{name}: must be a number, got {getattr(req, name)!r}")
    for name in ("fps", "seed", "steps"):
        if isinstance(getattr(req, name), bool) or not isinstance(getattr(req, name), int):
            raise RequestError(f"{name}: must be an integer, got {getattr(req, name)!r}")
    if not isinstance(req.prompt, str):
        raise RequestError(f"prompt: must be a string, got {type(req.prompt).__name__}")
    if not isinstance(req.fps, int) or not 1 <= req.fps <= 60:
        raise RequestError(f"fps: must be an integer in [1, 60], got {req.fps!r}")
    if not 0 < req.seconds <= MAX_SECONDS:
        raise RequestError(f"seconds: must be in (0, {MAX_SECONDS:g}], got {req.seconds!r}")
    if req.steps not in (1, 2, 4, 8):
        raise RequestError(f"steps: must be 1, 2, 4 or 8 (shortcut step sizes), got {req.steps!r}")
    frames = max(chunk, int(round(req.seconds * req.fps)) // chunk * chunk)
    if frames > max_frames:
        raise RequestError(f"seconds: {req.seconds} s at {req.fps} fps is {frames} frames, over this model's {max_frames}")
    needs_prompt = req.extend is None and req.video_to_video is None and not req.keyframes
    if needs_prompt and not req.prompt.strip():
        raise RequestError("prompt: must not be empty for text-to-video")
    if not 0.0 < req.strength <= 1.0:
        raise RequestError(f"strength: must be in (0, 1], got {req.strength!r}")
    if not isinstance(req.warp_guide, (int, float)) or isinstance(req.warp_guide, bool) or not 0.0 < req.warp_guide <= 1.0:
        raise RequestError(f"warp_guide: must be a number in (0, 1] (1 = off), got {req.warp_guide!r}")
    if isinstance(req.guidance, bool) or not isinstance(req.guidance, (int, float)) or not 0.0 <= req.guidance <= MAX_GUIDANCE:
        raise RequestError(f"guidance: must be a number in [0, {MAX_GUIDANCE:g}] (1 = off), got {req.guidance!r}")
    if req.guidance_chunks is not None and (isinstance(req.guidance_chunks, bool) or not isinstance(req.guidance_chunks, int) or req.guidance_chunks < 1):
        raise RequestError(f"guidance_chunks: must be a positive integer or None (every chunk), got {req.guidance_chunks!r}")
    if not isinstance(req.negative_prompt, str):
        raise RequestError(f"negative_prompt: must be a string, got {type(req.negative_prompt).__name__}")
    if req.extend is not None and req.video_to_video is not None:
        raise RequestError("extend: cannot be combined with video_to_video")
    at = []
    for i, k in enumerate(req.keyframes):
        f = k.frame + frames if isinstance(k.frame, int) and k.frame < 0 else k.frame
        if not isinstance(f, int) or not 0 <= f < frames:
            raise RequestError(f"keyframes[{i}].frame: {k.frame!r} is outside the {frames} frames of this clip")
        at.append(f)
    try:
        check_references(req.references, req.prompt)
    except ControlError as exc:
        raise RequestError(str(exc)) from None
    return size, frames, at


def stream(req: GenerateRequest, model: A2D | None = None) -> Iterator[np.ndarray]:
    """Validate now, then return an iterator of uint8 frames (chunk, H, W, 3), each yielded as soon as it is made."""
    if model is None:
        path = Path(req.checkpoint) if req.checkpoint else DEFAULT_CHECKPOINT
        if not path.is_file():
            raise RequestError(f"checkpoint: {str(path)!r} does not exist (train one with `kino train`)")
        model = load_checkpoint(path)
    k = model.cfg.chunk
    (w, h), frames, key_at = _validate(req, k, model.cfg.max_frames)
    down = model.tokenizer.down * max(model.patch, model.decoder.multiple)
    if h % down or w % down:
        raise RequestError(f"ratio: {w}x{h} is not a multiple of this model's {down}-pixel grid")
    keys = [_image(key.image, f"keyframes[{i}].image", (w, h)) for i, key in enumerate(req.keyframes)]
    token_px = model.tokenizer.down * model.patch
    if req.references and REF_SIZE % token_px:
        raise RequestError(f"references: this model's {token_px}-pixel tokens do not tile the {REF_SIZE}-pixel reference square")
    refs = load_references(req.references)
    ext = _video(req.extend, "extend", (w, h)) if req.extend is not None else None
    v2v = _video(req.video_to_video, "video_to_video", (w, h)) if req.video_to_video is not None else None
    controls = {}
    ctx = 0 if ext is None else len(ext) - len(ext) % k if len(ext) >= k else k  # Extend: frames before the new ones
    try:  # built now, so a bad control fails at the entry point, naming its field
        if req.camera is not None:
            if not isinstance(req.camera, CameraControl):
                raise RequestError(f"camera: expected a CameraControl, got {type(req.camera).__name__}")
            controls["camera"] = camera_tensor(req.camera, ctx + frames, (w, h), req.fps)
            controls["views"] = views_from_cameras(camera_path(req.camera, ctx + frames, (w, h), req.fps))
        if req.motion_brush is not None:
            if not isinstance(req.motion_brush, MotionBrushControl):
                raise RequestError(f"motion_brush: expected a MotionBrushControl, got {type(req.motion_brush).__name__}")
            grid = (h // model.tokenizer.down // model.patch, w // model.tokenizer.down // model.patch)
            controls["brush"] = brush_tensor(req.motion_brush, (w, h), grid)
            controls["drags"] = [drag_from_region(m, v, frames, req.fps, lambda u, e=e: ease(u, e)) for m, v, e in brush_regions(req.motion_brush, (w, h))[0]]
            controls["drag_from"] = ctx  # a brush paints the first new frame
    except ControlError as exc:
        raise RequestError(str(exc)) from None
    return _run(req, model, (w, h), frames, list(zip(key_at, keys, strict=True)), ext, v2v, controls, refs)


def _run(req: GenerateRequest, model: A2D, size: tuple[int, int], frames: int, keys: list, ext, v2v, controls: dict, refs: list) -> Iterator[np.ndarray]:
    """The generation loop behind `stream` (inputs already validated and loaded)."""
    k = model.cfg.chunk
    w, h = size
    dev = next(model.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(req.seed)

    def encode(imgs: np.ndarray) -> torch.Tensor:  # (T, H, W, 3) uint8 → (1, T, C, h, w)
        x = torch.from_numpy(np.array(imgs)).to(dev).permute(0, 3, 1, 2).float().div(127.5).sub(1)[None]
        return model.tokenizer.encode(x)

    with torch.no_grad():
        cond = Conditions(*_text(model, req.prompt, dev))
        if "camera" in controls:
            cond.camera = controls["camera"].to(dev)
        if "brush" in controls:
            cond.brush = controls["brush"].to(dev)
        cond.references = [encode(img[None])[:, 0] for img in refs]  # (1, C, h, w) each, in the order given
        context = source = None
        if ext is not None:
            if len(ext) < k:  # shorter than a chunk: hold the first frame so the source is still used
                ext = np.concatenate([np.repeat(ext[:1], k - len(ext), 0), ext])
            context = encode(ext[len(ext) % k :])  # whole chunks, the latest frames kept
        offset = 0 if context is None else context.shape[1]  # keyframe indices count the new frames only
        for f, img in keys:
            cond.keyframes.append((f + offset, encode(img[None])[:, 0]))
        if v2v is not None:
            reps = -(-frames // len(v2v))
            source = encode(np.concatenate([v2v] * reps)[:frames])
        # the unconditional branch keeps every control and drops only the words, as training drops them
        # nothing to guide by when both branches read the same words (e.g. an i2v request without a prompt)
        same = prompt_words(req.prompt).strip() == prompt_words(req.negative_prompt).strip()
        uncond = dataclasses.replace(cond, text=None, text_mask=None) if req.guidance != 1.0 and not same else None
        if uncond is not None:
            uncond.text, uncond.text_mask = _text(model, req.negative_prompt, dev)
        lat_hw = (h // model.tokenizer.down, w // model.tokenizer.down)
        warp = WarpGuide((w, h), k, controls.get("views"), controls.get("drags", ()), controls.get("drag_from", 0))
        guide = warp.for_latents(model.tokenizer) if warp else None
        t = offset  # the next frame's index in the camera path (Extend: after the context)
        for z in model.stream(cond, frames // k, lat_hw, steps=req.steps, generator=gen, context=context, source=source, strength=req.strength, guide=guide, guide_level=req.warp_guide,
                              uncond=uncond, guidance=req.guidance, guidance_chunks=req.guidance_chunks):
            x = model.tokenizer.decode(z)[0]  # (chunk, 3, H, W)
            x = x.clamp(-1, 1).add(1).mul(127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
            # the requested depth of field, rendered on what is shown (never on what the model reads back):
            # the decoder's own ~3 px blur is a floor it cannot focus below, so a lens it learnt or copied from
            # the guide washes out (rack focus 0.28); the guide's ray trace gives each pixel's depth
            yield warp.lens(t, x)  # frames unchanged without a camera path or an aperture
            t += len(x)


def _text(model: A2D, prompt: str, dev) -> tuple[torch.Tensor, torch.Tensor]:
    """MiniLM token states (1, L, D) and mask of a prompt's words; no words: one zeroed token, the dropped text of training."""
    words = (prompt_words(prompt).strip() or ".") if prompt.strip() else ""  # "": no text, as training drops it
    states, mask = text_encoder(model.cfg.backbone.max_text).encode_or_drop([words])
    return states.to(dev), mask.to(dev)


def generate(req: GenerateRequest, model: A2D | None = None) -> np.ndarray:
    """All frames (T, H, W, 3) uint8 of a request."""
    return np.concatenate(list(stream(req, model)))
