"""A self-contained report.html for one `kino eval` run: inline CSS, plots embedded as base64 PNG (matplotlib Agg).

Sections: header (suite, source, date, machine, timing), the summary table (value ± 95% CI beside the floor,
the bound and pass/fail; each metric's definition on hover and in an expandable row), metric-vs-floor bars,
drift by window (suites with windows), trajectory overlays (generated vs ground-truth centroid paths), contact
sheets of the worst cases (generated strip over ground truth, with their failed caption clauses) and the
per-case table. `write_html(report, path, visuals)` needs only report.json's dict; `visuals` (per case id:
trajectories, a background frame and frame strips, kept in memory by the runner) adds the pictures.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path

import numpy as np

__all__ = ["write_html", "render_html", "figure_png"]

GEN, FLOOR, PASS, FAIL, MUTED = "#3566c8", "#9aa3ad", "#1d8a4a", "#c0392b", "#6b7280"

CSS = """
body{font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f2933;
 margin:0;background:#f5f6f8}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:24px;margin:0 0 4px} h2{font-size:18px;margin:34px 0 10px;border-bottom:1px solid #dde1e6;padding-bottom:4px}
.sub{color:#52606d;margin:0 0 14px} .card{background:#fff;border:1px solid #e1e5ea;border-radius:8px;padding:14px 18px;
 margin:10px 0} .meta{display:grid;grid-template-columns:repeat(auto-fit,minmax(210px,1fr));gap:6px 22px;font-size:13px}
.meta b{display:block;color:#6b7280;font-weight:600;font-size:11px;text-transform:uppercase;letter-spacing:.04em}
table{border-collapse:collapse;width:100%;font-size:13px;background:#fff}
th,td{padding:6px 9px;border-bottom:1px solid #edf0f3;text-align:right;white-space:nowrap}
th{background:#f0f2f5;font-weight:600;color:#3e4c59;position:sticky;top:0}
td:first-child,th:first-child{text-align:left} td.l,th.l{text-align:left;white-space:normal}
tr.metric td:first-child{font-weight:600;cursor:help} tr.def td{color:#52606d;text-align:left;white-space:normal;
 background:#fafbfc;font-size:12px}
.badge{display:inline-block;min-width:38px;text-align:center;border-radius:10px;padding:1px 8px;font-size:12px;font-weight:600;color:#fff}
.pass{background:#1d8a4a}.fail{background:#c0392b}.na{background:#9aa3ad}
.ci{color:#6b7280;font-size:12px} .floor{color:#52606d}
details summary{cursor:pointer;color:#3566c8;margin:4px 0} img{max-width:100%;height:auto;display:block;margin:6px auto}
.scroll{overflow-x:auto;max-height:560px;overflow-y:auto;border:1px solid #e1e5ea;border-radius:6px}
.case{margin:14px 0 22px} .case h3{font-size:14px;margin:0 0 2px} .case p{margin:2px 0;font-size:12.5px;color:#52606d}
.bad{color:#c0392b} .good{color:#1d8a4a} code{background:#eef1f4;padding:0 4px;border-radius:3px}
.legend{font-size:12px;color:#52606d}
"""


# ------------------------------------------------------------------------------------------- helpers
def figure_png(fig) -> str:
    """A matplotlib figure as a data: URI (PNG), closing the figure."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "axes.titlesize": 9})
    return plt


def _f(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    a = abs(v)
    return f"{v:.{digits}f}" if a == 0 or 1e-3 <= a < 1e4 else f"{v:.2e}"


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _bound(m: dict) -> str:
    if m.get("threshold") is None:
        return "–"
    op = "≥" if m["higher_is_better"] else "≤"
    return f"{op} {_f(m['threshold'], 2)}" + (" × floor" if m["relative_to_floor"] else "")


def _badge(p) -> str:
    return '<span class="badge na">n/a</span>' if p is None else f'<span class="badge {"pass" if p else "fail"}">{"pass" if p else "fail"}</span>'


# ------------------------------------------------------------------------------------------- figures
def _bars(metrics: dict) -> str | None:
    """One small panel per metric: generated vs floor with 95% CIs, the pass bound as a dashed line."""
    names = [n for n, m in metrics.items() if m.get("value") is not None or m.get("floor") is not None]
    if not names:
        return None
    plt = _plt()
    cols = 5
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.25 * cols, 1.9 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names, strict=False):
        m = metrics[name]
        vals = [m.get("value"), m.get("floor")]
        cis = [m.get("ci"), m.get("floor_ci")]
        color = GEN if m.get("pass") is None else (PASS if m["pass"] else FAIL)
        for i, (v, ci, c) in enumerate(zip(vals, cis, (color, FLOOR), strict=True)):
            if v is None:
                continue
            err = None
            if ci:
                err = [[max(v - ci[0], 0)], [max(ci[1] - v, 0)]]
            ax.bar(i, v, color=c, width=0.62, yerr=err, capsize=3, error_kw={"elinewidth": 0.8, "ecolor": "#333"})
            ax.text(i + 0.33, v, _f(v, 2), ha="left", va="center", fontsize=7.5, color="#333")
        thr = m.get("threshold")
        if thr is not None:
            line = thr * m["floor"] if m.get("relative_to_floor") and m.get("floor") is not None else (None if m.get("relative_to_floor") else thr)
            if line is not None:
                ax.axhline(line, ls="--", lw=0.9, color="#555")
        ax.set_xticks([0, 1], ["gen", "floor"])
        ax.set_xlim(-0.5, 1.95)
        ax.set_title(name + (" ↑" if m["higher_is_better"] else " ↓"), fontsize=8.5)
        ax.tick_params(labelsize=7.5)
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.margins(y=0.18)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    return figure_png(fig)


def _windows(win: dict) -> str | None:
    """Per-window means over time for the metrics with values (drift under Extend)."""
    ms = [(n, d) for n, d in win.get("metrics", {}).items() if any(v is not None for v in d["value"])]
    if not ms:
        return None
    plt = _plt()
    cols = 4
    rows = -(-len(ms) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.8 * cols, 1.9 * rows), squeeze=False)
    t = np.asarray(win["start_s"], dtype=float)
    for ax, (name, d) in zip(axes.ravel(), ms, strict=False):
        for key, c, lab in (("floor", FLOOR, "floor"), ("value", GEN, "generated")):
            y = np.array([np.nan if v is None else v for v in d[key]], dtype=float)
            ax.plot(t[: len(y)], y, "-o", ms=2.5, lw=1.2, color=c, label=lab)
        ax.set_title(name, fontsize=8.5)
        ax.tick_params(labelsize=7.5)
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.set_xlabel("window start (s)", fontsize=7.5)
    axes.ravel()[0].legend(fontsize=7, frameon=False)
    for ax in axes.ravel()[len(ms):]:
        ax.axis("off")
    fig.tight_layout()
    return figure_png(fig)


def _trajectories(cases: list[dict], visuals: dict) -> str | None:
    """Ground-truth (solid) and generated (dashed) centroid paths over the first scored frame."""
    picks = [c for c in cases if visuals.get(c["id"], {}).get("traj")][:4]
    if not picks:
        return None
    plt = _plt()
    import matplotlib.patheffects as pe

    fig, axes = plt.subplots(1, len(picks), figsize=(3.3 * len(picks), 2.6), squeeze=False)
    for ax, c in zip(axes.ravel(), picks, strict=True):
        v = visuals[c["id"]]
        bg = np.asarray(v["background"])
        ax.imshow((bg * 0.55 + 255 * 0.45).astype(np.uint8))
        for t in v["traj"]:
            col = np.asarray(t["color"], dtype=float) / 255
            gt, gen = np.asarray(t["gt"]), np.asarray(t["gen"])
            seen = gt[:, 2] >= 0.3
            ax.plot(np.where(seen, gt[:, 0], np.nan), np.where(seen, gt[:, 1], np.nan), "-", color=col, lw=2.2)
            ax.plot(*gt[np.argmax(seen), :2], "o", color=col, ms=5, mec="k", mew=0.6)
            here = gen[:, 3] > 0.5
            if here.any():
                ax.plot(np.where(here, gen[:, 0], np.nan), np.where(here, gen[:, 1], np.nan), "--", color=col, lw=1.5,
                        path_effects=[pe.Stroke(linewidth=3.2, foreground="white"), pe.Normal()])
                ax.plot(*gen[np.argmax(here), :2], "s", color=col, ms=4.5, mec="k", mew=0.6)
        ax.set_xlim(0, bg.shape[1])
        ax.set_ylim(bg.shape[0], 0)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(c["id"], fontsize=8.5)
    fig.tight_layout()
    return figure_png(fig)


def _sheet(case: dict, vis: dict) -> str:
    """Generated frames (top row) over ground truth (bottom row)."""
    plt = _plt()
    gen, gt = np.asarray(vis["gen_strip"]), np.asarray(vis["gt_strip"])
    n = max(len(gen), len(gt))
    h, w = gt.shape[1:3]
    ch = 1.3  # inches per row
    cw = ch * w / h
    if n * cw > 11.5:
        ch, cw = ch * 11.5 / (n * cw), 11.5 / n
    fig, axes = plt.subplots(2, n, figsize=(n * cw, 2 * ch + 0.35), squeeze=False)
    a, b = case.get("scored_frames", [0, 0])
    times = np.linspace(a, max(a, b - 1), n) / float(case["fps"])
    for row, (strip, lab) in enumerate(((gen, "generated"), (gt, "ground truth"))):
        for i in range(n):
            ax = axes[row, i]
            if i < len(strip):
                ax.imshow(strip[i])
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(lab, fontsize=8)
            if row == 0:
                ax.set_title(f"{times[i]:.1f} s", fontsize=7.5)
    fig.subplots_adjust(wspace=0.03, hspace=0.05)
    return figure_png(fig)


# ------------------------------------------------------------------------------------------- html
def _summary(metrics: dict) -> str:
    rows = []
    for name, m in metrics.items():
        ci = f'<span class="ci">[{_f(m["ci"][0])}, {_f(m["ci"][1])}]</span>' if m.get("ci") else ""
        fci = f'<span class="ci">[{_f(m["floor_ci"][0])}, {_f(m["floor_ci"][1])}]</span>' if m.get("floor_ci") else ""
        arrow = "↑" if m["higher_is_better"] else "↓"
        scope = " (set)" if m.get("set_level") else ""
        rows.append(
            f'<tr class="metric" title="{_e(m["definition"])}"><td>{_e(name)} <span class="ci">{arrow}{scope}</span></td>'
            f'<td><b>{_f(m.get("value"))}</b> {ci}</td><td class="floor">{_f(m.get("floor"))} {fci}</td>'
            f'<td>{_e(_bound(m))}</td><td>{m.get("n", 0)}</td><td>{_badge(m.get("pass"))}</td></tr>'
            f'<tr class="def"><td colspan="6"><details><summary>definition</summary>{_e(m["definition"])}</details></td></tr>')
    return ('<table><thead><tr><th>metric</th><th>value [95% CI]</th><th>floor (ground truth) [95% CI]</th>'
            '<th>bound</th><th>cases</th><th>result</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")


def _case_table(cases: list[dict], names: list[str]) -> str:
    head = "".join(f"<th>{_e(n)}</th>" for n in names)
    body = []
    for c in sorted(cases, key=lambda c: -c.get("badness", 0)):
        cells = []
        for n in names:
            g, f = c["metrics"].get(n), c["floor"].get(n)
            cells.append(f'<td title="floor {_f(f)}">{_f(g)}</td>')
        prompt = c["prompt"] if len(c["prompt"]) <= 90 else c["prompt"][:88] + "…"
        body.append(f'<tr><td>{_e(c["id"])}</td><td class="l" title="{_e(c["prompt"])}">{_e(prompt)}</td>'
                    f'<td>{_f(c.get("badness"), 2)}</td>{"".join(cells)}</tr>')
    return (f'<div class="scroll"><table><thead><tr><th>case</th><th class="l">prompt</th><th>badness</th>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _worst_section(report: dict, visuals: dict, k: int = 4) -> str:
    cases = sorted(report["cases"], key=lambda c: -c.get("badness", 0))
    metrics = report["metrics"]
    out = []
    for c in cases[:k]:
        vis = visuals.get(c["id"])
        gaps = []
        for n, g in c["metrics"].items():
            f = c["floor"].get(n)
            if g is None or f is None or n not in metrics:
                continue
            worse = (f - g) if metrics[n]["higher_is_better"] else (g - f)
            if worse > 1e-9:
                gaps.append((worse / (abs(f) + abs(g) + 1e-9), n, g, f))
        gaps.sort(reverse=True)
        worst = ", ".join(f"{n} {_f(g, 2)} (floor {_f(f, 2)})" for _, n, g, f in gaps[:4]) or "none worse than the floor"
        failed = [cl for cl in c.get("clauses", []) if not cl["ok"]]
        fail_txt = "; ".join(f"{cl['kind']} {cl['value']} (objects {cl['objects']})" + ("" if cl["ok_floor"] else " — also fails on the ground truth")
                             for cl in failed[:6]) or "none"
        img = f'<img alt="contact sheet {_e(c["id"])}" src="{_sheet(c, vis)}">' if vis else ""
        note = f'<p class="bad">{_e(c["note"])}</p>' if c.get("note") else ""
        out.append(f'<div class="case card"><h3>{_e(c["id"])} · badness {_f(c.get("badness"), 2)} · {_e(c["controls"].get("mode", "t2v"))}</h3>'
                   f'<p><b>prompt:</b> {_e(c["prompt"])}</p><p><b>furthest from floor:</b> {_e(worst)}</p>'
                   f'<p><b>failed clauses:</b> {_e(fail_txt)}</p>{note}{img}</div>')
    return "".join(out)


def render_html(report: dict, visuals: dict | None = None) -> str:
    """The whole page as a string."""
    visuals = visuals or {}
    s, src, mach = report["suite"], report["source"], report.get("machine", {})
    metrics = report["metrics"]
    n_pass = sum(1 for m in metrics.values() if m.get("pass") is True)
    n_fail = sum(1 for m in metrics.values() if m.get("pass") is False)
    gen = report.get("generation")
    meta = [("suite", f'{s["name"]} — {s["cases"]} cases'), ("source", f'{src["kind"]}' + (f': {src["path"]}' if src.get("path") else "")),
            ("date", report.get("created", "")), ("machine", f'{mach.get("host", "?")} · {mach.get("cpus", "?")} CPUs · {mach.get("gpu", mach.get("device", "cpu"))}'),
            ("software", f'python {mach.get("python", "?")} · torch {mach.get("torch", "?")} · {mach.get("threads", "?")} threads'),
            ("wall time", f'{report.get("wall_s", 0):.1f} s'), ("bounds met", f"{n_pass} pass · {n_fail} fail")]
    if gen:
        meta += [("time to first chunk", f'{gen["time_to_first_chunk_s"]:.3f} s'), ("generation speed", f'{gen["frames_per_s"]:.1f} frames/s'),
                 ("peak memory", f'{gen["peak_rss_mb"]:.0f} MB RSS'), ("model load", f'{gen["load_s"]:.1f} s')]
    meta_html = "".join(f"<div><b>{_e(k)}</b>{_e(v)}</div>" for k, v in meta)
    parts = [f'<h1>Kino eval: {_e(s["name"])}</h1><p class="sub">{_e(s.get("description", ""))}</p>',
             f'<div class="card meta">{meta_html}</div>',
             "<h2>Summary</h2><p class=\"legend\">Every score is computed from the state parsed out of the pixels and "
             "compared with exact ground truth; the <b>floor</b> is the same metric on the ground-truth render through "
             "the same parser. ↑ higher is better, ↓ lower is better; bounds marked × floor are relative to it. "
             "Hover a metric (or open <i>definition</i>) for what it measures.</p>", _summary(metrics)]
    bars = _bars(metrics)
    if bars:
        parts.append(f'<h2>Metrics against their floors</h2><p class="legend">Bars: generated (green: meets its bound, '
                     f'red: does not, blue: no bound) and floor (grey), with 95% bootstrap intervals; dashed: the bound.</p>'
                     f'<img alt="metric bars" src="{bars}">')
    if report.get("windows"):
        w = _windows(report["windows"])
        if w:
            parts.append(f'<h2>Drift over time ({_f(report["windows"]["seconds"], 1)} s windows)</h2>'
                         f'<p class="legend">Per-window means over cases; the first window is the real source the model continues.</p>'
                         f'<img alt="windows" src="{w}">')
    traj = _trajectories(sorted(report["cases"], key=lambda c: -c.get("badness", 0)), visuals)
    if traj:
        parts.append('<h2>Trajectories</h2><p class="legend">Centroid paths over the first scored frame: ground truth solid '
                     '(circle: start), generated dashed (square: start), in each object\'s colour. Worst cases first.</p>'
                     f'<img alt="trajectories" src="{traj}">')
    worst = _worst_section(report, visuals)
    if worst:
        parts.append('<h2>Worst cases</h2><p class="legend">Ranked by <i>badness</i>: the mean, over metrics, of how far '
                     'a case lies on the wrong side of its own floor (in units of the metric\'s spread).</p>' + worst)
    names = [n for n, m in metrics.items() if not m.get("set_level")]
    parts.append(f'<h2>All cases</h2><details><summary>{len(report["cases"])} cases × {len(names)} metrics (hover a value for its floor)</summary>'
                 f'{_case_table(report["cases"], names)}</details>')
    body = "\n".join(parts)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<title>Kino eval · {_e(s["name"])} · {_e(src["kind"])}</title><style>{CSS}</style></head><body><main>{body}</main></body></html>')


def write_html(report: dict, path: str | Path, visuals: dict | None = None) -> Path:
    """Write report.html (self-contained) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_html(report, visuals), encoding="utf-8")
    tmp.replace(path)
    return path
