"""`kino eval`: score a video source on a suite against exact ground truth, write report.json and report.html.

`evaluate(suite, source, out_dir, limit)` runs every case of the suite:

1. render the case's ground truth (`Case.render`: frames + truth JSON);
2. get the source's video for it — a checkpoint generates it with `kino.generate` at the case's prompt,
   seed, length, ratio and controls (timed: time to first chunk, frames per second, peak RSS) and writes it
   to OUT/videos/<case_id>.mp4; a directory supplies DIR/<case_id>.mp4 (a foreign model's output; every
   missing file is named up front); "truth" uses the ground-truth render itself (the floor);
3. parse the video and the ground-truth render with the same parser (`parse_video`) and score every metric
   (`score_clip`) on both: the render's scores are each metric's *floor*. Extend cases are scored over the
   continuation only (the source frames were given); suites with windows (`long`) are also scored per window;
4. aggregate per metric: mean over cases with a bootstrap 95% CI (1000 resamples, seeded), the floor's mean
   and CI, pass/fail by the metric's documented bound (`metrics.passes`); the distribution distance
   (`state_frechet`) is computed once per suite against a disjoint reference set of ground-truth clips.

A generated video whose size differs from the ground truth is resized to it (area interpolation); a foreign
video longer than the case is cut, a shorter one is scored over the frames it has (and says so).

report.json (schema "kino-eval/1"):

    {"schema": "kino-eval/1", "created": ISO time, "wall_s": seconds,
     "suite": {"name", "description", "seed", "cases": N, "window_s": float|null},
     "source": {"kind": "checkpoint"|"videos"|"truth", "path": str|null, "meta": {...}},
     "machine": {"host", "platform", "python", "cpus", "torch", "threads", "device"},
     "generation": {"load_s", "time_to_first_chunk_s", "frames_per_s", "peak_rss_mb"} | null,
     "metrics": {NAME: {"definition", "higher_is_better", "threshold", "relative_to_floor", "set_level",
                        "value", "ci": [lo, hi], "n", "floor", "floor_ci": [lo, hi], "floor_n", "pass"}},
     "cases": [{"id", "prompt", "seed", "split", "seconds", "fps", "width", "height", "controls",
                "references": [{"tag", "object", "frame", "box"}]|null, "scored_frames": [first, end], "note": str|null, "time_s", "generation": {...}|null,
                "metrics": {NAME: value|null}, "floor": {NAME: value|null},
                "clauses": [{"kind", "objects", "value", "ok", "ok_floor"}], "brush": [...]|null,
                "badness": float, "windows": [{"start_s", "metrics", "floor"}]|null}],
     "windows": {"seconds", "start_s": [...], "metrics": {NAME: {"value": [...], "floor": [...]}}} | null}

`value`/`floor` are null where a metric applies to no case; `pass` is null when it cannot be decided.
`badness` ranks cases for the report's contact sheets: the mean over metrics of how far the case is on the
wrong side of its own floor, in units of that metric's spread in the run.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from kino.eval.metrics import METRICS, passes, score_clip
from kino.eval.metrics import brush as _brush  # noqa: F401  (registers brush_adherence, brush_endpoint_error)
from kino.eval.metrics import prompt as _prompt  # noqa: F401  (registers prompt_*)
from kino.eval.metrics.brush import brush_report
from kino.eval.metrics.distribution import FRECHET, frechet_ci, frechet_state, state_features
from kino.eval.metrics.prompt import clause_report
from kino.eval.parse import parse_video
from kino.eval.sources import Source, resolve_source
from kino.eval.suites import GroundTruth, Suite, build_suite, reference_cases

__all__ = ["SCHEMA", "evaluate", "bootstrap_ci", "slice_truth", "slice_parsed", "resolve_source", "summary_table"]

SCHEMA = "kino-eval/1"
N_BOOT = 1000


# ------------------------------------------------------------------------------------------- statistics
def bootstrap_ci(values, n_boot: int = N_BOOT, seed: int = 0, level: float = 0.95) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean (None for no values; a point for one)."""
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    if not len(v):
        return None
    if len(v) == 1:
        return float(v[0]), float(v[0])
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (n_boot, len(v)))].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


# ------------------------------------------------------------------------------------------- slicing
def slice_truth(truth: dict, a: int, b: int) -> dict:
    """The truth JSON of frames [a, b) as a clip of its own (tracks, cameras, events and effects shifted)."""
    n = int(truth["num_frames"])
    a, b = max(0, a), min(n, b)
    if (a, b) == (0, n):
        return truth
    fps = float(truth["fps"])
    out = dict(truth)
    out["num_frames"], out["seconds"] = b - a, (b - a) / fps
    objs = []
    for o in truth["objects"]:
        o = dict(o)
        for k in ("track", "in_frame", "position", "velocity", "angle"):
            if k in o and isinstance(o[k], list) and len(o[k]) == n:
                o[k] = o[k][a:b]
        objs.append(o)
    out["objects"] = objs
    out["camera"] = truth["camera"][a:b]
    keep = [i for i, e in enumerate(truth.get("events", [])) if a <= e["frame"] < b]
    remap = {old: new for new, old in enumerate(keep)}
    out["events"] = [{**truth["events"][i], "frame": truth["events"][i]["frame"] - a, "time": truth["events"][i]["time"] - a / fps} for i in keep]
    out["effects"] = [{**e, "cause": remap[e["cause"]], "frame_born": e["frame_born"] - a}
                      for e in truth.get("effects", []) if e.get("cause") in remap and a <= e["frame_born"] < b]
    if a > 0:
        out.pop("brush", None)  # a brush paints frame 0
    out["window"] = [a, b]
    return out


def slice_parsed(parsed, a: int, b: int):
    """A Parsed of frames [a, b): per-frame arrays cut to [a, b), frame-pair arrays (camera, flow) to [a, b-1)."""
    T = len(parsed.frames)
    if (a, b) == (0, T):
        return parsed

    def cut(x):
        if isinstance(x, np.ndarray) and x.ndim >= 1:
            if len(x) == T:
                return x[a:b]
            if len(x) == T - 1:
                return x[a:max(a, b - 1)]
        if isinstance(x, dict):
            return {k: cut(v) for k, v in x.items()}
        return x

    return dataclasses.replace(parsed, **{f.name: cut(getattr(parsed, f.name)) for f in dataclasses.fields(parsed)})


# ------------------------------------------------------------------------------------------- sources
# ------------------------------------------------------------------------------------------- per case
def _track_summary(truth: dict, parsed, every: int) -> list[dict]:
    """Trajectories of the objects that move, for the report's overlays (not written to report.json)."""
    out = []
    T = len(parsed.frames)
    for o in truth["objects"]:
        if o.get("static"):
            continue
        gt = np.asarray(o["track"], dtype=np.float64)[:T]
        if (gt[:, 2] >= 0.3).sum() < 2 or np.ptp(gt[gt[:, 2] >= 0.3, :2], axis=0).max() < 3:
            continue
        gen = np.asarray(parsed.tracks.get(o["id"], np.zeros((T, 4))), dtype=np.float64)
        out.append({"id": o["id"], "color": o["color_rgb"], "kind": o["kind"], "gt": gt[::every], "gen": gen[::every]})
    return out


def _strip(frames: np.ndarray, n: int = 6) -> np.ndarray:
    idx = np.linspace(0, len(frames) - 1, min(n, len(frames))).round().astype(int)
    return frames[idx]


def _score_case(gt: GroundTruth, frames: np.ndarray, same: bool, flow: bool, window_s: float | None):
    """Parse and score one case; returns (record fields, features gen, features gt, visuals)."""
    truth = gt.truth
    n = min(len(frames), len(gt.frames))
    pt_full = parse_video(gt.frames[:n], truth, flow=flow)
    pg_full = pt_full if same else parse_video(np.ascontiguousarray(frames[:n]), truth, flow=flow)
    a = min(gt.score_from, n - 2) if n > 2 else 0
    tr = slice_truth(truth, a, n)
    pg, pt = slice_parsed(pg_full, a, n), slice_parsed(pt_full, a, n)
    metrics = score_clip(pg, tr)
    floor = metrics if same else score_clip(pt, tr)
    clauses_g = clause_report(pg, tr)
    clauses_t = clauses_g if same else clause_report(pt, tr)
    clauses = [{k: c[k] for k in ("kind", "objects", "value")} | {"ok": c["ok"], "ok_floor": f["ok"]} for c, f in zip(clauses_g, clauses_t, strict=True)]
    br = brush_report(pg, tr)
    windows = None
    if window_s:
        step = max(2, int(round(window_s * float(truth["fps"]))))
        windows = []
        for s in range(0, n - 1, step):
            e = min(n, s + step)
            if e - s < 4:
                break
            tw = slice_truth(truth, s, e)
            mg = score_clip(slice_parsed(pg_full, s, e), tw)
            mt = mg if same else score_clip(slice_parsed(pt_full, s, e), tw)
            windows.append({"start_s": s / float(truth["fps"]), "metrics": mg, "floor": mt})
    every = max(1, (n - a) // 120)
    visuals = {"traj": _track_summary(tr, pg, every), "background": gt.frames[a], "gen_strip": _strip(frames[a:n]), "gt_strip": _strip(gt.frames[a:n])}
    rec = {"scored_frames": [a, n], "metrics": metrics, "floor": floor, "clauses": clauses, "brush": br, "windows": windows}
    return rec, state_features(pg), state_features(pt), visuals


def _references(truth: dict) -> list[dict] | None:
    """A reference case's tagged subjects for report.json (the images are the case's to re-render, not stored)."""
    refs = truth.get("references")
    return None if refs is None else [{"tag": t, "object": r["object"], "frame": r["frame"], "box": r["box"]} for t, r in refs.items()]


# ------------------------------------------------------------------------------------------- aggregate
def _badness(cases: list[dict], names: list[str]) -> None:
    """Per case: mean over metrics of (wrong-side distance to its own floor) / (the metric's spread)."""
    for c in cases:
        c["badness"] = 0.0
    for m in names:
        hib = METRICS[m].higher_is_better
        pairs = [(c, c["metrics"].get(m), c["floor"].get(m)) for c in cases]
        allv = [v for _, g, f in pairs for v in (g, f) if v is not None and math.isfinite(v)]
        if len(allv) < 2:
            continue
        scale = float(np.std(allv)) + 1e-9
        for c, g, f in pairs:
            if g is not None and f is not None and math.isfinite(g) and math.isfinite(f):
                c.setdefault("_bad", []).append(((f - g) if hib else (g - f)) / scale)
    for c in cases:
        c["badness"] = float(np.mean(c.pop("_bad"))) if c.get("_bad") else 0.0


def _aggregate(cases: list[dict], n_boot: int, seed: int) -> dict:
    out = {}
    for name, m in METRICS.items():
        vals = [c["metrics"].get(name) for c in cases]
        flo = [c["floor"].get(name) for c in cases]
        vals = [v for v in vals if v is not None and math.isfinite(v)]
        flo = [v for v in flo if v is not None and math.isfinite(v)]
        if not vals and not flo:
            continue  # not applicable to any case of this suite
        value = float(np.mean(vals)) if vals else None
        floor = float(np.mean(flo)) if flo else None
        out[name] = {"definition": m.definition, "higher_is_better": m.higher_is_better, "threshold": m.threshold,
                     "relative_to_floor": m.relative_to_floor, "set_level": False,
                     "value": value, "ci": bootstrap_ci(vals, n_boot, seed), "n": len(vals),
                     "floor": floor, "floor_ci": bootstrap_ci(flo, n_boot, seed), "floor_n": len(flo),
                     "pass": passes(m, value, floor)}
    return out


def _aggregate_windows(cases: list[dict], window_s: float) -> dict | None:
    rows = [c["windows"] for c in cases if c.get("windows")]
    if not rows:
        return None
    k = max(len(r) for r in rows)
    out = {"seconds": window_s, "start_s": [], "metrics": {}}
    for i in range(k):
        out["start_s"].append(next(r[i]["start_s"] for r in rows if len(r) > i))
    for name in METRICS:
        val, flo = [], []
        for i in range(k):
            g = [r[i]["metrics"].get(name) for r in rows if len(r) > i]
            f = [r[i]["floor"].get(name) for r in rows if len(r) > i]
            g = [v for v in g if v is not None and math.isfinite(v)]
            f = [v for v in f if v is not None and math.isfinite(v)]
            val.append(float(np.mean(g)) if g else None)
            flo.append(float(np.mean(f)) if f else None)
        if any(v is not None for v in val + flo):
            out["metrics"][name] = {"value": val, "floor": flo}
    return out


def _machine(device: str | None) -> dict:
    import torch

    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count()
    info = {"host": platform.node(), "platform": platform.platform(), "python": platform.python_version(), "cpus": cpus,
            "torch": torch.__version__, "threads": torch.get_num_threads(), "device": device or "cpu"}
    if device == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    return x


# ------------------------------------------------------------------------------------------- entry point
def evaluate(suite: Suite | str, source, out_dir: str | os.PathLike, limit: int | None = None, *, steps: int = 4,
             device: str | None = None, flow: bool = True, n_boot: int = N_BOOT, seed: int = 0, quiet: bool = False,
             html: bool = True, summary: bool = True, without_controls: bool = False, warp_guide: float | None = None,
             cases: str | None = None, guidance: dict | None = None) -> dict:
    """Score `source` ("truth", a checkpoint path, a directory of <case_id>.mp4, or a resolved source) on
    `suite` (a Suite or a suite name; `cases`: only the ids matching these comma-separated patterns, then
    `limit`); write OUT/report.json and OUT/report.html; print the summary table
    (unless summary=False; quiet only hides the progress bar); return the report dict."""
    t_start = time.perf_counter()
    suite = build_suite(suite) if isinstance(suite, str) else suite
    suite = suite.only(cases).limited(limit)
    cases = list(suite.cases)
    if not cases:
        raise ValueError(f"suite: {suite.name!r} has no cases")
    src = source if isinstance(source, Source) else resolve_source(source, steps, device, without_controls, warp_guide, guidance)
    src.prepare(cases)  # fail before any work: e.g. missing videos
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    same = src.kind == "truth"
    records, f_gen, f_gt, visuals = [], [], [], {}
    bar = _progress(len(cases), "evaluating", quiet)
    for case in cases:
        t0 = time.perf_counter()
        gt = case.render()
        frames, timing, note = src.video(gt, out)
        rec, fg, ft, vis = _score_case(gt, frames, same, flow, suite.window_s)
        records.append({"id": case.id, "prompt": gt.prompt, "seed": case.seed, "split": case.split, "seconds": case.seconds,
                        "fps": case.fps, "width": case.width, "height": case.height, "controls": case.controls,
                        "references": _references(gt.truth),
                        "note": note, "time_s": time.perf_counter() - t0, "generation": timing, **rec})
        f_gen.append(fg)
        f_gt.append(ft)
        visuals[case.id] = vis
        bar(case.id)
    # distribution distance: generated vs a disjoint set of ground-truth clips; floor: ground truth vs the same
    f_ref = []
    for ref in reference_cases(suite):
        g = ref.render()
        p = parse_video(g.frames, g.truth, flow=False)
        f_ref.append(state_features(slice_parsed(p, g.score_from, len(g.frames))))
        bar(None)
    metrics = _aggregate(records, n_boot, seed)
    G, R, F = np.stack(f_gen), np.stack(f_ref), np.stack(f_gt)
    fd, fd_floor = frechet_state(G, R), frechet_state(F, R)
    metrics[FRECHET.name] = {"definition": FRECHET.definition, "higher_is_better": False, "threshold": FRECHET.threshold,
                             "relative_to_floor": True, "set_level": True, "value": fd, "ci": frechet_ci(G, R, n_boot, seed),
                             "n": len(G), "floor": fd_floor, "floor_ci": frechet_ci(F, R, n_boot, seed), "floor_n": len(F),
                             "pass": passes(FRECHET, fd, fd_floor)}
    _badness(records, [m for m in metrics if m in METRICS])
    report = {
        "schema": SCHEMA,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "wall_s": time.perf_counter() - t_start,
        "suite": {"name": suite.name, "description": suite.description, "seed": suite.seed, "cases": len(cases), "window_s": suite.window_s},
        "source": {"kind": src.kind, "path": None if src.path is None else str(src.path), "meta": src.meta},
        "machine": _machine(getattr(src, "device", None)),
        "generation": src.stats(),
        "metrics": metrics,
        "cases": records,
        "windows": _aggregate_windows(records, suite.window_s) if suite.window_s else None,
    }
    report = _jsonable(report)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    if html:
        from kino.eval.report import write_html

        write_html(report, out / "report.html", visuals)
    if summary:
        print(summary_table(report))
        print(f"report: {out / 'report.json'}" + (f"\n        {out / 'report.html'}" if html else ""))
    return report


def _progress(total: int, desc: str, quiet: bool):
    from tqdm import tqdm

    bar = tqdm(total=total * 2, desc=desc, unit="clip", disable=quiet, file=sys.stderr)

    def step(label):
        bar.update(1)
        if label:
            bar.set_postfix_str(label)
        if bar.n >= bar.total:
            bar.close()
    return step


def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "pass" if v else "FAIL"
    a = abs(v)
    return f"{v:.{digits}f}" if a == 0 or 1e-3 <= a < 1e4 else f"{v:.2e}"


def summary_table(report: dict) -> str:
    """Plain-text table: metric, value [95% CI], floor, bound, pass."""
    s = report["suite"]
    src = report["source"]
    lines = [f"kino eval: suite {s['name']} ({s['cases']} cases), source {src['kind']}" + (f" {src['path']}" if src["path"] else "")]
    head = f"{'metric':<26} {'value':>10} {'95% CI':>21} {'floor':>10} {'bound':>12} {'':>5}"
    lines += [head, "-" * len(head)]
    for name, m in report["metrics"].items():
        ci = f"[{_fmt(m['ci'][0])}, {_fmt(m['ci'][1])}]" if m["ci"] else "-"
        if m["threshold"] is None:
            bound = "-"
        else:
            op = ">=" if m["higher_is_better"] else "<="
            bound = f"{op}{_fmt(m['threshold'], 2)}" + ("xfl" if m["relative_to_floor"] else "")
        lines.append(f"{name:<26} {_fmt(m['value']):>10} {ci:>21} {_fmt(m['floor']):>10} {bound:>12} {_fmt(m['pass']) if m['pass'] is not None else '-':>5}")
    g = report.get("generation")
    if g:
        lines.append(f"generation: first chunk {g['time_to_first_chunk_s']:.3f} s, {g['frames_per_s']:.1f} frames/s, peak RSS {g['peak_rss_mb']:.0f} MB, load {g['load_s']:.1f} s")
    lines.append(f"wall time: {report['wall_s']:.1f} s")
    return "\n".join(lines)
