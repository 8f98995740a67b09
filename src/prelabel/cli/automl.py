"""`prelabel automl fit|predict`: train the AutoML text classifier on a file and apply it to another."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import typer

app = typer.Typer(help="Fit and apply the AutoML text classifier on CSV / JSONL files.", no_args_is_help=True)


@app.command("fit")
def fit(
    train: Path = typer.Option(
        ..., "--train", exists=True, dir_okay=False, help="CSV or JSONL training file."
    ),
    text_column: str = typer.Option("text", help="Column holding the text."),
    label_column: str = typer.Option("label", help="Column holding the label (single-label tasks)."),
    labels_column: str | None = typer.Option(
        None, help="Column holding a list of labels (multi-label; JSON list, or 'a|b' in CSV)."
    ),
    budget: float = typer.Option(60.0, min=0, help="Time budget in seconds (0: fast default model)."),
    out: Path = typer.Option(Path("model.joblib"), "--out", help="Where to write the model."),
    metric: str = typer.Option("auto", help="auto, accuracy, f1, f1_macro, f1_micro, f1_samples, log_loss."),
    n_jobs: int = typer.Option(1, help="Parallel trials (worker processes); -1 for all cores."),
    max_trials: int | None = typer.Option(None, help="Budget in trials (deterministic search)."),
    seed: int = typer.Option(0, help="Random seed."),
    feature_sets: str | None = typer.Option(
        None, help="Comma-separated subset of word,char,word+char,emb,word+emb,word+char+emb."
    ),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache (default ~/.cache/prelabel)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every trial."),
) -> None:
    """Search, ensemble and calibrate a classifier on a labelled file; save it with joblib."""
    from rich.console import Console
    from rich.table import Table

    from prelabel.automl import AutoTextClassifier
    from prelabel.automl.data import read_table

    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    table = read_table(train, text_column, label_column, labels_column)
    assert table.labels is not None
    clf = AutoTextClassifier(
        time_budget=budget,
        metric=metric,
        n_jobs=n_jobs,
        random_state=seed,
        max_trials=max_trials,
        feature_sets=[s.strip() for s in feature_sets.split(",")] if feature_sets else None,
        cache_dir=str(cache_dir) if cache_dir else None,
    )
    try:
        clf.fit(table.texts, table.labels)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    clf.save(out)
    console = Console()
    summary = Table(title=f"prelabel automl fit: {train.name}")
    for col in ("task", "metric", "CV score", "trials", "ECE before → after", "fit time", "model"):
        summary.add_column(col)
    cal = clf.calibration_
    summary.add_row(
        clf.task_,
        clf.metric_,
        f"{clf.best_score_:.4f}",
        str(clf.n_trials_),
        f"{cal['ece_before']:.3f} → {cal['ece_after']:.3f} ({cal['method']})",
        f"{clf.fit_time_:.1f} s",
        str(out),
    )
    console.print(summary)
    members = Table(title="ensemble")
    for col in ("weight", "features", "model", "CV score"):
        members.add_column(col)
    from prelabel.automl.features import describe

    for m in clf.ensemble_:
        cfg = m["config"]
        members.add_row(f"{m['weight']:.2f}", describe(cfg["features"]), cfg["model"], f"{m['cv_score']:.4f}")
    console.print(members)


@app.command("predict")
def predict(
    model: Path = typer.Option(..., "--model", exists=True, dir_okay=False, help="Model saved by `fit`."),
    input: Path = typer.Option(..., "--input", exists=True, dir_okay=False, help="CSV or JSONL file."),
    out: Path = typer.Option(Path("predictions.csv"), "--out", help="Where to write the predictions (CSV)."),
    text_column: str = typer.Option("text", help="Column holding the text."),
    id_column: str = typer.Option("id", help="Identifier column copied to the output if present."),
) -> None:
    """Predict labels and per-class probabilities: columns id (if any), label(s), proba_<class>…"""
    from prelabel.automl import AutoTextClassifier
    from prelabel.automl.data import read_table

    clf = AutoTextClassifier.load(model)
    table = read_table(input, text_column, None, None, id_column, require_labels=False)
    proba = clf.predict_proba(table.texts)
    label_sets = clf.predict_label_sets(table.texts)
    multilabel = clf.task_ == "multilabel"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        header = (["id"] if table.ids is not None else []) + ["labels" if multilabel else "label"]
        header += [f"proba_{c}" for c in clf.classes_]
        writer.writerow(header)
        for i, labels in enumerate(label_sets):
            row = [table.ids[i]] if table.ids is not None else []
            row.append("|".join(map(str, labels)) if multilabel else str(labels[0]))
            row.extend(f"{p:.6f}" for p in proba[i])
            writer.writerow(row)
    typer.echo(f"wrote {len(label_sets)} predictions to {out}")
