"""Rows that share a media file belong together when rows are cut into folds.

A table may list one recording or picture on several rows (the `digits` recipe pairs each clip with
about four images; a user's table may repeat a product photo per review). A fold that trains on one of
those rows and scores another scores memory, not generalisation: a nearest-neighbour model finds the very
same file. So folds (k-fold bagging, the cross-validated estimate) keep every group of rows that share a
file in any media column on one side. Files are compared by their cell (the path as written); two paths
to identical bytes are not merged, which would need every file read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MEDIA = ("image", "audio", "video")


def shared_file_groups(df: pd.DataFrame, columns: list[str]) -> np.ndarray | None:
    """A group id per row (rows sharing a file in any of `columns`, transitively, share an id), or None when
    no file is on two rows."""
    parent = np.arange(len(df))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    shared = False
    for column in columns:
        values = df[column].reset_index(drop=True)
        present = values.notna() & values.astype(str).str.strip().ne("")
        for rows in values[present].groupby(values[present].astype(str)).indices.values():
            if len(rows) > 1:
                shared = True
                first = root(int(values[present].index[rows[0]]))
                for r in rows[1:]:
                    parent[root(int(values[present].index[r]))] = first
    if not shared:
        return None
    return np.array([root(i) for i in range(len(df))])
