"""Every generation mode end to end on a tiny random-weight model: `generate`, `stream` and the CLI.

The model is the real A2D at the "test" preset with random weights and the real (frozen) MiniLM text
encoder, so these tests check plumbing and invariants (shapes, pinned keyframes, seeding, validation),
not picture quality.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from kino.cli import main
from kino.generate import RATIOS, GenerateRequest, Keyframe, RequestError, generate, stream
from kino.io.video import read_mp4, write_mp4
from kino.model.a2d import A2D
from kino.model.checkpoint import save_checkpoint
from kino.model.config import preset
from kino.world.data import DataSpec, make_sample

PROMPT = "a red ball rolls across a wooden floor"


@pytest.fixture(scope="module")
def model() -> A2D:
    torch.manual_seed(0)
    return A2D(preset("test")).eval()


@pytest.fixture(scope="module")
def files(tmp_path_factory, model) -> dict[str, str]:
    """A checkpoint of `model`, images (one not at any output size), a garbage .png and a foreign mp4."""
    d = tmp_path_factory.mktemp("gen")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)).save(d / "img.png")
    Image.fromarray(rng.integers(0, 256, (90, 150, 3), dtype=np.uint8)).save(d / "odd.png")
    (d / "x.png").write_bytes(b"\x00not a png at all\xff" * 8)
    write_mp4(d / "noise.mp4", rng.integers(0, 256, (5, 64, 96, 3), dtype=np.uint8), 16)  # odd length, other aspect
    return {
        "ckpt": str(save_checkpoint(model, d / "m.safetensors")),
        "img": str(d / "img.png"),
        "odd": str(d / "odd.png"),
        "garbage": str(d / "x.png"),
        "video": str(d / "noise.mp4"),
        "dir": str(d),
    }


def _req(**kw) -> GenerateRequest:
    base = {"prompt": PROMPT, "seconds": 0.5, "ratio": "1:1", "steps": 1, "seed": 0}
    return GenerateRequest(**{**base, **kw})


def _shape(ratio: str, frames: int) -> tuple[int, int, int, int]:
    w, h = RATIOS[ratio]
    return (frames, h, w, 3)


def _noise(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@torch.no_grad()
def _recon(model: A2D, frames: np.ndarray) -> np.ndarray:
    """decode(encode(frames)) as uint8: what a pinned latent decodes to. frames (T, H, W, 3) or (H, W, 3)."""
    x = torch.from_numpy(np.array(frames)).float()
    single = x.ndim == 3
    x = (x[None] if single else x).permute(0, 3, 1, 2).div(127.5).sub(1)[None]
    y = model.tokenizer.decode(model.tokenizer.encode(x))[0]
    y = y.clamp(-1, 1).add(1).mul(127.5).round().byte().permute(0, 2, 3, 1).numpy()
    return y[0] if single else y


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _maxd(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


# ------------------------------------------------------------------------------------------- modes
@pytest.mark.parametrize("ratio", sorted(RATIOS))
def test_text_to_video_has_the_requested_shape_for_every_ratio(model, ratio):
    out = generate(_req(ratio=ratio), model=model)
    assert out.dtype == np.uint8 and out.shape == _shape(ratio, 8)  # 0.5 s x 16 fps
    assert out.std() > 0  # not a blank clip
    assert generate(_req(ratio=ratio, seconds=1.0, fps=8), model=model).shape == _shape(ratio, 8)


@pytest.mark.parametrize("ratio", sorted(RATIOS))
def test_keyframes_at_arbitrary_frames_are_pinned_exactly(model, ratio):
    w, h = RATIOS[ratio]
    frames = (0, 5, 13)  # first frame, second of a chunk, inside a later chunk
    images = {f: _noise((h, w, 3), seed=f) for f in frames}
    out = generate(_req(ratio=ratio, seconds=1.0, keyframes=tuple(Keyframe(images[f], f) for f in frames)), model=model)
    assert out.dtype == np.uint8 and out.shape == _shape(ratio, 16)
    for f, img in images.items():
        target = _recon(model, img)  # the latent is pinned, so the frame is the tokenizer's reconstruction
        assert _maxd(out[f], target) <= 1, f
        others = [_mad(out[i], target) for i in range(len(out)) if i != f]
        assert min(others) > 10 * max(_mad(out[f], target), 0.5), (f, min(others))


def test_image_to_video_first_frame_and_first_plus_last(model, files):
    first = np.asarray(Image.open(files["img"]).convert("RGB"))
    last = _noise((128, 128, 3), seed=7)
    t2v = generate(_req(seconds=1.0), model=model)
    i2v = generate(_req(seconds=1.0, keyframes=(Keyframe(files["img"], 0),)), model=model)  # an image path
    both = generate(_req(seconds=1.0, keyframes=(Keyframe(first, 0), Keyframe(last, 15))), model=model)
    assert i2v.shape == both.shape == _shape("1:1", 16)
    assert _maxd(i2v[0], _recon(model, first)) <= 1
    assert _maxd(both[0], _recon(model, first)) <= 1 and _maxd(both[15], _recon(model, last)) <= 1
    assert not np.array_equal(i2v[2:], t2v[2:])  # the keyframe conditions later chunks too (through the prefix)
    # an image of another size/aspect is resized and center-cropped, not rejected
    odd = generate(_req(ratio="16:9", keyframes=(Keyframe(files["odd"], 0),)), model=model)
    assert odd.shape == _shape("16:9", 8)


def _world_clip() -> np.ndarray:
    return make_sample(3, DataSpec(width=96, height=64, seconds=0.25)).frames  # a Kino World render (4 frames)


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(lambda: _noise((5, 96, 160, 3), seed=1), id="noise-odd-length-other-aspect"),
        pytest.param(lambda: _noise((2, 128, 128, 3), seed=2), id="noise-one-chunk"),
        pytest.param(lambda: _noise((7, 128, 224, 3), seed=3), id="noise-7-frames"),
        pytest.param(_world_clip, id="kino-world-render"),
        pytest.param(
            lambda: _noise((1, 128, 128, 3), seed=4),
            id="single-frame",
        ),
    ],
)
def test_extend_continues_any_source_with_the_requested_new_frames(model, source):
    src = source()
    out = generate(_req(extend=src), model=model)
    assert out.dtype == np.uint8 and out.shape == _shape("1:1", 8)
    assert generate(_req(extend=src, seconds=0.25), model=model).shape == _shape("1:1", 4)
    # the continuation must depend on the source: same prompt and seed without it gives another clip
    assert not np.array_equal(out, generate(_req(), model=model))


def test_extend_with_a_keyframe_pins_the_new_frame(model):
    img = _noise((128, 128, 3), seed=5)
    out = generate(_req(extend=_noise((4, 128, 128, 3), seed=6), keyframes=(Keyframe(img, 0),)), model=model)
    assert _maxd(out[0], _recon(model, img)) <= 1


def test_video_to_video_lower_strength_stays_closer_to_the_source(model):
    src = make_sample(0, DataSpec(width=128, height=128, seconds=0.5)).frames  # 8 frames
    low = generate(_req(video_to_video=src, strength=0.3), model=model)
    high = generate(_req(video_to_video=src, strength=1.0), model=model)
    assert low.shape == high.shape == _shape("1:1", 8)
    assert _mad(low, src) < _mad(high, src)
    # strength 1 ignores the source entirely: the very same clip as text-to-video with this seed
    assert np.array_equal(high, generate(_req(), model=model))
    # a shorter source is looped to the requested length
    assert generate(_req(video_to_video=src[:3], strength=0.5), model=model).shape == _shape("1:1", 8)


def test_video_to_video_starts_from_the_source_noised_to_strength():
    """With a denoiser that returns its input, the output latent stays at lerp(source, noise, strength)."""
    torch.manual_seed(0)
    m = A2D(preset("test")).eval()
    m.decoder.forward = lambda x, t, d, cmap, cvec, prev=None, guide=None: x  # a random decoder's prediction is arbitrary; isolate SDEdit
    src = make_sample(1, DataSpec(width=128, height=128, seconds=0.5)).frames
    rec = _recon(m, src)
    dist = {s: _mad(generate(_req(video_to_video=src, strength=s), model=m), rec) for s in (0.05, 0.3, 1.0)}
    assert dist[0.05] < 0.5 * dist[0.3] and dist[0.3] < 0.85 * dist[1.0], dist


def test_stream_yields_each_chunk_before_computing_the_next(model, monkeypatch):
    calls = []
    sample = model.decoder.sample
    monkeypatch.setattr(model.decoder, "sample", lambda *a, **k: calls.append(1) or sample(*a, **k))
    req = _req(seconds=1.0)
    chunks = stream(req, model=model)
    assert inspect.isgenerator(chunks)
    first = next(chunks)
    assert first.dtype == np.uint8 and first.shape == (model.cfg.chunk, 128, 128, 3)
    assert len(calls) == 1  # only the first chunk has been sampled so far
    rest = list(chunks)
    assert len(rest) == 7 and all(c.shape == first.shape for c in rest) and len(calls) == 8
    monkeypatch.undo()
    assert np.array_equal(np.concatenate([first, *rest]), generate(req, model=model))


def test_same_request_same_bytes_and_another_seed_differs(model):
    kf = (Keyframe(_noise((128, 128, 3), seed=9), 3),)
    a = generate(_req(seed=42, keyframes=kf), model=model)
    b = generate(_req(seed=42, keyframes=kf), model=model)
    c = generate(_req(seed=43, keyframes=kf), model=model)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()
    assert np.array_equal(a[3], c[3])  # the pinned frame does not depend on the seed


# ------------------------------------------------------------------------------------------- validation
BAD = [
    ("prompt", {"prompt": ""}),
    ("prompt", {"prompt": "   "}),
    ("ratio", {"ratio": "5:4"}),
    ("seconds", {"seconds": 0}),
    ("seconds", {"seconds": -1.0}),
    ("seconds", {"seconds": 601.0}),
    ("steps", {"steps": 3}),
    ("fps", {"fps": 0}),
    ("keyframes[0].frame", {"keyframes": (Keyframe(np.zeros((128, 128, 3), np.uint8), 8),)}),  # clip has 8 frames
    ("keyframes[0].frame", {"keyframes": (Keyframe(np.zeros((128, 128, 3), np.uint8), -100),)}),
    (
        "keyframes[1].image",
        {"keyframes": (Keyframe(np.zeros((128, 128, 3), np.uint8), 0), Keyframe("{dir}/nope.png", 2))},
    ),
    ("keyframes[0].image", {"keyframes": (Keyframe("{garbage}", 0),)}),
    ("keyframes[0].image", {"keyframes": (Keyframe("{dir}", 0),)}),  # a directory
    ("keyframes[0].image", {"keyframes": (Keyframe(np.zeros((128, 128), np.float32), 0),)}),
    ("extend", {"extend": np.zeros((2, 64, 64, 3), np.uint8), "video_to_video": np.zeros((2, 64, 64, 3), np.uint8)}),
    ("extend", {"extend": "{dir}/nope.mp4"}),
    ("extend", {"extend": "{garbage}"}),  # not a video
    ("video_to_video", {"video_to_video": "{ckpt}"}),  # not a video either
    ("video_to_video", {"video_to_video": np.zeros((0, 64, 64, 3), np.uint8)}),
    ("strength", {"strength": 0.0}),
    ("strength", {"strength": 1.5}),
    ("guidance", {"guidance": -1.0}),
    ("guidance", {"guidance": "3"}),
    ("guidance", {"guidance": 21.0}),
    ("guidance_chunks", {"guidance_chunks": 0}),
    ("guidance_chunks", {"guidance_chunks": 1.5}),
    ("negative_prompt", {"negative_prompt": 3}),
]


def _fill(value, files):
    if isinstance(value, str):
        return value.format(**files)
    if isinstance(value, Keyframe):
        return Keyframe(_fill(value.image, files), value.frame)
    if isinstance(value, tuple):
        return tuple(_fill(v, files) for v in value)
    return value


@pytest.mark.parametrize(("field", "kw"), BAD, ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD)])
def test_bad_requests_fail_at_the_entry_point_naming_the_field(model, files, field, kw):
    req = _req(**{k: _fill(v, files) for k, v in kw.items()})
    with pytest.raises(RequestError, match="^" + re.escape(field) + ":"):
        generate(req, model=model)


def test_missing_checkpoint_is_a_request_error(files):
    with pytest.raises(RequestError, match="^checkpoint:"):
        generate(_req(checkpoint=files["dir"] + "/missing.safetensors"))


# ------------------------------------------------------------------------------------------- CLI
def _cli(args: list[str], files: dict, out: Path, capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([*args, "--checkpoint", files["ckpt"], "--output", str(out), "--quiet"])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_cli_generate_writes_an_mp4_and_prints_its_path(files, tmp_path, capsys):
    out = tmp_path / "clip.mp4"
    rc, stdout, _ = _cli(["generate", "a red ball", "--seconds", "1", "--ratio", "1:1"], files, out, capsys)
    assert rc == 0
    assert stdout.strip().splitlines()[-1] == str(out)
    frames, fps = read_mp4(out)
    assert frames.shape == (16, 128, 128, 3) and fps == 16


def test_cli_keyframe_pins_its_frame(model, files, tmp_path, capsys):
    out = tmp_path / "kf.mp4"
    rc, _, _ = _cli(
        ["generate", "a red ball", "--seconds", "0.5", "--ratio", "1:1", "--keyframe", f"3={files['img']}"],
        files,
        out,
        capsys,
    )
    assert rc == 0
    frames, _ = read_mp4(out)
    target = _recon(model, np.asarray(Image.open(files["img"]).convert("RGB")))
    dists = [_mad(f, target) for f in frames]
    assert frames.shape == (8, 128, 128, 3) and int(np.argmin(dists)) == 3, dists  # H.264 is lossy: nearest, not equal


@pytest.mark.parametrize(
    ("args", "shape"),
    [
        pytest.param(["generate", "--image", "{img}", "--seconds", "0.5"], _shape("16:9", 8), id="image"),
        pytest.param(
            ["generate", "x", "--image", "{img}", "--last-image", "{odd}", "--ratio", "9:16", "--seconds", "1"],
            _shape("9:16", 16),
            id="first+last",
        ),
        pytest.param(["generate", "--request", "{dir}/req.json"], _shape("9:16", 8), id="request-json"),
        pytest.param(
            ["generate", "--request", "{dir}/req.json", "--seconds", "0.25"], _shape("9:16", 4), id="request-json+flag"
        ),
        pytest.param(["extend", "{video}", "--seconds", "0.5", "--ratio", "1:1"], _shape("1:1", 8), id="extend"),
        pytest.param(
            ["extend", "{video}", "--prompt", "more", "--seconds", "0.25", "--ratio", "1:1"],
            _shape("1:1", 4),
            id="extend-prompt",
        ),
        pytest.param(
            ["v2v", "{video}", "--prompt", "x", "--strength", "0.5", "--seconds", "0.5", "--ratio", "1:1"],
            _shape("1:1", 8),
            id="v2v",
        ),
    ],
)
def test_cli_modes(files, tmp_path, capsys, args, shape):
    req = {"prompt": "a ball", "seconds": 0.5, "ratio": "9:16", "keyframes": [{"image": files["img"], "frame": 3}]}
    Path(files["dir"], "req.json").write_text(json.dumps(req))
    out = tmp_path / "o.mp4"
    rc, stdout, err = _cli([a.format(**files) for a in args], files, out, capsys)
    assert rc == 0, err
    assert stdout.strip().splitlines()[-1] == str(out)
    assert read_mp4(out)[0].shape == shape


@pytest.mark.parametrize(
    ("args", "field"),
    [
        pytest.param(["generate", "a", "--ratio", "5:4"], "ratio", id="ratio"),
        pytest.param(["generate", "a", "--seconds", "0"], "seconds", id="seconds"),
        pytest.param(["generate", "a", "--steps", "3"], "steps", id="steps"),
        pytest.param(["generate", "--seconds", "0.5"], "prompt", id="no-prompt"),
        pytest.param(
            ["generate", "a", "--seconds", "0.5", "--keyframe", "99={img}"],
            "keyframes[0].frame",
            id="keyframe-past-end",
        ),
        pytest.param(
            ["generate", "a", "--seconds", "0.5", "--keyframe", "1={garbage}"], "keyframes[0].image", id="garbage-png"
        ),
        pytest.param(
            ["generate", "a", "--seconds", "0.5", "--image", "{dir}/nope.png"], "keyframes[0].image", id="missing-image"
        ),
        pytest.param(["generate", "a", "--keyframe", "three={img}"], "keyframe", id="keyframe-spec"),
        pytest.param(["generate", "a", "--request", "{dir}/nope.json"], "request", id="missing-request"),
        pytest.param(["generate", "a", "--request", "{dir}/bad.json"], "request", id="unknown-request-field"),
        pytest.param(["extend", "{dir}/nope.mp4"], "extend", id="extend-missing-video"),
        pytest.param(["v2v", "{video}", "--prompt", "x", "--strength", "1.5"], "strength", id="v2v-strength"),
        pytest.param(["generate", "a", "--guidance", "-2"], "guidance", id="guidance"),
        pytest.param(["generate", "a", "--guidance", "3", "--guidance-chunks", "-1"], "guidance_chunks", id="guidance-chunks"),
    ],
)
def test_cli_bad_input_exits_2_naming_the_field(files, tmp_path, capsys, args, field):
    Path(files["dir"], "bad.json").write_text(json.dumps({"prompt": "a", "second": 1}))  # typo'd field
    out = tmp_path / "never.mp4"
    rc, stdout, err = _cli([a.format(**files) for a in args], files, out, capsys)
    assert rc == 2
    assert err.startswith(f"kino: error: {field}"), err
    assert len(err.strip().splitlines()) == 1  # one clear line, no traceback
    assert not out.exists() and not list(tmp_path.iterdir())


def test_cli_missing_checkpoint_exits_2(files, tmp_path, capsys):
    out = tmp_path / "never.mp4"
    rc = main(
        [
            "generate",
            "a",
            "--seconds",
            "0.5",
            "--checkpoint",
            str(tmp_path / "nope.safetensors"),
            "--output",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 2 and capsys.readouterr().err.startswith("kino: error: checkpoint:")
    rc = main(["generate", "a", "--seconds", "0.5", "--checkpoint", files["garbage"], "--output", str(out), "--quiet"])
    assert rc == 2 and capsys.readouterr().err.startswith("kino: error: checkpoint:")
    assert not out.exists()
