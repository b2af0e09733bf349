"""Safetensors checkpoints with the model config in the metadata: they load with zero flags."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from kino.model.a2d import A2D
from kino.model.config import ModelConfig

__all__ = ["save_checkpoint", "load_checkpoint", "read_metadata", "DEFAULT_CHECKPOINT"]

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "weights" / "kino-tiny.safetensors"


def save_checkpoint(model: A2D, path: str | os.PathLike, dtype: torch.dtype = torch.float32, **meta: object) -> Path:
    """Write weights (optionally bf16 to halve the size) and {config, meta...} metadata, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in model.state_dict().items()}
    metadata = {"format": "kino-a2d", "config": model.cfg.to_json(), "meta": json.dumps(meta, sort_keys=True, default=str)}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    return path


def read_metadata(path: str | os.PathLike) -> dict:
    """The checkpoint's config (as a ModelConfig) and free-form meta, without loading weights."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint: no such file {str(path)!r}")
    try:
        with safe_open(str(path), framework="pt") as f:
            md = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types
        raise ValueError(f"checkpoint: {str(path)!r} is not a safetensors file ({exc})") from exc
    if md.get("format") != "kino-a2d" or "config" not in md:
        raise ValueError(f"checkpoint: {str(path)!r} has no Kino config in its metadata")
    return {"config": ModelConfig.from_json(md["config"]), "meta": json.loads(md.get("meta", "{}"))}


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> A2D:
    """Build the model from the metadata config and load its weights (as float32) in eval mode."""
    info = read_metadata(path)
    model = A2D(info["config"])
    state = {}
    with safe_open(str(path), framework="pt", device=str(device)) as f:
        for k in f.keys():
            t = f.get_tensor(k)
            state[k] = t.float() if t.is_floating_point() else t
    model.load_state_dict(state)
    model.meta = info["meta"]
    return model.to(device).eval()
