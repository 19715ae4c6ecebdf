"""`MappedData` (training/mapped.py): the training loop on features memory-mapped from a sharded extraction's
Arrow parts gives the same model as on the same features in memory, and takes, subsets and views alike."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from polymodal.encoders.cache import FeatureCache
from polymodal.encoders.sharded import Shard, extract_shard, read_features
from polymodal.errors import PolymodalError
from polymodal.fusion import build_fusion
from polymodal.predict.model import MultimodalModel
from polymodal.tasks.classification import Classification
from polymodal.training.data import ArrayData
from polymodal.training.loop import train
from polymodal.training.mapped import MappedData


@pytest.fixture(scope="module")
def extraction(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mapped")
    words = ["red", "green", "blue", "round", "square", "tiny"]
    rows = [{"text": f"a {words[i % 3]} {words[3 + (i // 3) % 3]} thing number {i}",
             "note": "" if i % 7 == 0 else f"seen on day {i % 5}", "y": f"k{i % 3}"} for i in range(90)]
    pd.DataFrame(rows).to_csv(folder / "t.csv", index=False)
    cache = FeatureCache(folder / "cache")
    for k in range(3):
        extract_shard(folder / "t.csv", columns=["text", "note"], shard=Shard(k, 3), out=folder / "feats",
                      cache=cache, progress=False)
    task = Classification("y")
    task.fit(pd.Series([r["y"] for r in rows]))
    return folder / "feats", task, task.encode(pd.Series([r["y"] for r in rows]))


def _model() -> MultimodalModel:
    torch.manual_seed(0)
    dims = {"note": 384, "text": 384}
    return MultimodalModel({}, dims, build_fusion("concat", in_dims=dims, out_dim=16, hidden=16, dropout=0.0), 3,
                           head_dropout=0.0)


def test_training_on_mapped_features_equals_training_in_memory(extraction):
    feats, task, targets = extraction
    mapped = MappedData.from_extraction(feats, ["note", "text"], targets)
    memory = {c: read_features(feats, c) for c in ("note", "text")}
    arrays = ArrayData({c: torch.from_numpy(f.copy()) for c, (f, _) in memory.items()},
                       {c: torch.from_numpy(p.astype(bool)) for c, (_, p) in memory.items()}, targets)
    assert not bool(mapped.masks["note"][0]) and bool(mapped.masks["text"].all())  # an empty note is absent
    results = []
    for data in (mapped, arrays):
        model = _model()
        train(model, task, data.subset(torch.arange(60)), data.subset(torch.arange(60, 90)), epochs=3,
              batch_size=16, progress=False, seed=1)
        results.append(model.state_dict())
    # The same numbers, read another way. Not compared bit for bit: the batches live in other buffers, and another
    # alignment may take another SIMD path in the matrix products; 1e-5 is far below any real difference.
    for k in results[0]:
        torch.testing.assert_close(results[0][k], results[1][k], rtol=0, atol=1e-5)


def test_take_subset_only_and_drop_are_views(extraction):
    feats, _, targets = extraction
    mapped = MappedData.from_extraction(feats, ["note", "text"], targets)
    text, _ = read_features(feats, "text")
    idx = torch.tensor([89, 0, 31, 30, 59])  # across the three parts, out of order
    inputs, masks, t = mapped.take(idx)
    assert torch.equal(inputs["text"], torch.from_numpy(text[idx.numpy()])) and torch.equal(t, targets[idx])
    assert torch.equal(masks["note"], mapped.masks["note"][idx])
    sub = mapped.subset(torch.tensor([10, 20, 30]))
    assert len(sub) == 3 and torch.equal(sub.take(torch.tensor([2]))[0]["text"], torch.from_numpy(text[[30]]))
    assert list(mapped.only(["text"]).take(idx)[0]) == ["text"]
    assert not mapped.drop("text").masks["text"].any() and mapped.masks["text"].all()
    with pytest.raises(PolymodalError, match="no features of column 'nope'"):
        MappedData.from_extraction(feats, ["nope"], targets)


def test_empty_shards_keep_their_place(tmp_path):
    """3 rows in 5 shards: two parts are empty, and every row is still read from its own part."""
    pd.DataFrame({"text": ["one small thing", "two big things", "three odd things"]}).to_csv(tmp_path / "t.csv",
                                                                                               index=False)
    cache = FeatureCache(tmp_path / "cache")
    for k in range(5):
        extract_shard(tmp_path / "t.csv", columns=["text"], shard=Shard(k, 5), out=tmp_path / "f", cache=cache,
                      progress=False)
    mapped = MappedData.from_extraction(tmp_path / "f", ["text"])
    text, _ = read_features(tmp_path / "f", "text")
    assert torch.equal(mapped.take(torch.arange(3))[0]["text"], torch.from_numpy(text))
