"""The warp guide as a decoder input (`DecoderConfig.guide_input`, preset tiny-guide): training batches carry it,
`--init` widens a checkpoint's input convolution with zeros, generation feeds it at every level."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kino.guide import guide_from_truth
from kino.model.a2d import A2D, Conditions
from kino.model.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from kino.model.config import preset
from kino.train import TrainConfig, guide_latents, load_init, train
from kino.world.data import DataSpec, WorldStream
from model_helpers import batch, noisy


@pytest.fixture(scope="module")
def samples() -> list:
    spec = DataSpec(split="train", fps=16, seconds=0.5, seed=11, sizes=((64, 64),))
    return list(WorldStream(spec, start=0, count=2))


def _batch(model: A2D, samples, **kw):
    return batch(model, samples, **{"p_camera": 1.0, "p_guide": 1.0, **kw})


def test_init_widens_the_input_conv_with_zeros_so_the_guided_model_starts_as_its_checkpoint(tmp_path, samples):
    base = noisy("test")
    path = save_checkpoint(base, tmp_path / "base.safetensors")
    guided = A2D(preset("test-guide"))
    load_init(guided, str(path))
    w = guided.decoder.inp.weight
    assert w.shape[1] == base.decoder.inp.weight.shape[1] + guided.decoder.guide_ch
    assert torch.equal(w[:, : base.decoder.inp.weight.shape[1]], base.decoder.inp.weight) and not w[:, base.decoder.inp.weight.shape[1] :].any()
    lat, cond = _batch(guided, samples)
    assert cond.guide is not None and cond.guide[1].any()
    torch.manual_seed(1)
    with_guide = guided.loss(lat, cond, torch.zeros(2))
    cond.guide = None
    torch.manual_seed(1)
    assert torch.allclose(with_guide, base.loss(lat, cond, torch.zeros(2)))  # the guide changes nothing yet
    # a previous-chunk input is as wide as a guide input, but means something else; other widths do not fit at all
    with pytest.raises(ValueError, match="init: .* does not fit preset: decoder side inputs prev_chunk=True"):
        load_init(A2D(preset("test-guide")), str(save_checkpoint(noisy("test-prev"), tmp_path / "prev.safetensors")))
    with pytest.raises(ValueError, match="init: .* does not fit preset: decoder side inputs .* guide_input=True there"):
        load_init(A2D(preset("test-prev")), str(save_checkpoint(guided, tmp_path / "guided.safetensors")))
    with pytest.raises(ValueError, match="init: .* does not fit preset: .* is .* there"):
        load_init(A2D(preset("test-guide")), str(save_checkpoint(A2D(preset("tiny")), tmp_path / "tiny.safetensors")))


def test_batches_carry_each_chunks_guide_from_the_frames_before_it(samples):
    model = noisy("test-guide")
    k = model.cfg.chunk
    lat, cond = _batch(model, samples)
    g, present = cond.guide
    n = lat.shape[1] // k
    assert g.shape == (2, n, k, *lat.shape[2:]) and present.shape == (2, n)
    assert not present[:, 0].any() and present[:, 1:].all()  # text-to-video: chunk 0 has nothing to warp
    # chunk 2 is what generation's guide makes of frame 2k-1 (anchored on frame k-1, chunk 0's last frame)
    s = samples[1]
    frames = torch.from_numpy(s.frames).permute(0, 3, 1, 2).float() / 127.5 - 1
    # (as the training clip's own renders, which already show its lens: only the blur they lack is added)
    warp = guide_from_truth(s.truth, s.instance0, (64, 64), k, camera=True, brush=False, source_lens=True)
    warp(k, frames[k - 1])
    assert torch.allclose(g[1, 2], model.tokenizer.encode(warp(2 * k, frames[2 * k - 1])[None])[0], atol=1e-5)
    assert s.truth["camera"][0]["aperture"] > 0  # this clip has depth of field: a sharp-source guide would blur it twice
    sharp = guide_from_truth(s.truth, s.instance0, (64, 64), k, camera=True, brush=False)
    sharp(k, frames[k - 1])
    assert not torch.allclose(g[1, 2], model.tokenizer.encode(sharp(2 * k, frames[2 * k - 1])[None])[0], atol=1e-2)
    # image-to-video: frame 0 is given, so chunk 0 is guided too, from frame 0 itself
    frames_b = torch.from_numpy(np.stack([x.frames for x in samples])).permute(0, 1, 4, 2, 3).float() / 127.5 - 1
    g0, present0 = guide_latents(model, samples, frames_b, brush=False, first=True)
    assert present0.all()
    first = guide_from_truth(s.truth, s.instance0, (64, 64), k, camera=True, brush=False, source_lens=True)
    assert torch.allclose(g0[1, 0], model.tokenizer.encode(first(0, frames[0])[None])[0], atol=1e-5)
    # a brush without the camera path: guided by the truth camera plus the brushed objects' tracks
    lat_b, cond_b = _batch(model, samples, p_camera=0.0, p_brush=1.0)
    assert cond_b.camera is None and cond_b.brush is not None
    both = guide_from_truth(s.truth, s.instance0, (64, 64), k, camera=True, brush=True, source_lens=True)
    both(k, frames[k - 1])
    assert torch.allclose(cond_b.guide[0][1, 2], model.tokenizer.encode(both(2 * k, frames[2 * k - 1])[None])[0], atol=1e-5)
    assert not torch.allclose(cond_b.guide[0][1, 2], g[1, 2], atol=1e-3)  # the brushed tracks are in it, not the camera alone
    # neither camera path nor brush (or a model without the input): no guide
    assert _batch(model, samples, p_camera=0.0)[1].guide is None
    assert _batch(noisy("test"), samples)[1].guide is None


def test_a_guided_decoder_reads_the_guide_at_every_level_from_the_second_chunk():
    model = noisy("test-guide").eval()
    c = model.tokenizer.channels
    cond = Conditions(text=torch.zeros(1, 1, 384), text_mask=torch.ones(1, 1, dtype=torch.bool))

    def run(value: float) -> list[torch.Tensor]:
        calls = []
        target = torch.full((1, model.cfg.chunk, c, 16, 16), value)
        out = list(model.stream(cond, 3, (16, 16), steps=1, generator=torch.Generator().manual_seed(0), guide=lambda j, prev: calls.append(j) or target, guide_level=1.0))
        assert calls == [1, 2]  # level 1: no SDEdit, yet the guide is read
        return out

    a, b = run(0.5), run(-0.5)
    assert torch.equal(a[0], b[0]) and not torch.allclose(a[1], b[1])
    plain = noisy("test").eval()  # without the input, level 1 leaves the guide uncalled
    list(plain.stream(cond, 2, (16, 16), steps=1, guide=lambda j, prev: pytest.fail("guide called"), guide_level=1.0))


def test_kino_train_grows_a_guided_model_from_a_plain_checkpoint(tmp_path):
    init = save_checkpoint(noisy("test"), tmp_path / "plain.safetensors", steps=1234, train_seconds=99, preset="test")
    cfg = TrainConfig(preset="test-guide", out=str(tmp_path / "run"), minutes=0.15, batch=2, seconds=0.5, sizes=((64, 64),), save_minutes=1, init=str(init), p_camera=1.0, p_guide=1.0)
    path = train(cfg)
    assert load_checkpoint(path).cfg.decoder.guide_input
    meta = read_metadata(path)["meta"]
    assert meta["recipes"][0]["p_guide"] == 1.0
    assert meta["init"] == {"path": str(init), "steps": 1234, "train_seconds": 99, "preset": "test"}  # its lineage travels along


def test_generate_gives_a_guided_model_the_warp_at_level_one_and_a_plain_model_none(monkeypatch):
    from kino.controls import CameraControl, CameraMove
    from kino.generate import GenerateRequest, generate
    from kino.guide import WarpGuide

    calls = []
    real = WarpGuide.__call__
    monkeypatch.setattr(WarpGuide, "__call__", lambda self, *a, **kw: calls.append(a[0]) or real(self, *a, **kw))
    req = GenerateRequest(prompt="a red ball", seconds=0.5, ratio="1:1", steps=1, warp_guide=1.0, camera=CameraControl(preset=CameraMove(pan=6)))
    assert generate(req, model=noisy("test").eval()).shape == (8, 128, 128, 3) and calls == []
    generate(req, model=noisy("test-guide").eval())
    assert calls == [2, 4, 6]  # every chunk after the first (text-to-video: nothing to warp before it)


def test_init_adds_the_previous_chunk_between_the_chunk_and_the_guide(tmp_path, samples):
    """tiny-guide → tiny-guide-prev: the previous-chunk block is inserted in the middle of the input conv's channels;
    the chunk's and the guide's weights move to their new places, so the grown model computes what the checkpoint did."""
    from dataclasses import replace

    guided = noisy("test-guide")
    both = A2D(replace(preset("test-guide"), decoder=replace(preset("test-guide").decoder, prev_chunk=True)))
    load_init(both, str(save_checkpoint(guided, tmp_path / "g.safetensors")))
    w, g = both.decoder.inp.weight, guided.decoder.inp.weight
    k, p = both.decoder.in_ch, both.decoder.prev_ch
    assert torch.equal(w[:, :k], g[:, :k]) and not w[:, k : k + p].any() and torch.equal(w[:, k + p :], g[:, k:])
    lat, cond = _batch(both, samples)
    torch.manual_seed(1)
    grown = both.loss(lat, cond, torch.zeros(2))
    torch.manual_seed(1)
    assert torch.allclose(grown, guided.loss(lat, cond, torch.zeros(2)))  # the previous chunk changes nothing yet


def test_init_keeps_the_previous_chunk_and_adds_the_guide_after_it(tmp_path):
    from dataclasses import replace

    prev = noisy("test-prev")
    both = A2D(replace(preset("test-guide"), decoder=replace(preset("test-guide").decoder, prev_chunk=True, context_noise=0.1)))
    load_init(both, str(save_checkpoint(prev, tmp_path / "p.safetensors")))
    w, p = both.decoder.inp.weight, prev.decoder.inp.weight
    assert torch.equal(w[:, : p.shape[1]], p) and not w[:, p.shape[1] :].any()
    # the context is written at the checkpoint's noise level or not at all: that level is not a weight
    with pytest.raises(ValueError, match="decoder.context_noise is 0.1 there, 0.05 here"):
        load_init(A2D(replace(preset("test-guide"), decoder=replace(preset("test-guide").decoder, prev_chunk=True))), str(tmp_path / "p.safetensors"))
