"""Small server-side charts: horizontal bars (data for CSS) and the learning curve as inline SVG.

The SVG is assembled from numbers and escaped strings only (`markupsafe.escape`), so it is safe to mark as
Markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

from prelabel.service.analytics import ClassCount, CurvePoint

W, H = 640, 260
PAD_L, PAD_R, PAD_T, PAD_B = 48, 16, 16, 40
TIER_COLOURS = {"zero-shot": "#2e7d32", "fast": "#1f6feb", "search": "#b3541e", "external": "#6e40c9"}
MAX_BOARD_ROWS = 15
MAX_BOARD_COLS = 8


def bars(items: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    """[(name, count)] → rows with a share of the largest count (0-100) for a CSS width."""
    top = max((n for _, n in items), default=0)
    total = sum(n for _, n in items)
    return [
        {
            "name": name,
            "count": n,
            "width": (100 * n / top) if top else 0,
            "share": (n / total) if total else None,
        }
        for name, n in items
    ]


def class_bars(dist: Sequence[ClassCount]) -> list[dict[str, Any]]:
    """Per job: rows with labeled and predicted counts and their bar widths (shares within the job)."""
    jobs: dict[str, list[ClassCount]] = {}
    for c in dist:
        jobs.setdefault(c.job, []).append(c)
    out = []
    for job, cats in jobs.items():
        tot_l = sum(c.labeled for c in cats)
        tot_p = sum(c.predicted for c in cats)
        out.append(
            {
                "job": job,
                "rows": [
                    {
                        "name": c.name,
                        "labeled": c.labeled,
                        "predicted": c.predicted,
                        "labeled_share": c.labeled / tot_l if tot_l else 0.0,
                        "predicted_share": c.predicted / tot_p if tot_p else 0.0,
                    }
                    for c in cats
                ],
            }
        )
    return out


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    step = (hi - lo) / (n - 1)
    return [lo + i * step for i in range(n)]


def _int_ticks(hi: int, n: int = 6) -> list[int]:
    """Round label-count ticks from 0 to at least `hi` (steps of 1, 2, 5, 10, 20, 50 …)."""
    step = 1
    while hi / step > n - 1:
        step = _next_step(step)
    top = -(-hi // step) * step
    return list(range(0, top + 1, step))


def _next_step(step: int) -> int:
    s = str(step)
    lead = int(s[0])
    return (2 if lead == 1 else 5 if lead == 2 else 10) * 10 ** (len(s) - 1)


def learning_curve_svg(points: Sequence[CurvePoint]) -> Markup | None:
    """Score against number of labels, one line per tier, or None when there are no scored versions."""
    if not points:
        return None
    xs = [p.n_labels for p in points]
    ys = [p.score for p in points]
    x_ticks = _int_ticks(max(max(xs), 1))
    x_lo, x_hi = 0, x_ticks[-1]
    y_lo = min(0.5, min(ys)) if min(ys) >= 0 else min(ys)
    y_hi = max(1.0, max(ys)) if max(ys) <= 1 else max(ys)
    y_lo = max(0.0, (int(y_lo * 10)) / 10) if y_lo >= 0 else y_lo

    def sx(x: float) -> float:
        return PAD_L + (x - x_lo) / (x_hi - x_lo or 1) * (W - PAD_L - PAD_R)

    def sy(y: float) -> float:
        return H - PAD_B - (y - y_lo) / (y_hi - y_lo or 1) * (H - PAD_T - PAD_B)

    metric = next((p.metric for p in points if p.metric), "score")
    parts = [
        f'<svg viewBox="0 0 {W} {H}" class="chart" role="img" aria-labelledby="lc-title lc-desc" '
        'preserveAspectRatio="xMidYMid meet">',
        f'<title id="lc-title">Learning curve: {escape(metric)} against number of labels</title>',
        '<desc id="lc-desc">'
        + escape("; ".join(f"{p.display_name}: {p.score:.3f} with {p.n_labels} labels" for p in points))
        + "</desc>",
    ]
    for yt in _ticks(y_lo, y_hi):
        y = sy(yt)
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{yt:.2f}</text>')
    for xt in x_ticks:
        x = sx(xt)
        parts.append(f'<text x="{x:.1f}" y="{H - PAD_B + 18}" text-anchor="middle" class="tick">{xt}</text>')
    parts.append(
        f'<text x="{(PAD_L + W - PAD_R) / 2:.0f}" y="{H - 6}" text-anchor="middle" class="axis">'
        "labels the version learned from</text>"
    )
    parts.append(
        f'<text x="{W - PAD_R}" y="{PAD_T + 10}" text-anchor="end" class="axis">{escape(metric)} (as shown)</text>'
    )
    tiers: dict[str, list[CurvePoint]] = {}
    for p in points:
        tiers.setdefault(p.tier, []).append(p)
    for i, (tier, pts) in enumerate(sorted(tiers.items())):
        colour = TIER_COLOURS.get(tier, "#6e40c9")
        pts = sorted(pts, key=lambda p: (p.n_labels, p.version))
        coords = " ".join(f"{sx(p.n_labels):.1f},{sy(p.score):.1f}" for p in pts)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for p in pts:
            parts.append(
                f'<circle cx="{sx(p.n_labels):.1f}" cy="{sy(p.score):.1f}" r="4" fill="{colour}">'
                f"<title>{escape(p.display_name)} ({escape(tier)}): {p.score:.3f} with {p.n_labels} labels"
                "</title></circle>"
            )
        lx = PAD_L + 10 + i * 110
        parts.append(f'<rect x="{lx}" y="{PAD_T}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 16}" y="{PAD_T + 10}" class="legend">{escape(tier)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell(v)}" for k, v in list(value.items())[:6])
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value[:6])
    return "" if value is None else str(value)


def table_of(rows: Any) -> dict[str, Any] | None:
    """A leaderboard (list of dicts) → {"columns", "rows"} of strings, best rows first as stored."""
    if not isinstance(rows, list) or not rows:
        return None
    dict_rows = [r for r in rows if isinstance(r, dict)]
    columns: list[str] = []
    for r in dict_rows[:50]:
        for k in r:
            if k not in columns:
                columns.append(k)
    columns = columns[:MAX_BOARD_COLS]
    return {
        "columns": columns,
        "rows": [[_cell(r.get(c)) for c in columns] for r in dict_rows[:MAX_BOARD_ROWS]],
        "total": len(dict_rows),
    }


def score_key(value: Any) -> float | None:
    """A leaderboard score as ties are judged: rounded to 6 decimals (None: no score)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    return round(float(value), 6)


def tie_ranks(scores: Sequence[Any]) -> list[str]:
    """Competition ranks of scores listed best first: 1 + the number of strictly better scores, written
    "=k" when another score ties with it; "-" for a trial without a score (failed)."""
    keys = [score_key(s) for s in scores]
    valid = [k for k in keys if k is not None]
    out = []
    for k in keys:
        if k is None:
            out.append("-")
            continue
        rank = 1 + sum(1 for v in valid if v > k)
        out.append(f"={rank}" if valid.count(k) > 1 else str(rank))
    return out
