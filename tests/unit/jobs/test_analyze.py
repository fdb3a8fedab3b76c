"""``analyze``: statistics computed in Python (checked against hand-computed values), tables, narrative, guards."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from crewhouse.jobs.types import analyze
from crewhouse.jobs.types.analyze import compute_statistics, read_table
from crewhouse.jobs.types.base import PermanentJobError
from tests.unit.jobs.fakes import FakeSources, Progress, RecordingLLM, run_job

SALES_CSV = (b"region,amount,product\n"
             b"north,10,a\n"
             b"south,20,b\n"
             b"north,30,a\n"
             b"west,,c\n"
             b"south,5,a\n")
SALES = FakeSources(files={"f1": ("sales.csv", "text/csv", SALES_CSV)})


def _stats(data: bytes = SALES_CSV, name: str = "sales.csv", content_type: str = "text/csv",
           columns: list[str] | None = None, group_by: str | None = None) -> dict[str, Any]:
    header, rows = read_table(name, content_type, data)
    return compute_statistics(name, header, rows, columns, group_by)


def test_numeric_statistics_match_hand_computed_values() -> None:
    (amount,) = _stats()["numeric"]
    # amount: 10, 20, 30, 5 (one missing). Mean 65/4; median (10+20)/2; sample variance
    # ((-6.25)² + 3.75² + 13.75² + (-11.25)²) / 3 = 368.75 / 3.
    assert amount["count"] == 4 and amount["missing"] == 1
    assert (amount["min"], amount["max"], amount["mean"], amount["median"]) == (5, 30, 16.25, 15)
    assert amount["stdev"] == pytest.approx(math.sqrt(368.75 / 3))


def test_text_columns_get_counts_and_top_values() -> None:
    region, product = _stats()["text"]
    assert region == {"column": "region", "kind": "text", "count": 5, "missing": 0, "distinct": 3,
                      "top": [["north", 2], ["south", 2], ["west", 1]]}
    assert product["top"][0] == ["a", 3]


def test_group_by_counts_rows_and_averages_numbers() -> None:
    grouped = _stats(group_by="region")["group_by"]
    assert grouped == {"column": "region", "total_groups": 3, "groups": [
        {"value": "north", "rows": 2, "means": {"amount": 20.0}},
        {"value": "south", "rows": 2, "means": {"amount": 12.5}},
        {"value": "west", "rows": 1, "means": {"amount": None}},
    ]}


def test_a_json_array_of_objects_is_read_too() -> None:
    data = json.dumps([{"city": "Oslo", "temp": -3.5, "sunny": True}, {"city": "Rome", "temp": 14},
                       {"city": "Oslo", "temp": None, "sunny": False}]).encode()
    stats = _stats(data, "weather.json", "application/json", columns=["temp", "sunny"])
    (temp,) = stats["numeric"]
    assert (temp["count"], temp["missing"], temp["min"], temp["max"], temp["mean"]) == (2, 1, -3.5, 14, 5.25)
    (sunny,) = stats["text"]
    assert sunny["top"] == [["false", 1], ["true", 1]] and sunny["missing"] == 1  # booleans are not numbers
    assert stats["dataset"] == {"name": "weather.json", "rows": 3, "columns": 3}


def test_semicolons_and_missing_markers_are_understood() -> None:
    stats = _stats(b"name;score\nann;1.5\nbob;N/A\ncid;2.5\n", "scores.csv")
    (score,) = stats["numeric"]
    assert (score["count"], score["missing"], score["mean"]) == (2, 1, 2.0)


def test_the_job_writes_tables_and_an_offline_narrative() -> None:
    progress = Progress()
    llm = RecordingLLM()
    output = run_job("analyze", {"file_id": "f1", "group_by": "region"}, SALES, llm=llm, progress=progress)
    assert output.title == "Analysis: sales.csv"
    markdown = output.markdown
    assert "| amount | 4 | 1 | 5 | 30 | 16.25 | 15 | 11.0868 |" in markdown
    assert "| region | 5 | 0 | 3 | north (2), south (2), west (1) |" in markdown
    assert "| north | 2 | 20 |" in markdown and "| west | 1 | n/a |" in markdown
    assert "(offline assistant) Generated offline, without a language model" in markdown
    assert "amount ranges from 5 to 30, with a mean of 16.25 and a median of 15." in markdown
    assert "computed exactly from all 5 rows and 3 columns" in markdown
    assert output.citations == [{"n": 1, "kind": "file", "ref": "f1", "title": "sales.csv"}]
    assert progress.percents == [10, 40, 60, 90]
    assert '<statistics format="json">' in llm.user_text  # the model gets the numbers, it does not make them


def test_pipes_in_values_do_not_break_the_table() -> None:
    header, rows = read_table("t.csv", "text/csv", b'label\n"a|b"\n')
    tables = analyze.render_tables(compute_statistics("t.csv", header, rows, None, None))
    assert "| label | 1 | 0 | 1 | a\\|b (1) |" in tables


@pytest.mark.parametrize(("name", "content_type", "data", "message"), [
    ("photo.png", "image/png", b"\x89PNG", "analyze reads CSV files and JSON arrays"),
    ("bad.json", "application/json", b'{"a": 1}', "needs an array of objects"),
    ("bad.json", "application/json", b"[1, 2]", "item 0 is not an object"),
    ("broken.json", "application/json", b"[{", "not valid JSON"),
    ("empty.csv", "text/csv", b"a,b\n", "no rows"),
])
def test_unreadable_files_fail_for_good(name: str, content_type: str, data: bytes, message: str) -> None:
    with pytest.raises(PermanentJobError, match=message):
        read_table(name, content_type, data)


def test_unknown_columns_are_named() -> None:
    with pytest.raises(PermanentJobError, match=r"no column 'price'.*region, amount, product"):
        _stats(columns=["amount", "price"])
    with pytest.raises(PermanentJobError, match="no column 'city'"):
        _stats(group_by="city")


def test_size_and_row_guards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analyze, "MAX_FILE_BYTES", 40)
    with pytest.raises(PermanentJobError, match="analyze reads files of at most"):
        read_table("sales.csv", "text/csv", SALES_CSV)
    monkeypatch.setattr(analyze, "MAX_FILE_BYTES", 10 * 1024 * 1024)
    monkeypatch.setattr(analyze, "MAX_ROWS", 4)
    with pytest.raises(PermanentJobError, match="more than 4 rows"):
        read_table("sales.csv", "text/csv", SALES_CSV)
    with pytest.raises(PermanentJobError, match="more than 4 rows"):
        read_table("rows.json", "application/json", json.dumps([{"a": i} for i in range(5)]).encode())


def test_a_missing_file_fails_for_good() -> None:
    with pytest.raises(PermanentJobError, match="f9"):
        run_job("analyze", {"file_id": "f9"}, SALES)
