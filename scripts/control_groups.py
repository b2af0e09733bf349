"""Per-group control metrics of one or more `kino eval --suite controls` reports, side by side.

The controls suite mixes modes (camera keys, depth of field, rack focus, text-only brush, brush on a first frame,
references, ...), and a suite-wide mean hides which control moved. This prints, for each group of cases, the
mean of the metrics that group is about and how many cases it has, one column per report: e.g. the shipped
report, a new run and its ablation without controls.

    .venv/bin/python scripts/control_groups.py docs/reports/kino-tiny-controls.json runs/ctl/report.json runs/bare/report.json
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

# (group, which cases, metrics to show); a case is in a group when the predicate holds for its id and controls
GROUPS = (
    ("camera keys", lambda c: c["controls"].get("mode") == "camera", ("camera_class_accuracy", "camera_motion_error")),
    ("depth of field", lambda c: c["controls"].get("mode") == "dof" and not c["controls"].get("rack"), ("camera_class_accuracy", "camera_motion_error", "focus_blur_correlation")),
    ("rack focus", lambda c: bool(c["controls"].get("rack")), ("focus_blur_correlation", "camera_class_accuracy", "flicker")),
    ("brush, text only", lambda c: c["controls"].get("mode") == "brush" and not c["controls"].get("keyframes"), ("brush_adherence", "brush_endpoint_error", "brush_static_drift")),
    ("brush on a first frame", lambda c: c["controls"].get("mode") == "brush" and bool(c["controls"].get("keyframes")), ("brush_adherence", "brush_endpoint_error", "brush_static_drift", "flicker")),
    ("references", lambda c: c["controls"].get("mode") == "references", ("reference_identity", "reference_swaps")),
    ("image to video", lambda c: c["controls"].get("mode") == "i2v", ("object_permanence", "flicker", "camera_motion_error")),
    ("first + last keyframes", lambda c: c["controls"].get("mode") == "keyframes", ("object_permanence", "flicker", "trajectory_final")),
    ("extend", lambda c: c["controls"].get("mode") == "extend", ("object_permanence", "flicker", "velocity_error")),
)


def group_means(report: dict) -> dict[tuple[str, str], tuple[float | None, int]]:
    """(group, metric) -> (mean over the group's cases where the metric applies, how many cases)."""
    out = {}
    for name, member, metrics in GROUPS:
        cases = [c for c in report["cases"] if member(c)]
        for m in metrics:
            vals = [c["metrics"].get(m) for c in cases]
            vals = [v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
            out[name, m] = (sum(vals) / len(vals) if vals else None, len(vals))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reports", nargs="+", type=Path, help="report.json files of the controls suite")
    args = ap.parse_args(argv)
    tables = [group_means(json.loads(p.read_text())) for p in args.reports]
    names = [p.parent.name if p.name == "report.json" else p.stem for p in args.reports]
    print(f"{'group':26s} {'metric':24s} " + " ".join(f"{n[:18]:>18s}" for n in names))
    for name, _, metrics in GROUPS:
        for m in metrics:
            cells = []
            for t in tables:
                v, n = t[name, m]
                cells.append(f"{'-' if v is None else f'{v:.3f}':>12s} (n={n:<2d})")
            print(f"{name:26s} {m:24s} " + " ".join(cells))


if __name__ == "__main__":
    main()
