"""Deterministic MP4 (H.264) writing/reading, contact sheets and atomic PNG saving."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from fractions import Fraction
from numbers import Integral
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["write_mp4", "read_mp4", "contact_sheet", "save_png"]

# Options that make libx264 + the MP4 muxer produce byte-identical files for identical input.
# - cpu-independent=1: without it x264's SIMD mb-tree (lookahead) path makes the output depend on leftover heap
#   contents, so a second encode in the same process (e.g. after a decode) gives different bytes; it also keeps
#   the output independent of the host's CPU features.
# - threads=1 / no sliced threads: frame-thread scheduling cannot affect decisions, and the options string that
#   x264 embeds in its SEI does not depend on the core count.
# - fflags=+bitexact on the muxer: no "Lavf<version>" encoder tag, so library upgrades alone don't change bytes.
_X264_OPTIONS = {
    "preset": "medium",
    "tune": "film",
    "threads": "1",
    "x264-params": "cpu-independent=1:sliced-threads=0",
}
_MUXER_OPTIONS = {"fflags": "+bitexact"}


def _check_int(name: str, value: object, lo: int, hi: int | None = None) -> int:
    """Validate that ``value`` is an integer in ``[lo, hi]`` and return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer, got {type(value).__name__}")
    v = int(value)
    if v < lo or (hi is not None and v > hi):
        bound = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be in {bound}, got {v}")
    return v


def _check_frames(frames: object, *, even: bool) -> np.ndarray:
    """Validate a (T,H,W,3) uint8 clip and return it as a C-contiguous array."""
    if not isinstance(frames, np.ndarray):
        raise ValueError(f"frames must be a numpy.ndarray, got {type(frames).__name__}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must have dtype uint8, got {frames.dtype}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must have shape (T, H, W, 3), got {frames.shape}")
    t, h, w, _ = frames.shape
    if t < 1:
        raise ValueError("frames must contain at least one frame (T >= 1), got T=0")
    if h < 1 or w < 1:
        raise ValueError(f"frames must have positive height and width, got H={h}, W={w}")
    if even and (h % 2 or w % 2):
        raise ValueError(f"frames height and width must be even for yuv420p, got H={h}, W={w}")
    return np.ascontiguousarray(frames)


def _atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temp file beside ``path`` and move it into place; clean up on failure."""
    dst = Path(path)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return dst


def write_mp4(path: str | os.PathLike[str], frames: np.ndarray, fps: int, crf: int = 18) -> Path:
    """Encode a (T,H,W,3) uint8 RGB clip to an H.264 MP4 atomically and byte-deterministically."""
    import av  # imported on use: machines that only train never need FFmpeg
    clip = _check_frames(frames, even=True)
    fps = _check_int("fps", fps, 1, 120)
    crf = _check_int("crf", crf, 0, 51)
    _, h, w, _ = clip.shape

    def encode(tmp: Path) -> None:
        """Encode ``clip`` into ``tmp``."""
        with av.open(str(tmp), mode="w", format="mp4", options=dict(_MUXER_OPTIONS)) as container:
            stream = container.add_stream("libx264", rate=fps, options={**_X264_OPTIONS, "crf": str(crf)})
            stream.width = w
            stream.height = h
            stream.pix_fmt = "yuv420p"
            stream.time_base = Fraction(1, fps)
            stream.codec_context.thread_count = 1
            for i, rgb in enumerate(clip):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts = i
                frame.time_base = Fraction(1, fps)
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))

    return _atomic_write(path, encode)


def read_mp4(path: str | os.PathLike[str]) -> tuple[np.ndarray, float]:
    """Decode a video file into (T,H,W,3) uint8 RGB frames and its frame rate."""
    import av  # imported on use: machines that only train never need FFmpeg
    src = Path(path)
    try:
        with av.open(str(src), mode="r") as container:
            if not container.streams.video:
                raise ValueError("no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise ValueError(f"unreadable video {str(src)!r}: {exc}") from exc
    if not frames:
        raise ValueError(f"unreadable video {str(src)!r}: no decodable frames")
    fps = float(rate) if rate else 0.0
    return np.stack(frames), fps


def contact_sheet(frames: np.ndarray, every: int = 8, scale: int = 2, columns: int = 8) -> np.ndarray:
    """Tile every ``every``-th frame, nearest-neighbour upscaled by ``scale``, into a ``columns``-wide grid."""
    clip = _check_frames(frames, even=False)
    every = _check_int("every", every, 1)
    scale = _check_int("scale", scale, 1)
    columns = _check_int("columns", columns, 1)
    picked = clip[::every]
    if scale > 1:
        picked = picked.repeat(scale, axis=1).repeat(scale, axis=2)
    n, h, w, c = picked.shape
    cols = min(columns, n)
    rows = -(-n // cols)
    sheet = np.zeros((rows * h, cols * w, c), dtype=np.uint8)
    for k, img in enumerate(picked):
        r, q = divmod(k, cols)
        sheet[r * h : (r + 1) * h, q * w : (q + 1) * w] = img
    return sheet


def save_png(path: str | os.PathLike[str], image: np.ndarray) -> Path:
    """Atomically save an (H,W,3) or (H,W) uint8 image as PNG."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy.ndarray, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must have dtype uint8, got {image.dtype}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (3, 4))):
        raise ValueError(f"image must have shape (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must be non-empty, got shape {image.shape}")
    pil = Image.fromarray(np.ascontiguousarray(image))
    return _atomic_write(path, lambda tmp: pil.save(tmp, format="PNG"))
