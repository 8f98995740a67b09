"""The trainer encodes a project's texts in the order labelers meet them: labeled assets, then the one being
labeled, then the queue's head by priority, then the rest; in small chunks, with progress. Real SQLite store,
real tweets, the real sentence model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from loophelpers import label, make_world, read_csv
from sqlalchemy import select

from prelabel.automl.embeddings import count_missing, embeddings_available
from prelabel.service import queue
from prelabel.store import jobs as sql
from prelabel.store import tables as t
from prelabel.store.engine import Store
from prelabel.worker import trainer as trainer_mod
from prelabel.worker.trainer import Trainer

pytestmark = [
    pytest.mark.embeddings,
    pytest.mark.skipif(not embeddings_available(), reason="prelabel[embeddings] is not installed"),
]


def test_the_labeled_assets_and_the_queue_head_are_encoded_first(
    store: Store, datasets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = list(dict.fromkeys(r["text"] for r in read_csv(datasets / "disaster_tweets" / "train.csv", 40)))
    w = make_world(store, texts, settings={"train_debounce_s": 0.0, "use_embeddings": True,
                                           "queue_initial_order": "random", "search_enabled": False})  # fmt: skip
    by_id = dict(zip(w.asset_ids, texts, strict=True))
    for aid in w.asset_ids[-3:]:  # labeled: the last imported, so id order alone would encode them last
        label(w, aid, "SPORT")
    head = w.asset_ids[10:15]
    with store.transaction() as s:  # the queue will serve these five next, highest first
        sql.set_priorities(s, w.project_id, [(a, 10.0 + i) for i, a in enumerate(head)])
    taken = queue.next_asset(store, w.labeler, w.project_id)  # the labeler now looks at the top one: ONGOING
    assert taken is not None and taken.id == head[-1]

    calls: list[list[str]] = []
    real_embed = trainer_mod.embed

    def recording_embed(chunk: Sequence[str], cache_dir: Any, **kw: Any) -> Any:
        calls.append([c for c in chunk if count_missing([c], cache_dir)])  # what this call really encodes
        return real_embed(chunk, cache_dir, **kw)

    monkeypatch.setattr(trainer_mod, "embed", recording_embed)
    progress: list[tuple[str, float, str]] = []
    trainer = Trainer(store, cache_dir=str(tmp_path), progress=lambda *p: progress.append(p))
    trainer.ENCODE_CHUNK = 8
    result = trainer.run_once(project_id=w.project_id)
    assert result is not None and result.tier == "prepare", result

    encoded = [x for call in calls for x in call]
    labeled = [by_id[a] for a in w.asset_ids[-3:]]
    assert sorted(encoded[:3]) == sorted(labeled)  # first what the next model trains on
    assert encoded[3] == by_id[taken.id]  # then the text on the labeler's screen
    assert encoded[4:8] == [by_id[a] for a in reversed(head[:-1])]  # then the queue's head, highest first
    assert encoded == [by_id[a] for a in _expected_order(store, w.project_id)]  # then the rest: every text once
    assert sorted(encoded) == sorted(texts)
    assert max(len(c) for c in calls) <= 8 and len(calls) == -(-len(texts) // 8)
    fractions = [f for phase, f, _ in progress if phase == "embed"]
    assert len(fractions) == len(calls) and fractions == sorted(fractions)  # one report per chunk, moving on


def _expected_order(store: Store, project_id: int) -> list[int]:
    """The serving order by hand: labeled, ongoing, then by priority (highest first), ties by id."""
    rank = {"LABELED": 0, "TO_REVIEW": 0, "REVIEWED": 0, "ONGOING": 1}
    with store.transaction(read_only=True) as s:
        rows = s.execute(
            select(t.Asset.id, t.Asset.status, t.Asset.priority).where(t.Asset.project_id == project_id)
        ).all()
    return [int(a) for a, _, _ in sorted(rows, key=lambda r: (rank.get(str(r[1]), 2), -float(r[2]), int(r[0])))]


def test_a_prepare_jobs_progress_is_the_share_of_texts_encoded(
    store: Store, datasets: Path, tmp_path: Path
) -> None:
    """The dashboard's bar (the job's progress) and its message "encoding texts i/n" tell the same story."""
    texts = list(dict.fromkeys(r["text"] for r in read_csv(datasets / "disaster_tweets" / "train.csv", 60)))
    w = make_world(store, texts, settings={"train_debounce_s": 0.0, "use_embeddings": True, "zero_shot": False,
                                           "queue_initial_order": "random", "search_enabled": False})  # fmt: skip
    progress: list[tuple[str, float, str]] = []
    trainer = Trainer(store, cache_dir=str(tmp_path), progress=lambda *p: progress.append(p))
    trainer.ENCODE_CHUNK = 8
    result = trainer.run_once(project_id=w.project_id)
    assert result is not None and result.tier == "prepare", result

    reports = [(f, msg) for phase, f, msg in progress if phase == "embed"]
    assert len(reports) == -(-len(texts) // 8)
    for fraction, message in reports:
        done, total = (int(x) for x in message.split()[2].split("/"))
        assert total == len(texts)
        assert fraction == pytest.approx(done / total, abs=0.03), message
    assert reports[-1][0] > 0.8  # the last chunk starts near the end: the bar is almost full
