"""The original pre-annotation workflow, ported to prelabel's SDK.

The original script (a Kili tutorial for the Kaggle disaster tweets) appended the tweets to a project,
then looped forever: sleep 60 s, export the first 100 assets, keep their DEFAULT labels, vectorise with
TF-IDF, fit auto-sklearn for 200 s, and push predictions named ``automl-{version}`` with confidence 100.
This port keeps its shape and method names (``append_many_to_dataset``, ``projects``, ``assets``) and fixes
its defects:

- it reads ALL assets (the SDK's keyset iterator), not the first 100;
- it keeps REVIEW labels (a reviewer's label overrides the labeler's), not only DEFAULT ones;
- each round is a new version of the model family ``example-automl`` numbered by the server
  (``example-automl-4``: the name the version and its predictions carry), so a restart never reuses a name
  (the original reset its counter inside the loop);
- predictions carry the classifier's real probabilities (``confidence`` 0-100 and per-class
  ``probabilities``), not a constant 100;
- it retrains when enough new labels have arrived (``--min-new-labels``), polling every ``--poll`` seconds,
  instead of blindly every 60 s;
- the classifier is ``prelabel.automl.AutoTextClassifier`` when it is importable, else the original TF-IDF +
  SelectKBest(f_classif) pipeline with a logistic regression in place of auto-sklearn.

Its model is an external model to prelabel (tier ``external``): where the server's own trainer has predicted a
text, labelers keep seeing the trainer's suggestions (project setting ``suggestions_from``, default ``trainer``)
and the script prints the server's note saying so; ``suggestions_from=external`` shows the script's first.

Run it against ``prelabel demo`` (which prints the token and project id)::

    python examples/original_workflow.py --url http://127.0.0.1:8000 --token pl_... --project 1
    python examples/original_workflow.py ... --once          # a single round, then exit

``--import-csv FILE`` first appends a CSV's ``text`` column as assets (ids ``<prefix><id>``; existing ids are
skipped), as the original did with the Kaggle files.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from typing import Any

from prelabel import Client

FAMILY = "example-automl"


# --- the original's steps, ported ---------------------------------------------------------------------------
def append_csv(
    client: Client, project_id: int, path: str, prefix: str, text_column: str, id_column: str
) -> int:
    """Append a CSV's texts as assets (idempotent: external ids already present are skipped)."""
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    content_array = [r[text_column] for r in rows]
    external_id_array = [f"{prefix}{r[id_column]}" for r in rows]
    json_metadata_array = [
        {k: v for k, v in r.items() if k not in (text_column, id_column) and v} for r in rows
    ]
    result = client.append_many_to_dataset(
        project_id,
        content_array,
        external_id_array,
        json_metadata_array=json_metadata_array,
        on_conflict="skip",
    )
    return int(result["created"])


def effective_label(labels: list[dict[str, Any]], job: str) -> str | None:
    """The category of the label that counts: the newest REVIEW label, else the newest DEFAULT one."""
    for wanted in ("REVIEW", "DEFAULT"):
        for label in labels:  # latest first
            if label["labelType"] == wanted:
                cats = label["jsonResponse"].get(job, {}).get("categories", [])
                return cats[0]["name"] if cats else None
    return None


def extract_train_and_rest(
    client: Client, project_id: int, job: str
) -> tuple[list[str], list[str], list[str], list[str]]:
    """(texts, labels) of the labeled assets and (texts, external ids) of the rest — over every asset."""
    x, y, x_rest, ids_rest = [], [], [], []
    for asset in client.iter_assets(project_id, page_size=1000):
        labels = [{"labelType": lb.label_type, "jsonResponse": lb.json_response} for lb in asset.labels]
        category = effective_label(labels, job)
        if category is not None:
            x.append(asset.content)
            y.append(category)
        else:
            x_rest.append(asset.content)
            ids_rest.append(asset.external_id)
    return x, y, x_rest, ids_rest


def make_classifier(budget: float) -> Any:
    """AutoTextClassifier when available; else the original features with a logistic regression."""
    try:
        from prelabel.automl import AutoTextClassifier
    except ImportError:
        AutoTextClassifier = None
    if AutoTextClassifier is not None:
        return AutoTextClassifier(time_budget=budget, random_state=0)
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), strip_accents="unicode", decode_error="replace", min_df=2),
        SelectKBest(f_classif, k="all"),
        LogisticRegression(max_iter=1000, class_weight="balanced"),
    )


def prediction_responses(job: str, classes: list[str], proba: Any) -> list[dict[str, Any]]:
    out = []
    for row in proba:
        probs = {str(c): float(p) for c, p in zip(classes, row, strict=True)}
        best = max(probs, key=lambda c: probs[c])
        out.append(
            {
                job: {
                    "categories": [{"name": best, "confidence": round(100 * probs[best])}],
                    "probabilities": probs,
                }
            }
        )
    return out


def one_round(client: Client, project_id: int, job: str, budget: float) -> dict[str, Any]:
    """Read every asset, train on the labeled ones, push predictions for the rest."""
    x, y, x_rest, ids_rest = extract_train_and_rest(client, project_id, job)
    if len(set(y)) < 2:
        return {"trained": False, "n_labels": len(y), "reason": "need labels of at least two categories"}
    if not x_rest:
        return {"trained": False, "n_labels": len(y), "reason": "every asset is labeled"}
    started = time.monotonic()
    clf = make_classifier(budget)
    clf.fit(x, y)
    proba = clf.predict_proba(x_rest)
    classes = [str(c) for c in clf.classes_]
    items = [
        {"external_id": e, "json_response": r}
        for e, r in zip(ids_rest, prediction_responses(job, classes, proba), strict=True)
    ]
    pushed = client.push_predictions_report(project_id, items, model_name=FAMILY, new_version=True)
    if pushed.get("note"):
        print(pushed["note"], flush=True)
    return {
        "trained": True,
        "n_labels": len(y),
        "n_predicted": len(ids_rest),
        "model_name": pushed["model_name"],
        "cv_score": getattr(clf, "best_score_", None),
        "seconds": round(time.monotonic() - started, 1),
    }


def count_labels(client: Client, project_id: int) -> int:
    return client.project_stats(project_id).n_labeled


# --- main loop
# ------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("PRELABEL_URL", "http://127.0.0.1:8000"))
    parser.add_argument(
        "--token", default=os.environ.get("PRELABEL_TOKEN"), help="API token (PRELABEL_TOKEN)"
    )
    parser.add_argument("--project", type=int, default=None, help="project id (default: 'Disaster tweets')")
    parser.add_argument("--job", default=None, help="the job to learn (default: the interface's first job)")
    parser.add_argument("--import-csv", default=None, help="append this CSV's texts as assets first")
    parser.add_argument("--id-prefix", default="test-", help="external id prefix for --import-csv")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--id-column", default="id")
    parser.add_argument("--min-new-labels", type=int, default=10, help="retrain after this many new labels")
    parser.add_argument("--poll", type=float, default=10.0, help="seconds between checks for new labels")
    parser.add_argument("--budget", type=float, default=30.0, help="training time budget in seconds")
    parser.add_argument("--once", action="store_true", help="run one round and exit")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("give --token or set PRELABEL_TOKEN (prelabel demo prints one)")

    with Client(args.url, args.token) as client:
        if args.project is None:
            found = [p for p in client.projects() if p["title"] == "Disaster tweets"]
            if not found:
                parser.error("no project 'Disaster tweets'; pass --project ID")
            args.project = found[0]["id"]
        project = client.projects(project_id=args.project)[0]
        jobs = project["jsonInterface"]["jobs"]
        job = args.job or next(iter(jobs))
        categories = list(jobs[job]["content"]["categories"])
        print(f"project {project['title']!r}: job {job} with categories {categories}")

        if args.import_csv:
            created = append_csv(
                client, args.project, args.import_csv, args.id_prefix, args.text_column, args.id_column
            )
            print(f"appended {created} new assets from {args.import_csv}")

        trained_at: int | None = None
        while True:
            n_labels = count_labels(client, args.project)
            if trained_at is None or n_labels - trained_at >= args.min_new_labels:
                if n_labels >= args.min_new_labels:
                    report = one_round(client, args.project, job, args.budget)
                    print(report, flush=True)
                    if report["trained"]:
                        trained_at = report["n_labels"]
                else:
                    print(f"{n_labels} labels so far; waiting for {args.min_new_labels}", flush=True)
            if args.once:
                return 0
            time.sleep(args.poll)


if __name__ == "__main__":
    sys.exit(main())
