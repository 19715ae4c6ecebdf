import pandas as pd
import pytest
import torch

from polymodal import PolymodalError, default_loaders, detect_schema, make_loader, read_table
from polymodal.data.dataset import MultimodalDataset


def test_batches_are_sorted_dicts_with_presence_masks(tiny_table):
    df = pd.read_csv(tiny_table)
    df.loc[1, "photo"] = None
    df.loc[2, "caption"] = None
    table = read_table(df, base_dir=tiny_table.parent)
    schema = detect_schema(table, label="color")
    loaders = default_loaders(schema, image_size=16, audio_seconds=0.5, n_mels=16)
    targets = {"color": torch.arange(12)}
    ds = MultimodalDataset(table, loaders, schema.modalities, targets)
    batch = next(iter(make_loader(ds, batch_size=4)))
    assert list(batch.inputs) == sorted(batch.inputs) == ["caption", "photo", "size", "sound", "weight"]
    assert batch.inputs["photo"].shape == (4, 3, 16, 16)
    assert batch.masks["photo"].tolist() == [True, False, True, True]
    assert torch.equal(batch.inputs["photo"][1], torch.zeros(3, 16, 16))  # nothing leaks from a missing cell
    assert batch.masks["caption"].tolist() == [True, True, False, True] and batch.inputs["caption"][2] == ""
    assert batch.inputs["sound"].shape[:2] == (4, 16)
    assert batch.targets["color"].tolist() == [0, 1, 2, 3] and batch.index.tolist() == [0, 1, 2, 3]


def test_worker_processes_give_the_same_batches(tiny_table):
    table = read_table(tiny_table)
    schema = detect_schema(table)
    loaders = default_loaders(schema, image_size=8, audio_seconds=0.25, n_mels=8)
    ds = MultimodalDataset(table, loaders, schema.modalities)
    a = [b.inputs["photo"] for b in make_loader(ds, batch_size=5)]
    b = [b.inputs["photo"] for b in make_loader(ds, batch_size=5, workers=2)]
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_a_file_that_vanished_after_validation_names_row_and_column(tiny_table):
    table = read_table(tiny_table)
    schema = detect_schema(table)
    (tiny_table.parent / "img" / "3.png").unlink()
    ds = MultimodalDataset(table, default_loaders(schema, image_size=8), schema.modalities)
    with pytest.raises(PolymodalError, match=r"row 3, column 'photo': could not load"):
        ds[3]
