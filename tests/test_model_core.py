"""The A2D model's invariants, on the real classes at test width."""

from __future__ import annotations

import torch

from kino.model.a2d import A2D, Conditions
from kino.model.backbone import PREFIX, Backbone, block_mask
from kino.model.config import PRESETS, ModelConfig, preset
from kino.model.sampling import euler_step, sample_shortcut, timesteps


def _cond(b=2, lt=5, t=8, hw=(8, 8), kf=None):
    g = torch.Generator().manual_seed(1)
    mask = torch.ones(b, lt, dtype=torch.bool)
    mask[1, 3:] = False  # a shorter prompt: padding must be ignored
    return Conditions(text=torch.randn(b, lt, 384, generator=g), text_mask=mask, camera=torch.randn(b, t, 16, generator=g) * 0.1, keyframes=kf or [])


def test_block_mask_never_lets_a_chunk_see_the_future():
    ids = torch.tensor([PREFIX, PREFIX] + [c for c in range(6) for _ in range(3)])
    m = block_mask(ids, ids, window=3, sink=0)
    for qi, q in enumerate(ids.tolist()):
        for ki, k in enumerate(ids.tolist()):
            if q == PREFIX:
                assert m[qi, ki] == (k == PREFIX)
            elif k == PREFIX:
                assert m[qi, ki]
            else:
                assert m[qi, ki] == (k <= q and (q - k < 3 or k == 0))
    assert m[ids == 2][:, ids == 2].all()  # bidirectional inside a chunk


def test_future_chunks_do_not_change_past_outputs():
    torch.manual_seed(0)
    bb = Backbone(PRESETS["test"].backbone).eval()
    ids = torch.tensor([PREFIX] * 4 + [c for c in range(5) for _ in range(6)])
    x = torch.randn(1, len(ids), 32)
    y = bb(x, ids, ids)
    x2 = x.clone()
    x2[:, ids == 4] += torch.randn_like(x2[:, ids == 4])  # change only the last chunk
    y2 = bb(x2, ids, ids)
    assert torch.allclose(y[:, ids < 4], y2[:, ids < 4], atol=1e-6)
    assert not torch.allclose(y[:, ids == 4], y2[:, ids == 4], atol=1e-3)


def test_kv_cache_rollout_equals_full_sequence_forward():
    torch.manual_seed(0)
    bb = Backbone(PRESETS["test"].backbone).eval()  # window 3: the cache must be trimmed to match
    n_prefix, s, n = 5, 6, 7
    ids = torch.tensor([PREFIX] * n_prefix + [c for c in range(n) for _ in range(s)])
    x = torch.randn(2, len(ids), 32)
    valid = torch.ones(2, len(ids), dtype=torch.bool)
    valid[1, 3:n_prefix] = False
    full = bb(x, ids, ids, valid=valid)
    cache = bb.empty_cache(2, x.device, x.dtype)
    outs = [bb.step(x[:, :n_prefix], ids[:n_prefix], ids[:n_prefix], cache, valid=valid[:, :n_prefix])]
    for c in range(n):
        sl = slice(n_prefix + c * s, n_prefix + (c + 1) * s)
        outs.append(bb.step(x[:, sl], ids[sl], ids[sl], cache))
        cache.trim(c, bb.cfg.window, 0)
    assert cache.ids.numel() <= n_prefix + s * (bb.cfg.window + 1)  # rolling window + sink, not the whole video
    torch.testing.assert_close(torch.cat(outs, 1)[:, n_prefix:], full[:, n_prefix:], atol=1e-5, rtol=1e-5)


def test_sampler_step_equals_hand_calculation():
    x = torch.tensor([1.0, -2.0])
    x0 = torch.tensor([0.5, 0.5])
    # v = (x - x0) / t = ([0.5, -2.5]) / 0.8; x' = x + (0.3 - 0.8) v
    torch.testing.assert_close(euler_step(x, x0, 0.8, 0.3), torch.tensor([1.0 - 0.5 * 0.625, -2.0 + 0.5 * 3.125]))
    assert timesteps(4) == [1.0, 0.75, 0.5, 0.25, 0.0]
    ts = timesteps(2, shift=3.0)
    assert ts[1] == 3 * 0.5 / (1 + 2 * 0.5) and ts[-1] == 0.0
    # a perfect denoiser lands on its prediction in one step, whatever the noise
    out = sample_shortcut(lambda x, t, d: torch.full_like(x, 0.25), torch.randn(3, 4), [1.0, 0.0])
    torch.testing.assert_close(out, torch.full((3, 4), 0.25))
    # replacement keeps known entries exactly
    known, mask = torch.ones(1, 4), torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    out = sample_shortcut(lambda x, t, d: torch.zeros_like(x), torch.randn(1, 4), timesteps(3), known, mask)
    torch.testing.assert_close(out, torch.tensor([[1.0, 0.0, 1.0, 0.0]]))


def test_loss_backprops_and_stream_is_seeded():
    torch.manual_seed(0)
    m = A2D(preset("test"))
    lat = torch.randn(2, 8, 4, 8, 8)
    loss = m.loss(lat, _cond(kf=[(3, lat[:, 3])]), torch.full((2,), 0.05))
    loss.backward()
    assert torch.isfinite(loss) and m.backbone.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
    m.eval()
    run = lambda seed: torch.cat(list(m.stream(_cond(), 3, (8, 8), steps=2, generator=torch.Generator().manual_seed(seed))), 1)  # noqa: E731
    a, b, c = run(1), run(1), run(2)
    assert a.shape == (2, 6, 4, 8, 8)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_keyframes_are_reproduced_at_their_frames():
    torch.manual_seed(0)
    m = A2D(preset("test")).eval()
    key = torch.randn(2, 4, 8, 8)
    out = torch.cat(list(m.stream(_cond(kf=[(0, key), (5, -key)]), 4, (8, 8), steps=2, generator=torch.Generator().manual_seed(0))), 1)
    torch.testing.assert_close(out[:, 0], key)
    torch.testing.assert_close(out[:, 5], -key)


def test_config_round_trips_through_json():
    for name, cfg in PRESETS.items():
        assert ModelConfig.from_json(cfg.to_json()) == cfg, name
