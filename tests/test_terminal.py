"""Terminal-noise training (`kino train --p-terminal`, `Decoder.loss(terminal=)`): the asked share of flow-matching rows
is trained at t in (TERMINAL, 1], the shortcut rows keep their times, and 0 is the old loss bit for bit."""

from __future__ import annotations

import pytest
import torch

from kino.model.a2d import A2D
from kino.model.config import preset
from kino.model.decoder import TERMINAL
from kino.train import main
from kino.world.data import DataSpec, WorldStream
from model_helpers import batch


@pytest.fixture(scope="module")
def model() -> A2D:
    torch.manual_seed(0)
    return A2D(preset("test"))


def _record_times(dec, monkeypatch) -> list[torch.Tensor]:
    """Every t the decoder's forward is called with, in call order (the graded pass of a loss comes last)."""
    seen = []
    real = type(dec).forward

    def spy(self, x, t, d, *a, **k):
        seen.append(t.detach().clone())
        return real(self, x, t, d, *a, **k)

    monkeypatch.setattr(type(dec), "forward", spy)
    return seen


def test_terminal_rows_sit_at_near_pure_noise_and_shortcut_rows_keep_their_times(model, monkeypatch):
    dec = model.decoder
    seen = _record_times(dec, monkeypatch)
    b = 64
    x0, cmap, cvec = _decoder_inputs(model, b)
    torch.manual_seed(3)
    dec.loss(x0, cmap, cvec, terminal=1.0)
    t = seen[-1]  # the graded forward (the shortcut target's two no-grad passes come first)
    n_sc = round(b * 0.25)
    assert (t[n_sc:] > TERMINAL).all() and (t[n_sc:] <= 1.0).all()
    seen.clear()
    torch.manual_seed(3)
    dec.loss(x0, cmap, cvec, terminal=0.0)
    assert torch.equal(seen[-1][:n_sc], t[:n_sc])  # the shortcut rows' times do not move
    assert (seen[-1][n_sc:] <= TERMINAL).float().mean() > 0.8  # the logit-normal draw rarely goes there


def test_zero_is_the_old_loss_and_a_half_lands_near_half(model, monkeypatch):
    dec = model.decoder
    x0, cmap, cvec = _decoder_inputs(model, 256)
    torch.manual_seed(5)
    old = dec.loss(x0, cmap, cvec)
    torch.manual_seed(5)
    assert torch.equal(dec.loss(x0, cmap, cvec, terminal=0.0), old)
    seen = _record_times(dec, monkeypatch)
    torch.manual_seed(5)
    dec.loss(x0, cmap, cvec, terminal=0.5)
    top = (seen[-1][64:] > TERMINAL).float().mean().item()
    assert 0.38 < top < 0.62


def test_the_model_passes_the_share_to_its_decoder(model, monkeypatch):
    got = {}
    real = model.decoder.loss

    def spy(*a, terminal=0.0, **k):
        got["terminal"] = terminal
        return real(*a, terminal=terminal, **k)

    monkeypatch.setattr(model.decoder, "loss", spy)
    samples = list(WorldStream(DataSpec(split="train", fps=16, seconds=0.5, seed=3, sizes=((64, 64),)), start=0, count=2))
    lat, cond = batch(model, samples)
    loss = model.loss(lat, cond, torch.zeros(lat.shape[0]), terminal=0.3)
    assert got["terminal"] == 0.3 and torch.isfinite(loss)


def test_cli_rejects_a_share_outside_zero_one(capsys):
    with pytest.raises(SystemExit):
        main(["--p-terminal", "1.5"])
    assert "--p-terminal" in capsys.readouterr().err


def _decoder_inputs(model: A2D, b: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random x0 (B, K, h, w) and backbone conditioning (cmap, cvec) of the widths the decoder reads."""
    g = torch.Generator().manual_seed(0)
    d, p, h = model.cfg.backbone.width, model.patch, 2 * model.patch
    x0 = torch.randn(b, model.decoder.in_ch, h, h, generator=g)
    return x0, torch.randn(b, model.cfg.chunk * d, h // p, h // p, generator=g), torch.randn(b, d, generator=g)
