"""store/assets.py on every backend: single assets by id and external id, and deleting assets with their
children."""

from __future__ import annotations

from sqlalchemy import func, select
from store_rows import assets, label, prediction, project, user, version

from prelabel.store import assets as assets_repo
from prelabel.store import tables as t
from prelabel.store.engine import Store


def test_an_asset_is_found_only_in_its_own_project(store: Store) -> None:
    pid, other = project(store, "p"), project(store, "other")
    (aid,) = assets(store, pid, 1)
    (foreign,) = assets(store, other, 1, prefix="f")
    with store.transaction(read_only=True) as s:
        assert not assets_repo.project_has_assets(s, project(store, "empty"))
        assert assets_repo.project_has_assets(s, pid)
        found = assets_repo.asset_of_project(s, pid, aid)
        assert found is not None and found.external_id == "e0"
        assert assets_repo.asset_of_project(s, pid, foreign) is None
        assert assets_repo.asset_of_project(s, pid, 10**12) is None
        by_ext = assets_repo.asset_by_external_id(s, pid, "e0")
        assert by_ext is not None and by_ext.id == aid
        assert assets_repo.asset_by_external_id(s, pid, "f0") is None  # another project's external id


def test_deleting_assets_deletes_their_labels_and_predictions_only(store: Store) -> None:
    pid = project(store)
    uid = user(store, "u")
    gone, kept = assets(store, pid, 2)
    mv = version(store, pid, 1)
    for aid in (gone, kept):
        label(store, pid, aid, uid)
        prediction(store, pid, aid, mv)
    with store.transaction() as s:
        assets_repo.delete_assets(s, [gone])
    with store.transaction(read_only=True) as s:
        assert list(s.scalars(select(t.Asset.id))) == [kept]
        assert list(s.scalars(select(t.Label.asset_id))) == [kept]
        assert list(s.scalars(select(t.Prediction.asset_id))) == [kept]
        assert s.scalar(select(func.count()).select_from(t.ModelVersion)) == 1
