"""The attribute readers are themselves checked on real samples before they judge generated ones:
trained on real shapes files, they must read held-out real files almost perfectly."""

import pytest

import polymodal as pm
from polymodal.data.recipes import build
from polymodal.data.table import read_table
from polymodal.features import split_rows
from polymodal.generation.readers import AttributeReader, default_attributes, real_paths
from polymodal.schema import detect_schema

# role -> task, attributes, training rows used (small shapes at 32 px need more examples than sounds), and
# training steps (the readers' default is 1000; 300 already reads real images and sounds above 90%, clips not)
CASES = {"image": ("text-to-image", ["shape", "color", "size", "position"], 400, 300),
         "audio": ("text-to-audio", ["shape", "color", "size", "position"], 150, 300),
         "video": ("text-to-video", ["shape", "color", "motion"], 150, 600)}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    path = build("shapes", tmp_path_factory.mktemp("readers") / "shapes", size=600, seed=11, image_size=64,
                 two_shape_fraction=0.0)
    table = read_table(path)
    return table, split_rows(table.df, detect_schema(table), None)


@pytest.mark.slow
@pytest.mark.parametrize("role", sorted(CASES))
def test_reader_reads_held_out_real_files(shapes, role):
    table, parts = shapes
    task, attributes, n_train, steps = CASES[role]
    g = pm.Generator(task, target=role, image_size=32, frames=8)
    reader = AttributeReader.train(g, table, {**parts, "train": parts["train"][:n_train]}, attributes, steps=steps)
    rows = parts["test"]  # never seen: not trained on, not used for early stopping
    assert len(rows) >= 60
    truth = table.df[attributes].iloc[rows].reset_index(drop=True)
    accuracy = reader.accuracy(real_paths(table, role, role, rows), truth)
    assert min(accuracy.values()) >= 0.9, accuracy


def test_default_attributes_are_the_categorical_columns_the_prompt_states(shapes):
    table, _ = shapes
    assert default_attributes(table, "caption", ["image"]) == ["shape", "color", "size", "position"]
    assert default_attributes(table, "video_caption", ["video"]) == ["shape", "color", "motion"]
