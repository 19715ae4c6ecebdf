"""`polymodal inspect`: what is in a table, as polymodal sees it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Problem, ValidationError
from ..schema import Schema, detect_schema
from .table import Table, read_table
from .validate import ValidationReport, is_missing, validate, write_skipped


@dataclass
class TableSummary:
    schema: Schema
    rows: int
    present: dict[str, int]  # input column -> non-empty cells
    missing: dict[str, int]  # every column -> empty cells
    labels: dict[str, dict[str, int]]  # label column -> class -> rows
    splits: dict[str, int]
    problems: list[Problem] = field(default_factory=list)
    skipped_path: Path | None = None

    def to_dict(self) -> dict:
        return {"schema": self.schema.to_dict(), "rows": self.rows, "present": self.present,
                "missing": self.missing, "labels": self.labels, "splits": self.splits,
                "problems": [str(p) for p in self.problems],
                "skipped": str(self.skipped_path) if self.skipped_path else None}


def default_label(table: Table) -> str | None:
    """A table built by a recipe names its label in recipe.json; use it when the user gave none."""
    if table.source.startswith("<"):
        return None
    marker = Path(table.source).parent / "recipe.json"
    if not marker.exists():
        return None
    from .recipes import get_recipe

    name = json.loads(marker.read_text())["params"]["recipe"]
    label = get_recipe(name).label
    return label if label in table.df.columns else None


def summarize(source, *, label: str | list[str] | None = None, overrides: dict[str, str] | None = None,
              on_error: str = "skip", skipped_path: str | Path | None = None,
              check_files: bool = True) -> TableSummary:
    """Detect the schema, count what is there, and validate. With `on_error="error"` a table
    with problems raises `ValidationError`; with "skip" the problems are listed in the summary."""
    table = read_table(source)
    if label is None and not any(r == "label" for r in (overrides or {}).values()):
        label = default_label(table)
    schema = detect_schema(table, label=label, overrides=overrides)
    df = table.df
    empty = {c: int(df[c].map(is_missing).sum()) for c in df.columns}
    report: ValidationReport | None = None
    if check_files:
        report = validate(table, schema, on_error=on_error)
    labels = {c: {str(k): int(v) for k, v in df[c].value_counts(dropna=True).sort_index().items()}
              for c in schema.labels}
    split_cols = schema.names("split")
    splits = {str(k): int(v) for k, v in df[split_cols[0]].value_counts().items()} if split_cols else {}
    written = write_skipped(report, skipped_path) if report and skipped_path else None
    return TableSummary(schema, len(df), {c: len(df) - empty[c] for c in schema.modalities}, empty, labels,
                        splits, report.problems if report else [], written)


__all__ = ["TableSummary", "ValidationError", "default_label", "summarize"]


