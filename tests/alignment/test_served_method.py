"""Whatever method an Aligner chose is what it serves: `auto` on frozen features reports every
method both ways and keeps the validation best; each closed form saves, reloads with the same
embeddings, and is what the index, search, serving and zero-shot embed through."""

import numpy as np
import pandas as pd
import pytest

import polymodal as pm
from polymodal.alignment.search import build_index, search
from polymodal.alignment.zero_shot import zero_shot
from polymodal.serve.search import SearchService

ENCODERS = {"audio": "mfcc", "text": "minilm"}  # both fixed: every method can be fitted
# A reloaded closed form holds the float32 arrays it embedded with before saving: equal to rounding.
RELOAD_ATOL = 1e-6
TEXT = ["a large red circle on the left", "a small blue square on the right"]
METHODS = ["contrastive", "asif", "cca", "procrustes", "ridge"]


@pytest.fixture(scope="module")
def auto(shapes, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "auto"
    a = pm.Aligner(["audio", "caption"], encoders=ENCODERS, epochs=8, batch_size=64, init="cca", progress=False)
    return a.fit(shapes, out=run), run


@pytest.mark.slow
def test_auto_reports_every_method_both_ways_and_serves_the_validation_best(auto):
    a, run = auto
    validation, entry = a.metrics_["selection"]["validation"], a.metrics_["pairs"]["audio|caption"]
    assert sorted(validation) == sorted(METHODS) == sorted(entry["methods"])
    best = max(v["mean_recall@1"] for v in validation.values())
    assert validation[a.method_]["mean_recall@1"] == best and a.metrics_["method"] == a.method_
    for direction in ("audio->caption", "caption->audio"):
        assert all(0 <= validation[m][direction] <= 1 for m in METHODS)
        assert entry["learned"][direction] == entry["methods"][a.method_][direction]
        assert entry["methods"]["cca"][direction]["recall@1"] > 3 * entry["learned"][direction]["chance_recall@1"]
    assert a.metrics_["selection"]["init"] == "cca"  # the contrastive heads started at the CCA solution
    card = (run / "README.md").read_text()
    assert f"**{a.method_}** (served)" in card and all(f"| {m} |" in card for m in METHODS if m != a.method_)
    assert "chance" in card and "val R@1" in card


@pytest.mark.slow
@pytest.mark.parametrize("method", ["asif", "cca", "procrustes", "ridge"])
def test_a_closed_form_is_saved_indexed_searched_and_served(method, shapes, tmp_path):
    a = pm.Aligner(["audio", "caption"], encoders=ENCODERS, method=method, progress=False)
    a.fit(shapes, out=tmp_path / "r")
    assert a.method_ == method and a.model_ is None and not a.history_
    b = pm.load(tmp_path / "r")
    assert b.method_ == method and b.dim_ == a.dim_
    assert np.allclose(a.embed("caption", TEXT), b.embed("caption", TEXT), atol=RELOAD_ATOL)
    assert np.allclose(np.linalg.norm(b.embed("caption", TEXT), axis=1), 1.0, atol=1e-5)
    if method == "asif":  # one dimension per training pair
        assert b.dim_ == a.split_sizes_["train"]
    index = build_index(b, shapes, "audio", tmp_path / "idx")
    assert index.dim == b.dim_
    hits = search(tmp_path / "idx", text=TEXT[0], k=5)  # the run named by the index embeds the query
    assert len(hits) == 5 and hits["score"].is_monotonic_decreasing
    df = pd.read_parquet(shapes)
    itself = search(index, aligner=b, audio=str(shapes.parent / df["audio"][3]), k=1)
    assert itself["score"].iloc[0] == pytest.approx(1.0, abs=1e-4)
    served = SearchService(tmp_path / "idx", "sounds").search("text", TEXT[0], 5)
    assert [h.row for h in served] == hits["row"].tolist()
    result = zero_shot(b, shapes, label="shape", column="audio")
    assert result["n"] == len(df) and set(result["predictions"]) <= {"circle", "square", "triangle", "diamond"}
