"""report.html and `kino eval compare` on synthetic reports (no rendering, no model: fast)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kino.cli import main
from kino.eval.compare import bradley_terry, case_games, compare, compare_table, load_report
from kino.eval.report import render_html, write_html
from kino.eval.run import SCHEMA, summary_table

DEFS = {"prompt_adherence": True, "velocity_error": False, "collision_f1": True}


def _report(name: str, quality: float, n: int = 12, seed: int = 0) -> dict:
    """A report whose per-case scores are `quality` plus noise (higher quality: better on every metric)."""
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        q = quality + rng.normal(0, 0.01)
        metrics = {"prompt_adherence": min(1.0, 0.5 + 0.4 * q), "velocity_error": 2.0 - q, "collision_f1": 0.3 * q}
        cases.append({"id": f"standard-{i:03d}", "prompt": f"A red ball rolls to the right, case {i}.", "seed": i, "split": "train",
                      "seconds": 2.0, "fps": 16, "width": 96, "height": 64, "controls": {"mode": "t2v"}, "scored_frames": [0, 32],
                      "note": None, "time_s": 1.0, "generation": None, "metrics": metrics,
                      "floor": {"prompt_adherence": 1.0, "velocity_error": 0.2, "collision_f1": 0.9},
                      "clauses": [{"kind": "direction", "objects": [1], "value": "right", "ok": q > 0.5, "ok_floor": True}],
                      "brush": None, "badness": float(1 - q), "windows": None})
    metrics = {}
    for m, up in DEFS.items():
        vals = np.array([c["metrics"][m] for c in cases])
        metrics[m] = {"definition": f"definition of {m}", "higher_is_better": up, "threshold": 0.8 if up else 3.0,
                      "relative_to_floor": not up, "set_level": False, "value": float(vals.mean()),
                      "ci": [float(vals.mean() - 0.01), float(vals.mean() + 0.01)], "n": n, "floor": cases[0]["floor"][m],
                      "floor_ci": [cases[0]["floor"][m]] * 2, "floor_n": n, "pass": None}
    return {"schema": SCHEMA, "created": "2025-01-01T00:00:00+00:00", "wall_s": 12.0,
            "suite": {"name": "standard", "description": "toy", "seed": 0, "cases": n, "window_s": None},
            "source": {"kind": "checkpoint", "path": f"/ckpt/{name}.safetensors", "meta": {}},
            "machine": {"host": "test", "cpus": 2, "python": "3.11", "torch": "x", "threads": 2, "device": "cpu"},
            "generation": {"load_s": 1.0, "time_to_first_chunk_s": 0.05, "frames_per_s": 40.0, "peak_rss_mb": 700.0},
            "metrics": metrics, "cases": cases, "windows": None}


def _write(tmp: Path, rep: dict) -> str:
    d = tmp / rep["source"]["path"].split("/")[-1].split(".")[0]
    d.mkdir()
    (d / "report.json").write_text(json.dumps(rep))
    return str(d / "report.json")


def test_a_source_that_wins_every_case_rates_higher(tmp_path):
    good, bad = _report("good", 0.9), _report("bad", 0.2, seed=1)
    assert case_games(good, bad) == [1.0] * 12 and case_games(bad, good) == [0.0] * 12
    res = compare([_write(tmp_path, bad), _write(tmp_path, good)], n_boot=200)
    top, low = res["rating"]
    assert top["label"].endswith("good") and top["rating"] > low["rating"] + 100 and top["wins"] == 12
    assert top["ci"][0] > low["ci"][1]  # separated intervals
    assert abs(np.mean([r["rating"] for r in res["rating"]]) - 1000) < 1e-6
    row = next(r for r in res["metrics"] if r["metric"] == "velocity_error")
    assert row["values"][1]["diff"] < 0 and row["values"][1]["better"] is True and row["values"][1]["ci_overlap"] is False
    text = compare_table(res)
    assert "velocity_error" in text and "Bradley-Terry" in text and "better" in text


def test_three_sources_are_ranked_in_order_with_cis(tmp_path):
    paths = [_write(tmp_path, _report(n, q, seed=s)) for s, (n, q) in enumerate((("mid", 0.5), ("best", 0.9), ("worst", 0.1)))]
    res = compare(paths, n_boot=200)
    assert [r["label"].split(":")[1] for r in res["rating"]] == ["best", "mid", "worst"]
    for r in res["rating"]:
        assert r["ci"][0] <= r["rating"] <= r["ci"][1]


def test_bradley_terry_recovers_known_ratings():
    rng = np.random.default_rng(0)
    true = np.array([1200.0, 1000.0, 800.0])
    i, j = rng.integers(0, 3, 6000), rng.integers(0, 3, 6000)
    keep = i != j
    i, j = i[keep], j[keep]
    p = 1 / (1 + 10 ** ((true[j] - true[i]) / 400))
    y = (rng.random(len(i)) < p).astype(float)
    fit = bradley_terry(i, j, y, 3, ridge=1e-6)
    assert np.abs(fit - true).max() < 30
    assert bradley_terry(np.array([0]), np.array([1]), np.array([0.5]), 2) == pytest.approx([1000, 1000])


def test_cli_compare_prints_the_table(tmp_path, capsys):
    a, b = _write(tmp_path, _report("aa", 0.8)), _write(tmp_path, _report("bb", 0.3, seed=2))
    assert main(["eval", "compare", a, b, "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "prompt_adherence" in out and "Bradley-Terry" in out
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text())["rating"][0]["label"].endswith("aa")
    assert main(["eval", "compare", a]) == 2
    assert "at least two" in capsys.readouterr().err


def test_load_report_rejects_other_json(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match="not a kino eval report"):
        load_report(tmp_path / "x.json")


def test_html_reads_from_report_json_alone_and_with_pictures(tmp_path):
    rep = _report("m", 0.6)
    page = render_html(rep)
    assert "<table>" in page and "definition of velocity_error" in page and "<h2>Summary" in page
    assert 'title="definition of prompt_adherence"' in page and "standard-000" in page
    assert page.count("data:image/png;base64,") == 1  # the metric bars need nothing but the JSON
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (6, 64, 96, 3), dtype=np.uint8)
    traj = [{"id": 1, "color": [220, 40, 40], "kind": "ball", "gt": np.c_[np.linspace(10, 80, 20), np.full(20, 30), np.ones(20)],
             "gen": np.c_[np.linspace(12, 60, 20), np.full(20, 34), np.full(20, 30), np.ones(20)]}]
    visuals = {c["id"]: {"traj": traj, "background": frames[0], "gen_strip": frames, "gt_strip": frames[::-1]} for c in rep["cases"]}
    path = write_html(rep, tmp_path / "r" / "report.html", visuals)
    page = path.read_text()
    assert page.count("data:image/png;base64,") == 1 + 1 + 4  # bars, trajectories, four worst-case sheets
    assert "failed clauses" in page and "furthest from floor" in page


def test_summary_table_lists_every_metric():
    text = summary_table(_report("m", 0.6))
    for m in DEFS:
        assert m in text
    assert "first chunk 0.050 s" in text
