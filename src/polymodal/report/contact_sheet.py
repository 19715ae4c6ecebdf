"""An HTML contact sheet of search hits: the hits' pictures in a grid, and the hit table."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from .html import Report
from .plots import image_grid

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")


def _image_column(hits: pd.DataFrame) -> str | None:
    for column in hits.columns:
        values = hits[column].dropna().astype(str)
        if len(values) and values.str.lower().str.endswith(IMAGE_SUFFIXES).all():
            return column
    return None


def _caption(row: pd.Series) -> str:
    text = next((str(v) for k, v in row.items() if isinstance(v, str) and " " in v and k != "table_row"), "")
    return f"#{int(row['rank'])} {row['score']:.3f} {text[:40]}"


def contact_sheet(hits: pd.DataFrame, path: str | Path, *, query: str = "") -> Path:
    report = Report(f"Search: {query}" if query else "Search results")
    column = _image_column(hits)
    if column is not None:
        with tempfile.TemporaryDirectory() as tmp:
            grid = image_grid(hits[column].tolist(), [_caption(r) for _, r in hits.iterrows()],
                              Path(tmp) / "grid.png", cols=5)
            report.add_image(grid, f"top {len(hits)} hits")
    report.add_table(hits, caption="hits, best first")
    return report.write(path)
