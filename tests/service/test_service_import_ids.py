"""Imports that do not surprise: the id column detected by a documented rule and reported, a text that came in
once with ids made from it and once with its file's ids refused instead of duplicated, and advice spelled the
way the interface it comes through writes options. Real databases (SQLite file, PostgreSQL)."""

from __future__ import annotations

import pytest
from service_helpers import Team

from prelabel.errors import Conflict, InvalidInput
from prelabel.service import assets
from prelabel.service.importing import detect_id_column, is_text_id, parse_file, text_id
from prelabel.service.spelling import API, CLI, UI

TICKETS = b"ticket_id,text\n" + b"".join(f"T-{i},ticket text {i}\n".encode() for i in range(5))
TEXTS_ONLY = b"text\n" + b"".join(f"ticket text {i}\n".encode() for i in range(5))


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (["id", "external_id", "text", "user_id"], "external_id"),
        (["text", "id", "user_id", "ticket_id"], "id"),
        (["ID", "text"], "ID"),
        (["text", "Ticket_ID", "keyword"], "Ticket_ID"),
        (["text", "keyword"], None),
        (["text", "idea", "valid"], None),  # a name ending in "id" is not "*_id"
    ],
)
def test_the_id_column_rule(columns: list[str], expected: str | None) -> None:
    assert detect_id_column(columns, exclude=["text"])[0] == expected


def test_an_ambiguous_id_column_is_asked_for_in_the_interfaces_spelling() -> None:
    data = b"text,ticket_id,user_id\nhello,1,2\n"
    with pytest.raises(InvalidInput, match=r"several candidates: \['ticket_id', 'user_id'\]") as api:
        parse_file(data, fmt="csv")
    assert "id_column=NAME" in api.value.message and "ids_from_text=true" in api.value.message
    with pytest.raises(InvalidInput) as cli:
        parse_file(data, fmt="csv", spelling=CLI)
    assert "--id-column NAME" in cli.value.message and "--ids-from-text" in cli.value.message
    parsed = parse_file(data, fmt="csv", id_column="ticket_id")
    assert (parsed.records[0].external_id, parsed.id_source) == ("1", "column")
    assert parse_file(data, fmt="csv", ids_from_text=True).records[0].external_id == text_id("hello")


def test_a_detected_column_that_is_not_an_id_says_how_to_choose() -> None:
    data = b"text,author_id\nfirst,7\nsecond,7\n"
    with pytest.raises(InvalidInput, match="external id '7' was already used") as exc:
        parse_file(data, fmt="csv", spelling=CLI)
    assert "taken from column 'author_id'" in exc.value.message and "--ids-from-text" in exc.value.message


def test_ids_made_from_text_have_a_recognisable_shape() -> None:
    parsed = parse_file(b"text\nsame\nsame\n", fmt="csv")
    assert parsed.id_source == "text" and parsed.id_column is None
    assert all(is_text_id(r.external_id) for r in parsed.records)
    assert not is_text_id("T-1") and not is_text_id("h123") and not is_text_id(text_id("x") + "-2x")


def test_a_file_with_ids_into_a_project_of_text_ids_is_refused_not_duplicated(team: Team) -> None:
    first = assets.import_parsed(team.store, team.admin, team.pid, parse_file(TEXTS_ONLY, fmt="csv"))
    assert (first.created, first.id_source) == (5, "text")
    tickets = parse_file(TICKETS, fmt="csv")
    assert (tickets.id_column, tickets.id_source) == ("ticket_id", "detected")
    with pytest.raises(Conflict, match="5 text\\(s\\) of this import are already in project") as exc:
        assets.import_parsed(team.store, team.admin, team.pid, tickets)
    assert "ids_from_text=true" in exc.value.message and "allow_duplicate_texts=true" in exc.value.message
    assert exc.value.details["examples"][0] == {"external_id": "T-0", "existing": text_id("ticket text 0")}
    assert assets.count_assets(team.store, team.admin, team.pid) == 5  # nothing written
    # the advice works: ids from the text match the assets already there
    again = assets.import_parsed(
        team.store, team.admin, team.pid, parse_file(TICKETS, fmt="csv", ids_from_text=True), on_conflict="skip"
    )
    assert (again.created, again.skipped) == (0, 5)
    forced = assets.import_parsed(team.store, team.admin, team.pid, tickets, allow_duplicate_texts=True)
    assert forced.created == 5 and assets.count_assets(team.store, team.admin, team.pid) == 10


def test_a_file_without_ids_into_a_project_with_ids_is_refused_in_cli_spelling(team: Team) -> None:
    assets.import_parsed(team.store, team.admin, team.pid, parse_file(TICKETS, fmt="csv"))
    with pytest.raises(Conflict) as exc:
        assets.import_parsed(team.store, team.admin, team.pid, parse_file(TEXTS_ONLY, fmt="csv"), spelling=CLI)
    assert "--id-column NAME" in exc.value.message and "--allow-duplicate-texts" in exc.value.message
    assert assets.count_assets(team.store, team.admin, team.pid) == 5


def test_same_kind_ids_and_new_texts_import_as_before(team: Team) -> None:
    assets.import_parsed(team.store, team.admin, team.pid, parse_file(TEXTS_ONLY, fmt="csv"))
    more = b"text\nticket text 0\nsomething new\n"  # a repeated text gets its own "-2" id, as always
    result = assets.import_parsed(team.store, team.admin, team.pid, parse_file(more, fmt="csv"), on_conflict="skip")
    assert (result.created, result.skipped) == (1, 1)
    assets.import_parsed(team.store, team.admin, team.pid, parse_file(b"id,text\nA,x\n", fmt="csv"))
    same_text = assets.import_parsed(team.store, team.admin, team.pid, parse_file(b"id,text\nB,x\n", fmt="csv"))
    assert same_text.created == 1  # one text under two ids of one kind: the files' choice, not a mix-up


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        (API, "on_conflict=skip"),
        (CLI, "--on-conflict skip"),
        (UI, "“Skip it” under “Asset ID already in the project”"),
    ],
)
def test_the_existing_ids_conflict_speaks_the_interfaces_language(team: Team, spelling: object, expected: str) -> None:
    parsed = parse_file(TICKETS, fmt="csv")
    assets.import_parsed(team.store, team.admin, team.pid, parsed)
    with pytest.raises(Conflict) as exc:
        assets.import_parsed(team.store, team.admin, team.pid, parsed, spelling=spelling)  # type: ignore[arg-type]
    assert expected in exc.value.message
    assert "'skip'" not in exc.value.message
