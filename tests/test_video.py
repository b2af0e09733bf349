"""Tests for kino.io.video: MP4 round-trip, determinism, validation, atomicity and contact sheets."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from kino.io.video import contact_sheet, read_mp4, save_png, write_mp4


def gradient_clip(t: int = 12, h: int = 48, w: int = 64) -> np.ndarray:
    """Return a smooth, slowly moving synthetic RGB gradient clip of shape (t, h, w, 3)."""
    tt = np.arange(t, dtype=np.float64)[:, None, None]
    yy = np.arange(h, dtype=np.float64)[None, :, None]
    xx = np.arange(w, dtype=np.float64)[None, None, :]
    r = 40 + 170 * (xx + 2 * tt) / (w + 2 * t)
    g = 40 + 170 * yy / h + 0 * tt
    b = 128 + 60 * np.sin((xx + yy) / 20.0 + tt / 4.0)
    return np.stack(np.broadcast_arrays(r, g, b), axis=-1).round().astype(np.uint8)


def leftovers(directory: Path) -> list[str]:
    """Return the names of all entries in ``directory``."""
    return sorted(p.name for p in directory.iterdir())


def test_round_trip(tmp_out: Path) -> None:
    clip = gradient_clip()
    path = write_mp4(tmp_out / "clip.mp4", clip, fps=24)
    assert path == tmp_out / "clip.mp4"
    frames, fps = read_mp4(path)
    assert frames.shape == clip.shape
    assert frames.dtype == np.uint8
    assert fps == pytest.approx(24.0)
    err = np.abs(frames.astype(np.int16) - clip.astype(np.int16)).mean()
    assert err < 4.0, err


def test_write_creates_parent_dirs_and_accepts_str(tmp_out: Path) -> None:
    target = tmp_out / "a" / "b" / "clip.mp4"
    write_mp4(str(target), gradient_clip(t=2), fps=10)
    assert target.is_file()
    assert leftovers(target.parent) == ["clip.mp4"]


def test_single_frame(tmp_out: Path) -> None:
    clip = gradient_clip(t=1, h=16, w=16)
    frames, _ = read_mp4(write_mp4(tmp_out / "one.mp4", clip, fps=1))
    assert frames.shape == (1, 16, 16, 3)


@pytest.mark.parametrize("shape", [(12, 48, 64), (16, 96, 128)])
def test_deterministic_bytes(tmp_out: Path, shape: tuple[int, int, int]) -> None:
    clip = gradient_clip(*shape)
    clip[:, ::7] ^= np.uint8(0x55)  # add texture so the encoder has real decisions to make
    rng = np.random.default_rng(0)
    blobs = []
    for i in range(6):
        path = write_mp4(tmp_out / f"{i % 2}.mp4", clip, fps=30)  # fresh files and in-place overwrites
        blobs.append(path.read_bytes())
        read_mp4(path)  # decoding in between churns the heap, which exposed x264 SIMD nondeterminism
        _ = [rng.bytes(1 << 16) for _ in range(16)]  # leave non-zero garbage in freed memory
    assert all(b == blobs[0] for b in blobs[1:])
    assert b"Lavf" not in blobs[0]  # bitexact muxing: no library version string in the file


def test_crf_changes_output(tmp_out: Path) -> None:
    clip = gradient_clip()
    hi = write_mp4(tmp_out / "hi.mp4", clip, fps=24, crf=10).stat().st_size
    lo = write_mp4(tmp_out / "lo.mp4", clip, fps=24, crf=40).stat().st_size
    assert lo < hi


@pytest.mark.parametrize(
    ("frames", "kwargs", "needle"),
    [
        (np.zeros((2, 15, 16, 3), np.uint8), {}, "frames"),  # odd height
        (np.zeros((2, 16, 17, 3), np.uint8), {}, "frames"),  # odd width
        (np.zeros((2, 16, 16, 3), np.float32), {}, "frames"),  # wrong dtype
        (np.zeros((16, 16, 3), np.uint8), {}, "frames"),  # 3-D
        (np.zeros((2, 16, 16, 4), np.uint8), {}, "frames"),  # RGBA
        (np.zeros((0, 16, 16, 3), np.uint8), {}, "frames"),  # empty
        ([[0]], {}, "frames"),  # not an array
        (np.zeros((2, 16, 16, 3), np.uint8), {"fps": 0}, "fps"),
        (np.zeros((2, 16, 16, 3), np.uint8), {"fps": 121}, "fps"),
        (np.zeros((2, 16, 16, 3), np.uint8), {"fps": 24.0}, "fps"),
        (np.zeros((2, 16, 16, 3), np.uint8), {"crf": 60}, "crf"),
    ],
)
def test_bad_input_names_argument(tmp_out: Path, frames: object, kwargs: dict[str, object], needle: str) -> None:
    args: dict[str, object] = {"fps": 24, **kwargs}
    with pytest.raises(ValueError, match=needle):
        write_mp4(tmp_out / "bad.mp4", frames, **args)  # type: ignore[arg-type]
    assert leftovers(tmp_out) == []


def test_failed_encode_leaves_nothing(tmp_out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real = av.VideoFrame.from_ndarray

    def flaky(*args: object, **kwargs: object) -> av.VideoFrame:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("boom mid-encode")
        return real(*args, **kwargs)

    monkeypatch.setattr(av.VideoFrame, "from_ndarray", flaky)
    with pytest.raises(RuntimeError, match="boom"):
        write_mp4(tmp_out / "clip.mp4", gradient_clip(), fps=24)
    assert calls["n"] == 3
    assert leftovers(tmp_out) == []


def test_failed_overwrite_keeps_old_file(tmp_out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = write_mp4(tmp_out / "clip.mp4", gradient_clip(t=3), fps=24)
    before = target.read_bytes()

    def broken(*args: object, **kwargs: object) -> av.VideoFrame:
        raise RuntimeError("boom")

    monkeypatch.setattr(av.VideoFrame, "from_ndarray", broken)
    with pytest.raises(RuntimeError):
        write_mp4(target, gradient_clip(), fps=24)
    assert target.read_bytes() == before
    assert leftovers(tmp_out) == ["clip.mp4"]


def test_corrupt_file_raises(tmp_out: Path) -> None:
    bad = tmp_out / "corrupt.mp4"
    bad.write_bytes(b"this is not a video" * 50)
    with pytest.raises(ValueError, match="unreadable video.*corrupt.mp4"):
        read_mp4(bad)


def test_truncated_file_raises(tmp_out: Path) -> None:
    good = write_mp4(tmp_out / "good.mp4", gradient_clip(), fps=24)
    cut = tmp_out / "cut.mp4"
    cut.write_bytes(good.read_bytes()[:64])
    with pytest.raises(ValueError, match="unreadable video"):
        read_mp4(cut)


def test_missing_file_raises(tmp_out: Path) -> None:
    with pytest.raises(ValueError, match="unreadable video.*missing.mp4"):
        read_mp4(tmp_out / "missing.mp4")


def test_contact_sheet_shape_and_content() -> None:
    clip = gradient_clip(t=20, h=8, w=10)
    sheet = contact_sheet(clip, every=4, scale=2, columns=3)  # frames 0,4,8,12,16 -> 2 rows x 3 cols
    assert sheet.shape == (2 * 16, 3 * 20, 3)
    assert sheet.dtype == np.uint8
    np.testing.assert_array_equal(sheet[:16:2, :20:2], clip[0])
    np.testing.assert_array_equal(sheet[16:32:2, 20:40:2], clip[16])
    assert not sheet[16:, 40:].any()  # unused cell stays black


def test_contact_sheet_fewer_frames_than_columns() -> None:
    sheet = contact_sheet(gradient_clip(t=3, h=4, w=6), every=1, scale=1, columns=8)
    assert sheet.shape == (4, 18, 3)


def test_contact_sheet_bad_args() -> None:
    with pytest.raises(ValueError, match="every"):
        contact_sheet(gradient_clip(t=2), every=0)
    with pytest.raises(ValueError, match="frames"):
        contact_sheet(np.zeros((2, 4, 4), np.uint8))


def test_save_png_round_trip(tmp_out: Path) -> None:
    from PIL import Image

    img = contact_sheet(gradient_clip(t=4, h=8, w=8), every=1, scale=1)
    path = save_png(tmp_out / "sheets" / "s.png", img)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), img)
    assert leftovers(path.parent) == ["s.png"]
    with pytest.raises(ValueError, match="image"):
        save_png(tmp_out / "x.png", img.astype(np.float32))
    assert not (tmp_out / "x.png").exists()
