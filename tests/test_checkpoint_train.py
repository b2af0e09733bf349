"""Checkpoints (safetensors + config metadata) and the trainer: a short real run, --resume, and DDP under torchrun."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

import kino
from kino.generate import GenerateRequest, generate
from kino.model.a2d import A2D
from kino.model.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from kino.model.config import ModelConfig, preset
from kino.train import TrainConfig, learning_rate, train
from kino.train import main as train_main

SRC = Path(kino.__file__).resolve().parent.parent  # the tree this test imported kino from


def _odd_config() -> ModelConfig:
    """A config equal to no preset, so a load can only get it from the file's metadata."""
    cfg = preset("test")
    return dataclasses.replace(cfg, fps=12, backbone=dataclasses.replace(cfg.backbone, depth=1, max_text=6))


def _model(cfg: ModelConfig) -> A2D:
    torch.manual_seed(0)
    m = A2D(cfg)
    with torch.no_grad():
        for p in m.parameters():  # no exact zeros/ones left from init, so the bf16 check sees real rounding
            p.add_(torch.randn_like(p) * 0.1)
        m.tokenizer.scale.fill_(1.7)  # buffers travel too
    return m


# ------------------------------------------------------------------------------------------- checkpoints
def test_fp32_checkpoint_round_trips_exactly_with_zero_flags(tmp_path):
    m = _model(_odd_config())
    path = save_checkpoint(m, tmp_path / "sub" / "m.safetensors", steps=7, note="hi")
    assert path.is_file() and not list(path.parent.glob(".*.tmp"))  # written atomically, no temp left
    info = read_metadata(path)
    assert info["config"] == m.cfg and info["meta"] == {"steps": 7, "note": "hi"}
    loaded = load_checkpoint(path)  # no config, preset or flags: everything comes from the metadata
    assert loaded.cfg == m.cfg and not loaded.training and loaded.meta["steps"] == 7
    ref, got = m.state_dict(), loaded.state_dict()
    assert ref.keys() == got.keys()
    for k in ref:
        assert got[k].dtype == ref[k].dtype and torch.equal(got[k], ref[k]), k


def test_bf16_checkpoint_loads_within_bf16_rounding(tmp_path):
    m = _model(preset("test"))
    full = save_checkpoint(m, tmp_path / "fp32.safetensors")
    half = save_checkpoint(m, tmp_path / "bf16.safetensors", dtype=torch.bfloat16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded = load_checkpoint(half)
    assert loaded.cfg == m.cfg
    changed = 0
    for k, ref in m.state_dict().items():
        got = loaded.state_dict()[k]
        assert got.dtype == torch.float32, k  # loaded back as float32
        torch.testing.assert_close(got, ref.to(torch.bfloat16).float(), rtol=0, atol=0)  # exactly bf16 rounding
        # round-to-nearest bf16 (8 significant bits): relative error at most 2^-9, plus subnormal slack
        assert bool(((got - ref).abs() <= ref.abs() * 2.0**-8 + 1e-30).all()), k
        changed += int(not torch.equal(got, ref))
    assert changed > 0  # it really was stored in bf16


def test_kino_demo_generates_with_the_default_checkpoint_when_one_ships(tmp_path, monkeypatch, capsys):
    """`make demo`'s path once a default exists: it generates (not renders), names the model, writes mp4 + sheet."""
    import kino.generate
    import kino.model.checkpoint
    from kino.cli import main
    from kino.io.video import read_mp4

    ckpt = save_checkpoint(_model(preset("test")).eval(), tmp_path / "default.safetensors", steps=42, train_seconds=7200, preset="test")
    monkeypatch.setattr(kino.model.checkpoint, "DEFAULT_CHECKPOINT", ckpt)
    monkeypatch.setattr(kino.generate, "DEFAULT_CHECKPOINT", ckpt)
    assert main(["demo", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "default.safetensors (test, 42 steps, 2.0 training hours" in out and "not trained yet" not in out
    frames, fps = read_mp4(tmp_path / "out" / "demo.mp4")
    assert frames.shape == (64, 128, 224, 3) and fps == 16 and (tmp_path / "out" / "demo.png").is_file()


def test_read_metadata_errors_clearly(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        read_metadata(tmp_path / "missing.safetensors")
    png = tmp_path / "image.safetensors"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(png, format="PNG")
    with pytest.raises(ValueError, match="is not a safetensors file"):
        read_metadata(png)
    with pytest.raises(ValueError, match="is not a safetensors file"):
        load_checkpoint(png)
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(3)}, str(plain))
    with pytest.raises(ValueError, match="has no Kino config"):
        read_metadata(plain)
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(other), metadata={"format": "pt", "config": "{}"})
    with pytest.raises(ValueError, match="has no Kino config"):
        load_checkpoint(other)


# ------------------------------------------------------------------------------------------- training
def _progress(out: Path) -> dict:
    return json.loads((out / "progress.json").read_text())


def _assert_is_checkpoint_of(model: A2D, weights: dict[str, torch.Tensor]) -> None:
    """The loaded checkpoint holds exactly `weights`, stored as fp32 or as bf16."""
    got = model.state_dict()
    assert got.keys() == weights.keys()
    for k, w in weights.items():
        assert torch.equal(got[k], w.float()) or torch.equal(got[k], w.bfloat16().float()), k


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """One short real training run (fresh: tokenizer stage, then backbone + decoder)."""
    out = tmp_path_factory.mktemp("train") / "run"
    cfg = TrainConfig(
        preset="test",
        out=str(out),
        minutes=0.3,
        batch=2,
        seconds=0.5,
        sizes=((64, 64),),
        workers=0,
        save_minutes=0.1,
        device="cpu",
        tokenizer_steps=5,
    )
    assert train(cfg) == out / "model.safetensors"
    return out


def test_training_run_writes_a_loadable_checkpoint_and_its_records(run):
    for name in ("model.safetensors", "loss.png", "state.pt", "progress.json"):
        assert (run / name).is_file(), name
    assert not list(run.glob(".*.tmp"))
    assert Image.open(run / "loss.png").size == (640, 360)
    progress = _progress(run)
    assert (
        progress["stage"] == "a2d" and progress["tok_step"] > 0 and progress["step"] > 0 and progress["data_index"] > 0
    )
    model = load_checkpoint(run / "model.safetensors")  # zero flags
    assert model.cfg == preset("test") and model.meta["preset"] == "test"
    assert model.meta["steps"] == progress["step"] and model.meta["tokenizer_steps"] == progress["tok_step"]
    state = torch.load(run / "state.pt", weights_only=False)
    _assert_is_checkpoint_of(model, state["ema"])  # the shipped weights are the EMA
    assert [s for s, _ in state["state"]["history"]["a2d"]] == list(range(1, progress["step"] + 1))
    clip = generate(GenerateRequest(prompt="a red ball", seconds=0.25, ratio="1:1", steps=1), model=model)
    assert clip.shape == (4, 128, 128, 3)


def test_checkpoint_tokenizer_is_the_trained_tokenizer(run):
    state = torch.load(run / "state.pt", weights_only=False)
    differ = [
        k for k in state["model"] if k.startswith("tokenizer.") and not torch.equal(state["model"][k], state["ema"][k])
    ]
    assert not differ, f"{len(differ)} tokenizer tensors differ between the trained model and its EMA"


def test_resume_continues_without_repeating_the_tokenizer_stage(run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(run, out)
    first = _progress(out)
    tok_curve = len(torch.load(out / "state.pt", weights_only=False)["state"]["history"]["tokenizer"])
    argv = "--preset test --resume --minutes 0.1 --batch 2 --seconds 0.5 --size 64x64 --workers 0 --save-minutes 0.1 --device cpu --lr-end 1e-4"
    assert train_main([*argv.split(), "--out", str(out)]) == 0
    second = _progress(out)
    assert second["step"] > first["step"] and second["data_index"] > first["data_index"]
    assert second["seconds"] > first["seconds"]  # wall time accumulates across invocations
    assert second["tok_step"] == first["tok_step"] and second["stage"] == "a2d"  # the tokenizer stage is not repeated
    state = torch.load(out / "state.pt", weights_only=False)
    assert len(state["state"]["history"]["tokenizer"]) == tok_curve
    assert [s for s, _ in state["state"]["history"]["a2d"]] == list(
        range(1, second["step"] + 1)
    )  # one curve, continued
    model = load_checkpoint(out / "model.safetensors")
    assert model.meta["steps"] == second["step"]
    _assert_is_checkpoint_of(model, state["ema"])
    # --lr-end anneals the continuation only: the first run kept its constant rate, the second falls toward 1e-4
    # (this short run is still warming up, so compare with the warm-up rate: the cosine factor must fall)
    lrs = dict(state["state"]["history"]["lr"])
    warm = {s: 1e-3 * min(1.0, s / 100) for s in lrs}  # history step s was trained at learning_rate(step=s-1)
    assert all(lrs[s] == pytest.approx(warm[s]) for s in range(1, first["step"] + 1))
    factor = [(lrs[s] - 1e-4) / (warm[s] - 1e-4) for s in range(first["step"] + 1, second["step"] + 1)]
    assert all(1 >= a >= b >= 0 for a, b in zip(factor, factor[1:], strict=False)) and factor[0] > 0.9 > 0.5 > factor[-1]
    assert model.meta["recipe"]["lr_end"] == 1e-4
    assert [(r["resume"], r["from_step"], r["lr_end"]) for r in model.meta["recipes"]] == [(False, 0, None), (True, first["step"], 1e-4)]


def test_learning_rate_warms_up_then_anneals_over_the_wall_clock_budget():
    const, cos = TrainConfig(lr=1e-3, warmup=10), TrainConfig(lr=1e-3, lr_end=1e-4, warmup=10)
    assert learning_rate(const, 0, 0.0) == pytest.approx(1e-4)  # step 1 of 10
    assert learning_rate(const, 500, 0.9) == learning_rate(const, 500, 0.0) == 1e-3
    assert learning_rate(cos, 500, 0.0) == pytest.approx(1e-3)
    assert learning_rate(cos, 500, 0.5) == pytest.approx(5.5e-4)  # halfway down the cosine
    assert learning_rate(cos, 500, 1.0) == learning_rate(cos, 500, 3.0) == pytest.approx(1e-4)  # clamped past the budget


# ------------------------------------------------------------------------------------------- DDP
RANK_SCRIPT = '''
"""kino.train.main under torchrun; afterwards each rank saves its own trained weights to OUT/rank<R>.pt."""
import os
import sys
from pathlib import Path

import torch

import kino.train as T

made = []


class Recorded(T.A2D):  # records the trained model instance (the EMA copy is a deepcopy, not constructed)
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        made.append(self)


T.A2D = Recorded
rc = T.main(sys.argv[1:])
out = Path(sys.argv[sys.argv.index("--out") + 1])
torch.save({k: v.detach().clone() for k, v in made[0].state_dict().items()}, out / f"rank{os.environ['RANK']}.pt")
sys.exit(rc)
'''


@pytest.mark.slow
def test_ddp_under_torchrun_keeps_ranks_identical(tmp_path):
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    out = tmp_path / "ddp"
    torchrun = Path(sys.executable).parent / "torchrun"
    cmd = [
        str(torchrun),
        "--standalone",
        "--nproc_per_node",
        "2",
        str(script),
        "--preset",
        "test",
        "--out",
        str(out),
        "--minutes",
        "0.2",
        "--batch",
        "1",
        "--seconds",
        "0.5",
        "--size",
        "64x64",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--tokenizer-steps",
        "3",
    ]
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        log, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:  # a collective mismatch can also hang: stop our own process group
        os.killpg(proc.pid, signal.SIGKILL)
        log, _ = proc.communicate()
        pytest.fail("torchrun hung (collective mismatch?):\n" + log[-3000:])
    assert proc.returncode == 0, log[-3000:]
    model = load_checkpoint(out / "model.safetensors")
    progress = _progress(out)
    assert progress["step"] > 0 and model.meta["steps"] == progress["step"]
    r0, r1 = torch.load(out / "rank0.pt"), torch.load(out / "rank1.pt")
    # ranks stream different clips (and initialise differently), so only synchronised gradients keep them equal
    differ = sorted(k for k in r0 if not torch.equal(r0[k], r1[k]))
    assert not differ, f"{len(differ)} tensors differ between ranks, e.g. {differ[:5]}"
    # rank 0 wrote the final state, and the checkpoint is its EMA weights (stored fp32 or bf16)
    state = torch.load(out / "state.pt", weights_only=False)
    assert all(torch.equal(state["model"][k], r0[k]) for k in r0)
    _assert_is_checkpoint_of(model, state["ema"])
