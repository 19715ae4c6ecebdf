"""A self-contained HTML report: one file, no external CSS, scripts or fonts, with
images and audio embedded as base64 data URIs, so it can be mailed or archived
as is. Built from plain data; every piece of text is HTML-escaped.

    report = Report("Run 3: gated fusion")
    report.add_heading("Validation")
    report.add_metrics(metrics)
    report.add_image("confusion.png", "Confusion matrix")
    report.write(run_dir / "report.html")
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from numbers import Integral, Number, Real
from pathlib import Path

import pandas as pd

from ..errors import PolymodalError
from ..metrics import lower_is_better
from ..runs.files import atomic_write

_IMAGE_TYPES = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif"}

CSS = """
:root { --text: #1a202c; --muted: #4a5568; --line: #e2e8f0; --zebra: #f7fafc; --accent: #2b6cb0; --best: #c6f6d5; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--text); line-height: 1.5; margin: 0; background: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 2rem 1.5rem 4rem; }
h1 { font-size: 1.8rem; margin: 0 0 .25rem; }
h2 { font-size: 1.35rem; margin-top: 2.2rem; padding-bottom: .3rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.1rem; margin-top: 1.6rem; }
.meta, figcaption, caption, .footer { color: var(--muted); font-size: .9rem; }
nav.toc { background: var(--zebra); border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1.25rem;
  margin: 1.25rem 0; }
nav.toc ul { margin: .25rem 0; padding-left: 1.2rem; }
nav.toc .toc3 { margin-left: 1.2rem; } nav.toc .toc4 { margin-left: 2.4rem; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em;
  background: var(--zebra); padding: .1em .3em; border-radius: 3px; }
table { border-collapse: collapse; margin: 1rem 0; font-size: .9rem; }
caption { caption-side: top; text-align: left; padding-bottom: .3rem; }
th, td { padding: .35rem .7rem; border-bottom: 1px solid var(--line); text-align: left; }
th { background: #edf2f7; font-weight: 600; }
tbody tr:nth-child(even) { background: var(--zebra); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { background: var(--best); font-weight: 600; }
.scroll { overflow-x: auto; }
figure { margin: 1.25rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
audio { width: 100%; max-width: 480px; display: block; }
details { margin: 1rem 0; border: 1px solid var(--line); border-radius: 6px; padding: .5rem 1rem; }
summary { cursor: pointer; font-weight: 600; }
.footer { margin-top: 3rem; border-top: 1px solid var(--line); padding-top: .75rem; }
"""


class Report:
    """Blocks of HTML added in order, a table of contents built from the headings, written atomically."""

    def __init__(self, title: str):
        self.title = title
        self.created = datetime.now().strftime("%Y-%m-%d %H:%M")
        self._blocks: list[str] = []
        self._headings: list[tuple[int, str, str]] = []  # (level, anchor id, text)

    def add_heading(self, text: str, level: int = 2) -> Report:
        """A section heading (levels 2-4 go in the table of contents; the title is the only h1)."""
        level = min(max(int(level), 2), 6)
        anchor = self._anchor(text)
        self._headings.append((level, anchor, text))
        self._blocks.append(f'<h{level} id="{anchor}">{escape(text)}</h{level}>')
        return self

    def add_text(self, text: str) -> Report:
        """Paragraphs (split at blank lines) of escaped text, with `code` and **bold** marked up."""
        for paragraph in re.split(r"\n\s*\n", text.strip()):
            if paragraph:
                self._blocks.append(f"<p>{_inline(paragraph)}</p>")
        return self

    def add_table(self, data: pd.DataFrame | Sequence[Mapping], caption: str | None = None,
                  float_format: str = "{:.3f}", highlight_max: list[str] | None = None,
                  highlight_min: list[str] | None = None) -> Report:
        """A table from a DataFrame or a list of dicts. The best cell of each column named in
        `highlight_max` is marked: the largest, or the smallest where the name says lower is better
        ("val_log_loss", "test_rmse", see `lower_is_better`). `highlight_min` always marks the smallest."""
        # object dtype keeps each value as given: an int next to floats and None stays an int
        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(list(data), dtype=object)
        if not isinstance(frame.index, pd.RangeIndex):
            frame = frame.reset_index()  # a meaningful index (model names, classes) becomes a column
        best = {c: _best(frame[c], min if lower_is_better(str(c)) else max) for c in highlight_max or [] if c in frame}
        best |= {c: _best(frame[c], min) for c in highlight_min or [] if c in frame}
        head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
        body = []
        for row in frame.itertuples(index=False):  # itertuples keeps each column's type; iterrows upcasts
            cells = []
            for column, value in zip(frame.columns, row, strict=True):
                classes = ["num"] if _is_number(value) else []
                if column in best and _is_number(value) and value == best[column]:
                    classes.append("best")
                attr = f' class="{" ".join(classes)}"' if classes else ""
                cells.append(f"<td{attr}>{_cell(value, float_format)}</td>")
            body.append(f"<tr>{''.join(cells)}</tr>")
        cap = f"<caption>{escape(caption)}</caption>" if caption else ""
        self._blocks.append(f'<div class="scroll"><table>{cap}<thead><tr>{head}</tr></thead>'
                            f"<tbody>{''.join(body)}</tbody></table></div>")
        return self

    def add_image(self, image: str | Path | bytes, caption: str = "") -> Report:
        """A PNG/JPEG/GIF/SVG from a path or bytes, embedded as a data URI."""
        data = _read(image)
        mime = next((m for magic, m in _IMAGE_TYPES.items() if data.startswith(magic)), None)
        if mime is None and data.lstrip().startswith((b"<svg", b"<?xml")) and b"<svg" in data[:4096]:
            mime = "image/svg+xml"  # safe as <img>: an SVG shown through an image tag runs no scripts
        if mime is None:
            raise PolymodalError(f"{_name(image)}: not a PNG, JPEG, GIF or SVG image")
        src = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        self._blocks.append(f'<figure><img src="{src}" alt="{escape(caption)}">{_figcaption(caption)}</figure>')
        return self

    def add_audio(self, audio: str | Path | bytes, caption: str = "") -> Report:
        """A WAV file (path or bytes) as an embedded player."""
        data = _read(audio)
        if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
            raise PolymodalError(f"{_name(audio)}: not a WAV file")
        src = f"data:audio/wav;base64,{base64.b64encode(data).decode('ascii')}"
        self._blocks.append(f'<figure><audio controls preload="none" src="{src}"></audio>{_figcaption(caption)}'
                            "</figure>")
        return self

    def add_metrics(self, metrics: Mapping, caption: str | None = None) -> Report:
        """A compact name/value table of the scalars in `metrics`. One level of nesting is flattened
        to "outer.inner" (a multi-task dict); lists and deeper tables (confusion matrix, per-class
        scores) are left out: add those with `add_table`."""
        rows = [{"metric": k, "value": v} for k, v in _flatten(metrics)]
        if rows:
            self.add_table(rows, caption=caption, float_format="{:.4f}")
        return self

    def add_details(self, summary: str, html_content: str) -> Report:
        """A collapsible section. `html_content` is inserted as is: pass only HTML you built."""
        self._blocks.append(f"<details><summary>{escape(summary)}</summary>{html_content}</details>")
        return self

    def render(self) -> str:
        toc = "".join(f'<li class="toc{level}"><a href="#{anchor}">{escape(text)}</a></li>'
                      for level, anchor, text in self._headings if level <= 4)
        nav = f'<nav class="toc"><strong>Contents</strong><ul>{toc}</ul></nav>' if toc else ""
        body = "\n".join(self._blocks)
        return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
                f"<title>{escape(self.title)}</title>\n<style>{CSS}</style>\n</head>\n<body><main>\n"
                f'<h1>{escape(self.title)}</h1>\n<p class="meta">Generated {self.created} by polymodal</p>\n'
                f'{nav}\n{body}\n<p class="footer">polymodal report · self-contained file</p>\n'
                "</main></body>\n</html>\n")

    def write(self, path: str | Path) -> Path:
        """Write the report atomically (a temp file in the same folder, then `os.replace`)."""
        return atomic_write(path, self.render())

    def _anchor(self, text: str) -> str:
        base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
        taken = {a for _, a, _ in self._headings}
        anchor, k = base, 2
        while anchor in taken:
            anchor, k = f"{base}-{k}", k + 1
        return anchor


def _inline(text: str) -> str:
    """Escape, then mark up `code` spans and **bold** (never inside code)."""
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if len(part) > 1 and part.startswith("`") and part.endswith("`"):
            out.append(f"<code>{escape(part[1:-1])}</code>")
        else:
            out.append(re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escape(part)))
    return "".join(out)


def _is_number(value) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool) and not _missing(value)


def _missing(value) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, Real) and math.isnan(value))


def _best(column: pd.Series, pick) -> float | None:
    numbers = [v for v in column if _is_number(v)]
    return pick(numbers) if numbers else None


def _cell(value, float_format: str) -> str:
    if _missing(value):
        return "—"
    if isinstance(value, Real) and not isinstance(value, Integral | bool):
        return escape(float_format.format(value))
    return escape(str(value))


def _flatten(metrics: Mapping, prefix: str = "", depth: int = 0):
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if depth == 0:
                yield from _flatten(value, f"{name}.", depth + 1)
        elif value is None or isinstance(value, Number | str):
            yield name, value


def _read(source: str | Path | bytes) -> bytes:
    return bytes(source) if isinstance(source, bytes | bytearray | memoryview) else Path(source).read_bytes()


def _name(source) -> str:
    return "the given bytes" if isinstance(source, bytes | bytearray | memoryview) else str(source)


def _figcaption(caption: str) -> str:
    return f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
