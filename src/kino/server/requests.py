"""Request bodies of the task-creating endpoints and their checks against the served model.

Pydantic models give the shape (and the OpenAPI document); `normalise` checks the meaning against the
served model's configuration — model name, mode, ratio, duration, prompt length in UTF-16 units, keyframe
positions, reference tags and the prompt's @tags — and fetches every media input, so a task is stored only
when it can run. Every failure is an `ApiIssue` that names the field's path, reported in Runway's
`{"error", "issues"}` body with status 400.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kino.controls import ControlError, Reference, brush_from_dict, brush_tensor, camera_from_dict, check_references
from kino.server.config import ServedModel, ServerConfig
from kino.server.media import Fetcher, MediaError

__all__ = ["ApiIssue", "KinoReference", "TextToVideo", "ImageToVideo", "VideoToVideo", "Upload", "UsageQuery", "normalise", "NATIVE_SIZES"]

# what the Kino model renders for each ratio (its 32-pixel grid at a 128-pixel short side); reported per task
NATIVE_SIZES = {"16:9": "224x128", "9:16": "128x224", "1:1": "128x128", "4:3": "160x128", "3:4": "128x160", "21:9": "288x128"}


class ApiIssue(Exception):
    def __init__(self, path: list, message: str, code: str = "invalid_value", values: list | None = None):
        super().__init__(message)
        self.issue = {"code": code, "message": message, "path": path} | ({"values": values} if values is not None else {})


class _Body(BaseModel):
    # allow_inf_nan: JSON has no NaN/Infinity, but Python's parser reads them (and 1e400 as inf); refuse them here
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


class ContentModeration(_Body):
    publicFigureThreshold: Literal["auto", "low"] | None = None


class PromptImage(_Body):
    uri: str
    position: Literal["first", "last"]


class KinoKeyframe(_Body):
    """Kino extension: an image pinned at any frame (or second, or fraction `at` of the clip)."""

    uri: str
    frame: int | None = None
    seconds: float | None = None
    at: float | None = Field(default=None, ge=0.0, le=1.0)


class KinoReference(_Body):
    """Kino extension in Runway's `referenceImages` shape (gen4_image): an image named `@tag` in promptText.
    `type: "image"` is accepted too, as Runway's video_to_video `references` items carry it."""

    uri: str
    tag: str | None = None
    type: Literal["image"] | None = None


class Extend(_Body):
    """Kino extension: continue this video (real frames are the context) for `duration` seconds."""

    videoUri: str


class _Common(_Body):
    model: str
    seed: int | None = Field(default=None, ge=0, le=4294967295)
    contentModeration: ContentModeration | None = None
    outputFormat: Literal["mp4"] | None = None
    keyframes: list[KinoKeyframe] | None = None
    camera: dict | None = None  # Kino extension: controls.md's camera object (preset, keys, focus, aperture)
    motionBrush: dict | None = None  # Kino extension: {regions: [{mask URI | polygon, vector, speed, ambient}], staticMask URI}
    references: list[KinoReference] | None = None  # Kino extension: identity images, named @tag in promptText
    warpGuide: float | None = Field(default=None, gt=0.0, le=1.0)  # Kino extension: camera/brush warp-guide level (1 = off)
    guidance: float | None = Field(default=None, ge=0.0, le=20.0)  # Kino extension: classifier-free guidance scale (1 = off)
    guidanceChunks: int | None = Field(default=None, ge=0, le=10_000)  # Kino extension: guide the first N chunks (0 = all)
    negativePromptText: str | None = None  # Kino extension: what guidance steers away from (checked as promptText is)


class TextToVideo(_Common):
    promptText: str
    ratio: str
    duration: int
    extend: Extend | None = None


class ImageToVideo(_Common):
    promptImage: str | list[PromptImage]
    promptText: str | None = None
    ratio: str
    duration: int = 5


class VideoKeyframeRange(_Body):
    start_seconds: int
    end_seconds: int


class VideoKeyframe(_Body):
    uri: str
    seconds: float | None = None
    at: float | None = Field(default=None, ge=0.0, le=1.0)
    range: VideoKeyframeRange | None = None


class VideoToVideo(_Common):
    videoUri: str
    promptText: str | None = None
    ratio: str | None = None
    keyframes: list[VideoKeyframe] | None = None  # type: ignore[assignment]  (Runway's shape on this endpoint)
    strength: float = Field(default=0.7, gt=0.0, le=1.0)  # Kino extension: 0 = copy, 1 = ignore the source


class Upload(_Body):
    filename: str = Field(min_length=1, max_length=255)
    type: Literal["ephemeral"]


class UsageQuery(_Body):
    startDate: str | None = None
    beforeDate: str | None = None


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _model(cfg: ServerConfig, name: str, kind: str) -> ServedModel:
    m = cfg.model(name)
    allowed = [x.name for x in cfg.models if kind in x.modes]
    if m is None or kind not in m.modes:
        raise ApiIssue(["model"], f"Invalid option: expected one of {allowed}", values=allowed)
    return m


def normalise(body: _Common, kind: str, cfg: ServerConfig, fetch: Fetcher, inputs: Path) -> tuple[ServedModel, dict, dict]:
    """Check a body against its model and fetch its media into `inputs`: (model, stored request, task metadata)."""
    m = _model(cfg, body.model, kind)
    prompt = body.promptText or ""
    if kind == "text_to_video" and not prompt.strip():
        raise ApiIssue(["promptText"], "promptText must be a non-empty string")
    for name, text in (("promptText", prompt), ("negativePromptText", body.negativePromptText or "")):
        try:
            units = _utf16(text)
        except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800" escape or CESU-8 bytes) is not text
            raise ApiIssue([name], f"{name} must be valid Unicode text (it contains a lone UTF-16 surrogate)") from None
        if units > cfg.limits.prompt_units:
            raise ApiIssue([name], f"{name} is longer than {cfg.limits.prompt_units} UTF-16 code units")
    refs = body.references or []
    try:  # tags, count and the prompt's @tags, before any media is fetched
        check_references([Reference(r.tag, r.uri) for r in refs], prompt, "references", "promptText")
    except ControlError as exc:
        raise ApiIssue(list(exc.path) or ["references"], str(exc)) from None
    ratio = body.ratio if body.ratio is not None else "1280:720"
    if ratio not in m.ratios:
        raise ApiIssue(["ratio"], f"Invalid option: expected one of {list(m.ratios)}", values=list(m.ratios))
    kratio = m.kino_ratio(ratio)
    inputs.mkdir(parents=True, exist_ok=True)

    def save(uri: str, path: list, kind_: str):
        try:
            media = fetch.fetch(uri, ".".join(str(p) for p in path), kind_)
        except MediaError as exc:
            raise ApiIssue(path, exc.reason, code="invalid_asset") from None
        f = inputs / f"{'_'.join(str(p) for p in path)}.{media.ext}"
        f.write_bytes(media.data)
        return str(f), media

    fps = 16
    req: dict = {"prompt": prompt, "ratio": kratio, "fps": fps, "keyframes": []}
    if kind == "video_to_video":
        src, media = save(body.videoUri, ["videoUri"], "video")
        seconds = min(float(m.max_seconds), max(float(m.min_seconds), round(media.seconds or m.min_seconds, 3)))
        req |= {"video_to_video": src, "strength": body.strength}
    else:
        if not m.min_seconds <= body.duration <= m.max_seconds:
            raise ApiIssue(["duration"], f"duration must be an integer from {m.min_seconds} to {m.max_seconds}", code="too_big" if body.duration > m.max_seconds else "too_small")
        seconds = float(body.duration)
    frames = max(2, int(round(seconds * fps)) // 2 * 2)
    if kind == "image_to_video":
        images = [PromptImage(uri=body.promptImage, position="first")] if isinstance(body.promptImage, str) else body.promptImage
        if not images or len({i.position for i in images}) != len(images):
            raise ApiIssue(["promptImage"], "promptImage needs one image per position (first and/or last)")
        for i, img in enumerate(images):
            path, _ = save(img.uri, ["promptImage", i, "uri"] if not isinstance(body.promptImage, str) else ["promptImage"], "image")
            req["keyframes"].append({"path": path, "frame": 0 if img.position == "first" else frames - 1})
    if kind == "text_to_video" and body.extend is not None:
        src, _ = save(body.extend.videoUri, ["extend", "videoUri"], "video")
        req["extend"] = src
    keys = body.keyframes or []
    if len(keys) > cfg.limits.max_keyframes:
        raise ApiIssue(["keyframes"], f"at most {cfg.limits.max_keyframes} keyframes")
    for i, k in enumerate(keys):
        given = [v for v in (getattr(k, "frame", None), k.seconds, k.at) if v is not None]
        if len(given) != 1:
            raise ApiIssue(["keyframes", i], "give exactly one of frame, seconds or at")
        if getattr(k, "frame", None) is not None:
            f = k.frame + frames if k.frame < 0 else k.frame
        elif k.seconds is not None:
            f = int(round(max(-1.0, min(k.seconds * fps, float(frames)))))  # clamped: a huge finite value overflows to inf
        else:
            f = int(round(k.at * (frames - 1)))
        if not 0 <= f < frames:
            raise ApiIssue(["keyframes", i], f"keyframe lands on frame {f}, outside the {frames} frames of this video")
        path, _ = save(k.uri, ["keyframes", i, "uri"], "image")
        req["keyframes"].append({"path": path, "frame": f})
    req["references"] = [{"path": save(r.uri, ["references", i, "uri"], "image")[0], "tag": r.tag} for i, r in enumerate(refs)]
    if body.camera is not None:
        try:
            camera_from_dict(body.camera, "camera")
        except ControlError as exc:
            raise ApiIssue(["camera"], str(exc)) from None
        req["camera"] = body.camera
    if body.motionBrush is not None:
        brush = dict(body.motionBrush)
        regions = brush.get("regions")
        if isinstance(regions, list):
            brush["regions"] = [dict(r) if isinstance(r, dict) else r for r in regions]
            for i, r in enumerate(brush["regions"]):
                if isinstance(r, dict) and isinstance(r.get("mask"), str):
                    r["mask"], _ = save(r["mask"], ["motionBrush", "regions", i, "mask"], "image")
        if isinstance(brush.get("staticMask"), str):
            brush["staticMask"], _ = save(brush["staticMask"], ["motionBrush", "staticMask"], "image")
        try:
            ctl = brush_from_dict(brush, "motionBrush")
            from kino.generate import RATIOS

            size = RATIOS[kratio]
            brush_tensor(ctl, size, (size[1] // 32, size[0] // 32))  # masks must match the output size
        except ControlError as exc:
            raise ApiIssue(["motionBrush"], str(exc)) from None
        req["motion_brush"] = brush
    if body.warpGuide is not None:
        req["warp_guide"] = body.warpGuide
    if body.guidance is not None:
        req["guidance"] = body.guidance
    if body.guidanceChunks is not None:
        req["guidance_chunks"] = body.guidanceChunks
    if body.negativePromptText is not None:
        req["negative_prompt"] = body.negativePromptText
    req["seconds"] = frames / fps
    meta = {"frames": frames, "fps": fps, "ratio": kratio, "requestedRatio": ratio, "size": NATIVE_SIZES[kratio], "model": m.name}
    if m.alias_of:
        meta["aliasOf"] = m.alias_of
    return m, req, meta
