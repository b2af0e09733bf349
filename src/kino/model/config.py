"""Frozen configs for every component of the A2D model, and the preset registry.

One dataclass per component (style.md); a preset names a full ModelConfig. Checkpoints store
`ModelConfig.to_json()` in their safetensors metadata, so they load with zero flags.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

__all__ = ["TokenizerConfig", "BackboneConfig", "DecoderConfig", "ModelConfig", "PRESETS", "preset"]


@dataclass(frozen=True)
class TokenizerConfig:
    """Per-frame video tokenizer: `pixel` (identity) or `conv` (a small autoencoder, `down`x spatial)."""

    kind: str = "conv"
    down: int = 8
    channels: int = 8  # latent channels
    width: int = 64  # widest conv layer of the autoencoder


@dataclass(frozen=True)
class BackboneConfig:
    """Block-causal transformer over [text | controls | keyframes | BOS | chunk_1 | ...]."""

    width: int = 256
    depth: int = 6
    heads: int = 4
    patch: int = 4  # latent patch per token: 16 tokens per 128x128 frame (token count is the CPU lever)
    window: int = 8  # chunks kept in the rolling KV window (plus the permanent sink)
    # MiniLM tokens of the prompt (longer prompts are truncated). Kino World's full captions run 44-108 tokens
    # (median 79 over the 40 standard eval prompts): 32, the first checkpoint's limit, cut off every floor, light
    # and camera sentence. No parameters depend on it, so a checkpoint trained at 32 loads and continues at 96.
    max_text: int = 96
    mlp_ratio: float = 4.0


@dataclass(frozen=True)
class DecoderConfig:
    """Per-chunk convolutional U-Net that owns the diffusion (flow matching, shortcut steps)."""

    channels: tuple[int, ...] = (64, 128, 128)
    blocks: int = 1
    time_shift: float = 1.0  # t' = s t / (1 + (s - 1) t): >1 spends more steps at high noise
    context_noise: float = 0.05  # noise level the context (backbone tokens; with prev_chunk also the decoder's side input) is written at
    # the U-Net also reads the previous chunk (continuity by copying). Off by default: run tiny-2 (docs/model.md)
    # did not beat pix-1 with it in the CPU budget measured so far; kept for longer / GPU runs to settle
    prev_chunk: bool = False
    # the U-Net also reads the warp guide (kino.guide): the requested camera / brush motion applied to the frames
    # made so far, as latents plus a "present" channel. Trained with the truth's camera path, so the model learns
    # to use the warp (and to repaint what it cannot know) instead of being pushed by SDEdit alone
    guide_input: bool = False
    # the decoder's conditioning vector also reads the prompt directly: its masked-mean MiniLM states through a
    # zero-initialised linear map, added to the pooled backbone state (A2D.text_pool). A short path from the words
    # to every AdaGN layer, as DiT / Imagen add a pooled text embedding to the timestep embedding
    text_vec: bool = False


@dataclass(frozen=True)
class ModelConfig:
    """The whole A2D model."""

    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    chunk: int = 2  # frames per chunk
    fps: int = 16
    max_frames: int = 9600  # 10 minutes at 16 fps; time enters only relative to the window, so this only bounds requests
    text_dim: int = 384  # MiniLM token states

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        d = json.loads(text)
        dec = d.pop("decoder")
        dec["channels"] = tuple(dec["channels"])
        return cls(tokenizer=TokenizerConfig(**d.pop("tokenizer")), backbone=BackboneConfig(**d.pop("backbone")), decoder=DecoderConfig(**dec), **d)


PRESETS: dict[str, ModelConfig] = {
    # CPU default: lossless 4x4 pixel patches (48 channels at H/4 x W/4, no tokenizer stage and no blur
    # ceiling), 32x32-pixel tokens: 16 per 128x128 frame, 28 per 224x128 frame; U-Net decoder at H/4
    "tiny": ModelConfig(
        tokenizer=TokenizerConfig(kind="pixel", down=4),
        backbone=BackboneConfig(patch=8),
        decoder=DecoderConfig(channels=(48, 96, 128, 128)),
    ),
    # tiny + the decoder's previous-chunk input (run tiny-2 in docs/model.md: not yet better than tiny on CPU)
    "tiny-prev": ModelConfig(
        tokenizer=TokenizerConfig(kind="pixel", down=4),
        backbone=BackboneConfig(patch=8),
        decoder=DecoderConfig(channels=(48, 96, 128, 128), context_noise=0.1, prev_chunk=True),
    ),
    # tiny + the warp guide as a decoder input (zero-initialised channels: starts as tiny, `kino train --init`)
    "tiny-guide": ModelConfig(
        tokenizer=TokenizerConfig(kind="pixel", down=4),
        backbone=BackboneConfig(patch=8),
        decoder=DecoderConfig(channels=(48, 96, 128, 128), guide_input=True),
    ),
    # tiny-guide + the previous-chunk input (grown from a tiny-guide checkpoint with `kino train --init`: the new
    # channels start at zero), at tiny's context noise so the backbone's context is written as it was trained
    "tiny-guide-prev": ModelConfig(
        tokenizer=TokenizerConfig(kind="pixel", down=4),
        backbone=BackboneConfig(patch=8),
        decoder=DecoderConfig(channels=(48, 96, 128, 128), guide_input=True, prev_chunk=True),
    ),
    # tiny-guide-prev + the pooled prompt in the decoder's vector (`text_vec`; grown with `kino train --init`, the new
    # map starts at zero)
    "tiny-guide-prev-text": ModelConfig(
        tokenizer=TokenizerConfig(kind="pixel", down=4),
        backbone=BackboneConfig(patch=8),
        decoder=DecoderConfig(channels=(48, 96, 128, 128), guide_input=True, prev_chunk=True, text_vec=True),
    ),
    # GPU presets: same code, wider and deeper
    "small": ModelConfig(backbone=BackboneConfig(width=512, depth=12, heads=8), decoder=DecoderConfig(channels=(128, 256, 256), blocks=2)),
    "base": ModelConfig(
        tokenizer=TokenizerConfig(channels=16, width=128),
        backbone=BackboneConfig(width=768, depth=16, heads=12, window=16),
        decoder=DecoderConfig(channels=(192, 384, 384), blocks=2),
    ),
    "large": ModelConfig(
        tokenizer=TokenizerConfig(channels=16, width=192),
        backbone=BackboneConfig(width=1024, depth=24, heads=16, window=16),
        decoder=DecoderConfig(channels=(256, 512, 512), blocks=3),
    ),
    # test-only: the real classes at toy width
    "test": ModelConfig(
        tokenizer=TokenizerConfig(channels=4, width=16),
        backbone=BackboneConfig(width=32, depth=2, heads=2, patch=2, window=3, max_text=8),
        decoder=DecoderConfig(channels=(16, 32), blocks=1),
    ),
    # test-only: the same with the decoder's warp-guide input
    "test-guide": ModelConfig(
        tokenizer=TokenizerConfig(channels=4, width=16),
        backbone=BackboneConfig(width=32, depth=2, heads=2, patch=2, window=3, max_text=8),
        decoder=DecoderConfig(channels=(16, 32), blocks=1, guide_input=True),
    ),
    # test-only: the same with the decoder's previous-chunk input
    "test-prev": ModelConfig(
        tokenizer=TokenizerConfig(channels=4, width=16),
        backbone=BackboneConfig(width=32, depth=2, heads=2, patch=2, window=3, max_text=8),
        decoder=DecoderConfig(channels=(16, 32), blocks=1, context_noise=0.1, prev_chunk=True),
    ),
    # test-only: the same with the pooled prompt in the decoder's vector
    "test-text": ModelConfig(
        tokenizer=TokenizerConfig(channels=4, width=16),
        backbone=BackboneConfig(width=32, depth=2, heads=2, patch=2, window=3, max_text=8),
        decoder=DecoderConfig(channels=(16, 32), blocks=1, text_vec=True),
    ),
}


def preset(name: str) -> ModelConfig:
    if name not in PRESETS:
        raise ValueError(f"preset: unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]
