"""store/labels.py on every backend: writing a label, pages of labels with their authors, an author's newest
label, labeled assets."""

from __future__ import annotations

from store_rows import assets, label, project, user

from prelabel.store import labels as labels_repo
from prelabel.store import tables as t
from prelabel.store.engine import Store


def test_insert_label_gives_the_label_its_id_in_the_transaction(store: Store) -> None:
    pid = project(store)
    (aid,) = assets(store, pid, 1)
    with store.transaction() as s:
        row = labels_repo.insert_label(
            s,
            project_id=pid,
            asset_id=aid,
            author_id=None,
            label_type="DEFAULT",
            json_response={"J": {"categories": [{"name": "A"}]}},
            seconds_to_label=1.5,
            model_version_id=None,
            agrees_with_prediction=None,
            created_at=t.utcnow(),
        )
        assert row.id is not None
        found = labels_repo.label_by_id(s, row.id)
        assert found is not None and found.seconds_to_label == 1.5
    with store.transaction() as s:
        labels_repo.delete_label(s, row.id)
    with store.transaction(read_only=True) as s:
        assert labels_repo.label_by_id(s, row.id) is None


def test_the_newest_label_of_an_author_is_looked_up_among_saves_of_the_same_kind(store: Store) -> None:
    pid = project(store)
    me, other = user(store, "me"), user(store, "other")
    (aid,) = assets(store, pid, 1)
    label(store, pid, aid, me)
    review = label(store, pid, aid, me, "REVIEW")
    autosave = label(store, pid, aid, me, "AUTOSAVE")
    label(store, pid, aid, other)
    with store.transaction(read_only=True) as s:
        assert labels_repo.newest_label_id(s, aid, me, autosave=False) == review
        assert labels_repo.newest_label_id(s, aid, me, autosave=True) == autosave
        assert labels_repo.newest_label_id(s, aid, other, autosave=True) is None


def test_labels_page_filters_pages_and_names_authors(store: Store) -> None:
    pid = project(store)
    uid = user(store, "ann")
    a0, a1 = assets(store, pid, 2)
    ids = [label(store, pid, a0, uid), label(store, pid, a1, None), label(store, pid, a0, uid, "REVIEW")]
    other = project(store, "other")
    label(store, other, assets(store, other, 1, prefix="x")[0], uid)  # another project's label: not listed
    with store.transaction(read_only=True) as s:
        page = labels_repo.labels_page(s, pid, asset_id=None, after_id=None, limit=10)
        assert [(r.label.id, r.author) for r in page] == [(ids[0], "ann"), (ids[1], None), (ids[2], "ann")]
        of_a0 = labels_repo.labels_page(s, pid, asset_id=a0, after_id=ids[0], limit=10)
        assert [r.label.id for r in of_a0] == [ids[2]]
        assert [r.label.id for r in labels_repo.labels_page(s, pid, asset_id=None, after_id=None, limit=1)] == ids[:1]


def test_labeled_asset_ids_count_default_and_review_labels_only(store: Store) -> None:
    pid = project(store)
    uid = user(store, "u")
    default, review, autosave, bare = assets(store, pid, 4)
    label(store, pid, default, uid)
    label(store, pid, review, uid, "REVIEW")
    label(store, pid, autosave, uid, "AUTOSAVE")
    with store.transaction(read_only=True) as s:
        assert labels_repo.labeled_asset_ids(s, [default, review, autosave, bare]) == {default, review}
        assert labels_repo.labeled_asset_ids(s, []) == set()
