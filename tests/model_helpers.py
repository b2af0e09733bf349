"""Small builders the model and training tests share: a tiny model whose every weight matters, and a training batch
with only the conditions a test asks for."""

from __future__ import annotations

import random

import torch

from kino.model.a2d import A2D, Conditions
from kino.model.config import preset
from kino.train import TrainConfig, batch_from_samples

_NONE = {"p_drop_text": 0.0, "p_keyframe": 0.0, "p_camera": 0.0, "p_brush": 0.0, "p_reference": 0.0}


def noisy(name: str, scale: float = 0.05) -> A2D:
    """A2D of preset `name` (seed 0) with every weight nudged: no zero-initialised layer stays a no-op, so a test sees
    whether each input is wired."""
    torch.manual_seed(0)
    m = A2D(preset(name))
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * scale)
    return m


def batch(model: A2D, samples, **probs) -> tuple[torch.Tensor, Conditions]:
    """`batch_from_samples` with the prompt always kept and every other condition off unless `probs` turns it on
    (e.g. p_camera=1.0)."""
    return batch_from_samples(model, samples, TrainConfig(**{**_NONE, **probs}), random.Random(0), "cpu")
