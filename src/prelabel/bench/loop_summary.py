"""The measures and the report of `prelabel bench loop`: one simulated run's curve (`StrategyRun`), what is read
off it per seed (`summarise`: labels to 95 % sustained, normalised area, ratios to random on the same seed), the
summary per strategy over seeds (`aggregate`: medians, paired ratios with a bootstrap 95 % interval of their
median), the console table and the plot. `bench.curves` defines the measures themselves.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from prelabel.bench import curves

BASELINE = "random"  # the strategy every other is compared with, seed by seed
TARGET_SHARE = 0.95  # "labels to 95 %": of the full-data score


@dataclass
class CurvePoint:
    n_labels: int
    score: float
    latency_s: float
    version: int
    features: str = ""  # the model's feature kind, e.g. "word" or "word+emb"
    # calibration of the probabilities labelers are shown (top class of a single-choice job, every category of a
    # multi-choice one): measured on the held-out split, and as the version's own metrics claim it (out of fold)
    ece: float | None = None
    claimed_ece: float | None = None
    # of the labels given since the previous point: how many were shown a suggestion, and how many of those
    # suggestions named exactly the true answer (what a labeler accepts unchanged)
    suggested: int = 0
    accepted: int = 0


@dataclass
class StrategyRun:
    strategy: str
    points: list[CurvePoint] = field(default_factory=list)
    seed: int = 0
    initial_order: str = ""  # the first order the project really got: diverse, random or import
    first_batch: list[int] = field(default_factory=list)  # data set rows of the first model's labels, in order
    area: float = 0.0  # mean score over the retrain grid (step curve, 0 before the first model)
    norm_area: float = 0.0  # area ÷ the seed's full-data score
    labels_to_95: int | None = None  # sustained: from here on every point is ≥ 95 % of the full-data score
    first_touch_95: int | None = None  # the first point ≥ 95 %, whether or not the curve stays there
    ratio_to_random: float | None = None  # labels_to_95 ÷ random's on the same seed (`curves.paired_ratio`)
    ratio_bound: str = ""  # "", "<=" or ">=": what kind of value ratio_to_random is
    area_ratio_to_random: float | None = None  # norm_area ÷ random's on the same seed
    suggested: int = 0  # labels given with a suggestion shown
    accepted: int = 0  # of those, suggestions that named exactly the true answer
    n_labels: int = 0  # labels given in all
    suggestion_accuracy: float | None = None  # accepted ÷ suggested
    latency_p50: float | None = None
    latency_p95: float | None = None
    first_latency: float | None = None
    seconds: float = 0.0
    ece: float | None = None  # mean over the run's versions of the held-out ECE
    claimed_ece: float | None = None  # mean over the same versions of the ECE their metrics claim


@dataclass
class StrategySummary:
    """One strategy over several seeds: medians, the spread, paired ratios and the median learning curve."""

    strategy: str
    seeds: list[int]
    initial_order: str  # the initial orders its runs got (one, or several joined by "/")
    labels_to_95: list[int | None]  # per seed, sustained (None: not reached within the horizon)
    first_touch_95: list[int | None]  # per seed, the first point at or above the line
    median_labels_to_95: float | None  # None when the median run did not reach 95 % for good
    ratio_to_random: float | None  # median labels / random's median labels
    paired_ratios: list[float | None]  # per seed: labels / random's labels on the same seed (split, start)
    paired_bounds: list[str]  # per seed: "" exact, "<=" / ">=" a bound where one of the two never stayed
    paired_ratio_median: float | None
    paired_ratio_ci: tuple[float, float] | None  # bootstrap 95 % interval of that median
    reached: int
    area: float  # median over seeds of the run's area (raw score)
    norm_area: float  # median over seeds of the normalised area
    paired_area_ratios: list[float | None]
    paired_area_ratio_median: float | None
    paired_area_ratio_ci: tuple[float, float] | None
    suggestion_accuracy: float | None  # median over seeds
    final: float
    max_labels: int
    latency_p50: float | None
    latency_p95: float | None
    first_latency: float | None
    seconds: float
    curve: list[tuple[int, float]]  # median score per label count present in every seed
    ece: float | None = None  # median over seeds of the run's mean held-out ECE
    claimed_ece: float | None = None  # the same for the ECE the versions claim (on the same versions)


# --- measures per run and per strategy ---------------------------------------------------------------------------
def summarise(runs: list[StrategyRun], full: float, grid: Sequence[int] | None = None) -> None:
    """Measure the runs of one seed against its full-data score `full` on the retrain `grid` (default: every
    label count a run has a point at), and compare each with that seed's random run."""
    grid = sorted({p.n_labels for r in runs for p in r.points}) if grid is None else list(grid)
    for r in runs:
        _measure_curve(r, full, grid)
        _measure_calibration(r)
    base = next((r for r in runs if r.strategy == BASELINE), None)
    for r in runs:
        _compare(r, base, horizon=grid[-1] if grid else 0)


def _measure_curve(r: StrategyRun, full: float, grid: Sequence[int]) -> None:
    curve = [(p.n_labels, p.score) for p in r.points]
    target = TARGET_SHARE * full
    r.labels_to_95 = curves.sustained_crossing(curve, target)
    r.first_touch_95 = curves.first_crossing(curve, target)
    r.area = round(curves.mean_step_score(curve, grid), 4)
    r.norm_area = round(curves.normalised_area(curve, grid, full), 4)


def _measure_calibration(r: StrategyRun) -> None:
    """Calibration over the versions that both measure and claim it (the first models may claim none)."""
    both = [p for p in r.points if p.ece is not None and p.claimed_ece is not None]
    r.ece = round(float(np.mean([p.ece for p in both])), 4) if both else None
    r.claimed_ece = round(float(np.mean([p.claimed_ece for p in both])), 4) if both else None


def _compare(r: StrategyRun, base: StrategyRun | None, *, horizon: int) -> None:
    if base is None:
        r.ratio_to_random, r.ratio_bound, r.area_ratio_to_random = None, "", None
        return
    ratio, r.ratio_bound = curves.paired_ratio(r.labels_to_95, base.labels_to_95, horizon)
    r.ratio_to_random = _round_or_none(ratio, 3)
    r.area_ratio_to_random = round(r.norm_area / base.norm_area, 3) if base.norm_area > 0 else None


def run_from_json(doc: dict[str, Any]) -> StrategyRun:
    fields = {k: v for k, v in doc.items() if k in StrategyRun.__dataclass_fields__ and k != "points"}
    return StrategyRun(**fields, points=[CurvePoint(**p) for p in doc.get("points", [])])


def _median_or_none(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(statistics.median(present)) if present else None


def _round_or_none(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _rounded_ci(values: Sequence[float | None]) -> tuple[float, float] | None:
    ci = curves.bootstrap_median_ci([v for v in values if v is not None])
    return None if ci is None else (round(ci[0], 3), round(ci[1], 3))


def aggregate(runs: list[StrategyRun]) -> list[StrategySummary]:
    """Per strategy over its seeds (each run already `summarise`d against its own seed's full-data score), in the
    order the strategies first appear.

    The median of labels-to-95 % counts a run that never stayed above the line as infinitely many labels, so a
    median that falls on such runs is None ("not reached"); `ratio_to_random` is the strategy's median over
    random's median; the paired ratios compare the strategy with random on the same seed (same split and
    start), their median with a bootstrap 95 % interval (`curves.bootstrap_median_ci`).
    """
    groups: dict[str, list[StrategyRun]] = {}
    for r in runs:
        groups.setdefault(r.strategy, []).append(r)
    out = [_summary(name, sorted(rs, key=lambda r: r.seed)) for name, rs in groups.items()]
    base = next((x for x in out if x.strategy == BASELINE), None)
    for x in out:
        if base is not None and base.median_labels_to_95 and x.median_labels_to_95:
            x.ratio_to_random = round(x.median_labels_to_95 / base.median_labels_to_95, 3)
    return out


def _summary(name: str, rs: list[StrategyRun]) -> StrategySummary:
    return StrategySummary(
        strategy=name,
        seeds=[r.seed for r in rs],
        initial_order="/".join(sorted({r.initial_order for r in rs if r.initial_order})),
        ratio_to_random=None,
        **_labels_measures(rs),
        **_paired_measures(rs),
        **_area_measures(rs),
        suggestion_accuracy=_round_or_none(_median_or_none([r.suggestion_accuracy for r in rs])),
        final=round(float(np.median([r.points[-1].score for r in rs if r.points] or [0.0])), 4),
        max_labels=max((r.points[-1].n_labels for r in rs if r.points), default=0),
        **_latency_measures(rs),
        seconds=round(sum(r.seconds for r in rs), 1),
        curve=_median_curve(rs),
        ece=_round_or_none(_median_or_none([r.ece for r in rs])),
        claimed_ece=_round_or_none(_median_or_none([r.claimed_ece for r in rs])),
    )


def _labels_measures(rs: list[StrategyRun]) -> dict[str, Any]:
    hits = [r.labels_to_95 for r in rs]
    med = float(np.median([float(h) if h is not None else float("inf") for h in hits])) if hits else float("inf")
    return {
        "labels_to_95": hits,
        "first_touch_95": [r.first_touch_95 for r in rs],
        "median_labels_to_95": med if np.isfinite(med) else None,
        "reached": sum(h is not None for h in hits),
    }


def _paired_measures(rs: list[StrategyRun]) -> dict[str, Any]:
    ratios = [r.ratio_to_random for r in rs]
    return {
        "paired_ratios": ratios,
        "paired_bounds": [r.ratio_bound for r in rs],
        "paired_ratio_median": _round_or_none(_median_or_none(ratios), 3),
        "paired_ratio_ci": _rounded_ci(ratios),
    }


def _area_measures(rs: list[StrategyRun]) -> dict[str, Any]:
    ratios = [r.area_ratio_to_random for r in rs]
    return {
        "area": round(float(np.median([r.area for r in rs])), 4),
        "norm_area": round(float(np.median([r.norm_area for r in rs])), 4),
        "paired_area_ratios": ratios,
        "paired_area_ratio_median": _round_or_none(_median_or_none(ratios), 3),
        "paired_area_ratio_ci": _rounded_ci(ratios),
    }


def _latency_measures(rs: list[StrategyRun]) -> dict[str, Any]:
    lat = [p.latency_s for r in rs for p in r.points]
    return {
        "latency_p50": round(float(np.median(lat)), 3) if lat else None,
        "latency_p95": round(float(np.percentile(lat, 95)), 3) if lat else None,
        "first_latency": _median_or_none([r.first_latency for r in rs]),
    }


def _median_curve(rs: list[StrategyRun]) -> list[tuple[int, float]]:
    """The median score at every label count that each of the runs has a point at."""
    scores = [{p.n_labels: p.score for p in r.points} for r in rs]
    common = set.intersection(*(set(s) for s in scores)) if scores else set()
    return [(n, round(float(np.median([s[n] for s in scores])), 4)) for n in sorted(common)]


def plot(
    ds_name: str,
    runs: list[StrategyRun],
    summaries: list[StrategySummary],
    full: float,
    metric: str,
    path: Path,
) -> None:
    """Per-seed curves (thin) and the median curve (thick) per strategy; the median full-data score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    n_seeds = len({r.seed for r in runs})
    for i, sm in enumerate(summaries):
        color = f"C{i}"
        if n_seeds > 1:
            for r in runs:
                if r.strategy == sm.strategy:
                    ax.plot(
                        [p.n_labels for p in r.points], [p.score for p in r.points], color=color, alpha=0.25, lw=0.8
                    )
        label = sm.strategy + (f" (median of {n_seeds} seeds)" if n_seeds > 1 else "")
        ax.plot([n for n, _ in sm.curve], [v for _, v in sm.curve], color=color, marker=".", label=label)
    ax.axhline(full, color="grey", linestyle="--", linewidth=1, label=f"full data ({full:.3f})")
    ax.axhline(0.95 * full, color="grey", linestyle=":", linewidth=1, label="95 % of full data")
    ax.set_xlabel("labels")
    ax.set_ylabel(f"held-out {metric}")
    ax.set_title(f"prelabel loop simulation: {ds_name}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


LEGEND = (
    "labels→95%: the retrain from which every later one stays ≥ 95 % of the full-data score to the horizon "
    "('not reached': the curve does not stay there). area: the mean score over the retrain grid (newest model at "
    "each count, 0 before the first) ÷ the full-data score. ÷ random: the strategy ÷ random on the same seed, "
    "median [bootstrap 95 % interval, 2000 resamples]; ≤ / ≥ a bound where one of the two never stayed. "
    "suggestions: the share of labels whose shown suggestion named the true answer."
)
COLUMNS = (
    "strategy", "start", "labels→95%", "per seed", "÷ random", "per seed ÷", "area", "area ÷ random",
    "suggestions", "final", "ECE held-out", "ECE claimed", "latency p50 s", "p95 s", "wall s",
)  # fmt: skip
LEFT = ("strategy", "start", "per seed", "per seed ÷")


def summary_table(info: dict[str, Any], summaries: list[StrategySummary], full: float, horizon: int, seeds: int) -> Any:
    from rich.table import Table

    title = (
        f"loop simulation: {info['dataset']} ({info['metric']}; full data {full:.4f}"
        f"{' median of ' + str(seeds) + ' seeds' if seeds > 1 else ''}; 95 % = {TARGET_SHARE * full:.4f}; "
        f"horizon {horizon} labels)"
    )
    table = Table(title=title)
    for col in COLUMNS:
        table.add_column(col, justify="left" if col in LEFT else "right")
    for sm in summaries:
        table.add_row(*_row(sm, horizon))
    return table


def _row(sm: StrategySummary, horizon: int) -> list[str]:
    def num(value: float | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    paired = [f"{b}{r:.2f}" if r is not None else "-" for r, b in zip(sm.paired_ratios, sm.paired_bounds, strict=True)]
    med = sm.median_labels_to_95
    return [
        sm.strategy, sm.initial_order or "-", f"{med:g}" if med is not None else "not reached",
        _spread(sm.labels_to_95, horizon), _with_ci(sm.paired_ratio_median, sm.paired_ratio_ci), " ".join(paired),
        f"{sm.norm_area:.3f}", _with_ci(sm.paired_area_ratio_median, sm.paired_area_ratio_ci),
        format_share(sm.suggestion_accuracy), f"{sm.final:.4f}", num(sm.ece, ".3f"), num(sm.claimed_ece, ".3f"),
        num(sm.latency_p50, ".2f"), num(sm.latency_p95, ".2f"), f"{sm.seconds:.0f}",
    ]  # fmt: skip


def _with_ci(median: float | None, ci: tuple[float, float] | None) -> str:
    if median is None:
        return "-"
    return f"{median:.2f}" if ci is None else f"{median:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def format_share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _spread(hits: list[int | None], horizon: int) -> str:
    return " ".join(str(h) if h is not None else f">{horizon}" for h in hits)
