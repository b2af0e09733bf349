"""Why a standard eval's colour clauses fail: for each one that fails, the share of the frames the truth shows the
object in where a blob of its colour is found at all, and the median found/expected area there. A clause fails as
"absent" (found in under half of those frames) or "area off" (found, but outside 1/4..4x the projected area).

    .venv/bin/python scripts/colour_clauses.py runs/eval-prev1 [runs/eval-other ...]   # dirs of `kino eval --suite standard --out`

Re-renders the suite's ground truth (~1 min on 2 cores) and re-parses each case video.
"""

import json
import sys
from pathlib import Path

import numpy as np

from kino.eval.metrics.prompt import SEEN_VISIBLE, _expected_area, _track
from kino.eval.parse import parse_video
from kino.eval.suites import build_suite
from kino.io.video import read_mp4

suite = build_suite("standard")
gts = {c.id: c.render() for c in suite.cases}
for d in sys.argv[1:]:
    rows = []
    for c in json.load(open(Path(d) / "report.json"))["cases"]:
        gt = gts[c["id"]]
        frames, _ = read_mp4(Path(d) / "videos" / f"{c['id']}.mp4")
        truth = gt.truth
        p = parse_video(frames[: len(gt.frames)], truth)
        objs = {o["id"]: o for o in truth["objects"]}
        T = len(p.frames)
        for cl in c["clauses"]:
            if cl["kind"] != "color":
                continue
            (i,) = cl["objects"]
            gtv = _track(objs[i])[:T, 2]
            want = np.flatnonzero(gtv >= 0.5)
            want = want if len(want) else np.flatnonzero(gtv >= SEEN_VISIBLE)
            tr = np.asarray(p.tracks.get(i, np.zeros((T, 4))))
            exp = _expected_area(objs[i], truth, T)
            pres = tr[want, 3] > 0.5
            ratio = tr[want, 2][pres] / np.maximum(exp[want][pres], 1e-9)
            rows.append((cl["ok"], objs[i]["kind"], cl["value"], pres.mean() if len(want) else 0, np.median(ratio) if len(ratio) else np.nan, np.median(exp[want]) if len(want) else 0))
    ok = [r for r in rows if r[0]]
    bad = [r for r in rows if not r[0]]
    absent = [r for r in bad if r[3] < 0.5]
    print(d, f"clauses {len(rows)} ok {len(ok)}; failed {len(bad)}: absent (<half frames) {len(absent)}, present but area off {len(bad)-len(absent)}")
    for r in bad:
        print("   ", r[1], r[2], f"present {r[3]:.2f} area ratio {r[4]:.2f} expected px {r[5]:.0f}")
