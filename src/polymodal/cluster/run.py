"""Clusters of a fitted run's embeddings: a predictor's fused representation of each row, or an aligner's
shared-space embedding of one column.

- `method="kmeans"` (scikit-learn's k-means, 10 starts) with `k` given, or `k="auto"`: every k from 2 to
  `MAX_K` (at most a fifth of the rows) is fitted and the one with the best silhouette (Rousseeuw 1987) on
  the rows kept; `method="hdbscan"` (Campello, Moulavi and Sander 2013; scikit-learn's) finds its own
  number of clusters and leaves outliers unassigned (-1).
- With a label column, how well the clusters recover it: normalised mutual information and the adjusted
  Rand index (both 1 for the same partition, about 0 for an unrelated one).
- A predictor whose saved model is an ensemble or a classical model has no fused representation: its best
  fused neural candidate on validation embeds instead (`Predictor.best_fusion`), and the metrics say which.
- A 2-D map of the embeddings (t-SNE, van der Maaten and Hinton 2008; at most `MAP_ROWS` rows, sampled)
  for the report (cluster/report.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.table import read_table
from ..errors import PolymodalError

METHODS = ("kmeans", "hdbscan")
MAX_K = 20
MAP_ROWS = 2000
SILHOUETTE_ROWS = 3000  # rows the silhouette of each k is computed on (it is quadratic in rows)


@dataclass
class ClusterResult:
    assignments: pd.DataFrame  # row (the table's), cluster (-1: noise), and the label when given
    metrics: dict  # k, method, silhouette; nmi and ari with a label
    embeddings: np.ndarray  # [rows kept, D]
    map2d: np.ndarray  # [rows mapped, 2]
    mapped: np.ndarray  # positions (into assignments) of the mapped rows
    scan: list[dict] = field(default_factory=list)  # k="auto": every k tried and its silhouette


def check(method: str, k) -> None:
    if method not in METHODS:
        raise PolymodalError(f"unknown clustering method {method!r}; valid: {', '.join(METHODS)}")
    if k != "auto" and (isinstance(k, bool) or not isinstance(k, int) or k < 2):
        raise PolymodalError(f"k must be a whole number of at least 2, or 'auto'; got {k!r}")


def embeddings_of(run, data, column: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """(embeddings of the rows that have one, their row positions in the table, what embedded them)."""
    kind = getattr(run, "kind", "")
    if kind == "predictor":
        run = run.best_fusion()  # an ensemble or a classical model has no fused embedding: its best fusion has one
        if column is not None:
            z = run.embed(data, column=column)
            present = np.abs(z).sum(1) > 0  # embed gives zeros where the column's cell is empty
            return z[present], np.flatnonzero(present), f"{column} features"
        z = run.embed(data)
        return z, np.arange(len(z)), f"{run.fusion_} fusion"
    if kind == "aligner":
        column = column or run.columns_[0]
        z, present = run.embed_table(data, column)
        return z[present], np.flatnonzero(present), f"aligner ({column})"
    raise PolymodalError(f"clustering reads a predictor's or an aligner's embeddings; this run is a {kind or '?'} "
                         "run")


def cluster(run, data, *, k: int | str = "auto", method: str = "kmeans", column: str | None = None,
            label: str | None = None, seed: int = 0) -> ClusterResult:
    """Cluster the embeddings `run` (a loaded run, or its folder) gives the rows of `data`."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    check(method, k)
    if isinstance(run, str | Path):
        from ..api import load

        run = load(run)
    table = read_table(data)
    if label is not None and label not in table.df.columns:
        raise PolymodalError(f"{table.source}: no label column {label!r}; columns: {', '.join(table.df.columns)}")
    z, rows, embedded_by = embeddings_of(run, table, column)
    if len(z) < 3:
        raise PolymodalError(f"{table.source}: {len(z)} row(s) with an embedding; clustering needs at least 3")
    assigned, scan, chosen = _fit(z.astype(np.float64), method, k, seed)
    out = pd.DataFrame({"row": rows, "cluster": assigned})
    metrics = {"method": method, "embedded_by": embedded_by, "k": len(set(assigned) - {-1}), "rows": len(z),
               "noise": int((assigned == -1).sum())}
    if chosen is not None:
        metrics["silhouette"] = chosen
    if label is not None:
        truth = table.df[label].iloc[rows].astype(str).to_numpy()
        out[label] = truth
        metrics["nmi"] = float(normalized_mutual_info_score(truth, assigned))
        metrics["ari"] = float(adjusted_rand_score(truth, assigned))
    mapped = np.sort(np.random.default_rng(seed).choice(len(z), min(len(z), MAP_ROWS), replace=False))
    return ClusterResult(out, metrics, z, _map(z[mapped], seed), mapped, scan)


def _fit(z: np.ndarray, method: str, k, seed: int) -> tuple[np.ndarray, list[dict], float | None]:
    from sklearn.cluster import HDBSCAN, KMeans

    if method == "hdbscan":
        labels = HDBSCAN(min_cluster_size=max(5, len(z) // 100), copy=True).fit_predict(z)
        return labels, [], _silhouette(z, labels, seed)
    if k != "auto":
        if k > len(z):
            raise PolymodalError(f"k={k} is more clusters than the {len(z)} rows with an embedding")
        labels = KMeans(k, n_init=10, random_state=seed).fit_predict(z)
        return labels, [], _silhouette(z, labels, seed)
    scan, best = [], None
    for kk in range(2, max(2, min(MAX_K, len(z) // 5)) + 1):
        labels = KMeans(kk, n_init=10, random_state=seed).fit_predict(z)
        score = _silhouette(z, labels, seed)
        scan.append({"k": kk, "silhouette": score})
        if best is None or score > best[1]:
            best = (labels, score)
    return best[0], scan, best[1]


def _silhouette(z: np.ndarray, labels: np.ndarray, seed: int) -> float:
    from sklearn.metrics import silhouette_score

    kept = labels != -1
    if len(set(labels[kept])) < 2:
        return float("nan")
    return float(silhouette_score(z[kept], labels[kept], sample_size=min(SILHOUETTE_ROWS, int(kept.sum())),
                                  random_state=seed))


def _map(z: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    if len(z) < 4:
        return np.zeros((len(z), 2))
    return TSNE(2, perplexity=float(min(30, max(2, (len(z) - 1) // 3))), init="pca", random_state=seed
                ).fit_transform(z)
