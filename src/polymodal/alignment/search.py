"""Search a collection through an alignment: embed a table's column into a persistent
`VectorIndex` (row metadata beside it), then query it by text, image or audio.

The index remembers which run and column made it, so `search` embeds the query with the same
run's tower for the query's modality."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..data.table import read_table, resolve_path
from ..errors import PolymodalError
from ..index import VectorIndex
from ..runs.files import check_writable
from .spoken import NAME as SPOKEN
from .spoken import RERANK, by_sound

QUERY_ROLES = ("text", "image", "audio")


def index_rows(table, aligner, present) -> pd.DataFrame:
    """Metadata kept beside each vector: the original row number and every column, with media paths
    made absolute so hits can be shown from anywhere."""
    df = table.df[present].copy()
    for column, role in aligner.schema_.modalities.items():
        if role in ("image", "audio", "video") and column in df.columns:
            df[column] = [str(resolve_path(v, table.base_dir)) if isinstance(v, str) else v for v in df[column]]
    df.insert(0, "table_row", df.index.to_numpy())
    return df.reset_index(drop=True)


def build_index(aligner, data, column: str, out: str | Path | None = None, *, kind: str = "flat",
                add_to: str | Path | None = None) -> VectorIndex:
    """Embed `column` of `data` (features come from the cache) into a new index, or append to `add_to`."""
    if out is not None or add_to is not None:
        check_writable(out or add_to)
    table = read_table(data)
    emb, present = aligner.embed_table(table, column)
    rows = index_rows(table, aligner, present)
    run = str(Path(getattr(aligner, "run_dir_", "")).resolve()) if hasattr(aligner, "run_dir_") else ""
    if add_to is not None:
        index = VectorIndex.load(add_to)
        if index.meta.get("column") != column or index.meta.get("run") != run:
            raise PolymodalError(f"{add_to}: that index holds column {index.meta.get('column')!r} embedded by run "
                                 f"{index.meta.get('run')!r}; cannot add {column!r} from {run!r}")
    else:
        index = VectorIndex.create(emb.shape[1], kind=kind, meta={"run": run, "column": column,
                                                                   "role": aligner.schema_.modalities[column]})
    index.add(emb[present], rows)
    if getattr(aligner, "method_", None) == SPOKEN and column == aligner.space_.audio:
        aligner.space_.heard(list(rows[column]))  # hear every clip now, not inside a search request
    if out is not None or add_to is not None:
        index.save(out or add_to)
    return index


def query_column(aligner, role: str) -> str:
    columns = [c for c in aligner.columns_ if aligner.schema_.modalities.get(c) == role]
    if not columns:
        raise PolymodalError(f"this alignment has no {role} column to embed the query with; aligned: "
                             + ", ".join(f"{c} ({aligner.schema_.modalities[c]})" for c in aligner.columns_))
    return columns[0]


def embed_query(aligner, *, text: str | None = None, image: str | None = None, audio: str | None = None):
    given = {r: v for r, v in (("text", text), ("image", image), ("audio", audio)) if v is not None}
    if len(given) != 1:
        raise PolymodalError("give exactly one query: text, image or audio")
    role, value = next(iter(given.items()))
    column = query_column(aligner, role)  # before decoding: say first when the run cannot take this modality
    if role == "text" and not str(value).strip():
        raise PolymodalError("the query text is empty")
    if role != "text":
        path = Path(value).expanduser()
        if not path.exists():
            raise PolymodalError(f"query {role} file not found: {path}")
        from ..data.validate import CHECKERS

        problem = CHECKERS[role](path)
        if problem:
            raise PolymodalError(f"query {role}: {problem}")
        value = str(path.resolve())
    return aligner.embed(column, [value])


def search(index: VectorIndex | Any | str | Path, *, aligner=None, text: str | None = None, image: str | None = None,
           audio: str | None = None, k: int = 10) -> pd.DataFrame:
    """Ranked hits (rank, score, row metadata) for one query."""
    from .aligner import Aligner

    if isinstance(index, str | Path):
        from ..index.sharded import load_index

        index = load_index(index)  # a VectorIndex, or a merged IVF-PQ index built in shards
    if aligner is None:
        run = index.meta.get("run")
        if not run:
            raise PolymodalError("this index does not name the run that built it: pass aligner=...")
        aligner = Aligner.load(run)
    query = embed_query(aligner, text=text, image=image, audio=audio)
    if getattr(aligner, "method_", None) == SPOKEN:  # the nearest by the embedding, ordered by sound
        space = aligner.space_
        heard = space.heard([str(Path(audio).expanduser().resolve())])[0] if audio is not None else None
        return by_sound(space, index.search(query, k=max(k, RERANK))[0], index.meta.get("column"), text=text,
                        heard=heard, k=k)
    return index.search(query, k=k)[0]
