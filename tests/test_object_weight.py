"""The object-weighted diffusion loss (`TrainConfig.object_weight`, `kino train --object-weight`): latent pixels that show
an object weigh more, the weights line up with the latents they weigh, and weight 1 is exactly the uniform loss."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from kino.model.a2d import A2D
from kino.model.config import preset
from kino.train import main, pixel_weights
from kino.world.data import DataSpec, WorldStream
from model_helpers import batch


@pytest.fixture(scope="module")
def samples() -> list:
    spec = DataSpec(split="train", fps=16, seconds=0.5, seed=3, sizes=((64, 64),))
    got = list(WorldStream(spec, start=0, count=2))
    assert all(s.objects is not None and s.objects.any() for s in got)  # every clip shows some object
    return got


def test_samples_carry_every_frames_object_mask(samples):
    s = samples[0]
    assert s.objects.shape == s.frames.shape[:3] and s.objects.dtype == bool
    assert np.array_equal(s.objects[0], s.instance0 > 0)  # frame 0's mask is the brush regions' instance map


def test_pixel_weights_mark_patches_with_an_object_and_keep_the_mean_at_one(samples):
    assert pixel_weights(samples, 1.0, (16, 16), "cpu") is None  # uniform: nothing to weigh
    w = pixel_weights(samples, 6.0, (16, 16), "cpu")
    assert w.shape == (2, 8, 16, 16) and torch.isclose(w.mean(), torch.tensor(1.0))
    lo, hi = w.min(), w.max()
    assert torch.isclose(hi / lo, torch.tensor(6.0))  # exactly two levels, object vs background
    for b, s in enumerate(samples):  # a 4x4 patch is heavy iff one of its pixels shows an object
        has = s.objects.reshape(8, 16, 4, 16, 4).any(axis=(2, 4))
        assert np.array_equal(has, (w[b] == hi).numpy()) and has.any() and not has.all()


def test_the_decoder_sees_each_frames_weights_beside_that_frames_latents(samples, monkeypatch):
    model = A2D(preset("test"))
    lat, cond = batch(model, samples)
    b, T, c, h, w = lat.shape
    # a weight map read off the latents' own first channel: after the decoder's reshapes it must still match
    weight = 1.0 + (lat[:, :, 0] > 0).float()
    seen = {}
    real = model.decoder.loss

    def spy(x0, *a, weight=None, **kw):
        seen["x0"], seen["weight"] = x0, weight
        return real(x0, *a, weight=weight, **kw)

    monkeypatch.setattr(model.decoder, "loss", spy)
    model.loss(lat, cond, torch.zeros(b), weight=weight)
    x0, wt = seen["x0"], seen["weight"]
    assert wt.shape == x0.shape
    k = model.cfg.chunk
    for j in range(k):  # frame j of every chunk: its C channels all carry the map drawn from its own channel 0
        block = wt[:, j * c : (j + 1) * c]
        assert torch.equal(block, (1.0 + (x0[:, j * c : j * c + 1] > 0).float()).expand_as(block))


def test_uniform_weights_give_the_uniform_loss_and_object_weights_change_it(samples):
    torch.manual_seed(0)
    model = A2D(preset("test"))
    lat, cond = batch(model, samples)
    level = torch.zeros(lat.shape[0])

    def loss(weight):
        torch.manual_seed(1)
        return model.loss(lat, cond, level, weight=weight)

    plain = loss(None)
    assert torch.allclose(loss(torch.ones(lat.shape[0], lat.shape[1], *lat.shape[-2:])), plain)
    heavy = loss(pixel_weights(samples, 8.0, tuple(lat.shape[-2:]), "cpu"))
    assert torch.isfinite(heavy) and not torch.isclose(heavy, plain)
    heavy.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


def test_train_cli_rejects_a_weight_that_is_not_positive(capsys):
    with pytest.raises(SystemExit):
        main(["--preset", "test", "--object-weight", "0", "--minutes", "0"])
    assert "--object-weight: must be > 0" in capsys.readouterr().err


def test_prev_weights_read_the_chunk_before_and_leave_chunk_zero_its_own(samples):
    k, reach = 2, 1
    own = pixel_weights(samples, 5.0, (16, 16), "cpu")
    got = pixel_weights(samples, 5.0, (16, 16), "cpu", prev_chunk=k, reach=reach)
    assert got.shape == own.shape and torch.isclose(got.mean(), torch.tensor(1.0))
    heavy_own, heavy = own == own.max(), got == got.max()
    assert torch.equal(heavy[:, :k], heavy_own[:, :k])  # chunk 0 has nothing before it
    for b in range(len(samples)):
        for i in range(1, 8 // k):  # chunk i is heavy iff chunk i-1 showed an object within `reach` latent pixels
            before = heavy_own[b, (i - 1) * k : i * k].any(0).numpy()
            grown = np.zeros_like(before)
            for y, x in zip(*np.nonzero(before), strict=True):
                grown[max(0, y - reach) : y + reach + 1, max(0, x - reach) : x + reach + 1] = True
            for j in range(i * k, (i + 1) * k):
                assert np.array_equal(heavy[b, j].numpy(), grown)
    # the weights of chunk i > 0 do not depend on chunk i's own pixels: blanking its masks changes nothing there
    blank = [dataclasses.replace(s, objects=np.concatenate([s.objects[:k], np.zeros_like(s.objects[k:])])) for s in samples]
    got2 = pixel_weights(blank, 5.0, (16, 16), "cpu", prev_chunk=k, reach=reach)
    heavy2 = got2 == got2.max()
    assert torch.equal(heavy2[:, : 2 * k], heavy[:, : 2 * k])


def test_cli_rejects_an_unknown_weight_source(capsys):
    with pytest.raises(SystemExit):
        main(["--object-weight", "8", "--object-weight-from", "future"])
    assert "--object-weight-from" in capsys.readouterr().err
