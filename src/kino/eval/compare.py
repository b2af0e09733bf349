"""`kino eval compare A/report.json B/report.json [C ...]`: metric differences and a Bradley–Terry rating.

Differences: per metric, each report's value and 95% CI beside the first report's (the baseline), the
difference, whether the two intervals overlap (no overlap: the difference is unlikely to be noise), and
which side is better.

Rating (as GenAI-Arena's `elo_analysis.py` and the public video arenas do): for every pair of reports and
every case both scored (same case id: same prompt and seed), the case's winner is the report better on more
of the metrics both have (a tie counts half to each). Bradley–Terry is the logistic regression
P(i beats j) = 1 / (1 + 10^((R_j - R_i) / 400)), fitted by Newton's method with a weak ridge (so a source that
wins every game still gets a finite rating); rating = 400 * coef + 1000, centred on 1000. A 100-point gap is
about a 64% win rate. 95% CIs come from a bootstrap over games (seeded).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

__all__ = ["load_report", "case_games", "bradley_terry", "bt_bootstrap", "compare", "compare_table"]

SCALE, BASE, INIT = 400.0, 10.0, 1000.0


def load_report(path: str | Path) -> dict:
    p = Path(path)
    if p.is_dir():
        p = p / "report.json"
    try:
        rep = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"report: cannot read {str(p)!r} ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(rep, dict) or not str(rep.get("schema", "")).startswith("kino-eval/"):
        raise ValueError(f"report: {str(p)!r} is not a kino eval report.json")
    rep["_path"] = str(p)
    return rep


def _label(rep: dict, i: int) -> str:
    src = rep.get("source", {})
    name = Path(src["path"]).stem if src.get("path") else src.get("kind", "?")
    return f"{chr(65 + i) if i < 26 else i}:{name}"


def case_games(a: dict, b: dict) -> list[float]:
    """Per shared case: 1 if report a wins (better on more shared metrics), 0 if b does, 0.5 for a tie."""
    hib = {n: m["higher_is_better"] for n, m in {**b["metrics"], **a["metrics"]}.items() if not m.get("set_level")}
    cb = {c["id"]: c for c in b["cases"]}
    out = []
    for ca in a["cases"]:
        cbb = cb.get(ca["id"])
        if cbb is None:
            continue
        wa = wb = 0
        for n, up in hib.items():
            x, y = ca["metrics"].get(n), cbb["metrics"].get(n)
            if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)) or abs(x - y) <= 1e-9 * max(1.0, abs(x), abs(y)):
                continue
            if (x > y) == up:
                wa += 1
            else:
                wb += 1
        out.append(1.0 if wa > wb else 0.0 if wb > wa else 0.5)
    return out


def _games(reports: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairwise games: index arrays i, j and outcomes y (1: i won)."""
    first, second, outcome = [], [], []
    for i in range(len(reports)):
        for j in range(i + 1, len(reports)):
            for y in case_games(reports[i], reports[j]):
                first.append(i)
                second.append(j)
                outcome.append(y)
    return np.asarray(first, int), np.asarray(second, int), np.asarray(outcome, float)


def bradley_terry(i: np.ndarray, j: np.ndarray, y: np.ndarray, n: int, ridge: float = 0.1, iters: int = 100) -> np.ndarray:
    """Ratings (n,) from games (i vs j, y = 1 when i won, 0.5 tie): logistic regression by Newton's method."""
    c = np.zeros(n)
    if not len(y):
        return np.full(n, INIT)
    ln = math.log(BASE)
    X = np.zeros((len(y), n))
    X[np.arange(len(y)), i] = ln
    X[np.arange(len(y)), j] = -ln
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(X @ c)))
        grad = X.T @ (p - y) + ridge * c
        H = (X * (p * (1 - p))[:, None]).T @ X + ridge * np.eye(n)
        step = np.linalg.solve(H, grad)
        c -= step
        if np.abs(step).max() < 1e-10:
            break
    c -= c.mean()
    return SCALE * c + INIT


def bt_bootstrap(i, j, y, n: int, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """(n, 2) percentile 95% intervals of the ratings, resampling games with replacement."""
    rng = np.random.default_rng(seed)
    if not len(y):
        return np.full((n, 2), INIT)
    boots = np.stack([bradley_terry(i[k], j[k], y[k], n) for k in (rng.integers(0, len(y), len(y)) for _ in range(n_boot))])
    return np.quantile(boots, [0.025, 0.975], axis=0).T


def _overlap(a, b) -> bool | None:
    if not a or not b:
        return None
    return a[0] <= b[1] and b[0] <= a[1]


def compare(paths: list[str | Path], n_boot: int = 1000, seed: int = 0) -> dict:
    """Load reports and compute the difference table and the Bradley–Terry ratings."""
    if len(paths) < 2:
        raise ValueError("compare: give at least two report.json files")
    reports = [load_report(p) for p in paths]
    labels = [_label(r, k) for k, r in enumerate(reports)]
    suites = {r["suite"]["name"] for r in reports}
    warnings = [] if len(suites) == 1 else [f"reports come from different suites: {sorted(suites)}"]
    base = reports[0]
    names = list(dict.fromkeys(n for r in reports for n in r["metrics"]))
    rows = []
    for n in names:
        ms = [r["metrics"].get(n) for r in reports]
        ref = ms[0]
        row = {"metric": n, "higher_is_better": next(m for m in ms if m)["higher_is_better"], "values": [], "floor": next((m.get("floor") for m in ms if m), None)}
        for m in ms:
            v = None if m is None else m.get("value")
            entry = {"value": v, "ci": None if m is None else m.get("ci")}
            if ref is not None and ref.get("value") is not None and v is not None and m is not ref:
                entry["diff"] = v - ref["value"]
                entry["ci_overlap"] = _overlap(ref.get("ci"), m.get("ci"))
                entry["better"] = None if abs(entry["diff"]) < 1e-12 else (entry["diff"] > 0) == row["higher_is_better"]
            row["values"].append(entry)
        rows.append(row)
    i, j, y = _games(reports)
    ratings = bradley_terry(i, j, y, len(reports))
    cis = bt_bootstrap(i, j, y, len(reports), n_boot, seed)
    wins = np.zeros(len(reports))
    games = np.zeros(len(reports))
    np.add.at(wins, i, y)
    np.add.at(wins, j, 1 - y)
    np.add.at(games, i, 1)
    np.add.at(games, j, 1)
    shared = len({c["id"] for c in base["cases"]}.intersection(*({c["id"] for c in r["cases"]} for r in reports[1:])))
    if not shared:
        warnings.append("the reports share no case ids: no games, no rating")
    return {
        "reports": [{"label": lab, "path": r["_path"], "suite": r["suite"]["name"], "source": r["source"]} for lab, r in zip(labels, reports, strict=True)],
        "metrics": rows,
        "rating": [{"label": labels[k], "rating": float(ratings[k]), "ci": [float(cis[k, 0]), float(cis[k, 1])],
                    "wins": float(wins[k]), "games": int(games[k])} for k in np.argsort(-ratings)],
        "games": int(len(y)),
        "shared_cases": shared,
        "warnings": warnings,
    }


def _f(v, d: int = 3) -> str:
    if v is None:
        return "-"
    a = abs(v)
    return f"{v:.{d}f}" if a == 0 or 1e-3 <= a < 1e4 else f"{v:.2e}"


def compare_table(result: dict) -> str:
    """The comparison as plain text: differences vs the first report, then the ratings."""
    labs = [r["label"] for r in result["reports"]]
    lines = [f"{lab} = {r['path']}" for lab, r in zip(labs, result["reports"], strict=True)]
    lines += [f"warning: {w}" for w in result["warnings"]]
    table = []
    for row in result["metrics"]:
        cells = []
        for k, e in enumerate(row["values"]):
            if k == 0 or "diff" not in e:
                cells.append(_f(e["value"]))
            else:
                mark = "=" if e["better"] is None else ("better" if e["better"] else "worse")
                sig = "" if e["ci_overlap"] is None else (" ~" if e["ci_overlap"] else " *")
                cells.append(f"{_f(e['value'])} ({e['diff']:+.3g} {mark}{sig})")
        table.append((row["metric"] + (" ↑" if row["higher_is_better"] else " ↓"), cells, _f(row["floor"])))
    widths = [max([len(lab)] + [len(t[1][k]) for t in table]) + 2 for k, lab in enumerate(labs)]
    head = f"{'metric':<28}" + "".join(f"{lab:>{w}}" for lab, w in zip(labs, widths, strict=True)) + f"{'floor':>10}"
    lines += ["", head, "-" * len(head)]
    for name, cells, floor in table:
        lines.append(f"{name:<28}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)) + f"{floor:>10}")
    lines.append("(diff vs the first report; * = 95% CIs do not overlap, ~ = they overlap)")
    lines += ["", f"Bradley-Terry rating over {result['games']} per-case games ({result['shared_cases']} shared cases):"]
    for r in result["rating"]:
        lines.append(f"  {r['label']:<24} {r['rating']:7.1f}  [{r['ci'][0]:.1f}, {r['ci'][1]:.1f}]  won {r['wins']:g} of {r['games']}")
    return "\n".join(lines)
