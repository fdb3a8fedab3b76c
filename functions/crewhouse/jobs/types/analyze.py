"""``analyze``: a CSV file or a JSON array of objects becomes statistics, markdown tables and a short narrative.

The statistics are computed here, exactly, from every row; the model only writes the narrative paragraph
(from the statistics it is given), so no number in the result comes from a model.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from crewhouse.jobs.registry import register
from crewhouse.jobs.types.base import JobOutput, JobRun, PermanentJobError
from crewhouse.jobs.types.common import ask, assemble, citation, footer, params_as, sources_section
from crewhouse.llm.job_prompts import format_number, section

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_ROWS = 200_000
MAX_COLUMNS = 200
TOP_VALUES = 5
MAX_GROUPS = 20
MAX_MEAN_COLUMNS = 6  # columns of means in the group table, so that it stays readable
MISSING = frozenset({"", "na", "n/a", "null", "none", "nan", "-"})
CELL_CHARS = 60

Row = dict[str, Any]
ColumnName = Annotated[str, Field(min_length=1, max_length=200)]


class AnalyzeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_id: str = Field(min_length=1, max_length=64, description="A CSV file or a JSON array of objects (≤ 10 MB)")
    columns: list[ColumnName] | None = Field(default=None, min_length=1, max_length=50,
                                             description="Only these columns (default: all)")
    group_by: ColumnName | None = Field(default=None, description="Count rows and average the numeric columns "
                                                                  "per value of this column")


# --- reading ---------------------------------------------------------------------------------------------------


def _format_of(name: str, content_type: str, text: str) -> str:
    base = content_type.split(";", 1)[0].strip().lower()
    lower = name.lower()
    if base in ("application/json", "text/json") or lower.endswith(".json"):
        return "json"
    if base in ("text/csv", "application/csv", "text/tab-separated-values") or lower.endswith((".csv", ".tsv")):
        return "csv"
    if base.startswith("text/"):
        return "json" if text.lstrip().startswith("[") else "csv"
    raise PermanentJobError(f"{name} is {base}: analyze reads CSV files and JSON arrays of objects.")


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # every byte is a character: spreadsheets often export Windows-1252


def _csv_rows(name: str, text: str) -> tuple[list[str], list[Row]]:
    import csv
    import io

    try:
        dialect: Any = csv.Sniffer().sniff(text[:64 * 1024], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel  # one column, or too regular to tell: plain commas
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader, None)
        if not header:
            raise PermanentJobError(f"{name} is empty.")
        columns = _unique_names(header)
        rows: list[Row] = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # blank line
            if len(rows) == MAX_ROWS:
                raise PermanentJobError(f"{name} has more than {MAX_ROWS:,} rows; analyze reads at most that many.")
            rows.append({column: cells[i] if i < len(cells) else None for i, column in enumerate(columns)})
    except csv.Error as exc:
        raise PermanentJobError(f"{name} is not a readable CSV file: {exc}") from exc
    return columns, rows


def _unique_names(header: Sequence[str]) -> list[str]:
    """Header cells as column names: blanks named by position, repeats numbered."""
    names: list[str] = []
    for index, cell in enumerate(header, 1):
        name = cell.strip() or f"column_{index}"
        base, copy = name, 2
        while name in names:
            name, copy = f"{base}_{copy}", copy + 1
        names.append(name)
    return names


def _json_rows(name: str, text: str) -> tuple[list[str], list[Row]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PermanentJobError(f"{name} is not valid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise PermanentJobError(f"{name} holds a JSON {type(data).__name__}; analyze needs an array of objects.")
    if len(data) > MAX_ROWS:
        raise PermanentJobError(f"{name} has more than {MAX_ROWS:,} rows; analyze reads at most that many.")
    columns: dict[str, None] = {}
    for index, row in enumerate(data):
        if not isinstance(row, dict):
            raise PermanentJobError(f"{name}: item {index} is not an object; analyze needs an array of objects.")
        columns.update(dict.fromkeys(str(k) for k in row))
    return list(columns), [{str(k): v for k, v in row.items()} for row in data]


def read_table(name: str, content_type: str, data: bytes) -> tuple[list[str], list[Row]]:
    """``(columns, rows)`` of a CSV file or a JSON array of objects."""
    if len(data) > MAX_FILE_BYTES:
        raise PermanentJobError(f"{name} has {len(data):,} bytes; analyze reads files of at most "
                                f"{MAX_FILE_BYTES // (1024 * 1024)} MB.")
    text = _decode(data)
    columns, rows = (_json_rows if _format_of(name, content_type, text) == "json" else _csv_rows)(name, text)
    if not rows:
        raise PermanentJobError(f"{name} has no rows to analyze.")
    return columns, rows


# --- statistics ------------------------------------------------------------------------------------------------


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in MISSING)


def as_number(value: Any) -> float | None:
    """The value as a finite number; None when it is not one (booleans are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        if "_" in value:
            return None  # Python reads "1_000" as a number; in a data file it is a code
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value, sort_keys=True, ensure_ascii=False)  # numbers, booleans, nested values


def _median(ordered: Sequence[float]) -> float:
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def numeric_summary(numbers: Sequence[float]) -> dict[str, float | None]:
    """Min, max, mean, median and the sample standard deviation (None below two values)."""
    count = len(numbers)
    if not count:
        return {"min": None, "max": None, "mean": None, "median": None, "stdev": None}
    mean = math.fsum(numbers) / count
    stdev = math.sqrt(math.fsum((x - mean) ** 2 for x in numbers) / (count - 1)) if count > 1 else None
    return {"min": min(numbers), "max": max(numbers), "mean": mean, "median": _median(sorted(numbers)),
            "stdev": stdev}


def profile(column: str, values: Sequence[Any]) -> dict[str, Any]:
    """One column's statistics: numeric when every present value is a number, text otherwise."""
    present = [v for v in values if not is_missing(v)]
    missing = len(values) - len(present)
    numbers = [as_number(v) for v in present]
    if present and all(n is not None for n in numbers):
        return {"column": column, "kind": "numeric", "count": len(present), "missing": missing,
                **numeric_summary([n for n in numbers if n is not None])}
    counts = Counter(as_text(v) for v in present)
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_VALUES]
    return {"column": column, "kind": "text", "count": len(present), "missing": missing, "distinct": len(counts),
            "top": [[value, count] for value, count in top]}


def group_statistics(rows: Sequence[Row], group_by: str, numeric_columns: Sequence[str]) -> dict[str, Any]:
    """Rows per value of ``group_by`` (missing values form one group) and the mean of each numeric column."""
    sizes: Counter[str] = Counter()
    numbers: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        value = row.get(group_by)
        key = "(missing)" if is_missing(value) else as_text(value)
        sizes[key] += 1
        for column in numeric_columns:
            number = None if is_missing(row.get(column)) else as_number(row.get(column))
            if number is not None:
                numbers[key][column].append(number)
    ordered = sorted(sizes.items(), key=lambda item: (-item[1], item[0]))
    groups = [{"value": key, "rows": size,
               "means": {c: (math.fsum(numbers[key][c]) / len(numbers[key][c]) if numbers[key][c] else None)
                         for c in numeric_columns}}
              for key, size in ordered[:MAX_GROUPS]]
    return {"column": group_by, "total_groups": len(sizes), "groups": groups}


def compute_statistics(name: str, columns: Sequence[str], rows: Sequence[Row], chosen: Sequence[str] | None,
                       group_by: str | None) -> dict[str, Any]:
    unknown = [c for c in [*(chosen or []), *([group_by] if group_by else [])] if c not in columns]
    if unknown:
        raise PermanentJobError(f"{name} has no column {', '.join(map(repr, unknown))}; its columns are "
                                f"{', '.join(columns[:50])}.")
    selected = list(dict.fromkeys(chosen)) if chosen else list(columns)
    if len(selected) > MAX_COLUMNS:
        raise PermanentJobError(f"{name} has {len(columns)} columns; choose at most 50 with `columns`.")
    profiles = [profile(c, [row.get(c) for row in rows]) for c in selected]
    numeric = [p for p in profiles if p["kind"] == "numeric"]
    stats: dict[str, Any] = {
        "dataset": {"name": name, "rows": len(rows), "columns": len(columns)},
        "numeric": numeric,
        "text": [p for p in profiles if p["kind"] == "text"],
    }
    if group_by:
        stats["group_by"] = group_statistics(rows, group_by, [p["column"] for p in numeric if p["column"] != group_by])
    return stats


# --- rendering -------------------------------------------------------------------------------------------------


def _clip(value: Any, limit: int = CELL_CHARS) -> str:
    text = format_number(value) if isinstance(value, int | float) or value is None else str(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _table(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        return _clip(value, 4 * CELL_CHARS).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render_tables(stats: dict[str, Any]) -> str:
    parts = []
    if stats["numeric"]:
        parts += ["## Numeric columns", _table(
            ["Column", "Count", "Missing", "Min", "Max", "Mean", "Median", "Std dev"],
            [[_clip(p["column"]), p["count"], p["missing"], p["min"], p["max"], p["mean"], p["median"], p["stdev"]]
             for p in stats["numeric"]])]
    if stats["text"]:
        parts += ["## Text columns", _table(
            ["Column", "Count", "Missing", "Distinct", "Top values"],
            [[_clip(p["column"]), p["count"], p["missing"], p["distinct"],
              ", ".join(f"{_clip(v, 30)} ({format_number(n)})" for v, n in p["top"])] for p in stats["text"]])]
    grouped = stats.get("group_by")
    if grouped:
        mean_columns = [p["column"] for p in stats["numeric"] if p["column"] in grouped["groups"][0]["means"]]
        mean_columns = mean_columns[:MAX_MEAN_COLUMNS]
        parts += [f"## By {_clip(grouped['column'])}", _table(
            [_clip(grouped["column"]), "Rows", *(f"Mean {_clip(c)}" for c in mean_columns)],
            [[_clip(g["value"]), g["rows"], *(g["means"][c] for c in mean_columns)] for g in grouped["groups"]])]
        if grouped["total_groups"] > len(grouped["groups"]):
            parts.append(f"The {len(grouped['groups'])} largest of {grouped['total_groups']:,} groups are shown.")
    return "\n\n".join(parts)


def _rounded(value: Any) -> Any:
    """Statistics for the model: floats to 6 significant decimals (noise digits only cost tokens)."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


INSTRUCTIONS = """You are a data analyst. The <statistics> section holds statistics computed exactly from every row of
the user's file (JSON), the <tables> section the same as markdown tables. Write one paragraph of three to six
sentences on what they show: ranges and typical values, the most frequent values, notable groups, missing data.
Use only these numbers and compute no new ones. No heading, no table, no list."""


class AnalyzeJob:
    name = "analyze"
    description = "Statistics and markdown tables of a CSV or JSON file, with a short narrative."
    params_model = AnalyzeParams

    def run(self, run: JobRun) -> JobOutput:
        params = params_as(run, AnalyzeParams)
        run.progress(10, "Reading the file")
        filename, content_type, data = run.sources.file_bytes(params.file_id)
        columns, rows = read_table(filename, content_type, data)
        run.progress(40, f"Computing statistics over {len(rows):,} rows")
        stats = compute_statistics(filename, columns, rows, params.columns, params.group_by)
        tables = render_tables(stats)
        run.progress(60, "Writing the narrative")
        user_text = "\n\n".join([section("statistics", json.dumps(_rounded(stats), ensure_ascii=False),
                                         format="json"), section("tables", tables)])
        narrative, provider = ask(run, self.name, {"file": filename}, INSTRUCTIONS, user_text, max_tokens=1024)
        run.progress(90, "Formatting the tables")
        title = f"Analysis: {filename}"
        exact = (f"> Statistics computed exactly from all {len(rows):,} rows and {len(columns):,} columns of the "
                 f"file; only the paragraph above comes from the model.")
        citations = [citation(1, "file", params.file_id, filename)]
        markdown = assemble(f"# {title}", narrative, tables, exact, sources_section(citations),
                            footer(self.name, provider))
        return JobOutput(title=title, markdown=markdown, citations=citations, provider=provider)


register(AnalyzeJob())
