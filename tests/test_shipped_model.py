"""The shipped default checkpoint (src/kino/weights/kino-tiny.safetensors): what `make demo` and a server
with no configured checkpoint use. It must load with zero flags, stay small, say how it was made, and have
learned something a random-weight model of the same shape has not (layout and temporal coherence)."""

from __future__ import annotations

import numpy as np
import torch

from kino.generate import GenerateRequest, generate
from kino.model.a2d import A2D
from kino.model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint, read_metadata

PROMPT = "A red ball rolls to the right. The camera stays still."


def _stats(model: A2D) -> tuple[float, float]:
    """Mean over three seeds of (spread of the mean brightness across rows, mean absolute frame-to-frame change)."""
    spread, change = [], []
    for seed in range(3):
        f = generate(GenerateRequest(prompt=PROMPT, seconds=1.0, ratio="1:1", seed=seed, steps=4), model).astype(np.float64)
        spread.append(f.mean(axis=(0, 2, 3)).std())  # sky above floor: rows differ; noise: they do not
        change.append(np.abs(np.diff(f, axis=0)).mean())
    return float(np.mean(spread)), float(np.mean(change))


def test_the_default_checkpoint_ships_small_and_self_describing():
    assert DEFAULT_CHECKPOINT.is_file(), "the default checkpoint is package data (pyproject: kino/weights/*.safetensors)"
    assert DEFAULT_CHECKPOINT.stat().st_size < 40 * 2**20  # the house limit for the shipped default
    meta = read_metadata(DEFAULT_CHECKPOINT)
    assert meta["config"].backbone.width == 256 and meta["meta"]["preset"] in ("tiny", "tiny-guide", "tiny-guide-prev")
    assert int(meta["meta"]["steps"]) > 1000 and float(meta["meta"]["train_seconds"]) > 3600  # a real run, recorded
    if "init" in meta["meta"]:  # grown from an earlier checkpoint (`kino train --init`): that one's record travels along
        assert int(meta["meta"]["init"]["steps"]) > 1000 and meta["meta"]["init"]["recipes"]
    assert meta["meta"]["recipe"]  # the training config travels with the weights (docs/model.md has the command)


def test_the_default_checkpoint_draws_a_coherent_world_where_random_weights_draw_noise():
    trained = load_checkpoint(DEFAULT_CHECKPOINT)
    torch.manual_seed(0)
    random = A2D(trained.cfg).eval()
    t_spread, t_change = _stats(trained)
    r_spread, r_change = _stats(random)
    # measured (session 4, the shipped pix-3 weights): trained 19.9 / 3.9, random-weight 5.5 / 48 (8-bit levels)
    assert t_spread > 2 * r_spread and t_spread > 12
    assert t_change < r_change / 3 and t_change < 15
    same = generate(GenerateRequest(prompt=PROMPT, seconds=0.5, ratio="16:9", seed=7), trained)
    assert np.array_equal(same, generate(GenerateRequest(prompt=PROMPT, seconds=0.5, ratio="16:9", seed=7), trained))
