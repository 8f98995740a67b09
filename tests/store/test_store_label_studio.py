"""store/label_studio.py's writes on every backend: saving and deleting a project's Label Studio link."""

from __future__ import annotations

from store_rows import project, user

from prelabel.store import label_studio as ls_repo
from prelabel.store.engine import Store


def test_save_link_creates_then_updates_the_projects_one_link(store: Store) -> None:
    pid = project(store)
    uid = user(store, "admin")
    with store.transaction() as s:
        ls_repo.save_link(
            s, pid, ls_project="7.1700000000", label_config="<View/>", ls_host="http://ls", created_by=uid
        )
    with store.transaction() as s:
        ls_repo.save_link(s, pid, ls_project="ignored", label_config="<View></View>", ls_host="", created_by=None)
    with store.transaction(read_only=True) as s:
        link = ls_repo.link_of_project(s, pid)
        assert link is not None
        assert (link.ls_project, link.label_config, link.ls_host, link.created_by) == (
            "7.1700000000",
            "<View></View>",
            "http://ls",
            uid,  # an empty host keeps the one stored
        )
        assert [x.project_id for x in ls_repo.links_of(s, "7.1700000000", None)] == [pid]
    with store.transaction() as s:
        ls_repo.delete_link(s, link)
    with store.transaction(read_only=True) as s:
        assert ls_repo.link_of_project(s, pid) is None
