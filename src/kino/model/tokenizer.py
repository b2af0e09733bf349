"""Video tokenizers: frames (B, T, 3, H, W) in [-1, 1] ↔ latents (B, T, C, H/d, W/d).

Both are per frame (trivially causal in time), so Extend conditions on encoded real frames and never
re-encodes its own decodes in a loop (the Wan/VACE extension drift, architecture.md).
- PixelTokenizer: pixel-unshuffle patches, no parameters, lossless.
- ConvAutoencoder: a small convolutional autoencoder trained on Kino World (8x spatial, 8 channels
  for `tiny`), which buys resolution for the same transformer cost.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kino.model.config import TokenizerConfig

__all__ = ["PixelTokenizer", "ConvAutoencoder", "build_tokenizer"]


class PixelTokenizer(nn.Module):
    """Lossless d x d pixel patches as latent channels."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        self.cfg = cfg
        self.down = cfg.down
        self.channels = 3 * cfg.down * cfg.down

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        z = F.pixel_unshuffle(x.flatten(0, 1), self.down)  # (B*T, 3*d*d, H/d, W/d)
        return z.unflatten(0, (b, t))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        b, t = z.shape[:2]
        return F.pixel_shuffle(z.flatten(0, 1), self.down).unflatten(0, (b, t))


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(8, ch // 4), ch)
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.norm2 = nn.GroupNorm(min(8, ch // 4), ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


class ConvAutoencoder(nn.Module):
    """Per-frame conv autoencoder; `scale` (a buffer set during training) normalises latents to unit std."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        self.cfg = cfg
        self.down = cfg.down
        self.channels = cfg.channels
        stages = cfg.down.bit_length() - 1  # log2(down)
        widths = [max(cfg.width >> (stages - i), 8) for i in range(stages + 1)]  # e.g. 8, 16, 32, 64
        enc: list[nn.Module] = [nn.Conv2d(3, widths[0], 3, padding=1)]
        for i in range(stages):
            enc += [ResBlock(widths[i]), nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1)]
        enc += [ResBlock(widths[-1]), nn.GroupNorm(min(8, widths[-1] // 4), widths[-1]), nn.SiLU(), nn.Conv2d(widths[-1], cfg.channels, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = [nn.Conv2d(cfg.channels, widths[-1], 3, padding=1), ResBlock(widths[-1])]
        for i in reversed(range(stages)):
            dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(widths[i + 1], widths[i], 3, padding=1), ResBlock(widths[i])]
        dec += [nn.GroupNorm(min(8, widths[0] // 4), widths[0]), nn.SiLU(), nn.Conv2d(widths[0], 3, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)
        self.register_buffer("scale", torch.ones(()))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) → (B, T, C, H/d, W/d), roughly unit std."""
        b, t = x.shape[:2]
        z = self.encoder(x.flatten(0, 1))  # (B*T, C, h, w)
        return (z / self.scale).unflatten(0, (b, t))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, T, C, h, w) → (B, T, 3, H, W)."""
        b, t = z.shape[:2]
        return self.decoder(z.flatten(0, 1) * self.scale).unflatten(0, (b, t))

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Reconstruction loss of frames x (N, 3, H, W): L1 + L2 on pixels and on image gradients."""
        z = self.encoder(x)
        y = self.decoder(z)
        l1 = (y - x).abs().mean()
        l2 = (y - x).pow(2).mean()
        gx = ((y[..., 1:] - y[..., :-1]) - (x[..., 1:] - x[..., :-1])).abs().mean()
        gy = ((y[..., 1:, :] - y[..., :-1, :]) - (x[..., 1:, :] - x[..., :-1, :])).abs().mean()
        reg = 1e-4 * z.pow(2).mean()  # keeps the latent scale bounded
        with torch.no_grad():  # running latent std → unit-variance latents for the diffusion decoder
            self.scale.lerp_(z.float().std().clamp_min(1e-3), 0.01)
        return l1 + l2 + 0.5 * (gx + gy) + reg, {"l1": l1.item(), "l2": l2.item()}


def build_tokenizer(cfg: TokenizerConfig) -> nn.Module:
    if cfg.kind == "pixel":
        return PixelTokenizer(cfg)
    if cfg.kind == "conv":
        return ConvAutoencoder(cfg)
    raise ValueError(f"tokenizer.kind: must be 'pixel' or 'conv', got {cfg.kind!r}")
