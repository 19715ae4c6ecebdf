"""Alignment end to end on a small `shapes` table: audio <-> caption, save/load, zero-shot, errors."""

import numpy as np
import pytest

import polymodal as pm
from polymodal import PolymodalError
from polymodal.alignment.zero_shot import zero_shot


@pytest.mark.slow
def test_recall_at_1_far_above_chance_in_both_directions(aligned):
    a, _ = aligned
    entry = a.metrics_["pairs"]["audio|caption"]
    for direction in ("audio->caption", "caption->audio"):
        m = entry["learned"][direction]
        assert m["recall@1"] > 8 * m["chance_recall@1"]
        assert m["recall@10"] >= m["recall@5"] >= m["recall@1"]
    assert entry["consistency"]["consistency"] > 0.2


@pytest.mark.slow
def test_save_load_gives_the_same_embeddings_and_zero_shot_works(aligned, shapes):
    a, run = aligned
    b = pm.load(run)
    text = ["a large red circle on the left", "a small blue square on the right"]
    assert np.allclose(a.embed("caption", text), b.embed("caption", text), atol=1e-6)
    z = a.embed("caption", text)
    assert np.allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)
    result = zero_shot(b, shapes, label="shape", column="audio")
    assert result["accuracy"] > 2 * result["chance"]
    assert (run / "report.html").exists() and "ASIF" in (run / "report.html").read_text()


def test_bad_alignment_requests(shapes):
    with pytest.raises(PolymodalError, match="cannot align column 'color'"):
        pm.Aligner(["audio", "color"]).fit(shapes)
    with pytest.raises(PolymodalError, match="at least two columns"):
        pm.Aligner(["audio"]).fit(shapes)
    with pytest.raises(PolymodalError, match="unknown alignment loss"):
        pm.Aligner(loss="triplet")
    with pytest.raises(PolymodalError, match="not fitted"):
        pm.Aligner().embed("caption", ["x"])
