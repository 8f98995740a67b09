"""Writes the committed samples under tests/data/datasets/ from the full shared data sets.

A maintainer's tool, not part of the suite: `python tests/data/make_samples.py /path/to/shared/datasets`.
The draws are seeded, so running it again writes the same files.
"""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "datasets"


def _csv_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _write_csv(path: Path, fields: list[str], rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def bbc(shared: Path, per_class: int = 60) -> None:
    """`per_class` articles of each topic, full text, in the source file's order (sorted by topic)."""
    fields, rows = _csv_rows(shared / "bbc_news" / "train.csv")
    rng = random.Random(0)
    keep: set[int] = set()
    for label in sorted({r["label"] for r in rows}):
        keep.update(rng.sample([i for i, r in enumerate(rows) if r["label"] == label], per_class))
    _write_csv(OUT / "bbc_news" / "train.csv", fields, [r for i, r in enumerate(rows) if i in keep])


def sms(shared: Path, n: int = 1000) -> None:
    fields, rows = _csv_rows(shared / "sms_spam" / "train.csv")
    keep = set(random.Random(0).sample(range(len(rows)), n))
    _write_csv(OUT / "sms_spam" / "train.csv", fields, [r for i, r in enumerate(rows) if i in keep])


def jsonl(shared: Path, name: str, n: int) -> None:
    """`n` records drawn at random, plus, for a label the draw missed, a record carrying it (another seeded draw)."""
    lines = (shared / name / "train.jsonl").read_text(encoding="utf-8").splitlines()
    drawn = set(random.Random(0).sample(range(len(lines)), n))
    labels = [set(json.loads(line)["labels"]) for line in lines]
    covered = set().union(*(labels[i] for i in drawn))
    for i in random.Random(1).sample(range(len(lines)), len(lines)):
        if labels[i] - covered:
            drawn.add(i)
            covered |= labels[i]
    keep = sorted(drawn)
    out = OUT / name / "train.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(json.loads(lines[i]), ensure_ascii=False) + "\n" for i in keep), "utf-8")


if __name__ == "__main__":
    source = Path(sys.argv[1])
    bbc(source)
    sms(source)
    jsonl(source, "reuters21578_top20", 400)
    jsonl(source, "goemotions", 500)
