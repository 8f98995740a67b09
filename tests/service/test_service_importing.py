"""parse_records: pure parsing, no database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from service_helpers import INTERFACE

from prelabel.domain import parse_interface
from prelabel.errors import InvalidInput
from prelabel.service.importing import parse_records


def test_csv_with_ids_metadata_labels_and_honeypots() -> None:
    data = (
        b"id,text,keyword,gold,is_gold\n"
        b'1,"Forest fire, near La Ronge",fire,DISASTER,0\n'
        b"2,I love fruits,,NOT_DISASTER,yes\n"
        b'3,"multi\nline ""quoted""",,,0\n'
    )
    recs = parse_records(
        data,
        fmt="csv",
        id_column="id",
        label_column="gold",
        honeypot_column="is_gold",
        interface=parse_interface(INTERFACE),
    )
    assert [r.external_id for r in recs] == ["1", "2", "3"]
    assert recs[0].content == "Forest fire, near La Ronge" and recs[0].json_metadata == {"keyword": "fire"}
    assert recs[0].label == {"JOB_0": {"categories": [{"name": "DISASTER"}]}} and not recs[0].is_honeypot
    assert recs[1].is_honeypot and recs[1].label is None
    assert recs[1].honeypot_response == {"JOB_0": {"categories": [{"name": "NOT_DISASTER"}]}}
    assert recs[2].content == 'multi\nline "quoted"' and recs[2].label is None


def test_missing_id_column_generates_deterministic_content_ids() -> None:
    data = b"text\nhello\nworld\nhello\n"
    first = [r.external_id for r in parse_records(data, fmt="csv")]
    assert len(set(first)) == 3 and first[2] == first[0] + "-2"
    assert [r.external_id for r in parse_records(data, fmt="csv", id_column=None)] == first
    reordered = b"text\nworld\nhello\nhello\n"
    assert sorted(r.external_id for r in parse_records(reordered, fmt="csv")) == sorted(first)


def test_utf8_bom_and_non_ascii_text() -> None:
    rtl = "\u0645\u0631\u062d\u0628\u0627 \U0001f30d"  # Arabic "marhaba" and a globe emoji
    recs = parse_records(f"\ufefftext\n{rtl}\n".encode(), fmt="csv")
    assert recs[0].content == rtl


@pytest.mark.parametrize(
    ("data", "fmt", "kwargs", "message"),
    [
        ("text\ncafé\n".encode("latin-1"), "csv", {}, r"not UTF-8 text: invalid byte 0xe9 at line 2"),
        (b'external_id,text\n1,"unterminated\n', "csv", {}, "Malformed CSV|has 1 fields"),
        (
            b"external_id,text\n1,a,extra\n",
            "csv",
            {},
            r"CSV row 1 \(line 2\) has 3 fields but the header has 2",
        ),
        (b"external_id,content\n1,a\n", "csv", {}, r"Missing column\(s\) \['text'\]"),
        (b"id,text\n1,a\n", "csv", {"id_column": "key"}, r"Missing column\(s\) \['key'\]"),
        (
            b"external_id,text\n1,a\n2,   \n",
            "csv",
            {},
            r"CSV row 2 \(line 3\): the text column 'text' is empty",
        ),
        (
            b"external_id,text\n1,a\n2,b\n1,c\n",
            "csv",
            {},
            r"CSV row 3 \(line 4\): external id '1' was already used",
        ),
        (b"", "csv", {}, "CSV file is empty"),
        (b"external_id,text\n", "csv", {}, "no records"),
        (
            b'{"external_id": 1, "text": "a"}\n{"external_id": 2, "text": \n',
            "jsonl",
            {},
            "JSONL line 2 is not valid",
        ),
        (
            b'{"external_id": 1, "text": "a"}\n[1]\n',
            "jsonl",
            {},
            "JSONL line 2: each record must be a JSON object",
        ),
        (b'{"external_id": 1, "text": ""}\n', "jsonl", {}, "JSONL line 1: the text column 'text' is empty"),
        (
            b'[{"external_id": "x", "text": "a"}, {"external_id": "x", "text": "b"}]',
            "json",
            {},
            "JSON item 2",
        ),
        (b'{"text": "a"}', "json", {}, "must be an array"),
        (b"text,label\nhi,DISASTER\n", "csv", {"label_column": "label"}, "needs the project's interface"),
        (b"text\nhi\n", "xml", {}, "Unknown import format"),
    ],
)
def test_bad_files_are_refused_naming_the_row(data: bytes, fmt: str, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_records(data, fmt=fmt, **kwargs)  # type: ignore[arg-type]


def test_jsonl_and_json_records() -> None:
    lines = [
        {"external_id": 7, "text": "a", "json_metadata": {"k": 1}, "label": {"JOB_0": {"categories": []}}},
        {"external_id": "8", "text": "b", "source": "web"},
    ]
    data = "\n".join(json.dumps(x) for x in lines).encode()
    recs = parse_records(data, fmt="jsonl", label_column="label")
    assert [r.external_id for r in recs] == ["7", "8"]
    assert recs[0].json_metadata == {"k": 1} and recs[0].label == {"JOB_0": {"categories": []}}
    assert recs[1].json_metadata == {"source": "web"} and recs[1].label is None
    as_array = parse_records(json.dumps(lines).encode(), fmt="json", label_column="label")
    assert as_array == recs


def test_the_disaster_tweets_sample_parses(datasets: Path) -> None:
    raw = (datasets / "disaster_tweets" / "train.csv").read_bytes()
    recs = parse_records(raw, fmt="csv", id_column="id", metadata_columns=["keyword", "location"])
    assert len(recs) > 5000
    assert all(r.content.strip() for r in recs)
    assert set(recs[0].json_metadata) == {"keyword", "location"}
