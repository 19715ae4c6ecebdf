"""Clusters of a run's embeddings (cluster/): k chosen by silhouette, HDBSCAN's outliers, agreement with a
label, the report's map with hover cards, and clear errors."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from tests.serving_fixtures import make_table

import polymodal as pm
from polymodal import PolymodalError
from polymodal.cli import main
from polymodal.cluster import cluster

ENCODERS = {"image": "cnn:image_size=16:width=4:out_dim=16", "audio": "mfcc", "text": "gru"}


class Blobs:
    """A stand-in predictor run whose fused embedding of row i is a point of blob i % 3 (and a few far
    outliers), so the right answer is known."""

    kind = "predictor"

    def __init__(self, outliers: int = 0):
        rng = np.random.default_rng(0)
        centres = np.array([[0, 0, 0, 0], [10, 0, 0, 0], [0, 10, 0, 0]], dtype=float)
        self.z = np.concatenate([centres[np.arange(90) % 3] + rng.normal(0, 0.5, (90, 4)),
                                 rng.uniform(-40, 40, (outliers, 4))])

    fusion_ = "concat"

    def best_fusion(self):
        return self

    def embed(self, data, column=None):
        return self.z


def _table(n: int) -> pd.DataFrame:
    return pd.DataFrame({"blob": [f"b{i % 3}" if i < 90 else "far" for i in range(n)]})


def test_auto_k_finds_the_blobs_and_they_match_the_label():
    result = cluster(Blobs(), _table(90), label="blob")
    assert result.metrics["k"] == 3 and result.metrics["nmi"] == pytest.approx(1) and result.metrics["ari"] == 1
    assert max(result.scan, key=lambda s: s["silhouette"])["k"] == 3 and len(result.scan) == 17  # k = 2..18
    assert result.map2d.shape == (90, 2) and list(result.assignments.columns) == ["row", "cluster", "blob"]


def test_hdbscan_leaves_outliers_unassigned():
    result = cluster(Blobs(outliers=6), _table(96), method="hdbscan", label="blob")
    assert result.metrics["k"] == 3 and result.metrics["noise"] >= 4
    far = result.assignments[result.assignments["blob"] == "far"]
    assert (far["cluster"] == -1).mean() >= 0.66


@pytest.mark.parametrize(("options", "message"), [
    ({"k": 1}, "k must be a whole number of at least 2, or 'auto'"),
    ({"method": "dbscan"}, "unknown clustering method 'dbscan'; valid: kmeans, hdbscan"),
    ({"label": "colour"}, "no label column 'colour'"),
    ({"k": 500}, "k=500 is more clusters than the 90 rows"),
])
def test_bad_settings_are_clear_errors(options, message):
    with pytest.raises(PolymodalError, match=message):
        cluster(Blobs(), _table(90), **options)


def test_a_run_kind_without_embeddings_is_refused():
    class Captioner:
        kind = "captioner"

    with pytest.raises(PolymodalError, match="reads a predictor's or an aligner's embeddings; this run is a "
                                             "captioner run"):
        cluster(Captioner(), _table(90))


@pytest.mark.slow
def test_the_cli_clusters_a_fitted_run_and_maps_it_with_thumbnails(tmp_path, capsys):
    table = make_table(tmp_path, rows=45)
    pm.Predictor("color", fusion="concat", encoders=ENCODERS, classical="none", baselines=False, epochs=3,
                 batch_size=16, hidden=16, estimate="holdout", progress=False).fit(table, out=tmp_path / "run")
    assert main(["cluster", str(tmp_path / "run"), str(table), "--k", "3", "--label", "color", "-o",
                 str(tmp_path / "c.html"), "--csv", str(tmp_path / "c.csv")]) == 0
    page = (tmp_path / "c.html").read_text()
    svg = ET.fromstring(re.search(r"<svg.*?</svg>", page, re.S).group(0))
    points = [g for g in svg if g.tag.endswith("g")]
    assert len(points) == 45 and all(any(e.tag.endswith("image") for e in g) for g in points)  # a thumbnail each
    assert "a red square" in page  # text of the caption column in the hover titles
    rows = pd.read_csv(tmp_path / "c.csv")
    assert len(rows) == 45 and rows["cluster"].nunique() == 3
    assert main(["cluster", str(tmp_path / "run"), str(table), "--json"]) == 0
    assert '"method": "kmeans"' in capsys.readouterr().out


@pytest.mark.slow
def test_a_run_without_a_fused_model_is_clustered_through_its_best_fusion(tmp_path):
    """A saved ensemble or classical model has no fused representation: the best fused candidate on
    validation embeds instead, from memory after a fit and from RUN/candidates/ after loading."""
    table = make_table(tmp_path, rows=45)
    p = pm.Predictor("color", fusion="concat,late", encoders=ENCODERS, classical="knn", baselines=False, epochs=2,
                     batch_size=16, hidden=16, estimate="holdout", progress=False).fit(table, out=tmp_path / "run")
    knn = next(c for c in p.candidates_ if c.name == "knn")
    p._choose_best(knn)  # as if kNN had won: no embedding of its own
    fused = p.comparison_[p.comparison_["kind"] == "fusion"]
    best = fused.sort_values(f"val_{p.task_.monitor}", ascending=False)["name"].iloc[0]
    result = cluster(p, table, k=3)
    assert result.metrics["embedded_by"] == f"{best} fusion" and len(result.embeddings) == 45
    again = pm.load(tmp_path / "run")
    again.model_ = knn.model  # a loaded run whose saved model has no embedding: the weights come from the folder
    from_disk = cluster(again, table, k=3)
    assert from_disk.metrics["embedded_by"] == f"{best} fusion"
    np.testing.assert_allclose(from_disk.embeddings, result.embeddings, atol=1e-5)  # the same candidate, reloaded
