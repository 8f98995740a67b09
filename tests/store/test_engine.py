"""The Store's transaction scope on SQLite: the threads of one process take turns for the write lock before
they begin, readers do not wait for a writer."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from prelabel.store import users as users_sql
from prelabel.store.engine import Store

HOLD_S = 0.3


def _store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'engine.db'}")
    store.upgrade()
    return store


def test_sqlite_writers_of_one_process_start_after_the_previous_commit(tmp_path: Path) -> None:
    store = _store(tmp_path)
    first_inside = threading.Event()
    times: dict[str, float] = {}

    def first() -> None:
        with store.transaction() as s:
            users_sql.add_user(s, "first", "x", is_superuser=False)
            first_inside.set()
            time.sleep(HOLD_S)
        times["first_done"] = time.monotonic()

    def second() -> None:
        first_inside.wait()
        with store.transaction() as s:
            times["second_began"] = time.monotonic()
            users_sql.add_user(s, "second", "x", is_superuser=False)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    # the second writer's body ran only once the first had committed, not as soon as it asked
    assert times["second_began"] >= times["first_done"] - 0.01
    with store.transaction(read_only=True) as s:
        assert {u.username for u in users_sql.list_users(s)} == {"first", "second"}
    store.dispose()


def test_sqlite_readers_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with store.transaction() as s:
        users_sql.add_user(s, "before", "x", is_superuser=False)
    writing = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with store.transaction() as s:
            users_sql.add_user(s, "during", "x", is_superuser=False)
            writing.set()
            release.wait(10)

    th = threading.Thread(target=writer)
    th.start()
    writing.wait()
    began = time.monotonic()
    with store.transaction(read_only=True) as s:
        names = {u.username for u in users_sql.list_users(s)}
    waited = time.monotonic() - began
    release.set()
    th.join()
    assert names == {"before"}  # the writer's uncommitted row is not seen
    assert waited < 5  # and the read did not wait for its commit (released only after the read)
    store.dispose()
