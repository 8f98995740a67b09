"""store/predictions.py on every backend: model versions by id, a prediction's response, pages of predictions
(READY versions only, or all), a family's READY versions' metrics."""

from __future__ import annotations

from store_rows import assets, prediction, project, version

from prelabel.store import models as models_repo
from prelabel.store import predictions as predictions_repo
from prelabel.store.engine import Store


def test_model_versions_and_responses_are_found_within_their_project(store: Store) -> None:
    pid, other = project(store, "p"), project(store, "other")
    (aid,) = assets(store, pid, 1)
    mv, foreign = version(store, pid, 1), version(store, other, 1)
    prediction(store, pid, aid, mv, key="B")
    with store.transaction(read_only=True) as s:
        found = models_repo.model_version_of_project(s, pid, mv)
        assert found is not None and found.id == mv
        assert models_repo.model_version_of_project(s, pid, foreign) is None
        assert models_repo.model_version_by_id(s, foreign) is not None
        assert models_repo.model_version_by_id(s, 10**12) is None
        assert predictions_repo.prediction_response(s, aid, mv) == {"key": "B"}
        assert predictions_repo.prediction_response(s, aid, foreign) is None


def test_predictions_page_keeps_ready_versions_unless_asked(store: Store) -> None:
    pid = project(store)
    a0, a1 = assets(store, pid, 2)
    ready = version(store, pid, 1, name="ext")
    training = version(store, pid, 2, status="TRAINING")
    withdrawn = version(store, pid, 3, status="WITHDRAWN", tier="zero-shot")
    ids = {
        "r0": prediction(store, pid, a0, ready),
        "t0": prediction(store, pid, a0, training),
        "r1": prediction(store, pid, a1, ready),
        "w1": prediction(store, pid, a1, withdrawn),
    }

    def page(**kw: object) -> list[tuple[int, str]]:
        args: dict[str, object] = {"asset_id": None, "model_version_id": None, "after_id": None, "limit": 10}
        rows = predictions_repo.predictions_page(s, pid, **{**args, **kw})  # type: ignore[arg-type]
        return [(r.prediction.id, r.display_name) for r in rows]

    with store.transaction(read_only=True) as s:
        assert page(ready_only=True) == [(ids["r0"], "ext-1"), (ids["r1"], "ext-1")]
        assert [i for i, _ in page(ready_only=False)] == sorted(ids.values())
        assert page(ready_only=False, model_version_id=training) == [(ids["t0"], "automl-2")]
        assert page(ready_only=True, model_version_id=training) == []
        assert [i for i, _ in page(ready_only=False, asset_id=a1)] == [ids["r1"], ids["w1"]]
        assert [i for i, _ in page(ready_only=True, after_id=ids["r0"])] == [ids["r1"]]
        assert [i for i, _ in page(ready_only=False, limit=1)] == [ids["r0"]]


def test_ready_version_metrics_are_a_familys_ready_versions_newest_first(store: Store) -> None:
    pid = project(store)
    version(store, pid, 1, tier="fast", metrics={"n": 1})
    version(store, pid, 2, tier="search", metrics={"n": 2})
    version(store, pid, 3, tier="search", status="FAILED", metrics={"n": 3})
    version(store, pid, 4, tier="external", name="other", metrics={"n": 4})
    version(store, pid, 5, tier="fast", metrics={"n": 5})
    version(store, project(store, "other"), 6, tier="fast", metrics={"n": 6})
    with store.transaction(read_only=True) as s:
        got = predictions_repo.ready_version_metrics(s, pid, family="automl", limit=50)
        assert [(v.tier, v.metrics) for v in got] == [("fast", {"n": 5}), ("search", {"n": 2}), ("fast", {"n": 1})]
        assert len(predictions_repo.ready_version_metrics(s, pid, family="automl", limit=2)) == 2
