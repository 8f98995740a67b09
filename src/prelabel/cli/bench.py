"""`prelabel bench …`: store, automl, fast, coldstart, prepare and loop benchmarks. Each command keeps its heavy
imports inside itself."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Benchmarks: each prints a table of medians and ratios against a baseline.")


@app.command("automl")
def automl(
    train: Path = typer.Option(
        ..., "--train", exists=True, dir_okay=False, help="Labelled CSV or JSONL file."
    ),
    test: Path | None = typer.Option(None, "--test", exists=True, dir_okay=False, help="Labelled test file."),
    text_column: str = typer.Option("text", help="Column holding the text."),
    label_column: str = typer.Option("label", help="Column holding the label (single-label tasks)."),
    labels_column: str | None = typer.Option(None, help="Column holding label lists (multi-label)."),
    budget: float = typer.Option(60.0, min=0, help="Time budget in seconds for each AutoML system."),
    test_split: float | None = typer.Option(None, min=0.05, max=0.95, help="Hold out this share of --train."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the table as JSON."),
    systems: str = typer.Option("original,flaml,prelabel,prelabel+emb", help="Comma-separated systems."),
    metric: str = typer.Option("auto", help="Search metric (auto: f1 / f1_macro / f1_micro)."),
    n_jobs: int = typer.Option(2, help="Parallel workers for the AutoML systems."),
    seed: int = typer.Option(0, help="Random seed (split, folds, searches)."),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache (default ~/.cache/prelabel)."),
) -> None:
    """AutoML: original pipeline vs FLAML vs prelabel (with and without embeddings), same data and budget."""
    from prelabel.bench.automl import run

    if test is None and test_split is None:
        raise typer.BadParameter("give --test FILE or --test-split FRACTION")
    run(
        train, test, text_column, label_column, labels_column, budget, test_split, json_out,
        [s.strip() for s in systems.split(",") if s.strip()], metric, n_jobs, seed, cache_dir,
    )


@app.command("fast")
def fast(
    data: Path = typer.Option(..., "--data", exists=True, dir_okay=False, help="Labelled CSV or JSONL file."),
    text_column: str = typer.Option("text", help="Column holding the text."),
    label_column: str = typer.Option("label", help="Column holding the label (single-label tasks)."),
    labels_column: str | None = typer.Option(None, help="Column holding label lists (multi-label)."),
    sizes: str = typer.Option("20,40,80,160,320", help="Comma-separated numbers of labels."),
    draws: int = typer.Option(5, min=1, help="Random label samples per size (the table shows medians)."),
    variants: str = typer.Option(
        "none,balanced", help="Fast-model variants to compare, each CLASS_WEIGHT, CLASS_WEIGHT/CALIBRATION or "
        "CLASS_WEIGHT/CALIBRATION/WORD_WEIGHT: none, balanced or auto; /auto (default), /none, /sigmoid, /isotonic "
        "or /temperature; the word block's weight beside the sentence vectors, /auto (default: labels / 100, at "
        "most 1) or a number in (0, 1]. The first is the baseline."
    ),
    features: str = typer.Option("word+emb", help="Fast-model features: word, word+emb or auto."),
    test_split: float = typer.Option(0.3, min=0.05, max=0.95, help="Held-out share used for scoring."),
    max_rows: int | None = typer.Option(None, min=10, help="Use a seeded sample of this many rows."),
    seed: int = typer.Option(0, help="Random seed (split, label samples, models)."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the cells as JSON."),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache (default ~/.cache/prelabel)."),
) -> None:
    """Fast tier with few labels: class-weight variants on the same random label samples, paired ratios."""
    from prelabel.bench.fast import run

    try:
        size_list = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter(f"--sizes takes comma-separated integers; got {sizes!r}") from None
    if not size_list or min(size_list) < 2:
        raise typer.BadParameter("--sizes needs numbers of labels of at least 2")
    if features not in ("word", "word+emb", "auto"):
        raise typer.BadParameter(f"--features is word, word+emb or auto; got {features!r}")
    try:
        run(
            data, text_column=text_column, label_column=label_column, labels_column=labels_column,
            sizes=size_list, draws=draws, variants=[v.strip() for v in variants.split(",") if v.strip()],
            features=features, test_split=test_split, max_rows=max_rows, seed=seed, json_out=json_out,
            cache_dir=cache_dir,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command("coldstart")
def coldstart(
    data: Path | None = typer.Option(None, "--data", exists=True, dir_okay=False, help="Labelled CSV or JSONL file."),
    preset: str | None = typer.Option(
        None, "--preset", help="Instead of --data: shared data sets with their columns, question and category "
        "descriptions built in, comma-separated or 'all': disaster_tweets, sms_spam, bbc_news, reuters21578_top20, "
        "goemotions.",
    ),
    datasets: Path | None = typer.Option(
        None, "--datasets", file_okay=False, help="Folder of the shared data sets (default $PRELABEL_DATASETS, "
        "else ../shared/datasets).",
    ),
    text_column: str = typer.Option("text", help="Column holding the text."),
    label_column: str = typer.Option("label", help="Column holding the label (single-label tasks)."),
    labels_column: str | None = typer.Option(None, help="Column holding label lists (multi-label)."),
    descriptions: Path | None = typer.Option(
        None, exists=True, dir_okay=False, help="With --data: JSON object of category key → description (or → "
        '{"name": ..., "description": ...}) for the zero-shot model.',
    ),
    question: str = typer.Option("", help="With --data: the job's question, as labelers would read it."),
    sizes: str = typer.Option("0,10,20,50,100,200,500", help="Comma-separated numbers of labels."),
    seeds: int = typer.Option(5, min=1, help="Repetitions (seed, seed+1, …): each its own split and order."),
    seed: int = typer.Option(0, help="The first seed."),
    orders: str = typer.Option(
        "random", help="Which rows are labeled first: random, queue (the production queue's order in a simulated "
        "labeling loop, once per seed up to the largest size), or both comma-separated.",
    ),
    systems: str = typer.Option(
        "prelabel,prelabel (no vectors),majority,tfidf+lr,minilm+lr,zero-shot,setfit", help="Comma-separated; "
        "'prelabel (search)' adds the search job's model (its whole search_budget_s per fit)."
    ),
    test_split: float = typer.Option(0.3, min=0.05, max=0.95, help="Held-out share used for scoring."),
    max_test: int = typer.Option(2000, min=10, help="Score on a seeded sample of at most this many held-out rows."),
    max_rows: int | None = typer.Option(None, min=10, help="Use a seeded sample of this many rows."),
    json_out: Path | None = typer.Option(None, "--json", help="Write every per-seed value as JSON."),
    png_out: Path | None = typer.Option(None, "--png", help="Plot the median accuracy curves."),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache (default ~/.cache/prelabel)."),
) -> None:
    """Cold start: the served model with 0-500 labels against majority, TF-IDF/MiniLM + LR, zero-shot, SetFit."""
    from prelabel.bench import coldstart as cs
    from prelabel.bench.loop import load_dataset

    try:
        size_list = tuple(int(s) for s in sizes.split(",") if s.strip())
        cfg = cs.Config(
            sizes=size_list, seeds=tuple(range(seed, seed + seeds)),
            orders=tuple(o.strip() for o in orders.split(",") if o.strip()),
            systems=tuple(s.strip() for s in systems.split(",") if s.strip()),
            test_split=test_split, max_test=max_test, cache_dir=cache_dir,
        )
        cs.check_config(cfg)
        if (data is None) == (preset is None):
            raise ValueError("give --data FILE or --preset NAME")
        if preset is not None:
            folder = cs.datasets_dir(datasets)
            names = list(cs.PRESETS) if preset.strip() == "all" else [p.strip() for p in preset.split(",") if p]
            tasks = [cs.preset_task(n, folder, max_rows=max_rows, seed=seed) for n in names]
        else:
            assert data is not None
            ds = load_dataset(data, text_column=text_column, label_column=label_column, labels_column=labels_column,
                              max_rows=max_rows, seed=seed)  # fmt: skip
            tasks = [cs.make_task(ds, question, cs.load_descriptions(descriptions) if descriptions else None)]
        cs.run(tasks, cfg, json_out=json_out, png_out=png_out)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command("prepare")
def prepare(
    repeats: int = typer.Option(3, "--repeats", min=1, help="Repeats of every variant; the table shows medians."),
    rows: int | None = typer.Option(None, "--rows", min=11, help="Import only the first N demo tweets (default all)."),
    settle: float = typer.Option(20.0, "--settle", min=0.0, help="Seconds the workers idle before the import."),
    variants: str = typer.Option(
        "baseline,preload-prepare,preload,preload+cores", "--variants", help="Comma-separated; the first is the "
        "baseline."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the results as JSON."),
    labels: int = typer.Option(
        0, "--labels", min=0, help="Go on labeling to this many labels, then score the served suggestions on the "
        "unlabeled train tweets beside the dashboard's estimate (0: stop after the first model)."
    ),
    pace: float = typer.Option(3.0, "--pace", min=0.0, help="Seconds between two labels after the first ten."),
) -> None:
    """Prepare: seconds from an import to the first labels being chosen, with and without preloading MiniLM, and
    to the first model after them."""
    from prelabel.bench.prepare import run

    run(repeats=repeats, rows=rows, settle=settle, variants=[v for v in variants.split(",") if v], json_out=json_out,
        labels=labels, pace=pace)  # fmt: skip


@app.command("encode")
def encode(
    data: Path = typer.Option(..., "--data", exists=True, dir_okay=False, help="CSV or JSONL file of texts."),
    text_column: str = typer.Option("text", help="Column holding the text."),
    rows: int = typer.Option(2000, "--rows", min=1, help="Encode the first N distinct texts."),
    threads: str = typer.Option("1,2", "--threads", help="Comma-separated intra-op thread counts."),
    backends: str = typer.Option(
        "torch,onnx-fp32,onnx-int8", "--backends", help="Comma-separated encoder backends; torch (the baseline of "
        "the ratios) is always run."
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Texts per batch (torch, onnx-fp32)."),
    repeats: int = typer.Option(1, "--repeats", min=1, help="Repeats of every cell; the table shows medians."),
    cache_dir: Path | None = typer.Option(
        None, help="Where the exported ONNX models are kept (default ~/.cache/prelabel); no vectors are cached."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the rows as JSON."),
) -> None:
    """Encode: texts/s of the sentence-encoder backends (torch, ONNX fp32 / int8) on the same texts, cosines."""
    from prelabel.automl.encoders import BACKENDS
    from prelabel.bench.encode import run

    try:
        thread_list = [int(s) for s in threads.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter(f"--threads takes comma-separated integers; got {threads!r}") from None
    names = [b.strip() for b in backends.split(",") if b.strip()]
    unknown = [b for b in names if b not in BACKENDS]
    if unknown or not thread_list or min(thread_list) < 1:
        raise typer.BadParameter(f"--backends are among {', '.join(BACKENDS)}; --threads positive integers")
    run(
        data, text_column=text_column, rows=rows, threads=thread_list, backends=names, batch_size=batch_size,
        repeats=repeats, cache_dir=cache_dir, json_out=json_out,
    )


@app.command("store")
def store(
    n: int = typer.Option(100_000, "--n", min=1, help="Assets imported (and predictions stored) per repeat."),
    baseline_n: int = typer.Option(2_000, "--baseline-n", min=1, help="Rows of the naive ORM baseline."),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Repeats; the table shows medians."),
    postgres_url: str | None = typer.Option(
        None, "--postgres-url", help="PostgreSQL server URL: also bench a temporary database there."
    ),
    sqlite: bool = typer.Option(True, "--sqlite/--no-sqlite", help="Bench a temporary SQLite file."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the rows as JSON."),
) -> None:
    """Store: import, iteration and bulk prediction throughput vs a naive ORM insert (SQLite, PostgreSQL)."""
    from prelabel.bench.store import run

    run(
        n=n, baseline_n=baseline_n, repeats=repeats, postgres_url=postgres_url, sqlite=sqlite,
        json_out=json_out,
    )


@app.command("loop")
def loop(
    data: Path = typer.Option(..., "--data", exists=True, dir_okay=False, help="Labelled CSV or JSONL file."),
    text_column: str = typer.Option("text", help="Column holding the text."),
    label_column: str = typer.Option("label", help="Column holding the label (single-label tasks)."),
    labels_column: str | None = typer.Option(None, help="Column holding label lists (multi-label)."),
    strategies: str = typer.Option(
        "random,margin,entropy,least_confidence,mix",
        help="Comma-separated query strategies; random-start: random sampling from a random first batch (what the "
        "diverse start is worth).",
    ),
    batch: int = typer.Option(
        20, min=1, help="Labels per batch (the trainer runs after each batch): the project's train_min_new_labels "
        "(production default 5)."
    ),
    first: int = typer.Option(10, min=2, help="Labels of the first batch (the first model comes after it)."),
    max_labels: int = typer.Option(400, min=2, help="Stop after this many labels."),
    test_split: float = typer.Option(0.3, min=0.05, max=0.95, help="Held-out share used for scoring."),
    max_rows: int | None = typer.Option(None, min=10, help="Use a seeded sample of this many rows."),
    extra_unlabeled: Path | None = typer.Option(
        None, exists=True, dir_okay=False, help="Unlabeled texts added to the pool (e.g. to reach 10k)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Directory for the JSON results and the PNG plot."),
    seed: int = typer.Option(0, help="Random seed (sample, split, initial queue order)."),
    seeds: int = typer.Option(
        1, min=1, help="Repeat every strategy on this many seeds (seed, seed+1, …); the table shows medians."
    ),
    batch_growth: float = typer.Option(
        0.0,
        min=0.0,
        max=0.5,
        help="Grow batches as the production trigger does: max(--batch, growth * labels) labels per retrain "
        "(0.1 = the default train_growth; --batch 5 --batch-growth 0.1 is the production schedule).",
    ),
    live: bool = typer.Option(
        False, help="Run the trainer as `prelabel serve` does (background processes, debounce, searches on)."
    ),
    mix_options: str = typer.Option(
        "",
        help="Override the mix's parameters for a comparison, e.g. 'cold_start=0,candidate_factor=5,"
        "random_share=0.2,density=0' (defaults: automl.active.DiversityMix's and queue_random_share 0).",
    ),
    runs_cache: Path | None = typer.Option(
        None,
        help="Keep each finished (strategy, seed) run here and reuse it only when its key is equal: the engine's "
        "code (a hash of prelabel.automl and the trainer), the data files' contents and every option of the run "
        "(resume an interrupted bench; a code change runs everything again).",
    ),
    embeddings: bool = typer.Option(
        True,
        help="Encode every text with MiniLM first (as the search worker does after an import) so that fast "
        "models add sentence vectors (project setting use_embeddings); --no-embeddings: word TF-IDF only.",
    ),
    initial_order: str | None = typer.Option(
        None,
        "--initial-order",
        help="Every strategy's queue order before the first model, random sampling's too (project setting "
        "queue_initial_order: diverse, random, import; default: the project default, as production starts every "
        "project). random-start always starts at random.",
    ),
) -> None:
    """Loop: simulated labelers through the real queue and trainer; learning curves, latency."""
    from prelabel.bench.loop import run

    try:
        pairs = (kv.split("=", 1) for kv in mix_options.split(",") if kv.strip())
        mix = {k.strip(): float(v) for k, v in pairs}
    except ValueError:
        raise typer.BadParameter(f"--mix-options takes key=number pairs; got {mix_options!r}") from None
    run(
        data, text_column=text_column, label_column=label_column, labels_column=labels_column,
        strategies=[s.strip() for s in strategies.split(",") if s.strip()], batch=batch, first=first,
        max_labels=max_labels, test_split=test_split, max_rows=max_rows, extra_unlabeled=extra_unlabeled,
        out=out, seed=seed, seeds=seeds, batch_growth=batch_growth, live=live,
        runs_cache=runs_cache, mix_options=mix, embeddings=embeddings, initial_order=initial_order,
    )


@app.command("label-studio")
def label_studio(
    label_studio: Path | None = typer.Option(
        None, "--label-studio", exists=True, dir_okay=False,
        help="The label-studio executable (default: $PRELABEL_TEST_LABEL_STUDIO, else .venv-ls/bin/label-studio).",
    ),
    tasks: int = typer.Option(60, min=30, help="Demo tweets imported as Label Studio tasks."),
    rounds: int = typer.Option(3, min=1, help="Rounds of ten annotations (at most tasks / 10)."),
    settle: float = typer.Option(
        10.0, min=0, help="Seconds prelabel idles first (its trainer loads the sentence model)."
    ),
    timeout: float = typer.Option(120.0, min=1, help="How long to wait for each step."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the timings as JSON."),
) -> None:
    """A real Label Studio connected to a real prelabel: connect → predictions, each tenth annotation → fresher."""
    from prelabel.bench.label_studio import run

    if rounds * 10 > tasks:
        raise typer.BadParameter("--rounds of ten annotations need at least 10 * rounds --tasks")
    run(label_studio=label_studio, tasks=tasks, rounds=rounds, settle=settle, timeout=timeout, json_out=json_out)


@app.command("labelers")
def labelers(
    users: int = typer.Option(50, min=1, help="Concurrent labelers (threads of this process, one SDK client each)."),
    labels_per_user: int = typer.Option(20, min=1, help="Each labeler stops after this many labels."),
    duration: float = typer.Option(120.0, min=1, help="Wall-time limit of the labeling, in seconds."),
    think: float = typer.Option(
        0.0, min=0, help="Seconds each labeler reads a tweet before saving its label, on average (0: no pause)."
    ),
    ramp: float | None = typer.Option(
        None, min=0, help="Seconds over which the labelers start, evenly (default: --think, as people who do not all "
        "open the page in the same instant; 0: all at once)."
    ),
    rows: int | None = typer.Option(None, min=1, help="Import only the first N demo tweets (default: all)."),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Bench on this database (it gets a project and users of its own); default: a "
        "new SQLite file in a temporary data dir."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON instead of tables."),
) -> None:
    """Labelers: many concurrent labelers against a real server with its trainer running; latency, integrity."""
    from prelabel.bench.labelers import run

    run(users=users, labels_per_user=labels_per_user, duration=duration, think=think, ramp=ramp,
        database_url=database_url, rows=rows, as_json=json_out)  # fmt: skip


@app.command("scale")
def scale(
    assets: int = typer.Option(
        1_000_000, "--assets", min=100, help="Assets in the project (demo tweets, repeated with a #k suffix)."
    ),
    database_url: str | None = typer.Option(
        None, "--database-url", help="A PostgreSQL server: the bench creates a database of its own there and drops "
        "it afterwards; default: a new SQLite file in a temporary folder."
    ),
    labels: int = typer.Option(200, min=2, help="Labels given before the timed fast model."),
    readers: int = typer.Option(10, min=1, help="Concurrent readers of the pages (threads, one user each)."),
    rounds: int = typer.Option(10, min=1, help="Rounds of requests per reader."),
    encode_sample: int = typer.Option(2000, min=0, help="Texts encoded to measure texts/s (0: skip)."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON instead of a table."),
) -> None:
    """Scale: import, first model, encoding, page latency under readers and export of one large project."""
    from prelabel.bench.scale import run

    run(n=assets, database_url=database_url, labels=labels, readers=readers, rounds=rounds,
        encode_sample=encode_sample, as_json=json_out)  # fmt: skip
