"""The clustering report: metrics, the silhouette of each k tried, a 2-D map whose points show their row
on hover (a thumbnail for an image column, the text for a text column), and each cluster's make-up.

The map is an inline SVG written here: a hover card needs no JavaScript and no plotting library in the
browser, and the report stays one self-contained file."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from PIL import Image

from ..data.table import Table, resolve_path
from ..report.html import Report
from .run import ClusterResult

THUMBNAILS = 300  # mapped rows whose image is embedded for the hover card (the file stays a few MB)
SIZE, PAD = 640, 24


def write_report(result: ClusterResult, table: Table, path: str | Path, *, title: str,
                 image: str | None = None, text: str | None = None) -> Path:
    path = Path(path)
    report = Report(title)
    report.add_metrics({k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.metrics.items()},
                       caption="Clusters" + (" against the label: NMI and ARI are 1 for the same partition, about 0 "
                                             "for an unrelated one" if "nmi" in result.metrics else ""))
    if result.scan:
        report.add_image(_scan_png(result.scan), "Silhouette of k-means for each k tried; the best is used")
    report.add_heading("Map")
    report.add_details(f"t-SNE of {len(result.mapped)} rows, coloured by cluster (grey: none); hover a point",
                       _svg(result, table, image, text))
    report.add_heading("Clusters")
    report.add_table(_make_up(result, table, text), caption="Each cluster: size, and what it holds")
    path.parent.mkdir(parents=True, exist_ok=True)
    return report.write(path)


def _scan_png(scan: list[dict]) -> bytes:
    fig = Figure(figsize=(5, 3), layout="tight")
    ax = fig.subplots()
    ax.plot([s["k"] for s in scan], [s["silhouette"] for s in scan], marker="o")
    ax.set(xlabel="k", ylabel="silhouette")
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def _svg(result: ClusterResult, table: Table, image: str | None, text: str | None) -> str:
    xy = result.map2d
    lo, hi = xy.min(0), xy.max(0)
    scaled = PAD + (xy - lo) / np.where(hi - lo > 0, hi - lo, 1) * (SIZE - 2 * PAD)
    palette = colormaps["tab20"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}" style="background:#fff">',
             "<style>g.pt image{display:none} g.pt:hover image{display:inline} g.pt:hover circle{stroke:#000}"
             "</style>"]
    for n, (i, (x, y)) in enumerate(zip(result.mapped, scaled, strict=True)):
        row = int(result.assignments["row"].iat[i])
        c = int(result.assignments["cluster"].iat[i])
        r, g, b, _ = palette(c % 20) if c >= 0 else (0.6, 0.6, 0.6, 1)
        tip = f"row {row}, cluster {c}" + (f": {table.df[text].iat[row]}" if text else "")
        thumb = _thumbnail(table, image, row) if image and n < THUMBNAILS else None
        card = (f'<image href="data:image/png;base64,{thumb}" x="{min(x + 6, SIZE - 70):.0f}" '
                f'y="{max(y - 70, 0):.0f}" width="64" height="64"/>') if thumb else ""
        parts.append(f'<g class="pt"><title>{html.escape(str(tip))}</title><circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" '
                     f'fill="rgb({r * 255:.0f},{g * 255:.0f},{b * 255:.0f})"/>{card}</g>')
    parts.append("</svg>")
    return "".join(parts)


def _thumbnail(table: Table, column: str, row: int) -> str | None:
    value = table.df[column].iat[row]
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        with Image.open(resolve_path(value.strip(), table.base_dir)) as im:
            im = im.convert("RGB")
            im.thumbnail((64, 64))
            buf = io.BytesIO()
            im.save(buf, format="PNG")
    except OSError:
        return None
    return base64.b64encode(buf.getvalue()).decode()


def _make_up(result: ClusterResult, table: Table, text: str | None) -> pd.DataFrame:
    a = result.assignments
    label = next((c for c in a.columns if c not in ("row", "cluster")), None)
    rows = []
    for c, g in a.groupby("cluster"):
        row = {"cluster": int(c), "rows": len(g)}
        if label:
            top = g[label].value_counts()
            row["most common label"] = f"{top.index[0]} ({top.iloc[0] / len(g):.0%})"
        if text:
            row["examples"] = "; ".join(str(table.df[text].iat[r])[:60] for r in g["row"].head(3))
        rows.append(row)
    return pd.DataFrame(rows)
