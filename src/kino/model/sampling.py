"""Samplers: pure functions over a denoiser, in the k-diffusion style. They never import models.

Convention (rectified flow): x_t = (1 - t) x0 + t * noise, t = 1 is pure noise. The denoiser predicts
the clean sample, `denoise(x, t, d) -> x0_hat`, given the step size d it is about to take (shortcut
models, Frans et al. arXiv 2410.12557), so one network samples well in 1, 2 or 4 steps.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["timesteps", "euler_step", "guided", "sample_shortcut"]

Denoiser = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def timesteps(steps: int, shift: float = 1.0, start: float = 1.0) -> list[float]:
    """Descending times from `start` to 0; shift > 1 spends more of the steps at high noise (SD3 shift).

    The shift warps the schedule's shape, not its start: ts[0] == start, so SDEdit noise levels stay exact.
    """
    xs = [1 - i / steps for i in range(steps + 1)]
    return [start * shift * x / (1 + (shift - 1) * x) for x in xs]


def euler_step(x: torch.Tensor, x0_hat: torch.Tensor, t: float, t_next: float) -> torch.Tensor:
    """One Euler step of the flow ODE from t to t_next, with velocity v = (x - x0_hat) / t."""
    v = (x - x0_hat) / max(t, 1e-6)
    return x + (t_next - t) * v


def guided(pair: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]], scale: float) -> Denoiser:
    """Classifier-free guidance (Ho & Salimans, arXiv 2207.12598) as a denoiser: `pair` returns the conditional and
    unconditional x0 predictions; the guided one extrapolates from the second through the first by `scale`
    (1 = the conditional alone). In x0 form it equals guiding the velocity, since v = (x - x0) / t is affine in x0."""

    def denoise(x: torch.Tensor, t: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        cond, uncond = pair(x, t, d)
        return uncond + scale * (cond - uncond)

    return denoise


def sample_shortcut(
    denoise: Denoiser,
    noise: torch.Tensor,
    ts: list[float],
    known: torch.Tensor | None = None,
    known_mask: torch.Tensor | None = None,
    callback: Callable[[int, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Integrate from ts[0] to ts[-1] = 0; `known` values (where known_mask is 1) are re-imposed at each level (replacement inpainting)."""
    x = noise
    b = noise.shape[0]
    for i in range(len(ts) - 1):
        t, t_next = ts[i], ts[i + 1]
        if known is not None:
            x = torch.lerp(x, (1 - t) * known + t * noise, known_mask)
        tt = torch.full((b,), t, device=x.device, dtype=torch.float32)
        dd = torch.full((b,), t - t_next, device=x.device, dtype=torch.float32)
        x0_hat = denoise(x, tt, dd)
        x = x0_hat if t_next == 0 else euler_step(x, x0_hat, t, t_next)
        if callback is not None:
            callback(i, x)
    if known is not None:
        x = torch.lerp(x, known, known_mask)
    return x
