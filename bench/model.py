"""A2D generation cost: time to first chunk, frames per second, peak memory, FLOPs per frame, and
per-frame cost as clips grow (flat for A2D with its rolling window; growing for a bidirectional model)."""

from __future__ import annotations

import resource
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from kino.generate import GenerateRequest, stream
from kino.model.a2d import A2D
from kino.model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from kino.model.config import preset
from kino.model.text import text_encoder

__all__ = ["bench_model"]


def _model() -> tuple[A2D, str]:
    if DEFAULT_CHECKPOINT.is_file():
        return load_checkpoint(DEFAULT_CHECKPOINT), f"checkpoint {DEFAULT_CHECKPOINT.name}"
    torch.manual_seed(0)  # cost depends on the architecture, not the weights
    return A2D(preset("tiny")).eval(), "tiny preset, random weights (no default checkpoint yet)"


def _generate(model: A2D, seconds: float, steps: int = 4, **guidance) -> tuple[float, float, int]:
    """(time to first chunk, total wall, frames) for a 16:9 clip."""
    req = GenerateRequest(prompt="a red ball rolls to the right and hits a blue box", seconds=seconds, ratio="16:9", steps=steps, **guidance)
    t0 = time.perf_counter()
    first, frames = None, 0
    for chunk in stream(req, model):
        frames += len(chunk)
        first = first or time.perf_counter() - t0
    return first, time.perf_counter() - t0, frames


def _bidirectional_per_frame(model: A2D, frames: int, steps: int) -> float:
    """Seconds per frame of the same backbone attending over all frames at every denoising step.

    Uses the backbone's own layers with plain full attention (no mask, no bias): the cheapest possible
    bidirectional pass, so the ratio printed is a lower bound on A2D's advantage.
    """
    d = model.tokenizer.down * model.patch
    n = frames * (224 // d) * (128 // d) + 16  # tokens of all 16:9 frames plus a text prefix
    x = torch.randn(1, n, model.cfg.backbone.width)
    with torch.no_grad():  # fp32, the precision `generate` runs A2D at: the ratio compares like with like
        t = time.perf_counter()
        for blk in model.backbone.blocks:
            a = blk.attn
            q, k, v = a.qkv(blk.norm1(x)).view(1, n, 3, a.heads, -1).permute(2, 0, 3, 1, 4)
            y = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(1, n, -1)
            x = x + a.out(y)
            x = x + blk.mlp(blk.norm2(x))
        one = time.perf_counter() - t
    return steps * one / frames


def bench_model() -> list[tuple[str, float, str]]:
    torch.set_num_threads(torch.get_num_threads())
    model, what = _model()
    text_encoder()  # loaded once per process; not part of a request's latency
    _generate(model, 0.25)  # warm-up
    rows: list[tuple[str, float, str]] = [(f"model: {what}", sum(p.numel() for p in model.parameters()) / 1e6, "M params")]
    first, wall, n = _generate(model, 4.0)
    rows += [
        ("4 s 16:9 clip @16 fps, 4 steps: wall", wall, "s (target <= 4)"),
        ("  time to first chunk", first, "s (target <= 0.5)"),
        ("  frames per second", n / wall, "frames/s"),
        ("  peak RSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MB (target <= 2048)"),
    ]
    _generate(model, 0.25, guidance=2.5)  # warm-up of the two-branch (batch 2) decoder
    for chunks, where in ((1, "the first chunk"), (None, "every chunk")):  # classifier-free guidance's extra cost
        first_g, wall_g, _ = _generate(model, 4.0, guidance=2.5, guidance_chunks=chunks)
        rows.append((f"  with guidance on {where}: wall", wall_g, f"s ({wall_g / wall:.2f}x; first chunk {first_g:.2f} s)"))
    rows.append(("  peak RSS, guided runs included", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MB"))
    with FlopCounterMode(display=False) as fc:
        _, _, n1 = _generate(model, 1.0)
    rows.append(("  FLOPs per frame", fc.get_total_flops() / n1 / 1e9, "GFLOP"))
    for secs in (4, 16, 60):
        _, wall_s, n_s = _generate(model, secs)
        a2d = wall_s / n_s
        bi = _bidirectional_per_frame(model, n_s, 4)
        rows.append((f"per-frame cost at {secs:>2} s: A2D / bidirectional", a2d * 1000, f"ms vs {bi * 1000:.1f} ms (ratio {bi / a2d:.1f}x)"))
    return rows
