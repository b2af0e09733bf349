"""The prompt straight into the decoder's vector (`DecoderConfig.text_vec`, preset tiny-guide-prev-text): grown from a
checkpoint it starts as that checkpoint, it reads the words (and only the words), and training and generation agree."""

from __future__ import annotations

import pytest
import torch

from kino.model.a2d import A2D, Conditions
from kino.model.checkpoint import load_checkpoint, save_checkpoint
from kino.model.config import preset
from kino.train import load_init
from kino.world.data import DataSpec, WorldStream
from model_helpers import batch, noisy


def _noisy(name: str) -> A2D:
    return noisy(name).eval()  # zero-initialised layers would hide whether the path is wired


@pytest.fixture(scope="module")
def samples() -> list:
    return list(WorldStream(DataSpec(split="train", fps=16, seconds=0.5, seed=5, sizes=((64, 64),)), start=0, count=2))


def test_init_adds_the_prompt_path_at_zero_so_the_model_starts_as_its_checkpoint(tmp_path, samples):
    base = _noisy("test")
    path = save_checkpoint(base, tmp_path / "base.safetensors")
    grown = A2D(preset("test-text"))
    load_init(grown, str(path))
    assert not grown.text_pool.weight.any() and not grown.text_pool.bias.any()
    lat, cond = batch(grown, samples)
    torch.manual_seed(1)
    a = grown.loss(lat, cond, torch.zeros(2))
    torch.manual_seed(1)
    assert torch.allclose(a, base.loss(lat, cond, torch.zeros(2)))
    # the path cannot be dropped: a text_vec checkpoint does not fit a preset without it
    with pytest.raises(ValueError, match="init: .* does not fit preset: decoder.text_vec=True there, False here"):
        load_init(A2D(preset("test")), str(save_checkpoint(grown, tmp_path / "grown.safetensors")))
    # and it round-trips with zero flags
    again = load_checkpoint(save_checkpoint(_noisy("test-text"), tmp_path / "t.safetensors"))
    assert again.cfg.decoder.text_vec and again.text_pool is not None


def test_the_prompt_reaches_the_decoder_vector_and_a_dropped_prompt_gives_the_bias_alone():
    m = _noisy("test-text")
    g = torch.Generator().manual_seed(2)
    ones = torch.ones(1, 5, dtype=torch.bool)
    red, blue = (Conditions(text=torch.randn(1, 5, 384, generator=g), text_mask=ones) for _ in range(2))
    assert not torch.allclose(m._text_vec(red), m._text_vec(blue))
    # padding does not count: extra masked-out tokens leave the vector as it was
    padded = Conditions(text=torch.cat([red.text, torch.randn(1, 3, 384, generator=g)], 1), text_mask=torch.cat([ones, torch.zeros(1, 3, dtype=torch.bool)], 1))
    torch.testing.assert_close(m._text_vec(padded), m._text_vec(red))
    dropped = Conditions(text=torch.zeros(1, 1, 384), text_mask=torch.ones(1, 1, dtype=torch.bool))
    torch.testing.assert_close(m._text_vec(dropped), m.text_pool.bias[None].float())
    # and it changes what is generated, through the vector alone: the same backbone map with and without it
    out = torch.randn(1, m.cfg.chunk * 16, m.cfg.backbone.width, generator=g)
    cm0, cv0 = m._decoder_cond(out, 4, 4)
    cm1, cv1 = m._decoder_cond(out, 4, 4, m._text_vec(red))
    assert torch.equal(cm0, cm1) and not torch.allclose(cv0, cv1)


def test_generation_reads_the_prompt_vector_the_training_loss_reads(samples, monkeypatch):
    m = _noisy("test-text")
    lat, cond = batch(m, samples)
    seen = []
    real = m._decoder_cond

    def spy(out, hp, wp, tvec=None):
        seen.append(tvec)
        return real(out, hp, wp, tvec)

    monkeypatch.setattr(m, "_decoder_cond", spy)
    m.loss(lat, cond, torch.zeros(2))
    one = Conditions(text=cond.text[:1], text_mask=cond.text_mask[:1])
    list(m.stream(one, 2, tuple(lat.shape[-2:]), steps=1, generator=torch.Generator().manual_seed(0)))
    n = lat.shape[1] // m.cfg.chunk
    train_vec, gen_vecs = seen[0], seen[1:]
    torch.testing.assert_close(train_vec[:n], m._text_vec(one).expand(n, -1))  # clip 0's chunks, in order
    assert len(gen_vecs) == 2, len(gen_vecs)
    for v in gen_vecs:
        torch.testing.assert_close(v, train_vec[:1])
