"""webdataset tar shards as a table: `read_table("shards/train-{0000..0015}.tar")`.

The webdataset convention: a sample is the run of consecutive tar members that share a key, the member's path up
to the first dot of its file name (`dir/sample0001.jpg`, `dir/sample0001.cls` -> key `dir/sample0001`, columns
`jpg` and `cls`). Each sample becomes a row: `__key__` (its key, detected as an id) and one column per
extension. Text-like members (`txt`, `text`, `caption`, `cls`, `label`, ...) are decoded as UTF-8 (`cls` as an
integer when it is one); `json` members spread their top-level fields into `json.<field>` columns; everything
else (images, audio) stays bytes, which `read_table` then stores as files (data/blobs.py). Tars are read as
streams, member after member.

Written here rather than through the `webdataset` package: reading the tar format needs only the standard
library, and that package brings its own decoders and a DataLoader integration that polymodal does not use.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import TableError

TEXT = {"txt", "text", "caption", "captions", "cls", "cls2", "label", "labels", "class", "id", "index", "key"}
SUFFIXES = (".tar", ".tar.gz", ".tgz")
BRACES = re.compile(r"\{(\d+)\.\.(\d+)\}")


def is_webdataset(source: str | Path) -> bool:
    text = str(source)
    return text.endswith(SUFFIXES)


def expand(pattern: str) -> list[Path]:
    """`train-{0000..0015}.tar` -> the 16 paths (zero-padded as written); a plain path -> itself."""
    match = BRACES.search(pattern)
    if match is None:
        return [Path(pattern).expanduser()]
    lo, hi = match.group(1), match.group(2)
    width = len(lo)
    out = []
    for i in range(int(lo), int(hi) + 1):
        out += expand(pattern[:match.start()] + str(i).zfill(width) + pattern[match.end():])
    return out


def _split(name: str) -> tuple[str, str]:
    folder, _, base = name.rpartition("/")
    stem, dot, ext = base.partition(".")
    if not dot:
        return name, ""
    return (f"{folder}/{stem}" if folder else stem), ext.lower()


def _value(ext: str, data: bytes, where: str) -> dict[str, Any]:
    last = ext.rsplit(".", 1)[-1]
    if last == "json":
        try:
            parsed = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TableError(f"{where}: not valid JSON: {exc}") from exc
        return {f"json.{k}": v for k, v in parsed.items()} if isinstance(parsed, dict) else {ext: json.dumps(parsed)}
    if last in TEXT:
        try:
            text = data.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise TableError(f"{where}: a .{ext} member must be UTF-8 text: {exc}") from exc
        if last.startswith("cls") and re.fullmatch(r"-?\d+", text):
            return {ext: int(text)}
        return {ext: text}
    from .blobs import store

    return {ext: str(store(data, f".{last}"))}  # media: stored now, under the member's extension if unknown


def read_webdataset(source: str | Path) -> pd.DataFrame:
    """Every sample of every shard `source` names (a path or a brace pattern), in order, as one frame."""
    paths = expand(str(source))
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise TableError(f"{source}: {len(missing)} of {len(paths)} shard(s) not found: "
                         + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
    rows: list[dict] = []
    for path in paths:
        current: dict | None = None
        try:
            with tarfile.open(path, mode="r|*") as tar:  # a stream: members in order, none kept
                for member in tar:
                    if not member.isfile():
                        continue
                    key, ext = _split(member.name)
                    if not ext:
                        continue  # webdataset ignores members without an extension
                    if current is None or current["__key__"] != key:
                        current = {"__key__": key}
                        rows.append(current)
                    data = tar.extractfile(member).read()
                    current.update(_value(ext, data, f"{path} member {member.name}"))
        except tarfile.TarError as exc:
            raise TableError(f"{path}: not a readable tar shard ({exc}); after {len(rows)} sample(s)") from exc
    if not rows:
        raise TableError(f"{source}: the shard(s) hold no samples")
    return pd.DataFrame(rows)
